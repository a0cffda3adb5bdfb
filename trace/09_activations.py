"""Lesson 9: activation functions and their derivatives.

step, identity, sigmoid 1/(1+e^-z), tanh, ReLU max(0, z), LeakyReLU
max(alpha z, z), ELU, and softmax e^{z_i} / sum_j e^{z_j}. Backprop
multiplies by g'(z) at every layer, so the derivative's shape decides how
gradients flow: sigmoid's is at most 1/4 and vanishes at both ends
(saturation), ReLU's is 1 or 0 (a unit with z <= 0 everywhere is dead),
the step's is 0 everywhere (no gradient: perceptrons need their own rule).
All values here come from numbann's kernels.
"""
import numpy as np

import numbann as nb
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("09_activations", "Lesson 9: activation functions and their derivatives")
names = ["step", "identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu"]
zs = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
LEAKY_ALPHA = 0.01   # the course's ~0.01 (PyTorch's default too)
L.say(f"z = {zs.tolist()}; leaky_relu alpha = {LEAKY_ALPHA:g}, elu alpha = 1")
for name in names:
    g = nb.activations.get(name, LEAKY_ALPHA if name == "leaky_relu" else None)
    L.section(f"{name}: {g.formula};  {g.slope}")
    for z, a, d in zip(zs, g(zs), g.derivative(zs)):
        L.value(f"{name} g({z:g})", a, f"{name} g'({z:g}) = {d:.12g}")

L.section("Saturation and dead units")
sig = nb.activations.get("sigmoid")
for z in (0.0, 2.0, 5.0, 10.0):
    L.value(f"sigmoid'({z:g})", sig.derivative(np.array([z]))[0])
check(abs(sig.derivative(np.array([0.0]))[0] - 0.25) < 1e-15, "sigmoid'(0) != 1/4")
L.say("sigmoid'(z) <= 1/4: ten sigmoid layers scale a gradient by at most 4^-10 ~ 1e-6.")
L.say("relu'(z) = 0 for z <= 0 (PyTorch's choice at the kink z = 0): a ReLU unit whose z is "
      "negative for every input passes no gradient and never recovers.")

L.section("Softmax turns scores into probabilities")
soft = nb.activations.get("softmax")
z = np.array([[1.0, 2.0, 3.0]])
p = soft(z)[0]
for i, v in enumerate(p):
    L.value(f"softmax([1, 2, 3])_{i}", v)
L.value("sum of softmax", p.sum())
L.say("Its derivative is a Jacobian, da_i/dz_j = a_i (1[i=j] - a_j); with cross-entropy "
      "the product collapses to delta = a - y.")

L.figure(plots.activation_functions(names, alpha_leaky=LEAKY_ALPHA), "activations.png")
fig, ax = plots.figure(5, 3.4)
zz = np.linspace(-8, 8, 401)
for i, name in enumerate(["sigmoid", "tanh", "relu"]):
    ax.plot(zz, nb.activations.get(name).derivative(zz), color=plots.COLORS[i], label=f"{name}'(z)")
ax.axhline(0.25, ls=":", color="#777", label="1/4")
d_sigmoid, d_relu = (nb.activations.get(n).derivative(zz) for n in ("sigmoid", "relu"))
check(d_sigmoid.max() <= 0.25 and d_sigmoid[0] < 1e-3 and d_sigmoid[-1] < 1e-3
      and set(np.unique(d_relu)) <= {0.0, 1.0}, "the derivatives do not look as the title says")
ax.set_title("sigmoid' <= 1/4 and vanishes at both ends; relu' is 1 or 0", fontsize=10)
ax.set_xlabel("z")
ax.set_ylabel("g'(z)")
ax.legend(fontsize=8)
L.figure(fig, "derivatives.png")
L.done()
