"""Fused optimizer updates on CPU: one loop over the flat parameter buffer.

Every parameter of a network lives in one flat vector ``theta`` of length P;
its gradient ``grad`` and every optimizer state (velocity ``v``, AdaGrad's
``G``, RMSprop's ``E[g^2]``, Adam's ``m`` and ``v``) are flat vectors of the
same length, stacked as the rows of ``state`` (shape ``(S, P)``). An
optimizer step is then a single pass over P elements::

    optimizer_update(code, theta, grad, state, hyper, t)

``code`` picks the optimizer (``codes.OPT_*``), ``hyper`` is the float64
vector of hyperparameters laid out by the ``codes.H_*`` indices (the same
layout for every optimizer; ``hyper[H_LR]`` is the learning rate in force)
and ``t`` is the 1-based step count. ``theta`` and ``state`` are updated in
place; ``grad`` is only read. The CUDA twin takes the same arguments.

Notation (the course's): ``g`` is the gradient of J with respect to theta,
``eta`` the learning rate, ``beta``/``gamma`` the momentum coefficient,
``beta1``/``beta2`` Adam's decay rates, ``eps`` the small constant guarding
the division. The regularized gradient used by every rule is::

    g <- g + wd * theta + l1 * sign(theta)

(coupled L2 as in ``torch.optim``; AdamW decays theta directly instead.)

Precision: the element loop runs in the dtype of ``theta`` (float32 stays
float32). Scalar coefficients such as Adam's bias corrections are computed
once per step in float64 and then cast to that dtype.

Compilation: ``_coefficients`` and ``_update_range`` are inlined into
their callers at numba's IR level, so the training loop, compiled once per
optimizer with ``code`` a constant (``cpu_train.train_epochs``), compiles
only that optimizer's loop; ``optimizer_update`` itself (a variable
``code``) compiles them all.

Parallelism: ``optimizer_update`` is a plain (serial, SIMD-vectorized)
loop. ``optimizer_update_parallel`` (same arguments, same results) splits it
over threads with ``prange``; it is opt-in, compiled only when first called.
Measured on 2 cores, float32, min of 30 runs (numba's OpenMP layer):

    P = 100k:  Adam 33 us serial, 26 us prange;   SGD 8.8 us, 8.8 us
    P = 1M:    Adam 286 us serial, 158 us prange; SGD 95 us, 55 us

but as soon as another process competes for the cores (a second training
run, torch, pytest-xdist) the OpenMP barrier makes the prange loop 25-70x
slower (7-11 ms at P = 1M, reproducibly), numba's ``workqueue`` layer (the
fallback where OpenMP/TBB are missing) costs 75-120 us per launch and never
paid on 2 cores, and compiling the parallel loops adds ~2.5 s per dtype to
the first run. The update is a small part of a training step (the matrix
products dominate), so the default is serial; the GPU twin is where the
update runs in parallel.
"""

import numpy as np
from numba import njit, prange

from numbann.kernels.cpu import JIT_OPTIONS, inlined
from numbann.kernels.codes import (
    OPT_SGD, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM, OPT_ADAMW, OPT_NEWTON,
    MOMENTUM_TORCH, MOMENTUM_AVERAGE,
    H_LR, H_MOMENTUM, H_DAMPENING, H_NESTEROV, H_MOMENTUM_FORM,
    H_WEIGHT_DECAY, H_L1, H_BETA1, H_BETA2, H_ALPHA, H_EPS, H_EPS_INSIDE,
    H_LR_DECAY, H_CENTERED, H_AMSGRAD, N_HYPER,
)

# Elements per parallel work item (a multiple of the SIMD width).
_CHUNK = 32768


@njit(**JIT_OPTIONS)
def n_state_rows(code, hyper):
    """Number of state rows S the optimizer ``code`` needs (always >= 1)."""
    if code == OPT_SGD:
        return 1                      # velocity v (unused without momentum)
    if code == OPT_ADAGRAD:
        return 1                      # G
    if code == OPT_RMSPROP:
        s = 1                         # E[g^2]
        if hyper[H_MOMENTUM] != 0.0:
            s += 1                    # velocity
        if hyper[H_CENTERED] != 0.0:
            s += 1                    # E[g]
        return s
    if code == OPT_ADAM or code == OPT_ADAMW:
        if hyper[H_AMSGRAD] != 0.0:
            return 3                  # m, v, max of v
        return 2                      # m, v
    return 1


