"""CPU kernels (``numba.njit``): activations, loss heads, forward and backward pass.

Notation (see DESIGN.md): layer ``l = 1..L`` has ``W[l]`` of shape
``(n_l, n_{l-1})`` and ``b[l]`` of shape ``(n_l,)``; data is batch-major, so
``z[l] = a[l-1] @ W[l].T + b[l]``, ``a[l] = g(z[l])``, ``a[0] = X``;
``delta[l] = dJ/dz[l]``.

Memory layout shared by every kernel (and by the CUDA twins):

- ``theta``: the flat parameter vector. Layer ``l`` owns
  ``theta[p_off[l-1]:p_off[l]]``: first ``W[l]`` (row-major), then ``b[l]``.
  ``grad`` has the same layout (``dW[l]``, ``db[l]``).
- ``a_buf``: ``a[0..L]`` for a batch of ``m`` rows; ``a[l]`` starts at
  ``a_off[l]`` and is ``(m, n_l)`` row-major. ``z_buf`` and ``delta_buf`` hold
  ``z[1..L]`` and ``delta[1..L]``, layer ``l`` starting at ``z_off[l-1]``.
- Layer-wise settings are arrays indexed by ``l - 1``: ``acts`` (activation
  codes, see ``codes.py``), ``alphas`` (their parameter), ``keep`` (dropout
  keep probability, 1.0 for none).

Inside the training path a layer's block is a 1-D slice of its buffer read
row-major, ``z[i * n + j]`` being ``z[l][i, j]`` (the ``*_rows`` kernels take
``m, n``): a slice is free in compiled code, while a reshape to 2-D is a
call into numba's runtime (13 ns measured), and the ~40 reshapes per step
of the 2-D version were half of a tiny network's step. The 2-D kernels
(``activate``, ``backprop_activation``, ``loss_delta``) are thin entry points
for Python over the same code. Every matrix product is one ``gemm`` call on
such slices: BLAS (through SciPy, as numba's ``np.dot``) with the
transpositions as flags, so no operand is ever copied.

Kernels never allocate in the training path and never branch on tracing.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable
from numba.np.linalg import check_blas_return, ensure_blas, get_blas_kind

from .codes import (BCE, CE, ELU, HINGE, IDENTITY, KL, LEAKY_RELU, MAE, MSE,
                    RELU, SIGMOID, SOFTMAX, STEP, TANH)

LOG_CLAMP = -100.0  # PyTorch's BCELoss clamps log(a) and log(1 - a) at -100
# PyTorch's BCELoss gradient clamps a (1 - a) at its float32 constant 1e-12
# (9.999999960041972e-13 as a float64), not at float64 1e-12
BCE_EPS = float(np.float32(1e-12))

# cache=True: a new process loads the machine code (~10 ms per entry point)
# instead of compiling it again. no_cfunc_wrapper: the C-callable wrapper is
# only needed to call a function through a pointer, which the dense engine
# never does; skipping it saved ~6% of the cold compile, measured.
JIT_OPTIONS = dict(cache=True, error_model="numpy", no_cfunc_wrapper=True)
jit = njit(**JIT_OPTIONS)
# Inlined into its jitted callers at numba's IR level (compiled on its own only
# when called from Python): one compiled function less in the call tree, and
# branches on a constant argument are pruned before they are compiled.
inlined = njit(inline="always", **JIT_OPTIONS)


# ---------------------------------------------------------------- views

@jit
def layer_W(theta, sizes, p_off, l):
    """W[l], shape (n_l, n_{l-1}): a view into theta."""
    return theta[p_off[l - 1]:p_off[l - 1] + sizes[l] * sizes[l - 1]].reshape(
        (sizes[l], sizes[l - 1]))


@jit
def layer_b(theta, sizes, p_off, l):
    """b[l], shape (n_l,): a view into theta."""
    start = p_off[l - 1] + sizes[l] * sizes[l - 1]
    return theta[start:start + sizes[l]]


def flat(x):
    """x as a 1-D row-major view (x itself when it is 1-D already)."""
    return x.reshape(x.size)


@overload(flat, jit_options={"error_model": "numpy"})
def _flat_for(x):
    if isinstance(x, types.Array) and x.ndim == 1:
        return lambda x: x
    return lambda x: x.reshape(x.size)


# ---------------------------------------------------------------- matrix products

_CHAR = ir.IntType(8)


@intrinsic
def blas_gemm(typingctx, ta, tb, m, n, k, A, lda, B, ldb, beta, C, ldc):
    """BLAS ?gemm on row-major 1-D buffers: C = op(A) @ op(B) + beta C.

    op(A) is (m, k): A[i * lda + p], or A[p * lda + i] when ta != 0 (A
    transposed); op(B) is (k, n) likewise; C[i * ldc + j]. Row-major C is
    column-major C.T = op(B).T op(A).T, which is the call made. It goes
    through numba's own BLAS entry (``numba_xxgemm``, the one ``np.dot``
    uses, bound to SciPy's BLAS), so it is cached like any kernel.
    """
    arrays = (A, B, C)
    if not all(isinstance(x, types.Array) and x.ndim == 1 for x in arrays) \
            or not A.dtype == B.dtype == C.dtype:
        return None
    ensure_blas()
    kind = get_blas_kind(C.dtype, "gemm")
    sig = types.void(ta, tb, m, n, k, A, lda, B, ldb, beta, C, ldc)

    def codegen(context, builder, sig, args):
        tys = sig.args
        intp = context.get_value_type(types.intp)

        def size(i):
            return context.cast(builder, args[i], tys[i], types.intp)

        def data(i):
            ary = context.make_array(tys[i])(context, builder, args[i])
            return builder.bitcast(ary.data, cgutils.voidptr_t)

        def scalar(value):
            slot = cgutils.alloca_once_value(builder, value)
            return builder.bitcast(slot, cgutils.voidptr_t)

        def flag(i):
            transposed = builder.icmp_signed("!=", size(i), ir.Constant(intp, 0))
            return builder.select(transposed, ir.Constant(_CHAR, ord("t")),
                                  ir.Constant(_CHAR, ord("n")))

        dtype = tys[10].dtype
        one = context.get_constant(dtype, 1.0)
        beta = context.cast(builder, args[9], tys[9], dtype)
        fnty = ir.FunctionType(ir.IntType(32), [
            _CHAR, _CHAR, _CHAR, intp, intp, intp, cgutils.voidptr_t, cgutils.voidptr_t,
            intp, cgutils.voidptr_t, intp, cgutils.voidptr_t, cgutils.voidptr_t, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        res = builder.call(fn, (ir.Constant(_CHAR, ord(kind)), flag(1), flag(0),
                                size(3), size(2), size(4), scalar(one), data(7), size(8),
                                data(5), size(6), scalar(beta), data(10), size(11)))
        check_blas_return(context, builder, res)
        return context.get_dummy_value()

    return sig, codegen


SMALL_PRODUCT = 64  # up to this many multiply-adds a loop beats the BLAS call (forward)
# gemm's transposition flags. numpy scalars, not Python ints: numba compiles a
# callee once per distinct literal int argument, so gemm(0, 1, ...) and
# gemm(1, 0, ...) would be two more compilations.
PLAIN = np.int64(0)
TRANSPOSED = np.int64(1)


@njit(fastmath={"reassoc", "contract"}, **JIT_OPTIONS)
def gemm(ta, tb, m, n, k, A, lda, B, ldb, beta, C, ldc):
    """C = op(A) @ op(B) + beta C on row-major 1-D slices (beta is 0 or 1).

    op(A)[i, p] = A[i * lda + p] (or A[p * lda + i] if ta), op(B)[p, j] =
    B[p * ldb + j] (or B[j * ldb + p] if tb), C[i, j] = C[i * ldc + j]:
    C[i, j] = sum_p op(A)[i, p] op(B)[p, j] + beta C[i, j].
    BLAS (``blas_gemm``), except the forward pass's a @ W.T up to
    SMALL_PRODUCT multiply-adds: there a loop of dot products costs 10-40 ns
    where the BLAS call costs 70 ns (2-8-1 network, float32, measured). The
    backward products stay on BLAS even when tiny (20-90 ns): their loops
    were worth ~50 ns per tiny step and cost 0.45 s of first-run compile.
    """
    if m * n * k > SMALL_PRODUCT or ta != 0 or tb == 0:
        blas_gemm(ta, tb, m, n, k, A, lda, B, ldb, beta, C, ldc)
        return
    zero = C.dtype.type(0)
    for i in range(m):             # C[i, j] = A[i, :] . B[j, :] (+ C[i, j])
        a = A[i * lda:i * lda + k]
        c = C[i * ldc:i * ldc + n]
        for j in range(n):
            b = B[j * ldb:j * ldb + k]
            acc = c[j] if beta != 0 else zero
            for p in range(k):
                acc += a[p] * b[p]
            c[j] = acc


# ---------------------------------------------------------------- activations

@jit
def sigmoid(z):
    """sigma(z) = 1 / (1 + e^-z), evaluated without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def tanh(z):
    """tanh z: libm's in float64; in float32 the rational minimax form
    z P(z^2) / Q(z^2) (Eigen's fast tanh, |z| clamped at 7.905, z itself
    below 4e-4): at most 3.9e-7 relative error over every float32 in
    [-10, 10] (libm's tanhf: 2.2 ulp), and no call, so a loop of them
    vectorizes: 15 ns for 32 values against 364 ns (measured)."""
    return math.tanh(z)


