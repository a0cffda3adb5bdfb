"""A step of a trace: :class:`StepRecord`, one layer of it
(:class:`LayerRecord`), and per-layer values indexed like the course.

A step record keeps its arrays in one flat dictionary named like the course
(``"z/1"``, ``"delta/2"``, ``"W_before/1"``, ``"state/m/W/2"``, ``"x"``,
``"winners/2"``); the attributes ``z``, ``a``, ``delta``, ``dW``, ``db``,
``W_before`` ... are views of it indexed by layer, ``l = 1..L``, each in its
layer's natural shape. That one dictionary is what ``save``/``load_trace``
write and read, bit for bit.
"""
from collections.abc import Mapping

import numpy as np

from ._text import Text, shape_name

# per-layer quantities: what each holds (batch rows, the layer's parameters, or
# one value per channel), for the course's names of their axes
_ROWS, _PARAM, _BIAS, _CHANNEL = "rows", "param", "bias", "channel"
_AXES = {
    "z": _ROWS, "a": _ROWS, "delta": _ROWS,
    "dW": _PARAM, "db": _BIAS, "W_before": _PARAM, "b_before": _BIAS,
    "W_after": _PARAM, "b_after": _BIAS,
    "bn_mean": _CHANNEL, "bn_inv_std": _CHANNEL, "winners": _ROWS,
    "z_steps": _ROWS, "h_steps": _ROWS, "delta_steps": _ROWS,
    "attention": _ROWS, "attention_grad": _ROWS,
}
LAYER_FIELDS = tuple(_AXES)
_WHAT = {"z": "z", "a": "a", "delta": "delta", "dW": "dW", "db": "db",
         "W_before": "W", "b_before": "W", "W_after": "W", "b_after": "W",
         "bn_mean": "stats", "bn_inv_std": "stats", "winners": "stats",
         "z_steps": "stats", "h_steps": "stats", "delta_steps": "stats",
         "attention": "stats", "attention_grad": "stats"}


def _axes(name, l, ndim, image=False):
    """The course's names of the axes of quantity ``name`` of layer l:
    (m, n_l) or (m, C_l, H_l, W_l) for rows; (n_l, n_{l-1}) or
    (C_l, C_{l-1}, k_h, k_w) for a weight; (n_l,) or, for an image layer,
    (C_l,) for a bias, a BatchNorm layer's gamma and beta and its statistics."""
    if name.startswith("attention"):
        return "m", "t", "u"
    if _AXES.get(name) == _ROWS:
        return {2: ("m", f"n_{l}"), 3: ("m", "T", f"n_{l}")}.get(
            ndim, ("m", f"C_{l}", f"H_{l}", f"W_{l}"))
    if ndim == 2:
        return f"n_{l}", f"n_{l - 1}"
    if ndim == 4:
        return f"C_{l}", f"C_{l - 1}", "k_h", "k_w"
    return (f"C_{l}" if image else f"n_{l}",)


class LayerValues(Mapping):
    """One quantity for the recorded layers, indexed like the course: ``z[1]``."""

    def __init__(self, name, values, L, hint, arch=None):
        self._name, self._values, self._L, self._hint = name, values, L, hint
        self._arch = arch

    def __getitem__(self, l):
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)):
            raise KeyError(f"{self._name}[l]: l is a layer number 1..{self._L}, got {l!r}")
        l = int(l)
        if l in self._values:
            return self._values[l]
        if not 1 <= l <= self._L:
            raise KeyError(f"{self._name}[{l}]: layers are numbered 1..{self._L} as in the course")
        why = _absent(self._name, self._arch, l)
        raise KeyError(f"{self._name}[{l}] " + (why or f"was not recorded ({self._hint})"))

    def __iter__(self):
        return iter(sorted(self._values))

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        if not self._values:
            return f"<{self._name}: not recorded ({self._hint})>"
        base = self._name.replace("_before", "").replace("_after", "")
        parts = []
        for l in self:
            v = self._values[l]
            image = self._arch is not None and self._arch.image(l)
            axes = _axes(self._name, l, v.ndim, image) if self._name in _AXES else ()
            shape = shape_name(v.shape, axes) if len(axes) == v.ndim else str(v.shape)
            parts.append(f"{base}[{l}]: {shape}")
        return "<" + ", ".join(parts) + ">"


def _absent(name, arch, l):
    """Why layer l cannot have quantity ``name`` (None if it could)."""
    if arch is None:
        return None
    kind = arch.kind(l)
    if (_AXES.get(name) in (_PARAM, _BIAS) or name.startswith("state/")) \
            and not arch.has_params(l):
        return f"does not exist: layer {l} ({kind}) has no parameters"
    if name.startswith("bn_") and kind != "BatchNorm":
        return f"does not exist: layer {l} ({kind}) is not a BatchNorm layer"
    if name == "winners" and kind != "MaxPool2D":
        return f"does not exist: layer {l} ({kind}) is not a MaxPool2D layer"
    if name.endswith("_steps") and kind != "RNN":
        return f"does not exist: layer {l} ({kind}) is not an RNN layer"
    if name.startswith("attention") and kind != "SelfAttention":
        return f"does not exist: layer {l} ({kind}) is not a SelfAttention layer"
    return None


