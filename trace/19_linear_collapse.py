"""Lesson 19: without a nonlinearity, depth buys nothing.

A network whose layers all use the identity activation computes
a[L] = W[L] (... (W[2] (W[1] x + b[1]) + b[2]) ...) + b[L], and multiplying
out gives one linear map a[L] = W x + b with

    W = W[L] W[L-1] ... W[1]
    b = W[L] ... W[2] b[1] + W[L] ... W[3] b[2] + ... + W[L] b[L-1] + b[L]

so four layers of weights are worth one. We compute W and b from the
network's weights and check they reproduce its outputs, then train it on
XOR: the best any linear map can do there is computed by least squares, the
deep linear network gets no further, and the same network with tanh units
fits XOR.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("19_linear_collapse", "Lesson 19: linear collapse of a deep identity network")
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
sizes = [2, 8, 8, 8, 1]
linear = nb.MLP(sizes, hidden="identity", output="identity", seed=19)
L.say(f"network {'-'.join(map(str, sizes))}, identity activations everywhere, "
      f"{linear.n_params} parameters")


def collapse(net):
    """The single linear map (W, b) the network computes."""
    W, b = net.W[1].copy(), net.b[1].copy()
    for l in range(2, net.L + 1):
        W, b = net.W[l] @ W, net.W[l] @ b + net.b[l]
    return W, b


probe = np.random.default_rng(19).uniform(-2, 2, size=(100, 2))
np.savez(L.path("probe.npz"), probe=probe)
L.section("At the initial weights")
W, b = collapse(linear)
L.matrix("W = W[4] W[3] W[2] W[1]", W)
L.matrix("b", b[None, :])
gap = L.value("max |a[L] - (W x + b)| on 100 random inputs",
              np.abs(linear.forward(probe) - (probe @ W.T + b)).max())
check(gap < 1e-12, "the deep linear network is not one linear map")
L.say("the four layers compute exactly one linear map (up to rounding)")

L.section("The best linear fit of XOR, computed")
A = np.column_stack([X, np.ones(4)])
coef = np.linalg.lstsq(A, Y, rcond=None)[0]
best = L.value("least-squares MSE of any linear map on XOR", np.mean((A @ coef - Y) ** 2))
L.matrix("least-squares [w_1, w_2, b]", coef.T)
check(np.abs(coef[:2]).max() < 1e-12 and abs(coef[2, 0] - Y.mean()) < 1e-12,
      "the least-squares fit is not the constant mean(y)")
L.say("the best linear map predicts the same value for all four cases: w = 0, b = mean(y)")

epochs = 300 if L.quick else 1000
histories = {}
nets = {"identity": linear, "tanh": nb.MLP(sizes, hidden="tanh", output="identity", seed=19)}
for name, net in nets.items():
    histories[name] = net.fit(X, Y, loss="mse", optimizer=nb.Adam(lr=0.01), epochs=epochs,
                              batch_size=4, shuffle=False, verbose=0)
    net.save(L.path(f"net_{name}.npz"))

L.section(f"After {epochs} full-batch steps of Adam(lr=0.01) on XOR, MSE")
W, b = collapse(linear)
L.matrix("trained W = W[4] W[3] W[2] W[1]", W)
L.matrix("trained b", b[None, :])
gap = L.value("max |a[L] - (W x + b)| after training",
              np.abs(linear.forward(probe) - (probe @ W.T + b)).max())
J = {name: L.value(f"{name} network: MSE on XOR", net.evaluate(X, Y, "mse"))
     for name, net in nets.items()}
for name, net in nets.items():
    for x, a in zip(X.astype(int), net.forward(X)[:, 0]):
        L.value(f"{name} network: a[L] for x = ({x[0]}, {x[1]})", a)
check(gap < 1e-12 and J["identity"] >= best - 1e-12, "training made the network nonlinear")
check(J["identity"] - best < 1e-3 and np.abs(linear.forward(probe) - 0.5).max() < 1e-3,
      "the linear network did not reach the best linear fit, 0.5 everywhere")
check(J["tanh"] < 0.01 * best, "the tanh network did not fit XOR")
L.say(f"still one linear map; its MSE {J['identity']:.4g} cannot go below the least-squares "
      f"{best:.4g} and reached it, while the same layers with tanh reach {J['tanh']:.4g}")

fig, axes = plots.figure(10, 4, ncols=2)
grid = np.linspace(-0.5, 1.5, 101)
gx, gy = np.meshgrid(grid, grid)
for ax, (name, net) in zip(axes, nets.items()):
    out = net.forward(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    cs = ax.contourf(gx, gy, out, levels=np.linspace(-0.25, 1.25, 16), cmap="RdBu_r",
                     extend="both")
    if name == "tanh":   # the linear map is 0.5 everywhere: its 0.5 contour would be noise
        ax.contour(gx, gy, out, levels=[0.5], colors="k", linewidths=1.5)
    fig.colorbar(cs, ax=ax, label="network output a[L]")
    for target, marker, c in ((0, "o", plots.COLORS[0]), (1, "^", plots.COLORS[1])):
        rows = Y[:, 0] == target
        ax.scatter(X[rows, 0], X[rows, 1], s=70, marker=marker, color=c, edgecolor="k",
                   label=f"y = {target}", zorder=3)
    ax.set(xlabel="x_1", ylabel="x_2", title=f"{name} hidden units: MSE {J[name]:.4g}"
           + ("" if name == "tanh" else f", a[L] in [{out.min():.4g}, {out.max():.4g}]"))
    ax.legend(fontsize=8, loc="upper right")
fig.suptitle("Four identity layers are one linear map: on XOR it outputs 0.5 everywhere "
             "(left); tanh units fit XOR (right, black: a[L] = 0.5)")
L.figure(fig, "outputs.png")

fig, ax = plots.figure(6, 3.6)
for i, (name, h) in enumerate(histories.items()):
    ax.plot(np.arange(1, epochs + 1), h.loss, color=plots.COLORS[2 + i],
            label=f"{name} hidden units")
ax.axhline(best, color="k", ls="--", lw=1, label=f"best linear map ({best:.4g})")
ax.set(yscale="log", xlabel="step (full batch)", ylabel="MSE on XOR (log scale)",
       title="The deep linear net stops at the least-squares floor")
ax.legend(fontsize=8)
L.figure(fig, "loss.png")
L.done()
