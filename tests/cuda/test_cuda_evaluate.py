"""A network on the GPU (net.to("cuda")): forward, predict, score and evaluate
against the CPU's; the host/device copy rule; fit's validation on the device;
the transfers a prediction and a validated epoch make."""
import pickle

import numpy as np
import pytest
from cuda_compare import assert_close
from numba import cuda
from test_cuda_layers import cnn, images

from numbann import MLP, device, device_eval, optim
from numbann.trace import Recorder

pytestmark = pytest.mark.usefixtures("gpu")

DTYPES = [np.float64, np.float32]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of 4 rows, so the sets below take several passes, the last partial."""
    monkeypatch.setattr(device_eval, "FORWARD_CHUNK", 4)


def mlp(dtype):
    rng = np.random.default_rng(1)
    return MLP([4, 6, 3], hidden="tanh", output="softmax", dtype=dtype, seed=2), \
        rng.normal(size=(10, 4)), rng.integers(0, 3, 10)


def small_cnn(dtype):
    """conv, BatchNorm, max and average pooling, dense, BatchNorm, softmax."""
    return (cnn(dtype), *images(n=7, seed=4))


NETS = {"mlp": mlp, "cnn": small_cnn}


def randomize_running_statistics(net):
    """A Sequential network's BatchNorm running statistics away from (0, 1)."""
    rng = np.random.default_rng(3)
    for l in net._batchnorms() if hasattr(net, "running") else []:
        net.running_mean(l)[...] = rng.normal(size=net.running_mean(l).shape)
        net.running_var(l)[...] = rng.uniform(0.5, 2.0, size=net.running_var(l).shape)


