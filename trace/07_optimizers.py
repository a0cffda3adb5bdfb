"""Lesson 7: optimizers on a ravine.

J(theta) = 1/2 (theta_1 - 2)^2 + 25/2 (theta_2 - 1)^2 is a ravine: 25 times
steeper across (theta_2) than along (theta_1). Plain gradient descent
bounces off the steep walls; momentum damps the bouncing (three forms);
AdaGrad, RMSProp and Adam rescale each coordinate; AdamW adds decoupled
weight decay; Newton's method uses the curvature and needs no learning rate.

Every update here is numbann's own optimizer kernel (``opt.step``) applied
to a 2-parameter theta with the analytic gradient of the surface; Newton's
method is ``numbann.optim.Newton``.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("07_optimizers", "Lesson 7: optimizers on a ravine")
CENTER = np.array([2.0, 1.0])
CURV = np.array([1.0, 25.0])
START = np.array([-6.0, 2.2])
steps = 60 if L.quick else 150


def J(x, y):
    return 0.5 * CURV[0] * (x - CENTER[0]) ** 2 + 0.5 * CURV[1] * (y - CENTER[1]) ** 2


def grad(theta):
    return CURV * (theta - CENTER)


optimizers = {
    "SGD": nb.optim.SGD(lr=0.075),
    "Momentum (torch form)": nb.optim.Momentum(lr=0.01, beta=0.9, form="torch"),
    "Momentum (average form)": nb.optim.Momentum(lr=0.01, beta=0.9, form="average"),
    "Momentum (classic form)": nb.optim.Momentum(lr=0.01, beta=0.9, form="classic"),
    "AdaGrad": nb.optim.Adagrad(lr=1.5),
    "RMSProp": nb.optim.RMSprop(lr=0.2, rho=0.9),
    "Adam": nb.optim.Adam(lr=0.2),
    "AdamW": nb.optim.AdamW(lr=0.2, weight_decay=0.1),
}
L.say(f"J(theta) = 1/2 (theta_1 - 2)^2 + 25/2 (theta_2 - 1)^2, minimum at (2, 1), start at "
      f"({START[0]:g}, {START[1]:g}), {steps} steps each")


def descend(opt):
    """``steps`` updates by the optimizer's kernel from START; the path and the state."""
    theta = START.copy()
    state = opt.init_state(2)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        opt.step(theta, grad(theta), state, t)
        path.append(theta.copy())
    return np.array(path), state, theta


paths = {}
for name, opt in optimizers.items():
    paths[name], state, theta = descend(opt)
    L.section(f"{name}: {opt!r}")
    L.value(f"{name}: theta_1", theta[0])
    L.value(f"{name}: theta_2", theta[1])
    L.value(f"{name}: J", J(*theta))
    below = np.flatnonzero(J(paths[name][:, 0], paths[name][:, 1]) < 1e-2)
    L.say(f"  first step with J < 0.01: {below[0] if len(below) else 'never'}; "
          f"state rows {list(opt.state_names)}: {np.round(state, 5).tolist()}")

# Newton: theta <- theta - H^-1 grad, with H from central differences of the gradient
newton = nb.optim.Newton()
theta = START.copy()
path = [theta.copy()]
for t in range(3):
    newton.step_newton(theta, grad(theta), grad)
    path.append(theta.copy())
paths["Newton"] = np.array(path)
L.section("Newton: theta <- theta - H^-1 grad J (no learning rate)")
L.matrix("Newton: Hessian", newton.last_hessian, "(central differences of the gradient)")
L.value("Newton: theta_1 after one step", paths["Newton"][1, 0])
L.value("Newton: theta_2 after one step", paths["Newton"][1, 1])
L.value("Newton: J after one step", J(*paths["Newton"][1]))
L.say("On a quadratic surface one Newton step lands on the minimum; the price is the "
      "P x P Hessian (O(P^2) memory, an O(P^3) solve), which is why deep learning rarely uses it.")

L.section("What the paths show")
sgd_y = paths["SGD"][:, 1] - CENTER[1]
flips = int(np.sum(np.sign(sgd_y[1:]) != np.sign(sgd_y[:-1])))
L.value("SGD: sign changes of theta_2 - 1", flips, "(bouncing between the walls)")
same = np.max(np.abs(paths["Momentum (torch form)"] - paths["Momentum (classic form)"]))
L.value("max |torch - classic| over the path", same,
        "(the same path while the rate is constant: v_classic = eta v_torch)")
check(same < 1e-12, "torch and classic momentum differ with a constant rate")
avg_scaled = descend(nb.optim.Momentum(lr=0.01 / (1 - 0.9), beta=0.9, form="average"))[0]
diff = np.max(np.abs(avg_scaled - paths["Momentum (torch form)"]))
L.value("max |torch - average with lr/(1 - beta)|", diff,
        "(the average form is the torch form with eta scaled by 1 - beta)")
check(diff < 1e-9, "average form with lr / (1 - beta) differs from the torch form")
check(flips > 10, "SGD did not bounce")
check(np.allclose(paths["Newton"][1], CENTER, atol=1e-6), "Newton missed the minimum")
check(J(*paths["Momentum (torch form)"][-1]) < J(*paths["Momentum (average form)"][-1]),
      "with the same eta the average form should move (1 - beta) times slower")

shown = {k: v for k, v in paths.items() if k != "Momentum (classic form)"}
L.figure(plots.optimizer_paths(J, shown, xlim=(-7, 4), ylim=(-0.5, 3.0), minimum=CENTER,
                               title="Optimizers on a ravine (classic momentum = torch form)"),
         "paths.png")
L.figure(plots.curves(None, {k: (np.arange(len(v)), J(v[:, 0], v[:, 1]) + 1e-16)
                             for k, v in paths.items()}, log=True,
                      title="J(theta) per step", xlabel="step", ylabel="J"),
         "loss.png")
L.done()
