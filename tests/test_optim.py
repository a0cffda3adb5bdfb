"""Optimizers: the fused kernel against formulas written out in NumPy, against
PyTorch fixtures, and the Python layer's interface and validation.

All cases share two compilations of ``optimizer_update`` (float32, float64):
the optimizer is chosen by an integer code, not by a new specialization.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from numbann import optim
from numbann.kernels import codes as C
from numbann.kernels.cpu_optim import optimizer_update

FIXTURES = Path(__file__).parent / "fixtures"
STEPS, P = 25, 7
DTYPES = [np.float64, np.float32]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


# ---------------------------------------------------------------- references
# Each rule written out per formula, in float64, one step at a time.

def ref_sgd(theta, grads, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
            weight_decay=0.0, l1=0.0, momentum_form="torch", lrs=None):
    theta = np.array(theta, dtype=np.float64)
    v = np.zeros_like(theta)
    out = []
    for t, g in enumerate(grads, start=1):
        eta = lr if lrs is None else lrs[t - 1]
        g = g + weight_decay * theta + l1 * np.sign(theta)
        beta = momentum
        if beta == 0:
            theta = theta - eta * g
        elif momentum_form == "torch":
            v = g.copy() if t == 1 else beta * v + (1 - dampening) * g
            d = g + beta * v if nesterov else v
            theta = theta - eta * d
        elif momentum_form == "average":
            v = beta * v + (1 - beta) * g
            d = beta * v + (1 - beta) * g if nesterov else v
            theta = theta - eta * d
        elif momentum_form == "classic":
            v = beta * v + eta * g
            d = beta * v + eta * g if nesterov else v
            theta = theta - d
        out.append(theta)
    return np.array(out)


def ref_momentum(theta, grads, lr=1e-3, beta=0.9, form="torch", **kw):
    return ref_sgd(theta, grads, lr=lr, momentum=beta, momentum_form=form, **kw)


def ref_adagrad(theta, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                initial_accumulator_value=0.0, eps=1e-10, eps_inside=False, lrs=None):
    theta = np.array(theta, dtype=np.float64)
    G = np.full_like(theta, initial_accumulator_value)
    out = []
    for t, g in enumerate(grads, start=1):
        eta = lr if lrs is None else lrs[t - 1]
        g = g + weight_decay * theta
        G = G + g ** 2
        clr = eta / (1 + (t - 1) * lr_decay)
        if eps_inside:
            theta = theta - clr * g / np.sqrt(G + eps)
        else:
            theta = theta - clr * g / (np.sqrt(G) + eps)
        out.append(theta)
    return np.array(out)


def ref_rmsprop(theta, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                momentum=0.0, centered=False, eps_inside=False, rho=None, lrs=None):
    rho = alpha if rho is None else rho
    theta = np.array(theta, dtype=np.float64)
    E2 = np.zeros_like(theta)
    E1 = np.zeros_like(theta)
    v = np.zeros_like(theta)
    out = []
    for t, g in enumerate(grads, start=1):
        eta = lr if lrs is None else lrs[t - 1]
        g = g + weight_decay * theta
        E2 = rho * E2 + (1 - rho) * g ** 2
        s = E2
        if centered:
            E1 = rho * E1 + (1 - rho) * g
            s = E2 - E1 ** 2
        q = np.sqrt(s + eps) if eps_inside else np.sqrt(s) + eps
        if momentum > 0:
            v = momentum * v + g / q
            theta = theta - eta * v
        else:
            theta = theta - eta * g / q
        out.append(theta)
    return np.array(out)


def ref_adam(theta, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             amsgrad=False, decoupled=False, lrs=None):
    b1, b2 = betas
    theta = np.array(theta, dtype=np.float64)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    vmax = np.zeros_like(theta)
    out = []
    for t, g in enumerate(grads, start=1):
        eta = lr if lrs is None else lrs[t - 1]
        if decoupled:
            theta = theta - eta * weight_decay * theta
        else:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        mhat = m / (1 - b1 ** t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            vhat = vmax / (1 - b2 ** t)
        else:
            vhat = v / (1 - b2 ** t)
        theta = theta - eta * mhat / (np.sqrt(vhat) + eps)
        out.append(theta)
    return np.array(out)


def ref_adamw(theta, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
              amsgrad=False, lrs=None):
    return ref_adam(theta, grads, lr, betas, eps, weight_decay, amsgrad, decoupled=True,
                    lrs=lrs)


REFS = {"SGD": ref_sgd, "Momentum": ref_momentum, "Adagrad": ref_adagrad,
        "RMSprop": ref_rmsprop, "Adam": ref_adam, "AdamW": ref_adamw}

# (class name, kwargs): every optimizer and variant, course-only ones included
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, l1=0.03)),
    ("SGD", dict(lr=0.1, l1=0.03, weight_decay=0.05, momentum=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, momentum_form="average")),
    ("SGD", dict(lr=0.1, momentum=0.9, momentum_form="average", nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, momentum_form="classic")),
    ("SGD", dict(lr=0.1, momentum=0.7, momentum_form="classic", nesterov=True,
                 weight_decay=0.02)),
    ("Momentum", dict(lr=0.1)),
    ("Momentum", dict(lr=0.1, beta=0.8, form="average")),
    ("Momentum", dict(lr=0.1, beta=0.8, form="classic", nesterov=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.02, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.2)),
    ("Adagrad", dict(lr=0.1, eps=1e-3, eps_inside=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, rho=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.6, alpha=0.9)),
    ("RMSprop", dict(lr=0.01, eps=1e-4, eps_inside=True, momentum=0.3)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, betas=(0.85, 0.98))),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]


def _ids(cases):
    return [f"{c}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for c, kw in cases]


@pytest.fixture(scope="module")
def seq():
    rng = np.random.default_rng(12)
    return rng.normal(size=P), rng.normal(size=(STEPS, P))


def run(opt, theta0, grads, dtype, lrs=None):
    """Steps with opt.step; returns the trajectory (steps, P) as float64."""
    theta = np.array(theta0, dtype=dtype)
    state = opt.init_state(theta.shape[0], dtype)
    out = []
    for t, g in enumerate(grads, start=1):
        if lrs is not None:
            opt.lr = lrs[t - 1]
        opt.step(theta, np.ascontiguousarray(g, dtype=dtype), state, t)
        out.append(theta.astype(np.float64))
    return np.array(out)


# ---------------------------------------------------------------- vs NumPy

@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("cls,kw", CASES, ids=_ids(CASES))
def test_kernel_matches_numpy_formula(cls, kw, dtype, seq):
    theta0, grads = seq
    theta0 = theta0.astype(dtype).astype(np.float64)    # same start in both
    grads = grads.astype(dtype).astype(np.float64)
    got = run(getattr(optim, cls)(**kw), theta0, grads, dtype)
    want = REFS[cls](theta0, grads, **kw)
    np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("cls,kw", [CASES[10], CASES[5], CASES[17], CASES[24], CASES[27],
                                    CASES[31]], ids=_ids([CASES[i] for i in
                                                          (10, 5, 17, 24, 27, 31)]))
def test_changing_learning_rate(cls, kw, seq):
    """A schedule writes hyper[H_LR] between steps; the kernel reads it."""
    theta0, grads = seq
    lrs = kw["lr"] * 0.8 ** np.arange(STEPS)
    got = run(getattr(optim, cls)(**kw), theta0, grads, np.float64, lrs=lrs)
    np.testing.assert_allclose(got, REFS[cls](theta0, grads, lrs=lrs, **kw),
                               **TOL[np.float64])


def test_momentum_forms_coincide_and_diverge(seq):
    theta0, grads = seq
    torch_form = optim.SGD(lr=0.1, momentum=0.9)
    classic = optim.SGD(lr=0.1, momentum=0.9, momentum_form="classic")
    # constant rate: identical
    np.testing.assert_allclose(run(torch_form, theta0, grads, np.float64),
                               run(classic, theta0, grads, np.float64), rtol=1e-12)
    # a rate changing mid-run: classic keeps the old rate inside its velocity
    lrs = np.where(np.arange(STEPS) < 10, 0.1, 0.01)
    a = run(torch_form, theta0, grads, np.float64, lrs=lrs)
    b = run(classic, theta0, grads, np.float64, lrs=lrs)
    np.testing.assert_allclose(a[:10], b[:10], rtol=1e-12)
    assert np.max(np.abs(a[10:] - b[10:])) > 1e-3
    # average with eta = torch with (1 - beta) eta, at every step, Nesterov included
    beta = 0.9
    for nesterov in (False, True):
        avg = optim.SGD(lr=0.1, momentum=beta, momentum_form="average", nesterov=nesterov)
        tor = optim.SGD(lr=0.1 * (1 - beta), momentum=beta, nesterov=nesterov)
        np.testing.assert_allclose(run(avg, theta0, grads, np.float64),
                                   run(tor, theta0, grads, np.float64), rtol=1e-12)
    # average = torch with dampening = beta at the same eta, but for the first step
    avg = optim.SGD(lr=0.1, momentum=beta, momentum_form="average")
    damp = optim.SGD(lr=0.1, momentum=beta, dampening=beta)
    sa, sd = avg.init_state(P, np.float64), damp.init_state(P, np.float64)
    ta, td = theta0.copy(), theta0.copy()
    avg.step(ta, grads[0], sa, 1)
    damp.step(td, grads[0], sd, 1)
    assert not np.allclose(ta, td)              # the first step differs
    sd[0] = sa[0]                               # give torch the average's v1 ...
    td[:] = ta
    for t in range(2, STEPS + 1):               # ... and they agree from then on
        avg.step(ta, grads[t - 1], sa, t)
        damp.step(td, grads[t - 1], sd, t)
    np.testing.assert_allclose(ta, td, rtol=1e-12)


def test_grad_not_modified_and_in_place(seq):
    theta0, grads = seq
    for cls, kw in CASES:
        opt = getattr(optim, cls)(**kw)
        theta = theta0.copy()
        state = opt.init_state(P, np.float64)
        g = grads[0].copy()
        ret = opt.step(theta, g, state, 1)
        assert ret is theta
        np.testing.assert_array_equal(g, grads[0])
        assert not np.array_equal(theta, theta0)


def test_parallel_kernel_matches_serial():
    """The opt-in prange kernel gives the serial kernel's numbers (ragged last chunk)."""
    n = 3 * 32768 + 123
    rng = np.random.default_rng(3)
    theta0 = rng.normal(size=n)
    grads = rng.normal(size=(3, n))
    for cls, kw in [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                    ("Adagrad", dict(lr=0.1, eps_inside=True)),
                    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
                    ("AdamW", dict(lr=0.01, amsgrad=True))]:
        opt = getattr(optim, cls)(**kw)
        a, b = theta0.copy(), theta0.copy()
        sa, sb = opt.init_state(n, np.float64), opt.init_state(n, np.float64)
        for t, g in enumerate(grads, start=1):
            opt.step(a, g, sa, t)
            opt.step(b, g, sb, t, parallel=True)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)
        np.testing.assert_allclose(a, REFS[cls](theta0, grads, **kw)[-1], **TOL[np.float64])


