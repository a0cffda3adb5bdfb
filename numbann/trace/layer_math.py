"""Each layer kind's forward and backward formulas in plain NumPy, written
from the course's definitions and independent of the kernels, so replay and
explain can recompute a recorded step and check it.

Batches are batch-major with each layer's natural shape: ``(m, n)`` for flat
layers, ``(m, C, H, W)`` for images. ``spec`` is a layer's entry of
:class:`numbann.trace.arch.Arch` (kernel, stride, pad, eps).
"""
import numpy as np

from . import attention_math as am
from . import rnn_math


def padded(a, spec, out_hw):
    """a[l-1] with the conv's zero padding around each plane, large enough for
    every window: (m, C, H + pads, W + pads), and the offset of a[l-1][.., 0, 0]."""
    (kh, kw), s, (ph, pw) = spec["kernel"], spec["stride"], spec["pad"]
    Ho, Wo = out_hw
    m, C, H, W = a.shape
    Hp = max(H + ph, (Ho - 1) * s + kh)
    Wp = max(W + pw, (Wo - 1) * s + kw)
    out = np.zeros((m, C, Hp, Wp))
    out[:, :, ph:ph + H, pw:pw + W] = a
    return out


def windows(a_pad, spec, out_hw):
    """Every window of the (padded) input: (m, C, Ho, Wo, kh, kw), where
    windows[i, c, p, q, u, v] = a[i, c, p s - ph + u, q s - pw + v]."""
    (kh, kw), s = spec["kernel"], spec["stride"]
    Ho, Wo = out_hw
    rows = (np.arange(Ho) * s)[:, None] + np.arange(kh)[None, :]     # (Ho, kh)
    cols = (np.arange(Wo) * s)[:, None] + np.arange(kw)[None, :]     # (Wo, kw)
    return a_pad[:, :, rows[:, None, :, None], cols[None, :, None, :]]


def conv_forward(a, W, b, spec):
    """z[i,o,p,q] = b[o] + sum_{c,u,v} W[o,c,u,v] a[i,c,p s-ph+u, q s-pw+v]."""
    out_hw = spec["out"][1:]
    win = windows(padded(np.asarray(a, np.float64), spec, out_hw), spec, out_hw)
    return np.einsum("icpquv,ocuv->iopq", win, W) + np.asarray(b)[None, :, None, None]


def conv_dW(delta, a, spec):
    """dW[o,c,u,v] = sum_{i,p,q} delta[i,o,p,q] a[i,c,p s-ph+u, q s-pw+v]."""
    out_hw = spec["out"][1:]
    win = windows(padded(np.asarray(a, np.float64), spec, out_hw), spec, out_hw)
    return np.einsum("iopq,icpquv->ocuv", delta, win)


def conv_input_grad(delta, W, spec):
    """dJ/da[l-1][i,c,h,w] = sum over (o, p, q, u, v) with p s-ph+u = h and
    q s-pw+v = w of delta[i,o,p,q] W[o,c,u,v]."""
    C, H, Wd = spec["in"]
    (kh, kw), s, (ph, pw) = spec["kernel"], spec["stride"], spec["pad"]
    m, _, Ho, Wo = delta.shape
    out = padded(np.zeros((m, C, H, Wd)), spec, (Ho, Wo))
    for u in range(kh):
        for v in range(kw):
            out[:, :, u:u + Ho * s:s, v:v + Wo * s:s] += np.einsum("iopq,oc->icpq", delta,
                                                                   W[:, :, u, v])
    return out[:, :, ph:ph + H, pw:pw + Wd]


def maxpool_forward(a, spec):
    """(z, winners): z[i,c,p,q] = max of the window, winners = the index
    h W + w of its first maximum (row-major order) in the input plane."""
    (_, kw), s = spec["kernel"], spec["stride"]
    out_hw = spec["out"][1:]
    win = windows(np.asarray(a, np.float64), spec, out_hw)
    flat = win.reshape(win.shape[:4] + (-1,))
    k = flat.argmax(axis=-1)
    u, v = np.divmod(k, kw)
    p = np.arange(out_hw[0])[None, None, :, None]
    q = np.arange(out_hw[1])[None, None, None, :]
    return flat.max(axis=-1), (p * s + u) * a.shape[3] + q * s + v


def maxpool_input_grad(delta, winners, spec):
    """delta routed to each window's winner: dJ/da[l-1] is 0 elsewhere."""
    C, H, W = spec["in"]
    m = delta.shape[0]
    out = np.zeros((m * C, H * W))
    idx = winners.reshape(m * C, -1)
    rows = np.repeat(np.arange(m * C), idx.shape[1])
    np.add.at(out, (rows, idx.ravel()), delta.reshape(m * C, -1).ravel())
    return out.reshape(m, C, H, W)


def avgpool_forward(a, spec):
    """z[i,c,p,q] = 1/(kh kw) sum_{u,v} a[i,c,p s+u, q s+v]."""
    return windows(np.asarray(a, np.float64), spec, spec["out"][1:]).mean(axis=(4, 5))


def avgpool_input_grad(delta, spec):
    """Each window's delta / (kh kw) to every input of the window."""
    (kh, kw), s = spec["kernel"], spec["stride"]
    C, H, W = spec["in"]
    m, _, Ho, Wo = delta.shape
    out = np.zeros((m, C, max(H, (Ho - 1) * s + kh), max(W, (Wo - 1) * s + kw)))
    for u in range(kh):
        for v in range(kw):
            out[:, :, u:u + Ho * s:s, v:v + Wo * s:s] += delta / (kh * kw)
    return out[:, :, :H, :W]


