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

The three matrix products of backprop are tiled: a block of TILE x TILE
threads computes a TILE x TILE block of the output, streaming TILE-wide
slices of both operands through shared memory, each thread summing its
output over k in order (as a plain loop would). Bias, activation, dropout
and the activation slope are applied in the same kernel, on the way out.

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

from .codes import (BCE, CE, ELU, HINGE, IDENTITY, KL, LEAKY_RELU, MAE, MSE,
                    RELU, SIGMOID, SOFTMAX, TANH)
from .cpu import LOG_CLAMP, bce_slope, bce_value, like

TILE = 16  # a TILE x TILE block of threads per tile of a matrix product
THREADS = 128  # threads per block of the one-dimensional kernels (a power of two)

device_function = cuda.jit(device=True)


# ---------------------------------------------------------------- elementwise math

@device_function
def larger(a, b):
    """max(a, b). Python's max and min are not used in device code: numba's
    own CUDA target (0.68) fails to compile its vararg max/min overloads."""
    return b if b > a else a


@device_function
def smaller(a, b):
    """min(a, b)."""
    return b if b < a else a


@device_function
def block_sum(partial, tid, threads):
    """partial[0] = sum of partial[0:threads], a tree reduction in shared
    memory (threads a power of two; every thread of the block calls it)."""
    cuda.syncthreads()
    width = threads // 2
    while width > 0:
        if tid < width:
            partial[tid] += partial[tid + width]
        cuda.syncthreads()
        width //= 2


@device_function
def sigmoid(z):
    """sigma(z) = 1 / (1 + e^-z), evaluated without overflow for large |z|."""
    one = like(z, 1)
    if z >= 0:
        return one / (one + math.exp(-z))
    e = math.exp(z)
    return e / (one + e)


@device_function
def activation(code, alpha, z):
    """g(z) for one element, any code but softmax (see cpu.activate), in z's type."""
    zero, one = like(z, 0), like(z, 1)
    if code == IDENTITY:
        return z
    if code == RELU:
        return larger(z, zero)
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return math.tanh(z)
    if code == LEAKY_RELU:
        return z if z > 0 else like(z, alpha) * z
    if code == ELU:
        return z if z > 0 else like(z, alpha) * math.expm1(z)
    return one if z > 0 else zero  # STEP


@device_function
def activation_slope(code, alpha, z, a):
    """g'(z) for one element from z and a = g(z), any code but softmax:
    sigmoid a (1 - a), tanh 1 - a^2, elu alpha e^z (see cpu.activation_slope),
    in a's type."""
    zero, one = like(a, 0), like(a, 1)
    if code == RELU:
        return one if z > 0 else zero
    if code == IDENTITY:
        return one
    if code == SIGMOID:
        return a * (one - a)
    if code == TANH:
        return one - a * a
    if code == LEAKY_RELU:
        return one if z > 0 else like(a, alpha)
    if code == ELU:
        return one if z > 0 else like(a, alpha) * math.exp(like(a, z))
    return zero  # STEP


@device_function
def times_slope(code, alpha, z, a, d):
    """dJ/dz = dJ/da * g'(z) for one element (a = g(z)), any code but softmax."""
    if code == RELU:
        return d if z > 0 else like(d, 0)
    if code == IDENTITY:
        return d
    return d * activation_slope(code, alpha, z, like(d, a))


@device_function
def mix64(x):
    """splitmix64 finalizer: a well-mixed 64-bit hash of x (as cpu.mix64)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@device_function
def dropped(x, keep, mask, index):
    """Inverted dropout of one element: x / keep if u_index < keep, else 0.

    mask = (seed, ceil(keep 2^53)) (``dropout_args``): cpu.dropout_uniform's
    u = h / 2^53 for a 53-bit integer h of (seed, index), and u < keep exactly
    when h < ceil(keep 2^53), so the masks are the CPU's, bit for bit, from
    integers; keep (for 1 / keep) is in x's type."""
    seed, limit = mask
    h = mix64(np.uint64(seed) ^ mix64(np.uint64(index) + np.uint64(0x9E3779B97F4A7C15)))
    if (h >> np.uint64(11)) < limit:
        return x * (like(x, 1) / like(x, keep))
    return like(x, 0)


