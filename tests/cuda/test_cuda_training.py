"""fit(device="cuda") against fit(device="cpu"): same seed, same steps; and the
errors of a device that cannot run."""
import numpy as np
import pytest
from cuda_compare import assert_close

import numbann
from numbann import MLP, TrainingDiverged, device, optim, schedules


def data(n=12, n_in=4, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_out, n)


def fit_both(net, X, Y, optimizer, **options):
    """Train net on the CPU and a copy on the GPU, each with a fresh optimizer."""
    on_gpu = net.copy()
    cpu_history = net.fit(X, Y, optimizer=optimizer(), device="cpu", verbose=0, **options)
    gpu_history = on_gpu.fit(X, Y, optimizer=optimizer(), device="cuda", verbose=0, **options)
    return net, on_gpu, cpu_history, gpu_history


RUNS = {
    # validation and patience: one epoch per GPU call, theta synced between
    "adam, ce, dropout, l2, clip_norm, validation": dict(
        hidden="relu", output="softmax", loss="ce", optimizer=lambda: optim.Adam(lr=0.05),
        dropout=0.3, l2=0.01, clip_norm=0.5, validate=True, patience=5),
    "nesterov, mse, l1, clip_value, schedule": dict(
        hidden="tanh", output="identity", loss="mse",
        optimizer=lambda: optim.SGD(lr=0.1, momentum=0.9, nesterov=True), l1=0.01,
        clip_value=0.2,
        schedule=schedules.StepDecay(step_size=2, gamma=0.5, per="step"), validate=False),
}


@pytest.mark.usefixtures("gpu")
@pytest.mark.parametrize("name", RUNS)
def test_two_epochs_agree_step_by_step(name):
    options = dict(RUNS[name])
    net = MLP([4, 6, 5, 3], hidden=options.pop("hidden"), output=options.pop("output"), seed=3)
    X, labels = data()
    Y = labels if options["loss"] == "ce" else np.eye(3)[labels]
    if options.pop("validate"):
        options["validation_data"] = (X[:4], Y[:4])
    start = net.theta.copy()
    cpu_net, gpu_net, cpu_history, gpu_history = fit_both(
        net, X, Y, epochs=2, batch_size=5, seed=7, **options)
    assert_close(gpu_net.theta, cpu_net.theta, np.float64, "theta after 2 epochs")
    assert_close(gpu_history.step_loss, cpu_history.step_loss, np.float64, "step losses")
    assert_close(gpu_history.val_loss, cpu_history.val_loss, np.float64, "validation losses")
    assert len(gpu_history.step_loss) == 6  # 3 steps an epoch, the last of 2 rows
    assert not np.allclose(gpu_net.theta, start)


@pytest.mark.usefixtures("gpu")
def test_divergence_stops_where_the_cpu_stops():
    X, labels = data(n=10)
    X[7] = 1e200  # overflows in the first epoch's shuffled batches
    net = MLP([4, 5, 3], hidden="relu", seed=1)
    on_gpu = net.copy()
    errors = []
    for model, where in ((net, "cpu"), (on_gpu, "cuda")):
        with pytest.raises(TrainingDiverged) as caught:
            model.fit(X, np.eye(3)[labels], optimizer=optim.SGD(lr=0.1), epochs=2, batch_size=3,
                      verbose=0, device=where)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert_close(on_gpu.theta, net.theta, np.float64, "theta where training stopped")


def test_cuda_available_is_a_bool():
    assert isinstance(device.cuda_available(), bool)


def test_no_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    X, labels = data()
    with pytest.raises(RuntimeError, match="NUMBA_ENABLE_CUDASIM=1"):
        MLP([4, 3]).fit(X, labels, loss="ce", device="cuda", verbose=0)
    assert device.check_device("cpu") == "cpu"


def test_an_unknown_device_is_refused():
    X, labels = data()
    with pytest.raises(ValueError, match="device must be one of"):
        MLP([4, 3], output="softmax").fit(X, labels, loss="ce", verbose=0, device="gpu")


@pytest.mark.usefixtures("gpu")
def test_newton_and_trace_stay_on_the_cpu():
    X, labels = data()
    with pytest.raises(ValueError, match="Newton"):
        MLP([4, 3], output="softmax").fit(X, labels, loss="ce", optimizer="newton", verbose=0,
                                          device="cuda")
    with pytest.raises(ValueError, match="device='cpu'"):
        device.run_class("cuda", trace=object())
    assert device.run_class("cpu") is numbann.training._Run
