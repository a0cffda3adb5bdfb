"""A step's batch split over numba's threads (kernels/plan_step.py) gives the
one-pass step's numbers: the same J, gradient and training run to rounding,
the same dropout masks; networks that gain nothing or whose samples are not
independent never split."""
import numba
import numpy as np
import pytest

import numbann as nb
from numbann import plan_run, training
from numbann.kernels import plan_step

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                reason="numba has one thread here")


def cnn(dtype="float64", dropout_layer=False):
    layers = [nb.Conv2D(3, 3, padding=1), nb.MaxPool2D(2), nb.Conv2D(4, 3), nb.AvgPool2D(2),
              nb.Flatten(), nb.Dense(12, "tanh"), nb.Dense(3, "softmax")]
    return nb.Sequential((2, 10, 10), layers, seed=3, dtype=dtype)


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2, 10, 10)), rng.integers(0, 3, n)


@pytest.fixture
def small_split(monkeypatch):
    """Split this test's small batches (the thresholds are sized for real work)."""
    monkeypatch.setattr(training, "SPLIT_MIN_WORK", 1)
    monkeypatch.setattr(training, "SPLIT_MIN_ROWS", 1)


def fit_with(threads, dtype="float64", make=cnn, **kw):
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        net = make(dtype)
        X, y = data()
        X = X if make is cnn else X.reshape(len(X), -1)
        h = net.fit(X, y, loss="ce", optimizer=nb.Adam(lr=0.01), epochs=2, batch_size=16,
                    shuffle=True, seed=5, verbose=0, **kw)
        return net, h
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_split_training_matches_one_pass(small_split, dtype, tol):
    """Two epochs (batches of 16 and a last one of 8 rows) split over two threads
    and in one pass: the same losses and weights to rounding."""
    calls = len(plan_step.split_pass.overloads)
    split, h2 = fit_with(2, dtype)
    whole, h1 = fit_with(1, dtype)
    assert len(plan_step.split_pass.overloads) >= max(calls, 1)  # the split pass ran
    np.testing.assert_allclose(h2.step_loss, h1.step_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(split.theta, whole.theta, rtol=tol, atol=tol)


def test_split_keeps_the_dropout_masks(small_split):
    """Dropout masks count elements from each block's start: a split step drops
    the units one pass drops (different masks would move the weights by far
    more than rounding)."""
    split, h2 = fit_with(2, dropout=[0.0, 0.0, 0.0, 0.0, 0.0, 0.5])
    whole, h1 = fit_with(1, dropout=[0.0, 0.0, 0.0, 0.0, 0.0, 0.5])
    np.testing.assert_allclose(h2.step_loss, h1.step_loss, rtol=1e-10)
    np.testing.assert_allclose(split.theta, whole.theta, rtol=1e-10, atol=1e-12)


def test_one_gradient_split_equals_one_pass(small_split):
    """One step's J and dJ/dtheta split in three parts (uneven: a batch of 7
    rows) against the whole pass."""
    net = cnn()
    X, y = data(7)
    run = plan_run.PlanRun(net, X, np.eye(3)[y], "ce", nb.SGD(lr=0.1), 7, 0.0, 0.0, 0.0, None,
                           None, 0)
    order = np.arange(7)
    gradients = {}
    for threads in (1, 3):
        run.threads, run._args = threads, None
        assert run._step_args(split=True)[-1][3].shape[0] == (threads if threads > 1 else 0)
        J, status = run._batch_gradient(order, 0, 7, 1)
        assert status == 0
        gradients[threads] = J, run.grad.copy()
    assert gradients[3][0] == pytest.approx(gradients[1][0], rel=1e-12)
    np.testing.assert_allclose(gradients[3][1], gradients[1][1], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("layers, splits", [
    ([nb.Conv2D(2, 3), nb.Flatten()], True),
    ([nb.Conv2D(2, 3), nb.BatchNorm(), nb.Flatten()], False),  # whole-batch statistics
    ([nb.Flatten(), nb.Dense(6, "relu")], False),  # dense products: BLAS's threads already
])
def test_what_splits(small_split, layers, splits):
    """Given two threads, a conv network splits its steps; one with BatchNorm
    or without convolutions does not; a dense MLP never does."""
    net = nb.Sequential((1, 5, 5), layers + [nb.Dense(2, "softmax")], seed=0)
    X = np.random.default_rng(0).standard_normal((32, 1, 5, 5))
    Y = np.eye(2)[np.arange(32) % 2]
    run = plan_run.PlanRun(net, X, Y, "ce", nb.SGD(lr=0.1), 16, 0.0, 0.0, 0.0, None, None, 0)
    run.threads = 2
    assert len(run._parts(split=True)[4]) == (2 if splits else 0)
    assert len(run._parts(split=False)[4]) == 0
    dense = training._Run(nb.MLP([25, 6, 2]), X.reshape(32, -1), Y, "mse", nb.SGD(lr=0.1), 16,
                          0.0, 0.0, 0.0, None, None, 0)
    dense.threads = 2
    assert dense._splits() == 1



def test_a_traced_fit_splits_as_an_untraced_one(small_split):
    """Tracing does not change training: the traced fit's steps split too."""
    from numbann.trace import Recorder
    untraced, _ = fit_with(2)
    traced, h = fit_with(2, trace=Recorder(keep=("dW",), steps=[1]))
    np.testing.assert_array_equal(traced.theta, untraced.theta)


def test_parts_are_bounded(small_split, monkeypatch):
    """At least SPLIT_MIN_ROWS rows a part, and the parts' extra gradients within
    SPLIT_MAX_BYTES: more threads do not mean more parts."""
    net = nb.Sequential((1, 5, 5), [nb.Conv2D(2, 3), nb.Flatten(), nb.Dense(2, "softmax")])
    X = np.random.default_rng(0).standard_normal((32, 1, 5, 5))
    run = plan_run.PlanRun(net, X, np.eye(2)[np.arange(32) % 2], "ce", nb.SGD(lr=0.1), 16,
                           0.0, 0.0, 0.0, None, None, 0)
    run.threads = 4
    monkeypatch.setattr(training, "SPLIT_MIN_ROWS", 8)
    assert run._splits() == 2  # 16 rows
    monkeypatch.setattr(training, "SPLIT_MAX_BYTES", 2 * run.grad.nbytes)
    monkeypatch.setattr(training, "SPLIT_MIN_ROWS", 1)
    assert run._splits() == 3
    monkeypatch.setattr(training, "SPLIT_MAX_BYTES", run.grad.nbytes - 1)
    assert run._splits() == 1
