"""Every lesson in trace/ runs at its small size (--quick); the numbers it
prints are checked against an independent NumPy computation written here,
and its figures must exist and not be blank.

The lessons run as subprocesses, two at a time, started once per session:
first those the selected tests need, in order, then any other a test asks for."""
import json
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "trace").glob("[0-9][0-9]_*.py"))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# --------------------------------------------------------------------- running

@pytest.fixture(scope="session")
def runs(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("lessons")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="Agg")

    def run(name):
        """``name`` runs with --quick; ``name:full`` at its default size."""
        script, _, size = name.partition(":")
        out = base / name.replace(":", "_")
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "trace" / f"{script}.py"),
                               *([] if size == "full" else ["--quick"]), "--out", str(out)],
                              capture_output=True, text=True, env=env, cwd=str(base), timeout=600)
        return proc, out, time.perf_counter() - started

    pool = ThreadPoolExecutor(max_workers=2)
    futures = LessonRuns(pool, run)
    selected = {item.name.split("[")[0][len("test_"):] for item in request.session.items}
    for name in LESSONS:
        if name.split("_", 1)[1] in selected or name in selected:
            futures[name]
    if "docs_numbers_are_the_lessons_output" in selected:
        for name in documented_lessons():
            futures[f"{name}:full"]
    yield futures
    pool.shutdown(wait=True)


class LessonRuns(dict):
    """Lesson name -> future of its run, started on first use."""

    def __init__(self, pool, run):
        super().__init__()
        self.pool, self.run = pool, run

    def __missing__(self, name):
        self[name] = self.pool.submit(self.run, name)
        return self[name]


def lesson(runs, name):
    proc, out, seconds = runs[name].result()
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    figures = re.findall(r"^\[figure\] (.+)$", proc.stdout, re.M)
    assert figures, f"{name} wrote no figure"
    for path in figures:
        assert Path(path).parent == out, f"{name} wrote {path} outside its output folder"
        assert not_blank(path), f"{name}: {path} is blank"
    assert sorted(map(str, out.glob("*.png"))) == sorted(figures)
    return proc.stdout, out


def not_blank(path):
    import matplotlib.image
    img = matplotlib.image.imread(path)
    return img.ndim == 3 and min(img.shape[:2]) > 100 and float(img[..., :3].std()) > 0.01


def value(text, key):
    m = re.search(r"^" + re.escape(key) + r" = ([-+]?(?:\d[\d.]*(?:e[-+]?\d+)?|inf|nan))(?:\s|$)",
                  text, re.M)
    assert m, f"no line '{key} = ...'"
    return float(m.group(1))


def matrix(text, name):
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(re.escape(name) + r" \((\d+) x (\d+)\):", line)
        if m:
            rows = int(m.group(1))
            return np.array([[float(v) for v in lines[i + 1 + k].split()] for k in range(rows)])
    raise AssertionError(f"no matrix '{name}'")


def close(printed, expected, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(printed, expected, rtol=rtol, atol=atol)


def load_net(path):
    """W[l], b[l] and activations from a file written by Network.save (own parser)."""
    with np.load(path) as f:
        theta, config = f["theta"], json.loads(str(f["config"]))
    sizes = [config["n_inputs"]] + [ly["units"] for ly in config["layers"]]
    W, b, k = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W.append(theta[k:k + n_out * n_in].reshape(n_out, n_in))
        k += n_out * n_in
        b.append(theta[k:k + n_out])
        k += n_out
    return W, b, [ly["activation"] for ly in config["layers"]]


ACT = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "sigmoid": sigmoid,
       "identity": lambda z: z}


def forward(W, b, acts, X):
    a = X
    for Wl, bl, g in zip(W, b, acts):
        a = ACT[g](a @ Wl.T + bl)
    return a


DOCS_PAGE = ROOT / "docs" / "lessons.md"
# a number of docs/lessons.md written by trace/run_all.py --docs: <!--v LESSON: KEY | SPEC -->text<!--/v-->
DOC_NUMBER = re.compile(r"<!--v (\w+): (.+?) \| (\S+) -->(.*?)<!--/v-->", re.S)


def documented_lessons():
    return sorted({m[0] for m in DOC_NUMBER.findall(DOCS_PAGE.read_text())})


def test_docs_numbers_are_the_lessons_output(runs):
    """Every generated number on the lessons page is what the lesson prints
    now at its default size, formatted as the marker says."""
    numbers = DOC_NUMBER.findall(DOCS_PAGE.read_text())
    assert len(numbers) >= 60 and set(documented_lessons()) <= set(LESSONS)
    for name in documented_lessons():
        proc, _, _ = runs[f"{name}:full"].result()
        assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-3000:]}"
        for lesson_name, key, spec, text in numbers:
            if lesson_name == name:
                assert text == format(value(proc.stdout, key), spec), (name, key, text)


