"""Every loss head against PyTorch values, and its stability at saturation."""
import numpy as np
import pytest

from numbann import activations, losses
from numbann.kernels.cpu import activate, loss_delta


def head(loss, act_name, pre, y):
    """J and delta = dJ/dz for the output pre-activations ``pre`` (dJ/da when identity)."""
    act = activations.get(act_name)
    z = np.ascontiguousarray(pre, dtype=np.float64)
    a = np.empty_like(z)
    activate(act.code, act.alpha, z, a)
    y = loss.targets(y, z.shape[1], np.float64)
    delta = np.empty_like(z)
    J = loss_delta(loss.code, loss.scale(*z.shape), act.code, act.alpha, z, a, y, delta)
    return J, delta


@pytest.mark.parametrize("name,reduction,target", [
    ("mse", "mean", "Yreg"), ("mse", "sum", "Yreg"), ("mse", "half_sum", "Yreg"),
    ("mse", "half_batch_mean", "Yreg"), ("mae", "mean", "Yreg"), ("mae", "sum", "Yreg"),
    ("bce", "mean", "Ybin"), ("bce", "sum", "Ybin")])
def test_losses_on_probabilities(fixture, name, reduction, target):
    ref = fixture("losses")
    J, dJ_da = head(losses.get(name, reduction), "identity", ref["A"], ref[target])
    np.testing.assert_allclose(J, ref[f"{name}_{reduction}_value"], rtol=1e-13)
    np.testing.assert_allclose(dJ_da, ref[f"{name}_{reduction}_grad_a"], rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_hinge(fixture, reduction):
    ref = fixture("losses")
    J, dJ_da = head(losses.get("hinge", reduction), "identity", ref["Z"], ref["Ypm"])
    np.testing.assert_allclose(J, ref[f"hinge_{reduction}_value"], rtol=1e-13)
    np.testing.assert_allclose(dJ_da, ref[f"hinge_{reduction}_grad_a"], rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fused_sigmoid_bce(fixture, reduction):
    ref = fixture("losses")
    J, delta = head(losses.get("bce", reduction), "sigmoid", ref["Z"], ref["Ybin"])
    np.testing.assert_allclose(J, ref[f"bce_logits_{reduction}_value"], rtol=1e-13)
    np.testing.assert_allclose(delta, ref[f"bce_logits_{reduction}_grad_z"], rtol=1e-12)


@pytest.mark.parametrize("case,target", [("ce_mean", "Yidx"), ("ce_sum", "Yidx"),
                                         ("ce_onehot_mean", "Yonehot")])
def test_fused_softmax_cross_entropy(fixture, case, target):
    ref = fixture("losses")
    loss = losses.get("ce", "sum" if case == "ce_sum" else "mean")
    J, delta = head(loss, "softmax", ref["Z"], ref[target])
    np.testing.assert_allclose(J, ref[f"{case}_value"], rtol=1e-13)
    np.testing.assert_allclose(delta, ref[f"{case}_grad_z"], rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "mean"])
def test_kl_divergence_fused_and_on_probabilities(fixture, reduction):
    ref = fixture("losses")
    loss = losses.get("kl", reduction)
    J, delta = head(loss, "softmax", ref["Z"], ref["Yprob"])
    np.testing.assert_allclose(J, ref[f"kl_{reduction}_value"], rtol=1e-12)
    np.testing.assert_allclose(delta, ref[f"kl_{reduction}_grad_z"], rtol=1e-12, atol=1e-16)
    J, dJ_da = head(loss, "identity", ref["kl_A"], ref["Yprob"])
    np.testing.assert_allclose(J, ref[f"kl_{reduction}_value"], rtol=1e-12)
    np.testing.assert_allclose(dJ_da, ref[f"kl_{reduction}_grad_a"], rtol=1e-12, atol=1e-16)


def test_saturated_bce_is_clamped_like_pytorch(fixture):
    ref = fixture("losses")
    J, delta = head(losses.get("bce"), "sigmoid", ref["bce_sat_Z"], ref["bce_sat_Y"])
    np.testing.assert_allclose(J, ref["bce_sat_value"], rtol=1e-13)
    assert np.all(np.isfinite(delta))


def test_bce_at_probabilities_zero_and_one_is_finite():
    J, dJ_da = head(losses.get("bce"), "identity", np.array([[0.0, 1.0, 0.0, 1.0]]),
                    np.array([[0.0, 1.0, 1.0, 0.0]]))
    assert np.isfinite(J) and J == pytest.approx(200 / 4)
    assert np.all(np.isfinite(dJ_da))


def test_softmax_cross_entropy_is_stable_for_huge_logits(fixture):
    ref = fixture("losses")
    J, delta = head(losses.get("ce"), "softmax", ref["ce_stable_Z"], ref["ce_stable_Y"])
    np.testing.assert_allclose(J, ref["ce_stable_value"], rtol=1e-13)
    np.testing.assert_allclose(delta, ref["ce_stable_grad_z"], rtol=1e-12, atol=1e-300)


def test_target_validation():
    with pytest.raises(ValueError, match=r"class labels must be in 0\.\.2"):
        losses.get("ce").targets(np.array([0, 3]), 3, np.float64)
    with pytest.raises(ValueError, match="-1 or \\+1"):
        losses.get("hinge").targets(np.array([[0.0], [1.0]]), 1, np.float64)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        losses.get("bce").targets(np.array([[2.0]]), 1, np.float64)
    with pytest.raises(ValueError, match=r"shape \(m, 3\)"):
        losses.get("mse").targets(np.zeros((4, 2)), 3, np.float64)
    with pytest.raises(ValueError, match="NaN"):
        losses.get("mse").targets(np.array([[np.nan]]), 1, np.float64)
    with pytest.raises(ValueError, match="valid names: mse, mae, bce, ce, hinge, kl"):
        losses.get("huber")
    with pytest.raises(ValueError, match="unknown reduction"):
        losses.get("mse", "median")
    with pytest.raises(ValueError, match="whole numbers"):
        losses.get("ce").targets(np.array([0.5, 1.0]), 3, np.float64)
