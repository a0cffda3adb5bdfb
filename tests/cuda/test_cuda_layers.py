"""The CUDA layer kernels (cuda_layers, cuda_plan) against their CPU twins
(conv, norm, plan), and fit(device="cuda") of a Sequential network against
fit(device="cpu")."""
import numpy as np
import pytest
from cuda_compare import assert_close
from numba import cuda

import numbann as nb
from numbann import device, optim
from numbann.kernels import codes, conv, cuda_layers, cuda_plan, norm, plan
from numbann.kernels import cuda as ck
from numbann.sequential import PlanWorkspace

pytestmark = pytest.mark.usefixtures("gpu")

DTYPES = [np.float64, np.float32]
# (k_h, k_w, stride, p_h, p_w): stride and padding, a non-square kernel, 1 x 1
CONVS = [(3, 2, 2, 1, 1), (3, 3, 1, 1, 1), (1, 1, 2, 0, 0)]
POOLS = [(2, 2, 1), (3, 2, 2)]
m, C, H, W = 2, 2, 5, 4


def normal(rng, size, dtype):
    return rng.normal(size=size).astype(dtype)


def host(x):
    return x.copy_to_host()


def out_size(size, k, s, pad=0):
    return conv.conv_output_size(size, k, s, pad)


@pytest.mark.parametrize("geometry", CONVS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_forward_and_backward(geometry, dtype):
    kh, kw, s, ph, pw = geometry
    Ho, Wo, Co = out_size(H, kh, s, 2 * ph), out_size(W, kw, s, 2 * pw), 3
    K, M = C * kh * kw, m * Ho * Wo
    rng = np.random.default_rng(kh * 10 + s)
    a, Wt, b = normal(rng, m * C * H * W, dtype), normal(rng, Co * K, dtype), normal(rng, Co, dtype)
    delta = normal(rng, m * Co * Ho * Wo, dtype)
    dims = (m, C, H, W, Co, kh, kw, s, ph, pw, Ho, Wo)
    cols, zt, z = np.zeros(M * K, dtype), np.zeros(M * Co, dtype), np.zeros(m * Co * Ho * Wo, dtype)
    conv.conv_forward(Wt, b, a, z, cols, zt, *dims)
    d = {name: cuda.to_device(np.full_like(x, np.nan)) for name, x in
         (("cols", cols), ("z", z), ("dzt", zt), ("dcols", cols), ("dW", Wt), ("db", b),
          ("dprev", a))}
    d_W, d_b = cuda.to_device(Wt), cuda.to_device(b)
    cuda_layers.conv_forward(d_W, d_b, cuda.to_device(a), d["z"], d["cols"], d["dzt"], *dims)
    assert_close(d["cols"], cols, dtype, "cols = im2col(a[l-1])")
    np.testing.assert_array_equal(host(d["cols"]), cols)  # a copy: bit for bit
    assert_close(d["z"], z, dtype, "z = W * a + b")
    for need_prev in (True, False):
        dW, db, dzt = np.zeros_like(Wt), np.zeros_like(b), np.zeros(M * Co, dtype)
        dcols, dprev = np.zeros(M * K, dtype), np.zeros_like(a)
        conv.conv_backward(Wt, dW, db, delta, cols, dzt, dcols, dprev, need_prev, *dims)
        cuda_layers.conv_backward(d_W, d["dW"], d["db"], cuda.to_device(delta), d["cols"],
                                  d["dzt"], d["dcols"], d["dprev"], need_prev, *dims)
        assert_close(d["dzt"], dzt, dtype, "dzt")
        assert_close(d["dW"], dW, dtype, "dW = dzt.T @ cols")
        assert_close(d["db"], db, dtype, "db")
        if need_prev:
            assert_close(d["dcols"], dcols, dtype, "dcols = dzt @ W")
            assert_close(d["dprev"], dprev, dtype, "dJ/da[l-1] = col2im(dcols)")


@pytest.mark.parametrize("geometry", CONVS)
def test_col2im_is_the_cpus_sum_bit_for_bit(geometry):
    kh, kw, s, ph, pw = geometry
    Ho, Wo = out_size(H, kh, s, 2 * ph), out_size(W, kw, s, 2 * pw)
    dcols = np.random.default_rng(1).normal(size=m * Ho * Wo * C * kh * kw)
    want = np.zeros(m * C * H * W)
    conv.col2im(dcols, m, C, H, W, kh, kw, s, ph, pw, Ho, Wo, want)
    got = cuda.to_device(np.full_like(want, np.nan))
    cuda_layers.col2im(cuda.to_device(dcols), m, C, H, W, kh, kw, s, ph, pw, Ho, Wo, got)
    np.testing.assert_array_equal(host(got), want)


def pool_input(dtype, seed=2):
    """Small integers (ties in most windows), one NaN and a -inf."""
    a = np.random.default_rng(seed).integers(-2, 2, size=m * C * H * W).astype(dtype)
    a[7], a[20] = np.nan, -np.inf
    return a


@pytest.mark.parametrize("window", POOLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pooling(window, dtype):
    k, kw, s = window
    Ho, Wo = out_size(H, k, s), out_size(W, kw, s)
    a = pool_input(dtype)
    z, where = np.zeros(m * C * Ho * Wo, dtype), np.zeros(m * C * Ho * Wo, np.int64)
    conv.maxpool_forward(a, z, where, m, C, H, W, k, kw, s, Ho, Wo)
    dz, dwhere = cuda.to_device(np.zeros_like(z)), cuda.to_device(where - 1)
    cuda_layers.maxpool_forward(cuda.to_device(a), dz, dwhere, m, C, H, W, k, kw, s, Ho, Wo)
    np.testing.assert_array_equal(host(dwhere), where)  # the first maximum, NaN wins
    np.testing.assert_array_equal(host(dz), z)
    delta = np.random.default_rng(3).normal(size=z.size).astype(dtype)
    want = np.zeros_like(a)
    conv.maxpool_backward(delta, where, want, m, C, H, W, Ho, Wo)
    got = cuda.to_device(np.full_like(a, np.nan))
    cuda_layers.maxpool_backward(cuda.to_device(delta), dwhere, got, m, C, H, W, Ho, Wo, k, kw, s)
    np.testing.assert_array_equal(host(got), want)  # the same sums, in the same order


@pytest.mark.parametrize("window", POOLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_average_pooling(window, dtype):
    k, kw, s = window
    Ho, Wo = out_size(H, k, s), out_size(W, kw, s)
    rng = np.random.default_rng(4)
    a, delta = normal(rng, m * C * H * W, dtype), normal(rng, m * C * Ho * Wo, dtype)
    z, dprev = np.zeros(delta.size, dtype), np.zeros_like(a)
    conv.avgpool_forward(a, z, m, C, H, W, k, kw, s, Ho, Wo)
    conv.avgpool_backward(delta, dprev, m, C, H, W, k, kw, s, Ho, Wo)
    dz, ddprev = cuda.to_device(np.full_like(z, np.nan)), cuda.to_device(np.full_like(a, np.nan))
    cuda_layers.avgpool_forward(cuda.to_device(a), dz, m, C, H, W, k, kw, s, Ho, Wo)
    cuda_layers.avgpool_backward(cuda.to_device(delta), ddprev, m, C, H, W, k, kw, s, Ho, Wo)
    assert_close(dz, z, dtype, "z = window mean")
    assert_close(ddprev, dprev, dtype, "dJ/da[l-1]")


def batchnorm_case(S, dtype, seed=5):
    rng = np.random.default_rng(seed)
    a = (normal(rng, m * C * S, dtype) * 3 + 1).astype(dtype)
    gamma, beta = normal(rng, C, dtype), normal(rng, C, dtype)
    running = np.concatenate([normal(rng, C, dtype), rng.uniform(0.5, 2, C).astype(dtype)])
    return a, gamma, beta, running, normal(rng, a.size, dtype)


@pytest.mark.parametrize("mode", [codes.EVAL, codes.TRAIN, codes.TRAIN_UPDATE])
@pytest.mark.parametrize("S", [7, 1])  # BatchNorm2d over H W = 7 positions; BatchNorm1d
@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm(mode, S, dtype):
    a, gamma, beta, running, delta = batchnorm_case(S, dtype)
    d_running = cuda.to_device(running)
    z, stats = np.zeros_like(a), np.zeros(2 * C + a.size, dtype)
    norm.batchnorm_forward(gamma, beta, running, a, z, stats, m, C, S, mode)
    dz, dstats = (cuda.to_device(np.full_like(x, np.nan)) for x in (z, stats))
    d_gamma = cuda.to_device(gamma)
    cuda_layers.batchnorm_forward(d_gamma, cuda.to_device(beta), d_running, cuda.to_device(a),
                                  dz, dstats, m, C, S, mode)
    assert_close(dstats, stats, dtype, "mu, 1/sigma, xhat")
    assert_close(dz, z, dtype, "z = gamma xhat + beta")
    assert_close(d_running, running, dtype, "running mean and variance")
    for need_prev in (True, False):
        dgamma, dbeta, dprev = np.zeros_like(gamma), np.zeros_like(beta), np.zeros_like(a)
        norm.batchnorm_backward(gamma, dgamma, dbeta, delta, stats, dprev, need_prev, m, C, S,
                                mode)
        got = [cuda.to_device(np.full_like(x, np.nan)) for x in (dgamma, dbeta, dprev)]
        cuda_layers.batchnorm_backward(d_gamma, got[0], got[1], cuda.to_device(delta), dstats,
                                       got[2], need_prev, m, C, S, mode)
        assert_close(got[0], dgamma, dtype, "dgamma")
        assert_close(got[1], dbeta, dtype, "dbeta")
        if need_prev:
            assert_close(got[2], dprev, dtype, "dJ/da[l-1]")


def test_a_raised_halt_flag_keeps_the_running_statistics():
    a, gamma, beta, running, _ = batchnorm_case(3, np.float64)
    d_running = cuda.to_device(running)
    cuda_layers.batchnorm_forward(cuda.to_device(gamma), cuda.to_device(beta), d_running,
                                  cuda.to_device(a), cuda.device_array_like(a),
                                  cuda.device_array(2 * C + a.size), m, C, 3, codes.TRAIN_UPDATE,
                                  cuda.to_device(np.ones(1, np.int64)))
    np.testing.assert_array_equal(host(d_running), running)


def plan_net(dtype):
    """Every kind, stride and padding, BatchNorm 2d and 1d, softmax head."""
    return nb.Sequential((2, 5, 5), [
        nb.Conv2D(2, 3, stride=2, padding=1, activation="elu", alpha=0.7),   # (2, 3, 3)
        nb.BatchNorm("tanh"), nb.MaxPool2D(2, stride=1),                      # (2, 2, 2)
        nb.Conv2D(2, 1, activation="sigmoid"), nb.AvgPool2D(2, stride=1),     # (2, 1, 1)
        nb.Flatten(), nb.Dense(4, "relu"), nb.BatchNorm("leaky_relu", alpha=0.1),
        nb.Dense(3, "softmax")], seed=3, dtype=dtype)


# dropout after conv, max pool, average pool (through Flatten) and dense layers
KEEP = np.array([0.8, 1.0, 0.7, 1.0, 0.9, 1.0, 0.75, 1.0, 1.0])


def plan_pass(net, mode, dtype, m=3):
    """The CPU plan's forward (and, training, backward) pass, and the GPU's, on
    workspaces of capacity m + 1; returns both sides' buffers."""
    ws = PlanWorkspace(net, m + 1)
    rng = np.random.default_rng(8)
    ws.a(0, m)[...] = rng.normal(size=(m,) + net.input_shape)
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, m)].ravel()
    running = net.running + rng.uniform(0.1, 0.5, net.running.size).astype(dtype)
    names = ("a_buf", "z_buf", "delta_buf", "x_buf", "i_buf", "s_buf")
    dev = {name: cuda.to_device(getattr(ws, name)) for name in names}
    dev_running, theta = cuda.to_device(running), cuda.to_device(net.theta)
    grad, d_grad = np.zeros_like(net.theta), cuda.to_device(np.full_like(net.theta, np.nan))
    seed = np.uint64(11)
    bufs = [dev[n] if isinstance(n, str) else n for n in
            ("a_buf", ws.a_off, "z_buf", ws.z_off, "delta_buf", "x_buf", ws.x_off, "i_buf",
             ws.i_off, "s_buf")]
    if mode == codes.EVAL:
        fwd = ws.buffers()[:4] + ws.buffers()[5:]
        plan.passes(net.plan)[0](net.plan, net.theta, running, net.alphas, *fwd, m, KEEP,
                                      seed, mode)
        cuda_plan.plan_forward(net.plan, theta, dev_running, net.alphas, *bufs[:4], *bufs[5:],
                               m, KEEP, seed, mode)
        J = J_gpu = 0.0
    else:
        J = plan.passes(net.plan)[3](net.plan, net.theta, grad, running, net.alphas,
                                          *ws.buffers(), m, y, codes.CE, 1.0 / m, KEEP, seed,
                                          mode)
        J_gpu = cuda_plan.plan_loss_and_gradient(
            net.plan, theta, d_grad, dev_running, net.alphas, *bufs, m, cuda.to_device(y),
            codes.CE, 1.0 / m, KEEP, seed, mode)
    cpu = dict({n: getattr(ws, n) for n in names}, running=running, grad=grad, J=J)
    gpu = dict({n: host(dev[n]) for n in names}, running=host(dev_running), grad=host(d_grad),
               J=J_gpu)
    return cpu, gpu


@pytest.mark.parametrize("mode", [codes.EVAL, codes.TRAIN, codes.TRAIN_UPDATE])
@pytest.mark.parametrize("dtype", DTYPES)
def test_plan_passes(mode, dtype):
    cpu, gpu = plan_pass(plan_net(dtype), mode, dtype)
    for name in ("a_buf", "z_buf", "x_buf", "i_buf", "running") + (
            ("delta_buf", "grad", "J") if mode != codes.EVAL else ()):
        assert_close(gpu[name], cpu[name], dtype, name)


def test_the_shipped_block_sizes(monkeypatch):
    """Once at the shipped sizes, 16 x 16 tiles and blocks of 128 threads (the
    other tests run tiles of 4 and blocks of 8: conftest.py)."""
    monkeypatch.setattr(ck, "TILE", 16)
    monkeypatch.setattr(ck, "THREADS", 128)
    test_conv_forward_and_backward(CONVS[0], np.float64)
    test_batchnorm(codes.TRAIN_UPDATE, 7, np.float32)


# ---------------------------------------------------------------- fit

def cnn(dtype):
    return nb.Sequential((1, 4, 4), [
        nb.Conv2D(2, 2, stride=2, padding=1), nb.BatchNorm("tanh"),        # (2, 3, 3)
        nb.MaxPool2D(2, stride=1), nb.AvgPool2D(2, stride=1), nb.Flatten(),  # (2, 2, 2), (2, 1, 1)
        nb.Dense(4, "tanh"), nb.BatchNorm(), nb.Dense(3, "softmax")], seed=5, dtype=dtype)


def images(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1, 4, 4)), rng.integers(0, 3, n)


