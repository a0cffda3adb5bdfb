"""CUDA twins of the RNN layer's kernels (``rnn.py``): same arguments, same
formulas (see that module's notes for the notation and the layout of
``kept``: z_t, h_t and delta_t of every step, each (m, T, H)).

The products reuse the tiled product of ``cuda.py`` (``tile_product``) with
strides: step t's rows of a (m, T, H) block are T H apart. The time loop
runs on the host, one launch per step, as the recurrence is sequential;
within a step every (sample, unit) is one thread. No atomics: each sum is
one thread's, in a fixed order.
"""
import functools

import numba
import numpy as np
from numba import cuda

from . import cuda as ck
from .cuda import tile_product
from .cuda_math import activation, times_slope


@functools.lru_cache(maxsize=None)
def rnn_kernels(tile, dtype):
    """The RNN kernels, with TILE-sized shared arrays, for one dtype."""
    float_t = numba.from_dtype(np.dtype(dtype))
    padded = tile + 1

    @cuda.jit
    def input_product(Wt, b, x, zs, rows, n_in, H, ld):
        """zs[r] = x[r] W_x^T + b for every (sample, step) row r. Grid: tiles of rows x H."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, x, 0, n_in, 1, Wt, 0, 1, ld, -1, rows, H, n_in,
                           float_t(0))
        r = cuda.blockIdx.y * tile + cuda.threadIdx.y
        j = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if r < rows and j < H:
            zs[r * H + j] = acc + b[j]

    @cuda.jit
    def recurrent_step(Wt, zs, hs, t, m, T, n_in, H, ld, act, alpha):
        """z_t += h_{t-1} W_h^T (t > 0), h_t = g(z_t). Grid: tiles of m x H."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        previous = (t - 1) * H if t > 0 else 0      # h_(t-1): none at t = 0 (h_0 = 0)
        acc = tile_product(A_tile, B_tile, hs, previous, T * H, 1, Wt, n_in, 1, ld, -1, m, H,
                           H if t > 0 else 0, float_t(0))
        i = cuda.blockIdx.y * tile + cuda.threadIdx.y
        j = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if i < m and j < H:
            k = (i * T + t) * H + j
            zk = zs[k] + acc
            zs[k] = zk
            hs[k] = activation(act, alpha, zk)

    @cuda.jit
    def through_time(Wt, zs, hs, deltas, t, m, T, n_in, H, ld, act, alpha):
        """delta_t += (delta_{t+1} W_h) * g'(z_t). Grid: tiles of m x H."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, deltas, (t + 1) * H, T * H, 1, Wt, n_in, ld, 1,
                           -1, m, H, H, float_t(0))
        i = cuda.blockIdx.y * tile + cuda.threadIdx.y
        j = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if i < m and j < H:
            k = (i * T + t) * H + j
            deltas[k] += times_slope(act, alpha, zs[k], hs[k], acc)

    @cuda.jit
    def input_weight_product(dW, db, deltas, x, rows, n_in, H, ld):
        """[dW_x | db] = deltas^T [x | 1], sums over every (sample, step) row.
        Grid: tiles of H x (n_in + 1)."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, deltas, 0, 1, H, x, 0, n_in, 1, n_in, H, n_in + 1,
                           rows, float_t(0))
        j = cuda.blockIdx.y * tile + cuda.threadIdx.y
        c = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if j < H and c < n_in:
            dW[j * ld + c] = acc
        elif j < H and c == n_in:
            db[j] = acc

    @cuda.jit
    def recurrent_weight_gradient(dW, deltas, hs, m, T, n_in, H, ld):
        """dW_h[j, c] = sum_{t>1} sum_i delta_t[i, j] h_{t-1}[i, c], one thread each."""
        k = cuda.grid(1)
        if k < H * H:
            j = k // H
            c = k - j * H
            acc = float_t(0)
            for t in range(1, T):
                for i in range(m):
                    acc += deltas[(i * T + t) * H + j] * hs[(i * T + t - 1) * H + c]
            dW[j * ld + n_in + c] = acc

    @cuda.jit
    def input_delta_product(Wt, deltas, delta_prev, rows, n_in, H, ld):
        """dJ/dx = deltas W_x, (m T, n_in). Grid: tiles of rows x n_in."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, deltas, 0, H, 1, Wt, 0, ld, 1, -1, rows, n_in, H,
                           float_t(0))
        r = cuda.blockIdx.y * tile + cuda.threadIdx.y
        c = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if r < rows and c < n_in:
            delta_prev[r * n_in + c] = acc

    return (input_product, recurrent_step, through_time, input_weight_product,
            recurrent_weight_gradient, input_delta_product)


@cuda.jit
def output_steps(zs, z, m, T, H, first, to_output):
    """z[l] = z_t of the output steps t >= first (to_output), or back:
    the (m, T, H) block from delta[l], zero before ``first``."""
    k = cuda.grid(1)
    if k < m * T * H:
        i = k // (T * H)
        t = (k - i * T * H) // H
        j = k - (i * T + t) * H
        out = (i * (T - first) + t - first) * H + j
        if to_output and t >= first:
            z[out] = zs[k]
        elif not to_output:
            zs[k] = z[out] if t >= first else 0.0


def rnn_forward(Wt, b, x, z, kept, m, T, n_in, H, act, alpha, all_steps):
    """rnn.rnn_forward on the device."""
    size, ld, first = m * T * H, n_in + H, 0 if all_steps else T - 1
    zs, hs = kept[:size], kept[size:2 * size]
    input_product, recurrent_step = rnn_kernels(ck.TILE, np.dtype(z.dtype))[:2]
    input_product[ck.tiles(m * T, H), (ck.TILE, ck.TILE)](Wt, b, x, zs, m * T, n_in, H, ld)
    alpha = ck.of_dtype(z, alpha)
    for t in range(T):
        recurrent_step[ck.tiles(m, H), (ck.TILE, ck.TILE)](Wt, zs, hs, t, m, T, n_in, H, ld,
                                                           act, alpha)
    output_steps[ck.blocks(size), ck.THREADS](zs, z, m, T, H, first, True)


def rnn_backward(Wt, dW, db, delta, x, kept, delta_prev, need_prev, m, T, n_in, H, act, alpha,
                 all_steps):
    """rnn.rnn_backward on the device (no scratch: the recurrent term is
    added where it is computed)."""
    size, ld, first = m * T * H, n_in + H, 0 if all_steps else T - 1
    zs, hs, deltas = kept[:size], kept[size:2 * size], kept[2 * size:3 * size]
    _, _, through_time, input_weight_product, recurrent_weight_gradient, input_delta_product = \
        rnn_kernels(ck.TILE, np.dtype(dW.dtype))
    output_steps[ck.blocks(size), ck.THREADS](deltas, delta, m, T, H, first, False)
    alpha = ck.of_dtype(dW, alpha)
    for t in range(T - 2, -1, -1):
        through_time[ck.tiles(m, H), (ck.TILE, ck.TILE)](Wt, zs, hs, deltas, t, m, T, n_in, H,
                                                         ld, act, alpha)
    input_weight_product[ck.tiles(H, n_in + 1), (ck.TILE, ck.TILE)](dW, db, deltas, x, m * T,
                                                                    n_in, H, ld)
    recurrent_weight_gradient[ck.blocks(H * H), ck.THREADS](dW, deltas, hs, m, T, n_in, H, ld)
    if need_prev:
        input_delta_product[ck.tiles(m * T, n_in), (ck.TILE, ck.TILE)](Wt, deltas, delta_prev,
                                                                       m * T, n_in, H, ld)
