"""numbann.functional against PyTorch's values and gradients (tests/fixtures/functional.npz)."""
import numpy as np
import pytest

import numbann as nb
import numbann.functional as F

# (fixture case, loss, input key, target key, reductions)
LOSS_CASES = [
    ("mse", F.mse, F.mse_grad, "A", "Yreg",
     ("none", "mean", "sum", "half_sum", "half_batch_mean")),
    ("mae", F.mae, F.mae_grad, "A", "Yreg", ("none", "mean", "sum")),
    ("bce", F.bce, F.bce_grad, "A", "Ybin", ("none", "mean", "sum", "batchmean")),
    ("bce_soft", F.bce, F.bce_grad, "A", "Ysoft", ("none", "mean", "sum", "batchmean")),
    ("ce", F.cross_entropy, F.cross_entropy_grad, "Z", "Yidx", ("none", "mean", "sum")),
    ("ce_prob", F.cross_entropy, F.cross_entropy_grad, "Z", "Yprob", ("none", "mean", "sum")),
    ("hinge", F.hinge, F.hinge_grad, "Z", "Ypm", ("none", "mean", "sum")),
    ("kl", F.kl_div, F.kl_div_grad, "KL_A", "Yprob", ("none", "mean", "sum", "batchmean")),
]
PARAMS = [pytest.param(case, value, grad, x, y, red, id=f"{case}-{red}")
          for case, value, grad, x, y, reds in LOSS_CASES for red in reds]