FITS = {
    "adam, dropout, l2, clip_norm": (np.float64, lambda: optim.Adam(lr=0.05),
                                     dict(dropout=0.3, l2=0.01, clip_norm=0.5)),
    "sgd momentum, l1, clip_value": (np.float64, lambda: optim.SGD(lr=0.1, momentum=0.9),
                                     dict(l1=0.01, clip_value=0.3)),
    "adam, float32": (np.float32, lambda: optim.Adam(lr=0.05), dict()),
}


@pytest.mark.parametrize("name", FITS)
def test_fit_agrees_with_the_cpu(name):
    dtype, optimizer, options = FITS[name]
    net = cnn(dtype)
    on_gpu, start = net.copy(), net.theta.copy()
    X, y = images()
    runs = []
    for model, where in ((net, "cpu"), (on_gpu, "cuda")):
        opt = optimizer()
        history = model.fit(X, y, loss="ce", optimizer=opt, epochs=2, batch_size=4, seed=7,
                            verbose=0, device=where, **options)
        runs.append((history, opt))
    (cpu_history, cpu_opt), (gpu_history, gpu_opt) = runs
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert len(gpu_history.step_loss) == 4  # 2 steps an epoch, the last of 2 rows
    for what, got, want in (("theta", on_gpu.theta, net.theta),
                            ("running statistics", on_gpu.running, net.running),
                            ("optimizer state", gpu_opt.state, cpu_opt.state),
                            ("step losses", gpu_history.step_loss, cpu_history.step_loss)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.max(np.abs(want)),
                                   err_msg=what)
    assert gpu_opt.t == cpu_opt.t == 4
    assert not np.allclose(net.theta, start) and not np.allclose(net.running_mean(2), 0)


