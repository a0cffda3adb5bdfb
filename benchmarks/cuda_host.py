"""What a CUDA training step costs on the host, without a GPU: launches per
step and host microseconds per step with every kernel replaced by a no-op.

    NUMBA_ENABLE_CUDASIM=1 python benchmarks/cuda_host.py

Runs ``fit(device="cuda")`` in numba's CUDA simulator with the simulator's
kernel call patched to record the kernel's name and return at once, so what
is timed is numbann's own host loop (launch configuration, argument
building, the per-step Python work), not numba's dispatcher on a real GPU
(which adds its own cost per launch) nor any kernel. The time is taken
inside the epoch loops (``cuda_train.train_epochs``, ``cuda_plan.train_epochs``)
only, divided by the steps (the fastest of 7 fits): fit's own per-call work (input checks, the upload
of the data set, the copies after the epoch) is left out.
Prints a markdown table: launches per step by kernel, and host microseconds
per step.
"""
import argparse
import collections
import os
import time

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
from numba.cuda.simulator import kernel as simulated  # noqa: E402

import numbann as nb  # noqa: E402


def record_launches():
    """Patch the simulator: a kernel launch records its name and does nothing
    (and configuring one, ``kernel[grid, block]``, costs nothing).
    Returns the Counter that collects the names."""
    counts = collections.Counter()

    def no_op(self, *args):
        if self._device:
            raise AssertionError("a device function called from the host")
        counts[self.fn.__name__] += 1

    simulated.FakeCUDAKernel.__call__ = no_op
    simulated.FakeCUDAKernel.__getitem__ = lambda self, configuration: self  # no checks either
    return counts


def workloads():
    """(name, network, X, labels, batch) of the measured networks."""
    rng = np.random.default_rng(0)
    mnist = nb.MLP([784, 128, 10], hidden="relu", output="softmax", dtype="float32", seed=0)
    X = rng.random((64 * 128, 784), dtype=np.float32)
    wide = nb.MLP([784, 1024, 1024, 10], hidden="relu", output="softmax", dtype="float32",
                  seed=0)
    lenet = nb.Sequential((1, 28, 28), [
        nb.Conv2D(6, 5, padding=2, activation="relu"), nb.MaxPool2D(2),
        nb.Conv2D(16, 5, activation="relu"), nb.MaxPool2D(2), nb.Flatten(),
        nb.Dense(120, activation="relu"), nb.Dense(84, activation="relu"),
        nb.Dense(10, activation="softmax")], dtype="float32", seed=0)
    labels = rng.integers(0, 10, len(X))
    return [("mnist 784-128-10", mnist, X, labels, 128),
            ("wide 784-1024-1024-10", wide, X, labels, 128),
            ("LeNet-5", lenet, X.reshape(-1, 1, 28, 28), labels, 64)]


def time_epoch_loops():
    """Patch the epoch loops to add their seconds to the returned list."""
    from numbann.kernels import cuda_plan, cuda_train
    seconds = []
    for module in (cuda_train, cuda_plan):
        def timed(*args, _loop=module.train_epochs):
            started = time.perf_counter()
            result = _loop(*args)
            seconds.append(time.perf_counter() - started)
            return result
        module.train_epochs = timed
    return seconds


def measure(net, X, labels, batch, steps, counts, seconds, repeats=7):
    """(launches per step by kernel, host microseconds per step)."""
    times = []
    for repeat in range(repeats + 1):  # the first fit: compilation, launches counted
        counts.clear()
        seconds.clear()
        net.fit(X[:steps * batch], labels[:steps * batch], loss="ce",
                optimizer=nb.optim.Adam(lr=1e-3), epochs=1, batch_size=batch, seed=0,
                verbose=0, device="cuda")
        if repeat == 0:
            per_step = {name: n / steps for name, n in sorted(counts.items())}
        else:
            times.append(sum(seconds))
    return per_step, 1e6 * min(times) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()
    counts = record_launches()
    seconds = time_epoch_loops()
    print("| workload | launches per step | host us per step | kernels per step |")
    print("|---|---|---|---|")
    for name, net, X, labels, batch in workloads():
        per_step, micros = measure(net, X, labels, batch, args.steps, counts, seconds)
        kernels = ", ".join(f"{k} {v:g}" for k, v in per_step.items())
        print(f"| {name} | {sum(per_step.values()):g} | {micros:.0f} | {kernels} |")


if __name__ == "__main__":
    main()
