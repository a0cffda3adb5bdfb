"""Evaluation on the GPU: ``net.to("cuda")`` and fit's validation on the device.

The host copy is the source of truth. ``net.theta`` (and a Sequential
network's ``running``) on the host is always current when a public call
returns; the GPU holds a mirror (:class:`DeviceCopy`) together with the host
bytes it was uploaded from, and every pass on the device first compares the
host arrays with those bytes (on the host, no transfer) and uploads again
where they differ. So writing ``net.W[1][...]``, ``set_params``, a CPU fit
or ``load`` can never be lost or ignored, and ``to("cpu")`` only drops the
mirror.

An eval-mode pass (:class:`DevicePass`) runs ``FORWARD_CHUNK`` rows at a
time through one device workspace, grown on demand and reused: the rows of
X go in, and only what the caller asks for comes back, a[L] (``forward``,
``predict``, ``predict_proba``, ``score``) or one float64 vector of the
chunks' losses (``evaluate``), summed on the host in the CPU's order.

During ``fit(device="cuda")`` theta, the optimizer state and the running
statistics stay on the GPU (:class:`GpuRun`); the validation set is uploaded
once per fit and each validated epoch brings back its outputs a[L] (for the
metric) and its loss. The parameters come back only where the host needs
them: before callbacks, before early stopping keeps the best weights, when
a checkpoint may be written, on a failed or interrupted step, and at the
end of the fit.
"""
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import scoring
from ._typing import Array
from .base import FORWARD_CHUNK, NO_SEED
from .kernels import codes

BUFFERS = ("a_buf", "z_buf", "x_buf", "i_buf", "s_buf")  # what an eval-mode pass writes
OFFSETS = ("a_off", "z_off", "x_off", "i_off")


def _flat(rows: Any) -> Any:
    """Host rows as one contiguous vector (device arrays are used as they are)."""
    return np.ascontiguousarray(rows).reshape(-1) if isinstance(rows, np.ndarray) else rows


