"""The CUDA optimizer update against cpu_optim.optimizer_update, step by step."""
import numpy as np
import pytest
from cuda_compare import assert_close
from numba import cuda

from numbann import optim
from numbann.kernels import codes
from numbann.kernels.cpu_optim import optimizer_update as cpu_update
from numbann.kernels.cuda_optim import optimizer_update as cuda_update

pytestmark = pytest.mark.usefixtures("gpu")

VARIANTS = {
    "sgd": optim.SGD(lr=0.1),
    "sgd-wd-l1": optim.SGD(lr=0.1, weight_decay=0.1, l1=0.01),
    "momentum-torch-dampening": optim.SGD(lr=0.1, momentum=0.9, dampening=0.3),
    "momentum-average": optim.Momentum(lr=0.1, beta=0.8, form="average"),
    "momentum-classic": optim.Momentum(lr=0.1, beta=0.8, form="classic"),
    "nesterov": optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adagrad": optim.Adagrad(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1),
    "adagrad-eps-inside": optim.Adagrad(lr=0.1, eps_inside=True, weight_decay=0.1),
    "rmsprop": optim.RMSprop(lr=0.01),
    "rmsprop-momentum": optim.RMSprop(lr=0.01, momentum=0.9, weight_decay=0.1),
    "rmsprop-centered": optim.RMSprop(lr=0.01, centered=True),
    "rmsprop-centered-momentum-eps-inside": optim.RMSprop(lr=0.01, momentum=0.5, centered=True,
                                                          eps_inside=True),
    "adam": optim.Adam(lr=0.01, weight_decay=0.1),
    "adam-amsgrad": optim.Adam(lr=0.01, amsgrad=True),
    "adamw": optim.AdamW(lr=0.01),
    "adamw-amsgrad": optim.AdamW(lr=0.01, weight_decay=0.1, amsgrad=True),
}


def problem(opt, dtype, P=21):
    rng = np.random.default_rng(P)
    theta = rng.normal(size=P).astype(dtype)
    theta[0] = 0.0  # sign(0) = 0 for l1
    grads = rng.normal(size=(3, P)).astype(dtype)
    return theta, grads, opt.init_state(P, dtype)


def run_both(opt, dtype, halt=None):
    theta, grads, state = problem(opt, dtype)
    d_theta, d_state = cuda.to_device(theta), cuda.to_device(state)
    for t, g in enumerate(grads, 1):
        opt.lr = opt.lr * 0.9  # a schedule rewrites hyper[H_LR] between steps
        cpu_update(opt.code, theta, g, state, opt.hyper, t)
        cuda_update(opt.code, d_theta, cuda.to_device(g), d_state, opt.hyper, t, halt)
    return theta, state, d_theta, d_state


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_update_is_the_cpus(name, dtype):
    opt = VARIANTS[name]
    lr = opt.lr
    theta, state, d_theta, d_state = run_both(opt, dtype)
    opt.lr = lr
    assert_close(d_theta, theta, dtype, "theta")
    assert_close(d_state, state, dtype, "state")


def test_a_raised_halt_flag_changes_nothing():
    opt = optim.Adam(lr=0.1)
    theta, grads, state = problem(opt, np.float64)
    d_theta = cuda.to_device(theta)
    cuda_update(opt.code, d_theta, cuda.to_device(grads[0]), cuda.to_device(state), opt.hyper, 1,
                cuda.to_device(np.ones(1, np.int64)))
    np.testing.assert_array_equal(d_theta.copy_to_host(), theta)


@pytest.mark.parametrize("change, message", [
    (dict(grad=np.zeros(4)), "grad and theta differ"),
    (dict(t=0), "1-based"),
    (dict(code=codes.OPT_NEWTON), "Newton"),
    (dict(code=17), "unknown optimizer"),
    (dict(state=np.zeros((1, 5))), "fewer rows"),
])
def test_the_cpus_argument_errors(change, message):
    args = dict(code=codes.OPT_ADAM, theta=np.zeros(5), grad=np.zeros(5), state=np.zeros((2, 5)),
                hyper=optim.Adam().hyper, t=1)
    args.update(change)
    for name in ("theta", "grad", "state"):
        args[name] = cuda.to_device(args[name])
    with pytest.raises(ValueError, match=message):
        cuda_update(**args)
