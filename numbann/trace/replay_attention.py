"""Replay and explain the layers of sequences other than RNN (self-attention,
layer normalization, positional encoding) and the end of a residual block
(Skip) in the course's notation, for one
sample (rows are time steps), each line recomputed in NumPy
(``attention_math``) and compared with the recorded arrays."""
import numpy as np

from . import attention_math as am
from ._text import arr
from .replay import _show

MAX_STEPS = 8  # an attention matrix is written out up to T x T = 8 x 8


def attention_forward(c, l, out, check):
    d, i, spec = c.digits, c.i, c.trace.arch[l]
    mask = " (causal: A[t, u] = 0 for u > t)" if spec["causal"] else ""
    out.append(f"    Q = X W_q^T, K = X W_k^T, V = X W_v^T;  A = softmax(Q K^T / sqrt(d_k)) "
               f"row by row{mask};  z[{l}] = A V W_o^T,  d_k = {spec['d_k']}")
    W, X = c.get(f"W_before/{l}"), c.a(l - 1)
    if W is None or X is None:
        return
    _, _, _, A, z = am.attention(spec, X, W)
    check(c.get(f"attention/{l}"), A)
    check(c.get(f"z/{l}"), z)
    T = A.shape[1]
    if T <= MAX_STEPS:
        out.append(_show(f"A (sample {i}: row t = how much step t attends to each step u)",
                         A[i], d, "      "))
    else:
        out.append(f"      A is {T} x {T}; its largest weight per row t: "
                   f"{arr(A[i].max(axis=1), d)} at u = {A[i].argmax(axis=1).tolist()}")
    out.append(f"      every row of A sums to 1: {arr(A[i].sum(axis=1), d)}")


def layernorm_forward(c, l, out, check):
    d, i = c.digits, c.i
    out.append(f"    z[{l}] = gamma * (a[{l - 1}] - mean) / sqrt(var + eps) + beta, mean and var "
               f"over the last axis of each row (each time step), eps = {am.LN_EPS:g}")
    a, gamma, beta = c.a(l - 1), c.get(f"W_before/{l}"), c.get(f"b_before/{l}")
    if a is None or gamma is None or beta is None:
        return
    row = np.asarray(a[i], np.float64).reshape(-1, a.shape[-1])[0]
    out.append(f"      first row of sample {i}: mean = {row.mean():.{d}g}, "
               f"var = {row.var():.{d}g}")
    check(c.get(f"z/{l}"), am.layernorm(a, gamma, beta)[1])


def posenc_forward(c, l, out, check):
    d, spec = c.digits, c.trace.arch[l]
    a = c.a(l - 1)
    if spec["learned"]:
        out.append(f"    z[{l}] = a[{l - 1}] + P, P = b[{l}] the learned (T, d) table")
        table = c.get(f"b_before/{l}")
    else:
        out.append(f"    z[{l}] = a[{l - 1}] + PE, PE(t, 2i) = sin(t / 10000^(2i/d)), "
                   f"PE(t, 2i+1) = cos(t / 10000^(2i/d)), t = 0..T-1")
        table = am.sinusoidal(*spec["in"])
    if table is None:
        return
    out.append(f"      PE row t = 0: {arr(np.asarray(table)[0], d)}")
    if a is not None:
        check(c.get(f"z/{l}"), a + np.asarray(table).reshape(a.shape[1:]))


def skip_forward(c, l, out, check):
    source = c.trace.arch[l]["source"]
    out.append(f"    z[{l}] = a[{l - 1}] + a[{source}]: the residual block's output plus its "
               f"input")
    a_prev, a_source = c.a(l - 1), c.a(source)
    if a_prev is not None and a_source is not None:
        check(c.get(f"z/{l}"), a_prev + a_source)


def skipped_into(arch, l):
    """The Skip layer whose source is a[l] (0: none): its delta also flows into dJ/da[l]."""
    return next((k for k in range(l + 2, arch.L + 1)
                 if arch.kind(k) == "Skip" and arch[k]["source"] == l), 0)


def last_step_forward(c, l, out, check):
    out.append(f"    z[{l}] = a[{l - 1}][T]: the last time step (T = {c.trace.arch[l]['in'][0]})")
    a_prev = c.a(l - 1)
    if a_prev is not None:
        check(c.get(f"z/{l}"), a_prev[:, -1])


FORWARD = {"SelfAttention": attention_forward, "LayerNorm": layernorm_forward,
           "PositionalEncoding": posenc_forward, "Skip": skip_forward,
           "LastStep": last_step_forward}
