"""Replay an RNN layer of a recorded step, one time step per line, in the
course's notation (``rnn_math`` has the formulas; time steps t = 1..T, with
h_0 = 0): the forward recurrence for one sample, then backpropagation
through time, delta_t from delta_{t+1}. Each line's whole array is
recomputed in NumPy and compared with the recorded one (keep ``"stats"``
to record z_t, h_t and delta_t of every step)."""
import numpy as np

from . import rnn_math
from ._text import arr

MAX_STEPS = 6  # time steps written out; the rest are summarized


def _steps(T, out, indent, backward=False):
    """The time steps written out (0-based; the first and last few), with a
    line where the others are left out."""
    shown = list(range(T)) if T <= MAX_STEPS else \
        list(range(MAX_STEPS // 2)) + list(range(T - MAX_STEPS // 2, T))
    previous = None
    for t in (reversed(shown) if backward else shown):
        if previous is not None and abs(t - previous) > 1:
            out.append(f"{indent}... {T - MAX_STEPS} more time steps, each recomputed and "
                       "checked ...")
        previous = t
        yield t


def forward(c, l, out, check):
    """z_t = W_x x_t + W_h h_{t-1} + b, h_t = g(z_t) for t = 1..T (sample c.i)."""
    d, i, spec = c.digits, c.i, c.trace.arch[l]
    g = spec["activation"]
    out.append(f"    z_t = W_x[{l}] x_t + W_h[{l}] h_(t-1) + b[{l}],  h_t = {g}(z_t),  "
               f"h_0 = 0;  W[{l}] = [W_x | W_h]")
    W, b, x, z = c.get(f"W_before/{l}"), c.get(f"b_before/{l}"), c.a(l - 1), c.get(f"z/{l}")
    if W is None or b is None or x is None:
        return
    z_t, h_t = rnn_math.steps(spec, x, W, b)
    check(c.get(f"z_steps/{l}"), z_t)
    check(c.get(f"h_steps/{l}"), h_t)
    check(z, rnn_math.output(spec, z_t))
    T = z_t.shape[1]
    for t in _steps(T, out, "      "):
        out.append(f"      t = {t + 1}: x_{t + 1} = {arr(x[i, t], d)}")
        out.append(f"             z_{t + 1} = {arr(z_t[i, t], d)},  h_{t + 1} = {arr(h_t[i, t], d)}")
    which = "every h_t" if spec["all_steps"] else f"h_T = h_{T}"
    out.append(f"    the layer's output a[{l}] is {which}")


def through_time(c, l, out, check):
    """delta_t = (delta[l]_t + W_h^T delta_{t+1}) * g'(z_t), t = T..1 (sample c.i)."""
    d, i, spec = c.digits, c.i, c.trace.arch[l]
    W, b, x, delta = c.get(f"W_before/{l}"), c.get(f"b_before/{l}"), c.a(l - 1), \
        c.get(f"delta/{l}")
    from_above = "delta[l]_t (0 unless t is an output step)" if spec["all_steps"] \
        else "delta[l] at t = T only"
    out.append(f"  Backpropagation through time in layer {l}: delta_t = dJ/dz_t = "
               f"(from above + W_h^T delta_(t+1)) * g'(z_t), from above = {from_above}")
    if W is None or b is None or x is None or delta is None:
        return
    deltas = rnn_math.through_time(spec, delta, x, W, b)[0]
    check(c.get(f"delta_steps/{l}"), deltas)
    T = deltas.shape[1]
    for t in _steps(T, out, "    ", backward=True):
        out.append(f"    delta_{t + 1} = {arr(deltas[i, t], d)}")
    norms = np.linalg.norm(deltas[i], axis=1)
    out.append(f"    ||delta_t|| for t = 1..{T}: {arr(norms, d)}")
