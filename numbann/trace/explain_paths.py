"""The paths behind a hidden weight's gradient, factor by factor.

``dJ/dW[l][j,k]`` of a dense network is a sum over the batch's rows r and
over the paths from unit j of layer l up the network. For ``paths="one"``
a path ends at the recorded delta of the next layer:

    dJ/dW[l][j,k] = sum_r sum_i delta[l+1]_i W[l+1][i,j] g'(z[l]_j) a[l-1]_k

and for ``paths="full"`` it goes on to the output units, one unit per layer:

    sum_r sum_{i1..in} delta[L]_in W[L][in,i(n-1)] g'(z[L-1]_i(n-1)) ...
                       W[l+1][i1,j] g'(z[l]_j) a[l-1]_k

(all values of row r). ``explain`` writes every term with its factors.
"""
import itertools

import numpy as np

from ._text import num

LIMIT = 100000  # paths='full' with more paths than this is refused


def path_factors(c, l, j, paths):
    """The paths from unit j of layer l and the factors along each one above
    g'(z[l]_j), from the output end down, as in the formula.

    Returns ``(units, names, columns)``: ``units`` an int array (P, depth),
    row p the units of path p in layers l+1..; ``columns`` (rows, P) arrays
    named like ``delta[3]_i2``, ``W[3][i2,i1]``, ``g'(z[2]_i1)``, ``W[2][i1,j]``."""
    L = c.L
    top = l + 1 if paths == "one" else L
    layers = range(l + 1, top + 1)
    keys = [f"W_before/{r}" for r in layers] + [f"delta/{top}"]
    keys += [f"{q}/{r}" for r in range(l + 1, top) for q in ("z", "a")]
    c.need(*keys)
    widths = [c.sizes[r] for r in layers]
    rows = c.get(f"delta/{top}").shape[0]
    count = int(np.prod(widths))
    if count > LIMIT:
        raise ValueError(f"{count} paths from layer {l} to the outputs: too many to list "
                         f"(the limit is {LIMIT}); use paths='one'")
    units = np.array(list(itertools.product(*[range(w) for w in widths])),
                     dtype=np.int64).reshape(count, len(widths))
    letters = ["i"] if len(widths) == 1 else [f"i{n}" for n in range(1, len(widths) + 1)]
    names, columns = [], []

    def add(name, values):
        names.append(name)
        columns.append(np.broadcast_to(values, (rows, count)))

    add(f"delta[{top}]_{letters[-1]}", c.get(f"delta/{top}")[:, units[:, -1]])
    for n in range(len(widths) - 1, -1, -1):          # layer l+1+n, from the top down
        r = l + 1 + n
        below, unit_below = (letters[n - 1], units[:, n - 1]) if n else (str(j), j)
        add(f"W[{r}][{letters[n]},{below}]", c.get(f"W_before/{r}")[units[:, n], unit_below])
        if n:
            add(f"g'(z[{r - 1}]_{below})", c.slope(r - 1)[:, unit_below])
    return units, names, columns


def path_lines(units, names, columns, row_cols, terms, digits, max_rows, max_paths):
    """The terms row by row: the factors of row r that no path changes
    (``row_cols``: (name, (rows,) array)), then one line per path with its
    own factors and the term (their product times the row's factors). Lists
    the largest ``max_paths`` terms of each of the first ``max_rows`` rows
    and says how many terms are left out and what they add up to."""
    rows, count = terms.shape
    depth = units.shape[1]
    unit_head = ["i"] if depth == 1 else [f"i{n}" for n in range(1, depth + 1)]
    widths = [max(digits + 8, len(n) + 2) for n in names + ["term"]]
    head = "    " + " ".join(f"{h:>3}" for h in unit_head) + "  " + "".join(
        f"{n:>{w}}" for n, w in zip(names + ["term"], widths))
    out = [head]
    for r in range(min(rows, max_rows)):
        row_text = ", ".join(f"{name} = {num(v[r], digits)}" for name, v in row_cols)
        out.append(f"  row r = {r}: {row_text}; "
                   + (f"its {count} terms sum to " if count > 1 else "its term is ")
                   + num(terms[r].sum(), digits))
        shown = np.sort(np.argsort(-np.abs(terms[r]), kind="stable")[:max_paths])
        for p in shown:
            values = [col[r, p] for col in columns] + [terms[r, p]]
            out.append("    " + " ".join(f"{u:>3}" for u in units[p]) + "  " + "".join(
                f"{num(v, digits):>{w}}" for v, w in zip(values, widths)))
        if count > len(shown):
            rest = np.setdiff1d(np.arange(count), shown)
            out.append(f"    ... and {len(rest)} more path{'s' if len(rest) > 1 else ''} of "
                       f"this row (smaller terms), "
                       f"summing to {num(terms[r, rest].sum(), digits)}")
    if rows > max_rows:
        out.append(f"  ... and {rows - max_rows} more row{'s' if rows - max_rows > 1 else ''} "
                   f"({(rows - max_rows) * count} "
                   f"terms), summing to {num(terms[max_rows:].sum(), digits)}")
    return out
