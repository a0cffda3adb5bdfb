"""Lesson 13: convolution, weight sharing and pooling.

A 3x3 vertical-edge filter, W = [[1, 0, -1], [1, 0, -1], [1, 0, -1]], set
as W[1] of a Conv2D layer (b = 0, identity), slides over a small grey image
written by hand: a bright square on a dark background. At every position
the layer multiplies the 3x3 patch under the filter by the filter, element
by element, and adds the nine products (a cross-correlation, as in
PyTorch):

    z[1][i,0,p,q] = sum_{u,v} W[1][0,0,u,v] a[0][i,0,p+u,q+v]

The map is large where the window straddles a vertical edge of the square
and zero where the left and right columns of the window are equal.

Weight sharing: the same nine weights are used at every position, so the
gradient of one weight is a sum of one term per sample and position
(m Ho Wo terms), which ``tr.explain`` lists and checks against the recorded
dW. Max pooling keeps each window's largest value and sends the gradient
back to that winner only. Last, the parameters of a conv layer against a
dense one on 28x28 images (the course: 784 weights per neuron).
The lesson is small: ``--quick`` computes the same numbers.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots, record_step

from _lesson import Lesson, check

L = Lesson("13_convolution", "Lesson 13: convolution, weight sharing and pooling")

DARK, BRIGHT = 1, 5
image = np.full((8, 8), DARK, dtype=np.float64)
image[2:6, 2:6] = BRIGHT                        # a bright 4x4 square
stroke = np.full((8, 8), DARK, dtype=np.float64)
for row, col in enumerate([5, 4, 4, 3, 2, 1], start=1):
    stroke[row, col:col + 2] = BRIGHT           # a second image: a slanted stroke, 2 pixels wide
X = np.stack([image, stroke])[:, None]          # (m, C, H, W) = (2, 1, 8, 8)
Y = np.array([[2.0], [0.0]])                    # targets of the small head (section 2)
kernel = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64)
k = 3


def edge_net(pool):
    """Conv2D(1, 3, identity) with the vertical-edge filter and b = 0, then a
    small head (optionally after a 2x2 max pooling): Flatten, Dense(1)."""
    layers = [nb.Conv2D(1, k, activation="identity")] + ([nb.MaxPool2D(2)] if pool else []) \
        + [nb.Flatten(), nb.Dense(1, "identity")]
    net = nb.Sequential((1, 8, 8), layers, seed=13)
    net.W[1] = kernel[None, None]
    net.b[1] = [0.0]
    return net


net = edge_net(pool=False)
net.save(L.path("conv_head.npz"))               # the weights of the step recorded below
np.savez(L.path("data.npz"), X=X, Y=Y)
tr = record_step(net, X, Y, "mse")               # one forward and backward pass, recorded
rec = tr[0]
zmap = rec.z[1][0, 0]                            # what numbann's conv kernel computed
Ho, Wo = zmap.shape

L.section("The image and the filter")
L.say(f"an 8x8 grey image: dark pixels {DARK}, a bright 4x4 square of value {BRIGHT} "
      "(rows 2..5, columns 2..5)")
L.matrix("image 0", image, "a[0][0,0]")
L.matrix("image 1", stroke, "a[0][1,0]: a second image for the batch, a slanted stroke")
L.matrix("filter", kernel, "W[1][0,0]: a vertical-edge filter, b[1] = 0")
L.value("output height Ho", Ho, f"= 8 - {k} + 1 (no padding, stride 1)")
L.value("output width Wo", Wo)

L.section("The filter sliding over the image, position by position")
shown = [(0, 0), (0, 1), (0, 2), (2, 1), (2, 4)]
for p, q in shown:
    patch = image[p:p + k, q:q + k]
    products = kernel * patch
    L.say(f"position (p, q) = ({p}, {q}): the window is rows {p}..{p + k - 1}, "
          f"columns {q}..{q + k - 1}")
    L.matrix(f"patch at ({p}, {q})", patch)
    L.matrix(f"products at ({p}, {q})", products, "W * patch, element by element")
    total = L.value(f"z[1][0,0,{p},{q}]", rec.z[1][0, 0, p, q], "recorded by numbann")
    L.say(f"    sum of the nine products = {products.sum():g}")
    check(products.sum() == total, f"the products at ({p}, {q}) do not sum to z")
L.say()
L.matrix("edge map z[1][0,0]", zmap, "every position")
mine = np.array([[np.sum(kernel * image[p:p + k, q:q + k]) for q in range(Wo)]
                 for p in range(Ho)])
check(np.array_equal(mine, zmap), "numbann's conv differs from the sliding window")

L.section("Where the map is large and where it is zero")
# a vertical edge inside a window: two pixels side by side in it that differ
edge_inside = np.array([[np.any(np.diff(image[p:p + k, q:q + k], axis=1) != 0)
                         for q in range(Wo)] for p in range(Ho)])
flat = np.array([[np.ptp(image[p:p + k, q:q + k]) == 0 for q in range(Wo)] for p in range(Ho)])
zero = zmap == 0
big = np.abs(zmap) == np.abs(zmap).max()
L.value("positions", zmap.size)
L.value("positions where z = 0", zero.sum())
bright_flat = flat & np.array([[image[p, q] == BRIGHT for q in range(Wo)] for p in range(Ho)])
L.value("of which the window is flat (one brightness)", (zero & flat).sum())
L.value("of which the window is all bright", (zero & bright_flat).sum(),
        "bright but flat: the filter answers to change, not to brightness")
L.value("of which the window crosses only a horizontal edge", (zero & ~flat).sum(),
        "dark above, bright below or the reverse: no change from left to right")
L.value("positions whose window holds a vertical edge", edge_inside.sum())
L.value("largest |z|", np.abs(zmap).max())
check(np.array_equal(zero, ~edge_inside), "z = 0 is not exactly 'no vertical edge in the window'")
check((zero & bright_flat).any() and (zero & ~flat).any(),
      "no bright flat window, or none across a horizontal edge")
cols_big = sorted(set(np.nonzero(big)[1].tolist()))
rows_big = sorted(set(np.nonzero(big)[0].tolist()))
sign_left, sign_right = np.sign(zmap[:, 0]).max(), np.sign(zmap[:, -1]).min()
check(sign_left < 0 < sign_right, "the two edges do not have opposite signs")
whole_height = [all(image[p + r, q] != image[p + r, q + k - 1] for r in range(k))
                for p, q in zip(*np.nonzero(big))]
check(all(whole_height), "a largest response whose window does not cross the edge on every row")
L.say(f"z = 0 at the {zero.sum()} positions whose window has no vertical edge: "
      f"{(zero & flat).sum()} flat windows ({(zero & bright_flat).sum()} of them inside the "
      f"bright square: bright, yet 0) and {(zero & ~flat).sum()} across the square's top or "
      "bottom edge, a horizontal edge, which this filter does not see;")
L.say(f"z != 0 at the {edge_inside.sum()} positions whose window holds part of the square's "
      f"left edge (z < 0: bright on the right) or right edge (z > 0); |z| is largest, "
      f"{np.abs(zmap).max():g} = 3 rows x ({BRIGHT} - {DARK}), in columns {cols_big} of rows "
      f"{rows_big}, where the window's whole height lies along the edge")
check(np.abs(zmap).max() == k * (BRIGHT - DARK), "the largest response is not 3 (bright - dark)")

L.section("numbann's replay of one output (tr.replay)")
replay = tr.replay(0, layer=1, channel=0, position=(2, 1))
L.say(replay)
check("Check: recomputing each line" in replay, "the replay does not match the record")

L.section("Weight sharing: the gradient of one filter weight is a sum over positions")
L.say(f"a small head on the map: Flatten, Dense(1) (identity), MSE against targets "
      f"y = {Y.ravel().tolist()}, one recorded step on m = {len(X)} images (the square "
      "and the slanted stroke)")
L.value("J", rec.loss, "mean squared error of the batch")
u, v = 0, 0
e = tr.explain(0, "W", 1, 0, 0, u, v)
L.say(e)
target = f"dW[1][0,0,{u},{v}]"
L.value("m", rec.m)
L.value(f"{target}: number of terms", len(e.terms), f"= m Ho Wo = {rec.m} * {Ho} * {Wo}")
order = np.argsort(-np.abs(e.terms), kind="stable")
labels = list(np.ndindex(rec.m, Ho, Wo))
for n, t in enumerate(order[:3], 1):
    mm, pp, qq = labels[t]
    L.value(f"{target}: largest term {n}", e.terms[t],
            f"sample {mm}, position ({pp}, {qq}): delta[1] {rec.delta[1][mm, 0, pp, qq]:.6g} "
            f"* a[0] {X[mm, 0, pp + u, qq + v]:g}")
L.value(f"{target}: sum of the terms", e.terms.sum())
L.value(f"recorded {target}", rec.dW[1][0, 0, u, v])
check(len(e.terms) == rec.m * Ho * Wo, "explain did not sum over m Ho Wo positions")
check(e.ok and abs(e.terms.sum() - rec.dW[1][0, 0, u, v]) <= 1e-12 * np.abs(e.terms).sum(),
      "the sum of the terms differs from the recorded dW")
L.say(f"one shared weight, {len(e.terms)} uses: its gradient adds what every use contributed. "
      f"Without sharing, each position would have its own weight whose gradient is one term.")

L.section("Max pooling: a 2x2 window keeps its largest value")
net2 = edge_net(pool=True)                       # the same filter, then MaxPool2D(2), the head
net2.save(L.path("pool_head.npz"))
tr2 = record_step(net2, X, Y, "mse")
rec2 = tr2[0]
check(np.array_equal(rec2.z[1], rec.z[1]), "the two networks' edge maps differ")


def first_max(window):
    """The window's largest value and its first position in row-major order."""
    n = int(np.argmax(window))
    return window.max(), divmod(n, window.shape[1]), int(np.sum(window == window.max()))


