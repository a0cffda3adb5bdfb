"""Optimizers: a thin Python layer over one fused update kernel.

Each optimizer is a small object holding

- ``code``: which rule ``kernels.cpu_optim.optimizer_update`` applies
  (``kernels.codes.OPT_*``),
- ``hyper``: a writable float64 vector of hyperparameters in the fixed
  layout of ``kernels.codes.H_*`` (the same for every optimizer);
  ``hyper[H_LR]`` is the rate in force and the ``lr`` property reads and
  writes it, which is how schedules act,
- ``n_state`` / ``state_names`` / ``init_state(P, dtype)``: the optimizer
  state is an ``(S, P)`` array, one flat row per buffer (velocity ``v``,
  AdaGrad's ``G``, RMSprop's ``E[g^2]``, Adam's ``m`` and ``v``).

``step(theta, grad, state, t)`` runs the kernel once (``t`` = 1-based step
count). Defaults and formulas follow ``torch.optim``; the course's variants
(momentum as an average, ``v = gamma v + eta g``, eps inside the square
root) are options, documented on each class.

``Newton`` is different: second order, no fused kernel; it needs a callable
that recomputes the gradient (``Newton.step_newton``).
"""
import functools

from collections.abc import Callable
from typing import Any

import numpy as np

from numbann import _checks
from numbann._typing import Array, ArrayLike, DTypeLike
from numbann._registry import resolve
from numbann.kernels import codes as C
from numbann.kernels.cpu_optim import optimizer_update, optimizer_update_parallel

__all__ = ["Optimizer", "SGD", "Momentum", "Adagrad", "RMSprop", "Adam", "AdamW",
           "Newton", "newton_hessian", "get_optimizer", "OPTIMIZERS"]

_FORMS = {"torch": C.MOMENTUM_TORCH, "average": C.MOMENTUM_AVERAGE,
          "classic": C.MOMENTUM_CLASSIC}


# ---------------------------------------------------------------- validation

# one helper per kind of check, shared with the rest of numbann (numbann._checks)
_number = _checks.real
_positive = functools.partial(_checks.real, low=0, low_open=True)
_nonneg = functools.partial(_checks.real, low=0)
_unit = functools.partial(_checks.real, low=0, high=1, high_open=True)  # a decay rate in [0, 1)
_flag = _checks.flag


def _fmt(x: object) -> str:
    return f"{x:g}" if isinstance(x, float) else repr(x)


# ---------------------------------------------------------------- base class

