"""CUDA twins of the layer normalization, self-attention and positional
encoding kernels (``norm.py``, ``attention.py``): same arguments, same
formulas (see those modules' notes), written once where they are scalar
(``inverse_std``, ``normalized``, ``input_delta``, ``masked``,
``softmax_delta``, ``sinusoid``, ``attention_sizes``, ``scratch_blocks``).

Every product goes through one kernel, ``batched_product``: one thread per
output of a batch of small strided products, summing in a fixed order. No
atomics; each sum is one thread's, so results are deterministic. These are
the straightforward kernels that give the CPU's numbers; the sequence
layers' products are small (T x T per sample).
"""
import functools
import math

import numpy as np
from numba import cuda

from . import cuda as ck
from .attention import attention_sizes, masked, scratch_blocks, sinusoid, softmax_delta
from .cpu import like
from .norm import input_delta, inverse_std, normalized


def launch(count):
    return ck.blocks(count), ck.THREADS


@cuda.jit
def batched_product(A, a_batch, a_si, a_sk, B, b_batch, b_sk, b_sj, C, c_batch, c_si,
                    batches, M, N, K, beta):
    """C[p, i, j] = sum_k A[p, i, k] B[p, k, j] (+ C[p, i, j] when beta = 1) for
    p < batches, with A[p, i, k] = A[p a_batch + i a_si + k a_sk],
    B[p, k, j] = B[p b_batch + k b_sk + j b_sj], C[p, i, j] = C[p c_batch + i c_si + j]."""
    e = cuda.grid(1)
    if e < batches * M * N:
        p = e // (M * N)
        i = (e - p * M * N) // N
        j = e - p * M * N - i * N
        acc = C[p * c_batch + i * c_si + j] if beta != 0 else C.dtype.type(0)
        for k in range(K):
            acc += A[p * a_batch + i * a_si + k * a_sk] * B[p * b_batch + k * b_sk + j * b_sj]
        C[p * c_batch + i * c_si + j] = acc


def product(A, a_si, a_sk, B, b_sk, b_sj, C, c_si, M, N, K, beta=0, batches=1, a_batch=0,
            b_batch=0, c_batch=0):
    batched_product[launch(batches * M * N)](A, a_batch, a_si, a_sk, B, b_batch, b_sk, b_sj,
                                             C, c_batch, c_si, batches, M, N, K, beta)


# ---------------------------------------------------------------- layer normalization

@cuda.jit
def layernorm_rows(gamma, beta, a_prev, z, stats, rows, n):
    """norm.layernorm_forward, one thread per row: mu and var summed in float64
    (as norm.py), xhat and z in the dtype."""
    r = cuda.grid(1)
    if r < rows:
        total = 0.0
        for j in range(n):
            total += a_prev[r * n + j]
        mu = total / n
        total = 0.0
        for j in range(n):
            d = a_prev[r * n + j] - mu
            total += d * d
        inv = inverse_std(total / n)
        stats[r] = inv
        mu_t, inv_t = z.dtype.type(mu), z.dtype.type(inv)
        for j in range(n):
            xh, zj = normalized(a_prev[r * n + j], mu_t, inv_t, gamma[j], beta[j])
            stats[rows + r * n + j] = xh
            z[r * n + j] = zj


@cuda.jit
def layernorm_input_delta(gamma, delta, stats, delta_prev, rows, n):
    """dJ/da[l-1] of norm.layernorm_backward, one thread per row, in float64 as
    norm.py (``input_delta``'s bracket cancels)."""
    r = cuda.grid(1)
    if r < rows:
        sum_d = 0.0
        sum_dx = 0.0
        for j in range(n):
            d = delta[r * n + j] * gamma[j]
            sum_d += d
            sum_dx += d * stats[rows + r * n + j]
        for j in range(n):
            k = r * n + j
            delta_prev[k] = input_delta(delta[k] * gamma[j], stats[rows + k], stats[r], n,
                                        sum_d, sum_dx, 1)


@cuda.jit
def layernorm_params(dgamma, dbeta, delta, stats, rows, n):
    """dgamma[j] = sum_r delta[r, j] xhat[r, j], dbeta[j] = sum_r delta[r, j], one thread per j."""
    j = cuda.grid(1)
    if j < n:
        sum_d = delta.dtype.type(0)
        sum_dx = delta.dtype.type(0)
        for r in range(rows):
            sum_d += delta[r * n + j]
            sum_dx += delta[r * n + j] * stats[rows + r * n + j]
        dgamma[j] = sum_dx
        dbeta[j] = sum_d


