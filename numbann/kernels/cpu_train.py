"""CPU training kernels: a whole mini-batch step, and whole epochs, compiled.

The epoch loop lives in compiled code so a tiny network does not pay the
interpreter per batch. ``batch_gradient`` is also called alone, step by
step, when a trace records every step: both paths run the same code.
"""
import math

import numpy as np

from .cpu import jit, layer_rows, layer_W, loss_and_gradient, mix64
from .cpu_optim import optimizer_update

OK, LOSS_NOT_FINITE, GRAD_NOT_FINITE = 0, 1, 2


@jit
def gather_rows(src, order, start, m, dst):
    """dst[i] = src[order[start + i]] for i < m: the batch, in a reused buffer."""
    n = src.shape[1]
    for i in range(m):
        row = order[start + i]
        for j in range(n):
            dst[i, j] = src[row, j]


@jit
def penalize_and_clip(theta, grad, sizes, p_off, l1, l2, clip_value, clip_norm):
    """Finish dJ/dtheta before the update; returns ||g|| (inf/NaN: diverged).

    Penalties on weights (not biases): g_W += l2 W + l1 sign(W), the
    gradient of l1 sum|W| + l2/2 sum W^2. Then clipping by value,
    g <- clamp(g, -c, c), and by global norm, g <- g * c / ||g|| when
    ||g|| > c (0 switches either off).
    """
    if l1 != 0.0 or l2 != 0.0:
        for l in range(1, sizes.shape[0]):
            W = layer_W(theta, sizes, p_off, l).reshape(-1)
            dW = layer_W(grad, sizes, p_off, l).reshape(-1)
            for k in range(W.size):
                sign = 1.0 if W[k] > 0 else (-1.0 if W[k] < 0 else 0.0)
                dW[k] += l2 * W[k] + l1 * sign
    if clip_value > 0:
        for k in range(grad.size):
            grad[k] = min(max(grad[k], -clip_value), clip_value)
    sum_sq = 0.0
    for k in range(grad.size):
        sum_sq += grad[k] * grad[k]
    norm = math.sqrt(sum_sq)
    if clip_norm > 0 and norm > clip_norm:
        factor = grad.dtype.type(clip_norm / (norm + 1e-6))  # torch.nn.utils.clip_grad_norm_
        for k in range(grad.size):
            grad[k] *= factor
    return norm


@jit
def batch_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf,
                   z_off, delta_buf, y_buf, X, Y, order, start, m, loss, scale,
                   keep, seed, t, l1, l2, clip_value, clip_norm):
    """Gather batch rows order[start:start+m], run forward and backward, then
    penalties and clipping. Returns (J, status); dropout masks depend on
    (seed, t) only."""
    L = sizes.shape[0] - 1
    gather_rows(X, order, start, m, layer_rows(a_buf, a_off[0], sizes[0], m))
    y = layer_rows(y_buf, 0, sizes[L], m)
    gather_rows(Y, order, start, m, y)
    step_seed = mix64(np.uint64(seed) + np.uint64(t))
    J = loss_and_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off,
                          z_buf, z_off, delta_buf, m, y, loss, scale, keep, step_seed)
    if not math.isfinite(J):
        return J, LOSS_NOT_FINITE
    norm = penalize_and_clip(theta, grad, sizes, p_off, l1, l2, clip_value, clip_norm)
    if not math.isfinite(norm):
        return J, GRAD_NOT_FINITE
    return J, OK


@jit
def train_epochs(theta, grad, state, hyper, opt, t0, lrs, sizes, acts, alphas, p_off,
                 a_buf, a_off, z_buf, z_off, delta_buf, y_buf, X, Y, orders,
                 batch_size, loss, scale_c, per_row, per_output, keep, seed,
                 l1, l2, clip_value, clip_norm, step_losses):
    """Epochs e = 0..E-1 over the row orders ``orders[e]``: for each batch s,
    eta = lrs[e, s], then theta <- update(theta, dJ/dtheta) with optimizer ``opt``.

    The loss scale is s = scale_c / (m if per_row) / (n_L if per_output)
    for a batch of m rows (the last batch may be smaller). Returns
    (status, steps done); on a non-finite loss or gradient it stops
    before updating, leaving that step's numbers in the workspaces.
    """
    n = X.shape[0]
    n_out = sizes[sizes.shape[0] - 1]
    n_steps = (n + batch_size - 1) // batch_size
    t = t0
    for e in range(orders.shape[0]):
        for s in range(n_steps):
            start = s * batch_size
            m = min(batch_size, n - start)
            scale = scale_c
            if per_row:
                scale /= m
            if per_output:
                scale /= n_out
            t += 1
            J, status = batch_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off,
                                       z_buf, z_off, delta_buf, y_buf, X, Y, orders[e], start,
                                       m, loss, scale, keep, seed, t, l1, l2, clip_value,
                                       clip_norm)
            step_losses[e, s] = J
            if status != OK:
                return status, t - t0 - 1
            hyper[0] = lrs[e, s]
            optimizer_update(opt, theta, grad, state, hyper, t)
    return OK, t - t0
