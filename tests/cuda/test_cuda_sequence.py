"""The CUDA kernels of the sequence layers (cuda_rnn, cuda_sequence, through
cuda_plan) against the CPU's (rnn, attention, norm, through plan), and
fit(device="cuda") of those networks against fit(device="cpu")."""
import numpy as np
import pytest
from cuda_compare import assert_close
from numba import cuda

import numbann as nb
from numbann import optim
from numbann.kernels import codes, cuda_plan, plan
from numbann.sequential import PlanWorkspace

pytestmark = pytest.mark.usefixtures("gpu")


NETS = {
    # two stacked recurrent layers (every step, then the last), tanh and relu
    "rnn": lambda: [nb.RNN(5, return_sequences=True), nb.RNN(3, "relu")],
    # a learned and a sinusoidal encoding, attention (causal, d_v != d_k), layer norm
    "attention": lambda: [nb.PositionalEncoding(learned=True), nb.SelfAttention(2, 4),
                          nb.LayerNorm("tanh"), nb.PositionalEncoding(),
                          nb.SelfAttention(3, causal=True), nb.Flatten()],
    # causal attention read at its last step
    "last_step": lambda: [nb.SelfAttention(3, causal=True), nb.LastStep()],
    # a transformer encoder block: residual attention, norm, residual per-step feed-forward
    "encoder": lambda: [nb.Residual([nb.SelfAttention(2, causal=True)]), nb.LayerNorm(),
                        nb.Residual([nb.Dense(5, "relu"), nb.Dense(3, "tanh")]), nb.LayerNorm(),
                        nb.Flatten()],
}


def recurrent_net(dtype, name="rnn"):
    return nb.Sequential((4, 3), NETS[name]() + [nb.Dense(3, "softmax")], seed=2, dtype=dtype)


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plan_passes(dtype, name):
    """One training pass (dropout on the first layer's steps), both sides'
    workspaces and gradients compared."""
    net, m, seed = recurrent_net(dtype, name), 3, np.uint64(5)
    keep = np.ones(net.L)
    keep[0] = 0.8
    ws = PlanWorkspace(net, m + 1)
    rng = np.random.default_rng(0)
    ws.a(0, m)[...] = rng.normal(size=(m, 4, 3))
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, m)].ravel()
    names = ("a_buf", "z_buf", "delta_buf", "x_buf", "i_buf", "s_buf")
    dev = {name: cuda.to_device(getattr(ws, name)) for name in names}
    grad, d_grad = np.zeros_like(net.theta), cuda.to_device(np.full_like(net.theta, np.nan))
    bufs = [dev[n] if isinstance(n, str) else n for n in
            ("a_buf", ws.a_off, "z_buf", ws.z_off, "delta_buf", "x_buf", ws.x_off, "i_buf",
             ws.i_off, "s_buf")]
    J = plan.passes(net.plan)[3](net.plan, net.theta, grad, net.running, net.alphas,
                                      *ws.buffers(), m, y, codes.CE, 1.0 / m, keep, seed,
                                      codes.TRAIN)
    J_gpu = cuda_plan.plan_loss_and_gradient(
        net.plan, cuda.to_device(net.theta), d_grad, cuda.to_device(net.running), net.alphas,
        *bufs, m, cuda.to_device(y), codes.CE, 1.0 / m, keep, seed, codes.TRAIN)
    assert_close(J_gpu, J, dtype, "J")
    assert_close(d_grad.copy_to_host(), grad, dtype, "grad")
    for name in ("a_buf", "z_buf", "delta_buf", "x_buf"):
        assert_close(dev[name].copy_to_host(), getattr(ws, name), dtype, name)


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_agrees_with_the_cpu(dtype, name):
    net = recurrent_net(dtype, name)
    on_gpu = net.copy()
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(6, 4, 3)), rng.integers(0, 3, 6)
    for model, where in ((net, "cpu"), (on_gpu, "cuda")):
        model.fit(X, y, loss="ce", optimizer=optim.Adam(lr=0.05), epochs=2, batch_size=4,
                  seed=3, clip_norm=0.5, verbose=0, device=where)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(on_gpu.theta, net.theta, rtol=rtol,
                               atol=rtol * np.abs(net.theta).max())