class _Activations(LayerValues):
    """a[0] = the input rows x (when recorded), then a[1..L]."""

    def __init__(self, values, L, hint, x, arch=None):
        super().__init__("a", values, L, hint, arch)
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
    ``||W_after[l] - W_before[l]||``, arrays indexed by ``l - 1``). Each in
    its layer's natural shape: ``(m, C, H, W)`` rows of an image layer, a
    conv layer's ``dW[l]`` like its ``W[l]``, ``(C_out, C_in, k_h, k_w)``.
    A layer without parameters (pooling, Flatten) has no dW, db, W or state.

    Layer statistics (keep ``"stats"``): ``bn_mean[l]``, ``bn_inv_std[l]``
    (= 1/sqrt(var + eps)) and ``bn_var[l]`` of a BatchNorm layer's batch,
    one per channel (unit); ``winners[l]`` of a max-pool layer, shaped like
    ``z[l]``: the index ``h * W + w`` in its input plane of each window's
    maximum; ``z_steps[l]``, ``h_steps[l]``, ``delta_steps[l]`` of an RNN
    layer, ``(m, T, n_l)``: z_t, h_t and delta_t = dJ/dz_t at every time step;
    ``attention[l]``, ``attention_grad[l]`` of a SelfAttention layer,
    ``(m, T, T)``: A (row t: how much step t attends to each step) and dJ/dA.
    """

    def __init__(self, step, t, epoch, m, loss, lr, arrays, L, extras=None, hint="", arch=None):
        self.step, self.t, self.epoch, self.m = int(step), int(t), int(epoch), int(m)
        self.loss, self.lr = float(loss), float(lr)
        self.arrays = arrays
        self.L = L
        self.extras = dict(extras or {})
        self._hint = hint
        self.arch = arch

    # --------------------------------------------------------------- access

    def _layer_values(self, name):
        values = {}
        prefix = name + "/"
        for key, v in self.arrays.items():
            if key.startswith(prefix) and key[len(prefix):].isdigit():
                values[int(key[len(prefix):])] = v
        what = _WHAT.get(name, name)
        return LayerValues(name, values, self.L, f"Recorder(keep=...) lacks {what!r} or "
                           f"Recorder(layers=...) lacks this layer{self._hint}", self.arch)

    z = property(lambda self: self._layer_values("z"))
    delta = property(lambda self: self._layer_values("delta"))
    dW = property(lambda self: self._layer_values("dW"))
    db = property(lambda self: self._layer_values("db"))
    W_before = property(lambda self: self._layer_values("W_before"))
    b_before = property(lambda self: self._layer_values("b_before"))
    W_after = property(lambda self: self._layer_values("W_after"))
    b_after = property(lambda self: self._layer_values("b_after"))
    bn_mean = property(lambda self: self._layer_values("bn_mean"))
    bn_inv_std = property(lambda self: self._layer_values("bn_inv_std"))
    winners = property(lambda self: self._layer_values("winners"))
    z_steps = property(lambda self: self._layer_values("z_steps"))
    h_steps = property(lambda self: self._layer_values("h_steps"))
    delta_steps = property(lambda self: self._layer_values("delta_steps"))
    attention = property(lambda self: self._layer_values("attention"))
    attention_grad = property(lambda self: self._layer_values("attention_grad"))

    @property
    def bn_var(self):
        """A BatchNorm layer's batch variance, 1/inv_std^2 - eps (biased, 1/N)."""
        v = self.bn_inv_std
        eps = {l: self.arch[l].get("eps", 0.0) if self.arch else 0.0 for l in v}
        return LayerValues("bn_var", {l: 1.0 / x.astype(np.float64) ** 2 - eps[l]
                                      for l, x in v._values.items()}, self.L, v._hint, self.arch)

    @property
    def a(self):
        v = self._layer_values("a")
        return _Activations(v._values, self.L, v._hint, self.arrays.get("x"), self.arch)

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
            lines.append(f"  a[0] = x  {shape_name(self.x.shape, _axes('a', 0, self.x.ndim))}")
        if self.y is not None:
            lines.append(f"  y        {shape_name(self.y.shape, ('m', f'n_{self.L}'))}")
        for name in LAYER_FIELDS:
            values = self._layer_values(name)
            if len(values):
                lines.append(f"  {name + ' ':<9}" + "  ".join(
                    f"[{l}] {shape_name(values[l].shape, self._axes(name, l, values[l]))}"
                    for l in values))
        for n, st in self.state.items():
            lines.append(f"  state[{n!r}]  " + "  ".join(
                f"W[{l}] {st.W[l].shape}" for l in st.W))
        if self.extras:
            lines.append("  " + ", ".join(f"{k} = {v:.6g}" for k, v in self.extras.items()))
        return Text("\n".join(lines))

    def _axes(self, name, l, v):
        return _axes(name, l, v.ndim, self.arch is not None and self.arch.image(l))

    def __repr__(self):
        return str(self.shapes())


class LayerRecord:
    """One layer of one step: ``.z``, ``.a``, ``.a_prev``, ``.delta``, ``.dW``,
    ``.db``, ``.W_before``, ``.b_before``, ``.W_after``, ``.b_after``,
    ``.bn_mean``, ``.bn_inv_std``, ``.winners``, ``.state`` (``{name: (W
    part, b part)}``); missing ones are None; ``.kind`` (None: unknown)."""

    def __init__(self, record, l):
        if not 1 <= l <= record.L:
            raise KeyError(f"layer {l}: layers are numbered 1..{record.L}")
        self.step, self.l = record.step, l
        for name in LAYER_FIELDS:
            setattr(self, name, record.arrays.get(f"{name}/{l}"))
        self.a_prev = record.arrays.get("x") if l == 1 else record.arrays.get(f"a/{l - 1}")
        self.kind = record.arch.kind(l) if record.arch is not None else None
        self.state = {n: (st.W._values.get(l), st.b._values.get(l))
                      for n, st in record.state.items()}

    def __repr__(self):
        have = [n for n in LAYER_FIELDS if getattr(self, n) is not None]
        shapes = ", ".join(f"{n}: {getattr(self, n).shape}" for n in have)
        return f"<step {self.step}, layer {self.l}: {shapes}>"
