"""Single-head scaled dot-product self-attention and positional encodings
(``numba.njit``) on batches
of sequences ``(m, T, d)``, row-major, as PyTorch's
``scaled_dot_product_attention`` with the projections written out.

``W[l]`` stacks the four projections by rows, ``[W_q; W_k; W_v; W_o^T]``,
shape ``(2 d_k + 2 d_v, d)``. For each sample, X (T, d):

    Q = X W_q^T,  K = X W_k^T,  V = X W_v^T
    S = Q K^T / sqrt(d_k)   (causal: S[t, u] = -inf for u > t)
    A = softmax(S) row by row,   O = A V,   z[l] = O W_o^T  (T, d)

Backward, from delta = dJ/dz[l] (T, d):

    dW_o^T = sum O^T delta,   dO = delta W_o,   dV = A^T dO,   dA = dO V^T
    dS = A * (dA - rowsum(dA * A)) / sqrt(d_k)       (the softmax's Jacobian)
    dQ = dS K,   dK = dS^T Q,   dW_q = sum dQ^T X,  dW_k = sum dK^T X,  dW_v = sum dV^T X
    dJ/dX = dQ W_q + dK W_k + dV W_v

``kept`` holds Q, K, V, O (rows of the batch) and A, then dA: the backward
pass's inputs and what the tracer shows. ``scratch`` holds dO, dQ, dK, dV.
"""
import math

from numba.extending import register_jitable

from .cpu import PLAIN, TRANSPOSED, gemm, inlined


@register_jitable
def attention_sizes(m, T, d_k, d_v):
    """Offsets in ``kept``: Q, K (m T d_k each), V, O (m T d_v each), A, dA (m T T each)."""
    q = 0
    k = q + m * T * d_k
    v = k + m * T * d_k
    o = v + m * T * d_v
    a = o + m * T * d_v
    da = a + m * T * T
    return q, k, v, o, a, da, da + m * T * T


@register_jitable
def masked(t, u, causal):
    """True where a causal layer's step t may not look at step u > t."""
    return causal != 0 and u > t


@inlined
def attention_forward(Wt, x, z, kept, m, T, d, d_k, d_v, causal):
    """z[l] = softmax(Q K^T / sqrt(d_k)) V W_o^T for each sample (module notes)."""
    q, k, v, o, a, _, _ = attention_sizes(m, T, d_k, d_v)
    Q, K, V, O, A = kept[q:k], kept[k:v], kept[v:o], kept[o:a], kept[a:a + m * T * T]
    rows = m * T
    gemm(PLAIN, TRANSPOSED, rows, d_k, d, x, d, Wt, d, 0.0, Q, d_k)
    gemm(PLAIN, TRANSPOSED, rows, d_k, d, x, d, Wt[d_k * d:], d, 0.0, K, d_k)
    gemm(PLAIN, TRANSPOSED, rows, d_v, d, x, d, Wt[2 * d_k * d:], d, 0.0, V, d_v)
    scale = 1.0 / math.sqrt(d_k)
    for i in range(m):
        Ai = A[i * T * T:(i + 1) * T * T]
        gemm(PLAIN, TRANSPOSED, T, T, d_k, Q[i * T * d_k:], d_k, K[i * T * d_k:], d_k, 0.0, Ai, T)
        for t in range(T):  # A[t] = softmax(S[t]) over the steps u it may see
            row = Ai[t * T:(t + 1) * T]
            top = -math.inf
            for u in range(T):
                if not masked(t, u, causal):
                    top = max(top, row[u] * scale)
            total = 0.0
            for u in range(T):
                e = 0.0 if masked(t, u, causal) else math.exp(row[u] * scale - top)
                row[u] = e
                total += e
            for u in range(T):
                row[u] /= total
        gemm(PLAIN, PLAIN, T, d_v, T, Ai, T, V[i * T * d_v:], d_v, 0.0, O[i * T * d_v:], d_v)
    gemm(PLAIN, PLAIN, rows, d, d_v, O, d_v, Wt[(2 * d_k + d_v) * d:], d, 0.0, z, d)


