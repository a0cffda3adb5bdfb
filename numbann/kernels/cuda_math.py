"""Device functions of the CUDA kernels: the scalar and row formulas that
``cuda.py``, ``cuda_gemm.py`` and the layer kernels share (activations and
their slopes, dropout, softmax, the loss of one row), each in the type of its
arguments (constants through ``cpu.like``), twins of ``cpu.py``'s.
"""
import math

import numpy as np
from numba import cuda

from .codes import (BCE, CE, ELU, HINGE, IDENTITY, KL, LEAKY_RELU, MAE, MSE,
                    RELU, SIGMOID, SOFTMAX, TANH)
from .cpu import LOG_CLAMP, bce_slope, bce_value, like

device_function = cuda.jit(device=True)


# ---------------------------------------------------------------- elementwise math

@device_function
def larger(a, b):
    """max(a, b). Python's max and min are not used in device code: numba's
    own CUDA target (0.68) fails to compile its vararg max/min overloads."""
    return b if b > a else a


@device_function
def smaller(a, b):
    """min(a, b)."""
    return b if b < a else a


@device_function
def block_sum(partial, tid, threads):
    """partial[0] = sum of partial[0:threads], a tree reduction in shared
    memory (threads a power of two; every thread of the block calls it)."""
    cuda.syncthreads()
    width = threads // 2
    while width > 0:
        if tid < width:
            partial[tid] += partial[tid + width]
        cuda.syncthreads()
        width //= 2


@device_function
def sigmoid(z):
    """sigma(z) = 1 / (1 + e^-z), evaluated without overflow for large |z|."""
    one = like(z, 1)
    if z >= 0:
        return one / (one + math.exp(-z))
    e = math.exp(z)
    return e / (one + e)


@device_function
def activation(code, alpha, z):
    """g(z) for one element, any code but softmax (see cpu.activate), in z's type."""
    zero, one = like(z, 0), like(z, 1)
    if code == IDENTITY:
        return z
    if code == RELU:
        return larger(z, zero)
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return math.tanh(z)
    if code == LEAKY_RELU:
        return z if z > 0 else like(z, alpha) * z
    if code == ELU:
        return z if z > 0 else like(z, alpha) * math.expm1(z)
    return one if z > 0 else zero  # STEP


@device_function
def activation_slope(code, alpha, z, a):
    """g'(z) for one element from z and a = g(z), any code but softmax:
    sigmoid a (1 - a), tanh 1 - a^2, elu alpha e^z (see cpu.activation_slope),
    in a's type."""
    zero, one = like(a, 0), like(a, 1)
    if code == RELU:
        return one if z > 0 else zero
    if code == IDENTITY:
        return one
    if code == SIGMOID:
        return a * (one - a)
    if code == TANH:
        return one - a * a
    if code == LEAKY_RELU:
        return one if z > 0 else like(a, alpha)
    if code == ELU:
        return one if z > 0 else like(a, alpha) * math.exp(like(a, z))
    return zero  # STEP


@device_function
def times_slope(code, alpha, z, a, d):
    """dJ/dz = dJ/da * g'(z) for one element (a = g(z)), any code but softmax."""
    if code == RELU:
        return d if z > 0 else like(d, 0)
    if code == IDENTITY:
        return d
    return d * activation_slope(code, alpha, z, like(d, a))


@device_function
def mix64(x):
    """splitmix64 finalizer: a well-mixed 64-bit hash of x (as cpu.mix64)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@device_function
def dropped(x, keep, mask, index):
    """Inverted dropout of one element: x / keep if u_index < keep, else 0.

    mask = (seed, ceil(keep 2^53)) (``dropout_args``): cpu.dropout_uniform's
    u = h / 2^53 for a 53-bit integer h of (seed, index), and u < keep exactly
    when h < ceil(keep 2^53), so the masks are the CPU's, bit for bit, from
    integers; keep (for 1 / keep) is in x's type."""
    seed, limit = mask
    h = mix64(np.uint64(seed) ^ mix64(np.uint64(index) + np.uint64(0x9E3779B97F4A7C15)))
    if (h >> np.uint64(11)) < limit:
        return x * (like(x, 1) / like(x, keep))
    return like(x, 0)


# ---------------------------------------------------------------- row math (softmax, losses)

