"""Lesson 2: two-layer backprop, vectorized over a batch.

The course writes examples as columns, X = [x(1) ... x(m)], and for a tanh
hidden layer and a sigmoid output with binary cross-entropy:

    Z1 = W1 X + b1,   A1 = g1(Z1),   Z2 = W2 A1 + b2,   A2 = sigma(Z2)
    dZ2 = A2 - Y
    dW2 = 1/m dZ2 A1^T          db2 = 1/m sum dZ2
    dZ1 = W2^T dZ2 * g1'(Z1)
    dW1 = 1/m dZ1 X^T           db1 = 1/m sum dZ1

numbann is batch-major (rows are samples) and folds 1/m into delta, so
Z[l] = z[l].T and dZ[l] = m delta[l].T. We record one step of a 3-4-1
network on m = 5 samples and show every matrix in the course's layout,
each checked against what numbann recorded.
"""
import numpy as np

import numbann as nb
from numbann.trace import Recorder, plots, record_step
from numbann.trace.style import sig

from _lesson import Lesson, check

L = Lesson("02_vectorized_backprop", "Lesson 2: two-layer vectorized backprop")
m, n0, n1 = 5, 3, 4
rng = np.random.default_rng(2)
X = np.round(rng.normal(size=(m, n0)), 2)
Y = np.array([[1.0], [0.0], [1.0], [1.0], [0.0]])
net = nb.MLP([n0, n1, 1], hidden="tanh", output="sigmoid", seed=2)
net.b[1] = np.round(rng.normal(scale=0.1, size=n1), 2)
net.b[2] = [0.05]

L.section("The batch and the parameters (course layout: one column per sample)")
L.matrix("X", X.T, "(A0; n_0 x m)")
L.matrix("Y", Y.T, "(1 x m)")
L.matrix("W1", net.W[1])
L.matrix("b1", net.b[1][:, None])
L.matrix("W2", net.W[2])
L.matrix("b2", net.b[2][:, None])

tr = record_step(net, X, Y, "bce")   # one forward and backward pass, no update
r = tr[0]

L.section("Forward pass")
Z1 = L.matrix("Z1", r.z[1].T, "= W1 X + b1")
A1 = L.matrix("A1", r.a[1].T, "= tanh(Z1)")
Z2 = L.matrix("Z2", r.z[2].T, "= W2 A1 + b2")
A2 = L.matrix("A2", r.a[2].T, "= sigma(Z2)")
L.value("J", r.loss, "= -1/m sum [Y log A2 + (1 - Y) log(1 - A2)]")

L.section("Backward pass (course form; numbann's delta[l] = dZ[l].T / m)")
dZ2 = L.matrix("dZ2", m * r.delta[2].T, "= A2 - Y")
check(np.allclose(dZ2, A2 - Y.T, rtol=0, atol=1e-14), "dZ2 != A2 - Y")
dW2 = L.matrix("dW2", r.dW[2], "= 1/m dZ2 A1^T (recorded dW[2])")
check(np.allclose(dW2, dZ2 @ A1.T / m, rtol=1e-12, atol=1e-15), "dW2 differs from the formula")
db2 = L.matrix("db2", r.db[2][:, None], "= 1/m sum over columns of dZ2 (recorded db[2])")
check(np.allclose(db2[:, 0], dZ2.sum(axis=1) / m, rtol=1e-12, atol=1e-15), "db2 differs")
dZ1 = L.matrix("dZ1", m * r.delta[1].T, "= W2^T dZ2 * g1'(Z1), g1'(Z1) = 1 - A1^2")
check(np.allclose(dZ1, (net.W[2].T @ dZ2) * (1 - A1 ** 2), rtol=1e-12, atol=1e-15), "dZ1 differs")
dW1 = L.matrix("dW1", r.dW[1], "= 1/m dZ1 X^T (recorded dW[1])")
check(np.allclose(dW1, dZ1 @ X / m, rtol=1e-12, atol=1e-15), "dW1 differs")
db1 = L.matrix("db1", r.db[1][:, None], "= 1/m sum over columns of dZ1 (recorded db[1])")
L.say("\nEvery course formula above matches the gradient numbann recorded.")

L.section("The same step as numbann replays it (tr.replay(0, vectorized=True))")
L.say(tr.replay(0, vectorized=True))

# figures: every matrix as a heat map; then a short run of full-batch steps
mats = [("X (A0)", X.T), ("Z1", Z1), ("A1", A1), ("A2", A2), ("dZ2 = A2 - Y", dZ2),
        ("dW2", dW2), ("dZ1", dZ1), ("dW1", dW1)]
fig, axes = plots.figure(9, 4.4, ncols=4, nrows=2)
for ax, (name, M) in zip(axes.ravel(), mats):
    v = 1.6 * max(np.abs(M).max(), 1e-12)
    ax.imshow(M, cmap="RdBu_r", vmin=-v, vmax=v, aspect="auto")
    for (i, j), val in np.ndenumerate(M):
        ax.text(j, i, f"{val:.2f}", ha="center", va="center", fontsize=6)
    ax.set_title(f"{name}  {M.shape[0]}x{M.shape[1]}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("One step of two-layer backprop, course layout (columns = samples)\n"
             "colour: red > 0, blue < 0, each panel scaled to its own largest |value|",
             fontsize=10)
L.figure(fig, "matrices.png")

steps = 30 if L.quick else 200
rec = Recorder(keep=("dW", "norms"))
net.fit(X, Y, loss="bce", optimizer=nb.optim.SGD(lr=1.0), epochs=steps, batch_size=m,
        shuffle=False, trace=rec, verbose=0)
J_first = rec.trace.loss[0]
J_last = L.value("J_after_training", net.loss(X, Y, "bce"), f"after {steps} full-batch steps, lr 1")
check(J_last < J_first, "full-batch gradient descent did not lower J")
L.figure(plots.loss_curves(rec.trace, title=f"Full-batch gradient descent, 5 samples: "
                                            f"J {sig(J_first)} -> {sig(J_last)}"),
         "loss.png")
L.done()