@inlined
def attention_backward(Wt, dW, delta, x, kept, delta_prev, need_prev, scratch,
                       m, T, d, d_k, d_v, causal):
    """dW = [dW_q; dW_k; dW_v; dW_o^T] and (``need_prev``) dJ/dX from
    delta = dJ/dz[l] (module notes); dA is kept for the tracer. ``scratch``:
    dO, dQ, dK, dV (rows of the batch), then dS (m T T)."""
    q, k, v, o, a, da, _ = attention_sizes(m, T, d_k, d_v)
    Q, K, V, O = kept[q:k], kept[k:v], kept[v:o], kept[o:a]
    A, dA = kept[a:da], kept[da:da + m * T * T]
    rows = m * T
    dO, dQ, dK, dV, dS = scratch_blocks(scratch, rows, T, d_k, d_v)
    wo = (2 * d_k + d_v) * d
    gemm(TRANSPOSED, PLAIN, d_v, d, rows, O, d_v, delta, d, 0.0, dW[wo:], d)      # dW_o^T
    gemm(PLAIN, TRANSPOSED, rows, d_v, d, delta, d, Wt[wo:], d, 0.0, dO, d_v)     # delta W_o
    scale = 1.0 / math.sqrt(d_k)
    for i in range(m):
        Ai, dAi, dSi = A[i * T * T:], dA[i * T * T:], dS[i * T * T:]
        Qi, Ki, Vi, dOi = Q[i * T * d_k:], K[i * T * d_k:], V[i * T * d_v:], dO[i * T * d_v:]
        gemm(TRANSPOSED, PLAIN, T, d_v, T, Ai, T, dOi, d_v, 0.0, dV[i * T * d_v:], d_v)
        gemm(PLAIN, TRANSPOSED, T, T, d_v, dOi, d_v, Vi, d_v, 0.0, dAi, T)
        for t in range(T):
            inner = 0.0
            for u in range(T):
                inner += dAi[t * T + u] * Ai[t * T + u]
            for u in range(T):
                dSi[t * T + u] = softmax_delta(Ai[t * T + u], dAi[t * T + u], inner) * scale
        gemm(PLAIN, PLAIN, T, d_k, T, dSi, T, Ki, d_k, 0.0, dQ[i * T * d_k:], d_k)
        gemm(TRANSPOSED, PLAIN, T, d_k, T, dSi, T, Qi, d_k, 0.0, dK[i * T * d_k:], d_k)
    gemm(TRANSPOSED, PLAIN, d_k, d, rows, dQ, d_k, x, d, 0.0, dW, d)                     # dW_q
    gemm(TRANSPOSED, PLAIN, d_k, d, rows, dK, d_k, x, d, 0.0, dW[d_k * d:], d)           # dW_k
    gemm(TRANSPOSED, PLAIN, d_v, d, rows, dV, d_v, x, d, 0.0, dW[2 * d_k * d:], d)       # dW_v
    if need_prev:
        gemm(PLAIN, PLAIN, rows, d, d_k, dQ, d_k, Wt, d, 0.0, delta_prev, d)
        gemm(PLAIN, PLAIN, rows, d, d_k, dK, d_k, Wt[d_k * d:], d, 1.0, delta_prev, d)
        gemm(PLAIN, PLAIN, rows, d, d_v, dV, d_v, Wt[2 * d_k * d:], d, 1.0, delta_prev, d)


@register_jitable
def softmax_delta(a, da, inner):
    """dJ/ds for one entry of a softmax row: a (dJ/da - sum_u dJ/da_u a_u)
    (0 where a = 0: the masked entries)."""
    return a * (da - inner)


@register_jitable
def scratch_blocks(scratch, rows, T, d_k, d_v):
    """dO, dQ, dK, dV (rows of the batch) and dS (m T T) in the scratch buffer."""
    o = rows * d_v
    q = o + rows * d_k
    k = q + rows * d_k
    v = k + rows * d_v
    return scratch[:o], scratch[o:q], scratch[q:k], scratch[k:v], scratch[v:v + rows * T]


@register_jitable
def sinusoid(t, j, d):
    """The sinusoidal positional encoding PE(t, j), t = 0..T-1 (Vaswani et al.):
    sin(t / 10000^(j/d)) for even j, cos(t / 10000^((j-1)/d)) for odd j."""
    angle = t / 10000.0 ** ((j - j % 2) / d)
    return math.sin(angle) if j % 2 == 0 else math.cos(angle)


@inlined
def posenc_forward(table, x, z, m, T, d, learned):
    """z[l][i, t, j] = x[i, t, j] + P[t, j]: P the learned table b[l] (T, d), or
    the sinusoidal one."""
    for i in range(m):
        for t in range(T):
            for j in range(d):
                k = (i * T + t) * d + j
                z[k] = x[k] + (table[t * d + j] if learned else sinusoid(t, j, d))


@inlined
def posenc_backward(dtable, delta, delta_prev, need_prev, m, T, d, learned):
    """dJ/dP[t, j] = sum_i delta[i, t, j] (learned), dJ/dx = delta."""
    if learned:
        for k in range(T * d):
            dtable[k] = 0.0
        for i in range(m):
            for k in range(T * d):
                dtable[k] += delta[i * T * d + k]
    if need_prev:
        for k in range(m * T * d):
            delta_prev[k] = delta[k]
