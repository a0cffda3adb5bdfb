"""Losses and activations as functions of arrays, with their gradients.

``import numbann.functional as F``. Every function computes with the kernels
a network trains with (``kernels/cpu.py``), so a number here is the number
inside a network.

Losses take the output ``a`` and the targets ``y`` and a ``reduction``:

- ``F.mse(a, y, reduction="mean")`` is J, a float (an array for ``"none"``);
- ``F.mse_grad(a, y, reduction="mean")`` is dJ/da, shaped like ``a``
  (for ``"none"``: the gradient of the sum of the elementwise losses, i.e.
  each element's own derivative);
- ``F.value_and_grad("mse", a, y, reduction)`` gives both from one pass.

``a`` has one row per sample: ``m = a.shape[0]``, ``n`` values per row.
Reductions: ``"none"``, ``"mean"`` (1/(m n); cross-entropy: 1/m), ``"sum"``,
``"batchmean"`` (1/m: PyTorch's for KL, the course's for BCE) and the
course's ``"half_sum"`` (1/2) and ``"half_batch_mean"`` (1/(2m)) for MSE.
Defaults are PyTorch's. Cross-entropy takes logits ``z`` (PyTorch's
``cross_entropy``); KL takes probabilities ``a`` (PyTorch's
``kl_div(a.log(), y)``).

Activations: ``F.relu(z)`` is g(z); ``F.relu_grad(z, upstream=None)`` is
dJ/dz = upstream * g'(z) (g'(z) without ``upstream``); ``F.softmax_grad(z,
upstream)`` is softmax's Jacobian-vector product and ``F.log_softmax(z)``
the stable log-softmax, both along the last axis.
"""
import numpy as np

from . import _checks, activations, losses
from ._typing import Array, ArrayLike
from .kernels import codes
from .kernels.cpu import activate, log_softmax_rows, loss_delta, loss_per_row

# ---------------------------------------------------------------- losses


def _loss_for(loss: "str | losses.Loss", reduction: str | None) -> tuple[losses.Loss, str]:
    """The Loss object of ``loss`` (a name) that reduces as ``reduction``."""
    kind = type(losses.get(loss))
    if reduction is None:
        reduction = kind.default
    valid = ("none",) + tuple(kind.reductions)
    if not isinstance(reduction, str) or reduction not in valid:
        raise ValueError(f"{kind.name}: unknown reduction {reduction!r:.60}; "
                         f"valid: {', '.join(valid)}")
    return kind(kind.default if reduction == "none" else reduction), reduction


