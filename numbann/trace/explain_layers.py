"""Explain one parameter's gradient in a network of layers from the recorded
delta[l] = dJ/dz[l]: the sum of one term per use of the parameter.

- conv weight: ``dW[l][o,c,i,j] = sum_{m,p,q} delta[l][m,o,p,q] *
  a[l-1][m,c,p*s-ph+i, q*s-pw+j]``, one term per sample and output position
  the filter visited (weight sharing); conv bias ``db[l][o] = sum_{m,p,q}
  delta[l][m,o,p,q]``;
- BatchNorm: ``dgamma[c] = sum delta[l] xhat``, ``dbeta[c] = sum delta[l]``
  over the channel's N = m H W values;
- dense: ``dW[l][j,k] = sum_m delta[l][m,j] a[l-1][m,k]``, ``db[l][j] =
  sum_m delta[l][m,j]``;
- self-attention, layer normalization, a learned positional encoding: one
  term per sample and time step (``replay_attention``);
- RNN (``W[l] = [W_x | W_h]``): one term per sample and time step,
  ``dW_x[j,k] = sum_{m,t} delta_t[m,j] x_t[m,k]``, ``dW_h[j,k] = sum_{m,t>1}
  delta_t[m,j] h_(t-1)[m,k]``, ``db[j] = sum_{m,t} delta_t[m,j]``, with
  delta_t from backpropagation through time (``rnn_math``).

The largest terms are listed with their numbers and the sum is checked
against the recorded gradient, as :func:`numbann.trace.explain.explain`.
"""
import numbers

import numpy as np

from . import layer_math as lm
from . import replay_attention, rnn_math
from ._text import num
from .explain import Explanation, _Ctx, compare

_AXES = {"Conv2D": ("o", "c", "i", "j"), "Dense": ("j", "k"), "BatchNorm": ("c",),
         "RNN": ("j", "k"), "SelfAttention": ("j", "k"), "LayerNorm": ("j",),
         "PositionalEncoding": ("t", "j")}


def _check_index(arch, param, l, index):
    spec = arch[l]
    kind = spec["kind"]
    if param not in ("W", "b"):
        raise ValueError(f"param must be 'W' or 'b', got {param!r}")
    if not arch.has_params(l):
        raise ValueError(f"layer {l} is a {kind} layer: it has no weights or biases (W[{l}] and "
                         f"b[{l}] are empty), so no gradient to explain; the layers with "
                         f"parameters are {arch.with_params()}")
    shape = tuple(spec[param])
    axes = _AXES[kind][:len(shape)] if param == "W" or kind == "PositionalEncoding" \
        else _AXES[kind][:1]
    what = f"{param}[{l}] of the {kind} layer has shape {shape} (indices {', '.join(axes)})"
    if len(index) != len(shape):
        raise IndexError(f"{what}: give {len(shape)} indices, got {len(index)} {index}")
    for ix, size, axis in zip(index, shape, axes):
        if isinstance(ix, bool) or not isinstance(ix, numbers.Integral) or not 0 <= ix < size:
            raise IndexError(f"{what}: index {axis} = {ix!r} is out of range 0..{size - 1}")
    return spec, tuple(int(ix) for ix in index)