maps = rec2.z[1][:, 0]
tied = [sum(first_max(maps[i, 2 * p:2 * p + 2, 2 * q:2 * q + 2])[2] > 1
            for p, q in np.ndindex(Ho // 2, Wo // 2)) for i in range(rec2.m)]
for i in range(rec2.m):
    L.value(f"sample {i}: windows with a tie", tied[i], "several inputs share the maximum")
check(np.array_equal(maps[0][:, 0], maps[0][:, 1]) and np.array_equal(maps[0][:, 4], maps[0][:, 5])
      and tied[1] < tied[0], "the square's map has no equal columns, or the stroke ties as much")
L.say(f"the square's edge map has equal values side by side (columns 0-1 and 4-5 are equal), "
      f"so {tied[0]} of its {(Ho // 2) * (Wo // 2)} windows tie and numbann, like PyTorch, "
      "takes the first maximum in row-major order; the slanted stroke's map has clearer "
      "winners, so we follow sample 1:")
i = 1
L.matrix("edge map z[1][1,0]", maps[i], "the same filter")
pooled = rec2.z[2][i, 0]
won = rec2.winners[2][i, 0]                      # h * Wo + w of each window's maximum (recorded)
wh, ww = np.divmod(won, Wo)
L.matrix("pooled z[2][1,0]", pooled, "the largest value of each 2x2 window")
L.matrix("winner rows h", wh, "row of each window's maximum in the edge map (recorded)")
L.matrix("winner columns w", ww, "its column")
for p, q in np.ndindex(pooled.shape):
    window = maps[i, 2 * p:2 * p + 2, 2 * q:2 * q + 2]
    top, (dh, dw), n_max = first_max(window)
    h, w = 2 * p + dh, 2 * q + dw
    L.say(f"  window ({p}, {q}): rows {2 * p}..{2 * p + 1}, columns {2 * q}..{2 * q + 1} = "
          f"{window.astype(int).tolist()} -> max {top:g} at ({h}, {w})"
          + (f", shared by {n_max}: the first in row-major order wins" if n_max > 1 else ""))
    check((wh[p, q], ww[p, q]) == (h, w), f"window ({p}, {q}): numbann's winner differs")
    check(pooled[p, q] == top, f"window ({p}, {q}): the pooled value is not the max")

L.section("The gradient through max pooling reaches only the winners")
d2, d1 = rec2.delta[2][i, 0], rec2.delta[1][i, 0]
L.matrix("delta[2][1,0]", d2, "dJ/dz[2] of the pooled layer (3 x 3)")
L.matrix("delta[1][1,0]", d1, "dJ/dz[1] of the edge map: delta[2] at each winner, 0 elsewhere")
mask = np.zeros_like(d1, dtype=bool)
mask[wh, ww] = True
L.value("entries of delta[1][1,0]", d1.size)
L.value("winners", mask.sum())
L.value("nonzero entries of delta[1][1,0]", np.count_nonzero(d1))
for s_ in range(rec2.m):                         # both samples, ties or not
    won_s = np.divmod(rec2.winners[2][s_, 0], Wo)
    routed = np.zeros((Ho, Wo))
    routed[won_s] = rec2.delta[2][s_, 0]
    check(np.array_equal(rec2.delta[1][s_, 0], routed),
          f"sample {s_}: delta[1] is not delta[2] routed to the winners")
L.say(f"each of the {mask.sum()} winners gets its window's delta[2] (identity activation: "
      f"g' = 1); the other {d1.size - mask.sum()} positions get exactly 0 (checked for both "
      "samples), so the filter learns only from the positions that won")
e2 = tr2.explain(0, "W", 1, 0, 0, u, v)
L.value(f"with pooling, {target}: number of terms", len(e2.terms))
L.value(f"with pooling, {target}: nonzero terms", np.count_nonzero(e2.terms),
        "one per winner (9 windows x 2 samples): elsewhere delta[1] = 0")
L.value(f"with pooling, recorded {target}", rec2.dW[1][0, 0, u, v])
check(e2.ok, "explain with pooling differs from the recorded dW")
n_windows = rec2.m * (Ho // 2) * (Wo // 2)
check(np.count_nonzero(e2.terms) == n_windows == np.count_nonzero(rec2.delta[1]),
      "the nonzero terms are not the winners'")

L.section("Parameters: a conv layer against a dense layer on 28x28 images")
neuron = nb.Sequential(784, [nb.Dense(1)], dtype="float32")
conv = nb.Sequential((1, 28, 28), [nb.Conv2D(6, 5), nb.Flatten()], dtype="float32")
conv_big = nb.Sequential((1, 56, 56), [nb.Conv2D(6, 5), nb.Flatten()], dtype="float32")
outputs = int(np.prod(conv.shapes[1]))
dense = nb.Sequential(784, [nb.Dense(outputs)], dtype="float32")
L.value("dense neuron on a flattened 28x28 image: weights", neuron.W[1].size, "784 = 28 * 28")
L.value("dense neuron on a flattened 28x28 image: parameters", neuron.n_params, "+ 1 bias")
L.value("Conv2D(6, 5) on 28x28: weights", conv.W[1].size, "6 filters of 5x5")
L.value("Conv2D(6, 5) on 28x28: parameters", conv.n_params, "+ 6 biases")
L.value("Conv2D(6, 5) on 28x28: outputs", outputs, f"{conv.shapes[1]}: 6 maps of 24x24")
L.value("Conv2D(6, 5) on 56x56: parameters", conv_big.n_params, "the same, whatever the image size")
L.value("dense layer with the same 3456 outputs: parameters", dense.n_params,
        "784 * 3456 weights + 3456 biases")
L.value("dense / conv parameters", dense.n_params / conv.n_params)
check(neuron.W[1].size == 28 * 28 and neuron.n_params == 785, "dense neuron count")
check(conv.n_params == 6 * 5 * 5 + 6 == conv_big.n_params, "conv count")
check(conv.shapes[1] == (6, 24, 24) and dense.n_params == 784 * 3456 + 3456, "dense layer count")
L.say(f"the conv layer computes {outputs} numbers from {conv.n_params} parameters, reusing each "
      f"5x5 filter at all 24 x 24 positions; a dense layer with the same outputs needs "
      f"{dense.n_params:,} ({dense.n_params / conv.n_params:,.0f} times as many)")


# ------------------------------------------------------------------ figures
def show(ax, img, title, cmap="Greys_r", lim=None, fmt="{:g}", fontsize=8, only=None, ticks=True):
    """An image with its numbers written on the cells (``only``: a boolean mask
    of the cells to write; exact zeros are written 0)."""
    img = np.asarray(img, dtype=float)
    if lim is None:
        ax.imshow(img, cmap=cmap)
        mid = (np.nanmin(img) + np.nanmax(img)) / 2
    else:
        ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim)
    for (h, w), val in np.ndenumerate(img):
        if np.isnan(val) or (only is not None and not only[h, w]):
            continue
        dark = val < mid if lim is None else abs(val) > 0.6 * lim
        ax.text(w, h, "0" if val == 0 else fmt.format(val), ha="center", va="center",
                fontsize=fontsize, color="white" if dark else "black")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(img.shape[1]) if ticks else [])
    ax.set_yticks(range(img.shape[0]) if ticks else [])
    ax.tick_params(labelsize=7, length=0)


def grid(ax, n, step=2):
    """Lines between the 2x2 pooling windows of an n x n map."""
    for e in np.arange(step, n, step) - 0.5:
        ax.axhline(e, color="#555", lw=0.8, ls=":")
        ax.axvline(e, color="#555", lw=0.8, ls=":")


def box(ax, top, left, h, w, color=plots.COLORS[1]):
    from matplotlib.patches import Rectangle
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor=color, lw=2.2))


