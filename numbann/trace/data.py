"""The trace data model: a :class:`Trace` of :class:`StepRecord` objects.

A step record keeps its arrays in one flat dictionary named like the course
(``"z/1"``, ``"delta/2"``, ``"W_before/1"``, ``"state/m/W/2"``, ``"x"``); the
attributes ``z``, ``a``, ``delta``, ``dW``, ``db``, ``W_before`` ... are
views of it indexed by layer, ``l = 1..L``. That one dictionary is what
``save``/``load_trace`` write and read, bit for bit.
"""
import json
import math
from collections.abc import Mapping

import numpy as np

from ._text import Text, shape_name

FORMAT = "numbann-trace"
VERSION = 1

# per-layer quantities and the course's names of their axes
_AXES = {
    "z": ("m", "n_{l}"), "a": ("m", "n_{l}"), "delta": ("m", "n_{l}"),
    "dW": ("n_{l}", "n_{p}"), "db": ("n_{l}",),
    "W_before": ("n_{l}", "n_{p}"), "b_before": ("n_{l}",),
    "W_after": ("n_{l}", "n_{p}"), "b_after": ("n_{l}",),
}
LAYER_FIELDS = tuple(_AXES)
_WHAT = {"z": "z", "a": "a", "delta": "delta", "dW": "dW", "db": "db",
         "W_before": "W", "b_before": "W", "W_after": "W", "b_after": "W"}


def _axes(name, l):
    return tuple(ax.replace("{l}", str(l)).replace("{p}", str(l - 1)) for ax in _AXES[name])


class LayerValues(Mapping):
    """One quantity for the recorded layers, indexed like the course: ``z[1]``."""

    def __init__(self, name, values, L, hint):
        self._name, self._values, self._L, self._hint = name, values, L, hint

    def __getitem__(self, l):
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)):
            raise KeyError(f"{self._name}[l]: l is a layer number 1..{self._L}, got {l!r}")
        l = int(l)
        if l in self._values:
            return self._values[l]
        if not 1 <= l <= self._L:
            raise KeyError(f"{self._name}[{l}]: layers are numbered 1..{self._L} as in the course")
        raise KeyError(f"{self._name}[{l}] was not recorded ({self._hint})")

    def __iter__(self):
        return iter(sorted(self._values))

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        if not self._values:
            return f"<{self._name}: not recorded ({self._hint})>"
        base = self._name.split("_")[0] if self._name in _AXES else self._name
        parts = []
        for l in self:
            v = self._values[l]
            axes = _axes(self._name, l) if self._name in _AXES else ()
            shape = shape_name(v.shape, axes) if len(axes) == v.ndim else str(v.shape)
            parts.append(f"{base}[{l}]: {shape}")
        return "<" + ", ".join(parts) + ">"


class _Activations(LayerValues):
    """a[0] = the input rows x (when recorded), then a[1..L]."""

    def __init__(self, values, L, hint, x):
        super().__init__("a", values, L, hint)
        self._x = x

    def __getitem__(self, l):
        if isinstance(l, (int, np.integer)) and not isinstance(l, bool) and l == 0:
            if self._x is None:
                raise KeyError("a[0] (the input rows x) was not recorded (keep 'x')")
            return self._x
        return super().__getitem__(l)


class ParamState:
    """One optimizer state buffer (e.g. Adam's ``m``) split like the parameters:
    ``.W[l]`` (shape of W[l]) and ``.b[l]`` (shape of b[l])."""

    def __init__(self, name, W, b):
        self.name, self.W, self.b = name, W, b

    def __repr__(self):
        return f"<state {self.name!r}: W {dict((l, v.shape) for l, v in self.W.items())}>"


