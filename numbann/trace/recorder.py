"""The recorder: what ``fit(..., trace=Recorder(...))`` calls at every step.

``fit`` runs step by step from Python when given a recorder and calls
``plan`` (how many steps of which size are coming, so a trace too large
for its budget is refused before training starts), ``start``, then
``before_update`` (the step's gradient is in, the weights are not yet
updated) and ``after_update`` at every step, and ``finish``. The recorder
copies what it was asked to keep from the live buffers; the kernels do not
know about it. Without a recorder ``fit`` never calls any of this: tracing
off costs nothing.
"""
import json
import math
import numbers

import numpy as np

from ..kernels import codes as C
from ..kernels.cpu import layer_b, layer_W
from .data import FORMAT, VERSION, StepRecord, Trace, _human

QUANTITIES = ("x", "y", "z", "a", "delta", "dW", "db", "W", "state", "norms")
_ALIASES = {"theta": "W", "params": "W", "weights": "W", "b": "W", "X": "x", "Y": "y",
            "input": "x", "inputs": "x", "targets": "y", "optimizer": "state"}
_ALWAYS = ("loss", "lr")  # kept for every recorded step whatever ``keep`` says
ARRAY_OVERHEAD = 112  # bytes a small numpy array costs beyond its data
STEP_OVERHEAD = 400  # a step record's scalars and dictionary


class TraceTooLarge(ValueError):
    """The trace asked for would exceed the recorder's memory budget."""


def _keep(keep):
    if keep in ("all", None):
        return list(QUANTITIES)
    if isinstance(keep, str):
        keep = (keep,)
    out = []
    for q in keep:
        if not isinstance(q, str):
            raise TypeError(f"keep lists quantity names, got {q!r}")
        if q in _ALWAYS:
            continue
        q = _ALIASES.get(q, q)
        if q not in QUANTITIES:
            raise ValueError(f"unknown quantity {q!r} to keep; choose from "
                             f"{', '.join(QUANTITIES)} (loss and lr are always kept)")
        if q not in out:
            out.append(q)
    return [q for q in QUANTITIES if q in out]


def _int_list(values, what):
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{what} must be integers, got {v!r}")
        out.append(int(v))
    return out


class _StepSelection:
    """Which steps (0-based step numbers of the fit) and epochs to record."""

    def __init__(self, steps, epochs):
        self.spec = steps
        if steps in ("all", None):
            self._test = None
        elif isinstance(steps, slice):
            start = 0 if steps.start is None else steps.start
            stop, every = steps.stop, 1 if steps.step is None else steps.step
            if start < 0 or (stop is not None and stop < 0) or every < 1:
                raise ValueError(f"steps slice must have start, stop >= 0 and step >= 1, got {steps}")
            self._test = lambda s: s >= start and (stop is None or s < stop) and (s - start) % every == 0
        elif callable(steps):
            self._test = lambda s: bool(steps(s))
        elif isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
            only = int(steps)
            self._test = lambda s: s == only
        else:
            try:
                wanted = frozenset(_int_list(steps, "steps"))
            except TypeError:
                raise TypeError(f"steps must be 'all', an int, a slice, a range, a list of "
                                f"step numbers or a callable f(step) -> bool, got {steps!r}") from None
            self._test = wanted.__contains__
        self.epochs = None if epochs is None else frozenset(
            _int_list([epochs] if isinstance(epochs, numbers.Integral) else epochs, "epochs"))

    def __call__(self, step, epoch):
        if self.epochs is not None and epoch not in self.epochs:
            return False
        return self._test is None or self._test(step)

    def describe(self):
        if self.spec in ("all", None):
            text = "all"
        elif callable(self.spec) and not isinstance(self.spec, (range, slice)):
            text = getattr(self.spec, "__name__", "a function")
        else:
            text = repr(self.spec)
        return text if self.epochs is None else f"{text} in epochs {sorted(self.epochs)}"


