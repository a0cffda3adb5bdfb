"""Lesson 18: initialization of deep networks: zero, small random, Xavier, He.

Two deep networks, ten hidden layers of 100 units each (tanh in one, ReLU in
the other) and a softmax output of 10 classes, see one batch of 256
standard-normal inputs with random labels (cross-entropy) at their initial
weights. For each scheme we measure, layer by layer, the spread of the
activations a[l] and of the gradient dW[l].

Spread, here: the standard deviation of all the numbers of the layer (the
256 x 100 values of a[l], or the entries of dW[l]).

  zero           W = 0: every unit computes the same thing (here: nothing)
  small random   W ~ N(0, 0.01^2)
  Xavier         W ~ N(0, 2 / (fan_in + fan_out))   (Glorot, for tanh)
  He             W ~ N(0, 2 / fan_in)               (for ReLU)

A layer multiplies the variance of its input by about fan_in var(W) (times
1/2 for ReLU, which zeroes half of it): below 1 the signal dies layer by
layer, above 1 it grows.
"""
import numpy as np

import numbann as nb
from numbann.initializers import HeNormal, Normal, XavierNormal
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("18_initialization", "Lesson 18: zero, small random, Xavier and He initialization")
depth, width, m = 10, 100, 256
rng = np.random.default_rng(18)
X, y = rng.normal(size=(m, width)), rng.integers(0, 10, m)
np.savez(L.path("batch.npz"), X=X, y=y)
sizes = [width] + [width] * depth + [10]
L.say(f"networks {width}-{width}x{depth}-10 (softmax, cross-entropy), one batch of {m} "
      "inputs x ~ N(0, 1) with random labels 0..9")
inits = {"zero": "zeros", "small random": Normal(std=0.01), "Xavier": XavierNormal(),
         "He": HeNormal()}
color = dict(zip(inits, plots.COLORS))
spread_a, spread_dW, saturated, output_db = {}, {}, {}, {}
for hidden in ("tanh", "relu"):
    L.section(f"{hidden} network")
    for name, init in inits.items():
        net = nb.MLP(sizes, hidden=hidden, output="softmax", init=init, seed=18)
        net.save(L.path(f"{hidden}_{name.replace(' ', '_')}.npz"))
        step = net.backprop(X, y, "ce")
        sa = np.array([step.a[l].std() for l in range(1, depth + 1)])
        sg = np.array([step.dW[l].std() for l in range(1, depth + 2)])
        spread_a[hidden, name], spread_dW[hidden, name] = sa, sg
        output_db[hidden, name] = np.abs(step.db[depth + 1]).max()
        L.say(f"{name}: spread of a[l], l = 1..{depth}: " + ", ".join(f"{v:.4g}" for v in sa))
        L.say(f"{name}: spread of dW[l], l = 1..{depth + 1}: " + ", ".join(f"{v:.4g}" for v in sg))
        L.value(f"{hidden}, {name}: std a[1]", sa[0])
        L.value(f"{hidden}, {name}: std a[{depth}]", sa[-1])
        L.value(f"{hidden}, {name}: std dW[1]", sg[0])
        L.value(f"{hidden}, {name}: std dW[{depth + 1}]", sg[-1])
        if hidden == "tanh":
            hidden_a = np.concatenate([step.a[l].ravel() for l in range(1, depth + 1)])
            saturated[name] = L.value(f"tanh, {name}: saturated units (%)",
                                      100 * np.mean(np.abs(hidden_a) > 0.99),
                                      "share of hidden activations with |a| > 0.99")

L.section("What the spreads say")
zero = [spread_a[h, "zero"].max() + spread_dW[h, "zero"].max() for h in ("tanh", "relu")]
check(max(zero) == 0 and min(output_db[h, "zero"] for h in ("tanh", "relu")) > 0,
      "zero init: some activation or weight gradient is not zero, or db[L] is")
L.say("zero init: every hidden activation is g(0) = 0 and every dW[l] is exactly 0 in both "
      "networks (only the output bias learns): the units stay identical")
