"""The house style of numbann's figures, in one place.

- every axis is labelled, with its unit where it has one;
- a legend or a colour bar wherever colour carries meaning;
- one colour per thing across all the figures of a lesson
  (:func:`palette` gives the same colour to the same name);
- shares as percentages and numbers with 4 significant digits
  (:func:`sig`, :func:`pct`);
- classifiers show their decision regions shaded, class 0 blue and class 1
  red (:func:`shade_halfplanes`, :data:`CLASS_COLORS`);
- titles state the point of the figure, not only its subject.
"""
import numpy as np

DIGITS = 4
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#17becf", "#7f7f7f", "#bcbd22"]
CLASS_COLORS = ("#2b6cb0", "#c53030")     # class 0, class 1 (the ends of the RdBu_r map)
CLASS_SHADES = ("#bcd4ee", "#f3c1c1")     # their regions, lighter
OUTPUT_CMAP = "RdBu_r"                    # a classifier's output in [0, 1]: blue 0, red 1
SIGNED_CMAP = "RdBu_r"                    # signed values around 0: blue < 0, red > 0
LEGEND_SIZE = 8


def sig(x, digits=DIGITS):
    """``x`` with ``digits`` significant digits: ``sig(2.15) == '2.15'``,
    ``sig(1.3456e-5) == '1.346e-05'``; integers stay integers."""
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.{digits}g}"


def pct(share, digits=DIGITS):
    """A share in [0, 1] as a percentage: ``pct(0.09375) == '9.375%'``."""
    return sig(100 * float(share), digits) + "%"


def palette(names, start=0):
    """``{name: colour}`` in order, so that every figure of a lesson draws
    the same thing in the same colour."""
    return {name: COLORS[(start + i) % len(COLORS)] for i, name in enumerate(names)}


def label(ax, xlabel, ylabel, title=None):
    """Axis labels (with units, e.g. ``"step (full-batch update)"``) and a title."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)


def legend(ax, **kw):
    """The legend in the house size (only when something is labelled)."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=kw.pop("fontsize", LEGEND_SIZE), **kw)


def shade_halfplanes(ax, w, b, xlim, ylim, resolution=200, legend_labels=True):
    """Shade where the linear classifier ``w . x + b > 0`` says 1 (red) and
    where it says 0 (blue), and draw the boundary ``w . x + b = 0``.

    A point exactly on the line gets the output of the strict inequality
    (0); the shading is drawn below everything else."""
    gx, gy = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    ones = (w[0] * gx + w[1] * gy + b) > 0
    ax.contourf(gx, gy, ones.astype(float), levels=[-0.5, 0.5, 1.5], colors=CLASS_SHADES,
                zorder=0)
    if np.any(w != 0):
        ax.contour(gx, gy, w[0] * gx + w[1] * gy + b, levels=[0], colors="k", linewidths=1.2,
                   zorder=1)
    if legend_labels:
        for k, shade in enumerate(CLASS_SHADES):
            ax.fill([], [], color=shade, label=f"predicts {k}")
        ax.plot([], [], "k-", lw=1.2, label="w . x + b = 0")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
