"""Nothing lost: checkpoints that resume training bit for bit in a new process,
successive fits that continue a run, atomic saves that survive SIGKILL,
files that are checked when read (and never unpickled), old files that still
load, and pickling and copying that keep every invariant."""
import copy
import json
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import numbann as nb
from numbann import io as nbio
from numbann import schedules
from numbann.trace import Recorder, load_trace

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("persistence_child.py")

OPTIMIZERS = {
    "sgd": lambda: nb.SGD(lr=0.1),
    "sgd-momentum": lambda: nb.SGD(lr=0.05, momentum=0.9),
    "sgd-nesterov": lambda: nb.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "momentum": lambda: nb.Momentum(lr=0.05, beta=0.8, form="classic"),
    "adagrad": lambda: nb.Adagrad(lr=0.05, lr_decay=0.01),
    "rmsprop": lambda: nb.RMSprop(lr=0.01, momentum=0.5, centered=True),
    "adam": lambda: nb.Adam(lr=0.01, amsgrad=True),
    "adamw": lambda: nb.AdamW(lr=0.01),
}
VARIANTS = {  # fit options besides the optimizer
    "shuffle+dropout": lambda: dict(shuffle=True, dropout=0.2, seed=5,
                                    schedule=schedules.CosineAnnealing(T_max=10)),
    "plain": lambda: dict(shuffle=False),
    "early-stopping": lambda: dict(dropout=0.1, l2=1e-3, clip_norm=1.0, patience=50,
                                   schedule=schedules.StepDecay(2, 0.7, per="step")),
}


def dense_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 0.8)
    return X, y


def image_data(n=30, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1, 6, 6))
    y = (X[:, 0, :3].sum(axis=(1, 2)) > 0).astype(np.int64)
    y += X[:, 0, 3:, 3:].mean(axis=(1, 2)) > 0.3
    return X, y


def dense_net():
    return nb.MLP([4, 16, 12, 3], hidden="tanh", output="softmax", seed=1)


def cnn():
    return nb.Sequential((1, 6, 6), [nb.Conv2D(3, 3, padding=1, activation="relu"), nb.BatchNorm(),
                                     nb.MaxPool2D(2), nb.Flatten(), nb.Dense(8, "tanh"),
                                     nb.Dense(3, "softmax")], seed=3)


KINDS = {"dense": (dense_net, dense_data, 7), "cnn": (cnn, image_data, 8)}  # net, data, batch


def train(kind, opt, variant, epochs, net=None, **extra):
    """Fit a fresh network of ``kind`` (or ``net``); returns (net, optimizer, history)."""
    make_net, make_data, batch = KINDS[kind]
    net = make_net() if net is None else net
    opt = OPTIMIZERS[opt]() if isinstance(opt, str) else opt
    X, y = make_data()
    options = VARIANTS[variant]()
    if variant == "early-stopping":
        options["validation_data"] = make_data(seed=9)
    history = net.fit(X, y, loss="ce", optimizer=opt, epochs=epochs, batch_size=batch, verbose=0,
                      **options, **extra)
    return net, opt, history


def assert_same_run(a, b):
    """Two (net, optimizer, history) triples are the same run, bit for bit."""
    (net_a, opt_a, h_a), (net_b, opt_b, h_b) = a, b
    assert net_a.theta.tobytes() == net_b.theta.tobytes()
    if hasattr(net_a, "running"):
        assert net_a.running.tobytes() == net_b.running.tobytes()
    assert opt_a.state.tobytes() == opt_b.state.tobytes() and opt_a.t == opt_b.t
    if h_a is not None and h_b is not None:
        for key in ("loss", "step_loss", "lr", "val_loss", "val_metric"):
            assert getattr(h_a, key) == getattr(h_b, key), key


# ---------------------------------------------------------------- resume in a new process

CASES = [(kind, opt, variant) for opt in OPTIMIZERS
         for kind, variant in (("dense", "shuffle+dropout"), ("dense", "plain"),
                               ("cnn", "shuffle+dropout"))]
CASES += [("dense", "adam", "early-stopping"), ("cnn", "rmsprop", "early-stopping"),
          ("dense", "adam", "crash"), ("cnn", "sgd-nesterov", "crash")]  # crash: see resumed()


class Crash(Exception):
    pass


