"""CUDA kernels (``numba.cuda.jit``): the twins of ``cpu.py``, same names and arguments.

Notation as in ``cpu.py``: ``z[l] = a[l-1] @ W[l].T + b[l]``, ``a[l] = g(z[l])``,
``delta[l] = dJ/dz[l]``, ``dW[l] = delta[l].T @ a[l-1]``, ``db[l] = sum of the
rows of delta[l]``. The memory layout (``theta``, ``grad``, ``a_buf``, ``z_buf``,
``delta_buf`` and their offsets) is exactly ``cpu.py``'s.

Each kernel computes in the dtype of its arrays: the host functions pass
its float arguments in that dtype (``of_dtype``, ``dropout_args``) and its
constants go through ``cpu.like`` (numba types a Python float literal as
float64, and float64 is up to 64x slower on a GPU). Only the loss J, the
float64 number logged, is computed as the CPU computes it (float64 sum).

The host functions below take numba device arrays for the buffers and the
per-batch matrices (``theta``, ``grad``, ``a_buf``, ``z_buf``, ``delta_buf``,
``z``, ``a``, ``y``, ``delta``) and host NumPy arrays for the small layout
arrays (``sizes``, ``acts``, ``alphas``, ``p_off``, ``a_off``, ``z_off``,
``keep``), which the host loop reads to launch one kernel per layer. Launches
are asynchronous: only ``loss_delta`` and ``loss_and_gradient``, which return
J as a Python float, wait for the device; their ``*_into`` variants leave J
in a device array instead.

The three matrix products of backprop are register-tiled (``cuda_gemm``),
with bias, activation, dropout and the activation slope applied in the same
kernel, on the way out; the device functions (formulas of one element or
row) are in ``cuda_math``. ``tile_product`` below, one output a thread from
TILE x TILE shared tiles, serves the convolution and recurrent products.

``TILE`` and ``THREADS`` (threads per block of the one-dimensional kernels,
a power of two) are read at every launch, so tests can set them small; the
kernels whose shared arrays depend on them are compiled once per
(TILE, THREADS, dtype). Those are closures, which numba does not cache on
disk: the first launch of each compiles it.
"""
import functools
import math

import numba
import numpy as np
from numba import cuda

from . import cuda_gemm
from .codes import IDENTITY, SOFTMAX
from .cuda_math import (activation, block_sum, dropped, loss_row, softmax_jacobian_row,
                        softmax_row, times_slope)

TILE = 16  # a TILE x TILE block of threads per tile of a matrix product
THREADS = 128  # threads per block of the one-dimensional kernels (a power of two)

device_function = cuda.jit(device=True)


# ---------------------------------------------------------------- one-dimensional kernels

@cuda.jit
def activate_elements(code, alpha, z, a, count):
    """a = g(z) elementwise over count elements (any code but softmax)."""
    k = cuda.grid(1)
    if k < count:
        a[k] = activation(code, alpha, z[k])


@cuda.jit
def softmax_rows(z, z_off, a, a_off, m, n, keep, mask):
    """a = softmax(z) row by row, one thread per row; then inverted dropout
    when keep < 1 (element k of a has the dropout index a_off + k; keep and
    mask from ``dropout_args``)."""
    i = cuda.grid(1)
    if i < m:
        softmax_row(z, z_off + i * n, a, a_off + i * n, n)
        if keep < 1.0:
            for j in range(n):
                k = a_off + i * n + j
                a[k] = dropped(a[k], keep, mask, k)


@cuda.jit
def backprop_elements(code, alpha, z, a, delta, keep, count):
    """delta = dJ/da * g'(z) in place, elementwise (any code but softmax);
    a holds g(z) / keep where the layer was dropped out."""
    k = cuda.grid(1)
    if k < count:
        delta[k] = times_slope(code, alpha, z[k], a[k] * keep, delta[k])


