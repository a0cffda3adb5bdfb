"""Tracing Sequential networks (conv, pooling, batch norm, flatten, dense):
every recorded number against the network's own backprop and against NumPy
written here, files, replay, explain, plots and bad input."""
import re

import numpy as np
import pytest

import numbann as nb
from numbann.trace import Recorder, load_trace, record_step

M, N = 4, 10   # batch size, rows: steps of 4, 4 and 2 rows per epoch


def cnn(dtype="float64", seed=0):
    """Conv (stride 2, padding 1) -> max-pool (overlapping) -> BatchNorm -> conv
    (padding 'same') -> Flatten -> Dense softmax."""
    return nb.Sequential((2, 7, 7), [
        nb.Conv2D(3, 3, stride=2, padding=1, activation="relu"),   # (3, 4, 4)
        nb.MaxPool2D(2, stride=1),                                  # (3, 3, 3)
        nb.BatchNorm(activation="tanh"),
        nb.Conv2D(2, 2, padding="same", activation="elu", alpha=0.5),   # (2, 3, 3)
        nb.Flatten(),
        nb.Dense(3, "softmax")], seed=seed, dtype=dtype)


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, 2, 7, 7)), rng.integers(0, 3, N)


@pytest.fixture(scope="module")
def traced():
    X, y = data()
    net = cnn()
    rec = Recorder()
    est = rec.estimate(net, X, epochs=2, batch_size=M, optimizer=nb.optim.SGD(lr=0.1))
    hist = net.fit(X, y, loss="ce", optimizer=nb.optim.SGD(lr=0.1), epochs=2, batch_size=M,
                   trace=rec, verbose=0)
    return net, rec, X, y, hist, est


def numpy_maxpool_winners(a, k, s):
    """Winners by loops: the first maximum of each window, row-major."""
    m, C, H, W = a.shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.zeros((m, C, Ho, Wo), np.int64)
    for i, c, p, q in np.ndindex(m, C, Ho, Wo):
        win = a[i, c, p * s:p * s + k, q * s:q * s + k]
        u, v = np.unravel_index(np.argmax(win), win.shape)
        out[i, c, p, q] = (p * s + u) * W + q * s + v
    return out


# --------------------------------------------------------------------- recording

def test_recorded_numbers_equal_backprop_on_the_same_batch(traced):
    net, rec, X, y, hist, _ = traced
    tr = rec.trace
    assert len(tr) == 6 and [r.m for r in tr] == [4, 4, 2] * 2
    assert np.array_equal(tr.loss, hist.step_loss)
    for r in tr:
        again = tr.network(step=r.step, when="before")     # the weights of that step
        step = again.backprop(X[r.rows], y[r.rows], loss="ce")
        np.testing.assert_array_equal(r.x, X[r.rows])
        assert r.loss == pytest.approx(step.loss, rel=1e-13)
        for l in range(1, net.L + 1):
            assert r.z[l].shape == (r.m,) + net.shapes[l]
            for name in ("z", "a", "delta"):
                np.testing.assert_allclose(getattr(r, name)[l], getattr(step, name)[l],
                                           rtol=1e-12, atol=1e-14, err_msg=f"{name}[{l}]")
        for l in (1, 3, 4, 6):
            assert r.dW[l].shape == net.W[l].shape and r.db[l].shape == net.b[l].shape
            np.testing.assert_allclose(r.dW[l], step.dW[l], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.db[l], step.db[l], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.W_after[l], r.W_before[l] - 0.1 * r.dW[l], rtol=1e-13)
            assert r.norms["dW"][l - 1] == pytest.approx(np.linalg.norm(step.dW[l]), rel=1e-12)
        for l in (2, 5):    # no parameters: nothing to keep, and a clear message
            with pytest.raises(KeyError, match=f"layer {l} .* has no parameters"):
                r.dW[l]
        # BatchNorm's batch statistics and the max-pool winners, by NumPy written here
        a2 = r.a[2]
        mean, var = a2.mean(axis=(0, 2, 3)), a2.var(axis=(0, 2, 3))
        np.testing.assert_allclose(r.bn_mean[3], mean, rtol=1e-12)
        np.testing.assert_allclose(r.bn_inv_std[3], 1 / np.sqrt(var + 1e-5), rtol=1e-12)
        np.testing.assert_allclose(r.bn_var[3], var, rtol=1e-8, atol=1e-12)
        np.testing.assert_array_equal(r.winners[2], numpy_maxpool_winners(r.a[1], 2, 1))
    for a, b in zip(tr.records, tr.records[1:]):
        np.testing.assert_array_equal(a.W_after[1], b.W_before[1])
    np.testing.assert_array_equal(tr.theta_end, net.theta)
    np.testing.assert_array_equal(tr.running_end, net.running)


