"""The trace data model: a :class:`Trace` of :class:`StepRecord` objects
(``records.py``), with its files (``save``/``load_trace``, bit for bit, and
JSON) and its structure (``tr.arch``: the layers).
"""
import json
import math

import numpy as np

from .. import io as nbio
from ._text import Text
from .records import LayerRecord, StepRecord  # noqa: F401 (LayerRecord: the package exports it)

FORMAT = nbio.TRACE  # "numbann-trace", also in the meta
VERSION = 1

class Trace:
    """A recorded training run (or single steps): indexed by step and layer.

    ``tr[s]`` is the :class:`StepRecord` of step ``s`` (0-based step of the
    fit; negative numbers count from the last recorded step), ``tr[s, l]``
    one layer of it; ``tr.steps`` lists the recorded steps. ``tr.meta``
    describes the network, loss, optimizer and what was kept;
    ``tr.history`` is the fit's per-epoch history (with every step's loss
    in ``step_loss``, recorded or not); ``tr.theta_start``/``theta_end``
    are the parameters before and after the run, ``running_start``/
    ``running_end`` a Sequential network's BatchNorm running statistics;
    ``tr.arch`` describes the layers (kind, shapes, window, stride, padding).
    """

    def __init__(self, meta, records=(), history=None, theta_start=None, theta_end=None,
                 running_start=None, running_end=None):
        from .arch import Arch
        self.meta = meta
        self.arch = Arch.from_meta(meta)
        self.records = list(records)
        for r in self.records:
            r.arch = self.arch
        self.history = history
        self.theta_start, self.theta_end = theta_start, theta_end
        self.running_start, self.running_end = running_start, running_end
        self._index = {r.step: i for i, r in enumerate(self.records)}

    # --------------------------------------------------------------- structure

    @property
    def sizes(self):
        return list(self.meta["sizes"])

    @property
    def L(self):
        return len(self.meta["sizes"]) - 1

    @property
    def activations(self):
        return list(self.meta["activations"])

    @property
    def kinds(self):
        """Each layer's kind, ``kinds[l - 1]``: Dense, Conv2D, MaxPool2D, ..."""
        return [self.arch.kind(l) for l in range(1, self.L + 1)]

    def split(self, flat):
        """(W-list, b-list): per-layer views of a theta-shaped vector
        (``tr.split(tr.theta_end)``), ``W[l]`` at index l - 1."""
        return self.arch.split(flat)

    def _append(self, record):
        record.arch = self.arch
        self._index[record.step] = len(self.records)
        self.records.append(record)

    @property
    def steps(self):
        """The recorded steps (0-based step numbers of the fit)."""
        return np.array([r.step for r in self.records], dtype=np.int64)

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if len(key) != 2:
                raise KeyError("index a trace as tr[step] or tr[step, layer]")
            return self[key[0]].layer(key[1])
        if isinstance(key, slice):
            return [self.records[self._index[s]] for s in
                    range(*key.indices(int(self.steps.max()) + 1 if self.records else 0))
                    if s in self._index]
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise KeyError(f"index a trace by step number, got {key!r}")
        key = int(key)
        if key < 0:
            if -key > len(self.records):
                raise IndexError(f"the trace holds {len(self.records)} steps")
            return self.records[key]
        if key not in self._index:
            steps = self.steps
            shown = ", ".join(map(str, steps[:8])) + (" ..." if len(steps) > 8 else "")
            raise KeyError(f"step {key} was not recorded; recorded steps: {shown or 'none'} "
                           f"({len(steps)} in all; tr.steps lists them)")
        return self.records[self._index[key]]

    def at(self, i):
        """The i-th recorded step (by position, not step number)."""
        return self.records[i]

    # --------------------------------------------------------------- series

    @property
    def loss(self):
        """The loss J of every recorded step (see ``history['step_loss']`` for all)."""
        return np.array([r.loss for r in self.records])

    @property
    def lr(self):
        return np.array([r.lr for r in self.records])

    def series(self, name, l=None):
        """One quantity over the recorded steps, stacked: ``tr.series("W_after", 1)``
        has shape (steps, n_1, n_0). ``name`` is a field (``"z"``, ``"dW"``, ...)
        with a layer ``l``, ``"x"``/``"y"``, or a norm (``"norms/dW"``: shape
        (steps, L)). Steps lacking it are skipped; shapes must agree (the last
        batch of an epoch may be smaller: use ``samples=`` to fix the rows)."""
        key = name if l is None else f"{name}/{l}"
        values = [r.arrays[key] for r in self.records if key in r.arrays]
        if not values:
            raise KeyError(f"{key!r} is in no recorded step")
        shapes = {v.shape for v in values}
        if len(shapes) > 1:
            raise ValueError(f"{key!r} changes shape across steps ({sorted(shapes)}); "
                             "pick steps of full batches or keep fixed samples")
        return np.stack(values)

    def steps_with(self, name, l=None):
        key = name if l is None else f"{name}/{l}"
        return np.array([r.step for r in self.records if key in r.arrays], dtype=np.int64)

    @property
    def nbytes(self):
        extra = sum(getattr(self, n).nbytes for n in _FLAT if getattr(self, n) is not None)
        return sum(r.nbytes for r in self.records) + extra

    # --------------------------------------------------------------- teaching

    def replay(self, step, sample=0, vectorized=False, digits=4, layer=None, channel=0,
               position=None, notation="batch"):
        """The step's forward and backward pass with the recorded numbers (one
        sample, or ``vectorized=True`` for the whole kept batch of a dense
        network), in numbann's batch-major form (``notation="batch"``) or the
        course's column-major one (``"course"``: ``Z[l] = W[l] A[l-1] + b[l]``,
        ``dZ[l] = W[l+1]^T dZ[l+1] * g'(Z[l])``, ``dW[l] = 1/m dZ[l]
        A[l-1]^T``; dense networks). With conv, pooling or BatchNorm layers:
        each layer at one output (``channel``, ``position=(p, q)``, default
        the centre), or only ``layer``. Returns printable text."""
        from .replay import replay
        return replay(self, step, sample=sample, vectorized=vectorized, digits=digits,
                      layer=layer, channel=channel, position=position, notation=notation)

    def explain(self, step, param, l, *index, paths="one", digits=6, max_rows=8, max_paths=8):
        """``dJ/dW[l][j, k]`` (``param="W"``) or ``dJ/db[l][j]`` (``"b"``) as the
        chain-rule product with every factor, checked against the recorded
        gradient; a hidden dense weight as one term per row and path
        (``delta[l+1]_i W[l+1][i,j] g'(z[l]_j) a[l-1]_k``; ``paths="full"``:
        every path to the outputs), listing the largest ``max_paths`` terms
        of the first ``max_rows`` rows; a conv weight takes four indices
        ``(o, c, i, j)`` and is written as the sum over the positions its
        filter visited, a BatchNorm gamma/beta one (the channel); an RNN or
        attention weight as the sum over samples and time steps. Returns an
        :class:`numbann.trace.explain.Explanation`."""
        from .explain import explain
        if not index:
            raise TypeError(f"explain(step, {param!r}, l, ...) needs the index of the parameter")
        return explain(self, step, param, l, *index, paths=paths, digits=digits,
                       max_rows=max_rows, max_paths=max_paths)

    def diagnostics(self, **kw):
        from .diagnostics import diagnostics
        return diagnostics(self, **kw)

    def network(self, step=None, when="after"):
        """A network with this trace's architecture (a Network, or a Sequential
        with its BatchNorm running statistics at the end of the run) and the
        parameters at the end of the run (``step=None``) or of a recorded step
        (``when`` = "before" or "after" its update; needs W kept for every
        layer with parameters)."""
        if step is None:
            if self.theta_end is None:
                raise ValueError("this trace has no final parameters (theta_end)")
            theta = self.theta_end
        else:
            if when not in ("before", "after"):
                raise ValueError(f"when must be 'before' or 'after', got {when!r}")
            rec = self[step]
            theta = np.zeros_like(self.theta_end if self.theta_end is not None
                                  else self.theta_start)
            W, b = self.split(theta)
            for l in self.arch.with_params():
                try:
                    W[l - 1][...] = rec.arrays[f"W_{when}/{l}"]
                    b[l - 1][...] = rec.arrays[f"b_{when}/{l}"]
                except KeyError:
                    raise KeyError(f"step {step}: W[{l}] {when} the update was not recorded "
                                   "(keep 'W' for every layer)") from None
        if self.meta.get("network") == "Sequential":
            from ..sequential import from_saved
            running = self.running_end if self.running_end is not None else self.running_start
            return from_saved(self.meta["config"], theta, running, "the trace")
        from ..model import Dense, Network
        from .. import activations
        layers = [Dense(n, activations.get(name, alpha if name in ("leaky_relu", "elu") else None),
                        init="zeros")
                  for n, name, alpha in zip(self.sizes[1:], self.activations, self.meta["alphas"])]
        net = Network(self.sizes[0], layers, dtype=self.meta["dtype"])
        net.theta[...] = theta
        return net

    # --------------------------------------------------------------- files

    def save(self, path, compressed=False):
        """Write the trace to ``path`` (.npz); :func:`load_trace` reads it back
        bit for bit. Arrays of one name are concatenated across steps."""
        meta = dict(self.meta)
        step_meta, chunks = [], {}
        for r in self.records:
            step_meta.append({"step": r.step, "t": r.t, "epoch": r.epoch, "m": r.m,
                              "extras": r.extras,
                              "arrays": {k: list(v.shape) for k, v in r.arrays.items()}})
            for k, v in r.arrays.items():
                chunks.setdefault(k, []).append(v.reshape(-1))
        data = {"data/" + k: np.concatenate(v) for k, v in chunks.items()}
        data["loss"] = np.array([r.loss for r in self.records], dtype=np.float64)
        data["lr"] = np.array([r.lr for r in self.records], dtype=np.float64)
        for name in _FLAT:
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        doc = {"meta": meta, "steps": step_meta, "history": self.history}
        data["json"] = np.array(json.dumps(doc))
        nbio.write(path, data, nbio.TRACE, compressed=compressed)  # atomic, checksummed
        return path

    def to_dict(self, steps=None):
        """Plain Python data (lists and floats; NaN and inf become None)."""
        records = self.records if steps is None else [self[s] for s in steps]
        return {"format": FORMAT, "version": VERSION, "meta": _jsonable(self.meta),
                "history": _jsonable(self.history),
                **{n: _jsonable(getattr(self, n)) for n in _FLAT
                   if n.startswith("theta") or getattr(self, n) is not None},
                "steps": [{"step": r.step, "t": r.t, "epoch": r.epoch, "m": r.m,
                           "loss": _jsonable(r.loss), "lr": _jsonable(r.lr),
                           "extras": _jsonable(r.extras),
                           "arrays": {k: _jsonable(v) for k, v in r.arrays.items()}}
                          for r in records]}

    def to_json(self, path=None, steps=None, indent=None):
        """The trace as JSON for other tools: ``{"meta", "history", "steps":
        [{"step", "t", "epoch", "m", "loss", "lr", "extras", "arrays":
        {"z/1": [[...]], ...}}]}``; floats written exactly (shortest repr),
        NaN/inf as null. Writes ``path`` if given, returns the text."""
        text = json.dumps(self.to_dict(steps), indent=indent, allow_nan=False)
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    def equals(self, other):
        """True when both traces hold the same numbers, bit for bit."""
        if not isinstance(other, Trace) or len(self) != len(other):
            return False
        if json.dumps(self.meta, sort_keys=True) != json.dumps(other.meta, sort_keys=True) or \
                json.dumps(self.history, sort_keys=True) != json.dumps(other.history, sort_keys=True):
            return False
        for name in _FLAT:
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None) or (a is not None and not _same(a, b)):
                return False
        for r, s in zip(self.records, other.records):
            if (r.step, r.t, r.epoch, r.m) != (s.step, s.t, s.epoch, s.m) or \
                    json.dumps(r.extras) != json.dumps(s.extras):
                return False
            if not (_same(np.float64(r.loss), np.float64(s.loss)) and
                    _same(np.float64(r.lr), np.float64(s.lr))):
                return False
            if r.arrays.keys() != s.arrays.keys():
                return False
            if not all(_same(v, s.arrays[k]) for k, v in r.arrays.items()):
                return False
        return True

    # --------------------------------------------------------------- display

    def summary(self):
        m = self.meta
        steps = self.steps
        span = f"steps {steps[0]}..{steps[-1]}" if len(steps) else "no steps"
        opt = m.get("optimizer") or {}
        if self.arch.dense:
            net = (f"a {'-'.join(map(str, m['sizes']))} network "
                   f"[{', '.join(m['activations'])}]")
        else:
            net = (f"a Sequential network {tuple(self.arch.shape(0))} -> " + " -> ".join(
                f"{self.arch.kind(l)} {self.arch.shape(l)}" for l in range(1, self.L + 1)))
        lines = [f"Trace of {net}, {m['dtype']}, loss {m['loss']['name']} "
                 f"({m['loss']['reduction']}), optimizer {opt.get('repr', 'none')}",
                 f"  {len(self)} recorded steps ({span}), {_human(self.nbytes)}",
                 f"  keeps {', '.join(m['keep']) or 'scalars only'} for layers "
                 f"{m['layers']}, samples {m['samples'] if m['samples'] is not None else 'all rows'}"]
        if len(self):
            lines.append("  tr[step] -> step record, tr[step, l] -> one layer; tr.steps; "
                         "tr.replay(step); tr.explain(step, 'W', l, j, k)")
        return Text("\n".join(lines))

    def __repr__(self):
        return str(self.summary())


