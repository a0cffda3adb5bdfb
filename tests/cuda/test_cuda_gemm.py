"""The register-tiled products (numbann.kernels.cuda_gemm) against NumPy, and
their epilogues against the CPU kernels."""
import numpy as np
import pytest
from cuda_compare import assert_close
from numba import cuda

from numbann.kernels import codes, cpu, cuda_gemm
from numbann.kernels import cuda as ck

pytestmark = pytest.mark.usefixtures("gpu")

DTYPES = [np.float64, np.float32]
# small tilings: 16 and 12 threads a block, so small shapes span several blocks
SMALL_MAIN = cuda_gemm.Tiling(8, 8, 4, 2, 2, 1)
SMALL_THIN = cuda_gemm.Tiling(4, 4, 2, 2, 2, 3)
SHIPPED = cuda_gemm.MAIN, cuda_gemm.THIN, cuda_gemm.THIN_BELOW


def use(main, thin, thin_below):
    cuda_gemm.MAIN, cuda_gemm.THIN, cuda_gemm.THIN_BELOW = main, thin, thin_below


@pytest.fixture
def tilings():
    """Set the tilings with ``use``; the previous ones come back after the test."""
    saved = cuda_gemm.MAIN, cuda_gemm.THIN, cuda_gemm.THIN_BELOW
    yield use
    use(*saved)


class Layer:
    """One dense layer in flat buffers laid out as the training loop's, with
    padding before each matrix: W[l], b[l] in theta; a[l-1], a[l] in a_buf;
    z[l-1], z[l] in z_buf and delta[l-1], delta[l] at the same offsets in
    delta_buf."""

    def __init__(self, m, n_in, n_out, dtype, seed=0):
        rng = np.random.default_rng(seed)
        self.m, self.n_in, self.n_out, self.dtype = m, n_in, n_out, dtype
        self.W, self.b = rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)
        self.a_prev, self.delta = rng.normal(size=(m, n_in)), rng.normal(size=(m, n_out))
        self.z_prev = rng.normal(size=(m, n_in))
        self.w_off, self.b_off = 3, 3 + n_out * n_in
        self.in_off, self.out_off = 2, 2 + m * n_in
        self.prev_off, self.d_off = 5, 5 + m * n_in
        self.theta = np.concatenate([rng.normal(size=3), self.W.ravel(), self.b]).astype(dtype)
        self.a_buf = np.concatenate([rng.normal(size=2), self.a_prev.ravel(),
                                     np.zeros(m * n_out)]).astype(dtype)
        self.z_buf = np.concatenate([np.zeros(5), self.z_prev.ravel(),
                                     np.zeros(m * n_out)]).astype(dtype)
        self.delta_buf = np.concatenate([np.zeros(5 + m * n_in), self.delta.ravel()]).astype(dtype)

    def forward(self, act=codes.IDENTITY, alpha=0.0, keep=1.0, seed=7):
        """(z[l], a[l]) by cuda_gemm's dense_forward."""
        theta, a_buf, z_buf = (cuda.to_device(x) for x in (self.theta, self.a_buf, self.z_buf))
        args = (theta, self.w_off, self.b_off, a_buf, self.in_off, self.out_off, z_buf,
                self.d_off, self.m, self.n_in, self.n_out, act, ck.of_dtype(theta, alpha),
                *ck.dropout_args(theta, keep, seed))
        cuda_gemm.dense_forward(*args)
        size = self.m * self.n_out
        return (z_buf.copy_to_host()[self.d_off:].reshape(self.m, self.n_out),
                a_buf.copy_to_host()[self.out_off:self.out_off + size].reshape(self.m, -1))

    def backward(self, act=codes.IDENTITY, alpha=0.0, keep=1.0, seed=7, need_prev=True):
        """(delta[l-1], dW[l], db[l]) by cuda_gemm's backward_layer, one launch;
        without need_prev it must leave delta[l-1] as it was (zeros): None."""
        theta, delta_buf, z_buf, a_buf = (cuda.to_device(x) for x in (
            self.theta, self.delta_buf, self.z_buf, self.a_buf))
        grad = cuda.to_device(np.full(self.theta.size, np.nan, self.dtype))
        cuda_gemm.launch_backward_layer(
            theta, grad, self.w_off, self.b_off, delta_buf, self.d_off, a_buf, self.in_off,
            self.m, self.n_out, self.n_in, need_prev, self.prev_off, z_buf, act,
            ck.of_dtype(theta, alpha), *ck.dropout_args(theta, keep, seed))
        grad = grad.copy_to_host()
        assert np.isnan(grad[:self.w_off]).all(), "wrote outside dW and db"
        size = self.m * self.n_in
        delta_prev = delta_buf.copy_to_host()[self.prev_off:self.prev_off + size]
        if not need_prev:
            assert not delta_prev.any(), "wrote delta[l-1] though not asked"
        return (delta_prev.reshape(self.m, -1) if need_prev else None,
                grad[self.w_off:self.b_off].reshape(self.n_out, -1), grad[self.b_off:])

    def cpu_epilogues(self, act, alpha, keep, seed=7):
        """(z[l], a[l], delta[l-1]) by the CPU kernels from the products in
        float64: activation, inverted dropout (index a_off + k, as the
        training loop's), and for delta the mask and slope, a[l-1] holding
        g(z[l-1]) / keep."""
        cast = (lambda x: x.astype(self.dtype).astype(np.float64))
        W, a_prev, delta = cast(self.W), cast(self.a_prev), cast(self.delta)
        z = a_prev @ W.T + cast(self.b)
        a = np.zeros_like(z)
        if act != codes.SOFTMAX:
            cpu.activate(act, alpha, z, a)
            if keep < 1:
                cpu.apply_dropout(a, keep, np.uint64(seed), self.out_off)
        d = delta @ W
        if keep < 1:
            cpu.apply_dropout(d, keep, np.uint64(seed), self.in_off)
        if act != codes.SOFTMAX:
            cpu.backprop_activation(act, alpha, cast(self.z_prev), a_prev, d, keep)
        return z, a, d

    def check_products(self):
        """All three products against NumPy, in float64 from the same numbers."""
        dtype, cast = self.dtype, (lambda x: x.astype(self.dtype).astype(np.float64))
        W, a_prev, delta = cast(self.W), cast(self.a_prev), cast(self.delta)
        z, a = self.forward()
        assert_close(z, a_prev @ W.T + cast(self.b), dtype, "z[l] = a[l-1] W[l].T + b[l]")
        assert_close(a, z, dtype, "a[l] = z[l] (identity)")
        for need_prev in (True, False):
            delta_prev, dW, db = self.backward(need_prev=need_prev)
            if need_prev:
                assert_close(delta_prev, delta @ W, dtype, "delta[l-1] = delta[l] W[l]")
            assert_close(dW, delta.T @ a_prev, dtype, "dW[l] = delta[l].T a[l-1]")
            assert_close(db, delta.sum(axis=0), dtype, "db[l] = sum of the rows of delta[l]")


