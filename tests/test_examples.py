"""Every script in examples/ runs with --quick, prints its result, and saves a
figure that is not blank. Each runs as a subprocess from a scratch folder,
as a user would run it."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# script -> (figure, [(printed name, lowest acceptable value)])
CASES = {
    "demo.py": ("demo.png", [("test accuracy", 0.85)]),
    "regression.py": ("regression.png", [("test R^2", 0.9)]),
    "multi_output_regression.py": ("multi_output_regression.png",
                                   [("test R^2", 0.95), ("test R^2 output 0", 0.9),
                                    ("test R^2 output 1", 0.9), ("test R^2 output 2", 0.9)]),
    "binary_classification.py": ("binary_classification.png", [("test accuracy", 0.9)]),
    "multiclass_digits.py": ("multiclass_digits.png",
                             [("test accuracy", 0.95), ("training time", 0.0)]),
    "xor.py": ("xor.png", [("network accuracy", 1.0)]),
    "cnn_mnist.py": ("cnn_mnist.png", [("test accuracy", 0.85)]),
    "sequence_classification.py": ("sequence_classification.png", [("test accuracy", 0.95)]),
}
# MNIST is not shipped: the CNN example must fall back to the 8x8 digits
# without touching the network
EXTRA = {"cnn_mnist.py": ["--offline", "--data", os.path.join(os.sep, "nonexistent", "numbann")]}


def run_example(script, out, cwd):
    result = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick", "--out", str(out),
                             *EXTRA.get(script, [])],
                            cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def printed(stdout, name):
    """The number printed as ``name = value``."""
    found = re.search(rf"^{re.escape(name)} = ([-+0-9.eE]+)", stdout, re.MULTILINE)
    assert found, f"no '{name} = ...' line in:\n{stdout}"
    return float(found.group(1))


def assert_not_blank(path):
    import matplotlib.image
    assert path.is_file() and path.stat().st_size > 5000, path
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.std() > 0.05, f"{path} looks blank"
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 20, f"{path} has only {len(colours)} colours"


def test_the_course_examples_exist():
    assert set(CASES) <= {p.name for p in EXAMPLES.glob("*.py")}


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs_and_reports(script, tmp_path):
    figure, expected = CASES[script]
    out = tmp_path / "figures"
    stdout = run_example(script, out, cwd=tmp_path)
    for name, lowest in expected:
        assert printed(stdout, name) >= lowest, f"{script}: {name}\n{stdout}"
    assert_not_blank(out / figure)
    if script == "demo.py":
        assert printed(stdout, "gradcheck max relative error") < 1e-6
        # compiled before the timed fit; one recorded step explained by Trace.explain
        assert stdout.index("warm-up fit") < stdout.index("samples/s")
        found = re.search(r"^  sum of the 8 rows = (\S+)\n  recorded dW\[2\]\[(\d+),(\d+)\] = (\S+): "
                          r"matches", stdout, re.MULTILINE)
        assert found, stdout
        assert abs(float(found.group(1)) - float(found.group(4))) <= 1e-6 * abs(float(found.group(4)))
    if script == "cnn_mnist.py":
        assert "8x8 digits" in stdout and "train-images-idx3-ubyte" in stdout
    if script == "sequence_classification.py":  # backpropagation through time shrinks delta_t here
        assert printed(stdout, "delta ratio ||delta_1|| / ||delta_T||") < 1.0
        assert "matches, equal to rounding" in stdout
    if script == "xor.py":
        assert "perceptron: converged = False" in stdout
        assert printed(stdout, "perceptron accuracy") < 1.0
    # nothing written beside the scripts
    assert not (EXAMPLES / "out").exists()
    assert sorted(os.listdir(tmp_path)) == ["figures"]
