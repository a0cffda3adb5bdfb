"""Lesson 6: vanishing and exploding gradients.

delta[l] = (delta[l+1] @ W[l+1]) * g'(z[l]): every layer multiplies the
error signal by a weight matrix and a slope. With sigmoid (g' <= 1/4) and
small weights the product shrinks layer after layer: the first layers'
gradients vanish. With ReLU and weights too large it grows: they explode.
He initialization (std sqrt(2 / fan_in)) keeps ReLU's signal the same size.

Three 16-32x10-1 networks (ten hidden layers of 32 units) on the same batch;
we record one backward pass of each and compare ||dW[l]|| layer by layer,
then watch the norms over a short training run.
"""
import numpy as np

import numbann as nb
from numbann.trace import Recorder, plots, record_step
from numbann.trace.style import label, legend, palette

from _lesson import Lesson, check

L = Lesson("06_vanishing_gradients", "Lesson 6: vanishing and exploding gradients")
depth, width, n0, m = 10, 32, 16, 64
rng = np.random.default_rng(6)
X = rng.normal(size=(m, n0))
Y = (X[:, :2].sum(axis=1) > 0).astype(float)
sizes = [n0] + [width] * depth + [1]
L.say(f"network {'-'.join(map(str, sizes))}, batch of m = {m}, sigmoid output, BCE")

setups = {
    "sigmoid, N(0, 0.1^2)": dict(hidden="sigmoid", init=nb.initializers.Normal(0.1)),
    "relu, He": dict(hidden="relu", init="he_normal"),
    "relu, N(0, 1)": dict(hidden="relu", init=nb.initializers.Normal(1.0)),
}
norms, deltas = {}, {}
for name, kw in setups.items():
    net = nb.MLP(sizes, output="sigmoid", seed=6, **kw)
    tr = record_step(net, X, Y, "bce")
    tr.save(L.path(f"step_{kw['hidden']}_{'he' if kw['init'] == 'he_normal' else 'normal'}"
                   f"{'' if kw['init'] == 'he_normal' else '_' + str(kw['init'].std)}.npz"))
    g = tr[0].norms["dW"]
    d = np.array([np.linalg.norm(tr[0].delta[l]) for l in range(1, len(g) + 1)])
    norms[name], deltas[name] = g, d
    L.section(name)
    for l in range(1, len(g) + 1):
        L.value(f"{name}: ||dW[{l}]||", g[l - 1], f"||delta[{l}]|| = {d[l - 1]:.4g}")
    L.value(f"{name}: ratio ||dW[1]|| / ||dW[{len(g)}]||", g[0] / g[-1])
    L.value(f"{name}: ratio ||delta[1]|| / ||delta[{len(g)}]||", d[0] / d[-1])
    if kw["hidden"] == "relu":
        L.say(f"  dead ReLUs: units whose z is <= 0 for all {m} samples (they pass no gradient)")
        for l in range(1, depth + 1):
            L.value(f"{name}: dead ReLUs in layer {l} (%)", 100 * np.mean(np.all(tr[0].z[l] <= 0, 0)))

L.section("What the numbers say")
vanish, he, explode = (norms[k] for k in setups)
check(vanish[0] / vanish[-1] < 1e-6, "sigmoid gradients did not vanish")
check(deltas["relu, N(0, 1)"][0] / deltas["relu, N(0, 1)"][-1] > 1e4,
      "large-init ReLU error signals did not explode")
check(explode.min() > 1e4 * he.max(), "large-init ReLU gradients are not huge")
check(0.01 < he[0] / he[-1] < 100, "He-initialized ReLU gradients changed size a lot")
L.say(f"sigmoid with small weights: ||dW[1]|| is {vanish[0] / vanish[-1]:.1e} of ||dW[{depth + 1}]||"
      " (each layer multiplies delta by W and g' <= 1/4): the first layers barely learn")
L.say(f"ReLU with N(0, 1): delta grows {deltas['relu, N(0, 1)'][0] / deltas['relu, N(0, 1)'][-1]:.1e}"
      f" times on its way down and every ||dW[l]|| is ~{np.median(explode):.1e}: one update "
      "throws the weights far away")
L.value("relu, He: largest / smallest ||dW[l]||", max(he) / min(he))
L.value("relu, N(0, 1): median ||dW[l]||", np.median(explode))
L.say(f"ReLU with He init: the norms stay within a factor {max(he) / min(he):.4g} across layers")

