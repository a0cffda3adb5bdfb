"""Where ``fit`` runs: ``device="cpu"`` (numba.njit kernels) or ``device="cuda"``
(numba.cuda.jit kernels on an NVIDIA GPU).

On "cuda" the data set is uploaded once per fit; the parameters, gradient,
optimizer state and workspaces stay on the GPU and the batches are gathered
there. The step losses come back once per block of epochs; validation runs
on the device (numbann.device_eval); theta and the optimizer state come back
only where the host needs them (callbacks, early stopping, checkpoints, a
failed step, the end of the fit), so that these and the history see the host
network exactly as on the CPU. Same seed, same shuffles, initial weights and
dropout masks on both devices: the runs agree step by step, to rounding.
"""
from types import SimpleNamespace
from typing import Any

from . import optim, training
from ._typing import Array
from .device_eval import GpuRun
from .kernels.cpu_train import OK

DEVICES = ("cpu", "cuda")


def cuda_available() -> bool:
    """True when numba can run CUDA kernels here: an NVIDIA GPU with a working
    driver, or numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1 set before numba
    is imported)."""
    try:
        from numba import cuda
    except ImportError:
        return False
    return bool(cuda.is_available())


def check_device(device: str) -> str:
    """Return ``device`` if numbann can run on it here; otherwise raise a
    ValueError (unknown name) or a RuntimeError (no usable GPU)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not cuda_available():
        raise RuntimeError(
            "device='cuda' needs an NVIDIA GPU with a working CUDA driver, and numba finds "
            "none. To try the CUDA code path without a GPU, set the environment variable "
            "NUMBA_ENABLE_CUDASIM=1 before starting Python (numba's CUDA simulator: the "
            "same kernels run in Python, very slowly; for testing only).")
    return device


def run_class(device: str, trace: Any = None, net: Any = None) -> type[training._Run]:
    """The class that runs fit's epochs on ``device`` (training._Run on the CPU;
    plan_run.PlanRun for a Sequential network)."""
    from .sequential import Sequential
    if isinstance(net, Sequential):
        if device == "cuda":
            check_device(device)
            if trace is not None:
                raise ValueError("a trace records on the CPU: use device='cpu' to trace a fit")
            from .plan_cuda import CudaPlanRun
            return CudaPlanRun
        from .plan_run import PlanRun
        check_device(device)
        return PlanRun
    check_device(device)
    if device == "cpu":
        return training._Run
    if trace is not None:
        raise ValueError("a trace records on the CPU: use device='cpu' to trace a fit")
    return CudaRun


class CudaRun(GpuRun, training._Run):
    """One fit on the GPU, with training._Run's interface."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.optimizer, optim.Newton):
            raise ValueError("Newton's method is not a fused update: it runs on device='cpu' only")
        from numba import cuda
        ws = self.ws
        host = dict(theta=self.net.theta, grad=self.grad, state=self.optimizer.state,
                    a_buf=ws.a_buf, z_buf=ws.z_buf, delta_buf=ws.delta_buf, y_buf=ws.y_buf,
                    X=self.X, Y=self.Y)
        self.gpu = SimpleNamespace(**{name: cuda.to_device(a) for name, a in host.items()})

    def compiled(self, orders: Array, lrs: Array, step_losses: Array) -> tuple[int, int]:
        """Train whole epochs on the GPU; returns (status, steps done)."""
        from numba import cuda

        from .kernels import cuda_train
        net, ws, opt, loss, gpu = self.net, self.ws, self.optimizer, self.loss, self.gpu
        self.upload_if_due()  # callbacks may have changed the host copies
        gpu.orders = cuda.to_device(orders)
        c, per_row, per_output = loss.scale_parts()
        status, done = cuda_train.train_epochs(
            gpu.theta, gpu.grad, gpu.state, opt.hyper, opt.code, opt.t, lrs, net.sizes,
            net.acts, net.alphas, net.p_off, gpu.a_buf, ws.a_off, gpu.z_buf, ws.z_off,
            gpu.delta_buf, gpu.y_buf, gpu.X, gpu.Y, gpu.orders, self.batch_size, loss.code, c,
            per_row, per_output, self.keep, self.seed, self.l1, self.l2, self.clip_value,
            self.clip_norm, step_losses, self.stop)
        opt.t += done
        self.host_stale = True
        if status != OK:
            self.sync_host()
            self._replay_failed_step(done, step_losses.shape[1])
        return status, done

    def _replay_failed_step(self, done: int, steps: int) -> None:
        """Recompute the failed step (theta has not moved since) and copy its
        numbers to the host workspace and gradient, for the divergence report."""
        from .kernels import cuda_train
        net, ws, gpu = self.net, self.ws, self.gpu
        start = done % steps * self.batch_size
        m = min(self.batch_size, len(self.X) - start)
        cuda_train.batch_gradient(
            gpu.theta, gpu.grad, net.sizes, net.acts, net.alphas, net.p_off, gpu.a_buf,
            ws.a_off, gpu.z_buf, ws.z_off, gpu.delta_buf, gpu.y_buf, gpu.X, gpu.Y,
            gpu.orders[done // steps], start, m, self.loss.code, self.loss.scale(m, net.n_outputs),
            self.keep, self.seed, self.optimizer.t + 1, self.l1, self.l2, self.clip_value,
            self.clip_norm)
        for name in ("a_buf", "z_buf", "delta_buf", "y_buf"):
            getattr(gpu, name).copy_to_host(getattr(ws, name))
        gpu.grad.copy_to_host(self.grad)
