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

Kernels never allocate in the training path and never branch on tracing.
"""
import math

import numpy as np
from numba import njit

from .codes import (BCE, CE, ELU, HINGE, IDENTITY, KL, LEAKY_RELU, MAE, MSE,
                    RELU, SIGMOID, SOFTMAX, STEP, TANH)

LOG_CLAMP = -100.0  # PyTorch's BCELoss clamps log(a) and log(1 - a) at -100

jit = njit(cache=True, error_model="numpy")


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


@jit
def layer_rows(buf, off, n, m):
    """The (m, n) block of a workspace buffer starting at ``off``."""
    return buf[off:off + m * n].reshape((m, n))


SMALL_PRODUCT = 512  # below this many multiply-adds a plain loop beats a BLAS call


@jit
def dot_into(A, B, out):
    """out = A @ B (A, B may be transposed views): BLAS for large products,
    a plain loop for tiny ones, where the call costs more than the work."""
    rows, inner = A.shape
    cols = B.shape[1]
    if rows * inner * cols > SMALL_PRODUCT:
        np.dot(A, B, out)
        return
    for i in range(rows):
        for j in range(cols):
            acc = 0.0
            for k in range(inner):
                acc += A[i, k] * B[k, j]
            out[i, j] = acc


# ---------------------------------------------------------------- activations

@jit
def sigmoid(z):
    """sigma(z) = 1 / (1 + e^-z), evaluated without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@jit
def activate(code, alpha, z, a):
    """a = g(z), elementwise; softmax row by row: a_i = e^{z_i - max z} / sum_j e^{z_j - max z}.

    step: 1 if z > 0 else 0; identity: z; sigmoid: 1/(1+e^-z); tanh;
    relu: max(0, z); leaky_relu: z if z > 0 else alpha z;
    elu: z if z > 0 else alpha (e^z - 1).
    """
    m, n = z.shape
    if code == SOFTMAX:
        for i in range(m):
            zmax = z[i, 0]
            for j in range(1, n):
                zmax = max(zmax, z[i, j])
            total = 0.0
            for j in range(n):
                e = math.exp(z[i, j] - zmax)
                a[i, j] = e
                total += e
            for j in range(n):
                a[i, j] = a[i, j] / total
        return
    zf = z.reshape(z.size)
    af = a.reshape(a.size)
    if code == IDENTITY:
        for k in range(zf.size):
            af[k] = zf[k]
    elif code == RELU:
        for k in range(zf.size):
            af[k] = max(zf[k], 0.0)
    elif code == SIGMOID:
        for k in range(zf.size):
            af[k] = sigmoid(zf[k])
    elif code == TANH:
        for k in range(zf.size):
            af[k] = math.tanh(zf[k])
    elif code == LEAKY_RELU:
        for k in range(zf.size):
            af[k] = zf[k] if zf[k] > 0 else alpha * zf[k]
    elif code == ELU:
        for k in range(zf.size):
            af[k] = zf[k] if zf[k] > 0 else alpha * math.expm1(zf[k])
    elif code == STEP:
        for k in range(zf.size):
            af[k] = 1.0 if zf[k] > 0 else 0.0


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
def backprop_activation(code, alpha, z, a, delta, keep):
    """Turn dJ/da into dJ/dz = delta, in place.

    Elementwise: delta = dJ/da * g'(z). Softmax (a Jacobian):
    delta_i = a_i (dJ/da_i - sum_j dJ/da_j a_j). Where the layer was
    dropped out (keep < 1), a holds g(z) / keep, so g(z) = a keep (dropped
    units have dJ/da = 0 already).
    """
    m, n = z.shape
    if code == SOFTMAX:
        for i in range(m):
            dot = 0.0
            for j in range(n):
                dot += delta[i, j] * a[i, j]
            for j in range(n):
                delta[i, j] = a[i, j] * (delta[i, j] - dot)
        return
    if code == IDENTITY:
        return
    zf = z.reshape(z.size)
    af = a.reshape(a.size)
    df = delta.reshape(delta.size)
    if code == RELU:
        for k in range(zf.size):
            if zf[k] <= 0:
                df[k] = 0.0
        return
    for k in range(zf.size):
        df[k] = df[k] * activation_slope(code, alpha, zf[k], af[k] * keep)


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
    """Inverted dropout: a <- a * mask / keep, mask_k = [u_k < keep]."""
    af = a.reshape(a.size)
    inv_keep = 1.0 / keep
    for k in range(af.size):
        if dropout_uniform(seed, offset + k) < keep:
            af[k] = af[k] * inv_keep
        else:
            af[k] = 0.0


# ---------------------------------------------------------------- loss heads

@jit
def log_softmax_row(z, i, k):
    """log softmax(z)_ik = z_ik - max_j z_ij - log sum_j e^{z_ij - max}."""
    n = z.shape[1]
    zmax = z[i, 0]
    for j in range(1, n):
        zmax = max(zmax, z[i, j])
    total = 0.0
    for j in range(n):
        total += math.exp(z[i, j] - zmax)
    return z[i, k] - zmax - math.log(total)


