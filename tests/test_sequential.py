"""Sequential networks of any layers: backprop against central differences
over random stacks, float32 against float64, save/load, copy, bad input."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import numbann as nb
from numbann.kernels import codes
from test_backprop import HEADS, targets
from test_layers import force

NONLINEAR = ("tanh", "sigmoid", "elu")
SMOOTH = ("identity",) + NONLINEAR


def _alpha(act):
    return 0.5 if act == "elu" else None


@st.composite
def stacks(draw):
    """A random image network: conv / pool / batch-norm blocks, then a dense head.

    BatchNorm follows only a layer with a non-linear activation and has one
    itself: after a linear map, its normalization cancels the earlier
    layer's bias (and a BatchNorm's scale) exactly, and a gradient that is
    zero in exact arithmetic is only rounding noise to a finite difference.
    """
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(4, 9)), draw(st.integers(4, 9))
    layers, shape = [], (C, H, W)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "max", "avg", "bn"]))
        nonlinear = bool(layers) and layers[-1].activation.name != "identity"
        if kind == "conv":
            k = draw(st.integers(1, 3))
            padding = draw(st.sampled_from([0, 1, "same"]))
            stride = 1 if padding == "same" else draw(st.integers(1, 2))
            act = draw(st.sampled_from(SMOOTH + ("relu",)))
            layer = nb.Conv2D(draw(st.integers(1, 3)), k, stride=stride, padding=padding,
                              activation=act, init="normal", alpha=_alpha(act))
        elif kind in ("max", "avg"):
            cls = nb.MaxPool2D if kind == "max" else nb.AvgPool2D
            layer = cls(2, stride=draw(st.integers(1, 2)))
        elif nonlinear and isinstance(layers[-1], nb.Conv2D):
            act = draw(st.sampled_from(NONLINEAR))
            layer = nb.BatchNorm(activation=act, alpha=_alpha(act))
        else:
            continue
        try:
            out = layer.output_shape(shape)
        except ValueError:  # the image became too small for it: stop the stack here
            break
        layers.append(layer)
        shape = out
    layers.append(nb.Flatten())
    if draw(st.booleans()):
        act = draw(st.sampled_from(NONLINEAR))
        layers.append(nb.Dense(draw(st.integers(2, 5)), act, alpha=_alpha(act)))
        if draw(st.booleans()):
            act = draw(st.sampled_from(NONLINEAR))
            layers.append(nb.BatchNorm(activation=act, alpha=_alpha(act)))
    output, loss, reduction = draw(st.sampled_from(HEADS))
    n_out = draw(st.integers(2 if output == "softmax" else 1, 3))
    layers.append(nb.Dense(n_out, output))
    m = draw(st.integers(3, 5))  # batch norm over 2 rows maps every input to +-1
    return (C, H, W), layers, loss, reduction, m, draw(st.integers(0, 2**16)), \
        draw(st.sampled_from([codes.IM2COL, codes.DIRECT]))


def build(problem):
    shape, layers, loss, reduction, m, seed, algorithm = problem
    net = nb.Sequential(shape, layers, seed=seed)
    force(net, algorithm)
    rng = np.random.default_rng(seed)
    net.theta[...] = rng.normal(0, 0.6, net.n_params)
    X = rng.normal(size=(m,) + shape)
    Y = targets(rng, loss, m, net.n_outputs)
    return net, X, Y, nb.losses.get(loss, reduction)


def away_from_kinks(net, step, loss, Y):
    """No relu input, max-pool runner-up or loss kink within reach of the finite difference."""
    for l, layer in enumerate(net.layers, 1):
        if layer.activation.name == "relu" and np.min(np.abs(step.z[l])) < 1e-3:
            return False
        if isinstance(layer, nb.MaxPool2D) and not _clear_winners(step.a[l - 1], layer):
            return False
    aL = step.a[net.L]
    if loss.name in ("bce", "kl") and np.min(np.minimum(aL, 1 - aL)) < 1e-4:
        return False
    if loss.name == "mae" and np.min(np.abs(aL - Y)) < 1e-3:
        return False
    if loss.name == "hinge" and np.min(np.abs(1 - Y * aL)) < 1e-3:
        return False
    return True


def _clear_winners(a, layer):
    """Every window's maximum beats its runner-up by 1e-3."""
    (k, _), s = layer.size, layer.stride
    Ho, Wo = (a.shape[2] - k) // s + 1, (a.shape[3] - k) // s + 1
    for p in range(Ho):
        for q in range(Wo):
            window = np.sort(a[:, :, p * s:p * s + k, q * s:q * s + k].reshape(*a.shape[:2], -1))
            if np.min(window[..., -1] - window[..., -2]) < 1e-3:
                return False
    return True


