"""What tracing costs: samples/s of fit with tracing off and on, and the size of traces.

    python benchmarks/trace_overhead.py            # 60,000 samples, 3 repeats
    python benchmarks/trace_overhead.py --quick    # 6,400 samples, 1 repeat

Workload: a 784-128-10 ReLU/softmax network, cross-entropy, Adam(lr=1e-3),
float32, batches of 128, on synthetic MNIST-shaped data (inputs in [0, 1],
about half zeros; labels from a random linear teacher). Modes:

- ``off``: ``fit(..., trace=None)``, the default: epochs run in compiled
  code and no tracing code runs at all. Measured twice, interleaved with the
  others, so the difference between ``off`` and ``off again`` is the noise.
- ``stepwise, nothing kept``: a recorder that records no step: what running
  step by step from Python costs (the price of giving fit any recorder).
- ``lean``: the loss and dW[2] of every 10th step.
- ``everything``: z, a, delta, dW, db, W before/after, Adam's m and v, norms,
  x and y of every step (on the first ``--everything-samples`` samples,
  since it takes ~2.3 MB per step).

Then the size of a trace of one epoch on the 8x8 digits (1,797 images, the
copy shipped with numbann; 64-32-10 ReLU/softmax, batch 32) keeping z, a,
delta, dW, db of every layer and step.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

import numbann as nb
from numbann.trace import Recorder


def mnist_like(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 784), dtype=np.float32)
    X[rng.random((n, 784)) < 0.5] = 0
    teacher = rng.normal(size=(784, 10)).astype(np.float32)
    y = (X @ teacher).argmax(axis=1)
    return X, y


def run(X, y, trace, epochs=1):
    net = nb.MLP([784, 128, 10], hidden="relu", output="softmax", seed=0, dtype="float32")
    started = time.perf_counter()
    net.fit(X, y, loss="ce", optimizer=nb.optim.Adam(lr=1e-3), epochs=epochs, batch_size=128,
            shuffle=True, verbose=0, trace=trace)
    return time.perf_counter() - started, net


def human(n):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--everything-samples", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    a = p.parse_args(argv)
    n = a.samples or (6400 if a.quick else 60_000)
    n_all = a.everything_samples or (1280 if a.quick else 6400)
    repeats = a.repeats or (1 if a.quick else 3)
    X, y = mnist_like(n)
    print(f"numbann trace overhead: 784-128-10 relu/softmax, Adam, float32, batch 128, "
          f"{n} samples ({-(-n // 128)} steps) per run, best of {repeats}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cores {os.cpu_count()}, "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    # warm-up: compile / load every kernel of both paths
    run(X[:1280], y[:1280], None)
    run(X[:1280], y[:1280], Recorder(keep="all", budget_mb=None))

    modes = {
        "off": lambda: None,
        "stepwise, nothing kept": lambda: Recorder(keep=(), steps=[]),
        "lean (loss + dW[2], every 10th step)": lambda: Recorder(
            keep=("dW",), layers=[2], steps=slice(0, None, 10)),
        "off again": lambda: None,
    }
    best = {k: np.inf for k in modes}
    sizes = {}
    for _ in range(repeats):
        for name, make in modes.items():
            rec = make()
            seconds, _ = run(X, y, rec)
            best[name] = min(best[name], seconds)
            if rec is not None:
                sizes[name] = rec.nbytes
    Xa, ya = X[:n_all], y[:n_all]
    best_all, size_all, est_all = np.inf, 0, None
    for _ in range(repeats):
        rec = Recorder(keep="all", budget_mb=None)
        est_all = rec.estimate(nb.MLP([784, 128, 10], dtype="float32"), Xa, 1, 128,
                               nb.optim.Adam())
        seconds, _ = run(Xa, ya, rec)
        best_all, size_all = min(best_all, seconds), rec.nbytes
        del rec

    print(f"\n{'mode':<40} {'samples/s':>12} {'vs off':>8} {'trace size':>12}")
    base = n / best["off"]
    for name in modes:
        rate = n / best[name]
        print(f"{name:<40} {rate:>12,.0f} {rate / base:>8.2f} {human(sizes.get(name, 0)):>12}")
    rate = n_all / best_all
    print(f"{'everything, every step (' + str(n_all) + ' samples)':<40} {rate:>12,.0f} "
          f"{rate / base:>8.2f} {human(size_all):>12}")
    print(f"  (estimate before training: {human(int(est_all))}, "
          f"{human(int(est_all) / max(est_all.steps, 1))} per step)")
    print(f"off vs off again: {abs(best['off'] - best['off again']) / best['off']:.1%} apart "
          "(the noise floor; trace=None runs no tracing code)")

    # ---------------------------------------------------------------- digits
    from numbann.data import load_digits
    Xd, yd = load_digits()
    source = "numbann.data.load_digits"
    net = nb.MLP([64, 32, 10], hidden="relu", output="softmax", seed=0)
    rec = Recorder(keep=("z", "a", "delta", "dW", "db"), budget_mb=None)
    est = rec.estimate(net, Xd, epochs=1, batch_size=32, optimizer=nb.optim.SGD(lr=0.1))
    net.fit(Xd, yd, loss="ce", optimizer=nb.optim.SGD(lr=0.1), epochs=1, batch_size=32,
            trace=rec, verbose=0)
    tr = rec.trace
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits.npz")
        tr.save(path)
        file_size = os.path.getsize(path)
        json_size = len(tr.to_json())
    print(f"\ndigits trace ({source}, {len(Xd)} x 64, 64-32-10, float64, batch 32, one epoch = "
          f"{len(tr)} steps; keeping z, a, delta, dW, db of every layer and step):")
    print(f"  arrays {human(tr.nbytes)} ({tr.nbytes:,} bytes; {human(tr.nbytes / len(tr))} per step), "
          f"in memory with overheads {human(rec.nbytes)}, estimated beforehand {human(int(est))}")
    print(f"  saved .npz {human(file_size)}, JSON export {human(json_size)}")


if __name__ == "__main__":
    main()