expected = {"tanh": 0.01 * np.sqrt(width), "relu": 0.01 * np.sqrt(width / 2)}
for hidden in ("tanh", "relu"):
    ratio = spread_a[hidden, "small random"][-1] / spread_a[hidden, "small random"][0]
    L.value(f"{hidden}, small random: std a[{depth}] / std a[1]", ratio)
    factor = L.value(f"{hidden}, small random: spread factor per layer", ratio ** (1 / (depth - 1)),
                     f"(std a[{depth}] / std a[1])^(1/{depth - 1}); "
                     f"predicted sqrt(fan_in var(W){' / 2' if hidden == 'relu' else ''}) "
                     f"= {expected[hidden]:.4g}")
    check(ratio < 1e-6 and spread_dW[hidden, "small random"].max() < 1e-9
          and 0.7 < factor / expected[hidden] < 1.3,
          "small random init does not make the signal vanish as predicted")
L.say(f"small random init: each layer multiplies the spread by about 0.01 sqrt({width}) = 0.1 "
      "(ReLU: 0.1 / sqrt 2), so it vanishes with depth, and so do the gradients "
      "(all below 1e-9)")
steadiest = {}
for hidden in ("tanh", "relu"):
    ratios = {}
    for name in ("Xavier", "He"):
        sa = spread_a[hidden, name]
        ratios[name] = L.value(f"{hidden}, {name}: std a[{depth}] / std a[1]", sa[-1] / sa[0])
    steadiest[hidden] = min(ratios, key=lambda k: abs(np.log(ratios[k])))
    L.say(f"{hidden}: {steadiest[hidden]} keeps the spread steadiest from layer 1 to {depth} "
          f"(Xavier {ratios['Xavier']:.4g}, He {ratios['He']:.4g})")
check(steadiest["relu"] == "He", "He does not keep the ReLU network's spread best")
predicted = 0.5 ** ((depth - 1) / 2)
measured = spread_a["relu", "Xavier"][-1] / spread_a["relu", "Xavier"][0]
L.value("relu, Xavier: predicted std a[10] / std a[1]", predicted,
        f"(fan_in var(W) / 2 = {width} (2 / {2 * width}) / 2 = 1/2 per layer: "
        f"2^-{(depth - 1) / 2})")
check(0.5 < measured / predicted < 2, "Xavier on ReLU does not halve the variance per layer")
L.say(f"relu with Xavier: the variance halves at each layer, as predicted ({measured:.4g} "
      f"measured, {predicted:.4g} predicted)")
more = "He" if saturated["He"] > saturated["Xavier"] else "Xavier"
L.say(f"tanh: {more} saturates more units ({saturated[more]:.4g}% against "
      f"{min(saturated['He'], saturated['Xavier']):.4g}%), where g'(z) is near 0")

fig, axes = plots.figure(11, 6.4, ncols=2, nrows=2, sharex=True)
for col, hidden in enumerate(("tanh", "relu")):
    for row, (spreads, what, layers) in enumerate(((spread_a, "std of a[l]", depth),
                                                    (spread_dW, "std of dW[l]", depth + 1))):
        ax = axes[row, col]
        for name in inits:
            v = spreads[hidden, name]
            shown = v > 0
            label = name if shown.any() else f"{name} (0 in every layer: not drawn)"
            ax.plot(np.arange(1, layers + 1)[shown], v[shown], "o-", ms=3, color=color[name],
                    label=label)
        ax.set(yscale="log", ylabel=f"{what} (log scale)",
               title=f"{hidden}: {what.split()[-1]} spread per layer")
        ax.legend(fontsize=7)
        if row == 1:
            ax.set_xlabel("layer l (1 = next to the input)")
fig.suptitle("At initialization: small random weights make the signal vanish; He keeps ReLU's "
             "spread steady, Xavier halves its variance per layer")
L.figure(fig, "spreads.png")
L.done()