L.section("Over training (SGD, lr 0.05; norms recorded at every step)")
steps = 40 if L.quick else 200
runs, trained = {}, {}
for name in ("sigmoid, N(0, 0.1^2)", "relu, He"):
    net = nb.MLP(sizes, output="sigmoid", seed=6, **setups[name])
    rec = Recorder(keep=("norms",))
    net.fit(X, Y, loss="bce", optimizer=nb.optim.SGD(lr=0.05), epochs=steps, batch_size=m,
            trace=rec, verbose=0)
    runs[name], trained[name] = rec.trace, net
    net.save(L.path(f"trained_{setups[name]['hidden']}.npz"))
    g = rec.trace.series("norms/dW")
    L.say(f"  {name}: after {steps} steps ||dW[1]|| = {g[-1, 0]:.4g}, "
          f"||dW[{depth}]|| = {g[-1, depth - 1]:.4g}, loss {net.loss(X, Y, 'bce'):.4g}")

L.section("Why the sigmoid network's output is the same for every input")
L.say("spread of a[l] across samples: the standard deviation over the batch of one unit's "
      "activation, averaged over the layer's units (0: the layer gives every input the same value)")
net = trained["sigmoid, N(0, 0.1^2)"]
after = record_step(net, X, Y, "bce")[0]
spread = [float(after.a[l].std(axis=0).mean()) for l in range(depth + 2)]
for l in range(depth + 2):
    L.value(f"trained sigmoid: spread of a[{l}] across samples", spread[l],
            "(the inputs)" if l == 0 else "(the output)" if l == depth + 1 else "")
shrink = (spread[depth] / spread[1]) ** (1 / (depth - 1))
L.value("trained sigmoid: spread shrink factor per layer", shrink,
        f"(geometric mean from layer 1 to {depth})")
share = float(Y.mean())
constant_loss = -(share * np.log(share) + (1 - share) * np.log(1 - share))
L.value("share of positive labels p", share)
L.value("loss of the best constant output a = p", constant_loss, "= -(p ln p + (1 - p) ln(1 - p))")
final = L.value("trained sigmoid: loss", net.loss(X, Y, "bce"))
out = after.a[depth + 1][:, 0]
L.value("trained sigmoid: output range max - min", out.max() - out.min())
check(spread[depth + 1] < 1e-3 * spread[0] and shrink < 0.5,
      "the sigmoid network's output still depends on its input")
check(abs(final - constant_loss) < 0.01, "the sigmoid network is not at the constant-output loss")
L.say(f"Each sigmoid layer with N(0, 0.1^2) weights multiplies the differences between samples "
      f"by about {shrink:.4g} (close to 0.1 sqrt({width}) / 4 = {0.1 * np.sqrt(width) / 4:.4g}: "
      f"weights of size 0.1, {width} inputs, sigmoid's slope near 1/4), so after {depth} "
      f"layers every input gives nearly the same a[{depth}] and the output varies by only "
      f"{out.max() - out.min():.4g} over the batch. Training can then only move the output's "
      f"constant value towards the share of positives p = {share:.4g}: its loss {final:.4g} is "
      f"that of the best constant output, {constant_loss:.4g}. The gradients that could spread "
      f"the layers apart are the vanishing ones above.")

colors = palette(setups)
fig, axes = plots.figure(10, 3.8, ncols=2)
for ax, (what, values) in zip(axes, (("||dW[l]||", norms), ("||delta[l]||", deltas))):
    for name, v in values.items():
        ax.plot(np.arange(1, len(v) + 1), v, "o-", ms=4, color=colors[name], label=name)
    ax.set_yscale("log")
    label(ax, "layer l (1 = next to the input)", f"{what} (log scale)", what)
    legend(ax, fontsize=7)
fig.suptitle("One backward pass: the signal vanishes towards the input with sigmoid and small "
             "weights, explodes with ReLU and N(0, 1)", fontsize=10)
L.figure(fig, "norms_by_layer.png")
fig, axes = plots.figure(10, 3.8, ncols=2, sharey=True)
layer_colors = palette([1, 4, 7, depth, depth + 1], start=4)
for ax, (name, tr) in zip(axes, runs.items()):
    g = tr.series("norms/dW")
    for l in layer_colors:
        ax.plot(tr.steps, g[:, l - 1], color=layer_colors[l], label=f"layer {l}")
    ax.set_yscale("log")
    label(ax, "training step", "||dW[l]|| (log scale)" if ax is axes[0] else "",
          f"{name}: at the end every ||dW[l]|| is in [{g[-1].min():.4g}, {g[-1].max():.4g}]")
    legend(ax, fontsize=7)
L.figure(fig, "norms_over_steps.png")
L.done()
