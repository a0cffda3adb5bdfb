"""The training loop (numbann.training.fit): batching, shuffling, the two
execution paths, PyTorch's loss curves, the course's tasks, and every option
of fit (early stopping, dropout, clipping, penalties, divergence, schedules,
Newton's method, validation) with its errors."""
import math
import re
import time

import numpy as np
import pytest

from numbann import MLP, Perceptron, TrainingDiverged, optim, schedules
from numbann.data import (load_digits, make_moons, make_regression, make_xor, standardize,
                          train_test_split)


class NoOpRecorder:
    """The smallest trace recorder: passing one makes fit run step by step."""

    def start(self, net, optimizer, loss):
        pass

    def before_update(self, net, optimizer, info):
        pass

    def after_update(self, net, optimizer, info):
        pass

    def finish(self, net, history):
        pass


class StepRecorder(NoOpRecorder):
    """Keeps what each step saw: batch rows, rate, loss, batch size, and
    optionally theta after each update."""

    def __init__(self, keep_theta=False):
        self.rows, self.lr, self.loss, self.m, self.epoch, self.theta = [], [], [], [], [], []
        self.keep_theta = keep_theta
        self.started = self.finished = False

    def start(self, net, optimizer, loss):
        self.started = True

    def before_update(self, net, optimizer, info):
        self.rows.append(np.array(info.rows))
        self.lr.append(float(info.lr))
        self.loss.append(float(info.loss))
        self.m.append(int(info.m))
        self.epoch.append(int(info.epoch))

    def after_update(self, net, optimizer, info):
        if self.keep_theta:
            self.theta.append(net.theta.copy())

    def finish(self, net, history):
        self.finished = True


def moons(n=50, seed=1):
    return make_moons(n, noise=0.2, seed=seed)


def binary_net(seed=2, sizes=(2, 16, 8, 1), hidden="relu"):
    return MLP(list(sizes), hidden=hidden, output="sigmoid", seed=seed)