def crash_after(epoch):
    def callback(net, e, logs):
        if e == epoch:
            raise Crash
    return callback


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """Every case trained 10 epochs in this process, and 5 + checkpoint here then
    5 more after resume() in one new process; plus runs that crash after epoch
    7 with a checkpoint every 3 epochs, finished in the new process."""
    folder = tmp_path_factory.mktemp("resume")
    jobs, runs = [], {}
    for case in CASES:
        kind, opt, variant = case
        name = "-".join(case)
        make_data = KINDS[kind][1]
        X, y = make_data()
        data = {"X": X, "Y": y}
        if variant == "crash":
            reference = train(kind, opt, "shuffle+dropout", 10)
            with pytest.raises(Crash):
                train(kind, opt, "shuffle+dropout", 10, checkpoint=folder / f"{name}.ckpt",
                      checkpoint_every=3, callbacks=[crash_after(7)])
            epochs = None  # the 4 epochs the crashed fit had left
        else:
            reference = train(kind, opt, variant, 10)
            train(kind, opt, variant, 5, checkpoint=folder / f"{name}.ckpt")
            epochs = 5
            if variant == "early-stopping":
                data["Xv"], data["Yv"] = make_data(seed=9)
        np.savez(folder / f"{name}-data.npz", **data)
        jobs.append({"checkpoint": str(folder / f"{name}.ckpt"), "epochs": epochs,
                     "data": str(folder / f"{name}-data.npz"),
                     "out": str(folder / f"{name}-out.npz")})
        runs[case] = reference
    (folder / "jobs.json").write_text(json.dumps(jobs))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(CHILD), str(folder / "jobs.json")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = {}
    for case, job in zip(runs, jobs):
        with np.load(job["out"]) as f:
            results[case] = (runs[case], {k: f[k] for k in f.files})
    return results


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_training_resumed_in_a_new_process_equals_the_uninterrupted_run(resumed, case):
    (net, opt, history), got = resumed[case]
    assert got["theta"].tobytes() == net.theta.tobytes()
    if hasattr(net, "running"):
        assert got["running"].tobytes() == net.running.tobytes()
    assert got["state"].tobytes() == opt.state.tobytes() and int(got["t"]) == opt.t
    for key in ("loss", "step_loss", "lr", "val_loss", "val_metric"):
        assert got[f"history_{key}"].tolist() == getattr(history, key), key


def test_a_checkpoint_holds_the_network_and_says_where_the_run_stands(tmp_path):
    path = tmp_path / "run.ckpt"
    net, opt, history = train("cnn", "adam", "early-stopping", 4, checkpoint=path)
    back = nb.load(path)  # the network of a checkpoint
    run = nb.resume(path)  # the training weights, and the best ones fit put back in net
    assert back.theta.tobytes() == run.net.theta.tobytes()
    assert run.best_theta.tobytes() == net.theta.tobytes()
    assert isinstance(run, nb.Resumed) and run.epoch == 4 and run.remaining == 0
    assert type(run.optimizer) is nb.Adam and run.optimizer.t == opt.t
    assert run.history.loss == history.loss and run.settings["batch_size"] == 8
    assert run.settings["patience"] == 50 and run.settings["validation"] is True
    X, y = image_data()
    assert run.fit(X, y, validation_data=image_data(seed=9)) is run.history  # nothing left
    with pytest.raises(ValueError, match="validation_data"):
        run.fit(X, y, epochs=1)
    assert "epoch 4" in repr(run)


def test_checkpoint_arguments_are_checked_before_training(tmp_path):
    X, y = dense_data()
    net = dense_net()
    start = net.theta.copy()

    class MySGD(nb.SGD):
        pass
    for kwargs, match in (({"checkpoint_every": 2}, "checkpoint=path"),
                          ({"checkpoint": tmp_path / "no" / "x.ckpt"}, "does not exist"),
                          ({"checkpoint": tmp_path}, "folder"),
                          ({"checkpoint": 3}, "file path"),
                          ({"checkpoint": tmp_path / "x", "checkpoint_every": 0}, "positive"),
                          ({"checkpoint": tmp_path / "x", "optimizer": MySGD()}, "own classes")):
        with pytest.raises((ValueError, TypeError), match=match):
            net.fit(X, y, loss="ce", **{"optimizer": "sgd", **kwargs}, verbose=0)
    assert net.theta.tobytes() == start.tobytes()
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- successive fits

