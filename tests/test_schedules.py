"""Learning-rate schedules: torch's values (fixtures), the course's formulas,
properties, and validation."""
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numbann import schedules as S

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture():
    path = FIXTURES / "schedules.npz"
    if not path.exists():
        pytest.skip("tests/fixtures/schedules.npz not present")
    return np.load(path)


TORCH = {
    "step": lambda: S.StepDecay(7, 0.5),                     # StepLR(7, 0.5)
    "exponential": lambda: S.Exponential(0.9),               # ExponentialLR(0.9)
    "cosine": lambda: S.CosineAnnealing(10, eta_min=0.001),  # past T_max too
    "cosine_full": lambda: S.CosineAnnealing(30),
}


@pytest.mark.parametrize("name", list(TORCH))
def test_matches_torch_fixture(name):
    data = _fixture()
    base = float(data["base_lr"]) if "base_lr" in data.files else 0.1
    want = data[name]
    got = TORCH[name]().values(len(want), base)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_formulas():
    a0 = 0.3
    assert S.Constant().lr_at(17, a0) == a0
    s = S.StepDecay(3, gamma=0.5)
    assert [s.lr_at(t, a0) for t in range(7)] == [a0, a0, a0, a0 / 2, a0 / 2, a0 / 2, a0 / 4]
    assert S.StepDecay(4).lr_at(8, 1.0) == pytest.approx(0.01)       # gamma defaults to 0.1
    assert S.Exponential(0.9).lr_at(5, a0) == pytest.approx(a0 * 0.9 ** 5, rel=1e-15)
    assert S.ExpDecay(0.2).lr_at(5, a0) == pytest.approx(a0 * math.exp(-1.0), rel=1e-15)
    np.testing.assert_allclose(S.ExpDecay(0.2).values(20, a0),
                               S.Exponential(math.exp(-0.2)).values(20, a0), rtol=1e-13)
    c = S.CosineAnnealing(10, eta_min=0.01)
    assert c.lr_at(0, a0) == pytest.approx(a0)
    assert c.lr_at(5, a0) == pytest.approx((a0 + 0.01) / 2)
    assert c.lr_at(10, a0) == pytest.approx(0.01)
    assert c.lr_at(20, a0) == pytest.approx(a0)                      # periodic past T_max
    assert c.lr_at(13, a0) == pytest.approx(c.lr_at(7, a0))
    assert c.lr_at(3, a0) == pytest.approx(
        0.01 + 0.5 * (a0 - 0.01) * (1 + math.cos(math.pi * 3 / 10)))


@settings(max_examples=100, deadline=None)
@given(t=st.integers(0, 500), base=st.floats(1e-6, 10.0), k=st.integers(1, 50),
       gamma=st.floats(0.01, 0.999), frac=st.floats(0.0, 1.0))
def test_properties(t, base, k, gamma, frac):
    s = S.StepDecay(k, gamma)
    assert s.lr_at(t + 1, base) <= s.lr_at(t, base) <= base
    e = S.Exponential(gamma)
    assert e.lr_at(t + 1, base) <= e.lr_at(t, base)
    eta_min = frac * base
    c = S.CosineAnnealing(k, eta_min=eta_min)
    lr = c.lr_at(t, base)
    assert eta_min - 1e-12 * base <= lr <= base * (1 + 1e-12)
    assert lr == pytest.approx(c.lr_at(t + 2 * k, base), rel=1e-9, abs=1e-15)
    if t < k:                                    # decreasing on the first half period
        assert c.lr_at(t + 1, base) <= lr + 1e-15


def test_per_and_repr():
    assert S.Constant().per == "epoch"
    assert S.CosineAnnealing(5, per="step").per == "step"
    assert repr(S.StepDecay(7, 0.5)) == "StepDecay(step_size=7, gamma=0.5)"
    assert repr(S.ExpDecay(0.1, per="step")) == "ExpDecay(k=0.1, per='step')"
    for s in (S.Constant(), S.StepDecay(3), S.Exponential(0.5, per="step"), S.ExpDecay(0.0),
              S.CosineAnnealing(4, eta_min=1e-3)):
        back = eval(repr(s), vars(S))
        assert type(back) is type(s) and back.per == s.per
        np.testing.assert_array_equal(back.values(12, 0.1), s.values(12, 0.1))


def test_get_schedule():
    assert isinstance(S.get_schedule(None), S.Constant)
    assert isinstance(S.get_schedule("constant"), S.Constant)
    assert S.get_schedule("step", step_size=4, gamma=0.5).lr_at(4, 1.0) == 0.5
    assert isinstance(S.get_schedule("step_decay", step_size=2), S.StepDecay)
    assert isinstance(S.get_schedule("Exponential", gamma=0.9), S.Exponential)
    assert isinstance(S.get_schedule("exp_decay", k=0.1), S.ExpDecay)
    assert isinstance(S.get_schedule("cosine", T_max=3), S.CosineAnnealing)
    assert isinstance(S.get_schedule("cosine_annealing", T_max=3, per="step"),
                      S.CosineAnnealing)
    obj = S.ExpDecay(0.1)
    assert S.get_schedule(obj) is obj
    assert isinstance(S.get_schedule(S.StepDecay, step_size=2), S.StepDecay)
    with pytest.raises(ValueError, match="unknown schedule 'linear'.*constant.*cosine"):
        S.get_schedule("linear")
    with pytest.raises(ValueError, match="bad arguments for schedule 'step'"):
        S.get_schedule("step")                   # step_size missing
    with pytest.raises(ValueError, match="bad arguments for schedule 'cosine'"):
        S.get_schedule("cosine", T_max=3, gamma=0.1)
    with pytest.raises(ValueError, match="keyword arguments"):
        S.get_schedule(obj, k=0.2)
    with pytest.raises(TypeError, match="schedule must be"):
        S.get_schedule(0.1)


BAD = [
    (lambda: S.StepDecay(0), "step_size must be a positive integer"),
    (lambda: S.StepDecay(2.5), "step_size must be a positive integer"),
    (lambda: S.StepDecay(3, gamma=0.0), "gamma must be > 0"),
    (lambda: S.StepDecay(3, gamma=float("inf")), "gamma must be a finite real number"),
    (lambda: S.Exponential(-0.5), "gamma must be > 0"),
    (lambda: S.ExpDecay(-0.1), "k must be >= 0"),
    (lambda: S.ExpDecay("0.1"), "k must be a finite real number"),
    (lambda: S.CosineAnnealing(0), "T_max must be a positive integer"),
    (lambda: S.CosineAnnealing(10, eta_min=-1e-3), "eta_min must be >= 0"),
    (lambda: S.Constant(per="batch"), "per must be 'epoch' or 'step'"),
    (lambda: S.Constant().lr_at(-1, 0.1), "t must be an integer >= 0"),
    (lambda: S.Constant().lr_at(1.5, 0.1), "t must be an integer >= 0"),
    (lambda: S.Constant().lr_at(True, 0.1), "t must be an integer >= 0"),
    (lambda: S.Constant().lr_at(1, 0.0), "base_lr must be > 0"),
    (lambda: S.Constant().lr_at(1, float("nan")), "base_lr must be a finite real number"),
]


@pytest.mark.parametrize("make,match", BAD, ids=[m for _, m in BAD])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_numpy_integers_accepted():
    assert S.StepDecay(np.int64(2)).lr_at(np.int32(4), np.float64(1.0)) == pytest.approx(0.01)