def sectors(n, seed):
    """3 classes: the angular sector of a point in [-1, 1]^2."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = (np.floor((np.arctan2(X[:, 1], X[:, 0]) + np.pi) / (2 * np.pi / 3)) % 3).astype(np.int64)
    return X, y


# ---------------------------------------------------------------- batching

@pytest.mark.parametrize("n, batch_size", [(50, 16), (48, 16), (10, 32), (7, 1), (33, 32)])
def test_steps_per_epoch_is_ceil_n_over_batch_size(n, batch_size):
    X, Y = moons(n)
    epochs = 3
    steps = math.ceil(n / batch_size)
    h = binary_net().fit(X, Y, loss="bce", optimizer="sgd", epochs=epochs,
                         batch_size=batch_size, verbose=0)
    assert len(h.step_loss) == epochs * steps
    assert len(h.loss) == epochs
    # the step path sees the batches: full ones, then a smaller last one
    rec = StepRecorder()
    binary_net().fit(X, Y, loss="bce", optimizer="sgd", epochs=epochs, batch_size=batch_size,
                     verbose=0, trace=rec)
    m = min(batch_size, n)
    sizes = [m] * (steps - 1) + [n - m * (steps - 1)]
    assert rec.m == sizes * epochs
    assert [len(r) for r in rec.rows] == rec.m
    # the epoch loss is the sample-weighted mean of its batch losses
    per_step = np.array(h.step_loss).reshape(epochs, steps)
    np.testing.assert_allclose(h.loss, per_step @ np.array(sizes) / n, rtol=1e-14)


# ---------------------------------------------------------------- shuffling, seeds

def test_shuffles_every_epoch_from_the_seed():
    X, Y = moons(50)
    steps, epochs = 4, 4

    def orders(seed, shuffle=True):
        rec = StepRecorder()
        binary_net().fit(X, Y, loss="bce", epochs=epochs, batch_size=16, seed=seed,
                         shuffle=shuffle, verbose=0, trace=rec)
        return [np.concatenate(rec.rows[e * steps:(e + 1) * steps]) for e in range(epochs)]

    a = orders(7)
    for order in a:                         # each epoch visits every row once
        assert sorted(order.tolist()) == list(range(50))
    assert not np.array_equal(order, np.arange(50))
    for e in range(1, epochs):              # a new permutation every epoch
        assert not np.array_equal(a[e], a[e - 1])
    assert all(np.array_equal(x, y) for x, y in zip(a, orders(7)))      # from the seed
    assert not all(np.array_equal(x, y) for x, y in zip(a, orders(8)))
    for order in orders(7, shuffle=False):  # no shuffle: rows in order
        np.testing.assert_array_equal(order, np.arange(50))


def test_same_seed_same_weights_bit_for_bit_different_seed_differs():
    X, Y = moons(60)

    def train(seed):
        net = binary_net()
        h = net.fit(X, Y, loss="bce", optimizer=optim.Adam(lr=0.01), epochs=5, batch_size=16,
                    seed=seed, verbose=0)
        return net.theta.copy(), h.step_loss

    (a, la), (b, lb), (c, _) = train(3), train(3), train(4)
    np.testing.assert_array_equal(a, b)
    assert la == lb
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("make_opt", [
    lambda: optim.SGD(lr=0.1, momentum=0.9, nesterov=True),
    lambda: optim.Adam(lr=0.01),
    lambda: optim.RMSprop(lr=0.01, momentum=0.5),
], ids=["nesterov", "adam", "rmsprop"])
def test_compiled_and_step_by_step_paths_give_identical_weights(make_opt):
    """Without a trace whole epochs run in one compiled call; with one, the
    same kernels run batch by batch from Python. Every option on at once."""
    X, Y = moons(50)
    kw = dict(loss="bce", epochs=4, batch_size=16, seed=5, dropout=0.3, l1=1e-3, l2=1e-2,
              clip_norm=0.5, clip_value=0.1, verbose=0,
              schedule=schedules.CosineAnnealing(T_max=7, per="step"))
    nets, hists = [], []
    for trace in (None, NoOpRecorder()):
        net = binary_net()
        hists.append(net.fit(X, Y, optimizer=make_opt(), trace=trace, **kw))
        nets.append(net)
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)
    assert hists[0].step_loss == hists[1].step_loss
    assert hists[0].loss == hists[1].loss
    assert hists[0].lr == hists[1].lr


def test_recorder_protocol_is_called():
    X, Y = moons(20)
    rec = StepRecorder(keep_theta=True)
    h = binary_net().fit(X, Y, loss="bce", epochs=2, batch_size=8, verbose=0, trace=rec)
    assert rec.started and rec.finished
    assert len(rec.theta) == len(rec.loss) == len(h.step_loss) == 6
    assert rec.loss == h.step_loss
    assert rec.epoch == [0, 0, 0, 1, 1, 1]


# ---------------------------------------------------------------- PyTorch's loss curves

@pytest.mark.parametrize("run, path", [(r, p) for r in ("sgd", "adam", "ce")
                                       for p in ("compiled", "stepwise")])
def test_end_to_end_matches_pytorch(fixture, run, path):
    """tests/fixtures/training.npz: 10 epochs x 5 batches of 8, no shuffling,
    float64, the same initial weights: every batch loss and the final weights."""
    f = fixture("training")
    if run == "ce":
        X, Y, p = f["ce_X"], f["ce_Y"], "ce_"
        net = MLP([2, 5, 3], hidden="relu", output="softmax")
        loss, opt = "ce", optim.Adam(lr=0.05)
    else:
        X, Y, p = f["X"], f["Y"], ""
        net = MLP([2, 6, 1], hidden="tanh", output="sigmoid")
        loss = "bce"
        opt = optim.SGD(lr=0.5) if run == "sgd" else optim.Adam(lr=0.05)
    net.set_params([f[p + "W1"], f[p + "W2"]], [f[p + "b1"], f[p + "b2"]])
    h = net.fit(X, Y, loss=loss, optimizer=opt, epochs=10, batch_size=8, shuffle=False,
                verbose=0, trace=NoOpRecorder() if path == "stepwise" else None)
    ref = f[f"{run}_losses"]
    assert len(h.step_loss) == len(ref) == 50
    np.testing.assert_allclose(h.step_loss, ref, rtol=0, atol=1e-10)
    for name, value in (("W1", net.W[1]), ("b1", net.b[1]), ("W2", net.W[2]), ("b2", net.b[2])):
        np.testing.assert_allclose(value, f[f"{run}_final_{name}"], rtol=0, atol=1e-10,
                                   err_msg=name)


# ---------------------------------------------------------------- course tasks

def test_xor_is_learned_by_a_2_4_1_network_not_by_the_perceptron():
    X, y = make_xor()
    net = MLP([2, 4, 1], hidden="tanh", output="sigmoid", seed=0)
    h = net.fit(X, y, loss="bce", optimizer=optim.SGD(lr=0.5), epochs=2000, batch_size=4,
                verbose=0)
    assert net.score(X, y) == 1.0
    np.testing.assert_array_equal(net.predict(X), y[:, 0].astype(int))
    assert h.loss[-1] < 0.05 < h.loss[0]
    p = Perceptron(2).fit(X, y[:, 0], epochs=100)
    assert not p.converged                  # XOR is not linearly separable
    assert np.mean(p.predict(X) == y[:, 0]) < 1.0


def test_digits_reach_97_percent_with_a_small_mlp_and_adam(record_property):
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0,
                                                        stratify=True)
    X_train, X_test = standardize(X_train, X_test)
    net = MLP([64, 128, 10], hidden="relu", output="softmax", seed=0)
    started = time.perf_counter()
    h = net.fit(X_train, y_train, loss="ce", optimizer=optim.Adam(lr=2e-3), epochs=60,
                batch_size=32, l2=3e-3, schedule=schedules.CosineAnnealing(T_max=60),
                seed=0, verbose=0)
    seconds = time.perf_counter() - started
    accuracy = net.score(X_test, y_test)
    record_property("digits_test_accuracy", accuracy)
    record_property("digits_fit_seconds", seconds)
    print(f"digits: test accuracy {accuracy:.4f}, fit {seconds:.2f} s")
    assert accuracy >= 0.97
    assert h.loss[-1] < h.loss[0]


# ---------------------------------------------------------------- early stopping

def overfitting_problem():
    """12 noisy training points, clean validation points, a big network."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (12, 1))
    Y = np.sin(3 * X) + rng.normal(0, 0.5, X.shape)
    Xv = np.linspace(-1, 1, 100).reshape(-1, 1)
    return X, Y, Xv, np.sin(3 * Xv)


