"""The plan's layers of sequences (RNN, LayerNorm, SelfAttention,
PositionalEncoding, LastStep, the Skip of a residual block), compiled into
the plan's passes only for networks that have them.

``plan_forward`` and the backward pass call ``forward_other`` and
``backward_other`` for every layer that is not dense, conv, pooling or
BatchNorm, with ``sequences`` a literal (a constant of ``plan.passes``): for False the
call is only Flatten's copy, so a CNN's passes do not compile the sequence
kernels (LeNet-5's first fit from an empty cache: 31 s with them, 22 s
without, measured); for True it is the whole dispatch below. (Choosing the
passes through closures instead of literals measured slower, 23-27 s.)
"""
from numba import types
from numba.extending import overload

from .attention import attention_backward, attention_forward, posenc_backward, posenc_forward
from .codes import (ATTENTION, LAST_STEP, LAYERNORM, P_ACT, P_CIN, P_FLAG, P_HIN, P_KH, P_KIND,
                    P_KW, P_NB, P_NW, P_SKIP_FROM, P_SKIP_TO, P_W, POSENC, RNN, SKIP)
from .cpu import inlined
from .norm import layernorm_backward, layernorm_forward
from .rnn import rnn_backward, rnn_forward


@inlined
def copy(src, dst):
    """dst = src, element by element (Flatten: the same numbers, row-major).
    A loop, not ``dst[:] = src``: numba's slice assignment compiles a shape
    check with a formatted error message, 3.7 s of a cold start (measured)."""
    for k in range(src.size):
        dst[k] = src[k]


