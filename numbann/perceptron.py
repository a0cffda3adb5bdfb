"""The perceptron: a step unit and its learning rule."""
from typing import Any

import numpy as np
from numba import njit

from . import _checks
from ._typing import Array, ArrayLike


def perceptron_output(x: ArrayLike, w: ArrayLike, threshold: float) -> Any:
    """output = 1 if sum_j w_j x_j > threshold else 0 (the course's first neuron).

    ``x``: one input (n,) or a batch (m, n); ``w``: (n,); ``threshold``: one
    finite number (never broadcast). Returns an int (one input) or (m,) ints."""
    w = _checks.real_array(w, "w", ndim=1)
    x = _checks.real_array(x, "x")
    threshold = _checks.real(threshold, "threshold")
    if x.ndim not in (1, 2) or x.shape[-1] != w.shape[0]:
        raise ValueError(f"x must have shape ({w.shape[0]},) or (m, {w.shape[0]}) to match the "
                         f"{w.shape[0]} weights w, got {x.shape}")
    return (x @ w > threshold).astype(np.int64)


@njit(cache=True)
def perceptron_epoch(X, y, w, b, lr):  # type: ignore[no-untyped-def]  # a numba kernel
    """One pass of the learning rule; returns the number of mistakes.

    yhat = 1 if w.x + b > 0 else 0;  w_j <- w_j + eta (y - yhat) x_j,
    b <- b + eta (y - yhat): nothing changes when the unit is right.
    """
    mistakes = 0
    for i in range(X.shape[0]):
        s = b[0]
        for j in range(X.shape[1]):
            s += w[j] * X[i, j]
        error = y[i] - (1.0 if s > 0 else 0.0)
        if error != 0:
            mistakes += 1
            for j in range(X.shape[1]):
                w[j] += lr * error * X[i, j]
            b[0] += lr * error
    return mistakes


class Perceptron:
    """A single step unit trained by the perceptron rule (``b = -threshold``)."""

    def __init__(self, n_inputs: int, lr: float = 1.0, w: ArrayLike | None = None,
                 b: float = 0.0) -> None:
        self.n_inputs = _checks.size(n_inputs, "n_inputs")
        self.lr = _checks.real(lr, "lr", 0, low_open=True)
        self.w = np.zeros(self.n_inputs) if w is None else \
            _checks.real_array(w, "w", shape=(self.n_inputs,)).copy()
        self.b = np.array([_checks.real(b, "b")])
        self.mistakes: list[int] = []
        self.converged = False

    @property
    def threshold(self) -> float:
        return float(-self.b[0])

    def predict(self, X: ArrayLike) -> Array:
        X = _checks.inputs(X, self.n_inputs, np.float64)
        return np.asarray(X @ self.w + self.b[0] > 0, dtype=np.int64)

    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int = 100) -> "Perceptron":
        """Apply the rule epoch by epoch until an epoch makes no mistake.

        Stops after ``epochs`` passes at most: data that is not linearly
        separable (XOR) never converges, and ``converged`` stays False.
        ``mistakes`` holds the count per epoch.
        """
        X = _checks.inputs(X, self.n_inputs, np.float64)
        y = _checks.targets(y, "y").astype(np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must have shape (m,) or (m, 1), got {y.shape}")
        _checks.same_rows(X, y, "X", "y")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("perceptron targets y must be 0 or 1")
        epochs = _checks.positive_int(epochs, "epochs")
        self.mistakes, self.converged = [], False
        for _ in range(epochs):
            self.mistakes.append(int(perceptron_epoch(X, y, self.w, self.b, self.lr)))
            if self.mistakes[-1] == 0:
                self.converged = True
                break
        return self

    def __repr__(self) -> str:
        return f"Perceptron(w={self.w.tolist()}, b={self.b[0]:g}, converged={self.converged})"
