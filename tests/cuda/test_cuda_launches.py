"""Kernel launches per training step on the GPU, counted in the simulator with
every launch replaced by a no-op that records the kernel's name.

A dense network of L layers takes at most 2 L + 2 launches a step: layer 1
with the batch gather, layers 2..L, the loss head (which applies an output
softmax itself), one backward launch per layer (dW with the penalties,
clipping and sums of squares, and delta[l-1]), and the checked update."""
import collections

import numpy as np
import pytest
from numba.cuda.simulator import kernel as simulated

import numbann as nb

pytestmark = pytest.mark.usefixtures("gpu")


@pytest.fixture
def launches(monkeypatch):
    """A Counter of the kernels launched while the fixture is active (none runs)."""
    counts = collections.Counter()

    def record(self, *args):
        assert not self._device, "a device function called from the host"
        counts[self.fn.__name__] += 1

    monkeypatch.setattr(simulated.FakeCUDAKernel, "__call__", record)
    return counts


def launches_per_step(net, counts, steps=3, batch=4, **options):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(steps * batch, 3))
    y = rng.integers(0, net.n_outputs, len(X))
    net.fit(X, y, loss="ce", optimizer=nb.optim.Adam(lr=1e-3), epochs=1, batch_size=batch,
            verbose=0, device="cuda", **options)
    return sum(counts.values()) / steps


@pytest.mark.parametrize("options", [{}, dict(l2=0.01, clip_value=0.5, clip_norm=1.0)])
@pytest.mark.parametrize("sizes", [[3, 5, 4], [3, 6, 5, 4]])
def test_dense_step_takes_at_most_two_launches_per_layer_plus_two(launches, sizes, options):
    net = nb.MLP(sizes, hidden="relu", output="softmax", seed=0)
    L = len(sizes) - 1
    per_step = launches_per_step(net, launches, **options)
    assert per_step <= 2 * L + 2, dict(launches)


def test_a_sequential_dense_stack_takes_two_launches_more(launches):
    """The layer engine's step: the gather (inputs and targets together), a
    launch per dense layer each way, the loss head with the softmax, the
    sums of squares over the whole gradient and the checked update: 2 L + 4."""
    net = nb.Sequential(3, [nb.Dense(5, activation="relu"), nb.Dense(4, activation="softmax")],
                        seed=0)
    per_step = launches_per_step(net, launches)
    assert per_step <= 2 * 2 + 4, dict(launches)
