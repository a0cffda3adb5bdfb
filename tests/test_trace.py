"""The tracing layer: recording, selection, budgets, files, replay, explain,
diagnostics and plots. Every recorded number is checked against an
independent NumPy computation of the same step."""
import json
import re

import numpy as np
import pytest

import numbann as nb
from numbann.trace import (QUANTITIES, Recorder, Trace, TraceTooLarge, diagnostics, load_trace,
                           record_step)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)


def data(n=20, n_in=3, n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.normal(size=(n, n_out))


def numpy_step(W, b, x, y, hidden="tanh", s=None):
    """z, a, delta, dW, db of a tanh/identity MLP with MSE (mean), by hand."""
    L = len(W)
    a, z = [x], []
    for l in range(L):
        z.append(a[-1] @ W[l].T + b[l])
        a.append(np.tanh(z[-1]) if l < L - 1 else z[-1])
    s = 1 / y.size if s is None else s
    delta = [None] * L
    delta[-1] = 2 * s * (a[-1] - y)
    for l in range(L - 2, -1, -1):
        delta[l] = (delta[l + 1] @ W[l + 1]) * (1 - a[l + 1] ** 2)
    dW = [delta[l].T @ a[l] for l in range(L)]
    db = [delta[l].sum(axis=0) for l in range(L)]
    return z, a, delta, dW, db


# --------------------------------------------------------------------- recording

def test_every_recorded_number_matches_an_independent_computation():
    X, Y = data()
    net = nb.MLP([3, 4, 2], hidden="tanh", output="identity", seed=1)
    rec = Recorder()
    hist = net.fit(X, Y, loss="mse", optimizer=nb.optim.SGD(lr=0.1), epochs=2, batch_size=8,
                   trace=rec, verbose=0)
    tr = rec.trace
    assert len(tr) == 2 * 3 and tr.steps.tolist() == list(range(6))
    assert np.allclose(tr.loss, hist.step_loss, rtol=0, atol=0)
    for r in tr:
        assert r.t == r.step + 1 and r.epoch == r.step // 3 and r.lr == 0.1
        assert r.m == (4 if r.step % 3 == 2 else 8)
        x, y = X[r.rows], Y[r.rows]
        np.testing.assert_array_equal(r.x, x)
        np.testing.assert_array_equal(r.a[0], x)
        np.testing.assert_array_equal(r.y, y)
        W = [r.W_before[1], r.W_before[2]]
        b = [r.b_before[1], r.b_before[2]]
        z, a, delta, dW, db = numpy_step(W, b, x, y)
        for l in (1, 2):
            np.testing.assert_allclose(r.z[l], z[l - 1], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.a[l], a[l], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.delta[l], delta[l - 1], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.dW[l], dW[l - 1], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.db[l], db[l - 1], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.W_after[l], W[l - 1] - 0.1 * dW[l - 1], rtol=1e-13)
            np.testing.assert_allclose(r.b_after[l], b[l - 1] - 0.1 * db[l - 1], rtol=1e-13)
            assert r.norms["dW"][l - 1] == pytest.approx(np.linalg.norm(dW[l - 1]), rel=1e-12)
        assert abs(r.loss - np.mean((a[-1] - y) ** 2)) < 1e-14
    # consecutive steps chain: the weights after one are the weights before the next
    for r, s in zip(tr.records, tr.records[1:]):
        np.testing.assert_array_equal(r.W_after[1], s.W_before[1])
    np.testing.assert_array_equal(tr.theta_end, net.theta)
    assert tr.history["loss"] == hist.loss


def test_adam_state_and_bias_corrections_are_recorded():
    X, Y = data(8)
    net = nb.MLP([3, 4, 2], hidden="tanh", seed=2)
    rec = Recorder(keep=("dW", "db", "state", "W"))
    net.fit(X, Y, optimizer=nb.optim.Adam(lr=0.01), epochs=3, batch_size=8, trace=rec, verbose=0)
    m = np.zeros_like(net.W[1])
    v = np.zeros_like(net.W[1])
    for r in rec.trace:
        g = r.dW[1]
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        np.testing.assert_allclose(r.state["m"].W[1], m, rtol=1e-12)
        np.testing.assert_allclose(r.state["v"].W[1], v, rtol=1e-12)
        c1, c2 = r.bias_correction
        assert c1 == pytest.approx(1 - 0.9 ** r.t, rel=1e-15)
        assert c2 == pytest.approx(1 - 0.999 ** r.t, rel=1e-15)
        step = 0.01 * (m / c1) / (np.sqrt(v / c2) + 1e-8)
        np.testing.assert_allclose(r.W_after[1], r.W_before[1] - step, rtol=1e-12, atol=1e-15)
    assert rec.trace.meta["optimizer"]["state_names"] == ["m", "v"]


def test_tracing_does_not_change_training():
    X, Y = data(40)
    nets = [nb.MLP([3, 5, 2], hidden="tanh", seed=3) for _ in range(2)]
    for net, trace in zip(nets, (None, Recorder(keep=("dW",), steps=slice(0, None, 7)))):
        net.fit(X, Y, optimizer=nb.optim.Momentum(lr=0.05), epochs=3, batch_size=16, seed=4,
                trace=trace, verbose=0)
    np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=1e-14, atol=1e-15)


