"""The CUDA kernels at the sizes numbann ships (tiles of 16, blocks of 128
threads; the other CUDA tests shrink them to 4 and 8: conftest.py), on shapes
that reach the loops those sizes leave untouched at small shapes; and
fit(device="cuda") against fit(device="cpu") in float32."""
import numpy as np
import pytest
import test_cuda_layers as layer_tests
from cuda_compare import assert_close
from numba import cuda
from test_cuda_kernels import layout, logits, targets
from test_cuda_training import data, fit_both

import numbann as nb
from numbann import Dense, Network, optim
from numbann.kernels import codes, cpu, cuda_step, cuda_train
from numbann.kernels import cuda as ck
from numbann.kernels.cpu_train import GRAD_NOT_FINITE, LOSS_NOT_FINITE, OK

pytestmark = pytest.mark.usefixtures("gpu")

# every loss head; bce, ce and kl through their fused output activations
HEADS = {"mse": (codes.MSE, codes.IDENTITY), "mae": (codes.MAE, codes.TANH),
         "bce": (codes.BCE, codes.SIGMOID), "ce": (codes.CE, codes.SOFTMAX),
         "hinge": (codes.HINGE, codes.IDENTITY), "kl": (codes.KL, codes.SOFTMAX)}


@pytest.mark.usefixtures("shipped_blocks")
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_head_over_more_rows_than_threads(head, dtype):
    """m = 2 THREADS + 37 rows: each thread of loss_head's one block sums
    rows tid, tid + THREADS, tid + 2 THREADS, then the block reduction."""
    loss, act = HEADS[head]
    rng = np.random.default_rng(loss)
    m, n = 2 * ck.THREADS + 37, 3
    z = logits(rng, m, n, dtype)
    a = np.zeros_like(z)
    cpu.activate(act, 0.0, z, a)
    # targets() makes 5 rows with its edge cases (y = 0, 1, 1/2; 0 log 0); repeated
    y = np.concatenate([targets(loss, rng, 5, n, dtype) for _ in range(m // 5 + 1)])[:m]
    delta = np.zeros_like(z)
    J = cpu.loss_delta(loss, 1.0 / m, act, 0.0, z, a, y, delta)
    d_delta = cuda.to_device(np.full_like(delta, np.nan))
    J_gpu = ck.loss_delta(loss, 1.0 / m, act, 0.0, cuda.to_device(z), cuda.to_device(a),
                          cuda.to_device(y), d_delta)
    assert_close(J_gpu, J, dtype, "J")
    assert_close(d_delta, delta, dtype, "delta[L]")


@pytest.mark.usefixtures("shipped_blocks")
@pytest.mark.parametrize("clip_value, clip_norm_fraction",
                         [(0.0, 0.0), (0.8, 0.0), (0.0, 0.5), (0.8, 0.5)])
def test_gradient_norm_over_several_grid_passes(monkeypatch, clip_value, clip_norm_fraction):
    """The norm kernel's grid-stride loop, three passes (the last partial) of
    a grid of 4 blocks of THREADS, then checked_update's clipping by norm
    (cuda_step.check_only), against NumPy. MAX_PARTIAL_SUMS is lowered from
    its shipped 1024 to 4: the simulator runs a block of 128 threads in about
    0.1 s, so the shipped grid (1024 blocks) would take nearly 2 minutes."""
    monkeypatch.setattr(cuda_train, "MAX_PARTIAL_SUMS", 4)
    count = 4 * ck.THREADS * 2 + 77
    g = np.random.default_rng(1).normal(size=count)
    clipped = np.clip(g, -clip_value, clip_value) if clip_value else g
    norm = np.sqrt(np.sum(clipped ** 2))
    clip_norm = clip_norm_fraction * norm
    grad = cuda.to_device(g)
    scratch = cuda_train.Scratch(1, grad)
    assert scratch.partials.shape[0] == 4
    cuda_train.norm_kernel(ck.THREADS, g.dtype)[4, ck.THREADS](grad, clip_value,
                                                               scratch.partials)
    np.testing.assert_allclose(scratch.partials.copy_to_host().sum(), norm ** 2, rtol=1e-12)
    cuda_step.check_only(cuda.to_device(np.zeros(count)), grad, scratch, 4, 0, clip_norm)
    factor = clip_norm / (norm + 1e-6) if clip_norm else 1.0
    np.testing.assert_allclose(grad.copy_to_host(), clipped * factor, rtol=1e-12)
    np.testing.assert_array_equal(scratch.halt.copy_to_host(), [OK, 0])


@pytest.mark.usefixtures("shipped_blocks")
def test_the_update_check_sums_the_shipped_number_of_partial_sums():
    """checked_update over MAX_PARTIAL_SUMS partial sums (1024: 8 per thread),
    in each of its 2 blocks: clipping by the norm, then an infinite partial
    sum in the last pass (GRAD_NOT_FINITE: nothing moves), then a NaN loss."""
    partials = np.random.default_rng(2).uniform(size=cuda_train.MAX_PARTIAL_SUMS)
    norm = np.sqrt(partials.sum())
    g = np.random.default_rng(3).normal(size=ck.THREADS + 5)
    for where, value, slot, halt in ((None, 0.0, 1, [OK, 0]),
                                     (-1, np.inf, 1, [GRAD_NOT_FINITE, 1]),
                                     (None, 0.0, 0, [LOSS_NOT_FINITE, 0])):
        grad = cuda.to_device(g)
        scratch = cuda_train.Scratch(2, grad, partials.size)
        p = partials.copy()
        if where is not None:
            p[where] = value
        scratch.partials.copy_to_device(p)
        scratch.losses.copy_to_device(np.array([np.nan, 1.0]))
        cuda_step.check_only(cuda.to_device(np.zeros(g.size)), grad, scratch, p.size, slot,
                             norm / 2)
        np.testing.assert_array_equal(scratch.halt.copy_to_host(), halt)
        scaled = g * (norm / 2 / (norm + 1e-6)) if where is None and slot else g
        np.testing.assert_allclose(grad.copy_to_host(), scaled, rtol=1e-12)


@pytest.mark.usefixtures("shipped_blocks")
def test_dense_kernels_over_several_tiles():
    """loss_and_gradient on 20 rows, 18 -> 20 -> 17 units: every product
    (dense_forward, backward_layer's dW and delta) takes the split-K tiling
    (sides below 32): 2 x 2 tiles of 16, the second partial, k split into
    slices of 4, the last partial; dropout on the hidden layer, softmax +
    cross-entropy."""
    net = Network(18, [Dense(20, "elu", alpha=0.7), Dense(17, "softmax")], seed=1)
    keep, seed, m = np.array([0.7, 1.0]), np.uint64(5), 20
    ws, dev = layout(net, m, np.float64)
    y = targets(codes.CE, np.random.default_rng(3), m, 17, np.float64)
    grad = np.zeros_like(net.theta)
    args = (net.sizes, net.acts, net.alphas, net.p_off)
    J = cpu.loss_and_gradient(net.theta, grad, *args, ws.a_buf, ws.a_off, ws.z_buf, ws.z_off,
                              ws.delta_buf, m, y, codes.CE, 1.0 / m, keep, seed)
    d_grad = cuda.to_device(np.full_like(grad, np.nan))
    J_gpu = ck.loss_and_gradient(cuda.to_device(net.theta), d_grad, *args, dev["a_buf"],
                                 ws.a_off, dev["z_buf"], ws.z_off, dev["delta_buf"], m,
                                 cuda.to_device(y), codes.CE, 1.0 / m, keep, seed)
    assert_close(J_gpu, J, np.float64, "J")
    for buf in ("a_buf", "z_buf", "delta_buf"):
        assert_close(dev[buf], getattr(ws, buf), np.float64, buf)
    assert_close(d_grad, grad, np.float64, "grad = (dW[l], db[l])")


@pytest.mark.usefixtures("shipped_blocks")
def test_conv_pool_and_batchnorm_at_the_shipped_sizes(monkeypatch):
    """test_cuda_layers' comparisons at tiles of 16 and blocks of 128: a 3 x 3
    convolution (patches K = 18 and rows m Ho Wo = 40 span two tiles and
    three), max pooling over 6 images (2 blocks of outputs, 2 of inputs) and
    BatchNorm over N = 2 x 70 values per channel (two passes of the block)."""
    layer_tests.test_conv_forward_and_backward(layer_tests.CONVS[1], np.float64)
    layer_tests.test_batchnorm(codes.TRAIN_UPDATE, 70, np.float64)
    monkeypatch.setattr(layer_tests, "m", 6)  # the pooling test's batch size
    layer_tests.test_max_pooling(layer_tests.POOLS[0], np.float64)


# ---------------------------------------------------------------- fit in float32

def mlp():
    return nb.MLP([4, 6, 5, 3], hidden="tanh", output="softmax", seed=3, dtype=np.float32)


def cnn():
    """Conv with tanh before the pooling and BatchNorm: a conv bias right
    before BatchNorm (or behind a ReLU in its linear range) has a gradient
    of exactly 0 but for rounding, which Adam's g / sqrt(v) blows up to
    steps of +-lr that differ from CPU to GPU."""
    return nb.Sequential((1, 4, 4), [
        nb.Conv2D(3, 2, activation="tanh"), nb.MaxPool2D(2, stride=1),      # (3, 3, 3), (3, 2, 2)
        nb.BatchNorm(), nb.Flatten(), nb.Dense(5, "tanh"), nb.Dense(3, "softmax")],
        seed=5, dtype=np.float32)


FITS = {  # model, its inputs, dropout on one hidden layer
    "mlp": (mlp, lambda: data(n=6)[0], [0.3, 0.0]),
    "cnn": (cnn, lambda: layer_tests.images(n=6)[0], [0.0, 0.0, 0.0, 0.0, 0.3]),
}
OPTIMIZERS = {"adam": lambda: optim.Adam(lr=0.05),
              "sgd momentum": lambda: optim.SGD(lr=0.1, momentum=0.9)}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("model", FITS)
def test_float32_fit_agrees_with_the_cpu(model, optimizer):
    """Two epochs of batches of 4 and 2 rows (4 steps; small_blocks' tiles of
    4 and blocks of 8, 2-3 times faster in the simulator than the shipped
    sizes): step losses and theta (and the BatchNorm running statistics)
    agree to 1e-5 of their largest value. float32 rounds each operation to
    u = 2^-24 = 6e-8 relative; CPU and GPU sum the same terms in other
    orders, with other exp and log, so a sum of n terms may differ by about
    n u of its terms' size, here n <= 24: 1.4e-6, compounded over four
    steps. Measured: 5e-8 to 2.5e-7. Optimizer coefficients rounded to
    float16 (a relative error of 5e-4 at most) already move the step losses
    by 8e-5 to 3e-4."""
    make, inputs, dropout = FITS[model]
    X = inputs().astype(np.float32)
    labels = np.random.default_rng(4).integers(0, 3, X.shape[0])
    start = make()
    cpu_net, gpu_net, cpu_history, gpu_history = fit_both(
        start.copy(), X, labels, OPTIMIZERS[optimizer], loss="ce", epochs=2, batch_size=4,
        seed=7, dropout=dropout)
    assert gpu_net.theta.dtype == np.float32
    assert len(gpu_history.step_loss) == 4
    assert_close(gpu_history.step_loss, cpu_history.step_loss, np.float32, "step losses")
    assert_close(gpu_net.theta, cpu_net.theta, np.float32, "theta after 4 steps")
    if model == "cnn":
        assert_close(gpu_net.running, cpu_net.running, np.float32, "running statistics")
    assert not np.allclose(cpu_net.theta, start.theta, rtol=1e-3)
