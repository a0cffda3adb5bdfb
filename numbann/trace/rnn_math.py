"""The RNN layer's forward pass and backpropagation through time in NumPy,
independent of the kernels, for checking a recorded step (the notation of
``numbann/kernels/rnn.py``): ``W[l] = [W_x | W_h]``, ``h_0 = 0``,

    z_t = W_x x_t + W_h h_{t-1} + b,   h_t = g(z_t)
    delta_t = dJ/dz_t = (dJ/dh_t from the layer above + W_h^T delta_{t+1}) * g'(z_t)
    dW_x = sum_t delta_t x_t^T,  dW_h = sum_{t>1} delta_t h_{t-1}^T,  db = sum_t delta_t,
    dJ/dx_t = W_x^T delta_t

(written per sample as column vectors; the arrays are batch-major rows).
"""
import numpy as np

from .explain import apply, slope


def blocks(spec, W):
    """(W_x, W_h) of W[l] = [W_x | W_h]."""
    n_in = spec["in"][1]
    W = np.asarray(W, np.float64)
    return W[:, :n_in], W[:, n_in:]


def steps(spec, x, W, b):
    """(z_t, h_t) for every step, each (m, T, H), from x (m, T, n)."""
    W_x, W_h = blocks(spec, W)
    x = np.asarray(x, np.float64)
    m, T, _ = x.shape
    z, h = np.zeros((m, T, len(b))), np.zeros((m, T, len(b)))
    previous = np.zeros((m, len(b)))
    for t in range(T):
        z[:, t] = x[:, t] @ W_x.T + previous @ W_h.T + b
        h[:, t] = previous = apply(spec["activation"], spec["alpha"], z[:, t])
    return z, h


def output(spec, values):
    """The layer's z[l] (or a[l]) from a (m, T, H) block: every step, or the last."""
    return values if spec["all_steps"] else values[:, -1]


def from_output(spec, delta, shape):
    """delta[l] (the output steps' dJ/dz) as a (m, T, H) block, zero at other steps."""
    full = np.zeros(shape)
    if spec["all_steps"]:
        full[...] = np.asarray(delta).reshape(shape)
    else:
        full[:, -1] = delta
    return full


def through_time(spec, delta, x, W, b):
    """(delta_t for every step (m, T, H), dW, db, dJ/dx) from delta[l]."""
    W_x, W_h = blocks(spec, W)
    z, h = steps(spec, x, W, b)
    deltas = from_output(spec, delta, z.shape)
    for t in range(z.shape[1] - 2, -1, -1):
        deltas[:, t] += (deltas[:, t + 1] @ W_h) * slope(spec["activation"], spec["alpha"],
                                                        z[:, t], h[:, t])
    x = np.asarray(x, np.float64)
    dW_x = np.einsum("mtj,mtk->jk", deltas, x)
    dW_h = np.einsum("mtj,mtk->jk", deltas[:, 1:], h[:, :-1])
    return deltas, np.hstack([dW_x, dW_h]), deltas.sum(axis=(0, 1)), deltas @ W_x
