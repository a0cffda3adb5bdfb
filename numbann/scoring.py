"""``net.score(X, Y, metric=None)``: which number a score is, and the checks on Y.

A network does not know the loss it was trained with, so the metric comes
from the output activation and the targets, or from ``metric`` (see
docs/training.md, "Scoring"):

- ``"argmax"``: accuracy of ``a.argmax(axis=1)`` against class labels
  ``(m,)`` or one-hot / probability rows ``(m, n_L)``; the default for a
  softmax output.
- ``"accuracy"``: a classifier's accuracy. One sigmoid (or step) output:
  ``a > 0.5`` against 0/1 labels (the default there); several sigmoid
  outputs: ``"multilabel_exact"``; softmax: ``"argmax"``; any other output:
  ``"sign_accuracy"``.
- ``"multilabel_exact"``: the fraction of rows whose every label is right,
  ``all(a > 0.5 == Y, axis=1)``, with Y of 0/1 rows ``(m, n_L)``; the
  default for several sigmoid outputs (``"argmax"`` is the alternative when
  each row has one class).
- ``"sign_accuracy"``: a +-1 classifier (trained with the hinge loss, or a
  tanh/identity output on -1/+1 targets): ``where(a > 0, 1, -1) == Y``, all
  outputs of a row right; the default for outputs other than sigmoid,
  softmax and step when every target is -1 or +1.
- ``"r2"``: the coefficient of determination of the outputs, pooled over all
  outputs, ``1 - sum (Y - a)^2 / sum (Y - mean(Y))^2`` (scikit-learn's
  convention when Y is constant: 1.0 for a perfect fit, else 0.0); the
  default for other outputs.

Targets are checked first: real numbers (strings and other labels must be
encoded as 0..n-1), finite, not empty, shaped for the metric; nothing is
reshaped or broadcast silently.
"""
from typing import TYPE_CHECKING

import numpy as np

from . import _checks
from ._typing import Array, ArrayLike

if TYPE_CHECKING:
    from .base import Model
    from .losses import Loss

METRICS = ("accuracy", "argmax", "multilabel_exact", "sign_accuracy", "r2")
_THRESHOLDED = ("sigmoid", "step")  # outputs read as P(label = 1) or 0/1


def resolve(net: "Model", Y: Array, metric: str | None = None) -> str:
    """The metric ``score`` computes for targets ``Y`` (a checked array)."""
    act, k = net.output_activation.name, net.n_outputs
    if metric is not None:
        metric = _checks.choice(metric, "metric", METRICS)
        if metric != "accuracy":
            return metric
    if act == "softmax":
        return "argmax"
    if act in _THRESHOLDED:
        return "binary" if k == 1 else "multilabel_exact"
    if metric == "accuracy" or np.all(np.abs(Y) == 1):
        return "sign_accuracy"
    return "r2"


def _columns(net: "Model", Y: Array, what: str) -> Array:
    """Y as (m, n_L): (m,) is accepted for one output; no other reshaping."""
    k = net.n_outputs
    if Y.ndim == 1 and k == 1:
        return Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape[1] != k:
        one = " (or (m,))" if k == 1 else ""
        raise ValueError(f"Y has shape {Y.shape} but the network has {k} output(s): {what} "
                         f"needs Y of shape (m, {k}){one}")
    return Y


def _zero_one(Y: Array, metric: str) -> None:
    if not np.all((Y == 0) | (Y == 1)):
        bad = Y[(Y != 0) & (Y != 1)][0]
        raise ValueError(f"Y must hold 0/1 labels for metric={metric!r}, got {bad!r}; for "
                         "soft targets use metric='r2'")