@pytest.mark.parametrize("case, value, grad, x, y, reduction", PARAMS)
def test_loss_value_and_gradient_match_pytorch(fixture, case, value, grad, x, y, reduction):
    ref = fixture("functional")
    J = value(ref[x], ref[y], reduction)
    dJ = grad(ref[x], ref[y], reduction)
    assert np.shape(J) == ref[f"{case}_{reduction}_value"].shape
    np.testing.assert_allclose(J, ref[f"{case}_{reduction}_value"], rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(dJ, ref[f"{case}_{reduction}_grad"], rtol=1e-13, atol=1e-300)
    both = F.value_and_grad(case.split("_")[0], ref[x], ref[y], reduction)
    np.testing.assert_array_equal(both[0], J)
    np.testing.assert_array_equal(both[1], dJ)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_at_its_clamps_is_pytorchs(fixture, reduction):
    """p = 0, 1, 1e-300, 1e-13, ...: logs clamped at -100, a (1 - a) at float32 1e-12
    (PyTorch's d/dp at p = 0, y = 1 is -1.0000000039958029e12, not -1e12)."""
    ref = fixture("functional")
    J, dJ = F.value_and_grad("bce", ref["bce_edge_P"], ref["bce_edge_Y"], reduction)
    if reduction == "none":  # the same operations in the same order as PyTorch's
        np.testing.assert_array_equal(J, ref["bce_edge_none_value"])
        np.testing.assert_array_equal(dJ, ref["bce_edge_none_grad"])
    else:
        np.testing.assert_allclose(J, ref[f"bce_edge_{reduction}_value"], rtol=1e-15)
        np.testing.assert_allclose(dJ, ref[f"bce_edge_{reduction}_grad"], rtol=1e-15)


def test_bce_in_float32_is_pytorchs_float32(fixture):
    ref = fixture("functional")
    J, dJ = F.value_and_grad("bce", ref["bce_edge32_P"], ref["bce_edge32_Y"], "none")
    assert J.dtype == dJ.dtype == np.float32
    np.testing.assert_allclose(J, ref["bce_edge32_none_value"], rtol=2e-7, atol=1e-45)
    np.testing.assert_allclose(dJ, ref["bce_edge32_none_grad"], rtol=2e-7, atol=1e-45)


def test_networks_bce_gradient_at_the_clamp_is_pytorchs(fixture):
    """A softmax output of 9.4e-14 under BCE: the clamp of a (1 - a) shows in dW."""
    ref = fixture("functional")
    net = nb.Network(2, [nb.Dense(2, "softmax")])
    net.W[1], net.b[1] = ref["bce_net_W"], ref["bce_net_b"]
    step = net.backprop(ref["bce_net_X"], ref["bce_net_Y"], "bce")
    np.testing.assert_allclose(step.loss, ref["bce_net_value"], rtol=1e-14)
    np.testing.assert_allclose(step.dW[1], ref["bce_net_dW"], rtol=1e-14)
    np.testing.assert_allclose(step.db[1], ref["bce_net_db"], rtol=1e-14, atol=1e-16)


def test_bce_batchmean_trains_as_the_functional_form():
    rng = np.random.default_rng(3)
    net = nb.MLP([3, 4, 2], output="sigmoid", seed=1)
    X, Y = rng.normal(size=(5, 3)), rng.integers(0, 2, (5, 2)).astype(float)
    loss = nb.losses.get("bce", "batchmean")
    J = net.loss(X, Y, loss)
    np.testing.assert_allclose(J, F.bce(net.forward(X), Y, "batchmean"), rtol=1e-14)
    np.testing.assert_allclose(J, 2 * net.loss(X, Y, "bce"), rtol=1e-14)  # 1/m = n/(m n)


def test_none_sums_to_sum_and_keeps_the_shape():
    rng = np.random.default_rng(4)
    a, y = rng.uniform(0.1, 0.9, (2, 3, 2)), rng.uniform(0, 1, (2, 3, 2))
    for value in (F.mse, F.mae, F.bce, F.kl_div):
        per_element = value(a, y, "none")
        assert per_element.shape == a.shape
        np.testing.assert_allclose(per_element.sum(), value(a, y, "sum"), rtol=1e-14)
    # batchmean divides by the number of rows, mean by the number of elements
    np.testing.assert_allclose(F.kl_div(a, y, "batchmean"),
                               np.sum(y * (np.log(y) - np.log(a))) / 2, rtol=1e-14)
    np.testing.assert_allclose(F.mse(a, y), np.mean((a - y) ** 2), rtol=1e-14)


def test_float32_in_float32_out():
    a = np.array([[0.25, 0.5]], np.float32)
    J, dJ = F.value_and_grad("mse", a, [[0.0, 1.0]], "none")
    assert J.dtype == dJ.dtype == np.float32


@pytest.mark.parametrize("name, alpha", [("identity", None), ("sigmoid", None), ("tanh", None),
                                         ("relu", None), ("leaky_relu", 0.2), ("elu", 0.5)])
def test_activation_value_and_derivative_match_pytorch(fixture, name, alpha):
    ref = fixture("activations")
    key = name if alpha is None else f"{name}_{alpha}"
    value, grad = getattr(F, name), getattr(F, f"{name}_grad")
    kwargs = {} if alpha is None else {"alpha": alpha}
    np.testing.assert_allclose(value(ref["z"], **kwargs), ref[f"{key}_value"], rtol=1e-14,
                               atol=1e-300)
    np.testing.assert_allclose(grad(ref["z"], **kwargs), ref[f"{key}_grad"], rtol=1e-13,
                               atol=1e-300)
    upstream = np.linspace(-2, 3, ref["z"].size)
    np.testing.assert_allclose(grad(ref["z"], upstream, **kwargs),
                               upstream * ref[f"{key}_grad"], rtol=1e-13, atol=1e-300)


def test_step_and_its_zero_gradient():
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(F.step(z), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(F.step_grad(z, np.ones(3)), 0.0)


def test_softmax_and_its_jacobian_vector_product_match_pytorch(fixture):
    ref = fixture("activations")
    np.testing.assert_allclose(F.softmax(ref["softmax_Z"]), ref["softmax_value"], rtol=1e-13,
                               atol=1e-300)
    np.testing.assert_allclose(F.softmax_grad(ref["softmax_Z"], ref["softmax_vjp_G"]),
                               ref["softmax_vjp"], rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="Jacobian"):
        nb.activations.get("softmax").derivative(ref["softmax_Z"])


def test_log_softmax_and_its_gradient_match_pytorch(fixture):
    ref = fixture("functional")
    value = F.log_softmax(ref["lsm_Z"])
    assert np.all(np.isfinite(value))  # rows with logits 1000 and -1000 apart
    np.testing.assert_allclose(value, ref["lsm_value"], rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(F.log_softmax_grad(ref["lsm_Z"], ref["lsm_G"]), ref["lsm_vjp"],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(F.log_softmax(ref["lsm_Z"][0]), ref["lsm_value"][0], rtol=1e-14)


def test_activations_along_the_last_axis_of_any_array():
    z = np.random.default_rng(5).normal(size=(2, 3, 4))
    np.testing.assert_allclose(F.softmax(z).sum(axis=-1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax(z), np.log(F.softmax(z)), rtol=1e-13)
    np.testing.assert_allclose(F.tanh_grad(z), 1 - np.tanh(z) ** 2, rtol=1e-14)


def test_bad_inputs_are_refused_clearly():
    a, y = np.full((2, 2), 0.5), np.zeros((2, 2))
    with pytest.raises(ValueError, match="unknown reduction 'batchmean'.*none, mean, sum"):
        F.mse(a, y, "batchmean")
    with pytest.raises(ValueError, match="unknown loss"):
        F.value_and_grad("cosine", a, y)
    with pytest.raises(ValueError, match="shape of a"):
        F.mse(a, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.bce(a + 1, y)
    with pytest.raises(ValueError, match="NaN"):
        F.mse(a * np.nan, y)
    with pytest.raises(ValueError, match=r"logits of shape \(m, C\)"):
        F.cross_entropy(np.zeros(3), [1])
    with pytest.raises(ValueError, match="-1 or \\+1"):
        F.hinge(a, y)
    with pytest.raises(ValueError, match="shape of z"):
        F.softmax_grad(a, np.ones(3))
    with pytest.raises(ValueError, match="shape of z"):
        F.log_softmax_grad(a, np.ones(3))