@overload(tanh, jit_options={"error_model": "numpy"})
def _tanh_for(z):
    if z != types.float32:
        return lambda z: math.tanh(z)
    f = np.float32
    clamp, small = f(7.90531110763549805), f(0.0004)
    p13, p11, p9 = f(-2.76076847742355e-16), f(2.00018790482477e-13), f(-8.60467152213735e-11)
    p7, p5, p3 = f(5.12229709037114e-08), f(1.48572235717979e-05), f(6.37261928875436e-04)
    p1 = f(4.89352455891786e-03)
    q6, q4, q2 = f(1.19825839466702e-06), f(1.18534705686654e-04), f(2.26843463243900e-03)
    q0 = f(4.89352518554385e-03)

    def tanh32(z):
        x = min(max(z, -clamp), clamp)
        x2 = x * x
        p = ((((((p13 * x2 + p11) * x2 + p9) * x2 + p7) * x2 + p5) * x2 + p3) * x2 + p1) * x
        q = ((q6 * x2 + q4) * x2 + q2) * x2 + q0
        return z if abs(z) < small else p / q
    return tanh32


@jit
def activate_rows(code, alpha, z, a, m, n):
    """a = g(z) on row-major (m, n) slices; softmax row by row:
    a_i = e^{z_i - max z} / sum_j e^{z_j - max z}.

    step: 1 if z > 0 else 0; identity: z; sigmoid: 1/(1+e^-z); tanh;
    relu: max(0, z); leaky_relu: z if z > 0 else alpha z;
    elu: z if z > 0 else alpha (e^z - 1).
    """
    zero = z.dtype.type(0)
    one = z.dtype.type(1)
    if code == SOFTMAX:
        for i in range(m):
            zr = z[i * n:i * n + n]
            ar = a[i * n:i * n + n]
            zmax = zr[0]
            for j in range(1, n):
                zmax = max(zmax, zr[j])
            total = zero
            for j in range(n):
                e = math.exp(zr[j] - zmax)
                ar[j] = e
                total += e
            inv = one / total
            for j in range(n):
                ar[j] = ar[j] * inv
        return
    size = m * n
    zf = z[:size]
    af = a[:size]
    if code == IDENTITY:
        for k in range(size):
            af[k] = zf[k]
    elif code == RELU:
        for k in range(size):
            af[k] = max(zf[k], zero)
    elif code == SIGMOID:
        for k in range(size):
            af[k] = sigmoid(zf[k])
    elif code == TANH:
        for k in range(size):
            af[k] = tanh(zf[k])
    elif code == LEAKY_RELU:
        for k in range(size):
            af[k] = zf[k] if zf[k] > 0 else alpha * zf[k]
    elif code == ELU:
        for k in range(size):
            af[k] = zf[k] if zf[k] > 0 else alpha * math.expm1(zf[k])
    elif code == STEP:
        for k in range(size):
            af[k] = one if zf[k] > 0 else zero


