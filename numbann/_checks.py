"""Input validation shared by the public API: clear errors, no silent broadcasting.

One helper per kind of check; every message names the argument it is about.
Public functions call these on all their arguments before changing anything.
"""
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import numpy as np

from ._typing import Array, DTypeLike

if TYPE_CHECKING:
    from .base import Model

NetT = TypeVar("NetT", bound="Model")

DTYPES = {"float32": np.float32, "float64": np.float64}
CHECK_ROWS = 4096  # rows per block when checking a data set for NaN and inf
MAX_SEED = 2**64 - 1  # seeds become uint64 (dropout masks)
MAX_SIZE = 2**31 - 1  # units, filters, inputs per layer
ENCODE_HINT = ("class labels must be the integers 0..n_classes-1; encode other labels "
               "(strings, categories, arbitrary integers) first, e.g. "
               "classes, y = np.unique(y, return_inverse=True)")


def as_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    """numpy float32/float64 from a name or dtype; anything else is a ValueError."""
    try:
        name = np.dtype(dtype).name
    except (TypeError, ValueError):
        name = str(dtype)
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(DTYPES[name])


# ---------------------------------------------------------------- scalars

def _num(x: object) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_num(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_num(high)}"
    return ""


@overload
def real(value: object, name: str, low: float | None = ..., high: float | None = ...,
         low_open: bool = ..., high_open: bool = ..., none: Literal[False] = ...) -> float: ...
@overload
def real(value: object, name: str, low: float | None = ..., high: float | None = ...,
         low_open: bool = ..., high_open: bool = ..., none: bool = ...) -> float | None: ...
def real(value: object, name: str, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, none: bool = False) -> float | None:
    """A finite real number (not a bool, a string or an array) in the range,
    as a float; None passes through when ``none``."""
    if none and value is None:
        return None
    rng = _range_text(low, high, low_open, high_open)
    number = None
    if not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            pass
    if number is None or not math.isfinite(number):
        alt = " (or None)" if none else ""
        raise ValueError(f"{name} must be a finite real number{rng}{alt}, got {value!r:.80}")
    if (low is not None and (number < low or (low_open and number == low))) or \
            (high is not None and (number > high or (high_open and number == high))):
        raise ValueError(f"{name} must be{rng}, got {number!r:.80}")
    return number


@overload
def integer(value: object, name: str, low: int | None = ..., high: int | None = ...,
            none: Literal[False] = ..., bools: bool = ..., what: str | None = ...) -> int: ...
@overload
def integer(value: object, name: str, low: int | None = ..., high: int | None = ...,
            none: bool = ..., bools: bool = ..., what: str | None = ...) -> int | None: ...
def integer(value: Any, name: str, low: int | None = None, high: int | None = None,
            none: bool = False, bools: bool = False, what: str | None = None) -> int | None:
    """An integer (Python or NumPy; bools only when ``bools``) in [low, high], as an int;
    ``what`` words the expectation in the message ("a positive integer")."""
    if none and value is None:
        return None
    ok_type = isinstance(value, numbers.Integral) and (
        bools or not isinstance(value, (bool, np.bool_)))
    if bools and isinstance(value, np.bool_):
        ok_type, value = True, bool(value)
    if not ok_type or (low is not None and value < low) or (high is not None and value > high):
        what = what or "an integer" + _range_text(low, high, False, False)
        raise ValueError(f"{name} must be {what}{' (or None)' if none else ''}, got {value!r:.80}")
    return int(value)


@overload
def positive_int(value: object, name: str, none: Literal[False] = ...) -> int: ...
@overload
def positive_int(value: object, name: str, none: bool = ...) -> int | None: ...
def positive_int(value: object, name: str, none: bool = False) -> int | None:
    return integer(value, name, 1, none=none, what="a positive integer")


def size(value: object, name: str) -> int:
    """A layer size: an integer in 1..MAX_SIZE."""
    return integer(value, name, 1, MAX_SIZE, what=f"a positive integer <= {MAX_SIZE}")