def test_house_style():
    """numbann.trace.style: 4 significant digits, shares as percentages, one colour per
    name, and a linear classifier's half-planes shaded in its class colours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgb

    from numbann.trace import plots, style
    assert [style.sig(v) for v in (2.15, 1.3456e-5, 4.0, 0.07498942)] == \
        ["2.15", "1.346e-05", "4", "0.07499"]
    assert [style.pct(v) for v in (0.09375, 1.0, 0.0633333)] == ["9.375%", "100%", "6.333%"]
    names = ["SGD", "Momentum", "Adam"]
    assert style.palette(names) == style.palette(list(names))
    assert len(set(style.palette(names).values())) == len(names)
    fig, ax = plots.figure(3, 3)
    w, b = np.array([1.0, -1.0]), 0.2                 # class 1 where x_1 - x_2 + 0.2 > 0
    style.shade_halfplanes(ax, w, b, (0, 1), (0, 1))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3] / 255
    for point in ((0.9, 0.1), (0.1, 0.9)):
        col, row = ax.transData.transform(point)
        shade = style.CLASS_SHADES[int(w @ point + b > 0)]
        np.testing.assert_allclose(pixels[pixels.shape[0] - int(row), int(col)], to_rgb(shade),
                                   atol=0.02)
    assert [t.get_text() for t in ax.legend().get_texts()] == ["predicts 0", "predicts 1",
                                                               "w . x + b = 0"]


def test_every_lesson_is_tested():
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    for lesson_name in LESSONS:
        assert lesson_name.split("_", 1)[1] in tested or lesson_name in tested, lesson_name


# --------------------------------------------------------------------- 1

def test_chain_rule(runs):
    out, _ = lesson(runs, "01_chain_rule")
    w, b, x, y, alpha = (value(out, k) for k in ("w", "b", "x", "y", "alpha"))
    z = w * x + b
    a = sigmoid(z)
    close(value(out, "z"), z)
    close(value(out, "a"), a)
    close(value(out, "J"), 0.5 * (a - y) ** 2)
    close(value(out, "dJ/da"), a - y)
    close(value(out, "da/dz"), a * (1 - a))
    dw = (a - y) * a * (1 - a) * x
    for key in ("dJ/dw", "recorded dW"):
        close(value(out, key), dw)
    for key in ("dJ/db", "recorded db"):
        close(value(out, key), (a - y) * a * (1 - a))
    close(value(out, "w_new"), w - alpha * dw)
    close(value(out, "b_new"), b - alpha * (a - y) * a * (1 - a))
    for _ in range(10):                       # --quick: 10 gradient steps on (w, b)
        a = sigmoid(w * x + b)
        g = (a - y) * a * (1 - a)
        w, b = w - alpha * g * x, b - alpha * g
    close(value(out, "w_final"), w)
    shown = len(re.findall(r"^  step \d+: w = ", out, re.M))
    assert f"({10 - shown} steps in between not shown)" in out      # a truncated list says so
    close(value(out, "J_final"), 0.5 * (sigmoid(w * x + b) - y) ** 2)


# --------------------------------------------------------------------- 2

def test_vectorized_backprop(runs):
    out, _ = lesson(runs, "02_vectorized_backprop")
    X, Y = matrix(out, "X"), matrix(out, "Y")            # course layout: columns are samples
    W1, b1, W2, b2 = (matrix(out, k) for k in ("W1", "b1", "W2", "b2"))
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = np.tanh(Z1)
    Z2 = W2 @ A1 + b2
    A2 = sigmoid(Z2)
    dZ2 = A2 - Y
    dW2, db2 = dZ2 @ A1.T / m, dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * (1 - A1 ** 2)
    dW1, db1 = dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m
    for name, M in (("Z1", Z1), ("A1", A1), ("Z2", Z2), ("A2", A2), ("dZ2", dZ2), ("dW2", dW2),
                    ("db2", db2), ("dZ1", dZ1), ("dW1", dW1), ("db1", db1)):
        close(matrix(out, name), M, rtol=1e-9, atol=1e-11)
    close(value(out, "J"), -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)))
    for _ in range(30):                       # --quick: 30 full-batch steps, lr 1
        A1 = np.tanh(W1 @ X + b1)
        A2 = sigmoid(W2 @ A1 + b2)
        dZ2 = A2 - Y
        dZ1 = (W2.T @ dZ2) * (1 - A1 ** 2)
        W2, b2 = W2 - dZ2 @ A1.T / m, b2 - dZ2.sum(axis=1, keepdims=True) / m
        W1, b1 = W1 - dZ1 @ X.T / m, b1 - dZ1.sum(axis=1, keepdims=True) / m
    A2 = sigmoid(W2 @ np.tanh(W1 @ X + b1) + b2)
    close(value(out, "J_after_training"), -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)),
          rtol=1e-8)
    assert "z[1] = a[0] @ W[1].T + b[1]" in out


# --------------------------------------------------------------------- 3

def test_zero_init(runs):
    out, _ = lesson(runs, "03_zero_init")
    X, Y = matrix(out, "X"), matrix(out, "Y")[0]
    lr, steps = value(out, "learning_rate"), int(value(out, "steps"))
    m = len(X)
    for name in ("zeros", "random"):
        W1, b1, W2, b2 = (matrix(out, f"{name}: initial {k}") for k in ("W1", "b1", "W2", "b2"))
        b1, b2 = b1[0], b2[0]
        sym = []
        for _ in range(steps):
            a1 = sigmoid(X @ W1.T + b1)
            a2 = sigmoid(a1 @ W2.T + b2)[:, 0]
            d2 = ((a2 - Y) / m)[:, None]
            d1 = (d2 @ W2) * a1 * (1 - a1)
            W2, b2 = W2 - lr * d2.T @ a1, b2 - lr * d2.sum(axis=0)
            W1, b1 = W1 - lr * d1.T @ X, b1 - lr * d1.sum(axis=0)
            rows = np.hstack([W1, b1[:, None]])
            sym.append(np.linalg.norm(rows[0] - rows[1]))
            if len(sym) == 101:
                close(matrix(out, f"{name}: W1 after step 100"), W1, rtol=1e-8, atol=1e-11)
        # the run crosses a plateau where rounding differences of 1e-16 grow to ~1e-4
        # by the last step (a perturbation of the NumPy run by 1e-15 moves it as much)
        close(matrix(out, f"{name}: final W1"), W1, rtol=1e-2, atol=1e-9)
        close(value(out, f"{name}: symmetry at last step"), sym[-1], rtol=1e-2, atol=1e-12)
        close(value(out, f"{name}: symmetry at step 0"), sym[0], rtol=1e-8, atol=1e-12)
        a2 = sigmoid(sigmoid(X @ W1.T + b1) @ W2.T + b2)[:, 0]
        close(value(out, f"{name}: final loss"),
              -np.mean(Y * np.log(a2) + (1 - Y) * np.log(1 - a2)), rtol=1e-2)
        close(value(out, f"{name}: accuracy (%)"), 100 * np.mean((a2 > 0.5) == Y))
    assert value(out, "zeros: max symmetry over all steps") == 0.0
    assert value(out, "zeros: delta symmetry at last step") == 0.0
    assert value(out, "random: symmetry at last step") > 1


# --------------------------------------------------------------------- 4

def test_perceptron(runs):
    out, _ = lesson(runs, "04_perceptron")
    X3 = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=float)
    s = X3 @ np.array([6, 2, 2])
    assert value(out, "threshold 5: cases to go") == np.sum(s > 5) == 4
    assert value(out, "threshold 3: cases to go") == np.sum(s > 3) == 5
    assert "days" not in out
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    for gate, y in (("AND", [0, 0, 0, 1]), ("OR", [0, 1, 1, 1]), ("XOR", [0, 1, 1, 0])):
        w, b, epochs, converged, updates, wrong_epochs = np.zeros(2), 0.0, 0, False, 0, 0
        while epochs < 20 and not converged:   # --quick: at most 20 epochs
            epochs += 1
            mistakes = 0
            for xi, yi in zip(X, y):
                err = yi - (1.0 if w @ xi + b > 0 else 0.0)
                if err:
                    mistakes += 1
                    w, b = w + err * xi, b + err
            converged = mistakes == 0
            updates += mistakes
            wrong_epochs += mistakes > 0
        assert value(out, f"{gate}: updates") == updates
        assert value(out, f"{gate}: epochs with mistakes") == wrong_epochs
        block = out.split(f"\n{gate}: targets")[1].split(f"{gate}: updates")[0]
        listed = len(re.findall(r"^  epoch \d+, x = ", block, re.M))
        if updates > listed:      # a truncated list says how many it left out
            assert f"... {updates - listed} more updates not listed ({updates} in all)" in block
        assert value(out, f"{gate}: epochs") == epochs
        assert value(out, f"{gate}: converged") == float(converged)
        assert (value(out, f"{gate}: w1"), value(out, f"{gate}: w2"), value(out, f"{gate}: b")) \
            == (w[0], w[1], b)
    assert value(out, "XOR: converged") == 0.0


# --------------------------------------------------------------------- 5

def test_xor(runs):
    out, _ = lesson(runs, "05_xor")
    W1, b1, W2, b2 = (matrix(out, k) for k in ("W1", "b1", "W2", "b2"))
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    a2 = sigmoid(np.tanh(X @ W1.T + b1[0]) @ W2.T + b2[0])[:, 0]
    for x, v in zip(X.astype(int), a2):
        close(value(out, f"a2 for x = ({x[0]}, {x[1]})"), v, rtol=1e-8)
    assert ((a2 > 0.5) == np.array([0, 1, 1, 0], bool)).all()
    assert value(out, "accuracy (%)") == 100
    # where the output is high: a grid point lies between the hidden units' lines when,
    # walking from it along the first line's normal, it meets one line ahead and one behind
    g = np.linspace(-0.5, 1.5, 201)
    P = np.array([(u, v) for v in g for u in g])
    n = W1[0]
    t = [-(P @ W1[j] + b1[0, j]) / (W1[j] @ n) for j in range(2)]
    between = t[0] * t[1] < 0
    high = sigmoid(np.tanh(P @ W1.T + b1[0]) @ W2.T + b2[0])[:, 0] > 0.5
    inner, outer = 100 * high[between].mean(), 100 * high[~between].mean()
    close(value(out, "points between the lines with a2 > 0.5 (%)"), inner)
    close(value(out, "points outside the lines with a2 > 0.5 (%)"), outer)
    word = ("high", "low") if inner > outer else ("low", "high")
    corners = [f"({x[0]}, {x[1]})" for x in X.astype(int)
               if (-(x @ W1[0] + b1[0, 0]) / (W1[0] @ n)) * (-(x @ W1[1] + b1[0, 1]) / (W1[1] @ n)) < 0]
    assert (f"The output unit is {word[0]} between the two lines ({inner:.4g}% of those points "
            f"have a2 > 0.5), where {' and '.join(corners)} lie, and {word[1]} outside them "
            f"({outer:.4g}%).") in out
    # the replay in the course's column-vector notation
    assert "z[1] = W[1] a[0] + b[1]" in out and "dz[1] = W[2]^T dz[2] * g'(z[1])" in out
    assert "@" not in out.split("replayed for sample")[1]


# --------------------------------------------------------------------- 6

def test_vanishing_gradients(runs):
    from numbann.trace import load_trace      # reads the recorded inputs; the math is below
    out, folder = lesson(runs, "06_vanishing_gradients")
    files = {"sigmoid, N(0, 0.1^2)": "step_sigmoid_normal_0.1.npz", "relu, He": "step_relu_he.npz",
             "relu, N(0, 1)": "step_relu_normal_1.0.npz"}
    norms = {}
    for name, file in files.items():
        r = load_trace(folder / file)[0]
        L = len(r.dW)
        W = [r.W_before[l] for l in range(1, L + 1)]
        b = [r.b_before[l] for l in range(1, L + 1)]
        hidden = "sigmoid" if "sigmoid" in name else "relu"
        a, zs = [r.x], []
        for l in range(L):
            zs.append(a[-1] @ W[l].T + b[l])
            a.append(sigmoid(zs[-1]) if l == L - 1 or hidden == "sigmoid" else np.maximum(zs[-1], 0))
        m = len(r.x)
        delta = (a[-1] - r.y) / m                     # BCE with a sigmoid output, mean
        g = [0.0] * L
        for l in range(L - 1, -1, -1):
            g[l] = np.linalg.norm(delta.T @ a[l])
            if l:
                slope = a[l] * (1 - a[l]) if hidden == "sigmoid" else (zs[l - 1] > 0)
                delta = (delta @ W[l]) * slope
        for l in range(L):
            close(value(out, f"{name}: ||dW[{l + 1}]||"), g[l], rtol=1e-8, atol=0)
        close(value(out, f"{name}: ratio ||dW[1]|| / ||dW[{L}]||"), g[0] / g[-1], rtol=1e-8)
        norms[name] = g
        if hidden == "relu":
            for l in range(L - 1):
                close(value(out, f"{name}: dead ReLUs in layer {l + 1} (%)"),
                      100 * np.mean(np.all(zs[l] <= 0, axis=0)), rtol=1e-12)
    assert norms["sigmoid, N(0, 0.1^2)"][0] / norms["sigmoid, N(0, 0.1^2)"][-1] < 1e-6
    assert min(norms["relu, N(0, 1)"]) > 1e4 * max(norms["relu, He"])
    close(value(out, "relu, He: largest / smallest ||dW[l]||"),
          max(norms["relu, He"]) / min(norms["relu, He"]), rtol=1e-8)
    close(value(out, "relu, N(0, 1): median ||dW[l]||"), np.median(norms["relu, N(0, 1)"]), rtol=1e-8)
    # the trained sigmoid network: every layer's spread across samples, and its constant output
    W, b, acts = load_net(folder / "trained_sigmoid.npz")
    X, y = load_trace(folder / files["sigmoid, N(0, 0.1^2)"])[0].x, \
        load_trace(folder / files["sigmoid, N(0, 0.1^2)"])[0].y[:, 0]
    a, spread = X, [X.std(axis=0).mean()]
    for Wl, bl in zip(W, b):
        a = sigmoid(a @ Wl.T + bl)
        spread.append(a.std(axis=0).mean())
    for l, v in enumerate(spread):
        close(value(out, f"trained sigmoid: spread of a[{l}] across samples"), v, rtol=1e-6,
              atol=1e-15)
    p = y.mean()
    close(value(out, "loss of the best constant output a = p"),
          -(p * np.log(p) + (1 - p) * np.log(1 - p)))
    loss = -np.mean(y * np.log(a[:, 0]) + (1 - y) * np.log(1 - a[:, 0]))
    close(value(out, "trained sigmoid: loss"), loss, rtol=1e-9)
    assert abs(loss + p * np.log(p) + (1 - p) * np.log(1 - p)) < 0.01
    assert f"its loss {loss:.4g} is that of the best constant output" in out


# --------------------------------------------------------------------- 7

def test_optimizers(runs):
    out, _ = lesson(runs, "07_optimizers")
    C, K, start, steps = np.array([2.0, 1.0]), np.array([1.0, 25.0]), np.array([-6.0, 2.2]), 60

    def momentum(lr, beta, form):
        def up(th, g, st, t):
            v = st.get("v", np.zeros(2))
            if form == "torch":
                v = beta * v + g if t > 1 else g
                th = th - lr * v
            elif form == "average":
                v = beta * v + (1 - beta) * g
                th = th - lr * v
            else:
                v = beta * v + lr * g
                th = th - v
            st["v"] = v
            return th
        return up

    def adam(lr, wd=0.0, decoupled=False, b1=0.9, b2=0.999, eps=1e-8):
        def up(th, g, st, t):
            if decoupled:
                th = th * (1 - lr * wd)
            m = b1 * st.get("m", 0) + (1 - b1) * g
            v = b2 * st.get("v", 0) + (1 - b2) * g * g
            st["m"], st["v"] = m, v
            return th - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        return up

    def adagrad(lr, eps=1e-10):
        def up(th, g, st, t):
            st["G"] = st.get("G", 0) + g * g
            return th - lr * g / (np.sqrt(st["G"]) + eps)
        return up

    def rmsprop(lr, rho, eps=1e-8):
        def up(th, g, st, t):
            st["E"] = rho * st.get("E", 0) + (1 - rho) * g * g
            return th - lr * g / (np.sqrt(st["E"]) + eps)
        return up

    def path_of(update):
        th, state, path = start.copy(), {}, [start.copy()]
        for t in range(1, steps + 1):
            th = update(th, K * (th - C), state, t)
            path.append(th)
        return np.array(path)

    def settles(update):
        """(steps until J stays below 0.01 or inf, final J): the lesson's tuning criterion."""
        with np.errstate(over="ignore", invalid="ignore"):
            Jp = 0.5 * ((path_of(update) - C) ** 2 * K).sum(axis=1)
        above = [s for s, j in enumerate(Jp) if not j < 0.01]
        first = above[-1] + 1 if above else 0
        return (first if first <= steps else np.inf, Jp[-1] if np.isfinite(Jp[-1]) else np.inf)

    lrs = [10 ** (e / 8) for e in range(-24, 9)]          # 0.001 ... 10, 8 per decade
    makers = {"SGD": lambda lr, beta: (lambda th, g, st, t: th - lr * g),
              "Momentum": lambda lr, beta: momentum(lr, beta, "torch"),
              "AdaGrad": lambda lr, beta: adagrad(lr),
              "RMSProp": lambda lr, beta: rmsprop(lr, 0.9),
              "Adam": lambda lr, beta: adam(lr)}
    tuned, settled = {}, {}
    for name, make in makers.items():
        grid = [(lr, beta) for lr in lrs for beta in ((0.3, 0.5, 0.7, 0.9) if name == "Momentum"
                                                      else (None,))]
        scores = [settles(make(lr, beta)) for lr, beta in grid]
        best = min(range(len(grid)), key=lambda i: scores[i])
        tuned[name], settled[name] = grid[best], scores[best][0]
        close(value(out, f"{name}: tuned learning rate"), tuned[name][0], rtol=1e-9)
        assert value(out, f"{name}: steps until J stays below 0.01") == settled[name]
    assert value(out, "Momentum: tuned beta") == tuned["Momentum"][1]
    assert settled["Momentum"] < settled["SGD"]            # what the ravine teaches, tuned
    (m_lr, beta), a_lr = tuned["Momentum"], tuned["Adam"][0]
    expected = {
        "SGD": path_of(makers["SGD"](tuned["SGD"][0], None)),
        "Momentum": path_of(momentum(m_lr, beta, "torch")),
        "Momentum (average form)": path_of(momentum(m_lr, beta, "average")),
        "Momentum (classic form)": path_of(momentum(m_lr, beta, "classic")),
        "AdaGrad": path_of(adagrad(tuned["AdaGrad"][0])),
        "RMSProp": path_of(rmsprop(tuned["RMSProp"][0], 0.9)),
        "Adam": path_of(adam(a_lr)),
        "AdamW": path_of(adam(a_lr, wd=0.1, decoupled=True)),
    }
    for name, path in expected.items():
        close(value(out, f"{name}: theta_1"), path[-1, 0], rtol=1e-9, atol=1e-12)
        close(value(out, f"{name}: theta_2"), path[-1, 1], rtol=1e-9, atol=1e-12)
    for name in ("SGD", "Momentum"):
        close(value(out, f"{name}: theta_1 moved in 10 steps"), expected[name][10, 0] - start[0])
    ranked = sorted(settled, key=lambda k: settled[k])
    assert f"Fastest here: {ranked[0]}." in out
    close(value(out, "Newton: theta_1 after one step"), 2.0, atol=1e-6)
    close(value(out, "Newton: theta_2 after one step"), 1.0, atol=1e-6)
    close(matrix(out, "Newton: Hessian"), np.diag(K), rtol=1e-6, atol=1e-6)
    sgd = expected["SGD"][:, 1] - 1
    assert value(out, "SGD: sign changes of theta_2 - 1") == np.sum(sgd[1:] * sgd[:-1] < 0)


