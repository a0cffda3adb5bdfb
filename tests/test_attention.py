"""Self-attention, layer normalization and positional encodings against
PyTorch (committed fixtures, tests/fixtures/make_sequence_fixtures.py),
backprop against central differences over random stacks of sequence layers,
files, views and bad input."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numbann as nb

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "sequence.npz")


def fixture(case):
    prefix = case + "/"
    return {k[len(prefix):]: FIXTURES[k] for k in FIXTURES.files if k.startswith(prefix)}


def flat_net(shape, layer):
    """The layer alone (and Flatten when its output is a sequence)."""
    return nb.Sequential(shape, [layer] + ([nb.Flatten()] if len(shape) == 2 else []), seed=0)


@pytest.mark.parametrize("case, causal", [("attn", False), ("attn_causal", True)])
def test_attention_matches_torch(case, causal):
    f = fixture(case)
    m, T, d = f["X"].shape
    net = flat_net((T, d), nb.SelfAttention(f["W_q"].shape[0], f["W_v"].shape[0], causal=causal))
    for name in ("W_q", "W_k", "W_v", "W_o"):
        getattr(net, name)[1] = f[name]
    np.testing.assert_allclose(net.forward(f["X"]), f["out"].reshape(m, -1), rtol=1e-12,
                               atol=1e-12)
    step = net.backward(f["X"], f["G"].reshape(m, -1))
    for name, block in net.layers[0].blocks(step.dW[1]).items():   # the views, on dW[1]
        np.testing.assert_allclose(block, f["d" + name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(step.dX, f["dX"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", ["ln_seq", "ln_flat"])
def test_layernorm_matches_torch(case):
    f = fixture(case)
    m = len(f["X"])
    net = flat_net(f["X"].shape[1:], nb.LayerNorm())
    net.W[1], net.b[1] = f["gamma"], f["beta"]
    np.testing.assert_allclose(net.forward(f["X"]), f["out"].reshape(m, -1), rtol=1e-12,
                               atol=1e-12)
    step = net.backward(f["X"], f["G"].reshape(m, -1))
    np.testing.assert_allclose(step.dW[1], f["dgamma"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.db[1], f["dbeta"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.dX, f["dX"], rtol=1e-10, atol=1e-12)


def test_sinusoidal_encoding_matches_torch_and_learned_one_trains():
    table = fixture("pe")["table"]
    T, d = table.shape
    X = np.random.default_rng(0).normal(size=(2, T, d))
    net = flat_net((T, d), nb.PositionalEncoding())
    assert net.n_params == 0
    np.testing.assert_allclose(net.forward(X), (X + table).reshape(2, -1), atol=1e-14)
    learned = flat_net((T, d), nb.PositionalEncoding(learned=True))
    assert learned.b[1].shape == (T, d) and not learned.b[1].any()
    G = np.random.default_rng(1).normal(size=(2, T * d))
    step = learned.backward(X, G)
    np.testing.assert_allclose(step.db[1], G.reshape(2, T, d).sum(axis=0), atol=1e-14)
    np.testing.assert_allclose(step.dX, G.reshape(2, T, d), atol=0)


@st.composite
def sequence_stacks(draw):
    """Positional encoding, attention, layer norm and RNN layers in a random
    order on a random sequence, then a dense head."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    kinds = draw(st.lists(st.sampled_from(["attn", "causal", "ln", "pe", "pe_learned"]),
                          min_size=1, max_size=3))
    # layer norm over 1 or 2 features is constant (xhat = 0 or +-1): its input
    # gradient is 0 and central differences measure only rounding
    T, m = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    d = draw(st.integers(3 if "ln" in kinds else 1, 4))
    make = {"attn": lambda: nb.SelfAttention(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
            "causal": lambda: nb.SelfAttention(draw(st.integers(1, 3)), causal=True),
            "ln": lambda: nb.LayerNorm("tanh"), "pe": nb.PositionalEncoding,
            "pe_learned": lambda: nb.PositionalEncoding(learned=True)}
    layers = [make[k]() for k in kinds]
    tail = [draw(st.sampled_from([nb.RNN(2), nb.Flatten(), nb.LastStep()]))]
    net = nb.Sequential((T, d), layers + tail + [nb.Dense(2, "identity")],
                        seed=int(rng.integers(1000)))
    return net, rng.normal(size=(m, T, d)), rng.normal(size=(m, 2))


def agrees(report):
    """Relative error below 1e-6, or, for a gradient so small that central
    differences see mostly rounding (about 1e-10 here, with J of order 1),
    an absolute one below 1e-9."""
    difference = np.max(np.abs(report.numeric - report.backprop))
    return report.max_error < 1e-6 or difference < 1e-9


@given(sequence_stacks())
def test_backprop_equals_central_differences(problem):
    net, X, Y = problem
    assert agrees(nb.gradcheck(net, X, Y, "mse", eps=1e-6))
    assert agrees(nb.gradcheck(net, X, Y, "mse", eps=1e-6, wrt="input"))


def test_last_step_reads_step_T_only():
    net = nb.Sequential((4, 3), [nb.LastStep(), nb.Dense(2, "identity")], seed=0)
    X = np.random.default_rng(4).normal(size=(5, 4, 3))
    np.testing.assert_allclose(net.forward(X), X[:, -1] @ net.W[2].T + net.b[2], atol=1e-14)
    dX = net.backward(X, np.ones((5, 2))).dX
    assert not dX[:, :-1].any() and np.allclose(dX[:, -1], net.W[2].sum(axis=0))


def test_a_causal_step_does_not_see_the_future():
    rng = np.random.default_rng(3)
    net = flat_net((5, 3), nb.SelfAttention(2, causal=True))
    X = rng.normal(size=(1, 5, 3))
    later = X.copy()
    later[0, 3:] += 10.0                                  # change steps 4 and 5 only
    out, out_later = net.forward(X).reshape(5, 3), net.forward(later).reshape(5, 3)
    np.testing.assert_allclose(out[:3], out_later[:3], atol=1e-14)
    assert not np.allclose(out[3:], out_later[3:])


def test_views_files_and_float32(tmp_path):
    net = nb.Sequential((4, 6), [nb.PositionalEncoding(learned=True), nb.SelfAttention(3, 2),
                                 nb.LayerNorm(), nb.Flatten(), nb.Dense(3, "softmax")], seed=4)
    assert net.W[2].shape == (10, 6) and net.W_o[2].shape == (6, 2)
    net.W_o[2] = np.ones((6, 2))
    assert np.array_equal(net.W[2][8:], np.ones((2, 6)))   # W_o^T is the last block of W[2]
    net.save(tmp_path / "attn.npz")
    back = nb.load(tmp_path / "attn.npz")
    X = np.random.default_rng(2).normal(size=(3, 4, 6))
    assert np.array_equal(back.forward(X), net.forward(X))
    assert [ly.config() for ly in back.layers] == [ly.config() for ly in net.layers]
    np.testing.assert_allclose(net.copy(dtype="float32").forward(X), net.forward(X), atol=1e-5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="d_k"):
        nb.SelfAttention(0)
    with pytest.raises(TypeError, match="causal"):
        nb.SelfAttention(2, causal=1)
    with pytest.raises(TypeError, match="learned"):
        nb.PositionalEncoding(learned="yes")
    with pytest.raises(ValueError, match=r"SelfAttention takes sequences \(T, n\)"):
        nb.Sequential((6,), [nb.SelfAttention(2), nb.Dense(1)])
    with pytest.raises(ValueError, match="LayerNorm normalizes the last axis"):
        nb.Sequential((1, 4, 4), [nb.LayerNorm(), nb.Flatten(), nb.Dense(1)])


# ---------------------------------------------------------------- tracing

@pytest.fixture(scope="module")
def attention_trace():
    from numbann.trace import Recorder
    rng = np.random.default_rng(5)
    net = nb.Sequential((4, 3), [nb.PositionalEncoding(learned=True),
                                 nb.SelfAttention(2, causal=True), nb.LayerNorm("tanh"),
                                 nb.Flatten(), nb.Dense(2, "softmax")], seed=0)
    X, y = rng.normal(size=(5, 4, 3)), rng.integers(0, 2, 5)
    rec = Recorder()
    net.fit(X, y, loss="ce", optimizer=nb.Adam(lr=0.01), epochs=2, batch_size=5,
            shuffle=False, verbose=0, trace=rec)
    return rec.trace, X


def numpy_attention(X, W, d_k, causal):
    """softmax(Q K^T / sqrt(d_k)) written out per sample, row by row."""
    A = np.zeros((len(X), X.shape[1], X.shape[1]))
    for i, x in enumerate(X):
        Q, K = x @ W[:d_k].T, x @ W[d_k:2 * d_k].T
        for t in range(len(x)):
            scores = Q[t] @ K.T / np.sqrt(d_k)
            seen = scores[:t + 1] if causal else scores
            e = np.exp(seen - seen.max())
            A[i, t, :len(e)] = e / e.sum()
    return A


def test_trace_keeps_the_attention_matrix_and_its_gradient(attention_trace):
    tr, X = attention_trace
    step = tr[0]
    x = X + step.b_before[1]                               # after the learned encoding
    A = numpy_attention(x, step.W_before[2], 2, causal=True)
    np.testing.assert_allclose(step.attention[2], A, rtol=1e-12, atol=1e-15)
    assert np.all(np.triu(step.attention[2][0], 1) == 0)   # causal: nothing above the diagonal
    # dJ/dA = (delta W_o) V^T: delta[2] (m, T, d) through the output projection
    W = step.W_before[2]
    V, W_o = x @ W[4:6].T, W[6:8].T
    np.testing.assert_allclose(step.attention_grad[2],
                               (step.delta[2] @ W_o) @ V.transpose(0, 2, 1), rtol=1e-10,
                               atol=1e-15)
    with pytest.raises(KeyError, match="not a SelfAttention layer"):
        step.attention[3]


def test_replay_and_explain_of_attention_and_layer_norm(attention_trace):
    tr, _ = attention_trace
    text = tr.replay(1, sample=2)
    assert "A = softmax(Q K^T / sqrt(d_k))" in text and "every row of A sums to 1" in text
    check = text[text.index("\nCheck: "):]
    assert "gives the recorded values" in check, check
    for args in [("W", 2, 1, 2), ("W", 2, 5, 0), ("W", 2, 7, 1), ("W", 3, 1), ("b", 3, 2),
                 ("b", 1, 2, 1)]:
        ex = tr.explain(1, *args)
        assert ex.ok, ex
        assert len(ex.terms) == (5 if args[:2] == ("b", 1) else 20)   # m, or m T terms


def test_attention_plot(attention_trace):
    from numbann.trace import plots
    tr, _ = attention_trace
    image = plots.attention_map(tr, 2, sample=1, step=0).axes[0].images[0].get_array()
    np.testing.assert_allclose(image, tr[0].attention[2][1])
    grad = plots.attention_map(tr, 2, sample=1, step=0, grad=True).axes[0].images[0]
    shown = np.ma.filled(np.ma.asarray(grad.get_array(), float), np.nan)
    assert np.isnan(shown[0, 1]) and not np.isnan(shown[1, 0])   # masked: nothing flows there


# ---------------------------------------------------------------- residual blocks

def encoder(dtype="float64"):
    """A one-block transformer encoder: attention, add, norm; feed-forward, add, norm."""
    return nb.Sequential((5, 4), [
        nb.Residual([nb.SelfAttention(3, causal=True)]), nb.LayerNorm(),
        nb.Residual([nb.Dense(8, "relu"), nb.Dense(4, "identity")]), nb.LayerNorm(),
        nb.Flatten(), nb.Dense(3, "softmax")], seed=0, dtype=dtype)


def test_transformer_encoder_block_matches_torch():
    f = fixture("encoder")
    net = encoder()
    assert [ly.name for ly in net.layers][:4] == ["SelfAttention", "Skip", "LayerNorm", "Dense"]
    net.theta[:] = f["theta"]
    J, grad = net.gradient(f["X"], f["y"], "ce")
    assert J == pytest.approx(float(f["loss"]), rel=1e-12)
    np.testing.assert_allclose(grad, f["grad"], rtol=1e-9, atol=1e-12)
    history = net.fit(f["X"], f["y"], loss="ce", optimizer=nb.Adam(lr=0.01), epochs=3,
                      batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.step_loss, f["losses"], rtol=1e-10)
    np.testing.assert_allclose(net.theta, f["theta_after"], rtol=1e-9, atol=1e-12)


def test_a_residual_block_adds_its_input():
    rng = np.random.default_rng(6)
    net = nb.Sequential(3, [nb.Residual([nb.Dense(3, "tanh")]), nb.Dense(1, "identity")], seed=1)
    X = rng.normal(size=(4, 3))
    step = net.backward(X, np.ones((4, 1)))
    np.testing.assert_allclose(step.a[2], X + np.tanh(X @ net.W[1].T + net.b[1]), atol=1e-14)
    # dJ/dX = the skip path's delta plus the block's: delta[2] (I + W[1]^T diag(g'))
    d2 = step.delta[2]
    expected = d2 + (d2 * (1 - step.a[1] ** 2)) @ net.W[1]
    np.testing.assert_allclose(step.dX, expected, atol=1e-14)


def test_residual_files_and_bad_blocks(tmp_path):
    net = encoder()
    net.save(tmp_path / "encoder.npz")
    back = nb.load(tmp_path / "encoder.npz")
    X = np.random.default_rng(7).normal(size=(2, 5, 4))
    assert np.array_equal(back.forward(X), net.forward(X))
    with pytest.raises(ValueError, match="must keep the shape of its input"):
        nb.Sequential(3, [nb.Residual([nb.Dense(2)]), nb.Dense(1)])
    with pytest.raises(TypeError, match="not another Residual"):
        nb.Residual([nb.Residual([nb.Dense(3)])])
    with pytest.raises(ValueError, match="at least one layer"):
        nb.Residual([])


def test_replay_and_explain_through_residual_blocks():
    from numbann.trace import record_step
    net = encoder()
    rng = np.random.default_rng(8)
    tr = record_step(net, rng.normal(size=(3, 5, 4)), rng.integers(0, 3, 3), "ce")
    text = tr.replay(0, sample=1)
    assert "z[2] = a[1] + a[0]" in text and "the skip path of the residual block" in text
    assert "gives the recorded values" in text[text.index("\nCheck: "):]
    ex = tr.explain(0, "W", 4, 2, 3)                       # the per-step Dense: m T terms
    assert ex.ok and len(ex.terms) == 15 and "(m=2, t=5)" in ex
