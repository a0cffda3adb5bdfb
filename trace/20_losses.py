"""Lesson 20: the losses, value and gradient on one example each.

For one example (m = 1) with n outputs, numbann's loss head computes the
loss J and delta[L] = dJ/dz[L]. Here each loss is also written out by hand
(dJ/da, then dJ/dz = dJ/da * g'(z), or the fused a - y of BCE, CE and KL)
and compared with numbann's numbers. The reduction factor s multiplies the
sum: "mean" s = 1/(m n), "sum" s = 1, "half_sum" s = 1/2, "half_batch_mean"
s = 1/(2m), "batchmean" s = 1/m.

Then the numbers that decide when to use which loss.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("20_losses", "Lesson 20: losses, their values and gradients")


def head(output, z, y, loss, reduction=None):
    """numbann's J and delta[L] = dJ/dz for outputs a = g(z): a one-layer net with W = I, b = 0,
    fed x = z."""
    z, y = np.atleast_2d(z).astype(float), np.atleast_2d(y).astype(float)
    net = nb.MLP([z.shape[1], z.shape[1]], output=output)
    net.set_params([np.eye(z.shape[1])], [np.zeros(z.shape[1])])
    step = net.backprop(z, y, nb.losses.get(loss, reduction))
    return step.loss, step.a[1], step.delta[1]


def show(key, z, a, y, J_numbann, J_hand, dJda, delta_numbann, delta_hand):
    L.matrix(f"{key}: z", z)
    L.matrix(f"{key}: a", a)
    L.matrix(f"{key}: y", y)
    L.value(f"{key}: J", J_numbann, "(numbann)")
    L.value(f"{key}: J by hand", J_hand)
    L.matrix(f"{key}: dJ/da by hand", dJda)
    L.matrix(f"{key}: delta = dJ/dz", delta_numbann, "(numbann)")
    L.matrix(f"{key}: delta by hand", delta_hand)
    check(np.isclose(J_numbann, J_hand, rtol=1e-12, atol=1e-15)
          and np.allclose(delta_numbann, delta_hand, rtol=1e-12, atol=1e-15),
          f"{key}: numbann and the formula disagree")


L.section("MSE, every reduction: J = s sum (a - y)^2, dJ/da = 2 s (a - y); identity output")
z, y = np.array([[0.8, -0.3]]), np.array([[1.0, 0.0]])
m, n = z.shape
forms = {}
for reduction, s, formula in (("mean", 1 / (m * n), "1/(m n)"), ("sum", 1.0, "1"),
                              ("half_sum", 0.5, "1/2"), ("half_batch_mean", 1 / (2 * m), "1/(2m)")):
    J, a, delta = head("identity", z, y, "mse", reduction)
    L.value(f"mse {reduction}: s", s, f"= {formula}, m = {m}, n = {n}")
    grad = 2 * s * (a - y)
    show(f"mse {reduction}", z, a, y, J, s * np.sum((a - y) ** 2), grad, delta, grad)
    forms[reduction] = J
check(forms["half_sum"] == forms["half_batch_mean"] == forms["mean"] == forms["sum"] / 2,
      "the MSE forms do not relate as their factors say")
L.say("on one example with two outputs, mean, half_sum and half_batch_mean all give half of "
      "sum; on a batch they differ by the factors m and n")

L.section("MAE: J = s sum |a - y|, dJ/da = s sign(a - y); identity output, mean (s = 1/2)")
J, a, delta = head("identity", z, y, "mae")
grad = 0.5 * np.sign(a - y)
show("mae", z, a, y, J, 0.5 * np.sum(np.abs(a - y)), grad, delta, grad)

L.section("BCE: J = -s sum [y log a + (1 - y) log(1 - a)]; sigmoid output, one output (s = 1)")
z, y = np.array([[-1.0]]), np.array([[1.0]])
J, a, delta = head("sigmoid", z, y, "bce")
dJda = -(y / a - (1 - y) / (1 - a))
show("bce", z, a, y, J, -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)), dJda, delta,
     dJda * a * (1 - a))
L.say("dJ/da * a (1 - a) = a - y: the sigmoid's slope cancels")

L.section("CE: J = -sum_k y_k log a_k, a = softmax(z); class 0 of 3 (s = 1/m = 1)")
z, y = np.array([[2.0, 1.0, -1.0]]), np.array([[1.0, 0.0, 0.0]])
J, a, delta = head("softmax", z, y, "ce")
show("ce", z, a, y, J, -np.sum(y * np.log(a)), -y / a, delta, a - y)
L.say("with the softmax Jacobian da_k/dz_j = a_k (delta_kj - a_j), dJ/dz = a - y")

L.section("Hinge: J = s sum max(0, 1 - y a), y in {-1, +1}; identity output, mean (s = 1/2)")
z, y = np.array([[0.3, 2.0]]), np.array([[1.0, 1.0]])
J, a, delta = head("identity", z, y, "hinge")
grad = np.where(1 - y * a > 0, -0.5 * y, 0.0)
show("hinge", z, a, y, J, 0.5 * np.sum(np.maximum(0, 1 - y * a)), grad, delta, grad)

L.section("KL: J = s sum y (log y - log a); softmax output, soft targets (batchmean: s = 1/m)")
z_soft, soft = np.array([[2.0, 1.0, -1.0]]), np.array([[0.7, 0.2, 0.1]])
J_kl, a, delta_kl = head("softmax", z_soft, soft, "kl")
show("kl", z_soft, a, soft, J_kl, np.sum(soft * (np.log(soft) - np.log(a))), -soft / a, delta_kl,
     a - soft)

L.section("When to use which, from the numbers")
errors = np.array([[0.1], [2.0]])     # two examples, a - y = 0.1 and 2 (an outlier)
_, _, d_mse = head("identity", errors, np.zeros((2, 1)), "mse", "sum")
_, _, d_mae = head("identity", errors, np.zeros((2, 1)), "mae", "sum")
mse_ratio = L.value("mse: |dJ/da| at error 2 / at error 0.1", abs(d_mse[1, 0] / d_mse[0, 0]))
mae_ratio = L.value("mae: |dJ/da| at error 2 / at error 0.1", abs(d_mae[1, 0] / d_mae[0, 0]))
check(mse_ratio > 10 and mae_ratio == 1, "MSE's gradient does not grow with the error")
L.say(f"regression: MSE pulls {mse_ratio:.4g} times harder on an error of 2 than on 0.1, MAE "
      "equally hard (its gradient is a sign): MSE for Gaussian noise, MAE when outliers should "
      "not dominate")

z, y = np.array([[-6.0]]), np.array([[1.0]])   # a confidently wrong sigmoid output
_, a, d_bce = head("sigmoid", z, y, "bce")
_, _, d_mse = head("sigmoid", z, y, "mse")
L.value("sigmoid output a at z = -6, y = 1", a[0, 0])
L.value("bce: delta", d_bce[0, 0])
L.value("mse: delta", d_mse[0, 0])
ratio = L.value("|delta bce| / |delta mse|", abs(d_bce[0, 0] / d_mse[0, 0]))
check(ratio > 10, "BCE does not keep a larger gradient than MSE on a saturated sigmoid")
L.say(f"a confidently wrong sigmoid output: BCE's delta is {ratio:.4g} times MSE's, whose "
      "factor a (1 - a) vanishes: BCE for yes/no outputs (sigmoid), CE for one class of "
      "several (softmax)")

J_ce, _, d_ce = head("softmax", z_soft, soft, "ce")
entropy = L.value("entropy of the soft target H(y) = -sum y log y", -np.sum(soft * np.log(soft)))
L.value("ce on the soft target", J_ce)
L.value("ce - kl", J_ce - J_kl)
same = np.allclose(d_ce, delta_kl, rtol=1e-12, atol=1e-15)
J_match = L.value("kl when the output equals the target",
                  head("softmax", np.log(soft), soft, "kl")[0])
check(same and np.isclose(J_ce - J_kl, entropy, rtol=1e-12) and abs(J_match) < 1e-12,
      "KL is not CE minus the entropy, or not 0 at a = y")
L.say("KL = CE - H(y) with the same delta: H(y) does not depend on the network, so both train "
      "alike; KL reads 0 when a = y (matching distributions, soft targets)")

J_far = head("identity", np.array([[2.0]]), np.array([[1.0]]), "hinge")
L.value("hinge: J at y a = 2", J_far[0])
L.value("hinge: delta at y a = 2", J_far[2][0, 0])
check(J_far[0] == 0 and J_far[2][0, 0] == 0, "hinge is not flat beyond the margin")
L.say("hinge: an example beyond the margin (y a >= 1) adds no loss and no gradient; only "
      "those near the boundary matter (max-margin classifiers, labels -1/+1)")

L.section("The losses over the output, target y = 1")
grid = np.linspace(0.02, 1.98, 99)
sigmoid_grid = grid[grid < 1]
curves = {"MSE (mean)": ("identity", grid, "mse"), "MAE (mean)": ("identity", grid, "mae"),
          "hinge (dashed: equals MAE for a < 1)": ("identity", grid, "hinge"),
          "BCE (a = sigmoid(z))": ("sigmoid", sigmoid_grid, "bce")}
fig, axes = plots.figure(10, 3.8, ncols=2)
for i, (name, (output, a_values, loss)) in enumerate(curves.items()):
    z_values = np.log(a_values / (1 - a_values)) if output == "sigmoid" else a_values
    J, d = [], []
    for zv in z_values:
        Jv, av, dv = head(output, [[zv]], [[1.0]], loss)
        J.append(Jv)
        d.append(dv[0, 0] / (av[0, 0] * (1 - av[0, 0])) if output == "sigmoid" else dv[0, 0])
    style = "--" if loss == "hinge" else "-"
    axes[0].plot(a_values, J, style, color=plots.COLORS[i], label=name)
    axes[1].plot(a_values, d, style, color=plots.COLORS[i], label=name)
axes[0].set(xlabel="network output a (target y = 1)", ylabel="J", ylim=(0, 4),
            title="Value: BCE grows without bound as a -> 0")
axes[1].set(xlabel="network output a (target y = 1)", ylabel="dJ/da", ylim=(-6, 2.5),
            title="Gradient: MSE's grows with the error, MAE's does not")
for ax in axes:
    ax.axvline(1, color="#999", lw=0.8, ls=":")
    ax.legend(fontsize=8)
L.figure(fig, "losses.png")
L.done()
