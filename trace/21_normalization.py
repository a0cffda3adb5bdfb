"""Lesson 21: standardize the inputs.

The two-moons points with their second coordinate measured in millimetres
instead of metres: the same data, but x_2's numbers are a thousand times
larger. The same network, initial weights, optimizer and epochs learn it raw
and standardized, x_j -> (x_j - mean_j) / std_j with the training set's
mean and standard deviation (numbann.data.standardize; the test set is
scaled with the training set's numbers).

Raw, z[1] = W[1] x + b[1] is dominated by x_2: most tanh units start
saturated (|a| > 0.99, where g'(z) < 0.02). For a
linear model the loss surface's curvature along each weight grows with its
input's second moment: the condition number of E[x x^T] (with a 1 for the
bias) says how stretched the valley is.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("21_normalization", "Lesson 21: raw against standardized inputs")
X, y = nb.data.make_moons(400, noise=0.15, seed=21)
X = X * np.array([1.0, 1000.0])                # x_1 in metres, x_2 in millimetres
X_train, X_test, y_train, y_test = nb.data.train_test_split(X, y, test_size=0.25, seed=21)
S_train, S_test = nb.data.standardize(X_train, X_test)
np.savez(L.path("data.npz"), X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)
L.say(f"data: two moons, {len(X_train)} training and {len(X_test)} test points, x_2 in "
      "millimetres")
mean, std = X_train.mean(axis=0), X_train.std(axis=0)
for j in range(2):
    L.value(f"raw x_{j + 1}: mean", mean[j])
    L.value(f"raw x_{j + 1}: std", std[j])
scale = L.value("std x_2 / std x_1 (raw)", std[1] / std[0])


def second_moment_condition(A):
    """Condition number of E[x x^T] with a constant 1 appended (the bias input)."""
    A1 = np.column_stack([A, np.ones(len(A))])
    return np.linalg.cond(A1.T @ A1 / len(A1))


cond = {"raw": second_moment_condition(X_train), "standardized": second_moment_condition(S_train)}
for name, c in cond.items():
    L.value(f"{name}: condition number of E[x x^T]", c)
check(cond["raw"] > 1e4 * cond["standardized"], "standardizing did not round the loss surface")

sizes, epochs = [2, 16, 1], (40 if L.quick else 100)
initial = nb.MLP(sizes, hidden="tanh", output="sigmoid", seed=21)
initial.save(L.path("initial.npz"))
L.say(f"network {'-'.join(map(str, sizes))} (tanh, sigmoid output, BCE), Adam(lr=0.01), "
      f"{epochs} epochs of batches of 32, the same initial weights for both")
inputs = {"raw": (X_train, X_test), "standardized": (S_train, S_test)}
color = {"raw": plots.COLORS[3], "standardized": plots.COLORS[2]}
nets, histories, saturated = {}, {}, {}
for name, (A_train, A_test) in inputs.items():
    L.section(name)
    a1 = initial.backprop(A_train, y_train, "bce").a[1]
    saturated[name] = L.value(f"{name}: saturated hidden units at the start (%)",
                              100 * np.mean(np.abs(a1) > 0.99), "share of a[1] with |a| > 0.99")
    net = nb.load(L.path("initial.npz"))
    histories[name] = net.fit(A_train, y_train, loss="bce", optimizer=nb.Adam(lr=0.01),
                              epochs=epochs, batch_size=32, seed=21, verbose=0,
                              validation_data=(A_test, y_test))
    nets[name] = net
    net.save(L.path(f"net_{name}.npz"))
    L.value(f"{name}: final training loss", net.evaluate(A_train, y_train, "bce"))
    L.value(f"{name}: test accuracy (%)", 100 * net.score(A_test, y_test))

L.section("Compared")
acc = {k: nets[k].score(inputs[k][1], y_test) for k in nets}
loss = {k: nets[k].evaluate(inputs[k][0], y_train, "bce") for k in nets}
check(saturated["raw"] > 50 > saturated["standardized"], "raw inputs do not saturate the units")
check(acc["standardized"] > acc["raw"] and loss["standardized"] < loss["raw"],
      "the standardized inputs did not train better")
L.say(f"raw, {saturated['raw']:.4g}% of the hidden activations start saturated "
      f"({saturated['standardized']:.4g}% standardized) and E[x x^T] is "
      f"{cond['raw'] / cond['standardized']:.4g} times worse conditioned: after {epochs} "
      f"epochs the raw network reaches test accuracy {100 * acc['raw']:.4g}%, the standardized "
      f"one {100 * acc['standardized']:.4g}% (training loss {loss['raw']:.4g} against "
      f"{loss['standardized']:.4g})")

fig, axes = plots.figure(10, 3.6, ncols=2)
for name, h in histories.items():
    x = np.arange(1, len(h.loss) + 1)
    axes[0].plot(x, h.loss, color=color[name], label=f"{name} inputs")
    axes[1].plot(x, 100 * np.asarray(h.val_metric), color=color[name], label=f"{name} inputs")
axes[0].set(xlabel="epoch", ylabel="training loss (BCE)", yscale="log",
            title="The same network learns faster on standardized inputs")
axes[1].set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
for ax in axes:
    ax.legend(fontsize=8)
L.figure(fig, "training.png")

fig, axes = plots.figure(10, 4, ncols=2)
for ax, (name, net) in zip(axes, nets.items()):
    A_train = inputs[name][0]
    plots.decision_boundary(net, A_train, y_train, ax=ax, pad=0.1 * np.ptp(A_train, axis=0))
    units = "x_2 (mm)" if name == "raw" else "x_2 standardized (no unit)"
    ax.set(xlabel="x_1 (m)" if name == "raw" else "x_1 standardized (no unit)", ylabel=units)
    ax.set_title(f"{name}: test accuracy {100 * acc[name]:.4g}%", color=color[name])
fig.suptitle("Training points and each network's output after training (black: a[L] = 0.5)")
L.figure(fig, "boundaries.png")
L.done()