class StepRecord:
    """Every kept number of one training step.

    Scalars: ``step`` (0-based step of the fit), ``t`` (the optimizer's 1-based
    step count), ``epoch``, ``m`` (rows in the batch), ``loss`` (J on the
    batch), ``lr`` (the rate in force), ``rows`` (the batch's row indices in
    X), ``samples`` (positions within the batch that z, a, delta, x, y keep;
    None: all m rows), ``extras`` (optimizer scalars such as Adam's bias
    corrections ``1 - beta1^t``, ``1 - beta2^t``).

    Per layer (``l = 1..L``): ``z[l]``, ``a[l]`` (``a[0]`` is ``x``),
    ``delta[l]``, ``dW[l]``, ``db[l]``, ``W_before[l]``, ``b_before[l]``,
    ``W_after[l]``, ``b_after[l]``; ``state[name].W[l]`` / ``.b[l]`` for the
    optimizer's buffers after the update; ``norms`` (per-layer
    ``||dW[l]||``, ``||db[l]||``, ``||W[l]||`` before the update and
    ``||W_after[l] - W_before[l]||``, arrays indexed by ``l - 1``).
    """

    def __init__(self, step, t, epoch, m, loss, lr, arrays, L, extras=None, hint=""):
        self.step, self.t, self.epoch, self.m = int(step), int(t), int(epoch), int(m)
        self.loss, self.lr = float(loss), float(lr)
        self.arrays = arrays
        self.L = L
        self.extras = dict(extras or {})
        self._hint = hint

    # --------------------------------------------------------------- access

    def _layer_values(self, name):
        values = {}
        prefix = name + "/"
        for key, v in self.arrays.items():
            if key.startswith(prefix) and key[len(prefix):].isdigit():
                values[int(key[len(prefix):])] = v
        what = _WHAT.get(name, name)
        return LayerValues(name, values, self.L, f"Recorder(keep=...) lacks {what!r} or "
                           f"Recorder(layers=...) lacks this layer{self._hint}")

    z = property(lambda self: self._layer_values("z"))
    delta = property(lambda self: self._layer_values("delta"))
    dW = property(lambda self: self._layer_values("dW"))
    db = property(lambda self: self._layer_values("db"))
    W_before = property(lambda self: self._layer_values("W_before"))
    b_before = property(lambda self: self._layer_values("b_before"))
    W_after = property(lambda self: self._layer_values("W_after"))
    b_after = property(lambda self: self._layer_values("b_after"))

    @property
    def a(self):
        v = self._layer_values("a")
        return _Activations(v._values, self.L, v._hint, self.arrays.get("x"))

    @property
    def x(self):
        """a[0]: the kept input rows of the batch (None if not recorded)."""
        return self.arrays.get("x")

    @property
    def y(self):
        """The kept target rows of the batch (None if not recorded)."""
        return self.arrays.get("y")

    @property
    def rows(self):
        """Indices in X of the batch's m rows."""
        return self.arrays.get("rows")

    @property
    def samples(self):
        """Batch positions kept for x, y, z, a, delta (None: all m rows)."""
        return self.arrays.get("samples")

    @property
    def state(self):
        """Optimizer state after the update: ``{"m": ParamState, ...}``."""
        names = []
        for key in self.arrays:
            if key.startswith("state/"):
                name = key[len("state/"):].rsplit("/", 2)[0]
                if name not in names:
                    names.append(name)
        return {n: ParamState(n, self._layer_values(f"state/{n}/W"),
                              self._layer_values(f"state/{n}/b")) for n in names}

    @property
    def norms(self):
        """``{"dW", "db", "W", "update"}`` -> per-layer norms (index l - 1)."""
        return {key[len("norms/"):]: v for key, v in self.arrays.items()
                if key.startswith("norms/")}

    @property
    def bias_correction(self):
        """Adam/AdamW: ``(1 - beta1^t, 1 - beta2^t)`` at this step, else None."""
        e = self.extras
        if "1 - beta1^t" in e:
            return e["1 - beta1^t"], e["1 - beta2^t"]
        return None

    def layer(self, l):
        """This step's numbers for one layer: ``rec.layer(2).dW``."""
        return LayerRecord(self, l)

    @property
    def nbytes(self):
        return sum(v.nbytes for v in self.arrays.values())

    def keys(self):
        """The names of the arrays kept (``"z/1"``, ``"dW/2"``, ...)."""
        return list(self.arrays)

    # --------------------------------------------------------------- display

    def shapes(self):
        """What this step holds, shapes named in the course's notation."""
        lines = [f"step {self.step} (epoch {self.epoch}, optimizer step t = {self.t}): "
                 f"m = {self.m} rows, J = {self.loss:.6g}, lr = {self.lr:.6g}"]
        if self.samples is not None:
            lines.append(f"  z, a, delta, x, y keep batch positions {self.samples.tolist()}")
        if self.x is not None:
            lines.append(f"  a[0] = x  {shape_name(self.x.shape, ('m', 'n_0'))}")
        if self.y is not None:
            lines.append(f"  y        {shape_name(self.y.shape, ('m', f'n_{self.L}'))}")
        for name in LAYER_FIELDS:
            values = self._layer_values(name)
            if len(values):
                lines.append(f"  {name:<9}" + "  ".join(
                    f"[{l}] {shape_name(values[l].shape, _axes(name, l))}" for l in values))
        for n, st in self.state.items():
            lines.append(f"  state[{n!r}]  " + "  ".join(
                f"W[{l}] {st.W[l].shape}" for l in st.W))
        if self.extras:
            lines.append("  " + ", ".join(f"{k} = {v:.6g}" for k, v in self.extras.items()))
        return Text("\n".join(lines))

    def __repr__(self):
        return str(self.shapes())