lim = np.abs(zmap).max()
fig, axes = plots.figure(11, 3.9, ncols=3, gridspec_kw={"width_ratios": [8, 3, 6]})
show(axes[0], image, "image a[0] (8 x 8)")
show(axes[1], kernel, "filter W[1] (3 x 3)", cmap="RdBu_r", lim=1)
show(axes[2], zmap, "edge map z[1] (6 x 6)\nred: right edge (z > 0), blue: left edge",
     cmap="RdBu_r", lim=lim)
fig.suptitle("A vertical-edge filter on a bright square: z = 0 on flat patches and across "
             "horizontal edges", fontsize=10)
L.figure(fig, "image_filter_map.png")

fig, axes = plots.figure(13, 8.2, ncols=len(shown), nrows=3)
for col, (p, q) in enumerate(shown):
    inside = np.zeros(image.shape, dtype=bool)
    inside[p:p + k, q:q + k] = True
    show(axes[0, col], image, f"step {p * Wo + q + 1} of {Ho * Wo}: window at ({p}, {q})\n"
         f"rows {p}..{p + k - 1}, columns {q}..{q + k - 1}", only=inside, ticks=False)
    box(axes[0, col], p, q, k, k)
    products = kernel * image[p:p + k, q:q + k]
    show(axes[1, col], products, f"W * patch, sum = {products.sum():g}", cmap="RdBu_r",
         lim=BRIGHT, ticks=False)
    sofar = np.full(zmap.shape, np.nan)
    upto = p * Wo + q + 1
    sofar.ravel()[:upto] = zmap.ravel()[:upto]
    show(axes[2, col], sofar, f"z[1] so far: z[{p},{q}] = {zmap[p, q]:g}", cmap="RdBu_r",
         lim=lim, ticks=False)
    box(axes[2, col], p, q, 1, 1)
