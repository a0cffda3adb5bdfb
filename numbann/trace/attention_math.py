"""Self-attention, layer normalization and positional encodings in NumPy,
independent of the kernels, for checking a recorded step (the notation of
``numbann/kernels/attention.py``; per sample X is (T, d), rows are steps):

    Q = X W_q^T, K = X W_k^T, V = X W_v^T,  A = softmax(Q K^T / sqrt(d_k)),  z = A V W_o^T
    dS = A * (dA - rowsum(dA * A)) / sqrt(d_k) with dA = delta W_o V^T
"""
import numpy as np

LN_EPS = 1e-5  # PyTorch's LayerNorm default


def blocks(spec, W):
    """W_q, W_k, W_v (rows of W[l]) and W_o (d, d_v)."""
    k, v = spec["d_k"], spec["d_v"]
    W = np.asarray(W, np.float64)
    return W[:k], W[k:2 * k], W[2 * k:2 * k + v], W[2 * k + v:].T


def attention(spec, X, W):
    """(Q, K, V, A, z) for a batch X (m, T, d)."""
    W_q, W_k, W_v, W_o = blocks(spec, W)
    X = np.asarray(X, np.float64)
    Q, K, V = X @ W_q.T, X @ W_k.T, X @ W_v.T
    S = Q @ K.transpose(0, 2, 1) / np.sqrt(spec["d_k"])
    if spec["causal"]:
        T = S.shape[1]
        S = np.where(np.triu(np.ones((T, T), bool), 1), -np.inf, S)
    A = np.exp(S - S.max(axis=2, keepdims=True))
    A /= A.sum(axis=2, keepdims=True)
    return Q, K, V, A, (A @ V) @ W_o.T


def attention_backward(spec, delta, X, W):
    """(dA, dW, dJ/dX) from delta = dJ/dz (m, T, d)."""
    W_q, W_k, W_v, W_o = blocks(spec, W)
    X, delta = np.asarray(X, np.float64), np.asarray(delta, np.float64)
    Q, K, V, A, _ = attention(spec, X, W)
    dO = delta @ W_o
    dA = dO @ V.transpose(0, 2, 1)
    dS = A * (dA - (dA * A).sum(axis=2, keepdims=True)) / np.sqrt(spec["d_k"])
    dQ, dK, dV = dS @ K, dS.transpose(0, 2, 1) @ Q, A.transpose(0, 2, 1) @ dO
    flat = X.reshape(-1, X.shape[-1])

    def outer(G):
        return G.reshape(-1, G.shape[-1]).T @ flat

    O = A @ V
    dW = np.vstack([outer(dQ), outer(dK), outer(dV),
                    O.reshape(-1, O.shape[-1]).T @ delta.reshape(-1, delta.shape[-1])])
    return dA, dW, dQ @ W_q + dK @ W_k + dV @ W_v


def layernorm(a, gamma, beta):
    """(xhat, z) over the last axis."""
    a = np.asarray(a, np.float64)
    xhat = (a - a.mean(axis=-1, keepdims=True)) / np.sqrt(a.var(axis=-1, keepdims=True) + LN_EPS)
    return xhat, gamma * xhat + beta


def layernorm_backward(delta, a, gamma):
    """(dgamma, dbeta, dJ/da) through each row's own mean and variance."""
    xhat, _ = layernorm(a, gamma, 0.0)
    inv = 1 / np.sqrt(np.asarray(a, np.float64).var(axis=-1, keepdims=True) + LN_EPS)
    n = xhat.shape[-1]
    dxhat = delta * gamma
    rows = (-1, n)
    dgamma = (delta * xhat).reshape(rows).sum(axis=0)
    dbeta = np.asarray(delta).reshape(rows).sum(axis=0)
    da = inv / n * (n * dxhat - dxhat.sum(axis=-1, keepdims=True)
                    - xhat * (dxhat * xhat).sum(axis=-1, keepdims=True))
    return dgamma, dbeta, da


def sinusoidal(T, d):
    """PE (T, d): sin(t / 10000^(2i/d)) at column 2i, cos at 2i + 1, t = 0..T-1."""
    t = np.arange(T)[:, None]
    column = np.arange(d)[None, :]
    angle = t / 10000.0 ** ((column - column % 2) / d)
    return np.where(column % 2 == 0, np.sin(angle), np.cos(angle))