@pytest.mark.parametrize("thin", [False, True], ids=["main", "thin"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_products_match_numpy(dtype, thin, tilings):
    """Partial tiles, several blocks each way, K not a multiple of block_k
    (nor, thin, of slices x block_k); the column of ones (db) in a partial
    tile of its own for the 8 x 8 tiles."""
    tilings(SMALL_MAIN, SMALL_THIN, 10**9 if thin else 0)
    Layer(13, 8, 11, dtype).check_products()


def test_shipped_tilings(tilings):
    """At the shipped sizes, each kernel once with each tiling: a 10-unit
    layer's z[l] and its backward launch are thin (split-K); then a 10-input
    layer's z[l] is not, its backward launch is; then neither."""
    tilings(*SHIPPED)
    assert cuda_gemm.tiling_for(70, 10) == cuda_gemm.tiling_for(10, 41) == cuda_gemm.THIN
    assert cuda_gemm.tiling_for(70, 40) == cuda_gemm.MAIN
    assert cuda_gemm.backward_tiling(70, 10, 40, first=False) is cuda_gemm.THIN
    assert cuda_gemm.backward_tiling(70, 40, 36, first=False) is cuda_gemm.MAIN
    Layer(70, 40, 10, np.float32, seed=1).check_products()
    Layer(70, 10, 40, np.float32, seed=2).check_products()
    Layer(70, 40, 36, np.float32, seed=3).check_products()


def test_the_rule_for_thin_products(tilings):
    tilings(*SHIPPED)
    assert cuda_gemm.tiling_for(512, 10) is cuda_gemm.THIN  # z of a 10-unit output layer
    assert cuda_gemm.tiling_for(10, 1025) is cuda_gemm.THIN  # its [dW | db]
    assert cuda_gemm.tiling_for(31, 4096) is cuda_gemm.THIN
    assert cuda_gemm.tiling_for(32, 32) is cuda_gemm.MAIN
    assert cuda_gemm.tiling_for(512, 1024) is cuda_gemm.MAIN


ACTIVATIONS = [(codes.IDENTITY, 0.0), (codes.SIGMOID, 0.0), (codes.TANH, 0.0), (codes.RELU, 0.0),
               (codes.LEAKY_RELU, 0.1), (codes.ELU, 0.7), (codes.STEP, 0.0), (codes.SOFTMAX, 0.0)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_epilogues_are_the_cpu_kernels(dtype, tilings):
    """Bias, every activation, dropout (the same units dropped) and the slope
    g'(z[l-1]) give the CPU kernels' numbers (cpu.activate, apply_dropout,
    backprop_activation) on the products."""
    tilings(SMALL_MAIN, SMALL_THIN, 0)
    layer = Layer(6, 5, 9, dtype, seed=3)
    for code, alpha in ACTIVATIONS:
        for keep in (1.0, 0.6):
            name = f"act {code}, keep {keep}"
            z, a = layer.forward(code, alpha, keep)
            want_z, want_a, want_delta = layer.cpu_epilogues(code, alpha, keep)
            assert_close(z, want_z, dtype, "z " + name)
            if code != codes.SOFTMAX:  # a softmax a[l] is softmax_rows' to write
                np.testing.assert_array_equal(a == 0, want_a == 0, err_msg="dropped " + name)
                assert_close(a, want_a, dtype, "a " + name)
            assert_close(layer.backward(code, alpha, keep)[0], want_delta, dtype,
                         "delta " + name)


def test_unusable_tilings_are_refused():
    with pytest.raises(ValueError, match="divide"):
        cuda_gemm.gemm_kernels(cuda_gemm.Tiling(8, 8, 4, 3, 2, 1), np.dtype(np.float32))
    with pytest.raises(ValueError, match="shared memory"):
        cuda_gemm.gemm_kernels(cuda_gemm.Tiling(128, 128, 32, 8, 8, 1), np.dtype(np.float64))