def _prepare(net: "Model", Y: Array, metric: str) -> Array:
    """Y checked and shaped for ``metric`` (raises naming Y or metric)."""
    act, k = net.output_activation.name, net.n_outputs
    if metric == "argmax":
        if k < 2:
            raise ValueError("metric='argmax' needs a network with at least 2 outputs, "
                             f"this one has {k}")
        if Y.ndim == 2 and Y.shape[1] == k:  # one-hot or probability rows
            top = np.sort(Y, axis=1)[:, -2:]
            tied = np.flatnonzero(top[:, 0] == top[:, 1])
            if tied.size:
                raise ValueError(f"Y row {tied[0]} has no single largest entry ({Y[tied[0]]}): "
                                 "metric='argmax' needs labels (m,) or one-hot rows")
            return np.asarray(Y.argmax(axis=1))
        if Y.ndim == 1 or (Y.ndim == 2 and Y.shape[1] == 1):
            return _checks.class_labels(Y.reshape(-1), k, "Y")
        raise ValueError(f"Y has shape {Y.shape} but the network has {k} outputs: "
                         f"metric='argmax' needs class labels (m,) or one-hot rows (m, {k})")
    if metric in ("binary", "multilabel_exact"):
        shown = "accuracy" if metric == "binary" else metric  # binary: one output's accuracy
        if act not in _THRESHOLDED:
            raise ValueError(f"metric={shown!r} reads outputs as probabilities (a > 0.5): it "
                             f"needs a sigmoid or step output, not {act!r}")
        Y = _columns(net, Y, f"metric={shown!r}")
        _zero_one(Y, shown)
        return Y
    if metric == "sign_accuracy":
        if act in _THRESHOLDED + ("softmax",):
            raise ValueError(f"metric='sign_accuracy' needs outputs that can be negative "
                             f"(identity, tanh, ...), not {act!r}")
        Y = _columns(net, Y, "metric='sign_accuracy'")
        if not np.all(np.abs(Y) == 1):
            raise ValueError(f"Y must hold -1/+1 labels for metric='sign_accuracy', got "
                             f"{Y[np.abs(Y) != 1][0]!r}")
        return Y
    return _columns(net, Y, "metric='r2'").astype(np.float64)


def _compute(metric: str, a: Array, Y: Array) -> float:
    if metric == "argmax":
        return float(np.mean(a.argmax(axis=1) == Y))
    if metric in ("binary", "multilabel_exact"):
        return float(np.mean(np.all((a > 0.5) == (Y == 1), axis=1)))
    if metric == "sign_accuracy":
        return float(np.mean(np.all(np.where(a > 0, 1, -1) == Y, axis=1)))
    residual = np.sum((Y - a) ** 2)
    total = np.sum((Y - Y.mean(axis=0)) ** 2)
    if total > 0:
        return float(1.0 - residual / total)
    return 1.0 if residual == 0 else 0.0


def _checked(net: "Model", Y: ArrayLike, metric: str | None) -> tuple[str, Array]:
    """(the metric, Y checked and shaped for it)."""
    targets = _checks.targets(Y, "Y", labels=True)
    metric = resolve(net, targets, metric)
    return metric, _prepare(net, targets, metric)


def score(net: "Model", X: ArrayLike, Y: ArrayLike, metric: str | None = None) -> float:
    """See :meth:`numbann.base.Model.score`."""
    metric, targets = _checked(net, Y, metric)
    return _score(metric, net.forward(X), targets)


def score_outputs(net: "Model", a: Array, Y: ArrayLike, metric: str | None = None) -> float:
    """``score`` for outputs a = a[L] already computed (fit's validation on the GPU)."""
    metric, targets = _checked(net, Y, metric)
    return _score(metric, a, targets)


def _score(metric: str, a: Array, targets: Array) -> float:
    _checks.same_rows(a, targets)
    if not np.all(np.isfinite(a)):
        raise ValueError("the network's outputs on X are not finite: its weights hold NaN or "
                         "inf (a diverged run?)")
    return _compute(metric, a.astype(np.float64), targets)


def validation_metric(net: "Model", Y: Array, loss: "Loss") -> str:
    """The metric fit records as ``val_metric`` for prepared targets Y
    (m, n_L): sign accuracy for the hinge loss, else score's default; R^2
    where the targets are not labels that metric can use (soft targets)."""
    try:
        metric = resolve(net, Y, "sign_accuracy" if loss.name == "hinge" else None)
        _prepare(net, Y, metric)
    except ValueError:
        return "r2"
    return "accuracy" if metric == "binary" else metric
