"""CPU training kernels: a whole mini-batch step, and whole epochs, compiled.

The epoch loop lives in compiled code so a tiny network does not pay the
interpreter per batch. ``batch_gradient`` is also called alone, step by
step, when a trace records every step: both paths run the same kernels
(gather_rows, forward, loss_rows, backward, penalize_and_clip).

Compile time is a user-facing cost (a learner's first script compiles all
of this), and numba's grows with the depth of the call tree: each compiled
function re-optimizes and re-emits the machine code of everything it calls.
So the epoch loop calls those kernels itself rather than through
``batch_gradient`` / ``loss_and_gradient``, and it is compiled once per
optimizer (``_EPOCHS``): ``epochs`` is inlined (numba IR) into a small
entry per optimizer that passes the optimizer code as a constant, and the
optimizer's dispatch (``cpu_optim._coefficients``, ``_update_range``),
inlined too, is pruned to that one optimizer before anything is compiled.
Measured on the learner's XOR script (SGD, float32), cold cache: 11.6-12.0 s
of CPU before these changes, 6.2-6.6 s after (benchmarks/optimizations.md).
"""
import math

import numpy as np
from numba import njit
from numba.extending import register_jitable

from .codes import H_LR, OPT_ADAGRAD, OPT_ADAM, OPT_ADAMW, OPT_NEWTON, OPT_RMSPROP, OPT_SGD
from .cpu import (JIT_OPTIONS, backward, forward, inlined, jit, loss_and_gradient, loss_rows,
                  mix64)
from .cpu_optim import _check, _coefficients, _update_range

OK, LOSS_NOT_FINITE, GRAD_NOT_FINITE, INTERRUPTED = 0, 1, 2, 3


@register_jitable
def batch_scale(scale_c, per_row, per_output, m, n_out):
    """The loss's reduction factor for a batch of m rows and n_L outputs:
    s = scale_c / (m if per_row) / (n_L if per_output) (``Loss.scale_parts``).
    Plain Python too: the CUDA epoch loops on the host call it."""
    scale = scale_c
    if per_row:
        scale /= m
    if per_output:
        scale /= n_out
    return scale


@jit
def gather_rows(src, order, start, m, dst):
    """dst[i] = src[order[start + i]] for i < m: the batch, in a reused buffer
    (dst holds the m rows row-major, flat)."""
    n = src.shape[1]
    for i in range(m):
        row = order[start + i]
        for j in range(n):
            dst[i * n + j] = src[row, j]


@njit(fastmath={"reassoc"}, **JIT_OPTIONS)
def sum_squares(g):
    """sum_k g_k^2, accumulated in g's dtype in whatever order SIMD lanes
    take (reassociation allowed, NaN and inf still propagate). In order, a
    float64 sum of mnist's 101,770 float32 squares was a chain of dependent
    additions, 83 us (11% of a step); vectorized it is 3.5 us (measured)."""
    total = g.dtype.type(0)
    for k in range(g.size):
        total += g[k] * g[k]
    return total


@inlined
def penalize(W, dW, l1, l2):
    """dW += l2 W + l1 sign(W), elementwise: the gradient of
    l1 sum|W| + l2/2 sum W^2."""
    for k in range(W.size):
        sign = 1.0 if W[k] > 0 else (-1.0 if W[k] < 0 else 0.0)
        dW[k] += l2 * W[k] + l1 * sign


@inlined
def clip(grad, clip_value, clip_norm):
    """Clipping by value, g <- clamp(g, -c, c), then by global norm,
    g <- g * c / ||g|| when ||g|| > c (0 switches either off); returns
    ||g|| before the norm clip (inf/NaN: diverged). ``penalize`` and ``clip``
    are inlined into their two callers (dense and plan): compiled on their
    own, they added 0.3 s to a learner's first XOR fit (measured)."""
    if clip_value > 0:
        lo = grad.dtype.type(-clip_value)
        hi = grad.dtype.type(clip_value)
        for k in range(grad.size):
            grad[k] = min(max(grad[k], lo), hi)
    norm = math.sqrt(sum_squares(grad))
    if clip_norm > 0 and norm > clip_norm:
        factor = grad.dtype.type(clip_norm / (norm + 1e-6))  # torch.nn.utils.clip_grad_norm_
        for k in range(grad.size):
            grad[k] *= factor
    return norm


@jit
def penalize_and_clip(theta, grad, sizes, p_off, l1, l2, clip_value, clip_norm):
    """Finish dJ/dtheta before the update; returns ||g|| (inf/NaN: diverged).

    Penalties on weights (not biases): g_W += l2 W + l1 sign(W) (``penalize``),
    then ``clip``.
    """
    if l1 != 0.0 or l2 != 0.0:
        for l in range(1, sizes.shape[0]):
            start = p_off[l - 1]
            end = start + sizes[l] * sizes[l - 1]
            penalize(theta[start:end], grad[start:end], l1, l2)
    return clip(grad, clip_value, clip_norm)


