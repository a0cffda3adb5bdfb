"""The trace viewer page (numbann.trace.view): one self-contained HTML file
whose embedded JSON holds the trace's numbers exactly; its command line;
errors on bad input. The page in a real browser: test_view_browser.py."""
import base64
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import numbann as nb
from numbann.io import NumbannFileError
from numbann.trace import Recorder, Trace, load_trace, record_step, view
from numbann.trace.view_data import explained_steps

XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)


def xor_trace(epochs=3, dtype="float64", **keep):
    net = nb.MLP([2, 2, 1], hidden="tanh", output="sigmoid", seed=1, dtype=dtype)
    rec = Recorder(budget_mb=64, **keep)
    net.fit(XOR, XOR_Y, loss="bce", optimizer=nb.optim.Adam(lr=0.05), epochs=epochs,
            batch_size=2, trace=rec, verbose=0)
    return rec.trace


@pytest.fixture(scope="module")
def xor():
    return xor_trace()


def embedded(html):
    """The JSON document in the page's <script id="trace-data">."""
    m = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', html,
                  re.DOTALL)
    assert m, "no embedded trace"
    return json.loads(m.group(1))


def decoded(doc, name, i):
    """Array ``name`` of shown step i, decoded from the page's base64."""
    spec = doc["arrays"][name]
    dtype = {"f8": "<f8", "f4": "<f4", "i4": "<i4"}[spec["dtype"]]
    flat = np.frombuffer(base64.b64decode(spec["data"]), dtype=dtype)
    if isinstance(spec["index"], dict):                 # every step, one shape
        shape = spec["index"]["shape"]
        offset = i * int(np.prod(shape))
    elif spec["index"][i] is None:
        return None
    else:
        offset, shape = spec["index"][i]
    return flat[offset:offset + int(np.prod(shape))].reshape(shape)


def assert_same_numbers(doc, trace, positions):
    """Every array and scalar of the shown steps equals the trace's, bit for bit."""
    assert [s["step"] for s in doc["steps"]] == [int(trace.steps[p]) for p in positions]
    for i, p in enumerate(positions):
        rec = trace.at(p)
        shown = doc["steps"][i]
        assert (shown["t"], shown["epoch"], shown["m"]) == (rec.t, rec.epoch, rec.m)
        for name in ("loss", "lr"):                     # NaN and inf are written as null
            value = getattr(rec, name)
            assert shown[name] == (value if np.isfinite(value) else None), name
        names = {k for k in doc["arrays"] if decoded(doc, k, i) is not None}
        assert names == set(rec.arrays)
        for name, value in rec.arrays.items():
            got = decoded(doc, name, i)
            if value.dtype.kind == "f":
                assert got.dtype.newbyteorder("=") == value.dtype
                assert got.tobytes() == value.astype(got.dtype).tobytes(), name
            else:
                np.testing.assert_array_equal(got, value, err_msg=name)


def test_the_page_is_one_self_contained_file(xor, tmp_path):
    path = view(xor, tmp_path / "run.html")
    assert path == tmp_path / "run.html" and list(tmp_path.iterdir()) == [path]
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # nothing is fetched: no external scripts, styles, images or fonts
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|@import|url\(|fetch\(|XMLHttpRequest", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
    # the package's code is in it, every marker replaced
    for code in ("NB.heatmap = function", "const V = (function", "function drawDiagram",
                 "function drawParams", "function drawControls"):
        assert html.count(code) == 1, code
    assert "#diagram-box" in html and "@DATA@" not in html and "/*@" not in html
    assert html.count("<script") == 2 and html.count("</script>") == 2


def test_the_embedded_json_holds_the_trace_numbers(xor, tmp_path):
    doc = embedded(view(xor, tmp_path / "run.html").read_text(encoding="utf-8"))
    assert doc["format"] == "numbann-trace-view" and doc["stride"] == 1
    assert_same_numbers(doc, xor, range(len(xor)))
    assert doc["arch"] == xor.meta["arch"]
    assert doc["curves"]["steps"] == xor.steps.tolist()
    assert doc["curves"]["loss"] == xor.loss.tolist()
    assert doc["curves"]["fit_loss"] == list(xor.history["step_loss"])
    norms = [[float(np.linalg.norm(r.dW[l])) for l in (1, 2)] for r in xor]
    np.testing.assert_allclose(doc["curves"]["grad_norms"], norms, rtol=1e-12)
    # every weight and bias of this small network is explained at every step,
    # with the text Trace.explain gives
    texts = doc["explain"]["texts"]
    assert len(texts) == len(xor) * (4 + 2 + 2 + 1)
    for key in ("3/W/1/1,0", "0/b/2/0", "5/W/2/0,1"):
        step, param, l, index = key.split("/")
        assert texts[key] == str(xor.explain(int(step), param, int(l), *map(int, index.split(","))))
    assert doc["missing"] == []


def test_float32_and_what_was_not_recorded(tmp_path):
    tr = xor_trace(epochs=1, dtype="float32", keep=("z", "delta", "dW"), samples=[1])
    doc = embedded(view(tr, tmp_path / "run.html").read_text(encoding="utf-8"))
    assert doc["arrays"]["z/1"]["dtype"] == "f4" and doc["arrays"]["dW/2"]["dtype"] == "f4"
    assert_same_numbers(doc, tr, range(len(tr)))
    notes = " ".join(doc["missing"])
    for hint in ("'W'", "'a'", "'x'", "'state'", "batch positions [1]"):
        assert hint in notes, hint
    assert "'stats'" not in notes                       # a dense network has none
    # explain needs the whole batch and a, W: the page says why there is none
    assert doc["explain"]["texts"] == {}
    assert set(doc["explain"]["failed"]) == {"1", "2"}
    assert "not recorded" in doc["explain"]["failed"]["2"]


def test_steps_of_different_shapes(tmp_path):
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))
    net = nb.MLP([3, 2, 1], hidden="tanh", seed=0)
    rec = Recorder()
    net.fit(X, Y, loss="mse", optimizer="sgd", epochs=2, batch_size=2, trace=rec, verbose=0)
    tr = rec.trace                                      # batches of 2, 2 and 1 rows
    doc = embedded(view(tr, tmp_path / "run.html").read_text(encoding="utf-8"))
    assert isinstance(doc["arrays"]["z/1"]["index"], list)     # shapes differ: per step
    assert doc["arrays"]["dW/1"]["index"] == {"shape": [2, 3]}  # the same at every step
    assert_same_numbers(doc, tr, range(len(tr)))
    assert decoded(doc, "z/1", 2).shape == (1, 2)


