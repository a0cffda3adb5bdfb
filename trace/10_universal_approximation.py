"""Lesson 10: universal approximation.

One hidden layer with enough units fits any continuous function on an
interval: each tanh unit is a smooth step a_j tanh(w_j x + b_j), and a sum
of enough steps draws any curve. (The theorem says such weights exist, not
that training finds them easily.) We fit f(x) = sin(2 pi x) + x on [-1, 1]
with 1-H-1 networks of growing width H and measure the error.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots
from numbann.trace.style import label, legend, sig

from _lesson import Lesson, check

L = Lesson("10_universal_approximation", "Lesson 10: universal approximation")
x = np.linspace(-1, 1, 200)[:, None]
y = np.sin(2 * np.pi * x) + x
np.savez(L.path("data.npz"), x=x, y=y)
widths = [1, 2, 4, 8, 16] if L.quick else [1, 2, 4, 8, 16, 32]
epochs = 1500 if L.quick else 4000
L.say(f"f(x) = sin(2 pi x) + x, {len(x)} points on [-1, 1]; 1-H-1 tanh networks, Adam(lr=0.01), "
      f"{epochs} full-batch epochs. The hidden units start with W1 ~ N(0, 6^2) and "
      "b1 ~ U(-6, 6), so their steps are spread over the interval.")
errors, fits = {}, {}
for H in widths:
    net = nb.Network(1, [nb.Dense(H, "tanh", init=nb.initializers.Normal(6.0),
                                  bias_init=nb.initializers.Uniform(6.0)),
                         nb.Dense(1, "identity")], seed=0)
    net.fit(x, y, loss="mse", optimizer=nb.optim.Adam(lr=0.01), epochs=epochs, batch_size=len(x),
            shuffle=False, verbose=0)
    net.save(L.path(f"width_{H}.npz"))
    errors[H] = net.evaluate(x, y, "mse")
    fits[H] = net.forward(x)[:, 0]
    L.value(f"H = {H}: mean squared error", errors[H])
check(errors[widths[-1]] < 0.05 * errors[1], "wider networks did not fit better")
fold = L.value(f"error ratio H = 1 / H = {widths[-1]}", errors[1] / errors[widths[-1]])
L.say(f"From 1 to {widths[-1]} hidden units the error falls {fold:.4g}-fold: "
      "each unit adds one more tanh step to the sum.")

H = widths[-1]
net = nb.load(L.path(f"width_{H}.npz"))
L.section(f"The {H} steps inside the widest network, all of them, ordered by where they rise")
L.say("unit j adds W2[j] tanh(W1[j] x + b1[j]), a step of height 2 |W2[j]| centred at "
      "x = -b1[j] / W1[j]")
centres = -net.b[1] / net.W[1][:, 0]
for j in np.argsort(centres):
    L.say(f"  unit {j:2d}: {net.W[2][0, j]:+.4g} * tanh({net.W[1][j, 0]:+.4g} x {net.b[1][j]:+.4g})"
          f"   centre x = {centres[j]:+.4g}{'' if -1 <= centres[j] <= 1 else '  (outside [-1, 1])'}")
inside = int(np.sum(np.abs(centres) <= 1))
L.value("units whose step is centred inside [-1, 1]", inside, f"(of {H})")
L.say(f"{H} units listed; the sum of their steps plus b2 = {net.b[2][0]:.4g} is the network's output.")

fig, ax = plots.figure(6.5, 4)
ax.plot(x[:, 0], y[:, 0], "k-", lw=3, alpha=0.3, label="f(x) = sin(2 pi x) + x")
for i, (Hs, f) in enumerate(fits.items()):
    ax.plot(x[:, 0], f, color=plots.COLORS[i % 10], lw=1.3, label=f"H = {Hs}: MSE {sig(errors[Hs])}")
label(ax, "x", "network output a[2] and f(x)",
      f"One hidden layer of growing width: MSE {sig(errors[1])} (H = 1) -> "
      f"{sig(errors[widths[-1]])} (H = {widths[-1]})")
legend(ax, fontsize=7)
L.figure(fig, "fits.png")
a = np.tanh(x @ net.W[1].T + net.b[1]) * net.W[2][0]
fig, ax = plots.figure(6.5, 4)
for j in range(H):
    ax.plot(x[:, 0], a[:, j], lw=0.8, color="#999")
ax.plot(x[:, 0], a.sum(axis=1) + net.b[2][0], color=plots.COLORS[1], lw=2,
        label="sum of the units + b2 = the network's output")
ax.plot(x[:, 0], y[:, 0], "k--", lw=1, label="f(x)")
ax.plot([], [], lw=0.8, color="#999", label="one unit W2[j] tanh(W1[j] x + b1[j])")
label(ax, "x", "contribution to the output", f"The {H} weighted tanh units sum to the curve")
legend(ax, fontsize=7)
L.figure(fig, "units.png")
L.done()
