"""Lesson 3: zero initialization never breaks symmetry; small random init does.

The course's 2-2-1 network with every W and b set to zero: both hidden units
compute the same a, receive the same delta, get the same gradient
(dW_1 = dW_2 = ...) and so stay identical forever; the network is no better
than one hidden unit, and cannot learn XOR. With W ~ N(0, 0.1^2), b = 0 the
units start apart and move apart.

We train both on XOR with full-batch gradient descent, record every step,
and measure the symmetry: the largest distance between two hidden units'
weight rows [W1[j], b1[j]] (and between their delta columns).
"""
import numpy as np

import numbann as nb
from numbann.trace import Recorder, diagnostics, plots
from numbann.trace import view
from numbann.trace.style import palette, pct

from _lesson import Lesson, check

L = Lesson("03_zero_init", "Lesson 3: zero vs small random initialization")
# XOR with unequal classes (4 of class 0, 6 of class 1), slightly jittered: with
# balanced classes the zero-init gradient would be exactly 0 and nothing would move
corners = np.array([[0, 0], [0, 0], [1, 1], [1, 1], [0, 1], [0, 1], [0, 1],
                    [1, 0], [1, 0], [1, 0]], dtype=float)
X = np.round(corners + np.random.default_rng(0).normal(scale=0.1, size=corners.shape), 3)
Y = np.logical_xor(corners[:, 0], corners[:, 1]).astype(float)
lr, steps = 5.0, (1500 if L.quick else 4000)
L.value("learning_rate", lr)
L.value("steps", steps)
L.matrix("X", X)
L.matrix("Y", Y[None, :])
L.say("data: XOR-like, all 10 samples in every step (full batch), loss: binary cross-entropy")

runs = {}
for name, init in (("zeros", "zeros"), ("random", nb.initializers.Normal(0.1))):
    L.section(f"init = {name}")
    net = nb.MLP([2, 2, 1], hidden="sigmoid", output="sigmoid", init=init, seed=3)
    L.matrix(f"{name}: initial W1", net.W[1])
    L.matrix(f"{name}: initial b1", net.b[1][None, :])
    L.matrix(f"{name}: initial W2", net.W[2])
    L.matrix(f"{name}: initial b2", net.b[2][None, :])
    rec = Recorder(keep=("W", "z", "a", "delta", "dW", "db"))
    net.fit(X, Y, loss="bce", optimizer=nb.optim.SGD(lr=lr), epochs=steps, batch_size=len(X),
            shuffle=False, trace=rec, verbose=0)
    tr = rec.trace
    d = diagnostics(tr)
    sym, dsym = d.symmetry[1], d.delta_symmetry[1]
    L.say(f"  W1 after the update of 5 of the {steps} steps (rounded to 4 decimals; the other "
          f"{steps - 5} not shown), and that step's dW1:")
    L.say(f"  initial   : W1 rows {tr[0].W_before[1].round(4).tolist()}")
    for s in (0, 1, 10, 100, steps - 1):
        r = tr[s]
        L.say(f"  step {s:>5}: W1 rows {r.W_after[1].round(4).tolist()}, "
              f"dW1 rows {r.dW[1].round(6).tolist()}")
    L.matrix(f"{name}: W1 after step 100", tr[100].W_after[1])
    same_grad = all(np.array_equal(r.dW[1][0], r.dW[1][1]) for r in tr)
    L.say(f"  dW1 row 0 == dW1 row 1 at every step: {same_grad}")
    L.value(f"{name}: symmetry at step 0", sym[0])
    L.value(f"{name}: symmetry at last step", sym[-1], "(max distance between hidden units' rows)")
    L.value(f"{name}: max symmetry over all steps", sym.max())
    L.value(f"{name}: delta symmetry at last step", dsym[-1])
    L.matrix(f"{name}: final W1", net.W[1])
    L.value(f"{name}: final loss", net.loss(X, Y, "bce"))
    L.value(f"{name}: accuracy (%)", 100 * net.score(X, Y))
    runs[name] = (net, tr, d)

L.section("What the numbers say")
zero_sym, rand_sym = runs["zeros"][2].symmetry[1], runs["random"][2].symmetry[1]
check(np.all(zero_sym == 0), "zero init: the hidden units separated")
check(np.all(rand_sym > 0), "random init: two units coincide")
L.say(f"zeros:  the two hidden units are bit-for-bit identical at all {steps} steps "
      f"(symmetry exactly 0), accuracy {runs['zeros'][0].score(X, Y):.2f}")
L.say(f"random: the units start {rand_sym[0]:.3g} apart and end {rand_sym[-1]:.3g} apart, "
      f"accuracy {runs['random'][0].score(X, Y):.2f}")

fig, axes = plots.figure(11, 4.0, ncols=2)
plots.hidden_weights(runs["zeros"][1], 1, ax=axes[0], title="zero init: the two units coincide")
plots.hidden_weights(runs["random"][1], 1, ax=axes[1], title="N(0, 0.1^2) init: they separate")
L.figure(fig, "hidden_weights.png")
steps_axis = runs["zeros"][1].steps
colors = palette(["zero init", "random init"])
L.figure(plots.curves(steps_axis, {"zero init": zero_sym, "random init": rand_sym},
                      title="Zero init: the distance between the units stays exactly 0",
                      xlabel="step", ylabel="max_jk ||[W1, b1]_j - [W1, b1]_k||", colors=colors),
         "symmetry.png")
fig, axes = plots.figure(9, 3.6, ncols=2)
for ax, (name, label) in zip(axes, (("zeros", "zero init"), ("random", "random init"))):
    plots.decision_boundary(runs[name][0], X, Y, ax=ax,
                            title=f"{label}: accuracy {pct(runs[name][0].score(X, Y))}")
L.figure(fig, "decision_boundaries.png")
L.say(f"[page] {view(runs['zeros'][1], L.path('zero_init.html'), title='Lesson 3: zero init')}")
L.done()
