"""Number formatting shared by replay, explain and the diagnostics report."""
import math

import numpy as np


class Text(str):
    """A string that shows itself unquoted at a prompt.

    ``tr.replay(3)`` typed at a Python prompt prints the story once (the
    prompt shows ``repr``, which is the text itself); ``print(...)`` and
    ``str(...)`` give the same text; it is an ordinary ``str`` otherwise.
    """

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(str(self))


def num(x, digits=6):
    """One number, ``digits`` significant digits (integers stay integers)."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"


def arr(a, digits=4, width=100):
    """An array as the course writes it: ``[0.25, 0.55]``, matrices row by row.

    Large arrays are summarized with ``...`` (3 items at each edge)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return num(a, digits)
    return np.array2string(
        a.astype(np.float64), separator=", ", max_line_width=width, threshold=48, edgeitems=3,
        formatter={"float_kind": lambda v: num(v, digits)})


def indent(text, prefix):
    """``prefix`` before every line but the first (for `` = `` continuations)."""
    lines = text.split("\n")
    return "\n".join([lines[0]] + [prefix + line for line in lines[1:]])


def shape_name(shape, names):
    """``(m=4, n_1=3)`` from a shape and the course's names for its axes."""
    return "(" + ", ".join(f"{n}={s}" for n, s in zip(names, shape)) + ")"