# --------------------------------------------------------------------- 8

def test_learning_rate(runs):
    out, folder = lesson(runs, "08_learning_rate")
    with np.load(folder / "data.npz") as f:
        X, Y = f["X"], f["Y"]
    m = len(X)
    A = np.hstack([X, np.ones((m, 1))])
    lam = np.linalg.eigvalsh(2 / m * A.T @ A).max()
    close(value(out, "lambda_max"), lam)
    for label, c in (("too small", 0.02), ("right", 1.0), ("too large", 2.15)):
        lr = c / lam
        close(value(out, f"{label}: eta"), lr)
        theta, J = np.zeros(3), []
        for _ in range(40):                   # --quick: 40 steps, zero init
            r = A @ theta - Y[:, 0]
            J.append(np.mean(r ** 2))
            theta = theta - lr * 2 / m * A.T @ r
        for s in (0, 10, 39):
            close(value(out, f"{label}: J at step {s}"), J[s], rtol=1e-8)
    for name, f in (("step", lambda t: 0.1 * 0.5 ** (t // 10)),
                    ("exp_decay", lambda t: 0.1 * math.exp(-0.05 * t)),
                    ("cosine", lambda t: 0.5 * 0.1 * (1 + math.cos(math.pi * t / 50)))):
        for t in (0, 10, 25, 49):
            close(value(out, f"  {name} lr at t = {t}"), f(t), rtol=1e-11)
    # mini-batch SGD (batches of 4 in order) under each schedule: J after the last epoch
    J_star = np.mean((A @ np.linalg.solve(A.T @ A, A.T @ Y[:, 0]) - Y[:, 0]) ** 2)
    close(value(out, "least-squares optimum J*"), J_star, rtol=1e-9)
    final = {}
    for label, f in (("constant rate", lambda t: 0.1),
                     ("step decay 0.1 * 0.5^floor(t/10)", lambda t: 0.1 * 0.5 ** (t // 10)),
                     ("exponential 0.1 * exp(-0.05 t)", lambda t: 0.1 * math.exp(-0.05 * t)),
                     ("cosine annealing, T_max = 50",
                      lambda t: 0.05 * (1 + math.cos(math.pi * t / 50)))):
        theta = np.zeros(3)
        for t in range(50):
            for i in range(0, m, 4):
                r = A[i:i + 4] @ theta - Y[i:i + 4, 0]
                theta = theta - f(t) * 2 / 4 * A[i:i + 4].T @ r
        final[label] = np.mean((A @ theta - Y[:, 0]) ** 2)
        close(value(out, f"{label}: J after the last epoch"), final[label], rtol=1e-9)
    assert max(v for k, v in final.items() if k != "constant rate") < final["constant rate"]
    best = min(final, key=final.get)
    assert f"(lowest: {best}, {final[best] - J_star:.4g})" in out


# --------------------------------------------------------------------- 9

def test_activations(runs):
    out, _ = lesson(runs, "09_activations")
    forms = {
        "step": (lambda z: float(z > 0), lambda z: 0.0),
        "identity": (lambda z: z, lambda z: 1.0),
        "sigmoid": (lambda z: 1 / (1 + math.exp(-z)),
                    lambda z: math.exp(-z) / (1 + math.exp(-z)) ** 2),
        "tanh": (math.tanh, lambda z: 1 / math.cosh(z) ** 2),
        "relu": (lambda z: max(z, 0.0), lambda z: float(z > 0)),
        "leaky_relu": (lambda z: z if z > 0 else 0.01 * z, lambda z: 1.0 if z > 0 else 0.01),
        "elu": (lambda z: z if z > 0 else math.exp(z) - 1, lambda z: 1.0 if z > 0 else math.exp(z)),
    }
    for name, (g, dg) in forms.items():
        for z in (-2.0, -0.5, 0.0, 0.5, 2.0):
            m = re.search(rf"^{name} g\({z:g}\) = (\S+)\s+{name} g'\({z:g}\) = (\S+)", out, re.M)
            assert m, (name, z)
            close(float(m.group(1)), g(z), rtol=1e-10)
            close(float(m.group(2)), dg(z), rtol=1e-10)
    for z in (0.0, 2.0, 5.0, 10.0):
        close(value(out, f"sigmoid'({z:g})"), math.exp(-z) / (1 + math.exp(-z)) ** 2, rtol=1e-10)
    e = np.exp([1.0, 2.0, 3.0])
    for i in range(3):
        close(value(out, f"softmax([1, 2, 3])_{i}"), e[i] / e.sum(), rtol=1e-10)


# --------------------------------------------------------------------- 10

def test_universal_approximation(runs):
    out, folder = lesson(runs, "10_universal_approximation")
    with np.load(folder / "data.npz") as f:
        x, y = f["x"], f["y"]
    np.testing.assert_array_equal(y, np.sin(2 * np.pi * x) + x)
    errors = {}
    for path in sorted(folder.glob("width_*.npz")):
        H = int(path.stem.split("_")[1])
        W, b, acts = load_net(path)
        assert acts == ["tanh", "identity"] and W[0].shape == (H, 1)
        errors[H] = np.mean((forward(W, b, acts, x) - y) ** 2)
        close(value(out, f"H = {H}: mean squared error"), errors[H], rtol=1e-8)
    assert sorted(errors) == [1, 2, 4, 8, 16]
    assert errors[16] < 0.05 * errors[1]
    close(value(out, "error ratio H = 1 / H = 16"), errors[1] / errors[16], rtol=1e-8)
    W, b, _ = load_net(folder / "width_16.npz")
    centres = -b[0] / W[0][:, 0]
    assert value(out, "units whose step is centred inside [-1, 1]") == np.sum(np.abs(centres) <= 1)
    listed = re.findall(r"^  unit +(\d+): .* centre x = (\S+)", out, re.M)
    assert sorted(int(j) for j, _ in listed) == list(range(16))      # every unit, none left out
    close([float(c) for _, c in listed], np.sort(centres), rtol=1e-3)


# --------------------------------------------------------------------- 11

def test_taylor(runs):
    out, folder = lesson(runs, "11_taylor")
    W, b, acts = load_net(folder / "net.npz")
    with np.load(folder / "data.npz") as f:
        X, Y = f["X"], f["Y"]

    def C(W, b):
        return np.mean((forward(W, b, acts, X) - Y) ** 2)

    a1 = np.tanh(X @ W[0].T + b[0])
    a2 = a1 @ W[1].T + b[1]
    d2 = 2 * (a2 - Y) / Y.size
    d1 = (d2 @ W[1]) * (1 - a1 ** 2)
    grads = [d1.T @ X, d1.sum(0), d2.T @ a1, d2.sum(0)]
    g = np.concatenate([v.ravel() for v in grads])
    C0 = C(W, b)
    close(value(out, "C(w)"), C0)
    close(value(out, "||grad C||"), np.linalg.norm(g))
    lines = re.findall(r"^descent eta=(\S+): Delta C = (\S+)\s+predicted (\S+)", out, re.M)
    assert len(lines) == 7
    for eta, dC, pred in lines:
        eta = float(eta)
        Wn = [W[0] - eta * grads[0], W[1] - eta * grads[2]]
        bn = [b[0] - eta * grads[1], b[1] - eta * grads[3]]
        close(float(dC), C(Wn, bn) - C0, rtol=1e-7, atol=1e-13)
        close(float(pred), -eta * g @ g, rtol=1e-9)
    changes = [(float(eta), C([W[0] - float(eta) * grads[0], W[1] - float(eta) * grads[2]],
                              [b[0] - float(eta) * grads[1], b[1] - float(eta) * grads[3]]) - C0)
               for eta, _, _ in lines]
    close(value(out, "descent: largest eta that lowers C"), max(e for e, d in changes if d < 0))
    for eta, dC in changes:
        if dC >= 0:         # the lesson must say why the cost rose there, with the numbers
            close(value(out, f"descent eta={eta:.6g}: second-order part Delta C - grad C . Delta w"),
                  dC + eta * g @ g, rtol=1e-7)
            assert f"At eta = {eta:.4g} the cost rises (Delta C = {dC:+.4g})" in out
    close(value(out, "descent: ratio at the smallest step"), 1.0, atol=2e-3)
    close(value(out, "random: ratio at the smallest step"), 1.0, atol=1e-2)
    assert 1.9 < value(out, "slope of log|Delta C - grad C . Delta w| against log||Delta w||") < 2.1


# --------------------------------------------------------------------- 12

def test_autoencoder(runs):
    out, folder = lesson(runs, "12_autoencoder")
    W, b, acts = load_net(folder / "autoencoder.npz")
    assert [w.shape[0] for w in W] == [32, 8, 32, 64]
    with np.load(folder / "data.npz") as f:
        train, test, anom = f["train"], f["test"], f["anomalies"]

    def scores(x):
        return np.mean((forward(W, b, acts, x) - x) ** 2, axis=1)

    s_train, s_test, s_anom = scores(train), scores(test), scores(anom)
    threshold = np.quantile(s_train, 0.95)
    close(value(out, "mean score, test digits"), s_test.mean())
    close(value(out, "mean score, anomalies"), s_anom.mean())
    close(value(out, "mean score, anomalies / test digits"), s_anom.mean() / s_test.mean())
    close(value(out, "threshold (95th percentile of training scores)"), threshold)
    close(value(out, "anomalies flagged (%)"), 100 * np.mean(s_anom > threshold))
    close(value(out, "test digits flagged (%)"), 100 * np.mean(s_test > threshold))
    z_code = np.maximum(test @ W[0].T + b[0], 0) @ W[1].T + b[1]
    dead = np.flatnonzero(np.all(z_code <= 0, axis=0))
    assert value(out, "code units dead on every test image") == len(dead)
    if len(dead):
        assert f"{len(dead)} of the 8 code units (units {dead.tolist()}) are dead" in out
    close(value(out, "validation loss, last epoch"), s_test.mean())
    for i in range(3):
        close(value(out, f"score of test image {i}"), s_test[i])
        close(value(out, f"score of anomaly {i}"), s_anom[i])
    assert s_anom.mean() > 2 * s_test.mean()


# --------------------------------------------------------------------- 13

def xcorr_loops(img, K):
    """Valid cross-correlation of one grey image, written as four loops."""
    k = K.shape[0]
    Ho, Wo = img.shape[0] - k + 1, img.shape[1] - k + 1
    out = np.zeros((Ho, Wo))
    for p in range(Ho):
        for q in range(Wo):
            for u in range(k):
                for v in range(k):
                    out[p, q] += K[u, v] * img[p + u, q + v]
    return out


def split_theta(path, shapes):
    """The parameters of a saved network, cut by hand in the order of its layers."""
    with np.load(path) as f:
        theta = f["theta"]
    params, k = [], 0
    for s in shapes:
        params.append(theta[k:k + math.prod(s)].reshape(s))
        k += math.prod(s)
    assert k == theta.size
    return params


def test_convolution(runs):
    out, folder = lesson(runs, "13_convolution")
    image, stroke, K = matrix(out, "image 0"), matrix(out, "image 1"), matrix(out, "filter")
    np.testing.assert_array_equal(K, [[1, 0, -1]] * 3)
    with np.load(folder / "data.npz") as f:
        X, Y = f["X"], f["Y"]
    np.testing.assert_array_equal(X[:, 0], np.stack([image, stroke]))
    m, Ho, Wo = len(X), 6, 6
    assert (value(out, "output height Ho"), value(out, "output width Wo"), value(out, "m")) \
        == (Ho, Wo, m)
    z = np.stack([xcorr_loops(img, K) for img in (image, stroke)])

    # the filter sliding: patch, products, sum at each position shown
    shown = [tuple(map(int, s)) for s in re.findall(r"^patch at \((\d+), (\d+)\) \(3 x 3\):",
                                                    out, re.M)]
    assert len(shown) >= 3 and shown[:3] == [(0, 0), (0, 1), (0, 2)]
    for p, q in shown:
        patch = image[p:p + 3, q:q + 3]
        np.testing.assert_array_equal(matrix(out, f"patch at ({p}, {q})"), patch)
        np.testing.assert_array_equal(matrix(out, f"products at ({p}, {q})"), K * patch)
        assert value(out, f"z[1][0,0,{p},{q}]") == (K * patch).sum() == z[0, p, q]
    np.testing.assert_array_equal(matrix(out, "edge map z[1][0,0]"), z[0])

    # where the map is zero, and why
    flat = np.array([[np.ptp(image[p:p + 3, q:q + 3]) == 0 for q in range(Wo)] for p in range(Ho)])
    vertical = np.array([[any(image[p + u, q + v] != image[p + u, q + v + 1]
                              for u in range(3) for v in range(2))
                          for q in range(Wo)] for p in range(Ho)])
    zero = z[0] == 0
    assert value(out, "positions") == Ho * Wo
    assert value(out, "positions where z = 0") == zero.sum() == 12
    assert value(out, "of which the window is flat (one brightness)") == (zero & flat).sum()
    bright = np.array([[image[p:p + 3, q:q + 3].min() == image.max() for q in range(Wo)]
                       for p in range(Ho)])
    assert value(out, "of which the window is all bright") == (zero & bright).sum() > 0
    assert value(out, "of which the window crosses only a horizontal edge") == (zero & ~flat).sum()
    assert value(out, "positions whose window holds a vertical edge") == vertical.sum()
    np.testing.assert_array_equal(zero, ~vertical)
    assert value(out, "largest |z|") == np.abs(z[0]).max() == 3 * (image.max() - image.min())
    assert "Check: recomputing each line" in out            # tr.replay agreed with the record

    # weight sharing: dW[1][0,0,0,0] = sum over m, p, q of delta[1] * a[0]
    W1, b1, Wd, bd = split_theta(folder / "conv_head.npz", [(1, 1, 3, 3), (1,), (1, Ho * Wo), (1,)])
    np.testing.assert_array_equal(W1[0, 0], K)
    assert b1[0] == 0
    yhat = z.reshape(m, -1) @ Wd.T + bd
    close(value(out, "J"), np.mean((yhat - Y) ** 2))
    delta1 = ((2 * (yhat - Y) / (m * 1)) @ Wd).reshape(m, Ho, Wo)   # MSE, mean over m x 1
    terms = np.zeros((m, Ho, Wo))
    for i in range(m):
        for p in range(Ho):
            for q in range(Wo):
                terms[i, p, q] = delta1[i, p, q] * X[i, 0, p + 0, q + 0]
    key = "dW[1][0,0,0,0]"
    assert value(out, f"{key}: number of terms") == m * Ho * Wo == 72
    largest = sorted(terms.ravel(), key=abs, reverse=True)
    for n in range(3):
        close(value(out, f"{key}: largest term {n + 1}"), largest[n])
    dW = sum(terms.ravel())
    close(value(out, f"{key}: sum of the terms"), dW)
    close(value(out, f"recorded {key}"), dW)

    # max pooling: winners (the first maximum of each window, row-major) and routed deltas
    W1p, b1p, Wdp, bdp = split_theta(folder / "pool_head.npz", [(1, 1, 3, 3), (1,), (1, 9), (1,)])
    np.testing.assert_array_equal(W1p[0, 0], K)
    pooled, win, ties = np.zeros((m, 3, 3)), np.zeros((m, 3, 3, 2), int), [0] * m
    for i in range(m):
        for p in range(3):
            for q in range(3):
                best = None
                for u in range(2):
                    for v in range(2):
                        val = z[i, 2 * p + u, 2 * q + v]
                        if best is None or val > best:      # strict: the first maximum stays
                            best, win[i, p, q] = val, (2 * p + u, 2 * q + v)
                pooled[i, p, q] = best
                ties[i] += np.sum(z[i, 2 * p:2 * p + 2, 2 * q:2 * q + 2] == best) > 1
    for i in range(m):
        assert value(out, f"sample {i}: windows with a tie") == ties[i]
    assert ties == [9, 2]
    np.testing.assert_array_equal(matrix(out, "edge map z[1][1,0]"), z[1])
    np.testing.assert_array_equal(matrix(out, "pooled z[2][1,0]"), pooled[1])
    np.testing.assert_array_equal(matrix(out, "winner rows h"), win[1, :, :, 0])
    np.testing.assert_array_equal(matrix(out, "winner columns w"), win[1, :, :, 1])
    yhat = pooled.reshape(m, -1) @ Wdp.T + bdp
    delta2 = ((2 * (yhat - Y) / m) @ Wdp).reshape(m, 3, 3)
    delta1 = np.zeros((m, Ho, Wo))
    for i in range(m):
        for p in range(3):
            for q in range(3):
                delta1[i, win[i, p, q, 0], win[i, p, q, 1]] += delta2[i, p, q]
    close(matrix(out, "delta[2][1,0]"), delta2[1])
    close(matrix(out, "delta[1][1,0]"), delta1[1])
    assert value(out, "entries of delta[1][1,0]") == 36
    assert value(out, "winners") == 9 == value(out, "nonzero entries of delta[1][1,0]")
    assert np.count_nonzero(delta1[1]) == 9
    assert value(out, f"with pooling, {key}: number of terms") == 72
    pooled_terms = delta1 * X[:, 0, :Ho, :Wo]             # u = v = 0: a[0][i,0,p,q]
    assert value(out, f"with pooling, {key}: nonzero terms") == np.count_nonzero(pooled_terms) == 18
    close(value(out, f"with pooling, recorded {key}"), pooled_terms.sum())

    # parameters, by the formulas
    assert value(out, "dense neuron on a flattened 28x28 image: weights") == 28 * 28 == 784
    assert value(out, "dense neuron on a flattened 28x28 image: parameters") == 784 + 1
    assert value(out, "Conv2D(6, 5) on 28x28: weights") == 6 * 5 * 5
    assert value(out, "Conv2D(6, 5) on 28x28: parameters") == 6 * 5 * 5 + 6 == 156
    assert value(out, "Conv2D(6, 5) on 28x28: outputs") == 6 * (28 - 5 + 1) ** 2 == 3456
    assert value(out, "Conv2D(6, 5) on 56x56: parameters") == 156
    assert value(out, "dense layer with the same 3456 outputs: parameters") == 784 * 3456 + 3456
    close(value(out, "dense / conv parameters"), (784 * 3456 + 3456) / 156, rtol=1e-11)


# --------------------------------------------------------------------- 14

def conv2d(a, W, b, pad):
    """Cross-correlation, NCHW, stride 1, zero padding: an independent NumPy loop."""
    m, C, H, Wd = a.shape
    k = W.shape[-1]
    a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = H + 2 * pad - k + 1, Wd + 2 * pad - k + 1
    out = np.empty((m, W.shape[0], Ho, Wo))
    for p in range(Ho):
        for q in range(Wo):
            out[:, :, p, q] = np.einsum("icuv,ocuv->io", a[:, :, p:p + k, q:q + k], W) + b
    return out


def maxpool2(a):
    m, C, H, W = a.shape
    return a.reshape(m, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))


def load_flat(path):
    with np.load(path) as f:
        return f["theta"], json.loads(str(f["config"]))


def test_cnn(runs):
    out, folder = lesson(runs, "14_cnn")
    theta, config = load_flat(folder / "cnn.npz")
    shapes = [(8, 1, 3, 3), (8,), (16, 8, 3, 3), (16,), (10, 64), (10,)]
    params, k = [], 0
    for s in shapes:
        params.append(theta[k:k + math.prod(s)].reshape(s))
        k += math.prod(s)
    assert k == theta.size == value(out, "cnn parameters") == 1898
    assert value(out, "mlp parameters") == 64 * 26 + 26 + 26 * 10 + 10
    assert value(out, "conv layer 1 parameters") == 8 * 9 + 8
    assert value(out, "dense layer with the same 8x8x8 outputs, parameters") == 64 * 512 + 512
    with np.load(folder / "test_set.npz") as f:
        X, y = f["X"], f["y"]
    relu = ACT["relu"]
    a1 = relu(conv2d(X, params[0], params[1], 1))
    a4 = maxpool2(relu(conv2d(maxpool2(a1), params[2], params[3], 1)))
    logits = a4.reshape(len(X), -1) @ params[4].T + params[5]
    close(value(out, "cnn test accuracy"), np.mean(logits.argmax(1) == y), rtol=1e-12)
    W, b, acts = load_net(folder / "mlp.npz")
    close(value(out, "mlp test accuracy"),
          np.mean(forward(W, b, acts[:1] + ["identity"], X.reshape(len(X), -1)).argmax(1) == y),
          rtol=1e-12)
    assert value(out, "digit shown") == y[0]
    for o in range(8):
        close(value(out, f"filter {o} mean activation"), a1[0, o].mean(), rtol=1e-9)
    better = "CNN" if "the CNN is more accurate" in out else "MLP"
    acc = {"CNN": value(out, "cnn test accuracy"), "MLP": value(out, "mlp test accuracy")}
    assert acc[better] >= max(acc.values())


# --------------------------------------------------------------------- 15

def dense_bn_forward(path, X, batch_stats):
    """A saved Sequential of Dense and BatchNorm layers, in NumPy: every z[l] and a[L].
    BatchNorm uses the batch's statistics (training) or the saved running ones."""
    with np.load(path) as f:
        theta, running, config = f["theta"], f["running"], json.loads(str(f["config"]))
    a, zs, k, r, n = X, [], 0, 0, X.shape[1]
    for spec in config["layers"]:
        if spec["kind"] == "Dense":
            W = theta[k:k + spec["units"] * n].reshape(spec["units"], n)
            k += W.size
            b = theta[k:k + spec["units"]]
            k += b.size
            z, n = a @ W.T + b, spec["units"]
        else:
            gamma, beta = theta[k:k + n], theta[k + n:k + 2 * n]
            k += 2 * n
            mu, var = (a.mean(0), a.var(0)) if batch_stats else (running[r:r + n], running[r + n:r + 2 * n])
            r += 2 * n
            z = gamma * (a - mu) / np.sqrt(var + 1e-5) + beta
        zs.append(z)
        a = {"relu": np.maximum(z, 0), "identity": z,
             "softmax": np.exp(z - z.max(1, keepdims=True))}[spec["activation"]]
    return zs, a


def test_batch_norm(runs):
    out, folder = lesson(runs, "15_batch_norm")
    with np.load(folder / "data.npz") as f:
        probe, X_test, y_test = f["probe"], f["X_test"], f["y_test"]
    for lr in ("0.1", "1.0"):
        for name, file in (("plain", "plain"), ("batch norm", "bn")):
            path = folder / f"net_lr{lr}_{file}.npz"
            if not path.exists():
                assert f"lr {lr}, {name}: diverged = 1" in out
                continue
            _, a = dense_bn_forward(path, X_test, batch_stats=False)
            close(value(out, f"lr {lr}, {name}: test accuracy"), np.mean(a.argmax(1) == y_test),
                  rtol=1e-12)
    stds = {}
    for name, file in (("plain", "plain"), ("batch norm", "bn")):
        zs, _ = dense_bn_forward(folder / f"net_lr0.1_{file}.npz", probe, batch_stats=True)
        with np.load(folder / f"net_lr0.1_{file}.npz") as f:
            kinds = [(s["kind"], s["activation"]) for s in json.loads(str(f["config"]))["layers"]]
        hidden = [l for l, (kind, act) in enumerate(kinds[:-1]) if act == "relu"]
        stds[name] = [zs[l].std() for l in hidden]
        for l, s in zip(hidden, stds[name]):
            close(value(out, f"lr 0.1, {name}: std z[{l + 1}] after training"), s, rtol=1e-8)
        ratio = max(stds[name]) / min(stds[name])
        close(value(out, f"lr 0.1, {name}: largest / smallest layer std after training"), ratio,
              rtol=1e-8)
    if (folder / "net_lr1.0_plain.npz").exists():
        zs, _ = dense_bn_forward(folder / "net_lr1.0_plain.npz", probe, batch_stats=True)
        for k in range(6):
            close(value(out, f"lr 1.0, plain: dead ReLUs in hidden layer {k + 1} (%)"),
                  100 * np.mean(np.all(zs[k] <= 0, axis=0)), rtol=1e-12)


# --------------------------------------------------------------------- 16

def bce(a, y):
    """Binary cross-entropy, mean over the rows, logs clamped at -100 (as PyTorch)."""
    with np.errstate(divide="ignore"):
        return -np.mean(y * np.maximum(np.log(a), -100) + (1 - y) * np.maximum(np.log(1 - a), -100))


def test_overfitting(runs):
    out, folder = lesson(runs, "16_overfitting")
    with np.load(folder / "data.npz") as f:
        X_train, y_train, X_val, y_val = (f[k] for k in ("X_train", "y_train", "X_val", "y_val"))
    with np.load(folder / "val_loss.npz") as f:
        curves = {k.replace("_", " "): f[k] for k in f.files}
    train, val = {}, {}
    for name in ("plain", "L2", "dropout", "early stopping"):
        W, b, acts = load_net(folder / f"net_{name.replace(' ', '_')}.npz")
        a_train, a_val = forward(W, b, acts, X_train), forward(W, b, acts, X_val)
        train[name], val[name] = bce(a_train, y_train), bce(a_val, y_val)
        close(value(out, f"{name}: final training loss"), train[name], rtol=1e-8)
        close(value(out, f"{name}: final validation loss"), val[name], rtol=1e-8)
        close(value(out, f"{name}: final validation accuracy (%)"),
              100 * np.mean((a_val > 0.5) == y_val), rtol=1e-10)
        curve = curves[name]
        close(value(out, f"{name}: lowest validation loss"), curve.min(), rtol=1e-10)
        assert value(out, f"{name}: epochs run") == len(curve)
        # the saved weights are those of the last epoch, or of the best one when restored
        close(curve.min() if name == "early stopping" else curve[-1], val[name], rtol=1e-8)
    plain = curves["plain"]
    close(value(out, "plain: final / lowest validation loss"), val["plain"] / plain.min(),
          rtol=1e-8)
    assert val["plain"] > 2 * plain.min() and train["plain"] < plain.min() / 5   # it overfits
    assert len(curves["early stopping"]) < len(plain)
    for name in ("L2", "dropout", "early stopping"):
        close(value(out, f"{name}: validation - training loss"), val[name] - train[name],
              rtol=1e-7)
        assert val[name] < val["plain"] and val[name] - train[name] < val["plain"] - train["plain"]
    assert f"the lowest here: {min(val, key=val.get)}" in out


# --------------------------------------------------------------------- 17

def test_gradient_descent_batches(runs):
    out, folder = lesson(runs, "17_gradient_descent_batches")
    with np.load(folder / "data.npz") as f:
        X, y = f["X"], f["y"]
    n, epochs, lr = len(X), 30, 0.1                 # --quick: 30 epochs of SGD(lr=0.1)
    noise = {}
    for b in (1, 32, n):
        (W1, W2), (b1, b2), _ = load_net(folder / "initial.npz")
        rng = np.random.default_rng(17)             # fit's shuffle: one permutation per epoch
        batch_losses = []
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n, b):
                rows = order[start:start + b]
                a1 = np.tanh(X[rows] @ W1.T + b1)
                a2 = sigmoid(a1 @ W2.T + b2)
                batch_losses.append(bce(a2, y[rows]))
                d2 = (a2 - y[rows]) / len(rows)
                d1 = (d2 @ W2) * (1 - a1 ** 2)
                W2, b2 = W2 - lr * d2.T @ a1, b2 - lr * d2.sum(0)
                W1, b1 = W1 - lr * d1.T @ X[rows], b1 - lr * d1.sum(0)
        assert value(out, f"b = {b}: steps per epoch") == len(batch_losses) / epochs \
            == math.ceil(n / b)
        assert value(out, f"b = {b}: total steps") == len(batch_losses)
        a2 = sigmoid(np.tanh(X @ W1.T + b1) @ W2.T + b2)
        close(value(out, f"b = {b}: final loss on all {n} examples"), bce(a2, y), rtol=1e-7)
        close(value(out, f"b = {b}: accuracy (%)"), 100 * np.mean((a2 > 0.5) == y), rtol=1e-10)
        tail = np.array(batch_losses[-21:])
        noise[b] = np.mean(np.abs(np.diff(tail))) / tail[1:].mean()
        close(value(out, f"b = {b}: loss noise"), noise[b], rtol=1e-6)
        seconds = value(out, f"b = {b}: seconds per epoch")
        close(value(out, f"b = {b}: microseconds per step"), 1e6 * seconds / math.ceil(n / b),
              rtol=1e-9)
    assert noise[1] > noise[32] > noise[n]


# --------------------------------------------------------------------- 18

def test_initialization(runs):
    out, folder = lesson(runs, "18_initialization")
    with np.load(folder / "batch.npz") as f:
        X, y = f["X"], f["y"]
    m = len(X)
    Y = np.eye(10)[y]
    ratios = {}
    for hidden in ("tanh", "relu"):
        for name in ("zero", "small random", "Xavier", "He"):
            W, b, acts = load_net(folder / f"{hidden}_{name.replace(' ', '_')}.npz")
            a, zs = [X], []
            for Wl, bl, g in zip(W, b, acts):
                zs.append(a[-1] @ Wl.T + bl)
                a.append(ACT[g](zs[-1]) if g != "softmax" else
                         np.exp(zs[-1]) / np.exp(zs[-1]).sum(1, keepdims=True))
            delta, dW = (a[-1] - Y) / m, [None] * len(W)      # softmax + CE, mean over m
            for l in range(len(W) - 1, -1, -1):
                dW[l] = delta.T @ a[l]
                if l:
                    slope = 1 - a[l] ** 2 if hidden == "tanh" else (zs[l - 1] > 0)
                    delta = (delta @ W[l]) * slope
            L = len(W) - 1
            for key, v in (("std a[1]", a[1].std()), (f"std a[{L}]", a[L].std()),
                           ("std dW[1]", dW[0].std()), (f"std dW[{L + 1}]", dW[-1].std())):
                close(value(out, f"{hidden}, {name}: {key}"), v, rtol=1e-7, atol=1e-300)
            if hidden == "tanh":
                close(value(out, f"tanh, {name}: saturated units (%)"),
                      100 * np.mean(np.abs(np.concatenate([v.ravel() for v in a[1:L + 1]])) > 0.99),
                      rtol=1e-10)
            if name == "zero":
                assert all(np.all(v == 0) for v in dW) and a[L].std() == 0
            else:
                ratios[hidden, name] = a[L].std() / a[1].std()
                close(value(out, f"{hidden}, {name}: std a[{L}] / std a[1]"),
                      ratios[hidden, name], rtol=1e-7)
    assert ratios["tanh", "small random"] < 1e-6 and ratios["relu", "small random"] < 1e-6
    assert abs(np.log(ratios["relu", "He"])) < abs(np.log(ratios["relu", "Xavier"]))
    steadiest = min(("Xavier", "He"), key=lambda k: abs(np.log(ratios["tanh", k])))
    assert f"tanh: {steadiest} keeps the spread steadiest" in out
    assert 0.5 < ratios["relu", "Xavier"] / 0.5 ** 4.5 < 2     # variance halved per layer


# --------------------------------------------------------------------- 19

def test_linear_collapse(runs):
    out, folder = lesson(runs, "19_linear_collapse")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    with np.load(folder / "probe.npz") as f:
        probe = f["probe"]
    W, b, acts = load_net(folder / "net_identity.npz")
    assert acts == ["identity"] * 4
    product = np.linalg.multi_dot(W[::-1])                     # W[4] W[3] W[2] W[1]
    offset = np.zeros(1)                                        # sum_l W[4] ... W[l+1] b[l]
    for l in range(4):
        carried = b[l]
        for k in range(l + 1, 4):
            carried = W[k] @ carried
        offset += carried
    close(matrix(out, "trained W = W[4] W[3] W[2] W[1]"), product, rtol=1e-9, atol=1e-15)
    close(matrix(out, "trained b")[0], offset, rtol=1e-9)
    assert np.abs(forward(W, b, acts, probe) - (probe @ product.T + offset)).max() < 1e-12
    # least squares from the normal equations: the best a linear map can do on XOR
    A = np.column_stack([X, np.ones(4)])
    coef = np.linalg.solve(A.T @ A, A.T @ y)
    best = np.mean((A @ coef - y) ** 2)
    close(value(out, "least-squares MSE of any linear map on XOR"), best, rtol=1e-10)
    J = {}
    for name in ("identity", "tanh"):
        W, b, acts = load_net(folder / f"net_{name}.npz")
        a = forward(W, b, acts, X)
        J[name] = np.mean((a - y) ** 2)
        close(value(out, f"{name} network: MSE on XOR"), J[name], rtol=1e-8, atol=1e-15)
        for x, v in zip(X.astype(int), a[:, 0]):
            close(value(out, f"{name} network: a[L] for x = ({x[0]}, {x[1]})"), v, rtol=1e-9)
    assert best - 1e-12 <= J["identity"] < best + 1e-3 and J["tanh"] < 0.01 * best


# --------------------------------------------------------------------- 20

def test_losses(runs):
    out, _ = lesson(runs, "20_losses")

    def printed(key):
        z, y = matrix(out, f"{key}: z")[0], matrix(out, f"{key}: y")[0]
        return z, y, value(out, f"{key}: J"), matrix(out, f"{key}: delta = dJ/dz")[0]

    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    for reduction, s in (("mean", 1 / 2), ("sum", 1), ("half_sum", 1 / 2),
                         ("half_batch_mean", 1 / 2)):   # one example (m = 1), two outputs
        z, y, J, delta = printed(f"mse {reduction}")
        assert value(out, f"mse {reduction}: s") == s
        close(J, s * np.sum((z - y) ** 2))
        close(delta, 2 * s * (z - y))
    z, y, J, delta = printed("mae")
    close(J, np.mean(np.abs(z - y)))
    close(delta, np.sign(z - y) / 2)
    z, y, J, delta = printed("bce")
    a = sigmoid(z)
    close(J, bce(a, y))
    close(delta, a - y)
    z, y, J, delta = printed("ce")
    close(J, -np.log(softmax(z)[y.argmax()]))
    close(delta, softmax(z) - y)
    z, y, J, delta = printed("hinge")
    close(J, np.mean(np.maximum(0, 1 - y * z)))
    close(delta, np.where(y * z < 1, -y / 2, 0))
    z, y, J, delta = printed("kl")
    a = softmax(z)
    close(J, np.sum(y * np.log(y / a)))
    close(delta, a - y)
    close(value(out, "ce on the soft target"), -np.sum(y * np.log(a)))
    close(value(out, "entropy of the soft target H(y) = -sum y log y"), -np.sum(y * np.log(y)))
    assert value(out, "mse: |dJ/da| at error 2 / at error 0.1") == pytest.approx(20, rel=1e-12)
    assert value(out, "mae: |dJ/da| at error 2 / at error 0.1") == 1
    a = sigmoid(-6.0)                                  # a confidently wrong sigmoid output
    close(value(out, "bce: delta"), a - 1)
    close(value(out, "mse: delta"), 2 * (a - 1) * a * (1 - a))     # mean over one output
    close(value(out, "|delta bce| / |delta mse|"), 1 / (2 * a * (1 - a)))
    assert value(out, "hinge: J at y a = 2") == value(out, "hinge: delta at y a = 2") == 0


# --------------------------------------------------------------------- 21

def test_normalization(runs):
    out, folder = lesson(runs, "21_normalization")
    with np.load(folder / "data.npz") as f:
        X_train, X_test = f["X_train"], f["X_test"]
        y_train, y_test = f["y_train"], f["y_test"]
    mean = X_train.sum(axis=0) / len(X_train)
    std = np.sqrt(((X_train - mean) ** 2).sum(axis=0) / len(X_train))
    for j in range(2):
        close(value(out, f"raw x_{j + 1}: mean"), mean[j], rtol=1e-10)
        close(value(out, f"raw x_{j + 1}: std"), std[j], rtol=1e-10)
    scaled = {"raw": (X_train, X_test),
              "standardized": ((X_train - mean) / std, (X_test - mean) / std)}
    cond = {}
    for name, (A, _) in scaled.items():
        M = np.column_stack([A, np.ones(len(A))])
        eig = np.linalg.eigvalsh(M.T @ M / len(M))          # symmetric: cond = max / min
        cond[name] = eig.max() / eig.min()
        close(value(out, f"{name}: condition number of E[x x^T]"), cond[name], rtol=1e-6)
    assert cond["raw"] > 1e4 * cond["standardized"]
    W, b, _ = load_net(folder / "initial.npz")
    acc, sat = {}, {}
    for name, (A, A_test) in scaled.items():
        a1 = np.tanh(A @ W[0].T + b[0])
        sat[name] = 100 * np.mean(np.abs(a1) > 0.99)
        close(value(out, f"{name}: saturated hidden units at the start (%)"), sat[name],
              rtol=1e-10)
        Wt, bt, acts_t = load_net(folder / f"net_{name}.npz")
        close(value(out, f"{name}: final training loss"), bce(forward(Wt, bt, acts_t, A), y_train),
              rtol=1e-8)
        acc[name] = 100 * np.mean((forward(Wt, bt, acts_t, A_test) > 0.5) == y_test)
        close(value(out, f"{name}: test accuracy (%)"), acc[name], rtol=1e-10)
    assert sat["raw"] > 50 > sat["standardized"] and acc["standardized"] > acc["raw"]


# --------------------------------------------------------------------- 22

def test_denoising_autoencoder(runs):
    out, folder = lesson(runs, "22_denoising_autoencoder")
    with np.load(folder / "data.npz") as f:
        data = {k: f[k] for k in f.files}
    with np.load(folder / "autoencoder.npz") as f:                # a Sequential of Dense layers
        theta, config = f["theta"], json.loads(str(f["config"]))
    sizes = config["input_shape"] + [ly["units"] for ly in config["layers"]]
    W, b, k = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W.append(theta[k:k + n_out * n_in].reshape(n_out, n_in))
        b.append(theta[k + n_out * n_in:k + n_out * n_in + n_out])
        k += n_out * n_in + n_out
    acts = [ly["activation"] for ly in config["layers"]]
    assert sizes == [64, 32, 2, 32, 64] and k == theta.size

    def encode(X):
        return forward(W[:2], b[:2], acts[:2], X)

    clean, noisy = data["X_test"], data["noisy_test"]
    rebuilt = forward(W, b, acts, noisy)
    noisy_error, rebuilt_error = np.mean((noisy - clean) ** 2), np.mean((rebuilt - clean) ** 2)
    close(value(out, "test MSE, noisy input against clean"), noisy_error, rtol=1e-10)
    close(value(out, "test MSE, reconstruction against clean"), rebuilt_error, rtol=1e-8)
    close(value(out, "error removed (%)"), 100 * (1 - rebuilt_error / noisy_error), rtol=1e-6)
    assert rebuilt_error < noisy_error
    code_train, code_test = encode(data["noisy_train"]), encode(noisy)
    y_train, y_test = data["y_train"], data["y_test"]
    correct = []
    for c, label in zip(code_test, y_test):                        # 5 nearest training codes
        near = y_train[np.argsort(np.linalg.norm(code_train - c, axis=1), kind="stable")[:5]]
        counts = np.array([np.sum(near == d) for d in range(10)])
        correct.append(int(np.flatnonzero(counts == counts.max())[0]) == label)
    correct = np.array(correct)
    close(value(out, "5-nearest-neighbour accuracy in the code plane (%)"), 100 * correct.mean(),
          rtol=1e-10)
    for d in range(10):
        close(value(out, f"digit {d}: recognized from its code (%)"),
              100 * correct[y_test == d].mean(), rtol=1e-10)
    assert correct.mean() > 0.3


def test_backprop_through_time(runs):
    out, _ = lesson(runs, "23_backprop_through_time")
    assert "matches, equal to rounding" in out           # the W_h gradient as a sum over t
    T = 20
    for s in (0.5, 0.9, 1.0, 1.1):
        # relu with every z_t > 0: delta_t = s delta_(t+1), exactly s^(T-1) over the sequence
        close(value(out, f"relu s = {s}: ||delta_1|| / ||delta_T||"), s ** (T - 1), rtol=1e-9)
        # tanh: every unit follows h_t = tanh(0.5 * 0.5 + s h_(t-1) + 0.1), so going back one
        # step multiplies delta by s (1 - h_t^2), the same for every unit
        h, ratio = 0.0, 1.0
        for t in range(1, T):
            h = np.tanh(0.25 + s * h + 0.1)
            ratio *= s * (1 - h ** 2)
        close(value(out, f"tanh s = {s}: ||delta_1|| / ||delta_T||"), ratio, rtol=1e-9)
    norm = value(out, "||dJ/dtheta|| before clipping")
    assert norm > 1.0                                      # exploding: the clip is active
    close(value(out, "one SGD step (lr 0.01), clip_norm = None: ||theta change||"), 0.01 * norm,
          rtol=1e-9)
    close(value(out, "one SGD step (lr 0.01), clip_norm = 1.0: ||theta change||"), 0.01,
          rtol=1e-9)


def test_gan(runs):
    out, folder = lesson(runs, "25_gan")
    samples = np.load(folder / "samples.npz")
    angles = np.arange(8) * np.pi / 4
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    covered = {}
    for key in samples.files:
        epoch, g = int(key.split("_")[1]), samples[key]
        nearest = np.array([np.min(np.hypot(*(centres - p).T)) for p in g])
        which = np.array([np.argmin(np.hypot(*(centres - p).T)) for p in g])
        close(value(out, f"epoch {epoch}: samples near a mode (%)"), 100 * np.mean(nearest < 0.25))
        counts = np.array([np.sum((which == k) & (nearest < 0.25)) for k in range(8)])
        covered[epoch] = int(np.sum(counts >= 0.02 * len(g)))
        assert value(out, f"epoch {epoch}: modes covered") == covered[epoch]
    first, last = min(covered), max(covered)
    assert covered[last] > covered[first]
    assert f"covers {covered[last]} of 8" in out or (covered[last] == 8 and "all 8" in out)


def test_attention(runs):
    out, folder = lesson(runs, "24_attention")
    assert value(out, "test accuracy (%)") > 90
    steps = np.load(folder / "steps.npz")
    T, d_k = 6, 4
    means = {}
    for s in sorted({int(k.rsplit("_", 1)[1]) for k in steps.files}):
        x = steps[f"x_{s}"] + steps[f"table_{s}"]                  # the learned encoding added
        W = steps[f"W_{s}"]
        Q, K = x @ W[:d_k].T, x @ W[d_k:2 * d_k].T
        scores = np.einsum("mk,muk->mu", Q[:, -1], K) / np.sqrt(d_k)   # row T sees every step
        A_last = np.exp(scores - scores.max(axis=1, keepdims=True))
        means[s] = (A_last / A_last.sum(axis=1, keepdims=True)).mean(axis=0)
    first, last = sorted(means)
    for t in range(T):
        close(value(out, f"A[T, {t + 1}] at the first step"), means[first][t], rtol=1e-9)
        close(value(out, f"A[T, {t + 1}] at the last step"), means[last][t], rtol=1e-9)
    assert means[last][0] > 0.5 and means[last][0] == means[last].max()
    assert "matches, equal to rounding" in out