class Estimate:
    """The memory a trace will take: ``nbytes`` (also ``int(est)``),
    ``steps`` recorded of ``total_steps``, ``per_quantity`` bytes,
    ``budget`` bytes, ``ok``, and a readable ``message``."""

    def __init__(self, nbytes, steps, total_steps, per_quantity, budget, recorder):
        self.nbytes, self.steps, self.total_steps = int(nbytes), steps, total_steps
        self.per_quantity, self.budget = per_quantity, budget
        self.ok = budget is None or self.nbytes <= budget
        self.message = self._message(recorder)

    def _message(self, rec):
        per = self.nbytes / max(self.steps, 1)
        head = (f"this trace would take {_human(self.nbytes)}"
                + (f" (budget {_human(self.budget)})" if self.budget is not None else "")
                + f": {self.steps} of {self.total_steps} steps recorded, "
                  f"{_human(per)} per recorded step")
        parts = sorted(self.per_quantity.items(), key=lambda kv: -kv[1])
        detail = "  " + ", ".join(f"{q} {_human(b)}" for q, b in parts if b > 0)
        if self.ok:
            return head + "\n" + detail
        big = [q for q, b in parts if b > 0 and q in rec.keep][:2]
        lean = [q for q in rec.keep if q not in big] or ["dW"]
        every = max(2, math.ceil(self.nbytes / self.budget))
        hints = [f"keep fewer quantities ({' and '.join(big)} take the most; e.g. "
                 f"keep={tuple(lean)!r})" if big else "keep fewer quantities",
                 f"record fewer steps (steps=slice(0, None, {every}) keeps every {every}th, "
                 f"or steps=range(0, 100))",
                 "fewer layers (layers=[...])"]
        if rec.samples is None:
            hints.append("fewer samples per batch (samples=[0])")
        hints.append("or raise budget_mb")
        fixed = self.per_quantity.get("theta", 0)
        note = (f"\n(The parameters at the start and the end alone take {_human(fixed)}: "
                f"budget_mb must be above that.)" if fixed >= self.budget else "")
        return (f"{head}\n{detail}\nTo narrow it: " + "; ".join(hints) + "." + note)

    def __int__(self):
        return self.nbytes

    def __str__(self):
        return self.message

    def __repr__(self):
        return f"Estimate({_human(self.nbytes)}, {self.steps} steps, ok={self.ok})"


