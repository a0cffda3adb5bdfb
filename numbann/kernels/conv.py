"""Convolution and pooling kernels (``numba.njit``) on NCHW batches.

Every tensor is a flat row-major slice: ``a[l][i, c, h, w]`` is
``a[((i * C + c) * H + h) * W + w]``. A conv layer's weights ``W[l]`` are
``(C_out, C_in, k_h, k_w)`` row-major in theta, as PyTorch's ``Conv2d``.

Convolution is cross-correlation, as in PyTorch and the course's "3x3 filter
sliding over the image": with stride s and p_h zero rows above, p_w zero
columns on the left,

    z[l][i, o, p, q] = b[l][o] + sum_{c,u,v} W[l][o, c, u, v] a[l-1][i, c, p s - p_h + u, q s - p_w + v]

(``*`` below: cross-correlation). It is computed as im2col then one gemm:
the patch under the filter at every output position becomes a row of
``cols`` (m H_out W_out rows of C_in k_h k_w), so the whole layer is the
product ``cols @ W.T``, one BLAS call for the batch.
"""
import numpy as np
from numba.extending import register_jitable

from .cpu import PLAIN, TRANSPOSED, gemm, inlined, jit
from .pointers import pointable

U = np.uint64  # an index known to be >= 0 (see im2col)
PER_SAMPLE_MIN_POSITIONS = 64  # output positions from which conv_backward goes sample by sample


# ---------------------------------------------------------------- formulas shared with the GPU
# (called by these kernels and by their CUDA twins in cuda_layers.py: written once)

@register_jitable
def tap(p, u, stride, pad):
    """The input row (column) that output row p reads through filter tap u:
    p s - p_h + u (pooling: pad 0). Outside 0..H-1 it is zero padding."""
    return p * stride - pad + u


@register_jitable
def beats(x, best):
    """Max pooling's rule: x replaces the window's best so far if it is larger,
    or NaN (a NaN wins, as in PyTorch); ties keep the first maximum."""
    return x > best or x != x


@register_jitable
def pool_scale(k_h, k_w):
    """1 / (k_h k_w): average pooling's weight of each window element."""
    return 1.0 / (k_h * k_w)


@jit
def im2col(a_prev, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, cols):
    """cols[(i, p, q), (c, u, v)] = a[l-1][i, c, p s - p_h + u, q s - p_w + v],
    0 where that lies in the zero padding. Rows (i, p, q) and columns
    (c, u, v) are row-major: cols is (m Ho Wo, C kh kw).

    Indices are cast to unsigned (``U``): numba then drops its check for
    negative indices, which halved this loop's time (LeNet, measured)."""
    K = C * kh * kw
    zero = cols.dtype.type(0)
    for i in range(m):
        for p in range(Ho):
            h0 = tap(p, 0, stride, ph)
            for q in range(Wo):
                w0 = tap(q, 0, stride, pw)
                row = ((i * Ho + p) * Wo + q) * K
                inside = h0 >= 0 and h0 + kh <= H and w0 >= 0 and w0 + kw <= W
                for c in range(C):
                    plane = (i * C + c) * H * W
                    for u in range(kh):
                        h = h0 + u
                        for v in range(kw):
                            w = w0 + v
                            k = row + (c * kh + u) * kw + v
                            if inside or (0 <= h < H and 0 <= w < W):
                                cols[U(k)] = a_prev[U(plane + h * W + w)]
                            else:
                                cols[U(k)] = zero


@jit
def col2im(dcols, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, delta_prev):
    """The adjoint of im2col: delta_prev[i, c, h, w] = sum of dcols over every
    (output position, filter tap) that read a[l-1][i, c, h, w]."""
    K = C * kh * kw
    for k in range(m * C * H * W):
        delta_prev[k] = 0
    for i in range(m):
        for p in range(Ho):
            h0 = tap(p, 0, stride, ph)
            for q in range(Wo):
                w0 = tap(q, 0, stride, pw)
                row = ((i * Ho + p) * Wo + q) * K
                inside = h0 >= 0 and h0 + kh <= H and w0 >= 0 and w0 + kw <= W
                for c in range(C):
                    plane = (i * C + c) * H * W
                    for u in range(kh):
                        h = h0 + u
                        if not inside and (h < 0 or h >= H):
                            continue
                        src = row + (c * kh + u) * kw
                        dst = plane + h * W + w0
                        if inside:  # no column test inside the image: 599 -> 377 us (LeNet)
                            for v in range(kw):
                                delta_prev[U(dst + v)] += dcols[U(src + v)]
                        else:
                            for v in range(kw):
                                if 0 <= w0 + v < W:
                                    delta_prev[U(dst + v)] += dcols[U(src + v)]


