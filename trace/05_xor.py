"""Lesson 5: XOR, which no perceptron can learn, solved by one hidden layer.

A 2-2-1 network (tanh hidden units, a sigmoid output, binary cross-entropy)
trained by gradient descent: each hidden unit draws one line, the output
combines them. We record the run, replay its last step with the numbers,
and plot the decision boundary.
"""
import numpy as np

import numbann as nb
from numbann.trace import Recorder, plots

from _lesson import Lesson, check

L = Lesson("05_xor", "Lesson 5: XOR with one hidden layer")
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([0, 1, 1, 0], dtype=float)
epochs = 600 if L.quick else 2000
net = nb.MLP([2, 2, 1], hidden="tanh", output="sigmoid", seed=1)
rec = Recorder(steps=slice(0, None, 10))   # every 10th step, everything
hist = net.fit(X, Y, loss="bce", optimizer=nb.optim.SGD(lr=0.5), epochs=epochs, batch_size=4,
               shuffle=False, trace=rec, verbose=0)
tr = rec.trace
L.say(f"trained {epochs} full-batch steps with SGD(lr=0.5); recorded {len(tr)} of them")
L.say(repr(tr))

L.section("The learned network")
L.matrix("W1", net.W[1])
L.matrix("b1", net.b[1][None, :])
L.matrix("W2", net.W[2])
L.matrix("b2", net.b[2][None, :])
out = net.forward(X)[:, 0]
for x, o in zip(X.astype(int), out):
    L.value(f"a2 for x = ({x[0]}, {x[1]})", o)
L.value("accuracy (%)", 100 * net.score(X, Y))
L.value("final loss", hist.loss[-1])
check(np.array_equal(net.predict(X), Y.astype(int)), "XOR not learned")

L.section("Where the output is high: the two hidden units' lines")
W1, b1 = net.W[1], net.b[1]
for j in range(2):
    L.say(f"unit {j}: the line z[1]_{j} = {W1[j, 0]:.4g} x_1 {W1[j, 1]:+.4g} x_2 {b1[j]:+.4g} = 0")
# the window of the figure, as a grid; which side of each line every point is on
lo, hi, n = -0.5, 1.5, 201
g1, g2 = np.meshgrid(np.linspace(lo, hi, n), np.linspace(lo, hi, n))
P = np.column_stack([g1.ravel(), g2.ravel()])
Z = P @ W1.T + b1
high = net.forward(P)[:, 0] > 0.5
L.say(f"grid: {n} x {n} points on [{lo:g}, {hi:g}]^2 (the figure's window)")
crossing = np.linalg.solve(W1, -b1)
inside = bool(np.all((crossing >= lo) & (crossing <= hi)))
L.say(f"the lines cross at ({crossing[0]:.4g}, {crossing[1]:.4g}), "
      f"{'inside' if inside else 'outside'} the window")
check(not inside, "the hidden lines cross inside the window: 'between the lines' is not a strip")
# a point is between the lines when it is on line 1's side of line 0 and on line 0's side of line 1
on_line = [P[np.argmin(np.abs(Z[:, j]))] for j in range(2)]
side = [np.sign(on_line[1 - j] @ W1[j] + b1[j]) for j in range(2)]
between = (np.sign(Z[:, 0]) == side[0]) & (np.sign(Z[:, 1]) == side[1])
inner = L.value("points between the lines with a2 > 0.5 (%)", 100 * high[between].mean())
outer = L.value("points outside the lines with a2 > 0.5 (%)", 100 * high[~between].mean())
check(max(inner, outer) > 90 and min(inner, outer) < 10, "the output is not decided by the lines")
corners_between = [f"({x[0]}, {x[1]})" for x in X.astype(int)
                   if np.all(np.sign(x @ W1.T + b1) == np.array(side))]
word = ("low", "high") if inner < 10 else ("high", "low")
L.say(f"The output unit is {word[0]} between the two lines ({inner:.4g}% of those points have "
      f"a2 > 0.5), where {' and '.join(corners_between)} lie, and {word[1]} outside "
      f"them ({outer:.4g}%).")
targets_between = {Y[i] for i, x in enumerate(X.astype(int))
                   if f"({x[0]}, {x[1]})" in corners_between}
check(targets_between == {float(word[0] == "high")},
      "the corners between the lines do not have the target the output gives them")

L.section("The first recorded step, replayed for sample x = (1, 0)")
L.say("(step 0: the gradients are still large, so the update changes the weights visibly)")
L.say(tr.replay(0, sample=2, notation="course"))

fig, ax = plots.figure(5.8, 4.6)
plots.decision_boundary(net, X, Y, ax=ax, title=f"XOR: a2 is {word[0]} between the hidden units' "
                                                f"lines, {word[1]} outside")
xs = np.linspace(lo, hi, 2)
for j, dash in enumerate(("--", ":")):
    ax.plot(xs, -(W1[j, 0] * xs + b1[j]) / W1[j, 1], dash, color="#333", lw=1.6,
            label=f"z[1]_{j} = 0 (hidden unit {j})")
ax.set_xlim(lo, hi)
ax.set_ylim(lo, hi)
ax.legend(fontsize=7, loc="upper center", framealpha=0.9)
L.figure(fig, "decision_boundary.png")
L.figure(plots.loss_curves(hist, title=f"XOR: training loss falls to {hist.loss[-1]:.4g}"),
         "loss.png")
norms = tr.diagnostics().grad_norm
check(all(v[-1] < 0.1 * v[0] for v in norms.values()) and hist.loss[-1] < 0.1 * hist.loss[0],
      "the gradient norms and the loss did not both fall")
L.figure(plots.grad_norms(tr, title="XOR: gradient norm per layer shrinks as the loss falls"),
         "grad_norms.png")
L.done()