@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_two_fits_of_five_epochs_equal_one_of_ten(opt):
    whole = train("dense", opt, "shuffle+dropout", 10)
    net, optimizer, _ = train("dense", opt, "shuffle+dropout", 5)
    train("dense", optimizer, "shuffle+dropout", 5, net=net)
    assert_same_run(whole[:2] + (None,), (net, optimizer, None))


@pytest.mark.parametrize("opt", ["sgd-momentum", "adam"])
def test_two_fits_of_a_cnn_equal_one(opt):
    whole = train("cnn", opt, "shuffle+dropout", 6)
    net, optimizer, _ = train("cnn", opt, "shuffle+dropout", 2)
    train("cnn", optimizer, "shuffle+dropout", 4, net=net)
    assert_same_run(whole[:2] + (None,), (net, optimizer, None))


def test_copies_of_a_network_and_its_optimizer_continue_the_run():
    whole = train("dense", "adam", "shuffle+dropout", 10)
    half = train("dense", "adam", "shuffle+dropout", 5)[:2]
    for clone in (pickle.loads(pickle.dumps(half)), copy.deepcopy(half)):
        net, opt = clone
        train("dense", opt, "shuffle+dropout", 5, net=net)
        assert_same_run(whole[:2] + (None,), (net, opt, None))


class FirstRows:
    """A recorder that keeps the rows of each fit's first step."""

    def start(self, net, optimizer, loss):
        self.rows = None

    def before_update(self, net, optimizer, info):
        if self.rows is None:
            self.rows = np.array(info.rows)

    def after_update(self, net, optimizer, info):
        pass

    def finish(self, net, history):
        pass


def test_the_rule_a_run_continues_with_its_optimizer_and_seed():
    X, y = dense_data()
    perms = lambda seed: np.random.default_rng(seed).permutation  # noqa: E731

    def first_rows(net, opt, seed=0, epochs=1):
        rec = FirstRows()
        net.fit(X, y, loss="ce", optimizer=opt, epochs=epochs, batch_size=40, seed=seed,
                verbose=0, trace=rec)
        return rec.rows
    net, opt = dense_net(), nb.SGD(lr=0.1)
    rng = np.random.default_rng(0)
    expected = [rng.permutation(40) for _ in range(4)]
    assert first_rows(net, opt, epochs=2).tolist() == expected[0].tolist()
    assert first_rows(net, opt).tolist() == expected[2].tolist()       # continues
    assert first_rows(net, nb.SGD(lr=0.1)).tolist() == perms(0)(40).tolist()   # new optimizer
    assert first_rows(net, opt).tolist() == perms(0)(40).tolist()      # opt moved on elsewhere
    assert first_rows(net, opt, seed=1).tolist() == perms(1)(40).tolist()      # new seed
    first_rows(net, opt, seed=1)
    net.initialize(0)                                                  # new weights
    assert first_rows(net, opt, seed=1).tolist() == perms(1)(40).tolist()


def test_schedules_count_the_epochs_of_the_run():
    X, y = dense_data()
    net, opt = dense_net(), nb.SGD(lr=0.1)
    schedule = schedules.StepDecay(2, gamma=0.5)
    h1 = net.fit(X, y, loss="ce", optimizer=opt, epochs=3, schedule=schedule, verbose=0)
    h2 = net.fit(X, y, loss="ce", optimizer=opt, epochs=3, schedule=schedule, verbose=0)
    assert h1.lr + h2.lr == schedule.values(6, 0.1).tolist()
    assert opt.lr == 0.1


# ---------------------------------------------------------------- atomic saves

