"""Replay a dense network's recorded step in the course's column-major
notation (``replay(..., notation="course")``): samples are columns,
``Z[l] = W[l] A[l-1] + b[l]``, ``dZ[l] = W[l+1]^T dZ[l+1] * g'(Z[l])``,
``dW[l] = 1/m dZ[l] A[l-1]^T``.

The recorded arrays are batch-major (row i is sample i), so ``Z[l] = z[l]^T``
and ``A[l] = a[l]^T``. The course keeps the loss's ``1/m`` out of ``dZ``:
``dZ[l] = m delta[l]^T``, column i being the gradient of sample i's own loss
``J_i`` when ``J = 1/m sum_i J_i``; for a loss summed over the batch
``dZ[l] = delta[l]^T`` and ``dW[l] = dZ[l] A[l-1]^T``. Every line is
recomputed in NumPy, column-major, and compared with the recorded values.
"""
import re

import numpy as np

from ._text import arr, block, inline, num, show
from .explain import DJDA_TEXT, _row_index, apply, dJ_da, output_delta, slope


def _col(v, digits):
    """A column vector as the course writes it in a line of text: ``[1, 2]^T``."""
    return f"{arr(v, digits)}^T"


def sample_forward(c, i, out, check, vec):
    """The forward pass of batch row i, every line checked: z[l] = W[l] a[l-1]
    + b[l], a[l] = g(z[l]), then yhat; ``vec(v, digits)`` writes a vector (a
    row, or the course's column ``[..]^T``)."""
    L, d = c.L, c.digits
    out.append("Forward pass")
    x = c.get("x")
    if x is not None:
        out.append(f"  a[0] = x = {vec(x[i], d)}")
    for l in range(1, L + 1):
        W, b, a_prev = c.get(f"W_before/{l}"), c.get(f"b_before/{l}"), c.a(l - 1)
        z, a = c.get(f"z/{l}"), c.get(f"a/{l}")
        out.append(f"  z[{l}] = W[{l}] a[{l - 1}] + b[{l}]")
        recomputed = None
        if W is not None and a_prev is not None:
            out.append(f"       = {inline(W, d)} {vec(a_prev[i], d)} + {vec(b, d)}")
            recomputed = W @ a_prev[i] + b
        if z is not None:
            out.append(f"       = {vec(z[i], d)}")
            check(z[i], recomputed)
        elif recomputed is not None:
            out.append(f"       = {vec(recomputed, d)}   (recomputed; z not recorded)")
        if a is not None:
            out.append(f"  a[{l}] = {c.acts[l - 1]}(z[{l}]) = {vec(a[i], d)}")
            if z is not None:
                check(a[i], apply(c.acts[l - 1], c.alphas[l - 1], z[i]))
    y, aL = c.get("y"), c.a(L)
    if aL is not None:
        out.append(f"  yhat = a[{L}] = {vec(aL[i], d)}"
                   + (f";  target y = {vec(y[i], d)}" if y is not None else ""))


class _Course:
    """The per-sample scale of the course's dZ: ``dZ[l] = rows delta[l]^T``
    with ``rows = m`` when the loss averages over the batch, else 1."""

    def __init__(self, c):
        factor, per_row, per_output = c.loss.scale_parts()
        self.rows = c.rec.m if per_row else 1
        self.over_m = "1/m " if per_row else ""
        self.s_i = c.s * self.rows                # J_i's own reduction factor
        own, value = num(factor) + (f"/n_{c.L}" if per_output else ""), num(self.s_i, 6)
        self.s_i_text = (f"s_i = s = {value}" if not per_row else
                         f"s_i = m s = {own}" + ("" if own == value else f" = {value}"))
        self.sum_text = ("J = 1/m sum_i J_i" if per_row else "J = sum_i J_i")

    def difference(self, a, y, scale="s_i"):
        """``a - y``, or ``s_i (a - y)`` when s_i is not 1."""
        return f"{a} - {y}" if self.s_i == 1 else f"{scale} ({a} - {y})"

    def output_formula(self, c, lhs, a_name, y_name, z_name):
        """``dZ[L] = A[L] - Y`` (with s_i when it is not 1) and the head's note."""
        L, act = c.L, c.acts[-1]
        note = "" if self.s_i == 1 else f", {self.s_i_text}"
        if c.fused() and c.loss_name == "bce":
            return (f"{lhs} = {self.difference(a_name, y_name)}     (sigmoid and binary "
                    f"cross-entropy fused{note})")
        if c.fused():
            return (f"{lhs} = {self.difference(a_name, y_name)} for one-hot targets     "
                    f"(softmax and {c.loss_name} fused; in general {a_name} sum_k y_k - "
                    f"{y_name}{note})")
        dj = re.sub(r"\bs\b", "s_i", DJDA_TEXT[c.loss_name])
        if act == "softmax":
            return (f"{lhs} = {a_name} * (dJ_i/da - sum_j dJ_i/da_j a_j)     (softmax's "
                    f"Jacobian; dJ_i/da = {dj}, {self.s_i_text})")
        return (f"{lhs} = dJ_i/da[{L}] * g'({z_name})     (dJ_i/da = {dj}, {self.s_i_text}; "
                f"g'(z) of {act}: {c.g_text(L)})")


