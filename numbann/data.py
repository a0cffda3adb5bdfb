"""Small data sets and loaders for examples, tests and the course.

- :func:`load_digits`: the UCI 8x8 optical digits (1797 images, 10 classes),
  shipped with numbann as ``numbann/datasets/digits.npz`` (see the README
  there for the licence and citation).
- Synthetic generators, all seeded and returned as float64 arrays:
  :func:`make_xor`, :func:`make_moons`, :func:`make_regression`.
- :func:`load_mnist` and :func:`load_fashion_mnist`: the 28x28 MNIST and
  Fashion-MNIST images, read from a cache folder (``$NUMBANN_DATA`` or
  ``~/.numbann/data``) and downloaded there when missing;
  :func:`read_idx` reads one IDX file (see :mod:`numbann.idx`);
  :class:`DatasetNotFoundError` when the files are neither there nor
  downloadable.
- :func:`train_test_split`, :func:`one_hot` and :func:`standardize`.

Targets come back in the shapes the losses take: (m, 1) columns for one
output, class indices (m,) for ``loss="ce"``.
"""
import math
import numbers
import os
from importlib import resources
from typing import overload

import numpy as np

from . import _checks, idx
from ._typing import Array, ArrayLike, DTypeLike
from .idx import DatasetNotFoundError, read_idx

__all__ = ["load_digits", "load_mnist", "load_fashion_mnist", "read_idx",
           "DatasetNotFoundError", "make_xor", "make_moons", "make_regression",
           "train_test_split", "one_hot", "standardize"]


def _nonneg_real(value: object, name: str) -> float:
    return _checks.real(value, name, 0)


def load_digits(scale: bool = True, images: bool = False) -> tuple[Array, Array]:
    """The UCI optical digits (the copy scikit-learn ships): 1797 samples.

    Returns ``(X, y)``: ``X`` float64 of shape (1797, 64) (or (1797, 8, 8)
    with ``images=True``), pixel counts 0..16 divided by 16 when ``scale``
    (so in [0, 1]); ``y`` int64 labels 0..9. Row order is the original one.
    """
    scale, images = _checks.flag(scale, "scale"), _checks.flag(images, "images")
    with resources.files(__package__).joinpath("datasets/digits.npz").open("rb") as f:
        with np.load(f) as data:
            pixels, target = data["data"], data["target"]
    X = pixels.astype(np.float64)
    if scale:
        X /= 16.0
    if images:
        X = X.reshape(-1, 8, 8)
    return X, target.astype(np.int64)


def load_mnist(split: str = "train", flat: bool = False, scale: bool = True,
               path: str | os.PathLike[str] | None = None, download: bool = True,
               dtype: DTypeLike = "float64") -> tuple[Array, Array]:
    """MNIST handwritten digits (Yann LeCun, Corinna Cortes, Christopher J.C.
    Burges): 60000 training and 10000 test images of 28x28 grey pixels.

    Returns ``(X, y)``: ``X`` of ``dtype`` (float32 or float64) with shape
    (n, 1, 28, 28) (NCHW, what numbann's conv layers take) or (n, 784) with
    ``flat=True``, pixels 0..255 divided by 255 when ``scale``; ``y`` int64
    labels 0..9. ``split``: 'train' or 'test'.

    The four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, gzipped or not)
    are looked for in ``<root>/mnist/``, root being ``path``, else
    ``$NUMBANN_DATA``, else ``~/.numbann/data``. With ``download``, the
    split's missing files are fetched there from the mirrors in
    ``numbann.idx.MIRRORS`` and checked against ``numbann.idx.CHECKSUMS``;
    otherwise, or when that fails, :class:`DatasetNotFoundError` (a
    FileNotFoundError) says which files to put where and the URLs.
    Malformed files raise ValueError naming the file.
    """
    return idx.load("mnist", split, flat, scale, path, download, dtype)


def load_fashion_mnist(split: str = "train", flat: bool = False, scale: bool = True,
                       path: str | os.PathLike[str] | None = None, download: bool = True,
                       dtype: DTypeLike = "float64") -> tuple[Array, Array]:
    """Fashion-MNIST (Zalando Research, MIT licence; Han Xiao, Kashif Rasul,
    Roland Vollgraf, 2017): 28x28 grey images of clothing, 60000 for training
    and 10000 for testing, labels 0..9 = T-shirt/top, Trouser, Pullover,
    Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.

    Same files, layout, arguments and errors as :func:`load_mnist`, in the
    ``<root>/fashion_mnist/`` subfolder.
    """
    return idx.load("fashion_mnist", split, flat, scale, path, download, dtype)