@njit(**JIT_OPTIONS)
def _reg(g, th, wd, l1):
    """g + wd theta + l1 sign(theta), in the dtype of g."""
    g = g + wd * th
    if l1 != 0:
        if th > 0:
            g = g + l1
        elif th < 0:
            g = g - l1
    return g


@njit(**JIT_OPTIONS)
def _sgd_loop(theta, grad, v, c, f):
    """SGD over 1-D slices.

    c = (s, beta_t, cg, beta, wd, l1, ...), f = (has_momentum, nesterov, ...):
        v <- beta_t v + cg g
        d  = beta v + cg g   (Nesterov)   or   d = v
        theta <- theta - s d
    and without momentum theta <- theta - s g.
    """
    s = c[0]
    beta_t = c[1]
    cg = c[2]
    beta = c[3]
    wd = c[4]
    l1 = c[5]
    n = theta.shape[0]
    if f[0] == 0:
        for i in range(n):
            th = theta[i]
            g = _reg(grad[i], th, wd, l1)
            theta[i] = th - s * g
    elif f[1] == 0:
        for i in range(n):
            th = theta[i]
            g = _reg(grad[i], th, wd, l1)
            vi = beta_t * v[i] + cg * g
            v[i] = vi
            theta[i] = th - s * vi
    else:
        for i in range(n):
            th = theta[i]
            g = _reg(grad[i], th, wd, l1)
            vi = beta_t * v[i] + cg * g
            v[i] = vi
            theta[i] = th - s * (beta * vi + cg * g)


@njit(**JIT_OPTIONS)
def _adagrad_loop(theta, grad, G, c, f):
    """AdaGrad over 1-D slices.

    c = (clr, eps, wd, l1, ...), f = (eps_inside, ...):
        G <- G + g^2
        theta <- theta - clr g / (sqrt(G) + eps)      (torch)
        theta <- theta - clr g / sqrt(G + eps)        (eps_inside)
    """
    clr = c[0]
    eps = c[1]
    wd = c[2]
    l1 = c[3]
    n = theta.shape[0]
    if f[0] == 0:
        for i in range(n):
            th = theta[i]
            g = _reg(grad[i], th, wd, l1)
            Gi = G[i] + g * g
            G[i] = Gi
            theta[i] = th - clr * (g / (np.sqrt(Gi) + eps))
    else:
        for i in range(n):
            th = theta[i]
            g = _reg(grad[i], th, wd, l1)
            Gi = G[i] + g * g
            G[i] = Gi
            theta[i] = th - clr * (g / np.sqrt(Gi + eps))


@njit(**JIT_OPTIONS)
def _rmsprop_loop(theta, grad, E2, v, E1, c, f):
    """RMSprop over 1-D slices (torch.optim.RMSprop).

    c = (eta, alpha, 1 - alpha, eps, beta, wd, l1, ...),
    f = (has_momentum, centered, eps_inside, ...):
        E[g^2] <- alpha E[g^2] + (1 - alpha) g^2
        E[g]   <- alpha E[g] + (1 - alpha) g                 (centered)
        s       = E[g^2] - E[g]^2  (centered)  or  E[g^2]
        q       = sqrt(s) + eps    or  sqrt(s + eps) (eps_inside)
        v <- beta v + g / q,  theta <- theta - eta v        (momentum)
        theta <- theta - eta g / q                           (otherwise)
    """
    lr = c[0]
    alpha = c[1]
    oma = c[2]
    eps = c[3]
    beta = c[4]
    wd = c[5]
    l1 = c[6]
    has_mom = f[0]
    centered = f[1]
    inside = f[2]
    n = theta.shape[0]
    if has_mom == 0 and centered == 0 and inside == 0:
        for i in range(n):          # the default: its own loop
            th = theta[i]
            g = _reg(grad[i], th, wd, l1)
            E = alpha * E2[i] + oma * (g * g)
            E2[i] = E
            theta[i] = th - lr * (g / (np.sqrt(E) + eps))
        return
    for i in range(n):
        th = theta[i]
        g = _reg(grad[i], th, wd, l1)
        E = alpha * E2[i] + oma * (g * g)
        E2[i] = E
        s = E
        if centered != 0:
            a = alpha * E1[i] + oma * g
            E1[i] = a
            s = E - a * a
        if inside != 0:
            q = np.sqrt(s + eps)
        else:
            q = np.sqrt(s) + eps
        if has_mom != 0:
            vi = beta * v[i] + g / q
            v[i] = vi
            theta[i] = th - lr * vi
        else:
            theta[i] = th - lr * (g / q)


