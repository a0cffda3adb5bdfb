"""Backprop against finite differences, PyTorch, and the course's worked examples."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import numbann as nb

KINKED = ("relu", "leaky_relu", "elu")
HIDDEN = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu")
HEADS = [("identity", "mse", "mean"), ("identity", "mse", "half_batch_mean"),
         ("identity", "mae", "mean"), ("sigmoid", "bce", "mean"), ("softmax", "ce", "mean"),
         ("identity", "hinge", "mean"), ("softmax", "kl", "batchmean"),
         ("sigmoid", "mse", "sum"), ("softmax", "mse", "mean"), ("tanh", "hinge", "sum"),
         ("sigmoid", "kl", "sum")]


def targets(rng, loss, m, n):
    if loss == "ce":
        return rng.integers(0, n, size=m)
    if loss == "bce":
        return rng.integers(0, 2, size=(m, n)).astype(float)
    if loss == "hinge":
        return rng.choice([-1.0, 1.0], size=(m, n))
    if loss == "kl":
        y = rng.random((m, n)) + 0.1
        return y / y.sum(axis=1, keepdims=True)
    return rng.normal(size=(m, n))


@st.composite
def problems(draw):
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 8), min_size=depth + 1, max_size=depth + 1))
    output, loss, reduction = draw(st.sampled_from(HEADS))
    if output == "softmax":
        widths[-1] = max(widths[-1], 2)
    hidden = draw(st.lists(st.sampled_from(HIDDEN), min_size=depth - 1, max_size=depth - 1))
    m = draw(st.integers(1, 16))
    seed = draw(st.integers(0, 2**16))
    return widths, hidden, output, loss, reduction, m, seed


def build(widths, hidden, output, seed, dtype="float64"):
    layers = [nb.Dense(n, act, init="normal", alpha=0.3 if act == "elu" else None)
              for n, act in zip(widths[1:-1], hidden)]
    layers.append(nb.Dense(widths[-1], output, init="normal"))
    net = nb.Network(widths[0], layers, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    net.theta[...] = rng.normal(0, 0.8, net.n_params)
    return net


def away_from_kinks(net, step, hidden, loss, Y):
    for l, act in enumerate(hidden, 1):
        if act in KINKED and np.min(np.abs(step.z[l])) < 1e-3:
            return False
    aL = step.a[net.L]
    # BCE/KL on probabilities within 1e-4 of 0 or 1: log(1 - a) has too few
    # correct digits for a finite difference (the backprop delta a - y is exact)
    if loss in ("bce", "kl") and np.min(np.minimum(aL, 1 - aL)) < 1e-4:
        return False
    if loss == "mae" and np.min(np.abs(aL - Y)) < 1e-3:
        return False
    if loss == "hinge" and np.min(np.abs(1 - Y * aL)) < 1e-3:
        return False
    return True


@given(problems())
def test_backprop_equals_central_differences(problem):
    widths, hidden, output, loss, reduction, m, seed = problem
    net = build(widths, hidden, output, seed)
    rng = np.random.default_rng(seed + 1)
    X = rng.normal(size=(m, widths[0]))
    Y = targets(rng, loss, m, widths[-1])
    lossobj = nb.losses.get(loss, reduction)
    step = net.backprop(X, Y, lossobj)
    assume(away_from_kinks(net, step, hidden, loss, Y))
    report = nb.gradcheck(net, X, Y, lossobj, eps=1e-5)
    assert report.max_error < 1e-6, report


@given(problems())
def test_float32_forward_agrees_with_float64(problem):
    widths, hidden, output, loss, reduction, m, seed = problem
    net64 = build(widths, hidden, output, seed)
    net32 = net64.copy(dtype="float32")
    X = np.random.default_rng(seed).normal(size=(m, widths[0]))
    out64 = net64.forward(X)
    out32 = net32.forward(X)
    assert out32.dtype == np.float32
    # float32 rounding of the weights and inputs, amplified at most a few times per layer
    np.testing.assert_allclose(out32, out64, rtol=2e-5, atol=2e-5 * (1 + np.abs(out64).max()))


NETS = {"n1": (["tanh"], "sigmoid", "bce", None), "n2": (["relu", "elu"], "softmax", "ce", None),
        "n3": (["sigmoid"], "identity", "mse", None), "n4": (["leaky_relu"], "identity", "mae", 0.1)}


@pytest.mark.parametrize("name", sorted(NETS))
def test_networks_match_pytorch(fixture, name):
    ref = fixture("networks")
    hidden, output, loss, alpha = NETS[name]
    sizes = ref[f"{name}_sizes"]
    L = len(sizes) - 1
    layers = [nb.Dense(n, act, alpha=alpha) for n, act in zip(sizes[1:-1], hidden)]
    net = nb.Network(sizes[0], layers + [nb.Dense(sizes[-1], output)])
    net.set_params([ref[f"{name}_W{l}"] for l in range(1, L + 1)],
                   [ref[f"{name}_b{l}"] for l in range(1, L + 1)])
    step = net.backprop(ref[f"{name}_X"], ref[f"{name}_Y"], loss)
    assert step.loss == pytest.approx(float(ref[f"{name}_loss"]), rel=1e-13)
    for l in range(1, L + 1):
        for key, ours in (("z", step.z[l]), ("a", step.a[l]), ("dW", step.dW[l]), ("db", step.db[l])):
            np.testing.assert_allclose(ours, ref[f"{name}_{key}{l}"], rtol=1e-11, atol=1e-15,
                                       err_msg=f"{key}[{l}]")


def test_single_neuron_chain_rule():
    """z = w x + b, a = sigma(z), J = 1/2 (a - y)^2:  dJ/dw = (a - y) a (1 - a) x."""
    w, b, x, y = 0.6, -0.2, 1.5, 1.0
    net = nb.MLP([1, 1], output="sigmoid")
    net.W[1] = [[w]]
    net.b[1] = [b]
    step = net.backprop([[x]], [[y]], nb.losses.MSE("half_sum"))
    a = 1 / (1 + np.exp(-(w * x + b)))
    assert step.loss == pytest.approx(0.5 * (a - y) ** 2, rel=1e-15)
    assert step.dW[1][0, 0] == pytest.approx((a - y) * a * (1 - a) * x, rel=1e-14)
    assert step.db[1][0] == pytest.approx((a - y) * a * (1 - a), rel=1e-14)


def test_two_layer_vectorized_formulas():
    """The course's column-major formulas, with Z = z.T: dZ2 = A2 - Y,
    dW2 = 1/m dZ2 A1^T, db2 = 1/m sum dZ2, dZ1 = W2^T dZ2 * g1'(Z1),
    dW1 = 1/m dZ1 X^T, db1 = 1/m sum dZ1 (sigmoid output, BCE)."""
    rng = np.random.default_rng(7)
    m = 5
    net = nb.MLP([3, 4, 1], hidden="tanh", output="sigmoid", init="normal", seed=3)
    net.theta[...] = rng.normal(0, 0.7, net.n_params)
    X, Y = rng.normal(size=(m, 3)), rng.integers(0, 2, size=(m, 1)).astype(float)
    step = net.backprop(X, Y, "bce")
    W1, b1, W2, b2 = net.W[1], net.b[1][:, None], net.W[2], net.b[2][:, None]
    Xc, Yc = X.T, Y.T
    Z1 = W1 @ Xc + b1
    A1 = np.tanh(Z1)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    dZ2 = A2 - Yc
    dW2 = dZ2 @ A1.T / m
    db2 = dZ2.sum(axis=1) / m
    dZ1 = (W2.T @ dZ2) * (1 - A1 ** 2)
    dW1 = dZ1 @ Xc.T / m
    db1 = dZ1.sum(axis=1) / m
    np.testing.assert_allclose(step.delta[2].T, dZ2 / m, rtol=1e-13)
    np.testing.assert_allclose(step.dW[2], dW2, rtol=1e-13)
    np.testing.assert_allclose(step.db[2], db2, rtol=1e-13)
    np.testing.assert_allclose(step.dW[1], dW1, rtol=1e-12)
    np.testing.assert_allclose(step.db[1], db1, rtol=1e-12)


def test_squared_error_output_layer_and_chain_to_hidden_layer():
    """C = sum (y - a)^2: dC/dz[L] = sigma'(z[L]) 2 (a[L] - y), and through W[L]
    dC/dw[L-1]_jk = (sum_i W[L]_ij delta[L]_i) g'(z[L-1]_j) a[L-2]_k."""
    net = nb.MLP([2, 3, 2], hidden="sigmoid", output="sigmoid", init="normal", seed=1)
    net.theta[...] = np.random.default_rng(2).normal(0, 1, net.n_params)
    x, y = np.array([[0.4, -1.2]]), np.array([[1.0, 0.0]])
    step = net.backprop(x, y, nb.losses.MSE("sum"))
    a2, a1 = step.a[2], step.a[1]
    delta2 = a2 * (1 - a2) * 2 * (a2 - y)
    np.testing.assert_allclose(step.delta[2], delta2, rtol=1e-14)
    delta1 = (delta2 @ net.W[2]) * a1 * (1 - a1)
    np.testing.assert_allclose(step.dW[1], delta1.T @ x, rtol=1e-13)
    np.testing.assert_allclose(step.db[1], delta1[0], rtol=1e-13)


def test_zero_init_keeps_hidden_units_identical():
    net = nb.MLP([2, 2, 1], hidden="sigmoid", output="sigmoid", init="zeros")
    step = net.backprop([[1.0, 0.5], [0.2, -0.3]], [[1.0], [0.0]], "bce")
    np.testing.assert_array_equal(step.dW[1][0], step.dW[1][1])
    np.testing.assert_array_equal(step.a[1][:, 0], step.a[1][:, 1])


def test_linear_stack_collapses_to_one_map():
    net = nb.MLP([3, 4, 2], hidden="identity", output="identity", seed=5)
    X = np.random.default_rng(0).normal(size=(6, 3))
    W = net.W[2] @ net.W[1]
    b = net.W[2] @ net.b[1] + net.b[2]
    np.testing.assert_allclose(net.forward(X), X @ W.T + b, rtol=1e-12)
