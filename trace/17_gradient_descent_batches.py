"""Lesson 17: batch, stochastic and mini-batch gradient descent.

The same network, data, initial weights and learning rate, three batch
sizes: b = 1 (stochastic: one example per step), b = 32 (mini-batch) and
b = n (batch: the whole training set per step). An epoch is one pass over
the n examples, so it takes ceil(n / b) steps, the last batch holding what
is left. Small batches take many cheap, noisy steps per epoch; the full
batch takes one exact, expensive step.

Loss noise, as this lesson measures it: over the last 20 steps, the mean
absolute change of the batch loss from one step to the next, |J_t - J_(t-1)|,
divided by the mean batch loss J_t (a step's batch loss J_t is the loss on
that step's batch, before its update); relative, so that runs at different
loss levels compare.
"""
import math

import numpy as np

import numbann as nb
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("17_gradient_descent_batches", "Lesson 17: batch, stochastic and mini-batch "
           "gradient descent")
X, y = nb.data.make_moons(200, noise=0.15, seed=17)
n, lr, last = len(X), 0.1, 20
epochs = 30 if L.quick else 100
sizes = [2, 16, 1]
net = nb.MLP(sizes, hidden="tanh", output="sigmoid", seed=17)
net.save(L.path("initial.npz"))
np.savez(L.path("data.npz"), X=X, y=y)
L.say(f"data: two moons, n = {n} examples; network {'-'.join(map(str, sizes))} (tanh, sigmoid "
      f"output, binary cross-entropy), SGD(lr={lr}), {epochs} epochs, shuffled every epoch "
      "(seed 17), the same initial weights for every batch size")

names = {1: "stochastic (b = 1)", 32: "mini-batch (b = 32)", n: f"batch (b = n = {n})"}
color = dict(zip(names, plots.COLORS[:3]))
histories, noise, per_epoch, final = {}, {}, {}, {}
for b, name in names.items():
    L.section(name)
    net = nb.load(L.path("initial.npz"))
    net.fit(X, y, loss="bce", optimizer=nb.SGD(lr=lr), epochs=1, batch_size=b, seed=17,
            verbose=0)                        # compiles this batch size: not timed below
    net = nb.load(L.path("initial.npz"))
    h = net.fit(X, y, loss="bce", optimizer=nb.SGD(lr=lr), epochs=epochs, batch_size=b, seed=17,
                verbose=0)
    histories[b] = h
    steps = len(h.step_loss) // len(h.loss)   # what the run did, read from its history
    L.value(f"b = {b}: steps per epoch", steps, f"ceil({n} / {b}) = {math.ceil(n / b)}")
    check(steps * len(h.loss) == len(h.step_loss) and steps == math.ceil(n / b),
          "steps per epoch is not ceil(n / b)")
    L.value(f"b = {b}: total steps", len(h.step_loss))
    per_epoch[b] = L.value(f"b = {b}: seconds per epoch", np.mean(h.time),
                           "(measured; varies from run to run)")
    L.value(f"b = {b}: microseconds per step", 1e6 * per_epoch[b] / steps)
    tail = np.asarray(h.step_loss[-last - 1:])
    noise[b] = L.value(f"b = {b}: loss noise", np.mean(np.abs(np.diff(tail))) / tail[1:].mean(),
                       f"mean |J_t - J_(t-1)| / mean J_t over the last {last} steps")
    final[b] = L.value(f"b = {b}: final loss on all {n} examples", net.evaluate(X, y, "bce"))
    L.value(f"b = {b}: accuracy (%)", 100 * net.score(X, y))

L.section("Compared")
check(noise[1] > noise[32] > noise[n], "smaller batches do not give a noisier loss")
L.say(f"the smaller the batch, the noisier the loss: {noise[1]:.4g} (b = 1) > {noise[32]:.4g} "
      f"(b = 32) > {noise[n]:.4g} (b = n); each small batch's gradient is an estimate of the "
      "full gradient")
step_time = {b: per_epoch[b] / math.ceil(n / b) for b in names}
check(step_time[n] > step_time[1], "a full-batch step is not slower than a one-example step")
L.say(f"a full-batch step costs {step_time[n] / step_time[1]:.4g} times a one-example step, "
      f"but an epoch of b = 1 takes {n} steps")
ranked = sorted(names, key=final.get)
L.say("after the same number of epochs, the loss on all examples ranks " +
      " < ".join(f"b = {b} ({final[b]:.4g})" for b in ranked) +
      f": per epoch, b = {ranked[0]} made the most progress")

fig, axes = plots.figure(11, 3.8, ncols=2)
for b, name in names.items():
    h = histories[b]
    axes[0].plot(np.arange(1, len(h.step_loss) + 1), h.step_loss, color=color[b], lw=0.7,
                 label=name)
    axes[1].plot(np.arange(1, len(h.loss) + 1), h.loss, "o-", ms=2, color=color[b], label=name)
axes[0].set(xscale="log", xlabel="step t (log scale)", ylabel="batch loss J_t (BCE)",
            title="Per step: b = 1 jumps, b = n descends smoothly")
axes[1].set(xlabel="epoch", ylabel="training loss per epoch (BCE)",
            title="Per epoch: more steps, more progress")
for ax in axes:
    ax.legend(fontsize=8)
L.figure(fig, "loss.png")

fig, axes = plots.figure(11, 3.2, ncols=3)
labels = [f"b = {b}" for b in names]
colors = [color[b] for b in names]
for ax, values, what, title in (
        (axes[0], [math.ceil(n / b) for b in names], "steps per epoch (log scale)",
         "ceil(n / b) steps"),
        (axes[1], [1e3 * per_epoch[b] for b in names], "milliseconds per epoch",
         "Time per epoch (measured)"),
        (axes[2], [noise[b] for b in names], "mean |J_t - J_(t-1)| / mean J_t (log)",
         f"Loss noise (last {last} steps)")):
    bars = ax.bar(labels, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:.4g}" for v in values], fontsize=8)
    ax.set(ylabel=what, title=title, xlabel="batch size")
    if "log" in what:
        ax.set_yscale("log")
        ax.set_ylim(top=3 * max(values))
fig.suptitle(f"n = {n}: small batches take many noisy steps per epoch, the full batch one "
             "exact step")
L.figure(fig, "steps_time_noise.png")
L.done()
