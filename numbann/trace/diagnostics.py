"""Diagnostics computed from a trace: vanishing/exploding gradients,
saturation and dead units, update sizes, and symmetry between units.

Every series is an array over the trace's recorded steps (``steps``), NaN
where a step lacks what the series needs.
"""
import numpy as np

from ._text import Text, num
from .explain import slope
from .layer_math import channels_last

FLAT = 0.1  # a sigmoid/tanh unit is saturated where g'(z) < FLAT * max g'
_MAX_SLOPE = {"sigmoid": 0.25, "tanh": 1.0}
MAX_UNITS = 256  # symmetry compares at most this many units of a layer (the first ones)


def pairwise_spread(R):
    """(max, min) Euclidean distance between the rows of R (0, 0 for < 2 rows).

    Computed from the differences themselves, so identical rows give exactly 0."""
    R = np.asarray(R, np.float64)[:MAX_UNITS]
    if len(R) < 2:
        return 0.0, 0.0
    hi, lo = 0.0, np.inf
    for i in range(len(R) - 1):
        d = np.sqrt(((R[i + 1:] - R[i]) ** 2).sum(axis=1))
        hi, lo = max(hi, float(d.max())), min(lo, float(d.min()))
    return hi, lo


class Diagnostics:
    """Per-layer series over the recorded steps (dicts ``{l: array}``):

    - ``grad_norm``: ||dW[l]|| (Frobenius); ``bias_grad_norm``: ||db[l]||
    - ``weight_norm``: ||W[l]|| before the update
    - ``update_ratio``: ||W_after[l] - W_before[l]|| / ||W_before[l]||
    - ``saturation`` (sigmoid and tanh layers): share of unit activations on
      the kept rows whose slope g'(z) is below ``flat`` times its maximum
      (near the flat ends)
    - ``dead`` (ReLU layers): share of units with z <= 0 on every kept row
      of the step (no gradient flows through them)
    - ``symmetry``: the largest distance between two units' weight rows
      ``[W[l][j], b[l][j]]`` (a conv layer: each filter ``W[l][o]`` with its bias)
      (after the update when recorded): 0 means every
      unit of the layer is identical, the symmetry no update can break;
      ``symmetry_min``: the smallest (0: at least two units are identical)
    - ``delta_symmetry``: the largest distance between two units' delta
      columns ``delta[l][:, j]`` (a conv layer: two channels' deltas; 0:
      every unit gets the same error signal)

    Layers without parameters (pooling, Flatten) have only saturation and
    dead units.
    """

    def __init__(self, trace, flat=FLAT):
        self.trace = trace
        self.flat = flat
        self.steps = trace.steps
        self.L = trace.L
        acts = trace.activations
        alphas = trace.meta["alphas"]
        n = len(trace)
        names = ("grad_norm", "bias_grad_norm", "weight_norm", "update_ratio", "saturation",
                 "dead", "symmetry", "symmetry_min", "delta_symmetry")
        series = {name: {l: np.full(n, np.nan) for l in range(1, self.L + 1)} for name in names}
        with_params = set(trace.arch.with_params())
        for s, rec in enumerate(trace.records):
            arrays, norms = rec.arrays, rec.norms
            for l in range(1, self.L + 1):
                if l not in with_params:   # pooling, Flatten: only activation series
                    _activation_series(series, l, s, arrays, acts[l - 1], alphas[l - 1], flat)
                    continue
                W, Wa = arrays.get(f"W_before/{l}"), arrays.get(f"W_after/{l}")
                if "dW" in norms:
                    series["grad_norm"][l][s] = norms["dW"][l - 1]
                    series["bias_grad_norm"][l][s] = norms["db"][l - 1]
                    series["weight_norm"][l][s] = norms["W"][l - 1]
                else:
                    if f"dW/{l}" in arrays:
                        series["grad_norm"][l][s] = np.linalg.norm(arrays[f"dW/{l}"])
                    if f"db/{l}" in arrays:
                        series["bias_grad_norm"][l][s] = np.linalg.norm(arrays[f"db/{l}"])
                    if W is not None:
                        series["weight_norm"][l][s] = np.linalg.norm(W)
                if "update" in norms:
                    wn = series["weight_norm"][l][s]
                    series["update_ratio"][l][s] = norms["update"][l - 1] / wn if wn > 0 else np.inf
                elif W is not None and Wa is not None:
                    wn = np.linalg.norm(W)
                    series["update_ratio"][l][s] = np.linalg.norm(Wa - W) / wn if wn > 0 else np.inf
                _activation_series(series, l, s, arrays, acts[l - 1], alphas[l - 1], flat)
                Wsym = Wa if Wa is not None else W
                bsym = arrays.get(f"b_after/{l}") if Wa is not None else arrays.get(f"b_before/{l}")
                if Wsym is not None and Wsym.shape[0] >= 2:
                    rows = Wsym.reshape(len(Wsym), -1)  # a unit's (a filter's) weights on a row
                    rows = np.hstack([rows, bsym[:, None]]) if bsym is not None else rows
                    hi, lo = pairwise_spread(rows)
                    series["symmetry"][l][s], series["symmetry_min"][l][s] = hi, lo
                d = arrays.get(f"delta/{l}")
                if d is not None and d.shape[1] >= 2:
                    series["delta_symmetry"][l][s] = pairwise_spread(channels_last(d))[0]
        for name, values in series.items():
            # keep only layers where the series has a value somewhere
            setattr(self, name, {l: v for l, v in values.items() if not np.all(np.isnan(v))})

    def as_dict(self):
        names = ("grad_norm", "bias_grad_norm", "weight_norm", "update_ratio", "saturation",
                 "dead", "symmetry", "symmetry_min", "delta_symmetry")
        return {"steps": self.steps.tolist(),
                **{n: {l: v.tolist() for l, v in getattr(self, n).items()} for n in names}}

    def report(self):
        """A short text: per-layer medians over the recorded steps (shares of
        units as percentages; the symmetry as the largest distance between two
        units' weight rows, 0 when every unit is identical) and warnings."""
        lines = [f"Diagnostics over {len(self.steps)} recorded steps"]
        acts = self.trace.activations
        for l in range(1, self.L + 1):
            arch = self.trace.arch
            parts = [f"layer {l} ({acts[l - 1] if arch.dense else arch.describe(l)}):"]
            for name, label in (("grad_norm", "|dW|"), ("update_ratio", "|update|/|W|"),
                                ("saturation", "saturated"), ("dead", "dead ReLUs"),
                                ("symmetry", "max distance between units' weight rows")):
                v = getattr(self, name).get(l)
                if v is not None and np.any(np.isfinite(v)):
                    median = np.nanmedian(v)
                    share = name in ("saturation", "dead")   # shares of the layer's units
                    parts.append(f"{label} {num(100 * median, 4) + '%' if share else num(median, 3)}")
            lines.append("  " + "  ".join(parts))
        lines += ["  warning: " + w for w in self.warnings()]
        return Text("\n".join(lines))

    def warnings(self):
        out = []
        g = self.grad_norm
        lo, hi = (min(g), max(g)) if g else (0, 0)   # the first and last layers with weights
        if lo == min(self.trace.arch.with_params()) and hi == self.L and hi > lo:
            first, last = np.nanmedian(g[lo]), np.nanmedian(g[hi])
            if last > 0 and first / last < 1e-3:
                out.append(f"vanishing gradients: |dW[{lo}]| is {first / last:.1e} of |dW[{hi}]|")
            if last > 0 and first / last > 1e3:
                out.append(f"exploding gradients: |dW[{lo}]| is {first / last:.1e} times "
                           f"|dW[{hi}]|")
        for l, v in self.saturation.items():
            if np.nanmedian(v) > 0.5:
                out.append(f"layer {l}: {np.nanmedian(v):.0%} of units saturated (flat sigmoid/tanh)")
        for l, v in self.dead.items():
            if np.nanmedian(v) > 0.5:
                out.append(f"layer {l}: {np.nanmedian(v):.0%} of ReLUs dead")
        for l, v in self.update_ratio.items():
            med = np.nanmedian(v)
            if med > 0.1:
                out.append(f"layer {l}: updates are {med:.2g} of the weights (learning rate too high?)")
        for l, v in self.symmetry.items():
            if np.all(v[np.isfinite(v)] == 0):
                out.append(f"layer {l}: all units identical at every step (zero or constant "
                           "init: symmetry is never broken)")
        return out

    def __repr__(self):
        return str(self.report())


def _activation_series(series, l, s, arrays, act, alpha, flat):
    """saturation and dead units of layer l at step s (z, a of any shape)."""
    z, a = arrays.get(f"z/{l}"), arrays.get(f"a/{l}")
    if act in _MAX_SLOPE and z is not None and a is not None:
        g = slope(act, alpha, z, a)
        series["saturation"][l][s] = float(np.mean(g < flat * _MAX_SLOPE[act]))
    if act == "relu" and z is not None:
        series["dead"][l][s] = float(np.mean(np.all(z <= 0, axis=0)))


def diagnostics(trace, flat=FLAT):
    """:class:`Diagnostics` of a trace."""
    return Diagnostics(trace, flat=flat)
