"""Batch and layer normalization kernels (``numba.njit``), PyTorch's BatchNorm1d/2d
and LayerNorm.

A BatchNorm layer normalizes each channel c (each unit after a dense layer)
over the N = m H W values it takes in a batch (H = W = 1 after a dense
layer). In ``z[l] = gamma * xhat + beta`` the layer's ``W[l]`` is gamma and
its ``b[l]`` is beta, both of shape (C,), views into theta as for every layer.

``stats`` (float, 2 C + m C H W): the batch mean mu[c], then 1/sigma[c] =
1/sqrt(var[c] + eps), then xhat, kept for the backward pass.
``running`` (2 C): running mean, then running variance.
"""
import math

from numba.extending import register_jitable

from .cpu import inlined, jit
from .pointers import pointable

EPS = 1e-5  # PyTorch's defaults
MOMENTUM = 0.1


# ---------------------------------------------------------------- formulas shared with the GPU
# (called by these kernels and by their CUDA twins in cuda_layers.py: written once)

@register_jitable
def update_running(running, C, c, mu, var, N):
    """running_mean[c] <- (1 - 0.1) running_mean[c] + 0.1 mu,
    running_var[c] <- (1 - 0.1) running_var[c] + 0.1 var N / (N - 1) (unbiased)."""
    running[c] = (1.0 - MOMENTUM) * running[c] + MOMENTUM * mu
    running[C + c] = (1.0 - MOMENTUM) * running[C + c] + MOMENTUM * var * N / (N - 1)


@register_jitable
def inverse_std(var):
    """1 / sigma = 1 / sqrt(var + eps)."""
    return 1.0 / math.sqrt(var + EPS)


@register_jitable
def normalized(x, mu, inv, g, bt):
    """(xhat, z): xhat = (x - mu) / sigma, z = gamma xhat + beta."""
    xh = (x - mu) * inv
    return xh, g * xh + bt


@register_jitable
def input_delta(d, xh, k, N, sum_d, sum_dx, mode):
    """dJ/da[l-1] for one element, k = gamma / sigma: in training
    k / N (N delta - sum delta - xhat sum delta xhat); in eval k delta."""
    if mode == 0:
        return k * d
    return k / N * (N * d - sum_d - xh * sum_dx)


@pointable
def batchnorm_forward(gamma, beta, running, a_prev, z, stats, m, C, S, mode):
    """z[l][i, c, s] = gamma[c] xhat[i, c, s] + beta[c], with
    xhat = (a[l-1] - mu[c]) / sqrt(var[c] + eps).

    mode 0 (eval): mu, var = the running statistics. Training (mode 1, 2):
    mu = 1/N sum a, var = 1/N sum (a - mu)^2 over the batch (biased);
    mode 2 also updates the running statistics as PyTorch does:
    running_mean <- (1 - 0.1) running_mean + 0.1 mu,
    running_var  <- (1 - 0.1) running_var + 0.1 var N / (N - 1)  (unbiased).
    """
    N = m * S
    mean = stats[:C]
    inv_std = stats[C:2 * C]
    xhat = stats[2 * C:2 * C + m * C * S]
    for c in range(C):
        if mode == 0:
            mu = running[c]
            var = running[C + c]
        else:
            total = 0.0
            for i in range(m):
                x = a_prev[(i * C + c) * S:(i * C + c + 1) * S]
                for s in range(S):
                    total += x[s]
            mu = total / N
            total = 0.0
            for i in range(m):
                x = a_prev[(i * C + c) * S:(i * C + c + 1) * S]
                for s in range(S):
                    d = x[s] - mu
                    total += d * d
            var = total / N
            if mode == 2:
                update_running(running, C, c, mu, var, N)
        inv = inverse_std(var)
        mean[c] = mu
        inv_std[c] = inv
        g = gamma[c]
        bt = beta[c]
        for i in range(m):
            lo = (i * C + c) * S
            for s in range(S):
                xh, zs = normalized(a_prev[lo + s], mu, inv, g, bt)
                xhat[lo + s] = xh
                z[lo + s] = zs