@njit(**JIT_OPTIONS)
def _adam_loop(theta, grad, m, v, vmax, c, f):
    """Adam / AdamW over 1-D slices (torch.optim.Adam / AdamW).

    c = (eta / (1 - beta1^t), 1 / sqrt(1 - beta2^t), beta1, 1 - beta1, beta2,
         1 - beta2, eps, wd, 1 - eta lambda, l1), f = (amsgrad, ...):
        theta <- (1 - eta lambda) theta                      (AdamW only)
        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        vmax <- max(vmax, v), used in place of v             (amsgrad)
        theta <- theta - eta / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    which is theta -= eta mhat / (sqrt(vhat) + eps) with mhat = m/(1-beta1^t),
    vhat = v/(1-beta2^t), arranged as torch arranges it (except that the
    division by sqrt(1 - beta2^t) is a multiplication by its inverse, 25%
    faster measured; the results differ from torch's by rounding only).
    """
    step = c[0]
    rbc2 = c[1]
    b1 = c[2]
    omb1 = c[3]
    b2 = c[4]
    omb2 = c[5]
    eps = c[6]
    wd = c[7]
    decay = c[8]
    l1 = c[9]
    n = theta.shape[0]
    if f[0] == 0:
        for i in range(n):
            th = theta[i]
            g = _reg(grad[i], th, wd, l1)
            th = th * decay
            mi = b1 * m[i] + omb1 * g
            vi = b2 * v[i] + omb2 * (g * g)
            m[i] = mi
            v[i] = vi
            theta[i] = th - step * (mi / (np.sqrt(vi) * rbc2 + eps))
    else:
        for i in range(n):
            th = theta[i]
            g = _reg(grad[i], th, wd, l1)
            th = th * decay
            mi = b1 * m[i] + omb1 * g
            vi = b2 * v[i] + omb2 * (g * g)
            m[i] = mi
            v[i] = vi
            vm = max(vmax[i], vi)
            vmax[i] = vm
            theta[i] = th - step * (mi / (np.sqrt(vm) * rbc2 + eps))


@inlined
def _update_range(code, theta, grad, state, c, f, lo, hi):
    """Apply the update to elements lo..hi-1.

    The loops run over 0-based slices: numba then knows the index is
    non-negative and LLVM vectorizes them (a loop from ``lo`` does not,
    because of negative-index wraparound handling; 8x slower measured).
    Inlined into its callers (numba IR), so where ``code`` is a constant
    only that optimizer's loop is compiled (see ``cpu_train.train_epochs``).
    """
    th = theta[lo:hi]
    g = grad[lo:hi]
    s0 = state[0, lo:hi]
    if code == OPT_SGD:
        _sgd_loop(th, g, s0, c, f)
    elif code == OPT_ADAGRAD:
        _adagrad_loop(th, g, s0, c, f)
    elif code == OPT_RMSPROP:
        rv = 1 if f[0] != 0 else 0           # velocity row (if momentum)
        ra = 1 + rv if f[1] != 0 else 0      # E[g] row (if centered)
        _rmsprop_loop(th, g, s0, state[rv, lo:hi], state[ra, lo:hi], c, f)
    else:
        s1 = state[1, lo:hi]
        s2 = state[2, lo:hi] if f[0] != 0 else s1
        _adam_loop(th, g, s0, s1, s2, c, f)


@njit(parallel=True, **JIT_OPTIONS)
def _update_parallel(code, theta, grad, state, c, f):
    P = theta.shape[0]
    nchunks = (P + _CHUNK - 1) // _CHUNK
    for k in prange(nchunks):
        lo = k * _CHUNK
        hi = min(lo + _CHUNK, P)
        _update_range(code, theta, grad, state, c, f, lo, hi)


