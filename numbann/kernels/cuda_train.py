"""CUDA training kernels: a mini-batch step and epochs on the GPU, the twins of cpu_train.

``batch_gradient`` and ``train_epochs`` take cpu_train's arguments, with
device arrays for ``theta``, ``grad``, ``state``, the workspace buffers
(``a_buf``, ``z_buf``, ``delta_buf``, ``y_buf``), the data set ``X``, ``Y``
and the row order(s); ``hyper``, ``lrs``, ``step_losses`` and the layout
arrays stay on the host. Each batch is gathered on the device.

``train_epochs`` launches its steps without waiting for the GPU: each step's
J goes into a device array, copied into ``step_losses`` once at the end. A
non-finite loss or gradient norm raises a device flag that turns every later
update into a no-op, so theta and the optimizer state stop where the CPU
loop stops; the flag, read at the end, gives the step.
"""
import functools

import numba
import numpy as np
from numba import cuda

from . import cuda as cuda_kernels
from . import cuda_step
from .codes import H_LR
from .cpu import like, mix64
from .cpu_train import INTERRUPTED, OK, batch_scale
from .cuda_math import block_sum, larger, smaller

MAX_PARTIAL_SUMS = 1024  # blocks of the gradient-norm reduction (a grid-stride loop)


@cuda.jit
def penalize_weights(theta, grad, w_off, count, l1, l2):
    """dW[l] += l2 W[l] + l1 sign(W[l]) over the count weights at w_off."""
    k = cuda.grid(1)
    if k < count:
        w = theta[w_off + k]
        sign = like(w, 1) if w > 0 else (like(w, -1) if w < 0 else like(w, 0))
        grad[w_off + k] += l2 * w + l1 * sign


@functools.lru_cache(maxsize=None)
def norm_kernel(threads, dtype):
    """The gradient's sums of squares (for ||g||, summed by cuda_step's
    checked_update) with THREADS-sized shared arrays, in dtype (as
    cpu_train.sum_squares): for networks whose gradient is not all written by
    cuda_step.backward_layer."""
    float_t = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def clip_and_sum_squares(grad, clip_value, partials):
        """g <- clamp(g, -c, c) when c = clip_value > 0; partials[block] = the
        sum of g^2 over the elements this block visits (tree reduction)."""
        partial = cuda.shared.array(threads, float_t)
        tid = cuda.threadIdx.x
        total = float_t(0)
        for k in range(cuda.grid(1), grad.shape[0], cuda.gridsize(1)):
            if clip_value > 0:
                grad[k] = smaller(larger(grad[k], -clip_value), clip_value)
            g = grad[k]
            total += g * g
        partial[tid] = total
        block_sum(partial, tid, threads)
        if tid == 0:
            partials[cuda.blockIdx.x] = partial[0]

    return clip_and_sum_squares


class Scratch:
    """Small device buffers of one block of epochs: step losses (float64),
    the partial sums of ||g||^2 (grad's dtype: ``partial_sums`` of them, by
    default one per block of the norm kernel) and the halt flag (status, step)."""

    def __init__(self, n_steps, grad, partial_sums=None):
        if partial_sums is None:
            partial_sums = min(cuda_kernels.blocks(grad.shape[0]), MAX_PARTIAL_SUMS)
        self.losses = cuda.to_device(np.zeros(n_steps))
        self.partials = cuda.device_array(partial_sums, grad.dtype)
        self.halt = cuda.to_device(np.array([OK, 0], np.int64))


def step_seed(seed, t):
    """The dropout seed of step t: mix64(seed + t), as cpu_train.batch_gradient."""
    return np.uint64(mix64(np.uint64((int(seed) + int(t)) % 2**64)))