def test_tracing_does_not_change_training():
    X, y = data(1)
    nets = [cnn(), cnn()]
    for net, trace in zip(nets, (None, Recorder(keep=("dW",), steps=[1]))):
        net.fit(X, y, loss="ce", optimizer=nb.optim.Adam(lr=0.01), epochs=2, batch_size=M,
                trace=trace, verbose=0)
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)
    np.testing.assert_array_equal(nets[0].running, nets[1].running)


def test_optimizer_state_is_split_like_the_natural_parameters():
    X, y = data(2)
    net, rec = cnn(), Recorder(keep=("state", "W"), steps=[0])
    net.fit(X, y, loss="ce", optimizer=nb.optim.Adam(lr=0.01), epochs=1, batch_size=M,
            trace=rec, verbose=0)
    r = rec.trace[0]
    assert set(r.state) == {"m", "v"}
    assert r.state["m"].W[1].shape == (3, 2, 3, 3) and r.state["v"].b[3].shape == (3,)
    assert 2 not in r.state["m"].W and r.bias_correction is not None


def test_estimate_is_what_the_recorder_takes(traced):
    _, rec, *_, est = traced
    assert int(est) == rec.nbytes and est.steps == 6
    assert est.per_quantity["stats"] > 0
    X, y = data()
    for kw in ({"samples": [1]}, {"layers": [2, 3], "keep": ("z", "stats", "W")},
               {"steps": slice(0, None, 2), "keep": ("dW", "state", "norms")}):
        net, small = cnn("float32"), Recorder(**kw)
        opt = nb.optim.Adam(lr=0.01)
        est = small.estimate(net, X, epochs=1, batch_size=M, optimizer=opt)
        net.fit(X, y, loss="ce", optimizer=opt, epochs=1, batch_size=M, trace=small, verbose=0)
        assert int(est) == small.nbytes, kw


def test_save_load_round_trip_and_the_meta_describes_the_layers(traced, tmp_path):
    net, rec, *_ = traced
    tr = rec.trace
    kinds = [s["kind"] for s in tr.meta["arch"]]
    assert kinds == ["Conv2D", "MaxPool2D", "BatchNorm", "Conv2D", "Flatten", "Dense"]
    assert tr.meta["arch"][0]["W"] == [3, 2, 3, 3] and tr.meta["arch"][0]["pad"] == [1, 1]
    back = load_trace(tr.save(tmp_path / "cnn.npz"))
    assert back.equals(tr)
    assert back[1].z[1].shape == (4, 3, 4, 4) and back[1].winners[2].dtype == np.int64
    assert back.kinds == kinds
    rebuilt = back.network()
    np.testing.assert_array_equal(rebuilt.theta, net.theta)
    np.testing.assert_array_equal(rebuilt.running, net.running)
    assert back.replay(1) == tr.replay(1)                  # from the file alone
    assert back.explain(1, "W", 1, 0, 1, 2, 0).ok
    assert "(m=4, C_1=3, H_1=4, W_1=4)" in repr(back[1])
    assert '"winners/2"' in tr.to_json()