@jit
def activate(code, alpha, z, a):
    """a = g(z), elementwise, for 2-D z and a (see ``activate_rows``)."""
    m, n = z.shape
    activate_rows(code, alpha, z.reshape(z.size), a.reshape(a.size), m, n)


@jit
def activation_slope(code, alpha, z, a):
    """g'(z) for one element, from z and a = g(z) (not softmax: a Jacobian).

    sigmoid: a (1 - a); tanh: 1 - a^2; relu: 1 if z > 0 else 0;
    leaky_relu: 1 if z > 0 else alpha; elu: 1 if z > 0 else alpha e^z
    (not a + alpha, which cancels for very negative z); identity: 1; step: 0 (the perceptron is not trained by
    gradients). At the kinks these follow PyTorch.
    """
    if code == RELU:
        return 1.0 if z > 0 else 0.0
    if code == IDENTITY:
        return 1.0
    if code == SIGMOID:
        return a * (1.0 - a)
    if code == TANH:
        return 1.0 - a * a
    if code == LEAKY_RELU:
        return 1.0 if z > 0 else alpha
    if code == ELU:
        return 1.0 if z > 0 else alpha * math.exp(z)
    return 0.0  # STEP


@jit
def backprop_rows(code, alpha, z, a, delta, keep, m, n):
    """Turn dJ/da into dJ/dz = delta, in place, on row-major (m, n) slices.

    Elementwise: delta = dJ/da * g'(z) (``activation_slope``). Softmax (a
    Jacobian): delta_i = a_i (dJ/da_i - sum_j dJ/da_j a_j). Where the layer
    was dropped out (keep < 1), a holds g(z) / keep, so g(z) = a keep
    (dropped units have dJ/da = 0 already).
    """
    if code == IDENTITY:
        return
    if code == SOFTMAX:
        for i in range(m):
            ar = a[i * n:i * n + n]
            dr = delta[i * n:i * n + n]
            dot = delta.dtype.type(0)
            for j in range(n):
                dot += dr[j] * ar[j]
            for j in range(n):
                dr[j] = ar[j] * (dr[j] - dot)
        return
    size = m * n
    zf = z[:size]
    af = a[:size]
    df = delta[:size]
    zero = delta.dtype.type(0)
    if code == RELU:
        for k in range(size):
            df[k] = df[k] if zf[k] > 0 else zero
    else:
        for k in range(size):
            df[k] = df[k] * activation_slope(code, alpha, zf[k], af[k] * keep)


