"""Every CUDA network kernel against its CPU twin (numbann.kernels.cpu)."""
import numpy as np
import pytest
from cuda_compare import assert_close
from numba import cuda

from numbann import Dense, Network
from numbann.kernels import codes, cpu
from numbann.kernels import cuda as ck
from numbann.model import Workspace

pytestmark = pytest.mark.usefixtures("gpu")

DTYPES = [np.float64, np.float32]
ACTIVATIONS = [(codes.IDENTITY, 0.0), (codes.SIGMOID, 0.0), (codes.TANH, 0.0), (codes.RELU, 0.0),
               (codes.LEAKY_RELU, 0.1), (codes.ELU, 0.7), (codes.STEP, 0.0),
               (codes.SOFTMAX, 0.0)]
# every loss with the output activations it accepts: fused heads and the rest
HEADS = [(codes.MSE, codes.IDENTITY), (codes.MSE, codes.SIGMOID), (codes.MSE, codes.SOFTMAX),
         (codes.MAE, codes.TANH), (codes.BCE, codes.SIGMOID), (codes.BCE, codes.SOFTMAX),
         (codes.CE, codes.SOFTMAX), (codes.HINGE, codes.IDENTITY), (codes.HINGE, codes.TANH),
         (codes.KL, codes.SOFTMAX), (codes.KL, codes.SIGMOID)]


def logits(rng, m, n, dtype):
    z = rng.normal(scale=2.0, size=(m, n)).astype(dtype)
    z[0, :2] = 0.0  # the kinks
    return z


@pytest.mark.parametrize("code, alpha", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_and_its_slope(code, alpha, dtype):
    rng = np.random.default_rng(code)
    z = logits(rng, 5, 6, dtype)
    a = np.zeros_like(z)
    cpu.activate(code, alpha, z, a)
    d_z, d_a = cuda.to_device(z), cuda.to_device(np.zeros_like(z))
    ck.activate(code, alpha, d_z, d_a)
    assert_close(d_a, a, dtype, "a = g(z)")

    keep = 0.75  # a as dropout leaves it: g(z) / keep
    a /= keep
    dJ_da = rng.normal(size=z.shape).astype(dtype)
    delta = dJ_da.copy()
    cpu.backprop_activation(code, alpha, z, a, delta, keep)
    d_delta = cuda.to_device(dJ_da)
    ck.backprop_activation(code, alpha, d_z, cuda.to_device(a), d_delta, keep)
    assert_close(d_delta, delta, dtype, "delta = dJ/da g'(z)")


def test_dropout_masks_are_the_cpus():
    a = np.random.default_rng(3).normal(size=(5, 7))
    seed = np.uint64(2**63 + 12345)
    want = a.copy()
    cpu.apply_dropout(want, 0.6, seed, 17)
    got = cuda.to_device(a)
    ck.apply_dropout(got, 0.6, seed, 17)
    got = got.copy_to_host()
    np.testing.assert_array_equal(got == 0, want == 0)  # the same units dropped
    assert_close(got, want, np.float64, "kept units / keep")
    assert 0 < np.count_nonzero(want == 0) < want.size


def targets(loss, rng, m, n, dtype):
    if loss == codes.HINGE:
        return rng.choice([-1.0, 1.0], size=(m, n)).astype(dtype)
    if loss == codes.BCE:
        y = rng.uniform(size=(m, n))
        y[:, 0] = [0, 1, 0, 1, 0.5][:m]
        return y.astype(dtype)
    if loss == codes.CE:
        return np.eye(n, dtype=dtype)[rng.integers(0, n, m)]
    if loss == codes.KL:
        y = rng.uniform(size=(m, n))
        y[0, 1] = 0.0  # 0 log 0 = 0
        return (y / y.sum(axis=1, keepdims=True)).astype(dtype)
    return rng.normal(size=(m, n)).astype(dtype)


@pytest.mark.parametrize("loss, act", HEADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_head(loss, act, dtype):
    rng = np.random.default_rng(10 * loss + act)
    m, n = 5, 4
    z = logits(rng, m, n, dtype)
    a = np.zeros_like(z)
    cpu.activate(act, 0.0, z, a)
    y = targets(loss, rng, m, n, dtype)
    delta = np.zeros_like(z)
    scale = 1.0 / m
    J = cpu.loss_delta(loss, scale, act, 0.0, z, a, y, delta)

    d_delta = cuda.device_array_like(delta)
    args = (loss, scale, act, 0.0, cuda.to_device(z), cuda.to_device(a), cuda.to_device(y),
            d_delta)
    assert_close(ck.loss_delta(*args), J, dtype, "J")
    assert_close(d_delta, delta, dtype, "delta[L]")
    losses = cuda.to_device(np.zeros(3))
    ck.loss_delta_into(*args, losses, 2)
    assert_close(losses, [0.0, 0.0, J], dtype, "J in losses[2]")


def layout(net, m, dtype):
    """A CPU workspace with a[0] and its device copy (capacity m + 1: offsets
    of a workspace larger than the batch)."""
    ws = Workspace(net.sizes, m + 1, dtype)
    ws.a(0, m)[...] = np.random.default_rng(5).normal(size=(m, net.n_inputs))
    device = {name: cuda.to_device(getattr(ws, name)) for name in ("a_buf", "z_buf", "delta_buf")}
    return ws, device


NETS = {
    # hidden elu and leaky_relu, softmax + cross-entropy, dropout on both hidden layers
    "elu-leaky-softmax/ce": ([Dense(9, "elu"), Dense(6, "leaky_relu", alpha=0.2),
                              Dense(5, "softmax")], None, [0.7, 0.8, 1.0], codes.CE),
    # softmax as a hidden layer (the kernels allow it) and dropout on the output
    "sigmoid-softmax-identity/mse": ([Dense(9, "sigmoid"), Dense(6, "softmax"),
                                      Dense(5, "identity")],
                                     [codes.SIGMOID, codes.SOFTMAX, codes.IDENTITY],
                                     [1.0, 0.6, 0.9], codes.MSE),
}


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_and_backward(name, dtype):
    layers, acts, keep, loss = NETS[name]
    if acts is None:
        net = Network(7, layers, seed=1, dtype=dtype)
    else:  # Network refuses a hidden softmax: build without, then set the codes
        net = Network(7, [Dense(ly.units, "tanh") for ly in layers], seed=1, dtype=dtype)
    acts = net.acts if acts is None else np.array(acts)
    keep, seed, m = np.array(keep), np.uint64(99), 5
    ws, dev = layout(net, m, dtype)
    y = targets(loss, np.random.default_rng(6), m, net.n_outputs, dtype)
    grad = np.zeros_like(net.theta)
    J = cpu.loss_and_gradient(net.theta, grad, net.sizes, acts, net.alphas, net.p_off,
                              ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, ws.delta_buf, m, y,
                              loss, 1.0 / m, keep, seed)
    d_grad = cuda.to_device(np.full_like(grad, np.nan))
    J_gpu = ck.loss_and_gradient(cuda.to_device(net.theta), d_grad, net.sizes, acts, net.alphas,
                                 net.p_off, dev["a_buf"], ws.a_off, dev["z_buf"], ws.z_off,
                                 dev["delta_buf"], m, cuda.to_device(y), loss, 1.0 / m, keep,
                                 seed)
    assert_close(J_gpu, J, dtype, "J")
    for buf in ("a_buf", "z_buf", "delta_buf"):
        assert_close(dev[buf], getattr(ws, buf), dtype, buf)
    assert_close(d_grad, grad, dtype, "grad = (dW[l], db[l])")
