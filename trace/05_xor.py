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
L.value("accuracy", net.score(X, Y))
L.value("final loss", hist.loss[-1])
check(np.array_equal(net.predict(X), Y.astype(int)), "XOR not learned")
L.say("Each hidden unit j draws the line W1[j] . x + b1[j] = 0; the output unit is "
      "high between the two lines and low outside.")

L.section("The last recorded step, replayed for sample x = (1, 0)")
last = int(tr.steps[-1])
L.say(tr.replay(last, sample=2))

L.figure(plots.decision_boundary(net, X, Y, title="XOR: decision boundary of a 2-2-1 net"),
         "decision_boundary.png")
L.figure(plots.loss_curves(hist, title="XOR: training loss"), "loss.png")
L.figure(plots.grad_norms(tr, title="XOR: gradient norm per layer"), "grad_norms.png")
L.done()