@jit
def backprop_activation(code, alpha, z, a, delta, keep):
    """Turn dJ/da into dJ/dz = delta, in place, for 2-D arrays (see ``backprop_rows``)."""
    m, n = z.shape
    backprop_rows(code, alpha, z.reshape(z.size), a.reshape(a.size), delta.reshape(delta.size),
                  keep, m, n)


# ---------------------------------------------------------------- dropout

@jit
def mix64(x):
    """splitmix64 finalizer: a well-mixed 64-bit hash of x."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@jit
def dropout_uniform(seed, index):
    """A uniform number in [0, 1) that depends only on (seed, index).

    Counter-based, so the CPU and the GPU draw the same dropout masks and
    the backward pass recomputes the mask instead of storing it.
    """
    h = mix64(np.uint64(seed) ^ mix64(np.uint64(index) + np.uint64(0x9E3779B97F4A7C15)))
    return (h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@jit
def apply_dropout(a, keep, seed, offset):
    """Inverted dropout: a <- a * mask / keep, mask_k = [u_k < keep] (k counts
    the elements of a row-major, from ``offset``)."""
    af = flat(a)
    inv_keep = 1.0 / keep
    for k in range(af.size):
        if dropout_uniform(seed, offset + k) < keep:
            af[k] = af[k] * inv_keep
        else:
            af[k] = 0.0


# ---------------------------------------------------------------- loss heads

@jit
def log_softmax_shift(zr, ar, n):
    """(max_j z_j, log sum_j e^{z_j - max}) for one row z of n logits, so that
    log softmax(z)_k = z_k - max - log sum. With ar = softmax(zr) already
    computed, log sum = -log a_k at the max (a_k = e^0 / sum): one log in
    place of n exponentials (7 us of an mnist step)."""
    kmax = 0
    for j in range(1, n):
        if zr[j] > zr[kmax]:
            kmax = j
    return zr[kmax], -math.log(ar[kmax])


@jit
def log_softmax_rows(z, a, m, n):
    """a = log softmax(z) row by row, in place of softmax(z) already in a:
    log softmax(z)_k = z_k - max z - log sum_j e^{z_j - max z} (no overflow)."""
    for i in range(m):
        zr = z[i * n:i * n + n]
        ar = a[i * n:i * n + n]
        zmax, log_total = log_softmax_shift(zr, ar, n)
        for k in range(n):
            ar[k] = zr[k] - zmax - log_total


def like(x, value):
    """value as a number of x's type. numba types a Python float literal as
    float64, so in float32 code ``x * 0.5`` is float64 arithmetic (on a GPU up
    to 64 times slower); ``x * like(x, 0.5)`` stays float32. Jitted code on
    both targets (CPU and CUDA) and Python."""
    return type(x)(value)


@overload(like)
def _like_for(x, value):
    cast = x  # x's numba type: calling it converts (constants fold)
    return lambda x, value: cast(value)


@register_jitable
def clamped(log_x):
    """max(log_x, -100): PyTorch's BCELoss clamp of its logs."""
    return log_x if log_x > LOG_CLAMP else LOG_CLAMP


