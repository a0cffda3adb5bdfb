"""Learning-rate schedules: the rate in force as a function of t.

A schedule is a pure function ``lr_at(t, base_lr)`` of the epoch index t
(``per="epoch"``, the default, like ``torch.optim.lr_scheduler``) or of the
global step index (``per="step"``), counted from 0. The training loop
writes its value into ``optimizer.lr`` before the epoch (or step) runs. The
values equal those torch's schedulers have in force after t calls to
``scheduler.step()``.

    Constant()                        alpha0
    StepDecay(step_size, gamma=0.1)   alpha0 gamma^floor(t / step_size)    (StepLR)
    Exponential(gamma)                alpha0 gamma^t                       (ExponentialLR)
    ExpDecay(k)                       alpha0 exp(-k t)                     (course)
    CosineAnnealing(T_max, eta_min)   eta_min + (alpha0 - eta_min)(1 + cos(pi t / T_max)) / 2
                                                                           (CosineAnnealingLR)
"""
import math
from typing import Any

import numpy as np

from . import _checks
from ._registry import resolve
from ._typing import Array

__all__ = ["Schedule", "Constant", "StepDecay", "Exponential", "ExpDecay",
           "CosineAnnealing", "get_schedule", "SCHEDULES"]

_PERS = ("epoch", "step")


_real = _checks.real  # one helper per kind of check (numbann._checks)
_pos_int = _checks.positive_int


class Schedule:
    """Base class: ``lr_at(t, base_lr)``, ``per``, ``values(n, base_lr)``."""

    name = "schedule"

    def __init__(self, per: str = "epoch") -> None:
        if not isinstance(per, str) or per not in _PERS:
            raise ValueError(f"per must be 'epoch' or 'step', got {per!r}")
        self.per = per

    def lr_at(self, t: int, base_lr: float) -> float:
        """The learning rate in force at t (epoch or step index, from 0)."""
        t = _checks.integer(t, "t", 0)
        base_lr = _real(base_lr, "base_lr", 0, low_open=True)
        return float(self._lr(int(t), base_lr))

    def _lr(self, t: int, base_lr: float) -> float:
        raise NotImplementedError

    def values(self, n: int, base_lr: float) -> Array:
        """The rates at t = 0 .. n-1 as a float64 array (for plots and checks)."""
        n = _checks.integer(n, "n", 0)
        return np.array([self.lr_at(t, base_lr) for t in range(n)], dtype=np.float64)

    def _args(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = dict(self._args())
        if self.per != "epoch":
            args["per"] = self.per
        inner = ", ".join(f"{k}={v!r}" for k, v in args.items())
        return f"{type(self).__name__}({inner})"


class Constant(Schedule):
    """alpha_t = alpha0."""

    name = "constant"

    def _lr(self, t: int, base_lr: float) -> float:
        return base_lr


class StepDecay(Schedule):
    """Step decay: alpha_t = alpha0 gamma^floor(t / k), k = step_size
    (torch StepLR)."""

    name = "step"

    def __init__(self, step_size: int, gamma: float = 0.1, per: str = "epoch") -> None:
        super().__init__(per)
        self.step_size = _pos_int(step_size, "step_size")
        self.gamma = _real(gamma, "gamma")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be > 0, got {self.gamma}")

    def _lr(self, t: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (t // self.step_size)

    def _args(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}


class Exponential(Schedule):
    """Exponential decay by a factor per period: alpha_t = alpha0 gamma^t
    (torch ExponentialLR). Equal to ``ExpDecay(k)`` with gamma = exp(-k)."""

    name = "exponential"

    def __init__(self, gamma: float, per: str = "epoch") -> None:
        super().__init__(per)
        self.gamma = _real(gamma, "gamma")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be > 0, got {self.gamma}")

    def _lr(self, t: int, base_lr: float) -> float:
        return base_lr * self.gamma ** t

    def _args(self) -> dict[str, Any]:
        return {"gamma": self.gamma}


class ExpDecay(Schedule):
    """The course's exponential decay: alpha_t = alpha0 exp(-k t), k >= 0.
    Equal to ``Exponential(gamma=exp(-k))``."""

    name = "exp_decay"

    def __init__(self, k: float, per: str = "epoch") -> None:
        super().__init__(per)
        self.k = _real(k, "k")
        if not self.k >= 0:
            raise ValueError(f"k must be >= 0, got {self.k}")

    def _lr(self, t: int, base_lr: float) -> float:
        return base_lr * math.exp(-self.k * t)

    def _args(self) -> dict[str, Any]:
        return {"k": self.k}


class CosineAnnealing(Schedule):
    """Cosine annealing (torch CosineAnnealingLR, without restarts):
    alpha_t = eta_min + (alpha0 - eta_min)(1 + cos(pi t / T_max)) / 2.

    From alpha0 at t = 0 down to eta_min at t = T_max. Past T_max the same
    closed form continues periodically: the rate climbs back to alpha0 at
    2 T_max, falls again by 3 T_max, and so on, which is what torch's
    scheduler produces if stepped past T_max (its recursive update traces
    the same curve)."""

    name = "cosine"

    def __init__(self, T_max: int, eta_min: float = 0.0, per: str = "epoch") -> None:
        super().__init__(per)
        self.T_max = _pos_int(T_max, "T_max")
        self.eta_min = _real(eta_min, "eta_min")
        if not self.eta_min >= 0:
            raise ValueError(f"eta_min must be >= 0, got {self.eta_min}")

    def _lr(self, t: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (
            1 + math.cos(math.pi * t / self.T_max)) / 2

    def _args(self) -> dict[str, Any]:
        return {"T_max": self.T_max, "eta_min": self.eta_min}


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": StepDecay,
    "step_decay": StepDecay,
    "exponential": Exponential,
    "exp_decay": ExpDecay,
    "cosine": CosineAnnealing,
    "cosine_annealing": CosineAnnealing,
}


def get_schedule(name_or_obj: "str | Schedule | type[Schedule] | None", **kw: Any) -> Schedule:
    """A schedule from a name (see ``SCHEDULES``) and keyword arguments, a
    ``Schedule`` class and keyword arguments, a ``Schedule`` object (returned
    as is), or None (``Constant()``)."""
    if name_or_obj is None:
        name_or_obj = "constant"
    return resolve("schedule", Schedule, SCHEDULES, name_or_obj, kw)