def test_early_stopping_restores_the_best_weights():
    X, Y, Xv, Yv = overfitting_problem()
    snapshots = {}

    def keep(net, epoch, logs):
        snapshots[epoch] = net.theta.copy()

    net = MLP([1, 64, 64, 1], hidden="tanh", seed=0)
    patience = 10
    h = net.fit(X, Y, optimizer=optim.Adam(lr=0.02), epochs=500, batch_size=12,
                validation_data=(Xv, Yv), patience=patience, callbacks=[keep], verbose=0)
    assert h.stopped_epoch is not None and h.stopped_epoch < 499      # it did stop early
    assert h.stopped_epoch == h.best_epoch + patience
    assert len(h.val_loss) == h.stopped_epoch + 1
    assert h.val_loss[h.best_epoch] == min(h.val_loss)
    assert h.val_loss[-1] > h.val_loss[h.best_epoch]                 # validation loss rose
    np.testing.assert_array_equal(net.theta, snapshots[h.best_epoch])
    assert not np.array_equal(net.theta, snapshots[h.stopped_epoch])
    assert net.evaluate(Xv, Yv) == pytest.approx(h.val_loss[h.best_epoch], rel=1e-12)

    # restore_best=False keeps the last weights
    net2 = MLP([1, 64, 64, 1], hidden="tanh", seed=0)
    snapshots.clear()
    h2 = net2.fit(X, Y, optimizer=optim.Adam(lr=0.02), epochs=500, batch_size=12,
                  validation_data=(Xv, Yv), patience=patience, restore_best=False,
                  callbacks=[keep], verbose=0)
    assert h2.stopped_epoch == h.stopped_epoch
    np.testing.assert_array_equal(net2.theta, snapshots[h2.stopped_epoch])