def test_float32_traces_round_trip(tmp_path):
    X, y = data(3)
    net, rec = cnn("float32"), Recorder(samples=[0, 2])
    net.fit(X, y, loss="ce", epochs=1, batch_size=M, trace=rec, verbose=0)
    tr = rec.trace
    back = load_trace(tr.save(tmp_path / "f32.npz", compressed=True))
    assert back.equals(tr) and back[0].z[1].dtype == np.float32
    assert back[0].z[1].shape == (2, 3, 4, 4)
    text = back.replay(0, sample=2)     # BatchNorm from the recorded statistics
    assert "only some rows were kept" in text and "Check: recomputing" in text


# --------------------------------------------------------------------- replay, explain

def test_replay_shows_each_layer_with_its_numbers(traced):
    _, rec, *_ = traced
    tr = rec.trace
    r = tr[4]
    text = tr.replay(4, sample=1, channel=2, position=(0, 1), digits=6)
    assert "z[1][i,o,p,q] = b[1][o] + sum_{c,u,v} W[1][o,c,u,v] a[0][i,c,p*2-1+u, q*2-1+v]" in text
    z = r.z[1][1, 2, 0, 1]
    assert re.search(rf"z\[1\]\[1,2,0,1\] = .* = {re.escape(f'{z:.6g}')}", text)
    assert "the zero padding" in text                     # window (0, 1) reaches row -1
    h, w = divmod(int(r.winners[2][1, 2, 0, 0]), 4)
    assert f"(0, 0): rows 0..1, columns 0..1 -> max {r.a[1][1, 2, h, w]:.6g} at ({h}, {w})" in text
    assert f"mean = 1/N sum a[2] = {r.bn_mean[3][2]:.6g}" in text
    assert "xhat = (" in text and "gamma[2] xhat + beta[2]" in text
    assert f"(recorded {r.delta[1][1, 2, 0, 1]:.6g})" in text
    assert re.search(r"Check: recomputing each line .* \(largest difference [0-9.e-]+\)", text)
    one = tr.replay(4, layer=4)
    assert "Layer 4: Conv2D 2x2, stride 1, padding 0 above, 1 below, 0 left, 1 right" in one
    assert "Layer 1" not in one
    with pytest.raises(ValueError, match="vectorized"):
        tr.replay(4, vectorized=True)
    with pytest.raises(IndexError, match="layers are numbered 1..6"):
        tr.replay(4, layer=7)


def test_replay_flags_a_number_that_does_not_follow(traced):
    _, rec, *_ = traced
    tr = rec.trace
    r = tr[0]
    saved = r.arrays["delta/2"].copy()
    r.arrays["delta/2"][0, 0, 0, 0] += 1.0
    try:
        assert "differ from the recorded ones by up to" in tr.replay(0)
    finally:
        r.arrays["delta/2"][...] = saved


@pytest.mark.parametrize("index", [(0, 0, 0, 0), (2, 1, 1, 2), (1, 0, 2, 2)])
def test_explain_conv_weight_sums_over_every_visited_position(traced, index):
    _, rec, *_ = traced
    tr = rec.trace
    r = tr[1]
    e = tr.explain(1, "W", 1, *index)
    assert e.ok and e.recorded == r.dW[1][index]
    assert len(e.terms) == r.m * 4 * 4                     # m Ho Wo
    assert e.product == pytest.approx(r.dW[1][index], rel=1e-12, abs=1e-15)
    assert "dW[1][o,c,i,j] = sum_{m,p,q} delta[1][m,o,p,q] * a[0][m,c,p*s-ph+i, q*s-pw+j]" in e
    assert "= a sum of m Ho Wo = 4 * 4 * 4 = 64 terms" in e
    if index[2] == 0:                                      # row -1 for p = 0: padding
        assert "read the zero padding" in e


def test_explain_every_parameter_of_every_kind(traced):
    net, rec, *_ = traced
    tr = rec.trace
    for l in (1, 3, 4, 6):
        for index in np.ndindex(net.W[l].shape):
            assert tr.explain(2, "W", l, *index).ok, (l, index)
        for index in np.ndindex(net.b[l].shape):
            assert tr.explain(2, "b", l, *index).ok, (l, index)
    assert tr[2].m == 2 and len(tr.explain(2, "W", 4, 1, 0, 1, 1).terms) == 2 * 3 * 3
    assert "dgamma" in tr.explain(2, "W", 3, 1)