@cuda.jit
def softmax_jacobian_rows(a, a_off, delta, d_off, m, n):
    """delta_i = a_i (dJ/da_i - sum_j dJ/da_j a_j) in place, one thread per row."""
    i = cuda.grid(1)
    if i < m:
        softmax_jacobian_row(a, a_off + i * n, delta, d_off + i * n, n)


@cuda.jit
def dropout_elements(a, keep, mask, offset, count):
    """Inverted dropout: a_k <- a_k * [u_{offset+k} < keep] / keep (``dropped``)."""
    k = cuda.grid(1)
    if k < count:
        a[k] = dropped(a[k], keep, mask, offset + k)


# ---------------------------------------------------------------- tiled products

@device_function
def load_tile(tile, buf, off, rows, cols, s_row, s_col, ones_col, r0, c0):
    """tile[r, c] = M[r0 + r, c0 + c] for the rows x cols matrix
    M[i, j] = buf[off + i s_row + j s_col], whose column ``ones_col`` (-1 for
    none) is a constant input of ones; 0 outside M. Threads next to each other
    in x read addresses next to each other, whichever index of M is contiguous."""
    if s_col == 1:
        r = cuda.threadIdx.y
        c = cuda.threadIdx.x
    else:
        r = cuda.threadIdx.x
        c = cuda.threadIdx.y
    i = r0 + r
    j = c0 + c
    if i < rows and j == ones_col:
        tile[r, c] = 1
    elif i < rows and j < cols:
        tile[r, c] = buf[off + i * s_row + j * s_col]
    else:
        tile[r, c] = 0


@device_function
def tile_product(A_tile, B_tile, A, a_off, a_si, a_sk, B, b_off, b_sk, b_sj,
                 b_ones_col, M, N, K, acc):
    """acc + sum_k A[i, k] B[k, j] for this thread's output (i, j) of the M x N
    product, A[i, k] = A[a_off + i a_si + k a_sk], B[k, j] = B[b_off + k b_sk + j b_sj]
    (column b_ones_col of B is ones). Every thread of the block must call it."""
    t = A_tile.shape[0]
    i0 = cuda.blockIdx.y * t
    j0 = cuda.blockIdx.x * t
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    for k0 in range(0, K, t):
        load_tile(A_tile, A, a_off, M, K, a_si, a_sk, -1, i0, k0)
        load_tile(B_tile, B, b_off, K, N, b_sk, b_sj, b_ones_col, k0, j0)
        cuda.syncthreads()
        for kk in range(t):
            acc += A_tile[ty, kk] * B_tile[kk, tx]
        cuda.syncthreads()
    return acc


@functools.lru_cache(maxsize=None)
def loss_kernel(threads, dtype):
    """loss_head for blocks of ``threads`` threads (a power of two), one dtype."""
    if threads & (threads - 1):
        raise ValueError(f"THREADS must be a power of two, got {threads}")

    @cuda.jit
    def loss_head(loss, scale, act, alpha, z, z_off, a, a_off, y, y_off, delta, d_off,
                  m, n, losses, slot, activate):
        """losses[slot] = J(a[L], y) and delta[L] = dJ/dz[L] (see loss_row); with
        ``activate``, a softmax output a[L] = softmax(z[L]) is computed here
        first (the forward pass left it: one launch fewer). One block: each
        thread takes rows i = tid, tid + THREADS, ..., then a tree reduction in
        shared memory sums J (deterministic, no atomics)."""
        partial = cuda.shared.array(threads, numba.float64)
        tid = cuda.threadIdx.x
        total = 0.0
        for i in range(tid, m, threads):
            if activate and act == SOFTMAX:
                softmax_row(z, z_off + i * n, a, a_off + i * n, n)
            total += loss_row(loss, scale, act, alpha, z, z_off + i * n, a, a_off + i * n,
                              y, y_off + i * n, delta, d_off + i * n, n)
        partial[tid] = total
        block_sum(partial, tid, threads)
        if tid == 0:
            losses[slot] = scale * partial[0]

    return loss_head


