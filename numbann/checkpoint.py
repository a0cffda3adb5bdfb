"""Training runs that continue: successive ``fit`` calls, checkpoints, ``resume``.

A run is what one optimizer does to one network. The network keeps where its
last fit left the run (``net._fit_state``: seed, the shuffle generator's
state, epochs and steps done, the optimizer's step count ``t`` and the run's
token, which the optimizer carries too). A fit continues that run when the
optimizer carries the same token (the same object, or a copy or pickle of
it) at the same ``t`` and the seed is the same; anything else starts a new
run from ``seed``. ``fit(..., checkpoint=path)`` writes the whole state of the
run (network, optimizer, schedule, settings, the generator, history, early
stopping) through ``numbann.io``; ``resume(path)`` reads it back, in any
process, and ``Resumed.fit`` continues bit for bit. See docs/training.md.
"""
import json
import math
import numbers
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import io as nbio
from . import losses, optim, schedules
from ._typing import Array, ArrayLike
from .kernels import codes

if TYPE_CHECKING:
    from .base import Model
    from .history import History

PathLike = str | os.PathLike[str]



class FitState(NamedTuple):
    """Where a network's last fit left its run (``net._fit_state``)."""
    seed: int | None
    rng: Mapping[str, Any]  # the shuffle generator's bit_generator.state
    epoch: int
    step: int
    t: int
    token: str

_OPTIMIZERS = {c.__name__: c for c in (optim.SGD, optim.Momentum, optim.Adagrad, optim.RMSprop,
                                       optim.Adam, optim.AdamW, optim.Newton)}
_SCHEDULES = {c.__name__: c for c in schedules.SCHEDULES.values()}
_LOSSES = {type(losses.get(name)).__name__: type(losses.get(name)) for name in losses.NAMES}
_SAME = object()  # Resumed.fit's default: keep checkpointing to the file it resumed from


class Saver:
    """Where and how often ``fit`` writes checkpoints (validated before any work)."""

    def __init__(self, path: PathLike, every: int | None, optimizer: "str | optim.Optimizer",
                 schedule: schedules.Schedule, loss: losses.Loss) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a file path, got {type(path).__name__}")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"checkpoint: the folder {folder} does not exist")
        if os.path.isdir(path):
            raise ValueError(f"checkpoint: {os.fspath(path)} is a folder, not a file path")
        if every is not None and (isinstance(every, bool) or not isinstance(every, numbers.Integral)
                                  or every < 1):
            raise ValueError(f"checkpoint_every must be a positive integer (epochs) or None, "
                             f"got {every!r}")
        self.path, self.every = path, None if every is None else int(every)
        for kind, obj, classes in (("optimizer", optim.get_optimizer(optimizer), _OPTIMIZERS),
                                   ("schedule", schedule, _SCHEDULES), ("loss", loss, _LOSSES)):
            _encode(obj, kind, classes, {})  # fails now, not after an epoch


def saver(checkpoint: PathLike | None, every: int | None, optimizer: "str | optim.Optimizer",
          schedule: schedules.Schedule, loss: losses.Loss) -> Saver | None:
    """fit's checkpoint arguments checked: a Saver, or None without a path."""
    if checkpoint is None:
        if every is not None:
            raise ValueError("checkpoint_every needs checkpoint=path")
        return None
    return Saver(checkpoint, every, optimizer, schedule, loss)