# ---------------------------------------------------------------- row math (softmax, losses)

@device_function
def softmax_row(z, zr, a, ar, n):
    """a_j = e^{z_j - max z} / sum_k e^{z_k - max z} for the row z[zr:zr+n]."""
    zmax = z[zr]
    for j in range(1, n):
        zmax = larger(zmax, z[zr + j])
    total = like(zmax, 0)
    for j in range(n):
        e = math.exp(z[zr + j] - zmax)
        a[ar + j] = e
        total += e
    for j in range(n):
        a[ar + j] = a[ar + j] / total


@device_function
def softmax_jacobian_row(a, ar, d, dr, n):
    """dJ/da -> dJ/dz through softmax, in place: d_i = a_i (d_i - sum_j d_j a_j)."""
    dot = like(d[dr], 0)
    for j in range(n):
        dot += d[dr + j] * a[ar + j]
    for j in range(n):
        d[dr + j] = a[ar + j] * (d[dr + j] - dot)


@device_function
def log_softmax_parts(z, zr, n):
    """(max z, log sum_j e^{z_j - max z}): log softmax(z)_k = z_k - max z - log sum."""
    zmax = z[zr]
    for j in range(1, n):
        zmax = larger(zmax, z[zr + j])
    total = like(zmax, 0)
    for j in range(n):
        total += math.exp(z[zr + j] - zmax)
    return zmax, math.log(total)