# ---------------------------------------------------------------- vs PyTorch

def _fixture():
    npz, js = FIXTURES / "optimizers.npz", FIXTURES / "optimizers.json"
    if not (npz.exists() and js.exists()):
        pytest.skip("tests/fixtures/optimizers.{npz,json} not present")
    return np.load(npz), json.loads(js.read_text())


TORCH_CONFIGS = ["sgd", "sgd_wd", "momentum", "momentum_damp", "nesterov", "nesterov_wd",
                 "adagrad", "adagrad_wd", "rmsprop", "rmsprop_a", "rmsprop_mom", "adam",
                 "adam_wd", "adamw", "adamw_wd"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", TORCH_CONFIGS)
def test_matches_torch_fixture(name, dtype):
    data, meta = _fixture()
    cfg = meta[name]
    opt = getattr(optim, cfg["class"])(**cfg["kwargs"])
    got = run(opt, data["theta0"], data["grads"], dtype)
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, data[name], **tol)


_EFFECTIVE = {"lr": C.H_LR, "momentum": C.H_MOMENTUM, "dampening": C.H_DAMPENING,
              "weight_decay": C.H_WEIGHT_DECAY, "nesterov": C.H_NESTEROV,
              "lr_decay": C.H_LR_DECAY, "eps": C.H_EPS, "alpha": C.H_ALPHA,
              "centered": C.H_CENTERED, "amsgrad": C.H_AMSGRAD}


