"""Activation functions: name -> code for the kernels, formula, derivative.

``get("leaky_relu", alpha=0.2)`` returns an :class:`Activation`; calling it on
an array evaluates ``g(z)`` with the same kernel the engine trains with,
``derivative(z)`` gives ``g'(z)`` (for softmax, the vector-Jacobian product
with a ones vector is zero, so ``derivative`` is refused there) and
``backward(z, upstream)`` turns dJ/da into dJ/dz as backprop does.
"""
from dataclasses import dataclass

import numpy as np

from . import _checks
from ._typing import Array, ArrayLike
from .kernels import codes
from .kernels.cpu import activate, backprop_activation


@dataclass(frozen=True)
class Activation:
    name: str
    code: int
    formula: str
    slope: str
    alpha: float = 0.0

    def __call__(self, z: ArrayLike) -> Array:
        """g(z), elementwise (softmax: along the last axis)."""
        z, z2 = as_rows(z)
        a = np.empty_like(z2)
        activate(self.code, self.alpha, z2, a)
        return a.reshape(z.shape)

    def derivative(self, z: ArrayLike) -> Array:
        """g'(z), elementwise."""
        if self.code == codes.SOFTMAX:
            raise ValueError("softmax has a Jacobian, not an elementwise derivative: "
                             "da_i/dz_j = a_i (1[i=j] - a_j); use backward(z, upstream)")
        return self.backward(z, np.ones(np.shape(z)))

    def backward(self, z: ArrayLike, upstream: ArrayLike) -> Array:
        """dJ/dz from dJ/da = ``upstream`` (shaped like z), as backprop computes
        it: upstream * g'(z) elementwise; softmax, row by row along the last
        axis (its Jacobian-vector product): a_i (upstream_i - sum_j upstream_j a_j)."""
        z, z2 = as_rows(z)
        delta = as_rows(upstream, "upstream")[1].copy()
        if delta.shape != z2.shape:
            raise ValueError(f"upstream must have the shape of z, {z.shape}, "
                             f"got {np.shape(upstream)}")
        backprop_activation(self.code, self.alpha, z2, self(z2), delta, 1.0)
        return np.asarray(delta.reshape(z.shape))

    def __repr__(self) -> str:
        extra = f", alpha={self.alpha}" if self.code in (codes.LEAKY_RELU, codes.ELU) else ""
        return f"Activation({self.name!r}{extra})"


def as_rows(z: ArrayLike, name: str = "z") -> tuple[Array, Array]:
    """(z, rows): z as a float64 array and a C-contiguous 2-D copy or view of
    it, one row per vector along the last axis (a scalar or a vector is one row)."""
    z = _checks.array(z, name)
    _checks.real_dtype(z, name)
    z = z.astype(np.float64)
    rows = z.reshape(1, -1) if z.ndim < 2 else z.reshape(-1, z.shape[-1]) if z.ndim > 2 else z
    return z, np.ascontiguousarray(rows)


_REGISTRY = {
    "identity": (codes.IDENTITY, "g(z) = z", "g'(z) = 1", 0.0),
    "step": (codes.STEP, "g(z) = 1 if z > 0 else 0 (Heaviside, the perceptron's unit)",
             "g'(z) = 0 (no gradient flows: perceptrons learn by their own rule)", 0.0),
    "sigmoid": (codes.SIGMOID, "g(z) = 1 / (1 + e^-z)", "g'(z) = g(z) (1 - g(z))", 0.0),
    "tanh": (codes.TANH, "g(z) = (e^z - e^-z) / (e^z + e^-z)", "g'(z) = 1 - g(z)^2", 0.0),
    "relu": (codes.RELU, "g(z) = max(0, z)", "g'(z) = 1 if z > 0 else 0", 0.0),
    "leaky_relu": (codes.LEAKY_RELU, "g(z) = max(alpha z, z)", "g'(z) = 1 if z > 0 else alpha", 0.01),
    "elu": (codes.ELU, "g(z) = z if z > 0 else alpha (e^z - 1)",
            "g'(z) = 1 if z > 0 else alpha e^z", 1.0),
    "softmax": (codes.SOFTMAX, "g(z)_i = e^{z_i} / sum_j e^{z_j}",
                "da_i/dz_j = a_i (1[i=j] - a_j)", 0.0),
}
NAMES = tuple(_REGISTRY)
_ALIASES = {"linear": "identity", "none": "identity", "heaviside": "step",
            "leakyrelu": "leaky_relu", "logistic": "sigmoid"}


def get(activation: "str | Activation", alpha: float | None = None,
        argument: str = "activation") -> Activation:
    """Resolve a name (or an :class:`Activation`) to an :class:`Activation`;
    ``argument`` is the caller's argument name, for the error messages."""
    if isinstance(activation, Activation):
        if alpha is not None:
            raise ValueError(f"alpha given with an Activation object {activation!r} ({argument}): "
                             "set it when building the activation")
        return activation
    if not isinstance(activation, str):
        raise TypeError(f"{argument} must be a name or an Activation, got "
                        f"{type(activation).__name__}")
    label = "activation" if argument == "activation" else f"{argument} activation"
    name = _ALIASES.get(activation.lower(), activation.lower())
    if name not in _REGISTRY:
        raise ValueError(f"unknown {label} {activation!r:.60}; valid names: {', '.join(NAMES)}")
    code, formula, slope, default_alpha = _REGISTRY[name]
    if alpha is None:
        alpha = default_alpha
    elif code not in (codes.LEAKY_RELU, codes.ELU):
        raise ValueError(f"{label} {name!r} takes no alpha")
    if code == codes.LEAKY_RELU:
        alpha = _checks.real(alpha, "leaky_relu alpha", 0, 1, high_open=True)
    elif code == codes.ELU:
        alpha = _checks.real(alpha, "elu alpha", 0, low_open=True)
    return Activation(name, code, formula, slope, float(alpha))


def LeakyReLU(alpha: float = 0.01) -> Activation:
    """max(alpha z, z)."""
    return get("leaky_relu", alpha)


def ELU(alpha: float = 1.0) -> Activation:
    """z if z > 0 else alpha (e^z - 1)."""
    return get("elu", alpha)
