"""Type hints: ``mypy --strict`` over the public modules (the configuration
in pyproject.toml), and ``Network.fit`` showing its real parameters."""
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from numbann import MLP, Network, Sequential, training

ROOT = Path(__file__).resolve().parents[1]


def fit_parameters():
    """training.fit's parameters as Network.fit takes them (no net, no _resume)."""
    params = inspect.signature(training.fit).parameters.values()
    return [p for p in params if p.name not in ("net", "_resume")]


@pytest.mark.parametrize("cls", [Network, Sequential])
def test_fit_shows_its_real_parameters_and_a_docstring(cls):
    shown = inspect.signature(cls.fit).parameters
    expected = fit_parameters()
    assert list(shown)[1:] == [p.name for p in expected]
    for p in expected:
        assert shown[p.name].default == p.default, p.name
        assert shown[p.name].annotation is not inspect.Parameter.empty, p.name
    assert "mini-batch gradient descent" in inspect.getdoc(cls.fit)


def test_fit_passes_every_argument_on(monkeypatch):
    given = {p.name: object() for p in fit_parameters()[2:]}  # a distinct value after X, Y
    received = {}

    def spy(net, X, Y, **kwargs):
        received.update(kwargs, net=net, X=X, Y=Y)
    monkeypatch.setattr(training, "fit", spy)
    net = MLP([2, 1])
    net.fit("X", "Y", **given)
    assert received.pop("net") is net and received.pop("X") == "X" and received.pop("Y") == "Y"
    assert received.keys() == given.keys()
    assert all(received[name] is value for name, value in given.items())


def test_mypy_strict_is_clean(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed: pip install -e '.[test]'")
    env = dict(os.environ, MYPY_FORCE_COLOR="0")
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
