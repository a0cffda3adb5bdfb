"""``fit`` for a :class:`~numbann.sequential.Sequential` network: training._Run's
interface over the layer engine's kernels (``kernels/plan_train.py``)."""
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numba
import numpy as np

from . import interrupt, training
from ._typing import Array
from .base import NO_SEED
from .kernels import codes, plan_train
from .kernels.plan import passes, pointer
from .kernels.plan_step import SPLIT_MIN_WORK, split_pass, whole_pass


class PlanRun(training._Run):
    """One fit of a Sequential network on the CPU."""

    def __init__(self, net: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(net, *args, **kwargs)
        self._args: tuple[bool, tuple[Any, ...]] | None = None
        # the caller's numba threads (numba's count is per thread; fit may run in a worker)
        self.threads = numba.get_num_threads()
        n, bs = len(self.X), self.batch_size
        net.check_batch(bs, f"batch_size={bs}")
        if n % bs:
            net.check_batch(n % bs, f"the last batch of each epoch ({n} rows, batch_size={bs})")

    def _workspace(self) -> Any:
        from .sequential import PlanWorkspace
        return PlanWorkspace(self.net, self.batch_size)

    def _keep_probabilities(self, dropout: float | Sequence[float]) -> Array:
        """One rate drops out units of the hidden Dense layers; a list gives one
        rate per layer but the last (any kind)."""
        dense = np.array([ly.kind == codes.DENSE for ly in self.net.layers])
        return training._keep_probabilities(dropout, self.net.L, hidden=dense)

    def _step_args(self, split: bool = False) -> tuple[Any, ...]:
        """train_step's arguments, worked out once per fit; ``split``: whether a
        step's batch may split over numba's threads (``_parts``)."""
        if self._args is None or self._args[0] != split:
            self._args = split, self._work_out_step_args(self._parts(split))
        return self._args[1]

    def _work_out_step_args(self, parts: tuple[Array, ...]) -> tuple[Any, ...]:
        net, ws = self.net, self.ws
        forward, backward = passes(net.plan)[:2]
        a_buf, a_off, z_buf, z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf = ws.buffers()
        m, seed, mode = 0, NO_SEED, codes.TRAIN_UPDATE
        forward = pointer(forward, net.plan, net.theta, net.running, net.alphas, a_buf, a_off,
                          z_buf, z_off, x_buf, x_off, i_buf, i_off, s_buf, m, self.keep, seed,
                          mode)
        backward = pointer(backward, net.plan, net.theta, self.grad, net.alphas, a_buf, a_off,
                           z_buf, z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m,
                           self.keep, seed, mode)
        step = pointer(split_pass if len(parts[4]) else whole_pass, forward, backward,
                       net.plan, net.theta, self.grad, net.running, net.alphas, *ws.buffers(), m,
                       ws.y_buf, self.loss.code, 1.0, self.keep, seed, mode, parts)
        return (net.theta, self.grad, net.plan, net.running, net.alphas, *ws.buffers(),
                ws.y_buf, self.X.reshape(len(self.X), -1), self.Y, self.loss.code, self.keep,
                self.seed, self.l1, self.l2, self.clip_value, self.clip_norm, forward, backward,
                step, parts)

    def _parts(self, split: bool) -> tuple[Array, ...]:
        """Buffers of a step split into P parts (``plan_step.split_pass``), P the
        number of numba's threads, or empty ones (one whole pass): split when
        asked, with two threads or more, when the plan's samples are independent
        (no BatchNorm, no layers of sequences) and a batch is at least
        ``SPLIT_MIN_WORK``."""
        net, ws, P = self.net, self.ws, self.threads
        kinds = net.plan[:, codes.P_KIND]
        if split and P > 1 and not np.any(kinds == codes.BATCHNORM) \
                and not np.any(kinds >= codes.RNN) \
                and self.batch_size * interrupt.work_per_row(net) >= SPLIT_MIN_WORK:
            return (np.zeros((P - 1, len(self.grad)), self.grad.dtype),
                    np.zeros((P - 1, len(ws.s_buf)), ws.s_buf.dtype), ws.strides,
                    np.zeros((P,) + ws.strides.shape, np.int64), np.zeros(P))
        return (np.zeros((0, 0), self.grad.dtype), np.zeros((0, 0), ws.s_buf.dtype), ws.strides,
                np.zeros((0,) + ws.strides.shape, np.int64), np.zeros(0))

    def compiled(self, orders: Array, lrs: Array, step_losses: Array) -> tuple[int, int]:
        """Train whole epochs in one compiled call; returns (status, steps done).
        A split step's parts take numba's threads, so BLAS runs on one meanwhile."""
        opt = self.optimizer
        c, per_row, per_output = self.loss.scale_parts()
        args = self._step_args(split=True)
        numba.set_num_threads(self.threads)
        with single_threaded_blas() if len(args[-1][4]) else contextlib.nullcontext():
            status, done = plan_train.train_epochs(
                args, opt.state, opt.hyper, opt.code, opt.t, lrs, orders, self.batch_size, c,
                per_row, per_output, self.net.n_outputs, step_losses, self.stop)
        opt.t += done
        return status, done

    def _batch_gradient(self, order: Array, start: int, m: int, t: int) -> tuple[float, int]:
        """One step's gradient on rows order[start:start+m] (training._Run.stepwise
        runs the steps from Python with it, calling a trace's recorder)."""
        J, status = plan_train.batch_gradient(self._step_args(), order, start, m,
                                              self.loss.scale(m, self.net.n_outputs), t)
        return float(J), int(status)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS (numba's, SciPy's OpenBLAS) on one thread inside the block: two
    parts of a step calling a multi-threaded OpenBLAS at once measured ten
    times slower than one pass (LeNet, 2 threads)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield


_CONTROLLER: Any = None