def make_xor(repeat: int = 1, noise: float = 0.0, seed: int | None = 0) -> tuple[Array, Array]:
    """The XOR truth table: X = [[0,0],[0,1],[1,0],[1,1]], y = x1 xor x2, as
    float64 arrays of shapes (4 repeat, 2) and (4 repeat, 1). With ``noise`` > 0,
    Gaussian noise of that standard deviation is added to the inputs."""
    repeat = _checks.positive_int(repeat, "repeat")
    noise = _nonneg_real(noise, "noise")
    seed = _checks.seed(seed)
    X = np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64), (repeat, 1))
    y = (X[:, :1] != X[:, 1:]).astype(np.float64)
    if noise:
        X = X + np.random.default_rng(seed).normal(0.0, noise, X.shape)
    return X, y


def make_moons(n: int = 200, noise: float = 0.1, seed: int | None = 0) -> tuple[Array, Array]:
    """Two interleaving half circles (the two-moons problem): ``n`` points,
    moon 0 on the upper arc (cos t, sin t), moon 1 on the lower arc
    (1 - cos t, 1/2 - sin t), t in [0, pi], plus Gaussian noise of standard
    deviation ``noise``. Returns X (n, 2) and y (n, 1) in {0, 1}, shuffled."""
    n = _checks.positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be at least 2 (one point per moon), got {n}")
    noise = _nonneg_real(noise, "noise")
    seed = _checks.seed(seed)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    X = np.concatenate([np.column_stack([np.cos(t0), np.sin(t0)]),
                        np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])])
    y = np.concatenate([np.zeros(n0), np.ones(n1)]).reshape(-1, 1)
    X += rng.normal(0.0, noise, X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def make_ring(n: int = 1000, modes: int = 8, radius: float = 2.0, std: float = 0.05,
              seed: int | None = 0) -> tuple[Array, Array]:
    """The GAN toy distribution: ``modes`` Gaussians of standard deviation
    ``std`` centred on a circle of ``radius`` (centre k at angle 2 pi k /
    modes), ``n`` points in equal shares. Returns X (n, 2) and the mode of
    each point (n,), shuffled."""
    n = _checks.positive_int(n, "n")
    modes = _checks.positive_int(modes, "modes")
    radius, std = _nonneg_real(radius, "radius"), _nonneg_real(std, "std")
    rng = np.random.default_rng(_checks.seed(seed))
    mode = np.arange(n) % modes
    angle = 2 * np.pi * mode / modes
    X = radius * np.column_stack([np.cos(angle), np.sin(angle)]) + rng.normal(0.0, std, (n, 2))
    order = rng.permutation(n)
    return X[order], mode[order]


def make_regression(n: int = 200, n_features: int = 1, n_outputs: int = 1, noise: float = 0.1,
                    kind: str = "sine", seed: int | None = 0) -> tuple[Array, Array]:
    """A smooth nonlinear regression problem with inputs uniform in [-1, 1].

    ``kind="sine"``: y_k = sin(pi (x . u_k)) + 0.5 (x . v_k)^2 for random unit
    directions u_k, v_k (a curve for one feature and one output);
    ``kind="linear"``: y = x @ W.T + b with W, b standard normal.
    Gaussian noise of standard deviation ``noise`` is added to y. Returns X
    (n, n_features) and Y (n, n_outputs), float64.
    """
    n = _checks.positive_int(n, "n")
    n_features = _checks.positive_int(n_features, "n_features")
    n_outputs = _checks.positive_int(n_outputs, "n_outputs")
    noise = _nonneg_real(noise, "noise")
    _checks.choice(kind, "kind", ("sine", "linear"))
    seed = _checks.seed(seed)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, n_features))
    if kind == "linear":
        W = rng.normal(size=(n_outputs, n_features))
        b = rng.normal(size=n_outputs)
        Y = X @ W.T + b
    else:
        U = rng.normal(size=(n_outputs, n_features))
        V = rng.normal(size=(n_outputs, n_features))
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        Y = np.sin(np.pi * X @ U.T) + 0.5 * (X @ V.T) ** 2
    Y = Y + rng.normal(0.0, noise, Y.shape)
    return X, Y