def _terms(c, spec, param, l, index):
    """(terms, factors {name: array}, per-term labels, formula lines, padding count)."""
    kind, rec = spec["kind"], c.rec
    c.need(f"delta/{l}", *(["x" if l == 1 else f"a/{l - 1}"] if param == "W" else []))
    delta = c.get(f"delta/{l}")
    a_prev = c.a(l - 1)
    if kind == "Conv2D":
        o = index[0]
        d = delta[:, o]                                                  # (m, Ho, Wo)
        pos = [f"(m={m}, p={p}, q={q})" for m, p, q in np.ndindex(d.shape)]
        if param == "b":
            return d, {f"delta[{l}][m,{o},p,q]": d}, pos, [
                f"  db[{l}][{o}] = sum_{{m,p,q}} delta[{l}][m,{o},p,q]"], 0
        _, ch, u, v = index
        (ph, pw), s = spec["pad"], spec["stride"]
        Ho, Wo = spec["out"][1:]
        win = lm.windows(lm.padded(a_prev, spec, (Ho, Wo)), spec, (Ho, Wo))[:, ch, :, :, u, v]
        h = np.arange(Ho) * s - ph + u
        w = np.arange(Wo) * s - pw + v
        inside = ((h >= 0) & (h < spec["in"][1]))[:, None] & ((w >= 0) & (w < spec["in"][2]))[None]
        pos = [f"(m={m}, p={p}, q={q}) reads a[{l - 1}][{m},{ch},{h[p]},{w[q]}]"
               + ("" if inside[p, q] else " (padding)") for m, p, q in np.ndindex(d.shape)]
        lines = [f"  dW[{l}][o,c,i,j] = sum_{{m,p,q}} delta[{l}][m,o,p,q] * "
                 f"a[{l - 1}][m,c,p*s-ph+i, q*s-pw+j]   (s = {s}, ph = {ph}, pw = {pw})",
                 "  the weight is shared by every position the filter visits: one term per "
                 "sample m and output position (p, q)"]
        return d * win, {f"delta[{l}][m,{o},p,q]": d, f"a[{l - 1}][m,{ch},h,w]": win}, pos, \
            lines, int(len(d) * np.count_nonzero(~inside))
    if kind == "BatchNorm":
        ch = index[0]
        d = lm.channels_last(delta)[ch]
        pos = [f"value {n} of channel {ch}" for n in range(d.size)]
        if param == "b":
            return d, {f"delta[{l}]": d}, pos, [f"  dbeta = db[{l}][{ch}] = sum delta[{l}] over "
                                                f"the channel's N = {d.size} values"], 0
        if f"bn_mean/{l}" in rec.arrays:
            mean, inv = c.get(f"bn_mean/{l}")[ch], c.get(f"bn_inv_std/{l}")[ch]
            xhat = (lm.channels_last(a_prev)[ch] - mean) * inv
        else:
            xhat = lm.channels_last(lm.batchnorm_forward(a_prev, np.ones(delta.shape[1]),
                                                         np.zeros(delta.shape[1]),
                                                         spec["eps"])[3])[ch]
        return d * xhat, {f"delta[{l}]": d, "xhat": xhat}, pos, [
            f"  dgamma = dW[{l}][{ch}] = sum delta[{l}] * xhat over the channel's N = {d.size} "
            f"values, xhat = (a[{l - 1}] - mean) / sqrt(var + eps)"], 0
    if kind == "RNN":
        return _rnn_terms(c, spec, param, l, index, delta, a_prev)
    if kind in ("SelfAttention", "LayerNorm", "PositionalEncoding"):
        if kind == "SelfAttention":
            c.need(f"W_before/{l}")
        return replay_attention.explain_terms(c, spec, param, l, index, delta, a_prev) + (0,)
    j = index[0]  # Dense; on a sequence every (sample, time step) is a row
    pos = [f"row m={m}" for m in range(len(delta))] if delta.ndim == 2 else \
        [f"(m={m}, t={t + 1})" for m, t in np.ndindex(delta.shape[:2])]
    if delta.ndim == 3:
        delta = delta.reshape(-1, delta.shape[-1])
        a_prev = None if a_prev is None else np.asarray(a_prev).reshape(-1, a_prev.shape[-1])
    d = delta[:, j]
    if param == "b":
        return d, {f"delta[{l}][m,{j}]": d}, pos, [f"  db[{l}][{j}] = sum_m delta[{l}][m,{j}]"], 0
    k = index[1]
    return d * a_prev[:, k], {f"delta[{l}][m,{j}]": d, f"a[{l - 1}][m,{k}]": a_prev[:, k]}, \
        pos, [f"  dW[{l}][{j},{k}] = sum_m delta[{l}][m,{j}] * a[{l - 1}][m,{k}]"], 0


