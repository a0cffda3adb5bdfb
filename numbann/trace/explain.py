"""Explain one gradient as a chain-rule product, and the course's formulas
(activations, their slopes, dJ/da, delta[L]) that replay and explain share.

Everything here is recomputed in NumPy from the recorded numbers (not by the
kernels), so an explanation (or a replay, ``replay.py``) is also a check of
the engine: the text says whether the recomputed values match the recorded ones.
"""
import itertools

import numpy as np

from .. import activations as _activations
from .. import losses as _losses
from ._text import Text, num

FUSED = {("bce", "sigmoid"), ("ce", "softmax"), ("kl", "softmax")}


# ------------------------------------------------------------------ formulas

def slope(name, alpha, z, a):
    """g'(z) elementwise from z and a = g(z), by the course's formulas."""
    z, a = np.asarray(z, np.float64), np.asarray(a, np.float64)
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, alpha)
    if name == "elu":
        return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0)))
    if name == "identity":
        return np.ones_like(z)
    if name == "step":
        return np.zeros_like(z)
    raise ValueError(f"{name} has a Jacobian, not an elementwise slope")


def apply(name, alpha, z):
    """g(z) by the course's formulas (softmax along the last axis)."""
    z = np.asarray(z, np.float64)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if name == "elu":
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))
    if name == "identity":
        return z.copy()
    if name == "step":
        return (z > 0).astype(np.float64)
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}")


def dJ_da(loss, s, a, y):
    """dJ/da[L] elementwise for loss ``loss`` with reduction factor s."""
    a, y = np.asarray(a, np.float64), np.asarray(y, np.float64)
    if loss == "mse":
        return 2 * s * (a - y)
    if loss == "mae":
        return s * np.sign(a - y)
    if loss == "bce":
        return s * (a - y) / np.maximum(a * (1 - a), 1e-12)
    if loss == "hinge":
        return np.where(1 - y * a > 0, -s * y, 0.0)
    if loss == "kl":
        return -s * y / np.maximum(a, 1e-12)
    raise ValueError(f"{loss} is only defined with its fused softmax head")


DJDA_TEXT = {"mse": "2 s (a - y)", "mae": "s sign(a - y)", "bce": "s (a - y) / (a (1 - a))",
             "hinge": "-s y where 1 - y a > 0, else 0", "kl": "-s y / a"}


def output_delta(loss, act, alpha, s, z, a, y):
    """delta[L] = dJ/dz[L] recomputed from z, a, y (rows), as the kernels define it."""
    if (loss, act) in FUSED:
        return s * (a * y.sum(axis=-1, keepdims=True) - y) if loss != "bce" else s * (a - y)
    g = dJ_da(loss, s, a, y)
    if act == "softmax":
        return a * (g - (g * a).sum(axis=-1, keepdims=True))
    return g * slope(act, alpha, z, a)


def _s(c, digits=6):
    """``s = 1/(m n_2) = 0.25``, or ``s = 0.5`` when the reduction is a constant."""
    text = _scale_text(c.loss, c.L)
    value = num(c.s, digits)
    return f"s = {value}" if text == value else f"s = {text} = {value}"


def _scale_text(loss_obj, L):
    c, per_row, per_output = loss_obj.scale_parts()
    den = " ".join(x for x, on in (("m", per_row), (f"n_{L}", per_output)) if on)
    if not den:
        return "1" if c == 1 else num(c)
    return f"{'1' if c == 1 else num(c)}/({den})" if " " in den else \
        f"{'1' if c == 1 else num(c)}/{den}"


class _Ctx:
    """A recorded step and what the trace says about the network."""

    def __init__(self, trace, step):
        self.trace, self.rec = trace, trace[step]
        meta = trace.meta
        self.L = trace.L
        self.sizes = meta["sizes"]
        self.acts = meta["activations"]
        self.alphas = meta["alphas"]
        self.loss_name = meta["loss"]["name"]
        self.loss = _losses.get(self.loss_name, meta["loss"]["reduction"])
        self.s = self.loss.scale(self.rec.m, self.sizes[-1])
        self.digits = 4

    def get(self, key):
        v = self.rec.arrays.get(key)
        return None if v is None else np.asarray(v, np.float64)

    def a(self, l):
        return self.get("x") if l == 0 else self.get(f"a/{l}")

    def g_text(self, l):
        name = self.acts[l - 1]
        return _activations.get(name, self.alphas[l - 1] if name in ("leaky_relu", "elu")
                                else None).slope

    def fused(self):
        return (self.loss_name, self.acts[-1]) in FUSED

    def need(self, *keys):
        missing = [k for k in keys if k not in self.rec.arrays]
        if missing:
            raise KeyError(f"step {self.rec.step}: {', '.join(missing)} not recorded; "
                           f"record with Recorder(keep='all') (or keep the quantities "
                           f"{sorted({k.split('/')[0] for k in missing})} for those layers)")