@register_jitable
def bce_value(a, y):
    """-[y log a + (1 - y) log(1 - a)] for one probability a and target y, as
    PyTorch's BCELoss: logs clamped at -100, log(1 - a) as log1p(-a); one log
    when y is 0 or 1. Shared by the CPU and CUDA loss heads."""
    term = 0.0
    if y != 0:
        term += y * clamped(math.log(a) if a > 0 else LOG_CLAMP)
    if y != 1:
        term += (1.0 - y) * clamped(math.log1p(-a) if a < 1 else LOG_CLAMP)
    return -term


@register_jitable
def bce_slope(scale, a, y):
    """s dJ/da = s (a - y) / max(a (1 - a), BCE_EPS), as PyTorch's BCELoss, in
    the type of s (the CPU passes a float64 s, a float32 CUDA kernel a float32 one)."""
    variance = a * (like(scale, 1.0) - a)
    eps = like(scale, BCE_EPS)
    return scale * (a - y) / (variance if variance > eps else eps)


@jit
def loss_rows(loss, scale, act, alpha, z, a, y, delta, m, n):
    """J(a[L], y) and delta[L] = dJ/dz[L] on row-major (m, n) slices; ``scale``
    is the reduction factor.

    mse:   J = s sum (a - y)^2,                      dJ/da = 2 s (a - y)
    mae:   J = s sum |a - y|,                        dJ/da = s sign(a - y)
    bce:   J = -s sum [y log a + (1-y) log(1-a)],    dJ/da = s (a - y) / max(a (1 - a), eps)
           fused with sigmoid:                       delta = s (a - y)
    ce:    J = -s sum y log softmax(z)  (softmax output only; from the logits, a = softmax(z))
                                                     delta = s (a sum_k y_k - y) = s (a - y)
    hinge: J = s sum max(0, 1 - y a),                dJ/da = -s y where 1 - y a > 0
    kl:    J = s sum y (log y - log a),              dJ/da = -s y / a
           fused with softmax:                       delta = s (a sum_k y_k - y)
    Logs of probabilities are clamped at -100 and bce's eps is float32 1e-12,
    as PyTorch does (``bce_value``, ``bce_slope``); s is 1/m (mean over the
    batch), 1/(m n_L) (mean over elements) or 1 (sum).
    """
    total = 0.0
    fused = (loss == BCE and act == SIGMOID) or (
        (loss == CE or loss == KL) and act == SOFTMAX)
    for i in range(m):
        zr = z[i * n:i * n + n]
        ar = a[i * n:i * n + n]
        yr = y[i * n:i * n + n]
        dr = delta[i * n:i * n + n]
        row_y = 0.0
        zmax = log_total = 0.0
        if loss == CE or loss == KL:
            for k in range(n):
                row_y += yr[k]
            if loss == CE or fused:
                zmax, log_total = log_softmax_shift(zr, ar, n)
        for k in range(n):
            ai = ar[k]
            yi = yr[k]
            if loss == MSE:
                d = ai - yi
                total += d * d
                dr[k] = 2.0 * scale * d
            elif loss == MAE:
                d = ai - yi
                total += abs(d)
                dr[k] = scale if d > 0 else (-scale if d < 0 else 0.0)
            elif loss == BCE:
                total += bce_value(ai, yi)
                dr[k] = scale * (ai - yi) if fused else bce_slope(scale, ai, yi)
            elif loss == CE:
                if yi != 0:
                    total -= yi * (zr[k] - zmax - log_total)
                dr[k] = scale * (ai * row_y - yi)
            elif loss == HINGE:
                margin = 1.0 - yi * ai
                if margin > 0:
                    total += margin
                    dr[k] = -scale * yi
                else:
                    dr[k] = 0.0
            elif loss == KL:
                if fused:
                    log_a = zr[k] - zmax - log_total
                    dr[k] = scale * (ai * row_y - yi)
                else:
                    log_a = max(math.log(ai), LOG_CLAMP) if ai > 0 else LOG_CLAMP
                    dr[k] = -scale * yi / max(ai, 1e-12)
                if yi > 0:
                    total += yi * (math.log(yi) - log_a)
    if not fused:
        backprop_rows(act, alpha, z, a, delta, 1.0, m, n)
    return scale * total


