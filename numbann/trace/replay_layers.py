"""Replay a recorded step of a network of layers (conv, pooling, batch norm,
flatten, dense) in the course's notation.

For one sample, each layer's forward line is written for one output (an
image layer: a channel and a position (p, q); a flat layer: the vector) with
its numbers, then the backward pass delta[l-1] = dJ/da[l-1] * g'(z[l-1])
through each layer, then the gradients. Every line's whole array is also
recomputed in NumPy (``layer_math``) from the recorded inputs of that line
and compared with the recorded one; ``replay.replay`` reports the largest
difference. ``channel`` and ``position`` apply to every image layer, clipped
to its size (the default position is the centre of each layer's output).
"""
import numpy as np

from . import layer_math as lm
from . import replay_attention, replay_rnn
from ._text import arr, num
from .explain import _row_index, apply, slope
from .replay import _output_delta_lines, _show

MAX_CHANNELS = 4  # a conv output's input channels written out one by one
MAX_WINDOWS = 16  # max-pool windows listed


def replay_layers(c, sample, out, check, layer=None, channel=0, position=None):
    """Append the replay of sample ``sample`` to ``out`` (see the module notes);
    ``c`` is replay's context of the step, ``check(recorded, recomputed)``
    collects the differences."""
    rec, L, d = c.rec, c.L, c.digits
    arch = c.trace.arch
    i = _row_index(rec, sample)
    if layer is not None:
        arch[layer]  # a clear IndexError for a layer that does not exist
    layers = range(1, L + 1) if layer is None else [layer]
    c.full = rec.samples is None or len(rec.samples) == rec.m   # every row of the batch kept
    c.i, c.channel, c.position = i, channel, position
    where = f" (row {int(rec.rows[sample])} of X)" if rec.rows is not None else ""
    out.append(f"Sample i = {sample} of the batch{where}. Each layer: z[l] = f_l(a[l-1]; W[l], "
               f"b[l]), a[l] = g(z[l]), in its natural shape; an image layer is shown at one "
               f"output (channel, position (p, q)).")
    out.append("")
    out.append("Forward pass")
    x = c.get("x")
    if x is not None:
        out.append(f"  a[0] = x, one sample of shape {arch.shape(0)}")
    for l in layers:
        out.append(f"  Layer {l}: {arch.describe(l)}: a[{l - 1}] {arch.shape(l - 1)} -> "
                   f"z[{l}], a[{l}] {arch.shape(l)}")
        _FORWARD[arch.kind(l)](c, l, out, check)
        _activation(c, l, out, check)
    y, aL = c.get("y"), c.a(L)
    if aL is not None and layer is None:
        out.append(f"  yhat = a[{L}] = {arr(aL[i], d)}" +
                   (f";  target y = {arr(y[i], d)}" if y is not None else ""))
    out.append("")
    out.append("Backward pass: delta[l] = dJ/dz[l], then delta[l-1] = dJ/da[l-1] * g'(z[l-1]) "
               "with dJ/da[l-1] through layer l")
    if layer is None or layer == L:
        _output_delta_lines(c, out, check, lambda v: v[i], "  ")
    for l in (range(L, 1, -1) if layer is None else [layer + 1] if layer < L else []):
        _backward(c, l, out, check)    # delta[l-1] from delta[l]
    out.append("")
    out.append("Gradients: summed over the batch (every row and, for a conv layer, every "
               "position its filter visits)")
    for l in (range(L, 0, -1) if layer is None else [layer]):
        if arch.has_params(l):
            _gradients(c, l, out, check)


# ------------------------------------------------------------------ focus

