"""Fused optimizer updates on the GPU: one thread per parameter.

The CUDA twin of ``cpu_optim.optimizer_update(code, theta, grad, state,
hyper, t)``, with the same arguments and formulas: ``theta`` and ``grad`` are
flat device arrays of length P, ``state`` an (S, P) device array (one row per
buffer: velocity ``v``, AdaGrad's ``G``, RMSprop's ``E[g^2]``, Adam's ``m``
and ``v``), ``hyper`` the host float64 vector in the ``codes.H_*`` layout and
``t`` the 1-based step count. The per-step scalars (bias corrections, the
momentum form's coefficients) come from ``cpu_optim``'s own coefficient
function, computed once on the host; each thread then applies the element
rule below in the dtype of ``theta``.
"""
import functools
import math

import numpy as np
from numba import cuda

from . import cpu_optim
from . import cuda as cuda_kernels
from .codes import N_HYPER, OPT_ADAGRAD, OPT_ADAMW, OPT_NEWTON, OPT_RMSPROP, OPT_SGD
from .cuda_math import larger

device_function = cuda.jit(device=True)


@device_function
def regularized(g, th, wd, l1):
    """g + wd theta + l1 sign(theta), in the dtype of g."""
    g = g + wd * th
    if l1 != 0:
        if th > 0:
            g = g + l1
        elif th < 0:
            g = g - l1
    return g


@device_function
def sgd_element(theta, grad, state, c, f, i):
    """c = (s, beta_t, cg, beta, wd, l1, ...), f = (has_momentum, nesterov, ...):
    v <- beta_t v + cg g; theta <- theta - s d with d = v, or beta v + cg g
    (Nesterov), or g without momentum."""
    s, beta_t, cg, beta, wd, l1 = c[0], c[1], c[2], c[3], c[4], c[5]
    th = theta[i]
    g = regularized(grad[i], th, wd, l1)
    if f[0] == 0:
        theta[i] = th - s * g
        return
    v = beta_t * state[0, i] + cg * g
    state[0, i] = v
    if f[1] == 0:
        theta[i] = th - s * v
    else:
        theta[i] = th - s * (beta * v + cg * g)


@device_function
def adagrad_element(theta, grad, state, c, f, i):
    """c = (eta_t, eps, wd, l1, ...), f = (eps_inside, ...): G <- G + g^2,
    theta <- theta - eta_t g / (sqrt(G) + eps)   (eps_inside: / sqrt(G + eps))."""
    clr, eps, wd, l1 = c[0], c[1], c[2], c[3]
    th = theta[i]
    g = regularized(grad[i], th, wd, l1)
    G = state[0, i] + g * g
    state[0, i] = G
    if f[0] == 0:
        theta[i] = th - clr * (g / (math.sqrt(G) + eps))
    else:
        theta[i] = th - clr * (g / math.sqrt(G + eps))


@device_function
def rmsprop_element(theta, grad, state, c, f, i):
    """c = (eta, alpha, 1 - alpha, eps, beta, wd, l1, ...),
    f = (has_momentum, centered, eps_inside, ...); state rows E[g^2], then v
    (momentum), then E[g] (centered):
    E[g^2] <- alpha E[g^2] + (1 - alpha) g^2,  E[g] <- alpha E[g] + (1 - alpha) g,
    q = sqrt(E[g^2] - E[g]^2 or E[g^2]) + eps  (eps_inside: sqrt(. + eps)),
    theta <- theta - eta g / q,  or  v <- beta v + g / q, theta <- theta - eta v."""
    lr, alpha, oma, eps, beta, wd, l1 = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    has_mom, centered, inside = f[0], f[1], f[2]
    th = theta[i]
    g = regularized(grad[i], th, wd, l1)
    E = alpha * state[0, i] + oma * (g * g)
    state[0, i] = E
    s = E
    if centered != 0:
        row = 2 if has_mom != 0 else 1
        a = alpha * state[row, i] + oma * g
        state[row, i] = a
        s = E - a * a
    if inside != 0:
        q = math.sqrt(s + eps)
    else:
        q = math.sqrt(s) + eps
    if has_mom != 0:
        v = beta * state[1, i] + g / q
        state[1, i] = v
        theta[i] = th - lr * v
    else:
        theta[i] = th - lr * (g / q)


@device_function
def adam_element(theta, grad, state, c, f, i):
    """c = (eta / (1 - beta1^t), 1 / sqrt(1 - beta2^t), beta1, 1 - beta1, beta2,
    1 - beta2, eps, wd, 1 - eta lambda, l1), f = (amsgrad, ...):
    theta <- (1 - eta lambda) theta (AdamW), m <- beta1 m + (1 - beta1) g,
    v <- beta2 v + (1 - beta2) g^2, vmax <- max(vmax, v) used for v (amsgrad),
    theta <- theta - eta / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)."""
    step, rbc2, b1, omb1, b2, omb2 = c[0], c[1], c[2], c[3], c[4], c[5]
    eps, wd, decay, l1 = c[6], c[7], c[8], c[9]
    th = theta[i]
    g = regularized(grad[i], th, wd, l1)
    th = th * decay
    m = b1 * state[0, i] + omb1 * g
    v = b2 * state[1, i] + omb2 * (g * g)
    state[0, i] = m
    state[1, i] = v
    if f[0] != 0:
        v = larger(state[2, i], v)
        state[2, i] = v
    theta[i] = th - step * (m / (math.sqrt(v) * rbc2 + eps))


@device_function
def apply_rule(code, theta, grad, state, c, f, i):
    """Parameter i takes the rule of the optimizer ``code``."""
    if code == OPT_SGD:
        sgd_element(theta, grad, state, c, f, i)
    elif code == OPT_ADAGRAD:
        adagrad_element(theta, grad, state, c, f, i)
    elif code == OPT_RMSPROP:
        rmsprop_element(theta, grad, state, c, f, i)
    else:
        adam_element(theta, grad, state, c, f, i)


@cuda.jit
def update_elements(code, theta, grad, state, c, f, halt):
    """One thread per parameter i applies the rule of ``code``; nothing when
    halt[0] != 0 (the training loop's flag for a non-finite step)."""
    i = cuda.grid(1)
    if i < theta.shape[0] and halt[0] == 0:
        apply_rule(code, theta, grad, state, c, f, i)


@functools.lru_cache(maxsize=None)
def never_halt():
    """A device flag that stays 0: updates always apply."""
    return cuda.to_device(np.zeros(1, np.int64))


def optimizer_update(code, theta, grad, state, hyper, t, halt=None):
    """theta -= update(grad) for the optimizer ``code``, in place on the device;
    the formulas of ``cpu_optim.optimizer_update`` (see its docstring).
    ``halt``: an optional int64 device flag; while halt[0] != 0 nothing changes."""
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
    if state.shape[0] < cpu_optim.n_state_rows(code, hyper):
        raise ValueError("optimizer_update: state has fewer rows than "
                         "this optimizer needs")
    dtype = np.dtype(theta.dtype)
    c, f = cpu_optim._coefficients(code, np.empty(0, dtype), hyper, t)
    c = tuple(dtype.type(x) for x in c)  # numba returns Python floats: back to theta's dtype
    halt = never_halt() if halt is None else halt
    update_elements[cuda_kernels.blocks(P), cuda_kernels.THREADS](code, theta, grad, state, c, f,
                                                                  halt)
