"""One step's passes (forward, loss, backward) over a batch, whole or split
into parts that threads run at once (``numba.prange``).

The epoch loops (``plan_train``) call one of the two through a pointer
(``plan.pointer``), and both call the plan's passes and ``part_pass``
through pointers too, so none links another's code into its own (numba
optimizes a linked callee's code again in every caller). The passes' kernel
pointers travel as sixteen arguments, f0..f7 and b0..b7, not as tuples:
numba's parallel loop takes no argument whose type holds a tuple of
pointers.

Splitting, into as many parts as numba has threads, is exact for plans
without BatchNorm (whose statistics are over the whole batch) and without
layers of sequences: there a sample's values depend on that sample alone,
so the parts' rows go forward and backward independently, and since J and
dJ/dtheta are sums over rows (the loss's scale, 1/m, is the whole batch's),

    J = sum_p J_p,    dJ/dtheta = sum_p g_p.

Each part works in its own rows of the same workspace: every buffer's
offsets move by the rows before it (``strides``: values per sample of each
block), so dropout masks, which count elements from a block's start, are
those of one pass over the batch. Each part has its own gradient and conv
scratch. BLAS runs single-threaded meanwhile (``plan_run``): the threads
are the parts'.
"""
import math

import numpy as np
from numba import prange

from .cpu import inlined
from .plan import layer_sizes, plan_loss
from .pointers import pointable, pointer_only

# rows of ``strides`` and ``shifted``: offsets of a_buf, z_buf (and delta_buf), x_buf, i_buf
A, Z, X, I = 0, 1, 2, 3


@inlined
def shift(offsets, strides, lo, out):
    """out = offsets + lo strides: where the blocks of rows lo.. start (the
    first ``offsets.size`` entries of out)."""
    for k in range(offsets.size):
        out[k] = offsets[k] + lo * strides[k]


@inlined
def add_parts(grad, grads, losses, P):
    """grad += grads[0] + ... + grads[P-2] (parts 1..P-1), in that order;
    returns losses[0] + ... + losses[P-1]."""
    J = losses[0]
    for p in range(1, P):
        J += losses[p]
        for k in range(grad.size):
            grad[k] += grads[p - 1, k]
    return J


@pointable
def part_pass(forward, backward, plan, theta, grad, running, alphas, a_buf, a_off, z_buf,
              z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf, lo, hi, y, loss, scale, keep,
              seed, mode, f0, f1, f2, f3, f4, f5, f6, f7, b0, b1, b2, b3, b4, b5, b6, b7):
    """J of the batch's rows [lo, hi), whose blocks start at the offsets given,
    and (J finite) their dJ/dtheta into grad; f0..f7, b0..b7: the forward and
    backward passes' kernel pointers (``plan.kernels``)."""
    forward(plan, theta, running, alphas, a_buf, a_off, z_buf, z_off, x_buf, x_off, i_buf,
            i_off, s_buf, hi - lo, keep, seed, mode, f0, f1, f2, f3, f4, f5, f6, f7)
    n_out = layer_sizes(plan[plan.shape[0] - 1])[1]
    J = plan_loss(plan, alphas, a_buf, a_off, z_buf, z_off, delta_buf, hi - lo, y[lo * n_out:],
                  loss, scale)
    if math.isfinite(J):
        backward(plan, theta, grad, alphas, a_buf, a_off, z_buf, z_off, delta_buf, x_buf, x_off,
                 i_buf, i_off, s_buf, hi - lo, keep, seed, mode, b0, b1, b2, b3, b4, b5, b6, b7)
    return J


@pointable
def whole_pass(forward, backward, plan, theta, grad, running, alphas, a_buf, a_off, z_buf,
               z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m, y, loss, scale, keep,
               seed, mode, parts, f0, f1, f2, f3, f4, f5, f6, f7, b0, b1, b2, b3, b4, b5, b6,
               b7):
    """J of the batch's m rows and (J finite) dJ/dtheta into grad; of ``parts``
    (the arguments of ``split_pass``) only ``part_pass``'s pointer is used."""
    part = parts[5]
    return part(forward, backward, plan, theta, grad, running, alphas, a_buf, a_off, z_buf,
                z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf, 0, m, y, loss, scale, keep,
                seed, mode, f0, f1, f2, f3, f4, f5, f6, f7, b0, b1, b2, b3, b4, b5, b6, b7)


@pointer_only(parallel=True)
def split_pass(forward, backward, plan, theta, grad, running, alphas, a_buf, a_off, z_buf,
               z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m, y, loss, scale, keep,
               seed, mode, parts, f0, f1, f2, f3, f4, f5, f6, f7, b0, b1, b2, b3, b4, b5, b6,
               b7):
    """``whole_pass`` with the batch's rows split into P parts, one thread
    each: part p is rows [p m / P, (p + 1) m / P). ``parts`` = (grads,
    scratch, strides, shifted, losses, part_pass): parts 1..P-1's gradients
    and conv scratch, values per sample of each buffer's blocks, room for
    every part's moved offsets (P, 4, L + 2) and its J, and ``part_pass``
    as a pointer. Returns J = sum_p J_p, and grad = sum_p g_p, added in a
    fixed order."""
    grads, scratch, strides, shifted, losses, part = parts
    P = min(shifted.shape[0], m)
    for p in range(P):
        for b, offsets in enumerate((a_off, z_off, x_off, i_off)):
            shift(offsets, strides[b], p * m // P, shifted[p, b])
    for p in prange(P):
        g = grad if p == 0 else grads[p - 1]
        s = s_buf if p == 0 else scratch[p - 1]
        a_p, z_p = shifted[p, A, :a_off.size], shifted[p, Z, :z_off.size]
        x_p, i_p = shifted[p, X, :x_off.size], shifted[p, I, :i_off.size]
        lo, hi = p * m // P, (p + 1) * m // P
        losses[p] = part(forward, backward, plan, theta, g, running, alphas, a_buf, a_p, z_buf,
                         z_p, delta_buf, x_buf, x_p, i_buf, i_p, s, lo, hi, y, loss, scale, keep,
                         seed, mode, f0, f1, f2, f3, f4, f5, f6, f7, b0, b1, b2, b3, b4, b5, b6,
                         b7)
    return add_parts(grad, grads, losses, P)
