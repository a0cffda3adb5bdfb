"""The layer engine's training kernels: a mini-batch step and whole epochs
for any plan (``kernels/plan.py``), compiled, as ``cpu_train`` does for
stacks of dense layers.

``plan_batch_gradient`` runs one step (gather, forward with batch
statistics, loss, backward, penalties, clipping) and is what ``fit`` calls
step by step when a trace records; ``train_epochs`` runs whole epochs with
the optimizer update inlined, one compiled entry per optimizer, so the
optimizer's dispatch is pruned to that one (see ``cpu_train``'s notes).
"""
import math

import numpy as np

from .codes import (CONV2D, DENSE, H_LR, OPT_ADAGRAD, OPT_ADAM, OPT_ADAMW, OPT_NEWTON,
                    OPT_RMSPROP, OPT_SGD, P_KIND, P_NW, P_W, RNN, TRAIN_UPDATE)
from .cpu import inlined, jit, mix64
from .cpu_optim import _check, _coefficients, _update_range
from .cpu_train import (GRAD_NOT_FINITE, INTERRUPTED, LOSS_NOT_FINITE, OK, batch_scale, clip,
                        entry, gather_rows, penalize)


@jit
def plan_penalize_and_clip(plan, theta, grad, l1, l2, clip_value, clip_norm):
    """Penalties on the weights of dense, conv and RNN layers (not biases, not
    BatchNorm's gamma and beta): g_W += l2 W + l1 sign(W); then clipping.
    Returns ||g|| (inf/NaN: diverged)."""
    if l1 != 0.0 or l2 != 0.0:
        for l in range(plan.shape[0]):
            if plan[l, P_KIND] == DENSE or plan[l, P_KIND] == CONV2D or plan[l, P_KIND] == RNN:
                lo = plan[l, P_W]
                hi = lo + plan[l, P_NW]
                penalize(theta[lo:hi], grad[lo:hi], l1, l2)
    return clip(grad, clip_value, clip_norm)


@inlined
def train_step(args, order, start, m, scale, t):
    """One training step on batch rows order[start:start+m]: returns (J, status).
    The running statistics of BatchNorm layers are updated (TRAIN_UPDATE).
    The passes run through pointers: ``step_pass`` (``plan_step``'s whole or
    split pass) calls the plan's ``forward`` and ``backward``."""
    (theta, grad, plan, running, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf, x_off,
     i_buf, i_off, s_buf, y_buf, X, Y, loss, keep, seed, l1, l2, clip_value, clip_norm, forward,
     backward, kernels, step_pass, parts) = args
    n_in = X.shape[1]
    y = y_buf[:m * Y.shape[1]]
    gather_rows(X, order, start, m, a_buf[a_off[0]:a_off[0] + m * n_in])
    gather_rows(Y, order, start, m, y)
    step_seed = mix64(np.uint64(seed) + np.uint64(t))
    (f0, f1, f2, f3, f4, f5, f6, f7), (b0, b1, b2, b3, b4, b5, b6, b7) = kernels
    J = step_pass(forward, backward, plan, theta, grad, running, alphas, a_buf, a_off, z_buf,
                  z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m, y, loss, scale, keep,
                  step_seed, TRAIN_UPDATE, parts, f0, f1, f2, f3, f4, f5, f6, f7, b0, b1, b2,
                  b3, b4, b5, b6, b7)
    if not math.isfinite(J):
        return J, LOSS_NOT_FINITE
    norm = plan_penalize_and_clip(plan, theta, grad, l1, l2, clip_value, clip_norm)
    if not math.isfinite(norm):
        return J, GRAD_NOT_FINITE
    return J, OK


def batch_gradient(args, order, start, m, scale, t):
    """One step's gradient (``train_step``) without the update, for fit's
    step-by-step path; ``args`` as ``train_epochs``' ``step_args``."""
    return _step(args, order, start, m, scale, t)


def train_epochs(step_args, state, hyper, opt, t0, lrs, orders, batch_size, scale_c,
                 per_row, per_output, n_out, step_losses, stop):
    """Epochs e = 0..E-1 over the row orders ``orders[e]``: for each batch s,
    eta = lrs[e, s], then theta <- update(theta, dJ/dtheta) with optimizer
    ``opt``. The loss scale is s = scale_c / (m if per_row) / (n_L if
    per_output). Returns (status, steps done); on a non-finite loss or
    gradient it stops before updating; INTERRUPTED after the step in which
    ``stop[0]`` is set. ``step_args``: the tuple of
    ``train_step`` (theta, grad, plan, running, alphas, workspaces, X, Y, loss,
    keep, seed, l1, l2, clip_value, clip_norm, the plan's forward and backward
    passes and their kernels, the step's pass and its parts' buffers
    (``plan_step``), passes and kernels as pointers (``plan.pointer``))."""
    entry = _EPOCHS.get(opt)
    if entry is None:
        raise ValueError("train_epochs: Newton's method is not a fused update"
                         if opt == OPT_NEWTON else "train_epochs: unknown optimizer code")
    return entry(step_args, (state, hyper, opt, t0, lrs, orders, batch_size, scale_c, per_row,
                             per_output, n_out, step_losses, stop))


@inlined
def epochs(rule, step_args, loop_args):
    """train_epochs' loop for the optimizer code ``rule`` (a constant where
    inlined)."""
    (state, hyper, opt, t0, lrs, orders, batch_size, scale_c, per_row, per_output, n_out,
     step_losses, stop) = loop_args
    theta = step_args[0]
    grad = step_args[1]
    n = orders.shape[1]
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
            J, status = train_step(step_args, order, start, m, scale, t)
            step_losses[e, s] = J
            if status != OK:
                return status, t - t0 - 1
            hyper[H_LR] = lrs[e, s]
            c, f = _coefficients(rule, theta, hyper, t)
            _update_range(rule, theta, grad, state, c, f, 0, theta.shape[0])
            if stop[0] != 0:  # Ctrl-C seen by fit: stop between steps
                return INTERRUPTED, t - t0
    return OK, t - t0


def _compiled(rule):
    """The epoch loop of optimizer ``rule``: a constant closed over (numba's
    cache keys a closure by its value)."""

    @entry
    def loop(step_args, loop_args):
        return epochs(rule, step_args, loop_args)
    return loop


@jit
def _step(args, order, start, m, scale, t):
    return train_step(args, order, start, m, scale, t)


_RULES = (OPT_SGD, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM, OPT_ADAMW)
_EPOCHS = {rule: _compiled(rule) for rule in _RULES}