@device_function
def softmax_row(z, zr, a, ar, n):
    """a_j = e^{z_j - max z} / sum_k e^{z_k - max z} for the row z[zr:zr+n]."""
    zmax = z[zr]
    for j in range(1, n):
        zmax = larger(zmax, z[zr + j])
    total = like(zmax, 0)
    for j in range(n):
        e = math.exp(z[zr + j] - zmax)
        a[ar + j] = e
        total += e
    for j in range(n):
        a[ar + j] = a[ar + j] / total


@device_function
def softmax_jacobian_row(a, ar, d, dr, n):
    """dJ/da -> dJ/dz through softmax, in place: d_i = a_i (d_i - sum_j d_j a_j)."""
    dot = like(d[dr], 0)
    for j in range(n):
        dot += d[dr + j] * a[ar + j]
    for j in range(n):
        d[dr + j] = a[ar + j] * (d[dr + j] - dot)


@device_function
def log_softmax_parts(z, zr, n):
    """(max z, log sum_j e^{z_j - max z}): log softmax(z)_k = z_k - max z - log sum."""
    zmax = z[zr]
    for j in range(1, n):
        zmax = larger(zmax, z[zr + j])
    total = like(zmax, 0)
    for j in range(n):
        total += math.exp(z[zr + j] - zmax)
    return zmax, math.log(total)


@device_function
def loss_row(loss, scale, act, alpha, z, zr, a, ar, y, yr, delta, dr, n):
    """Row i of cpu.loss_delta: writes delta[L] for the row, returns its sum in J / s.

    mse: (a - y)^2, delta 2 s (a - y); mae: |a - y|, s sign(a - y);
    bce: -[y log a + (1 - y) log(1 - a)] (logs clamped at -100), with sigmoid
    delta = s (a - y), else dJ/da = s (a - y) / max(a (1 - a), eps) (``cpu.bce_value``,
    ``cpu.bce_slope``, shared); ce: -y log softmax(z),
    delta = s (a sum_k y_k - y); hinge: max(0, 1 - y a), dJ/da = -s y;
    kl: y (log y - log a), with softmax delta = s (a sum_k y_k - y), else
    dJ/da = -s y / a. Non-fused heads then go through the activation.

    delta is computed in its dtype (s converted once); the row's J, the
    float64 number logged, as cpu.loss_rows computes it (its terms, float64
    where the CPU's promote, and its float64 sum).
    """
    fused = (loss == BCE and act == SIGMOID) or (
        (loss == CE or loss == KL) and act == SOFTMAX)
    s = delta.dtype.type(scale)
    zero = like(s, 0)
    row_y = zero
    if loss == CE or loss == KL:
        for k in range(n):
            row_y += y[yr + k]
    zmax, log_total = z[zr], zero
    if loss == CE or (loss == KL and fused):
        zmax, log_total = log_softmax_parts(z, zr, n)
    total = 0.0
    for k in range(n):
        ai = a[ar + k]
        yi = y[yr + k]
        if loss == MSE:
            d = ai - yi
            total += d * d
            delta[dr + k] = like(s, 2) * s * d
        elif loss == MAE:
            d = ai - yi
            total += abs(d)
            delta[dr + k] = s if d > 0 else (-s if d < 0 else zero)
        elif loss == BCE:
            total += bce_value(ai, yi)
            delta[dr + k] = s * (ai - yi) if fused else bce_slope(s, ai, yi)
        elif loss == CE:
            if yi != 0:
                total -= yi * (z[zr + k] - zmax - log_total)
            delta[dr + k] = s * (ai * row_y - yi)
        elif loss == HINGE:
            margin = 1.0 - yi * ai
            if margin > 0:
                total += margin
                delta[dr + k] = -s * yi
            else:
                delta[dr + k] = zero
        elif loss == KL:
            if fused:
                log_a = z[zr + k] - zmax - log_total
                delta[dr + k] = s * (ai * row_y - yi)
            else:
                log_a = larger(math.log(ai), LOG_CLAMP) if ai > 0 else LOG_CLAMP
                delta[dr + k] = -s * yi / larger(ai, like(s, 1e-12))
            if yi > 0:
                total += yi * (math.log(yi) - log_a)
    if not fused:
        if act == SOFTMAX:
            softmax_jacobian_row(a, ar, delta, dr, n)
        else:
            for k in range(n):
                delta[dr + k] = times_slope(act, alpha, z[zr + k], a[ar + k], delta[dr + k])
    return total