@given(stacks())
def test_backprop_equals_central_differences(problem):
    net, X, Y, loss = build(problem)
    step = net.backprop(X, Y, loss)
    assume(away_from_kinks(net, step, loss, Y))
    report = nb.gradcheck(net, X, Y, loss, eps=1e-5)
    assert report.max_error < 1e-6, report


@given(stacks())
def test_float32_agrees_with_float64(problem):
    net64, X, Y, loss = build(problem)
    net32 = net64.copy(dtype="float32")
    out64, out32 = net64.forward(X), net32.forward(X)
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-4 * (1 + np.abs(out64).max()))


def small_cnn(dtype="float64", seed=0):
    return nb.Sequential((1, 6, 6), [nb.Conv2D(2, 3, padding=1), nb.MaxPool2D(2),
                                     nb.BatchNorm("relu"), nb.Flatten(), nb.Dense(4, "tanh"),
                                     nb.BatchNorm(), nb.Dense(3, "softmax")],
                         seed=seed, dtype=dtype)


def image_data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1, 6, 6))
    y = (X[:, 0, :3].sum(axis=(1, 2)) > 0).astype(int) + (X[:, 0, 3:, :3].sum(axis=(1, 2)) > 1)
    return X, y


def test_save_load_keeps_parameters_and_running_statistics(tmp_path):
    net = small_cnn()
    X, y = image_data()
    net.fit(X, y, loss="ce", optimizer="adam", epochs=2, batch_size=8, verbose=0)
    assert not np.all(net.running_mean(3) == 0)  # fit moved them
    net.save(tmp_path / "cnn.npz")
    back = nb.load(tmp_path / "cnn.npz")
    assert isinstance(back, nb.Sequential) and back.shapes == net.shapes
    np.testing.assert_array_equal(back.theta, net.theta)
    np.testing.assert_array_equal(back.running, net.running)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    assert [type(a) for a in back.layers] == [type(a) for a in net.layers]


def test_copy_is_independent_and_keeps_views():
    net = small_cnn()
    other = net.copy()
    other.W[1][...] = 0.0
    other.running_mean(3)[...] = 5.0
    assert np.all(other.theta[:18] == 0) and not np.all(net.W[1] == 0)
    assert np.all(net.running_mean(3) == 0)
    X, _ = image_data(4)
    assert not np.allclose(other.forward(X), net.forward(X))


OPTIMIZERS = {"sgd": lambda: nb.SGD(lr=0.1), "nesterov": lambda: nb.SGD(0.05, 0.9, nesterov=True),
              "momentum": lambda: nb.Momentum(lr=0.05), "adagrad": lambda: nb.Adagrad(lr=0.05),
              "rmsprop": lambda: nb.RMSprop(lr=3e-3), "adam": lambda: nb.Adam(lr=0.01),
              "adamw": lambda: nb.AdamW(lr=0.01)}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss(name):
    X, y = image_data(48)
    net = small_cnn()
    before = net.evaluate(X, y, "ce")
    schedule = nb.schedules.CosineAnnealing(T_max=15) if name == "sgd" else None
    history = net.fit(X, y, loss="ce", optimizer=OPTIMIZERS[name](), epochs=15, batch_size=16,
                      verbose=0, schedule=schedule)
    assert np.mean(history.loss[-3:]) < 0.9 * np.mean(history.loss[:3])
    assert net.evaluate(X, y, "ce") < before