def test_a_callback_returning_true_stops_training():
    X, Y = moons(20)
    seen = []

    def stop_at_2(net, epoch, logs):
        seen.append((epoch, logs["loss"]))
        return epoch == 2

    h = binary_net().fit(X, Y, loss="bce", epochs=10, verbose=0, callbacks=[stop_at_2])
    assert [e for e, _ in seen] == [0, 1, 2]
    assert [loss for _, loss in seen] == h.loss
    assert h.stopped_epoch == 2 and len(h.loss) == 3


# ---------------------------------------------------------------- dropout

def test_dropout_changes_training_but_never_inference():
    X, Y = moons(64)
    kw = dict(loss="bce", optimizer=optim.Adam(lr=0.01), epochs=5, batch_size=16, seed=3,
              verbose=0)
    plain, dropped = binary_net(), binary_net()
    plain.fit(X, Y, **kw)
    dropped.fit(X, Y, dropout=0.5, **kw)
    assert not np.array_equal(plain.theta, dropped.theta)

    # inference: deterministic, and exactly the forward pass of the same weights
    # in a network that never saw dropout
    out = dropped.forward(X)
    np.testing.assert_array_equal(out, dropped.forward(X))
    twin = binary_net(seed=99)
    twin.theta[...] = dropped.theta
    np.testing.assert_array_equal(out, twin.forward(X))
    a = X
    for l in (1, 2):
        a = np.maximum(a @ dropped.W[l].T + dropped.b[l], 0)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(a @ dropped.W[3].T + dropped.b[3]))),
                               rtol=1e-12)
    np.testing.assert_array_equal(dropped.predict(X), (out[:, 0] > 0.5).astype(int))
    assert dropped.evaluate(X, Y, "bce") == dropped.evaluate(X, Y, "bce")