axes[0, 0].set_ylabel("image and window", fontsize=9)
axes[1, 0].set_ylabel("products", fontsize=9)
axes[2, 0].set_ylabel("output map", fontsize=9)
fig.suptitle("The filter [[1, 0, -1]] x 3 rows slides over the image (row by row, left to right)",
             fontsize=11)
L.figure(fig, "sliding_window.png")

L.figure(plots.pooling_mask(tr2, 2, sample=i,
                            title="MaxPool2D(2) on the stroke's edge map:\neach 2x2 window's "
                                  "winner (red square)"), "pooling_mask.png")

fig, axes = plots.figure(12, 3.9, ncols=3, gridspec_kw={"width_ratios": [6, 3, 6]})
show(axes[0], maps[i], "edge map z[1] of the stroke,\n2x2 windows dotted, winners boxed",
     cmap="RdBu_r", lim=lim)
grid(axes[0], Ho)
for h, w in zip(wh.ravel(), ww.ravel()):
    box(axes[0], h, w, 1, 1, color="black")
dlim = np.abs(d2).max()
show(axes[1], d2, "delta[2] (pooled, 3 x 3)", cmap="PuOr", lim=dlim, fmt="{:.2f}")
show(axes[2], d1, "delta[1]: delta[2] at the winners,\n0 everywhere else", cmap="PuOr",
     lim=dlim, fmt="{:.2f}", fontsize=7)