class Recorder:
    """Chooses what a trace keeps, and records it.

    ``keep``: quantities among ``x`` (the batch's inputs, a[0]), ``y``
    (targets), ``z``, ``a``, ``delta`` (per sample rows), ``dW``, ``db``,
    ``W`` (W[l] and b[l] before and after the update), ``state`` (the
    optimizer's buffers after the update: velocity, G, E[g^2], m, v, and
    Adam's bias corrections), ``norms`` (per-layer norms of dW, db, W and
    of the update: a few numbers per step); ``"all"`` keeps everything. The
    loss and the learning rate in force are always kept.
    ``steps``: ``"all"``, a step number, a ``slice``/``range``, a list, or a
    callable ``f(step) -> bool`` (steps are numbered from 0 within the fit);
    ``epochs``: optionally only these epochs.
    ``layers``: ``"all"`` or layer numbers ``1..L``.
    ``samples``: None (every row of each batch) or batch positions to keep
    for x, y, z, a, delta (dW and db are always the whole batch's).
    ``budget_mb``: a trace that would exceed it is refused
    (:class:`TraceTooLarge`) with a message that says how to narrow it;
    ``estimate(...)`` tells the size beforehand, ``planned`` is the estimate
    fit made before training, and ``verbose=True`` prints it then.
    """

    def __init__(self, keep="all", steps="all", layers="all", samples=None, epochs=None,
                 budget_mb=256, verbose=False):
        self.keep = _keep(keep)
        self.selection = _StepSelection(steps, epochs)
        if layers in ("all", None):
            self.layers = "all"
        else:
            layers = [layers] if isinstance(layers, numbers.Integral) else layers
            self.layers = sorted(set(_int_list(layers, "layers")))
        if samples is None:
            self.samples = None
        else:
            samples = [samples] if isinstance(samples, numbers.Integral) else samples
            self.samples = np.array(sorted(set(_int_list(samples, "samples"))), dtype=np.int64)
            if len(self.samples) == 0 or self.samples[0] < 0:
                raise ValueError("samples must be batch positions >= 0 (or None for all rows)")
        if budget_mb is not None and not budget_mb > 0:
            raise ValueError(f"budget_mb must be > 0 (or None for no limit), got {budget_mb}")
        self.budget = None if budget_mb is None else int(budget_mb * 2**20)
        self.verbose = bool(verbose)
        self._trace = None
        self._plan = None

    # --------------------------------------------------------------- sizes

    def _layers_of(self, L):
        if self.layers == "all":
            return list(range(1, L + 1))
        bad = [l for l in self.layers if not 1 <= l <= L]
        if bad:
            raise ValueError(f"layers {bad} do not exist: the network has layers 1..{L}")
        return list(self.layers)

    def _kept_rows(self, m):
        if self.samples is None:
            return m
        return int(np.count_nonzero(self.samples < m))

    def _step_bytes(self, sizes, item, n_state, m):
        """Bytes of one recorded step with m rows in the batch, by quantity."""
        L = len(sizes) - 1
        layers = self._layers_of(L)
        k = self._kept_rows(m)
        units = sum(sizes[l] for l in layers)
        params = sum(sizes[l] * (sizes[l - 1] + 1) for l in layers)
        weights = sum(sizes[l] * sizes[l - 1] for l in layers)
        n_layers = len(layers)
        size = {"x": (k * sizes[0] * item, 1), "y": (k * sizes[-1] * item, 1),
                "z": (k * units * item, n_layers), "a": (k * units * item, n_layers),
                "delta": (k * units * item, n_layers),
                "dW": (weights * item, n_layers), "db": ((params - weights) * item, n_layers),
                "W": (2 * params * item, 4 * n_layers),
                "state": (n_state * params * item, 2 * n_state * n_layers),
                "norms": (4 * L * 8, 4)}
        out = {q: data + count * ARRAY_OVERHEAD for q, (data, count) in size.items()
               if q in self.keep}
        out["scalars"] = STEP_OVERHEAD + 8 * m + ARRAY_OVERHEAD + (
            8 * k + ARRAY_OVERHEAD if self.samples is not None else 0)
        return out

    def estimate(self, net, X, epochs=1, batch_size=32, optimizer=None):
        """The memory this recorder would take on ``fit(X, ..., epochs,
        batch_size, optimizer)``: an :class:`Estimate` (``int(est)`` bytes,
        ``print(est)`` for the breakdown). ``X`` may be the data or its row count."""
        n = X if isinstance(X, numbers.Integral) else len(X)
        state_rows = 2 if optimizer is None else _state_rows(optimizer)
        return self._estimate(net, int(n), int(epochs), int(batch_size), state_rows)

    def _estimate(self, net, n, epochs, batch_size, state_rows):
        sizes = [int(s) for s in net.sizes]
        item = np.dtype(net.dtype).itemsize
        batch_size = min(batch_size, n)
        per_epoch = (n + batch_size - 1) // batch_size
        total = epochs * per_epoch
        if self.selection.spec in ("all", None) and self.selection.epochs is None:
            last = n - (per_epoch - 1) * batch_size   # rows in each epoch's last batch
            counts = {batch_size: epochs * (per_epoch - 1)}
            counts[last] = counts.get(last, 0) + epochs
        else:
            counts = {}
            for s in range(total):
                epoch, i = divmod(s, per_epoch)
                if self.selection(s, epoch):
                    m = min(batch_size, n - i * batch_size)
                    counts[m] = counts.get(m, 0) + 1
        per_q, steps = {}, 0
        for m, count in counts.items():
            if count:
                for q, b in self._step_bytes(sizes, item, state_rows, m).items():
                    per_q[q] = per_q.get(q, 0) + count * b
                steps += count
        per_q["theta"] = 2 * net.n_params * item
        return Estimate(sum(per_q.values()), steps, total, per_q, self.budget, self)

    # --------------------------------------------------------------- fit's hooks

    def plan(self, net, optimizer, n, epochs, batch_size):
        """Called by fit before training: refuse a trace over budget."""
        est = self._estimate(net, n, epochs, batch_size, _state_rows(optimizer))
        self._plan = est
        if not est.ok:
            raise TraceTooLarge(est.message)
        if self.verbose:
            print(est.message)
        return est

    @property
    def planned(self):
        """The :class:`Estimate` fit made before its last run (None before any)."""
        return self._plan

    def start(self, net, optimizer, loss):
        """Begin a new trace (``fit`` calls this once before training)."""
        layers = self._layers_of(net.L)
        meta = {
            "format": FORMAT, "version": VERSION,
            "sizes": [int(s) for s in net.sizes], "dtype": np.dtype(net.dtype).name,
            "activations": [ly.activation.name for ly in net.layers],
            "alphas": [float(ly.activation.alpha) for ly in net.layers],
            "loss": {"name": loss.name, "reduction": loss.reduction},
            "optimizer": None if optimizer is None else {
                "name": optimizer.name, "class": type(optimizer).__name__,
                "repr": repr(optimizer), "state_names": list(optimizer.state_names),
                "hyper": [float(h) for h in optimizer.hyper],
                "momentum_form": getattr(optimizer, "momentum_form", None)},
            "keep": list(self.keep), "layers": layers,
            "samples": None if self.samples is None else self.samples.tolist(),
            "steps": self.selection.describe(),
        }
        self._trace = Trace(json.loads(json.dumps(meta)), theta_start=net.theta.copy())
        self._layers = layers
        self._step = 0
        self._nbytes = 2 * net.theta.nbytes
        self._pending = None
        return self._trace

    def before_update(self, net, optimizer, info):
        """Copy this step's numbers (the gradient is in; theta not yet updated)."""
        step = self._step
        self._step += 1
        self._pending = None
        if not self.selection(step, info.epoch):
            return
        keep, m, ws = self.keep, int(info.m), info.ws
        pos = None if self.samples is None else self.samples[self.samples < m]
        arrays = {"rows": np.array(info.rows, dtype=np.int64, copy=True)}
        if pos is not None:
            arrays["samples"] = pos.copy()

        def rows(block):
            return block.copy() if pos is None else block[pos]
        if "x" in keep:
            arrays["x"] = rows(ws.a(0, m))
        if "y" in keep:
            arrays["y"] = rows(ws.y_buf[:m * net.n_outputs].reshape(m, -1))
        sizes, p_off, grad = net.sizes, net.p_off, info.grad
        for l in self._layers:
            if "z" in keep:
                arrays[f"z/{l}"] = rows(ws.z(l, m))
            if "a" in keep:
                arrays[f"a/{l}"] = rows(ws.a(l, m))
            if "delta" in keep:
                arrays[f"delta/{l}"] = rows(ws.delta(l, m))
            if "dW" in keep:
                arrays[f"dW/{l}"] = layer_W(grad, sizes, p_off, l).copy()
            if "db" in keep:
                arrays[f"db/{l}"] = layer_b(grad, sizes, p_off, l).copy()
            if "W" in keep:
                arrays[f"W_before/{l}"] = net.W[l].copy()
                arrays[f"b_before/{l}"] = net.b[l].copy()
        theta_before = None
        if "norms" in keep:
            L = net.L
            arrays["norms/dW"] = np.array([np.linalg.norm(layer_W(grad, sizes, p_off, l))
                                           for l in range(1, L + 1)], dtype=np.float64)
            arrays["norms/db"] = np.array([np.linalg.norm(layer_b(grad, sizes, p_off, l))
                                           for l in range(1, L + 1)], dtype=np.float64)
            arrays["norms/W"] = np.array([np.linalg.norm(net.W[l]) for l in range(1, L + 1)],
                                         dtype=np.float64)
            theta_before = net.theta.copy()
        lr = float(info.lr) if info.lr is not None else math.nan
        self._pending = (step, info, arrays, theta_before, lr)

    def after_update(self, net, optimizer, info):
        """Copy the updated weights and optimizer state; file the step."""
        if self._pending is None:
            return
        step, info, arrays, theta_before, lr = self._pending
        self._pending = None
        keep = self.keep
        if optimizer is not None:
            for l in self._layers:
                if "W" in keep:
                    arrays[f"W_after/{l}"] = net.W[l].copy()
                    arrays[f"b_after/{l}"] = net.b[l].copy()
                if "state" in keep and getattr(optimizer, "state", None) is not None:
                    lo, mid, hi = _bounds(net, l)
                    for name, row in zip(optimizer.state_names, optimizer.state):
                        if name == "unused":
                            continue
                        arrays[f"state/{name}/W/{l}"] = row[lo:mid].reshape(net.W[l].shape).copy()
                        arrays[f"state/{name}/b/{l}"] = row[mid:hi].copy()
            if theta_before is not None:
                arrays["norms/update"] = np.array(
                    [np.linalg.norm(net.W[l] - layer_W(theta_before, net.sizes, net.p_off, l))
                     for l in range(1, net.L + 1)], dtype=np.float64)
        extras = _optimizer_scalars(optimizer) if "state" in keep and optimizer is not None else {}
        record = StepRecord(step, info.t, info.epoch, info.m, info.loss, lr, arrays, net.L, extras)
        self._nbytes += record.nbytes + ARRAY_OVERHEAD * len(arrays) + STEP_OVERHEAD
        if self.budget is not None and self._nbytes > self.budget:
            raise TraceTooLarge(
                f"the trace passed its budget of {_human(self.budget)} at step {step} "
                f"({len(self._trace) + 1} steps recorded, {_human(record.nbytes)} for the last). "
                "To narrow it: keep fewer quantities, record fewer steps "
                "(steps=slice(0, None, 10)), fewer layers (layers=[...]) or samples "
                "(samples=[0]), or raise budget_mb.")
        self._trace._append(record)

    def finish(self, net, history):
        """Keep the fit's history and the final parameters."""
        if history is not None:
            self._trace.history = json.loads(json.dumps(
                {k: (list(v) if isinstance(v, (list, tuple)) else v)
                 for k, v in history.as_dict().items()}, default=float))
        self._trace.theta_end = net.theta.copy()

    # --------------------------------------------------------------- outside fit

    @property
    def trace(self):
        """The :class:`Trace` recorded so far (None before any recording)."""
        return self._trace

    @property
    def nbytes(self):
        return 0 if self._trace is None else self._nbytes

    def record_step(self, net, X, Y, loss="mse", optimizer=None):
        """Run one forward and backward pass on (X, Y) and record it, outside
        ``fit``; with an ``optimizer`` (name or object) the update is applied
        too (``net`` changes) and the weights after it and the optimizer's
        state are recorded. Steps accumulate in ``self.trace`` as long as the
        network is the same; returns the trace."""
        from .. import optim
        from ..training import StepInfo
        X, Y, loss_obj = net._prepare(X, Y, loss)
        opt = None if optimizer is None else optim.get_optimizer(optimizer)
        if opt is not None:
            state = getattr(opt, "state", None)
            if state is None or state.shape[1] != net.n_params or state.dtype != net.dtype:
                opt.state = opt.init_state(net.n_params, net.dtype)
                opt.t = 0
        if self._trace is None or self._trace.meta["sizes"] != [int(s) for s in net.sizes] \
                or getattr(self, "_net_id", None) != id(net):
            self.start(net, opt, loss_obj)
            self._net_id = id(net)
        m = len(X)
        grad = np.zeros_like(net.theta)
        J = net._backprop(X, Y, loss_obj, grad)
        ws = net._workspace
        ws.y_buf[:Y.size] = Y.reshape(-1)
        t = (opt.t + 1) if opt is not None else self._step + 1
        lr = opt.lr if opt is not None else math.nan
        info = StepInfo(0, t, np.arange(m), J, lr, grad, ws, m)
        self.before_update(net, opt, info)
        if opt is not None:
            if isinstance(opt, optim.Newton):
                def grad_fn(theta):
                    saved = net.theta.copy()
                    net.theta[...] = theta
                    g = np.zeros_like(theta)
                    net._backprop(X, Y, loss_obj, g)
                    net.theta[...] = saved
                    return g
                opt.step_newton(net.theta, grad, grad_fn)
            else:
                opt.step(net.theta, grad, opt.state, t)
            opt.t = t
        self.after_update(net, opt, info)
        self._trace.theta_end = net.theta.copy()
        return self._trace

    def __repr__(self):
        return (f"Recorder(keep={tuple(self.keep)!r}, steps={self.selection.describe()}, "
                f"layers={self.layers!r}, samples="
                f"{None if self.samples is None else self.samples.tolist()}, "
                f"budget_mb={None if self.budget is None else self.budget / 2**20:g})")


