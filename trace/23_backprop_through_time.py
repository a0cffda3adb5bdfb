"""Lesson 23: backpropagation through time, and why gradients vanish or
explode along a sequence.

An RNN applies the same weights at every time step,
    z_t = W_x x_t + W_h h_(t-1) + b,   h_t = g(z_t),   h_0 = 0,
so the error signal at step t collects what flows back from step t + 1:
    delta_t = (dJ/dh_t from above + W_h^T delta_(t+1)) * g'(z_t),
and a weight's gradient is a sum over the time steps it was used at. Going
back k steps multiplies delta by W_h^T and g' k times: with W_h = s I and
g' = 1 (ReLU on positive z) exactly s^k, so it vanishes for s < 1 and
explodes for s > 1; tanh's g' <= 1 shrinks it further.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots, record_step
from numbann.trace.style import label, legend, palette

from _lesson import Lesson, check

L = Lesson("23_backprop_through_time", "Lesson 23: backpropagation through time")

L.section("One sequence, every time step")
net = nb.Sequential((4, 1), [nb.RNN(2), nb.Dense(1, "sigmoid")], seed=3)
x = np.array([[[1.0], [0.0], [-1.0], [0.5]]])
tr = record_step(net, x, np.array([[1.0]]), "bce")
L.say(tr.replay(0))
ex = tr.explain(0, "W", 1, 0, 1)          # W[1] = [W_x | W_h]: column 1 is W_h[0, 0]
L.say(ex)
check(ex.ok, "the sum over time steps does not give the recorded dW_h")
first_terms = ex.terms.reshape(1, 4)[:, 0]
check(np.all(first_terms == 0), "a W_h term at t = 1 is not 0")
L.value("dJ/dW_h[0,0]", ex.product)
L.say("Its t = 1 term is 0 (checked): it multiplies h_0 = 0, as every W_h term at t = 1 does.")

L.section("Vanishing and exploding: W_h = s I, T = 20 steps")
T, H = 20, 3
X = np.full((1, T, 1), 0.5)
scales = (0.5, 0.9, 1.0, 1.1)
colors = palette([f"s = {s}" for s in scales])
norms = {}
for g in ("relu", "tanh"):
    for s in scales:
        rnn = nb.Sequential((T, 1), [nb.RNN(H, g), nb.Dense(1, "identity")], seed=0)
        rnn.W_x[1] = np.full((H, 1), 0.5)
        rnn.W_h[1] = s * np.eye(H)
        rnn.b[1] = np.full(H, 0.1 if g == "tanh" else 1.0)   # relu: every z_t > 0, g' = 1
        step = record_step(rnn, X, np.zeros((1, 1)), "mse")[0]
        norm = np.linalg.norm(step.delta_steps[1][0], axis=1)
        norms[g, s] = norm
        ratio = norm[0] / norm[-1]
        L.value(f"{g} s = {s}: ||delta_1|| / ||delta_T||", ratio)
        if g == "relu":
            check(np.all(step.z_steps[1] > 0), "a relu pre-activation is not positive")
            check(np.isclose(ratio, s ** (T - 1), rtol=1e-10),
                  f"relu, s = {s}: the ratio is not s^(T-1)")
        else:
            check(ratio < s ** (T - 1), f"tanh, s = {s}: the ratio is not below s^(T-1)")
L.say(f"ReLU with every z_t > 0: each ratio equals s^(T-1) = s^{T - 1} (checked): "
      f"{norms['relu', 0.5][0] / norms['relu', 0.5][-1]:.4g} for s = 0.5 (vanishing), "
      f"{norms['relu', 1.1][0] / norms['relu', 1.1][-1]:.4g} for s = 1.1 (exploding).")
L.say("tanh: every ratio is below s^(T-1) (checked), since g'(z) = 1 - h^2 < 1.")
h = record_step(rnn, X, np.zeros((1, 1)), "mse")[0].h_steps[1][0]   # tanh, s = 1.1
h_max, slope_min = float(np.abs(h).max()), float((1 - h ** 2).min())
check(h_max > 0.8 and slope_min < 0.3, "the tanh states did not saturate")
L.say(f"With s = 1.1 the tanh states grow until they saturate: |h_t| reaches {h_max:.4g}, "
      f"where g' = 1 - h^2 falls to {slope_min:.4g}; the product of these small factors "
      f"makes delta vanish ({norms['tanh', 1.1][0] / norms['tanh', 1.1][-1]:.4g}) where "
      f"ReLU's exploded.")

L.section("Clipping the exploding gradient (relu, s = 1.1)")
exploding = nb.Sequential((T, 1), [nb.RNN(H, "relu"), nb.Dense(1, "identity")], seed=0)
exploding.W_x[1] = np.full((H, 1), 0.5)
exploding.W_h[1] = 1.1 * np.eye(H)
exploding.b[1] = np.full(H, 1.0)
grad_norm = np.linalg.norm(exploding.gradient(X, np.zeros((1, 1)), "mse")[1])
L.value("||dJ/dtheta|| before clipping", grad_norm)
changes = []
for clip in (None, 1.0):
    run = exploding.copy()
    before = run.theta.copy()
    run.fit(X, np.zeros((1, 1)), loss="mse", optimizer=nb.SGD(lr=0.01), epochs=1, batch_size=1,
            verbose=0, clip_norm=clip)
    changes.append(run.theta - before)
    step = np.linalg.norm(changes[-1])
    L.value(f"one SGD step (lr 0.01), clip_norm = {clip}: ||theta change||", step)
    expected = 0.01 * (grad_norm if clip is None else min(grad_norm, clip))
    check(np.isclose(step, expected, rtol=1e-9), "the step is not lr times the (clipped) norm")
cosine = changes[0] @ changes[1] / (np.linalg.norm(changes[0]) * np.linalg.norm(changes[1]))
check(cosine > 1 - 1e-9, "clipping changed the step's direction")
L.say(f"clip_norm = 1 rescales the gradient to norm 1 when it is larger (here "
      f"{grad_norm:.4g}): the step shrinks from {0.01 * grad_norm:.4g} to 0.01, the usual cure "
      f"for gradients exploding through time, while its direction is kept.")

steps = np.arange(1, T + 1)
fig, axes = plots.figure(10.0, 3.8, ncols=2)
for ax, g in zip(axes, ("relu", "tanh")):
    for s in scales:
        color = colors[f"s = {s}"]
        ax.semilogy(steps, norms[g, s] / norms[g, s][-1], "o-", ms=3, color=color,
                    label=f"s = {s}")
        if g == "tanh":
            ax.semilogy(steps, float(s) ** (T - steps), ":", color=color, lw=1)
    label(ax, "time step t", "||delta_t|| / ||delta_T|| (log scale)",
          "relu, every z_t > 0: exactly s^(T-t)" if g == "relu" else
          "tanh: below s^(T-t) (dotted), g' = 1 - h^2 < 1")
    ax.set_xticks(steps[::2])
    legend(ax)
L.figure(fig, "delta_through_time.png")
L.figure(plots.hidden_states(record_step(rnn, X, np.zeros((1, 1)), "mse"), 1,
                             title=f"tanh, s = 1.1: h_t saturates at {h_max:.3g} "
                                   f"(g' down to {slope_min:.3g})"),
         "hidden_states.png")
L.done()