@jit
def loss_delta(loss, scale, act, alpha, z, a, y, delta):
    """J(a[L], y) and delta[L] = dJ/dz[L]; ``scale`` is the reduction factor.

    mse:   J = s sum (a - y)^2,                      dJ/da = 2 s (a - y)
    mae:   J = s sum |a - y|,                        dJ/da = s sign(a - y)
    bce:   J = -s sum [y log a + (1-y) log(1-a)],    dJ/da = s (a - y) / (a (1 - a))
           fused with sigmoid:                       delta = s (a - y)
    ce:    J = -s sum y log softmax(z)  (softmax output only; from the logits)
                                                     delta = s (a sum_k y_k - y) = s (a - y)
    hinge: J = s sum max(0, 1 - y a),                dJ/da = -s y where 1 - y a > 0
    kl:    J = s sum y (log y - log a),              dJ/da = -s y / a
           fused with softmax:                       delta = s (a sum_k y_k - y)
    Logs of probabilities are clamped at -100 as PyTorch does; s is 1/m
    (mean over the batch), 1/(m n_L) (mean over elements) or 1 (sum).
    """
    m, n = a.shape
    total = 0.0
    fused = (loss == BCE and act == SIGMOID) or (
        (loss == CE or loss == KL) and act == SOFTMAX)
    for i in range(m):
        row_y = 0.0
        if loss == CE or loss == KL:
            for k in range(n):
                row_y += y[i, k]
        for k in range(n):
            ai = a[i, k]
            yi = y[i, k]
            if loss == MSE:
                d = ai - yi
                total += d * d
                delta[i, k] = 2.0 * scale * d
            elif loss == MAE:
                d = ai - yi
                total += abs(d)
                delta[i, k] = scale if d > 0 else (-scale if d < 0 else 0.0)
            elif loss == BCE:
                log_a = max(math.log(ai), LOG_CLAMP) if ai > 0 else LOG_CLAMP
                log_1a = max(math.log(1.0 - ai), LOG_CLAMP) if ai < 1 else LOG_CLAMP
                total -= yi * log_a + (1.0 - yi) * log_1a
                if fused:
                    delta[i, k] = scale * (ai - yi)
                else:
                    delta[i, k] = scale * (ai - yi) / max(ai * (1.0 - ai), 1e-12)
            elif loss == CE:
                if yi != 0:
                    total -= yi * log_softmax_row(z, i, k)
                delta[i, k] = scale * (ai * row_y - yi)
            elif loss == HINGE:
                margin = 1.0 - yi * ai
                if margin > 0:
                    total += margin
                    delta[i, k] = -scale * yi
                else:
                    delta[i, k] = 0.0
            elif loss == KL:
                if fused:
                    log_a = log_softmax_row(z, i, k)
                    delta[i, k] = scale * (ai * row_y - yi)
                else:
                    log_a = max(math.log(ai), LOG_CLAMP) if ai > 0 else LOG_CLAMP
                    delta[i, k] = -scale * yi / max(ai, 1e-12)
                if yi > 0:
                    total += yi * (math.log(yi) - log_a)
    if not fused:
        backprop_activation(act, alpha, z, a, delta, 1.0)
    return scale * total


# ---------------------------------------------------------------- passes

@jit
def forward(theta, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, m,
            keep, seed):
    """Forward pass over a batch of m rows whose a[0] is already in a_buf.

    For l = 1..L:  z[l] = a[l-1] @ W[l].T + b[l],  a[l] = g_l(z[l]),
    then (training only, keep[l-1] < 1) inverted dropout on a[l].
    """
    L = sizes.shape[0] - 1
    for l in range(1, L + 1):
        W = layer_W(theta, sizes, p_off, l)
        b = layer_b(theta, sizes, p_off, l)
        a_prev = layer_rows(a_buf, a_off[l - 1], sizes[l - 1], m)
        z = layer_rows(z_buf, z_off[l - 1], sizes[l], m)
        a = layer_rows(a_buf, a_off[l], sizes[l], m)
        dot_into(a_prev, W.T, z)
        for i in range(m):
            for j in range(sizes[l]):
                z[i, j] += b[j]
        activate(acts[l - 1], alphas[l - 1], z, a)
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
        n_out = sizes[l]
        n_in = sizes[l - 1]
        delta = layer_rows(delta_buf, z_off[l - 1], n_out, m)
        a_prev = layer_rows(a_buf, a_off[l - 1], n_in, m)
        dW = layer_W(grad, sizes, p_off, l)
        db = layer_b(grad, sizes, p_off, l)
        dot_into(delta.T, a_prev, dW)
        for j in range(n_out):
            db[j] = 0.0
        for i in range(m):
            for j in range(n_out):
                db[j] += delta[i, j]
        if l > 1:
            delta_prev = layer_rows(delta_buf, z_off[l - 2], n_in, m)
            dot_into(delta, layer_W(theta, sizes, p_off, l), delta_prev)
            if keep[l - 2] < 1.0:
                apply_dropout(delta_prev, keep[l - 2], seed, a_off[l - 1])
            backprop_activation(acts[l - 2], alphas[l - 2],
                                layer_rows(z_buf, z_off[l - 2], n_in, m),
                                a_prev, delta_prev, keep[l - 2])


@jit
def loss_and_gradient(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off,
                      z_buf, z_off, delta_buf, m, y, loss, scale, keep, seed):
    """One forward and backward pass: returns J and writes dJ/dtheta into grad."""
    forward(theta, sizes, acts, alphas, p_off, a_buf, a_off, z_buf, z_off, m,
            keep, seed)
    L = sizes.shape[0] - 1
    z = layer_rows(z_buf, z_off[L - 1], sizes[L], m)
    a = layer_rows(a_buf, a_off[L], sizes[L], m)
    delta = layer_rows(delta_buf, z_off[L - 1], sizes[L], m)
    J = loss_delta(loss, scale, acts[L - 1], alphas[L - 1], z, a, y, delta)
    backward(theta, grad, sizes, acts, alphas, p_off, a_buf, a_off, z_buf,
             z_off, delta_buf, m, keep, seed)
    return J