def train_test_split(X: ArrayLike, Y: ArrayLike, test_size: float = 0.25, seed: int | None = 0,
                     stratify: bool = False) -> tuple[Array, Array, Array, Array]:
    """Shuffle rows with a seeded generator and split them into
    ``X_train, X_test, Y_train, Y_test`` (scikit-learn's order).

    ``test_size``: a fraction in (0, 1) or a number of rows. ``stratify``:
    keep the class proportions of Y (labels (m,), a (m, 1) column or one-hot
    rows) in both parts.
    """
    X, Y = _checks.array(X, "X"), _checks.array(Y, "Y")
    if X.ndim == 0 or Y.ndim == 0:
        raise ValueError("X and Y must have one row per sample")
    _checks.same_rows(X, Y)
    n = len(X)
    seed, stratify = _checks.seed(seed), _checks.flag(stratify, "stratify")
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, (bool, np.bool_)):
        n_test = int(test_size)
    elif _checks.real(test_size, "test_size (a fraction or a number of rows)") and \
            0 < test_size < 1:
        n_test = int(math.ceil(test_size * n))
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a number of rows, "
                         f"got {test_size!r}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"test_size gives {n_test} test rows out of {n}: both parts "
                         "need at least one row")
    rng = np.random.default_rng(seed)
    if not stratify:
        order = rng.permutation(n)
        test, train = order[:n_test], order[n_test:]
    else:
        labels = Y.argmax(axis=1) if Y.ndim == 2 and Y.shape[1] > 1 else Y.reshape(n, -1)[:, 0]
        test_parts, train_parts = [], []
        classes = np.unique(labels)
        for c in classes:
            rows = rng.permutation(np.flatnonzero(labels == c))
            k = int(round(len(rows) * n_test / n))
            test_parts.append(rows[:k])
            train_parts.append(rows[k:])
        test = rng.permutation(np.concatenate(test_parts))
        train = rng.permutation(np.concatenate(train_parts))
    return X[train], X[test], Y[train], Y[test]


def one_hot(y: ArrayLike, n_classes: int | None = None) -> Array:
    """Labels (m,) -> one-hot rows (m, n_classes) of float64."""
    y = _checks.array(y, "y")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be a 1-D array of integer labels, got {y.dtype} {y.shape}; "
                         f"{_checks.ENCODE_HINT}")
    if y.size and y.min() < 0:
        raise ValueError(f"y: labels must be >= 0, got {y.min()}; {_checks.ENCODE_HINT}")
    if y.size == 0 and n_classes is None:
        raise ValueError("y is empty: give n_classes")
    k = int(y.max()) + 1 if n_classes is None else _checks.size(n_classes, "n_classes")
    if y.size and y.max() >= k:
        raise ValueError(f"y: labels must be < n_classes = {k}, got {y.max()}")
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1.0
    return out


@overload
def standardize(X_train: ArrayLike) -> Array: ...
@overload
def standardize(X_train: ArrayLike, other: ArrayLike, /,
                *others: ArrayLike) -> tuple[Array, ...]: ...
def standardize(X_train: ArrayLike, *others: ArrayLike) -> Array | tuple[Array, ...]:
    """Scale columns to mean 0 and standard deviation 1 using the training
    set's statistics (constant columns are only centered); returns the
    scaled training set followed by the other arrays scaled the same way."""
    X_train = _checks.real_array(X_train, "X_train")
    if X_train.ndim == 0 or len(X_train) == 0:
        raise ValueError(f"X_train must have at least one row, got shape {X_train.shape}")
    rest = [_checks.real_array(X, f"others[{i}]") for i, X in enumerate(others)]
    for i, X in enumerate(rest):
        if X.shape[1:] != X_train.shape[1:]:
            raise ValueError(f"others[{i}] has rows of shape {X.shape[1:]} but X_train has "
                             f"{X_train.shape[1:]}")
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std == 0, 1.0, std)
    out = [(X_train - mean) / std] + [(X - mean) / std for X in rest]
    return out[0] if not rest else tuple(out)
