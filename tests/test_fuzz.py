"""Fuzz the public API: hypothesis draws calls whose arguments are valid,
invalid (NaN, inf, negative, huge, strings, arrays of wrong shapes, ...) or
borderline, and every outcome must be

- a correct result (finite, of the right shape, equal to a reference where
  there is one) when every argument is valid, or
- a ValueError / TypeError (or a numbann error) whose message names an
  argument that was given a bad value, raised before anything changed,

never an error from NumPy or Python internals, never a silent answer to a
bad call. Nothing here can crash the interpreter, so nothing runs in a
subprocess.

CI runs a few hundred examples (the hypothesis profile in conftest.py). For a
long run: NUMBANN_FUZZ_EXAMPLES=500 (examples per target) and
NUMBANN_FUZZ_REPORT=counts.json, which counts the outcomes there instead of
stopping at the first bad one.
"""
import json
import os
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numbann as nb
from numbann import data as D
from numbann import optim
from numbann import schedules as S
from numbann.trace import Recorder

EXAMPLES = int(os.environ.get("NUMBANN_FUZZ_EXAMPLES", "0"))
REPORT = os.environ.get("NUMBANN_FUZZ_REPORT")
COUNTS, FAILURES = Counter(), []
NAN, INF = float("nan"), float("inf")
# words a message may use for an argument instead of its exact name
ALIASES = {"kernel_size": ("kernel",), "layers": ("layer",), "input_shape": ("input",),
           "form": ("momentum_form",), "size": ("window",), "rho": ("alpha",),
           "beta": ("momentum",), "validation_data": ("validation_data",)}

fuzz = settings(deadline=None, suppress_health_check=list(HealthCheck),
                **({"max_examples": EXAMPLES} if EXAMPLES else {}))


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if REPORT:
        with open(REPORT, "w") as f:
            json.dump({"counts": COUNTS, "failures": FAILURES[:200]}, f, indent=1, default=str)


# ---------------------------------------------------------------- values

def bad_real(low=None, high=None, low_open=False, high_open=False, none_ok=False):
    out = [NAN, INF, -INF, "1", [0.5], np.array([0.1, 0.2]), True, 1 + 1j, 10**400, object()]
    out += [] if none_ok else [None]
    if low is not None:
        out += [low - 1.0, -1e300] + ([low] if low_open else [])
    if high is not None:
        out += [high + 1.0, 1e300] + ([high] if high_open else [])
    return out


def bad_int(low=1, none_ok=False):
    return [low - 1, low - 5, 1.5, "2", NAN, INF, True, [2], np.array([1, 2]), object()] + \
        ([] if none_ok else [None])


BAD_FLAG = [1, 0, "yes", None, np.array([True, False]), 2.0]
GOOD_SEED = [0, 7, None, np.int64(3), 2**64 - 1]
BAD_SEED = [-1, 1.5, "0", 2**64, NAN, [1], np.array([1, 2]), True]


def bad_data(A):
    """Arrays of the wrong shape, type or content for A (2-D or more)."""
    out = [A[:0], np.full(A.shape, NAN), np.where(A == A.flat[0], INF, A), A.astype(str),
           A + 1j, None, 3, "data", A[..., None], [[1.0, 2.0], [3.0]], {"a": 1}]
    if A.ndim == 2 and A.shape[0] != A.shape[1]:
        out.append(A.T)
    return out


RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 2))
HEADS = {  # loss: (network, targets, targets of the wrong kind)
    "bce": (lambda: nb.MLP([2, 4, 1], "tanh", "sigmoid"), (X[:, :1] > 0).astype(float),
            lambda Y: [Y + 0.5, Y * 2, Y[:-1], np.hstack([Y, Y]), Y[:, 0][:, None, None]]),
    "ce": (lambda: nb.MLP([2, 4, 3], "relu", "softmax"), np.arange(12) % 3,
           lambda y: [y + 0.5, y + 3, y - 1, np.eye(4)[y], y[:-1], y.astype(str)]),
    "mse": (lambda: nb.MLP([2, 4, 2], "tanh"), RNG.normal(size=(12, 2)),
            lambda Y: [Y[:, :1], Y[:-1], Y.reshape(2, 12), Y.ravel()]),
    "hinge": (lambda: nb.MLP([2, 4, 1], "tanh"), np.where(X[:, :1] > 0, 1.0, -1.0),
              lambda Y: [(Y + 1) / 2, Y * 2, Y[:-1], np.hstack([Y, Y])]),
}


