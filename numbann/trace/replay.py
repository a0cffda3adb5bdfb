"""Replay a recorded step with its numbers: the forward and backward pass
of one sample or of the whole batch (matrices), then the update. Each line
is recomputed in NumPy from the recorded inputs of that line and compared
with the recorded value. This module writes numbann's batch-major form;
``replay_course`` the course's column-major one, ``replay_layers`` networks
with conv, pooling or BatchNorm layers.
"""
import numpy as np

from ._text import SMALL, Text, arr, num
from ._text import block as _block, inline as _inline, show as _show
from .explain import (DJDA_TEXT, _Ctx, _row_index, _s, apply, dJ_da, output_delta, slope)
from .replay_course import replay_course_batch, replay_course_sample, sample_forward

# ------------------------------------------------------------------ replay

NOTATIONS = ("batch", "course")


def replay(trace, step, sample=0, vectorized=False, digits=4, layer=None, channel=0,
           position=None, notation="batch"):
    """The step's forward and backward pass with its recorded numbers: one
    sample, or (``vectorized=True``) the whole kept batch as matrices.
    Recomputes each line from the recorded inputs and reports whether it
    matches. Returns :class:`Text`.

    ``notation="batch"`` writes numbann's batch-major arrays (row i is
    sample i: ``z[l] = a[l-1] @ W[l].T + b[l]``, ``delta[l] = (delta[l+1] @
    W[l+1]) * g'(z[l])``, ``dW[l] = delta[l].T @ a[l-1]``);
    ``notation="course"`` the course's column-major form with the numbers
    transposed to match (``Z[l] = W[l] A[l-1] + b[l]``, ``dZ[l] = W[l+1]^T
    dZ[l+1] * g'(Z[l])``, ``dW[l] = 1/m dZ[l] A[l-1]^T``, ``replay_course``),
    for networks of Dense layers.

    A network with conv, pooling or BatchNorm layers is replayed layer by
    layer (``replay_layers.replay_layers``, batch notation): for an image
    layer one output, ``channel`` and ``position`` (p, q) (default: the
    centre), and only ``layer`` if given."""
    if notation not in NOTATIONS:
        raise ValueError(f"notation must be 'batch' (numbann's batch-major arrays) or "
                         f"'course' (the course's column-major formulas), got {notation!r}")
    if notation == "course" and not trace.arch.dense:
        raise ValueError("notation='course' replays networks of Dense layers; a network with "
                         "conv, pooling or BatchNorm layers is replayed in notation='batch' "
                         "(the only notation supported for it)")
    c = _Ctx(trace, step)
    c.digits = digits
    rec = c.rec
    out = []
    opt = (trace.meta.get("optimizer") or {}).get("repr", "none")
    out.append(f"Step {rec.step} (epoch {rec.epoch}, optimizer step t = {rec.t}): batch of "
               f"m = {rec.m} rows, J = {num(rec.loss, 6)} on the batch, "
               + (f"learning rate {num(rec.lr, 6)}, optimizer {opt}" if np.isfinite(rec.lr)
                  else "no update recorded"))
    worst = [0.0]

    def check(recorded, recomputed):
        if recorded is not None and recomputed is not None:
            d = np.max(np.abs(np.asarray(recorded, np.float64) - recomputed), initial=0.0)
            worst[0] = max(worst[0], float(d))

    if not trace.arch.dense:
        if vectorized:
            raise ValueError("vectorized=True replays dense networks; a network of conv, "
                             "pooling or BatchNorm layers is replayed one sample at a time")
        from .replay_layers import replay_layers
        replay_layers(c, sample, out, check, layer, channel, position)
    elif notation == "course":
        (replay_course_batch(c, out, check) if vectorized else
         replay_course_sample(c, sample, out, check))
    elif vectorized:
        _replay_batch(c, out, check)
    else:
        _replay_sample(c, sample, out, check)
    _replay_update(c, out, digits)
    tol = 1e-10 if trace.meta["dtype"] == "float64" else 1e-4
    out.append("")
    if worst[0] <= tol * max(1.0, _scale_of(c)):
        out.append(f"Check: recomputing each line from the recorded W, b and a[0] gives the "
                   f"recorded values (largest difference {worst[0]:.2g}).")
    else:
        out.append(f"Check: recomputed values differ from the recorded ones by up to "
                   f"{worst[0]:.3g} (dropout, penalties or clipping change the training step).")
    return Text("\n".join(out))


def _scale_of(c):
    vals = [np.max(np.abs(v), initial=0.0) for v in c.rec.arrays.values()
            if v.dtype.kind == "f" and v.size]
    return max(vals, default=1.0)


