"""Register-tiled matrix products for the CUDA backend, several outputs per
thread: the three products of backprop in two kernels, ``dense_forward`` and
``backward_layer`` (dW[l] and delta[l-1] in one launch).

Notation as in ``cuda.py``: ``z[l] = a[l-1] @ W[l].T + b[l]``,
``delta[l-1] = (delta[l] @ W[l]) * g'(z[l-1])``, ``[dW[l] | db[l]] = delta[l].T @ [a[l-1] | 1]``.
Each is ``C = A B`` (M x N, inner size K) with ``A[i, k] = A[a_off + i a_si + k a_sk]``
and ``B[k, j] = B[b_off + k b_sk + j b_sj]``, as ``cuda.tile_product``.

A block computes a ``block_m x block_n`` tile of C. Its threads copy
``block_k``-deep slices of A and B (A transposed) into shared memory,
coalesced (each kernel tells which index of A and of B is contiguous in
memory: a constant, so no branch and fewer registers); each thread keeps a
``thread_m x thread_n`` block of C in registers: per k it reads ``thread_m``
numbers of A and ``thread_n`` of B (one vector load each when 4) for
``thread_m thread_n`` FMAs. While the block multiplies one slice, the next
is on its way from global memory into registers (two shared stages, one
barrier per slice). The sums then go through shared memory, so that the
epilogue (bias, activation, dropout, slope: small device functions over
``cuda_math``'s) writes rows of C coalesced. Each output sums k in
increasing order, as a plain loop would.

Thin products (an output side below ``THIN_BELOW``, e.g. a 10-unit layer's
z or dW, often with a long K) would get few blocks, each with a long serial
k loop; the host functions launch them with the ``THIN`` tiling instead, whose
``slices`` groups of threads each take one contiguous range of k,
``ceil(K / (slices block_k))`` steps of ``block_k``, and whose block then adds
the groups' sums in slice order in shared memory: deterministic, no
atomics, one launch. Rule: ``THIN`` when ``min(M, N) < THIN_BELOW``, else ``MAIN``.

Why these sizes (FP32 on an H100/H200: 132 SMs of 4 schedulers, each one
warp instruction and 32 FMA lanes a cycle): our products are small (batch
128-512 times layers of 128-1024), so 128 x 128 tiles would leave most SMs
idle (32 blocks for 512 x 1024) and their sums would not fit the 48 KB of
shared memory the epilogue uses; 64 x 64 tiles give 128 blocks there. 256
threads of 4 x 4 keep all four schedulers of an SM busy with one block (8
warps; 8 x 8 outputs would leave 2 warps a block), at 16 FMAs per 2 vector
loads of shared memory (ratio 8), 72 registers (ptxas): 3 blocks an SM.
block_k = 8 holds 2 + 2 prefetched numbers a thread (16 needs 101 registers).

``MAIN``, ``THIN`` and ``THIN_BELOW`` are read at every launch (tests shrink
them); kernels are compiled once per (tiling, dtype), on first launch.
"""
import functools
from collections import namedtuple

import numba
import numpy as np
from numba import cuda

from .codes import SOFTMAX
from .cuda_math import activation, block_sum, dropped, larger, smaller, times_slope

Tiling = namedtuple("Tiling", "block_m block_n block_k thread_m thread_n slices")

MAIN = Tiling(64, 64, 8, 4, 4, 1)  # 256 threads, 16 FMAs per 2 vector loads of shared memory
THIN = Tiling(16, 16, 4, 4, 4, 16)  # 16 slices of K x 16 threads each, 4 x 4 outputs per thread
THIN_BELOW = 32  # an output side shorter than this: THIN
PAD = 4  # floats added to each shared row: rows stay 16-byte aligned for vector loads,
# and the transposing stores of a k-contiguous operand fall in distinct banks
SHARED_LIMIT = 48 * 1024  # bytes of static shared memory a block may have

device_function = cuda.jit(device=True)


# ---------------------------------------------------------------- epilogues (one output each)