@device_function
def loss_row(loss, scale, act, alpha, z, zr, a, ar, y, yr, delta, dr, n):
    """Row i of cpu.loss_delta: writes delta[L] for the row, returns its sum in J / s.

    mse: (a - y)^2, delta 2 s (a - y); mae: |a - y|, s sign(a - y);
    bce: -[y log a + (1 - y) log(1 - a)] (logs clamped at -100), with sigmoid
    delta = s (a - y), else dJ/da = s (a - y) / max(a (1 - a), eps) (``cpu.bce_value``,
    ``cpu.bce_slope``, shared); ce: -y log softmax(z),
    delta = s (a sum_k y_k - y); hinge: max(0, 1 - y a), dJ/da = -s y;
    kl: y (log y - log a), with softmax delta = s (a sum_k y_k - y), else
    dJ/da = -s y / a. Non-fused heads then go through the activation.

    delta is computed in its dtype (s converted once); the row's J, the
    float64 number logged, as cpu.loss_rows computes it (its terms, float64
    where the CPU's promote, and its float64 sum).
    """
    fused = (loss == BCE and act == SIGMOID) or (
        (loss == CE or loss == KL) and act == SOFTMAX)
    s = delta.dtype.type(scale)
    zero = like(s, 0)
    row_y = zero
    if loss == CE or loss == KL:
        for k in range(n):
            row_y += y[yr + k]
    zmax, log_total = z[zr], zero
    if loss == CE or (loss == KL and fused):
        zmax, log_total = log_softmax_parts(z, zr, n)
    total = 0.0
    for k in range(n):
        ai = a[ar + k]
        yi = y[yr + k]
        if loss == MSE:
            d = ai - yi
            total += d * d
            delta[dr + k] = like(s, 2) * s * d
        elif loss == MAE:
            d = ai - yi
            total += abs(d)
            delta[dr + k] = s if d > 0 else (-s if d < 0 else zero)
        elif loss == BCE:
            total += bce_value(ai, yi)
            delta[dr + k] = s * (ai - yi) if fused else bce_slope(s, ai, yi)
        elif loss == CE:
            if yi != 0:
                total -= yi * (z[zr + k] - zmax - log_total)
            delta[dr + k] = s * (ai * row_y - yi)
        elif loss == HINGE:
            margin = 1.0 - yi * ai
            if margin > 0:
                total += margin
                delta[dr + k] = -s * yi
            else:
                delta[dr + k] = zero
        elif loss == KL:
            if fused:
                log_a = z[zr + k] - zmax - log_total
                delta[dr + k] = s * (ai * row_y - yi)
            else:
                log_a = larger(math.log(ai), LOG_CLAMP) if ai > 0 else LOG_CLAMP
                delta[dr + k] = -s * yi / larger(ai, like(s, 1e-12))
            if yi > 0:
                total += yi * (math.log(yi) - log_a)
    if not fused:
        if act == SOFTMAX:
            softmax_jacobian_row(a, ar, delta, dr, n)
        else:
            for k in range(n):
                delta[dr + k] = times_slope(act, alpha, z[zr + k], a[ar + k], delta[dr + k])
    return total


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
def tiled_kernels(tile, threads, dtype):
    """The kernels whose shared arrays are sized by TILE or THREADS, for one dtype."""
    if threads & (threads - 1):
        raise ValueError(f"THREADS must be a power of two, got {threads}")
    float_t = numba.from_dtype(np.dtype(dtype))
    padded = tile + 1  # a row of tile + 1: column reads hit different memory banks

    @cuda.jit
    def dense_forward(theta, w_off, b_off, a_buf, in_off, out_off, z_buf, z_off,
                      m, n_in, n_out, act, alpha, keep, seed):
        """z[l] = a[l-1] @ W[l].T + b[l] and, unless g is softmax, a[l] = g(z[l]),
        inverted dropout on a[l] when keep < 1. Grid: tiles of z[l] (m x n_out)."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, a_buf, in_off, n_in, 1, theta, w_off, 1, n_in,
                           -1, m, n_out, n_in, float_t(0))
        i = cuda.blockIdx.y * tile + cuda.threadIdx.y
        j = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if i < m and j < n_out:
            zij = acc + theta[b_off + j]
            z_buf[z_off + i * n_out + j] = zij
            if act != SOFTMAX:
                k = out_off + i * n_out + j
                aij = activation(act, alpha, zij)
                if keep < 1.0:
                    aij = dropped(aij, keep, seed, k)
                a_buf[k] = aij

    @cuda.jit
    def delta_backward(theta, w_off, delta_buf, d_off, prev_off, z_buf, a_buf, a_prev_off,
                       m, n_out, n_in, act, alpha, keep, seed):
        """delta[l-1] = (delta[l] @ W[l]) * g'(z[l-1]), times mask / keep where
        a[l-1] was dropped (dropout index a_prev_off + k; g(z[l-1]) = a[l-1] keep
        for the slope); for a softmax g only the product (softmax_jacobian_rows
        follows). Grid: tiles of delta[l-1] (m x n_in); z[l-1] and delta[l-1]
        both start at prev_off."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, delta_buf, d_off, n_out, 1, theta, w_off, n_in, 1,
                           -1, m, n_in, n_out, float_t(0))
        i = cuda.blockIdx.y * tile + cuda.threadIdx.y
        j = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if i < m and j < n_in:
            k = i * n_in + j
            d = acc
            if keep < 1.0:
                d = dropped(d, keep, seed, a_prev_off + k)
            if act != SOFTMAX:
                d = times_slope(act, alpha, z_buf[prev_off + k], a_buf[a_prev_off + k] * keep, d)
            delta_buf[prev_off + k] = d

    @cuda.jit
    def weight_gradient(grad, w_off, b_off, delta_buf, d_off, a_buf, in_off, m, n_out, n_in):
        """[dW[l] | db[l]] = delta[l].T @ [a[l-1] | 1]: dW[l] = delta[l].T @ a[l-1]
        and, from the column of ones, db[l] = sum over rows of delta[l] (one
        thread per output, summing rows in order: no atomics).
        Grid: tiles of the n_out x (n_in + 1) result."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, delta_buf, d_off, 1, n_out, a_buf, in_off, n_in, 1,
                           n_in, n_out, n_in + 1, m, float_t(0))
        r = cuda.blockIdx.y * tile + cuda.threadIdx.y
        c = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if r < n_out and c < n_in:
            grad[w_off + r * n_in + c] = acc
        elif r < n_out and c == n_in:
            grad[b_off + r] = acc

    @cuda.jit
    def loss_head(loss, scale, act, alpha, z, z_off, a, a_off, y, y_off, delta, d_off,
                  m, n, losses, slot):
        """losses[slot] = J(a[L], y) and delta[L] = dJ/dz[L] (see loss_row).
        One block: each thread takes rows i = tid, tid + THREADS, ..., then a
        tree reduction in shared memory sums J (deterministic, no atomics)."""
        partial = cuda.shared.array(threads, numba.float64)
        tid = cuda.threadIdx.x
        total = 0.0
        for i in range(tid, m, threads):
            total += loss_row(loss, scale, act, alpha, z, z_off + i * n, a, a_off + i * n,
                              y, y_off + i * n, delta, d_off + i * n, n)
        partial[tid] = total
        block_sum(partial, tid, threads)
        if tid == 0:
            losses[slot] = scale * partial[0]

    return dense_forward, delta_backward, weight_gradient, loss_head


def kernels_for(buf):
    """(dense_forward, delta_backward, weight_gradient, loss_head) for buf's dtype."""
    return tiled_kernels(TILE, THREADS, np.dtype(buf.dtype))