def replay_course_sample(c, sample, out, check):
    """One sample as column vectors: z[l], a[l], then dz[l] (column i of dZ[l])."""
    rec, L, d = c.rec, c.L, c.digits
    k = _Course(c)
    i = _row_index(rec, sample)
    where = f" (row {int(rec.rows[sample])} of X)" if rec.rows is not None else ""
    out.append(f"Sample {sample} of the batch{where}, column vectors as in the course "
               f"(v^T: the column v): z[l] = W[l] a[l-1] + b[l], a[l] = g(z[l]).")
    out.append("")
    sample_forward(c, i, out, check, _col)
    y, aL = c.get("y"), c.a(L)
    out.append("")
    out.append(f"Backward pass: dz[l] = dJ_i/dz[l], the gradient of this sample's own loss "
               f"J_i ({k.sum_text}, m = {rec.m}); numbann's delta[l] row is dz[l]^T"
               + (f" / {k.rows}" if k.rows != 1 else ""))
    z, dL = c.get(f"z/{L}"), c.get(f"delta/{L}")
    out.append("  " + k.output_formula(c, f"dz[{L}]", f"a[{L}]", "y", f"z[{L}]"))
    if aL is not None and y is not None:
        if c.fused():
            out.append("        = " + k.difference(_col(aL[i], d), _col(y[i], d),
                                                   num(k.s_i, 6)))
        elif c.acts[-1] != "softmax" and z is not None:
            out.append(f"        = {_col(k.rows * dJ_da(c.loss_name, c.s, aL, y)[i], d)} * "
                       f"{_col(slope(c.acts[-1], c.alphas[-1], z[i], aL[i]), d)}")
        if dL is not None:
            recomputed = k.rows * output_delta(c.loss_name, c.acts[-1], c.alphas[-1], c.s,
                                               z, aL, y)[i]
            check(k.rows * dL[i], recomputed)
    if dL is not None:
        out.append(f"        = {_col(k.rows * dL[i], d)}")
    for l in range(L - 1, 0, -1):
        dn, Wn, z, a, dl = (c.get(f"delta/{l + 1}"), c.get(f"W_before/{l + 1}"),
                            c.get(f"z/{l}"), c.get(f"a/{l}"), c.get(f"delta/{l}"))
        out.append(f"  dz[{l}] = W[{l + 1}]^T dz[{l + 1}] * g'(z[{l}])     g'(z) of "
                   f"{c.acts[l - 1]}: {c.g_text(l)}")
        recomputed = None
        if dn is not None and Wn is not None and z is not None and a is not None:
            back = Wn.T @ (k.rows * dn[i])
            gp = slope(c.acts[l - 1], c.alphas[l - 1], z[i], a[i])
            out.append(f"        = {inline(Wn.T, d)} {_col(k.rows * dn[i], d)} * {_col(gp, d)}")
            out.append(f"        = {_col(back, d)} * {_col(gp, d)}")
            recomputed = back * gp
        if dl is not None:
            out.append(f"        = {_col(k.rows * dl[i], d)}")
            check(k.rows * dl[i], recomputed)
    out.append("")
    out.append(f"Gradients: dW[l] = {k.over_m}sum_i dz[l] a[l-1]^T and db[l] = {k.over_m}"
               f"sum_i dz[l] over the batch's {rec.m} samples")
    for l in range(L, 0, -1):
        dl, a_prev = c.get(f"delta/{l}"), c.a(l - 1)
        if dl is not None and a_prev is not None:
            out.append(show(f"this sample: dz[{l}] a[{l - 1}]^T",
                            np.outer(k.rows * dl[i], a_prev[i]), d, "  "))
        dW, db = c.get(f"dW/{l}"), c.get(f"db/{l}")
        if dW is not None:
            out.append(show(f"dW[{l}] (batch of {rec.m})", dW, d, "  "))
        if db is not None:
            out.append(f"  db[{l}] (batch of {rec.m}) = {_col(db, d)}")