@jit
def loss_per_row(loss, act, alpha, z, a, y, delta, m, n, values):
    """values[i] = J of row i alone (s = 1) and delta = dJ_i/dz, row by row
    (``loss_rows`` with m = 1): the reduction "none". Elementwise losses
    pass rows of one element (m = size, n = 1)."""
    for i in range(m):
        lo = i * n
        values[i] = loss_rows(loss, 1.0, act, alpha, z[lo:lo + n], a[lo:lo + n], y[lo:lo + n],
                              delta[lo:lo + n], 1, n)


@jit
def loss_delta(loss, scale, act, alpha, z, a, y, delta):
    """J(a[L], y) and delta[L] = dJ/dz[L] for 2-D arrays (see ``loss_rows``)."""
    m, n = a.shape
    return loss_rows(loss, scale, act, alpha, z.reshape(z.size), a.reshape(a.size),
                     y.reshape(y.size), delta.reshape(delta.size), m, n)


# ---------------------------------------------------------------- passes

@jit
def forward(theta, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, m,
            keep, seed):
    """Forward pass over a batch of m rows whose a[0] is already in a_buf.

    For l = 1..L:  z[l] = a[l-1] @ W[l].T + b[l],  a[l] = g_l(z[l]),
    then (training only, keep[l-1] < 1) inverted dropout on a[l].
    (z[l] starts as b[l] in every row; the product is added onto it.)
    """
    L = sizes.shape[0] - 1
    for l in range(1, L + 1):
        n_in = sizes[l - 1]
        n = sizes[l]
        w = p_off[l - 1]
        wb = w + n * n_in
        z = z_buf[z_off[l - 1]:z_off[l - 1] + m * n]
        a = a_buf[a_off[l]:a_off[l] + m * n]
        for i in range(m):
            for j in range(n):
                z[i * n + j] = theta[wb + j]
        gemm(PLAIN, TRANSPOSED, m, n, n_in, a_buf[a_off[l - 1]:a_off[l - 1] + m * n_in], n_in,
             theta[w:wb], n_in, 1.0, z, n)
        activate_rows(acts[l - 1], alphas[l - 1], z, a, m, n)
        if keep[l - 1] < 1.0:
            apply_dropout(a, keep[l - 1], seed, a_off[l])


