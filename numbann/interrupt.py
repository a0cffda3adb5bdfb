"""Ctrl-C during ``fit``: stop between two steps, within about a step's time.

A KeyboardInterrupt cannot land inside compiled code: Python runs its
signal handlers only between bytecodes of the main thread. So while ``fit``
runs, a SIGINT handler sets a flag, ``stop[0] = 1``, that every epoch loop
(compiled, step-by-step or CUDA) reads after each step, returning
INTERRUPTED with the network, the optimizer state and its step count ``t``
consistent with each other. Long compiled blocks run in a worker thread
(their entries release the GIL) while the main thread waits in short
``join`` calls, so the handler runs at once. A second Ctrl-C raises
KeyboardInterrupt immediately, as Python would.

``fit`` then raises :class:`TrainingInterrupted`, whose ``history`` holds
every completed step (``step_loss``) and every completed epoch.
"""
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from ._typing import Array

if TYPE_CHECKING:
    from .base import Model
    from .history import History

LONG_BLOCK = 2e7  # rows x parameters of a block from which it runs in a worker thread


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped ``fit`` between two steps. ``history``: the completed
    epochs and steps; ``steps``: how many steps this fit call completed. The
    network and the optimizer (state and step count) are those after the
    last completed step."""

    def __init__(self, history: "History", steps: int) -> None:
        super().__init__(f"training interrupted after {steps} step(s) of this fit; "
                         "history (every completed step) is on this exception's .history")
        self.history = history
        self.steps = steps


class StopOnCtrlC:
    """While active (``with``), the first SIGINT sets ``stop[0] = 1``; the
    second raises KeyboardInterrupt. Outside the main thread it does nothing
    (Python delivers signals to the main thread only)."""

    def __init__(self, stop: Array) -> None:
        self.stop = stop
        self.previous: Any = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.stop[0]:
            raise KeyboardInterrupt
        self.stop[0] = 1

    def __enter__(self) -> "StopOnCtrlC":
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def work_per_row(net: "Model") -> int:
    """Multiply-adds per sample and step, roughly (what sizes a block): the
    parameters of a dense network; a conv layer's kernel times its outputs, an
    RNN layer's weights times its time steps."""
    from .kernels import codes
    plan = getattr(net, "plan", None)
    if plan is None:
        return net.n_params
    total = net.n_params
    for r in plan:
        if r[codes.P_KIND] == codes.CONV2D:
            total += int(r[codes.P_NW]) * int(r[codes.P_HOUT] * r[codes.P_WOUT])
        elif r[codes.P_KIND] == codes.RNN:  # its weights act at each of its T steps
            total += int(r[codes.P_NW]) * int(r[codes.P_CIN])
    return total


def call(fn: Callable[..., Any], args: Sequence[Any], work: float) -> Any:
    """fn(*args), in a worker thread when ``work`` (rows x parameters) makes the
    block long, so that a Ctrl-C reaches the main thread's handler during it;
    short blocks run inline (a thread costs ~0.1 ms, a tiny network's whole block)."""
    if work < LONG_BLOCK or threading.current_thread() is not threading.main_thread():
        return fn(*args)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e
    worker = threading.Thread(target=target, name="numbann-fit", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in box:
        raise box["error"]
    return box["result"]
