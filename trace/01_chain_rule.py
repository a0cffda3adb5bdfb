"""Lesson 1: the chain rule on one sigmoid neuron.

The course's worked example: z = w x + b, a = sigma(z), J = 1/2 (a - y)^2, so

    dJ/dw = dJ/da * da/dz * dz/dw = (a - y) * a (1 - a) * x

and w <- w - alpha dJ/dw. numbann records one forward and backward pass of a
1-1 network (a sigmoid output, MSE with the course's 1/2: reduction
"half_sum"), and we check the formula against the recorded gradient, then
watch a few gradient steps.
"""
import numpy as np

import numbann as nb
from numbann.trace import Recorder, plots, record_step
from numbann.trace import view
from numbann.trace.style import sig

from _lesson import Lesson, check

L = Lesson("01_chain_rule", "Lesson 1: the chain rule on one sigmoid neuron")
w, b, x, y, alpha = 0.6, -0.2, 1.5, 1.0, 2.0
steps = 10 if L.quick else 30

L.section("The neuron and its numbers")
L.value("w", w)
L.value("b", b)
L.value("x", x)
L.value("y", y)
L.value("alpha", alpha, "(learning rate)")

net = nb.MLP([1, 1], output="sigmoid", init="zeros")
net.W[1] = [[w]]
net.b[1] = [b]
loss = nb.losses.get("mse", "half_sum")  # J = 1/2 (a - y)^2 for one sample
tr = record_step(net, [[x]], [[y]], loss, optimizer=nb.optim.SGD(lr=alpha))
rec = tr[0]

L.section("Forward pass (recorded)")
z = rec.z[1][0, 0]
a = rec.a[1][0, 0]
L.say(f"z = w x + b: {w} * {x} + ({b})")
L.value("z", z)
L.say("a = sigma(z): 1 / (1 + e^-z)")
L.value("a", a)
L.say("J = 1/2 (a - y)^2, the course's loss for one sample:")
L.value("J", rec.loss)

L.section("Backward pass: the three factors of the chain rule")
dJda, dadz, dzdw = a - y, a * (1 - a), x
L.value("dJ/da", dJda, "= a - y")
L.value("da/dz", dadz, "= a (1 - a)")
L.value("dz/dw", dzdw, "= x")
formula = dJda * dadz * dzdw
L.value("dJ/dw", formula, "= (a - y) a (1 - a) x, the course's formula")
L.value("recorded dW", rec.dW[1][0, 0], "(what numbann's backward kernel computed)")
L.value("dJ/db", dJda * dadz, "= (a - y) a (1 - a), since dz/db = 1")
L.value("recorded db", rec.db[1][0])
check(abs(formula - rec.dW[1][0, 0]) <= 1e-12 * abs(formula), "dJ/dw differs from the record")

L.section("numbann's own explanation of that gradient (tr.explain)")
e = tr.explain(0, "W", 1, 0, 0)
L.say(e)
check(e.ok, "explain's product differs from the recorded gradient")

L.section("The update w <- w - alpha dJ/dw")
L.value("w_new", rec.W_after[1][0, 0], f"= {w} - {alpha} * ({formula:.6g})")
L.value("b_new", rec.b_after[1][0])
check(abs(rec.W_after[1][0, 0] - (w - alpha * formula)) < 1e-12, "update differs")

L.section(f"{steps} gradient steps on the same sample (fit with a trace)")
net.W[1] = [[w]]
net.b[1] = [b]
recorder = Recorder(keep=("W", "dW", "db", "a", "z"))
net.fit([[x]], [[y]], loss=loss, optimizer=nb.optim.SGD(lr=alpha), epochs=steps, batch_size=1,
        trace=recorder, verbose=0)
trace = recorder.trace
L.say(f"  w before each step's update, the first 3 steps and the last ({len(trace) - 4} steps "
      "in between not shown):")
for r in trace.records[:3] + trace.records[-1:]:
    L.say(f"  step {r.step}: w = {r.W_before[1][0, 0]:.6f}, a = {r.a[1][0, 0]:.6f}, "
          f"J = {r.loss:.6f}, dJ/dw = {r.dW[1][0, 0]:.6f}")
L.value("w_final", net.W[1][0, 0])
L.value("J_final", net.loss([[x]], [[y]], loss))
check(trace.loss[-1] < trace.loss[0], "the loss did not go down")

# figures: J(w) with the tangent of slope dJ/dw at w, and the steps taken
ws = np.linspace(-1.5, 3.5, 300)
Jw = 0.5 * (1 / (1 + np.exp(-(ws * x + b))) - y) ** 2
fig, ax = plots.figure(6, 3.8)
ax.plot(ws, Jw, color=plots.COLORS[0], lw=2, label="J(w) = 1/2 (sigma(w x + b) - y)^2")
J0 = rec.loss
ax.plot(ws, J0 + formula * (ws - w), "--", color=plots.COLORS[1],
        label=f"tangent at w = {w}: slope dJ/dw = {sig(formula)}")
path_w = trace.series("W_before", 1)[:, 0, 0]
ax.plot(path_w, trace.loss, "o", ms=4, color=plots.COLORS[2], label="gradient steps (b moves too)")
ax.set_ylim(-0.01, max(Jw) * 1.1)
ax.set_xlabel("w")
ax.set_ylabel("J (b fixed at its start for the curve)")
ax.set_title("One neuron: the gradient dJ/dw is the slope of J(w)")
ax.legend(fontsize=8)
L.figure(fig, "loss_and_tangent.png")
dJdw = trace.series("dW", 1)[:, 0, 0]
check(abs(dJdw[-1]) < abs(dJdw[0]), "the gradient did not shrink")
L.figure(plots.curves(trace.steps, {"J (this sample)": trace.loss, "dJ/dw": dJdw},
                      title="As J falls, the slope dJ/dw shrinks towards 0",
                      xlabel="step (one update of w and b)", ylabel="J and dJ/dw"),
         "steps.png")
L.say(f"[page] {view(tr, L.path('chain_rule.html'), title='Lesson 1: one neuron, one step')}")
L.done()
