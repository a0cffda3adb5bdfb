"""CUDA twins of the layer kernels (``conv.py``, ``norm.py``): same names,
same arguments, same formulas (see those modules' notes for the notation).

The host functions below take numba device arrays (or device slices of the
workspace buffers) where the CPU kernels take arrays, and launch one or a
few ``@cuda.jit`` kernels. The scalar formulas both targets share (the
input position a filter tap reads, max pooling's first-maximum rule, the
BatchNorm normalization, running update and input gradient) are written once,
with ``register_jitable``, in ``conv.py`` and ``norm.py``.

No atomics: every sum is computed by one thread (or one block, for the
BatchNorm channel sums) in a fixed order, so results are deterministic. The
adjoints that scatter on the CPU (col2im, the pooling backward passes) are
gathers here: each input element sums what the windows that read it send
back, visiting those windows in the CPU's order, so these sums are the
CPU's bit for bit. The three products of a conv layer reuse the tiled
product of ``cuda.py`` (``tile_product``); the conv forward product writes
z in NCHW order with the bias added, and the weight gradient takes db from
a column of ones, as the dense ``backward_layer`` does.
"""
import functools

import numba
import numpy as np
from numba import cuda

from . import cuda as ck
from .codes import EVAL, TRAIN_UPDATE
from .conv import beats, pool_scale, tap
from .cuda import tile_product
from .cuda_math import block_sum, larger, smaller
from .norm import input_delta, inverse_std, normalized, update_running


def launch(count):
    """[blocks, threads] for a one-dimensional kernel over count elements."""
    return ck.blocks(count), ck.THREADS


# ---------------------------------------------------------------- im2col / col2im

@cuda.jit
def im2col_elements(a_prev, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, cols):
    """cols[(i, p, q), (c, u, v)] = a[l-1][i, c, p s - p_h + u, q s - p_w + v]
    (0 in the padding), one thread per entry of cols."""
    k = cuda.grid(1)
    K = C * kh * kw
    if k < m * Ho * Wo * K:
        row = k // K
        col = k - row * K
        i = row // (Ho * Wo)
        p = (row - i * Ho * Wo) // Wo
        q = row - i * Ho * Wo - p * Wo
        c = col // (kh * kw)
        u = (col - c * kh * kw) // kw
        v = col - c * kh * kw - u * kw
        h = tap(p, u, stride, ph)
        w = tap(q, v, stride, pw)
        if 0 <= h < H and 0 <= w < W:
            cols[k] = a_prev[((i * C + c) * H + h) * W + w]
        else:
            cols[k] = 0


@ck.device_function
def plane_position(k, H, W):
    """(i C + c, h, w) of element k of an NCHW tensor with H x W planes."""
    ic = k // (H * W)
    h = (k - ic * H * W) // W
    return ic, h, k - ic * H * W - h * W


