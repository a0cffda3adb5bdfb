"""``fit`` for a :class:`~numbann.sequential.Sequential` network: training._Run's
interface over the layer engine's kernels (``kernels/plan_train.py``)."""
import numpy as np

from . import optim, training
from .kernels import codes, plan_train


class PlanRun(training._Run):
    """One fit of a Sequential network on the CPU."""

    def __init__(self, net, *args, **kwargs):
        super().__init__(net, *args, **kwargs)
        n, bs = len(self.X), self.batch_size
        net.check_batch(bs, f"batch_size={bs}")
        if n % bs:
            net.check_batch(n % bs, f"the last batch of each epoch ({n} rows, batch_size={bs})")

    def _workspace(self):
        from .sequential import PlanWorkspace
        return PlanWorkspace(self.net, self.batch_size)

    def _keep_probabilities(self, dropout):
        """One rate drops out units of the hidden Dense layers; a list gives one
        rate per layer but the last (any kind)."""
        dense = np.array([ly.kind == codes.DENSE for ly in self.net.layers])
        return training._keep_probabilities(dropout, self.net.L, hidden=dense)

    def _step_args(self):
        net, ws = self.net, self.ws
        return (net.theta, self.grad, net.plan, net.running, net.alphas, *ws.buffers(),
                ws.y_buf, self.X.reshape(len(self.X), -1), self.Y, self.loss.code, self.keep,
                self.seed, self.l1, self.l2, self.clip_value, self.clip_norm)

    def compiled(self, orders, lrs, step_losses):
        """Train whole epochs in one compiled call; returns (status, steps done)."""
        opt = self.optimizer
        c, per_row, per_output = self.loss.scale_parts()
        status, done = plan_train.train_epochs(
            self._step_args(), opt.state, opt.hyper, opt.code, opt.t, lrs, orders,
            self.batch_size, c, per_row, per_output, self.net.n_outputs, step_losses)
        opt.t += done
        return status, done

    def stepwise(self, order, lrs, step_losses, recorder, epoch):
        """One epoch batch by batch from Python (Newton's method)."""
        net, opt = self.net, self.optimizer
        args = self._step_args()
        for s in range(len(step_losses)):
            start = s * self.batch_size
            m = min(self.batch_size, len(order) - start)
            t = opt.t + 1
            J, status = plan_train.batch_gradient(args, order, start, m,
                                                  self.loss.scale(m, net.n_outputs), t)
            step_losses[s] = J
            if status != plan_train.OK:
                return status, s
            opt.hyper[codes.H_LR] = lrs[s]
            if isinstance(opt, optim.Newton):
                opt.step_newton(net.theta, self.grad, self._batch_grad_fn(order[start:start + m]))
            else:
                opt.step(net.theta, self.grad, opt.state, t)
            opt.t = t
        return plan_train.OK, len(step_losses)
