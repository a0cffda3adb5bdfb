"""Regenerate the benchmark report (markdown + raw JSON beside it).

    python benchmarks/run.py [--quick] [--threads 1 2] [--repeats 5]
                             [--workloads tiny small mnist wide]
                             [--contenders numbann torch torch_fused sklearn numpy]
                             [--out docs/benchmarks.md]

Every measurement runs in a fresh child process (child.py / learner.py) whose
environment pins OMP/MKL/OPENBLAS/NUMBA/VECLIB thread counts before any import.
The convolutional and recurrent workloads have their own scripts,
``benchmarks/cnn.py`` and ``benchmarks/rnn.py``; their sections of the report
are kept when this one regenerates the rest.
"""
import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]
import cnn  # noqa: E402
import rnn  # noqa: E402
import contenders as C  # noqa: E402
import report  # noqa: E402
import workloads as W  # noqa: E402

THREAD_VARS = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"]
MEMORY_CONTENDERS = ["numbann", "torch", "numpy"]


def env_for(threads, **extra):
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS}, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [ROOT, env.get("PYTHONPATH")] if p)
    return env


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def busy_cpu_s():
    """CPU seconds the whole machine has spent busy (user+nice+system+irq+softirq+steal)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    return (sum(ticks[:3]) + sum(ticks[5:8])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    r, c = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def foreign_cpu_pct(start, wall):
    """Share of the machine's CPUs used by *other* processes since `start`."""
    other = (busy_cpu_s() - start[0]) - (own_cpu_s() - start[1])
    return max(0.0, 100 * other / (wall * os.cpu_count()))


def run_child(job, timeout=3600):
    """Run child.py on `job` in a fresh process; {workload: result}."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "result.json")
        t, start = time.perf_counter(), (busy_cpu_s(), own_cpu_s())
        try:
            p = subprocess.run([sys.executable, os.path.join(HERE, "child.py"), json.dumps(job), path],
                               env=env_for(job["threads"]), capture_output=True, text=True,
                               timeout=timeout, cwd=ROOT)
            why = f"child exited {p.returncode}: " + (p.stderr.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            why = f"child timed out after {timeout} s"
        wall = time.perf_counter() - t
        other = foreign_cpu_pct(start, wall)
        log(f"  {job['mode']:8s} {job.get('contender', ''):12s} {','.join(job['workloads']):22s} "
            f"threads={job['threads']}  {wall:6.1f} s  (other processes: {other:.0f}% CPU)")
        if not os.path.exists(path):
            return {w: dict(status="error", reason=why) for w in job["workloads"]}
        with open(path) as f:
            return {w: dict(r, foreign_cpu_pct=other) for w, r in json.load(f).items()}


def time_script(argv, env, timeout=600):
    t = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    dt = time.perf_counter() - t
    if p.returncode:
        raise RuntimeError((p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1])
    return dt


def learner(threads, contenders, repeats, quick):
    """Wall time of learner.py from outside: numbann cold (fresh NUMBA_CACHE_DIR) then
    warm (same dir again), torch, and the bare `import numpy` interpreter start."""
    script = [sys.executable, os.path.join(HERE, "learner.py")]
    steps = ["500"] if quick else []
    argv = {"python -c 'import numpy'": [sys.executable, "-c", "import numpy"]}
    if "torch" in contenders:
        argv["torch"] = script + ["torch"] + steps
    if "numbann" in contenders:
        argv["numbann cold"] = argv["numbann warm"] = script + ["numbann"] + steps
    times, errors = {k: [] for k in argv}, {}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:  # cold, then warm on the same cache
            env = env_for(threads, NUMBA_CACHE_DIR=cache)
            for name in [k for k in argv if k not in errors]:
                try:
                    times[name].append(time_script(argv[name], env))
                except Exception as e:
                    errors[name] = str(e)
    log(f"  learner  {', '.join(argv)}  threads={threads}")
    return {k: dict(status="error", reason=errors[k]) if k in errors else dict(status="ok", times=ts)
            for k, ts in times.items()}


def stats(res, w, ceiling, ref):
    """Derived numbers for one ok training result (ref: torch's result or None)."""
    t = statistics.median(res["times"])
    nominal, needed = w.flops()
    s = dict(median_s=t, min_s=min(res["times"]), max_s=max(res["times"]),
             samples_per_s=w.samples / t, gflops=nominal / t / 1e9, needed_gflops=needed / t / 1e9)
    if ceiling.get("status") == "ok":
        s["pct_ceiling"] = 100 * s["needed_gflops"] / ceiling["gflops"]
    if ref and ref.get("status") == "ok":
        s["loss_diff"], s["loss_diff_on"] = loss_diff(res, ref, w)
    elif "perturbed_losses" in res:  # torch itself: the floor, torch vs torch from init x (1 +- 1e-7)
        s["loss_diff"], s["loss_diff_on"] = loss_diff(dict(res, losses=res["perturbed_losses"]), res, w)
        s["loss_diff_on"] = "floor, " + s["loss_diff_on"]
    s["final_loss"] = (curve(res, w, "epoch") or [None])[-1]
    return s


def curve(res, w, on):
    """The loss curve per step or per epoch; None if it cannot be had."""
    losses, n = res["losses"], w.steps if res["kind"] == "step" else w.epochs
    if len(losses) != n or (on == "step" and res["kind"] != "step"):
        return None
    return W.epoch_losses(losses, w) if on == "epoch" and res["kind"] == "step" else losses


def loss_diff(res, ref, w):
    """Max |loss - torch loss|, per step where both have steps, else per epoch."""
    on = "step" if w.curve == "step" and res["kind"] == ref["kind"] == "step" else "epoch"
    a, b = curve(res, w, on), curve(ref, w, on)
    if a is None or b is None:
        return None, f"no comparable curve ({len(res['losses'])} {res['kind']} values)"
    return max(abs(x - y) for x, y in zip(a, b)), on


def machine():
    cpu = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            cpu.setdefault(k.strip(), v.strip())
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    blas = "?"
    try:
        import numpy as np
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas['name']} {blas['version']}"
    except Exception:
        pass
    return {"cpu": cpu.get("model name", platform.processor()), "logical cores": os.cpu_count(),
            "usable cores": len(os.sched_getaffinity(0)), "memory GiB": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "numpy BLAS": blas, **versions()}