def _bounds(net, l):
    lo = int(net.p_off[l - 1])
    mid = lo + int(net.sizes[l] * net.sizes[l - 1])
    return lo, mid, int(net.p_off[l])


def _state_rows(optimizer):
    if optimizer is None:
        return 0
    return len([n for n in optimizer.state_names if n != "unused"])


def _optimizer_scalars(opt):
    """Scalars of the update at step opt.t: Adam's bias corrections, AdaGrad's decayed rate."""
    t = int(getattr(opt, "t", 0) or 0)
    h = opt.hyper
    if opt.code in (C.OPT_ADAM, C.OPT_ADAMW) and t >= 1:
        return {"1 - beta1^t": 1.0 - float(h[C.H_BETA1]) ** t,
                "1 - beta2^t": 1.0 - float(h[C.H_BETA2]) ** t}
    if opt.code == C.OPT_ADAGRAD and t >= 1:
        return {"eta_t": float(h[C.H_LR]) / (1.0 + (t - 1) * float(h[C.H_LR_DECAY]))}
    return {}


def record_step(net, X, Y, loss="mse", optimizer=None, keep="all", layers="all", samples=None,
                budget_mb=256):
    """Record one forward and backward pass (and, given an ``optimizer``, its
    update, which changes ``net``) as a one-step :class:`Trace`."""
    rec = Recorder(keep=keep, layers=layers, samples=samples, budget_mb=budget_mb)
    return rec.record_step(net, X, Y, loss, optimizer)