def loss_head_for(buf):
    """The loss_head kernel for buf's dtype, configured for one block of THREADS."""
    return loss_kernel(THREADS, np.dtype(buf.dtype))[1, THREADS]


def of_dtype(buf, value):
    """value as a NumPy scalar of buf's dtype: a kernel's scalar argument, so
    that the kernel computes in that dtype (a Python float is a float64)."""
    return buf.dtype.type(value)


DROPOUT_STEPS = 2 ** 53  # cpu.dropout_uniform's u: a 53-bit integer / 2^53


def dropout_args(buf, keep, seed):
    """(keep, mask), the dropout arguments of a kernel computing in buf's dtype:
    keep in that dtype, mask = (seed, ceil(keep 2^53)) for ``dropped``. A keep
    below 1 that rounds to 1 is kept below 1, so kernels test keep < 1 as the CPU."""
    keep_t, limit = keep_and_limit(buf.dtype, float(keep))
    return keep_t, (np.uint64(seed), limit)


@functools.lru_cache(maxsize=256)
def keep_and_limit(dtype, keep):
    """(keep in dtype, ceil(keep 2^53) as a uint64) of dropout_args, computed
    once per (dtype, keep): launches read them at every step."""
    keep_t = dtype.type(keep)
    if keep < 1 <= keep_t:
        keep_t = np.nextafter(keep_t, dtype.type(0))
    return keep_t, np.uint64(min(max(math.ceil(keep * DROPOUT_STEPS), 0), DROPOUT_STEPS))


def blocks(count):
    """Blocks of THREADS threads covering count elements."""
    return (count + THREADS - 1) // THREADS


def tiles(rows, cols):
    """Grid of TILE x TILE blocks covering a rows x cols output (x: columns)."""
    return (cols + TILE - 1) // TILE, (rows + TILE - 1) // TILE


# ---------------------------------------------------------------- host functions

def activate(code, alpha, z, a):
    """a = g(z) for device arrays of shape (m, n); softmax row by row:
    a_i = e^{z_i - max z} / sum_j e^{z_j - max z}. See cpu.activate."""
    m, n = z.shape
    if code == SOFTMAX:
        softmax_rows[blocks(m), THREADS](z.ravel(), 0, a.ravel(), 0, m, n,
                                         *dropout_args(z, 1.0, 0))
    else:
        activate_elements[blocks(m * n), THREADS](code, of_dtype(z, alpha), z.ravel(), a.ravel(),
                                                  m * n)


def backprop_activation(code, alpha, z, a, delta, keep):
    """Turn dJ/da into dJ/dz = delta, in place: delta = dJ/da * g'(z); softmax:
    delta_i = a_i (dJ/da_i - sum_j dJ/da_j a_j); a holds g(z) / keep where the
    layer was dropped out. See cpu.backprop_activation."""
    m, n = z.shape
    if code == SOFTMAX:
        softmax_jacobian_rows[blocks(m), THREADS](a.ravel(), 0, delta.ravel(), 0, m, n)
    elif code != IDENTITY:
        backprop_elements[blocks(m * n), THREADS](code, of_dtype(z, alpha), z.ravel(), a.ravel(),
                                                  delta.ravel(), of_dtype(z, keep), m * n)


def apply_dropout(a, keep, seed, offset):
    """Inverted dropout: a <- a * mask / keep, mask_k = [u_{offset+k} < keep],
    the same masks as cpu.apply_dropout."""
    dropout_elements[blocks(a.size), THREADS](a.ravel(), *dropout_args(a, keep, seed), offset,
                                              a.size)


def loss_delta_into(loss, scale, act, alpha, z, a, y, delta, losses, slot):
    """loss_delta, leaving J in losses[slot] (a float64 device array): no sync."""
    m, n = a.shape
    loss_head_for(a)(loss, scale, act, of_dtype(a, alpha), z.ravel(), 0, a.ravel(), 0,
                     y.ravel(), 0, delta.ravel(), 0, m, n, losses, slot, False)