class Optimizer:
    """Base class: ``code``, ``hyper``, ``lr``, ``n_state``, ``state_names``,
    ``init_state``, ``step``. Subclasses set ``code`` and fill ``hyper``."""

    code = -1
    name = "optimizer"
    # set by fit: the run's state array (n_state, P) and its step count
    state: Array
    t: int
    _run_token: str  # which run the state belongs to (numbann.checkpoint)

    def __init__(self, lr: float) -> None:
        self.hyper = np.zeros(C.N_HYPER, dtype=np.float64)
        self.hyper[C.H_LR] = _positive(lr, "lr")

    # the rate in force; schedules write it between steps (0 allowed there:
    # cosine annealing to eta_min = 0 reaches it)
    @property
    def lr(self) -> float:
        return float(self.hyper[C.H_LR])

    @lr.setter
    def lr(self, value: float) -> None:
        self.hyper[C.H_LR] = _nonneg(value, "lr")

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("unused",)

    @property
    def n_state(self) -> int:
        return len(self.state_names)

    def init_state(self, P: int, dtype: DTypeLike = np.float64) -> Array:
        """A fresh ``(n_state, P)`` state array of ``dtype`` (zeros)."""
        P = _checks.integer(P, "P", 0)
        try:
            ok = np.dtype(dtype) in (np.float32, np.float64)
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        dtype = np.dtype(dtype)
        return np.zeros((self.n_state, P), dtype=dtype)

    def step(self, theta: Array, grad: Array, state: Array, t: int,
             parallel: bool = False) -> Array:
        """One update in place on ``theta`` and ``state`` (``t`` 1-based);
        returns ``theta``. ``parallel=True`` uses the multi-threaded kernel
        (pays only for long vectors on idle cores; see kernels.cpu_optim)."""
        for name, a in (("theta", theta), ("grad", grad), ("state", state)):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
            if a.dtype not in (np.float32, np.float64):
                raise ValueError(f"{name} must be float32 or float64, got {a.dtype}")
            if not a.flags.c_contiguous:
                raise ValueError(f"{name} must be C-contiguous")
        if theta.ndim != 1 or grad.shape != theta.shape:
            raise ValueError(f"theta and grad must be 1-D of the same length, got "
                             f"{theta.shape} and {grad.shape}")
        if grad.dtype != theta.dtype or state.dtype != theta.dtype:
            raise ValueError(f"theta, grad and state must share a dtype, got "
                             f"{theta.dtype}, {grad.dtype}, {state.dtype}")
        if state.shape != (self.n_state, theta.shape[0]):
            raise ValueError(f"state must have shape {(self.n_state, theta.shape[0])} "
                             f"(rows {self.state_names}), got {state.shape}")
        _checks.integer(t, "t", 1)  # the 1-based step count
        kernel = optimizer_update_parallel if parallel else optimizer_update
        kernel(self.code, theta, grad, state, self.hyper, int(t))
        return theta

    def _args(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self._args().items())
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------- SGD

class SGD(Optimizer):
    """Stochastic gradient descent, with momentum and Nesterov as in
    ``torch.optim.SGD`` (same defaults), plus the course's momentum forms.

    With g <- g + weight_decay theta + l1 sign(theta) (coupled L2 as in
    PyTorch; ``l1`` is numbann's addition), eta = lr, beta = momentum:

    - momentum = 0:  theta <- theta - eta g
    - ``momentum_form="torch"`` (default, PyTorch):
      v <- beta v + (1 - dampening) g, with v = g at the first step;
      theta <- theta - eta v
    - ``"average"`` (course): v <- beta v + (1 - beta) g, v0 = 0;
      theta <- theta - eta v
    - ``"classic"`` (course): v <- gamma v + eta g, v0 = 0; theta <- theta - v
    - ``nesterov=True``: the step uses the look-ahead beta v + c g instead of
      v, c being g's coefficient in the v update (PyTorch:
      theta <- theta - eta (g + beta v)).

    When the forms agree (dampening 0 unless said):

    - "average" with rate eta is exactly "torch" with rate (1 - beta) eta,
      at every step, Nesterov included: by induction v_avg = (1 - beta) v_torch
      (v_avg1 = (1 - beta) g1, v_torch1 = g1). Put the other way, "torch" is
      the average with eta scaled by 1 / (1 - beta).
    - "average" is also "torch" with dampening = beta at the same eta, except
      for the first step (torch starts v = g, the average v = (1 - beta) g), so
      the two trajectories differ from then on by that first-step offset.
    - "classic" is exactly "torch" while eta is constant (v_classic = eta v_torch).

    When they diverge: if a schedule changes eta mid-run, "classic" keeps the
    old rates inside the velocity it accumulated (v remembers each past eta g),
    while "torch" and "average" apply the new rate to the whole velocity at once.
    """

    code = C.OPT_SGD
    name = "sgd"

    def __init__(self, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, l1: float = 0.0,
                 momentum_form: str = "torch") -> None:
        super().__init__(lr)
        momentum = _unit(momentum, "momentum")
        dampening = _number(dampening, "dampening")
        if not 0 <= dampening <= 1:
            raise ValueError(f"dampening must be in [0, 1], got {dampening}")
        nesterov = _flag(nesterov, "nesterov")
        _checks.choice(momentum_form, "momentum_form", tuple(_FORMS))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0 "
                             f"(as in torch.optim.SGD), got momentum={momentum}, "
                             f"dampening={dampening}")
        if dampening != 0 and momentum_form != "torch":
            raise ValueError(f"dampening applies to momentum_form='torch' only, got "
                             f"momentum_form={momentum_form!r} with dampening={dampening}")
        h = self.hyper
        h[C.H_MOMENTUM] = momentum
        h[C.H_DAMPENING] = dampening
        h[C.H_NESTEROV] = float(nesterov)
        h[C.H_MOMENTUM_FORM] = _FORMS[momentum_form]
        h[C.H_WEIGHT_DECAY] = _nonneg(weight_decay, "weight_decay")
        h[C.H_L1] = _nonneg(l1, "l1")
        self.momentum_form = momentum_form

    @property
    def momentum(self) -> float:
        return float(self.hyper[C.H_MOMENTUM])

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum != 0 else ("unused",)

    def _args(self) -> dict[str, Any]:
        h = self.hyper
        a: dict[str, Any] = {"lr": self.lr, "momentum": self.momentum}
        if h[C.H_DAMPENING]:
            a["dampening"] = float(h[C.H_DAMPENING])
        if h[C.H_NESTEROV]:
            a["nesterov"] = True
        if h[C.H_WEIGHT_DECAY]:
            a["weight_decay"] = float(h[C.H_WEIGHT_DECAY])
        if h[C.H_L1]:
            a["l1"] = float(h[C.H_L1])
        if self.momentum_form != "torch":
            a["momentum_form"] = self.momentum_form
        return a