def replay_course_batch(c, out, check):
    """The kept batch as column-major matrices: X, Z[l], A[l], dZ[l], dW[l], db[l]."""
    rec, L, d = c.rec, c.L, c.digits
    k = _Course(c)
    every = rec.samples is None
    kept = f"all m = {rec.m} samples" if every else \
        f"batch positions {rec.samples.tolist()} of m = {rec.m}"
    out.append(f"Vectorized over {kept}, column-major as in the course: column i of A[l], "
               f"Z[l], dZ[l] is sample i (the recorded batch-major arrays transposed: "
               f"Z[l] = z[l]^T, A[l] = a[l]^T).")
    out.append("")
    out.append("Forward pass")
    X = c.get("x")
    if X is not None:
        out.append(block(f"A[0] = X   (n_0, m) = {X.T.shape}", X.T, d, "  "))
    for l in range(1, L + 1):
        W, b, a_prev = c.get(f"W_before/{l}"), c.get(f"b_before/{l}"), c.a(l - 1)
        z, a = c.get(f"z/{l}"), c.get(f"a/{l}")
        if W is not None:
            out.append(block(f"W[{l}]   (n_{l}, n_{l - 1}) = {W.shape}", W, d, "  "))
            out.append(block(f"b[{l}]   (n_{l}, 1), added to every column", b[:, None], d, "  "))
        if z is not None:
            out.append(block(f"Z[{l}] = W[{l}] A[{l - 1}] + b[{l}]   (n_{l}, m) = {z.T.shape}",
                             z.T, d, "  "))
            if W is not None and a_prev is not None:
                check(z.T, W @ a_prev.T + b[:, None])
        if a is not None:
            out.append(block(f"A[{l}] = {c.acts[l - 1]}(Z[{l}])", a.T, d, "  "))
            if z is not None:
                check(a.T, apply(c.acts[l - 1], c.alphas[l - 1], z).T)
    Y = c.get("y")
    if Y is not None:
        out.append(block(f"Y   (n_{L}, m) = {Y.T.shape}", Y.T, d, "  "))
    out.append("")
    out.append(f"Backward pass: dZ[l] = {'m ' if k.rows != 1 else ''}delta[l]^T, column i the "
               f"gradient of sample i's own loss J_i ({k.sum_text})")
    dL = c.get(f"delta/{L}")
    text = k.output_formula(c, f"dZ[{L}]", f"A[{L}]", "Y", f"Z[{L}]")
    if dL is not None:
        out.append(block(text, k.rows * dL.T, d, "  "))
        aL, z = c.a(L), c.get(f"z/{L}")
        if aL is not None and Y is not None:
            check(k.rows * dL.T, k.rows * output_delta(c.loss_name, c.acts[-1], c.alphas[-1],
                                                        c.s, z, aL, Y).T)
    else:
        out.append("  " + text)
    for l in range(L, 0, -1):
        dl, a_prev = c.get(f"delta/{l}"), c.a(l - 1)
        dZ = None if dl is None else k.rows * dl.T
        dW, db = c.get(f"dW/{l}"), c.get(f"db/{l}")
        if dW is not None:
            out.append(block(f"dW[{l}] = {k.over_m}dZ[{l}] A[{l - 1}]^T   (n_{l}, n_{l - 1}) = "
                             f"{dW.shape}", dW, d, "  "))
            if dZ is not None and a_prev is not None and every:
                check(dW, dZ @ a_prev / k.rows)
        if db is not None:
            out.append(block(f"db[{l}] = {k.over_m}sum_i dZ[{l}][:, i]   (the row sums)",
                             db[:, None], d, "  "))
            if dZ is not None and every:
                check(db, dZ.sum(axis=1) / k.rows)
        if l > 1:
            Wn, z, a, dp = (c.get(f"W_before/{l}"), c.get(f"z/{l - 1}"), c.get(f"a/{l - 1}"),
                            c.get(f"delta/{l - 1}"))
            text = (f"dZ[{l - 1}] = W[{l}]^T dZ[{l}] * g'(Z[{l - 1}])   (g'(z) of "
                    f"{c.acts[l - 2]}: {c.g_text(l - 1)})")
            if dp is None:
                out.append("  " + text)
                continue
            out.append(block(text, k.rows * dp.T, d, "  "))
            if dZ is not None and Wn is not None and z is not None and a is not None:
                check(k.rows * dp.T,
                      (Wn.T @ dZ) * slope(c.acts[l - 2], c.alphas[l - 2], z, a).T)
    if not every:
        out.append(f"  (dW, db sum over all {rec.m} samples of the batch; only "
                   f"{len(rec.samples)} were kept)")