def _focus(c, l):
    """The output of layer l shown: (channel, p, q) of an image, None for a vector."""
    shape = c.trace.arch.shape(l)
    if len(shape) != 3:
        return None
    C, H, W = shape
    p, q = (H // 2, W // 2) if c.position is None else c.position
    return min(max(c.channel, 0), C - 1), min(max(p, 0), H - 1), min(max(q, 0), W - 1)


def _at(v, i, f):
    return v[i] if f is None else v[(i,) + f]


def _name(x, l, i, f):
    """``z[2][0,1,2,3]`` (image) or ``z[2]`` (vector)."""
    return f"{x}[{l}]" + ("" if f is None else f"[{i},{f[0]},{f[1]},{f[2]}]")


def _value_line(c, name, value, recorded):
    """``    name = value  (recorded r)``."""
    d = c.digits
    text = f"    {name} = {arr(value, d)}"
    if recorded is not None and np.size(value) == 1:
        text += f"   (recorded {num(recorded, d)})"
    return text


# ------------------------------------------------------------------ forward

def _dense(c, l, out, check):
    d, i = c.digits, c.i
    W, b, a_prev, z = c.get(f"W_before/{l}"), c.get(f"b_before/{l}"), c.a(l - 1), c.get(f"z/{l}")
    out.append(f"    z[{l}] = W[{l}] a[{l - 1}] + b[{l}]")
    if W is not None and a_prev is not None:
        out.append(_show(f"W[{l}]", W, d, "      "))
        out.append(f"      a[{l - 1}] = {arr(a_prev[i], d)},  b[{l}] = {arr(b, d)}")
        check(z, lm.forward(c.trace.arch[l], a_prev, W, b))
    if z is not None:
        out.append(f"    z[{l}] = {arr(z[i], d)}")


def _conv(c, l, out, check):
    d, i, spec = c.digits, c.i, c.trace.arch[l]
    (kh, kw), s, (ph, pw) = spec["kernel"], spec["stride"], spec["pad"]
    W, b, a_prev, z = c.get(f"W_before/{l}"), c.get(f"b_before/{l}"), c.a(l - 1), c.get(f"z/{l}")
    o, p, q = f = _focus(c, l)
    out.append(f"    z[{l}][i,o,p,q] = b[{l}][o] + sum_{{c,u,v}} W[{l}][o,c,u,v] "
               f"a[{l - 1}][i,c,p*{s}-{ph}+u, q*{s}-{pw}+v]")
    if W is None or a_prev is None:
        return
    h0, w0 = p * s - ph, q * s - pw
    pads = "" if (h0 >= 0 and w0 >= 0 and h0 + kh <= spec["in"][1] and w0 + kw <= spec["in"][2]) \
        else " (outside the image: the zero padding)"
    out.append(f"    at i = {i}, o = {o}, (p, q) = ({p}, {q}): the window is rows "
               f"{h0}..{h0 + kh - 1}, columns {w0}..{w0 + kw - 1} of a[{l - 1}][{i}]{pads}")
    win = lm.windows(lm.padded(a_prev[i:i + 1], spec, spec["out"][1:]), spec,
                     spec["out"][1:])[0, :, p, q]               # (C_in, kh, kw)
    sums = (W[o] * win).sum(axis=(1, 2))
    for ch in range(min(len(sums), MAX_CHANNELS)):
        out.append(_show(f"c = {ch}: W[{l}][{o},{ch}]", W[o, ch], d, "      "))
        out.append(_show(f"a[{l - 1}][{i},{ch}] window", win[ch], d, " " * 13))
        out.append(f"             sum_{{u,v}} W * a = {num(sums[ch], d)}")
    if len(sums) > MAX_CHANNELS:
        out.append(f"      c = {MAX_CHANNELS}..{len(sums) - 1}: the sums "
                   f"{arr(sums[MAX_CHANNELS:], d)}")
    value = b[o] + sums.sum()
    out.append(f"    {_name('z', l, i, f)} = b[{l}][{o}] + {num(sums.sum(), d)} = "
               f"{num(b[o], d)} + {num(sums.sum(), d)} = {num(value, d)}"
               + (f"   (recorded {num(_at(z, i, f), d)})" if z is not None else ""))
    check(z, lm.forward(spec, a_prev, W, b))


def _maxpool(c, l, out, check):
    d, i, spec = c.digits, c.i, c.trace.arch[l]
    (kh, kw), s = spec["kernel"], spec["stride"]
    a_prev, z, won = c.a(l - 1), c.get(f"z/{l}"), c.rec.arrays.get(f"winners/{l}")
    ch = _focus(c, l)[0]
    out.append(f"    z[{l}][i,c,p,q] = max_{{u,v}} a[{l - 1}][i,c,p*{s}+u, q*{s}+v] over a "
               f"{kh}x{kw} window; its winner alone gets the gradient back")
    if a_prev is None:
        return
    zr, won_r = lm.maxpool_forward(a_prev, spec)
    check(z, zr)
    check(won, won_r)
    Wd = spec["in"][2]
    out.append(_show(f"a[{l - 1}][{i},{ch}]", a_prev[i, ch], d, "    "))
    out.append(f"    each window (p, q) of channel c = {ch} and its winner (h, w):")
    Ho, Wo = spec["out"][1:]
    for n, (p, q) in enumerate(np.ndindex(Ho, Wo)):
        if n == MAX_WINDOWS:
            out.append(f"      ... {Ho * Wo - MAX_WINDOWS} more windows")
            break
        h, w = divmod(int(won_r[i, ch, p, q]), Wd)
        rec_w = "" if won is None else f"   (recorded winner ({int(won[i, ch, p, q]) // Wd}, " \
                                       f"{int(won[i, ch, p, q]) % Wd}))"
        out.append(f"      ({p}, {q}): rows {p * s}..{p * s + kh - 1}, columns {q * s}.."
                   f"{q * s + kw - 1} -> max {num(a_prev[i, ch, h, w], d)} at ({h}, {w}){rec_w}")


def _avgpool(c, l, out, check):
    d, i, spec = c.digits, c.i, c.trace.arch[l]
    (kh, kw), s = spec["kernel"], spec["stride"]
    a_prev, z = c.a(l - 1), c.get(f"z/{l}")
    ch, p, q = f = _focus(c, l)
    out.append(f"    z[{l}][i,c,p,q] = 1/({kh}*{kw}) sum_{{u,v}} a[{l - 1}][i,c,p*{s}+u, q*{s}+v]")
    if a_prev is None:
        return
    win = a_prev[i, ch, p * s:p * s + kh, q * s:q * s + kw]
    out.append(_show(f"at i = {i}, c = {ch}, (p, q) = ({p}, {q}): the window", win, d, "    "))
    out.append(_value_line(c, _name("z", l, i, f), win.mean(), None if z is None else _at(z, i, f)))
    check(z, lm.forward(spec, a_prev, None, None))


def _batchnorm(c, l, out, check):
    d, i, spec, rec = c.digits, c.i, c.trace.arch[l], c.rec
    a_prev, z = c.a(l - 1), c.get(f"z/{l}")
    gamma, beta = c.get(f"W_before/{l}"), c.get(f"b_before/{l}")
    mean_r, inv_r = c.get(f"bn_mean/{l}"), c.get(f"bn_inv_std/{l}")
    f = _focus(c, l)
    ch = f[0] if f is not None else min(max(c.channel, 0), spec["out"][0] - 1)
    N = rec.m * int(np.prod(spec["out"][1:]))
    per = "channel" if f is not None else "unit"
    out.append(f"    z[{l}] = gamma xhat + beta, xhat = (a[{l - 1}] - mean) / sqrt(var + eps), "
               f"per {per} over its N = {N} values in the batch (eps = {spec['eps']:g}; "
               f"gamma = W[{l}], beta = b[{l}])")
    if a_prev is None:
        return
    vals = lm.channels_last(a_prev)[ch]
    if c.full:
        mean, var = vals.mean(), vals.var()
        inv = 1 / np.sqrt(var + spec["eps"])
        out.append(_value_line(c, f"{per} {ch}: mean = 1/N sum a[{l - 1}]", mean,
                               None if mean_r is None else mean_r[ch]))
        out.append(f"      var = 1/N sum (a[{l - 1}] - mean)^2 = {num(var, d)},  "
                   f"1/sqrt(var + eps) = {num(inv, d)}"
                   + ("" if inv_r is None else f"   (recorded {num(inv_r[ch], d)})"))
        if gamma is not None:
            zr, mean_all, var_all, _ = lm.batchnorm_forward(a_prev, gamma, beta, spec["eps"])
            check(z, zr)
            check(mean_r, mean_all)
            check(inv_r, 1 / np.sqrt(var_all + spec["eps"]))
    elif mean_r is not None:
        mean, inv = mean_r[ch], inv_r[ch]
        out.append(f"    {per} {ch}: the recorded batch mean = {num(mean, d)}, 1/sqrt(var + eps) = "
                   f"{num(inv, d)} (only some rows were kept: not recomputed)")
    else:
        return
    x = _at(a_prev, i, f)[ch] if f is None else _at(a_prev, i, f)
    xhat = (x - mean) * inv
    at = f"i = {i}" + ("" if f is None else f", (p, q) = ({f[1]}, {f[2]})")
    out.append(f"    at {at}: xhat = ({num(x, d)} - {num(mean, d)}) * {num(inv, d)} = "
               f"{num(xhat, d)}")
    if gamma is not None:
        zi = gamma[ch] * xhat + beta[ch]
        recorded = None if z is None else (_at(z, i, f) if f is not None else z[i, ch])
        name = _name("z", l, i, f) if f is not None else f"z[{l}][{i},{ch}]"
        out.append(_value_line(c, f"{name} = gamma[{ch}] xhat + beta[{ch}] = {num(gamma[ch], d)} * "
                               f"{num(xhat, d)} + {num(beta[ch], d)}", zi, recorded))


def _flatten(c, l, out, check):
    a_prev, z = c.a(l - 1), c.get(f"z/{l}")
    shape = c.trace.arch.shape(l - 1)
    if len(shape) == 3:
        C, H, W = shape
        out.append(f"    z[{l}][i, (c*{H} + h)*{W} + w] = a[{l - 1}][i,c,h,w]: the same numbers "
                   f"as one row (C H W = {C * H * W} values)")
    else:
        T, n = shape
        out.append(f"    z[{l}][i, t*{n} + j] = a[{l - 1}][i,t,j]: the time steps one after "
                   f"another as one row (T n = {T * n} values)")
    if a_prev is not None:
        check(z, lm.forward(c.trace.arch[l], a_prev, None, None))
        if z is not None:
            out.append(f"    z[{l}] = {arr(z[c.i], c.digits)}")


_FORWARD = {"Dense": _dense, "Conv2D": _conv, "MaxPool2D": _maxpool, "AvgPool2D": _avgpool,
            "BatchNorm": _batchnorm, "Flatten": _flatten, "RNN": replay_rnn.forward,
            **replay_attention.FORWARD}


def _activation(c, l, out, check):
    spec = c.trace.arch[l]
    z, a = c.get(f"z/{l}"), c.get(f"a/{l}")
    if z is None or a is None:
        return
    check(a, apply(spec["activation"], spec["alpha"], z))
    if spec["activation"] == "identity" and spec["kind"] != "Dense":
        return
    f = _focus(c, l)
    out.append(_value_line(c, f"{_name('a', l, c.i, f)} = {spec['activation']}"
                           f"({_name('z', l, c.i, f)})", _at(a, c.i, f), None))


# ------------------------------------------------------------------ backward

_THROUGH = {
    "Dense": "delta[{l}] @ W[{l}]",
    "Conv2D": "sum over o and the outputs (p, q) whose window holds (h, w) of "
              "delta[{l}][i,o,p,q] W[{l}][o,c,u,v] (delta full-convolved with W rotated 180 "
              "degrees)",
    "MaxPool2D": "delta[{l}] routed to each window's winner, 0 elsewhere",
    "AvgPool2D": "each window's delta[{l}] / (k_h k_w) to every input of the window",
    "BatchNorm": "gamma / (N sigma) (N delta[{l}] - sum delta[{l}] - xhat sum delta[{l}] xhat) "
                 "per channel",
    "Flatten": "delta[{l}] reshaped to {shape}",
    "RNN": "W_x^T delta_t at every time step t (delta_t through time: layer {l}'s gradients)",
    **replay_attention.THROUGH,
}


def _backward(c, l, out, check):
    """delta[l-1] from delta[l] through layer l, at layer l-1's focus."""
    arch, i, d = c.trace.arch, c.i, c.digits
    spec, below = arch[l], arch[l - 1]
    through = _THROUGH[spec["kind"]].format(l=l, shape=tuple(spec["in"]))
    out.append(f"  delta[{l - 1}] = dJ/da[{l - 1}] * g'(z[{l - 1}]), dJ/da[{l - 1}] = {through}; "
               f"g' of {below['activation']}")
    dn, a_prev, z_prev, dp = (c.get(f"delta/{l}"), c.a(l - 1), c.get(f"z/{l - 1}"),
                              c.get(f"delta/{l - 1}"))
    W = c.get(f"W_before/{l}")
    if dn is None or a_prev is None or z_prev is None or (W is None and arch.has_params(l)) \
            or (spec["kind"] == "BatchNorm" and not c.full):
        if dp is not None:
            out.append(f"           {_name('delta', l - 1, i, _focus(c, l - 1))} = "
                       f"{arr(_at(dp, i, _focus(c, l - 1)), d)}")
        return
    won = c.rec.arrays.get(f"winners/{l}")
    da = lm.input_grad(spec, dn, a_prev, W, won, c.get(f"b_before/{l}"))
    skip = replay_attention.skipped_into(arch, l - 1)
    if skip:
        if c.get(f"delta/{skip}") is None:
            return
        out.append(f"           + delta[{skip}] (the skip path of the residual block that "
                   f"starts at layer {l})")
        da = da + c.get(f"delta/{skip}")
    gp = slope(below["activation"], below["alpha"], z_prev, a_prev)
    f = _focus(c, l - 1)
    text = (f"           {_name('delta', l - 1, i, f)} = {arr(_at(da, i, f), d)} * "
            f"{arr(_at(gp, i, f), d)}")
    if f is None:
        out.append(text)
        if dp is not None:
            out.append(f"           = {arr(dp[i], d)}")
    else:
        out.append(text + f" = {num(_at(da * gp, i, f), d)}" +
                   ("" if dp is None else f"   (recorded {num(_at(dp, i, f), d)})"))
    check(dp, da * gp)


def _gradients(c, l, out, check):
    arch, d = c.trace.arch, c.digits
    spec = arch[l]
    dW, db, dl, a_prev = c.get(f"dW/{l}"), c.get(f"db/{l}"), c.get(f"delta/{l}"), c.a(l - 1)
    kind = spec["kind"]
    if kind == "Conv2D":
        Ho, Wo = spec["out"][1:]
        (ph, pw), s = spec["pad"], spec["stride"]
        out.append(f"  dW[{l}][o,c,u,v] = sum_{{i,p,q}} delta[{l}][i,o,p,q] "
                   f"a[{l - 1}][i,c,p*{s}-{ph}+u, q*{s}-{pw}+v]  (m Ho Wo = {c.rec.m}*{Ho}*{Wo}"
                   f" = {c.rec.m * Ho * Wo} terms each; db[{l}][o] = sum_{{i,p,q}} "
                   f"delta[{l}][i,o,p,q])")
    elif kind == "BatchNorm":
        out.append(f"  dgamma = dW[{l}][c] = sum delta[{l}] xhat over the channel's values, "
                   f"dbeta = db[{l}][c] = sum delta[{l}]")
    elif kind in replay_attention.GRADIENTS:
        out.append("  " + replay_attention.GRADIENTS[kind].format(l=l))
    elif kind == "RNN":
        replay_rnn.through_time(c, l, out, check)
        out.append(f"  dW[{l}] = [dW_x | dW_h] = [sum_t delta_t^T x_t | sum_(t>1) delta_t^T "
                   f"h_(t-1)], db[{l}] = sum_t delta_t  (summed over the batch too)")
    else:
        out.append(f"  dW[{l}] = delta[{l}]^T a[{l - 1}], db[{l}] = sum_i delta[{l}][i]")
    if dW is not None:
        out.append(_show(f"dW[{l}]", dW, d, "    "))
    if db is not None:
        out.append(f"    db[{l}] = {arr(db, d)}")
    if c.full and dl is not None and a_prev is not None:
        rW, rb = lm.param_grads(spec, dl, a_prev, c.get(f"W_before/{l}"), c.get(f"b_before/{l}"))
        check(dW, rW)
        check(db, rb)