def _save_forever(net, path, first, saved):
    version = first
    while True:
        net.theta[...] = version
        net.save(path)
        saved.set()
        version += 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks the saving child")
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_file(tmp_path):
    """A child saves a 2.9 MB network in a loop and is SIGKILLed at a random
    moment after its first save, 20 times: the file always loads and holds
    one whole version, the last one the child finished."""
    net = nb.MLP([300, 600, 300], seed=0)
    path = tmp_path / "net.npz"
    started = time.perf_counter()
    net.save(path)
    seconds = time.perf_counter() - started  # one save
    fork = multiprocessing.get_context("fork")
    rng = np.random.default_rng(0)
    torn, versions = 0, []
    for kill in range(1, 21):
        saved = fork.Event()
        child = fork.Process(target=_save_forever, args=(net, str(path), 1000 * kill, saved))
        child.start()
        assert saved.wait(20), "the child never saved"
        time.sleep(rng.uniform(0, 3 * seconds))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        torn += len(leftovers)  # killed in the middle of a write
        for p in leftovers:
            p.unlink()
        back = nb.load(path)
        version = back.theta[0]
        assert np.all(back.theta == version) and back.config() == net.config()
        assert 1000 * kill <= version < 1000 * (kill + 1)
        versions.append(int(version) - 1000 * kill)
    assert torn >= 1, "no kill landed during a write: the test tests nothing"
    assert time.perf_counter() - started < 30
    print(f"\n20 kills, {torn} during a write; versions finished per child: {versions}")


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    net = dense_net()
    path = tmp_path / "net.npz"
    net.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        net.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["net.npz"]
    net.theta[0] = np.nan
    monkeypatch.undo()
    with pytest.raises(ValueError, match="NaN"):
        net.save(path)
    assert path.read_bytes() == before


# ---------------------------------------------------------------- damaged and foreign files

def files(tmp_path):
    """One file of each kind: (path, loader, check that it loaded the original)."""
    dense = dense_net()
    net_path = tmp_path / "dense.npz"
    dense.save(net_path)
    seq, _, _ = train("cnn", "adam", "plain", 1)
    seq_path = tmp_path / "cnn.npz"
    seq.save(seq_path)
    ckpt_path = tmp_path / "run.ckpt"
    train("dense", "adam", "plain", 1, checkpoint=ckpt_path)
    rec = Recorder(keep=("z", "dW", "W"), steps=[0, 2])
    X, y = dense_data()
    traced = dense_net()
    traced.fit(X, y, loss="ce", optimizer="adam", epochs=1, batch_size=16, trace=rec, verbose=0)
    trace_path = rec.trace.save(tmp_path / "trace.npz", compressed=True)
    ckpt_theta = nb.load(ckpt_path).theta
    return [(net_path, nb.load, lambda n: n.theta.tobytes() == dense.theta.tobytes()),
            (seq_path, nb.load, lambda n: n.running.tobytes() == seq.running.tobytes()
             and n.theta.tobytes() == seq.theta.tobytes()),
            (ckpt_path, nb.resume, lambda r: r.net.theta.tobytes() == ckpt_theta.tobytes()),
            (trace_path, load_trace, lambda t: t.equals(rec.trace))]


def refused(loader, path, match=None):
    with pytest.raises(nb.NumbannFileError, match=match) as caught:
        loader(path)
    assert str(caught.value).startswith(str(path)), str(caught.value)
    return str(caught.value)


def test_truncated_bit_flipped_and_random_files_are_refused_or_exact(tmp_path):
    rng = np.random.default_rng(0)
    for path, loader, same in files(tmp_path):
        good = path.read_bytes()
        assert same(loader(path))
        bad = tmp_path / ("bad" + path.suffix)
        for size in sorted(set(np.linspace(0, len(good) - 1, 60).astype(int))):
            bad.write_bytes(good[:size])
            refused(loader, bad)
        flips = rng.choice(len(good), min(len(good), 400), replace=False)
        refusals = 0
        for i in flips:
            flipped = bytearray(good)
            flipped[i] ^= 1 << (int(i) % 8)
            bad.write_bytes(bytes(flipped))
            try:
                result = loader(bad)
            except nb.NumbannFileError as e:
                assert str(e).startswith(str(bad))
                refusals += 1
            else:  # a flip in a field that holds no data (a timestamp): the same numbers
                assert same(result), (path.name, i)
        assert refusals > len(flips) / 2
        for n in (1, 100, len(good)):
            bad.write_bytes(rng.bytes(n))
            refused(loader, bad)