def test_bad_input_gives_clear_errors(traced):
    _, rec, *_ = traced
    tr = rec.trace
    with pytest.raises(IndexError, match=r"W\[1\] of the Conv2D layer has shape \(3, 2, 3, 3\).*"
                                         r"index i = 3 is out of range 0..2"):
        tr.explain(0, "W", 1, 0, 0, 3, 0)
    with pytest.raises(IndexError, match="give 4 indices, got 2"):
        tr.explain(0, "W", 1, 0, 0)
    with pytest.raises(ValueError, match="layer 2 is a MaxPool2D layer: it has no weights"):
        tr.explain(0, "W", 2, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="param must be 'W' or 'b'"):
        tr.explain(0, "z", 1, 0, 0, 0, 0)
    with pytest.raises(KeyError, match=r"bn_mean\[1\] does not exist: layer 1 \(Conv2D\)"):
        tr[0].bn_mean[1]
    from numbann.trace import plots
    with pytest.raises(ValueError, match="Conv2D layer's kernels"):
        plots.filters(tr, 3)
    with pytest.raises(ValueError, match="layer 1 is a Conv2D layer: pooling_mask"):
        plots.pooling_mask(tr, 1)


def test_record_step_of_a_sequential_network():
    X, y = data(4)
    net = cnn()
    tr = record_step(net, X[:3], y[:3], "ce", optimizer=nb.optim.SGD(lr=0.1))
    assert tr[0].z[1].shape == (3, 3, 4, 4) and tr[0].winners[2].shape == (3, 3, 3, 3)
    assert tr.explain(0, "W", 1, 0, 0, 1, 1).ok
    assert "Check: recomputing" in tr.replay(0)


# --------------------------------------------------------------------- plots and diagnostics

def test_plots_of_conv_networks_render(traced, tmp_path):
    from numbann.trace import plots
    from test_trace import not_blank
    net, rec, *_ = traced
    tr = rec.trace
    plain = nb.Sequential((2, 7, 7), [nb.Conv2D(3, 3, stride=2, padding=1, activation="relu"),
                                      nb.Flatten(), nb.Dense(3, "softmax")])
    other = Recorder(keep=("z",))
    plain.fit(*data(), loss="ce", epochs=1, batch_size=M, trace=other, verbose=0)
    made = {
        "filters.png": lambda p: plots.filters(tr, 1, path=p),
        "filters_net.png": lambda p: plots.filters(net, 4, path=p),
        "filters_step.png": lambda p: plots.filters(tr, 1, step=2, when="before", path=p),
        "maps.png": lambda p: plots.feature_maps(tr, 1, sample=1, path=p),
        "maps_step.png": lambda p: plots.feature_maps(tr[3], 3, quantity="z", path=p),
        "input.png": lambda p: plots.feature_maps(tr, 0, path=p),
        "pool.png": lambda p: plots.pooling_mask(tr, 2, sample=2, step=4, path=p),
        "pool_c.png": lambda p: plots.pooling_mask(tr[0], 2, channel=1, path=p),
        "hist.png": lambda p: plots.preactivation_hist(
            {"conv z[1], no BatchNorm": (other.trace, 1), "BatchNorm z[3]": (tr, 3)}, path=p),
        "hist_one.png": lambda p: plots.preactivation_hist(tr, 4, step=0, path=p),
        "norms.png": lambda p: plots.grad_norms(tr, path=p),
    }
    for name, make in made.items():
        fig = make(tmp_path / name)
        assert fig.__class__.__name__ == "Figure"
        assert not_blank(tmp_path / name), name


def test_diagnostics_of_a_conv_network(traced):
    _, rec, *_ = traced
    d = rec.trace.diagnostics()
    assert set(d.grad_norm) == {1, 3, 4, 6} and set(d.symmetry) == {1, 3, 4, 6}
    assert 1 in d.dead and 3 in d.saturation
    assert "layer 2 (MaxPool2D 2x2, stride 1)" in d.report()