def no_op(net, epoch, logs):
    return None


# ---------------------------------------------------------------- machinery

def draw(data, spec, max_changed=2):
    """kwargs from spec {name: (good, bad, either)} (first good = default),
    with up to max_changed arguments changed; returns (kwargs, bad, either)."""
    names = list(spec)
    changed = data.draw(st.lists(st.sampled_from(names), max_size=max_changed, unique=True))
    kwargs, bad, either = {}, set(), set()
    for name in names:
        pools = dict(zip(("good", "bad", "either"), spec[name]))
        kind = "good"
        if name in changed:
            kind = data.draw(st.sampled_from([k for k, pool in pools.items() if pool]))
        pool = pools[kind]
        kwargs[name] = pool[data.draw(st.integers(0, len(pool) - 1))] if name in changed \
            else pool[0]
        {"bad": bad, "either": either}.get(kind, set()).add(name)
    return kwargs, bad, either


def relax(drawn, wrong_Y, always=False):
    """Targets wrong for the network's own loss (0/1 for the hinge loss, y + 0.5
    for "ce") may suit another loss or metric: when the call also changes
    ``loss`` or ``metric`` (or ``always``: the R^2 of an identity output takes
    any real targets), such a Y may be accepted."""
    kwargs, bad, either = drawn
    if "Y" in bad and (always or (bad | either) & {"loss", "metric"}) and \
            any(kwargs["Y"] is w for w in wrong_Y):
        bad.discard("Y")
        either.add("Y")
    return kwargs, bad, either


def named(message, names):
    return any(word in message for n in names for word in (n,) + ALIASES.get(n, ()))


def outcome(what, call, kwargs, bad, either, check=None, snapshot=None):
    """Run call() and classify: ok, clear, rejected (a valid call refused),
    unclear (another error, or a message naming no bad argument), changed
    (refused after changing state), silent (a bad call answered, or a wrong
    answer)."""
    before = snapshot() if snapshot else None
    message = ""
    try:
        result = call()
    except nb.TrainingDiverged as e:
        kind, message = "clear", str(e)
    except (ValueError, TypeError) as e:
        message = f"{type(e).__name__}: {e}"
        if not (bad | either):
            kind = "rejected"
        elif not named(str(e), bad | either):
            kind = "unclear"
        elif before is not None and not all(np.array_equal(a, b, equal_nan=True)
                                            for a, b in zip(before, snapshot())):
            kind = "changed"
        else:
            kind = "clear"
    except Exception as e:  # noqa: BLE001 - an error from the internals
        kind, message = "unclear", f"{type(e).__name__}: {e}"
    else:
        kind = "silent" if bad else "ok"
        if check is not None and not bad:
            try:
                check(result)
            except AssertionError as e:
                kind, message = "silent", f"wrong result: {e}"
    COUNTS[kind] += 1
    COUNTS["calls"] += 1
    if kind not in ("ok", "clear"):
        text = f"{kind}: {what}({', '.join(f'{k}={v!r:.40}' for k, v in kwargs.items())}) " \
               f"bad={sorted(bad)} either={sorted(either)}: {message[:300]}"
        FAILURES.append(text)
        if not REPORT:
            raise AssertionError(text)
    return kind


def finite(a, shape=None):
    a = np.asarray(a)
    assert np.all(np.isfinite(a)), "non-finite values"
    assert shape is None or a.shape == shape, f"shape {a.shape}, expected {shape}"


def sane_net(n_in, n_out):
    def check(net):
        finite(net.forward(np.ones((3, n_in))), (3, n_out))
    return check


# ---------------------------------------------------------------- targets

