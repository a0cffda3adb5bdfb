"""The layer engine on the GPU: the twins of ``plan.py`` and ``plan_train.py``.

``plan_forward``, ``plan_backward``, ``plan_loss`` and
``plan_loss_and_gradient`` take the CPU functions' arguments, with device
arrays for ``theta``, ``grad``, ``running`` and the workspace buffers
(``a_buf``, ``z_buf``, ``delta_buf``, ``x_buf``, ``i_buf``, ``s_buf``, ``y``)
and host arrays for ``plan``, ``alphas``, ``keep`` and the offsets, which
the host loop reads to launch one kernel (or a few) per layer: dense layers
through the register-tiled kernels of ``cuda_gemm.py`` (product, bias,
activation and dropout fused), the other kinds through ``cuda_layers.py``, each followed by
one elementwise kernel for its activation and dropout (forward) or dropout
mask and slope g'(z[l-1]) (backward). The layout, dropout indices and step
seeds are the CPU's, so a step gives the CPU's numbers to rounding.

``train_epochs`` is ``plan_train.train_epochs`` queued on the device as
``cuda_train.train_epochs`` does for stacks of dense layers: gather
(inputs and targets in one launch), forward (BatchNorm running statistics
updated), loss, backward, penalties on dense and conv weights only,
clip_value and the sums of squares, then the finite check, clip_norm and
the update in one launch (``cuda_step.checked_update``);
one copy of the step losses at the end. After a non-finite step the device
flag stops the updates and the running statistics where the CPU stops.
"""
import numpy as np
from numba import cuda

from . import cuda as ck
from . import cuda_gemm
from . import cuda_layers as cl
from . import cuda_sequence as cs
from .codes import (ATTENTION, AVGPOOL2D, BATCHNORM, CONV2D, DENSE, FLATTEN, H_LR, IDENTITY,
                    LAST_STEP, LAYERNORM, MAXPOOL2D, P_ACT, P_CIN, P_COUT, P_FLAG, P_HIN, P_HOUT, P_KH,
                    P_KIND, P_KW, P_NB, P_NW, P_PAD_H, P_PAD_W, P_RUN, P_SKIP_FROM, P_SKIP_TO,
                    P_STRIDE, P_W, P_WIN, P_WOUT, POSENC, RNN, SKIP, SOFTMAX, TRAIN_UPDATE)
from .cuda_rnn import rnn_backward, rnn_forward
from .cuda_math import activation, dropped, times_slope
from .cuda_gemm import launch_backward_layer
from .cuda_step import Update, check_only, gather_batch
from .cuda_train import (Scratch, block_result, block_steps, norm_kernel, penalize_weights,
                         step_seed)


@cuda.jit
def activate_from(src, z, a, count, code, alpha, keep, mask, offset):
    """z = src (Flatten: the same numbers; otherwise src is z), then
    a = g(z) and inverted dropout on a (dropout index offset + k; keep and
    mask from ``cuda.dropout_args``); a softmax g is left to softmax_rows."""
    k = cuda.grid(1)
    if k < count:
        zk = src[k]
        z[k] = zk
        if code != SOFTMAX:
            ak = activation(code, alpha, zk)
            if keep < 1.0:
                ak = dropped(ak, keep, mask, offset + k)
            a[k] = ak


@cuda.jit
def finish_delta(src, delta, z, a, count, code, alpha, keep, mask, offset):
    """delta[l-1] = dJ/da[l-1] (in src) times the dropout mask / keep of a[l-1]
    (index offset + k), times g'(z[l-1]) (a holds g(z) / keep); for a softmax g
    only the mask (softmax_jacobian_rows follows)."""
    k = cuda.grid(1)
    if k < count:
        d = src[k]
        if keep < 1.0:
            d = dropped(d, keep, mask, offset + k)
        if code != SOFTMAX:
            d = times_slope(code, alpha, z[k], a[k] * keep, d)
        delta[k] = d


def _no_delta(theta):
    """(act, alpha, keep, mask) for a backward launch without delta[l-1]."""
    return (IDENTITY, ck.of_dtype(theta, 0.0), *ck.dropout_args(theta, 1.0, 0))


