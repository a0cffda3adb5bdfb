import numpy as np
import pytest

import numbann as nb
from numbann import activations

CASES = [("identity", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", 0.01), ("leaky_relu", 0.2), ("elu", 1.0), ("elu", 0.5)]


@pytest.mark.parametrize("name,alpha", CASES)
def test_value_and_derivative_match_pytorch(fixture, name, alpha):
    ref = fixture("activations")
    key = name if alpha is None else f"{name}_{alpha}"
    act = activations.get(name, alpha)
    np.testing.assert_allclose(act(ref["z"]), ref[f"{key}_value"], rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(act.derivative(ref["z"]), ref[f"{key}_grad"], rtol=1e-13, atol=1e-300)


def test_softmax_and_its_jacobian_match_pytorch(fixture):
    ref = fixture("activations")
    softmax = activations.get("softmax")
    np.testing.assert_allclose(softmax(ref["softmax_Z"]), ref["softmax_value"], rtol=1e-13, atol=1e-300)
    from numbann.kernels.cpu import backprop_activation
    delta = ref["softmax_vjp_G"].copy()
    backprop_activation(softmax.code, 0.0, ref["softmax_Z"], ref["softmax_value"], delta, 1.0)
    np.testing.assert_allclose(delta, ref["softmax_vjp"], rtol=1e-12, atol=1e-15)


def test_step_is_heaviside_with_zero_derivative():
    step = activations.get("step")
    z = np.array([-2.0, 0.0, 1e-9, 3.0])
    np.testing.assert_array_equal(step(z), [0, 0, 1, 1])
    np.testing.assert_array_equal(step.derivative(z), 0)


def test_sigmoid_is_finite_and_exact_at_extremes():
    sig = activations.get("sigmoid")
    a = sig(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(a, [0.0, 1.0])
    assert np.all(np.isfinite(sig.derivative(np.array([-1000.0, 1000.0]))))


def test_softmax_of_huge_logits_is_finite():
    a = activations.get("softmax")(np.array([[1000.0, 0.0, -1000.0]]))
    np.testing.assert_allclose(a, [[1.0, 0.0, 0.0]])


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: identity, step, sigmoid"):
        activations.get("swish")


def test_bad_alpha_and_types():
    with pytest.raises(ValueError, match="takes no alpha"):
        activations.get("tanh", alpha=0.3)
    with pytest.raises(ValueError, match="leaky_relu alpha"):
        nb.LeakyReLU(-0.1)
    with pytest.raises(ValueError, match="elu alpha"):
        nb.ELU(0.0)
    with pytest.raises(TypeError):
        activations.get(3)
    with pytest.raises(ValueError, match="Jacobian"):
        activations.get("softmax").derivative(np.zeros(3))