def _row_index(rec, sample):
    """Position of batch row ``sample`` among the kept rows."""
    if not 0 <= sample < rec.m:
        raise IndexError(f"sample {sample}: the batch of step {rec.step} has m = {rec.m} rows")
    if rec.samples is None:
        return sample
    hit = np.flatnonzero(rec.samples == sample)
    if not len(hit):
        raise KeyError(f"sample {sample} was not kept at step {rec.step}; kept batch "
                       f"positions: {rec.samples.tolist()}")
    return int(hit[0])


# ------------------------------------------------------------------ explain

class Explanation(Text):
    """The text of an explanation, with the numbers as attributes:
    ``product`` (the chain-rule sum), ``recorded`` (the recorded gradient,
    None if not kept), ``ok`` (they agree to rounding), ``terms`` (one per
    batch row), ``factors`` (name -> per-row array)."""

    def __new__(cls, text, product, recorded, ok, terms, factors):
        self = super().__new__(cls, text)
        self.product, self.recorded, self.ok = product, recorded, ok
        self.terms, self.factors = terms, factors
        return self


def explain(trace, step, param, l, j, k=None, *more, paths="one", digits=6, max_rows=8):
    """dJ/dW[l][j, k] or dJ/db[l][j] at ``step`` as the chain rule with every
    factor's value, summed over the batch's rows, checked against the
    recorded gradient.

    Output layer: dJ/da * da/dz * dz/dw per row. Hidden layer: the summed
    delta paths, ``sum_p delta[l+1]_p W[l+1][p, j]`` (``paths="one"``, using
    the recorded delta[l+1]) or every path down to the output units
    (``paths="full"``), times g'(z[l]_j) and dz/dw = a[l-1]_k (1 for a bias).
    Needs all rows of the batch (``samples=None``) for the check.

    A layer of a network with conv, pooling or BatchNorm layers (or a Dense
    layer followed by one) is explained from its recorded delta[l]
    (``explain_layers``): a conv weight ``explain(step, "W", l, o, c, i, j)``
    as the sum over every position its filter visited.
    """
    arch = trace.arch
    if not all(arch.kind(r) == "Dense" for r in range(min(max(l, 1), arch.L), arch.L + 1)):
        from .explain_layers import explain_layer
        if paths != "one":
            raise ValueError("paths='full' expands the paths through dense layers; this "
                             "layer's gradient is explained from its recorded delta")
        index = tuple(v for v in (j, k) + more if v is not None)
        return explain_layer(trace, step, param, l, index, digits=digits, max_terms=max_rows)
    if more:
        raise IndexError(f"W[{l}] of a dense layer takes two indices (j, k), got "
                         f"{(j, k) + more}")
    c = _Ctx(trace, step)
    rec, L = c.rec, c.L
    if param not in ("W", "b"):
        raise ValueError(f"param must be 'W' or 'b', got {param!r}")
    if not 1 <= l <= L:
        raise IndexError(f"layer {l}: layers are numbered 1..{L}")
    n_l, n_prev = c.sizes[l], c.sizes[l - 1]
    if not 0 <= j < n_l:
        raise IndexError(f"unit j = {j}: layer {l} has units 0..{n_l - 1}")
    if param == "W":
        if k is None or not 0 <= k < n_prev:
            raise IndexError(f"input k = {k}: W[{l}] has columns 0..{n_prev - 1}")
        target = f"W[{l}][{j},{k}]"
        x_key = "x" if l == 1 else f"a/{l - 1}"
        c.need(x_key)
        dzdw = c.a(l - 1)[:, k]
        dzdw_text = f"a[{l - 1}]_{k}" if l > 1 else f"x_{k}"
    else:
        if k is not None:
            raise ValueError("a bias has one index: explain(step, 'b', l, j)")
        target = f"b[{l}][{j}]"
        dzdw = None
        dzdw_text = "1"
    if paths not in ("one", "full"):
        raise ValueError(f"paths must be 'one' or 'full', got {paths!r}")
    out = [f"dJ/d{target} at step {rec.step} (epoch {rec.epoch}), summed over the batch's rows"]
    factors = {}
    act = c.acts[l - 1]
    if l == L:
        c.need(f"a/{L}", "y", f"z/{L}")
        z, a, y = c.get(f"z/{L}"), c.get(f"a/{L}"), c.get("y")
        if act == "softmax" and c.fused():
            dz = output_delta(c.loss_name, act, c.alphas[-1], c.s, z, a, y)[:, j]
            factors["dJ/dz"] = dz
            out.append(f"  = sum_i dJ/dz[{L}]_i{j} * dz[{L}]_i{j}/d{target}")
            out.append(f"  softmax and {c.loss_name} fused: dJ/dz_j = s (a_j sum_k y_k - y_j), "
                       f"{_s(c, digits)}; "
                       f"dz/d{target} = {dzdw_text}")
            cols = [("dJ/dz", dz)]
        elif act == "softmax":
            g = dJ_da(c.loss_name, c.s, a, y)
            dz = a[:, j] * (g[:, j] - (g * a).sum(axis=1))
            factors["dJ/dz"] = dz
            out.append(f"  = sum_i [sum_q dJ/da_q da_q/dz_j]_i * dz[{L}]_i{j}/d{target}   "
                       f"(softmax's Jacobian da_q/dz_j = a_q (1[q=j] - a_j))")
            cols = [("dJ/dz", dz)]
        else:
            g = dJ_da(c.loss_name, c.s, a, y)[:, j]
            sl = slope(act, c.alphas[-1], z[:, j], a[:, j])
            factors["dJ/da"], factors["da/dz"] = g, sl
            out.append(f"  = sum_i dJ/da[{L}]_i{j} * da[{L}]_i{j}/dz[{L}]_i{j} * "
                       f"dz[{L}]_i{j}/d{target}")
            fused = "  (fused in the kernel as s (a - y))" if c.fused() else ""
            out.append(f"  dJ/da = {DJDA_TEXT[c.loss_name]}, {_s(c, digits)} "
                       f"({c.loss_name}, reduction {c.loss.reduction}); "
                       f"da/dz = g'(z), {act}: {c.g_text(L)}; dz/d{target} = {dzdw_text}{fused}")
            cols = [("dJ/da", g), ("da/dz", sl)]
    else:
        c.need(f"z/{l}", f"a/{l}")
        z, a = c.get(f"z/{l}")[:, j], c.get(f"a/{l}")[:, j]
        sl = slope(act, c.alphas[l - 1], z, a)
        if paths == "one":
            c.need(f"delta/{l + 1}", f"W_before/{l + 1}")
            dn, Wn = c.get(f"delta/{l + 1}"), c.get(f"W_before/{l + 1}")
            path_terms = dn * Wn[:, j][None, :]           # (rows, n_{l+1})
            back = path_terms.sum(axis=1)
            labels = [f"delta[{l + 1}]_{p} W[{l + 1}][{p},{j}]" for p in range(dn.shape[1])]
            out.append(f"  = sum_i (sum_p delta[{l + 1}]_ip W[{l + 1}][p,{j}]) * g'(z[{l}]_i{j})"
                       f" * dz[{l}]_i{j}/d{target}")
            out.append(f"  the paths from unit {j} of layer {l} through each unit p of layer "
                       f"{l + 1}; g'(z) of {act}: {c.g_text(l)}; dz/d{target} = {dzdw_text}")
        else:
            path_terms, labels = _full_paths(c, l, j, rec)
            back = path_terms.sum(axis=1)
            out.append(f"  = sum_i (sum over paths to the outputs of dJ/dz[{L}]_q times the "
                       f"W and g' along the path) * g'(z[{l}]_i{j}) * dz[{l}]_i{j}/d{target}")
            out.append(f"  {path_terms.shape[1]} paths from unit {j} of layer {l} to the "
                       f"{c.sizes[-1]} output unit(s); g'(z) of {act}: {c.g_text(l)}")
        factors["paths"], factors["sum of paths"], factors["g'(z)"] = path_terms, back, sl
        cols = [("sum of paths", back), ("g'(z)", sl)]
    if dzdw is not None:
        factors["dz/dw"] = dzdw
        cols.append(("dz/dw", dzdw))
    terms = np.prod(np.stack([v for _, v in cols]), axis=0)
    product = float(terms.sum())
    rows = len(terms)
    head = "   i  " + "".join(f"{name:>16}" for name, _ in cols) + f"{'product':>16}"
    out.append(head)
    for i in range(min(rows, max_rows)):
        out.append(f"  {i:>2}  " + "".join(f"{num(v[i], digits):>16}" for _, v in cols)
                   + f"{num(terms[i], digits):>16}")
        if l < L and paths in ("one", "full") and factors["paths"].shape[1] <= 8:
            pieces = " + ".join(f"({num(t, digits)})" for t in factors["paths"][i])
            out.append(f"        sum of paths = {pieces}")
    if rows > max_rows:
        out.append(f"  ... {rows - max_rows} more rows")
    out.append(f"  sum over the {rows} rows = {num(product, digits + 4)}")
    if l < L and paths == "one" and factors["paths"].shape[1] <= 8:
        out.append("  paths: " + ", ".join(labels))
    key = f"dW/{l}" if param == "W" else f"db/{l}"
    recorded, ok = compare(rec, key, (j, k) if param == "W" else (j,), terms, product, rows,
                           target, digits, out)
    return Explanation("\n".join(out), product, recorded, ok, terms, factors)