def test_foreign_and_unreadable_files_are_refused(tmp_path):
    foreign = tmp_path / "other.npz"
    np.savez(foreign, a=np.arange(3))
    assert "not a numbann-network or numbann-checkpoint file" in refused(nb.load, foreign)
    for loader in (nb.resume, load_trace):
        refused(loader, foreign, "not a numbann")
    single = tmp_path / "one.npy"
    np.save(single, np.arange(3.0))
    refused(nb.load, single, "single .npy")
    text = tmp_path / "notes.txt"
    text.write_text("theta = [1, 2, 3]\n")
    refused(nb.load, text, "not a readable .npz")
    net_file = tmp_path / "net.npz"
    dense_net().save(net_file)
    refused(load_trace, net_file, "'numbann-network' file, not a numbann-trace file")
    refused(nb.resume, net_file, "not a numbann-checkpoint")
    with pytest.raises(FileNotFoundError):
        nb.load(tmp_path / "missing.npz")


def test_pickled_data_is_never_executed(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    for name, save in (("a.npy", lambda p: np.save(p, np.array([Payload()], object),
                                                     allow_pickle=True)),
                       ("b.npz", lambda p: np.savez(p, theta=np.array([Payload()], object),
                                                    config=np.array("{}")))):
        save(tmp_path / name)
        assert not marker.exists()
        refused(nb.load, tmp_path / name)
        assert not marker.exists()


def network_file(tmp_path, version=None, **changes):
    """A network file with a valid checksum whose arrays are changed."""
    net = dense_net()
    arrays = {"theta": net.theta, "config": np.array(json.dumps(net.config()))}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = tmp_path / "crafted.npz"
    nbio.write(path, arrays, nbio.NETWORK, version=version)
    return path, net


def test_well_formed_files_with_wrong_contents_are_refused(tmp_path):
    theta = dense_net().theta
    nan, inf = theta.copy(), theta.copy()
    nan[3], inf[-1] = np.nan, np.inf
    for changes, match in (({"config": None}, "missing 'config'"),
                           ({"theta": None}, "missing 'theta'"),
                           ({"theta": nan}, "theta contains NaN or inf"),
                           ({"theta": inf}, "theta contains NaN or inf"),
                           ({"theta": theta.astype(np.int64)}, "float32 or float64"),
                           ({"theta": theta.astype(np.float32)},
                            "is float32, but the network is float64"),
                           ({"theta": theta.reshape(1, -1)}, "1-D"),
                           ({"theta": theta[:-1]}, "entries, the architecture needs"),
                           ({"config": np.array("{not json")}, "'config' is not valid JSON"),
                           ({"config": np.array('{"n_inputs": 4}')}, "does not describe a network"),
                           ({"config": np.array('[1, 2]')}, "does not describe a network"),
                           ({"config": np.arange(3)}, "'config' is not valid JSON")):
        path, _ = network_file(tmp_path, **changes)
        refused(nb.load, path, match)
    path, _ = network_file(tmp_path, version=2)
    refused(nb.load, path, "format version 2 is newer than this numbann reads")


def test_a_damaged_checkpoint_is_refused(tmp_path):
    path = tmp_path / "run.ckpt"
    train("dense", "adam", "plain", 1, checkpoint=path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != nbio.HEADER}
    doc = json.loads(str(arrays["checkpoint"]))
    for change in ({"optimizer/state": arrays["optimizer/state"][:1]},
                   {"optimizer/hyper": np.full(15, np.nan)},
                   {"checkpoint": np.array(json.dumps({**doc, "fit_state": {"seed": 0}}))},
                   {"checkpoint": np.array(json.dumps({**doc, "optimizer": {
                       **doc["optimizer"], "class": "os.system"}}))}):
        nbio.write(path, {**arrays, **change}, nbio.CHECKPOINT)
        refused(nb.resume, path, "not a valid checkpoint")


# ---------------------------------------------------------------- files of the previous format

def without_header(path):
    """Rewrite a file as the previous numbann wrote it: np.savez, no header."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != nbio.HEADER}
    np.savez(path, **arrays)


def test_files_of_the_previous_format_still_load(tmp_path):
    for path, loader, same in files(tmp_path):
        if path.suffix == ".ckpt":
            continue  # checkpoints are new
        without_header(path)
        assert same(loader(path))
    net = dense_net()
    theta = net.theta.copy()
    theta[0] = np.nan
    old = tmp_path / "old.npz"
    np.savez(old, theta=theta, config=np.array(json.dumps(net.config())))
    refused(nb.load, old, "NaN")
    np.savez(old, theta=net.theta)
    refused(nb.load, old, "no numbann header")
    with open(old, "wb") as f:  # exactly how numbann 0.1 saved a network
        np.savez(f, theta=net.theta, config=np.array(json.dumps(net.config())))
    assert nb.load(old).theta.tobytes() == net.theta.tobytes()


# ---------------------------------------------------------------- pickle and deepcopy

CLONES = {"pickle": lambda x: pickle.loads(pickle.dumps(x)), "deepcopy": copy.deepcopy}


@pytest.mark.parametrize("clone", CLONES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_cloned_network_keeps_its_views_and_trains(kind, clone):
    net, _, _ = train(kind, "adam", "plain", 1)
    net.forward(KINDS[kind][1]()[0])  # a workspace exists
    other = CLONES[clone](net)
    assert type(other) is type(net) and other.theta.tobytes() == net.theta.tobytes()
    assert other.theta is not net.theta and other._workspace is None
    for l in range(1, other.L + 1):
        assert other.W[l].size == 0 or np.shares_memory(other.W[l], other.theta)
        assert other.b[l].size == 0 or np.shares_memory(other.b[l], other.theta)
    X, y = KINDS[kind][1]()
    np.testing.assert_array_equal(other.forward(X), net.forward(X))
    before = other.forward(X)
    other.W[1] = np.zeros_like(other.W[1])
    assert not np.array_equal(other.forward(X), before)
    assert not np.all(net.W[1] == 0)  # the original is untouched
    W1 = other.W[1].copy()
    train(kind, "adam", "plain", 1, net=other)
    assert not np.array_equal(other.W[1], W1)
    assert np.shares_memory(other.W[1], other.theta)
    if kind == "cnn":
        assert np.shares_memory(other.running_mean(2), other.running)
        assert not np.array_equal(other.running, net.running)


@pytest.mark.parametrize("clone", CLONES)
@pytest.mark.parametrize("opt", list(OPTIMIZERS) + ["newton"])
def test_a_cloned_optimizer_keeps_its_state_and_steps_alike(opt, clone):
    if opt == "newton":
        net, optimizer = nb.MLP([2, 3, 1], seed=0), nb.Newton(damping=0.1)
        X, y = np.random.default_rng(0).normal(size=(8, 2)), np.ones(8)
        net.fit(X, y, optimizer=optimizer, epochs=1, verbose=0)
        assert optimizer.last_hessian is not None
    else:
        net, optimizer, _ = train("dense", opt, "plain", 2)
    other = CLONES[clone](optimizer)
    assert type(other) is type(optimizer) and repr(other) == repr(optimizer)
    assert other.t == optimizer.t and other.hyper.tobytes() == optimizer.hyper.tobytes()
    assert other.state.tobytes() == optimizer.state.tobytes() and other.state is not optimizer.state
    if opt != "newton":
        grad = np.random.default_rng(1).normal(size=net.n_params)
        a, b = net.theta.copy(), net.theta.copy()
        optimizer.step(a, grad, optimizer.state, optimizer.t + 1)
        other.step(b, grad, other.state, other.t + 1)
        assert a.tobytes() == b.tobytes() and other.state.tobytes() == optimizer.state.tobytes()


@pytest.mark.parametrize("clone", CLONES)
def test_history_recorder_and_trace_clone(clone):
    X, y = dense_data()
    rec = Recorder(keep="all", steps=slice(0, None, 2), epochs=[0, 1])
    net = dense_net()
    history = net.fit(X, y, loss="ce", optimizer="adam", epochs=2, batch_size=16, trace=rec,
                      validation_data=dense_data(seed=4), verbose=0)
    h = CLONES[clone](history)
    assert type(h) is nb.History and h.as_dict() == history.as_dict()
    tr = CLONES[clone](rec.trace)
    assert tr.equals(rec.trace) and all(r.arch is tr.arch for r in tr)
    assert tr.replay(2) == rec.trace.replay(2)
    other = CLONES[clone](rec)
    assert other.trace.equals(rec.trace) and repr(other) == repr(rec)
    assert [other.selection(s, 0) for s in range(6)] == [True, False] * 3
    net.fit(X, y, loss="ce", optimizer="adam", epochs=1, batch_size=16, trace=other, verbose=0)
    assert other.trace.steps.tolist() == [0, 2] and rec.trace.steps.tolist() == [0, 2, 4]