# the simulator computes inf - inf as NumPy scalars, which warn
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_divergence_stops_where_the_cpu_stops():
    """A huge rate: the loss overflows at the first step of epoch 1; the GPU
    stops theta and the running statistics there too, and reports the same."""
    X, y = images()
    net = cnn(np.float64)
    on_gpu = net.copy()
    errors = []
    for model, where in ((net, "cpu"), (on_gpu, "cuda")):
        with pytest.raises(nb.TrainingDiverged) as caught:
            model.fit(X, y, loss="ce", optimizer=optim.SGD(lr=1e100), epochs=2, batch_size=4,
                      verbose=0, device=where)
        errors.append(str(caught.value))
    assert "epoch 1, step 0 of 2" in errors[0]
    assert errors[0] == errors[1]
    assert_close(on_gpu.theta, net.theta, np.float64, "theta where training stopped")
    assert_close(on_gpu.running, net.running, np.float64, "running statistics")


def test_sequential_fit_runs_on_cuda_and_traces_on_the_cpu():
    from numbann.plan_cuda import CudaPlanRun
    net = cnn(np.float64)
    assert device.run_class("cuda", None, net) is CudaPlanRun
    with pytest.raises(ValueError, match="device='cpu'"):
        device.run_class("cuda", trace=object(), net=net)
    X, y = images()
    with pytest.raises(ValueError, match="Newton"):
        net.fit(X, y, loss="ce", optimizer="newton", verbose=0, device="cuda")
