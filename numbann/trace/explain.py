"""Explain one gradient as a chain-rule product, and the course's formulas
(activations, their slopes, dJ/da, delta[L]) that replay and explain share.

Everything here is recomputed in NumPy from the recorded numbers (not by the
kernels), so an explanation (or a replay, ``replay.py``) is also a check of
the engine: the text says whether the recomputed values match the recorded ones.
"""
import numpy as np

from .. import activations as _activations
from .. import losses as _losses
from ._text import Text, num
from .explain_paths import path_factors, path_lines

FUSED = {("bce", "sigmoid"), ("ce", "softmax"), ("kl", "softmax")}
CLAMP = 1e-12  # dJ/da divides by a (KL), clamped below at this
BCE_CLAMP = float(np.float32(1e-12))  # BCE divides by a (1 - a), clamped as PyTorch: float32 1e-12


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
        return s * (a - y) / np.maximum(a * (1 - a), BCE_CLAMP)
    if loss == "hinge":
        return np.where(1 - y * a > 0, -s * y, 0.0)
    if loss == "kl":
        return -s * y / np.maximum(a, CLAMP)
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

    def slope(self, l):
        """g'(z[l]) of the recorded rows, from the recorded z[l] and a[l]."""
        return slope(self.acts[l - 1], self.alphas[l - 1], self.get(f"z/{l}"),
                     self.get(f"a/{l}"))

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
    None if not kept), ``ok`` (they agree to rounding), ``terms`` (what is
    summed: one per batch row for an output layer, ``(rows, paths)`` for a
    hidden dense layer, one per position for a conv weight), ``factors``
    (name -> array of the factors, per row or per row and path), ``paths``
    (hidden dense layer: the units of each path in layers l+1.., else None)."""

    def __new__(cls, text, product, recorded, ok, terms, factors, paths=None):
        self = super().__new__(cls, text)
        self.product, self.recorded, self.ok = product, recorded, ok
        self.terms, self.factors, self.paths = terms, factors, paths
        return self


def explain(trace, step, param, l, j, k=None, *more, paths="one", digits=6, max_rows=8,
            max_paths=8):
    """dJ/dW[l][j, k] or dJ/db[l][j] at ``step`` as the chain rule with every
    factor's value, summed over the batch's rows, checked against the
    recorded gradient.

    Output layer: dJ/da * da/dz * dz/dw per row (the fused dJ/dz = s (a - y)
    of a softmax head, and of a sigmoid + BCE head whose a (1 - a) vanishes).
    Hidden layer: one term per row and path (``explain_paths``),
    ``delta[l+1]_i W[l+1][i,j] g'(z[l]_j) a[l-1]_k`` through each unit i of
    layer l+1 (``paths="one"``, using the recorded delta[l+1]), or every
    path down to the output units (``paths="full"``); the largest
    ``max_paths`` terms of the first ``max_rows`` rows are listed, and what
    is left out is counted and summed. Needs all rows of the batch
    (``samples=None``) for the check.

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
        c.need("x" if l == 1 else f"a/{l - 1}")
        dzdw = c.a(l - 1)[:, k]
        dzdw_text = f"a[{l - 1}]_{k}" + (" = x_" + str(k) if l == 1 else "")
    else:
        if k is not None:
            raise ValueError("a bias has one index: explain(step, 'b', l, j)")
        target = f"b[{l}][{j}]"
        dzdw = None
        dzdw_text = "1"
    if paths not in ("one", "full"):
        raise ValueError(f"paths must be 'one' or 'full', got {paths!r}")
    out = [f"dJ/d{target} at step {rec.step} (epoch {rec.epoch}), summed over the batch's "
           f"rows r"]
    if l == L:
        cols, factors = _output_factors(c, j, target, dzdw_text, digits, out)
        if dzdw is not None:
            factors["dz/dw"] = dzdw
            cols.append(("dz/dw", dzdw))
        terms = np.prod(np.stack([v for _, v in cols]), axis=0)
        units = None
        out += _row_table(cols, terms, digits, max_rows)
    else:
        terms, units, factors = _hidden_terms(c, l, j, k, param, target, dzdw, dzdw_text, paths,
                                              digits, max_rows, max_paths, out)
    product = float(terms.sum())
    what = f"the {terms.size} terms" if terms.ndim == 2 else f"the {terms.size} rows"
    out.append(f"  sum of {what} = {num(product, digits + 4)}")
    key = f"dW/{l}" if param == "W" else f"db/{l}"
    recorded, ok = compare(rec, key, (j, k) if param == "W" else (j,), terms, product,
                           len(terms), target, digits, out)
    return Explanation("\n".join(out), product, recorded, ok, terms, factors, units)


