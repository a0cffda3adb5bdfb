"""What a fit leaves behind: its :class:`History`, and the error and the
warning that say it went wrong (:class:`TrainingDiverged`,
:class:`LossExplosionWarning`)."""
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ._typing import Array
from .kernels import cpu_train

if TYPE_CHECKING:
    from .base import Model


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN or infinite during fit."""


class LossExplosionWarning(RuntimeWarning):
    """The training loss stayed far above its starting value (fit's ``explode``).
    ``warnings.simplefilter("error", LossExplosionWarning)`` makes it stop fit."""


EXPLOSION_EPOCHS = 3  # consecutive epochs above the threshold before fit warns


def check_explosion(history: "History", first_step: int, first_epoch: int,
                    factor: float | None) -> bool:
    """Warn when this fit's last EXPLOSION_EPOCHS epoch losses all exceed
    ``factor`` times its first step loss (the loss at its starting weights);
    returns whether it warned (fit warns once)."""
    if factor is None or len(history.loss) - first_epoch < EXPLOSION_EPOCHS:
        return False
    first, recent = history.step_loss[first_step], history.loss[-EXPLOSION_EPOCHS:]
    if not first > 0 or min(recent) <= factor * first:
        return False
    warnings.warn(LossExplosionWarning(
        f"the training loss has been above {factor:g} x its starting value ({first:.4g}) for "
        f"{EXPLOSION_EPOCHS} epochs (last {recent[-1]:.4g}): training is diverging without "
        "reaching inf/NaN. Lower the learning rate or clip gradients (clip_norm=...); "
        "explode=None switches this check off."), stacklevel=3)
    return True


class History:
    """Per-epoch records of a fit: ``loss``, ``val_loss``, ``val_metric``,
    ``lr`` (the rate in force at the epoch's start), ``time`` (seconds), plus
    ``step_loss`` (every step's batch loss) and ``stopped_epoch``."""

    def __init__(self) -> None:
        self.loss: list[float] = []
        self.val_loss: list[float] = []
        self.val_metric: list[float] = []
        self.lr: list[float] = []
        self.time: list[float] = []
        self.step_loss: list[float] = []
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}

    def __repr__(self) -> str:
        last = f", loss {self.loss[-1]:.4g}" if self.loss else ""
        return f"History({len(self.loss)} epochs{last})"


def diverged(net: "Model", run: Any, status: int, epoch: int, step: int,
             steps_per_epoch: int) -> TrainingDiverged:
    """The error naming the epoch, the step and the first non-finite layer."""
    ws, m = run.ws, min(run.batch_size, len(run.X) - step * run.batch_size)
    what = "loss" if status == cpu_train.LOSS_NOT_FINITE else "gradient"
    # weights first: a non-finite W[l] (an update that overflowed) explains
    # every non-finite z, a, delta after it
    blocks = [(f"W[{l}]", net.W[l]) for l in range(1, net.L + 1)]
    blocks += [(f"z[{l}]", ws.z(l, m)) for l in range(1, net.L + 1)]
    blocks += [(f"a[{l}]", ws.a(l, m)) for l in range(1, net.L + 1)]
    blocks += [(f"delta[{l}]", ws.delta(l, m)) for l in range(net.L, 0, -1)]
    dW = net.split(run.grad)[0]
    blocks += [(f"dW[{l}]", dW[l - 1]) for l in range(net.L, 0, -1)]

    def layer(name: str) -> str:
        return f"{name} (layer {name[name.index('[') + 1:-1]})"
    bad = [name for name, values in blocks if not np.all(np.isfinite(values))]
    if bad:
        where = f"first non-finite values: {layer(bad[0])}"
    else:
        # every entry is finite but a sum (of squares) overflowed: name the largest
        # (the forward pass's numbers for a loss, all of them for a gradient)
        big = {name: float(np.max(np.abs(values))) for name, values in blocks
               if values.size and (what == "gradient" or name[0] in "Wza")}
        name = max(big, key=lambda key: big[key])
        where = (f"no single entry is inf or NaN (their sum overflowed); "
                 f"largest magnitude {big[name]:.3g} in {layer(name)}")
    return TrainingDiverged(
        f"training diverged at epoch {epoch}, step {step} of {steps_per_epoch}: the {what} "
        f"is not finite; {where}. Lower the learning rate, clip "
        "gradients (clip_norm=...), or check the data.")


def record(history: History, step_losses: Array, lrs: Array, sizes: Array, n: int,
           seconds: float, done: int | None = None) -> None:
    """Append a block's epochs (and, interrupted after ``done`` steps, only its
    completed steps and epochs) to the history."""
    E = len(step_losses) if done is None else done // step_losses.shape[1]
    history.step_loss.extend(step_losses.ravel()[:done].tolist())
    # row by row (not a BLAS product): the same sums however epochs are blocked
    history.loss.extend(((step_losses[:E] * sizes).sum(axis=1) / n).tolist())
    history.lr.extend(lrs[:E, 0].tolist())
    history.time.extend([seconds] * E)