@device_function
def forward_output(theta, b_off, a_buf, out_off, z_buf, z_off, n_out, act, alpha, keep, mask,
                   i, j, acc):
    """z[l]_ij = acc + b[l]_j; unless g is softmax, a[l]_ij = g(z[l]_ij), inverted
    dropout (index out_off + i n_out + j) when keep < 1."""
    zij = acc + theta[b_off + j]
    z_buf[z_off + i * n_out + j] = zij
    if act != SOFTMAX:
        k = out_off + i * n_out + j
        aij = activation(act, alpha, zij)
        if keep < 1.0:
            aij = dropped(aij, keep, mask, k)
        a_buf[k] = aij


@device_function
def delta_output(delta_buf, prev_off, z_buf, a_buf, a_prev_off, n_in, act, alpha, keep, mask,
                 i, j, acc):
    """delta[l-1]_ij = acc, times mask / keep where a[l-1] was dropped, times
    g'(z[l-1]_ij) with g(z[l-1]) = a[l-1] keep; for a softmax g only the mask."""
    k = i * n_in + j
    d = acc
    if keep < 1.0:
        d = dropped(d, keep, mask, a_prev_off + k)
    if act != SOFTMAX:
        d = times_slope(act, alpha, z_buf[prev_off + k], a_buf[a_prev_off + k] * keep, d)
    delta_buf[prev_off + k] = d


# ---------------------------------------------------------------- the block product