_FLAT = ("theta_start", "theta_end", "running_start", "running_end")


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _jsonable(v):
    if v is None:
        return None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "f":
            out = v.astype(np.float64).tolist()
            return _clean(out) if not np.all(np.isfinite(v)) else out
        return v.tolist()
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def _clean(x):
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x if math.isfinite(x) else None


def _human(nbytes):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} B"


def load_trace(path):
    """Read a trace written by :meth:`Trace.save` (bit-exact). A damaged,
    foreign or newer file raises :class:`numbann.NumbannFileError` naming it."""
    _, _, data = nbio.read(path, (nbio.TRACE,), legacy=("json",))
    doc = nbio.json_entry(path, data, "json")
    try:
        meta = doc["meta"]
        if meta.get("format") != FORMAT:
            raise ValueError("its meta does not describe a numbann trace")
        flat = {k[len("data/"):]: v for k, v in data.items() if k.startswith("data/")}
        loss, lr = data["loss"], data["lr"]
        L = len(meta["sizes"]) - 1
        offsets = dict.fromkeys(flat, 0)
        records = []
        for i, sm in enumerate(doc["steps"]):
            arrays = {}
            for k, shape in sm["arrays"].items():
                size = int(np.prod(shape, dtype=np.int64))
                arrays[k] = flat[k][offsets[k]:offsets[k] + size].reshape(shape)
                offsets[k] += size
            records.append(StepRecord(sm["step"], sm["t"], sm["epoch"], sm["m"], loss[i], lr[i],
                                      arrays, L, sm["extras"]))
        flat_arrays = {name: nbio.params(path, data, name, meta["dtype"], finite=False)
                       if name in data else None for name in _FLAT}
        return Trace(meta, records, doc["history"], **flat_arrays)
    except nbio.NumbannFileError:
        raise
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as e:
        raise nbio.NumbannFileError(f"{path}: not a valid trace ({type(e).__name__}: "
                                    f"{e})") from None
