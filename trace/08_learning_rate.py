"""Lesson 8: the learning rate, and schedules that change it.

On linear regression with MSE the loss is a quadratic bowl whose steepest
direction has curvature lambda_max (the largest eigenvalue of the Hessian
H = 2/m [X 1]^T [X 1]). Gradient descent shrinks the error along that
direction by |1 - eta lambda_max| per step: eta too small crawls, eta near
1/lambda_max is right, eta > 2/lambda_max diverges.

Then the schedules of the course: step decay alpha0 gamma^floor(t/k),
exponential alpha0 e^{-k t} and cosine annealing; a trace of fit records
the rate in force at every step, which must follow the formula.
"""

import numpy as np

import numbann as nb
from numbann.trace import Recorder, plots
from numbann.trace.style import palette, sig

from _lesson import Lesson, check

L = Lesson("08_learning_rate", "Lesson 8: the learning rate and its schedules")
rng = np.random.default_rng(8)
m = 64
X = rng.normal(size=(m, 2)) * [1.0, 0.5]
Y = X @ np.array([[1.5], [-2.0]]) + 0.3 + 0.1 * rng.normal(size=(m, 1))
A = np.hstack([X, np.ones((m, 1))])
lam_max = float(np.linalg.eigvalsh(2 / m * A.T @ A).max())
np.savez(L.path("data.npz"), X=X, Y=Y)
L.value("lambda_max", lam_max, "(largest curvature of J = 1/m sum (a - y)^2)")
L.value("critical rate 2/lambda_max", 2 / lam_max)
steps = 40 if L.quick else 100
rates = {"too small": 0.02 / lam_max, "right": 1.0 / lam_max, "too large": 2.15 / lam_max}

losses = {}
for label, lr in rates.items():
    L.section(f"eta {label}: {lr:.5g} = {sig(lr * lam_max)} / lambda_max")
    net = nb.MLP([2, 1], output="identity", init="zeros")
    rec = Recorder(keep=("dW",))
    net.fit(X, Y, loss="mse", optimizer=nb.optim.SGD(lr=lr), epochs=steps, batch_size=m,
            shuffle=False, trace=rec, verbose=0)
    J = rec.trace.loss
    losses[label] = J
    L.value(f"{label}: eta", lr)
    for s in (0, 10, steps - 1):
        L.value(f"{label}: J at step {s}", J[s])
    L.say(f"  |1 - eta lambda_max| = {abs(1 - lr * lam_max):.3f} per step along the steep direction")
check(losses["right"][-1] < losses["too small"][-1], "the right rate is not better")
check(losses["too large"][-1] > losses["too large"][0], "the large rate did not diverge")

L.section("Schedules (base rate 0.1, 50 epochs)")
base, T = 0.1, 50
schedules = {"step decay 0.1 * 0.5^floor(t/10)": nb.schedules.StepDecay(10, gamma=0.5),
             "exponential 0.1 * exp(-0.05 t)": nb.schedules.ExpDecay(0.05),
             "cosine annealing, T_max = 50": nb.schedules.CosineAnnealing(T)}
for label, sched in schedules.items():
    v = sched.values(T, base)
    L.say(f"{label}:")
    for t in (0, 10, 25, 49):
        L.value(f"  {sched.name} lr at t = {t}", v[t])

L.section("The rate in force, as a trace of fit records it")
Xs, Ys = X[:16], Y[:16]
for sched in schedules.values():
    net = nb.MLP([2, 1], output="identity", init="zeros")
    rec = Recorder(keep=(), steps=lambda s: s % 4 == 0)   # 4 steps per epoch: each epoch's first
    net.fit(Xs, Ys, optimizer=nb.optim.SGD(lr=base), schedule=sched, epochs=12, batch_size=4,
            trace=rec, verbose=0)
    recorded = rec.trace.lr
    expected = sched.values(12, base)
    L.say(f"  {sched.name}: recorded {np.round(recorded, 5).tolist()}")
    check(np.allclose(recorded, expected, rtol=1e-12), f"{sched.name}: recorded lr != formula")
L.say("The recorded rates equal the formulas.")

L.section(f"What a schedule does to training: mini-batch SGD, batches of 4, {T} epochs")
epochs_run, batch = T, 4
optimum = np.linalg.lstsq(A, Y[:, 0], rcond=None)[0]
J_star = L.value("least-squares optimum J*", np.mean((A @ optimum - Y[:, 0]) ** 2),
                 "(the lowest J any weights reach)")
L.say(f"base rate {base:g}, the {m} samples in the same order every epoch; J over all {m} "
      "samples after each epoch, as excess J - J* over the optimum")
runs = {"constant rate": None, **schedules}
excess = {}
per_epoch = m // batch
for label, sched in runs.items():
    net = nb.MLP([2, 1], output="identity", init="zeros")
    rec = Recorder(keep=("W",), steps=lambda s: s % per_epoch == per_epoch - 1)  # epochs' ends
    net.fit(X, Y, loss="mse", optimizer=nb.optim.SGD(lr=base), schedule=sched,
            epochs=epochs_run, batch_size=batch, shuffle=False, trace=rec, verbose=0)
    W, b = rec.trace.series("W_after", 1)[:, 0], rec.trace.series("b_after", 1)[:, 0]
    J_epochs = np.mean((X @ W.T + b - Y) ** 2, axis=0)
    excess[label] = J_epochs - J_star
    L.value(f"{label}: J after the last epoch", J_epochs[-1],
            f"excess over J* {J_epochs[-1] - J_star:.4g}")
decaying = [k for k in schedules]
lower = [k for k in decaying if excess[k][-1] < excess["constant rate"][-1]]
check(len(lower) == len(decaying), "a decaying schedule did not end below the constant rate")
best = min(excess, key=lambda k: excess[k][-1])
L.say(f"With a constant rate the noise of the mini-batches keeps J {excess['constant rate'][-1]:.4g} "
      f"above the optimum; all {len(decaying)} decaying schedules end lower (lowest: {best}, "
      f"{excess[best][-1]:.4g}): smaller steps at the end average the noise out.")

colors = palette(rates)
fig, ax = plots.figure(6.5, 3.8)
plots.curves(None, {f"{k}: eta = {sig(rates[k] * lam_max)}/lambda_max": (np.arange(steps), v)
                    for k, v in losses.items()}, log=True, ax=ax,
             colors={f"{k}: eta = {sig(rates[k] * lam_max)}/lambda_max": colors[k] for k in rates},
             title="Too small crawls, 1/lambda_max converges, above 2/lambda_max diverges",
             xlabel="step (full-batch update)", ylabel="J (mean squared error)")
L.figure(fig, "learning_rates.png")
sched_colors = palette(runs)
fig, axes = plots.figure(11, 3.8, ncols=2)
plots.lr_schedules({"constant rate": np.full(T, base), **schedules}, T, base, ax=axes[0],
                   colors=sched_colors,
                   title=f"Three schedules from a base rate of {base:g}")
plots.curves(None, {k: (np.arange(1, epochs_run + 1), v) for k, v in excess.items()}, log=True,
             ax=axes[1], colors=sched_colors,
             title=f"Batches of {batch}: the decaying rates end closer to J*",
             xlabel="epoch", ylabel="J - J* after the epoch")
L.figure(fig, "schedules.png")
L.done()
