import numpy as np
import pytest

import numbann as nb
from numbann import initializers


def test_parameters_are_views_into_one_flat_vector():
    net = nb.MLP([3, 4, 2], hidden="tanh", output="sigmoid", seed=0)
    assert net.n_params == 4 * 3 + 4 + 2 * 4 + 2
    assert net.W[1].shape == (4, 3) and net.b[1].shape == (4,) and net.W[2].shape == (2, 4)
    net.W[2] = np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(net.theta[16:24], np.arange(8.0))
    net.theta[:] = 0.5
    assert np.all(net.b[2] == 0.5)
    with pytest.raises(ValueError, match=r"W\[1\] has shape \(4, 3\)"):
        net.W[1] = np.zeros((3, 4))
    with pytest.raises(IndexError, match="numbered 1..2"):
        net.W[0]


def test_seeded_initialization_is_reproducible_and_dtype_independent():
    a = nb.MLP([5, 7, 3], seed=11)
    b = nb.MLP([5, 7, 3], seed=11)
    c = nb.MLP([5, 7, 3], seed=12)
    d = nb.MLP([5, 7, 3], seed=11, dtype="float32")
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)
    np.testing.assert_array_equal(d.theta, a.theta.astype(np.float32))


@pytest.mark.parametrize("name,std", [
    ("xavier_normal", np.sqrt(2 / (400 + 300))), ("xavier_uniform", np.sqrt(2 / (400 + 300))),
    ("he_normal", np.sqrt(2 / 400)), ("he_uniform", np.sqrt(2 / 400)),
    ("torch", 1 / np.sqrt(400) / np.sqrt(3))])
def test_initializer_scales(name, std):
    W = initializers.get(name)((300, 400), np.random.default_rng(0))
    assert W.std() == pytest.approx(std, rel=0.02)
    assert abs(W.mean()) < 0.05 * std


def test_simple_initializers():
    rng = np.random.default_rng(0)
    assert np.all(initializers.get("zeros")((3, 2), rng) == 0)
    assert np.all(initializers.get("constant", value=0.3)((3, 2), rng) == 0.3)
    assert initializers.get("normal", std=0.1)((200, 200), rng).std() == pytest.approx(0.1, rel=0.02)
    U = initializers.get("uniform", a=0.2)((200, 200), rng)
    assert U.min() >= -0.2 and U.max() <= 0.2 and U.std() == pytest.approx(0.2 / np.sqrt(3), rel=0.02)
    with pytest.raises(ValueError, match="valid names"):
        initializers.get("orthogonal")
    with pytest.raises(ValueError, match="std must be >= 0"):
        initializers.get("normal", std=-1)


def test_layer_by_layer_network():
    net = nb.Network(3, [nb.Dense(4, "tanh", init="xavier_uniform"),
                         nb.Dense(5, nb.LeakyReLU(0.2), init="he_normal"),
                         nb.Dense(2, "softmax", init="zeros")], seed=1)
    assert net.sizes.tolist() == [3, 4, 5, 2]
    assert np.all(net.W[3] == 0)
    out = net.forward(np.ones((2, 3)))
    np.testing.assert_allclose(out, 0.5)
    assert "leaky_relu" in net.summary()


def test_save_and_load_round_trip_exactly(tmp_path):
    net = nb.Network(3, [nb.Dense(4, nb.ELU(0.7)), nb.Dense(2, "sigmoid")], seed=3, dtype="float32")
    path = tmp_path / "net.npz"
    net.save(path)
    back = nb.load(path)
    assert back.dtype == np.float32 and back.sizes.tolist() == [3, 4, 2]
    assert back.layers[0].activation.alpha == pytest.approx(0.7)
    np.testing.assert_array_equal(back.theta, net.theta)
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))


def test_forward_on_more_rows_than_one_chunk():
    net = nb.MLP([2, 3, 1], hidden="tanh", seed=0)
    X = np.random.default_rng(1).normal(size=(nb.model.FORWARD_CHUNK + 7, 2))
    full = net.forward(X)
    np.testing.assert_allclose(full[-7:], net.forward(X[-7:]), rtol=1e-14)


def test_user_gradcheck_reports_per_layer():
    net = nb.MLP([2, 3, 2], hidden="tanh", output="softmax", seed=4)
    report = nb.gradcheck(net, [[0.1, 0.2], [0.3, -0.5]], [0, 1], "ce")
    assert set(report.errors) == {1, 2} and report.ok(1e-6)
    assert "layer 2" in repr(report)


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    net = nb.MLP([2, 3, 1], hidden="tanh", seed=4)
    original = net._backprop

    def wrong(X, Y, loss, grad):
        J = original(X, Y, loss, grad)
        grad[0] *= 1.01
        return J
    monkeypatch.setattr(net, "_backprop", wrong)
    monkeypatch.setattr(nb.model.Network, "copy", lambda self, dtype=None: net)
    assert not nb.gradcheck(net, [[0.3, 0.2]], [[1.0]]).ok(1e-6)


class TestBadInput:
    net = nb.MLP([3, 4, 2], hidden="relu", output="softmax")

    def test_wrong_input_width(self):
        with pytest.raises(ValueError, match=r"3 columns but the network takes 3|expected shape \(m, 3\)"):
            self.net.forward(np.zeros((2, 4)))

    def test_one_dimensional_input_is_not_broadcast(self):
        with pytest.raises(ValueError, match=r"2-D.*reshape\(1, -1\)"):
            self.net.forward(np.zeros(3))

    def test_mismatched_rows(self):
        with pytest.raises(ValueError, match="X has 3 rows but Y has 2"):
            self.net.backprop(np.zeros((3, 3)), [0, 1], "ce")

    def test_nan_and_inf_inputs(self):
        with pytest.raises(ValueError, match="NaN or inf"):
            self.net.forward(np.array([[0.0, np.nan, 1.0]]))
        with pytest.raises(ValueError, match="NaN or inf"):
            self.net.forward(np.array([[0.0, np.inf, 1.0]]))

    def test_labels_out_of_range(self):
        with pytest.raises(ValueError, match=r"0\.\.1"):
            self.net.backprop(np.zeros((2, 3)), [0, 2], "ce")

    def test_empty_batch(self):
        with pytest.raises(ValueError, match="empty batch"):
            self.net.forward(np.zeros((0, 3)))

    def test_wrong_dtypes(self):
        with pytest.raises(TypeError, match="real numbers"):
            self.net.forward(np.array([["a", "b", "c"]]))
        with pytest.raises(ValueError, match="'float32' or 'float64'"):
            nb.MLP([2, 1], dtype="int32")

    def test_loss_and_output_must_fit(self):
        with pytest.raises(ValueError, match="output='softmax'"):
            nb.MLP([2, 2]).backprop(np.zeros((1, 2)), [0], "ce")
        with pytest.raises(ValueError, match="output='sigmoid'"):
            nb.MLP([2, 1]).backprop(np.zeros((1, 2)), [[1.0]], "bce")

    def test_unknown_names_list_valid_ones(self):
        with pytest.raises(ValueError, match="valid names"):
            nb.MLP([2, 1], hidden="gelu")
        with pytest.raises(ValueError, match="valid names"):
            self.net.backprop(np.zeros((1, 3)), [0], "focal")

    def test_bad_architecture(self):
        with pytest.raises(ValueError, match="positive integer"):
            nb.MLP([2, 0, 1])
        with pytest.raises(ValueError, match="at least"):
            nb.MLP([2])
        with pytest.raises(ValueError, match="last layer only"):
            nb.Network(2, [nb.Dense(3, "softmax"), nb.Dense(1)])
