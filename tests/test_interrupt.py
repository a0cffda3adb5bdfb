"""Ctrl-C during fit stops between two steps with a consistent network and
optimizer (numbann.interrupt), and the loss-explosion warning."""
import json
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import numbann as nb
from numbann.data import load_digits

CHILD = r"""
import json, sys, time
import numpy as np
import numbann as nb
kind = sys.argv[1]
rng = np.random.default_rng(0)
if kind == "dense":   # full batch of 20,000 rows: one step is a large compiled call
    X = rng.random((20000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 20000)
    make = lambda: nb.MLP([784, 512, 10], hidden="relu", output="softmax", dtype="float32")
    batch, trace = 20000, None
elif kind == "cnn":
    X = rng.random((4096, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 4096)
    make = lambda: nb.Sequential((1, 28, 28), [nb.Conv2D(6, 5), nb.MaxPool2D(2), nb.Flatten(),
                                               nb.Dense(10, "softmax")], dtype="float32")
    batch, trace = 4096, None
else:                 # step by step from Python (a trace recorder)
    X = rng.random((4000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 4000)
    make = lambda: nb.MLP([784, 256, 10], hidden="relu", output="softmax", dtype="float32")
    batch, trace = 200, nb.trace.Recorder(keep=("norms",), steps=range(0, 50))
net = make()
net.fit(X[:batch], y[:batch], loss="ce", optimizer="adam", epochs=1, batch_size=batch, verbose=0)
opt = nb.Adam(lr=1e-3)
print("started", flush=True)
try:
    net.fit(X, y, loss="ce", optimizer=opt, epochs=10000, batch_size=batch, verbose=0, trace=trace)
    print(json.dumps({"interrupted": False}))
except nb.TrainingInterrupted as e:
    stopped = time.perf_counter()
    h = e.history
    print(json.dumps({"interrupted": True, "at": time.time(), "steps": e.steps, "t": opt.t,
                      "step_losses": len(h.step_loss), "epochs": len(h.loss),
                      "finite": bool(np.isfinite(net.theta).all())}), flush=True)
    more = net.fit(X[:batch], y[:batch], loss="ce", optimizer=opt, epochs=1, batch_size=batch,
                   verbose=0)
    print(json.dumps({"continued": len(more.step_loss), "t": opt.t}), flush=True)
"""


@pytest.mark.parametrize("kind", ["dense", "cnn", "stepwise"])
def test_ctrl_c_stops_fit_between_steps(kind):
    child = subprocess.Popen([sys.executable, "-c", CHILD, kind], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, child.kill)  # a child that never stops fails the test
    watchdog.start()
    try:
        assert child.stdout.readline().strip() == "started"
        time.sleep(1.5)
        sent = time.time()
        child.send_signal(signal.SIGINT)
        result = json.loads(child.stdout.readline())
        continued = json.loads(child.stdout.readline())
        child.wait(timeout=60)
    finally:
        watchdog.cancel()
        child.kill()
    assert result["interrupted"], child.stderr.read()
    latency = result["at"] - sent
    assert latency < 3.0, f"{kind}: stopped {latency:.2f} s after Ctrl-C"
    # the optimizer's step count, the history and the weights agree: every step completed
    assert result["steps"] == result["t"] == result["step_losses"] >= 1
    assert result["epochs"] == result["step_losses"] // (1 if kind != "stepwise" else 20)
    assert result["finite"]
    # the same optimizer trains on afterwards, its count going on from there
    assert continued["t"] == result["t"] + continued["continued"]


def test_the_signal_handler_is_restored_after_fit():
    before = signal.getsignal(signal.SIGINT)
    net = nb.MLP([2, 3, 1], seed=0)
    net.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=2, verbose=0)
    assert signal.getsignal(signal.SIGINT) is before


def test_loss_explosion_warns_once():
    X, y = load_digits()
    net = nb.MLP([64, 64, 10], hidden="relu", output="softmax", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = net.fit(X, y, loss="ce", optimizer=nb.Adam(lr=1e3), epochs=8, verbose=0)
    exploded = [w for w in caught if issubclass(w.category, nb.LossExplosionWarning)]
    assert len(exploded) == 1 and "explode=None" in str(exploded[0].message)
    assert history.loss[-1] > 10 * history.step_loss[0]  # what it warned about is true
    net = nb.MLP([64, 64, 10], hidden="relu", output="softmax", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nb.LossExplosionWarning)
        net.fit(X, y, loss="ce", optimizer=nb.Adam(lr=1e3), epochs=8, verbose=0, explode=None)
        net.fit(X, y, loss="ce", optimizer=nb.Adam(lr=1e-3), epochs=4, verbose=0)
        with pytest.raises(nb.LossExplosionWarning):  # a warning filter turns it into a stop
            nb.MLP([64, 64, 10], hidden="relu", output="softmax", seed=0).fit(
                X, y, loss="ce", optimizer=nb.Adam(lr=1e3), epochs=8, verbose=0)


@pytest.mark.parametrize("bad", [0.5, 1, float("nan"), "10", -3])
def test_explode_must_be_a_factor_above_one(bad):
    with pytest.raises(ValueError, match="explode"):
        nb.MLP([2, 1]).fit(np.zeros((4, 2)), np.zeros((4, 1)), explode=bad, verbose=0)


def test_interrupted_is_a_keyboard_interrupt():
    """Code that catches KeyboardInterrupt around fit keeps working."""
    assert issubclass(nb.TrainingInterrupted, KeyboardInterrupt)
