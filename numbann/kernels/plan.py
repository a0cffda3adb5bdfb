"""The layer engine's passes (``numba.njit``): one compiled loop walks a
network's plan, whatever its layers.

A network of layers of several kinds is compiled into ``plan``, an int64
array with one row per layer (columns ``P_*`` in ``codes.py``: kind,
activation, input and output shapes per sample, kernel, stride, padding,
offsets of its parameters in theta and of its buffers). Every layer
follows the course's two lines,

    z[l] = f_l(a[l-1]; W[l], b[l]),   a[l] = g_l(z[l]),

with f_l by kind (dense: a @ W.T + b; conv: W * a + b; pooling; batch norm;
flatten: the same numbers as a flat row), and backward

    delta[l] = dJ/dz[l],  dW[l], db[l] from delta[l] and a[l-1],
    delta[l-1] = (dJ/da[l-1] from delta[l] through f_l) * g'_{l-1}(z[l-1]).

Compile time is what a first fit waits for, so: the per-kind kernels
(conv.py, norm.py and the dense ones here) are compiled once each and
shared by every plan; the passes are compiled per set of kinds a plan has
(``passes``: a Sequential of Dense layers compiles no convolution); the
passes call their kernels, and the epoch loops the passes, through
pointers (``pointers.pointer``, ``kernels``), so no compile optimizes a
callee's code again; what is only called through a pointer is compiled
without a CPython wrapper (``pointers.pointable``). LeNet-5's first fit from
an empty cache at one thread, import included (benchmarks/cnn.py): 19-22 s
with the kernels inlined into one pass for every kind, 15.6-18 s with
pointers, 13.6-15.5 s without the wrappers (medians of 3: 14.1-14.6 s).

Workspaces for a batch of up to ``capacity`` rows: ``a_buf``/``a_off``,
``z_buf``/``z_off``, ``delta_buf`` (as the dense kernels, each layer's block
(m, C, H, W) row-major); ``x_buf``/``x_off``, per-layer kept values (a conv
layer's im2col rows, a BatchNorm layer's batch statistics and xhat);
``i_buf``/``i_off`` (int64: where each max-pool maximum came from); and
``s_buf``, scratch shared by the conv layers. ``running`` holds the
BatchNorm running statistics (not trained, saved with the network).
"""
import functools

import numpy as np
from numba import typeof, types

from .codes import (AVGPOOL2D, BATCHNORM, CONV2D, DENSE, DIRECT, MAXPOOL2D, P_ACT, P_ALGO, P_CIN,
                    P_COUT, P_FLAG, P_HIN, P_HOUT, P_KH, P_KIND, P_KW, P_NW, P_PAD_H, P_PAD_W,
                    P_RUN, P_STRIDE, P_W, P_WIN, P_WOUT, RNN)
from .conv import (avgpool_backward, avgpool_forward, conv_backward, conv_forward,
                   maxpool_backward, maxpool_forward)
from .conv_direct import conv_backward_direct, conv_forward_direct
from .cpu import (PLAIN, TRANSPOSED, activate_rows, apply_dropout, backprop_rows, gemm, inlined,
                  jit, loss_rows)
from .norm import batchnorm_backward, batchnorm_forward
from .plan_sequence import backward_other, forward_other, skip_into
from .pointers import pointable, pointable_and_callable, pointer_for, twin




@pointable
def dense_forward(Wt, b, a_prev, z, m, n_in, n):
    """z[l] = a[l-1] @ W[l].T + b[l] (z starts as b in every row)."""
    for i in range(m):
        for j in range(n):
            z[i * n + j] = b[j]
    gemm(PLAIN, TRANSPOSED, m, n, n_in, a_prev, n_in, Wt, n_in, 1.0, z, n)


@pointable
def dense_backward(Wt, dW, db, delta, a_prev, delta_prev, need_prev, m, n_in, n):
    """dW[l] = delta[l].T @ a[l-1], db[l] = sum_i delta[l][i],
    dJ/da[l-1] = delta[l] @ W[l]."""
    gemm(TRANSPOSED, PLAIN, n, n_in, m, delta, n, a_prev, n_in, 0.0, dW, n_in)
    for j in range(n):
        db[j] = delta[j]
    for i in range(1, m):
        for j in range(n):
            db[j] += delta[i * n + j]
    if need_prev:
        gemm(PLAIN, PLAIN, m, n_in, n, delta, n, Wt, n_in, 0.0, delta_prev, n_in)


