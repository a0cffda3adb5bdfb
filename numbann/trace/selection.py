"""What a recorder keeps (quantities, steps, epochs) and what that costs:
the :class:`Estimate` of a trace's memory and :class:`TraceTooLarge`."""
import math
import numbers

import numpy as np

from .. import _checks
from .data import _human

QUANTITIES = ("x", "y", "z", "a", "delta", "dW", "db", "W", "state", "norms", "stats")
_ALIASES = {"theta": "W", "params": "W", "weights": "W", "b": "W", "X": "x", "Y": "y",
            "input": "x", "inputs": "x", "targets": "y", "optimizer": "state",
            "batch_stats": "stats", "winners": "stats"}
_ALWAYS = ("loss", "lr")  # kept for every recorded step whatever ``keep`` says
ARRAY_OVERHEAD = 112  # bytes a small numpy array costs beyond its data
STEP_OVERHEAD = 400  # a step record's scalars and dictionary


class TraceTooLarge(ValueError):
    """The trace asked for would exceed the recorder's memory budget."""


def _keep(keep):
    if keep is None or (isinstance(keep, str) and keep == "all"):
        return list(QUANTITIES)
    if isinstance(keep, str):
        keep = (keep,)
    keep = _checks.sequence(keep, "keep", "'all', a quantity name or a list of names")
    out = []
    for q in keep:
        if not isinstance(q, str):
            raise TypeError(f"keep lists quantity names, got {q!r:.60}")
        if q in _ALWAYS:
            continue
        q = _ALIASES.get(q, q)
        if q not in QUANTITIES:
            raise ValueError(f"unknown quantity {q!r} to keep; choose from "
                             f"{', '.join(QUANTITIES)} (loss and lr are always kept)")
        if q not in out:
            out.append(q)
    return [q for q in QUANTITIES if q in out]


def _int_list(values, what, low=0):
    """Integers >= low from one integer, a list, a range or a 1-D integer array."""
    if isinstance(values, numbers.Integral) and not isinstance(values, (bool, np.bool_)):
        values = [values]
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise TypeError(f"{what} must be an integer or a 1-D list of integers, got an array "
                        f"of shape {values.shape}")
    values = _checks.sequence(values, what, "an integer or a list of integers")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{what} must be integers, got {v!r:.60}")
        if v < low:
            raise ValueError(f"{what} must be integers >= {low}, got {v}")
        out.append(int(v))
    return out


class _StepSelection:
    """Which steps (0-based step numbers of the fit) and epochs to record."""

    def __init__(self, steps, epochs):
        self.spec = steps
        if steps is None or (isinstance(steps, str) and steps == "all"):
            self._test = None
        elif isinstance(steps, slice):
            start = _checks.integer(steps.start, "steps slice start", 0, none=True) or 0
            stop = _checks.integer(steps.stop, "steps slice stop", 0, none=True)
            every = _checks.integer(steps.step, "steps slice step", 1, none=True) or 1
            self._test = lambda s: s >= start and (stop is None or s < stop) and (s - start) % every == 0
        elif callable(steps):
            self._test = lambda s: bool(steps(s))
        else:
            try:
                wanted = frozenset(_int_list(steps, "steps"))
            except TypeError:
                raise TypeError(f"steps must be 'all', an int, a slice, a range, a list of "
                                f"step numbers or a callable f(step) -> bool, got "
                                f"{steps!r:.60}") from None
            self._test = wanted.__contains__
        self.epochs = None if epochs is None else frozenset(_int_list(epochs, "epochs"))

    def __call__(self, step, epoch):
        if self.epochs is not None and epoch not in self.epochs:
            return False
        return self._test is None or self._test(step)

    @property
    def all_steps(self):
        """True when every step is selected (before the epoch filter)."""
        return self._test is None

    def describe(self):
        if self.all_steps:
            text = "all"
        elif callable(self.spec) and not isinstance(self.spec, (range, slice, np.ndarray)):
            text = getattr(self.spec, "__name__", "a function")
        else:
            text = repr(self.spec)
        return text if self.epochs is None else f"{text} in epochs {sorted(self.epochs)}"

    def __reduce__(self):
        # pickle and copy rebuild the selection from the choice (its tests are
        # closures); a consumed iterator is replaced by the steps it gave
        spec = self.spec
        if hasattr(spec, "__next__"):
            spec = sorted(self._test.__self__)
        return (_StepSelection, (spec, None if self.epochs is None else sorted(self.epochs)))


class Estimate:
    """The memory a trace will take: ``nbytes`` (also ``int(est)``),
    ``steps`` recorded of ``total_steps``, ``per_quantity`` bytes,
    ``budget`` bytes, ``ok``, and a readable ``message``."""

    def __init__(self, nbytes, steps, total_steps, per_quantity, budget, recorder):
        self.nbytes, self.steps, self.total_steps = int(nbytes), steps, total_steps
        self.per_quantity, self.budget = per_quantity, budget
        self.ok = budget is None or self.nbytes <= budget
        self.message = self._message(recorder)

    def _message(self, rec):
        per = self.nbytes / max(self.steps, 1)
        head = (f"this trace would take {_human(self.nbytes)}"
                + (f" (budget {_human(self.budget)})" if self.budget is not None else "")
                + f": {self.steps} of {self.total_steps} steps recorded, "
                  f"{_human(per)} per recorded step")
        parts = sorted(self.per_quantity.items(), key=lambda kv: -kv[1])
        detail = "  " + ", ".join(f"{q} {_human(b)}" for q, b in parts if b > 0)
        if self.ok:
            return head + "\n" + detail
        big = [q for q, b in parts if b > 0 and q in rec.keep][:2]
        lean = [q for q in rec.keep if q not in big   # and not stats no layer has
                and (q != "stats" or self.per_quantity.get(q))] or ["dW"]
        every = max(2, math.ceil(self.nbytes / self.budget))
        hints = [f"keep fewer quantities ({' and '.join(big)} take the most; e.g. "
                 f"keep={tuple(lean)!r})" if big else "keep fewer quantities",
                 f"record fewer steps (steps=slice(0, None, {every}) keeps every {every}th, "
                 f"or steps=range(0, 100))",
                 "fewer layers (layers=[...])"]
        if rec.samples is None:
            hints.append("fewer samples per batch (samples=[0])")
        hints.append("or raise budget_mb")
        fixed = self.per_quantity.get("theta", 0)
        note = (f"\n(The parameters at the start and the end alone take {_human(fixed)}: "
                f"budget_mb must be above that.)" if fixed >= self.budget else "")
        return (f"{head}\n{detail}\nTo narrow it: " + "; ".join(hints) + "." + note)

    def __int__(self):
        return self.nbytes

    def __str__(self):
        return self.message

    def __repr__(self):
        return f"Estimate({_human(self.nbytes)}, {self.steps} steps, ok={self.ok})"
