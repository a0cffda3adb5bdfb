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
L.say(f"From 1 to {widths[-1]} hidden units the error falls {errors[1] / errors[widths[-1]]:.0f}-fold: "
      "each unit adds one more tanh step to the sum.")

H = widths[-1]
net = nb.load(L.path(f"width_{H}.npz"))
L.section(f"The {H} steps inside the widest network")
for j in range(min(H, 4)):
    L.say(f"  unit {j}: {net.W[2][0, j]:+.3f} * tanh({net.W[1][j, 0]:+.3f} x {net.b[1][j]:+.3f})")

fig, ax = plots.figure(6.5, 4)
ax.plot(x[:, 0], y[:, 0], "k-", lw=3, alpha=0.3, label="f(x)")
for i, (Hs, f) in enumerate(fits.items()):
    ax.plot(x[:, 0], f, color=plots.COLORS[i % 10], lw=1.3, label=f"H = {Hs}: MSE {errors[Hs]:.2g}")
ax.set_xlabel("x")
ax.set_title("One hidden layer of growing width")
ax.legend(fontsize=7)
L.figure(fig, "fits.png")
a = np.tanh(x @ net.W[1].T + net.b[1]) * net.W[2][0]
fig, ax = plots.figure(6.5, 4)
for j in range(H):
    ax.plot(x[:, 0], a[:, j], lw=0.8, color="#999")
ax.plot(x[:, 0], a.sum(axis=1) + net.b[2][0], color=plots.COLORS[1], lw=2,
        label="sum of the units + b2 = the network's output")
ax.plot(x[:, 0], y[:, 0], "k--", lw=1, label="f(x)")
ax.set_title(f"The {H} weighted tanh units W2[j] tanh(W1[j] x + b1[j])")
ax.legend(fontsize=7)
L.figure(fig, "units.png")
L.done()
