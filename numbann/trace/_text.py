"""Number and matrix formatting shared by replay, explain and the diagnostics report."""
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


SMALL = 24  # matrices up to this many numbers are written on one line


def inline(M, digits):
    """A small matrix on one line ``[[1, 2], [3, 4]]``; a big one by its shape."""
    M = np.asarray(M)
    if M.ndim == 2 and M.size <= SMALL:
        return "[" + ", ".join(arr(row, digits) for row in M) + "]"
    if M.ndim == 2:
        return f"<{M.shape[0]} x {M.shape[1]} matrix>"
    return arr(M, digits)


def show(label, M, digits, pad):
    """``label = value``: one line for a small matrix, an indented block otherwise."""
    M = np.asarray(M)
    if M.ndim == 2 and M.size <= SMALL:
        return f"{pad}{label} = {inline(M, digits)}"
    return block(label, M, digits, pad)


def block(label, value, digits, pad):
    """``label = value`` with a multi-line value indented under it."""
    text = arr(value, digits)
    if "\n" not in text and len(label) + len(text) < 110:
        return f"{pad}{label} = {text}"
    lines = [line for line in text.split("\n") if line.strip()]  # numpy spaces 3-D blocks
    return f"{pad}{label} =\n" + "\n".join(pad + "    " + line for line in lines)


def shape_name(shape, names):
    """``(m=4, n_1=3)`` from a shape and the course's names for its axes."""
    return "(" + ", ".join(f"{n}={s}" for n, s in zip(names, shape)) + ")"
