"""A CUDA training step in as few launches as possible: the dense step
(``DenseStep``: the batch gather fused into layer 1's product, a softmax
output into the loss head, each layer's dW and delta[l-1] into one launch
that also applies the penalties and clip_value and sums the squares of
||g||), the batch gather of the layer engine (``gather_batch``: inputs and
targets in one launch), and the update (``checked_update``: the finite
check, clipping by norm and the optimizer rule in one launch).

The gradient norm needs every block's sum before any parameter moves;
instead of a separate reduction kernel each block of ``checked_update``
adds the partial sums itself, in the same order, so every block takes the
same decision.
"""
import functools
import math

import numba
import numpy as np
from numba import cuda

from . import cpu_optim, cuda_gemm
from . import cuda as ck
from .codes import SOFTMAX
from .cpu_train import GRAD_NOT_FINITE, LOSS_NOT_FINITE, OK
from .cuda import of_dtype
from .cuda_gemm import block_product, forward_output
from .cuda_math import block_sum, smaller
from .cuda_optim import apply_rule

CHECK_ONLY = -1  # checked_update's code for a step that clips but updates nothing
N_COEFFICIENTS, N_FLAGS = 10, 5  # lengths of cpu_optim's (coefficients, flags)


@cuda.jit
def gather_batch(X, Y, order, start, m, a_buf, a_off, y_buf):
    """a[0] = X[order[start:start+m]] into a_buf at a_off and y = Y[same rows]
    into y_buf, row by row: one thread per element of either."""
    k = cuda.grid(1)
    n_in, n_out = X.shape[1], Y.shape[1]
    if k < m * n_in:
        i = k // n_in
        a_buf[a_off + k] = X[order[start + i], k - i * n_in]
    elif k < m * (n_in + n_out):
        k -= m * n_in
        i = k // n_out
        y_buf[k] = Y[order[start + i], k - i * n_out]


@functools.lru_cache(maxsize=None)
def update_kernel(threads, dtype):
    """checked_update for blocks of ``threads`` threads and parameters of ``dtype``."""
    float_t = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def checked_update(code, theta, grad, state, c, f, partials, count, losses, slot,
                       clip_norm, halt):
        """||g|| = sqrt(sum of partials[:count]), summed in the parameters' dtype as on
        the CPU (clip_norm in that dtype too). At the first step whose J = losses[slot]
        or ||g|| is not finite, halt = (status, slot) and from then on nothing
        moves. Otherwise g <- g clip_norm / (||g|| + 1e-6) when
        0 < clip_norm < ||g|| (torch.nn.utils.clip_grad_norm_), then theta and
        state take the optimizer rule ``code`` (cuda_optim), one thread per
        parameter (code CHECK_ONLY: the check and the clipping only)."""
        partial = cuda.shared.array(threads, float_t)
        tid = cuda.threadIdx.x
        total = float_t(0)
        for k in range(tid, count, threads):
            total += partials[k]
        partial[tid] = total
        block_sum(partial, tid, threads)
        norm = math.sqrt(partial[0])
        loss_bad = not math.isfinite(losses[slot])
        if loss_bad or not math.isfinite(norm):
            if cuda.blockIdx.x == 0 and tid == 0 and halt[0] == OK:
                halt[0] = LOSS_NOT_FINITE if loss_bad else GRAD_NOT_FINITE
                halt[1] = slot
            return
        i = cuda.grid(1)
        if i >= theta.shape[0] or halt[0] != OK:
            return
        if clip_norm > 0 and norm > clip_norm:
            grad[i] = grad[i] * (clip_norm / (norm + float_t(1e-6)))
        if code != CHECK_ONLY:
            apply_rule(code, theta, grad, state, c, f, i)

    return checked_update