@fuzz
@given(st.data())
def test_fuzz_mlp_and_network(data):
    act = ["relu", "tanh", "sigmoid", "leaky_relu", "elu", "identity", "step", "linear"]
    spec = {
        "sizes": ([[2, 3, 1], [2, 1], (4, 5, 5, 2), np.array([2, 3, 1])],
                  [3, [2], [2, 0, 1], [2, -1, 1], [2, 1.5, 1], "abc", [2, "3", 1], None,
                   [2, 2**70, 1], [[2, 3]], [2, True, 1]], []),
        "hidden": (act, ["foo", 3, None, ["relu"]], ["softmax"]),
        "output": (["identity", "sigmoid", "softmax", "tanh"], ["foo", 3, None], []),
        "init": ([None, "he_normal", "xavier_uniform", "torch"], ["nope", 3, 1.0], []),
        "seed": (GOOD_SEED, BAD_SEED, []),
        "dtype": (["float64", "float32", np.float32], ["float16", "int64", 3, "x", object()], []),
        "alpha": ([None], [NAN, INF, "0.1", [0.1], -1.0], [0.1, 0.5, 2.0]),
    }
    kwargs, bad, either = draw(data, spec)
    sizes = list(kwargs["sizes"]) if not bad & {"sizes"} else [2, 1]
    outcome("MLP", lambda: nb.MLP(**kwargs), kwargs, bad, either,
            sane_net(int(sizes[0]), int(sizes[-1])))
    spec = {"units": ([3, 1, np.int32(2)], bad_int() + [2**40], []),
            "activation": (act, ["foo", None, 2], ["softmax"]),
            "init": ([None, "he_uniform"], ["x", 2.0], []),
            "bias_init": (["zeros", "normal"], ["x", None, 0], []),
            "n_inputs": ([2, 5], bad_int(), []), "seed": (GOOD_SEED, BAD_SEED, []),
            "layers": ([None], [5, "ab", [], [nb.Flatten()], [3]], [])}
    kwargs, bad, either = draw(data, spec)

    def build():
        dense = nb.Dense(kwargs["units"], kwargs["activation"], kwargs["init"], kwargs["bias_init"])
        layers = [dense, nb.Dense(2, "identity")] if kwargs["layers"] is None else kwargs["layers"]
        return nb.Network(kwargs["n_inputs"], layers, seed=kwargs["seed"])
    n_in = kwargs["n_inputs"] if "n_inputs" not in bad else 2
    outcome("Network", build, kwargs, bad, either, sane_net(n_in, 2))


@fuzz
@given(st.data())
def test_fuzz_layers_and_sequential(data):
    kind = data.draw(st.sampled_from(["Conv2D", "MaxPool2D", "AvgPool2D", "BatchNorm", "Flatten"]))
    act = (["relu", "tanh", "identity"], ["foo", 3, None], ["softmax"])
    specs = {
        "Conv2D": {"filters": ([2, 1], bad_int() + [2**40], []),
                   "kernel_size": ([3, (3, 2), 1], bad_int() + [(3,), (3, 3, 3), "3x3"],
                                   [7, (1, 9)]),
                   "stride": ([1, 2], bad_int(), [7]),
                   "padding": ([0, 1, "valid", (1, 0)], [-1, 1.5, "full", None, (1,), NAN],
                               ["same"]),
                   "activation": act},
        "MaxPool2D": {"size": ([2, 3, 1], bad_int() + [(2, 2, 2)], [7, (2, 3)]),
                      "stride": ([None, 1, 2], bad_int(none_ok=True), [9]), "activation": act},
        "BatchNorm": {"activation": act},
        "Flatten": {},
    }
    specs["AvgPool2D"] = specs["MaxPool2D"]
    spec = dict(specs[kind])
    spec.update({"input_shape": ([(1, 6, 6), (2, 5, 6)], [0, (1, 6), (1, 0, 6), "abc", None,
                                                         (1, 6, 6.5), (1, -6, 6)], [(1, 2, 2)]),
                 "seed": (GOOD_SEED, BAD_SEED, []),
                 "dtype": (["float64", "float32"], ["float16", 3], [])})
    kwargs, bad, either = draw(data, spec)
    layer_args = {k: v for k, v in kwargs.items() if k not in ("input_shape", "seed", "dtype")}

    def build():
        layer = getattr(nb, kind)(**layer_args)
        return nb.Sequential(kwargs["input_shape"], [layer, nb.Flatten(), nb.Dense(2, "identity")],
                             seed=kwargs["seed"], dtype=kwargs["dtype"])

    def check(net):
        finite(net.forward(RNG.normal(size=(3,) + net.input_shape)), (3, 2))
    outcome(kind, build, kwargs, bad, either, check)