def test_newton_steps_a_tiny_network():
    X, y = image_data(12)
    net = nb.Sequential((1, 6, 6), [nb.AvgPool2D(3), nb.Flatten(), nb.Dense(1, "sigmoid")])
    history = net.fit(X, (y > 0).astype(float), loss="bce", optimizer=nb.Newton(damping=1e-3),
                      epochs=3, batch_size=12, verbose=0)
    assert history.loss[-1] < history.loss[0]


def test_training_options_work_on_layers():
    """Dropout, penalties, clipping, validation and early stopping on a CNN;
    the compiled path and Newton-free step path agree bit for bit."""
    X, y = image_data(40)
    kwargs = dict(loss="ce", optimizer="adam", epochs=4, batch_size=10, verbose=0,
                  dropout=0.3, l2=1e-3, l1=1e-4, clip_norm=1.0, seed=3)
    a, b = small_cnn(), small_cnn()
    ha = a.fit(X, y, **kwargs)
    hb = b.fit(X, y, validation_data=(X[:8], y[:8]), patience=10, restore_best=False, **kwargs)
    np.testing.assert_array_equal(a.theta, b.theta)  # per-epoch blocks = one block
    assert ha.step_loss == hb.step_loss and len(hb.val_loss) == 4
    c = small_cnn()
    hc = c.fit(X, y, **{**kwargs, "dropout": 0.0})
    assert hc.step_loss != ha.step_loss  # dropout changed the steps


def test_penalty_reaches_conv_kernels_not_batchnorm():
    X, y = image_data(16)
    plain, penalized = small_cnn(), small_cnn()
    kw = dict(loss="ce", optimizer=nb.SGD(lr=0.1), epochs=1, batch_size=16, verbose=0)
    plain.fit(X, y, **kw)
    penalized.fit(X, y, l2=10.0, **kw)
    assert not np.allclose(plain.W[1], penalized.W[1])  # conv kernel decayed
    np.testing.assert_array_equal(plain.b[1], penalized.b[1])  # biases are not penalized
    np.testing.assert_allclose(plain.W[3], penalized.W[3])  # nor is gamma (same step on it)


def test_divergence_names_a_layer():
    X, y = image_data(16)
    net = small_cnn()
    net.W[5][0, 0] = np.inf
    with pytest.raises(nb.TrainingDiverged, match=r"epoch 0, step 0.*W\[5\] \(layer 5\)"):
        net.fit(X, y, loss="ce", epochs=1, batch_size=16, verbose=0)


def test_digits_cnn_learns():
    X, y = nb.data.load_digits()
    X = X.reshape(-1, 1, 8, 8)
    net = nb.Sequential((1, 8, 8), [nb.Conv2D(8, 3, padding=1), nb.MaxPool2D(2), nb.Flatten(),
                                    nb.Dense(10, "softmax")], seed=0, dtype="float32")
    net.fit(X[:1200], y[:1200], loss="ce", optimizer=nb.Adam(lr=3e-3), epochs=8, batch_size=32,
            verbose=0)
    assert net.score(X[1200:], y[1200:]) > 0.9


# ---------------------------------------------------------------- bad input

def test_flat_X_for_a_conv_network_says_how_to_reshape():
    net = small_cnn()
    with pytest.raises(ValueError, match=r"reshape\(-1, 1, 6, 6\)"):
        net.forward(np.zeros((3, 36)))
    flat = nb.Sequential(36, [nb.Dense(3, "softmax")])
    with pytest.raises(ValueError, match="2-D with shape"):
        flat.forward(np.zeros((3, 1, 6, 6)))