@functools.lru_cache(maxsize=None)
def step_kernels(tiling, dtype):
    """(first_forward, threads per block) of the dense training step for one
    tiling (``cuda_gemm``) and dtype."""
    element = np.dtype(dtype).type
    float_t = numba.from_dtype(np.dtype(dtype))
    product, threads, vectors = block_product(tiling, float_t)
    bm, bn = tiling.block_m, tiling.block_n

    @cuda.jit
    def first_forward(theta, w_off, b_off, X, Y, order, start, a_buf, in_off, out_off, z_buf,
                      z_off, y_buf, n_y, m, n_in, n_out, act, alpha, keep, mask):
        """The batch gather and layer 1 in one launch: z[1] = a[0] @ W[1].T + b[1]
        with row i of a[0] read from row order[start + i] of X (X, Y: the data
        set's rows, flat; n_y numbers a row of Y), then a[1] as in
        cuda_gemm.dense_forward; the blocks of the first column of tiles also
        copy their rows of a[0] (for dW[1]) and of y into the workspace."""
        smem = cuda.shared.array(vectors, np.complex128).view(element)
        tid = np.uint32(cuda.threadIdx.x)
        i0 = cuda.blockIdx.y * bm
        product(smem, tid, i0, cuda.blockIdx.x * bn, X, 0, n_in, 1, True, theta, w_off, 1,
                n_in, True, -1, m, n_out, n_in, order, start)
        for e in range(tid, bm * bn, threads):
            i = i0 + e // bn
            j = cuda.blockIdx.x * bn + e % bn
            if i < m and j < n_out:
                forward_output(theta, b_off, a_buf, out_off, z_buf, z_off, n_out, act, alpha,
                               keep, mask, i, j, smem[e])
        if cuda.blockIdx.x == 0:
            rows = smaller(bm, m - i0)
            for e in range(tid, rows * n_in, threads):
                i = i0 + e // n_in
                a_buf[in_off + i * n_in + e % n_in] = X[order[start + i] * n_in + e % n_in]
            for e in range(tid, rows * n_y, threads):
                i = i0 + e // n_y
                y_buf[i * n_y + e % n_y] = Y[order[start + i] * n_y + e % n_y]

    return first_forward, threads


def partial_sums(sizes):
    """The most partial sums of squares the backward launches of a step write:
    one per block of each layer's [dW | db] tiles, whichever tiling it gets."""
    total = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        total += max(np.prod(cuda_gemm.tiles(int(n_out), int(n_in) + 1, tiling))
                     for tiling in (cuda_gemm.MAIN, cuda_gemm.THIN))
    return int(total)


class _Slot:
    """A per-step value's place in a DenseStep launch's arguments."""

    def __init__(self, name):
        self.name = name


ORDER, START, SCALE, SLOT, MASK = (_Slot(n) for n in ("order", "start", "scale", "slot", "mask"))