@fuzz
@given(st.data())
def test_fuzz_fit(data):
    head = data.draw(st.sampled_from(sorted(HEADS)))
    make, Y, wrong = HEADS[head]
    wrong_Y = wrong(Y)
    net = make()
    others = [h for h in HEADS if h != head]
    spec = {
        "X": ([X, X.tolist(), X.astype(np.float32)], bad_data(X) + [X[:, :1]], []),
        "Y": ([Y], bad_data(np.atleast_2d(Y.T).T) + wrong_Y, []),
        "loss": ([head], ["nope", 3, None, ["mse"]], others),
        "optimizer": (["sgd", "adam", optim.SGD(lr=0.05, momentum=0.9), "rmsprop", "adagrad",
                       "adamw", nb.Adam, "newton"], ["adamm", 3, None, optim.SGD()._args], []),
        "epochs": ([2, 1, 3], bad_int(), []),
        "batch_size": ([4, 1, 5, 12, 10**6], bad_int(), []),
        "shuffle": ([True, False], BAD_FLAG, []),
        "seed": (GOOD_SEED, BAD_SEED, []),
        "validation_data": ([None, (X[:4], Y[:4]), [X[:5], Y[:5]]],
                            [(X,), X, (X[:4, :1], Y[:4]), (X[:4], Y[:3]), 3, "ab",
                             (X[:4], np.full_like(Y[:4], NAN, dtype=float))], []),
        "schedule": ([None, "constant", S.CosineAnnealing(3), S.StepDecay(1, per="step")],
                     ["linear", 3, NAN, S.StepDecay], []),
        "patience": ([None, 1, 2], bad_int(none_ok=True), []),
        "restore_best": ([True, False], BAD_FLAG, []),
        "l1": ([0.0, 1e-3, 0], bad_real(0), []), "l2": ([0.0, 1e-2], bad_real(0), []),
        "dropout": ([0.0, 0.5, [0.2], np.array([0.1])],  # one hidden layer: [0.5] is valid
                    [v for v in bad_real(0, 1, high_open=True) if not isinstance(v, list)] +
                    [[0.1, 0.2, 0.3], [[0.1]], [NAN], ["0.1"]], []),
        "clip_value": ([None, 1.0, 1e-3], bad_real(0, low_open=True, none_ok=True), []),
        "clip_norm": ([None, 0.5], bad_real(0, low_open=True, none_ok=True), []),
        "verbose": ([0, False], [-1, "0", None, 1.5, [0]], []),
        "callbacks": ([(), [no_op], no_op, (no_op, no_op), None], [[3], 3, "f", [no_op, None]], []),
        "trace": ([None, Recorder(keep="norms")], [3, "rec", object()], []),
        "device": (["cpu", None], ["gpu", 3, ["cpu"]], []),
    }
    kwargs, bad, either = relax(draw(data, spec, max_changed=3), wrong_Y)
    opt = kwargs["optimizer"]

    def snapshot():
        state = getattr(opt, "state", None)
        return [net.theta.copy()] + ([state.copy()] if state is not None else [])

    def check(history):
        assert 1 <= len(history.loss) <= kwargs["epochs"]
        finite(history.loss)
        finite(net.theta)
        if kwargs["validation_data"] is not None:
            assert all(0 <= v <= 1 for v in history.val_metric) or head == "mse"
    Xa, Ya = kwargs.pop("X"), kwargs.pop("Y")
    outcome("fit", lambda: net.fit(Xa, Ya, **kwargs), {"X": Xa, "Y": Ya, **kwargs}, bad,
            either, check, snapshot)


def reference_score(net, X, Y):
    """What score must return for valid targets with metric=None."""
    a, act = net.forward(X), net.output_activation.name
    if act == "softmax":
        labels = Y.argmax(1) if Y.ndim == 2 else Y
        return np.mean(a.argmax(1) == labels)
    Y = Y.reshape(a.shape)
    if act == "sigmoid":
        return np.mean(np.all((a > 0.5) == (Y == 1), axis=1))
    if np.all(np.abs(Y) == 1):
        return np.mean(np.all(np.where(a > 0, 1, -1) == Y, axis=1))
    residual, total = np.sum((Y - a) ** 2), np.sum((Y - Y.mean(0)) ** 2)
    return 1 - residual / total if total > 0 else float(residual == 0)


