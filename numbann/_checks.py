"""Input validation shared by the public API: clear errors, no silent broadcasting."""
import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64}
CHECK_ROWS = 4096  # rows per block when checking a data set for NaN and inf


def as_dtype(dtype):
    """numpy float32/float64 from a name or dtype; anything else is a ValueError."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(DTYPES[name])


def inputs(X, n_inputs, dtype, name="X"):
    """X as a C-contiguous (m, n_inputs) array of the network's dtype."""
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) \
            or np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        hint = " (one sample: X.reshape(1, -1))" if X.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D with shape (m, {n_inputs}), got shape {X.shape}{hint}")
    if X.shape[1] != n_inputs:
        raise ValueError(f"{name} has {X.shape[1]} columns but the network takes {n_inputs} "
                         f"inputs: expected shape (m, {n_inputs}), got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 rows)")
    X = np.ascontiguousarray(X, dtype=dtype)
    for start in range(0, len(X), CHECK_ROWS):  # in blocks: no mask the size of X
        if not np.isfinite(X[start:start + CHECK_ROWS]).all():
            raise ValueError(f"{name} contains NaN or inf")
    return X


def samples(X, shape, dtype, name="X"):
    """X as a C-contiguous (m,) + shape array: (m, n) for flat samples, (m, C, H, W)
    for images (NCHW)."""
    if len(shape) == 1:
        return inputs(X, shape[0], dtype, name)
    X = np.asarray(X)
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


def same_rows(X, Y, xname="X", yname="Y"):
    if len(X) != len(Y):
        raise ValueError(f"{xname} has {len(X)} rows but {yname} has {len(Y)}: "
                         "one target row per sample")


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