@ck.device_function
def windows(h, k, stride, pad, n_out):
    """(first, last + 1): the output rows p whose window (k taps from
    tap(p, 0, stride, pad)) holds input row h, clipped to 0..n_out-1."""
    first = larger((h + pad - k + stride) // stride, 0)
    return first, smaller((h + pad) // stride + 1, n_out)


@cuda.jit
def col2im_elements(dcols, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, delta_prev):
    """delta_prev[i, c, h, w] = the sum of dcols[(i, p, q), (c, u, v)] over the
    (p, q) whose tap (u, v) reads (h, w), in row-major (p, q) order (the
    order of the CPU's scatter): one thread per input element, a gather."""
    k = cuda.grid(1)
    if k < m * C * H * W:
        K = C * kh * kw
        ic, h, w = plane_position(k, H, W)
        i = ic // C
        c = ic - i * C
        cast = delta_prev.dtype.type
        total = cast(0)
        p0, p1 = windows(h, kh, stride, ph, Ho)
        q0, q1 = windows(w, kw, stride, pw, Wo)
        for p in range(p0, p1):
            u = h - tap(p, 0, stride, ph)
            for q in range(q0, q1):
                v = w - tap(q, 0, stride, pw)
                total += dcols[((i * Ho + p) * Wo + q) * K + (c * kh + u) * kw + v]
        delta_prev[k] = total


@cuda.jit
def nchw_to_rows(delta, dzt, m, Cout, P):
    """dzt[(i, p), o] = delta[l][i, o, p]: the (m P, C_out) rows of the conv
    product, one thread per element."""
    k = cuda.grid(1)
    if k < m * Cout * P:
        i = k // (Cout * P)
        o = (k - i * Cout * P) // P
        p = k - i * Cout * P - o * P
        dzt[(i * P + p) * Cout + o] = delta[k]


@functools.lru_cache(maxsize=None)
def conv_products(tile, dtype):
    """The conv layer's three tiled products, with TILE-sized shared arrays, for one dtype."""
    float_t = numba.from_dtype(np.dtype(dtype))
    padded = tile + 1

    @cuda.jit
    def forward_product(Wt, b, cols, z, rows, Cout, K, P):
        """z[i, o, p] = (W @ cols.T)[o, (i, p)] + b[o]: the product of the
        (C_out, K) filters and the (m P, K) patches, into NCHW order with the
        bias. Grid: tiles of the C_out x m P result (x: patches)."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, Wt, 0, K, 1, cols, 0, 1, K, -1, Cout, rows, K,
                           float_t(0))
        o = cuda.blockIdx.y * tile + cuda.threadIdx.y
        r = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if o < Cout and r < rows:
            i = r // P
            z[(i * Cout + o) * P + r - i * P] = acc + b[o]

    @cuda.jit
    def weight_product(dW, db, dzt, cols, rows, Cout, K):
        """[dW | db] = dzt.T @ [cols | 1]: dW[o, (c, u, v)] = sum_r dzt[r, o] cols[r, (c, u, v)],
        db[o] = sum_r dzt[r, o], each sum over the rows r in order.
        Grid: tiles of the C_out x (K + 1) result."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, dzt, 0, 1, Cout, cols, 0, K, 1, K, Cout, K + 1,
                           rows, float_t(0))
        o = cuda.blockIdx.y * tile + cuda.threadIdx.y
        c = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if o < Cout and c < K:
            dW[o * K + c] = acc
        elif o < Cout and c == K:
            db[o] = acc

    @cuda.jit
    def cols_product(Wt, dzt, dcols, rows, Cout, K):
        """dcols = dzt @ W: dcols[r, k] = sum_o dzt[r, o] W[o, k].
        Grid: tiles of the m P x K result."""
        A_tile = cuda.shared.array((tile, padded), float_t)
        B_tile = cuda.shared.array((tile, padded), float_t)
        acc = tile_product(A_tile, B_tile, dzt, 0, Cout, 1, Wt, 0, K, 1, -1, rows, K, Cout,
                           float_t(0))
        r = cuda.blockIdx.y * tile + cuda.threadIdx.y
        k = cuda.blockIdx.x * tile + cuda.threadIdx.x
        if r < rows and k < K:
            dcols[r * K + k] = acc

    return forward_product, weight_product, cols_product


def im2col(a_prev, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, cols):
    """conv.im2col on the device: cols (m Ho Wo, C kh kw) from a[l-1]."""
    im2col_elements[launch(m * Ho * Wo * C * kh * kw)](a_prev, m, C, H, W, kh, kw, stride, ph,
                                                       pw, Ho, Wo, cols)


def col2im(dcols, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, delta_prev):
    """conv.col2im on the device (the adjoint of im2col), as a gather."""
    col2im_elements[launch(m * C * H * W)](dcols, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo,
                                           delta_prev)


def conv_forward(Wt, b, a_prev, z, cols, zt, m, C, H, W, Cout, kh, kw, stride, ph, pw, Ho, Wo):
    """z[l] = W[l] * a[l-1] + b[l]: im2col into cols, then one tiled product
    that writes z in NCHW order with the bias (``zt`` is not used: the
    transposition is fused)."""
    K, rows = C * kh * kw, m * Ho * Wo
    im2col(a_prev, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, cols)
    forward_product = conv_products(ck.TILE, np.dtype(z.dtype))[0]
    forward_product[ck.tiles(Cout, rows), (ck.TILE, ck.TILE)](Wt, b, cols, z, rows, Cout, K,
                                                              Ho * Wo)


def conv_backward(Wt, dW, db, delta, cols, dzt, dcols, delta_prev, need_prev,
                  m, C, H, W, Cout, kh, kw, stride, ph, pw, Ho, Wo):
    """conv.conv_backward on the device: dzt = delta[l] as (m Ho Wo, C_out)
    rows; [dW | db] = dzt.T @ [cols | 1]; with ``need_prev``
    dJ/da[l-1] = col2im(dzt @ W)."""
    K, rows = C * kh * kw, m * Ho * Wo
    _, weight_product, cols_product = conv_products(ck.TILE, np.dtype(dW.dtype))
    nchw_to_rows[launch(rows * Cout)](delta, dzt, m, Cout, Ho * Wo)
    weight_product[ck.tiles(Cout, K + 1), (ck.TILE, ck.TILE)](dW, db, dzt, cols, rows, Cout, K)
    if need_prev:
        cols_product[ck.tiles(rows, K), (ck.TILE, ck.TILE)](Wt, dzt, dcols, rows, Cout, K)
        col2im(dcols, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, delta_prev)


# ---------------------------------------------------------------- pooling

@cuda.jit
def maxpool_elements(a_prev, z, where, m, C, H, W, k_h, k_w, stride, Ho, Wo):
    """z[l][i, c, p, q] = max of the window, where = its first maximum's index
    h W + w in the plane (``beats``: a NaN wins); one thread per output."""
    out = cuda.grid(1)
    if out < m * C * Ho * Wo:
        ic, p, q = plane_position(out, Ho, Wo)
        base = ic * H * W
        arg = tap(p, 0, stride, 0) * W + tap(q, 0, stride, 0)
        best = a_prev[base + arg]
        for u in range(k_h):
            for v in range(k_w):
                j = tap(p, u, stride, 0) * W + tap(q, v, stride, 0)
                if beats(a_prev[base + j], best):
                    best = a_prev[base + j]
                    arg = j
        z[out] = best
        where[out] = arg


@cuda.jit
def maxpool_back_elements(delta, where, delta_prev, m, C, H, W, Ho, Wo, k_h, k_w, stride):
    """dJ/da[l-1][i, c, h, w] = sum of delta[l][i, c, p, q] over the windows
    that (h, w) won, in row-major order; one thread per input element."""
    k = cuda.grid(1)
    if k < m * C * H * W:
        ic, h, w = plane_position(k, H, W)
        cast = delta_prev.dtype.type
        total = cast(0)
        p0, p1 = windows(h, k_h, stride, 0, Ho)
        q0, q1 = windows(w, k_w, stride, 0, Wo)
        for p in range(p0, p1):
            for q in range(q0, q1):
                out = (ic * Ho + p) * Wo + q
                if where[out] == h * W + w:
                    total += delta[out]
        delta_prev[k] = total


@cuda.jit
def avgpool_elements(a_prev, z, m, C, H, W, k_h, k_w, stride, Ho, Wo, inv):
    """z[l][i, c, p, q] = 1/(k_h k_w) sum_{u,v} a[l-1][i, c, p s + u, q s + v],
    inv = 1/(k_h k_w) in z's dtype (``pool_scale``, on the host)."""
    out = cuda.grid(1)
    if out < m * C * Ho * Wo:
        ic, p, q = plane_position(out, Ho, Wo)
        cast = z.dtype.type
        total = cast(0)
        for u in range(k_h):
            for v in range(k_w):
                total += a_prev[ic * H * W + tap(p, u, stride, 0) * W + tap(q, v, stride, 0)]
        z[out] = total * inv


@cuda.jit
def avgpool_back_elements(delta, delta_prev, m, C, H, W, k_h, k_w, stride, Ho, Wo, inv):
    """dJ/da[l-1][i, c, h, w] = sum over the windows holding (h, w) of
    delta[l][i, c, p, q] inv, inv = 1/(k_h k_w) in the dtype (``pool_scale``),
    in row-major order, rounded as the CPU's running sum; one thread per input
    element."""
    k = cuda.grid(1)
    if k < m * C * H * W:
        ic, h, w = plane_position(k, H, W)
        cast = delta_prev.dtype.type
        total = cast(0)
        p0, p1 = windows(h, k_h, stride, 0, Ho)
        q0, q1 = windows(w, k_w, stride, 0, Wo)
        for p in range(p0, p1):
            for q in range(q0, q1):
                total = cast(total + delta[(ic * Ho + p) * Wo + q] * inv)
        delta_prev[k] = total


def maxpool_forward(a_prev, z, where, m, C, H, W, k_h, k_w, stride, Ho, Wo):
    """conv.maxpool_forward on the device."""
    maxpool_elements[launch(m * C * Ho * Wo)](a_prev, z, where, m, C, H, W, k_h, k_w, stride,
                                              Ho, Wo)


def maxpool_backward(delta, where, delta_prev, m, C, H, W, Ho, Wo, k_h, k_w, stride):
    """conv.maxpool_backward on the device; the window (k_h, k_w, stride) comes
    last, so that each input element visits only the windows that hold it."""
    maxpool_back_elements[launch(m * C * H * W)](delta, where, delta_prev, m, C, H, W, Ho, Wo,
                                                 k_h, k_w, stride)


def avgpool_forward(a_prev, z, m, C, H, W, k_h, k_w, stride, Ho, Wo):
    """conv.avgpool_forward on the device."""
    avgpool_elements[launch(m * C * Ho * Wo)](a_prev, z, m, C, H, W, k_h, k_w, stride, Ho, Wo,
                                              ck.of_dtype(z, pool_scale(k_h, k_w)))


def avgpool_backward(delta, delta_prev, m, C, H, W, k_h, k_w, stride, Ho, Wo):
    """conv.avgpool_backward on the device, as a gather."""
    avgpool_back_elements[launch(m * C * H * W)](delta, delta_prev, m, C, H, W, k_h, k_w, stride,
                                                 Ho, Wo, ck.of_dtype(delta, pool_scale(k_h, k_w)))


# ---------------------------------------------------------------- batch normalization

@functools.lru_cache(maxsize=None)
def norm_kernels(threads):
    """The BatchNorm kernels, one block of ``threads`` per channel (shared sums).

    They compute in float64 for float32 layers too, as norm.py does: with N = 2
    values per channel xhat = +-1 and the training input gradient's bracket
    N delta - dbeta - xhat dgamma cancels to 0 but for rounding, which float32
    arithmetic would round otherwise than the CPU (tests/cuda/test_cuda_layers.py).
    """

    @cuda.jit
    def forward_channels(gamma, beta, running, a_prev, z, stats, m, C, S, mode, halt):
        """Channel c = block: mu, var by block sums over its N = m S values
        (training) or the running statistics (eval); in TRAIN_UPDATE mode the
        running statistics move, unless halt[0] != 0; then
        xhat = (a - mu) / sqrt(var + eps), z = gamma xhat + beta."""
        partial = cuda.shared.array(threads, numba.float64)
        c = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        N = m * S
        if mode == EVAL:
            mu = running[c]
            var = running[C + c]
        else:
            total = 0.0
            for j in range(tid, N, threads):
                total += a_prev[(j // S * C + c) * S + j % S]
            partial[tid] = total
            block_sum(partial, tid, threads)
            mu = partial[0] / N
            cuda.syncthreads()  # every thread has read partial[0]
            total = 0.0
            for j in range(tid, N, threads):
                d = a_prev[(j // S * C + c) * S + j % S] - mu
                total += d * d
            partial[tid] = total
            block_sum(partial, tid, threads)
            var = partial[0] / N
            if tid == 0 and mode == TRAIN_UPDATE and halt[0] == 0:
                update_running(running, C, c, mu, var, N)
        inv = inverse_std(var)
        if tid == 0:
            stats[c] = mu
            stats[C + c] = inv
        g = gamma[c]
        bt = beta[c]
        for j in range(tid, N, threads):
            k = (j // S * C + c) * S + j % S
            xh, zk = normalized(a_prev[k], mu, inv, g, bt)
            stats[2 * C + k] = xh
            z[k] = zk

    @cuda.jit
    def backward_channels(gamma, dgamma, dbeta, delta, stats, delta_prev, need_prev,
                          m, C, S, mode):
        """Channel c = block: dbeta[c] = sum delta, dgamma[c] = sum delta xhat
        (block sums); then dJ/da[l-1] per element (``input_delta``)."""
        sum_d = cuda.shared.array(threads, numba.float64)
        sum_dx = cuda.shared.array(threads, numba.float64)
        c = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        N = m * S
        td = 0.0
        tdx = 0.0
        for j in range(tid, N, threads):
            k = (j // S * C + c) * S + j % S
            td += delta[k]
            tdx += delta[k] * stats[2 * C + k]
        sum_d[tid] = td
        sum_dx[tid] = tdx
        block_sum(sum_d, tid, threads)
        block_sum(sum_dx, tid, threads)
        if tid == 0:
            dgamma[c] = sum_dx[0]
            dbeta[c] = sum_d[0]
        if need_prev:
            kc = gamma[c] * stats[C + c]
            for j in range(tid, N, threads):
                k = (j // S * C + c) * S + j % S
                delta_prev[k] = input_delta(delta[k], stats[2 * C + k], kc, N, sum_d[0],
                                            sum_dx[0], mode)

    return forward_channels, backward_channels


def batchnorm_forward(gamma, beta, running, a_prev, z, stats, m, C, S, mode, halt=None):
    """norm.batchnorm_forward on the device. ``halt``: an optional int64 device
    flag (the training loop's); while halt[0] != 0 the running statistics stay."""
    from .cuda_optim import never_halt
    forward_channels = norm_kernels(ck.THREADS)[0]
    forward_channels[C, ck.THREADS](gamma, beta, running, a_prev, z, stats, m, C, S, mode,
                                    never_halt() if halt is None else halt)


def batchnorm_backward(gamma, dgamma, dbeta, delta, stats, delta_prev, need_prev, m, C, S, mode):
    """norm.batchnorm_backward on the device."""
    backward_channels = norm_kernels(ck.THREADS)[1]
    backward_channels[C, ck.THREADS](gamma, dgamma, dbeta, delta, stats, delta_prev,
                                     bool(need_prev), m, C, S, mode)