def _rnn_terms(c, spec, param, l, index, delta, x):
    """One term per sample m and time step t (module notes)."""
    c.need(f"W_before/{l}", f"b_before/{l}", "x" if l == 1 else f"a/{l - 1}")
    W, b = c.get(f"W_before/{l}"), c.get(f"b_before/{l}")
    deltas = c.get(f"delta_steps/{l}")
    if deltas is None:
        deltas = rnn_math.through_time(spec, delta, x, W, b)[0]
    j = index[0]
    d = deltas[:, :, j]                                                 # (m, T)
    pos = [f"(m={m}, t={t + 1})" for m, t in np.ndindex(d.shape)]
    through = ["  delta_t = dJ/dz_t by backpropagation through time: (dJ/dh_t from above + "
               "W_h^T delta_(t+1)) * g'(z_t)"]
    if param == "b":
        return d, {f"delta_t[m,{j}]": d}, pos, [f"  db[{l}][{j}] = sum_{{m,t}} delta_t[m,{j}]"] \
            + through, 0
    n_in, k = spec["in"][1], index[1]
    if k < n_in:
        factor, name = np.asarray(x, np.float64)[:, :, k], f"x_t[m,{k}]"
        lines = [f"  dW[{l}][{j},{k}] = dW_x[{j},{k}] = sum_{{m,t}} delta_t[m,{j}] * x_t[m,{k}]"]
    else:
        h = c.get(f"h_steps/{l}")
        h = rnn_math.steps(spec, x, W, b)[1] if h is None else h
        factor = np.concatenate([np.zeros((len(h), 1)), h[:, :-1, k - n_in]], axis=1)
        name = f"h_(t-1)[m,{k - n_in}]"
        lines = [f"  dW[{l}][{j},{k}] = dW_h[{j},{k - n_in}] = sum_{{m,t}} delta_t[m,{j}] * "
                 f"h_(t-1)[m,{k - n_in}]   (h_0 = 0: the t = 1 terms are 0)"]
    return d * factor, {f"delta_t[m,{j}]": d, name: factor}, pos, lines + through, 0


def explain_layer(trace, step, param, l, index, digits=6, max_terms=8):
    """d``param``[l][index] at ``step`` as the sum of its terms (module notes),
    the largest ``max_terms`` listed, checked against the recorded gradient.
    Returns an :class:`~numbann.trace.explain.Explanation` (``terms``: every
    term, flat; ``factors``: name -> array)."""
    c = _Ctx(trace, step)
    spec, index = _check_index(trace.arch, param, l, index)
    terms, factors, labels, lines, padded = _terms(c, spec, param, l, index)
    terms = np.asarray(terms, np.float64).ravel()
    flat = {name: np.asarray(v, np.float64).ravel() for name, v in factors.items()}
    target = f"{param}[{l}][{','.join(map(str, index))}]"
    rec = c.rec
    out = [f"dJ/d{target} at step {rec.step} (epoch {rec.epoch}), layer {l} "
           f"({trace.arch.describe(l)})"] + lines
    count = len(terms)
    how = f"m Ho Wo = {rec.m} * {spec['out'][1]} * {spec['out'][2]} = " \
        if spec["kind"] == "Conv2D" and rec.samples is None else ""
    out.append(f"  = a sum of {how}{count} terms" +
               (f" ({padded} of them read the zero padding: 0)" if padded else ""))
    order = np.argsort(-np.abs(terms), kind="stable")[:max_terms]
    out.append(f"  the {len(order)} largest |terms|:")
    out.append("    " + "".join(f"{name:>24}" for name in flat) + f"{'term':>16}   where")
    for n in order:
        out.append("    " + "".join(f"{num(v[n], digits):>24}" for v in flat.values())
                   + f"{num(terms[n], digits):>16}   {labels[n]}")
    rest = np.delete(terms, order)
    if len(rest):
        out.append(f"    ... and {len(rest)} more terms summing to {num(rest.sum(), digits)}")
    product = float(terms.sum())
    out.append(f"  sum of the {count} terms = {num(product, digits + 4)}")
    key = f"dW/{l}" if param == "W" else f"db/{l}"
    recorded, ok = compare(rec, key, index, terms, product, rec.m if rec.samples is None
                           else len(rec.samples), target, digits, out)
    return Explanation("\n".join(out), product, recorded, ok, terms, flat)