def loss_delta(loss, scale, act, alpha, z, a, y, delta):
    """J(a[L], y) as a float and delta[L] = dJ/dz[L]; formulas in cpu.loss_delta."""
    J = cuda.device_array(1, np.float64)
    loss_delta_into(loss, scale, act, alpha, z, a, y, delta, J, 0)
    return float(J.copy_to_host()[0])


def forward(theta, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, m, keep, seed):
    """Forward pass over a batch of m rows whose a[0] is already in a_buf.

    For l = 1..L:  z[l] = a[l-1] @ W[l].T + b[l],  a[l] = g_l(z[l]),
    then (training only, keep[l-1] < 1) inverted dropout on a[l].
    """
    for l in range(1, len(sizes)):
        n_in, n_out = int(sizes[l - 1]), int(sizes[l])
        w_off = int(p_off[l - 1])
        act, alpha = int(acts[l - 1]), of_dtype(theta, alphas[l - 1])
        keep_l, mask = dropout_args(theta, keep[l - 1], seed)
        cuda_gemm.dense_forward(
            theta, w_off, w_off + n_out * n_in, a_buf, int(a_off[l - 1]), int(a_off[l]),
            z_buf, int(z_off[l - 1]), m, n_in, n_out, act, alpha, keep_l, mask)
        if act == SOFTMAX:
            softmax_rows[blocks(m), THREADS](z_buf, int(z_off[l - 1]), a_buf, int(a_off[l]),
                                             m, n_out, keep_l, mask)


def backward(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
             delta_buf, m, keep, seed):
    """Backward pass, given delta[L] = dJ/dz[L] in delta_buf.

    For l = L..1:  dW[l] = delta[l].T @ a[l-1],  db[l] = sum over rows of delta[l];
    for l > 1:     delta[l-1] = (delta[l] @ W[l]) * g'(z[l-1])
    (times the dropout mask / keep where a[l-1] was dropped).
    """
    for l in range(len(sizes) - 1, 0, -1):  # dW[l] and delta[l-1]: one launch
        n_in, n_out, prev = int(sizes[l - 1]), int(sizes[l]), l > 1
        w_off, act = int(p_off[l - 1]), int(acts[l - 2]) if prev else IDENTITY
        prev_off = int(z_off[l - 2]) if prev else 0
        cuda_gemm.launch_backward_layer(
            theta, grad, w_off, w_off + n_out * n_in, delta_buf, int(z_off[l - 1]), a_buf,
            int(a_off[l - 1]), m, n_out, n_in, prev, prev_off, z_buf, act,
            of_dtype(theta, alphas[l - 2] if prev else 0.0),
            *dropout_args(theta, keep[l - 2] if prev else 1.0, seed))
        if act == SOFTMAX:
            softmax_jacobian_rows[blocks(m), THREADS](a_buf, int(a_off[l - 1]), delta_buf,
                                                      prev_off, m, n_in)


def loss_and_gradient_into(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf,
                           z_off, delta_buf, m, y, loss, scale, keep, seed, losses, slot):
    """loss_and_gradient, leaving J in losses[slot] (a float64 device array): no
    sync. y: the (m, n_L) targets, or a flat buffer holding them row by row."""
    forward(theta, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, m, keep, seed)
    L = len(sizes) - 1
    n, zL, aL = int(sizes[L]), int(z_off[L - 1]), int(a_off[L])
    loss_head_for(theta)(loss, scale, int(acts[L - 1]), of_dtype(theta, alphas[L - 1]), z_buf,
                         zL, a_buf, aL, y.ravel(), 0, delta_buf, zL, m, n, losses, slot, False)
    backward(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, delta_buf,
             m, keep, seed)


def loss_and_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                      delta_buf, m, y, loss, scale, keep, seed):
    """One forward and backward pass: returns J and writes dJ/dtheta into grad."""
    J = cuda.device_array(1, np.float64)
    loss_and_gradient_into(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                           delta_buf, m, y, loss, scale, keep, seed, J, 0)
    return float(J.copy_to_host()[0])