def layernorm_forward(gamma, beta, a_prev, z, stats, rows, n):
    layernorm_rows[launch(rows)](gamma, beta, a_prev, z, stats, rows, n)


def layernorm_backward(gamma, dgamma, dbeta, delta, stats, delta_prev, need_prev, rows, n):
    layernorm_params[launch(n)](dgamma, dbeta, delta, stats, rows, n)
    if need_prev:
        layernorm_input_delta[launch(rows)](gamma, delta, stats, delta_prev, rows, n)


# ---------------------------------------------------------------- self-attention

@cuda.jit
def softmax_scores(A, rows, T, scale, causal):
    """A[t] = softmax(S[t] scale) over the steps u step t may see, in place;
    one thread per (sample, t) row (scale in A's dtype)."""
    r = cuda.grid(1)
    if r < rows:
        t = r % T
        top = like(scale, -math.inf)
        for u in range(T):
            if not masked(t, u, causal) and A[r * T + u] * scale > top:
                top = A[r * T + u] * scale
        zero = like(scale, 0)
        total = zero
        for u in range(T):
            e = zero if masked(t, u, causal) else math.exp(A[r * T + u] * scale - top)
            A[r * T + u] = e
            total += e
        for u in range(T):
            A[r * T + u] /= total


@cuda.jit
def score_deltas(A, dA, dS, rows, T, scale):
    """dS = A * (dA - rowsum(dA * A)) scale, one thread per (sample, t) row."""
    r = cuda.grid(1)
    if r < rows:
        inner = dA.dtype.type(0)
        for u in range(T):
            inner += dA[r * T + u] * A[r * T + u]
        for u in range(T):
            dS[r * T + u] = softmax_delta(A[r * T + u], dA[r * T + u], inner) * scale


def attention_forward(Wt, x, z, kept, m, T, d, d_k, d_v, causal):
    """attention.attention_forward on the device."""
    q, k, v, o, a, _, _ = attention_sizes(m, T, d_k, d_v)
    Q, K, V, O, A = kept[q:k], kept[k:v], kept[v:o], kept[o:a], kept[a:a + m * T * T]
    rows = m * T
    product(x, d, 1, Wt, 1, d, Q, d_k, rows, d_k, d)                       # X W_q^T
    product(x, d, 1, Wt[d_k * d:], 1, d, K, d_k, rows, d_k, d)             # X W_k^T
    product(x, d, 1, Wt[2 * d_k * d:], 1, d, V, d_v, rows, d_v, d)         # X W_v^T
    product(Q, d_k, 1, K, 1, d_k, A, T, T, T, d_k, batches=m, a_batch=T * d_k,
            b_batch=T * d_k, c_batch=T * T)                                # Q K^T per sample
    softmax_scores[launch(rows)](A, rows, T, ck.of_dtype(A, 1.0 / math.sqrt(d_k)), causal)
    product(A, T, 1, V, d_v, 1, O, d_v, T, d_v, T, batches=m, a_batch=T * T, b_batch=T * d_v,
            c_batch=T * d_v)                                               # A V
    product(O, d_v, 1, Wt[(2 * d_k + d_v) * d:], d, 1, z, d, rows, d, d_v)  # O W_o^T