@inlined
def _coefficients(code, theta, hyper, t):
    """Per-step scalars c (cast to theta's dtype, 10 of them) and integer
    flags f (5) for the optimizer ``code``; inlined, as ``_update_range``."""
    if code == OPT_SGD:
        return _sgd_coefficients(theta, hyper, t)
    if code == OPT_ADAGRAD:
        return _adagrad_coefficients(theta, hyper, t)
    if code == OPT_RMSPROP:
        return _rmsprop_coefficients(theta, hyper, t)
    return _adam_coefficients(code, theta, hyper, t)


@njit(**JIT_OPTIONS)
def _sgd_coefficients(theta, hyper, t):
    """SGD: c = (s, beta_t, cg, beta, wd, l1), f = (has_momentum, nesterov)."""
    T = theta.dtype.type
    z = T(0.0)
    lr = hyper[H_LR]
    beta = hyper[H_MOMENTUM]
    form = int(hyper[H_MOMENTUM_FORM])
    has_mom = 1 if beta != 0.0 else 0
    nesterov = 1 if hyper[H_NESTEROV] != 0.0 else 0
    s = lr
    beta_t = beta
    if form == MOMENTUM_TORCH:
        cg = 1.0 - hyper[H_DAMPENING]
        if t == 1:              # torch: the buffer starts as g itself
            beta_t = 0.0
            cg = 1.0
    elif form == MOMENTUM_AVERAGE:
        cg = 1.0 - beta
    else:                       # MOMENTUM_CLASSIC: v = gamma v + eta g
        cg = lr
        if has_mom != 0:
            s = 1.0
    c = (T(s), T(beta_t), T(cg), T(beta), T(hyper[H_WEIGHT_DECAY]), T(hyper[H_L1]), z, z, z, z)
    return c, (has_mom, nesterov, 0, 0, 0)


@njit(**JIT_OPTIONS)
def _adagrad_coefficients(theta, hyper, t):
    """AdaGrad: c = (eta / (1 + (t - 1) lr_decay), eps, wd, l1), f = (eps_inside,)."""
    T = theta.dtype.type
    z = T(0.0)
    clr = hyper[H_LR] / (1.0 + (t - 1) * hyper[H_LR_DECAY])
    inside = 1 if hyper[H_EPS_INSIDE] != 0.0 else 0
    c = (T(clr), T(hyper[H_EPS]), T(hyper[H_WEIGHT_DECAY]), T(hyper[H_L1]), z, z, z, z, z, z)
    return c, (inside, 0, 0, 0, 0)


@njit(**JIT_OPTIONS)
def _rmsprop_coefficients(theta, hyper, t):
    """RMSprop: c = (eta, alpha, 1 - alpha, eps, beta, wd, l1),
    f = (has_momentum, centered, eps_inside)."""
    T = theta.dtype.type
    z = T(0.0)
    alpha = hyper[H_ALPHA]
    beta = hyper[H_MOMENTUM]
    has_mom = 1 if beta != 0.0 else 0
    centered = 1 if hyper[H_CENTERED] != 0.0 else 0
    inside = 1 if hyper[H_EPS_INSIDE] != 0.0 else 0
    c = (T(hyper[H_LR]), T(alpha), T(1.0 - alpha), T(hyper[H_EPS]), T(beta),
         T(hyper[H_WEIGHT_DECAY]), T(hyper[H_L1]), z, z, z)
    return c, (has_mom, centered, inside, 0, 0)


@njit(**JIT_OPTIONS)
def _adam_coefficients(code, theta, hyper, t):
    """Adam / AdamW: c = (eta / (1 - beta1^t), 1 / sqrt(1 - beta2^t), beta1,
    1 - beta1, beta2, 1 - beta2, eps, wd, 1 - eta lambda, l1), f = (amsgrad,);
    AdamW decays theta (1 - eta lambda) instead of adding wd theta to g."""
    T = theta.dtype.type
    lr = hyper[H_LR]
    wd = hyper[H_WEIGHT_DECAY]
    b1 = hyper[H_BETA1]
    b2 = hyper[H_BETA2]
    bc1 = 1.0 - b1 ** t
    bc2 = 1.0 - b2 ** t
    if code == OPT_ADAMW:
        decay = 1.0 - lr * wd
        wd = 0.0
    else:
        decay = 1.0
    ams = 1 if hyper[H_AMSGRAD] != 0.0 else 0
    c = (T(lr / bc1), T(1.0 / np.sqrt(bc2)), T(b1), T(1.0 - b1), T(b2),
         T(1.0 - b2), T(hyper[H_EPS]), T(wd), T(decay), T(hyper[H_L1]))
    return c, (ams, 0, 0, 0, 0)


