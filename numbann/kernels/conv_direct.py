"""Direct convolution for stride-1 layers on large images (``numba.njit``).

The same formulas as ``conv.py``,

    z[l][i, o, p, q] = b[l][o] + sum_{c,u,v} W[l][o, c, u, v] ap[i, c, p + u, q + v],
    dW[l][o, c, u, v] = sum_{i,p,q} delta[l][i, o, p, q] ap[i, c, p + u, q + v],
    dJ/dap[i, c, p + u, q + v] += W[l][o, c, u, v] delta[l][i, o, p, q],

(ap: a[l-1] with its zero padding), computed without im2col: for one filter
tap (u, v) the whole output plane is the input plane shifted by (u, v)
times one weight. On a "wide" grid of Ho rows of Wp (the padded width)
positions, output (p, q) sits at p Wp + q and reads the input at
p Wp + q + u Wp + v, so one tap is a single contiguous multiply-add loop of
n = (Ho - 1) Wp + Wo elements, which vectorizes; the Wp - Wo wide positions
past each row's end are computed and dropped. For LeNet's first layer
(1 -> 6 channels, 5x5, 28x28 images, batch 64, float32) this took 0.47 ms
forward and 1.1 ms backward against 1.6 ms and 2.5 ms for im2col + gemm;
for its second (6 -> 16 channels, 12x12 images) it was slower (1.6 ms
against 1.1 ms forward): short rows do not pay for a loop per tap, so
``prefers_direct`` picks it only for long rows (measured, 1 thread).
"""
from numba import njit

from .cpu import JIT_OPTIONS
from .pointers import pointer_only

DIRECT_MIN_WIDE = 256  # wide-row length n from which the direct kernels win (see above)
fast = njit(fastmath={"reassoc", "contract"}, **JIT_OPTIONS)
fast_inlined = njit(fastmath={"reassoc", "contract"}, inline="always", **JIT_OPTIONS)
fast_pointable = pointer_only(fastmath={"reassoc", "contract"})


# One filter row (kw taps) at a time, the taps of a row fused into one pass
# over the wide row: LeNet's first layer forward 453 -> 295 us (measured).
# Rows of 3 and 5 taps, the usual ones, are written out so LLVM keeps the
# weights in registers; other widths take the generic loop.

@fast_inlined
def row_taps(acc, src, w, n):
    """acc[j] += sum_v w[v] src[j + v], j < n: one filter row's share of z."""
    if w.size == 5:
        w0, w1, w2, w3, w4 = w[0], w[1], w[2], w[3], w[4]
        for j in range(n):
            acc[j] += w0 * src[j] + w1 * src[j + 1] + w2 * src[j + 2] + w3 * src[j + 3] \
                + w4 * src[j + 4]
    elif w.size == 3:
        w0, w1, w2 = w[0], w[1], w[2]
        for j in range(n):
            acc[j] += w0 * src[j] + w1 * src[j + 1] + w2 * src[j + 2]
    else:
        for v in range(w.size):
            wv = w[v]
            shifted = src[v:v + n]
            for j in range(n):
                acc[j] += wv * shifted[j]


@fast_inlined
def row_dots(dw, d, src, n):
    """dw[v] += sum_j d[j] src[j + v]: one filter row's share of dW."""
    zero = dw.dtype.type(0)
    if dw.size == 5:
        s0 = s1 = s2 = s3 = s4 = zero
        for j in range(n):
            x = d[j]
            s0 += x * src[j]
            s1 += x * src[j + 1]
            s2 += x * src[j + 2]
            s3 += x * src[j + 3]
            s4 += x * src[j + 4]
        dw[0] += s0
        dw[1] += s1
        dw[2] += s2
        dw[3] += s3
        dw[4] += s4
    else:
        for v in range(dw.size):
            shifted = src[v:v + n]
            total = zero
            for j in range(n):
                total += d[j] * shifted[j]
            dw[v] += total


@fast_inlined
def row_spread(dst, w, dpad, count):
    """dst[j] += sum_v w[v] d[j - v], j < count = n + kw - 1, with dpad[k] =
    d[k - (kw - 1)] and zeros around: one filter row's share of dJ/dap."""
    kw = w.size
    if kw == 5:
        w0, w1, w2, w3, w4 = w[0], w[1], w[2], w[3], w[4]
        for j in range(count):
            dst[j] += w0 * dpad[j + 4] + w1 * dpad[j + 3] + w2 * dpad[j + 2] \
                + w3 * dpad[j + 1] + w4 * dpad[j]
    else:
        for v in range(kw):
            wv = w[v]
            shifted = dpad[kw - 1 - v:kw - 1 - v + count]
            for j in range(count):
                dst[j] += wv * shifted[j]


def prefers_direct(stride, Ho, Wo, kw):
    """Whether a conv layer runs the direct kernels: stride 1 and long wide rows."""
    return stride == 1 and (Ho - 1) * (Wo + kw - 1) + Wo >= DIRECT_MIN_WIDE


