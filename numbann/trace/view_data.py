"""What the trace viewer page embeds: a trace's numbers as one JSON document
(``view.py`` writes the page around it).

Arrays travel exactly: for each name (``"z/1"``, ``"dW/2"``, ``"x"``, ...) the
values of the shown steps are concatenated, little-endian, in the trace's
dtype (integers as int32), and base64-encoded, with an ``index``: a list
whose item i is ``[offset, shape]`` of shown step i in that run of values
(``null``: that step lacks the name), or ``{"shape": shape}`` when every
shown step has the name in that shape (step i at offset i times its size).
Scalars (loss, lr, step numbers) are plain JSON numbers, written in their
shortest exact form.
"""
import base64
import math
import re

import numpy as np

from .data import Trace, _jsonable, load_trace
from .selection import QUANTITIES

FORMAT = "numbann-trace-view"
VERSION = 1
SMALL_LAYER = 64      # every weight of a layer with at most this many is explained
LARGEST = 4           # else the weights (and half as many biases) with the largest |dW|
_HINTS = {"x": "the batch's inputs", "y": "the targets", "z": "pre-activations z[l]",
          "a": "activations a[l]", "delta": "delta[l] = dJ/dz[l]", "dW": "dW[l]",
          "db": "db[l]", "W": "the weights before and after each update",
          "state": "the optimizer's state", "norms": "per-layer norms",
          "stats": "BatchNorm statistics and max-pool winners"}


def as_trace(trace):
    """A :class:`Trace`, or the trace saved at a path (``.npz``)."""
    if isinstance(trace, Trace):
        return trace
    if isinstance(trace, (str, bytes)) or hasattr(trace, "__fspath__"):
        try:
            return load_trace(trace)
        except FileNotFoundError:
            raise FileNotFoundError(f"no trace file at {trace!s}") from None
    raise TypeError(f"view needs a numbann.trace.Trace (rec.trace) or the path of a saved "
                    f"trace (.npz), got {type(trace).__name__}")


def shown_steps(trace, max_mb):
    """The recorded steps whose arrays go into the page: all of them, or
    every k-th (and the last) when all would exceed ``max_mb`` MiB."""
    if max_mb is not None and (not isinstance(max_mb, (int, float)) or isinstance(max_mb, bool)
                               or not max_mb > 0):
        raise ValueError(f"max_mb must be a positive number of MiB or None, got {max_mb!r}")
    n = len(trace)
    total = sum(r.nbytes for r in trace)
    stride = 1 if max_mb is None else max(1, math.ceil(total / (max_mb * 2**20)))
    picked = list(range(0, n, stride))
    if picked[-1] != n - 1:
        picked.append(n - 1)
    return picked, stride


def explained_steps(positions, explain_steps):
    """Positions (among the shown steps) whose weights get explanations:
    all when there are at most ``explain_steps``, else the first half of
    them and the rest spread evenly over the remaining steps, the last
    included."""
    if explain_steps == "all":
        return list(positions)
    if isinstance(explain_steps, bool) or not isinstance(explain_steps, int) or explain_steps < 0:
        raise ValueError(f"explain_steps must be an integer >= 0 or 'all', got {explain_steps!r}")
    if len(positions) <= explain_steps:
        return list(positions)
    head = explain_steps // 2
    rest, count = positions[head:], explain_steps - head
    return list(positions[:head]) + [rest[round(len(rest) * (i + 1) / count) - 1]
                                     for i in range(count)]


def _encode(values, dtype):
    data = np.concatenate([np.ascontiguousarray(v, dtype).reshape(-1) for v in values])
    return base64.b64encode(data.astype(dtype.newbyteorder("<"), copy=False).tobytes()).decode()


def _arrays(records):
    """{name: {"dtype", "data", "index"}} for the shown records (module notes)."""
    names = []
    for r in records:
        names += [k for k in r.arrays if k not in names]
    out = {}
    for name in names:
        present = [r.arrays[name] for r in records if name in r.arrays]
        if present[0].dtype.kind == "f":
            dtype = np.dtype(present[0].dtype)
        else:
            dtype = np.dtype(np.int32)
        index, at = [], 0
        for r in records:
            v = r.arrays.get(name)
            index.append(None if v is None else [at, list(v.shape)])
            at += 0 if v is None else v.size
        if len(present) == len(records) and len({v.shape for v in present}) == 1:
            index = {"shape": list(present[0].shape)}  # every step, one shape, in order
        out[name] = {"dtype": {"f4": "f4", "f8": "f8"}.get(dtype.str[1:], "i4"),
                     "data": _encode(present, dtype), "index": index}
    return out


def _norms(trace):
    """||dW[l]|| per recorded step and layer (None where not available)."""
    rows = []
    for r in trace:
        kept = r.arrays.get("norms/dW")
        rows.append([float(kept[l - 1]) if kept is not None else
                     float(np.linalg.norm(r.arrays[f"dW/{l}"])) if f"dW/{l}" in r.arrays
                     else None for l in range(1, trace.L + 1)])
    return _jsonable(rows) if any(v is not None for row in rows for v in row) else None