def test_a_step_without_an_update(tmp_path):
    net = nb.MLP([2, 2, 1], hidden="tanh", output="sigmoid", seed=1)
    tr = record_step(net, XOR, XOR_Y, "bce")
    doc = embedded(view(tr, tmp_path / "run.html").read_text(encoding="utf-8"))
    assert_same_numbers(doc, tr, [0])
    assert doc["steps"][0]["lr"] is None                # NaN: no learning rate in force
    assert any(n.startswith("no update") for n in doc["missing"])
    assert doc["explain"]["texts"]["0/W/1/0,1"] == str(tr.explain(0, "W", 1, 0, 1))


def test_large_traces_keep_every_kth_step_and_every_loss(tmp_path):
    tr = xor_trace(epochs=20)                           # 40 steps
    per_step = tr.at(0).nbytes
    doc = embedded(view(tr, tmp_path / "run.html", max_mb=10.5 * per_step / 2**20,
                        explain_steps=3).read_text(encoding="utf-8"))
    stride = doc["stride"]
    positions = list(range(0, 40, stride)) + ([39] if 39 % stride else [])
    assert stride == 4 and len(positions) == 11
    assert_same_numbers(doc, tr, positions)
    assert doc["curves"]["steps"] == list(range(40))   # the curves keep every step
    assert any("one in every 4 of them and of the last (11 steps" in n for n in doc["missing"])
    assert doc["explain"]["steps"] == [int(tr.steps[p]) for p in explained_steps(positions, 3)]


def test_which_steps_are_explained():
    assert explained_steps(list(range(5)), 10) == list(range(5))
    assert explained_steps(list(range(100)), 6) == [0, 1, 2, 34, 67, 99]
    assert explained_steps(list(range(100)), 0) == []
    assert explained_steps(list(range(7)), "all") == list(range(7))


def test_a_conv_network_is_embedded_and_its_weights_explained(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 1, 6, 6)), rng.integers(0, 3, 8)
    net = nb.Sequential((1, 6, 6), [nb.Conv2D(2, 3, padding=1, activation="relu"),
                                    nb.MaxPool2D(2), nb.Flatten(), nb.Dense(3, "softmax")], seed=0)
    rec = Recorder(budget_mb=16)
    net.fit(X, y, loss="ce", optimizer=nb.optim.SGD(lr=0.1), epochs=1, batch_size=4,
            trace=rec, verbose=0)
    tr = rec.trace
    doc = embedded(view(tr, tmp_path / "conv.html").read_text(encoding="utf-8"))
    assert_same_numbers(doc, tr, range(len(tr)))
    assert decoded(doc, "z/1", 1).shape == (4, 2, 6, 6)
    # conv W[1] has 18 weights: all explained, four indices each; Dense W[4] has
    # 3 x 18 = 54 weights: all explained too
    keys = [k for k in doc["explain"]["texts"] if k.startswith("1/W/1/")]
    assert len(keys) == 18 and "1/W/1/1,0,2,2" in keys
    assert doc["explain"]["texts"]["1/W/1/1,0,2,2"] == str(tr.explain(1, "W", 1, 1, 0, 2, 2))
    assert len([k for k in doc["explain"]["texts"] if k.startswith("0/W/4/")]) == 54