def scratch_size(C, Ho, Wo, kh, kw):
    """Scratch of the direct kernels: padded input planes, their gradient, one wide row."""
    Hp, Wp = Ho + kh - 1, Wo + kw - 1
    return 2 * C * Hp * Wp + (Ho - 1) * Wp + Wo + 2 * (kw - 1)


@fast
def pad_sample(a_prev, i, C, H, W, ph, pw, Hp, Wp, planes):
    """planes[c] = sample i's plane c of a[l-1] inside zero borders: ph rows above,
    pw columns on the left, the rest of the Hp x Wp plane below and right."""
    for k in range(C * Hp * Wp):
        planes[k] = 0
    for c in range(C):
        src = a_prev[(i * C + c) * H * W:(i * C + c + 1) * H * W]
        for h in range(H):
            row = planes[(c * Hp + ph + h) * Wp + pw:(c * Hp + ph + h) * Wp + pw + W]
            line = src[h * W:(h + 1) * W]
            for w in range(W):
                row[w] = line[w]


@fast_pointable
def conv_forward_direct(Wt, b, a_prev, z, scratch, m, C, H, W, Co, kh, kw, ph, pw, Ho, Wo):
    """z[l] = W[l] * a[l-1] + b[l] (stride 1), one shifted multiply-add per tap."""
    Hp, Wp = Ho + kh - 1, Wo + kw - 1
    n = (Ho - 1) * Wp + Wo
    planes = scratch[:C * Hp * Wp]
    acc = scratch[2 * C * Hp * Wp:2 * C * Hp * Wp + n]
    for i in range(m):
        pad_sample(a_prev, i, C, H, W, ph, pw, Hp, Wp, planes)
        for o in range(Co):
            bo = b[o]
            for j in range(n):
                acc[j] = bo
            for c in range(C):
                plane = planes[c * Hp * Wp:(c + 1) * Hp * Wp]
                for u in range(kh):
                    k = ((o * C + c) * kh + u) * kw
                    row_taps(acc, plane[u * Wp:u * Wp + n + kw - 1], Wt[k:k + kw], n)
            zo = z[(i * Co + o) * Ho * Wo:(i * Co + o + 1) * Ho * Wo]
            for p in range(Ho):
                row = acc[p * Wp:p * Wp + Wo]
                out = zo[p * Wo:(p + 1) * Wo]
                for q in range(Wo):
                    out[q] = row[q]


@fast_pointable
def conv_backward_direct(Wt, dW, db, delta, a_prev, delta_prev, need_prev, scratch,
                         m, C, H, W, Co, kh, kw, ph, pw, Ho, Wo):
    """dW[l], db[l] and (``need_prev``) dJ/da[l-1] of a stride-1 conv layer, tap by tap
    on the wide grid (module notes); the padding's share of dJ/dap is dropped."""
    Hp, Wp = Ho + kh - 1, Wo + kw - 1
    n = (Ho - 1) * Wp + Wo
    planes = scratch[:C * Hp * Wp]
    dplanes = scratch[C * Hp * Wp:2 * C * Hp * Wp]
    dpad = scratch[2 * C * Hp * Wp:2 * C * Hp * Wp + n + 2 * (kw - 1)]
    d = dpad[kw - 1:kw - 1 + n]  # delta on the wide grid, kw - 1 zeros either side
    zero = dW.dtype.type(0)
    for k in range(dW.size):
        dW[k] = zero
    for o in range(Co):
        db[o] = zero
    for k in range(dpad.size):
        dpad[k] = zero
    for i in range(m):
        pad_sample(a_prev, i, C, H, W, ph, pw, Hp, Wp, planes)
        for k in range(C * Hp * Wp):
            dplanes[k] = zero
        for o in range(Co):
            do = delta[(i * Co + o) * Ho * Wo:(i * Co + o + 1) * Ho * Wo]
            total = zero
            for p in range(Ho):
                row = d[p * Wp:p * Wp + Wo]
                src = do[p * Wo:(p + 1) * Wo]
                for q in range(Wo):
                    row[q] = src[q]
                    total += src[q]
            db[o] += total
            for c in range(C):
                plane = planes[c * Hp * Wp:(c + 1) * Hp * Wp]
                dplane = dplanes[c * Hp * Wp:(c + 1) * Hp * Wp]
                for u in range(kh):
                    k = ((o * C + c) * kh + u) * kw
                    row_dots(dW[k:k + kw], d, plane[u * Wp:u * Wp + n + kw - 1], n)
                    if need_prev:
                        row_spread(dplane[u * Wp:u * Wp + n + kw - 1], Wt[k:k + kw], dpad,
                                   n + kw - 1)
        if need_prev:
            for c in range(C):
                out = delta_prev[(i * C + c) * H * W:(i * C + c + 1) * H * W]
                for h in range(H):
                    row = dplanes[(c * Hp + ph + h) * Wp + pw:(c * Hp + ph + h) * Wp + pw + W]
                    line = out[h * W:(h + 1) * W]
                    for w in range(W):
                        line[w] = row[w]