def _sizes(r):
    return r[P_CIN] * r[P_HIN] * r[P_WIN], r[P_COUT] * r[P_HOUT] * r[P_WOUT]


def plan_forward(plan, theta, running, alphas, a_buf, a_off, z_buf, z_off, x_buf, x_off,
                 i_buf, i_off, s_buf, m, keep, seed, mode, halt=None, softmax_last=True):
    """plan.plan_forward on the device: for l = 1..L, z[l] = f_l(a[l-1]),
    a[l] = g_l(z[l]), then (keep[l-1] < 1) inverted dropout on a[l]. ``halt``:
    the training loop's device flag (BatchNorm's running statistics stay
    while it is raised); ``softmax_last`` False leaves a softmax a[L] to the
    loss head."""
    T = ck.THREADS
    layers = plan.tolist()  # the plan's rows as Python ints
    for l in range(1, plan.shape[0] + 1):
        r = layers[l - 1]
        kind, act, alpha = r[P_KIND], r[P_ACT], ck.of_dtype(theta, alphas[l - 1])
        keep_l, mask = ck.dropout_args(theta, keep[l - 1], seed)
        n_in, n = _sizes(r)
        ai, ao, zo = int(a_off[l - 1]), int(a_off[l]), int(z_off[l - 1])
        w = r[P_W]
        wb = w + r[P_NW]
        C, H, W, Co, Ho, Wo = r[P_CIN], r[P_HIN], r[P_WIN], r[P_COUT], r[P_HOUT], r[P_WOUT]
        kh, kw, s = r[P_KH], r[P_KW], r[P_STRIDE]
        a_prev, z = a_buf[ai:ai + m * n_in], z_buf[zo:zo + m * n]
        if kind == DENSE:  # per time step: m T rows of n_in / T values
            steps = C if r[P_FLAG] else 1
            rows, n_in, n = m * steps, n_in // steps, n // steps
            cuda_gemm.dense_forward(
                theta, w, wb, a_buf, ai, ao, z_buf, zo, rows, n_in, n, act, alpha, keep_l, mask)
        else:
            if kind == CONV2D:
                xo = int(x_off[l - 1])
                cl.conv_forward(theta[w:wb], theta[wb:wb + Co], a_prev, z,
                                x_buf[xo:xo + m * Ho * Wo * C * kh * kw], s_buf, m, C, H, W, Co,
                                kh, kw, s, r[P_PAD_H], r[P_PAD_W], Ho, Wo)
            elif kind == MAXPOOL2D:
                io = int(i_off[l - 1])
                cl.maxpool_forward(a_prev, z, i_buf[io:io + m * n], m, C, H, W, kh, kw, s, Ho, Wo)
            elif kind == AVGPOOL2D:
                cl.avgpool_forward(a_prev, z, m, C, H, W, kh, kw, s, Ho, Wo)
            elif kind == BATCHNORM:
                cl.batchnorm_forward(theta[w:wb], theta[wb:wb + C],
                                     running[r[P_RUN]:r[P_RUN] + 2 * C], a_prev, z,
                                     x_buf[int(x_off[l - 1]):], m, C, H * W, mode, halt)
            elif kind == RNN:
                rnn_forward(theta[w:wb], theta[wb:wb + r[P_NB]], a_prev, z,
                            x_buf[int(x_off[l - 1]):], m, C, H, r[P_NB], act, alpha,
                            r[P_FLAG])
            elif kind == LAYERNORM:
                cs.layernorm_forward(theta[w:wb], theta[wb:wb + kh], a_prev, z,
                                     x_buf[int(x_off[l - 1]):], m * n_in // kh, kh)
            elif kind == ATTENTION:
                cs.attention_forward(theta[w:wb], a_prev, z, x_buf[int(x_off[l - 1]):], m, C, H,
                                     kh, kw, r[P_FLAG])
            elif kind == POSENC:
                cs.posenc_forward(theta[wb:wb + r[P_NB]], a_prev, z, m, C, H, r[P_FLAG])
            elif kind == LAST_STEP:
                cs.last_step_forward(a_prev, z, m, C, n)
            elif kind == SKIP:
                src = int(a_off[r[P_SKIP_FROM]])
                cs.add(a_prev, a_buf[src:src + m * n], z, m * n)
            activate_from[ck.blocks(m * n), T](a_prev if kind == FLATTEN else z, z,
                                               a_buf[ao:ao + m * n], m * n, act, alpha, keep_l,
                                               mask, ao)
        if act == SOFTMAX and (softmax_last or l < plan.shape[0]):
            ck.softmax_rows[ck.blocks(m), T](z_buf, zo, a_buf, ao, m, n, keep_l, mask)


def plan_backward(plan, theta, grad, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf,
                  x_off, i_buf, i_off, s_buf, m, keep, seed, mode):
    """plan.plan_backward on the device, given delta[L] in delta_buf: for
    l = L..1, dW[l] and db[l] into grad, and for l > 1 delta[l-1] = dJ/da[l-1]
    (through f_l) times the dropout mask / keep, times g'_{l-1}(z[l-1])."""
    T = ck.THREADS
    layers = plan.tolist()  # the plan's rows as Python ints
    for l in range(plan.shape[0], 0, -1):
        r = layers[l - 1]
        kind = r[P_KIND]
        n_in, n = _sizes(r)
        need_prev = l > 1
        ai, zo = int(a_off[l - 1]), int(z_off[l - 1])
        zp = int(z_off[l - 2]) if need_prev else 0
        w = r[P_W]
        wb = w + r[P_NW]
        C, H, W, Co, Ho, Wo = r[P_CIN], r[P_HIN], r[P_WIN], r[P_COUT], r[P_HOUT], r[P_WOUT]
        kh, kw, s = r[P_KH], r[P_KW], r[P_STRIDE]
        delta = delta_buf[zo:zo + m * n]
        delta_prev = delta_buf[zp:zp + m * n_in] if need_prev else delta_buf[:0]
        skip = r[P_SKIP_TO]
        if need_prev:
            act, alpha = layers[l - 2][P_ACT], ck.of_dtype(theta, alphas[l - 2])
            keep_p, mask = ck.dropout_args(theta, keep[l - 2], seed)
        if kind == DENSE:
            steps = C if r[P_FLAG] else 1
            rows, n_in_step, n_step = m * steps, n_in // steps, n // steps
            fused = need_prev and not skip  # dW[l] and delta[l-1] in one launch
            launch_backward_layer(theta, grad, w, wb, delta_buf, zo, a_buf, ai, rows, n_step,
                                  n_in_step, fused, zp, z_buf, *((act, alpha, keep_p, mask)
                                                                 if fused else _no_delta(theta)))
            if need_prev and skip:  # dJ/da[l-1] = delta W, unfused: the residual's delta joins it
                cs.product(delta, n_step, 1, theta[w:wb], n_in_step, 1, delta_prev, n_in_step,
                           rows, n_in_step, n_step)
        elif kind == CONV2D:
            M, K, xo = m * Ho * Wo, C * kh * kw, int(x_off[l - 1])
            cl.conv_backward(theta[w:wb], grad[w:wb], grad[wb:wb + Co], delta,
                             x_buf[xo:xo + M * K], s_buf[:M * Co], s_buf[M * Co:M * (Co + K)],
                             delta_prev, need_prev, m, C, H, W, Co, kh, kw, s, r[P_PAD_H],
                             r[P_PAD_W], Ho, Wo)
        elif kind == MAXPOOL2D and need_prev:
            io = int(i_off[l - 1])
            cl.maxpool_backward(delta, i_buf[io:io + m * n], delta_prev, m, C, H, W, Ho, Wo,
                                kh, kw, s)
        elif kind == AVGPOOL2D and need_prev:
            cl.avgpool_backward(delta, delta_prev, m, C, H, W, kh, kw, s, Ho, Wo)
        elif kind == BATCHNORM:
            cl.batchnorm_backward(theta[w:wb], grad[w:wb], grad[wb:wb + C], delta,
                                  x_buf[int(x_off[l - 1]):], delta_prev, need_prev, m, C,
                                  H * W, mode)
        elif kind == RNN:
            rnn_backward(theta[w:wb], grad[w:wb], grad[wb:wb + r[P_NB]], delta,
                         a_buf[ai:ai + m * n_in], x_buf[int(x_off[l - 1]):], delta_prev,
                         need_prev, m, C, H, r[P_NB], r[P_ACT], float(alphas[l - 1]),
                         r[P_FLAG])
        elif kind == LAYERNORM:
            cs.layernorm_backward(theta[w:wb], grad[w:wb], grad[wb:wb + kh], delta,
                                  x_buf[int(x_off[l - 1]):], delta_prev, need_prev,
                                  m * n_in // kh, kh)
        elif kind == ATTENTION:
            cs.attention_backward(theta[w:wb], grad[w:wb], delta, a_buf[ai:ai + m * n_in],
                                  x_buf[int(x_off[l - 1]):], delta_prev, need_prev, s_buf, m, C,
                                  H, kh, kw, r[P_FLAG])
        elif kind == POSENC:
            cs.posenc_backward(grad[wb:wb + r[P_NB]], delta, delta_prev, need_prev, m, C, H,
                               r[P_FLAG])
        elif kind == LAST_STEP and need_prev:
            cs.last_step_backward(delta, delta_prev, m, C, n)
        elif kind == SKIP:  # delta[l] flows on to a[l-1] and, kept, to a[source]
            cs.copy(delta, x_buf[int(x_off[l - 1]):], m * n)
        if not need_prev:
            continue
        if kind in (FLATTEN, SKIP):
            cs.copy(delta, delta_prev, m * n)
        if skip:  # the input of a residual block also reaches its Skip layer
            kept = int(x_off[skip - 1])
            cs.add(delta_prev, x_buf[kept:kept + m * n_in], delta_prev, m * n_in)
        if (kind != DENSE or skip) and (keep_p < 1.0 or act != IDENTITY):
            finish_delta[ck.blocks(m * n_in), T](
                delta_prev, delta_prev, z_buf[zp:zp + m * n_in], a_buf[ai:ai + m * n_in],
                m * n_in, act, alpha, keep_p, mask, ai)
        if act == SOFTMAX:
            ck.softmax_jacobian_rows[ck.blocks(m), T](a_buf, ai, delta_buf, zp, m, n_in)


def plan_loss_into(plan, alphas, a_buf, a_off, z_buf, z_off, delta_buf, m, y, loss, scale,
                   losses, slot, activate=False):
    """plan_loss, leaving J in losses[slot] (a float64 device array): no sync;
    ``activate``: a softmax a[L] is computed by the loss head."""
    L = plan.shape[0]
    n = _sizes(plan[L - 1].tolist())[1]
    zo = int(z_off[L - 1])
    ck.loss_head_for(z_buf)(loss, scale, int(plan[L - 1, P_ACT]),
                            ck.of_dtype(z_buf, alphas[L - 1]), z_buf, zo, a_buf, int(a_off[L]),
                            y, 0, delta_buf, zo, m, n, losses, slot, activate)


def plan_loss(plan, alphas, a_buf, a_off, z_buf, z_off, delta_buf, m, y, loss, scale):
    """J(a[L], y) as a float and delta[L] = dJ/dz[L] (plan.plan_loss)."""
    J = cuda.device_array(1, np.float64)
    plan_loss_into(plan, alphas, a_buf, a_off, z_buf, z_off, delta_buf, m, y, loss, scale, J, 0)
    return float(J.copy_to_host()[0])


def plan_loss_and_gradient_into(plan, theta, grad, running, alphas, a_buf, a_off, z_buf, z_off,
                                delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m, y, loss, scale,
                                keep, seed, mode, losses, slot, halt=None):
    """plan_loss_and_gradient, leaving J in losses[slot]: no sync. A softmax
    output without dropout is computed by the loss head (one launch fewer)."""
    L = plan.shape[0]
    fold = int(plan[L - 1, P_ACT]) == SOFTMAX and keep[L - 1] >= 1
    plan_forward(plan, theta, running, alphas, a_buf, a_off, z_buf, z_off, x_buf, x_off, i_buf,
                 i_off, s_buf, m, keep, seed, mode, halt, softmax_last=not fold)
    plan_loss_into(plan, alphas, a_buf, a_off, z_buf, z_off, delta_buf, m, y, loss, scale,
                   losses, slot, fold)
    plan_backward(plan, theta, grad, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf, x_off,
                  i_buf, i_off, s_buf, m, keep, seed, mode)


def plan_loss_and_gradient(plan, theta, grad, running, alphas, a_buf, a_off, z_buf, z_off,
                           delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m, y, loss, scale,
                           keep, seed, mode):
    """One forward and backward pass: returns J, writes dJ/dtheta into grad."""
    J = cuda.device_array(1, np.float64)
    plan_loss_and_gradient_into(plan, theta, grad, running, alphas, a_buf, a_off, z_buf, z_off,
                                delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m, y, loss, scale,
                                keep, seed, mode, J, 0)
    return float(J.copy_to_host()[0])


def launch_step(args, order, start, m, scale, t, scratch, slot, mode=TRAIN_UPDATE):
    """plan_train.train_step's work but the norm check (cuda_step's
    checked_update follows), queued: gather, forward, J into
    scratch.losses[slot], backward, penalties, clip_value, the partial sums
    of ||g||^2 into scratch.partials."""
    (theta, grad, plan, running, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf, x_off,
     i_buf, i_off, s_buf, y_buf, X, Y, loss, keep, seed, l1, l2, clip_value, clip_norm) = args
    T, blocks = ck.THREADS, ck.blocks
    gather_batch[blocks(m * (X.shape[1] + Y.shape[1])), T](X, Y, order, start, m, a_buf,
                                                           int(a_off[0]), y_buf)
    plan_loss_and_gradient_into(plan, theta, grad, running, alphas, a_buf, a_off, z_buf, z_off,
                                delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m, y_buf, loss,
                                scale, keep, step_seed(seed, t), mode, scratch.losses, slot,
                                scratch.halt)
    if l1 != 0.0 or l2 != 0.0:
        for r in plan:
            if r[P_KIND] == DENSE or r[P_KIND] == CONV2D or r[P_KIND] == RNN:
                count = int(r[P_NW])
                penalize_weights[blocks(count), T](theta, grad, int(r[P_W]), count,
                                                   ck.of_dtype(grad, l1), ck.of_dtype(grad, l2))
    norm_kernel(T, np.dtype(grad.dtype))[scratch.partials.shape[0], T](
        grad, ck.of_dtype(grad, clip_value), scratch.partials)


def batch_gradient(args, order, start, m, scale, t, mode=TRAIN_UPDATE):
    """plan_train.batch_gradient on the device; waits and returns (J, status).
    mode=TRAIN recomputes a step without moving the running statistics."""
    scratch = Scratch(1, args[1])
    launch_step(args, order, start, m, scale, t, scratch, 0, mode)
    check_only(args[0], args[1], scratch, scratch.partials.shape[0], 0, args[-1])
    return float(scratch.losses.copy_to_host()[0]), int(scratch.halt.copy_to_host()[0])


def train_epochs(step_args, state, hyper, opt, t0, lrs, orders, batch_size, scale_c,
                 per_row, per_output, n_out, step_losses, stop):
    """plan_train.train_epochs on the device (``orders`` a device array,
    ``step_args`` with device arrays as in ``launch_step``): returns (status,
    steps done) and fills step_losses (host, E x steps) with one copy."""
    theta, grad, X = step_args[0], step_args[1], step_args[16]
    n = X.shape[0]
    scratch = Scratch(step_losses.size, grad)
    update = Update(opt, theta, grad, state, scratch, step_args[-1])
    t = t0
    for e, s, start, m, scale, t in block_steps(step_losses.shape, n, batch_size, scale_c,
                                                per_row, per_output, n_out, t0, stop):
        launch_step(step_args, orders[e], start, m, scale, t, scratch, t - t0 - 1)
        hyper[H_LR] = lrs[e, s]
        update(hyper, t, scratch.partials.shape[0], t - t0 - 1)
    return block_result(scratch, t - t0, stop, step_losses)