class DevicePass:
    """Eval-mode forward passes of ``net`` on the GPU, in chunks of up to
    FORWARD_CHUNK rows through one device workspace with the host
    workspace's layout: dense stacks through ``kernels.cuda.forward``,
    Sequential networks through ``kernels.cuda_plan.plan_forward`` in EVAL
    mode (BatchNorm with its running statistics)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.ws: Any = None

    def workspace(self, m: int) -> Any:
        """Device buffers for up to m rows (a[L]'s delta and the targets included)."""
        from numba import cuda
        if self.ws is None or self.ws.capacity < m:
            host = self.net._new_workspace(m)  # its offsets; its buffers' shapes and dtypes
            ws = SimpleNamespace(capacity=m, **{name: getattr(host, name) for name in OFFSETS
                                                if hasattr(host, name)})
            for name in BUFFERS + ("y_buf",):
                if hasattr(host, name):
                    setattr(ws, name, cuda.device_array_like(getattr(host, name)))
            ws.delta = cuda.device_array_like(host.y_buf)  # delta[L], written by the loss head
            self.ws = ws
        return self.ws

    def _forward(self, theta: Any, running: Any, ws: Any, m: int) -> None:
        """a[L] = the network's output for the m rows in a[0] (no dropout)."""
        net = self.net
        if hasattr(net, "plan"):
            from .kernels import cuda_plan
            cuda_plan.plan_forward(net.plan, theta, running, net.alphas, ws.a_buf, ws.a_off,
                                   ws.z_buf, ws.z_off, ws.x_buf, ws.x_off, ws.i_buf, ws.i_off,
                                   ws.s_buf, m, net.no_dropout, NO_SEED, codes.EVAL)
        else:
            from .kernels import cuda as ck
            ck.forward(theta, net.sizes, net.acts, net.alphas, net.p_off, ws.a_buf, ws.a_off,
                       ws.z_buf, ws.z_off, m, net.no_dropout, NO_SEED)

    def run(self, theta: Any, running: Any, X: Any, outputs: bool = True, Y: Any = None,
            loss: Any = None) -> tuple[Array | None, float]:
        """(a[L] on the host, or None without ``outputs``; J over (X, Y), or 0.0
        without Y). X and Y: (m, ...) host arrays or device arrays of rows
        flattened (each row's values in order)."""
        from numba import cuda

        from .kernels import cuda as ck
        net, row, n_out = self.net, self._row(), self.net.n_outputs
        X, Y = _flat(X), _flat(Y)
        m = X.size // row
        ws = self.workspace(max(1, min(m, FORWARD_CHUNK)))
        out = np.empty((m, n_out), net.dtype) if outputs else None
        starts = range(0, m, ws.capacity)
        J = cuda.device_array(len(starts), np.float64) if Y is not None else None
        act = net.output_activation
        a0, aL, zL = int(ws.a_off[0]), int(ws.a_off[net.L]), int(ws.z_off[net.L - 1])
        for slot, start in enumerate(starts):
            k = min(ws.capacity, m - start)
            ws.a_buf[a0:a0 + k * row].copy_to_device(X[start * row:(start + k) * row])
            self._forward(theta, running, ws, k)
            a = ws.a_buf[aL:aL + k * n_out]
            if Y is not None:
                y = ws.y_buf[:k * n_out]
                y.copy_to_device(Y[start * n_out:(start + k) * n_out])
                ck.loss_delta_into(loss.code, loss.scale(m, n_out), act.code, act.alpha,
                                   ws.z_buf[zL:zL + k * n_out], a.reshape(k, n_out), y,
                                   ws.delta[:k * n_out], J, slot)
            if out is not None:
                a.copy_to_host(out[start:start + k].reshape(-1))
        return out, (sum(J.copy_to_host().tolist()) if J is not None else 0.0)

    def _row(self) -> int:
        """Input values per row (n_0, or the product of a Sequential's input shape)."""
        shape = getattr(self.net, "input_shape", None)
        return self.net.n_inputs if shape is None else int(np.prod(shape))


class DeviceCopy:
    """A network's theta (and running statistics) on the GPU: ``net.to("cuda")``.
    ``params()`` uploads them again whenever the host arrays differ, bit for
    bit, from what was last uploaded."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.passes = DevicePass(net)
        self.uploaded: list[Array] = []  # host copies of what the device arrays hold
        self.device: list[Any] = []

    def _host(self) -> list[Array]:
        running = getattr(self.net, "running", None)
        return [self.net.theta] if running is None else [self.net.theta, running]

    def params(self) -> tuple[Any, Any]:
        """(theta, running statistics or None) on the device, current."""
        from numba import cuda
        host = self._host()
        if len(self.uploaded) != len(host) or not all(
                u.dtype == h.dtype and np.array_equal(u.view(np.uint8), h.view(np.uint8))
                for u, h in zip(self.uploaded, host)):
            self.device = [cuda.to_device(h) for h in host]
            self.uploaded = [h.copy() for h in host]
        return self.device[0], self.device[1] if len(self.device) > 1 else None

    def forward(self, X: Array) -> Array:
        """a[L] for every row of X (checked inputs)."""
        out, _ = self.passes.run(*self.params(), X)
        assert out is not None
        return out

    def evaluate(self, X: Array, Y: Array, loss: Any) -> float:
        """J over (X, Y) (prepared), from the device's passes."""
        return self.passes.run(*self.params(), X, outputs=False, Y=Y, loss=loss)[1]


class GpuRun:
    """What device.CudaRun and plan_cuda.CudaPlanRun share: which device
    arrays mirror which host arrays, when they are copied, validation on the
    device. ``self.gpu`` holds ``theta``, ``state`` and, for a Sequential
    network, ``running``."""

    gpu: SimpleNamespace
    net: Any
    optimizer: Any
    loss: Any

    host_stale = False  # the device is ahead: the host copies are from before the last block
    upload_due = False  # the host copies were handed out (and may have changed) since
    val: Any = None  # the validation set on the device (uploaded once per fit)

    def _pairs(self) -> list[tuple[Any, Array]]:
        pairs = [(self.gpu.theta, self.net.theta), (self.gpu.state, self.optimizer.state)]
        if hasattr(self.gpu, "running"):
            pairs.append((self.gpu.running, self.net.running))
        return pairs

    def upload_if_due(self) -> None:
        """Before a block of epochs: the host copies go up if they were handed out."""
        if self.upload_due:
            for device, host in self._pairs():
                device.copy_to_device(host)
            self.upload_due = False

    def sync_host(self) -> None:
        """Bring theta, the optimizer state (and running statistics) back to
        the host if the device is ahead; the next block uploads them again."""
        if self.host_stale:
            for device, host in self._pairs():
                device.copy_to_host(host)
            self.host_stale = False
        self.upload_due = True

    def validate(self, Xv: Array, Yv: Array, metric: str) -> tuple[float, float]:
        """(val_loss, val_metric) from one pass on the device with the run's theta."""
        from numba import cuda
        if self.val is None:
            self.val = SimpleNamespace(passes=DevicePass(self.net), X=cuda.to_device(_flat(Xv)),
                                       Y=cuda.to_device(_flat(Yv)))
        a, J = self.val.passes.run(self.gpu.theta, getattr(self.gpu, "running", None),
                                   self.val.X, Y=self.val.Y, loss=self.loss)
        assert a is not None
        return J, scoring.score_outputs(self.net, a, Yv, metric)