def test_channels_and_image_size_must_match():
    net = small_cnn()
    with pytest.raises(ValueError, match="2 channel"):
        net.forward(np.zeros((3, 2, 6, 6)))
    with pytest.raises(ValueError, match="5x6"):
        net.forward(np.zeros((3, 1, 5, 6)))


def test_kernel_larger_than_image_shows_the_size_arithmetic():
    with pytest.raises(ValueError, match=r"layer 2 \(Conv2D\).*floor\(\(3 \+ 0 - 5\) / 1\) \+ 1 = -1"):
        nb.Sequential((1, 6, 6), [nb.MaxPool2D(2), nb.Conv2D(2, 5), nb.Flatten(), nb.Dense(1)])
    with pytest.raises(ValueError, match=r"layer 1 \(MaxPool2D\).*window \(3\)"):
        nb.Sequential((1, 2, 2), [nb.MaxPool2D(3), nb.Flatten(), nb.Dense(1)])


@pytest.mark.parametrize("layers, match", [
    ([nb.Conv2D(2, 3), nb.Dense(1)], "put Flatten"),
    ([nb.Flatten(), nb.Conv2D(2, 3), nb.Flatten(), nb.Dense(1)], "takes images"),
    ([nb.Conv2D(2, 3)], "output must be flat"),
    ([nb.Flatten(), nb.Dense(3, "softmax"), nb.Dense(1)], "softmax"),
    (["dense"], "numbann layer"),
])
def test_bad_stacks(layers, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nb.Sequential((1, 6, 6), layers)


@pytest.mark.parametrize("kwargs, match", [
    (dict(filters=0, kernel_size=3), "filters"), (dict(filters=2, kernel_size=(3, 3, 3)), "pair"),
    (dict(filters=2, kernel_size=3, stride=2, padding="same"), "stride=1"),
    (dict(filters=2, kernel_size=3, padding=-1), "padding"),
    (dict(filters=2, kernel_size=3, padding="full"), "padding"),
])
def test_bad_conv_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nb.Conv2D(**kwargs)


def test_input_shape_is_flat_a_sequence_or_an_image():
    with pytest.raises(ValueError, match=r"grey images need a channel axis.*\(1, 28, 28\)"):
        nb.Sequential((28, 28), [nb.Conv2D(2, 3), nb.Flatten(), nb.Dense(1)])
    with pytest.raises(ValueError, match=r"\(n,\) for flat samples, \(T, n\) for sequences"):
        nb.Sequential((2, 3, 4, 5), [nb.Flatten(), nb.Dense(1)])
    with pytest.raises(TypeError, match="input_shape"):
        nb.Sequential(None, [nb.Dense(1)])


def test_batchnorm_on_one_row_in_training_raises_as_pytorch():
    net = nb.Sequential(4, [nb.Dense(3), nb.BatchNorm(), nb.Dense(1)])
    with pytest.raises(ValueError, match=r"layer 2 \(BatchNorm\) needs more than one value"):
        net.backprop(np.zeros((1, 4)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="last batch"):
        net.fit(np.zeros((9, 4)), np.zeros((9, 1)), batch_size=4, verbose=0)
    net.forward(np.zeros((1, 4)))  # inference on one row is fine (running statistics)


def test_sequential_trains_on_cuda_and_traces_on_the_cpu(monkeypatch):
    """device='cuda' runs plan_cuda.CudaPlanRun (tests/cuda compares it with the
    CPU); without a GPU the error names numba's simulator; a trace is refused
    on the GPU, as for dense networks."""
    from numbann import device
    from numbann.plan_cuda import CudaPlanRun
    net = small_cnn()
    X, y = image_data(8)
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="NUMBA_ENABLE_CUDASIM=1"):
        net.fit(X, y, loss="ce", device="cuda", verbose=0)
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    assert device.run_class("cuda", None, net) is CudaPlanRun
    with pytest.raises(ValueError, match="device='cpu'"):
        device.run_class("cuda", trace=object(), net=net)