def _replay_sample(c, sample, out, check):
    rec, L, d = c.rec, c.L, c.digits
    i = _row_index(rec, sample)
    rows = rec.rows
    where = f" (row {int(rows[sample])} of X)" if rows is not None else ""
    out.append(f"Sample {sample} of the batch{where}, one row of the batch-major arrays: "
               f"z[l] = W[l] a[l-1] + b[l], a[l] = g(z[l]); the backward pass with row "
               f"vectors (notation='course': the course's column vectors).")
    out.append("")
    sample_forward(c, i, out, check, arr)
    out.append("")
    out.append(f"Backward pass: delta[l] = dJ/dz[l]; the loss's reduction "
               f"{_s(c)} is folded into delta[{L}]")
    _output_delta_lines(c, out, check, lambda v: v[i], "  ")
    for l in range(L - 1, 0, -1):
        dn, Wn, z, a, dl = (c.get(f"delta/{l + 1}"), c.get(f"W_before/{l + 1}"),
                            c.get(f"z/{l}"), c.get(f"a/{l}"), c.get(f"delta/{l}"))
        out.append(f"  delta[{l}] = (delta[{l + 1}] @ W[{l + 1}]) * g'(z[{l}])"
                   f"     g'(z) of {c.acts[l - 1]}: {c.g_text(l)}")
        recomputed = None
        if dn is not None and Wn is not None and z is not None and a is not None:
            back = dn[i] @ Wn
            gp = slope(c.acts[l - 1], c.alphas[l - 1], z[i], a[i])
            out.append(f"           = ({arr(dn[i], d)} @ {_inline(Wn, d)}) * {arr(gp, d)}")
            out.append(f"           = {arr(back, d)} * {arr(gp, d)}")
            recomputed = back * gp
        if dl is not None:
            out.append(f"           = {arr(dl[i], d)}")
            check(dl[i], recomputed)
    out.append("")
    out.append("Gradients: each sample adds delta[l]^T a[l-1] to dW[l] and delta[l] to db[l]; "
               "the recorded dW[l], db[l] sum over the batch")
    for l in range(L, 0, -1):
        dl, a_prev = c.get(f"delta/{l}"), c.a(l - 1)
        if dl is not None and a_prev is not None:
            out.append(_show(f"this sample: delta[{l}]^T a[{l - 1}]", np.outer(dl[i], a_prev[i]),
                             d, "  "))
        dW, db = c.get(f"dW/{l}"), c.get(f"db/{l}")
        if dW is not None:
            out.append(_show(f"dW[{l}] (batch of {rec.m})", dW, d, "  "))
        if db is not None:
            out.append(f"  db[{l}] (batch of {rec.m}) = {arr(db, d)}")


def _output_delta_lines(c, out, check, pick, pad):
    L, d = c.L, c.digits
    z, a, y, dL = c.get(f"z/{L}"), c.get(f"a/{L}"), c.get("y"), c.get(f"delta/{L}")
    act, alpha = c.acts[-1], c.alphas[-1]
    recomputed = None
    if c.fused():
        if c.loss_name == "bce":
            out.append(f"{pad}delta[{L}] = s (a[{L}] - y)     (sigmoid and binary cross-entropy "
                       f"fused: dJ/da * a (1 - a) = s (a - y))")
        else:
            out.append(f"{pad}delta[{L}] = s (a[{L}] sum_k y_k - y) = s (a[{L}] - y) for one-hot y"
                       f"     (softmax and {c.loss_name} fused)")
        if a is not None and y is not None:
            recomputed = output_delta(c.loss_name, act, alpha, c.s, z, a, y)
            if pick(a).ndim == 1:
                out.append(f"{pad}         = {num(c.s, 6)} ({arr(pick(a), d)} - {arr(pick(y), d)})")
    else:
        head = f"{pad}delta[{L}] = dJ/da[{L}] * g'(z[{L}]) = {DJDA_TEXT.get(c.loss_name)} * g'(z[{L}])"
        if act == "softmax":
            head = (f"{pad}delta[{L}] = a * (dJ/da - sum_j dJ/da_j a_j)     (softmax's Jacobian; "
                    f"dJ/da = {DJDA_TEXT.get(c.loss_name)})")
        out.append(head + (f"     g'(z) of {act}: {c.g_text(L)}" if act != "softmax" else ""))
        if a is not None and y is not None:
            g = dJ_da(c.loss_name, c.s, a, y)
            recomputed = output_delta(c.loss_name, act, alpha, c.s, z, a, y)
            if act != "softmax" and z is not None and pick(a).ndim == 1:
                out.append(f"{pad}         = {arr(pick(g), d)} * {arr(pick(slope(act, alpha, z, a)), d)}")
    if dL is not None:
        if pick(dL).ndim == 2:
            out.append(_block(f"delta[{L}]", pick(dL), d, pad))
        else:
            out.append(f"{pad}         = {arr(pick(dL), d)}")
        if recomputed is not None:
            check(pick(dL), pick(recomputed))


