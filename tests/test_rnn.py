"""The RNN layer: forward, backpropagation through time and training against
PyTorch's nn.RNN (committed fixtures, tests/fixtures/make_sequence_fixtures.py),
backprop against central differences over random recurrent stacks, files,
views and bad input."""
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numbann as nb

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "sequence.npz")


def fixture(case):
    prefix = case + "/"
    return {k[len(prefix):]: FIXTURES[k] for k in FIXTURES.files if k.startswith(prefix)}


def torch_weights(net, l, f):
    net.W_x[l] = f["W_ih"]
    net.W_h[l] = f["W_hh"]
    net.b[l] = f["b_ih"] + f["b_hh"]


@pytest.mark.parametrize("case, activation, all_steps",
                         [("tanh_last", "tanh", False), ("relu_all", "relu", True)])
def test_layer_matches_torch(case, activation, all_steps):
    f = fixture(case)
    m, T, n = f["X"].shape
    H = f["W_hh"].shape[0]
    layers = [nb.RNN(H, activation, return_sequences=all_steps)]
    net = nb.Sequential((T, n), layers + ([nb.Flatten()] if all_steps else []), seed=3)
    torch_weights(net, 1, f)
    out = net.forward(f["X"])
    np.testing.assert_allclose(out, f["out"].reshape(m, -1), rtol=1e-12, atol=1e-12)
    step = net.backward(f["X"], f["G"].reshape(m, -1))       # J = sum(G * a[L])
    np.testing.assert_allclose(step.dW[1], np.hstack([f["dW_ih"], f["dW_hh"]]),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.dX, f["dX"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.db[1], f["db"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.a[1], f["out"].reshape(step.a[1].shape), atol=1e-12)


def rnn_classifier(dtype="float64"):
    return nb.Sequential((6, 3), [nb.RNN(5), nb.Dense(4, "softmax")], seed=0, dtype=dtype)


def test_network_loss_gradient_and_training_match_torch():
    f = fixture("net")
    net = rnn_classifier()
    net.theta[:] = f["theta"]
    assert net.loss(f["X"], f["y"], "ce") == pytest.approx(float(f["loss"]), rel=1e-12)
    np.testing.assert_allclose(net.gradient(f["X"], f["y"], "ce")[1], f["grad"], rtol=1e-9,
                               atol=1e-12)
    net.fit(f["X"], f["y"], loss="ce", optimizer=nb.SGD(lr=0.1, momentum=0.9), epochs=2,
            batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(net.theta, f["theta_after"], rtol=1e-9, atol=1e-12)


@st.composite
def recurrent_stacks(draw):
    """One or two RNN layers (the first returning every step when two), a dense head."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    T, n, m = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    first_all = draw(st.booleans())
    layers = [nb.RNN(draw(st.integers(1, 4)), "tanh", return_sequences=first_all)]
    if first_all and draw(st.booleans()):
        layers.append(nb.RNN(draw(st.integers(1, 3)), "tanh"))
    elif first_all:
        layers.append(nb.Flatten())
    layers.append(nb.Dense(2, "identity"))
    net = nb.Sequential((T, n), layers, seed=int(rng.integers(1000)))
    return net, rng.normal(size=(m, T, n)), rng.normal(size=(m, 2))


@given(recurrent_stacks())
def test_backprop_through_time_equals_central_differences(problem):
    net, X, Y = problem
    report = nb.gradcheck(net, X, Y, "mse", eps=1e-6)
    assert report.max_error < 1e-6, report


def test_relu_rnn_gradient_away_from_kinks():
    rng = np.random.default_rng(4)
    net = nb.Sequential((4, 2), [nb.RNN(3, "relu", return_sequences=True), nb.Flatten(),
                                 nb.Dense(1)], seed=2)
    X = rng.normal(size=(3, 4, 2))
    z = net.backprop(X, np.zeros((3, 1)), "mse").z[1]
    assert np.abs(z).min() > 1e-5  # no pre-activation within the differences' reach of the kink
    assert nb.gradcheck(net, X, np.zeros((3, 1)), "mse", eps=1e-6).max_error < 1e-6


def test_views_files_and_float32():
    net = rnn_classifier()
    W = net.W[1]
    assert net.W_x[1].shape == (5, 3) and net.W_h[1].shape == (5, 5)
    net.W_h[1] = np.eye(5)
    assert np.array_equal(W[:, 3:], np.eye(5))  # W_h is a view of W[1] = [W_x | W_h]
    bound = 1 / np.sqrt(5)
    assert np.abs(net.W_x[1]).max() <= bound and np.abs(net.b[1]).max() <= bound
    X = np.random.default_rng(0).normal(size=(4, 6, 3))
    net32 = net.copy(dtype="float32")
    np.testing.assert_allclose(net32.forward(X), net.forward(X), atol=1e-5)


def test_save_and_load_are_bit_exact(tmp_path):
    net = nb.Sequential((6, 3), [nb.RNN(5, "relu", return_sequences=True), nb.RNN(2),
                                 nb.Dense(4, "softmax")], seed=5)
    net.save(tmp_path / "rnn.npz")
    back = nb.load(tmp_path / "rnn.npz")
    assert np.array_equal(back.theta, net.theta)
    assert [ly.config() for ly in back.layers] == [ly.config() for ly in net.layers]
    X = np.random.default_rng(1).normal(size=(3, 6, 3))
    assert np.array_equal(back.forward(X), net.forward(X))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'tanh' or 'relu'"):
        nb.RNN(4, "sigmoid")
    with pytest.raises(TypeError, match="return_sequences"):
        nb.RNN(4, return_sequences="yes")
    with pytest.raises(ValueError, match="units"):
        nb.RNN(0)
    with pytest.raises(ValueError, match=r"sequences \(T, n\)"):
        nb.Sequential((5,), [nb.RNN(3), nb.Dense(1)])
    with pytest.raises(ValueError, match=r"input_shape=\(1, 5, 3\)"):
        nb.Sequential((5, 3), [nb.Conv2D(2, 3), nb.Flatten(), nb.Dense(1)])
    net = rnn_classifier()
    with pytest.raises(ValueError, match=r"\(m, 6, 3\).*reshape"):
        net.forward(np.zeros((2, 18)))
    with pytest.raises(ValueError, match=r"sequences of shape \(m, 6, 3\)"):
        net.forward(np.zeros((2, 5, 3)))


# ---------------------------------------------------------------- tracing

@pytest.fixture(scope="module")
def rnn_trace():
    from numbann.trace import Recorder
    rng = np.random.default_rng(2)
    net = nb.Sequential((5, 2), [nb.RNN(3, return_sequences=True), nb.RNN(2), nb.Dense(2, "softmax")],
                        seed=1)
    X, y = rng.normal(size=(4, 5, 2)), np.array([0, 1, 1, 0])
    rec = Recorder()
    net.fit(X, y, loss="ce", optimizer=nb.SGD(lr=0.1), epochs=2, batch_size=4, shuffle=False,
            verbose=0, trace=rec)
    return rec.trace, X


def test_trace_keeps_every_time_step(rnn_trace):
    tr, X = rnn_trace
    step = tr[0]
    assert step.h_steps[1].shape == (4, 5, 3) and step.delta_steps[2].shape == (4, 5, 2)
    # the kept steps are the layer's own: h_t = tanh(z_t), and a[l] is h_T (layer 2)
    np.testing.assert_allclose(step.h_steps[1], np.tanh(step.z_steps[1]), rtol=1e-14)
    np.testing.assert_allclose(step.a[2], step.h_steps[2][:, -1], rtol=1e-14)
    np.testing.assert_allclose(step.a[1], step.h_steps[1], rtol=1e-14)
    with pytest.raises(KeyError, match="not an RNN layer"):
        step.h_steps[3]


def numpy_through_time(x, W, b, delta_out, all_steps):
    """Backpropagation through time for one tanh layer, written out per step."""
    H = len(b)
    W_x, W_h = W[:, :x.shape[2]], W[:, x.shape[2]:]
    m, T, _ = x.shape
    h = np.zeros((m, T + 1, H))
    for t in range(T):
        h[:, t + 1] = np.tanh(x[:, t] @ W_x.T + h[:, t] @ W_h.T + b)
    deltas, carry = np.zeros((m, T, H)), np.zeros((m, H))
    for t in reversed(range(T)):
        above = delta_out[:, t] if all_steps else (delta_out if t == T - 1 else 0.0)
        deltas[:, t] = above + (carry @ W_h) * (1 - h[:, t + 1] ** 2) if t < T - 1 else above
        carry = deltas[:, t]
    return deltas, h


def test_explain_writes_a_recurrent_weight_as_a_sum_over_time(rnn_trace):
    tr, X = rnn_trace
    step = tr[0]
    deltas, h = numpy_through_time(X, step.W_before[1], step.b_before[1], step.delta[1], True)
    np.testing.assert_allclose(step.delta_steps[1], deltas, rtol=1e-10, atol=1e-14)
    ex = tr.explain(0, "W", 1, 2, 2 + 1)                 # W_h[2, 1]
    np.testing.assert_allclose(ex.terms, (deltas[:, :, 2] * h[:, :-1, 1]).ravel(), atol=1e-15)
    assert ex.ok and "dW_h[2,1] = sum_{m,t} delta_t[m,2] * h_(t-1)[m,1]" in ex
    assert ex.product == pytest.approx(step.dW[1][2, 3], abs=1e-15)
    ex_x = tr.explain(0, "W", 1, 0, 1)                   # W_x[0, 1]
    np.testing.assert_allclose(ex_x.terms, (deltas[:, :, 0] * X[:, :, 1]).ravel(), atol=1e-15)


def test_replay_recomputes_every_time_step(rnn_trace):
    tr, _ = rnn_trace
    text = tr.replay(1, sample=2)
    assert "z_t = W_x[1] x_t + W_h[1] h_(t-1) + b[1]" in text
    assert "Backpropagation through time in layer 2" in text and "delta_5 =" in text
    check = text[text.index("\nCheck: "):]
    assert "gives the recorded values" in check, check
    assert float(re.search(r"largest difference ([0-9.e+-]+)", check).group(1)) < 1e-12


def test_trace_files_and_plots(rnn_trace, tmp_path):
    from numbann.trace import load_trace, plots
    tr, _ = rnn_trace
    tr.save(tmp_path / "rnn_trace.npz")
    back = load_trace(tmp_path / "rnn_trace.npz")
    assert np.array_equal(back[1].delta_steps[1], tr[1].delta_steps[1])
    assert "Backpropagation through time" in back.replay(1)
    fig = plots.delta_through_time(tr, 1)
    assert len(fig.axes[0].lines) == 2                   # the first and the last step
    heights = fig.axes[0].lines[0].get_ydata()
    np.testing.assert_allclose(heights, np.linalg.norm(tr[0].delta_steps[1], axis=2).mean(0))
    assert plots.hidden_states(tr, 2, sample=1).axes[0].images[0].get_array().shape == (2, 5)


def test_l2_penalizes_the_recurrent_weights_not_the_bias():
    net = rnn_classifier()
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(5, 6, 3)), rng.integers(0, 4, 5)
    grad = net.gradient(X, y, "ce")[1]
    penalty = np.zeros_like(net.theta)
    for W in net.split(penalty)[0]:
        W[...] = 1.0                          # weights only: the biases keep 0
    expected = net.theta - 0.1 * (grad + 0.5 * penalty * net.theta)
    net.fit(X, y, loss="ce", optimizer=nb.SGD(lr=0.1), epochs=1, batch_size=5, l2=0.5,
            verbose=0)
    np.testing.assert_allclose(net.theta, expected, rtol=1e-12, atol=1e-15)