def channels_last(x):
    """(m, C, ...) -> (C, m * ...): the N values of each channel (unit) on a row."""
    x = np.asarray(x, np.float64)
    return np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)


def _per_channel(v, ndim):
    return np.asarray(v, np.float64).reshape((1, -1) + (1,) * (ndim - 2))


def batchnorm_forward(a, gamma, beta, eps):
    """(z, mean, var, xhat) with batch statistics over the N = m H W values of
    each channel: xhat = (a - mean) / sqrt(var + eps), z = gamma xhat + beta
    (var biased, 1/N)."""
    rows = channels_last(a)
    mean, var = rows.mean(axis=1), rows.var(axis=1)
    xhat = (a - _per_channel(mean, a.ndim)) / np.sqrt(_per_channel(var, a.ndim) + eps)
    return _per_channel(gamma, a.ndim) * xhat + _per_channel(beta, a.ndim), mean, var, xhat


def batchnorm_input_grad(delta, xhat, gamma, inv_std):
    """dJ/da[l-1] = gamma / (N sigma) (N delta - sum delta - xhat sum delta xhat),
    the sums over each channel's N values."""
    N = channels_last(delta).shape[1]
    s_d = _per_channel(channels_last(delta).sum(axis=1), delta.ndim)
    s_dx = _per_channel(channels_last(delta * xhat).sum(axis=1), delta.ndim)
    k = _per_channel(np.asarray(gamma) * np.asarray(inv_std), delta.ndim)
    return k / N * (N * delta - s_d - xhat * s_dx)


def forward(spec, a, W, b):
    """z[l] from a[l-1] (batch statistics for BatchNorm): the kernels' forward, in NumPy."""
    kind = spec["kind"]
    a = np.asarray(a, np.float64)
    if kind == "Dense":
        return a @ np.asarray(W).T + b
    if kind == "Conv2D":
        return conv_forward(a, W, b, spec)
    if kind == "MaxPool2D":
        return maxpool_forward(a, spec)[0]
    if kind == "AvgPool2D":
        return avgpool_forward(a, spec)
    if kind == "BatchNorm":
        return batchnorm_forward(a, W, b, spec["eps"])[0]
    if kind == "RNN":
        return rnn_math.output(spec, rnn_math.steps(spec, a, W, b)[0])
    if kind == "SelfAttention":
        return am.attention(spec, a, W)[4]
    if kind == "LastStep":
        return a[:, -1]
    if kind == "LayerNorm":
        return am.layernorm(a, W, b)[1]
    if kind == "PositionalEncoding":
        return a + (np.asarray(b).reshape(a.shape[1:]) if spec["learned"]
                    else am.sinusoidal(*a.shape[1:]))
    return a.reshape(len(a), -1)  # Flatten


def input_grad(spec, delta, a, W, winners=None, b=None):
    """dJ/da[l-1] from delta[l] = dJ/dz[l] through the layer (before g'(z[l-1]));
    an RNN layer needs its bias ``b`` (backpropagation through time)."""
    kind = spec["kind"]
    delta = np.asarray(delta, np.float64)
    if kind == "Dense":
        return delta @ W
    if kind == "Conv2D":
        return conv_input_grad(delta, W, spec)
    if kind == "MaxPool2D":
        if winners is None:
            winners = maxpool_forward(a, spec)[1]
        return maxpool_input_grad(delta, winners, spec)
    if kind == "AvgPool2D":
        return avgpool_input_grad(delta, spec)
    if kind == "BatchNorm":
        _, mean, var, xhat = batchnorm_forward(a, W, W, spec["eps"])
        return batchnorm_input_grad(delta, xhat, W, 1 / np.sqrt(var + spec["eps"]))
    if kind == "RNN":
        return rnn_math.through_time(spec, delta, a, W, b)[3]
    if kind == "SelfAttention":
        return am.attention_backward(spec, delta, a, W)[2]
    if kind == "LayerNorm":
        return am.layernorm_backward(delta, a, W)[2]
    if kind == "PositionalEncoding":
        return delta
    if kind == "LastStep":
        full = np.zeros((len(delta),) + tuple(spec["in"]))
        full[:, -1] = delta
        return full
    return delta.reshape((len(delta),) + tuple(spec["in"]))  # Flatten


def param_grads(spec, delta, a, W=None, b=None):
    """(dW[l], db[l]) from delta[l] and a[l-1] (None, None without parameters);
    an RNN layer needs its W[l] and b[l] (backpropagation through time)."""
    kind = spec["kind"]
    delta = np.asarray(delta, np.float64)
    if kind == "Dense":  # a sequence's steps are rows too
        rows, a = delta.reshape(-1, delta.shape[-1]), np.asarray(a).reshape(-1, a.shape[-1])
        return rows.T @ a, rows.sum(axis=0)
    if kind == "Conv2D":
        return conv_dW(delta, a, spec), delta.sum(axis=(0, 2, 3))
    if kind == "BatchNorm":
        xhat = batchnorm_forward(a, np.ones(delta.shape[1]), np.zeros(delta.shape[1]),
                                 spec["eps"])[3]
        return channels_last(delta * xhat).sum(axis=1), channels_last(delta).sum(axis=1)
    if kind == "RNN":
        return rnn_math.through_time(spec, delta, a, W, b)[1:3]
    if kind == "SelfAttention":
        return am.attention_backward(spec, delta, a, W)[1], np.zeros(0)
    if kind == "LayerNorm":
        return am.layernorm_backward(delta, a, W)[:2]
    if kind == "PositionalEncoding":
        return np.zeros(0), (delta.sum(axis=0) if spec["learned"] else np.zeros(0))
    return None, None