class Momentum(SGD):
    """SGD with momentum, named for the course: ``Momentum(lr, beta=0.9,
    form="torch" | "average" | "classic", nesterov=False, ...)``; ``momentum``
    is accepted as an alias of ``beta``. See ``SGD`` for the three forms:

    - "torch":   v = beta v + g (v = g at t = 1),   theta -= eta v
    - "average": v = beta v + (1 - beta) g,         theta -= eta v
    - "classic": v = gamma v + eta g,               theta -= v
    """

    name = "momentum"

    def __init__(self, lr: float = 1e-3, beta: float = 0.9, form: str = "torch",
                 nesterov: bool = False, dampening: float = 0.0, weight_decay: float = 0.0,
                 l1: float = 0.0, momentum: float | None = None) -> None:
        if momentum is not None:
            # beta left at its default: the alias decides; otherwise both must agree
            momentum, beta = _number(momentum, "momentum"), _number(beta, "beta")
            if beta != 0.9 and momentum != beta:
                raise ValueError(f"momentum is an alias of beta: give one, got "
                                 f"beta={beta} and momentum={momentum}")
            beta = momentum
        beta = _number(beta, "beta")
        if not 0 < beta < 1:
            raise ValueError(f"beta must be in (0, 1) for Momentum, got {beta}")
        super().__init__(lr=lr, momentum=beta, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay, l1=l1, momentum_form=form)

    def _args(self) -> dict[str, Any]:
        a = super()._args()
        a["beta"] = a.pop("momentum")
        if "momentum_form" in a:
            a["form"] = a.pop("momentum_form")
        return a


# ---------------------------------------------------------------- AdaGrad