@fuzz
@given(st.data())
def test_fuzz_inference(data):
    head = data.draw(st.sampled_from(sorted(HEADS)))
    make, Y, wrong = HEADS[head]
    wrong_Y = wrong(Y)
    net = make()
    method = data.draw(st.sampled_from(["predict", "forward", "score", "evaluate", "backprop",
                                        "gradient", "loss", "gradcheck", "predict_proba"]))
    spec = {"X": ([X, X[:1], X.tolist()], bad_data(X) + [X[:, :1], X[0]], [])}
    if method not in ("predict", "forward", "predict_proba"):
        good_Y = [Y] + ([np.eye(3)[Y]] if head == "ce" else [])
        good_Y += [Y.astype(bool)] if head == "bce" else []
        spec["Y"] = (good_Y, bad_data(np.atleast_2d(Y.T).T) + wrong_Y, [])
    if method == "score":
        spec["metric"] = ([None], ["f1", 3, ["r2"]], ["accuracy", "argmax", "r2", "sign_accuracy",
                                                      "multilabel_exact"])
    elif method not in ("predict", "forward", "predict_proba"):
        spec["loss"] = ([head], ["nope", 3, None], [h for h in HEADS if h != head])
    if method == "gradcheck":
        spec["eps"] = ([1e-6, 1e-4, 1], bad_real(0, 1, low_open=True), [])
    if method == "predict_proba" and head not in ("bce", "ce"):
        return
    kwargs, bad, either = relax(draw(data, spec), wrong_Y if "Y" in spec else [],
                                always=method == "score" and head in ("mse", "hinge"))
    if "Y" in kwargs and kwargs["X"] is not X and not bad & {"X", "Y"}:
        kwargs["Y"] = kwargs["Y"][:len(kwargs["X"])]        # X[:1]: as many targets
    m = len(kwargs["X"]) if "X" not in bad else 0

    def call():
        if method == "gradcheck":
            return nb.gradcheck(net, **kwargs)
        return getattr(net, method)(**kwargs)

    def check(result):
        if method == "score":
            if kwargs["metric"] is None:
                ref = reference_score(net, np.asarray(kwargs["X"], float), np.asarray(kwargs["Y"]))
                assert result == pytest.approx(ref, nan_ok=True), f"{result} != {ref}"
            assert result <= 1
        elif method in ("forward", "predict_proba"):
            finite(result, (m, net.n_outputs))
        elif method == "predict":
            assert len(result) == m
        elif method in ("evaluate", "loss"):
            finite(result)
        elif method == "gradient":
            finite(result[1], net.theta.shape)
        elif method == "backprop":
            finite(result.grad, net.theta.shape)
        elif method == "gradcheck":
            finite(result.max_error)
    outcome(method, call, kwargs, bad, either, check, lambda: [net.theta.copy()])


@fuzz
@given(st.data())
def test_fuzz_perceptron(data):
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    spec = {"n_inputs": ([2], bad_int() + [2**40], []),
            "lr": ([1.0, 0.1, 1e-6], bad_real(0, low_open=True), []),
            "w": ([None, [1.0, 1.0], np.zeros(2)], [[1.0, NAN], [1.0], [[1.0, 1.0]], "ab", [INF, 0],
                                                     ["1", "2"]], []),
            "b": ([0.0, -1.5, 2], bad_real(), []),
            "epochs": ([5, 1], bad_int(), []),
            "y": ([[0, 0, 0, 1], np.array([[0], [1], [1], [1]])],
                  [[0, 2, 1, 0], [0, 1, 1], [0, NAN, 1, 1], ["0", "1", "1", "0"], np.zeros((2, 2)),
                   None, [0.5, 0, 0, 1]], [])}
    kwargs, bad, either = draw(data, spec)
    fit_args = {k: kwargs[k] for k in ("y", "epochs")}
    init_args = {k: kwargs[k] for k in ("n_inputs", "lr", "w", "b")}

    def call():
        p = nb.Perceptron(**init_args).fit(inputs, **fit_args)
        return p, p.predict(inputs)

    def check(result):
        p, pred = result
        finite(p.w, (2,))
        assert set(pred.tolist()) <= {0, 1}
    outcome("Perceptron", call, kwargs, bad, either, check)
    three = [1, 1, 1]  # wrong for the other's 2 entries, unless both have 3
    spec = {"x": ([[1, 1], inputs, np.ones(2)],
                  [[NAN, 1], "ab", None, np.ones((2, 2, 2)), [[1], [1, 2]], 3], [three]),
            "w": ([[1, 1], np.array([0.5, 2.0])], [[[1, 1]], [NAN, 1], "ab", 3], [three]),
            "threshold": ([0.5, 5, np.float32(1)], bad_real(), [])}
    kwargs, bad, either = draw(data, spec)

    def check_output(out):
        x, w = np.asarray(kwargs["x"], float), np.asarray(kwargs["w"], float)
        np.testing.assert_array_equal(out, (x @ w > kwargs["threshold"]).astype(int))
    outcome("perceptron_output", lambda: nb.perceptron_output(**kwargs), kwargs, bad, either,
            check_output)