@jit
def batch_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf,
                   z_off, delta_buf, y_buf, X, Y, order, start, m, loss, scale,
                   keep, seed, t, l1, l2, clip_value, clip_norm):
    """Gather batch rows order[start:start+m], run forward and backward, then
    penalties and clipping. Returns (J, status); dropout masks depend on
    (seed, t) only."""
    n_in = X.shape[1]
    y = y_buf[:m * Y.shape[1]]
    gather_rows(X, order, start, m, a_buf[a_off[0]:a_off[0] + m * n_in])
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


def train_epochs(theta, grad, state, hyper, opt, t0, lrs, sizes, acts, alphas, p_off,
                 a_buf, a_off, z_buf, z_off, delta_buf, y_buf, X, Y, orders,
                 batch_size, loss, scale_c, per_row, per_output, keep, seed,
                 l1, l2, clip_value, clip_norm, step_losses, stop):
    """Epochs e = 0..E-1 over the row orders ``orders[e]``: for each batch s,
    eta = lrs[e, s], then theta <- update(theta, dJ/dtheta) with optimizer ``opt``.

    The loss scale is s = scale_c / (m if per_row) / (n_L if per_output)
    for a batch of m rows (the last batch may be smaller). Returns
    (status, steps done); on a non-finite loss or gradient it stops
    before updating, leaving that step's numbers in the workspaces; when
    ``stop[0]`` is set it returns INTERRUPTED after the step it is in.
    One compiled loop per optimizer (``_EPOCHS[opt]``, see the module notes).
    """
    entry = _EPOCHS.get(opt)
    if entry is None:
        raise ValueError("train_epochs: Newton's method is not a fused update"
                         if opt == OPT_NEWTON else "train_epochs: unknown optimizer code")
    return entry((theta, grad, state, hyper, opt, t0, lrs, sizes, acts, alphas, p_off,
                  a_buf, a_off, z_buf, z_off, delta_buf, y_buf, X, Y, orders,
                  batch_size, loss, scale_c, per_row, per_output, keep, seed,
                  l1, l2, clip_value, clip_norm, step_losses, stop))


@inlined
def epochs(rule, args):
    """train_epochs' loop, for the optimizer code ``rule`` (a constant where
    it is inlined) and the arguments of train_epochs as one tuple."""
    (theta, grad, state, hyper, opt, t0, lrs, sizes, acts, alphas, p_off,
     a_buf, a_off, z_buf, z_off, delta_buf, y_buf, X, Y, orders,
     batch_size, loss, scale_c, per_row, per_output, keep, seed,
     l1, l2, clip_value, clip_norm, step_losses, stop) = args
    n, n_in = X.shape
    n_out = Y.shape[1]
    L = sizes.shape[0] - 1
    zL = z_off[L - 1]
    aL = a_off[L]
    n_steps = (n + batch_size - 1) // batch_size
    _check(opt, theta, grad, state, hyper, t0 + 1)
    t = t0
    for e in range(orders.shape[0]):
        order = orders[e]
        for s in range(n_steps):
            start = s * batch_size
            m = min(batch_size, n - start)
            scale = batch_scale(scale_c, per_row, per_output, m, n_out)
            t += 1
            # batch_gradient's steps, written out: one call level less to compile
            y = y_buf[:m * n_out]
            gather_rows(X, order, start, m, a_buf[a_off[0]:a_off[0] + m * n_in])
            gather_rows(Y, order, start, m, y)
            step_seed = mix64(np.uint64(seed) + np.uint64(t))
            forward(theta, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, m, keep,
                    step_seed)
            J = loss_rows(loss, scale, acts[L - 1], alphas[L - 1], z_buf[zL:zL + m * n_out],
                          a_buf[aL:aL + m * n_out], y, delta_buf[zL:zL + m * n_out], m, n_out)
            backward(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                     delta_buf, m, keep, step_seed)
            step_losses[e, s] = J
            if not math.isfinite(J):
                return LOSS_NOT_FINITE, t - t0 - 1
            norm = penalize_and_clip(theta, grad, sizes, p_off, l1, l2, clip_value, clip_norm)
            if not math.isfinite(norm):
                return GRAD_NOT_FINITE, t - t0 - 1
            hyper[H_LR] = lrs[e, s]
            c, f = _coefficients(rule, theta, hyper, t)
            _update_range(rule, theta, grad, state, c, f, 0, theta.shape[0])
            if stop[0] != 0:  # Ctrl-C seen by fit (training.py): stop between steps
                return INTERRUPTED, t - t0
    return OK, t - t0


# The entries release the GIL: fit runs long blocks in a worker thread, so
# that the main thread can take a Ctrl-C and raise ``stop`` (training.py).
entry = njit(nogil=True, **JIT_OPTIONS)


@entry
def _epochs_sgd(args):
    return epochs(OPT_SGD, args)


@entry
def _epochs_adagrad(args):
    return epochs(OPT_ADAGRAD, args)


@entry
def _epochs_rmsprop(args):
    return epochs(OPT_RMSPROP, args)


@entry
def _epochs_adam(args):
    return epochs(OPT_ADAM, args)


@entry
def _epochs_adamw(args):
    return epochs(OPT_ADAMW, args)


_EPOCHS = {OPT_SGD: _epochs_sgd, OPT_ADAGRAD: _epochs_adagrad, OPT_RMSPROP: _epochs_rmsprop,
           OPT_ADAM: _epochs_adam, OPT_ADAMW: _epochs_adamw}
