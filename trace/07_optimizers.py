"""Lesson 7: optimizers on a ravine.

J(theta) = 1/2 (theta_1 - 2)^2 + 25/2 (theta_2 - 1)^2 is a ravine: 25 times
steeper across (theta_2) than along (theta_1). Plain gradient descent
bounces off the steep walls, and its rate is capped by them; momentum (three
forms) builds up speed along the floor; AdaGrad, RMSProp and Adam rescale
each coordinate; AdamW adds decoupled weight decay; Newton's method uses the
curvature and needs no learning rate. For a fair comparison each optimizer is
tuned on the ravine (its learning rate, and momentum's beta, from a grid) and
they are ranked by how many steps J needs to stay below 0.01.

Every update here is numbann's own optimizer kernel (``opt.step``) applied
to a 2-parameter theta with the analytic gradient of the surface; Newton's
method is ``numbann.optim.Newton``.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots
from numbann.trace.style import legend, palette

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


TARGET = 1e-2
LRS = 10 ** np.arange(-3, 1.0001, 0.125)   # 0.001 ... 10, 8 values per decade
BETAS = [0.3, 0.5, 0.7, 0.9]
families = {
    "SGD": lambda lr, beta: nb.optim.SGD(lr=lr),
    "Momentum": lambda lr, beta: nb.optim.Momentum(lr=lr, beta=beta, form="torch"),
    "AdaGrad": lambda lr, beta: nb.optim.Adagrad(lr=lr),
    "RMSProp": lambda lr, beta: nb.optim.RMSprop(lr=lr, rho=0.9),
    "Adam": lambda lr, beta: nb.optim.Adam(lr=lr),
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


def steps_to_target(path):
    """The first step from which J stays below TARGET (None: never), and J at the last step."""
    Jp = J(path[:, 0], path[:, 1])
    above = np.flatnonzero(~(Jp < TARGET))
    first = int(above[-1]) + 1 if len(above) else 0
    return (first if first < len(Jp) else None), float(Jp[-1])


def rank(result):
    """Fewer steps to the target first; never reaching it ranks by the final J."""
    first, final = result
    return (first if first is not None else np.inf, final if np.isfinite(final) else np.inf)


L.section("A fair comparison: each optimizer with its best settings")
L.say(f"Each optimizer is tuned on this ravine: its learning rate from {len(LRS)} values "
      f"geometrically spaced from {LRS[0]:g} to {LRS[-1]:g} (momentum: also beta in {BETAS}); "
      f"best = fewest steps until J stays below {TARGET:g} (never: lowest J after {steps} steps).")
optimizers, reached, settings = {}, {}, {}
with np.errstate(over="ignore", invalid="ignore"):
    for name, make in families.items():
        tried = [(lr, beta) for lr in LRS for beta in (BETAS if name == "Momentum" else [None])]
        results = [steps_to_target(descend(make(lr, beta))[0]) for lr, beta in tried]
        best = min(range(len(tried)), key=lambda i: rank(results[i]))
        optimizers[name], settings[name] = make(*tried[best]), tried[best]
        reached[name] = results[best][0]
        L.value(f"{name}: tuned learning rate", tried[best][0])
        if name == "Momentum":
            L.value("Momentum: tuned beta", tried[best][1])
        L.value(f"{name}: steps until J stays below {TARGET:g}",
                np.inf if reached[name] is None else reached[name])
momentum_lr, momentum_beta = settings["Momentum"]
optimizers["Momentum (average form)"] = nb.optim.Momentum(lr=momentum_lr, beta=momentum_beta,
                                                          form="average")
optimizers["Momentum (classic form)"] = nb.optim.Momentum(lr=momentum_lr, beta=momentum_beta,
                                                          form="classic")
optimizers["AdamW"] = nb.optim.AdamW(lr=settings["Adam"][0], weight_decay=0.1)
order = sorted(reached, key=lambda k: rank((reached[k], 0.0)))
L.say(f"Ranking (steps until J stays below {TARGET:g}): " + ", ".join(
    f"{k} {reached[k] if reached[k] is not None else 'never'}" for k in order))
check(reached["Momentum"] is not None and reached["SGD"] is not None, "SGD or momentum never "
      "reached the target")
check(reached["Momentum"] < reached["SGD"], "tuned momentum is not faster than tuned SGD")
sgd_lr = settings["SGD"][0]
L.say(f"Tuned, momentum brings J below {TARGET:g} for good in {reached['Momentum']} steps, plain "
      f"SGD in {reached['SGD']}. SGD's rate is capped by the steep direction (above 2/25 = 0.08 "
      f"it diverges there), so along the flat one it shrinks the error only by the factor "
      f"|1 - eta| = {abs(1 - sgd_lr):.4g} per step; momentum adds up its past steps into a "
      f"velocity that builds up along the floor of the ravine. Fastest here: {order[0]}.")

paths = {}
for name, opt in optimizers.items():
    paths[name], state, theta = descend(opt)
    L.section(f"{name}: {opt!r}")
    L.value(f"{name}: theta_1", theta[0])
    L.value(f"{name}: theta_2", theta[1])
    L.value(f"{name}: J", J(*theta))
    first = steps_to_target(paths[name])[0]
    L.say(f"  J stays below {TARGET:g} from step {first if first is not None else 'never'}; "
          f"state rows {list(opt.state_names)}: {np.round(state, 5).tolist()}")

# Newton: theta <- theta - H^-1 grad, with H from central differences of the gradient
newton = nb.optim.Newton()
theta = START.copy()
path = [theta.copy()]
newton.step_newton(theta, grad(theta), grad)   # one step: the surface is quadratic
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
same = np.max(np.abs(paths["Momentum"] - paths["Momentum (classic form)"]))
L.value("max |torch - classic| over the path", same,
        "(the same path while the rate is constant: v_classic = eta v_torch)")
check(same < 1e-12, "torch and classic momentum differ with a constant rate")
avg_scaled = descend(nb.optim.Momentum(lr=momentum_lr / (1 - momentum_beta), beta=momentum_beta,
                                       form="average"))[0]
diff = np.max(np.abs(avg_scaled - paths["Momentum"]))
L.value("max |torch - average with lr/(1 - beta)|", diff,
        "(the average form is the torch form with eta scaled by 1 - beta)")
check(diff < 1e-9, "average form with lr / (1 - beta) differs from the torch form")
check(flips > 10, "SGD did not bounce")
check(np.allclose(paths["Newton"][1], CENTER, atol=1e-6), "Newton missed the minimum")
check(J(*paths["Momentum"][-1]) < J(*paths["Momentum (average form)"][-1]),
      "with the same eta the average form should move (1 - beta) times slower")

moved = {k: paths[k][10, 0] - START[0] for k in ("SGD", "Momentum")}
L.value("SGD: theta_1 moved in 10 steps", moved["SGD"])
L.value("Momentum: theta_1 moved in 10 steps", moved["Momentum"])
check(moved["Momentum"] > moved["SGD"], "momentum did not move faster along the floor")
shown = ["SGD", "Momentum", "AdaGrad", "RMSProp", "Adam", "AdamW", "Newton"]
colors = palette(shown)
L.figure(plots.optimizer_paths(J, {k: paths[k] for k in shown}, xlim=(-7, 4), ylim=(-0.5, 3.0),
                               minimum=CENTER, colors=colors,
                               title=f"Tuned on a ravine: SGD bounces ({flips} sign changes of "
                                     f"theta_2 - 1);\nin 10 steps momentum moves "
                                     f"{moved['Momentum']:.4g} along theta_1, SGD {moved['SGD']:.4g}"),
         "paths.png")
fig, ax = plots.figure(7.5, 4)
plots.curves(None, {k: (np.arange(len(paths[k])), J(paths[k][:, 0], paths[k][:, 1]) + 1e-16)
                    for k in shown}, log=True, colors=colors, ax=ax,
             title=f"J per step, each optimizer tuned: {order[0]} first stays below {TARGET:g}",
             xlabel="step (one update)", ylabel="J(theta) + 1e-16")
ax.axhline(TARGET, color="k", ls=":", lw=0.8, label=f"J = {TARGET:g}")
legend(ax, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
L.figure(fig, "loss.png")
L.done()