def versions():
    """Library versions, read in a fresh child so this process stays small."""
    code = "import json, contenders; print(json.dumps(contenders.versions()))"
    p = subprocess.run([sys.executable, "-c", code], env=env_for(1), capture_output=True, text=True,
                       cwd=HERE)
    return json.loads(p.stdout) if p.returncode == 0 else {"versions": p.stderr.strip()[-200:]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 repeat, shortened workloads")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 5; quick 1)")
    ap.add_argument("--workloads", nargs="+", default=list(W.WORKLOADS), choices=list(W.WORKLOADS))
    ap.add_argument("--contenders", nargs="+", default=C.NAMES, choices=C.NAMES)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    a = ap.parse_args()
    repeats = a.repeats or (1 if a.quick else 5)
    started = time.time()
    data = {"meta": dict(command="python benchmarks/run.py " + " ".join(sys.argv[1:]), quick=a.quick,
                         repeats=repeats, threads=a.threads, machine=machine(),
                         date=time.strftime("%Y-%m-%d %H:%M:%S %Z")),
            "workloads": {w.name: dict(describe=w.describe(), params=w.params, samples=w.samples,
                                       steps=w.steps, flops=w.flops())
                          for w in (W.get(n, a.quick) for n in a.workloads)},
            "runs": {}}
    # --quick: one process per contender for all workloads (imports dominate otherwise)
    groups = [a.workloads] if a.quick else [[n] for n in a.workloads]
    for n in a.threads:
        log(f"threads={n}")
        job = dict(quick=a.quick, repeats=repeats, threads=n)
        run = data["runs"][str(n)] = dict(ceiling={}, train={}, memory={})
        for g in groups:
            run["ceiling"].update(run_child(dict(job, mode="ceiling", workloads=g)))
        for c in a.contenders:
            for g in groups:
                res = run_child(dict(job, mode="train", contender=c, workloads=g))
                run["train"].setdefault(c, {}).update(res)
        if "mnist" in a.workloads:
            for c in [c for c in MEMORY_CONTENDERS if c in a.contenders]:
                res = run_child(dict(job, mode="memory", contender=c, workloads=["mnist"]))
                run["memory"][c] = res["mnist"]
        if not a.quick or n == a.threads[0]:  # --quick: once (numbann's cold compile is slow)
            run["learner"] = learner(n, a.contenders, repeats, a.quick)
        for name in a.workloads:
            w, ref = W.get(name, a.quick), run["train"].get("torch", {}).get(name)
            for c, res in run["train"].items():
                if res[name]["status"] == "ok":
                    res[name]["stats"] = stats(res[name], w, run["ceiling"][name],
                                               ref if c != "torch" else None)
    data["meta"]["duration_s"] = time.time() - started
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:  # number lists on one line
        f.write(re.sub(r"\[[-+.\deE,\s]*\]", lambda m: re.sub(r"\s+", "", m.group()),
                       json.dumps(data, indent=1)))
    kept = ""  # the cnn and rnn sections (cnn.py, rnn.py) survive a regeneration
    if os.path.exists(a.out):
        old = open(a.out).read()
        for start, end in ((cnn.START, cnn.END), (rnn.START, rnn.END)):
            if start in old and end in old:
                kept += "\n" + old[old.index(start):old.index(end) + len(end)] + "\n"
    with open(a.out, "w") as f:
        f.write(report.render(data) + kept)
    log(f"wrote {a.out} and {os.path.splitext(a.out)[0]}.json in {data['meta']['duration_s']:.0f} s")


if __name__ == "__main__":
    main()