def dense_steps(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                delta_buf, y_buf, X, Y, loss, keep, l1, l2, clip_value, scratch):
    """cuda_step.DenseStep for each batch size, made on first use: cpu_train.
    batch_gradient's work but the norm check (X and Y flat)."""
    steps = {}

    def step_for(m):
        if m not in steps:
            steps[m] = cuda_step.DenseStep(
                theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, delta_buf,
                y_buf, X, Y, m, loss, keep, l1, l2, clip_value, scratch.partials, scratch.losses)
        return steps[m]
    return step_for


def batch_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                   delta_buf, y_buf, X, Y, order, start, m, loss, scale, keep, seed, t,
                   l1, l2, clip_value, clip_norm):
    """cpu_train.batch_gradient on the device: gather batch rows
    order[start:start+m], forward, backward, penalties, clipping; waits for
    the GPU and returns (J, status)."""
    scratch = Scratch(1, grad, cuda_step.partial_sums(sizes))
    step = dense_steps(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                       delta_buf, y_buf, X.ravel(), Y.ravel(), loss, keep, l1, l2, clip_value,
                       scratch)(m)
    step(order, start, step_seed(seed, t), scale, 0)
    cuda_step.check_only(theta, grad, scratch, step.count, 0, clip_norm)
    return float(scratch.losses.copy_to_host()[0]), int(scratch.halt.copy_to_host()[0])


def train_epochs(theta, grad, state, hyper, opt, t0, lrs, sizes, acts, alphas, p_off,
                 a_buf, a_off, z_buf, z_off, delta_buf, y_buf, X, Y, orders,
                 batch_size, loss, scale_c, per_row, per_output, keep, seed,
                 l1, l2, clip_value, clip_norm, step_losses, stop):
    """Epochs e = 0..E-1 over the row orders ``orders[e]`` (a device array):
    for each batch s, eta = lrs[e, s], then theta <- update(theta, dJ/dtheta)
    with the optimizer ``opt`` (cpu_train.train_epochs). Returns (status,
    steps done) and fills step_losses (host, E x steps) with one copy; on a
    non-finite loss or gradient the updates stop at that step, the last
    whose J is written."""
    n = X.shape[0]
    n_out = int(sizes[-1])
    scratch = Scratch(step_losses.size, grad, cuda_step.partial_sums(sizes))
    step_for = dense_steps(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                           delta_buf, y_buf, X.ravel(), Y.ravel(), loss, keep, l1, l2,
                           clip_value, scratch)
    update = cuda_step.Update(opt, theta, grad, state, scratch, clip_norm)
    t = t0
    for e, s, start, m, scale, t in block_steps(step_losses.shape, n, batch_size, scale_c,
                                                per_row, per_output, n_out, t0, stop):
        step = step_for(m)
        step(orders[e], start, step_seed(seed, t), scale, t - t0 - 1)
        hyper[H_LR] = lrs[e, s]
        update(hyper, t, step.count, t - t0 - 1)
    return block_result(scratch, t - t0, stop, step_losses)


def block_steps(shape, n, batch_size, scale_c, per_row, per_output, n_out, t0, stop):
    """(e, s, start, m, loss scale, t) of each step of a block of epochs on the
    host; after a Ctrl-C (``stop[0]`` set) no more steps (queued ones finish)."""
    t = t0
    for e in range(shape[0]):
        for s in range(shape[1]):
            start = s * batch_size
            m = min(batch_size, n - start)
            t += 1
            yield e, s, start, m, batch_scale(scale_c, per_row, per_output, m, n_out), t
            if stop[0] != 0:
                return


def block_result(scratch, launched, stop, step_losses):
    """(status, steps done) of a block, with its step losses copied to the host:
    a non-finite step halts the updates (the device flag), a Ctrl-C the launches."""
    status, failed = scratch.halt.copy_to_host()
    done = launched if status == OK else int(failed)
    if status == OK and stop[0] != 0:
        status = INTERRUPTED
    losses = scratch.losses.copy_to_host()
    losses[done + 1:] = 0.0
    step_losses[...] = losses.reshape(step_losses.shape)
    return int(status), done