def test_inverted_dropout_keeps_the_expected_activation():
    """During training a[1] = g(z[1]) * mask / keep: dropped units are 0, kept
    ones are scaled by 1/keep, so the mean activation is about unchanged."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    Y = rng.uniform(size=(64, 1))
    p = 0.3

    class Grab(NoOpRecorder):
        def before_update(self, net, optimizer, info):
            self.dropped = info.ws.a(1, info.m).copy()
            self.clean = 1 / (1 + np.exp(-(X[info.rows] @ net.W[1].T + net.b[1])))

    net = MLP([4, 1000, 1], hidden="sigmoid", output="sigmoid", seed=0)
    grab = Grab()
    net.fit(X, Y, loss="bce", epochs=1, batch_size=64, dropout=p, verbose=0, trace=grab)
    dropped, clean = grab.dropped, grab.clean
    kept = dropped != 0
    assert abs(1 - kept.mean() - p) < 0.01                     # about p of the units dropped
    np.testing.assert_allclose(dropped[kept], clean[kept] / (1 - p), rtol=1e-12)
    assert abs(dropped.mean() / clean.mean() - 1) < 0.02       # inverted: scale preserved


def test_dropout_masks_are_reproducible_from_the_seed():
    X, Y = moons(64)

    def train(seed, predict_first=False):
        net = binary_net()
        if predict_first:           # a bigger cached workspace must not change the masks
            net.predict(np.zeros((1000, 2)))
        net.fit(X, Y, loss="bce", optimizer=optim.Adam(lr=0.01), epochs=3, batch_size=16,
                shuffle=False, dropout=[0.5, 0.2], seed=seed, verbose=0)
        return net.theta.copy()

    a = train(1)
    np.testing.assert_array_equal(a, train(1))
    np.testing.assert_array_equal(a, train(1, predict_first=True))
    assert not np.array_equal(a, train(2))   # no shuffling: only the masks differ


# ---------------------------------------------------------------- clipping, penalties

def one_sgd_step(net, X, Y, lr, loss="mse", **kw):
    """theta before and after one full-batch SGD step, and the plain gradient."""
    theta0 = net.theta.copy()
    _, g = net.gradient(X, Y, loss)
    net.fit(X, Y, loss=loss, optimizer=optim.SGD(lr=lr), epochs=1, batch_size=len(X),
            shuffle=False, verbose=0, **kw)
    return theta0, net.theta.copy(), g


def test_clip_by_value_bounds_every_component_of_the_update():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 3)), np.full((10, 1), 1e4)      # a huge gradient
    lr, c = 0.1, 0.5
    theta0, theta1, g = one_sgd_step(MLP([3, 4, 1], hidden="tanh", seed=0), X, Y, lr,
                                     clip_value=c)
    assert np.abs(g).max() > 100 * c
    step = theta0 - theta1
    assert np.abs(step).max() <= lr * c * (1 + 1e-12)
    np.testing.assert_allclose(step, lr * np.clip(g, -c, c), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("ratio", [1e-3, 0.5, 2.0])
def test_clip_by_global_norm_bounds_the_update_norm(ratio):
    """g <- g c / ||g|| when ||g|| > c (torch's clip_grad_norm_), else unchanged."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 3)), np.full((10, 1), 1e4)      # a huge gradient
    lr = 0.1
    _, g = MLP([3, 4, 1], hidden="tanh", seed=0).gradient(X, Y)
    norm = np.linalg.norm(g)
    c = ratio * norm
    theta0, theta1, g = one_sgd_step(MLP([3, 4, 1], hidden="tanh", seed=0), X, Y, lr,
                                     clip_norm=c)
    step = theta0 - theta1
    if ratio < 1:
        assert np.linalg.norm(step) <= lr * c * (1 + 1e-12)
        assert np.linalg.norm(step) == pytest.approx(lr * c, rel=1e-6)
        np.testing.assert_allclose(step, lr * g * c / norm, rtol=1e-6)   # same direction
    else:
        np.testing.assert_allclose(step, lr * g, rtol=1e-12, atol=1e-15)


def test_l1_and_l2_penalize_weights_not_biases():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
    lr, l1, l2 = 0.1, 0.01, 0.2
    net = MLP([3, 5, 2], hidden="tanh", seed=0)
    for l in (1, 2):        # nonzero biases, so a penalty on them would show
        net.b[l] = rng.normal(size=net.b[l].shape)
    # the expected penalty gradient, laid out like theta: l2 W + l1 sign(W), 0 on biases
    penalty = net.copy()
    penalty.theta[...] = 0
    for l in (1, 2):
        penalty.W[l] = l2 * net.W[l] + l1 * np.sign(net.W[l])
    theta0, theta1, g = one_sgd_step(net, X, Y, lr, l1=l1, l2=l2)
    np.testing.assert_allclose((theta0 - theta1) / lr, g + penalty.theta, rtol=1e-10,
                               atol=1e-13)
    step = net.copy()
    step.theta[...] = (theta0 - theta1) / lr
    grad = net.copy()
    grad.theta[...] = g
    for l in (1, 2):        # biases get the plain gradient
        np.testing.assert_allclose(step.b[l], grad.b[l], rtol=1e-10, atol=1e-13)
    # and the penalties change the result
    _, plain, _ = one_sgd_step(MLP([3, 5, 2], hidden="tanh", seed=0), X, Y, lr)
    assert not np.allclose(plain, theta1)


# ---------------------------------------------------------------- divergence

def test_divergence_raises_naming_epoch_step_and_layer():
    X, Y = make_regression(64, n_features=2, seed=0)
    kw = dict(optimizer=optim.SGD(lr=1e6), epochs=50, batch_size=16, verbose=0)
    net = MLP([2, 8, 1], hidden="relu", seed=0)
    with pytest.raises(TrainingDiverged) as info:
        net.fit(X, Y, **kw)
    message = str(info.value)
    assert isinstance(info.value, FloatingPointError)
    found = re.search(r"epoch (\d+), step (\d+) of (\d+)", message)
    assert found, message
    assert re.search(r"layer \d+", message), message
    assert np.all(np.isfinite(net.theta))

    # the step path stops at the same step, after the same updates, and the
    # failing step updates nothing: theta is the one after the last good update
    rec = StepRecorder(keep_theta=True)
    net2 = MLP([2, 8, 1], hidden="relu", seed=0)
    kw["optimizer"] = optim.SGD(lr=1e6)
    with pytest.raises(TrainingDiverged) as info2:
        net2.fit(X, Y, trace=rec, **kw)
    assert str(info2.value) == message
    epoch, step, steps = map(int, found.groups())
    assert len(rec.theta) == epoch * steps + step
    np.testing.assert_array_equal(net2.theta, rec.theta[-1])
    np.testing.assert_array_equal(net.theta, net2.theta)
    assert all(np.isfinite(rec.loss))


def test_divergence_from_nan_free_overflow_still_names_a_layer():
    X, Y = make_regression(64, n_features=2, seed=0)
    net = MLP([2, 8, 1], hidden="tanh", seed=0)
    with pytest.raises(TrainingDiverged, match=r"layer \d+"):
        net.fit(X, Y, optimizer=optim.SGD(lr=1e3), epochs=50, batch_size=16, verbose=0)


# ---------------------------------------------------------------- schedules

def test_history_lr_follows_epoch_schedules():
    X, Y = moons(40)
    for schedule, expected in [
        (schedules.StepDecay(step_size=2, gamma=0.5), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
        (schedules.CosineAnnealing(T_max=5, eta_min=0.01),
         [0.01 + 0.09 * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(6)]),
    ]:
        rec = StepRecorder()
        h = binary_net().fit(X, Y, loss="bce", optimizer=optim.SGD(lr=0.1), epochs=6,
                             batch_size=16, schedule=schedule, verbose=0, trace=rec)
        np.testing.assert_allclose(h.lr, expected, rtol=1e-14)
        np.testing.assert_allclose(rec.lr, np.repeat(expected, 3), rtol=1e-14)


def test_per_step_schedule_changes_the_rate_within_an_epoch_and_is_in_force():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(24, 3)), rng.normal(size=(24, 2))
    schedule = schedules.CosineAnnealing(T_max=9, eta_min=0.01, per="step")
    lr0, epochs, batch = 0.3, 3, 8
    net = MLP([3, 4, 2], hidden="tanh", seed=0)
    manual = net.copy()
    rec = StepRecorder()
    h = net.fit(X, Y, optimizer=optim.SGD(lr=lr0), epochs=epochs, batch_size=batch,
                shuffle=False, schedule=schedule, verbose=0, trace=rec)
    expected = schedule.values(epochs * 3, lr0)
    np.testing.assert_allclose(rec.lr, expected, rtol=1e-14)
    assert len(set(rec.lr[:3])) == 3                       # changes within epoch 0
    np.testing.assert_allclose(h.lr, expected[::3], rtol=1e-14)
    # the compiled path applies exactly those rates: plain SGD by hand
    compiled = manual.copy()
    compiled.fit(X, Y, optimizer=optim.SGD(lr=lr0), epochs=epochs, batch_size=batch,
                 shuffle=False, schedule=schedule, verbose=0)
    for t in range(epochs * 3):
        rows = slice((t % 3) * batch, (t % 3 + 1) * batch)
        _, g = manual.gradient(X[rows], Y[rows])
        manual.theta -= expected[t] * g
    np.testing.assert_allclose(compiled.theta, manual.theta, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(compiled.theta, net.theta)


# ---------------------------------------------------------------- Newton

def test_newton_solves_linear_least_squares_in_one_step():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 30)
    y = 3 * x - 2 + rng.normal(0, 0.3, 30)
    net = MLP([1, 1], output="identity", seed=0)
    h = net.fit(x.reshape(-1, 1), y, optimizer="newton", epochs=1, batch_size=30,
                shuffle=False, verbose=0)
    slope, intercept = np.polyfit(x, y, 1)
    assert len(h.step_loss) == 1
    assert net.W[1][0, 0] == pytest.approx(slope, abs=1e-8)
    assert net.b[1][0] == pytest.approx(intercept, abs=1e-8)
    best = np.mean((slope * x + intercept - y) ** 2)
    assert net.evaluate(x.reshape(-1, 1), y) == pytest.approx(best, rel=1e-10)
    assert h.step_loss[0] > best


# ---------------------------------------------------------------- the four heads

def test_single_output_regression_predict_and_r2():
    X, Y = make_regression(200, n_features=1, noise=0.05, seed=0)
    net = MLP([1, 16, 1], hidden="tanh", seed=0)
    net.fit(X, Y, optimizer=optim.Adam(lr=0.02), epochs=200, batch_size=32, verbose=0)
    pred = net.predict(X)
    assert pred.shape == (200, 1)
    np.testing.assert_array_equal(pred, net.forward(X))
    r2 = 1 - np.sum((Y - pred) ** 2) / np.sum((Y - Y.mean()) ** 2)
    assert net.score(X, Y) == pytest.approx(r2, rel=1e-12)
    assert net.score(X, Y[:, 0]) == pytest.approx(r2, rel=1e-12)      # (m,) targets too
    assert r2 > 0.95
    assert net.score(X, pred) == 1.0
    with pytest.raises(ValueError, match="predict_proba"):
        net.predict_proba(X)


def test_multi_output_regression_predict_and_r2():
    X, Y = make_regression(200, n_features=2, n_outputs=3, noise=0.05, seed=1)
    net = MLP([2, 32, 3], hidden="tanh", seed=0)
    net.fit(X, Y, optimizer=optim.Adam(lr=0.02), epochs=200, batch_size=32, verbose=0)
    pred = net.predict(X)
    assert pred.shape == (200, 3)
    per_output = 1 - ((Y - pred) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0)
    score = net.score(X, Y)
    assert per_output.min() - 1e-12 <= score <= per_output.max() + 1e-12
    assert score > 0.9
    assert net.score(X, pred) == 1.0


def test_binary_classification_predict_proba_and_accuracy():
    X, Y = make_moons(200, noise=0.1, seed=0)
    net = MLP([2, 16, 1], hidden="tanh", output="sigmoid", seed=0)
    net.fit(X, Y, loss="bce", optimizer=optim.Adam(lr=0.02), epochs=100, batch_size=32,
            verbose=0)
    proba = net.predict_proba(X)
    assert proba.shape == (200, 1) and np.all((proba >= 0) & (proba <= 1))
    labels = net.predict(X)
    assert labels.shape == (200,) and set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, (proba[:, 0] > 0.5).astype(int))
    accuracy = np.mean(labels == Y[:, 0])
    assert net.score(X, Y) == accuracy == net.score(X, Y[:, 0])
    assert accuracy > 0.95


