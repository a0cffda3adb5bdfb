"""One fresh benchmark process:  python benchmarks/child.py JOB_JSON RESULT_PATH

The parent (run.py) has already put OMP/MKL/OPENBLAS/NUMBA/VECLIB_*_THREADS in our
environment, so every library sees the thread count before it is imported.
JOB: {"mode": "train"|"ceiling"|"memory", "contender", "workloads", "quick", "repeats", "threads"}
RESULT: {workload: {...}} as JSON.
"""
import json
import os
import resource
import sys
import time
import traceback
from dataclasses import replace

import numpy as np

import contenders as C
import workloads as W


def rss_mb(key="VmRSS"):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def peak_rss_mb():
    """VmHWM: this process's own high-water mark.  getrusage's ru_maxrss is kept for
    reference only: across fork+exec it inherits the parent's RSS, so it can overstate."""
    return rss_mb("VmHWM")


def reset_peak():
    """Restart VmHWM from the current RSS (Linux >= 4.0), so the peak is training's own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def ru_maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def short(xs):
    """9 significant digits: exact for float32, ample for the loss-curve check."""
    return [float(f"{x:.9g}") for x in xs]


def threads_seen():
    """Thread pools the process actually uses (checks the environment took effect)."""
    seen = {}
    try:
        from threadpoolctl import threadpool_info
        seen.update({f"{i['internal_api']}:{os.path.basename(i['filepath'])}": i["num_threads"]
                     for i in threadpool_info()})
    except ImportError:
        pass
    if "torch" in sys.modules:
        seen["torch"] = sys.modules["torch"].get_num_threads()
    if "numba" in sys.modules:
        seen["numba"] = sys.modules["numba"].get_num_threads()
    return seen


def train(job, w):
    (X, Y), (Ws, bs) = W.make(w)
    setup, n = C.SETUP[job["contender"]], job["threads"]
    ww = W.warmup(w)
    run = setup(ww, X[:ww.n], Y[:ww.n], Ws, bs, n)
    rss0 = rss_mb()  # after imports, data and model construction
    peak_reset = reset_peak()
    t = time.perf_counter()
    run()
    warmup_s = time.perf_counter() - t
    rss_warm = rss_mb()  # libraries loaded, kernels compiled: the process before the timed runs
    peak_before_runs = peak_rss_mb()
    reset_peak()
    times, curves = [], []
    for _ in range(job["repeats"]):
        run = setup(w, X, Y, Ws, bs, n)  # fresh model from the initial weights, untimed
        t = time.perf_counter()
        losses, kind = run()
        times.append(time.perf_counter() - t)
        curves.append(np.asarray(losses, np.float64))
    drift = max(float(np.max(np.abs(c - curves[0]), initial=0)) for c in curves)
    peak_runs = peak_rss_mb()
    out = dict(status="ok", times=times, warmup_s=warmup_s, warmup_samples=ww.samples,
               losses=short(curves[0]), kind=kind, repeat_max_diff=drift, rss_before_mb=rss0,
               rss_after_warmup_mb=rss_warm, peak_rss_runs_mb=peak_runs,
               peak_rss_mb=max(peak_runs, peak_before_runs), peak_is_training_only=peak_reset,
               ru_maxrss_mb=ru_maxrss_mb(), threads_seen=threads_seen())
    if job["contender"] == "torch":  # noise floor for the loss-curve check
        out["perturbed_losses"] = short(setup(w, X, Y, W.perturbed(Ws), bs, n)()[0])
    return out


def memory(job, w):
    """RSS after each of 3 epochs of `w` (no warm-up: epoch 1 includes compilation)."""
    w = replace(w, epochs=3)
    (X, Y), (Ws, bs) = W.make(w)
    rss = []
    run = C.SETUP[job["contender"]](w, X, Y, Ws, bs, job["threads"])
    rss0 = rss_mb()
    run(on_epoch=lambda: rss.append(rss_mb()))
    return dict(status="ok", rss_before_mb=rss0, rss_epochs_mb=rss, peak_rss_mb=peak_rss_mb(),
                ru_maxrss_mb=ru_maxrss_mb())


def ceiling(job, w):
    """Best float32 GEMM rate on one training step's matmul shapes (full batch)."""
    rng = np.random.default_rng(0)
    r = lambda *s: rng.random(s, dtype=np.float32)
    ops, B = [], w.batch
    for l, (i, o) in enumerate(zip(w.sizes[:-1], w.sizes[1:])):
        x, Wl, dy = r(B, i), r(o, i), r(B, o)
        ops.append((x, Wl.T, np.empty((B, o), np.float32)))       # forward   x @ W.T
        ops.append((dy.T, x, np.empty((o, i), np.float32)))       # grad W    dy.T @ x
        if l:
            ops.append((dy, Wl, np.empty((B, i), np.float32)))    # grad x    dy @ W
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in ops)

    def steps(k):
        t = time.perf_counter()
        for _ in range(k):
            for a, b, c in ops:
                np.matmul(a, b, out=c)
        return time.perf_counter() - t

    target, k = (0.03 if job["quick"] else 0.2), 1
    while steps(k) < target:
        k *= 2
    best = min(steps(k) for _ in range(5)) / k
    return dict(status="ok", threads_seen=threads_seen(), gflops=flops / best / 1e9, step_s=best,
                flops_per_step=flops, shapes=[[list(a.shape), list(b.shape)] for a, b, _ in ops])


def main():
    job = json.loads(sys.argv[1])
    fn = {"train": train, "memory": memory, "ceiling": ceiling}[job["mode"]]
    out = {}
    for name in job["workloads"]:
        try:
            out[name] = fn(job, W.get(name, job["quick"]))
        except C.Unavailable as e:
            out[name] = dict(status="unavailable", reason=str(e))
        except Exception as e:
            traceback.print_exc()
            out[name] = dict(status="error", reason=f"{type(e).__name__}: {e}")
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