class Adagrad(Optimizer):
    """AdaGrad as ``torch.optim.Adagrad`` (same defaults).

    g <- g + weight_decay theta;  G <- G + g^2  (G starts at
    initial_accumulator_value);  eta_t = eta / (1 + (t - 1) lr_decay);
    theta <- theta - eta_t g / (sqrt(G) + eps).
    ``eps_inside=True`` gives the course deck's theta <- theta - eta_t g / sqrt(G + eps).
    """

    code = C.OPT_ADAGRAD
    name = "adagrad"

    def __init__(self, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10,
                 eps_inside: bool = False) -> None:
        super().__init__(lr)
        h = self.hyper
        h[C.H_LR_DECAY] = _nonneg(lr_decay, "lr_decay")
        h[C.H_WEIGHT_DECAY] = _nonneg(weight_decay, "weight_decay")
        h[C.H_EPS] = _positive(eps, "eps")
        h[C.H_EPS_INSIDE] = float(_flag(eps_inside, "eps_inside"))
        self.initial_accumulator_value = _nonneg(initial_accumulator_value,
                                                 "initial_accumulator_value")

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("G",)

    def init_state(self, P: int, dtype: DTypeLike = np.float64) -> Array:
        state = super().init_state(P, dtype)
        state[0] = self.initial_accumulator_value
        return state

    def _args(self) -> dict[str, Any]:
        h = self.hyper
        a = {"lr": self.lr, "lr_decay": float(h[C.H_LR_DECAY]),
             "weight_decay": float(h[C.H_WEIGHT_DECAY]),
             "initial_accumulator_value": self.initial_accumulator_value,
             "eps": float(h[C.H_EPS])}
        if h[C.H_EPS_INSIDE]:
            a["eps_inside"] = True
        return a


# ---------------------------------------------------------------- RMSprop

class RMSprop(Optimizer):
    """RMSprop as ``torch.optim.RMSprop`` (same defaults), centered included.

    g <- g + weight_decay theta;  E[g^2] <- alpha E[g^2] + (1 - alpha) g^2
    (the course calls alpha rho, ~0.9; ``rho=`` is an alias);
    centered: E[g] <- alpha E[g] + (1 - alpha) g, s = E[g^2] - E[g]^2,
    else s = E[g^2];  q = sqrt(s) + eps  (``eps_inside=True``: the course's
    sqrt(s + eps));  theta <- theta - eta g / q, or with momentum beta:
    v <- beta v + g / q, theta <- theta - eta v.
    """

    code = C.OPT_RMSPROP
    name = "rmsprop"

    def __init__(self, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 eps_inside: bool = False, rho: float | None = None) -> None:
        super().__init__(lr)
        if rho is not None:
            # alpha left at its default: the alias decides; otherwise both must agree
            rho, alpha = _number(rho, "alpha (rho)"), _number(alpha, "alpha (rho)")
            if alpha != 0.99 and rho != alpha:
                raise ValueError(f"rho is an alias of alpha: give one, got alpha={alpha} "
                                 f"and rho={rho}")
            alpha = rho
        h = self.hyper
        h[C.H_ALPHA] = _unit(alpha, "alpha (rho)")
        h[C.H_EPS] = _positive(eps, "eps")
        h[C.H_WEIGHT_DECAY] = _nonneg(weight_decay, "weight_decay")
        h[C.H_MOMENTUM] = _unit(momentum, "momentum")
        h[C.H_CENTERED] = float(_flag(centered, "centered"))
        h[C.H_EPS_INSIDE] = float(_flag(eps_inside, "eps_inside"))

    @property
    def state_names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = ("E[g^2]",)
        if self.hyper[C.H_MOMENTUM] != 0:
            names += ("velocity",)
        if self.hyper[C.H_CENTERED]:
            names += ("E[g]",)
        return names

    def _args(self) -> dict[str, Any]:
        h = self.hyper
        a = {"lr": self.lr, "alpha": float(h[C.H_ALPHA]), "eps": float(h[C.H_EPS]),
             "weight_decay": float(h[C.H_WEIGHT_DECAY]), "momentum": float(h[C.H_MOMENTUM]),
             "centered": bool(h[C.H_CENTERED])}
        if h[C.H_EPS_INSIDE]:
            a["eps_inside"] = True
        return a


# ---------------------------------------------------------------- Adam, AdamW