def _output_factors(c, j, target, dzdw_text, digits, out):
    """The output layer's factors per row, [(column name, array)], and the
    lines that say what they are."""
    L, act = c.L, c.acts[-1]
    c.need(f"a/{L}", "y", f"z/{L}")
    z, a, y = c.get(f"z/{L}"), c.get(f"a/{L}"), c.get("y")
    scale = f"{_s(c, digits)} ({c.loss_name}, reduction {c.loss.reduction})"
    if act == "softmax" and not c.fused():
        g = dJ_da(c.loss_name, c.s, a, y)
        dz = a[:, j] * (g[:, j] - (g * a).sum(axis=1))
        out.append(f"  = sum_r [sum_q dJ/da_q da_q/dz_{j}]_r * dz[{L}]_r{j}/d{target}   "
                   f"(softmax's Jacobian da_q/dz_j = a_q (1[q=j] - a_j); dJ/da = "
                   f"{DJDA_TEXT[c.loss_name]}, {scale}); dz/d{target} = {dzdw_text}")
        return [("dJ/dz", dz)], {"dJ/dz": dz}
    flat = act == "sigmoid" and c.loss_name == "bce" and \
        np.any(a[:, j] * (1 - a[:, j]) < BCE_CLAMP)
    if c.fused() and (act == "softmax" or flat):
        dz = output_delta(c.loss_name, act, c.alphas[-1], c.s, z, a, y)[:, j]
        out.append(f"  = sum_r dJ/dz[{L}]_r{j} * dz[{L}]_r{j}/d{target}")
        if act == "softmax":
            out.append(f"  softmax and {c.loss_name} fused: dJ/dz_j = s (a_j sum_k y_k - y_j), "
                       f"{scale}; dz/d{target} = {dzdw_text}")
        else:
            rows = np.flatnonzero(a[:, j] * (1 - a[:, j]) < BCE_CLAMP)
            where = ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, rows[:8])) + \
                (f" and {len(rows) - 8} more" if len(rows) > 8 else "")
            out.append(f"  the fused form is used: dJ/dz = dJ/da * da/dz = s (a - y) for sigmoid "
                       f"and bce, {scale}, as the kernel computes it, because on {where} "
                       f"a rounds to 0 or 1 (a (1 - a) < {BCE_CLAMP:g}), where dJ/da = "
                       f"{DJDA_TEXT['bce']} cannot be evaluated and da/dz = 0; "
                       f"dz/d{target} = {dzdw_text}")
        return [("dJ/dz", dz)], {"dJ/dz": dz}
    g = dJ_da(c.loss_name, c.s, a, y)[:, j]
    sl = slope(act, c.alphas[-1], z[:, j], a[:, j])
    out.append(f"  = sum_r dJ/da[{L}]_r{j} * da[{L}]_r{j}/dz[{L}]_r{j} * dz[{L}]_r{j}/d{target}")
    fused = "  (fused in the kernel as s (a - y))" if c.fused() else ""
    out.append(f"  dJ/da = {DJDA_TEXT[c.loss_name]}, {scale}; da/dz = g'(z), {act}: "
               f"{c.g_text(L)}; dz/d{target} = {dzdw_text}{fused}")
    return [("dJ/da", g), ("da/dz", sl)], {"dJ/da": g, "da/dz": sl}


def _row_table(cols, terms, digits, max_rows):
    """One line per row: its factors and their product."""
    out = ["   r  " + "".join(f"{name:>16}" for name, _ in cols) + f"{'product':>16}"]
    for r in range(min(len(terms), max_rows)):
        out.append(f"  {r:>2}  " + "".join(f"{num(v[r], digits):>16}" for _, v in cols)
                   + f"{num(terms[r], digits):>16}")
    if len(terms) > max_rows:
        out.append(f"  ... and {len(terms) - max_rows} more rows, summing to "
                   f"{num(terms[max_rows:].sum(), digits)}")
    return out


def _hidden_terms(c, l, j, k, param, target, dzdw, dzdw_text, paths, digits, max_rows,
                  max_paths, out):
    """A hidden unit's terms (rows, paths), the paths' units and the factors,
    with the lines that write them (``explain_paths``)."""
    c.need(f"z/{l}", f"a/{l}")
    units, names, columns = path_factors(c, l, j, paths)
    path_values = columns[0].copy()                          # (rows, P)
    for column in columns[1:]:
        path_values *= column
    back = path_values.sum(axis=1)                           # dJ/da[l]_j per row
    sl = c.slope(l)[:, j]
    row_cols = [(f"g'(z[{l}]_{j})", sl)]
    if dzdw is not None:
        row_cols.append((f"a[{l - 1}]_{k}", dzdw))
    terms = path_values * np.prod(np.stack([v for _, v in row_cols]), axis=0)[:, None]
    top = l + 1 if paths == "one" else c.L
    sums = "sum_i" if units.shape[1] == 1 else \
        "sum_{" + ",".join(f"i{n}" for n in range(1, units.shape[1] + 1)) + "}"
    out.append(f"  = sum_r {sums} " + " ".join(names + [n for n, _ in row_cols])
               + "   (the values of row r)")
    through = f"unit i of layer {top}" if top == l + 1 else \
        f"one unit of each layer {l + 1}..{top}"
    slopes = "; ".join(dict.fromkeys(f"g'(z) of {c.acts[r - 1]}: {c.g_text(r)}"
                                     for r in range(l, top)))
    out.append(f"  one term per row r and path from unit {j} of layer {l} through {through} "
               f"({units.shape[0]} path{'s' if units.shape[0] > 1 else ''}): the factors on its "
               f"line times its row's "
               + " ".join(n for n, _ in row_cols) + f"; delta[{top}] = dJ/dz[{top}] as recorded"
               + ("" if paths == "full" else " (paths='full' expands it to the outputs)")
               + f"; {slopes}; dz[{l}]_{j}/d{target} = {dzdw_text}")
    shown = [(f"sum of paths dJ/da[{l}]_{j}", back)] + row_cols
    out += path_lines(units, names, columns, shown, terms, digits, max_rows, max_paths)
    factors = dict(zip(names, columns))
    factors.update({"paths": path_values, "sum of paths": back, "g'(z)": sl})
    if dzdw is not None:
        factors["dz/dw"] = dzdw
    return terms, units, factors


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
    verdict = "matches, equal to rounding" if diff <= tol else \
        "DIFFERENT (penalties, clipping or dropout changed the recorded gradient?)"
    out.append(f"  recorded d{target} = {num(recorded, digits + 4)}: {verdict} "
               f"(|difference| = {diff:.2g})")
    return recorded, diff <= tol