def of_dtype(buf, value):
    """value as a NumPy scalar of buf's dtype: a kernel's scalar argument, so
    that the kernel computes in that dtype (a Python float is a float64)."""
    return np.dtype(buf.dtype).type(value)


DROPOUT_STEPS = 2 ** 53  # cpu.dropout_uniform's u: a 53-bit integer / 2^53


def dropout_args(buf, keep, seed):
    """(keep, mask), the dropout arguments of a kernel computing in buf's dtype:
    keep in that dtype, mask = (seed, ceil(keep 2^53)) for ``dropped``. A keep
    below 1 that rounds to 1 is kept below 1, so kernels test keep < 1 as the CPU."""
    keep_t = of_dtype(buf, keep)
    if keep < 1 <= keep_t:
        keep_t = np.nextafter(keep_t, keep_t.dtype.type(0))
    limit = min(max(math.ceil(keep * DROPOUT_STEPS), 0), DROPOUT_STEPS)
    return keep_t, (np.uint64(seed), np.uint64(limit))


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
    loss_head = kernels_for(a)[3]
    loss_head[1, THREADS](loss, scale, act, of_dtype(a, alpha), z.ravel(), 0, a.ravel(), 0,
                          y.ravel(), 0, delta.ravel(), 0, m, n, losses, slot)


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
    dense_forward = kernels_for(theta)[0]
    for l in range(1, len(sizes)):
        n_in, n_out = int(sizes[l - 1]), int(sizes[l])
        w_off = int(p_off[l - 1])
        act, alpha = int(acts[l - 1]), of_dtype(theta, alphas[l - 1])
        keep_l, mask = dropout_args(theta, keep[l - 1], seed)
        dense_forward[tiles(m, n_out), (TILE, TILE)](
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
    _, delta_backward, weight_gradient, _ = kernels_for(theta)
    for l in range(len(sizes) - 1, 0, -1):
        n_in, n_out = int(sizes[l - 1]), int(sizes[l])
        w_off, d_off = int(p_off[l - 1]), int(z_off[l - 1])
        weight_gradient[tiles(n_out, n_in + 1), (TILE, TILE)](
            grad, w_off, w_off + n_out * n_in, delta_buf, d_off, a_buf, int(a_off[l - 1]),
            m, n_out, n_in)
        if l > 1:
            act, prev_off = int(acts[l - 2]), int(z_off[l - 2])
            delta_backward[tiles(m, n_in), (TILE, TILE)](
                theta, w_off, delta_buf, d_off, prev_off, z_buf, a_buf, int(a_off[l - 1]),
                m, n_out, n_in, act, of_dtype(theta, alphas[l - 2]),
                *dropout_args(theta, keep[l - 2], seed))
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
    loss_head = kernels_for(theta)[3]
    loss_head[1, THREADS](loss, scale, int(acts[L - 1]), of_dtype(theta, alphas[L - 1]), z_buf, zL,
                          a_buf, aL, y.ravel(), 0, delta_buf, zL, m, n, losses, slot)
    backward(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, delta_buf,
             m, keep, seed)


def loss_and_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                      delta_buf, m, y, loss, scale, keep, seed):
    """One forward and backward pass: returns J and writes dJ/dtheta into grad."""
    J = cuda.device_array(1, np.float64)
    loss_and_gradient_into(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                           delta_buf, m, y, loss, scale, keep, seed, J, 0)
    return float(J.copy_to_host()[0])