class Adam(Optimizer):
    """Adam as ``torch.optim.Adam`` (same defaults; weight decay coupled).

    g <- g + weight_decay theta;  m <- beta1 m + (1 - beta1) g;
    v <- beta2 v + (1 - beta2) g^2;  mhat = m / (1 - beta1^t),
    vhat = v / (1 - beta2^t);  theta <- theta - eta mhat / (sqrt(vhat) + eps).
    ``amsgrad=True``: vmax <- max(vmax, v) replaces v in the denominator.
    """

    code = C.OPT_ADAM
    name = "adam"

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(lr)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        h = self.hyper
        h[C.H_BETA1] = _unit(beta1, "betas[0] (beta1)")
        h[C.H_BETA2] = _unit(beta2, "betas[1] (beta2)")
        h[C.H_EPS] = _positive(eps, "eps")
        h[C.H_WEIGHT_DECAY] = _nonneg(weight_decay, "weight_decay")
        h[C.H_AMSGRAD] = float(_flag(amsgrad, "amsgrad"))

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("m", "v", "vmax") if self.hyper[C.H_AMSGRAD] else ("m", "v")

    def _args(self) -> dict[str, Any]:
        h = self.hyper
        a = {"lr": self.lr, "betas": (float(h[C.H_BETA1]), float(h[C.H_BETA2])),
             "eps": float(h[C.H_EPS]), "weight_decay": float(h[C.H_WEIGHT_DECAY])}
        if h[C.H_AMSGRAD]:
            a["amsgrad"] = True
        return a


class AdamW(Adam):
    """AdamW as ``torch.optim.AdamW`` (same defaults, lambda = 0.01): the
    decay is decoupled from the gradient and applied first,
    theta <- theta - eta lambda theta, then the Adam step on the plain g."""

    code = C.OPT_ADAMW
    name = "adamw"

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01, amsgrad: bool = False) -> None:
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)


# ---------------------------------------------------------------- Newton

def newton_hessian(grad_fn: Callable[[Array], ArrayLike], theta: ArrayLike,
                   h: float | None = None) -> Array:
    """The Hessian of J at ``theta`` by central differences of its gradient:
    H[:, i] = (g(theta + h_i e_i) - g(theta - h_i e_i)) / (2 h_i), then
    symmetrized, H <- (H + H^T) / 2. ``grad_fn(theta_copy)`` returns the flat
    gradient. ``h``: a step (scalar) or None for h_i = eps^(1/3) max(1, |theta_i|)
    with eps the machine epsilon of theta's dtype. Returns float64 (P, P);
    costs 2P gradient evaluations. Exact (up to rounding) on quadratics."""
    point = np.asarray(theta)
    if point.ndim != 1:
        raise ValueError(f"theta must be 1-D, got shape {point.shape}")
    P = point.shape[0]
    dtype = point.dtype if point.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if h is None:
        steps = np.finfo(dtype).eps ** (1 / 3) * np.maximum(1.0, np.abs(point.astype(np.float64)))
    else:
        steps = np.full(P, _positive(h, "h"))
    H = np.empty((P, P), dtype=np.float64)
    x = point.astype(dtype, copy=True)
    for i in range(P):
        xi = x[i]
        x[i] = xi + steps[i]
        up_step = float(x[i]) - float(xi)          # the step actually taken
        gp = np.array(grad_fn(x.copy()), dtype=np.float64).ravel()
        x[i] = xi - steps[i]
        down_step = float(xi) - float(x[i])
        gm = np.array(grad_fn(x.copy()), dtype=np.float64).ravel()
        x[i] = xi
        if gp.shape != (P,) or gm.shape != (P,):
            raise ValueError(f"grad_fn must return a flat gradient of length {P}, "
                             f"got shape {gp.shape}")
        H[:, i] = (gp - gm) / (up_step + down_step)
    return np.asarray(0.5 * (H + H.T))