@fuzz
@given(st.data())
def test_fuzz_recorder(data):
    spec = {"keep": (["all", "norms", ("dW", "z"), ["loss"]], [3, ["nope"], [3], "xyz"], []),
            "steps": (["all", 0, [0, 2], np.arange(3), range(0, 4, 2), slice(0, None, 2),
                       lambda s: s % 2 == 0, None],
                      [-1, [-1], 1.5, slice(0, None, 0), slice("a", 2), "some",
                       np.ones((2, 2), int)], []),
            "layers": (["all", 1, [1, 2], None], [0, [0], 1.5, "one", [1.5]], [[5]]),
            "samples": ([None, 0, [0, 1]], [-1, [], [-2], "a", 1.5], []),
            "epochs": ([None, 0, [0]], [-1, 1.5, "a", [1.5]], []),
            "budget_mb": ([256, 0.5, None, np.float64(10)],
                          bad_real(0, low_open=True, none_ok=True), [1e-9]),
            "verbose": ([False], [1, "yes", None], [])}
    kwargs, bad, either = draw(data, spec)
    make, Y, _ = HEADS["bce"]
    net = make()

    def call():
        rec = Recorder(**kwargs)
        net.fit(X, Y, loss="bce", epochs=2, batch_size=6, trace=rec, verbose=0)
        return rec

    def check(rec):
        assert rec.trace is not None
        finite(rec.trace.loss)
    outcome("Recorder", call, kwargs, bad, either, check)
    spec = {"X": ([X, 12, X.tolist()], [0, -1, 1.5, "ab", None, X[:0], np.float64(3.0)], []),
            "epochs": ([1, 3], bad_int(), []), "batch_size": ([4, 100], bad_int(), []),
            "optimizer": ([None, "adam", optim.SGD()], ["adamm", 3], [])}
    kwargs, bad, either = draw(data, spec)
    outcome("Recorder.estimate", lambda: Recorder().estimate(net, **kwargs), kwargs, bad, either,
            lambda est: finite(int(est)))


POS, NONNEG = bad_real(0, low_open=True), bad_real(0)
UNIT = bad_real(0, 1, high_open=True)  # a decay rate in [0, 1)
SEED = (GOOD_SEED, BAD_SEED, [])
DATA_FUNCS = {
    "make_xor": ({"repeat": ([1, 3], bad_int(), []), "noise": ([0.0, 0.1], NONNEG, []),
                  "seed": SEED}, lambda r: finite(r[0])),
    "make_moons": ({"n": ([20, 2], bad_int() + [1], []), "noise": ([0.1, 0], NONNEG, []),
                    "seed": SEED}, lambda r: finite(r[0])),
    "make_regression": ({"n": ([20], bad_int(), []), "n_features": ([1, 3], bad_int(), []),
                         "n_outputs": ([1, 2], bad_int(), []), "noise": ([0.1], NONNEG, []),
                         "kind": (["sine", "linear"], ["cubic", 3, None], []), "seed": SEED},
                        lambda r: finite(r[1])),
    "train_test_split": ({"X": ([X], [None, 3, "ab", X[:5]], []),
                          "Y": ([np.arange(12) % 2], [None, 3], []),
                          "test_size": ([0.25, 3, 0.5], [0, 12, 1.0, -0.5, NAN, "0.2", None, True],
                                        []),
                          "seed": SEED, "stratify": ([False, True], BAD_FLAG, [])},
                         lambda r: finite(np.concatenate([r[0], r[1]]), (12, 2))),
    "one_hot": ({"y": ([np.arange(4), [0, 2, 1]],
                       [[0.5, 1], [-1, 2], "ab", None, np.ones((2, 2), int)], []),
                 "n_classes": ([None, 5], bad_int(none_ok=True), [2])}, finite),
    "standardize": ({"X_train": ([X, X.tolist()],  # any shape is fine: not X.T, X[..., None]
                                 [v for v in bad_data(X) if not isinstance(v, np.ndarray)
                                  or v.shape == X.shape or v.size == 0], [])},
                    lambda r: finite(r, (12, 2))),
    "load_digits": ({"scale": ([True, False], BAD_FLAG, []),
                     "images": ([False, True], BAD_FLAG, [])}, lambda r: finite(r[0])),
}


