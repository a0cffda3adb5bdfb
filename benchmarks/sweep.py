"""A 20-candidate grid search on the digits, serially, on two processes and on
a two-worker Dask cluster: wall-clock seconds of ``GridSearchCV.fit``.

    python benchmarks/sweep.py              # 20 candidates x 3 folds x 30 epochs
    python benchmarks/sweep.py --quick      # 4 candidates x 2 folds x 5 epochs

Grid: ``MLPClassifier`` (ReLU, Adam, batches of 32, float32, a fixed number
of epochs) over 5 hidden-layer sizes x 4 learning rates, on the 1,797 8x8
digits scaled to [0, 1]. Modes: ``n_jobs=1``; ``n_jobs=2`` (joblib's process
pool); a ``LocalCluster`` of 2 worker processes x 1 thread through joblib's
Dask backend (``n_jobs=-1``; the cluster's start is timed separately). Every
mode must find the same cross-validation scores (the fits are seeded), which
the script checks. The kernels come from numba's disk cache, so a worker
process pays loading, not compiling; the script runs one small fit first so
that the cache is warm. Needs scikit-learn and dask[distributed].
"""
import argparse
import os
import time

import numpy as np
from sklearn.model_selection import GridSearchCV

from numbann.data import load_digits
from numbann.sklearn import MLPClassifier

HIDDEN = [(16,), (32,), (64,), (128,), (64, 32)]
LEARNING_RATES = [3e-4, 1e-3, 3e-3, 1e-2]


def search(X, y, n_jobs, epochs, candidates, folds):
    grid = [{"hidden_layer_sizes": [h], "learning_rate_init": [lr]}
            for h in HIDDEN for lr in LEARNING_RATES][:candidates]
    est = MLPClassifier(max_iter=epochs, n_iter_no_change=None, batch_size=32, dtype="float32",
                        random_state=0)
    started = time.perf_counter()
    result = GridSearchCV(est, grid, cv=folds, n_jobs=n_jobs).fit(X, y)
    return time.perf_counter() - started, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 candidates, 2 folds, 5 epochs")
    args = parser.parse_args()
    candidates, folds, epochs = (4, 2, 5) if args.quick else (20, 3, 30)
    from dask.distributed import Client, LocalCluster
    from joblib import parallel_config

    X, y = load_digits()
    X = X / 16.0
    MLPClassifier((8,), max_iter=1, n_iter_no_change=None).fit(X[:64], y[:64])  # warm cache
    print(f"{candidates} candidates x {folds} folds x {epochs} epochs on {len(X)} digits, "
          f"{os.cpu_count()} CPUs")
    times, scores = {}, {}
    for n_jobs in (1, 2):
        times[f"n_jobs={n_jobs}"], result = search(X, y, n_jobs, epochs, candidates, folds)
        scores[f"n_jobs={n_jobs}"] = result.cv_results_["mean_test_score"]
    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        start_s = time.perf_counter() - started
        with parallel_config(backend="dask"):
            times["LocalCluster (2 workers)"], result = search(X, y, -1, epochs, candidates,
                                                               folds)
        scores["LocalCluster (2 workers)"] = result.cv_results_["mean_test_score"]
    for mode, seconds in times.items():
        print(f"{mode:26s} {seconds:7.2f} s")
    print(f"(LocalCluster start: {start_s:.2f} s, not included)")
    first = next(iter(scores.values()))
    assert all(np.array_equal(first, s) for s in scores.values()), "modes disagree"
    print(f"best mean CV accuracy {first.max():.4f}; every mode found the same scores")


if __name__ == "__main__":
    main()
