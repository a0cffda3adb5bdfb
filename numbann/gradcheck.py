"""Finite-difference check of backprop, usable on any network."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from . import _checks
from ._typing import Array, ArrayLike

if TYPE_CHECKING:
    from .base import Model
    from .losses import Loss


class GradcheckReport:
    """Worst relative error per layer: ``errors[l] = (err_W, err_b)``; for the
    input gradient (``wrt="input"``) one entry, ``errors[0] = (err_dX,)``.

    The error of a block is max_i |num_i - bp_i| / max(max|num|, max|bp|, f):
    the largest disagreement relative to the size of that block's gradient,
    where the floor f = 1e-3 x the largest gradient in the network keeps a
    block whose gradient is (nearly) zero from being judged by rounding noise.
    """

    def __init__(self, errors: Mapping[int, tuple[float, ...]], numeric: Array,
                 backprop: Array) -> None:
        self.errors = errors
        self.numeric = numeric
        self.backprop = backprop

    @property
    def max_error(self) -> float:
        return max(max(pair) for pair in self.errors.values())

    def ok(self, tol: float = 1e-6) -> bool:
        return self.max_error < _checks.real(tol, "tol", 0, low_open=True)

    def __repr__(self) -> str:
        rows = [f"  input: dX {pair[0]:.2e}" if l == 0 else
                f"  layer {l}: dW {pair[0]:.2e}  db {pair[1]:.2e}" for l, pair in self.errors.items()]
        return "GradcheckReport(max relative error {:.2e})\n{}".format(self.max_error, "\n".join(rows))


def _relative(num: Array, bp: Array, floor: float) -> float:
    scale = max(np.max(np.abs(num), initial=0.0), np.max(np.abs(bp), initial=0.0), floor)
    return float(np.max(np.abs(num - bp), initial=0.0) / scale)


def gradcheck(net: Model, X: ArrayLike, Y: ArrayLike, loss: str | Loss = "mse",
              eps: float = 1e-6, wrt: str = "params") -> GradcheckReport:
    """Compare backprop with central differences for every parameter
    (``wrt="params"``) or every input value (``wrt="input"``).

    dJ/dtheta_i ~ (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps), and
    likewise dJ/dX_i against backprop's ``dX`` = dJ/da[0], computed on a
    float64 copy of the network; ``eps`` in (0, 1]. Returns a :class:`GradcheckReport`
    (layers without parameters, pooling and Flatten, report 0). BatchNorm
    layers use batch statistics, as in a training step.
    """
    _checks.network(net)
    eps = _checks.real(eps, "eps", 0, 1, low_open=True)
    wrt = _checks.choice(wrt, "wrt", ("params", "input"))
    net64 = net.copy(dtype="float64")
    X, Y, loss = net64._prepare(X, Y, loss)
    if wrt == "input":
        return _input_check(net64, X.copy(), Y, loss, eps)
    backprop = np.zeros_like(net64.theta)
    net64._backprop(X, Y, loss, backprop)
    numeric = np.zeros_like(backprop)
    scratch = np.zeros_like(backprop)
    theta = net64.theta
    for i in range(theta.size):
        saved = theta[i]
        theta[i] = saved + eps
        J_plus = net64._backprop(X, Y, loss, scratch)
        theta[i] = saved - eps
        J_minus = net64._backprop(X, Y, loss, scratch)
        theta[i] = saved
        numeric[i] = (J_plus - J_minus) / (2 * eps)
    errors = {}
    floor = max(1e-3 * max(np.max(np.abs(numeric)), np.max(np.abs(backprop))), 1e-300)
    (num_W, num_b), (bp_W, bp_b) = net64.split(numeric), net64.split(backprop)
    for l in range(1, net64.L + 1):
        errors[l] = (_relative(num_W[l - 1], bp_W[l - 1], floor),
                     _relative(num_b[l - 1], bp_b[l - 1], floor))
    return GradcheckReport(errors, numeric, backprop)


def _input_check(net64: Model, X: Array, Y: Array, loss: Loss, eps: float) -> GradcheckReport:
    """dJ/dX by central differences in each element of X against backprop's dX."""
    scratch = np.zeros_like(net64.theta)
    net64._backprop(X, Y, loss, scratch)
    backprop = net64._input_gradient(X)
    numeric = np.zeros_like(X)
    values, slopes = X.reshape(-1), numeric.reshape(-1)
    for i in range(values.size):
        saved = values[i]
        values[i] = saved + eps
        J_plus = net64._backprop(X, Y, loss, scratch)
        values[i] = saved - eps
        J_minus = net64._backprop(X, Y, loss, scratch)
        values[i] = saved
        slopes[i] = (J_plus - J_minus) / (2 * eps)
    floor = max(1e-3 * max(np.max(np.abs(numeric)), np.max(np.abs(backprop))), 1e-300)
    return GradcheckReport({0: (_relative(numeric, backprop, floor),)}, numeric, backprop)
