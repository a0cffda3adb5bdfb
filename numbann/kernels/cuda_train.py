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
import math

import numba
import numpy as np
from numba import cuda

from . import cuda as cuda_kernels
from .cpu import like, mix64
from .cuda import block_sum, larger, of_dtype, smaller
from .codes import H_LR
from .cpu_train import GRAD_NOT_FINITE, INTERRUPTED, LOSS_NOT_FINITE, OK, batch_scale
from .cuda_optim import optimizer_update

MAX_PARTIAL_SUMS = 1024  # blocks of the gradient-norm reduction (a grid-stride loop)


@cuda.jit
def gather_rows(src, order, start, m, dst, dst_off):
    """dst[dst_off + i n + j] = src[order[start + i], j] for i < m: the batch
    rows, one thread per element, into a reused buffer."""
    k = cuda.grid(1)
    n = src.shape[1]
    if k < m * n:
        i = k // n
        dst[dst_off + k] = src[order[start + i], k - i * n]


@cuda.jit
def penalize_weights(theta, grad, w_off, count, l1, l2):
    """dW[l] += l2 W[l] + l1 sign(W[l]) over the count weights at w_off."""
    k = cuda.grid(1)
    if k < count:
        w = theta[w_off + k]
        sign = like(w, 1) if w > 0 else (like(w, -1) if w < 0 else like(w, 0))
        grad[w_off + k] += l2 * w + l1 * sign


@cuda.jit
def scale_elements(grad, factor):
    """g <- g * factor[0]."""
    k = cuda.grid(1)
    if k < grad.shape[0]:
        grad[k] *= factor[0]


@functools.lru_cache(maxsize=None)
def norm_kernels(threads, dtype):
    """The two reduction kernels of the gradient norm, with THREADS-sized shared
    arrays, summing in dtype (as cpu_train.sum_squares)."""
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

    @cuda.jit
    def check_step(partials, losses, step, clip_norm, factor, halt):
        """||g|| = sqrt(sum of partials); at the first step whose J = losses[step]
        or ||g|| is not finite, halt = (status, step); factor[0] =
        clip_norm / (||g|| + 1e-6) when 0 < clip_norm < ||g||, else 1."""
        partial = cuda.shared.array(threads, float_t)
        tid = cuda.threadIdx.x
        total = float_t(0)
        for k in range(tid, partials.shape[0], threads):
            total += partials[k]
        partial[tid] = total
        block_sum(partial, tid, threads)
        if tid == 0:
            norm = math.sqrt(partial[0])
            if halt[0] == OK and not math.isfinite(losses[step]):
                halt[0] = LOSS_NOT_FINITE
                halt[1] = step
            elif halt[0] == OK and not math.isfinite(norm):
                halt[0] = GRAD_NOT_FINITE
                halt[1] = step
            factor[0] = 1
            if clip_norm > 0 and norm > clip_norm:
                factor[0] = clip_norm / (norm + float_t(1e-6))  # torch.nn.utils.clip_grad_norm_

    return clip_and_sum_squares, check_step


class Scratch:
    """Small device buffers of one epoch: step losses (float64), norm partial
    sums and clip factor (grad's dtype) and the halt flag (status, step)."""

    def __init__(self, n_steps, grad):
        self.losses = cuda.to_device(np.zeros(n_steps))
        self.partials = cuda.device_array(min(cuda_kernels.blocks(grad.shape[0]),
                                              MAX_PARTIAL_SUMS), grad.dtype)
        self.factor = cuda.device_array(1, grad.dtype)
        self.halt = cuda.to_device(np.array([OK, 0], np.int64))


def step_seed(seed, t):
    """The dropout seed of step t: mix64(seed + t), as cpu_train.batch_gradient."""
    return np.uint64(mix64(np.uint64((int(seed) + int(t)) % 2**64)))


def launch_step(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                delta_buf, y_buf, X, Y, order, start, m, loss, scale, keep, seed, t,
                l1, l2, clip_value, clip_norm, scratch, slot):
    """cpu_train.batch_gradient's work, queued: gather, forward, J into
    scratch.losses[slot], backward, penalties, clipping, the halt check."""
    L = len(sizes) - 1
    n_in, n_out, threads = int(sizes[0]), int(sizes[L]), cuda_kernels.THREADS
    blocks = cuda_kernels.blocks
    gather_rows[blocks(m * n_in), threads](X, order, start, m, a_buf, int(a_off[0]))
    gather_rows[blocks(m * n_out), threads](Y, order, start, m, y_buf, 0)
    cuda_kernels.loss_and_gradient_into(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off,
                                        z_buf, z_off, delta_buf, m, y_buf, loss, scale, keep,
                                        step_seed(seed, t), scratch.losses, slot)
    if l1 != 0.0 or l2 != 0.0:
        for l in range(1, L + 1):
            count = int(sizes[l] * sizes[l - 1])
            penalize_weights[blocks(count), threads](theta, grad, int(p_off[l - 1]), count,
                                                     of_dtype(grad, l1), of_dtype(grad, l2))
    clip_and_sum_squares, check_step = norm_kernels(threads, np.dtype(grad.dtype))
    clip_and_sum_squares[scratch.partials.shape[0], threads](grad, of_dtype(grad, clip_value),
                                                             scratch.partials)
    check_step[1, threads](scratch.partials, scratch.losses, slot, of_dtype(grad, clip_norm),
                           scratch.factor, scratch.halt)
    if clip_norm > 0:
        scale_elements[blocks(grad.shape[0]), threads](grad, scratch.factor)


def batch_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                   delta_buf, y_buf, X, Y, order, start, m, loss, scale, keep, seed, t,
                   l1, l2, clip_value, clip_norm):
    """cpu_train.batch_gradient on the device: gather batch rows
    order[start:start+m], forward, backward, penalties, clipping; waits for
    the GPU and returns (J, status)."""
    scratch = Scratch(1, grad)
    launch_step(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, delta_buf,
                y_buf, X, Y, order, start, m, loss, scale, keep, seed, t, l1, l2, clip_value,
                clip_norm, scratch, 0)
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
    scratch = Scratch(step_losses.size, grad)
    t = t0
    for e, s, start, m, scale, t in block_steps(step_losses.shape, n, batch_size, scale_c,
                                                per_row, per_output, n_out, t0, stop):
        launch_step(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                    delta_buf, y_buf, X, Y, orders[e], start, m, loss, scale, keep, seed, t,
                    l1, l2, clip_value, clip_norm, scratch, t - t0 - 1)
        hyper[H_LR] = lrs[e, s]
        optimizer_update(opt, theta, grad, state, hyper, t, scratch.halt)
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