def test_learning_rate_in_force_follows_the_schedule():
    X, Y = data(16)
    net = nb.MLP([3, 2], seed=0)
    rec = Recorder(keep=())
    sched = nb.schedules.StepDecay(2, gamma=0.5)
    net.fit(X, Y, optimizer=nb.optim.SGD(lr=0.2), schedule=sched, epochs=5, batch_size=8,
            trace=rec, verbose=0)
    expected = [0.2 * 0.5 ** (s // 2 // 2) for s in range(10)]
    np.testing.assert_allclose(rec.trace.lr, expected, rtol=1e-15)


def test_record_step_outside_fit_with_and_without_update():
    X, Y = data(5)
    net = nb.MLP([3, 4, 2], hidden="tanh", seed=5)
    before = net.theta.copy()
    tr = record_step(net, X, Y, "mse")
    np.testing.assert_array_equal(net.theta, before)
    r = tr[0]
    assert np.isnan(r.lr) and "W_after/1" not in r.arrays
    step = net.backprop(X, Y, "mse")
    for l in (1, 2):
        np.testing.assert_array_equal(r.z[l], step.z[l])
        np.testing.assert_array_equal(r.delta[l], step.delta[l])
        np.testing.assert_array_equal(r.dW[l], step.dW[l])
    np.testing.assert_array_equal(r.y, Y)
    # with an optimizer the update is applied and recorded; steps accumulate
    rec = Recorder()
    opt = nb.optim.SGD(lr=0.5)
    rec.record_step(net, X, Y, "mse", opt)
    rec.record_step(net, X, Y, "mse", opt)
    tr = rec.trace
    assert len(tr) == 2 and [r.t for r in tr] == [1, 2]
    np.testing.assert_allclose(tr[0].W_after[1], before[:12].reshape(4, 3) - 0.5 * step.dW[1])
    np.testing.assert_array_equal(tr[1].W_before[1], tr[0].W_after[1])
    np.testing.assert_array_equal(tr.theta_end, net.theta)


def test_newton_steps_can_be_traced():
    X = np.linspace(-1, 1, 8)[:, None]
    Y = 3 * X - 1
    net = nb.MLP([1, 1], output="identity", init="zeros")
    rec = Recorder()
    net.fit(X, Y, optimizer=nb.optim.Newton(), epochs=1, batch_size=8, trace=rec, verbose=0)
    r = rec.trace[0]
    assert r.W_after[1][0, 0] == pytest.approx(3, abs=1e-6)
    assert r.b_after[1][0] == pytest.approx(-1, abs=1e-6)
    assert r.state == {}


# --------------------------------------------------------------------- selection

def test_selection_of_steps_layers_samples_and_quantities():
    X, Y = data(20)
    net = nb.MLP([3, 4, 4, 2], hidden="tanh", seed=6)
    rec = Recorder(keep=("z", "dW"), steps=slice(1, None, 3), layers=[2], samples=[0, 5])
    net.fit(X, Y, epochs=2, batch_size=8, trace=rec, verbose=0)
    tr = rec.trace
    assert tr.steps.tolist() == [1, 4]
    r = tr[4]
    assert sorted(r.arrays) == ["dW/2", "rows", "samples", "z/2"]
    assert r.samples.tolist() == [0, 5] and r.z[2].shape == (2, 4)
    with pytest.raises(KeyError, match=r"z\[1\] was not recorded"):
        r.z[1]
    with pytest.raises(KeyError, match="step 2 was not recorded"):
        tr[2]
    # the last batch of each epoch has 4 rows: sample 5 is dropped there
    rec = Recorder(keep=("a",), samples=[0, 5], steps=[2])
    net.fit(X, Y, epochs=1, batch_size=8, trace=rec, verbose=0)
    assert rec.trace[2].samples.tolist() == [0] and rec.trace[2].a[1].shape == (1, 4)
    # callables and epochs
    rec = Recorder(keep=(), steps=lambda s: s % 2 == 0, epochs=[1])
    net.fit(X, Y, epochs=3, batch_size=8, trace=rec, verbose=0)
    assert rec.trace.steps.tolist() == [4]
    with pytest.raises(ValueError, match="unknown quantity"):
        Recorder(keep=("zz",))
    with pytest.raises(ValueError, match=r"layers \[5\] do not exist"):
        net.fit(X, Y, epochs=1, trace=Recorder(layers=[5]), verbose=0)
    assert Recorder(keep="all").keep == list(QUANTITIES)


def test_indexing_by_step_and_layer_and_series():
    X, Y = data(16)
    net = nb.MLP([3, 4, 2], hidden="tanh", seed=7)
    rec = Recorder()
    net.fit(X, Y, epochs=2, batch_size=8, trace=rec, verbose=0)
    tr = rec.trace
    lr = tr[1, 2]
    np.testing.assert_array_equal(lr.dW, tr[1].dW[2])
    np.testing.assert_array_equal(lr.a_prev, tr[1].a[1])
    assert tr[-1].step == 3 and [r.step for r in tr[1:3]] == [1, 2]
    assert tr.series("W_after", 1).shape == (4, 4, 3)
    assert tr.series("norms/dW").shape == (4, 2)
    text = repr(tr[0])
    assert "z        [1] (m=8, n_1=4)" in text and "W_before [1] (n_1=4, n_0=3)" in text
    assert "4 recorded steps" in repr(tr)


# --------------------------------------------------------------------- memory

def test_budget_refuses_before_training_and_says_how_to_narrow():
    X, Y = data(200, 30, 10)
    net = nb.MLP([30, 64, 10], seed=8)
    before = net.theta.copy()
    rec = Recorder(budget_mb=0.5)
    est = rec.estimate(net, X, epochs=5, batch_size=16, optimizer=nb.optim.Adam())
    assert not est.ok and int(est) > 0.5 * 2**20
    with pytest.raises(TraceTooLarge) as err:
        net.fit(X, Y, optimizer=nb.optim.Adam(), epochs=5, batch_size=16, trace=rec, verbose=0)
    msg = str(err.value)
    for hint in ("budget", "To narrow it", "keep=", "steps=slice(0, None,", "layers=",
                 "samples=[0]", "budget_mb"):
        assert hint in msg
    np.testing.assert_array_equal(net.theta, before)   # refused before any step
    # the narrowed recorder fits, and its estimate is exactly what it then holds
    lean = Recorder(keep=("dW",), layers=[2], steps=slice(0, None, 10), budget_mb=0.5)
    est = lean.estimate(net, X, epochs=5, batch_size=16, optimizer=nb.optim.Adam())
    assert est.ok
    net.fit(X, Y, optimizer=nb.optim.Adam(), epochs=5, batch_size=16, trace=lean, verbose=0)
    assert lean.nbytes == int(est) and len(lean.trace) == est.steps == 7
    assert int(lean.planned) == int(est)


def test_estimate_scales_with_what_is_kept():
    net = nb.MLP([10, 20, 5], seed=0)
    full = Recorder().estimate(net, 100, epochs=2, batch_size=10, optimizer=nb.optim.SGD())
    # two epochs of 10 steps of 10 rows; z of both layers (20 + 5 units), float64, 2 arrays
    assert full.per_quantity["z"] == 20 * (10 * 25 * 8 + 2 * 112)
    assert full.per_quantity["dW"] == 20 * ((20 * 10 + 5 * 20) * 8 + 2 * 112)
    assert full.per_quantity["W"] == 20 * (2 * (20 * 11 + 5 * 21) * 8 + 8 * 112)
    assert full.per_quantity["state"] == 0       # plain SGD keeps no state
    assert full.steps == 20 and full.total_steps == 20
    one = Recorder(samples=[0]).estimate(net, 100, epochs=2, batch_size=10)
    assert one.per_quantity["z"] < full.per_quantity["z"]
    assert "steps recorded" in one.message


def test_budget_is_enforced_while_recording_too():
    X, Y = data(8)
    net = nb.MLP([3, 2], seed=0)
    rec = Recorder(budget_mb=0.004)
    with pytest.raises(TraceTooLarge, match="passed its budget"):
        for _ in range(50):
            rec.record_step(net, X, Y, "mse", nb.optim.SGD(lr=0.01))


# --------------------------------------------------------------------- files

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_and_load_are_exact(tmp_path, dtype):
    X, Y = data(24)
    net = nb.MLP([3, 5, 2], hidden="tanh", seed=9, dtype=dtype)
    rec = Recorder(samples=[1, 2])
    net.fit(X, Y, optimizer=nb.optim.Adam(lr=0.01), epochs=2, batch_size=10, trace=rec,
            validation_data=(X, Y), verbose=0)
    tr = rec.trace
    tr.save(tmp_path / "t.npz")
    back = load_trace(tmp_path / "t.npz")
    assert isinstance(back, Trace) and tr.equals(back) and back.equals(tr)
    for r, s in zip(tr, back):
        assert r.arrays.keys() == s.arrays.keys()
        for k in r.arrays:
            assert r.arrays[k].dtype == s.arrays[k].dtype
            assert r.arrays[k].tobytes() == s.arrays[k].tobytes()
        assert r.loss == s.loss and r.lr == s.lr and r.extras == s.extras
    assert back.history["val_loss"] == tr.history["val_loss"]
    assert back.meta == tr.meta
    assert back[3].z[1].dtype == np.dtype(dtype)
    # a changed number is noticed
    back[0].arrays["dW/1"] = back[0].arrays["dW/1"].copy()
    back[0].arrays["dW/1"][0, 0] = np.nextafter(back[0].arrays["dW/1"][0, 0], 1)
    assert not tr.equals(back)
    # compressed files read back the same
    tr.save(tmp_path / "c.npz", compressed=True)
    assert load_trace(tmp_path / "c.npz").equals(tr)


def test_json_export(tmp_path):
    X, Y = data(8)
    net = nb.MLP([3, 4, 2], hidden="tanh", seed=10)
    rec = Recorder()
    net.fit(X, Y, optimizer=nb.optim.Adam(lr=0.01), epochs=2, batch_size=4, trace=rec, verbose=0)
    tr = rec.trace
    tr.to_json(tmp_path / "t.json", indent=1)
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["format"] == "numbann-trace" and len(doc["steps"]) == 4
    s = doc["steps"][3]
    assert s["step"] == 3 and s["loss"] == tr[3].loss and s["lr"] == 0.01
    for key in ("z/1", "delta/2", "dW/1", "W_after/2", "state/m/W/1"):
        np.testing.assert_array_equal(np.array(s["arrays"][key]), tr[3].arrays[key])
    assert doc["meta"]["sizes"] == [3, 4, 2] and doc["meta"]["activations"] == ["tanh", "identity"]
    assert s["extras"]["1 - beta1^t"] == pytest.approx(1 - 0.9 ** 4)
    np.testing.assert_array_equal(doc["theta_end"], net.theta)


# --------------------------------------------------------------------- replay

def small_net():
    """A 2-2-1 sigmoid network with round weights, for hand computation."""
    net = nb.MLP([2, 2, 1], hidden="sigmoid", output="sigmoid")
    net.W[1] = [[0.1, 0.2], [0.3, -0.4]]
    net.b[1] = [0.05, -0.05]
    net.W[2] = [[0.7, -0.6]]
    net.b[2] = [0.2]
    return net


def fmt(v):
    return f"{v:.4g}"


def test_replay_shows_the_numbers_of_the_step():
    net = small_net()
    X = np.array([[0.5, 1.0], [1.0, -1.0]])
    Y = np.array([[1.0], [0.0]])
    W1, b1, W2, b2 = (np.array(v, dtype=float) for v in
                      ([[0.1, 0.2], [0.3, -0.4]], [0.05, -0.05], [[0.7, -0.6]], [0.2]))
    tr = record_step(net, X, Y, "bce", optimizer=nb.optim.SGD(lr=0.5))
    # independent numbers for sample 1
    x = X[1]
    z1 = W1 @ x + b1
    a1 = sigmoid(z1)
    z2 = W2 @ a1 + b2
    a2 = sigmoid(z2)
    d2 = (a2 - Y[1]) / 2                       # BCE mean over m = 2 rows, fused with sigmoid
    d1 = (d2 @ W2) * a1 * (1 - a1)
    text = tr.replay(0, sample=1)
    assert "z[1] = W[1] a[0] + b[1]" in text
    assert "delta[1] = (delta[2] @ W[2]) * g'(z[1])" in text
    expected = [f"a[0] = x = [{fmt(x[0])}, {fmt(x[1])}]",
                f"= [{fmt(z1[0])}, {fmt(z1[1])}]",
                f"a[1] = sigmoid(z[1]) = [{fmt(a1[0])}, {fmt(a1[1])}]",
                f"= [{fmt(z2[0])}]",
                f"a[2] = sigmoid(z[2]) = [{fmt(a2[0])}]",
                f"= [{fmt(d2[0])}]",
                f"= [{fmt(d1[0])}, {fmt(d1[1])}]",
                "[[0.1, 0.2], [0.3, -0.4]] [1, -1] + [0.05, -0.05]"]
    for line in expected:
        assert line in text, line
    assert "gives the recorded values" in text
    # the vectorized form shows the batch's matrices and the course's names
    vec = tr.replay(0, vectorized=True)
    dW2 = np.outer(d2, a1) + np.outer((sigmoid(W2 @ sigmoid(W1 @ X[0] + b1) + b2) - 1) / 2,
                                      sigmoid(W1 @ X[0] + b1))
    assert "z[1] = a[0] @ W[1].T + b[1]" in vec and "course: dW[2] = 1/m dZ[2] A[1]^T" in vec
    assert f"[[{fmt(dW2[0, 0])}, {fmt(dW2[0, 1])}]]" in vec
    assert "W[l] <- W[l] - lr dW[l]" in text
    assert repr(text) == str(text)   # shows itself unquoted at a prompt


def test_replay_requires_kept_samples():
    net = small_net()
    tr = record_step(net, XOR, XOR_Y, "bce", samples=[2])
    assert "a[0] = x = [1, 0]" in tr.replay(0, sample=2)
    with pytest.raises(KeyError, match="sample 0 was not kept"):
        tr.replay(0, sample=0)


# --------------------------------------------------------------------- explain

def test_explain_single_neuron_is_the_course_formula():
    w, b, x, y = 0.6, -0.2, 1.5, 1.0
    net = nb.MLP([1, 1], output="sigmoid", init="zeros")
    net.W[1] = [[w]]
    net.b[1] = [b]
    tr = record_step(net, [[x]], [[y]], nb.losses.get("mse", "half_sum"))
    a = sigmoid(w * x + b)
    hand = (a - y) * a * (1 - a) * x
    e = tr.explain(0, "W", 1, 0, 0)
    assert e.ok and e.product == pytest.approx(hand, rel=1e-14)
    assert e.recorded == pytest.approx(hand, rel=1e-14)
    assert e.factors["dJ/da"][0] == pytest.approx(a - y, rel=1e-14)
    assert e.factors["da/dz"][0] == pytest.approx(a * (1 - a), rel=1e-14)
    assert e.factors["dz/dw"][0] == x
    assert f"{a - y:.6g}" in e and f"{a * (1 - a):.6g}" in e and "equal to rounding" in e
    eb = tr.explain(0, "b", 1, 0)
    assert eb.ok and eb.product == pytest.approx((a - y) * a * (1 - a), rel=1e-14)


def test_explain_hidden_weight_sums_the_delta_paths():
    net = nb.MLP([2, 3, 2], hidden="tanh", output="sigmoid", seed=11)
    X = np.array([[0.5, -1.0], [1.5, 0.25], [-0.3, 0.8]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    W1, b1, W2, b2 = net.W[1].copy(), net.b[1].copy(), net.W[2].copy(), net.b[2].copy()
    tr = record_step(net, X, Y, "mse")
    # by hand: J = 1/(m n) sum (a2 - y)^2, delta2 = 2/(m n) (a2 - y) a2 (1 - a2)
    a1 = np.tanh(X @ W1.T + b1)
    a2 = sigmoid(a1 @ W2.T + b2)
    d2 = 2 / 6 * (a2 - Y) * a2 * (1 - a2)
    j, k = 1, 0
    hand = sum(sum(d2[i, p] * W2[p, j] for p in range(2)) * (1 - a1[i, j] ** 2) * X[i, k]
               for i in range(3))
    for paths in ("one", "full"):
        e = tr.explain(0, "W", 1, j, k, paths=paths)
        assert e.ok, e
        assert e.product == pytest.approx(hand, rel=1e-12)
        assert e.recorded == pytest.approx(hand, rel=1e-12)
    e = tr.explain(0, "W", 1, j, k)
    assert e.factors["paths"].shape == (3, 2)
    assert f"delta[2]_i W[2][i,{j}]" in e and "sum of paths" in e
    # every weight and bias of the network
    for l in (1, 2):
        for jj in range(net.sizes[l]):
            assert tr.explain(0, "b", l, jj).ok
            for kk in range(net.sizes[l - 1]):
                assert tr.explain(0, "W", l, jj, kk).ok


@pytest.mark.parametrize("loss,output", [("ce", "softmax"), ("kl", "softmax"), ("bce", "sigmoid"),
                                         ("mae", "identity"), ("hinge", "tanh")])
def test_explain_matches_for_every_head(loss, output):
    rng = np.random.default_rng(12)
    X = rng.normal(size=(5, 3))
    if loss in ("ce", "kl"):
        Y = np.eye(3)[[0, 2, 1, 1, 0]]
    elif loss == "hinge":
        Y = np.where(rng.random((5, 3)) < 0.5, -1.0, 1.0)
    else:
        Y = rng.random((5, 3))
    net = nb.MLP([3, 4, 4, 3], hidden="relu", output=output, seed=12)
    tr = record_step(net, X, Y, loss)
    for l, j, k in ((3, 1, 2), (2, 0, 3), (1, 2, 1)):
        for paths in ("one", "full"):
            assert tr.explain(0, "W", l, j, k, paths=paths).ok


def test_explain_flags_a_gradient_changed_by_penalties():
    X, Y = data(4)
    net = nb.MLP([3, 2], seed=0)
    rec = Recorder()
    net.fit(X, Y, epochs=1, batch_size=4, l2=0.5, trace=rec, verbose=0)
    e = rec.trace.explain(0, "W", 1, 0, 0)
    assert not e.ok and "DIFFERENT" in e


# --------------------------------------------------------------------- diagnostics

def test_zero_init_has_symmetry_exactly_zero():
    X = np.array([[0.1, 0.9], [0.8, 0.2], [0.7, 0.7], [0.1, 0.1], [0.5, 0.4]])
    Y = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    sym = {}
    for name, init in (("zeros", "zeros"), ("random", nb.initializers.Normal(0.1))):
        net = nb.MLP([2, 3, 1], hidden="sigmoid", output="sigmoid", init=init, seed=1)
        rec = Recorder()
        net.fit(X, Y, loss="bce", optimizer=nb.optim.SGD(lr=2.0), epochs=30, batch_size=5,
                trace=rec, verbose=0)
        sym[name] = diagnostics(rec.trace)
    zero, rand = sym["zeros"], sym["random"]
    assert np.all(zero.symmetry[1] == 0) and np.all(zero.delta_symmetry[1] == 0)
    assert np.all(zero.symmetry_min[1] == 0)
    assert np.any(zero.grad_norm[1] > 0)      # the weights do move, identically
    assert any("symmetry is never broken" in w for w in zero.warnings())
    assert np.all(rand.symmetry[1] > 0) and np.all(rand.symmetry_min[1] > 0)


def test_gradient_norms_update_ratios_saturation_and_dead_units():
    X, Y = data(10, 3, 2)
    net = nb.MLP([3, 4, 4, 2], hidden="relu", seed=13)
    net.b[1] = [-50.0] * 4             # every unit of layer 1 dead for these inputs
    rec = Recorder()
    net.fit(X, Y, optimizer=nb.optim.SGD(lr=0.1), epochs=1, batch_size=10, trace=rec, verbose=0)
    d = diagnostics(rec.trace)
    r = rec.trace[0]
    assert d.dead[1][0] == 1.0 and d.grad_norm[1][0] == 0
    assert d.grad_norm[3][0] == pytest.approx(np.linalg.norm(r.dW[3]), rel=1e-14)
    assert d.update_ratio[3][0] == pytest.approx(
        0.1 * np.linalg.norm(r.dW[3]) / np.linalg.norm(r.W_before[3]), rel=1e-12)
    assert any("dead" in w for w in d.warnings())
    # saturated sigmoid units: huge weights put every z far out on the flat ends
    net = nb.MLP([3, 4, 2], hidden="sigmoid", init=nb.initializers.Normal(100.0), seed=14)
    d = diagnostics(record_step(net, X, Y))
    z = X @ net.W[1].T + net.b[1]
    a = sigmoid(z)
    assert d.saturation[1][0] == pytest.approx(np.mean(a * (1 - a) < 0.025))
    assert d.saturation[1][0] > 0.9
    text = d.report()
    assert "layer 1 (sigmoid)" in text
    share = 100 * np.mean(a * (1 - a) < 0.025)            # shares are printed as percentages
    assert f"saturated {share:.4g}%" in text


def test_vanishing_gradients_are_reported():
    rng = np.random.default_rng(15)
    X, Y = rng.normal(size=(8, 4)), rng.random((8, 1))
    net = nb.MLP([4] + [8] * 8 + [1], hidden="sigmoid", output="sigmoid",
                 init=nb.initializers.Normal(0.1), seed=15)
    d = diagnostics(record_step(net, X, Y, "bce"))
    assert any(w.startswith("vanishing gradients") for w in d.warnings())
    as_dict = d.as_dict()
    assert len(as_dict["grad_norm"]) == 9


# --------------------------------------------------------------------- plots

def not_blank(path):
    import matplotlib.image
    img = matplotlib.image.imread(str(path))
    return img.ndim == 3 and img.shape[0] > 100 and float(img[..., :3].std()) > 0.01


def test_plots_write_non_blank_images(tmp_path):
    from numbann.trace import plots
    X, Y = XOR, XOR_Y
    net = nb.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=16)
    rec = Recorder()
    hist = net.fit(X, Y, loss="bce", optimizer=nb.optim.SGD(lr=0.5), epochs=20, batch_size=2,
                   validation_data=(X, Y), trace=rec, verbose=0)
    tr = rec.trace
    f = lambda x, y: 0.5 * x ** 2 + 5 * y ** 2   # noqa: E731
    made = {
        "loss.png": lambda p: plots.loss_curves(hist, path=p),
        "loss_tr.png": lambda p: plots.loss_curves(tr, path=p),
        "norms.png": lambda p: plots.grad_norms(tr, path=p),
        "layers.png": lambda p: plots.layer_norms({"a": [1, 0.1, 0.01]}, path=p),
        "weights.png": lambda p: plots.hidden_weights(tr, 1, path=p),
        "boundary.png": lambda p: plots.decision_boundary(net, X, Y, path=p),
        "acts.png": lambda p: plots.activation_functions(path=p),
        "paths.png": lambda p: plots.optimizer_paths(
            f, {"sgd": np.array([[-2, 1], [-1.5, -0.5], [-1, 0.2]])}, (-3, 3), (-2, 2), path=p),
        "sched.png": lambda p: plots.lr_schedules(
            {"step": nb.schedules.StepDecay(5), "cosine": nb.schedules.CosineAnnealing(20)},
            20, 0.1, path=p),
        "curves.png": lambda p: plots.curves([1, 2, 3], {"y": [3, 1, 2]}, path=p),
    }
    for name, make in made.items():
        fig = make(tmp_path / "sub" / name)
        assert fig.__class__.__name__ == "Figure"
        assert not_blank(tmp_path / "sub" / name), name


def test_nothing_is_imported_for_plots_until_asked():
    import subprocess
    import sys
    code = ("import sys, numbann; from numbann.trace import Recorder; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_network_rebuilt_from_a_trace():
    X, Y = data(8)
    net = nb.MLP([3, 4, 2], hidden="elu", seed=17)
    rec = Recorder()
    net.fit(X, Y, epochs=2, batch_size=4, trace=rec, verbose=0)
    tr = rec.trace
    np.testing.assert_array_equal(tr.network().theta, net.theta)
    again = tr.network(step=1, when="before")
    np.testing.assert_array_equal(again.W[2], tr[1].W_before[2])
    assert re.search(r"elu", repr(again))
