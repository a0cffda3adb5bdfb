"""Plots of convolutional networks: a conv layer's filters, a layer's feature
maps, the max-pool winners over the input image, and the distribution of
pre-activations z (with and without BatchNorm).

As the other plots (``plots.py``): headless Figures, returned, saved with
``path=``. Each takes a trace (the last recorded step that has what it
needs, or ``step=``), a step record ``tr[s]``, or for ``filters`` a network.
"""
import numpy as np

from . import layer_math as lm
from .plots import COLORS, figure, save

MAX_PANELS = 64  # images drawn at most per figure (the first ones)


def _record(source, key, step=None):
    """The step record holding ``key``: ``source`` itself (a StepRecord), the
    trace's step ``step``, or its last recorded step with ``key``."""
    if not hasattr(source, "records"):
        if key not in source.arrays:
            raise KeyError(f"step {source.step} has no {key!r}: record it (Recorder(keep=...))")
        return source
    if step is not None:
        return _record(source[step], key)
    for rec in reversed(source.records):
        if key in rec.arrays:
            return rec
    raise KeyError(f"no recorded step has {key!r}: record it (Recorder(keep=..., layers=...))")


def _arch(source):
    arch = getattr(source, "arch", None)
    if arch is None:
        raise ValueError("this needs a trace (or a step of one) that describes its layers")
    return arch


def _position(rec, sample):
    from .explain import _row_index
    return _row_index(rec, sample)