def flag(value: object, name: str) -> bool:
    """True or False (Python or NumPy bools only: not 0, 1 or strings)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r:.80}")
    return bool(value)


def choice(value: Any, name: str, options: Sequence[Any]) -> Any:
    """One of ``options`` (compared as equal, strings exactly)."""
    if not isinstance(value, (str, int, float, type(None))) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, "
                         f"got {value!r:.80}")
    return value


def seed(value: object, name: str = "seed") -> int | None:
    """A seed for numpy's generators: None or an integer in 0..2**64 - 1."""
    return integer(value, name, 0, MAX_SEED, none=True)


def network(net: NetT, name: str = "net") -> NetT:
    """A numbann network (MLP, Network or Sequential)."""
    from .base import Model
    if not isinstance(net, Model):
        raise TypeError(f"{name} must be a numbann network (MLP, Network or Sequential), got "
                        f"{type(net).__name__}")
    return net


def callables(value: object, name: str) -> tuple[Callable[..., Any], ...]:
    """One callable or an iterable of callables, as a tuple (checked now, so a
    bad entry fails before any work, not when it is first called)."""
    if value is None:
        return ()
    if callable(value):
        return (value,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a function or a list of functions, got {value!r:.80}")
    items = tuple(value)
    for i, f in enumerate(items):
        if not callable(f):
            raise TypeError(f"{name}[{i}] must be a function, got {f!r:.80}")
    return items


def sequence(value: Any, name: str, what: str = "a list") -> list[Any]:
    """An iterable (not a string or a mapping) as a list."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__") or \
            (isinstance(value, np.ndarray) and value.ndim == 0):
        raise TypeError(f"{name} must be {what}, got {value!r:.80}")
    return list(value)


# ---------------------------------------------------------------- arrays

def array(value: object, name: str) -> Array:
    """np.asarray(value), with NumPy's failures (ragged lists, ...) named."""
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__} "
                        f"{value!r:.60}")
    try:
        out = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} must be an array of numbers (a rectangular array, not a "
                         f"ragged list): {e}") from None
    return out


def real_dtype(A: Array, name: str, labels: bool = False) -> None:
    """Raise a TypeError unless A holds real numbers (bools count)."""
    if A.dtype == object or not (np.issubdtype(A.dtype, np.number) or A.dtype == bool) \
            or np.issubdtype(A.dtype, np.complexfloating):
        hint = f"; {ENCODE_HINT}" if labels else ""
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}{hint}")


def finite(A: Array, name: str) -> Array:
    """Raise a ValueError if A holds NaN or inf (checked in blocks of rows)."""
    if A.dtype.kind in "biu" or A.size == 0:
        return A
    flat = A.reshape(len(A), -1) if A.ndim else A.reshape(1)
    for start in range(0, len(flat), CHECK_ROWS):  # in blocks: no mask the size of A
        if not np.isfinite(flat[start:start + CHECK_ROWS]).all():
            raise ValueError(f"{name} contains NaN or inf")
    return A


def real_array(value: object, name: str, shape: Iterable[int] | None = None,
               ndim: int | None = None, dtype: DTypeLike = np.float64,
               labels: bool = False) -> Array:
    """An array of finite real numbers of ``dtype`` (optionally of an exact
    ``shape`` or ``ndim``); nothing is broadcast."""
    A = array(value, name)
    real_dtype(A, name, labels)
    if ndim is not None and A.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {A.shape}")
    if shape is not None and A.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {A.shape}")
    A = A.astype(dtype) if dtype is not None else A
    return finite(A, name)


def inputs(X: object, n_inputs: int, dtype: DTypeLike, name: str = "X") -> Array:
    """X as a C-contiguous (m, n_inputs) array of the network's dtype."""
    X = array(X, name)
    real_dtype(X, name)
    if X.ndim != 2:
        hint = " (one sample: X.reshape(1, -1))" if X.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D with shape (m, {n_inputs}), got shape {X.shape}{hint}")
    if X.shape[1] != n_inputs:
        raise ValueError(f"{name} has {X.shape[1]} columns but the network takes {n_inputs} "
                         f"inputs: expected shape (m, {n_inputs}), got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 rows)")
    return finite(np.ascontiguousarray(X, dtype=dtype), name)