def test_an_rnn_trace_is_embedded_with_its_time_steps(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 6, 2)), rng.integers(0, 2, 8)
    net = nb.Sequential((6, 2), [nb.RNN(5), nb.Dense(2, "softmax")], seed=0)
    rec = Recorder(budget_mb=16)
    net.fit(X, y, loss="ce", optimizer="sgd", epochs=1, batch_size=4, trace=rec, verbose=0)
    tr = rec.trace
    doc = embedded(view(tr, tmp_path / "rnn.html").read_text(encoding="utf-8"))
    assert_same_numbers(doc, tr, range(len(tr)))
    assert decoded(doc, "h_steps/1", 0).shape == (4, 6, 5)
    # W[1] = [W_x | W_h] has 5 x 7 = 35 weights: all explained
    assert len([k for k in doc["explain"]["texts"] if k.startswith("1/W/1/")]) == 35
    assert doc["explain"]["texts"]["1/W/1/2,6"] == str(tr.explain(1, "W", 1, 2, 6))


def test_wide_layers_explain_their_largest_gradients(tmp_path):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(6, 12)), rng.normal(size=(6, 2))
    net = nb.MLP([12, 8, 2], hidden="tanh", seed=0)     # W[1]: 96 weights > 64
    rec = Recorder()
    net.fit(X, Y, loss="mse", optimizer="sgd", epochs=1, batch_size=6, trace=rec, verbose=0)
    tr = rec.trace
    doc = embedded(view(tr, tmp_path / "w.html").read_text(encoding="utf-8"))
    dW = np.abs(tr[0].dW[1])
    largest = {tuple(int(i) for i in np.unravel_index(f, dW.shape))
               for f in np.argsort(-dW, axis=None)[:4]}
    shown = {tuple(map(int, k.split("/")[3].split(","))) for k in doc["explain"]["texts"]
             if k.startswith("0/W/1/")}
    assert shown == largest
    assert len([k for k in doc["explain"]["texts"] if k.startswith("0/b/1/")]) == 2
    assert len([k for k in doc["explain"]["texts"] if k.startswith("0/W/2/")]) == 16


def test_nothing_in_the_data_can_close_the_script(xor, tmp_path):
    title = "</script><script>alert(1)</script> & more"
    html = view(xor, tmp_path / "t.html", title=title).read_text(encoding="utf-8")
    assert html.count("</script>") == 2
    assert embedded(html)["title"] == title
    assert "<title>&lt;/script>&lt;script>alert(1)&lt;/script> &amp; more</title>" in html


def test_command_line(xor, tmp_path):
    xor.save(tmp_path / "run.npz")
    run = [sys.executable, "-m", "numbann.trace", "view"]
    done = subprocess.run(run + [str(tmp_path / "run.npz"), "-o", str(tmp_path / "page.html"),
                                 "--explain-steps", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "page.html" in done.stdout
    doc = embedded((tmp_path / "page.html").read_text(encoding="utf-8"))
    assert_same_numbers(doc, load_trace(tmp_path / "run.npz"), range(len(xor)))
    assert doc["title"] == "run.npz" and doc["explain"]["steps"] == [0, 5]
    # default name beside the trace
    done = subprocess.run(run + [str(tmp_path / "run.npz")], capture_output=True, text=True)
    assert done.returncode == 0 and (tmp_path / "run.html").exists()
    # errors: a missing file, a file that is not a trace, a bad option
    done = subprocess.run(run + [str(tmp_path / "nothing.npz")], capture_output=True, text=True)
    assert done.returncode == 1 and "no trace file" in done.stderr
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    done = subprocess.run(run + [str(tmp_path / "other.npz")], capture_output=True, text=True)
    assert done.returncode == 1 and "error:" in done.stderr and "other.npz" in done.stderr
    done = subprocess.run(run + [str(tmp_path / "run.npz"), "--explain-steps", "some"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--explain-steps" in done.stderr


def test_bad_input_is_refused_clearly(xor, tmp_path):
    with pytest.raises(TypeError, match="Trace"):
        view([1, 2], tmp_path / "x.html")
    with pytest.raises(TypeError, match="file name"):
        view(xor, 5)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        view(xor, tmp_path / "no" / "x.html")
    with pytest.raises(FileNotFoundError, match="no trace file"):
        view(tmp_path / "missing.npz", tmp_path / "x.html")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(NumbannFileError):
        view(tmp_path / "other.npz", tmp_path / "x.html")
    with pytest.raises(ValueError, match="no recorded steps"):
        view(Trace(xor.meta, [], xor.history, xor.theta_start, xor.theta_end), tmp_path / "x.html")
    with pytest.raises(ValueError, match="max_mb"):
        view(xor, tmp_path / "x.html", max_mb=0)
    with pytest.raises(ValueError, match="explain_steps"):
        view(xor, tmp_path / "x.html", explain_steps=-1)
    assert not (tmp_path / "x.html").exists()