for h, w in zip(wh.ravel(), ww.ravel()):
    box(axes[2], h, w, 1, 1, color="black")
grid(axes[2], Ho)
fig.suptitle("Backward through max pooling (sample 1): the gradient is routed to each "
             "window's winner", fontsize=10)
L.figure(fig, "pooling_gradient.png")

terms = e.terms.reshape(rec.m, Ho, Wo)
tlim = np.abs(terms).max()
fig, axes = plots.figure(10, 4.6, ncols=rec.m)
read = f"a[0][m,0,p+{u},q+{v}]" if (u, v) != (0, 0) else "a[0][m,0,p,q]"
for mm, ax in enumerate(axes):
    show(ax, terms[mm], f"sample m = {mm}: delta[1][{mm},0,p,q] * {read.replace('m,', f'{mm},')}"
         f"\nits {Ho * Wo} terms sum to {terms[mm].sum():.4g}", cmap="PuOr", lim=tlim,
         fmt="{:.1f}", fontsize=7)
    ax.set_xlabel("q (output column)", fontsize=8)
    ax.set_ylabel("p (output row)", fontsize=8)
fig.colorbar(ax.images[0], ax=list(axes), shrink=0.8, label="term (orange < 0 < purple)")
fig.suptitle(f"Weight sharing: {target} is the sum of one term per position the filter "
             f"visited\n{len(e.terms)} terms, sum {e.terms.sum():.6g} = recorded dW "
             f"{rec.dW[1][0, 0, u, v]:.6g}", fontsize=10)
L.figure(fig, "dW_terms.png")

fig, ax = plots.figure(7.5, 3.4)
names = ["dense neuron\n(28x28 input)", "Conv2D(6, 5)\n(28x28 or 56x56)",
         "dense layer, same\n6x24x24 outputs"]
counts = [neuron.n_params, conv.n_params, dense.n_params]
ax.barh(names, counts, color=[plots.COLORS[0], plots.COLORS[2], plots.COLORS[1]])
for n, c in enumerate(counts):
    ax.text(c * 1.15, n, f"{c:,}", va="center", fontsize=9)
ax.set_xscale("log")
ax.set_xlim(1, max(counts) * 30)
ax.invert_yaxis()
ax.set_xlabel("parameters (log scale)")
ax.set_title("Parameters: weight sharing against one weight per pixel and unit")
L.figure(fig, "parameters.png")
L.done()