def attention_backward(Wt, dW, delta, x, kept, delta_prev, need_prev, scratch,
                       m, T, d, d_k, d_v, causal):
    """attention.attention_backward on the device."""
    q, k, v, o, a, da, _ = attention_sizes(m, T, d_k, d_v)
    Q, K, V, O = kept[q:k], kept[k:v], kept[v:o], kept[o:a]
    A, dA = kept[a:da], kept[da:da + m * T * T]
    rows = m * T
    dO, dQ, dK, dV, dS = scratch_blocks(scratch, rows, T, d_k, d_v)
    wo = (2 * d_k + d_v) * d
    product(O, 1, d_v, delta, d, 1, dW[wo:], d, d_v, d, rows)              # dW_o^T = O^T delta
    product(delta, d, 1, Wt[wo:], 1, d, dO, d_v, rows, d_v, d)             # dO = delta W_o
    per_sample = dict(batches=m)
    product(A, 1, T, dO, d_v, 1, dV, d_v, T, d_v, T, a_batch=T * T, b_batch=T * d_v,
            c_batch=T * d_v, **per_sample)                                 # dV = A^T dO
    product(dO, d_v, 1, V, 1, d_v, dA, T, T, T, d_v, a_batch=T * d_v, b_batch=T * d_v,
            c_batch=T * T, **per_sample)                                   # dA = dO V^T
    score_deltas[launch(rows)](A, dA, dS, rows, T, ck.of_dtype(A, 1.0 / math.sqrt(d_k)))
    product(dS, T, 1, K, d_k, 1, dQ, d_k, T, d_k, T, a_batch=T * T, b_batch=T * d_k,
            c_batch=T * d_k, **per_sample)                                 # dQ = dS K
    product(dS, 1, T, Q, d_k, 1, dK, d_k, T, d_k, T, a_batch=T * T, b_batch=T * d_k,
            c_batch=T * d_k, **per_sample)                                 # dK = dS^T Q
    product(dQ, 1, d_k, x, d, 1, dW, d, d_k, d, rows)                      # dW_q = dQ^T X
    product(dK, 1, d_k, x, d, 1, dW[d_k * d:], d, d_k, d, rows)            # dW_k
    product(dV, 1, d_v, x, d, 1, dW[2 * d_k * d:], d, d_v, d, rows)        # dW_v
    if need_prev:
        product(dQ, d_k, 1, Wt, d, 1, delta_prev, d, rows, d, d_k)
        product(dK, d_k, 1, Wt[d_k * d:], d, 1, delta_prev, d, rows, d, d_k, beta=1)
        product(dV, d_v, 1, Wt[2 * d_k * d:], d, 1, delta_prev, d, rows, d, d_v, beta=1)


# ---------------------------------------------------------------- positional encoding

@cuda.jit
def add_positions(table, x, z, count, size):
    """z[i, t, j] = x[i, t, j] + P[t, j] for the table P of size = T d entries."""
    k = cuda.grid(1)
    if k < count:
        z[k] = x[k] + table[k % size]


@functools.lru_cache(maxsize=None)
def sinusoid_table(T, d, dtype):
    """P[t, j] = attention.sinusoid(t, j, d) on the device, in dtype: computed
    once on the host in float64, as the CPU computes it (in float32 an angle
    of up to T radians would be off by T 6e-8)."""
    table = np.array([sinusoid(t, j, d) for t in range(T) for j in range(d)], dtype)
    return cuda.to_device(table)


@cuda.jit
def position_gradient(dtable, delta, m, size):
    """dJ/dP[e] = sum_i delta[i, e], one thread per table entry."""
    e = cuda.grid(1)
    if e < size:
        total = delta.dtype.type(0)
        for i in range(m):
            total += delta[i * size + e]
        dtable[e] = total


@cuda.jit
def copy_elements(src, dst, count):
    k = cuda.grid(1)
    if k < count:
        dst[k] = src[k]


def posenc_forward(table, x, z, m, T, d, learned):
    if not learned:
        table = sinusoid_table(T, d, np.dtype(z.dtype))
    add_positions[launch(m * T * d)](table, x, z, m * T * d, T * d)


def posenc_backward(dtable, delta, delta_prev, need_prev, m, T, d, learned):
    if learned:
        position_gradient[launch(T * d)](dtable, delta, m, T * d)
    if need_prev:
        copy(delta, delta_prev, m * T * d)



# ---------------------------------------------------------------- residual blocks

@cuda.jit
def add_elements(a, b, out, count):
    """out = a + b (the Skip layer's z[l] = a[l-1] + a[source]; dJ/da += kept delta)."""
    k = cuda.grid(1)
    if k < count:
        out[k] = a[k] + b[k]


def add(a, b, out, count):
    add_elements[launch(count)](a, b, out, count)


def copy(src, dst, count):
    copy_elements[launch(count)](src, dst, count)


# ---------------------------------------------------------------- the last time step

@cuda.jit
def last_step_elements(a_prev, z, m, T, n):
    """z[i, j] = a[l-1][i, T-1, j]."""
    k = cuda.grid(1)
    if k < m * n:
        i = k // n
        z[k] = a_prev[(i * T + T - 1) * n + k - i * n]


@cuda.jit
def last_step_back(delta, delta_prev, m, T, n):
    """dJ/da[l-1][i, t, j] = delta[l][i, j] at t = T-1, else 0."""
    k = cuda.grid(1)
    if k < m * T * n:
        i = k // (T * n)
        t = (k - i * T * n) // n
        delta_prev[k] = delta[i * n + k - (i * T + t) * n] if t == T - 1 else 0.0


def last_step_forward(a_prev, z, m, T, n):
    last_step_elements[launch(m * n)](a_prev, z, m, T, n)


def last_step_backward(delta, delta_prev, m, T, n):
    last_step_back[launch(m * T * n)](delta, delta_prev, m, T, n)