class DenseStep:
    """A dense network's forward and backward pass at batch size m, queued:
    layer 1 with the gather (first_forward), layers 2..L
    (cuda_gemm.dense_forward), J into losses[slot] and delta[L] (loss_head),
    then one backward_layer launch per layer, which also applies the
    penalties (l1, l2) and clip_value and writes the partial sums of ||g||^2
    into ``partials`` (``count`` of them, for checked_update).

    Every launch's kernel, grid and arguments are worked out once; a step
    writes only the batch's rows (order, start), the dropout seed, the loss
    scale and slot into them (host cost: benchmarks/cuda_host.py). X and Y
    are the data set, flat."""

    def __init__(self, theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off,
                 delta_buf, y_buf, X, Y, m, loss, keep, l1, l2, clip_value, partials, losses):
        self.launches, self.dtype = [], np.dtype(theta.dtype)
        sizes, acts, a_off, z_off, p_off = (list(map(int, v)) for v in (sizes, acts, a_off,
                                                                         z_off, p_off))
        L, T = len(sizes) - 1, ck.THREADS
        alpha = [of_dtype(theta, x) for x in alphas] + [of_dtype(theta, 0.0)]
        keep_t = [ck.keep_and_limit(self.dtype, float(x))[0] for x in keep] + [self.dtype.type(1)]
        fold = acts[L - 1] == SOFTMAX and keep[L - 1] >= 1  # the loss head's softmax
        for l in range(1, L + 1):
            n_in, n_out, w = sizes[l - 1], sizes[l], p_off[l - 1]
            tiling = cuda_gemm.tiling_for(m, n_out)
            grid = cuda_gemm.tiles(m, n_out, tiling)
            if l == 1:
                first_forward, threads = step_kernels(tiling, self.dtype)
                self.add(first_forward, grid, threads, keep[0], theta, w, w + n_out * n_in, X, Y,
                         ORDER, START, a_buf, a_off[0], a_off[1], z_buf, z_off[0], y_buf,
                         sizes[L], m, n_in, n_out, acts[0], alpha[0], keep_t[0], MASK)
            else:
                dense_forward, _, threads = cuda_gemm.gemm_kernels(tiling, self.dtype)
                self.add(dense_forward, grid, threads, keep[l - 1], theta, w, w + n_out * n_in,
                         a_buf, a_off[l - 1], a_off[l], z_buf, z_off[l - 1], m, n_in, n_out,
                         acts[l - 1], alpha[l - 1], keep_t[l - 1], MASK)
            if acts[l - 1] == SOFTMAX and not (fold and l == L):
                self.add(ck.softmax_rows, ck.blocks(m), T, keep[l - 1], z_buf, z_off[l - 1],
                         a_buf, a_off[l], m, n_out, keep_t[l - 1], MASK)
        self.add(ck.loss_kernel(T, self.dtype), 1, T, 1.0, loss, SCALE, acts[L - 1],
                 alpha[L - 1], z_buf, z_off[L - 1], a_buf, a_off[L], y_buf, 0, delta_buf,
                 z_off[L - 1], m, sizes[L], losses, SLOT, fold)
        self.count = 0
        for l in range(L, 0, -1):
            n_in, n_out, w = sizes[l - 1], sizes[l], p_off[l - 1]
            act_p = acts[l - 2] if l > 1 else 0
            kernel, grid, threads, args, written = cuda_gemm.backward_launch(
                theta, grad, w, w + n_out * n_in, delta_buf, z_off[l - 1], a_buf, a_off[l - 1],
                m, n_out, n_in, l > 1, z_off[l - 2] if l > 1 else 0, z_buf, act_p,
                alpha[l - 2], keep_t[l - 2], MASK, (l1, l2, clip_value), partials, self.count)
            self.add(kernel, grid, threads, keep[l - 2] if l > 1 else 1.0, *args)
            self.count += written
            if act_p == SOFTMAX:
                self.add(ck.softmax_jacobian_rows, ck.blocks(m), T, 1.0, a_buf, a_off[l - 1],
                         delta_buf, z_off[l - 2], m, n_in)

    def add(self, kernel, grid, threads, keep, *args):
        """Queue a launch; ``keep`` gives the dropout limit of a MASK argument."""
        slots = [(i, a) for i, a in enumerate(args) if isinstance(a, _Slot)]
        limit = ck.keep_and_limit(self.dtype, float(keep))[1]
        self.launches.append((kernel, grid, threads, list(args), slots, limit))

    def __call__(self, order, start, seed, scale, slot):
        """Launch the step over rows order[start:start+m], dropout seed ``seed``."""
        seed = np.uint64(seed)
        values = {ORDER: order, START: start, SCALE: scale, SLOT: slot}
        for kernel, grid, threads, args, slots, limit in self.launches:
            for i, what in slots:
                args[i] = (seed, limit) if what is MASK else values[what]
            kernel[grid, threads](*args)


class Update:
    """checked_update with the optimizer ``code`` (cuda_optim's rules,
    coefficients from cpu_optim), configured once for a block of epochs:
    ``update(hyper, t, count, slot)`` for step t, its J in
    scratch.losses[slot] and the first ``count`` partial sums of ||g||^2 in
    scratch.partials."""

    def __init__(self, code, theta, grad, state, scratch, clip_norm):
        self.dtype = np.dtype(theta.dtype)
        self.kernel = update_kernel(ck.THREADS, self.dtype)
        self.grid, self.threads = ck.blocks(theta.shape[0]), ck.THREADS
        self.code, self.like_theta = code, np.empty(0, self.dtype)
        self.args = (theta, grad, state, scratch.partials, scratch.losses,
                     self.dtype.type(clip_norm), scratch.halt)

    def __call__(self, hyper, t, count, slot):
        theta, grad, state, partials, losses, clip_norm, halt = self.args
        c, f = cpu_optim._coefficients(self.code, self.like_theta, hyper, t)
        c = tuple(self.dtype.type(x) for x in c)
        self.kernel[self.grid, self.threads](self.code, theta, grad, state, c, f, partials,
                                             count, losses, slot, clip_norm, halt)


def check_only(theta, grad, scratch, count, slot, clip_norm):
    """checked_update without an update: the finite check and clip_norm."""
    dtype = np.dtype(theta.dtype)
    c, f = (dtype.type(0),) * N_COEFFICIENTS, (0,) * N_FLAGS
    update_kernel(ck.THREADS, dtype)[ck.blocks(theta.shape[0]), ck.THREADS](
        CHECK_ONLY, theta, grad, grad.reshape(1, grad.shape[0]), c, f, scratch.partials, count,
        scratch.losses, slot, dtype.type(clip_norm), scratch.halt)
