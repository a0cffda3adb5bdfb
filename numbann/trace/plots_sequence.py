"""Plots of the layers of sequences: the size of delta_t = dJ/dz_t against
the time step t (gradients vanishing or exploding through time), an RNN's
hidden states h_t over time, and an attention layer's matrix A (or dJ/dA).
They need those values recorded (keep ``"stats"``: ``h_steps``,
``delta_steps``, ``attention``, ``attention_grad``).

As the other plots (``plots.py``): headless Figures, returned, saved with
``path=``; the source is a trace (its last step that has the values, or
``step=``) or a step record ``tr[s]``.
"""
import numpy as np

from .plots import figure, save
from .plots_conv import _position, _record
from .style import SIGNED_CMAP, label, legend, palette


def delta_through_time(source, l, steps=None, path=None, title=None):
    """||delta_t|| (the mean over the batch's rows of each row's norm) against
    t = 1..T for layer l, one line per recorded step in ``steps`` (default:
    the first and the last recorded step that have the values), on a log scale."""
    key = f"delta_steps/{l}"
    if hasattr(source, "records"):
        have = [rec for rec in source.records if key in rec.arrays]
        if not have:
            _record(source, key)                       # the KeyError that says what to keep
        records = [source[s] for s in steps] if steps is not None else \
            list({id(r): r for r in (have[0], have[-1])}.values())
    else:
        records = [_record(source, key)]
    colors = palette([rec.step for rec in records])
    fig, ax = figure(6.0, 3.8)
    for rec in records:
        deltas = _record(rec, key).arrays[key]                     # (m, T, H)
        norms = np.linalg.norm(deltas, axis=2).mean(axis=0)
        ax.semilogy(np.arange(1, len(norms) + 1), np.maximum(norms, 1e-300), "o-",
                    color=colors[rec.step], label=f"step {rec.step}")
    T = deltas.shape[1]
    ax.set_xticks(np.arange(1, T + 1) if T <= 20 else ax.get_xticks())
    label(ax, "time step t", f"mean ||delta_t|| (layer {l}, log scale)",
          title or f"Layer {l}: dJ/dz_t through time (vanishing if it falls towards t = 1)")
    legend(ax)
    return save(fig, path) if path else fig


def hidden_states(source, l, sample=0, step=None, path=None, title=None):
    """h_t of one sample as a heatmap: units (rows) against time steps
    t = 1..T (columns), with a colour bar."""
    key = f"h_steps/{l}"
    rec = _record(source, key, step)
    h = rec.arrays[key][_position(rec, sample)]                  # (T, H)
    fig, ax = figure(max(4.0, 0.45 * h.shape[0] + 2.5), max(2.5, 0.35 * h.shape[1] + 1.5))
    lim = float(np.max(np.abs(h))) or 1.0
    image = ax.imshow(h.T, cmap=SIGNED_CMAP, vmin=-lim, vmax=lim, aspect="auto",
                      extent=(0.5, h.shape[0] + 0.5, h.shape[1] - 0.5, -0.5))
    fig.colorbar(image, ax=ax, label="h_t (unit's value)")
    ax.set_xticks(np.arange(1, h.shape[0] + 1, max(1, h.shape[0] // 10)))
    ax.set_yticks(np.arange(h.shape[1]))
    label(ax, "time step t", "hidden unit j",
          title or f"Layer {l}: hidden state h_t of sample {sample}, step {rec.step}")
    return save(fig, path) if path else fig


def attention_map(source, l, sample=0, step=None, grad=False, path=None, title=None):
    """A self-attention layer's A of one sample as a heatmap, row t (the step
    attending) against column u (the step attended to), with a colour bar;
    ``grad=True``: dJ/dA instead (signed)."""
    key = f"{'attention_grad' if grad else 'attention'}/{l}"
    rec = _record(source, key, step)
    A = np.array(rec.arrays[key][_position(rec, sample)], np.float64)
    T = A.shape[0]
    arch = getattr(source, "arch", None)
    causal = arch is not None and bool(arch[l].get("causal"))
    if causal and grad:  # A is fixed at 0 above the diagonal: nothing flows back from there
        A[np.triu_indices(T, 1)] = np.nan
    fig, ax = figure(max(5.0, 0.4 * T + 2.5), max(3.2, 0.4 * T + 1.5))
    if grad:
        lim = float(np.nanmax(np.abs(A))) or 1.0
        image = ax.imshow(A, cmap=SIGNED_CMAP, vmin=-lim, vmax=lim)
    else:
        image = ax.imshow(A, cmap="viridis", vmin=0.0, vmax=max(float(A.max()), 1e-12))
    fig.colorbar(image, ax=ax, label="dJ/dA[t, u]" if grad else "A[t, u] (rows sum to 1)")
    ticks = np.arange(0, T, max(1, T // 10))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks])
    ax.set_yticks(ticks, [str(t + 1) for t in ticks])
    label(ax, "step u attended to", "step t attending",
          title or f"Layer {l}: {'dJ/dA' if grad else 'attention A'} of sample {sample}, "
                   f"step {rec.step}" + (" (masked: blank)" if causal and grad else ""))
    return save(fig, path) if path else fig
