import numpy as np
import pytest

import numbann as nb

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


def test_cheese_festival_thresholds():
    """w = (6, 2, 2): with threshold 5 only the weather decides; with 3 any two factors do."""
    w = [6, 2, 2]
    cases = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(nb.perceptron_output(cases, w, 5), [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(nb.perceptron_output(cases, w, 3), [1, 1, 0, 1, 0])


@pytest.mark.parametrize("name,y", [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1])])
def test_learns_linearly_separable_gates(name, y):
    p = nb.Perceptron(2, lr=1.0).fit(INPUTS, y, epochs=50)
    assert p.converged and p.mistakes[-1] == 0
    np.testing.assert_array_equal(p.predict(INPUTS), y)


def test_xor_never_converges_and_stops():
    p = nb.Perceptron(2).fit(INPUTS, [0, 1, 1, 0], epochs=30)
    assert not p.converged
    assert len(p.mistakes) == 30 and min(p.mistakes) > 0


def test_rule_updates_only_when_wrong():
    p = nb.Perceptron(2, w=[1.0, 1.0], b=-1.5)
    p.fit(INPUTS, [0, 0, 0, 1], epochs=5)
    assert p.mistakes == [0]
    np.testing.assert_array_equal(p.w, [1.0, 1.0])


def test_bad_input():
    with pytest.raises(ValueError, match="0 or 1"):
        nb.Perceptron(2).fit(INPUTS, [0, 2, 1, 0])
    with pytest.raises(ValueError, match="lr must be > 0"):
        nb.Perceptron(2, lr=0)
    with pytest.raises(ValueError, match="X has 4 rows but y has 3"):
        nb.Perceptron(2).fit(INPUTS, [0, 1, 1])
