"""Conv, pooling and batch-norm layers against PyTorch (fixtures/layers.npz),
through the public API: each layer sits between an identity layer (so that
delta[1] is dJ/dX) and the output, and the upstream gradient G is fed in as
the derivative of a sum-of-squares loss, J = sum (a - Y)^2 with Y = a - G/2."""
from pathlib import Path

import numpy as np
import pytest

import numbann as nb
from numbann.kernels import codes
from numbann.losses import get as get_loss

SUM_MSE = get_loss("mse", "sum")
CNN = [nb.Conv2D(3, 3, padding=1), nb.MaxPool2D(2), nb.BatchNorm(),
       nb.Conv2D(4, 3, activation="tanh"), nb.Flatten(), nb.Dense(6, "relu"), nb.BatchNorm(),
       nb.Dense(3, "softmax")]


def upstream(net, X, G):
    """backprop with dJ/da[L] = G (flattened): the step and the mapping of each layer."""
    a = net.forward(X) if not net._batchnorms() else _train_output(net, X)
    Y = a - G.reshape(len(X), -1) / 2
    return net.backprop(X, Y, SUM_MSE)


def _train_output(net, X):
    """a[L] with batch statistics (what backprop's forward sees)."""
    return net.backprop(X, np.zeros((len(X), net.n_outputs)), SUM_MSE).a[net.L]


def force(net, algorithm):
    """Run every stride-1 conv layer with ``algorithm`` (IM2COL or DIRECT), whatever
    the size rule picked; returns how many layers that covers."""
    rows = [r for r in net.plan if r[codes.P_KIND] == codes.CONV2D and r[codes.P_STRIDE] == 1]
    for r in rows:
        r[codes.P_ALGO] = algorithm
    return len(rows)


ALGORITHMS = pytest.mark.parametrize("algorithm", [codes.IM2COL, codes.DIRECT],
                                     ids=["im2col", "direct"])


def identity_first(shape):
    """A first layer that copies its input, so delta[1] = dJ/dX."""
    return nb.AvgPool2D(1) if len(shape) == 3 else nb.Flatten()


def conv_cases():
    """(case, algorithm) for every fixture conv case; the direct kernels take stride 1 only."""
    with np.load(Path(__file__).parent / "fixtures" / "layers.npz") as ref:
        strides = {f"conv{i}": int(ref[f"conv{i}/config"][6]) for i in range(6)}
    return [pytest.param(case, algorithm, id=f"{case}-{name}") for case, stride in strides.items()
            for algorithm, name in ((codes.IM2COL, "im2col"), (codes.DIRECT, "direct"))
            if stride == 1 or algorithm == codes.IM2COL]