class Session:
    """One fit's place in its run: the generator, the epochs and steps done
    before it, the early-stopping state it starts from, its checkpoints."""

    def __init__(self, net: "Model", optimizer: optim.Optimizer, seed: int | None, epochs: int,
                 saver: Saver | None = None, resumed: "Resumed | None" = None,
                 settings: dict[str, Any] | None = None) -> None:
        self.net, self.optimizer, self.saver, self.resumed = net, optimizer, saver, resumed
        self.seed = None if seed is None else int(seed)
        self.base_lr, self.settings = optimizer.lr, settings or {}
        if saver is not None:  # the plain settings must be JSON: fail before training
            _dumps({k: v for k, v in self.settings.items() if k not in ("schedule", "loss")})
        fs, token = getattr(net, "_fit_state", None), getattr(optimizer, "_run_token", None)
        if fs is not None and token is not None and (fs.token, fs.seed, fs.t) == \
                (token, self.seed, optimizer.t):
            self.rng = _generator(fs.rng)
            self.epoch0, self.step0 = fs.epoch, fs.step
        else:
            optimizer._run_token = secrets.token_hex(8)
            self.rng = np.random.default_rng(seed)
            self.epoch0 = self.step0 = 0
        self.target = (len(resumed.history.loss) if resumed else 0) + epochs

    def start(self, history: "History") -> tuple["History", float, Array | None, int]:
        """(history, best, best_theta, waited): a resumed fit's, or a new fit's."""
        r = self.resumed
        return (history, math.inf, None, 0) if r is None else \
            (r.history, r.best, r.best_theta, r.waited)

    def block(self, epoch: int, E: int) -> int:
        """At most E epochs from this fit's ``epoch``, ending where a checkpoint is due."""
        if self.saver is None or self.saver.every is None:
            return E
        return min(E, self.saver.every - (self.epoch0 + epoch) % self.saver.every)

    def position(self, epoch: int, steps: int) -> tuple[int, int]:
        """The run's (epoch, step) at this fit's ``epoch`` (what schedules count)."""
        return self.epoch0 + epoch, self.step0 + epoch * steps

    def checkpoint(self, epoch: int, steps: int, history: "History", best: float, waited: int,
                   best_theta: Array | None) -> None:
        """Write a checkpoint if one is due after this fit's first ``epoch`` epochs."""
        every = self.saver and self.saver.every
        if every and epoch and (self.epoch0 + epoch) % every == 0:
            self._write(self._state(epoch, steps), history, best, waited, best_theta)

    def end(self, epoch: int, steps: int, history: "History", best: float, waited: int,
            best_theta: Array | None) -> None:
        """The fit is over: the network remembers the run; the last checkpoint."""
        self.net._fit_state = state = self._state(epoch, steps)
        if self.resumed is not None:
            r = self.resumed
            r.best, r.waited, r.best_theta = best, waited, best_theta
        if self.saver is not None:
            self._write(state, history, best, waited, best_theta)

    def _state(self, epoch: int, steps: int) -> FitState:
        opt = self.optimizer
        return FitState(self.seed, self.rng.bit_generator.state, *self.position(epoch, steps),
                        int(opt.t), opt._run_token)

    def _write(self, state: FitState, history: "History", best: float, waited: int,
               best_theta: Array | None) -> None:
        from .base import network_arrays
        arrays = network_arrays(self.net)
        optimizer = _encode(self.optimizer, "optimizer", _OPTIMIZERS, arrays)
        hyper = arrays["optimizer/hyper"] = self.optimizer.hyper.copy()
        hyper[codes.H_LR] = self.base_lr  # the scheduled rate in force is not the optimizer's
        settings = dict(self.settings)
        settings["schedule"] = _encode(settings["schedule"], "schedule", _SCHEDULES, arrays)
        settings["loss"] = _encode(settings["loss"], "loss", _LOSSES, arrays)
        hist: dict[str, Any] = {}
        for key, value in vars(history).items():
            if isinstance(value, list):
                arrays[f"history/{key}"] = np.array(value, dtype=np.float64)
            else:
                hist[key] = _plain(value)
        if best_theta is not None:
            arrays["best_theta"] = best_theta
        doc = {"fit_state": state._asdict(), "target": self.target, "settings": settings,
               "optimizer": optimizer, "history": hist,
               "early": {"best": float(best), "waited": int(waited)}}
        arrays["checkpoint"] = np.array(_dumps(doc))
        assert self.saver is not None  # _write runs only with a saver
        nbio.write(self.saver.path, arrays, nbio.CHECKPOINT)