def block_product(tiling, float_t):
    """(product, threads per block, shared size in 16-byte units) for one tiling:
    product(smem, tid, A, a_off, a_si, a_sk, a_by_k, B, b_off, b_sk, b_sj, b_by_k,
    b_ones_col, M, N, K) is the device function every thread of a block calls;
    a_by_k (b_by_k): whether k is the index of A (B) contiguous in memory, a
    constant of each kernel (the threads' loads follow it)."""
    bm, bn, bk, tm, tn, slices = tiling
    threads_n = bn // tn
    per_slice = bm // tm * threads_n
    threads = per_slice * slices
    rows = slices * bk  # k rows of a shared stage: block_k for each slice
    lda, ldb = bm + PAD, bn + PAD
    a_size, b_size = rows * lda, rows * ldb
    b_base = 2 * a_size  # smem: A stage 0, A stage 1, B stage 0, B stage 1
    a_loads, b_loads = rows * bm // threads, rows * bn // threads
    plane = bm * bn  # the block's outputs; slice s's partial sums in plane s
    size = max(2 * (a_size + b_size), slices * plane) * np.dtype(float_t.name).itemsize
    if bm % tm or bn % tn or a_loads * threads != rows * bm or b_loads * threads != rows * bn:
        raise ValueError(f"{tiling}: threads must divide both tiles evenly")
    if size > SHARED_LIMIT:
        raise ValueError(f"{tiling}: {size} bytes of shared memory (at most {SHARED_LIMIT})")

    @device_function
    def position(e, k_contiguous, width):
        """(o, c) of element e of a stage: o along the output side (width of
        them), c its k row; consecutive e step along memory's contiguous index."""
        if k_contiguous:
            return e // rows, e % rows
        return e % width, e // width

    @device_function
    def fetch(staged, loads, width, tid, buf, off, s_o, s_k, by_k, ones_col, count, K, o0, k0,
              slice_len, rows_of, start):
        """staged[q] = X[o0 + o, k] for this thread's q-th element (o, c) of a stage,
        X[o, k] = buf[off + r s_o + k s_k] with r = o, or r = rows_of[start + o]
        (a gathered batch; rows_of None otherwise) (count x K, column ones_col
        all ones, 0 outside), k = k0 + c % block_k in slice c // block_k."""
        for q in range(loads):
            o, c = position(tid + q * threads, by_k, width)
            o += o0
            k = c // bk * slice_len + k0 + c % bk
            if o < count and k < K and o == ones_col:
                staged[q] = 1
            elif o < count and k < K:
                r = o if rows_of is None else rows_of[start + o]
                staged[q] = buf[off + r * s_o + k * s_k]
            else:
                staged[q] = 0

    @device_function
    def stash(smem, base, ld, staged, loads, width, tid, k_contiguous):
        """smem[base + c ld + o] = staged[q]: the fetched elements into a stage."""
        for q in range(loads):
            o, c = position(tid + q * threads, k_contiguous, width)
            smem[base + c * ld + o] = staged[q]

    @device_function
    def product(smem, tid, i0, j0, A, a_off, a_si, a_sk, a_by_k, B, b_off, b_sk, b_sj, b_by_k,
                b_ones_col, M, N, K, a_rows, a_start):
        """smem[r block_n + c] = sum_k A[i0 + r, k] B[k, j0 + c] over the block's
        tile at (i0, j0): k in order within a slice, the slices' sums added in
        order. a_rows: None, or row i of A is row a_rows[a_start + i] of the
        buffer (the first layer reading its batch straight from the data set)."""
        s = tid // per_slice
        ty = tid % per_slice // threads_n
        tx = tid % threads_n
        slice_len = (K + rows - 1) // rows * bk
        a_staged = cuda.local.array(a_loads, float_t)
        b_staged = cuda.local.array(b_loads, float_t)
        a_frag = cuda.local.array(tm, float_t)
        b_frag = cuda.local.array(tn, float_t)
        acc = cuda.local.array((tm, tn), float_t)
        for x in range(tm):
            for y in range(tn):
                acc[x, y] = 0
        fetch(a_staged, a_loads, bm, tid, A, a_off, a_si, a_sk, a_by_k, -1, M, K, i0, 0,
              slice_len, a_rows, a_start)
        fetch(b_staged, b_loads, bn, tid, B, b_off, b_sj, b_sk, b_by_k, b_ones_col, N, K, j0,
              0, slice_len, None, 0)
        stash(smem, 0, lda, a_staged, a_loads, bm, tid, a_by_k)
        stash(smem, b_base, ldb, b_staged, b_loads, bn, tid, b_by_k)
        cuda.syncthreads()
        steps = slice_len // bk
        for step in range(steps):
            stage = step & 1
            more = step + 1 < steps
            if more:  # the next block_k of k: global loads in flight during the FMAs
                k0 = (step + 1) * bk
                fetch(a_staged, a_loads, bm, tid, A, a_off, a_si, a_sk, a_by_k, -1, M, K, i0,
                      k0, slice_len, a_rows, a_start)
                fetch(b_staged, b_loads, bn, tid, B, b_off, b_sj, b_sk, b_by_k, b_ones_col, N,
                      K, j0, k0, slice_len, None, 0)
            a_row = stage * a_size + s * bk * lda + ty * tm
            b_row = b_base + stage * b_size + s * bk * ldb + tx * tn
            kk = 0
            while kk < bk:  # no range() and unsigned indices: numba's range iterator
                # and negative-index wraparound would hide from LLVM that a fragment is
                # consecutive 16-byte aligned numbers, one vector load (ld.shared.v4)
                for x in range(tm):
                    a_frag[x] = smem[np.uint64(a_row + kk * lda + x)]
                for y in range(tn):
                    b_frag[y] = smem[np.uint64(b_row + kk * ldb + y)]
                for x in range(tm):
                    for y in range(tn):
                        acc[x, y] += a_frag[x] * b_frag[y]
                kk += 1
            if more:
                stash(smem, (1 - stage) * a_size, lda, a_staged, a_loads, bm, tid, a_by_k)
                stash(smem, b_base + (1 - stage) * b_size, ldb, b_staged, b_loads, bn, tid,
                      b_by_k)
            cuda.syncthreads()
        for x in range(tm):  # the stages are read: their memory takes the sums
            for y in range(tn):
                smem[s * plane + (ty * tm + x) * bn + tx * tn + y] = acc[x, y]
        cuda.syncthreads()
        if slices > 1:
            for e in range(tid, plane, threads):
                total = smem[e]
                for p in range(1, slices):
                    total += smem[p * plane + e]
                smem[e] = total
            cuda.syncthreads()

    return product, threads, -(-size // 16)


# ---------------------------------------------------------------- kernels

@functools.lru_cache(maxsize=None)
def gemm_kernels(tiling, dtype):
    """(dense_forward, backward_layer, threads per block) for one tiling and dtype.

    Shared memory is declared as complex128, the one 16-byte number type, and
    viewed as dtype: numba aligns a shared array to its item size, and only a
    16-byte aligned base lets four floats of a row load as one vector."""
    element = np.dtype(dtype).type
    float_t = numba.from_dtype(np.dtype(dtype))
    product, threads, vectors = block_product(tiling, float_t)
    bm, bn = tiling.block_m, tiling.block_n

    @cuda.jit
    def dense_forward(theta, w_off, b_off, a_buf, in_off, out_off, z_buf, z_off,
                      m, n_in, n_out, act, alpha, keep, mask):
        """z[l] = a[l-1] @ W[l].T + b[l] and, unless g is softmax, a[l] = g(z[l]),
        inverted dropout on a[l] when keep < 1. Grid: tiles of z[l] (m x n_out)."""
        smem = cuda.shared.array(vectors, np.complex128).view(element)
        tid = np.uint32(cuda.threadIdx.x)  # unsigned: indices from it are known >= 0
        product(smem, tid, cuda.blockIdx.y * bm, cuda.blockIdx.x * bn, a_buf, in_off, n_in, 1,
                True, theta, w_off, 1, n_in, True, -1, m, n_out, n_in, None, 0)
        for e in range(tid, bm * bn, threads):
            i = cuda.blockIdx.y * bm + e // bn
            j = cuda.blockIdx.x * bn + e % bn
            if i < m and j < n_out:
                forward_output(theta, b_off, a_buf, out_off, z_buf, z_off, n_out, act, alpha,
                               keep, mask, i, j, smem[e])

    @cuda.jit
    def backward_layer(theta, grad, w_off, b_off, delta_buf, d_off, a_buf, in_off, m, n_out,
                       n_in, l1, l2, clip_value, squares, partials, part_off, dw_columns,
                       dw_blocks, prev_off, z_buf, act, alpha, keep, mask):
        """Layer l's backward products in one launch. Blocks below dw_blocks:
        [dW[l] | db[l]] = delta[l].T @ [a[l-1] | 1] (tiles dw_columns wide), then
        dW[l] += l2 W[l] + l1 sign(W[l]), g <- clamp(g, -c, c) (c = clip_value > 0)
        and, with ``squares``, partials[part_off + block] = sum of the block's
        g^2 (for ||g||).
        The others (l > 1): delta[l-1] = (delta[l] @ W[l]) * g'(z[l-1]) with
        the dropout mask, as the epilogue delta_output."""
        smem = cuda.shared.array(vectors, np.complex128).view(element)
        block_sums = cuda.shared.array(threads, float_t)
        tid = np.uint32(cuda.threadIdx.x)
        block = cuda.blockIdx.x
        if block < dw_blocks:
            i0, j0 = block // dw_columns * bm, block % dw_columns * bn
            product(smem, tid, i0, j0, delta_buf, d_off, 1, n_out, False, a_buf, in_off, n_in,
                    1, False, n_in, n_out, n_in + 1, m, None, 0)
            total = float_t(0)
            for e in range(tid, bm * bn, threads):
                r = i0 + e // bn
                c = j0 + e % bn
                if r < n_out and c <= n_in:
                    g = smem[e]
                    k = w_off + r * n_in + c if c < n_in else b_off + r
                    if c < n_in and (l1 != 0 or l2 != 0):
                        w = theta[k]
                        g += l2 * w + (l1 if w > 0 else (-l1 if w < 0 else float_t(0)))
                    if clip_value > 0:
                        g = smaller(larger(g, -clip_value), clip_value)
                    grad[k] = g
                    total += g * g
            if squares:
                block_sums[tid] = total
                block_sum(block_sums, tid, threads)
                if tid == 0:
                    partials[part_off + block] = block_sums[0]
            return
        block -= dw_blocks
        columns = (n_in + bn - 1) // bn
        i0, j0 = block // columns * bm, block % columns * bn
        product(smem, tid, i0, j0, delta_buf, d_off, n_out, 1, True, theta, w_off, n_in, 1,
                False, -1, m, n_in, n_out, None, 0)
        for e in range(tid, bm * bn, threads):
            i = i0 + e // bn
            j = j0 + e % bn
            if i < m and j < n_in:
                delta_output(delta_buf, prev_off, z_buf, a_buf, in_off, n_in, act, alpha, keep,
                             mask, i, j, smem[e])

    return dense_forward, backward_layer, threads


# ---------------------------------------------------------------- host functions

def tiling_for(M, N):
    """THIN (split-K) when an output side is shorter than THIN_BELOW, else MAIN."""
    return THIN if min(M, N) < THIN_BELOW else MAIN


def dense_forward(theta, w_off, b_off, a_buf, in_off, out_off, z_buf, z_off,
                  m, n_in, n_out, act, alpha, keep, mask):
    """Launch dense_forward over the tiles of z[l] (arguments as the kernel's)."""
    tiling = tiling_for(m, n_out)
    kernel, _, threads = gemm_kernels(tiling, np.dtype(theta.dtype))
    kernel[tiles(m, n_out, tiling), threads](theta, w_off, b_off, a_buf, in_off, out_off, z_buf, z_off,
                                   m, n_in, n_out, act, alpha, keep, mask)


def tiles(rows, cols, tiling):
    """(column tiles, row tiles) covering a rows x cols output."""
    return -(-cols // tiling.block_n), -(-rows // tiling.block_m)


def backward_tiling(m, n_in, n_out, first):
    """The tiling of layer l's backward launch (one for both products): THIN
    when [dW | db] (n_out x (n_in + 1)) or, for l > 1, delta[l-1] (m x n_in)
    has a side below THIN_BELOW; else MAIN."""
    thin = min(n_out, n_in + 1) < THIN_BELOW or (not first and min(m, n_in) < THIN_BELOW)
    return THIN if thin else MAIN


def backward_launch(theta, grad, w_off, b_off, delta_buf, d_off, a_buf, in_off, m, n_out, n_in,
                    need_prev, prev_off, z_buf, act, alpha, keep, mask, finish=(0.0, 0.0, 0.0),
                    partials=None, part_off=0):
    """(kernel, grid, threads, arguments, partial sums written) of backward_layer
    over [dW[l] | db[l]] and, when need_prev, delta[l-1] (for a softmax
    g_{l-1}, softmax_jacobian_rows is the caller's). ``finish``: (l1, l2,
    clip_value) applied to dW[l]; ``partials``: where its sums of squares go
    (from part_off), or None."""
    tiling = backward_tiling(m, n_in, n_out, not need_prev)
    _, backward_layer, threads = gemm_kernels(tiling, np.dtype(theta.dtype))
    columns, rows = tiles(n_out, n_in + 1, tiling)
    dw_blocks = columns * rows
    delta_blocks = int(np.prod(tiles(m, n_in, tiling))) if need_prev else 0
    l1, l2, clip_value = (theta.dtype.type(x) for x in finish)  # in theta's dtype
    args = (theta, grad, w_off, b_off, delta_buf, d_off, a_buf, in_off, m, n_out, n_in, l1, l2,
            clip_value, partials is not None, grad if partials is None else partials, part_off,
            columns, dw_blocks, prev_off, z_buf, act, alpha, keep, mask)
    return (backward_layer, dw_blocks + delta_blocks, threads, args,
            dw_blocks if partials is not None else 0)


def launch_backward_layer(*args):
    """Launch backward_layer (arguments as backward_launch's)."""
    kernel, grid, threads, arguments, _ = backward_launch(*args)
    kernel[grid, threads](*arguments)
