"""explain's paths through hidden layers, its saturated sigmoid + BCE case,
and replay in the course's column-major notation. Every number is recomputed
here in NumPy from the recorded arrays and compared with what the text shows."""
import itertools
import re

import numpy as np
import pytest

import numbann as nb
from numbann.trace import record_step
from numbann.trace._text import arr


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def g6(v):
    """A number as explain writes it (6 significant digits)."""
    return f"{v:.6g}"


def slope_by_hand(name, z, a):
    return {"tanh": 1 - a ** 2, "relu": (z > 0).astype(float),
            "sigmoid": a * (1 - a)}[name]


def deep_trace(m=5):
    """A 3-3-2-3-2 network, three hidden activations, MSE."""
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(m, 3)), rng.normal(size=(m, 2))
    net = nb.Network(3, [nb.Dense(3, "tanh"), nb.Dense(2, "sigmoid"), nb.Dense(3, "relu"),
                         nb.Dense(2, "identity")], seed=4)
    return record_step(net, X, Y, "mse"), ("tanh", "sigmoid", "relu", "identity")


# --------------------------------------------------------------------- explain's paths

def test_one_term_per_row_and_unit_each_recomputed():
    net = nb.MLP([2, 3, 2], hidden="tanh", output="sigmoid", seed=11)
    X = np.array([[0.5, -1.0], [1.5, 0.25], [-0.3, 0.8]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tr = record_step(net, X, Y, "mse")
    r = tr[0]
    j, k = 1, 0
    e = tr.explain(0, "W", 1, j, k)
    assert e.paths.tolist() == [[0], [1]]
    expected = np.empty((3, 2))
    for row, i in itertools.product(range(3), range(2)):
        expected[row, i] = (r.delta[2][row, i] * r.W_before[2][i, j]
                            * (1 - r.a[1][row, j] ** 2) * r.x[row, k])
    np.testing.assert_allclose(e.terms, expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(e.factors["delta[2]_i"], r.delta[2][:, [0, 1]], rtol=0)
    np.testing.assert_allclose(e.factors[f"W[2][i,{j}]"],
                               np.tile(r.W_before[2][:, j], (3, 1)), rtol=0)
    assert e.ok and e.terms.sum() == pytest.approx(r.dW[1][j, k], rel=1e-13)
    assert "matches" in e
    assert f"sum_r sum_i delta[2]_i W[2][i,{j}] g'(z[1]_{j}) a[0]_{k}" in e
    for row, i in itertools.product(range(3), range(2)):        # every factor and term shown
        line = re.compile(rf"^\s+{i}\s+{re.escape(g6(r.delta[2][row, i]))}\s+"
                          rf"{re.escape(g6(r.W_before[2][i, j]))}\s+"
                          rf"{re.escape(g6(expected[row, i]))}$", re.M)
        assert line.search(e), (row, i)
        assert (f"row r = {row}: sum of paths dJ/da[1]_{j} = "
                f"{g6(r.delta[2][row] @ r.W_before[2][:, j])}") in e
    # the bias: the same paths without a[0]_k
    eb = tr.explain(0, "b", 1, j)
    np.testing.assert_allclose(eb.terms, expected / r.x[:, [k]], rtol=1e-13)
    assert eb.ok


def test_full_paths_through_every_layer():
    tr, acts = deep_trace()
    r = tr[0]
    W = {l: r.W_before[l] for l in range(1, 5)}
    gp = {l: slope_by_hand(acts[l - 1], r.z[l], r.a[l]) for l in range(1, 4)}
    j, k = 2, 1
    e = tr.explain(0, "W", 1, j, k, paths="full")
    paths = list(itertools.product(range(2), range(3), range(2)))   # units in layers 2, 3, 4
    assert [tuple(p) for p in e.paths.tolist()] == paths
    expected = np.empty((r.m, len(paths)))
    for row in range(r.m):
        for n, (i1, i2, i3) in enumerate(paths):
            expected[row, n] = (r.delta[4][row, i3] * W[4][i3, i2] * gp[3][row, i2]
                                * W[3][i2, i1] * gp[2][row, i1] * W[2][i1, j]
                                * gp[1][row, j] * r.x[row, k])
    np.testing.assert_allclose(e.terms, expected, rtol=1e-13, atol=1e-300)
    assert e.ok and e.recorded == r.dW[1][j, k]
    assert e.terms.sum() == pytest.approx(r.dW[1][j, k], rel=1e-12)
    assert ("sum_{i1,i2,i3} delta[4]_i3 W[4][i3,i2] g'(z[3]_i2) W[3][i2,i1] g'(z[2]_i1) "
            f"W[2][i1,{j}] g'(z[1]_{j}) a[0]_{k}") in e
    for name in ("g'(z) of tanh", "g'(z) of sigmoid", "g'(z) of relu"):
        assert name in e
    # the paths through unit i1 of layer 2 add up to paths="one"'s term through it
    one = tr.explain(0, "W", 1, j, k)
    grouped = expected.reshape(r.m, 2, 6).sum(axis=2)
    np.testing.assert_allclose(one.terms, grouped, rtol=1e-12, atol=1e-15)
    # the listed terms of row 0 with every factor
    row0 = [n for n in np.argsort(-np.abs(expected[0]), kind="stable")[:8]]
    for n in row0:
        i1, i2, i3 = paths[n]
        values = (r.delta[4][0, i3], W[4][i3, i2], gp[3][0, i2], W[3][i2, i1], gp[2][0, i1],
                  W[2][i1, j], expected[0, n])
        assert re.search(rf"^\s+{i1}\s+{i2}\s+{i3}\s+" + r"\s+".join(re.escape(g6(v))
                                                                    for v in values) + "$",
                         e, re.M), paths[n]


def test_truncation_says_how_many_terms_are_left_out():
    tr, _ = deep_trace(m=4)
    e = tr.explain(0, "b", 2, 1, paths="full", max_rows=1, max_paths=2)
    P = 3 * 2                                          # units of layers 3 and 4
    terms = e.terms
    assert terms.shape == (4, P)
    order = np.argsort(-np.abs(terms[0]), kind="stable")
    rest = terms[0, order[2:]].sum()
    assert f"... and {P - 2} more paths of this row (smaller terms), summing to {g6(rest)}" in e
    assert (f"... and 3 more rows ({3 * P} terms), summing to {g6(terms[1:].sum())}") in e
    assert f"sum of the {4 * P} terms" in e and e.ok
    for n in order[:2]:
        assert g6(terms[0, n]) in e
    for n in order[2:]:
        assert g6(terms[0, n]) not in e


def test_full_paths_refuses_too_many():
    net = nb.MLP([1, 1, 60, 60, 30, 1], hidden="tanh", seed=0)
    tr = record_step(net, [[0.5]], [[0.1]], "mse")
    with pytest.raises(ValueError, match="108000 paths from layer 1 to the outputs"):
        tr.explain(0, "W", 1, 0, 0, paths="full")
    assert tr.explain(0, "W", 1, 0, 0).ok                  # paths="one" lists 60


# --------------------------------------------------------------------- saturated sigmoid + BCE

def test_saturated_sigmoid_bce_uses_the_fused_delta():
    net = nb.MLP([1, 1], output="sigmoid")
    net.W[1] = [[1.0]]
    net.b[1] = [0.0]
    X, y = np.array([[40.0], [1.0]]), np.array([0.0, 1.0])
    tr = record_step(net, X, y, "bce")
    a = sigmoid(X[:, 0])
    assert a[0] == 1.0                                  # rounds to 1
    dz = (a - y) / 2                                    # fused: s (a - y), s = 1/m
    e = tr.explain(0, "W", 1, 0, 0)
    assert e.ok and "matches" in e and "DIFFERENT" not in e
    assert "the fused form is used" in e and "on row 0" in e
    assert e.product == pytest.approx((dz * X[:, 0]).sum(), rel=1e-14)
    np.testing.assert_allclose(e.factors["dJ/dz"], dz, rtol=1e-15)
    assert tr.explain(0, "b", 1, 0).ok
    # unsaturated, the three factors of the chain rule are shown
    net.W[1] = [[0.3]]
    e = record_step(net, X, y, "bce").explain(0, "W", 1, 0, 0)
    assert e.ok and "dJ/da" in e.factors and "fused form is used" not in e


# --------------------------------------------------------------------- course notation

def xor_trace(loss="bce"):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    Y = np.array([[0], [1], [1], [0.0]])
    net = nb.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=1)
    return record_step(net, X, Y, loss, optimizer=nb.optim.SGD(lr=0.5)), X, Y


def contains_matrix(text, M):
    return all(line.strip() in text for line in arr(M, 4).split("\n"))


def test_course_batch_is_the_transposed_arrays():
    tr, X, Y = xor_trace()
    r, m = tr[0], 4
    text = tr.replay(0, vectorized=True, notation="course")
    for formula in ("Z[1] = W[1] A[0] + b[1]", "A[1] = tanh(Z[1])", "dZ[2] = A[2] - Y",
                    "dZ[1] = W[2]^T dZ[2] * g'(Z[1])", "dW[2] = 1/m dZ[2] A[1]^T",
                    "dW[1] = 1/m dZ[1] A[0]^T", "db[1] = 1/m sum_i dZ[1][:, i]"):
        assert formula in text, formula
    for M in (X.T, r.z[1].T, r.a[1].T, r.z[2].T, r.a[2].T, Y.T, m * r.delta[2].T,
              m * r.delta[1].T, r.dW[1], r.dW[2], r.db[1][:, None], r.b_before[1][:, None]):
        assert contains_matrix(text, M), M
    # the course's dZ[2] = A[2] - Y and dW = 1/m dZ A^T, from the recorded arrays
    np.testing.assert_allclose(m * r.delta[2].T, r.a[2].T - Y.T, rtol=1e-14)
    np.testing.assert_allclose(r.dW[1], (m * r.delta[1].T) @ X / m, rtol=1e-13)
    assert "gives the recorded values" in text
    assert "@" not in text.split("Update")[0]


def test_course_sample_is_column_vectors():
    tr, X, Y = xor_trace()
    r, i = tr[0], 2
    text = tr.replay(0, sample=i, notation="course")
    assert f"a[0] = x = {arr(X[i], 4)}^T" in text
    assert f"= {arr(r.z[1][i], 4)}^T" in text
    assert "dz[1] = W[2]^T dz[2] * g'(z[1])" in text
    assert f"= {arr(4 * r.delta[1][i], 4)}^T" in text               # dz[1] = m delta[1]^T
    assert f"= {arr(r.a[2][i] - Y[i], 4)}^T" in text                # dz[2] = a[2] - y
    assert "dW[l] = 1/m sum_i dz[l] a[l-1]^T" in text
    assert "gives the recorded values" in text and "@" not in text


def test_course_with_a_summed_loss_has_no_one_over_m():
    tr, X, Y = xor_trace(nb.losses.get("bce", "sum"))
    r = tr[0]
    text = tr.replay(0, vectorized=True, notation="course")
    assert "dW[2] = dZ[2] A[1]^T" in text and "1/m" not in text
    assert contains_matrix(text, r.delta[1].T)
    np.testing.assert_allclose(r.delta[2].T, r.a[2].T - Y.T, rtol=1e-14)


def test_default_notation_is_batch_and_bad_notation_is_refused():
    tr, _, _ = xor_trace()
    assert tr.replay(0) == tr.replay(0, notation="batch")
    assert "delta[1] = (delta[2] @ W[2])" in tr.replay(0)
    for bad in ("column", "Course", None):
        with pytest.raises(ValueError, match="notation must be 'batch'.*or 'course'"):
            tr.replay(0, notation=bad)


def test_course_notation_on_conv_layers_is_refused():
    net = nb.Sequential((1, 4, 4), [nb.Conv2D(2, 3, padding=1), nb.Flatten(),
                                    nb.Dense(2, "softmax")], seed=0)
    rng = np.random.default_rng(0)
    tr = record_step(net, rng.normal(size=(2, 1, 4, 4)), np.array([0, 1]), "ce")
    with pytest.raises(ValueError, match="replayed in notation='batch'"):
        tr.replay(0, notation="course")
    assert "Check: recomputing" in tr.replay(0, notation="batch")