@pointable
def conv_forward(Wt, b, a_prev, z, cols, zt, m, C, H, W, Cout, kh, kw, stride, ph, pw, Ho, Wo):
    """z[l] = W[l] * a[l-1] + b[l] (``*``: cross-correlation, module notes).

    im2col into ``cols`` (kept for the backward pass), then
    zt = cols @ W.T, (m Ho Wo, C_out), one gemm; then z[i, o, p, q] =
    zt[(i, p, q), o] + b[o] into NCHW order.
    """
    K = C * kh * kw
    P = Ho * Wo
    im2col(a_prev, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, cols)
    gemm(PLAIN, TRANSPOSED, m * P, Cout, K, cols, K, Wt, K, 0.0, zt, Cout)
    for i in range(m):
        for o in range(Cout):
            zo = z[(i * Cout + o) * P:(i * Cout + o + 1) * P]
            bo = b[o]
            for p in range(P):
                zo[p] = zt[(i * P + p) * Cout + o] + bo


@pointable
def conv_backward(Wt, dW, db, delta, cols, dzt, dcols, delta_prev, need_prev,
                  m, C, H, W, Cout, kh, kw, stride, ph, pw, Ho, Wo):
    """Gradients of a conv layer from delta[l] = dJ/dz[l] (m, C_out, Ho, Wo).

    Weight sharing: one weight is used at every position the filter visits,
    so its gradient is the sum over those positions,
        dW[l][o, c, u, v] = sum_{i,p,q} delta[l][i, o, p, q] a[l-1][i, c, p s - p_h + u, q s - p_w + v]
                          = (dzt.T @ cols)[o, (c, u, v)],
        db[l][o] = sum_{i,p,q} delta[l][i, o, p, q];
    and dJ/da[l-1] = delta[l] full-convolved with W[l] rotated 180 degrees,
    computed as col2im(dzt @ W) (only when ``need_prev``).

    With P = Ho Wo >= PER_SAMPLE_MIN_POSITIONS the products go one sample at
    a time on delta[l]'s own (C_out, P) blocks, dW += delta_i @ cols_i and
    dcols_i = delta_i.T @ W, with no transposed copy dzt: BLAS runs the one
    long (C_out, K, m P) product at half speed (LeNet's second conv layer,
    1 thread: dW 392 -> 198 us, dcols 257 -> 206 us; for P = 16 one product
    is faster, measured).
    """
    K = C * kh * kw
    P = Ho * Wo
    per_sample = P >= PER_SAMPLE_MIN_POSITIONS
    for o in range(Cout):
        db[o] = 0
    for i in range(m):
        for o in range(Cout):
            do = delta[(i * Cout + o) * P:(i * Cout + o + 1) * P]
            total = do.dtype.type(0)
            for p in range(P):
                total += do[p]
            db[o] += total
            if not per_sample:
                for p in range(P):
                    dzt[(i * P + p) * Cout + o] = do[p]
    if per_sample:
        for i in range(m):
            delta_i = delta[i * Cout * P:(i + 1) * Cout * P]
            gemm(PLAIN, PLAIN, Cout, K, P, delta_i, P, cols[i * P * K:(i + 1) * P * K], K,
                 0.0 if i == 0 else 1.0, dW, K)
            if need_prev:
                gemm(TRANSPOSED, PLAIN, P, K, Cout, delta_i, P, Wt, K, 0.0,
                     dcols[i * P * K:(i + 1) * P * K], K)
    else:
        gemm(TRANSPOSED, PLAIN, Cout, K, m * P, dzt, Cout, cols, K, 0.0, dW, K)
        if need_prev:
            gemm(PLAIN, PLAIN, m * P, K, Cout, dzt, Cout, Wt, K, 0.0, dcols, K)
    if need_prev:
        col2im(dcols, m, C, H, W, kh, kw, stride, ph, pw, Ho, Wo, delta_prev)


