"""Losses: name -> kernel code, reduction, target checks, formula.

Every loss matches PyTorch's definition and default reduction; the course's
forms are reductions of the same kernel. ``scale(m, n)`` is the factor ``s``
the kernel multiplies by (see ``kernels.cpu.loss_delta``), for a batch of
``m`` rows and ``n`` outputs, so the reduction is folded into ``delta[L]``.
"""
from typing import TYPE_CHECKING

import numpy as np

from . import _checks
from ._typing import Array, ArrayLike, DTypeLike

if TYPE_CHECKING:
    from .activations import Activation
from .kernels import codes
from .kernels.cpu_train import batch_scale


class Loss:
    """Base class: subclasses set name, code, reductions and the formulas."""
    name = ""
    code = -1
    reductions = {"mean": "1/(m n)", "sum": "1"}
    default = "mean"
    formula = ""
    torch = ""

    def __init__(self, reduction: str | None = None) -> None:
        reduction = self.default if reduction is None else reduction
        if not isinstance(reduction, str) or reduction not in self.reductions:
            raise ValueError(f"{self.name}: unknown reduction {reduction!r:.60}; "
                             f"valid: {', '.join(self.reductions)}")
        self.reduction = reduction

    def scale_parts(self) -> tuple[float, bool, bool]:
        """(c, per_row, per_output): s = c / (m if per_row) / (n if per_output)."""
        return {"mean": (1.0, True, True), "sum": (1.0, False, False),
                "batchmean": (1.0, True, False), "half_sum": (0.5, False, False),
                "half_batch_mean": (0.5, True, False)}[self.reduction]

    def scale(self, m: int, n: int) -> float:
        """The reduction factor s in J = s * sum(...) for m rows and n outputs."""
        return float(batch_scale(*self.scale_parts(), m, n))

    def check_output(self, activation: "Activation") -> None:
        """Raise if this loss cannot follow the network's output activation."""

    def targets(self, Y: ArrayLike, n_out: int, dtype: DTypeLike) -> Array:
        """Validate targets and return them as a (m, n_out) float array."""
        Y = _checks.targets(Y, f"loss={self.name!r}: Y")
        if Y.ndim == 1 and n_out == 1:
            Y = Y.reshape(-1, 1)
        if Y.ndim != 2 or Y.shape[1] != n_out:
            raise ValueError(f"loss={self.name!r}: Y must have shape (m, {n_out}) to match the "
                             f"{n_out} outputs, got {Y.shape}")
        Y = np.ascontiguousarray(Y, dtype=dtype)
        self._check_values(Y)
        return Y

    def _check_values(self, Y: Array) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSE(Loss):
    """Mean squared error. PyTorch ``MSELoss``: J = 1/(m n) sum (a - y)^2.

    Course forms as reductions: ``"sum"`` C = sum (y - a)^2 with dC/da = 2(a - y);
    ``"half_sum"`` J = 1/2 sum (a - y)^2 (one example: J = 1/2 (a - y)^2);
    ``"half_batch_mean"`` C = 1/(2m) sum_x ||y(x) - a(x)||^2.
    """
    name, code = "mse", codes.MSE
    reductions = {"mean": "1/(m n)", "sum": "1", "half_sum": "1/2", "half_batch_mean": "1/(2m)"}
    formula = "J = s sum (a - y)^2"
    torch = "torch.nn.MSELoss"


class MAE(Loss):
    """Mean absolute error. PyTorch ``L1Loss``: J = 1/(m n) sum |a - y|."""
    name, code = "mae", codes.MAE
    formula = "J = s sum |a - y|"
    torch = "torch.nn.L1Loss"


class BCE(Loss):
    """Binary cross-entropy. PyTorch ``BCELoss``:
    J = -1/(m n) sum [y log a + (1 - y) log(1 - a)], logs clamped at -100,
    dJ/da = (a - y) / max(a (1 - a), eps) / (m n) with PyTorch's eps (float32 1e-12).
    ``"batchmean"`` divides by the batch size m only, as Nielsen's book and
    the course do: C = -1/m sum_x sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)].

    With a sigmoid output the head is fused: delta[L] = s (a - y).
    """
    name, code = "bce", codes.BCE
    reductions = {"mean": "1/(m n)", "sum": "1", "batchmean": "1/m"}
    formula = "J = -s sum [y log a + (1 - y) log(1 - a)]"
    torch = "torch.nn.BCELoss"

    def check_output(self, activation: "Activation") -> None:
        if activation.name not in ("sigmoid", "softmax"):
            raise ValueError(f"loss='bce' needs outputs in [0, 1]: use output='sigmoid', "
                             f"not {activation.name!r}")

    def _check_values(self, Y: Array) -> None:
        if Y.min() < 0 or Y.max() > 1:
            raise ValueError("loss='bce': Y (the targets) must lie in [0, 1]")