@jit
def backward(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf,
             z_off, delta_buf, m, keep, seed):
    """Backward pass, given delta[L] = dJ/dz[L] in delta_buf.

    For l = L..1:  dW[l] = delta[l].T @ a[l-1],  db[l] = sum over rows of delta[l];
    for l > 1:     delta[l-1] = (delta[l] @ W[l]) * g'(z[l-1])
    (times the dropout mask / keep where a[l-1] was dropped).
    """
    L = sizes.shape[0] - 1
    for l in range(L, 0, -1):
        n = sizes[l]
        n_in = sizes[l - 1]
        w = p_off[l - 1]
        wb = w + n * n_in
        delta = delta_buf[z_off[l - 1]:z_off[l - 1] + m * n]
        a_prev = a_buf[a_off[l - 1]:a_off[l - 1] + m * n_in]
        gemm(TRANSPOSED, PLAIN, n, n_in, m, delta, n, a_prev, n_in, 0.0, grad[w:wb], n_in)
        db = grad[wb:wb + n]
        for j in range(n):
            db[j] = delta[j]
        for i in range(1, m):
            dr = delta[i * n:i * n + n]
            for j in range(n):
                db[j] += dr[j]
        if l > 1:
            delta_prev = delta_buf[z_off[l - 2]:z_off[l - 2] + m * n_in]
            gemm(PLAIN, PLAIN, m, n_in, n, delta, n, theta[w:wb], n_in, 0.0, delta_prev, n_in)
            if keep[l - 2] < 1.0:
                apply_dropout(delta_prev, keep[l - 2], seed, a_off[l - 1])
            backprop_rows(acts[l - 2], alphas[l - 2],
                          z_buf[z_off[l - 2]:z_off[l - 2] + m * n_in], a_prev, delta_prev,
                          keep[l - 2], m, n_in)


@jit
def loss_and_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off,
                      z_buf, z_off, delta_buf, m, y, loss, scale, keep, seed):
    """One forward and backward pass: returns J and writes dJ/dtheta into grad
    (y: the targets, (m, n_L) or flat row-major)."""
    forward(theta, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, m,
            keep, seed)
    L = sizes.shape[0] - 1
    n = sizes[L]
    zo = z_off[L - 1]
    ao = a_off[L]
    J = loss_rows(loss, scale, acts[L - 1], alphas[L - 1], z_buf[zo:zo + m * n],
                  a_buf[ao:ao + m * n], flat(y), delta_buf[zo:zo + m * n], m, n)
    backward(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf,
             z_off, delta_buf, m, keep, seed)
    return J