@fuzz
@given(st.data())
def test_fuzz_data_helpers(data):
    name = data.draw(st.sampled_from(sorted(DATA_FUNCS)))
    spec, check = DATA_FUNCS[name]
    kwargs, bad, either = draw(data, spec)
    outcome(name, lambda: getattr(D, name)(**kwargs), kwargs, bad, either, check)


FORMS = (["torch", "average", "classic"], ["nope", 3, None, ["torch"]], [])
OPTIMIZERS = {
    optim.SGD: {"lr": ([0.1], POS, []), "momentum": ([0.0, 0.9], UNIT, []),
                "nesterov": ([False], BAD_FLAG, [True]), "weight_decay": ([0.0, 0.1], NONNEG, []),
                "dampening": ([0.0], bad_real(0, 1), [0.5]), "momentum_form": FORMS},
    optim.Momentum: {"lr": ([0.1], POS, []), "beta": ([0.9, 0.5], bad_real(0, 1, True, True), []),
                     "form": FORMS, "momentum": ([None], [NAN, "0.9", [0.9]], [0.8])},
    optim.Adagrad: {"lr": ([0.1], POS, []), "eps": ([1e-10], POS, []),
                    "lr_decay": ([0.0], NONNEG, []), "eps_inside": ([False, True], BAD_FLAG, []),
                    "initial_accumulator_value": ([0.0, 0.1], NONNEG, [])},
    optim.RMSprop: {"lr": ([0.01], POS, []), "alpha": ([0.99], UNIT, []),
                    "centered": ([False, True], BAD_FLAG, []),
                    "rho": ([None], [NAN, "0.9", 1.0], [0.9]), "momentum": ([0.0, 0.5], UNIT, [])},
    optim.Adam: {"lr": ([1e-3], POS, []), "eps": ([1e-8], POS, []),
                 "betas": ([(0.9, 0.999), [0.5, 0.5]],
                           [0.9, (0.9,), (1.0, 0.9), (NAN, 0.9), "ab", None], []),
                 "amsgrad": ([False, True], BAD_FLAG, []), "weight_decay": ([0.0], NONNEG, [])},
    optim.Newton: {"damping": ([0.0, 1.0], NONNEG, []), "max_params": ([2000], bad_int(), []),
                   "lr": ([1.0], POS, []),
                   "h": ([None, 1e-4], bad_real(0, low_open=True, none_ok=True), [])},
    S.StepDecay: {"step_size": ([2], bad_int(), []), "gamma": ([0.1, 2.0], POS, []),
                  "per": (["epoch", "step"], ["batch", None, 3, ["epoch"]], [])},
    S.Exponential: {"gamma": ([0.9], POS, [])},
    S.ExpDecay: {"k": ([0.1, 0], NONNEG, [])},
    S.CosineAnnealing: {"T_max": ([10, 1], bad_int(), []), "eta_min": ([0.0, 1e-3], NONNEG, [])},
}


@fuzz
@given(st.data())
def test_fuzz_optimizers_and_schedules(data):
    cls = data.draw(st.sampled_from(list(OPTIMIZERS)))
    kwargs, bad, either = draw(data, OPTIMIZERS[cls])

    def check(obj):
        if isinstance(obj, S.Schedule):
            values = obj.values(6, 0.1)
            finite(values, (6,))
            assert np.all(values >= 0)
        elif not isinstance(obj, optim.Newton):
            theta = np.ones(4)
            obj.step(theta, np.full(4, 0.5), obj.init_state(4), 1)
            finite(theta)
    outcome(cls.__name__, lambda: cls(**kwargs), kwargs, bad, either, check)
