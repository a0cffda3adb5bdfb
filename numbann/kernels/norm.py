"""Batch normalization kernels (``numba.njit``), PyTorch's BatchNorm1d/2d.

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

from .cpu import inlined

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


@inlined
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


@inlined
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