def _grid(n, ncols, size=1.6, extra=0.0):
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    fig, axes = figure(max(size * ncols + extra, 4.0), size * nrows + 0.7, ncols=ncols,
                       nrows=nrows, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _annotate(ax, img, digits=2):
    """The numbers on a small image (white on dark cells)."""
    lim = np.max(np.abs(img)) or 1.0
    for (h, w), v in np.ndenumerate(img):
        ax.text(w, h, f"{v:.{digits}f}", ha="center", va="center", fontsize=6,
                color="white" if abs(v) > 0.6 * lim else "black")


def filters(source, l, step=None, when="after", path=None, title=None, values=None):
    """A conv layer's kernels W[l][o, c] as small images, one row per output
    channel o and one column per input channel c, on one diverging colour
    scale centred on 0 (red > 0, blue < 0). ``source``: a network, a trace
    (its final weights, or step ``step`` ``when`` "before"/"after" its
    update) or a step record. ``values``: write the numbers on the cells
    (default: when the kernels are small)."""
    if hasattr(source, "W") and hasattr(source, "layers"):       # a network
        W = np.asarray(source.W[l])
    elif hasattr(source, "records") and step is None:
        if source.theta_end is None:
            raise ValueError("this trace has no final parameters: give step=")
        W = source.split(source.theta_end)[0][l - 1]
    else:
        W = _record(source, f"W_{when}/{l}", step).arrays[f"W_{when}/{l}"]
    if W.ndim != 4:
        raise ValueError(f"layer {l} has W of shape {W.shape}: filters shows a Conv2D layer's "
                         "kernels (C_out, C_in, k_h, k_w)")
    Co, Ci, kh, kw = W.shape
    n_o, n_c = min(Co, MAX_PANELS // max(1, min(Ci, 8))), min(Ci, 8)
    row = Ci == 1     # one input channel: the filters side by side, 8 to a row
    nrows, ncols = (-(-n_o // 8), min(n_o, 8)) if row else (n_o, n_c)
    fig, axes = figure(1.3 * ncols + 1.2, 1.3 * nrows + 0.8, ncols=ncols, nrows=nrows,
                       squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_visible(False)
    lim = float(np.max(np.abs(W))) or 1.0
    values = (kh * kw <= 25 and n_o * n_c <= 16) if values is None else values
    for o, c in np.ndindex(n_o, n_c):
        ax = axes.ravel()[o] if row else axes[o, c]
        ax.set_visible(True)
        im = ax.imshow(W[o, c], cmap="RdBu_r", vmin=-lim, vmax=lim)
        if values:
            _annotate(ax, W[o, c])
        if row:
            ax.set_title(f"o = {o}", fontsize=8)
        else:
            if o == 0:
                ax.set_title(f"c = {c}", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"o = {o}", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.8, label=f"W[{l}][o, c, u, v]")
    shown = "" if (n_o, n_c) == (Co, Ci) else f" (first {n_o} x {n_c} of {Co} x {Ci})"
    fig.suptitle(title or f"Layer {l}: {Co} x {Ci} filters of {kh}x{kw}{shown}", fontsize=10)
    save(fig, path)
    return fig


def feature_maps(source, l, sample=0, step=None, path=None, title=None, quantity="a"):
    """Each channel of ``a[l]`` (or ``quantity="z"``, ``"delta"``) of one sample
    as an image (l = 0: the input), one colour scale for all channels."""
    key = "x" if l == 0 and quantity == "a" else f"{quantity}/{l}"
    rec = _record(source, key, step)
    maps = rec.arrays[key][_position(rec, sample)]
    if maps.ndim != 3:
        raise ValueError(f"{quantity}[{l}] has shape {maps.shape} per sample: feature maps are "
                         "images (C, H, W)")
    C = min(len(maps), MAX_PANELS)
    fig, axes = _grid(C, 8, extra=1.0)
    lo, hi = float(maps.min()), float(maps.max())
    for c, ax in enumerate(axes[:C]):
        im = ax.imshow(maps[c], cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1)
        ax.set_title(f"c = {c}", fontsize=8)
    fig.colorbar(im, ax=list(axes[:C]), shrink=0.8, label=f"{quantity}[{l}]")
    fig.suptitle(title or f"{quantity}[{l}] of sample {sample} at step {rec.step}: {len(maps)} "
                 f"channels of {maps.shape[1]}x{maps.shape[2]}", fontsize=10)
    save(fig, path)
    return fig


def pooling_mask(source, l, sample=0, channel=None, step=None, path=None, title=None):
    """Which input won each window of max-pool layer l: the input image
    a[l-1] of one sample (grey), each window's winner marked (red square;
    the number of windows it won when windows overlap), window edges
    drawn when the windows do not overlap. ``channel``: one, or None for
    every channel (up to 64)."""
    arch = _arch(source)
    spec = arch[l]
    if spec["kind"] != "MaxPool2D":
        raise ValueError(f"layer {l} is a {spec['kind']} layer: pooling_mask shows a MaxPool2D "
                         f"layer (layers {arch.layers_of('MaxPool2D')})")
    key = "x" if l == 1 else f"a/{l - 1}"
    rec = _record(source, key, step)
    i = _position(rec, sample)
    a_prev = rec.arrays[key]
    won = rec.arrays.get(f"winners/{l}")
    won = lm.maxpool_forward(a_prev, spec)[1] if won is None else won
    C, H, W = spec["in"]
    chans = list(range(min(C, MAX_PANELS))) if channel is None else [channel]
    fig, axes = _grid(len(chans), 4, size=2.4)
    (kh, kw), s = spec["kernel"], spec["stride"]
    Ho, Wo = spec["out"][1:]
    apart = s >= kh and s >= kw      # window edges, drawn when windows do not overlap
    rows = {e for p in range(Ho) for e in (p * s - 0.5, p * s + kh - 0.5)} if apart else ()
    cols = {e for q in range(Wo) for e in (q * s - 0.5, q * s + kw - 0.5)} if apart else ()
    for ax, c in zip(axes, chans):
        ax.imshow(a_prev[i, c], cmap="gray")
        for y in rows:
            ax.axhline(y, color=COLORS[7], lw=1.0)
        for x in cols:
            ax.axvline(x, color=COLORS[7], lw=1.0)
        hw, counts = np.unique(won[i, c].ravel(), return_counts=True)
        for n, k in zip(hw, counts):
            h, w = divmod(int(n), W)
            ax.add_patch(_square(h, w))
            if k > 1:
                ax.text(w, h, str(k), ha="center", va="center", color="white", fontsize=7)
        ax.set_title(f"c = {c}: {len(hw)} winners", fontsize=8)
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)
    fig.suptitle(title or f"Layer {l} ({arch.describe(l)}):\nwinners over a[{l - 1}] of "
                 f"sample {sample}, step {rec.step}", fontsize=10)
    save(fig, path)
    return fig


def _square(h, w):
    from matplotlib.patches import Rectangle
    return Rectangle((w - 0.45, h - 0.45), 0.9, 0.9, fill=False, edgecolor=COLORS[1], lw=1.6)


def _z_values(source, l, step):
    """Every recorded z[l] of ``source`` (a trace: its recorded steps, or
    ``step``; a step record; or an array), flat."""
    if isinstance(source, np.ndarray):
        return source.ravel()
    if hasattr(source, "records") and step is None:
        values = [r.arrays[f"z/{l}"].ravel() for r in source.records if f"z/{l}" in r.arrays]
        if not values:
            raise KeyError(f"no recorded step has z[{l}] (keep 'z')")
        return np.concatenate(values)
    return _record(source, f"z/{l}", step).arrays[f"z/{l}"].ravel()


def preactivation_hist(source, l=None, step=None, bins=40, path=None, title=None):
    """The distribution of pre-activations z[l] (over every recorded row,
    position and step, or one ``step``), to compare layers with and without
    BatchNorm: ``source`` is a trace or step record with its layer ``l``, or
    ``{"label": (trace, l) or array}`` for several on one axis."""
    named = source if isinstance(source, dict) else {f"z[{l}]": (source, l)}
    fig, ax = figure(6, 3.6)
    values = {label: _z_values(*(v if isinstance(v, tuple) else (v, None)), step).astype(float)
              for label, v in named.items()}
    lo = min(float(v.min()) for v in values.values())
    hi = max(float(v.max()) for v in values.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    for n, (label, v) in enumerate(values.items()):
        ax.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.35,
                color=COLORS[n % len(COLORS)])
        ax.hist(v, bins=edges, density=True, histtype="step", lw=1.4,
                color=COLORS[n % len(COLORS)],
                label=f"{label}: mean {v.mean():.3g}, std {v.std():.3g} ({v.size} values)")
    ax.axvline(0, color="#888", lw=0.6)
    ax.set_xlabel("z")
    ax.set_ylabel("density")
    ax.set_title(title or "Pre-activations z")
    ax.legend(fontsize=7, loc="upper left")
    save(fig, path)
    return fig
