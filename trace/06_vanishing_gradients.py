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
    L.say(tr.diagnostics().report())

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
      f" times on its way down and every ||dW[l]|| is ~{np.median(explode):.0e}: one update "
      "throws the weights far away")
L.say(f"ReLU with He init: the norms stay within a factor {max(he) / min(he):.0f} across layers")

L.section("Over training (SGD, lr 0.05; norms recorded at every step)")
steps = 40 if L.quick else 200
runs = {}
for name in ("sigmoid, N(0, 0.1^2)", "relu, He"):
    net = nb.MLP(sizes, output="sigmoid", seed=6, **setups[name])
    rec = Recorder(keep=("norms",))
    net.fit(X, Y, loss="bce", optimizer=nb.optim.SGD(lr=0.05), epochs=steps, batch_size=m,
            trace=rec, verbose=0)
    runs[name] = rec.trace
    g = rec.trace.series("norms/dW")
    L.say(f"  {name}: after {steps} steps ||dW[1]|| = {g[-1, 0]:.3g}, "
          f"||dW[{depth}]|| = {g[-1, depth - 1]:.3g}, loss {rec.trace.loss[-1]:.4f}")

fig, axes = plots.figure(10, 3.6, ncols=2)
for ax, (what, values) in zip(axes, (("||dW[l]||", norms), ("||delta[l]||", deltas))):
    for i, (name, v) in enumerate(values.items()):
        ax.plot(np.arange(1, len(v) + 1), v, "o-", ms=4, color=plots.COLORS[i], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("layer l (1 = next to the input)")
    ax.set_title(f"One backward pass: {what}")
    ax.legend(fontsize=7)
L.figure(fig, "norms_by_layer.png")
fig, axes = plots.figure(10, 3.6, ncols=2, sharey=True)
for ax, (name, tr) in zip(axes, runs.items()):
    g = tr.series("norms/dW")
    for l in (1, 4, 7, depth, depth + 1):
        ax.plot(tr.steps, g[:, l - 1], label=f"layer {l}")
    ax.set_yscale("log")
    ax.set_title(name)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
axes[0].set_ylabel("||dW[l]||")
L.figure(fig, "norms_over_steps.png")
L.done()