class CrossEntropy(Loss):
    """Categorical cross-entropy over softmax. PyTorch ``CrossEntropyLoss``:
    J = -1/m sum_i sum_k y_ik log softmax(z_i)_k, computed from the logits.

    Targets are class indices (shape (m,)) or one-hot / probability rows
    (shape (m, C)); the head is fused: delta[L] = (a - y) / m.
    """
    name, code = "ce", codes.CE
    reductions = {"mean": "1/m", "sum": "1"}
    formula = "J = -s sum_i sum_k y_ik log a_ik, a = softmax(z)"
    torch = "torch.nn.CrossEntropyLoss"

    def scale_parts(self) -> tuple[float, bool, bool]:
        return (1.0, self.reduction == "mean", False)

    def check_output(self, activation: "Activation") -> None:
        if activation.name != "softmax":
            raise ValueError(f"loss='ce' is the softmax head: use output='softmax', "
                             f"not {activation.name!r}")

    def targets(self, Y: ArrayLike, n_out: int, dtype: DTypeLike) -> Array:
        Y = _checks.targets(Y, "loss='ce': Y", labels=True)
        if Y.ndim == 1 and (np.issubdtype(Y.dtype, np.integer) or n_out > 1):
            Y = _checks.class_labels(Y, n_out, "loss='ce': Y")
            onehot = np.zeros((Y.shape[0], n_out), dtype=dtype)
            onehot[np.arange(Y.shape[0]), Y] = 1
            return onehot
        return super().targets(Y, n_out, dtype)

    def _check_values(self, Y: Array) -> None:
        if Y.min() < 0:
            raise ValueError("loss='ce': Y (target probabilities) must be >= 0")


class Hinge(Loss):
    """Hinge loss with targets in {-1, +1}: J = 1/(m n) sum max(0, 1 - y a).

    (PyTorch has no layer for this form; its value is
    ``torch.clamp(1 - y * a, min=0).mean()``.)
    """
    name, code = "hinge", codes.HINGE
    formula = "J = s sum max(0, 1 - y a)"
    torch = "torch.clamp(1 - y * a, min=0).mean()"

    def _check_values(self, Y: Array) -> None:
        if not np.all((Y == 1) | (Y == -1)):
            raise ValueError("loss='hinge': Y (the targets) must be -1 or +1")


class KLDiv(Loss):
    """Kullback-Leibler divergence of the output from the target distribution:
    J = 1/m sum y (log y - log a), with 0 log 0 = 0. PyTorch
    ``KLDivLoss(reduction="batchmean")`` applied to ``log(a)``; ``"mean"``
    (PyTorch's default, over elements) and ``"sum"`` are also available.
    With a softmax output the head is fused: delta[L] = (a sum_k y_k - y) / m.
    """
    name, code = "kl", codes.KL
    reductions = {"batchmean": "1/m", "mean": "1/(m n)", "sum": "1"}
    default = "batchmean"
    formula = "J = s sum y (log y - log a)"
    torch = "torch.nn.KLDivLoss(reduction='batchmean')(a.log(), y)"

    def check_output(self, activation: "Activation") -> None:
        if activation.name not in ("softmax", "sigmoid"):
            raise ValueError(f"loss='kl' needs probability outputs: use "
                             f"output='softmax', not {activation.name!r}")

    def _check_values(self, Y: Array) -> None:
        if Y.min() < 0:
            raise ValueError("loss='kl': Y (target probabilities) must be >= 0")


_REGISTRY = {"mse": MSE, "mae": MAE, "bce": BCE, "ce": CrossEntropy, "hinge": Hinge, "kl": KLDiv}
NAMES = tuple(_REGISTRY)
_ALIASES = {"l2": "mse", "l1": "mae", "binary_cross_entropy": "bce", "cross_entropy": "ce",
            "categorical_crossentropy": "ce", "crossentropy": "ce", "kl_div": "kl"}


def get(loss: "str | Loss", reduction: str | None = None) -> Loss:
    """Resolve a name (or a :class:`Loss`) to a :class:`Loss` instance."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name or a Loss, got {type(loss).__name__}")
    name = _ALIASES.get(loss.lower(), loss.lower())
    if name not in _REGISTRY:
        raise ValueError(f"unknown loss {loss!r}; valid names: {', '.join(NAMES)}")
    return _REGISTRY[name](reduction)
