"""What a recorder keeps (quantities, steps, epochs) and what that costs:
the :class:`Estimate` of a trace's memory and :class:`TraceTooLarge`."""
import math
import numbers

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
    if keep in ("all", None):
        return list(QUANTITIES)
    if isinstance(keep, str):
        keep = (keep,)
    out = []
    for q in keep:
        if not isinstance(q, str):
            raise TypeError(f"keep lists quantity names, got {q!r}")
        if q in _ALWAYS:
            continue
        q = _ALIASES.get(q, q)
        if q not in QUANTITIES:
            raise ValueError(f"unknown quantity {q!r} to keep; choose from "
                             f"{', '.join(QUANTITIES)} (loss and lr are always kept)")
        if q not in out:
            out.append(q)
    return [q for q in QUANTITIES if q in out]


def _int_list(values, what):
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{what} must be integers, got {v!r}")
        out.append(int(v))
    return out


class _StepSelection:
    """Which steps (0-based step numbers of the fit) and epochs to record."""

    def __init__(self, steps, epochs):
        self.spec = steps
        if steps in ("all", None):
            self._test = None
        elif isinstance(steps, slice):
            start = 0 if steps.start is None else steps.start
            stop, every = steps.stop, 1 if steps.step is None else steps.step
            if start < 0 or (stop is not None and stop < 0) or every < 1:
                raise ValueError(f"steps slice must have start, stop >= 0 and step >= 1, got {steps}")
            self._test = lambda s: s >= start and (stop is None or s < stop) and (s - start) % every == 0
        elif callable(steps):
            self._test = lambda s: bool(steps(s))
        elif isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
            only = int(steps)
            self._test = lambda s: s == only
        else:
            try:
                wanted = frozenset(_int_list(steps, "steps"))
            except TypeError:
                raise TypeError(f"steps must be 'all', an int, a slice, a range, a list of "
                                f"step numbers or a callable f(step) -> bool, got {steps!r}") from None
            self._test = wanted.__contains__
        self.epochs = None if epochs is None else frozenset(
            _int_list([epochs] if isinstance(epochs, numbers.Integral) else epochs, "epochs"))

    def __call__(self, step, epoch):
        if self.epochs is not None and epoch not in self.epochs:
            return False
        return self._test is None or self._test(step)

    def describe(self):
        if self.spec in ("all", None):
            text = "all"
        elif callable(self.spec) and not isinstance(self.spec, (range, slice)):
            text = getattr(self.spec, "__name__", "a function")
        else:
            text = repr(self.spec)
        return text if self.epochs is None else f"{text} in epochs {sorted(self.epochs)}"


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
