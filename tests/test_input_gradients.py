"""Gradients with respect to the input (Step.dX) and backpropagation of a given
upstream gradient (net.backward), against finite differences and each other."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import numbann as nb
from numbann.kernels import codes

SMOOTH = ("identity", "sigmoid", "tanh", "elu")
KINKED = ("relu", "leaky_relu")
HEADS = [("identity", "mse", "mean"), ("identity", "mse", "half_batch_mean"),
         ("sigmoid", "bce", "mean"), ("sigmoid", "bce", "batchmean"), ("softmax", "ce", "mean"),
         ("softmax", "kl", "batchmean"), ("softmax", "mse", "sum"), ("tanh", "mse", "mean")]


def targets(rng, loss, m, n):
    if loss == "ce":
        return rng.integers(0, n, size=m)
    if loss == "bce":
        return rng.integers(0, 2, size=(m, n)).astype(float)
    if loss == "kl":
        y = rng.random((m, n)) + 0.1
        return y / y.sum(axis=1, keepdims=True)
    return rng.normal(size=(m, n))


def dense_net(widths, hidden, output, seed):
    layers = [nb.Dense(n, act, init="normal") for n, act in zip(widths[1:-1], hidden)]
    layers.append(nb.Dense(widths[-1], output, init="normal"))
    net = nb.Network(widths[0], layers, seed=seed)
    net.theta[...] = np.random.default_rng(seed).normal(0, 0.8, net.n_params)
    return net


def clear_of_kinks(step, layers):
    """No pre-activation of a ReLU-family layer within 1e-4 of its kink."""
    return all(np.min(np.abs(step.z[l])) > 1e-4 for l, act in enumerate(layers, 1)
               if act in KINKED)


@st.composite
def dense_problems(draw):
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 6), min_size=depth + 1, max_size=depth + 1))
    output, loss, reduction = draw(st.sampled_from(HEADS))
    if output == "softmax":
        widths[-1] = max(widths[-1], 2)
    hidden = draw(st.lists(st.sampled_from(SMOOTH + KINKED), min_size=depth - 1,
                           max_size=depth - 1))
    return widths, hidden, output, loss, reduction, draw(st.integers(1, 8)), \
        draw(st.integers(0, 2**16))


@given(dense_problems())
def test_dense_input_gradient_matches_finite_differences(problem):
    widths, hidden, output, loss, reduction, m, seed = problem
    net = dense_net(widths, hidden, output, seed)
    rng = np.random.default_rng(seed + 1)
    X, Y = rng.normal(size=(m, widths[0])), targets(rng, loss, m, widths[-1])
    loss = nb.losses.get(loss, reduction)
    step = net.backprop(X, Y, loss)
    assume(clear_of_kinks(step, hidden))
    assert step.dX.shape == X.shape
    np.testing.assert_allclose(step.dX, step.delta[1] @ net.W[1], rtol=1e-12, atol=1e-15)
    report = nb.gradcheck(net, X, Y, loss, wrt="input")
    # central differences resolve dJ/dX only to about u |J| / eps (u: float64's
    # unit roundoff, eps = 1e-6): a gradient near that floor (|dX| ~ 1e-5
    # with a width-1 layer) cannot be checked to 1e-6 relative
    floor = 10 * np.finfo(float).eps * max(abs(step.loss), 1.0) / 1e-6
    assert report.ok(1e-6) or np.max(np.abs(report.numeric - report.backprop)) < floor, report


# Sequential stacks by the kind of their first layer: dX goes through it
SEQUENTIAL = {
    "dense": ((5,), lambda: [nb.Dense(4, "tanh"), nb.Dense(3, "softmax")]),
    "conv_im2col": ((2, 5, 5), lambda: [nb.Conv2D(3, 3, padding=1, activation="tanh"),
                                        nb.Flatten(), nb.Dense(3, "softmax")]),
    "conv_direct": ((2, 5, 5), lambda: [nb.Conv2D(3, 3, padding=1, activation="tanh"),
                                        nb.Flatten(), nb.Dense(3, "softmax")]),
    "conv_strided": ((1, 6, 6), lambda: [nb.Conv2D(2, 3, stride=2, activation="sigmoid"),
                                         nb.MaxPool2D(2), nb.Flatten(), nb.Dense(3, "softmax")]),
    "maxpool": ((2, 4, 4), lambda: [nb.MaxPool2D(2), nb.Flatten(), nb.Dense(3, "softmax")]),
    "avgpool": ((2, 4, 4), lambda: [nb.AvgPool2D(2), nb.Conv2D(2, 2, activation="elu"),
                                    nb.Flatten(), nb.Dense(3, "softmax")]),
    "batchnorm": ((2, 3, 3), lambda: [nb.BatchNorm("tanh"), nb.Flatten(),
                                      nb.Dense(3, "softmax")]),
    "flatten": ((2, 3, 3), lambda: [nb.Flatten(), nb.BatchNorm(), nb.Dense(3, "softmax")]),
}


def sequential_net(kind, seed):
    shape, layers = SEQUENTIAL[kind]
    net = nb.Sequential(shape, layers(), seed=seed)
    algorithm = {"conv_im2col": codes.IM2COL, "conv_direct": codes.DIRECT}.get(kind)
    if algorithm is not None:
        net.plan[0, codes.P_ALGO] = algorithm
    net.theta[...] = np.random.default_rng(seed).normal(0, 0.6, net.n_params)
    return net, shape


@given(st.sampled_from(sorted(SEQUENTIAL)), st.integers(2, 4), st.integers(0, 2**16))
def test_sequential_input_gradient_matches_finite_differences(kind, m, seed):
    net, shape = sequential_net(kind, seed)
    rng = np.random.default_rng(seed + 1)
    X, Y = rng.normal(size=(m,) + shape), rng.integers(0, 3, m)
    step = net.backprop(X, Y, "ce")
    if kind == "maxpool":  # no ties inside a pooling window
        windows = X.reshape(m, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(m, 2, 2, 2, 4)
        top = np.sort(windows, axis=-1)
        assume(np.min(top[..., -1] - top[..., -2]) > 1e-4)
    assert step.dX.shape == X.shape
    report = nb.gradcheck(net, X, Y, "ce", wrt="input")
    assert report.ok(1e-6), report


def test_input_gradient_of_a_dense_first_layer_is_delta_times_W():
    net, shape = sequential_net("dense", 3)
    X = np.random.default_rng(0).normal(size=(4,) + shape)
    step = net.backprop(X, [0, 1, 2, 0], "ce")
    np.testing.assert_allclose(step.dX, step.delta[1] @ net.W[1], rtol=1e-13, atol=1e-16)


def test_backprop_leaves_the_parameter_gradient_as_it_was():
    """Computing dX (layer 1's backward step again) changes no dW, db."""
    net, shape = sequential_net("batchnorm", 5)
    X, Y = np.random.default_rng(1).normal(size=(3,) + shape), [0, 2, 1]
    J, grad = net.gradient(X, Y, "ce")
    step = net.backprop(X, Y, "ce")
    np.testing.assert_array_equal(step.grad, grad)
    assert step.loss == J


@pytest.mark.parametrize("kind", ["mlp", "conv_im2col", "batchnorm", "maxpool"])
def test_backward_is_backprop_under_a_loss_with_that_upstream(kind):
    """backward(X, G) equals backprop under summed MSE with Y = a[L] - G / 2,
    whose dJ/da[L] = 2 (a[L] - Y) is G."""
    rng = np.random.default_rng(7)
    if kind == "mlp":
        net, shape = dense_net([4, 5, 3], ["tanh"], "softmax", 2), (4,)
    else:
        net, shape = sequential_net(kind, 2)
    X = rng.normal(size=(3,) + shape)
    G = rng.normal(size=(3, 3))
    step = net.backward(X, G)
    np.testing.assert_allclose(step.loss, np.sum(G * step.a[net.L]), rtol=1e-14)
    via_loss = net.backprop(X, step.a[net.L] - G / 2, nb.losses.get("mse", "sum"))
    np.testing.assert_allclose(step.grad, via_loss.grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(step.dX, via_loss.dX, rtol=1e-10, atol=1e-14)
    for l in range(1, net.L + 1):
        np.testing.assert_allclose(step.delta[l], via_loss.delta[l], rtol=1e-10, atol=1e-14)


def test_backward_input_gradient_matches_finite_differences_of_its_loss():
    net, shape = sequential_net("conv_strided", 4)
    rng = np.random.default_rng(8)
    X, G = rng.normal(size=(2,) + shape), rng.normal(size=(2, 3))
    step = net.backward(X, G)
    numeric = np.zeros_like(X)
    eps = 1e-6
    for i in range(X.size):
        Xp, Xm = X.copy(), X.copy()
        Xp.flat[i] += eps
        Xm.flat[i] -= eps
        numeric.flat[i] = (net.backward(Xp, G).loss - net.backward(Xm, G).loss) / (2 * eps)
    np.testing.assert_allclose(step.dX, numeric, rtol=1e-6, atol=1e-9)


def test_chained_networks_backpropagate_as_one():
    """Net B on top of net A: A.backward(X, B's dX) gives the gradient of the
    network made of A's layers followed by B's."""
    rng = np.random.default_rng(9)
    A = dense_net([3, 4, 5], ["tanh"], "sigmoid", 10)
    B = dense_net([5, 4, 2], ["elu"], "identity", 11)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    top = B.backprop(A.forward(X), Y, "mse")
    bottom = A.backward(X, top.dX)
    whole = nb.Network(3, [nb.Dense(n, act) for n, act in
                           ((4, "tanh"), (5, "sigmoid"), (4, "elu"), (2, "identity"))])
    whole.theta[...] = np.concatenate([A.theta, B.theta])
    step = whole.backprop(X, Y, "mse")
    np.testing.assert_allclose(np.concatenate([bottom.grad, top.grad]), step.grad, rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(bottom.dX, step.dX, rtol=1e-12, atol=1e-15)


def test_float32_networks_give_float32_input_gradients():
    net = nb.MLP([3, 4, 2], dtype="float32")
    X = np.ones((2, 3), np.float32)
    assert net.backprop(X, np.zeros((2, 2)), "mse").dX.dtype == np.float32
    assert net.backward(X, np.ones((2, 2))).dX.dtype == np.float32


def test_bad_upstream_and_wrt_are_refused():
    net = nb.MLP([3, 4, 2])
    X = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"upstream must have shape \(2, 2\)"):
        net.backward(X, np.ones((2, 3)))
    with pytest.raises(ValueError, match="upstream contains NaN"):
        net.backward(X, np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="wrt must be one of"):
        nb.gradcheck(net, X, np.zeros((2, 2)), wrt="X")