def samples(X: object, shape: Sequence[int], dtype: DTypeLike, name: str = "X") -> Array:
    """X as a C-contiguous (m,) + shape array: (m, n) for flat samples, (m, T, n)
    for sequences, (m, C, H, W) for images (NCHW)."""
    if len(shape) == 1:
        return inputs(X, shape[0], dtype, name)
    X = array(X, name)
    if len(shape) == 2:
        return _sequences(X, shape, dtype, name)
    C, H, W = shape
    if X.ndim != 4:
        hint = ""
        if X.ndim == 2 and X.shape[1:] == (C * H * W,):
            hint = f": flat rows of {C * H * W}; reshape them with {name}.reshape(-1, {C}, {H}, {W})"
        elif X.ndim == 3 and X.shape[1:] == (H, W) and C == 1:
            hint = f": grey images without a channel axis; use {name}[:, None]"
        raise ValueError(f"{name} must be images of shape (m, {C}, {H}, {W}) (NCHW), got "
                         f"shape {X.shape}{hint}")
    if X.shape[1] != C:
        raise ValueError(f"{name} has {X.shape[1]} channel(s) but the network takes {C}: "
                         f"expected (m, {C}, {H}, {W}) (NCHW), got {X.shape}")
    if X.shape[2:] != (H, W):
        raise ValueError(f"{name} has images of {X.shape[2]}x{X.shape[3]} but the network "
                         f"takes {H}x{W}: expected (m, {C}, {H}, {W}), got {X.shape}")
    flat = inputs(X.reshape(len(X), -1) if len(X) else X.reshape(0, C * H * W),
                  C * H * W, dtype, name)
    return flat.reshape(X.shape)


def _sequences(X: Array, shape: Sequence[int], dtype: DTypeLike, name: str) -> Array:
    T, n = shape
    if X.ndim != 3 or X.shape[1:] != (T, n):
        hint = ""
        if X.ndim == 2 and X.shape[1] == T * n:
            hint = f": flat rows of {T * n}; reshape them with {name}.reshape(-1, {T}, {n})"
        raise ValueError(f"{name} must be sequences of shape (m, {T}, {n}) (samples, steps, "
                         f"features), got shape {X.shape}{hint}")
    flat = inputs(X.reshape(len(X), -1) if len(X) else X.reshape(0, T * n), T * n, dtype, name)
    return flat.reshape(X.shape)


def targets(Y: object, name: str = "Y", labels: bool = False) -> Array:
    """Y as a non-empty array of finite real numbers (bools as 0/1), any shape;
    ``labels`` adds the hint on encoding class labels to a dtype error."""
    Y = array(Y, name)
    real_dtype(Y, name, labels)
    if Y.ndim == 0:
        raise ValueError(f"{name} must have one row per sample, got a scalar {Y!r}")
    if Y.size == 0:
        raise ValueError(f"{name} is empty (shape {Y.shape}): one target row per sample")
    if Y.dtype == bool:
        Y = Y.astype(np.int64)
    return finite(Y, name)


def class_labels(Y: Array, n_classes: int, name: str = "Y") -> Array:
    """Class indices (m,) in 0..n_classes-1 (whole floats accepted) as int64."""
    if Y.dtype.kind == "f":
        if np.any(Y != np.round(Y)):
            raise ValueError(f"{name}: class labels must be whole numbers, got e.g. "
                             f"{Y[Y != np.round(Y)][0]!r}; {ENCODE_HINT}")
        Y = Y.astype(np.int64)
    if Y.min() < 0 or Y.max() >= n_classes:
        raise ValueError(f"{name}: class labels must be in 0..{n_classes - 1} for "
                         f"{n_classes} classes, got min {Y.min()} and max {Y.max()}; {ENCODE_HINT}")
    return Y.astype(np.int64)


def same_rows(X: Array, Y: Array, xname: str = "X", yname: str = "Y") -> None:
    if len(X) != len(Y):
        raise ValueError(f"{xname} has {len(X)} rows but {yname} has {len(Y)}: "
                         "one target row per sample")