@pointable
def batchnorm_backward(gamma, dgamma, dbeta, delta, stats, delta_prev, need_prev,
                       m, C, S, mode):
    """Gradients of a BatchNorm layer from delta[l] = dJ/dz[l]:

        dgamma[c] = sum_{i,s} delta[i, c, s] xhat[i, c, s],  dbeta[c] = sum_{i,s} delta[i, c, s],

    and, in training (the full formula through the batch mean and variance,
    which both depend on every a[l-1] of the channel):

        dJ/da[l-1] = gamma / (N sigma) (N delta - dbeta - xhat dgamma);

    in eval mode (constant statistics) dJ/da[l-1] = gamma delta / sigma.
    """
    N = m * S
    inv_std = stats[C:2 * C]
    xhat = stats[2 * C:2 * C + m * C * S]
    for c in range(C):
        sum_d = 0.0
        sum_dx = 0.0
        for i in range(m):
            lo = (i * C + c) * S
            for s in range(S):
                sum_d += delta[lo + s]
                sum_dx += delta[lo + s] * xhat[lo + s]
        dgamma[c] = sum_dx
        dbeta[c] = sum_d
        if not need_prev:
            continue
        k = gamma[c] * inv_std[c]
        for i in range(m):
            lo = (i * C + c) * S
            for s in range(S):
                delta_prev[lo + s] = input_delta(delta[lo + s], xhat[lo + s], k, N, sum_d,
                                                 sum_dx, mode)


@jit
def layernorm_forward(gamma, beta, a_prev, z, stats, rows, n):
    """Layer normalization (PyTorch's LayerNorm over the last axis): each row r
    of n features is normalized by its own statistics,
        z[r, j] = gamma[j] xhat[r, j] + beta[j],  xhat = (a[l-1] - mu_r) / sqrt(var_r + eps),
    mu_r, var_r (biased) over the row; training and eval alike (no running
    statistics). ``stats``: 1/sigma_r for every row, then xhat."""
    inv_std = stats[:rows]
    xhat = stats[rows:rows + rows * n]
    for r in range(rows):
        x = a_prev[r * n:(r + 1) * n]
        total = 0.0
        for j in range(n):
            total += x[j]
        mu = total / n
        total = 0.0
        for j in range(n):
            d = x[j] - mu
            total += d * d
        inv = inverse_std(total / n)
        inv_std[r] = inv
        for j in range(n):
            xh, zj = normalized(x[j], mu, inv, gamma[j], beta[j])
            xhat[r * n + j] = xh
            z[r * n + j] = zj


@jit
def layernorm_backward(gamma, dgamma, dbeta, delta, stats, delta_prev, need_prev, rows, n):
    """dgamma[j] = sum_r delta[r, j] xhat[r, j], dbeta[j] = sum_r delta[r, j];
    through each row's own mean and variance, with dxhat = delta gamma,
        dJ/da[l-1][r] = 1 / (n sigma_r) (n dxhat - sum_j dxhat - xhat sum_j dxhat xhat)."""
    inv_std = stats[:rows]
    xhat = stats[rows:rows + rows * n]
    for j in range(n):
        dgamma[j] = 0.0
        dbeta[j] = 0.0
    for r in range(rows):
        sum_d = 0.0
        sum_dx = 0.0
        for j in range(n):
            d = delta[r * n + j]
            dgamma[j] += d * xhat[r * n + j]
            dbeta[j] += d
            sum_d += d * gamma[j]
            sum_dx += d * gamma[j] * xhat[r * n + j]
        if need_prev:
            for j in range(n):
                k = r * n + j
                delta_prev[k] = input_delta(delta[k] * gamma[j], xhat[k], inv_std[r], n, sum_d,
                                            sum_dx, 1)