class Resumed:
    """A training run read back by :func:`resume`: ``net``, ``optimizer``,
    ``schedule``, ``loss``, ``history`` (every epoch so far), ``settings``
    (fit's options), ``epoch`` (epochs done), ``remaining`` (epochs the
    checkpointed fit had still to run). ``fit`` continues the run."""

    def __init__(self, path: PathLike, net: "Model", optimizer: optim.Optimizer,
                 history: "History", settings: dict[str, Any], target: int, best: float,
                 waited: int, best_theta: Array | None) -> None:
        self.path, self.net, self.optimizer, self.history = path, net, optimizer, history
        self.settings, self.best, self.waited, self.best_theta = settings, best, waited, best_theta
        self.schedule, self.loss = settings["schedule"], settings["loss"]
        self._target = target

    @property
    def epoch(self) -> int:
        """Epochs the run has done (across its fits)."""
        return int(self.net._fit_state.epoch)

    @property
    def remaining(self) -> int:
        if self.history.stopped_epoch is not None:
            return 0
        return max(0, self._target - len(self.history.loss))

    def fit(self, X: ArrayLike, Y: ArrayLike, epochs: int | None = None,
            validation_data: tuple[ArrayLike, ArrayLike] | None = None,
            callbacks: Callable[..., Any] | Iterable[Callable[..., Any]] = (), trace: Any = None,
            checkpoint: Any = _SAME, **changes: Any) -> "History":
        """Continue the run on the same data: ``epochs`` more (default
        ``remaining``; with none remaining, the history is returned as is),
        with the saved settings unless ``changes`` override them (then the
        result is no longer the uninterrupted run's). ``validation_data``
        must be given again if the checkpointed fit had it; ``callbacks`` and
        ``trace`` are not saved. Checkpoints go on to the same file unless
        ``checkpoint`` says otherwise. Returns the whole run's History."""
        from .training import fit
        settings = dict(self.settings)
        if settings.pop("validation") and validation_data is None:
            raise ValueError("the checkpointed fit monitored validation data: pass "
                             "validation_data=(X_val, Y_val) again")
        settings.update(changes)
        if epochs is None:
            epochs = self.remaining
            if epochs == 0:
                return self.history
        if checkpoint is _SAME:
            checkpoint = self.path
        every = settings.pop("checkpoint_every")
        every = None if checkpoint is None else every
        return fit(self.net, X, Y, optimizer=self.optimizer, epochs=epochs,
                   validation_data=validation_data, callbacks=callbacks, trace=trace,
                   checkpoint=checkpoint, checkpoint_every=every, _resume=self, **settings)

    def __repr__(self) -> str:
        return (f"Resumed({self.net!r}, {self.optimizer!r}, epoch {self.epoch}, "
                f"{self.remaining} remaining)")


def resume(path: PathLike) -> Resumed:
    """Read a checkpoint written by ``fit(..., checkpoint=path)``: a
    :class:`Resumed` whose ``fit(X, Y)`` continues the run exactly where the
    checkpoint was taken. A damaged, foreign or newer file raises
    :class:`numbann.NumbannFileError` naming the file."""
    from .model import network_from_arrays
    from .history import History
    _, _, arrays = nbio.read(path, (nbio.CHECKPOINT,))
    doc = nbio.json_entry(path, arrays, "checkpoint")
    net = network_from_arrays(path, arrays)
    try:
        opt = _decode(doc["optimizer"], "optimizer", _OPTIMIZERS, arrays)
        _check_optimizer(opt, net)
        settings = dict(doc["settings"])
        settings["schedule"] = _decode(settings["schedule"], "schedule", _SCHEDULES, arrays)
        settings["loss"] = _decode(settings["loss"], "loss", _LOSSES, arrays)
        settings["schedule"].lr_at(0, 1.0)  # raises on attributes that make no sense
        if settings["schedule"].per not in ("epoch", "step") or \
                settings["loss"].reduction not in settings["loss"].reductions:
            raise ValueError("the schedule's or the loss's settings make no sense")
        history = History()
        history.__dict__.update(doc["history"])
        for key in arrays:
            if key.startswith("history/"):
                setattr(history, key[len("history/"):], arrays[key].tolist())
        state = FitState(**doc["fit_state"])
        _generator(state.rng)
        if state.t != opt.t or state.token != opt._run_token:
            raise ValueError("the run's step count or token disagrees with the optimizer's")
        best, waited = float(doc["early"]["best"]), int(doc["early"]["waited"])
        target = int(doc["target"])
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise nbio.NumbannFileError(f"{os.fspath(path)}: not a valid checkpoint "
                                    f"({type(e).__name__}: {e})") from None
    best_theta = None
    if "best_theta" in arrays:
        best_theta = nbio.params(path, arrays, "best_theta", net.dtype, net.theta.size)
    net._fit_state = state
    return Resumed(path, net, opt, history, settings, target, best, waited, best_theta)