def test_multiclass_predict_proba_and_accuracy():
    X, y = sectors(300, seed=0)
    net = MLP([2, 32, 3], hidden="relu", output="softmax", seed=0)
    net.fit(X, y, loss="ce", optimizer=optim.Adam(lr=0.02), epochs=100, batch_size=32,
            verbose=0)
    proba = net.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    labels = net.predict(X)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    accuracy = np.mean(labels == y)
    onehot = np.eye(3)[y]
    assert net.score(X, y) == accuracy == net.score(X, onehot)
    assert accuracy > 0.9


# ---------------------------------------------------------------- validation data, errors

def test_validation_history():
    X, Y = moons(60, seed=0)
    Xv, Yv = moons(30, seed=1)
    net = binary_net()
    h = net.fit(X, Y, loss="bce", optimizer=optim.Adam(lr=0.01), epochs=7, batch_size=16,
                validation_data=(Xv, Yv), verbose=0)
    assert len(h.loss) == len(h.val_loss) == len(h.val_metric) == len(h.lr) == 7
    assert h.val_loss[-1] == pytest.approx(net.evaluate(Xv, Yv, "bce"), rel=1e-12)
    assert h.val_metric[-1] == net.score(Xv, Yv)
    assert all(0 <= a <= 1 for a in h.val_metric)
    h2 = binary_net().fit(X, Y, loss="bce", epochs=3, verbose=0)
    assert h2.val_loss == [] and h2.val_metric == []


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(batch_size=0), ValueError, "batch_size must be a positive integer"),
    (dict(batch_size=2.5), ValueError, "batch_size must be a positive integer"),
    (dict(epochs=0), ValueError, "epochs must be a positive integer"),
    (dict(dropout=1.0), ValueError, r"dropout rates must be in \[0, 1\)"),
    (dict(dropout=-0.1), ValueError, r"dropout rates must be in \[0, 1\)"),
    (dict(dropout=[0.1, 0.2, 0.3]), ValueError, "one per hidden layer"),
    (dict(l2=-1.0), ValueError, "l2 must be >= 0"),
    (dict(l1=float("nan")), ValueError, "l1 must be a finite real number >= 0"),
    (dict(clip_norm=0), ValueError, "clip_norm must be > 0"),
    (dict(patience=0), ValueError, "patience must be a positive integer"),
    (dict(optimizer="adamm"), ValueError, "unknown optimizer 'adamm'.*adam"),
    (dict(schedule="linear"), ValueError, "unknown schedule 'linear'"),
    (dict(loss="ce"), ValueError, "softmax"),
    (dict(validation_data=(np.zeros((5, 3)), np.zeros((5, 1)))), ValueError,
     r"validation_data.*3 columns but the network takes 2"),
    (dict(validation_data=(np.zeros((5, 2)), np.zeros((4, 1)))), ValueError,
     r"validation_data.*5 rows but Y has 4"),
    (dict(validation_data=(np.zeros((5, 2)), np.zeros((5, 2)))), ValueError,
     r"validation_data.*shape \(m, 1\)"),
    (dict(validation_data=np.zeros((5, 2))), ValueError, r"validation_data must be a pair"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    X, Y = moons(20)
    kwargs.setdefault("loss", "bce")
    with pytest.raises(error, match=match):
        binary_net(sizes=(2, 4, 4, 1)).fit(X, Y, verbose=0, **kwargs)


def test_mismatched_rows_raise():
    X, Y = moons(20)
    with pytest.raises(ValueError, match="X has 20 rows but Y has 19"):
        binary_net().fit(X, Y[:19], loss="bce", verbose=0)
    with pytest.raises(ValueError, match="2 columns|takes 2 inputs"):
        binary_net().fit(np.zeros((20, 3)), Y, loss="bce", verbose=0)


# ---------------------------------------------------------------- the data used above

def test_load_digits_is_the_uci_copy():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 1
    counts, _ = load_digits(scale=False)
    assert counts.sum() == 561718 and np.all(counts == np.round(counts))
    np.testing.assert_array_equal(counts[0, :8], [0, 0, 5, 13, 9, 1, 0, 0])
    np.testing.assert_array_equal(np.bincount(y),
                                  [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    images, _ = load_digits(images=True)
    assert images.shape == (1797, 8, 8)


def test_train_test_split_partitions_rows_from_the_seed():
    X = np.arange(100).reshape(50, 2)
    y = np.arange(50) % 5
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=3)
    assert len(X_te) == 10 and len(X_tr) == 40
    assert sorted(np.concatenate([X_tr[:, 0], X_te[:, 0]]).tolist()) == list(range(0, 100, 2))
    np.testing.assert_array_equal(X_te[:, 0] // 2 % 5, y_te)          # rows stay paired
    again = train_test_split(X, y, test_size=0.2, seed=3)
    np.testing.assert_array_equal(again[1], X_te)
    _, _, _, y_strat = train_test_split(X, y, test_size=0.2, seed=3, stratify=True)
    np.testing.assert_array_equal(np.bincount(y_strat), [2] * 5)
    with pytest.raises(ValueError, match="rows"):
        train_test_split(X, y[:-1])
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, y, test_size=1.5)


def test_synthetic_generators_are_seeded():
    X, y = make_moons(101, noise=0.1, seed=4)
    assert X.shape == (101, 2) and y.shape == (101, 1) and set(np.unique(y)) == {0, 1}
    np.testing.assert_array_equal(X, make_moons(101, noise=0.1, seed=4)[0])
    assert not np.array_equal(X, make_moons(101, noise=0.1, seed=5)[0])
    X, y = make_xor()
    np.testing.assert_array_equal(y[:, 0], [0, 1, 1, 0])
    X, Y = make_regression(30, n_features=3, n_outputs=2, noise=0.0, kind="linear", seed=1)
    coef = np.linalg.lstsq(np.column_stack([X, np.ones(30)]), Y, rcond=None)[0]
    np.testing.assert_allclose(np.column_stack([X, np.ones(30)]) @ coef, Y, atol=1e-12)