def _replay_batch(c, out, check):
    rec, L, d = c.rec, c.L, c.digits
    k = rec.m if rec.samples is None else len(rec.samples)
    kept = "all m rows" if rec.samples is None else f"batch positions {rec.samples.tolist()}"
    out.append(f"Vectorized over {kept}: batch-major, row i is sample i, so z[l] = a[l-1] @ "
               f"W[l].T + b[l]; the course's column-major Z[l] is our z[l].T.")
    out.append("")
    out.append("Forward pass")
    x = c.get("x")
    if x is not None:
        out.append(_block(f"a[0] = X   (m, n_0) = {x.shape}", x, d, "  "))
    for l in range(1, L + 1):
        W, b, a_prev = c.get(f"W_before/{l}"), c.get(f"b_before/{l}"), c.a(l - 1)
        z, a = c.get(f"z/{l}"), c.get(f"a/{l}")
        if W is not None:
            out.append(_block(f"W[{l}]   (n_{l}, n_{l - 1}) = {W.shape}", W, d, "  "))
            out.append(_block(f"b[{l}]", b, d, "  "))
        if z is not None:
            out.append(_block(f"z[{l}] = a[{l - 1}] @ W[{l}].T + b[{l}]   (course: Z[{l}] = "
                              f"W[{l}] A[{l - 1}] + b[{l}])   (m, n_{l}) = {z.shape}", z, d, "  "))
            if W is not None and a_prev is not None:
                check(z, a_prev @ W.T + b)
        if a is not None:
            out.append(_block(f"a[{l}] = {c.acts[l - 1]}(z[{l}])", a, d, "  "))
            if z is not None:
                check(a, apply(c.acts[l - 1], c.alphas[l - 1], z))
    y = c.get("y")
    if y is not None:
        out.append(_block(f"Y   (m, n_{L}) = {y.shape}", y, d, "  "))
    out.append("")
    out.append(f"Backward pass ({_s(c)}; the course keeps "
               f"1/m apart: its dZ[{L}] = A[{L}] - Y is our delta[{L}].T / s for a fused head)")
    _output_delta_lines(c, out, check, lambda v: v, "  ")
    for l in range(L, 0, -1):
        dl, a_prev = c.get(f"delta/{l}"), c.a(l - 1)
        dW, db = c.get(f"dW/{l}"), c.get(f"db/{l}")
        if dW is not None:
            out.append(_block(f"dW[{l}] = delta[{l}].T @ a[{l - 1}]   (course: dW[{l}] = 1/m "
                              f"dZ[{l}] A[{l - 1}]^T)   (n_{l}, n_{l - 1}) = {dW.shape}", dW, d, "  "))
            if dl is not None and a_prev is not None and rec.samples is None:
                check(dW, dl.T @ a_prev)
        if db is not None:
            out.append(_block(f"db[{l}] = delta[{l}].sum(axis=0)   (course: db[{l}] = 1/m "
                              f"sum_i dZ[{l}])", db, d, "  "))
            if dl is not None and rec.samples is None:
                check(db, dl.sum(axis=0))
        if l > 1:
            dn, Wn, z, a, dp = dl, c.get(f"W_before/{l}"), c.get(f"z/{l - 1}"), \
                c.get(f"a/{l - 1}"), c.get(f"delta/{l - 1}")
            text = (f"delta[{l - 1}] = (delta[{l}] @ W[{l}]) * g'(z[{l - 1}])   (course: dZ[{l - 1}]"
                    f" = W[{l}]^T dZ[{l}] * g'(Z[{l - 1}]); g'(z) of {c.acts[l - 2]}: "
                    f"{c.g_text(l - 1)})")
            if dp is not None:
                out.append(_block(text, dp, d, "  "))
                if dn is not None and Wn is not None and z is not None and a is not None:
                    check(dp, (dn @ Wn) * slope(c.acts[l - 2], c.alphas[l - 2], z, a))
            else:
                out.append("  " + text)
    if rec.samples is not None:
        out.append(f"  (dW, db sum over all {rec.m} rows of the batch; only {k} were kept)")


def _replay_update(c, out, d):
    rec, L = c.rec, c.L
    if f"W_after/{L}" not in rec.arrays and not any(k.startswith("W_after/") for k in rec.arrays):
        return
    meta = c.trace.meta.get("optimizer") or {}
    out.append("")
    name = meta.get("name", "")
    hyper = meta.get("hyper") or [0.0] * 16
    plain = name in ("sgd", "momentum") and hyper[1] == 0 and hyper[5] == 0 and hyper[6] == 0
    rule = ("W[l] <- W[l] - lr dW[l]" if plain else
            "theta <- theta - lr (H + damping I)^-1 grad" if name == "newton" else
            "the optimizer's rule on dW[l] and its state")
    out.append(f"Update ({meta.get('repr', '?')}): {rule}")
    if rec.extras:
        out.append("  " + ", ".join(f"{k} = {num(v, 8)}" for k, v in rec.extras.items()))
    for l in range(L, 0, -1):
        Wb, Wa = c.get(f"W_before/{l}"), c.get(f"W_after/{l}")
        if Wb is None or Wa is None:
            continue
        if Wb.size <= SMALL and Wb.ndim <= 2:
            out.append(f"  W[{l}]: {_inline(Wb, d)} -> {_inline(Wa, d)}")
        else:
            out.append(_block(f"W[{l}] after the update", Wa, d, "  "))
        out.append(f"  b[{l}]: {arr(c.get(f'b_before/{l}'), d)} -> {arr(c.get(f'b_after/{l}'), d)}")
        for n, st in rec.state.items():
            if l in st.W:
                out.append(_show(f"  state {n}, W part", st.W[l], d, "  "))
                out.append(f"      state {n}, b part = {arr(st.b[l], d)}")