@pytest.mark.parametrize("name", TORCH_CONFIGS)
def test_defaults_match_torch(name):
    """Every hyperparameter torch had in force (its defaults filled in) is ours."""
    _, meta = _fixture()
    cfg = meta[name]
    opt = getattr(optim, cfg["class"])(**cfg["kwargs"])
    for key, value in cfg["effective"].items():
        if key == "betas":
            assert (opt.hyper[C.H_BETA1], opt.hyper[C.H_BETA2]) == tuple(value)
        elif key == "initial_accumulator_value":
            assert opt.initial_accumulator_value == value
        else:
            assert opt.hyper[_EFFECTIVE[key]] == float(value), key


# ---------------------------------------------------------------- hypothesis

def _draw_case(draw):
    cls = draw(st.sampled_from(["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]))
    lr = draw(st.floats(1e-4, 1.0))
    wd = draw(st.sampled_from([0.0, draw(st.floats(1e-4, 0.5))]))
    unit = st.floats(0.0, 0.999)
    if cls == "SGD":
        form = draw(st.sampled_from(["torch", "average", "classic"]))
        momentum = draw(st.sampled_from([0.0, draw(st.floats(0.01, 0.99))]))
        nesterov = momentum > 0 and draw(st.booleans())
        damp = 0.0 if nesterov or form != "torch" else draw(st.sampled_from([0.0, 0.5]))
        kw = dict(lr=lr, momentum=momentum, dampening=damp, nesterov=nesterov,
                  weight_decay=wd, l1=draw(st.sampled_from([0.0, 0.01])), momentum_form=form)
    elif cls == "Adagrad":
        kw = dict(lr=lr, lr_decay=draw(st.floats(0.0, 0.1)), weight_decay=wd,
                  initial_accumulator_value=draw(st.floats(0.0, 1.0)),
                  eps=draw(st.floats(1e-10, 1e-2)), eps_inside=draw(st.booleans()))
    elif cls == "RMSprop":
        kw = dict(lr=lr, alpha=draw(st.floats(0.5, 0.999)), eps=draw(st.floats(1e-10, 1e-2)),
                  weight_decay=wd, momentum=draw(st.sampled_from([0.0, draw(unit)])),
                  centered=draw(st.booleans()), eps_inside=draw(st.booleans()))
    else:
        kw = dict(lr=lr, betas=(draw(unit), draw(unit)), eps=draw(st.floats(1e-10, 1e-2)),
                  weight_decay=wd, amsgrad=draw(st.booleans()))
    return cls, kw


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12),
       steps=st.integers(1, 10), scale=st.floats(1e-2, 1e2))
def test_hypothesis_kernel_vs_numpy(data, seed, n, steps, scale):
    cls, kw = data.draw(st.composite(lambda draw: _draw_case(draw))())
    rng = np.random.default_rng(seed)
    theta0 = rng.normal(size=n)
    grads = scale * rng.normal(size=(steps, n))
    got = run(getattr(optim, cls)(**kw), theta0, grads, np.float64)
    want = REFS[cls](theta0, grads, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- interface

def test_interface_and_state_layout():
    assert optim.SGD().code == C.OPT_SGD and optim.SGD().state_names == ("unused",)
    assert optim.SGD(momentum=0.9).state_names == ("velocity",)
    assert optim.Adagrad().state_names == ("G",)
    assert optim.RMSprop().state_names == ("E[g^2]",)
    assert optim.RMSprop(momentum=0.9, centered=True).state_names == \
        ("E[g^2]", "velocity", "E[g]")
    assert optim.Adam().state_names == ("m", "v")
    assert optim.AdamW(amsgrad=True).state_names == ("m", "v", "vmax")
    codes = {optim.SGD: C.OPT_SGD, optim.Momentum: C.OPT_SGD, optim.Adagrad: C.OPT_ADAGRAD,
             optim.RMSprop: C.OPT_RMSPROP, optim.Adam: C.OPT_ADAM, optim.AdamW: C.OPT_ADAMW,
             optim.Newton: C.OPT_NEWTON}
    for cls, code in codes.items():
        opt = cls()
        assert opt.code == code
        assert opt.hyper.dtype == np.float64 and opt.hyper.shape == (C.N_HYPER,)
        assert opt.n_state == len(opt.state_names) >= 1
        for dtype in DTYPES:
            s = opt.init_state(5, dtype)
            assert s.shape == (opt.n_state, 5) and s.dtype == dtype
    s = optim.Adagrad(initial_accumulator_value=0.25).init_state(4, np.float32)
    assert np.all(s == np.float32(0.25))
    opt = optim.Adam()
    opt.lr = 0.05
    assert opt.hyper[C.H_LR] == 0.05 and opt.lr == 0.05
    opt.hyper[C.H_LR] = 0.02
    assert opt.lr == 0.02
    # torch's defaults
    assert optim.SGD().lr == 1e-3 and optim.Adagrad().lr == 1e-2
    assert optim.RMSprop().hyper[C.H_ALPHA] == 0.99 and optim.RMSprop().lr == 1e-2
    assert optim.Adam().hyper[C.H_WEIGHT_DECAY] == 0.0
    assert optim.AdamW().hyper[C.H_WEIGHT_DECAY] == 0.01


def test_repr_round_trips():
    objs = [optim.SGD(), optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
            optim.SGD(momentum=0.5, momentum_form="classic", l1=0.01),
            optim.Momentum(lr=0.1, beta=0.8, form="average"), optim.Adagrad(eps_inside=True),
            optim.RMSprop(centered=True, momentum=0.3), optim.Adam(amsgrad=True),
            optim.AdamW(betas=(0.8, 0.9)), optim.Newton(damping=0.1)]
    for o in objs:
        text = repr(o)
        assert text.startswith(type(o).__name__ + "(")
        back = eval(text, vars(optim))
        assert type(back) is type(o)
        np.testing.assert_array_equal(back.hyper, o.hyper)
    assert repr(optim.Adam()) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0)"


def test_get_optimizer():
    for name, cls in [("sgd", optim.SGD), ("momentum", optim.Momentum),
                      ("nesterov", optim.Momentum), ("adagrad", optim.Adagrad),
                      ("rmsprop", optim.RMSprop), ("adam", optim.Adam),
                      ("adamw", optim.AdamW), ("newton", optim.Newton)]:
        assert type(optim.get_optimizer(name)) is cls
    assert optim.get_optimizer(" Adam ", lr=0.1).lr == 0.1
    nes = optim.get_optimizer("nesterov", lr=0.1)
    assert nes.hyper[C.H_NESTEROV] == 1.0 and nes.momentum == 0.9
    assert optim.get_optimizer("momentum", momentum=0.5).momentum == 0.5
    obj = optim.RMSprop()
    assert optim.get_optimizer(obj) is obj
    assert type(optim.get_optimizer(optim.AdamW, lr=0.1)) is optim.AdamW
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*sgd.*adamw.*newton"):
        optim.get_optimizer("adamax")
    with pytest.raises(ValueError, match="bad arguments for optimizer 'adam'"):
        optim.get_optimizer("adam", momentum=0.9)
    with pytest.raises(ValueError, match="keyword arguments"):
        optim.get_optimizer(obj, lr=0.1)
    with pytest.raises(TypeError, match="optimizer must be"):
        optim.get_optimizer(3)


# ---------------------------------------------------------------- validation

BAD = [
    (lambda: optim.SGD(lr=0), "lr must be > 0"),
    (lambda: optim.SGD(lr=-0.1), "lr must be > 0"),
    (lambda: optim.SGD(lr=float("nan")), "lr must be a finite real number"),
    (lambda: optim.SGD(lr="0.1"), "lr must be a finite real number"),
    (lambda: optim.SGD(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: optim.SGD(momentum=-0.1), r"momentum must be in \[0, 1\)"),
    (lambda: optim.SGD(dampening=1.5), r"dampening must be in \[0, 1\]"),
    (lambda: optim.SGD(nesterov=True), "nesterov=True requires momentum > 0"),
    (lambda: optim.SGD(momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    (lambda: optim.SGD(nesterov=1), "nesterov must be True or False"),
    (lambda: optim.SGD(momentum_form="heavy"), "momentum_form must be one of"),
    (lambda: optim.SGD(momentum=0.9, dampening=0.5, momentum_form="average"),
     "dampening applies to momentum_form='torch' only"),
    (lambda: optim.SGD(weight_decay=-1e-3), "weight_decay must be >= 0"),
    (lambda: optim.SGD(l1=-1e-3), "l1 must be >= 0"),
    (lambda: optim.Momentum(beta=0.0), r"beta must be in \(0, 1\)"),
    (lambda: optim.Momentum(beta=1.0), r"beta must be in \(0, 1\)"),
    (lambda: optim.Momentum(beta=0.5, momentum=0.6), "momentum is an alias of beta"),
    (lambda: optim.Momentum(form="nope"), "momentum_form must be one of"),
    (lambda: optim.Adagrad(eps=0.0), "eps must be > 0"),
    (lambda: optim.Adagrad(lr_decay=-0.1), "lr_decay must be >= 0"),
    (lambda: optim.Adagrad(initial_accumulator_value=-1.0),
     "initial_accumulator_value must be >= 0"),
    (lambda: optim.Adagrad(weight_decay=-1.0), "weight_decay must be >= 0"),
    (lambda: optim.Adagrad(eps_inside="yes"), "eps_inside must be True or False"),
    (lambda: optim.RMSprop(alpha=1.0), r"alpha \(rho\) must be in \[0, 1\)"),
    (lambda: optim.RMSprop(rho=-0.5), r"alpha \(rho\) must be in \[0, 1\)"),
    (lambda: optim.RMSprop(alpha=0.9, rho=0.8), "rho is an alias of alpha"),
    (lambda: optim.RMSprop(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: optim.RMSprop(eps=-1e-8), "eps must be > 0"),
    (lambda: optim.RMSprop(centered=None), "centered must be True or False"),
    (lambda: optim.Adam(betas=(1.0, 0.999)), r"betas\[0\] \(beta1\) must be in \[0, 1\)"),
    (lambda: optim.Adam(betas=(0.9, -0.1)), r"betas\[1\] \(beta2\) must be in \[0, 1\)"),
    (lambda: optim.Adam(betas=0.9), "betas must be a pair"),
    (lambda: optim.Adam(betas=(0.9, 0.99, 0.9)), "betas must be a pair"),
    (lambda: optim.Adam(eps=0), "eps must be > 0"),
    (lambda: optim.Adam(weight_decay=-0.01), "weight_decay must be >= 0"),
    (lambda: optim.AdamW(weight_decay=-0.01), "weight_decay must be >= 0"),
    (lambda: optim.AdamW(lr=0), "lr must be > 0"),
    (lambda: optim.Adam(amsgrad=0), "amsgrad must be True or False"),
    (lambda: optim.Newton(damping=-1.0), "damping must be >= 0"),
    (lambda: optim.Newton(max_params=0), "max_params must be a positive integer"),
    (lambda: optim.Newton(lr=0.0), "lr must be > 0"),
]


@pytest.mark.parametrize("make,match", BAD, ids=[m for _, m in BAD])
def test_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_lr_setter_validates():
    opt = optim.SGD()
    opt.lr = 0.0                    # a schedule may anneal to 0: no update
    theta = np.ones(3)
    opt.step(theta, np.ones(3), opt.init_state(3), 1)
    np.testing.assert_array_equal(theta, 1.0)
    opt.lr = np.float32(0.5)
    assert opt.lr == 0.5
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.lr = -0.1
    with pytest.raises(ValueError, match="lr must be a finite real number"):
        opt.lr = float("inf")


def test_bad_step_arguments():
    opt = optim.Adam()
    theta = np.zeros(4)
    state = opt.init_state(4, np.float64)
    with pytest.raises(ValueError, match="share a dtype"):
        opt.step(theta, np.zeros(4, np.float32), state, 1)
    with pytest.raises(ValueError, match="same length"):
        opt.step(theta, np.zeros(5), state, 1)
    with pytest.raises(ValueError, match=r"state must have shape \(2, 4\)"):
        opt.step(theta, np.zeros(4), np.zeros((1, 4)), 1)
    with pytest.raises(ValueError, match="t must be an integer >= 1"):
        opt.step(theta, np.zeros(4), state, 0)
    with pytest.raises(ValueError, match="float32 or float64"):
        opt.step(theta.astype(np.int64), np.zeros(4, np.int64), state, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step(np.zeros(8)[::2], np.zeros(4), state, 1)
    with pytest.raises(TypeError, match="numpy array"):
        opt.step([0.0] * 4, np.zeros(4), state, 1)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        opt.init_state(4, np.int32)


def test_kernel_rejects_bad_calls():
    theta, g = np.zeros(3), np.ones(3)
    h = optim.Adam().hyper
    with pytest.raises(ValueError, match="Newton"):
        optimizer_update(C.OPT_NEWTON, theta, g, np.zeros((1, 3)), h, 1)
    with pytest.raises(ValueError, match="unknown optimizer code"):
        optimizer_update(17, theta, g, np.zeros((1, 3)), h, 1)
    with pytest.raises(ValueError, match="fewer rows"):
        optimizer_update(C.OPT_ADAM, theta, g, np.zeros((1, 3)), h, 1)
    with pytest.raises(ValueError, match="1-based"):
        optimizer_update(C.OPT_ADAM, theta, g, np.zeros((2, 3)), h, 0)
    with pytest.raises(ValueError, match="differ in length"):
        optimizer_update(C.OPT_ADAM, theta, np.ones(2), np.zeros((2, 3)), h, 1)
    with pytest.raises(ValueError, match=r"state.shape\[1\]"):
        optimizer_update(C.OPT_ADAM, theta, g, np.zeros((2, 4)), h, 1)


# ---------------------------------------------------------------- Newton

def _quadratic(n, seed=0):
    """f(x) = 1/2 x^T A x - b^T x with A symmetric positive definite."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n))
    A = M @ M.T + n * np.eye(n)
    b = rng.normal(size=n)
    return A, b, (lambda x: A @ x - b)


def test_newton_hessian_on_quadratic():
    A, b, grad_fn = _quadratic(6)
    x = np.random.default_rng(1).normal(size=6) * 10
    np.testing.assert_allclose(optim.newton_hessian(grad_fn, x), A, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(optim.newton_hessian(grad_fn, x, h=0.5), A, rtol=1e-10)
    # a non-symmetric "Hessian" comes back symmetrized
    B = np.arange(9.0).reshape(3, 3)
    np.testing.assert_allclose(optim.newton_hessian(lambda x: B @ x, np.zeros(3)),
                               (B + B.T) / 2, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_newton_one_step_on_quadratic(dtype):
    A, b, grad_fn = _quadratic(5)
    x = np.random.default_rng(2).normal(size=5).astype(dtype)
    opt = optim.Newton()
    out = opt.step_newton(x, grad_fn(x.astype(np.float64)).astype(dtype),
                          lambda z: grad_fn(z.astype(np.float64)))
    assert out is x and x.dtype == dtype
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=tol, atol=tol)
    np.testing.assert_allclose(opt.last_hessian, A, rtol=1e-2 if dtype == np.float32 else 1e-7)


def test_newton_damping_and_lr():
    A, b, grad_fn = _quadratic(4)
    x0 = np.ones(4)
    x = x0.copy()
    optim.Newton(damping=2.0, lr=0.5).step_newton(x, grad_fn(x0), grad_fn)
    want = x0 - 0.5 * np.linalg.solve(A + 2.0 * np.eye(4), grad_fn(x0))
    np.testing.assert_allclose(x, want, rtol=1e-9)


def test_newton_singular_falls_back_to_lstsq():
    A = np.diag([2.0, 0.0, 1.0])
    b = np.array([1.0, 0.0, 3.0])

    def grad_fn(x):
        return A @ x - b

    x = np.array([5.0, 7.0, -1.0])
    optim.Newton().step_newton(x, grad_fn(x), grad_fn)
    assert np.all(np.isfinite(x))
    np.testing.assert_allclose(grad_fn(x), 0.0, atol=1e-9)
    assert x[1] == pytest.approx(7.0)           # the flat direction is left alone


def test_newton_limit_and_misuse():
    opt = optim.Newton(max_params=3)
    with pytest.raises(ValueError, match=r"P = 4 parameters exceeds max_params = 3.*O\(P\^2\) "
                                         r"memory.*O\(P\^3\) solve"):
        opt.step_newton(np.zeros(4), np.zeros(4), lambda x: x)
    with pytest.raises(ValueError, match="max_params"):
        opt.init_state(10)
    with pytest.raises(TypeError, match="step_newton"):
        optim.Newton().step(np.zeros(2), np.zeros(2), np.zeros((1, 2)), 1)
    with pytest.raises(ValueError, match="flat gradient of length 3"):
        optim.Newton().step_newton(np.zeros(3), np.zeros(3), lambda x: np.zeros(2))
    with pytest.raises(ValueError, match="h must be > 0"):
        optim.newton_hessian(lambda x: x, np.zeros(2), h=0.0)