class Newton(Optimizer):
    """Newton's method: theta <- theta - lr (H + damping I)^{-1} g, lr = 1.

    Second order and without a learning rate (``lr`` scales the step if you
    want one; schedules may still write it). H is built by central
    differences of the analytic gradient (``newton_hessian``): 2P gradient
    evaluations, O(P^2) memory and an O(P^3) solve per step, which is why it
    is rare in deep learning; ``max_params`` guards against that. Not a fused
    kernel: use ``step_newton(theta, grad, grad_fn)``.
    """

    code = C.OPT_NEWTON
    name = "newton"

    def __init__(self, damping: float = 0.0, max_params: int = 2000, lr: float = 1.0,
                 h: float | None = None) -> None:
        super().__init__(lr)
        self.damping = _nonneg(damping, "damping")
        self.max_params = _checks.positive_int(max_params, "max_params")
        self.h = None if h is None else _positive(h, "h")
        self.last_hessian: Array | None = None

    def _check_size(self, P: int) -> None:
        if P > self.max_params:
            mb = P * P * 8 / 2**20
            raise ValueError(
                f"Newton's method needs the full P x P Hessian: P = {P} parameters exceeds "
                f"max_params = {self.max_params}. That is O(P^2) memory ({mb:.0f} MiB here), "
                f"an O(P^3) solve and 2P gradient evaluations per step; raise max_params "
                f"if you mean it, or use a first-order optimizer (SGD, Adam, ...).")

    def init_state(self, P: int, dtype: DTypeLike = np.float64) -> Array:
        self._check_size(int(P))
        return super().init_state(P, dtype)

    def step_newton(self, theta: Array, grad: Array,
                    grad_fn: Callable[[Array], ArrayLike]) -> Array:
        """theta <- theta - lr (H + damping I)^{-1} grad, in place; returns theta.

        ``grad_fn(theta_copy)`` recomputes the full gradient (same batch) at
        other parameter values; H comes from ``newton_hessian``. Solved by
        ``numpy.linalg.solve``, falling back to least squares if H + damping I
        is singular. The Hessian used is kept as ``last_hessian``."""
        theta = np.asarray(theta)
        grad = np.asarray(grad)
        if theta.ndim != 1 or grad.shape != theta.shape:
            raise ValueError(f"theta and grad must be 1-D of the same length, got "
                             f"{theta.shape} and {grad.shape}")
        P = theta.shape[0]
        self._check_size(P)
        H = newton_hessian(grad_fn, theta, self.h)
        A = H + self.damping * np.eye(P)
        g = grad.astype(np.float64)
        try:
            d = np.linalg.solve(A, g)
            if not np.all(np.isfinite(d)):
                raise np.linalg.LinAlgError("non-finite solution")
        except np.linalg.LinAlgError:
            d = np.linalg.lstsq(A, g, rcond=None)[0]
        self.last_hessian = H
        theta -= (self.lr * d).astype(theta.dtype)
        return theta

    def step(self, theta: Array, grad: Array, state: Array, t: int,
             parallel: bool = False) -> Array:
        raise TypeError("Newton's method needs to recompute gradients: call "
                        "step_newton(theta, grad, grad_fn) instead of step()")

    def _args(self) -> dict[str, Any]:
        a = {"damping": self.damping, "max_params": self.max_params}
        if self.lr != 1.0:
            a["lr"] = self.lr
        return a


# ---------------------------------------------------------------- registry

def _nesterov(**kw: Any) -> "Momentum":
    kw.setdefault("nesterov", True)
    return Momentum(**kw)


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": _nesterov,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "newton": Newton,
}


def get_optimizer(name_or_obj: "str | Optimizer | type[Optimizer]", **kw: Any) -> Optimizer:
    """An optimizer from a name ("sgd", "momentum", "nesterov", "adagrad",
    "rmsprop", "adam", "adamw", "newton") and keyword arguments, an
    ``Optimizer`` class and keyword arguments, or an ``Optimizer`` object
    (returned as is; no keyword arguments then)."""
    return resolve("optimizer", Optimizer, OPTIMIZERS, name_or_obj, kw)