def compare(rec, key, index, terms, product, rows, target, digits, out):
    """Check the sum of ``terms`` against the recorded gradient ``key`` at
    ``index`` and say so in ``out``: returns (recorded value or None, ok)."""
    if key not in rec.arrays:
        out.append(f"  (d{target} was not recorded: keep 'dW'/'db' to check)")
        return None, False
    g = rec.arrays[key]
    recorded = float(g[index])
    eps = np.finfo(g.dtype).eps
    tol = 64 * eps * (float(np.abs(terms).sum()) + abs(recorded)) + 1e-300
    diff = abs(product - recorded)
    if rec.samples is not None and len(rec.samples) < rec.m:
        out.append(f"  recorded d{target} = {num(recorded, digits + 4)} sums all {rec.m} rows; "
                   f"only {rows} were kept (samples=...), so no check")
        return recorded, False
    verdict = "equal to rounding" if diff <= tol else \
        "DIFFERENT (penalties, clipping or dropout changed the recorded gradient?)"
    out.append(f"  recorded d{target} = {num(recorded, digits + 4)}: {verdict} "
               f"(|difference| = {diff:.2g})")
    return recorded, diff <= tol


def _full_paths(c, l, j, rec, limit=100000):
    """Every path from unit j of layer l to the outputs: per row, the product
    W[l+1][p1, j] g'(z[l+1]_p1) W[l+2][p2, p1] ... W[L][q, p_{L-1}] dJ/dz[L]_q."""
    L = c.L
    keys = [f"W_before/{r}" for r in range(l + 1, L + 1)] + \
        [f"z/{r}" for r in range(l + 1, L)] + [f"a/{r}" for r in range(l + 1, L)] + [f"delta/{L}"]
    c.need(*keys)
    widths = [c.sizes[r] for r in range(l + 1, L + 1)]
    count = int(np.prod(widths))
    if count > limit:
        raise ValueError(f"{count} paths from layer {l} to the outputs: too many to list; "
                         "use paths='one'")
    slopes = {r: slope(c.acts[r - 1], c.alphas[r - 1], c.get(f"z/{r}"), c.get(f"a/{r}"))
              for r in range(l + 1, L)}
    dL = c.get(f"delta/{L}")
    rows = dL.shape[0]
    terms = np.empty((rows, count))
    labels = []
    for n, path in enumerate(itertools.product(*[range(w) for w in widths])):
        prod = np.ones(rows)
        prev = j
        for r, p in zip(range(l + 1, L + 1), path):
            prod = prod * c.get(f"W_before/{r}")[p, prev]
            if r < L:
                prod = prod * slopes[r][:, p]
            prev = p
        terms[:, n] = prod * dL[:, path[-1]]
        labels.append("->".join(map(str, (j,) + path)))
    return terms, labels