def results(net, X, y):
    return dict(forward=net.forward(X), predict=net.predict(X), proba=net.predict_proba(X),
                score=net.score(X, y), evaluate=net.evaluate(X, y, "ce"),
                mse=net.evaluate(X, np.eye(3)[y], "mse"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", NETS)
def test_the_device_gives_the_cpus_results(kind, dtype):
    net, X, y = NETS[kind](dtype)
    randomize_running_statistics(net)
    on_cpu = results(net, X, y)
    assert net.to("cuda") is net and net.device == "cuda"
    on_gpu = results(net, X, y)
    for name in ("forward", "proba", "evaluate", "mse"):
        assert_close(on_gpu[name], on_cpu[name], dtype, name)
    assert on_gpu["forward"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(on_gpu["predict"], on_cpu["predict"])
    assert on_gpu["score"] == on_cpu["score"]


def test_round_trip_keeps_theta_and_its_views():
    net, X, _ = mlp(np.float64)
    theta, W1, before = net.theta, net.W[1], net.theta.copy()
    assert net.to("cuda").to("cpu") is net and net.device == "cpu"
    assert net.theta is theta and net.W[1] is W1
    np.testing.assert_array_equal(net.theta.view(np.uint64), before.view(np.uint64))
    assert net._gpu is None


def test_a_host_write_reaches_the_device():
    """The host copy is the source of truth: a write through a view, after
    the upload, is seen by the next pass on the device."""
    net, X, _ = mlp(np.float64)
    net.to("cuda")
    first = net.forward(X)
    net.W[1][...] *= 2.0
    net.b[2][0] = 1.0
    want = net.copy().to("cpu").forward(X)
    assert_close(net.forward(X), want, np.float64, "after a write to W[1]")
    assert not np.allclose(want, first)


def test_copies_and_pickles_stay_on_the_device_with_their_own_copy():
    net, X, _ = mlp(np.float64)
    net.to("cuda")
    want = net.forward(X)
    for other in (net.copy(), pickle.loads(pickle.dumps(net))):
        assert other.device == "cuda" and other._gpu is None
        assert_close(other.forward(X), want, np.float64, "a copy's forward")
        assert other._gpu is not net._gpu


class Transfers:
    """Every host <-> device copy: ("up", host array) for cuda.to_device and
    copy_to_device from the host, ("down", host array) for copy_to_host."""

    def __init__(self, monkeypatch):
        self.log = []
        array = type(cuda.device_array(1))
        to_device, up, down = cuda.to_device, array.copy_to_device, array.copy_to_host
        inside = []  # a copy made inside cuda.to_device is that upload

        def to_device_logged(ary, *args, **kwargs):
            self.log.append(("up", ary))
            inside.append(1)
            try:
                return to_device(ary, *args, **kwargs)
            finally:
                inside.pop()

        def up_logged(self_, ary, *args, **kwargs):
            if not inside and isinstance(ary, np.ndarray):  # not a device-to-device copy
                self.log.append(("up", ary))
            return up(self_, ary, *args, **kwargs)

        def down_logged(self_, ary=None, *args, **kwargs):
            out = down(self_, ary, *args, **kwargs)
            self.log.append(("down", out))
            return out
        monkeypatch.setattr(cuda, "to_device", to_device_logged)
        monkeypatch.setattr(array, "copy_to_device", up_logged)
        monkeypatch.setattr(array, "copy_to_host", down_logged)

    def sizes(self, direction):
        return [a.size for d, a in self.log if d == direction]

    def count(self, direction, host):
        """How many copies went to (down) or came from (up) this very host array."""
        return sum(d == direction and np.shares_memory(a, host) for d, a in self.log)


def test_predict_moves_only_the_inputs_and_the_predictions(monkeypatch):
    net, X, y = mlp(np.float64)
    net.to("cuda")
    log = Transfers(monkeypatch)
    labels = net.predict(X)
    assert log.sizes("up") == [4 * 4, 4 * 4, 2 * 4]  # X in chunks of 4 rows
    assert log.sizes("down") == [4 * 3, 4 * 3, 2 * 3]  # a[L]
    assert labels.shape == (10,)
    log.log.clear()
    net.evaluate(X, y, "ce")
    assert log.sizes("up") == [16, 12, 16, 12, 8, 6]  # X and Y, chunk by chunk
    assert log.sizes("down") == [3]  # the chunks' losses, once
    log.log.clear()
    net.theta[0] += 1.0  # a changed host theta is uploaded once, by the next pass
    net.forward(X)
    net.forward(X)
    assert log.count("up", net.theta) == 1


@pytest.mark.parametrize("kind", NETS)
def test_a_validated_epoch_leaves_theta_on_the_device(kind, monkeypatch):
    net, X, y = NETS[kind](np.float64)
    opt = optim.Adam(lr=0.01)
    net.fit(X, y, loss="ce", optimizer=opt, epochs=1, batch_size=4, verbose=0)  # the state exists
    log = Transfers(monkeypatch)
    history = net.fit(X, y, loss="ce", optimizer=opt, epochs=3, batch_size=4, verbose=0,
                      device="cuda", validation_data=(X[:5], y[:5]))
    assert len(history.val_loss) == 3
    host = [net.theta, opt.state] + ([net.running] if hasattr(net, "running") else [])
    for array in host:  # up when the fit starts, down when it ends
        assert log.count("up", array) == 1 and log.count("down", array) == 1
    assert log.sizes("up").count(5 * np.prod(X.shape[1:])) == 1  # X_val, once


@pytest.mark.parametrize("kind", NETS)
def test_fit_on_the_device_validates_as_the_cpu(kind):
    net, X, y = NETS[kind](np.float64)
    on_gpu = net.copy().to("cuda")
    options = dict(loss="ce", epochs=2, batch_size=4, seed=7, verbose=0,
                   validation_data=(X[:5], y[:5]), patience=3)
    want = net.fit(X, y, optimizer=optim.Adam(lr=0.05), **options)
    seen = []
    got = on_gpu.fit(X, y, optimizer=optim.Adam(lr=0.05),  # device: the network's, "cuda"
                     callbacks=lambda n, e, logs: seen.append(n.theta.copy()), **options)
    assert on_gpu.device == "cuda" and net.device == "cpu"
    assert_close(got.val_loss, want.val_loss, np.float64, "val_loss")
    assert got.val_metric == want.val_metric
    assert_close(got.step_loss, want.step_loss, np.float64, "step losses")
    assert_close(on_gpu.theta, net.theta, np.float64, "theta")
    assert_close(seen[-1], net.theta, np.float64, "the theta a callback sees")
    assert_close(on_gpu.forward(X), net.forward(X), np.float64, "forward after fit")


def test_bad_devices_are_clear_errors(monkeypatch):
    net, X, y = mlp(np.float64)
    with pytest.raises(ValueError, match="device must be one of"):
        net.to("gpu")
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="NUMBA_ENABLE_CUDASIM=1"):
        net.to("cuda")
    assert net.device == "cpu"


def test_a_network_on_the_device_traces_on_the_cpu():
    net, X, y = mlp(np.float64)
    net.to("cuda")
    with pytest.raises(ValueError, match="device='cpu'"):
        net.fit(X, y, loss="ce", epochs=1, verbose=0, trace=Recorder())
    history = net.fit(X, y, loss="ce", epochs=1, verbose=0, trace=Recorder(),
                      device="cpu")
    assert len(history.loss) == 1 and net.device == "cuda"
