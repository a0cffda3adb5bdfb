"""A Ctrl-C seen by fit stops the CUDA epoch loops after the step it is in,
as on the CPU (the flag is raised here before the first step)."""
import numpy as np
import pytest

import numbann as nb
from numbann import interrupt


@pytest.fixture
def ctrl_c_at_once(monkeypatch):
    def enter(self):
        self.stop[0] = 1
        return self
    monkeypatch.setattr(interrupt.StopOnCtrlC, "__enter__", enter)


def networks():
    return {"dense": lambda: nb.MLP([4, 5, 3], output="softmax", seed=1),
            "cnn": lambda: nb.Sequential((1, 4, 4), [nb.Conv2D(2, 3, padding=1), nb.MaxPool2D(2),
                                                     nb.Flatten(), nb.Dense(3, "softmax")], seed=1)}


@pytest.mark.parametrize("kind", ["dense", "cnn"])
def test_cuda_fit_stops_after_one_step_like_the_cpu(kind, ctrl_c_at_once):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4) if kind == "dense" else (8, 1, 4, 4))
    y = rng.integers(0, 3, 8)
    results = {}
    for device in ("cpu", "cuda"):
        net, opt = networks()[kind](), nb.Adam(lr=0.01)
        with pytest.raises(nb.TrainingInterrupted) as stop:
            net.fit(X, y, loss="ce", optimizer=opt, epochs=3, batch_size=4, device=device,
                    verbose=0)
        assert stop.value.steps == opt.t == len(stop.value.history.step_loss) == 1
        results[device] = net.theta
    np.testing.assert_allclose(results["cuda"], results["cpu"], rtol=1e-10, atol=1e-12)
