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

from .. import _checks
from ..kernels import codes as C
from .arch import Arch
from .data import FORMAT, VERSION, StepRecord, Trace, _human
from .selection import (ARRAY_OVERHEAD, STEP_OVERHEAD, Estimate, TraceTooLarge, _int_list,
                        _keep, _StepSelection)


class Recorder:
    """Chooses what a trace keeps, and records it.

    ``keep``: quantities among ``x`` (the batch's inputs, a[0]), ``y``
    (targets), ``z``, ``a``, ``delta`` (per sample rows), ``dW``, ``db``,
    ``W`` (W[l] and b[l] before and after the update), ``state`` (the
    optimizer's buffers after the update: velocity, G, E[g^2], m, v, and
    Adam's bias corrections), ``norms`` (per-layer norms of dW, db, W and
    of the update: a few numbers per step), ``stats`` (a BatchNorm layer's
    batch mean and 1/sqrt(var + eps), a max-pool layer's winners, an RNN
    layer's z_t, h_t and delta_t at every time step, an attention layer's
    A and dJ/dA); ``"all"``
    keeps everything. The loss and the learning rate in force are always
    kept. Every array has its layer's natural shape (``(m, C, H, W)`` for
    images; a conv layer's dW like its W).
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
        if layers is None or (isinstance(layers, str) and layers == "all"):
            self.layers = "all"
        else:
            self.layers = sorted(set(_int_list(layers, "layers", low=1)))
        if samples is None:
            self.samples = None
        else:
            self.samples = np.array(sorted(set(_int_list(samples, "samples"))), dtype=np.int64)
            if len(self.samples) == 0:
                raise ValueError("samples must be batch positions >= 0 (or None for all rows)")
        budget_mb = _checks.real(budget_mb, "budget_mb (MiB)", 0, low_open=True, none=True)
        self.budget = None if budget_mb is None else max(1, int(budget_mb * 2**20))  # bytes
        self.verbose = _checks.flag(verbose, "verbose")
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

    def _step_bytes(self, arch, item, n_state, m):
        """Bytes of one recorded step with m rows in the batch, by quantity."""
        L = arch.L
        layers = self._layers_of(L)
        with_params = [l for l in layers if arch.has_params(l)]
        k = self._kept_rows(m)
        units = sum(arch.units(l) for l in layers)
        weights = sum(arch.n_W(l) for l in layers)
        params = weights + sum(arch.n_b(l) for l in layers)
        n_layers, n_param = len(layers), len(with_params)
        bn = [l for l in layers if arch.kind(l) == "BatchNorm"]
        pools = [l for l in layers if arch.kind(l) == "MaxPool2D"]
        rnns = [l for l in layers if arch.kind(l) == "RNN"]   # z_t, h_t, delta_t: (m, T, H)
        attns = [l for l in layers if arch.kind(l) == "SelfAttention"]   # A, dA: (m, T, T)
        stats = (2 * sum(arch.shape(l)[0] for l in bn) * item
                 + k * sum(arch.units(l) for l in pools) * 8
                 + 3 * k * sum(arch[l]["in"][0] * arch[l]["b"][0] for l in rnns) * item
                 + 2 * k * sum(arch[l]["in"][0] ** 2 for l in attns) * item,
                 2 * len(bn) + len(pools) + 3 * len(rnns) + 2 * len(attns))
        size = {"x": (k * arch.units(0) * item, 1), "y": (k * arch.units(L) * item, 1),
                "z": (k * units * item, n_layers), "a": (k * units * item, n_layers),
                "delta": (k * units * item, n_layers),
                "dW": (weights * item, n_param), "db": ((params - weights) * item, n_param),
                "W": (2 * params * item, 4 * n_param),
                "state": (n_state * params * item, 2 * n_state * n_param),
                "norms": (4 * L * 8, 4), "stats": stats}
        out = {q: data + count * ARRAY_OVERHEAD for q, (data, count) in size.items()
               if q in self.keep}
        out["scalars"] = STEP_OVERHEAD + 8 * m + ARRAY_OVERHEAD + (
            8 * k + ARRAY_OVERHEAD if self.samples is not None else 0)
        return out

    def estimate(self, net, X, epochs=1, batch_size=32, optimizer=None):
        """The memory this recorder would take on ``fit(X, ..., epochs,
        batch_size, optimizer)``: an :class:`Estimate` (``int(est)`` bytes,
        ``print(est)`` for the breakdown). ``X`` may be the data or its row count."""
        from ..optim import get_optimizer
        _checks.network(net)
        n = _checks.positive_int(X, "X (a row count)") if isinstance(X, numbers.Integral) \
            else len(_checks.targets(X, "X"))
        epochs = _checks.positive_int(epochs, "epochs")
        batch_size = _checks.positive_int(batch_size, "batch_size")
        state_rows = 2 if optimizer is None else _state_rows(get_optimizer(optimizer))
        return self._estimate(net, n, epochs, batch_size, state_rows)

    def _estimate(self, net, n, epochs, batch_size, state_rows):
        arch = Arch.from_net(net)
        item = np.dtype(net.dtype).itemsize
        batch_size = min(batch_size, n)
        per_epoch = (n + batch_size - 1) // batch_size
        total = epochs * per_epoch
        if self.selection.all_steps and self.selection.epochs is None:
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
                for q, b in self._step_bytes(arch, item, state_rows, m).items():
                    per_q[q] = per_q.get(q, 0) + count * b
                steps += count
        per_q["theta"] = 2 * (net.n_params + _running(net).size) * item
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
        arch = Arch.from_net(net)
        meta = {
            "format": FORMAT, "version": VERSION,
            "sizes": [arch.units(l) for l in range(net.L + 1)],
            "dtype": np.dtype(net.dtype).name,
            "activations": [ly.activation.name for ly in net.layers],
            "alphas": [float(ly.activation.alpha) for ly in net.layers],
            "loss": {"name": loss.name, "reduction": loss.reduction},
            "optimizer": None if optimizer is None else {
                "name": optimizer.name, "class": type(optimizer).__name__,
                "repr": repr(optimizer), "state_names": list(optimizer.state_names),
                "hyper": [float(h) for h in optimizer.hyper],
                "momentum_form": getattr(optimizer, "momentum_form", None)},
            "keep": [q for q in self.keep if q != "stats" or arch.layers_of("BatchNorm")
                     or arch.layers_of("MaxPool2D") or arch.layers_of("RNN")
                     or arch.layers_of("SelfAttention")], "layers": layers,
            "samples": None if self.samples is None else self.samples.tolist(),
            "steps": self.selection.describe(),
            "network": arch.network, "arch": arch.specs,
        }
        if arch.network == "Sequential":
            meta["config"] = net.config()
        running = _running(net)
        self._trace = Trace(json.loads(json.dumps(meta)), theta_start=net.theta.copy(),
                            running_start=running.copy() if running.size else None)
        self._layers = layers
        self._step = 0
        self._nbytes = 2 * (net.theta.nbytes + running.nbytes)
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
        arch = self._trace.arch
        (dW, db), (W, b) = net.split(info.grad), net.split(net.theta)
        params = (("dW", "dW", dW), ("db", "db", db), ("W", "W_before", W), ("W", "b_before", b))
        for l in self._layers:
            for q in ("z", "a", "delta"):
                if q in keep:
                    arrays[f"{q}/{l}"] = rows(getattr(ws, q)(l, m))
            for q, key, values in params:
                if q in keep and arch.has_params(l):
                    arrays[f"{key}/{l}"] = values[l - 1].copy()
            if "stats" in keep and arch.kind(l) == "BatchNorm":
                mean, inv_std = ws.batch_stats(l, arch.shape(l)[0])
                arrays[f"bn_mean/{l}"], arrays[f"bn_inv_std/{l}"] = mean.copy(), inv_std.copy()
            if "stats" in keep and arch.kind(l) == "MaxPool2D":
                arrays[f"winners/{l}"] = rows(ws.winners(l, m))
            if "stats" in keep and arch.kind(l) == "SelfAttention":
                A, dA = ws.attention(l, m)
                arrays[f"attention/{l}"], arrays[f"attention_grad/{l}"] = rows(A), rows(dA)
            if "stats" in keep and arch.kind(l) == "RNN":
                for key, block in zip(("z_steps", "h_steps", "delta_steps"), ws.rnn_steps(l, m)):
                    arrays[f"{key}/{l}"] = rows(block)
        theta_before = None
        if "norms" in keep:
            arrays["norms/dW"] = _norms(dW)
            arrays["norms/db"] = _norms(db)
            arrays["norms/W"] = _norms(W)
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
            arch = self._trace.arch
            W, b = net.split(net.theta)
            buffers = []
            if "state" in keep and getattr(optimizer, "state", None) is not None:
                buffers = [(name, net.split(row)) for name, row in
                           zip(optimizer.state_names, optimizer.state) if name != "unused"]
            for l in (l for l in self._layers if arch.has_params(l)):
                if "W" in keep:
                    arrays[f"W_after/{l}"] = W[l - 1].copy()
                    arrays[f"b_after/{l}"] = b[l - 1].copy()
                for name, (sW, sb) in buffers:
                    arrays[f"state/{name}/W/{l}"] = sW[l - 1].copy()
                    arrays[f"state/{name}/b/{l}"] = sb[l - 1].copy()
            if theta_before is not None:
                arrays["norms/update"] = _norms(
                    [w - w0 for w, w0 in zip(W, net.split(theta_before)[0])])
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
        self._keep_end(net)

    def _keep_end(self, net):
        self._trace.theta_end = net.theta.copy()
        running = _running(net)
        if running.size:
            self._trace.running_end = running.copy()

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
        _checks.network(net)
        X, Y, loss_obj = net._prepare(X, Y, loss)
        opt = None if optimizer is None else optim.get_optimizer(optimizer)
        if opt is not None:
            state = getattr(opt, "state", None)
            if state is None or state.shape[1] != net.n_params or state.dtype != net.dtype:
                opt.state = opt.init_state(net.n_params, net.dtype)
                opt.t = 0
        if self._trace is None or getattr(self, "_net_id", None) != id(net) \
                or self._trace.arch.signature() != Arch.from_net(net).signature():
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
        self._keep_end(net)
        return self._trace

    def __getstate__(self):
        # pickle and copy: the id of the network record_step last saw means
        # nothing to the copy (record_step starts a new trace on its next call)
        state = dict(self.__dict__)
        state.pop("_net_id", None)
        state["_pending"] = None
        return state

    def __repr__(self):
        return (f"Recorder(keep={tuple(self.keep)!r}, steps={self.selection.describe()}, "
                f"layers={self.layers!r}, samples="
                f"{None if self.samples is None else self.samples.tolist()}, "
                f"budget_mb={None if self.budget is None else self.budget / 2**20:g})")


def _norms(arrays):
    """||x|| of each layer's array (0 for a layer without parameters)."""
    return np.array([np.linalg.norm(x) for x in arrays], dtype=np.float64)


def _running(net):
    """A Sequential network's BatchNorm running statistics (empty for a Network)."""
    return getattr(net, "running", np.zeros(0, net.dtype))


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