@inlined
def sequence_forward(r, l, theta, alphas, a_buf, a_off, x_buf, x_off, a_prev, z, m, n_in, n):
    """z[l] of a layer of sequences (or Flatten) from a[l-1]; per sample the
    input is (T, d) = (C_IN, H_IN)."""
    kind = r[P_KIND]
    w = r[P_W]
    wb = w + r[P_NW]
    T, d = r[P_CIN], r[P_HIN]
    kept = x_buf[x_off[l - 1]:]
    if kind == RNN:  # P_NB = hidden units
        rnn_forward(theta[w:wb], theta[wb:wb + r[P_NB]], a_prev, z, kept, m, T, d, r[P_NB],
                    r[P_ACT], alphas[l - 1], r[P_FLAG])
    elif kind == LAYERNORM:  # rows of P_KH values, each normalized on its own
        layernorm_forward(theta[w:wb], theta[wb:wb + r[P_KH]], a_prev, z, kept,
                          m * n_in // r[P_KH], r[P_KH])
    elif kind == ATTENTION:  # d_k, d_v in P_KH, P_KW
        attention_forward(theta[w:wb], a_prev, z, kept, m, T, d, r[P_KH], r[P_KW], r[P_FLAG])
    elif kind == POSENC:
        posenc_forward(theta[wb:wb + r[P_NB]], a_prev, z, m, T, d, r[P_FLAG])
    elif kind == LAST_STEP:  # z[l][i] = a[l-1][i, T-1]
        for i in range(m):
            for j in range(n):
                z[i * n + j] = a_prev[(i * T + T - 1) * n + j]
    elif kind == SKIP:  # z[l] = a[l-1] + a[source]: the residual block's output
        source = a_buf[a_off[r[P_SKIP_FROM]]:a_off[r[P_SKIP_FROM]] + m * n]
        for k in range(m * n):
            z[k] = a_prev[k] + source[k]
    else:  # FLATTEN
        copy(a_prev, z)


@inlined
def sequence_backward(r, l, theta, grad, alphas, x_buf, x_off, s_buf, a_prev, delta,
                      delta_prev, need_prev, m, n_in, n):
    """dW[l], db[l] and (``need_prev``) dJ/da[l-1] of a layer of sequences (or Flatten)."""
    kind = r[P_KIND]
    w = r[P_W]
    wb = w + r[P_NW]
    T, d = r[P_CIN], r[P_HIN]
    kept = x_buf[x_off[l - 1]:]
    if kind == RNN:
        rnn_backward(theta[w:wb], grad[w:wb], grad[wb:wb + r[P_NB]], delta, a_prev, kept,
                     delta_prev, need_prev, s_buf, m, T, d, r[P_NB], r[P_ACT], alphas[l - 1],
                     r[P_FLAG])
    elif kind == LAYERNORM:
        layernorm_backward(theta[w:wb], grad[w:wb], grad[wb:wb + r[P_KH]], delta, kept,
                           delta_prev, need_prev, m * n_in // r[P_KH], r[P_KH])
    elif kind == ATTENTION:
        attention_backward(theta[w:wb], grad[w:wb], delta, a_prev, kept, delta_prev, need_prev,
                           s_buf, m, T, d, r[P_KH], r[P_KW], r[P_FLAG])
    elif kind == POSENC:
        posenc_backward(grad[wb:wb + r[P_NB]], delta, delta_prev, need_prev, m, T, d, r[P_FLAG])
    elif kind == LAST_STEP:  # dJ/da[l-1][i, t] = delta[l][i] at t = T-1, else 0
        if need_prev:
            for k in range(m * n_in):
                delta_prev[k] = 0.0
            for i in range(m):
                for j in range(n):
                    delta_prev[(i * T + T - 1) * n + j] = delta[i * n + j]
    elif kind == SKIP:  # delta[l] flows on to a[l-1] and, kept, to a[source] (below)
        copy(delta, kept[:m * n])
        if need_prev:
            copy(delta, delta_prev)
    elif need_prev:  # FLATTEN
        copy(delta, delta_prev)


@inlined
def join_skip(r, x_buf, x_off, delta_prev, need_prev, m, n_in):
    """If layer r starts a residual block, its input also reaches the block's
    Skip layer: dJ/da[l-1] += that layer's kept delta."""
    skip = r[P_SKIP_TO]
    if need_prev and skip > 0:
        joined = x_buf[x_off[skip - 1]:x_off[skip - 1] + m * n_in]
        for k in range(m * n_in):
            delta_prev[k] += joined[k]


def forward_other(sequences, r, l, theta, alphas, a_buf, a_off, x_buf, x_off, a_prev, z, m,
                  n_in, n):
    """``sequence_forward`` when ``sequences`` (a literal) is True, else Flatten's copy."""


def backward_other(sequences, r, l, theta, grad, alphas, x_buf, x_off, s_buf, a_prev, delta,
                   delta_prev, need_prev, m, n_in, n):
    """``sequence_backward`` when ``sequences`` (a literal) is True, else Flatten's copy."""


def skip_into(sequences, r, x_buf, x_off, delta_prev, need_prev, m, n_in):
    """``join_skip`` when ``sequences`` (a literal) is True (residual blocks are
    counted among them), else nothing."""


def _literal(sequences):
    if not isinstance(sequences, types.Literal):
        raise TypeError("sequences must be a literal (numba.literally in the caller)")
    return bool(sequences.literal_value)


@overload(forward_other, prefer_literal=True, inline="always")
def _forward_other(sequences, r, l, theta, alphas, a_buf, a_off, x_buf, x_off, a_prev, z, m,
                   n_in, n):
    if _literal(sequences):
        return lambda sequences, r, l, theta, alphas, a_buf, a_off, x_buf, x_off, a_prev, z, \
            m, n_in, n: sequence_forward(r, l, theta, alphas, a_buf, a_off, x_buf, x_off,
                                         a_prev, z, m, n_in, n)
    return lambda sequences, r, l, theta, alphas, a_buf, a_off, x_buf, x_off, a_prev, z, m, \
        n_in, n: copy(a_prev, z)


@overload(backward_other, prefer_literal=True, inline="always")
def _backward_other(sequences, r, l, theta, grad, alphas, x_buf, x_off, s_buf, a_prev, delta,
                    delta_prev, need_prev, m, n_in, n):
    if _literal(sequences):
        return lambda sequences, r, l, theta, grad, alphas, x_buf, x_off, s_buf, a_prev, \
            delta, delta_prev, need_prev, m, n_in, n: sequence_backward(
                r, l, theta, grad, alphas, x_buf, x_off, s_buf, a_prev, delta, delta_prev,
                need_prev, m, n_in, n)

    def flatten(sequences, r, l, theta, grad, alphas, x_buf, x_off, s_buf, a_prev, delta,
                delta_prev, need_prev, m, n_in, n):
        if need_prev:
            copy(delta, delta_prev)
    return flatten


@overload(skip_into, prefer_literal=True, inline="always")
def _skip_into(sequences, r, x_buf, x_off, delta_prev, need_prev, m, n_in):
    if _literal(sequences):
        return lambda sequences, r, x_buf, x_off, delta_prev, need_prev, m, n_in: join_skip(
            r, x_buf, x_off, delta_prev, need_prev, m, n_in)
    return lambda sequences, r, x_buf, x_off, delta_prev, need_prev, m, n_in: None
