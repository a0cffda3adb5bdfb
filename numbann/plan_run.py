"""``fit`` for a :class:`~numbann.sequential.Sequential` network: training._Run's
interface over the layer engine's kernels (``kernels/plan_train.py``)."""
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import training
from ._typing import Array
from .kernels import codes, plan_train


class PlanRun(training._Run):
    """One fit of a Sequential network on the CPU."""

    def __init__(self, net: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(net, *args, **kwargs)
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

    def _step_args(self) -> tuple[Any, ...]:
        net, ws = self.net, self.ws
        return (net.theta, self.grad, net.plan, net.running, net.alphas, *ws.buffers(),
                ws.y_buf, self.X.reshape(len(self.X), -1), self.Y, self.loss.code, self.keep,
                self.seed, self.l1, self.l2, self.clip_value, self.clip_norm)

    def compiled(self, orders: Array, lrs: Array, step_losses: Array) -> tuple[int, int]:
        """Train whole epochs in one compiled call; returns (status, steps done)."""
        opt = self.optimizer
        c, per_row, per_output = self.loss.scale_parts()
        status, done = plan_train.train_epochs(
            self._step_args(), opt.state, opt.hyper, opt.code, opt.t, lrs, orders,
            self.batch_size, c, per_row, per_output, self.net.n_outputs, step_losses, self.stop,
            self.net.sequences)
        opt.t += done
        return status, done

    def _batch_gradient(self, order: Array, start: int, m: int, t: int) -> tuple[float, int]:
        """One step's gradient on rows order[start:start+m] (training._Run.stepwise
        runs the steps from Python with it, calling a trace's recorder)."""
        J, status = plan_train.batch_gradient(self._step_args(), order, start, m,
                                              self.loss.scale(m, self.net.n_outputs), t,
                                              self.net.sequences)
        return float(J), int(status)