# ---------------------------------------------------------------- encoding

def _encode(obj: object, kind: str, classes: Mapping[str, type[Any]],
            arrays: dict[str, Array]) -> dict[str, Any]:
    """A numbann object as {"class", "attrs", "arrays"}: its attributes, arrays
    stored in ``arrays`` under ``kind/name``. Only numbann's own classes:
    loading builds them by name and never runs code from the file."""
    cls = type(obj)
    if classes.get(cls.__name__) is not cls:
        raise ValueError(f"checkpoint: cannot store the {kind} {obj!r}: a checkpoint restores "
                         f"numbann's own classes only ({', '.join(classes)})")
    attrs: dict[str, Any] = {}
    names: list[str] = []
    for key, value in vars(obj).items():
        if isinstance(value, np.ndarray):
            arrays[f"{kind}/{key}"] = value
            names.append(key)
        else:
            attrs[key] = _plain(value, f"checkpoint: the {kind}'s {key}")
    return {"class": cls.__name__, "attrs": attrs, "arrays": names}


def _decode(spec: dict[str, Any], kind: str, classes: Mapping[str, type[Any]],
            arrays: Mapping[str, Array]) -> Any:
    cls = classes[spec["class"]]
    obj = object.__new__(cls)
    obj.__dict__.update(spec["attrs"])
    for key in spec["arrays"]:
        setattr(obj, key, arrays[f"{kind}/{key}"])
    return obj


def _check_optimizer(opt: optim.Optimizer, net: "Model") -> None:
    hyper, state = getattr(opt, "hyper", None), getattr(opt, "state", None)
    if not isinstance(hyper, np.ndarray) or hyper.shape != (codes.N_HYPER,) \
            or hyper.dtype != np.float64 or not np.all(np.isfinite(hyper)):
        raise ValueError(f"the optimizer's hyperparameters must be {codes.N_HYPER} finite "
                         "float64 numbers")
    if not isinstance(state, np.ndarray) or state.shape != (opt.n_state, net.n_params) \
            or state.dtype != net.dtype or not np.all(np.isfinite(state)):
        raise ValueError(f"the optimizer's state must be finite {net.dtype} of shape "
                         f"{(opt.n_state, net.n_params)}")
    if isinstance(opt.t, bool) or not isinstance(opt.t, int) or opt.t < 0:
        raise ValueError(f"the optimizer's step count t must be an integer >= 0, got {opt.t!r}")


def _plain(value: object, what: str = "a value") -> Any:
    """``value`` as JSON data (numpy scalars and arrays to Python numbers and lists)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v, what) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, what) for k, v in value.items()}
    raise ValueError(f"{what} ({type(value).__name__}) cannot be written to a checkpoint")


def _dumps(doc: object) -> str:
    return json.dumps(doc, default=_plain)


def _generator(state: Mapping[str, Any]) -> np.random.Generator:
    """A numpy Generator in the given PCG64 state."""
    rng = np.random.Generator(np.random.PCG64(0))
    rng.bit_generator.state = state
    return rng
