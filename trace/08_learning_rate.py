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
    L.section(f"eta {label}: {lr:.5g} = {lr * lam_max:.3g} / lambda_max")
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
for label, sched in schedules.items():
    net = nb.MLP([2, 1], output="identity", init="zeros")
    rec = Recorder(keep=(), steps=lambda s: s % 4 == 0)   # 4 steps per epoch: each epoch's first
    net.fit(Xs, Ys, optimizer=nb.optim.SGD(lr=base), schedule=sched, epochs=12, batch_size=4,
            trace=rec, verbose=0)
    recorded = rec.trace.lr
    expected = sched.values(12, base)
    L.say(f"  {sched.name}: recorded {np.round(recorded, 5).tolist()}")
    check(np.allclose(recorded, expected, rtol=1e-12), f"{sched.name}: recorded lr != formula")
L.say("The recorded rates equal the formulas.")

L.figure(plots.curves(None, {f"{k}: eta = {rates[k] * lam_max:.2g}/lambda_max": (np.arange(steps), v)
                             for k, v in losses.items()}, log=True,
                      title="Gradient descent with three learning rates",
                      xlabel="step", ylabel="J"),
         "learning_rates.png")
L.figure(plots.lr_schedules(schedules, T, base), "schedules.png")
L.done()
