"""The cnn workload: LeNet-5 on MNIST-shaped data, numbann against PyTorch.

    python benchmarks/cnn.py [--threads 1 2] [--repeats 5] [--quick] [--out docs/benchmarks.md]

Conv2D 6@5x5 ReLU, MaxPool 2, Conv2D 16@5x5 ReLU, MaxPool 2, Dense 120 ReLU,
Dense 84 ReLU, Dense 10 softmax; cross-entropy, Adam (lr 1e-3), float32,
batch 64, one epoch of 10,000 synthetic 1x28x28 images, no shuffling. Every
contender starts from the same weights and sees the same batches. Each
measurement runs in a fresh process with the thread count pinned before any
import (``run.env_for``); the median of ``--repeats`` timed epochs after a
warm-up is reported, with numbann's per-layer time breakdown and the time
of its first fit from an empty numba cache. The section is written into
``--out`` between markers (``python benchmarks/run.py`` keeps it).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
START, END = "<!-- cnn:start -->", "<!-- cnn:end -->"
CONTENDERS = ("numbann", "torch", "torch_compile")
TARGET, COLD_TARGET = 1.5, 15.0  # samples/s over torch eager's; seconds
N, BATCH, LR, SEED = 10_000, 64, 1e-3, 1234
# (kind, out channels or units, kernel): the shapes of W[l] in PyTorch's layout
LAYERS = [("conv", 6, 5), ("pool", 0, 2), ("conv", 16, 5), ("pool", 0, 2), ("flatten", 0, 0),
          ("dense", 120, 0), ("dense", 84, 0), ("dense", 10, 0)]


def data(n):
    """Images with about half the pixels 0 (MNIST-like), labels from a random linear teacher."""
    rng = np.random.default_rng(SEED)
    X = rng.random((n, 1, 28, 28), dtype=np.float32)
    X[X < 0.5] = 0
    teacher = rng.normal(0, 1, (784, 10)).astype(np.float32)
    flat = X.reshape(n, -1)
    return X, np.argmax(flat @ teacher - flat.mean(0) @ teacher, axis=1).astype(np.int64)


def weights():
    """He-uniform W, small uniform b, in PyTorch's layout (numbann's too)."""
    rng = np.random.default_rng(SEED + 1)
    shapes, channels, features = [], 1, None
    for kind, out, k in LAYERS:
        if kind == "conv":
            shapes.append((out, channels, k, k))
            channels = out
        elif kind == "dense":
            shapes.append((out, features))
            features = out
        elif kind == "flatten":
            features = channels * 4 * 4
    params = []
    for shape in shapes:
        a = np.sqrt(6.0 / np.prod(shape[1:]))
        params.append((rng.uniform(-a, a, shape).astype(np.float32),
                       rng.uniform(-0.1, 0.1, shape[0]).astype(np.float32)))
    return params


def setup_numbann(X, y, params):
    import numbann as nb
    layers = []
    for kind, out, k in LAYERS:
        layers.append({"conv": lambda: nb.Conv2D(out, k), "pool": lambda: nb.MaxPool2D(k),
                       "flatten": nb.Flatten,
                       "dense": lambda: nb.Dense(out, "softmax" if out == 10 else "relu")}[kind]())
    net = nb.Sequential((1, 28, 28), layers, dtype="float32")
    W = [l for l, (kind, _, _) in enumerate(LAYERS, 1) if kind in ("conv", "dense")]
    for l, (Wl, bl) in zip(W, params):
        net.W[l], net.b[l] = Wl, bl
    opt = nb.Adam(lr=LR)

    def run():
        h = net.fit(X, y, loss="ce", optimizer=opt, epochs=1, batch_size=BATCH, shuffle=False,
                    verbose=0)
        return h.step_loss
    return run, net


def setup_torch(X, y, params, compiled=False):
    import torch
    from torch import nn
    layers, given = [], iter(params)
    for kind, out, k in LAYERS:
        if kind in ("conv", "dense"):
            Wl, bl = next(given)
            module = nn.Conv2d(Wl.shape[1], out, k) if kind == "conv" else nn.Linear(Wl.shape[1], out)
            with torch.no_grad():
                module.weight.copy_(torch.from_numpy(Wl))
                module.bias.copy_(torch.from_numpy(bl))
            layers += [module] + ([nn.ReLU()] if out != 10 else [])  # softmax: inside the loss
        else:
            layers.append(nn.MaxPool2d(k) if kind == "pool" else nn.Flatten())
    model = nn.Sequential(*layers)
    step_model = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def run():
        losses = []
        for i in range(0, len(Xt), BATCH):
            opt.zero_grad()
            loss = loss_fn(step_model(Xt[i:i + BATCH]), yt[i:i + BATCH])
            loss.backward()
            opt.step()
            losses.append(float(loss))
        return losses
    return run, model


def setup(contender, X, y, params):
    if contender == "numbann":
        return setup_numbann(X, y, params)
    return setup_torch(X, y, params, compiled=contender == "torch_compile")


def layer_breakdown(net, m=BATCH, reps=10, rounds=9):
    """Microseconds per layer of one pass forward and backward over a batch of
    m, from prefixes of the plan (layers 1..l) run alone: each prefix the
    best of ``rounds`` means of ``reps`` calls (a mean alone let noise make
    differences negative)."""
    from numbann.kernels import codes
    from numbann.kernels.plan import passes
    plan_forward, plan_backward = passes(net.plan)[:2]  # the whole plan's kinds
    ws = net.workspace(m)
    ws.a(0, m)[...] = data(m)[0]
    grad, keep, b = np.zeros_like(net.theta), np.ones(net.L), ws.buffers()
    fwd_args = b[:4] + b[5:]

    def timed(fn):
        fn()
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            best = min(best, (time.perf_counter() - t) / reps * 1e6)
        return best
    fwd, bwd = [0.0], [0.0]
    for l in range(1, net.L + 1):
        plan = net.plan[:l]
        fwd.append(timed(lambda: plan_forward(plan, net.theta, net.running, net.alphas, *fwd_args,
                                              m, keep, np.uint64(0), codes.TRAIN)))
        bwd.append(timed(lambda: plan_backward(plan, net.theta, grad, net.alphas, *b, m, keep,
                                               np.uint64(0), codes.TRAIN)))
    return [dict(layer=l, kind=net.layers[l - 1].name, forward_us=fwd[l] - fwd[l - 1],
                 backward_us=bwd[l] - bwd[l - 1]) for l in range(1, net.L + 1)]


def child(contender, repeats, quick, path):
    n = 2048 if quick else N
    X, y = data(n)
    params = weights()
    try:
        warm, _ = setup(contender, X[:3 * BATCH], y[:3 * BATCH], params)
    except ImportError as e:
        return _write(path, dict(status="unavailable", reason=str(e)))
    t = time.perf_counter()
    warm()
    warmup_s = time.perf_counter() - t
    times, curve = [], None
    for _ in range(repeats):
        run, model = setup(contender, X, y, params)
        t = time.perf_counter()
        losses = run()
        times.append(time.perf_counter() - t)
        curve = losses
    out = dict(status="ok", times=times, samples=n, warmup_s=warmup_s, losses=list(map(float, curve)))
    if contender == "numbann" and os.environ.get("NUMBA_NUM_THREADS") == "1":
        out["breakdown"] = layer_breakdown(model)
    _write(path, out)


def _write(path, out):
    with open(path, "w") as f:
        json.dump(out, f)


def cold_fit():
    """Seconds from a fresh interpreter's import of numbann to the end of a first
    LeNet fit on 3 batches, with an empty numba cache."""
    X, y = data(3 * BATCH)
    t = time.perf_counter()
    run, _ = setup_numbann(X, y, weights())
    run()
    return time.perf_counter() - t


def spawn(args, threads, env_extra=None, script=__file__):
    """Run ``script --child args... out.json`` in a fresh process with ``threads``
    pinned; returns what it wrote (or the error)."""
    sys.path.insert(0, HERE)
    from run import env_for
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out.json")
        p = subprocess.run([sys.executable, script, "--child", *args, path],
                           env=env_for(threads, **(env_extra or {})), capture_output=True,
                           text=True, cwd=ROOT, timeout=3600)
        if not os.path.exists(path):
            return dict(status="error", reason=(p.stderr.strip().splitlines() or ["?"])[-1])
        with open(path) as f:
            return json.load(f)


def render(results, cold, meta):
    lines = [START, "## cnn: LeNet-5 on MNIST-shaped data", "",
             f"Generated by `{meta['command']}` on {meta['date']}; {meta['repeats']} timed "
             f"epoch(s) per measurement after a warm-up, each contender in a fresh process. "
             "Conv2D 6@5x5 ReLU, MaxPool 2, Conv2D 16@5x5 ReLU, MaxPool 2, Dense 120, 84, 10 "
             f"softmax; cross-entropy, Adam lr {LR:g}, float32, batch {BATCH}, one epoch of "
             f"{meta['samples']:,} synthetic 1x28x28 images, no shuffling; the same initial "
             "weights for every contender.", ""]
    for threads, res in results.items():
        lines += [f"### {threads} thread(s)", "",
                  "| contender | median s | min–max s | samples/s | numbann × | "
                  "loss max abs diff vs torch | warm-up s |", "|---|---|---|---|---|---|---|"]
        ref = res.get("numbann", {})
        torch_losses = res.get("torch", {}).get("losses")
        for name in CONTENDERS:
            r = res.get(name, {})
            if r.get("status") != "ok":
                lines.append(f"| {name} | {r.get('status', 'missing')}: {r.get('reason', '')} "
                             "|  |  |  |  |  |")
                continue
            t = statistics.median(r["times"])
            speed = (f"{t / statistics.median(ref['times']):.2f}"
                     if name != "numbann" and ref.get("status") == "ok" else "")
            diff = (f"{max(abs(a - b) for a, b in zip(r['losses'], torch_losses)):.1e}"
                    if torch_losses and name != "torch" else "")
            lines.append(f"| {name} | {t:.3g} | {min(r['times']):.3g}–{max(r['times']):.3g} | "
                         f"{r['samples'] / t:,.0f} | {speed} | {diff} | {r['warmup_s']:.2f} |")
        if ref.get("breakdown") and int(threads) == 1:
            lines += ["", f"numbann, time per layer of one pass over a batch of {BATCH} "
                      "(forward and backward, microseconds, best of nine means; with two "
                      "threads or more a training step splits the batch over them, one such "
                      "pass per part at once, so this single-thread table is the only one):",
                      "",
                      "| layer | kind | forward µs | backward µs |", "|---|---|---|---|"]
            lines += [f"| {b['layer']} | {b['kind']} | {b['forward_us']:.0f} | "
                      f"{b['backward_us']:.0f} |" for b in ref["breakdown"]]
        lines.append("")
    lines += [f"First `fit` of this network in a fresh process with an empty numba cache "
              f"(import, compile, 3 batches): **{cold:.1f} s** (median of "
              f"{meta['cold_runs']}).", ""]
    lines += ["| target | measured | required |  |", "|---|---|---|---|"]
    for threads, res in results.items():
        ok = all(res.get(c, {}).get("status") == "ok" for c in ("numbann", "torch"))
        if ok:
            ratio = statistics.median(res["torch"]["times"]) / statistics.median(res["numbann"]["times"])
            lines.append(f"| numbann / torch eager, {threads} thread(s) | {ratio:.2f} | ≥ {TARGET} | "
                         f"**{'met' if ratio >= TARGET else 'not met'}** |")
    lines += [f"| first fit, empty cache (s) | {cold:.1f} | < {COLD_TARGET} | "
              f"**{'met' if cold < COLD_TARGET else 'not met'}** |", "", END]
    return "\n".join(lines)


def write_section(path, section):
    text = open(path).read() if os.path.exists(path) else ""
    if START in text and END in text:
        text = text[:text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        contender, repeats, quick, path = sys.argv[2:6]
        if contender == "cold":
            return _write(path, dict(status="ok", seconds=cold_fit()))
        return child(contender, int(repeats), quick == "1", path)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--render", action="store_true",
                    help="only rewrite the section from the JSON beside --out (no measuring)")
    a = ap.parse_args()
    saved = os.path.splitext(a.out)[0] + "-cnn.json"
    if a.render:
        with open(saved) as f:
            d = json.load(f)
        return write_section(a.out, render(d["results"], statistics.median(d["cold_s"]), d["meta"]))
    repeats = a.repeats or (1 if a.quick else 5)
    results = {}
    for threads in a.threads:
        results[threads] = {}
        for c in a.contenders:
            print(f"cnn: {c}, {threads} thread(s)", file=sys.stderr, flush=True)
            results[threads][c] = spawn([c, str(repeats), "1" if a.quick else "0"], threads)
    cold_runs = 1 if a.quick else 3
    colds = []
    for _ in range(cold_runs):
        with tempfile.TemporaryDirectory() as cache:
            colds.append(spawn(["cold", "1", "0"], 1, dict(NUMBA_CACHE_DIR=cache))["seconds"])
    meta = dict(command="python benchmarks/cnn.py " + " ".join(sys.argv[1:]), repeats=repeats,
                date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), samples=2048 if a.quick else N,
                cold_runs=cold_runs)
    write_section(a.out, render(results, statistics.median(colds), meta))
    with open(saved, "w") as f:
        json.dump(dict(meta=meta, results=results, cold_s=colds), f)
    print(f"wrote the cnn section of {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