def _loss_arrays(loss: losses.Loss, a: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    """(a as (m, n), y as (m, n) floats) of a's dtype (float32 stays float32)."""
    a = _checks.array(a, "a")
    _checks.real_dtype(a, "a")
    dtype = a.dtype if a.dtype in (np.float32, np.float64) else np.float64
    if a.ndim == 0 or a.size == 0:
        raise ValueError(f"a must have one row per sample, got shape {a.shape}")
    a = _checks.finite(a, "a")
    if loss.code == codes.CE:
        if a.ndim != 2:
            raise ValueError(f"cross_entropy takes logits of shape (m, C), got {a.shape}")
        y = loss.targets(y, a.shape[1], dtype)
        _checks.same_rows(a, y, "a", "y")
    else:
        y = _checks.targets(y, "y")
        if y.shape != a.shape:
            raise ValueError(f"y must have the shape of a, {a.shape}, got {y.shape}")
        if loss.code in (codes.BCE, codes.KL) and (a.min() < 0 or a.max() > 1):
            raise ValueError(f"{loss.name}: a (probabilities) must lie in [0, 1]")
        y = loss.targets(y.reshape(len(a), -1), a.size // len(a), dtype)
    return np.ascontiguousarray(a.reshape(len(a), -1), dtype), y


def value_and_grad(loss: "str | losses.Loss", a: ArrayLike, y: ArrayLike,
                   reduction: str | None = None) -> tuple[float | Array, Array]:
    """(J, dJ/da) of ``loss`` (a name of :mod:`numbann.losses`) on outputs
    ``a`` and targets ``y``: J a float, or for ``reduction="none"`` one value
    per element (cross-entropy: per row); dJ/da shaped like ``a``."""
    loss, reduction = _loss_for(loss, reduction)
    shape = np.shape(a)
    z, y = _loss_arrays(loss, a, y)
    m, n = z.shape
    act, probs = codes.IDENTITY, z
    if loss.code == codes.CE:  # from the logits, as the softmax head
        act, probs = codes.SOFTMAX, np.empty_like(z)
        activate(codes.SOFTMAX, 0.0, z, probs)
    grad = np.empty_like(z)
    if reduction != "none":
        J = loss_delta(loss.code, loss.scale(m, n), act, 0.0, z, probs, y, grad)
        return float(J), grad.reshape(shape)
    rows, width = (m, n) if loss.code == codes.CE else (m * n, 1)
    values = np.empty(rows, z.dtype)
    loss_per_row(loss.code, act, 0.0, z.reshape(-1), probs.reshape(-1), y.reshape(-1),
                 grad.reshape(-1), rows, width, values)
    return values.reshape((m,) if loss.code == codes.CE else shape), grad.reshape(shape)


def mse(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> float | Array:
    """Squared error: "mean" 1/(m n) sum (a - y)^2 (PyTorch's ``mse_loss``),
    "sum", "none" (a - y)^2, "half_sum" 1/2 sum (a - y)^2, "half_batch_mean"
    1/(2m) sum (a - y)^2."""
    return value_and_grad("mse", a, y, reduction)[0]


def mse_grad(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> Array:
    """dJ/da of :func:`mse`: 2 s (a - y) for the reduction's factor s."""
    return value_and_grad("mse", a, y, reduction)[1]


def mae(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> float | Array:
    """Absolute error (PyTorch's ``l1_loss``): "mean" 1/(m n) sum |a - y|, "sum", "none"."""
    return value_and_grad("mae", a, y, reduction)[0]


def mae_grad(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> Array:
    """dJ/da of :func:`mae`: s sign(a - y) (0 where a = y)."""
    return value_and_grad("mae", a, y, reduction)[1]


def bce(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> float | Array:
    """Binary cross-entropy of probabilities a (PyTorch's ``binary_cross_entropy``):
    -s sum [y log a + (1 - y) log(1 - a)], logs clamped at -100; "mean"
    1/(m n), "batchmean" 1/m (the course's), "sum", "none"."""
    return value_and_grad("bce", a, y, reduction)[0]


def bce_grad(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> Array:
    """dJ/da of :func:`bce`: s (a - y) / max(a (1 - a), eps), PyTorch's eps
    (float32 1e-12 = 9.999999960041972e-13)."""
    return value_and_grad("bce", a, y, reduction)[1]


def cross_entropy(z: ArrayLike, y: ArrayLike, reduction: str = "mean") -> float | Array:
    """Categorical cross-entropy from logits z (m, C) (PyTorch's ``cross_entropy``):
    -s sum_i sum_k y_ik log softmax(z_i)_k, y class indices (m,) or
    probability rows (m, C); "mean" 1/m, "sum", "none" (one value per row)."""
    return value_and_grad("ce", z, y, reduction)[0]


def cross_entropy_grad(z: ArrayLike, y: ArrayLike, reduction: str = "mean") -> Array:
    """dJ/dz of :func:`cross_entropy`: s (softmax(z) sum_k y_k - y)."""
    return value_and_grad("ce", z, y, reduction)[1]


def hinge(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> float | Array:
    """Hinge loss, y in {-1, +1}: s sum max(0, 1 - y a); "mean" 1/(m n), "sum", "none"."""
    return value_and_grad("hinge", a, y, reduction)[0]


def hinge_grad(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> Array:
    """dJ/da of :func:`hinge`: -s y where 1 - y a > 0, else 0."""
    return value_and_grad("hinge", a, y, reduction)[1]


def kl_div(a: ArrayLike, y: ArrayLike, reduction: str = "batchmean") -> float | Array:
    """KL divergence of probabilities a from targets y: s sum y (log y - log a),
    0 log 0 = 0, log a clamped at -100 (PyTorch's ``kl_div(a.log(), y)``);
    "batchmean" 1/m, "mean" 1/(m n), "sum", "none"."""
    return value_and_grad("kl", a, y, reduction)[0]


def kl_div_grad(a: ArrayLike, y: ArrayLike, reduction: str = "batchmean") -> Array:
    """dJ/da of :func:`kl_div`: -s y / max(a, 1e-12)."""
    return value_and_grad("kl", a, y, reduction)[1]


# ---------------------------------------------------------------- activations

def _grad(name: str, z: ArrayLike, upstream: ArrayLike | None,
          alpha: float | None = None) -> Array:
    act = activations.get(name, alpha)
    return act.derivative(z) if upstream is None else act.backward(z, upstream)


def identity(z: ArrayLike) -> Array:
    """g(z) = z."""
    return activations.get("identity")(z)


def identity_grad(z: ArrayLike, upstream: ArrayLike | None = None) -> Array:
    """upstream * 1."""
    return _grad("identity", z, upstream)


def step(z: ArrayLike) -> Array:
    """g(z) = 1 if z > 0 else 0 (the perceptron's unit)."""
    return activations.get("step")(z)


def step_grad(z: ArrayLike, upstream: ArrayLike | None = None) -> Array:
    """0: no gradient flows through a step."""
    return _grad("step", z, upstream)


def sigmoid(z: ArrayLike) -> Array:
    """g(z) = 1 / (1 + e^-z), without overflow."""
    return activations.get("sigmoid")(z)


def sigmoid_grad(z: ArrayLike, upstream: ArrayLike | None = None) -> Array:
    """upstream * g(z) (1 - g(z))."""
    return _grad("sigmoid", z, upstream)


def tanh(z: ArrayLike) -> Array:
    """g(z) = tanh z."""
    return activations.get("tanh")(z)


def tanh_grad(z: ArrayLike, upstream: ArrayLike | None = None) -> Array:
    """upstream * (1 - tanh(z)^2)."""
    return _grad("tanh", z, upstream)


def relu(z: ArrayLike) -> Array:
    """g(z) = max(0, z)."""
    return activations.get("relu")(z)


def relu_grad(z: ArrayLike, upstream: ArrayLike | None = None) -> Array:
    """upstream * (1 if z > 0 else 0)."""
    return _grad("relu", z, upstream)


def leaky_relu(z: ArrayLike, alpha: float = 0.01) -> Array:
    """g(z) = z if z > 0 else alpha z."""
    return activations.get("leaky_relu", alpha)(z)


def leaky_relu_grad(z: ArrayLike, upstream: ArrayLike | None = None,
                    alpha: float = 0.01) -> Array:
    """upstream * (1 if z > 0 else alpha)."""
    return _grad("leaky_relu", z, upstream, alpha)


def elu(z: ArrayLike, alpha: float = 1.0) -> Array:
    """g(z) = z if z > 0 else alpha (e^z - 1)."""
    return activations.get("elu", alpha)(z)


def elu_grad(z: ArrayLike, upstream: ArrayLike | None = None, alpha: float = 1.0) -> Array:
    """upstream * (1 if z > 0 else alpha e^z)."""
    return _grad("elu", z, upstream, alpha)


def softmax(z: ArrayLike) -> Array:
    """softmax(z)_i = e^{z_i - max z} / sum_j e^{z_j - max z}, along the last axis."""
    return activations.get("softmax")(z)


def softmax_grad(z: ArrayLike, upstream: ArrayLike) -> Array:
    """The Jacobian-vector product of softmax with ``upstream`` = dJ/da (its
    Jacobian is symmetric, so also the vector-Jacobian product), row by row:
    dJ/dz_i = a_i (upstream_i - sum_j upstream_j a_j), a = softmax(z)."""
    return activations.get("softmax").backward(z, upstream)


def log_softmax(z: ArrayLike) -> Array:
    """log softmax(z)_k = z_k - max z - log sum_j e^{z_j - max z}, along the
    last axis, stable for any finite logits."""
    z, rows = activations.as_rows(z)
    out = np.empty_like(rows)
    activate(codes.SOFTMAX, 0.0, rows, out)
    log_softmax_rows(rows.reshape(-1), out.reshape(-1), *rows.shape)
    return out.reshape(z.shape)


def log_softmax_grad(z: ArrayLike, upstream: ArrayLike) -> Array:
    """dJ/dz from ``upstream`` = dJ/d log softmax(z), row by row:
    upstream - softmax(z) sum_j upstream_j."""
    z, _ = activations.as_rows(z)
    upstream = _checks.array(upstream, "upstream")
    _checks.real_dtype(upstream, "upstream")
    if upstream.shape != z.shape:
        raise ValueError(f"upstream must have the shape of z, {z.shape}, got {upstream.shape}")
    return np.asarray(upstream - softmax(z) * np.sum(upstream, axis=-1, keepdims=True))
