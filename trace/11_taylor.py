"""Lesson 11: the first-order Taylor view of gradient descent.

For a small change of the weights, Delta C ~ grad C . Delta w. Choosing
Delta w = -eta grad C makes the change Delta C ~ -eta ||grad C||^2 <= 0: the
cost goes down. The approximation error is second order, O(||Delta w||^2),
so the ratio Delta C / (grad C . Delta w) tends to 1 as the step shrinks.
We take one recorded backward pass of a 2-4-1 network and check this for
shrinking steps, along -grad C and along a random direction.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots, record_step

from _lesson import Lesson, check

L = Lesson("11_taylor", "Lesson 11: Delta C ~ grad C . Delta w")
rng = np.random.default_rng(11)
X = rng.normal(size=(16, 2))
Y = np.sin(X[:, :1]) * X[:, 1:]
net = nb.MLP([2, 4, 1], hidden="tanh", output="identity", seed=11)
net.save(L.path("net.npz"))
np.savez(L.path("data.npz"), X=X, Y=Y)
tr = record_step(net, X, Y, "mse")
r = tr[0]
g = np.concatenate([np.concatenate([r.dW[l].ravel(), r.db[l]]) for l in (1, 2)])
C0 = r.loss
L.value("C(w)", C0, "(mean squared error on 16 samples)")
L.value("||grad C||", np.linalg.norm(g))
check(np.array_equal(g, net.gradient(X, Y, "mse")[1]), "flat gradient layout differs")

theta0 = net.theta.copy()


def C_at(theta):
    net.theta[...] = theta
    value = net.loss(X, Y, "mse")
    net.theta[...] = theta0
    return value


u = rng.normal(size=g.shape)
u /= np.linalg.norm(u)
etas = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001] if L.quick else list(np.logspace(0, -5, 16))
rows = {"descent": [], "random": []}
for direction in ("descent", "random"):
    L.section("Delta w = -eta grad C" if direction == "descent" else
              "Delta w = eta ||grad C|| u, u a random unit vector")
    for eta in etas:
        dw = -eta * g if direction == "descent" else eta * np.linalg.norm(g) * u
        dC = C_at(theta0 + dw) - C0
        pred = float(g @ dw)
        rows[direction].append((np.linalg.norm(dw), dC, pred))
        L.value(f"{direction} eta={eta:.6g}: Delta C", dC,
                f"predicted {pred:.12g}   ratio {dC / pred:.6f}   ||Delta w|| {np.linalg.norm(dw):.4g}")
for direction, rr in rows.items():
    ratios = [dC / pred for _, dC, pred in rr]
    L.value(f"{direction}: ratio at the smallest step", ratios[-1])
    check(abs(ratios[-1] - 1) < 1e-2, f"{direction}: Delta C / (grad C . Delta w) does not tend to 1")
descent = rows["descent"]

L.section("When does a step along -grad C lower the cost?")
down = [eta for eta, (_, dC, _) in zip(etas, descent) if dC < 0]
up = [eta for eta, (_, dC, _) in zip(etas, descent) if not dC < 0]
check(len(down) > 0 and (not up or min(up) > max(down)),
      "the cost does not go down for every step below some size")
L.value("descent: largest eta that lowers C", max(down))
L.say(f"The cost goes down for every eta <= {max(down):.4g} ({len(down)} of the {len(etas)} steps).")
# the second-order part grows as eta^2: extrapolate it from the smallest step
n_min, dC_min, pred_min = descent[-1]
for eta, (n, dC, pred) in zip(etas, descent):
    if dC < 0:
        continue
    quadratic = (dC_min - pred_min) * (eta / etas[-1]) ** 2
    L.value(f"descent eta={eta:.6g}: second-order part Delta C - grad C . Delta w", dC - pred,
            f"extrapolated from the smallest step as (eta / {etas[-1]:g})^2 times its part: "
            f"{quadratic:.4g}")
    check(quadratic > -pred and dC - pred > -pred,
          "the second-order part does not explain the rise of the cost")
    L.say(f"At eta = {eta:.4g} the cost rises (Delta C = {dC:+.4g}): the step ||Delta w|| = "
          f"{n:.4g} is too large for the first-order Taylor approximation. Its prediction "
          f"grad C . Delta w = {pred:.4g} is outweighed by the second-order part "
          f"{dC - pred:+.4g}, which grows as eta^2 ({quadratic:+.4g} extrapolated from the "
          "smallest step).")
err = np.array([abs(dC - pred) for _, dC, pred in descent])
step = np.array([n for n, _, _ in descent])
slope = np.polyfit(np.log(step[2:]), np.log(err[2:]), 1)[0]
L.value("slope of log|Delta C - grad C . Delta w| against log||Delta w||", slope,
        "(2: the error is second order)")
check(1.8 < slope < 2.2, "the Taylor error is not second order")

fig, axes = plots.figure(10, 3.8, ncols=2)
for direction, rr in rows.items():
    n = np.array([a for a, _, _ in rr])
    e = np.array([abs(dC - p) for _, dC, p in rr])
    axes[0].loglog(n, e, "o-", ms=4, label=f"{direction}")
axes[0].loglog(step, err[-1] * (step / step[-1]) ** 2, "k:", label="slope 2")
axes[0].set_xlabel("step length ||Delta w||")
axes[0].set_ylabel("|Delta C - grad C . Delta w|")
axes[0].set_title(f"The first-order error is O(||Delta w||^2): fitted slope {slope:.4g}", fontsize=10)
axes[0].legend(fontsize=8)
for direction, rr in rows.items():
    n = np.array([a for a, _, _ in rr])
    axes[1].semilogx(n, [dC / p for _, dC, p in rr], "o-", ms=4, label=direction)
axes[1].axhline(1, color="k", lw=0.6)
axes[1].set_xlabel("step length ||Delta w||")
axes[1].set_ylabel("Delta C / (grad C . Delta w)")
axes[1].set_title("The ratio tends to 1 as the step shrinks" + (
    f"\n(below 0 where C rose: descent eta = {', '.join(f'{e:.4g}' for e in up)})" if up else ""),
    fontsize=9)
axes[1].legend(fontsize=8)
L.figure(fig, "taylor.png")
L.done()
