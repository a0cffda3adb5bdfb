"""Plots of traces, networks, activations, optimizers and schedules.

Every function builds a ``matplotlib.figure.Figure`` directly (no pyplot
state, no display needed: it works headless) and returns it; with
``path=...`` it also saves it (PNG by the extension; the folder is
created). They follow the house style of ``style.py`` (labelled axes,
legends or colour bars, one colour per thing, 4 significant digits). In a notebook, show one with ``display(fig)``. Plots of conv
networks (``filters``, ``feature_maps``, ``pooling_mask``,
``preactivation_hist``) live in ``plots_conv.py`` and are re-exported here.
"""
import io
import os

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from .style import CLASS_COLORS, COLORS, OUTPUT_CMAP, legend, sig

DPI = 80


def figure(width=6.0, height=4.0, ncols=1, nrows=1, squeeze=True, **kw):
    """A Figure and its axes (an array when more than one, or always with
    ``squeeze=False``)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **kw)
    return fig, axes


def save(fig, path, dpi=DPI, compact=True):
    """Save ``fig`` to ``path`` (folders created); returns the path.

    ``compact``: a PNG is written with a 256-colour palette (via Pillow,
    which matplotlib installs), about a third of the size, for docs and repos."""
    if path is None:
        return path
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    if compact and os.fspath(path).lower().endswith(".png"):
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - Pillow comes with matplotlib
            Image = None
        if Image is not None:
            buf = io.BytesIO()
            fig.savefig(buf, dpi=dpi, format="png")
            buf.seek(0)
            with Image.open(buf) as im:
                im.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE,
                                           dither=Image.Dither.NONE).save(path, optimize=True)
            return path
    fig.savefig(path, dpi=dpi)
    return path


def _history(source):
    if hasattr(source, "history") and not hasattr(source, "step_loss"):
        source = source.history  # a Trace
    if source is None:
        raise ValueError("no history: trace a run of fit (record_step traces have none)")
    if hasattr(source, "as_dict"):
        source = source.as_dict()
    return source


def loss_curves(source, path=None, log=True, title="Loss"):
    """Training loss per step and per epoch, and the validation loss, from a
    fit's History, a Trace of a fit, or a dict with ``loss``/``step_loss``/
    ``val_loss``."""
    h = _history(source)
    fig, ax = figure(6, 3.6)
    loss = np.asarray(h.get("loss", []), float)
    step_loss = np.asarray(h.get("step_loss", []), float)
    if len(step_loss) and len(loss) and len(step_loss) != len(loss):   # else: one step per epoch
        per = len(step_loss) / len(loss)
        ax.plot(np.arange(1, len(step_loss) + 1) / per, step_loss, color="#9ecae1", lw=0.8,
                label="batch loss (each step)")
    if len(loss):
        ax.plot(np.arange(1, len(loss) + 1), loss, "o-" if len(loss) <= 100 else "-",
                color=COLORS[0], ms=3, label="training loss (epoch)")
    val = np.asarray(h.get("val_loss") or [], float)
    if len(val):
        ax.plot(np.arange(1, len(val) + 1), val, "s-", color=COLORS[1], ms=3,
                label="validation loss")
    if log and np.all(np.concatenate([loss, step_loss, val]) > 0):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss J" + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.set_title(title, fontsize=10)
    legend(ax)
    save(fig, path)
    return fig


def grad_norms(source, path=None, title="Gradient norm per layer", bias=False):
    """||dW[l]|| over the recorded steps, one line per layer (log scale), from
    a Trace or its Diagnostics."""
    from .diagnostics import Diagnostics, diagnostics
    d = source if isinstance(source, Diagnostics) else diagnostics(source)
    series = d.bias_grad_norm if bias else d.grad_norm
    fig, ax = figure(6, 3.6)
    for i, (l, v) in enumerate(sorted(series.items())):
        ok = np.isfinite(v)
        ax.plot(d.steps[ok], v[ok], color=COLORS[i % len(COLORS)], label=f"layer {l}")
    ax.set_yscale("log")
    ax.set_xlabel("step (recorded steps)")
    ax.set_ylabel(("||db[l]||" if bias else "||dW[l]||") + " (log scale)")
    ax.set_title(title, fontsize=10)
    legend(ax, ncol=2)
    save(fig, path)
    return fig


def layer_norms(named, path=None, title="Gradient norm by layer", ylabel="||dW[l]||"):
    """Per-layer values of several runs: ``{"sigmoid, N(0, 0.01)": norms}``
    with ``norms[l - 1]`` for layer l; log scale."""
    fig, ax = figure(6, 3.6)
    for i, (label, v) in enumerate(named.items()):
        v = np.asarray(v, float)
        ax.plot(np.arange(1, len(v) + 1), v, "o-", ms=4, color=COLORS[i % len(COLORS)],
                label=label)
    ax.set_yscale("log")
    ax.set_xlabel("layer l (1 = next to the input)")
    ax.set_ylabel(ylabel + " (log scale)")
    ax.set_title(title, fontsize=10)
    legend(ax)
    save(fig, path)
    return fig


def hidden_weights(trace, l=1, path=None, title=None, ax=None):
    """Each unit's weights W[l][j, :] (and bias) over the recorded steps, one
    colour per unit, one line style per weight. Unit 0 is drawn wide and
    pale and the others thin with markers, so identical units stay visible
    on top of each other; a note says so when every unit is identical."""
    steps = trace.steps_with("W_after", l)
    if not len(steps):
        raise KeyError(f"W[{l}] after the update was not recorded (keep 'W')")
    W = trace.series("W_after", l)
    b = trace.series("b_after", l)
    fig = None
    if ax is None:
        fig, ax = figure(6, 3.6)
    styles = ["-", "--", ":", "-."]
    every = max(1, len(steps) // 12)
    for j in range(W.shape[1]):
        color = COLORS[j % len(COLORS)]
        look = (dict(lw=4, alpha=0.45) if j == 0 else
                dict(lw=1.1, marker="oxs^v"[(j - 1) % 5], ms=4, markevery=every))
        for k in range(W.shape[2]):
            ax.plot(steps, W[:, j, k], styles[k % len(styles)], color=color,
                    label=f"unit {j}" if k == 0 else None, **look)
        ax.plot(steps, b[:, j], styles[W.shape[2] % len(styles)], color=color, **look)
    if W.shape[2] <= 3:
        for k in range(W.shape[2]):
            ax.plot([], [], styles[k], color="#555", label=f"W[{l}][j, {k}]")
        ax.plot([], [], styles[W.shape[2]], color="#555", label=f"b[{l}][j]")
    rows = np.concatenate([W, b[:, :, None]], axis=2)
    if W.shape[1] > 1 and np.all(rows == rows[:, :1]):
        units = "both units" if W.shape[1] == 2 else f"all {W.shape[1]} units"
        ax.text(0.02, 0.03, f"{units} identical at every step:\n"
                "their lines lie on top of each other", transform=ax.transAxes, fontsize=8,
                va="bottom", bbox=dict(fc="white", ec="#999", alpha=0.9))
    ax.set_xlabel("step")
    ax.set_ylabel(f"W[{l}][j, k] and b[{l}][j] (after the step)")
    ax.set_title(title or f"Layer {l}: each unit's weights")
    legend(ax)
    if fig is not None:
        save(fig, path)
    return fig if fig is not None else ax.figure


def decision_boundary(net, X, y, path=None, resolution=150, title="Decision boundary", ax=None,
                      pad=0.5):
    """The classifier's output over the plane of 2-D inputs, the 0.5 contour
    (or class regions for softmax) and the points coloured by label."""
    X = np.asarray(X, float)
    if X.shape[1] != 2:
        raise ValueError(f"decision_boundary needs 2-D inputs, got {X.shape[1]} columns")
    y = np.asarray(y)
    if y.ndim == 2:
        y = y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0]
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    out = net.forward(np.column_stack([gx.ravel(), gy.ravel()]))
    fig = None
    if ax is None:
        fig, ax = figure(4.6, 4)
    if out.shape[1] == 1:
        P = out[:, 0].reshape(gx.shape)
        cs = ax.contourf(gx, gy, P, levels=np.linspace(min(P.min(), 0), max(P.max(), 1), 21),
                         cmap=OUTPUT_CMAP, alpha=0.75)
        ax.contour(gx, gy, P, levels=[0.5], colors="k", linewidths=1.5)
        ax.plot([], [], "k-", lw=1.5, label="a[L] = 0.5")
        (fig or ax.figure).colorbar(cs, ax=ax, label="network output a[L]")
        colors = {0: CLASS_COLORS[0], 1: CLASS_COLORS[1]}
    else:
        C = out.argmax(axis=1).reshape(gx.shape)
        cmap = colormaps["tab10"]
        ax.contourf(gx, gy, C, levels=np.arange(out.shape[1] + 1) - 0.5, cmap=cmap, alpha=0.4,
                    vmin=-0.5, vmax=9.5)
        colors = {k: cmap(k / 9.0) for k in range(out.shape[1])}
    for i, label in enumerate(np.unique(y)):
        pts = X[y == label]
        ax.scatter(pts[:, 0], pts[:, 1], s=45, color=colors.get(int(label), COLORS[i % len(COLORS)]),
                   marker="o^sDv"[i % 5], edgecolor="k", label=f"y = {label:g}", zorder=3)
    ax.set_xlabel("x_1")
    ax.set_ylabel("x_2")
    ax.set_title(title, fontsize=10)
    legend(ax, loc="upper right")
    if fig is not None:
        save(fig, path)
    return fig if fig is not None else ax.figure


def activation_functions(names=None, path=None, z=None, alpha_leaky=0.01):
    """Each activation g(z) and its derivative g'(z), one panel per function
    (numbann's own kernels evaluate them); a panel left over holds the key."""
    from .. import activations
    names = names or ["step", "identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu"]
    z = np.linspace(-4, 4, 801) if z is None else np.asarray(z, float)
    ncols = min(4, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = figure(2.6 * ncols, 2.3 * nrows, ncols=ncols, nrows=nrows, squeeze=False)
    for i, (ax, name) in enumerate(zip(axes.ravel(), names)):
        g = activations.get(name, alpha_leaky if name == "leaky_relu" else None)
        ax.axhline(0, color="#bbb", lw=0.6)
        ax.axvline(0, color="#bbb", lw=0.6)
        ax.plot(z, g(z), color=COLORS[0], lw=2, label="g(z)")
        if name != "softmax":
            ax.plot(z, g.derivative(z), "--", color=COLORS[1], lw=1.5, label="g'(z)")
        ax.set_title(name if name != "leaky_relu" else f"leaky_relu (alpha {sig(alpha_leaky)})",
                     fontsize=10)
        ax.set_ylim(-1.6, 2.2)
        ax.set_xlabel("z")
        if i % ncols == 0:
            ax.set_ylabel("g(z), g'(z)")
    spare = axes.ravel()[len(names):]
    for ax in spare:
        ax.set_axis_off()
    key = spare[0] if len(spare) else axes.ravel()[0]
    handles, _ = axes.ravel()[0].get_legend_handles_labels()
    key.legend(handles, ["g(z), the activation", "g'(z), its derivative"], fontsize=9,
               loc="center" if len(spare) else "upper left")
    save(fig, path)
    return fig


def optimizer_paths(f, paths, xlim, ylim, path=None, levels=25, title="Optimizer paths",
                    minimum=None, colors=None):
    """Paths ``{"name": array (T, 2)}`` of optimizers over the contours of a
    2-D loss surface ``f(x, y)`` (vectorized over arrays); ``colors``:
    ``{"name": colour}`` to match a lesson's other figures."""
    gx, gy = np.meshgrid(np.linspace(*xlim, 200), np.linspace(*ylim, 200))
    F = f(gx, gy)
    fig, ax = figure(7, 4.4)
    lv = np.quantile(F, np.linspace(0.0, 0.95, levels) ** 2)
    ax.contour(gx, gy, F, levels=np.unique(lv), colors="#bbbbbb", linewidths=0.5)
    for i, (name, p) in enumerate(paths.items()):
        p = np.asarray(p, float)
        n = len(p) - 1
        ax.plot(p[:, 0], p[:, 1], "-", lw=1.1, color=(colors or {}).get(name, COLORS[i % len(COLORS)]),
                marker="o" if len(p) <= 40 else None, ms=3,
                label=f"{name} ({n} step{'s' if n != 1 else ''})")
    if minimum is not None:
        ax.plot(*minimum, "k*", ms=12, label="minimum")
    first = np.asarray(next(iter(paths.values())), float)[0]
    ax.plot(*first, "ko", ms=6)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.plot([], [], color="#bbbbbb", lw=0.5, label="contours of J")
    ax.set_xlabel("theta_1")
    ax.set_ylabel("theta_2")
    ax.set_title(title, fontsize=10)
    legend(ax, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(fig, path)
    return fig


def lr_schedules(schedules, n=None, base_lr=1.0, path=None, title="Learning-rate schedules",
                 xlabel="epoch t", colors=None, ax=None):
    """Rates over t = 0..n-1: ``{"label": Schedule or array}``."""
    fig = None
    if ax is None:
        fig, ax = figure(6, 3.6)
    for i, (label, s) in enumerate(schedules.items()):
        v = s.values(n, base_lr) if hasattr(s, "values") else np.asarray(s, float)
        ax.plot(np.arange(len(v)), v, "-", lw=1.8, drawstyle="steps-post" if "step" in label.lower()
                else "default", color=(colors or {}).get(label, COLORS[i % len(COLORS)]),
                label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate eta_t")
    ax.set_title(title, fontsize=10)
    legend(ax)
    if fig is not None:
        save(fig, path)
    return fig if fig is not None else ax.figure


def curves(x, named, path=None, title="", xlabel="", ylabel="", log=False, style="-", ax=None,
           colors=None):
    """A generic line plot: ``{"label": y}`` against x (or each its own x as a
    pair); ``colors``: ``{"label": colour}`` to match a lesson's other figures."""
    fig = None
    if ax is None:
        fig, ax = figure(6, 3.6)
    for i, (label, y) in enumerate(named.items()):
        xs, ys = (y if isinstance(y, tuple) else (x, y))
        ax.plot(xs, ys, style, color=(colors or {}).get(label, COLORS[i % len(COLORS)]),
                label=label, ms=3)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    ax.set_title(title, fontsize=10)
    legend(ax)
    if fig is not None:
        save(fig, path)
    return fig if fig is not None else ax.figure


from .plots_conv import feature_maps, filters, pooling_mask, preactivation_hist  # noqa: E402,F401
from .plots_sequence import attention_map, delta_through_time, hidden_states  # noqa: E402,F401