def _chosen(values, count):
    """Flat indices of the ``count`` largest |values|."""
    return np.argsort(-np.abs(values.reshape(-1)), kind="stable")[:count].tolist()


def explanations(trace, positions):
    """``{"step/param/l/i,j": text}`` of Trace.explain for the weights and
    biases of every layer with parameters at the given recorded positions
    (all of a layer with at most SMALL_LAYER weights, else those with the
    largest |dW| / |db| at that step), and why some could not be explained."""
    texts, failed = {}, {}
    for pos in positions:
        rec = trace.at(pos)
        for l in trace.arch.with_params():
            small = trace.arch.n_W(l) <= SMALL_LAYER
            for param, count in (("W", LARGEST), ("b", LARGEST // 2)):
                grad = rec.arrays.get(f"d{param}/{l}")
                shape = tuple(trace.arch[l][param])
                if int(np.prod(shape)) == 0:
                    continue
                if small:
                    flat = range(int(np.prod(shape)))
                elif grad is None:
                    failed.setdefault(l, f"d{param}[{l}] was not recorded, so the weights to "
                                         "explain were not chosen")
                    continue
                else:
                    flat = _chosen(grad, count)
                for f in flat:
                    index = np.unravel_index(f, shape)
                    try:
                        text = trace.explain(rec.step, param, l, *map(int, index))
                    except (KeyError, ValueError, IndexError, NotImplementedError) as e:
                        # the reason, without the step it was first met at
                        failed.setdefault(l, re.sub(r"^step \d+: ", "", str(e).strip("'\"")))
                        break
                    key = f"{rec.step}/{param}/{l}/{','.join(map(str, index))}"
                    texts[key] = str(text)
    return texts, {str(l): why for l, why in failed.items()}


def missing(trace):
    """What the recorder left out, in words, for the page to say."""
    meta = trace.meta
    keep = meta.get("keep") or []
    notes = [f"{_HINTS[q]} ({q!r})" for q in QUANTITIES if q not in keep and q in _HINTS
             and not (q == "stats" and trace.arch.dense)]
    out = []
    if notes:
        out.append("not kept by Recorder(keep=...): " + ", ".join(notes))
    if not meta.get("optimizer"):
        out.append("no update: the steps were recorded without an optimizer, so there are no "
                   "weights after an update and no optimizer state")
    layers = meta.get("layers")
    if isinstance(layers, list) and len(layers) < trace.L:
        out.append(f"only layers {layers} were recorded (Recorder(layers=...))")
    if meta.get("samples") is not None:
        out.append(f"only batch positions {meta['samples']} were kept for x, y, z, a, delta "
                   "(Recorder(samples=...)); the batch mean is over those rows")
    return out


def payload(trace, max_mb=64, explain_steps=100, title=None):
    """The JSON document the viewer page embeds (module notes)."""
    if not len(trace):
        raise ValueError("this trace holds no recorded steps: nothing to view "
                         "(record with Recorder(steps=...) that selects some)")
    picked, stride = shown_steps(trace, max_mb)
    records = [trace.at(i) for i in picked]
    texts, failed = explanations(trace, explained_steps(picked, explain_steps))
    meta = trace.meta
    history = trace.history or {}
    notes = missing(trace)
    if stride > 1:
        notes.append(f"{len(trace)} steps were recorded; this page holds the arrays of one in "
                     f"every {stride} of them and of the last ({len(picked)} steps, to stay under "
                     f"{max_mb} MiB); the loss and gradient-norm curves show every recorded step")
    return {
        "format": FORMAT, "version": VERSION,
        "title": title or "numbann trace",
        "summary": str(trace.summary()),
        "arch": _jsonable(trace.arch.specs),
        "optimizer": _jsonable(meta.get("optimizer")),
        "keep": list(meta.get("keep") or []),
        "missing": notes, "stride": stride, "recorded": len(trace),
        "steps": [{"step": r.step, "t": r.t, "epoch": r.epoch, "m": r.m,
                   "loss": _jsonable(r.loss), "lr": _jsonable(r.lr),
                   "extras": _jsonable(r.extras)} for r in records],
        "arrays": _arrays(records),
        "curves": {"steps": trace.steps.tolist(), "loss": _jsonable(trace.loss),
                   "fit_loss": _jsonable(history.get("step_loss")) or None,
                   "grad_norms": _norms(trace)},
        "explain": {"texts": texts, "failed": failed,
                    "steps": sorted({int(k.split("/")[0]) for k in texts}),
                    "rule": f"every weight and bias of a layer with at most {SMALL_LAYER} "
                            f"weights; in larger layers the {LARGEST} weights and "
                            f"{LARGEST // 2} biases with the largest |gradient| at that step"},
    }