@inlined
def layer_sizes(r):
    """(n_in, n): values per sample into and out of the layer of plan row r."""
    return r[P_CIN] * r[P_HIN] * r[P_WIN], r[P_COUT] * r[P_HOUT] * r[P_WOUT]


@inlined
def plan_forward(plan, theta, running, alphas, a_buf, a_off, z_buf, z_off, x_buf, x_off,
                 i_buf, i_off, s_buf, m, keep, seed, mode, sequences, conv, direct, maxpool,
                 avgpool, norm, k):
    """Forward pass over m rows whose a[0] is in a_buf: for l = 1..L,
    z[l] = f_l(a[l-1]), a[l] = g_l(z[l]), then (keep[l-1] < 1, training)
    inverted dropout on a[l]. ``mode``: EVAL, TRAIN or TRAIN_UPDATE (codes.py).
    The flags (``passes``) say which kinds of layers the plan has: constants,
    so the kernels of the others are not compiled in."""
    for l in range(1, plan.shape[0] + 1):
        r = plan[l - 1]
        kind = r[P_KIND]
        n_in, n = layer_sizes(r)
        a_prev = a_buf[a_off[l - 1]:a_off[l - 1] + m * n_in]
        z = z_buf[z_off[l - 1]:z_off[l - 1] + m * n]
        w = r[P_W]
        wb = w + r[P_NW]
        C, H, W = r[P_CIN], r[P_HIN], r[P_WIN]
        Co, Ho, Wo = r[P_COUT], r[P_HOUT], r[P_WOUT]
        if kind == DENSE:  # per time step: m T rows of n_in / T values
            steps = C if r[P_FLAG] else 1
            k[0](theta[w:wb], theta[wb:wb + n // steps], a_prev, z, m * steps,
                          n_in // steps, n // steps)
        elif kind == CONV2D and direct and r[P_ALGO] == DIRECT:
            k[1](theta[w:wb], theta[wb:wb + Co], a_prev, z, s_buf, m, C, H, W, Co,
                                r[P_KH], r[P_KW], r[P_PAD_H], r[P_PAD_W], Ho, Wo)
        elif kind == CONV2D and conv:
            K = C * r[P_KH] * r[P_KW]
            k[2](theta[w:wb], theta[wb:wb + Co], a_prev, z,
                         x_buf[x_off[l - 1]:x_off[l - 1] + m * Ho * Wo * K], s_buf, m, C, H, W,
                         Co, r[P_KH], r[P_KW], r[P_STRIDE], r[P_PAD_H], r[P_PAD_W], Ho, Wo)
        elif kind == MAXPOOL2D and maxpool:
            k[3](a_prev, z, i_buf[i_off[l - 1]:i_off[l - 1] + m * n], m, C, H, W,
                            r[P_KH], r[P_KW], r[P_STRIDE], Ho, Wo)
        elif kind == AVGPOOL2D and avgpool:
            k[4](a_prev, z, m, C, H, W, r[P_KH], r[P_KW], r[P_STRIDE], Ho, Wo)
        elif kind == BATCHNORM and norm:
            k[5](theta[w:wb], theta[wb:wb + C], running[r[P_RUN]:r[P_RUN] + 2 * C],
                              a_prev, z, x_buf[x_off[l - 1]:], m, C, H * W, mode)
        else:  # Flatten, the layers of sequences (kernels/plan_sequence.py)
            forward_other(sequences, r, l, theta, alphas, a_buf, a_off, x_buf, x_off, a_prev, z,
                          m, n_in, n)
        a = a_buf[a_off[l]:a_off[l] + m * n]
        k[6](r[P_ACT], alphas[l - 1], z, a, m, n)
        if keep[l - 1] < 1.0:
            k[7](a, keep[l - 1], seed, a_off[l])


@inlined
def layer_backward(plan, l, theta, grad, alphas, a_buf, a_off, delta_buf, z_off, x_buf, x_off,
                   i_buf, i_off, s_buf, m, delta_prev, need_prev, mode, sequences, conv, direct,
                   maxpool, avgpool, norm, k):
    """Layer l's backward step from delta[l] = dJ/dz[l] in delta_buf: dW[l] and
    db[l] into grad, and when ``need_prev`` dJ/da[l-1] (through f_l) into
    delta_prev (m rows of a[l-1]'s size)."""
    r = plan[l - 1]
    kind = r[P_KIND]
    n_in, n = layer_sizes(r)
    delta = delta_buf[z_off[l - 1]:z_off[l - 1] + m * n]
    a_prev = a_buf[a_off[l - 1]:a_off[l - 1] + m * n_in]
    w = r[P_W]
    wb = w + r[P_NW]
    C, H, W = r[P_CIN], r[P_HIN], r[P_WIN]
    Co, Ho, Wo = r[P_COUT], r[P_HOUT], r[P_WOUT]
    if kind == DENSE:
        steps = C if r[P_FLAG] else 1
        k[0](theta[w:wb], grad[w:wb], grad[wb:wb + n // steps], delta, a_prev,
                       delta_prev, need_prev, m * steps, n_in // steps, n // steps)
    elif kind == CONV2D and direct and r[P_ALGO] == DIRECT:
        k[1](theta[w:wb], grad[w:wb], grad[wb:wb + Co], delta, a_prev,
                             delta_prev, need_prev, s_buf, m, C, H, W, Co, r[P_KH], r[P_KW],
                             r[P_PAD_H], r[P_PAD_W], Ho, Wo)
    elif kind == CONV2D and conv:
        K = C * r[P_KH] * r[P_KW]
        M = m * Ho * Wo
        k[2](theta[w:wb], grad[w:wb], grad[wb:wb + Co], delta,
                      x_buf[x_off[l - 1]:x_off[l - 1] + M * K], s_buf[:M * Co],
                      s_buf[M * Co:M * (Co + K)], delta_prev, need_prev, m, C, H, W, Co,
                      r[P_KH], r[P_KW], r[P_STRIDE], r[P_PAD_H], r[P_PAD_W], Ho, Wo)
    elif kind == MAXPOOL2D and maxpool:
        if need_prev:
            k[3](delta, i_buf[i_off[l - 1]:i_off[l - 1] + m * n], delta_prev,
                             m, C, H, W, Ho, Wo)
    elif kind == AVGPOOL2D and avgpool:
        if need_prev:
            k[4](delta, delta_prev, m, C, H, W, r[P_KH], r[P_KW], r[P_STRIDE],
                             Ho, Wo)
    elif kind == BATCHNORM and norm:
        k[5](theta[w:wb], grad[w:wb], grad[wb:wb + C], delta,
                           x_buf[x_off[l - 1]:], delta_prev, need_prev, m, C, H * W, mode)
    else:  # Flatten, the layers of sequences, a residual block's input (plan_sequence.py)
        backward_other(sequences, r, l, theta, grad, alphas, x_buf, x_off, s_buf, a_prev, delta,
                       delta_prev, need_prev, m, n_in, n)
    skip_into(sequences, r, x_buf, x_off, delta_prev, need_prev, m, n_in)


@inlined
def plan_backward(plan, theta, grad, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf,
                  x_off, i_buf, i_off, s_buf, m, keep, seed, mode, sequences, conv, direct,
                  maxpool, avgpool, norm, k):
    """Backward pass, given delta[L] = dJ/dz[L] in delta_buf: for l = L..1,
    dW[l] and db[l] into grad, and for l > 1 delta[l-1] = dJ/da[l-1] (through
    f_l) times the dropout mask / keep, times g'_{l-1}(z[l-1])."""
    for l in range(plan.shape[0], 0, -1):
        n_in = layer_sizes(plan[l - 1])[0]
        need_prev = l > 1
        delta_prev = delta_buf[z_off[l - 2]:z_off[l - 2] + m * n_in] if need_prev \
            else delta_buf[:0]
        layer_backward(plan, l, theta, grad, alphas, a_buf, a_off, delta_buf, z_off, x_buf,
                       x_off, i_buf, i_off, s_buf, m, delta_prev, need_prev, mode, sequences,
                       conv, direct, maxpool, avgpool, norm, k)
        if need_prev:
            if keep[l - 2] < 1.0:
                k[7](delta_prev, keep[l - 2], seed, a_off[l - 1])
            k[6](plan[l - 2, P_ACT], alphas[l - 2],
                          z_buf[z_off[l - 2]:z_off[l - 2] + m * n_in],
                          a_buf[a_off[l - 1]:a_off[l - 1] + m * n_in], delta_prev,
                          keep[l - 2], m, n_in)


@jit
def plan_loss(plan, alphas, a_buf, a_off, z_buf, z_off, delta_buf, m, y, loss, scale):
    """J(a[L], y) and delta[L] = dJ/dz[L] (``cpu.loss_rows``) for the plan's last layer."""
    L = plan.shape[0]
    n = layer_sizes(plan[L - 1])[1]
    zo = z_off[L - 1]
    return loss_rows(loss, scale, plan[L - 1, P_ACT], alphas[L - 1], z_buf[zo:zo + m * n],
                     a_buf[a_off[L]:a_off[L] + m * n], y[:m * n], delta_buf[zo:zo + m * n],
                     m, n)



def passes(plan):
    """The passes of ``plan`` as Python calls them: (forward, backward,
    input_gradient, loss_and_gradient), compiled with the kernels of the
    kinds of layers the plan has and no others (a Sequential of Dense layers
    compiles no convolution); they add the kernel pointers (``kernels``)."""
    return _python_passes(*flags(plan))


def flags(plan):
    """Which kinds the plan has: (sequences, conv by im2col, direct conv,
    max pooling, average pooling, batch norm)."""
    kinds = plan[:, P_KIND]
    direct = (kinds == CONV2D) & (plan[:, P_ALGO] == DIRECT)
    return (bool(np.any(kinds >= RNN)), bool(np.any((kinds == CONV2D) & ~direct)),
            bool(np.any(direct)), bool(np.any(kinds == MAXPOOL2D)),
            bool(np.any(kinds == AVGPOOL2D)), bool(np.any(kinds == BATCHNORM)))


@functools.cache
def _python_passes(*kinds):
    forward, backward, input_gradient = jitted_passes(*kinds)

    def fwd(*args):
        forward(*args, *kernels(args[1].dtype, kinds)[0])

    def bwd(*args):
        backward(*args, *kernels(args[1].dtype, kinds)[1])

    def in_grad(*args):
        input_gradient(*args, *kernels(args[1].dtype, kinds)[1])

    def loss_and_gradient(plan, theta, grad, running, alphas, a_buf, a_off, z_buf, z_off,
                          delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m, y, loss, scale, keep,
                          seed, mode):
        """One forward and backward pass: returns J, writes dJ/dtheta into grad
        (y: the targets, flat row-major (m, n_L))."""
        fwd(plan, theta, running, alphas, a_buf, a_off, z_buf, z_off, x_buf, x_off, i_buf,
            i_off, s_buf, m, keep, seed, mode)
        J = plan_loss(plan, alphas, a_buf, a_off, z_buf, z_off, delta_buf, m, y, loss, scale)
        bwd(plan, theta, grad, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf, x_off,
            i_buf, i_off, s_buf, m, keep, seed, mode)
        return J

    return fwd, bwd, in_grad, loss_and_gradient


@functools.cache
def jitted_passes(sequences, conv, direct, maxpool, avgpool, norm):
    """(forward, backward, input_gradient) for these flags (``flags``), each
    taking its eight kernel pointers (``kernels``) last, one by one (numba's
    parallel loops take no tuple of pointers): the flags are constants
    closed over, so the branches of absent kinds are pruned before typing
    (numba's cache keys a closure by their values) and ``sequences`` is a
    literal for ``plan_sequence``."""

    @pointable_and_callable
    def forward(plan, theta, running, alphas, a_buf, a_off, z_buf, z_off, x_buf, x_off, i_buf,
                i_off, s_buf, m, keep, seed, mode, k0, k1, k2, k3, k4, k5, k6, k7):
        plan_forward(plan, theta, running, alphas, a_buf, a_off, z_buf, z_off, x_buf, x_off,
                     i_buf, i_off, s_buf, m, keep, seed, mode, sequences, conv, direct, maxpool,
                     avgpool, norm, (k0, k1, k2, k3, k4, k5, k6, k7))

    @pointable_and_callable
    def backward(plan, theta, grad, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf, x_off,
                 i_buf, i_off, s_buf, m, keep, seed, mode, k0, k1, k2, k3, k4, k5, k6, k7):
        plan_backward(plan, theta, grad, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf,
                      x_off, i_buf, i_off, s_buf, m, keep, seed, mode, sequences, conv, direct,
                      maxpool, avgpool, norm, (k0, k1, k2, k3, k4, k5, k6, k7))

    @jit
    def input_gradient(plan, theta, grad, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf,
                       x_off, i_buf, i_off, s_buf, m, dX, mode, k0, k1, k2, k3, k4, k5, k6, k7):
        """dJ/da[0] (= dJ/dX) into dX (flat, m rows), after a backward pass left
        delta[1] in delta_buf: layer 1's backward step taken through to its input
        (f_1's input gradient, as for the hidden layers); its dW[1] and db[1] go
        into ``grad``, a scratch vector."""
        layer_backward(plan, 1, theta, grad, alphas, a_buf, a_off, delta_buf, z_off, x_buf,
                       x_off, i_buf, i_off, s_buf, m, dX, True, mode, sequences, conv, direct,
                       maxpool, avgpool, norm, (k0, k1, k2, k3, k4, k5, k6, k7))

    return forward, backward, input_gradient


# The dense engine's row kernels, as the layer engine calls them: made
# pointable in place, they slowed the dense engine's small workload 0.0062 ->
# 0.0108 s.
_activate, _backprop, _dropout = map(twin, (activate_rows, backprop_rows, apply_dropout))

# The kernels the passes call through pointers, in the order of their index
# in the passes (k[0] ... k[7]); ``_signatures`` gives their argument types.
FORWARD_KERNELS = (dense_forward, conv_forward_direct, conv_forward, maxpool_forward,
                   avgpool_forward, batchnorm_forward, _activate, _dropout)
BACKWARD_KERNELS = (dense_backward, conv_backward_direct, conv_backward, maxpool_backward,
                    avgpool_backward, batchnorm_backward, _backprop, _dropout)


def _signatures(dtype):
    v, w = typeof(np.zeros(0, dtype)), typeof(np.zeros(0, np.int64))
    i, f, b, u = types.int64, types.float64, types.boolean, types.uint64
    forward = ((v,) * 4 + (i,) * 3, (v,) * 5 + (i,) * 11, (v,) * 6 + (i,) * 12,
               (v, v, w) + (i,) * 9, (v, v) + (i,) * 9, (v,) * 6 + (i,) * 4,
               (i, f, v, v, i, i), (v, f, u, i))
    backward = ((v,) * 6 + (b, i, i, i), (v,) * 6 + (b, v) + (i,) * 11,
                (v,) * 8 + (b,) + (i,) * 12, (v, w, v) + (i,) * 6, (v, v) + (i,) * 9,
                (v,) * 6 + (b,) + (i,) * 4, (i, f, v, v, v, f, i, i), (v, f, u, i))
    return forward, backward


@functools.cache
def _kernels(dtype, kinds):
    sequences, conv, direct, maxpool, avgpool, norm = kinds
    present = (True, direct, conv, maxpool, avgpool, norm, True, True)
    tables = []
    for table, sigs in zip((FORWARD_KERNELS, BACKWARD_KERNELS), _signatures(dtype)):
        filler = pointer_for(table[-1], sigs[-1])  # in the slots of absent kinds: never called
        tables.append(tuple(pointer_for(kernel, sig) if there else filler
                            for kernel, sig, there in zip(table, sigs, present)))
    return tuple(tables)


def kernels(dtype, kinds):
    """(forward's, backward's) eight kernel pointers for ``dtype`` and the kinds
    a plan has (``flags``; an absent kind's slot holds another pointer, never
    called: its branches are pruned). The passes call their kernels through
    them, so the passes' compile does not optimize the kernels' code again."""
    return _kernels(np.dtype(dtype).str, kinds)
