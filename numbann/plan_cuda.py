"""``fit(device="cuda")`` for a :class:`~numbann.sequential.Sequential` network:
plan_run.PlanRun's interface over the GPU twins (``kernels/cuda_plan.py``).

As ``device.CudaRun`` for stacks of dense layers: the data set is uploaded
once per fit; theta, the gradient, the optimizer state, the BatchNorm
running statistics and the workspaces stay on the GPU; validation runs
there (with the running statistics, numbann.device_eval); theta, the
optimizer state and the running statistics are copied back only where the
host needs them (device_eval.GpuRun), so callbacks, early stopping and the
history see the host network exactly as on the CPU.
"""
from types import SimpleNamespace
from typing import Any

from . import optim
from ._typing import Array
from .device_eval import GpuRun
from .kernels import codes
from .kernels.cpu_train import OK
from .plan_run import PlanRun


class CudaPlanRun(GpuRun, PlanRun):
    """One fit of a Sequential network on the GPU."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.optimizer, optim.Newton):
            raise ValueError("Newton's method is not a fused update: it runs on device='cpu' only")
        from numba import cuda
        net, ws = self.net, self.ws
        host = dict(theta=net.theta, grad=self.grad, state=self.optimizer.state,
                    running=net.running, X=self.X.reshape(len(self.X), -1), Y=self.Y,
                    y_buf=ws.y_buf, **{name: getattr(ws, name) for name in
                                       ("a_buf", "z_buf", "delta_buf", "x_buf", "i_buf", "s_buf")})
        self.gpu = SimpleNamespace(**{name: cuda.to_device(a) for name, a in host.items()})

    def _gpu_step_args(self) -> tuple[Any, ...]:
        """cuda_plan.launch_step's arguments: plan_train's, with device buffers."""
        net, ws, gpu = self.net, self.ws, self.gpu
        return (gpu.theta, gpu.grad, net.plan, gpu.running, net.alphas, gpu.a_buf, ws.a_off,
                gpu.z_buf, ws.z_off, gpu.delta_buf, gpu.x_buf, ws.x_off, gpu.i_buf, ws.i_off,
                gpu.s_buf, gpu.y_buf, gpu.X, gpu.Y, self.loss.code, self.keep, self.seed,
                self.l1, self.l2, self.clip_value, self.clip_norm)

    def compiled(self, orders: Array, lrs: Array, step_losses: Array) -> tuple[int, int]:
        """Train whole epochs on the GPU; returns (status, steps done)."""
        from numba import cuda

        from .kernels import cuda_plan
        net, opt, gpu = self.net, self.optimizer, self.gpu
        self.upload_if_due()  # callbacks may have changed the host copies
        gpu.orders = cuda.to_device(orders)
        c, per_row, per_output = self.loss.scale_parts()
        status, done = cuda_plan.train_epochs(
            self._gpu_step_args(), gpu.state, opt.hyper, opt.code, opt.t, lrs, gpu.orders,
            self.batch_size, c, per_row, per_output, net.n_outputs, step_losses, self.stop)
        opt.t += done
        self.host_stale = True
        if status != OK:
            self.sync_host()
            self._replay_failed_step(done, step_losses.shape[1])
        return status, done

    def _replay_failed_step(self, done: int, steps: int) -> None:
        """Recompute the failed step (theta has not moved since; TRAIN mode
        leaves the running statistics where the CPU leaves them) and copy its
        numbers to the host workspace and gradient, for the divergence report."""
        from .kernels import cuda_plan
        ws, gpu = self.ws, self.gpu
        start = done % steps * self.batch_size
        m = min(self.batch_size, len(self.X) - start)
        cuda_plan.batch_gradient(self._gpu_step_args(), gpu.orders[done // steps], start, m,
                                 self.loss.scale(m, self.net.n_outputs), self.optimizer.t + 1,
                                 codes.TRAIN)
        for name in ("a_buf", "z_buf", "delta_buf", "x_buf", "y_buf"):
            getattr(gpu, name).copy_to_host(getattr(ws, name))
        gpu.grad.copy_to_host(self.grad)