@pointable
def maxpool_forward(a_prev, z, where, m, C, H, W, k_h, k_w, stride, Ho, Wo):
    """z[l][i, c, p, q] = max_{u,v} a[l-1][i, c, p s + u, q s + v] (window k_h x k_w).

    ``where`` keeps, for every output, the index h W + w in its input plane
    of the winner: the first maximum in row-major window order, as PyTorch
    picks (a NaN wins, as there). 2x2 windows, the usual case, take an
    unrolled loop (LeNet's first pooling: 225 us against 427 us, measured).
    """
    for ic in range(m * C):
        plane = ic * H * W
        for p in range(Ho):
            for q in range(Wo):
                corner = tap(p, 0, stride, 0) * W + tap(q, 0, stride, 0)
                best, arg = a_prev[U(plane + corner)], corner
                if k_h == 2 and k_w == 2:
                    for j in (corner + 1, corner + W, corner + W + 1):
                        best, arg = pick(a_prev[U(plane + j)], j, best, arg)
                else:
                    for u in range(k_h):
                        for v in range(k_w):
                            j = tap(p, u, stride, 0) * W + tap(q, v, stride, 0)
                            best, arg = pick(a_prev[U(plane + j)], j, best, arg)
                out = (ic * Ho + p) * Wo + q
                z[U(out)] = best
                where[U(out)] = arg


@inlined
def pick(x, j, best, arg):
    """(x, j) if x beats the window's best so far (``beats``), else (best, arg)."""
    return (x, j) if beats(x, best) else (best, arg)


@pointable
def maxpool_backward(delta, where, delta_prev, m, C, H, W, Ho, Wo):
    """dJ/da[l-1] = delta[l] routed to each window's winner, 0 elsewhere:
    dJ/da[l-1][i, c, h, w] = sum of delta[l][i, c, p, q] over windows won by (h, w)."""
    delta_prev[:m * C * H * W] = 0
    for ic in range(m * C):
        for out in range(ic * Ho * Wo, (ic + 1) * Ho * Wo):
            delta_prev[ic * H * W + where[out]] += delta[out]


@pointable
def avgpool_forward(a_prev, z, m, C, H, W, k_h, k_w, stride, Ho, Wo):
    """z[l][i, c, p, q] = 1/(k_h k_w) sum_{u,v} a[l-1][i, c, p s + u, q s + v]."""
    inv = pool_scale(k_h, k_w)
    for ic in range(m * C):
        plane = a_prev[ic * H * W:(ic + 1) * H * W]
        for p in range(Ho):
            for q in range(Wo):
                total = plane.dtype.type(0)
                for u in range(k_h):
                    for v in range(k_w):
                        total += plane[tap(p, u, stride, 0) * W + tap(q, v, stride, 0)]
                z[(ic * Ho + p) * Wo + q] = total * inv


@pointable
def avgpool_backward(delta, delta_prev, m, C, H, W, k_h, k_w, stride, Ho, Wo):
    """dJ/da[l-1][i, c, h, w] = sum over the windows holding (h, w) of
    delta[l][i, c, p, q] / (k_h k_w)."""
    inv = pool_scale(k_h, k_w)
    delta_prev[:m * C * H * W] = 0
    for ic in range(m * C):
        plane = delta_prev[ic * H * W:(ic + 1) * H * W]
        for p in range(Ho):
            for q in range(Wo):
                share = delta[(ic * Ho + p) * Wo + q] * inv
                for u in range(k_h):
                    for v in range(k_w):
                        plane[tap(p, u, stride, 0) * W + tap(q, v, stride, 0)] += share


def conv_output_size(size, kernel, stride, pad_total):
    """floor((size + pad_total - kernel) / stride) + 1, PyTorch's Conv2d rule."""
    return (size + pad_total - kernel) // stride + 1