THROUGH = {
    "SelfAttention": "dQ W_q + dK W_k + dV W_v with dQ = dS K, dK = dS^T Q, dV = A^T delta[{l}] "
                     "W_o, dS = A * (dA - rowsum(dA A)) / sqrt(d_k), dA = delta[{l}] W_o V^T",
    "LayerNorm": "1/(n sigma) (n dxhat - sum dxhat - xhat sum dxhat xhat) per row, "
                 "dxhat = delta[{l}] gamma",
    "PositionalEncoding": "delta[{l}] (a table is added)",
    "Skip": "delta[{l}] (and, by the skip path, the same delta[{l}] into the block's input)",
    "LastStep": "delta[{l}] at the last time step, 0 at the others",
}
GRADIENTS = {
    "SelfAttention": "dW[{l}] = [dW_q; dW_k; dW_v; dW_o^T] = [sum dQ^T X; sum dK^T X; "
                     "sum dV^T X; sum (A V)^T delta[{l}]] (sums over samples and steps)",
    "LayerNorm": "dgamma = dW[{l}] = sum delta[{l}] xhat, dbeta = db[{l}] = sum delta[{l}] "
                 "(over every row of the batch)",
    "PositionalEncoding": "dP = db[{l}] = sum_i delta[{l}][i] (over the batch)",
}


def explain_terms(c, spec, param, l, index, delta, X):
    """(terms, factors, labels, formula lines) of one parameter's gradient: a
    sum over the batch's samples and time steps (module notes)."""
    kind = spec["kind"]
    rows = [f"(m={ix[0]}" + (f", t={ix[1] + 1})" if len(ix) > 1 else ")")
            for ix in np.ndindex(delta.shape[:-1])]
    if kind == "PositionalEncoding":
        t, j = index
        d = delta[:, t, j]
        return d, {f"delta[{l}][m,{t},{j}]": d}, [f"m={m}" for m in range(len(d))], [
            f"  db[{l}][{t},{j}] = dP[{t},{j}] = sum_m delta[{l}][m,{t},{j}]"]
    if kind == "LayerNorm":
        j = index[0]
        if param == "b":
            d = delta[..., j]
            return d, {f"delta[{l}][m,t,{j}]": d}, rows, [
                f"  dbeta = db[{l}][{j}] = sum_(m,t) delta[{l}][m,t,{j}]"]
        xhat = am.layernorm(np.asarray(X, np.float64), 1.0, 0.0)[0][..., j]
        d = delta[..., j]
        return d * xhat, {f"delta[{l}][m,t,{j}]": d, f"xhat[m,t,{j}]": xhat}, rows, [
            f"  dgamma = dW[{l}][{j}] = sum_(m,t) delta[{l}][m,t,{j}] xhat[m,t,{j}]"]
    W, X = c.get(f"W_before/{l}"), np.asarray(X, np.float64)
    W_q, W_k, W_v, W_o = am.blocks(spec, W)
    _, K, V, A, _ = am.attention(spec, X, W)
    Q = X @ W_q.T
    dO = delta @ W_o
    dA = dO @ V.transpose(0, 2, 1)
    dS = A * (dA - (dA * A).sum(axis=2, keepdims=True)) / np.sqrt(spec["d_k"])
    j, k = index
    dk, dv = spec["d_k"], spec["d_v"]
    starts = [("q", 0, dS @ K), ("k", dk, dS.transpose(0, 2, 1) @ Q),
              ("v", 2 * dk, A.transpose(0, 2, 1) @ dO)]
    for name, start, G in starts:
        size = dv if name == "v" else dk
        if start <= j < start + size:
            g, x = G[..., j - start], X[..., k]
            return g * x, {f"d{name.upper()}[m,t,{j - start}]": g, f"X[m,t,{k}]": x}, rows, [
                f"  dW[{l}][{j},{k}] = dW_{name}[{j - start},{k}] = sum_(m,t) "
                f"d{name.upper()}[m,t,{j - start}] X[m,t,{k}]   (dS = A * (dA - rowsum(dA A)) "
                f"/ sqrt(d_k), dA = delta W_o V^T)"]
    o = (A @ V)[..., j - 2 * dk - dv]
    g = delta[..., k]
    return o * g, {f"(AV)[m,t,{j - 2 * dk - dv}]": o, f"delta[{l}][m,t,{k}]": g}, rows, [
        f"  dW[{l}][{j},{k}] = dW_o[{k},{j - 2 * dk - dv}] = sum_(m,t) (A V)[m,t,"
        f"{j - 2 * dk - dv}] delta[{l}][m,t,{k}]"]