@njit(**JIT_OPTIONS)
def _check(code, theta, grad, state, hyper, t):
    """The argument checks shared by both entry points."""
    P = theta.shape[0]
    if grad.shape[0] != P:
        raise ValueError("optimizer_update: grad and theta differ in length")
    if state.shape[1] != P:
        raise ValueError("optimizer_update: state.shape[1] != len(theta)")
    if hyper.shape[0] < N_HYPER:
        raise ValueError("optimizer_update: hyper is shorter than codes.N_HYPER")
    if t < 1:
        raise ValueError("optimizer_update: the step count t is 1-based")
    if code == OPT_NEWTON:
        raise ValueError("optimizer_update: Newton's method is not a fused "
                         "update; use numbann.optim.Newton.step_newton")
    if code < OPT_SGD or code > OPT_ADAMW:
        raise ValueError("optimizer_update: unknown optimizer code")
    if state.shape[0] < n_state_rows(code, hyper):
        raise ValueError("optimizer_update: state has fewer rows than "
                         "this optimizer needs")


@njit(**JIT_OPTIONS)
def optimizer_update(code, theta, grad, state, hyper, t):
    """theta -= update(grad) for the optimizer named by ``code``; one fused
    loop over the flat buffers. ``theta`` and ``state`` change in place,
    ``grad`` is read only. With g the regularized gradient
    g + wd theta + l1 sign(theta) (hyper[H_WEIGHT_DECAY], hyper[H_L1]):

    OPT_SGD, state = [v]; eta = hyper[H_LR], beta = hyper[H_MOMENTUM]:
        beta = 0:                theta <- theta - eta g
        MOMENTUM_TORCH:          v <- beta v + (1 - dampening) g  (v = g at t = 1)
                                 theta <- theta - eta v
        MOMENTUM_AVERAGE:        v <- beta v + (1 - beta) g,   theta <- theta - eta v
        MOMENTUM_CLASSIC:        v <- gamma v + eta g,         theta <- theta - v
        Nesterov (any form):     the step uses beta v + c g instead of v, c being
                                 the coefficient of g in the v update (torch:
                                 theta <- theta - eta (g + beta v)).
    OPT_ADAGRAD, state = [G]:
        G <- G + g^2, eta_t = eta / (1 + (t - 1) lr_decay)
        theta <- theta - eta_t g / (sqrt(G) + eps)     (eps_inside: / sqrt(G + eps))
    OPT_RMSPROP, state = [E[g^2], (v if momentum), (E[g] if centered)]:
        E[g^2] <- alpha E[g^2] + (1 - alpha) g^2       (alpha = the course's rho)
        q = sqrt(E[g^2] - E[g]^2 if centered else E[g^2]) + eps   (or sqrt(. + eps))
        theta <- theta - eta g / q     or with momentum  v <- beta v + g / q,
        theta <- theta - eta v
    OPT_ADAM, state = [m, v, (vmax if amsgrad)]:
        m <- beta1 m + (1 - beta1) g,  v <- beta2 v + (1 - beta2) g^2
        mhat = m / (1 - beta1^t),  vhat = v / (1 - beta2^t)
        theta <- theta - eta mhat / (sqrt(vhat) + eps)
    OPT_ADAMW: as OPT_ADAM but the decay is decoupled, applied first:
        theta <- theta - eta lambda theta    (lambda = hyper[H_WEIGHT_DECAY])
    """
    _check(code, theta, grad, state, hyper, t)
    c, f = _coefficients(code, theta, hyper, t)
    _update_range(code, theta, grad, state, c, f, 0, theta.shape[0])


@njit(**JIT_OPTIONS)
def optimizer_update_parallel(code, theta, grad, state, hyper, t):
    """``optimizer_update`` split over threads (``numba.prange``), chunks of
    32768 elements; same arguments, same results. Opt-in: it pays only for
    long vectors on otherwise idle cores (see the module docstring)."""
    _check(code, theta, grad, state, hyper, t)
    c, f = _coefficients(code, theta, hyper, t)
    _update_parallel(code, theta, grad, state, c, f)