class LayerRecord:
    """One layer of one step: ``.z``, ``.a``, ``.a_prev``, ``.delta``, ``.dW``,
    ``.db``, ``.W_before``, ``.b_before``, ``.W_after``, ``.b_after``,
    ``.state`` (``{name: (W part, b part)}``); missing ones are None."""

    def __init__(self, record, l):
        if not 1 <= l <= record.L:
            raise KeyError(f"layer {l}: layers are numbered 1..{record.L}")
        self.step, self.l = record.step, l
        for name in LAYER_FIELDS:
            setattr(self, name, record.arrays.get(f"{name}/{l}"))
        self.a_prev = record.arrays.get("x") if l == 1 else record.arrays.get(f"a/{l - 1}")
        self.state = {n: (st.W._values.get(l), st.b._values.get(l))
                      for n, st in record.state.items()}

    def __repr__(self):
        have = [n for n in LAYER_FIELDS if getattr(self, n) is not None]
        shapes = ", ".join(f"{n}: {getattr(self, n).shape}" for n in have)
        return f"<step {self.step}, layer {self.l}: {shapes}>"


class Trace:
    """A recorded training run (or single steps): indexed by step and layer.

    ``tr[s]`` is the :class:`StepRecord` of step ``s`` (0-based step of the
    fit; negative numbers count from the last recorded step), ``tr[s, l]``
    one layer of it; ``tr.steps`` lists the recorded steps. ``tr.meta``
    describes the network, loss, optimizer and what was kept;
    ``tr.history`` is the fit's per-epoch history (with every step's loss
    in ``step_loss``, recorded or not); ``tr.theta_start``/``theta_end``
    are the parameters before and after the run.
    """

    def __init__(self, meta, records=(), history=None, theta_start=None, theta_end=None):
        self.meta = meta
        self.records = list(records)
        self.history = history
        self.theta_start = theta_start
        self.theta_end = theta_end
        self._index = {r.step: i for i, r in enumerate(self.records)}

    # --------------------------------------------------------------- structure

    @property
    def sizes(self):
        return list(self.meta["sizes"])

    @property
    def L(self):
        return len(self.meta["sizes"]) - 1

    @property
    def activations(self):
        return list(self.meta["activations"])

    def _append(self, record):
        self._index[record.step] = len(self.records)
        self.records.append(record)

    @property
    def steps(self):
        """The recorded steps (0-based step numbers of the fit)."""
        return np.array([r.step for r in self.records], dtype=np.int64)

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if len(key) != 2:
                raise KeyError("index a trace as tr[step] or tr[step, layer]")
            return self[key[0]].layer(key[1])
        if isinstance(key, slice):
            return [self.records[self._index[s]] for s in
                    range(*key.indices(int(self.steps.max()) + 1 if self.records else 0))
                    if s in self._index]
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise KeyError(f"index a trace by step number, got {key!r}")
        key = int(key)
        if key < 0:
            if -key > len(self.records):
                raise IndexError(f"the trace holds {len(self.records)} steps")
            return self.records[key]
        if key not in self._index:
            steps = self.steps
            shown = ", ".join(map(str, steps[:8])) + (" ..." if len(steps) > 8 else "")
            raise KeyError(f"step {key} was not recorded; recorded steps: {shown or 'none'} "
                           f"({len(steps)} in all; tr.steps lists them)")
        return self.records[self._index[key]]

    def at(self, i):
        """The i-th recorded step (by position, not step number)."""
        return self.records[i]

    # --------------------------------------------------------------- series

    @property
    def loss(self):
        """The loss J of every recorded step (see ``history['step_loss']`` for all)."""
        return np.array([r.loss for r in self.records])

    @property
    def lr(self):
        return np.array([r.lr for r in self.records])

    def series(self, name, l=None):
        """One quantity over the recorded steps, stacked: ``tr.series("W_after", 1)``
        has shape (steps, n_1, n_0). ``name`` is a field (``"z"``, ``"dW"``, ...)
        with a layer ``l``, ``"x"``/``"y"``, or a norm (``"norms/dW"``: shape
        (steps, L)). Steps lacking it are skipped; shapes must agree (the last
        batch of an epoch may be smaller: use ``samples=`` to fix the rows)."""
        key = name if l is None else f"{name}/{l}"
        values = [r.arrays[key] for r in self.records if key in r.arrays]
        if not values:
            raise KeyError(f"{key!r} is in no recorded step")
        shapes = {v.shape for v in values}
        if len(shapes) > 1:
            raise ValueError(f"{key!r} changes shape across steps ({sorted(shapes)}); "
                             "pick steps of full batches or keep fixed samples")
        return np.stack(values)

    def steps_with(self, name, l=None):
        key = name if l is None else f"{name}/{l}"
        return np.array([r.step for r in self.records if key in r.arrays], dtype=np.int64)

    @property
    def nbytes(self):
        extra = sum(v.nbytes for v in (self.theta_start, self.theta_end) if v is not None)
        return sum(r.nbytes for r in self.records) + extra

    # --------------------------------------------------------------- teaching

    def replay(self, step, sample=0, vectorized=False, digits=4):
        """The step's forward and backward pass in the course's notation with
        the recorded numbers (one sample, or ``vectorized=True`` for the
        whole kept batch). Returns printable text."""
        from .explain import replay
        return replay(self, step, sample=sample, vectorized=vectorized, digits=digits)

    def explain(self, step, param, l, j, k=None, paths="one", digits=6):
        """dJ/dW[l][j, k] (``param="W"``) or dJ/db[l][j] (``"b"``) as the
        chain-rule product with every factor, checked against the recorded
        gradient. Returns an :class:`numbann.trace.explain.Explanation`."""
        from .explain import explain
        return explain(self, step, param, l, j, k, paths=paths, digits=digits)

    def diagnostics(self, **kw):
        from .diagnostics import diagnostics
        return diagnostics(self, **kw)

    def network(self, step=None, when="after"):
        """A Network with this trace's architecture and the parameters at the
        end of the run (``step=None``) or of a recorded step (``when`` =
        "before" or "after" its update; needs W kept for every layer)."""
        from ..model import Dense, Network
        from .. import activations
        layers = [Dense(n, activations.get(name, alpha if name in ("leaky_relu", "elu") else None),
                        init="zeros")
                  for n, name, alpha in zip(self.sizes[1:], self.activations, self.meta["alphas"])]
        net = Network(self.sizes[0], layers, dtype=self.meta["dtype"])
        if step is None:
            if self.theta_end is None:
                raise ValueError("this trace has no final parameters (theta_end)")
            net.theta[...] = self.theta_end
            return net
        if when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', got {when!r}")
        rec = self[step]
        for l in range(1, self.L + 1):
            try:
                net.W[l] = rec.arrays[f"W_{when}/{l}"]
                net.b[l] = rec.arrays[f"b_{when}/{l}"]
            except KeyError:
                raise KeyError(f"step {step}: W[{l}] {when} the update was not recorded "
                               "(keep 'W' for every layer)") from None
        return net

    # --------------------------------------------------------------- files

    def save(self, path, compressed=False):
        """Write the trace to ``path`` (.npz); :func:`load_trace` reads it back
        bit for bit. Arrays of one name are concatenated across steps."""
        meta = dict(self.meta)
        step_meta, chunks = [], {}
        for r in self.records:
            step_meta.append({"step": r.step, "t": r.t, "epoch": r.epoch, "m": r.m,
                              "extras": r.extras,
                              "arrays": {k: list(v.shape) for k, v in r.arrays.items()}})
            for k, v in r.arrays.items():
                chunks.setdefault(k, []).append(v.reshape(-1))
        data = {"data/" + k: np.concatenate(v) for k, v in chunks.items()}
        data["loss"] = np.array([r.loss for r in self.records], dtype=np.float64)
        data["lr"] = np.array([r.lr for r in self.records], dtype=np.float64)
        for name in ("theta_start", "theta_end"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        doc = {"meta": meta, "steps": step_meta, "history": self.history}
        data["json"] = np.array(json.dumps(doc))
        saver = np.savez_compressed if compressed else np.savez
        with open(path, "wb") as f:
            saver(f, **data)
        return path

    def to_dict(self, steps=None):
        """Plain Python data (lists and floats; NaN and inf become None)."""
        records = self.records if steps is None else [self[s] for s in steps]
        return {"format": FORMAT, "version": VERSION, "meta": _jsonable(self.meta),
                "history": _jsonable(self.history),
                "theta_start": _jsonable(self.theta_start), "theta_end": _jsonable(self.theta_end),
                "steps": [{"step": r.step, "t": r.t, "epoch": r.epoch, "m": r.m,
                           "loss": _jsonable(r.loss), "lr": _jsonable(r.lr),
                           "extras": _jsonable(r.extras),
                           "arrays": {k: _jsonable(v) for k, v in r.arrays.items()}}
                          for r in records]}

    def to_json(self, path=None, steps=None, indent=None):
        """The trace as JSON for other tools: ``{"meta", "history", "steps":
        [{"step", "t", "epoch", "m", "loss", "lr", "extras", "arrays":
        {"z/1": [[...]], ...}}]}``; floats written exactly (shortest repr),
        NaN/inf as null. Writes ``path`` if given, returns the text."""
        text = json.dumps(self.to_dict(steps), indent=indent, allow_nan=False)
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    def equals(self, other):
        """True when both traces hold the same numbers, bit for bit."""
        if not isinstance(other, Trace) or len(self) != len(other):
            return False
        if json.dumps(self.meta, sort_keys=True) != json.dumps(other.meta, sort_keys=True) or \
                json.dumps(self.history, sort_keys=True) != json.dumps(other.history, sort_keys=True):
            return False
        for a, b in ((self.theta_start, other.theta_start), (self.theta_end, other.theta_end)):
            if (a is None) != (b is None) or (a is not None and not _same(a, b)):
                return False
        for r, s in zip(self.records, other.records):
            if (r.step, r.t, r.epoch, r.m) != (s.step, s.t, s.epoch, s.m) or \
                    json.dumps(r.extras) != json.dumps(s.extras):
                return False
            if not (_same(np.float64(r.loss), np.float64(s.loss)) and
                    _same(np.float64(r.lr), np.float64(s.lr))):
                return False
            if r.arrays.keys() != s.arrays.keys():
                return False
            if not all(_same(v, s.arrays[k]) for k, v in r.arrays.items()):
                return False
        return True

    # --------------------------------------------------------------- display

    def summary(self):
        m = self.meta
        steps = self.steps
        span = f"steps {steps[0]}..{steps[-1]}" if len(steps) else "no steps"
        opt = m.get("optimizer") or {}
        lines = [f"Trace of a {'-'.join(map(str, m['sizes']))} network "
                 f"[{', '.join(m['activations'])}], {m['dtype']}, loss {m['loss']['name']} "
                 f"({m['loss']['reduction']}), optimizer {opt.get('repr', 'none')}",
                 f"  {len(self)} recorded steps ({span}), {_human(self.nbytes)}",
                 f"  keeps {', '.join(m['keep']) or 'scalars only'} for layers "
                 f"{m['layers']}, samples {m['samples'] if m['samples'] is not None else 'all rows'}"]
        if len(self):
            lines.append("  tr[step] -> step record, tr[step, l] -> one layer; tr.steps; "
                         "tr.replay(step); tr.explain(step, 'W', l, j, k)")
        return Text("\n".join(lines))

    def __repr__(self):
        return str(self.summary())


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _jsonable(v):
    if v is None:
        return None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "f":
            out = v.astype(np.float64).tolist()
            return _clean(out) if not np.all(np.isfinite(v)) else out
        return v.tolist()
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def _clean(x):
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x if math.isfinite(x) else None


def _human(nbytes):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} B"


def load_trace(path):
    """Read a trace written by :meth:`Trace.save` (bit-exact)."""
    with np.load(path, allow_pickle=False) as data:
        doc = json.loads(str(data["json"]))
        meta = doc["meta"]
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a numbann trace file")
        flat = {k[len("data/"):]: data[k] for k in data.files if k.startswith("data/")}
        loss, lr = data["loss"], data["lr"]
        theta_start = data["theta_start"] if "theta_start" in data.files else None
        theta_end = data["theta_end"] if "theta_end" in data.files else None
    L = len(meta["sizes"]) - 1
    offsets = dict.fromkeys(flat, 0)
    records = []
    for i, sm in enumerate(doc["steps"]):
        arrays = {}
        for k, shape in sm["arrays"].items():
            size = int(np.prod(shape, dtype=np.int64))
            arrays[k] = flat[k][offsets[k]:offsets[k] + size].reshape(shape)
            offsets[k] += size
        records.append(StepRecord(sm["step"], sm["t"], sm["epoch"], sm["m"], loss[i], lr[i],
                                  arrays, L, sm["extras"]))
    return Trace(meta, records, doc["history"], theta_start, theta_end)
