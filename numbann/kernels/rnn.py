"""The recurrent (Elman) layer's kernels (``numba.njit``), on batches of
sequences ``(m, T, n)``, row-major: ``x[i, t, k]`` is ``x[(i * T + t) * n + k]``.

With ``W[l] = [W_x | W_h]``, shape ``(H, n + H)`` (one matrix acting on
``[x_t; h_{t-1}]``), and ``h_0 = 0``:

    z_t = x_t W_x^T + h_{t-1} W_h^T + b,    h_t = g(z_t),    t = 1..T

(PyTorch's ``nn.RNN`` with ``weight_ih = W_x``, ``weight_hh = W_h`` and
``bias_ih + bias_hh = b``). The layer's output is h_T, or h_1..h_T with
``return_sequences``; its activation g is the plan row's, so ``z[l]``,
``a[l]`` are z_t, h_t at the output steps.

Backpropagation through time, from the output steps' delta (dJ/dz_t, which
the plan has already multiplied by g'(z_t)):

    delta_t = delta[l]_t + (delta_{t+1} W_h) * g'(z_t)       (t = T-1 .. 1)
    dW_x = sum_t delta_t^T x_t,  dW_h = sum_{t>1} delta_t^T h_{t-1},  db = sum_t delta_t
    dJ/dx_t = delta_t W_x

``kept`` holds z_t, h_t and delta_t of every step, each (m, T, H), for the
backward pass and the tracer.
"""
from .cpu import PLAIN, TRANSPOSED, activation_slope, activate_rows, gemm, inlined


@inlined
def rnn_forward(Wt, b, x, z, kept, m, T, n_in, H, act, alpha, all_steps):
    """z_t = x_t W_x^T + h_{t-1} W_h^T + b, h_t = g(z_t); z[l] = z_T (or every z_t)."""
    size = m * T * H
    zs, hs = kept[:size], kept[size:2 * size]
    ld = n_in + H
    for r in range(m * T):
        for j in range(H):
            zs[r * H + j] = b[j]
    gemm(PLAIN, TRANSPOSED, m * T, H, n_in, x, n_in, Wt, ld, 1.0, zs, H)  # every x_t W_x^T
    for t in range(T):
        if t > 0:  # rows i of step t are T H apart
            gemm(PLAIN, TRANSPOSED, m, H, H, hs[(t - 1) * H:], T * H, Wt[n_in:], ld, 1.0,
                 zs[t * H:], T * H)
        for i in range(m):
            row = (i * T + t) * H
            activate_rows(act, alpha, zs[row:row + H], hs[row:row + H], 1, H)
    for i in range(m):
        first = 0 if all_steps else T - 1
        for t in range(first, T):
            out = (i * (T - first) + t - first) * H
            for j in range(H):
                z[out + j] = zs[(i * T + t) * H + j]


@inlined
def rnn_backward(Wt, dW, db, delta, x, kept, delta_prev, need_prev, scratch,
                 m, T, n_in, H, act, alpha, all_steps):
    """Backpropagation through time (module notes): delta_t for every step
    into ``kept``, then dW = [dW_x | dW_h], db and (``need_prev``) dJ/dx."""
    size = m * T * H
    zs, hs, deltas = kept[:size], kept[size:2 * size], kept[2 * size:3 * size]
    ld = n_in + H
    first = 0 if all_steps else T - 1
    for i in range(m):
        for t in range(T):
            row = (i * T + t) * H
            for j in range(H):
                deltas[row + j] = delta[(i * (T - first) + t - first) * H + j] \
                    if t >= first else 0.0
    for t in range(T - 2, -1, -1):  # back = delta_{t+1} W_h, rows i T H apart
        gemm(PLAIN, PLAIN, m, H, H, deltas[(t + 1) * H:], T * H, Wt[n_in:], ld, 0.0,
             scratch, H)
        for i in range(m):
            row = (i * T + t) * H
            for j in range(H):
                deltas[row + j] += scratch[i * H + j] * activation_slope(
                    act, alpha, zs[row + j], hs[row + j])
    gemm(TRANSPOSED, PLAIN, H, n_in, m * T, deltas, H, x, n_in, 0.0, dW, ld)  # dW_x
    for j in range(H):
        for k in range(H):
            dW[j * ld + n_in + k] = 0.0
    for t in range(1, T):  # dW_h += delta_t^T h_{t-1}
        gemm(TRANSPOSED, PLAIN, H, H, m, deltas[t * H:], T * H, hs[(t - 1) * H:], T * H, 1.0,
             dW[n_in:], ld)
    for j in range(H):
        db[j] = 0.0
    for r in range(m * T):
        for j in range(H):
            db[j] += deltas[r * H + j]
    if need_prev:
        gemm(PLAIN, PLAIN, m * T, n_in, H, deltas, H, Wt, ld, 0.0, delta_prev, n_in)
