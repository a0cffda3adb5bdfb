"""``fit`` for a :class:`~numbann.sequential.Sequential` network: training._Run's
interface over the layer engine's kernels (``kernels/plan_train.py``)."""
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import training
from ._typing import Array
from .base import NO_SEED
from .kernels import codes, plan_train
from .kernels.plan import flags, jitted_passes, kernels
from .kernels.pointers import pointer
from .kernels.plan_step import part_pass, split_pass, whole_pass


class PlanRun(training._Run):
    """One fit of a Sequential network on the CPU."""

    def __init__(self, net: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(net, *args, **kwargs)
        self._args: tuple[bool, tuple[Any, ...]] | None = None
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
        kinds = flags(net.plan)
        forward, backward = jitted_passes(*kinds)[:2]
        fk, bk = kernels(net.dtype, kinds)
        a_buf, a_off, z_buf, z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf = ws.buffers()
        m, seed, mode = 0, NO_SEED, codes.TRAIN_UPDATE
        forward = pointer(forward, net.plan, net.theta, net.running, net.alphas, a_buf, a_off,
                          z_buf, z_off, x_buf, x_off, i_buf, i_off, s_buf, m, self.keep, seed,
                          mode, *fk)
        backward = pointer(backward, net.plan, net.theta, self.grad, net.alphas, a_buf, a_off,
                           z_buf, z_off, delta_buf, x_buf, x_off, i_buf, i_off, s_buf, m,
                           self.keep, seed, mode, *bk)
        part = pointer(part_pass, forward, backward, net.plan, net.theta, self.grad,
                       net.running, net.alphas, *ws.buffers(), m, m, ws.y_buf, self.loss.code,
                       1.0, self.keep, seed, mode, *fk, *bk)
        parts = parts + (part,)
        step = pointer(split_pass if len(parts[4]) else whole_pass, forward, backward,
                       net.plan, net.theta, self.grad, net.running, net.alphas, *ws.buffers(), m,
                       ws.y_buf, self.loss.code, 1.0, self.keep, seed, mode, parts, *fk, *bk)
        return (net.theta, self.grad, net.plan, net.running, net.alphas, *ws.buffers(),
                ws.y_buf, self.X.reshape(len(self.X), -1), self.Y, self.loss.code, self.keep,
                self.seed, self.l1, self.l2, self.clip_value, self.clip_norm, forward, backward,
                (fk, bk), step, parts)

    def _may_split(self) -> bool:
        """A plan with convolutions (whose loops BLAS's threads do not reach),
        without BatchNorm (its statistics are the whole batch's) or layers of
        sequences: the samples are independent."""
        kinds = self.net.plan[:, codes.P_KIND]
        return bool(np.any(kinds == codes.CONV2D)) and not np.any(kinds == codes.BATCHNORM) \
            and not np.any(kinds >= codes.RNN)

    def _parts(self, split: bool = True) -> tuple[Array, ...]:
        """plan_step.split_pass's buffers for a step split into P parts
        (``_splits``), or empty ones (one whole pass; always unless ``split``)."""
        ws = self.ws
        P = self._splits() if split else 1
        n = len(self.grad) if P > 1 else 0
        return (np.zeros((P - 1, n), self.grad.dtype),
                np.zeros((P - 1, len(ws.s_buf) if P > 1 else 0), ws.s_buf.dtype), ws.strides,
                np.zeros((P if P > 1 else 0,) + ws.strides.shape, np.int64),
                np.zeros(P if P > 1 else 0))

    def compiled(self, orders: Array, lrs: Array, step_losses: Array) -> tuple[int, int]:
        """Train whole epochs in one compiled call; returns (status, steps done)."""
        opt = self.optimizer
        c, per_row, per_output = self.loss.scale_parts()
        args = self._step_args(split=True)
        with self._threads(len(args[-1][4]) > 0):
            status, done = plan_train.train_epochs(
                args, opt.state, opt.hyper, opt.code, opt.t, lrs, orders, self.batch_size, c,
                per_row, per_output, self.net.n_outputs, step_losses, self.stop)
        opt.t += done
        return status, done

    def stepwise(self, order: Array, lrs: Array, step_losses: Array, recorder: Any,
                 epoch: int) -> tuple[int, int]:
        """training._Run.stepwise, its steps split as ``compiled``'s are: a traced
        fit computes the numbers an untraced one does."""
        with self._threads(len(self._step_args(split=True)[-1][4]) > 0):
            return super().stepwise(order, lrs, step_losses, recorder, epoch)

    def _batch_gradient(self, order: Array, start: int, m: int, t: int) -> tuple[float, int]:
        """One step's gradient on rows order[start:start+m] (``stepwise`` runs the
        steps from Python with it, calling a trace's recorder)."""
        J, status = plan_train.batch_gradient(self._step_args(split=True), order, start, m,
                                              self.loss.scale(m, self.net.n_outputs), t)
        return float(J), int(status)
