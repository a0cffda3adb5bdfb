"""Lesson 4: the perceptron.

output = 1 if sum_j w_j x_j > threshold else 0. The course's example: go to
the cheese festival on Saturday? x1 = good weather, x2 = going with a
friend, x3 = venue easy to reach, with w = (6, 2, 2). Then the learning rule
w_j <- w_j + eta (y - yhat) x_j (and b <- b + eta (y - yhat), b = -threshold):
it learns AND and OR, and never converges on XOR.
"""
import itertools

import numpy as np

import numbann as nb
from numbann.trace import plots
from numbann.trace import style

from _lesson import Lesson, check

L = Lesson("04_perceptron", "Lesson 4: the perceptron")

L.section("The cheese festival: w = (6, 2, 2)")
w = np.array([6.0, 2.0, 2.0])
X3 = np.array(list(itertools.product([0, 1], repeat=3)), dtype=float)
go5 = nb.perceptron_output(X3, w, threshold=5)
go3 = nb.perceptron_output(X3, w, threshold=3)
L.say("weather friend easy | w.x | go (threshold 5) | go (threshold 3)")
for x, s, a, b in zip(X3.astype(int), X3 @ w, go5, go3):
    L.say(f"   {x[0]}       {x[1]}      {x[2]}   | {s:3.0f} |        {a}         |        {b}")
go5_weather = np.array_equal(go5, X3[:, 0])
go3_rule = np.array_equal(go3, np.maximum(X3[:, 0], X3[:, 1] * X3[:, 2]))
check(go5_weather and go3_rule, "the festival decisions are not the ones the lesson describes")
L.value("threshold 5: cases to go", go5.sum(), "(of the 8 cases): the weather alone decides")
L.value("threshold 3: cases to go", go3.sum(),
        "(of the 8 cases): good weather, or a friend and an easy trip")

L.section("The learning rule, step by step (eta = 1, w = 0, b = 0)")
gates = {"AND": np.array([0, 0, 0, 1.0]), "OR": np.array([0, 1, 1, 1.0]),
         "XOR": np.array([0, 1, 1, 0.0])}
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
eta, max_epochs = 1.0, (20 if L.quick else 100)
learned = {}
for gate, y in gates.items():
    L.say(f"\n{gate}: targets {y.astype(int).tolist()}")
    wg, bg = np.zeros(2), 0.0
    shown, updates, listed = 0, 0, 6
    for epoch in range(max_epochs):
        mistakes = 0
        for xi, yi in zip(X, y):
            yhat = 1.0 if wg @ xi + bg > 0 else 0.0
            if yhat != yi:
                mistakes += 1
                new_w, new_b = wg + eta * (yi - yhat) * xi, bg + eta * (yi - yhat)
                updates += 1
                if shown < listed:
                    L.say(f"  epoch {epoch}, x = {xi.astype(int).tolist()}: yhat = {yhat:.0f}, "
                          f"y = {yi:.0f} -> w <- {wg.tolist()} + {eta:g} ({yi:.0f} - {yhat:.0f}) "
                          f"{xi.astype(int).tolist()} = {new_w.tolist()}, b <- {new_b:g}")
                    shown += 1
                wg, bg = new_w, new_b
        if mistakes == 0:
            break
    if updates > shown:
        L.say(f"  ... {updates - shown} more updates not listed ({updates} in all)")
    L.value(f"{gate}: updates", updates, f"(one per mistake; the first {shown} listed)")
    # numbann's perceptron (a compiled kernel) must agree with the rule above
    p = nb.Perceptron(2, lr=eta).fit(X, y, epochs=max_epochs)
    check(np.array_equal(p.w, wg) and p.b[0] == bg, f"{gate}: kernel and rule disagree")
    L.value(f"{gate}: epochs", len(p.mistakes))
    L.value(f"{gate}: epochs with mistakes", sum(k > 0 for k in p.mistakes))
    L.value(f"{gate}: converged", float(p.converged))
    L.value(f"{gate}: w1", p.w[0])
    L.value(f"{gate}: w2", p.w[1])
    L.value(f"{gate}: b", p.b[0])
    more = len(p.mistakes) - 12
    L.say(f"  mistakes per epoch: {p.mistakes[:12]}"
          + (f" ... and {more} more epochs not listed" if more > 0 else ""))
    L.say(f"  predictions {p.predict(X).tolist()} for targets {y.astype(int).tolist()}")
    learned[gate] = p

check(learned["AND"].converged and learned["OR"].converged, "AND/OR did not converge")
check(not learned["XOR"].converged, "XOR converged?!")
L.say(f"\nXOR: still wrong after {max_epochs} epochs; no line separates (0,1),(1,0) from "
      "(0,0),(1,1), so the rule can never stop making mistakes.")

fig, axes = plots.figure(10, 4.2, ncols=3)
for ax, (gate, p) in zip(axes, learned.items()):
    y = gates[gate]
    style.shade_halfplanes(ax, p.w, p.b[0], (-0.5, 1.5), (-0.5, 1.5))
    for label in (0, 1):
        pts = X[y == label]
        ax.scatter(pts[:, 0], pts[:, 1], s=90, color=style.CLASS_COLORS[label], marker="o^"[label],
                   edgecolor="k", zorder=3, label=f"target y = {label}")
    on_line = int(np.sum(X @ p.w + p.b[0] == 0))
    ax.set_title(f"{gate}: {'converged' if p.converged else 'never converges'} "
                 f"({len(p.mistakes)} epochs)\nw = ({p.w[0]:g}, {p.w[1]:g}), b = {p.b[0]:g}; "
                 f"{on_line} on the line", fontsize=9)
    style.label(ax, "x_1 (input 1)", "x_2 (input 2)")
handles, labels = axes[0].get_legend_handles_labels()
fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=8,
           title="shaded: the perceptron's output; a point on the line gets 0 (w . x + b > 0 is strict)",
           title_fontsize=8)
L.figure(fig, "gates.png")
L.figure(plots.curves(None, {g: (np.arange(1, len(p.mistakes) + 1), p.mistakes)
                             for g, p in learned.items()}, style="o-",
                      title="AND and OR reach 0 mistakes; XOR never does",
                      xlabel="epoch (one pass over the 4 cases)", ylabel="mistakes in the epoch"),
         "mistakes.png")
L.done()