@pytest.mark.parametrize("case, algorithm", conv_cases())
def test_conv_matches_pytorch(fixture, case, algorithm):
    ref = fixture("layers")
    m, C, H, W, Cout, k, stride, pad = ref[f"{case}/config"]
    layer = nb.Conv2D(int(Cout), int(k), stride=int(stride),
                      padding="same" if pad < 0 else int(pad), activation="identity")
    net = nb.Sequential((C, H, W), [identity_first((C, H, W)), layer, nb.Flatten()])
    net.W[2], net.b[2] = ref[f"{case}/W"], ref[f"{case}/b"]
    force(net, algorithm)
    step = upstream(net, ref[f"{case}/X"], ref[f"{case}/G"])
    np.testing.assert_allclose(step.z[2], ref[f"{case}/Z"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(step.dW[2], ref[f"{case}/dW"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(step.db[2], ref[f"{case}/db"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(step.delta[1], ref[f"{case}/dX"], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", ["maxpool0", "maxpool1", "maxpool2", "maxpool3",
                                  "avgpool0", "avgpool1"])
def test_pooling_matches_pytorch(fixture, case):
    ref = fixture("layers")
    m, C, H, W, size, stride = (int(v) for v in ref[f"{case}/config"])
    kind = nb.MaxPool2D if case.startswith("max") else nb.AvgPool2D
    net = nb.Sequential((C, H, W), [nb.AvgPool2D(1), kind(size, stride), nb.Flatten()])
    step = upstream(net, ref[f"{case}/X"], ref[f"{case}/G"])
    np.testing.assert_allclose(step.z[2], ref[f"{case}/Z"], rtol=1e-12, atol=1e-12)
    # maxpool3 has tied maxima: the gradient must go where PyTorch sends it
    np.testing.assert_allclose(step.delta[1], ref[f"{case}/dX"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", ["bn1d", "bn2d"])
def test_batchnorm_matches_pytorch(fixture, case):
    ref = fixture("layers")
    shape = ref[f"{case}/X"].shape[1:]
    layers = [identity_first(shape), nb.BatchNorm()] + ([nb.Flatten()] if len(shape) == 3 else [])
    net = nb.Sequential(shape, layers)
    net.W[2], net.b[2] = ref[f"{case}/gamma"], ref[f"{case}/beta"]
    step = upstream(net, ref[f"{case}/X"], ref[f"{case}/G"])
    np.testing.assert_allclose(step.z[2], ref[f"{case}/Z"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.dW[2], ref[f"{case}/dgamma"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.db[2], ref[f"{case}/dbeta"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.delta[1], ref[f"{case}/dX"], rtol=1e-9, atol=1e-11)
    # backprop leaves the running statistics alone; fit's steps update them
    np.testing.assert_array_equal(net.running_mean(2), 0.0)
    np.testing.assert_array_equal(net.running_var(2), 1.0)
    batches = np.concatenate([ref[f"{case}/X{i}"] for i in (1, 2, 3)])
    gamma, beta = net.W[2].copy(), net.b[2].copy()
    net.fit(batches, np.zeros((len(batches), net.n_outputs)), optimizer=nb.SGD(lr=0.1),
            epochs=1, batch_size=len(batches) // 3, shuffle=False, verbose=0)
    np.testing.assert_allclose(net.running_mean(2), ref[f"{case}/running_mean"], rtol=1e-12)
    np.testing.assert_allclose(net.running_var(2), ref[f"{case}/running_var"], rtol=1e-12)
    net.W[2], net.b[2] = gamma, beta
    out = net.forward(ref[f"{case}/Xe"])  # eval: the running statistics
    np.testing.assert_allclose(out, ref[f"{case}/Ze"].reshape(len(out), -1), rtol=1e-10,
                               atol=1e-12)


def fixture_cnn(ref, dtype="float64", algorithm=None):
    net = nb.Sequential((1, 8, 8), CNN, dtype=dtype)
    net.theta[...] = ref["cnn/theta"]
    if algorithm is not None:
        assert force(net, algorithm) == 2
    return net


@ALGORITHMS
def test_cnn_loss_and_gradient_match_pytorch(fixture, algorithm):
    ref = fixture("layers")
    net = fixture_cnn(ref, algorithm=algorithm)
    step = net.backprop(ref["cnn/X"], ref["cnn/y"], "ce")
    assert step.loss == pytest.approx(float(ref["cnn/loss"]), rel=1e-13)
    np.testing.assert_allclose(step.grad, ref["cnn/grad"], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(step.a[8], ref["cnn/probs"], rtol=1e-12, atol=1e-14)
    assert step.z[1].shape == (5, 3, 8, 8) and step.a[2].shape == (5, 3, 4, 4)
    assert step.dW[4].shape == (4, 3, 3, 3) and step.delta[5].shape == (5, 16)


@ALGORITHMS
def test_cnn_adam_training_matches_pytorch(fixture, algorithm):
    ref = fixture("layers")
    net = fixture_cnn(ref, algorithm=algorithm)
    history = net.fit(ref["cnn/train/X"], ref["cnn/train/y"], loss="ce",
                      optimizer=nb.Adam(lr=0.01), epochs=2, batch_size=5, shuffle=False,
                      verbose=0)
    np.testing.assert_allclose(history.step_loss, ref["cnn/train/losses"], rtol=1e-12)
    # Adam divides by sqrt(v): rounding differences of 1e-16 in g grow to ~1e-9 in theta
    np.testing.assert_allclose(net.theta, ref["cnn/train/theta"], rtol=1e-7, atol=1e-8)
    for j, l in ((1, 3), (2, 7)):
        np.testing.assert_allclose(net.running_mean(l), ref[f"cnn/train/running_mean{j}"],
                                   rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(net.running_var(l), ref[f"cnn/train/running_var{j}"],
                                   rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(net.predict_proba(ref["cnn/train/X"]),
                               ref["cnn/train/eval_probs"], rtol=1e-7, atol=1e-9)


@ALGORITHMS
def test_cnn_float32_agrees_with_float64(fixture, algorithm):
    ref = fixture("layers")
    net64 = fixture_cnn(ref, algorithm=algorithm)
    net32 = net64.copy(dtype="float32")
    J64, g64 = net64.gradient(ref["cnn/X"], ref["cnn/y"], "ce")
    J32, g32 = net32.gradient(ref["cnn/X"], ref["cnn/y"], "ce")
    assert g32.dtype == np.float32
    assert J32 == pytest.approx(J64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5 * np.abs(g64).max())


def test_the_size_rule_picks_direct_for_large_stride_1_layers():
    net = nb.Sequential((1, 28, 28), [nb.Conv2D(6, 5), nb.MaxPool2D(2), nb.Conv2D(16, 5),
                                      nb.Conv2D(4, 3, stride=2), nb.Flatten(), nb.Dense(2)])
    assert [int(r[codes.P_ALGO]) for r in net.plan[[0, 2, 3]]] == \
        [codes.DIRECT, codes.IM2COL, codes.IM2COL]


@pytest.mark.parametrize("k, padding", [(5, 0), (5, "same"), (4, 1), (3, "same"), (2, 0)])
def test_direct_and_im2col_agree(k, padding):
    """Every kernel width the direct kernels special-case (3, 5) or not, against im2col."""
    rng = np.random.default_rng(k)
    X, G = rng.normal(size=(3, 2, 9, 8)), None
    steps = {}
    for algorithm in (codes.IM2COL, codes.DIRECT):
        net = nb.Sequential((2, 9, 8), [nb.AvgPool2D(1), nb.Conv2D(3, k, padding=padding,
                                                                   activation="tanh"),
                                        nb.Flatten()], seed=1)
        assert force(net, algorithm) == 1
        G = rng.normal(size=(3, net.n_outputs)) if G is None else G
        steps[algorithm] = upstream(net, X, G)
    a, b = steps[codes.IM2COL], steps[codes.DIRECT]
    for name in ("z", "delta"):
        np.testing.assert_allclose(getattr(b, name)[2], getattr(a, name)[2], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(b.delta[1], a.delta[1], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(b.dW[2], a.dW[2], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(b.db[2], a.db[2], rtol=1e-12, atol=1e-13)
