"""Networks of layers of several kinds: ``Sequential(input_shape, [layers])``.

The layers (Dense, Conv2D, MaxPool2D, AvgPool2D, BatchNorm, Flatten) are
compiled into a plan (``kernels/plan.py``): one int64 row per layer, walked
by the same compiled forward, backward and epoch loop whatever the
architecture. As in ``Network``, ``theta`` is one flat vector and ``W[l]``,
``b[l]`` are views into it with their natural shapes (``(C_out, C_in, k_h,
k_w)`` for a conv kernel; gamma and beta for BatchNorm; empty for pooling
and Flatten). ``running`` holds BatchNorm's running statistics.
"""

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import _checks, losses
from ._typing import Array, ArrayLike, DTypeLike
from .kernels import codes
from .kernels.conv_direct import scratch_size
from .kernels.cpu import backprop_activation
from .kernels.plan import passes, plan_loss
from .layers import Layer, Shape
from .residual import Residual, Skip
from .base import FORWARD_CHUNK, NO_SEED, LayerList, Model


class PlanWorkspace:
    """Buffers for a batch of up to ``capacity`` rows (see ``kernels/plan.py``):
    a[0..L], z[1..L], delta[1..L], the layers' kept values, max-pool winners,
    conv scratch and the targets."""

    def __init__(self, net: "Sequential", capacity: int) -> None:
        self.capacity, self.shapes, self.plan = capacity, net.shapes, net.plan
        sizes = np.array([int(np.prod(s)) for s in net.shapes], np.int64)
        plan = net.plan
        kept = np.zeros(net.L, np.int64)     # per sample
        fixed = np.zeros(net.L, np.int64)    # per layer
        winners = np.zeros(net.L, np.int64)
        scratch = fixed_scratch = 0
        for l, r in enumerate(plan):
            kind, positions = r[codes.P_KIND], r[codes.P_HOUT] * r[codes.P_WOUT]
            if kind == codes.CONV2D:  # im2col rows (kept for the CUDA twins whatever P_ALGO says)
                K = r[codes.P_CIN] * r[codes.P_KH] * r[codes.P_KW]
                kept[l] = positions * K
                scratch = max(scratch, positions * (r[codes.P_COUT] + K))
                fixed_scratch = max(fixed_scratch, scratch_size(
                    r[codes.P_CIN], r[codes.P_HOUT], r[codes.P_WOUT], r[codes.P_KH], r[codes.P_KW]))
            elif kind == codes.BATCHNORM:
                kept[l], fixed[l] = sizes[l + 1], 2 * r[codes.P_CIN]
            elif kind == codes.MAXPOOL2D:
                winners[l] = sizes[l + 1]
            elif kind == codes.RNN:  # z_t, h_t, delta_t of every step; delta_{t+1} W_h
                steps, units = r[codes.P_CIN], r[codes.P_NB]
                kept[l] = 3 * steps * units
                scratch = max(scratch, units)
            elif kind == codes.SKIP:  # its delta, for the block's input
                kept[l] = sizes[l]
            elif kind == codes.LAYERNORM:  # 1/sigma per row, xhat
                kept[l] = sizes[l] // r[codes.P_KH] + sizes[l]
            elif kind == codes.ATTENTION:  # Q, K, V, O, A, dA; scratch dO, dQ, dK, dV, dS
                T, d_qk, d_v = r[codes.P_CIN], r[codes.P_KH], r[codes.P_KW]
                kept[l] = T * (2 * d_qk + 2 * d_v) + 2 * T * T
                scratch = max(scratch, T * (2 * d_qk + 2 * d_v + T))
        self.sizes = sizes
        # values per sample of each block of a_buf, z_buf, x_buf, i_buf (plan_step.split_pass)
        self.strides = np.zeros((4, net.L + 2), np.int64)
        self.strides[0, :net.L + 1], self.strides[1, :net.L] = sizes, sizes[1:]
        self.strides[2, :net.L], self.strides[3, :net.L] = kept, winners
        self.a_off = capacity * np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        self.z_off = capacity * np.concatenate(([0], np.cumsum(sizes[1:]))).astype(np.int64)
        self.x_off = np.concatenate(([0], np.cumsum(capacity * kept + fixed))).astype(np.int64)
        self.i_off = capacity * np.concatenate(([0], np.cumsum(winners))).astype(np.int64)
        dtype = net.dtype
        self.a_buf = np.zeros(self.a_off[-1], dtype)
        self.z_buf = np.zeros(self.z_off[-1], dtype)
        self.delta_buf = np.zeros(self.z_off[-1], dtype)
        self.x_buf = np.zeros(self.x_off[-1], dtype)
        self.i_buf = np.zeros(self.i_off[-1], np.int64)
        self.s_buf = np.zeros(max(capacity * scratch, fixed_scratch), dtype)
        self.y_buf = np.zeros(capacity * sizes[-1], dtype)

    def buffers(self) -> tuple[Array, ...]:
        """The workspace arguments of the plan kernels, in their order."""
        return (self.a_buf, self.a_off, self.z_buf, self.z_off, self.delta_buf, self.x_buf,
                self.x_off, self.i_buf, self.i_off, self.s_buf)

    def _block(self, buf: Array, off: int, l: int, m: int) -> Array:
        return buf[off:off + m * self.sizes[l]].reshape((m,) + tuple(self.shapes[l]))

    def a(self, l: int, m: int) -> Array:
        return self._block(self.a_buf, self.a_off[l], l, m)

    def z(self, l: int, m: int) -> Array:
        return self._block(self.z_buf, self.z_off[l - 1], l, m)

    def delta(self, l: int, m: int) -> Array:
        return self._block(self.delta_buf, self.z_off[l - 1], l, m)

    def batch_stats(self, l: int, C: int) -> tuple[Array, Array]:
        """BatchNorm layer l's batch mean and 1/sqrt(var + eps) of the last pass."""
        x = self.x_buf[self.x_off[l - 1]:]
        return x[:C], x[C:2 * C]

    def rnn_steps(self, l: int, m: int) -> tuple[Array, ...]:
        """RNN layer l's z_t, h_t and delta_t = dJ/dz_t of the last pass, each (m, T, H)."""
        T, units = int(self.plan[l - 1, codes.P_CIN]), int(self.plan[l - 1, codes.P_NB])
        size = m * T * units
        x = self.x_buf[self.x_off[l - 1]:]
        return tuple(x[k * size:(k + 1) * size].reshape(m, T, units) for k in range(3))

    def attention(self, l: int, m: int) -> tuple[Array, Array]:
        """SelfAttention layer l's A and dJ/dA of the last pass, each (m, T, T)."""
        r = self.plan[l - 1]
        T, d_k, d_v = int(r[codes.P_CIN]), int(r[codes.P_KH]), int(r[codes.P_KW])
        start = self.x_off[l - 1] + m * T * (2 * d_k + 2 * d_v)
        block = self.x_buf[start:start + 2 * m * T * T].reshape(2, m, T, T)
        return block[0], block[1]

    def winners(self, l: int, m: int) -> Array:
        """Max-pool layer l's winners, shaped like z[l]: per output, the index
        h * W + w in its input plane of the window's maximum."""
        return self._block(self.i_buf, self.i_off[l - 1], l, m)


def _expand(items: Sequence[Any]) -> list[Any]:
    """The layers with each Residual block written out as its layers and a Skip."""
    layers: list[Any] = []
    for item in items:
        layers += item.expand(len(layers)) if isinstance(item, Residual) else [item]
    return layers


def _join(skip: Skip, l: int, shapes: list[Shape], rows: list[Array]) -> None:
    """Check a Skip layer l against its block's input a[source] and mark the
    block's first layer (its delta also reaches the Skip layer's source)."""
    source = skip.source
    if not 0 <= source < l - 1:
        raise ValueError(f"layer {l} (Skip): source {source} must be an earlier layer's number "
                         f"with at least one layer between (0..{l - 2})")
    if tuple(shapes[source]) != tuple(shapes[-1]):
        raise ValueError(f"layer {l}: a residual block must keep the shape of its input, but "
                         f"its input a[{source}] is {shapes[source]} and its output "
                         f"{shapes[-1]}")
    first = rows[source]
    if first[codes.P_SKIP_TO]:
        raise ValueError(f"layers {first[codes.P_SKIP_TO]} and {l}: two residual blocks "
                         f"start at layer {source + 1} (nested blocks are not supported)")
    first[codes.P_SKIP_TO] = l


def _input_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"input_shape must be an int or a tuple, got {shape!r}") from None
    if len(shape) not in (1, 2, 3):
        raise ValueError(f"input_shape must be (n,) for flat samples, (T, n) for sequences "
                         f"or (C, H, W) for images, got {shape}")
    return tuple(_checks.size(s, "input_shape") for s in shape)


class Sequential(Model):
    """A stack of layers of any kind: ``Sequential((1, 28, 28), [Conv2D(6, 5),
    MaxPool2D(2), Flatten(), Dense(10, "softmax")], seed=0, dtype="float32")``.

    ``input_shape`` is one sample's shape, ``(n,)``, ``(T, n)`` (sequences) or
    ``(C, H, W)``; X is then ``(m, n)``, ``(m, T, n)`` or ``(m, C, H, W)`` (NCHW). The last layer's output must be flat.
    ``fit`` trains with batch statistics in BatchNorm layers and updates their
    running statistics; ``forward``, ``predict``, ``evaluate`` and ``score`` use
    the running statistics; ``backprop``, ``backward``, ``gradient``, ``loss``
    and ``gradcheck`` show a training step (batch statistics, running ones
    untouched).
    """

    def __init__(self, input_shape: int | Sequence[int], layers: Sequence[Layer],
                 seed: int | None = 0, dtype: DTypeLike = "float64") -> None:
        self.dtype = _checks.as_dtype(dtype)
        self.input_shape = _input_shape(input_shape)
        _checks.seed(seed)
        layers = _expand(_checks.sequence(layers, "layers", "a list of layers"))
        if not layers:
            raise ValueError("a network needs at least one layer (layers is empty)")
        shapes: list[Shape] = [self.input_shape]
        rows: list[Array] = []
        W_shapes: list[Shape] = []
        b_shapes: list[Shape] = []
        p, run = 0, 0
        for l, layer in enumerate(layers, 1):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {l} must be a numbann layer (Dense, Conv2D, ...), "
                                f"got {type(layer).__name__}")
            if layer.activation.name == "softmax" and l < len(layers):
                raise ValueError(f"layer {l}: softmax is an output activation: use it on the "
                                 "last layer only")
            try:
                out = tuple(int(s) for s in layer.output_shape(shapes[-1]))
            except ValueError as e:
                raise ValueError(f"layer {l} ({layer.name}), input {shapes[-1]}: {e}") from None
            if isinstance(layer, Skip):
                _join(layer, l, shapes, rows)
            W_shape, b_shape = layer.param_shapes(shapes[-1])
            row = layer.plan_row(shapes[-1], out)
            row[codes.P_W], row[codes.P_NW], row[codes.P_NB] = \
                p, np.prod(W_shape), np.prod(b_shape)
            row[codes.P_RUN] = run
            p += int(np.prod(W_shape) + np.prod(b_shape))
            run += layer.n_running(shapes[-1])
            shapes.append(out)
            rows.append(row)
            W_shapes.append(tuple(W_shape))
            b_shapes.append(tuple(b_shape))
        if len(shapes[-1]) != 1:
            raise ValueError(f"the last layer's output must be flat, got {shapes[-1]} per "
                             "sample: end with Flatten() and a Dense layer")
        self.layers, self.L, self.shapes = layers, len(layers), shapes
        self.plan = np.array(rows, np.int64)
        self.alphas = np.array([ly.activation.alpha for ly in layers], np.float64)
        self._W_shapes, self._b_shapes = W_shapes, b_shapes
        self.theta = np.zeros(p, self.dtype)
        self.running = np.zeros(run, self.dtype)
        self.no_dropout = np.ones(self.L)
        self._bind_views()
        self._workspace = None
        self.initialize(seed)

    # ------------------------------------------------------------ parameters

    def split(self, flat: Array) -> tuple[list[Array], list[Array]]:
        """(W-list, b-list): views of a vector laid out as theta (a gradient)."""
        W, b = [], []
        for r, Ws, bs in zip(self.plan, self._W_shapes, self._b_shapes):
            w, nw, nb = int(r[codes.P_W]), int(r[codes.P_NW]), int(r[codes.P_NB])
            W.append(flat[w:w + nw].reshape(Ws))
            b.append(flat[w + nw:w + nw + nb].reshape(bs))
        return W, b

    def _bind_views(self) -> None:
        W, b = self.split(self.theta)
        self.W, self.b = LayerList(W, "W"), LayerList(b, "b")
        # named parts of W[l] (an RNN's W_x, W_h; attention's W_q, W_k, W_v, W_o):
        # net.W_x[l] etc., views; empty for the layers without that part
        parts = [ly.blocks(w) for ly, w in zip(self.layers, W)]
        for name in sorted({name for p in parts for name in p}):
            setattr(self, name, LayerList([p.get(name, np.empty((0, 0), self.dtype))
                                           for p in parts], name))

    def initialize(self, seed: int | None = 0) -> "Sequential":
        """Draw every W[l], b[l] from the layers' initializers (seeded) and reset
        the BatchNorm running statistics (mean 0, variance 1)."""
        rng = np.random.default_rng(_checks.seed(seed))
        for l, layer in enumerate(self.layers, 1):
            layer.init_params(self.W[l], self.b[l], rng)
        for l in self._batchnorms():
            self.running_mean(l)[...] = 0.0
            self.running_var(l)[...] = 1.0
        self._fit_state = None  # a new run: the next fit shuffles from its seed
        return self

    def _batchnorms(self) -> list[int]:
        return [l for l in range(1, self.L + 1) if self.plan[l - 1, codes.P_KIND] == codes.BATCHNORM]

    def running_mean(self, l: int) -> Array:
        """BatchNorm layer l's running mean (a view into ``running``)."""
        r = self._bn_row(l)
        return self.running[r[codes.P_RUN]:r[codes.P_RUN] + r[codes.P_CIN]]

    def running_var(self, l: int) -> Array:
        """BatchNorm layer l's running (unbiased) variance (a view into ``running``)."""
        r = self._bn_row(l)
        return self.running[r[codes.P_RUN] + r[codes.P_CIN]:r[codes.P_RUN] + 2 * r[codes.P_CIN]]

    def _bn_row(self, l: int) -> Array:
        if l not in self._batchnorms():
            raise ValueError(f"layer {l} is not a BatchNorm layer")
        return np.asarray(self.plan[l - 1])

    @property
    def n_outputs(self) -> int:
        return self.shapes[-1][0]

    def _new_workspace(self, m: int) -> PlanWorkspace:
        return PlanWorkspace(self, m)

    # ------------------------------------------------------------ passes

    def _inputs(self, X: ArrayLike, name: str = "X") -> Array:
        return _checks.samples(X, self.input_shape, self.dtype, name)

    def _forward_chunks(self, X: Array, Y: Array | None = None,
                        loss: losses.Loss | None = None) -> Iterator[tuple[int, int, PlanWorkspace]]:
        """Yield (start, k, ws) after an eval-mode forward pass of each chunk
        of X; with Y, the chunk's loss is computed too (into ws)."""
        m = len(X)
        ws = self.workspace(min(m, FORWARD_CHUNK))
        for start in range(0, m, ws.capacity):
            k = min(ws.capacity, m - start)
            ws.a(0, k)[...] = X[start:start + k]
            passes(self.plan)[0](self.plan, self.theta, self.running, self.alphas,
                                      *_fwd(ws), k, self.no_dropout, NO_SEED, codes.EVAL)
            yield start, k, ws

    def forward(self, X: ArrayLike) -> Array:
        """a[L] for every sample of X, with BatchNorm's running statistics (on
        the GPU for a network moved there by ``to("cuda")``)."""
        X = self._inputs(X)
        if self.device == "cuda":
            return self._on_gpu().forward(X)
        out = np.empty((len(X), self.n_outputs), self.dtype)
        for start, k, ws in self._forward_chunks(X):
            out[start:start + k] = ws.a(self.L, k)
        return out

    def _prepare(self, X: ArrayLike, Y: ArrayLike,
                 loss: str | losses.Loss) -> tuple[Array, Array, losses.Loss]:
        loss = losses.get(loss)
        loss.check_output(self.output_activation)
        X = self._inputs(X)
        Y = loss.targets(Y, self.n_outputs, self.dtype)
        _checks.same_rows(X, Y)
        return X, Y, loss

    def check_batch(self, m: int, what: str = "a batch") -> None:
        """PyTorch's rule: BatchNorm in training needs more than one value per channel."""
        for l in self._batchnorms():
            if m * int(np.prod(self.shapes[l][1:])) < 2:
                raise ValueError(f"layer {l} (BatchNorm) needs more than one value per channel "
                                 f"in training, but {what} has {m} row(s) of shape "
                                 f"{self.shapes[l]}")

    def _backprop(self, X: Array, Y: Array, loss: losses.Loss, grad: Array,
                  keep: Array | None = None, seed: np.uint64 = NO_SEED) -> float:
        m = len(X)
        self.check_batch(m)
        ws = self.workspace(m)
        ws.a(0, m)[...] = X
        return float(passes(self.plan)[3](
            self.plan, self.theta, grad, self.running, self.alphas, *ws.buffers(), m,
            Y.reshape(-1), loss.code, loss.scale(m, self.n_outputs),
            self.no_dropout if keep is None else keep, seed, codes.TRAIN))

    def _backward(self, X: Array, upstream: Array, grad: Array) -> float:
        """A training step's forward pass, delta[L] = upstream * g'(z[L]), the
        backward pass; returns sum(upstream * a[L]) (see ``Model.backward``)."""
        m, L = len(X), self.L
        self.check_batch(m)
        ws = self.workspace(m)
        ws.a(0, m)[...] = X
        forward, backward = passes(self.plan)[:2]
        forward(self.plan, self.theta, self.running, self.alphas, *_fwd(ws), m, self.no_dropout,
                NO_SEED, codes.TRAIN)
        delta = ws.delta(L, m)
        delta[...] = upstream
        backprop_activation(self.plan[L - 1, codes.P_ACT], self.alphas[L - 1], ws.z(L, m),
                            ws.a(L, m), delta, 1.0)
        backward(self.plan, self.theta, grad, self.alphas, *ws.buffers(), m, self.no_dropout,
                 NO_SEED, codes.TRAIN)
        return float(np.sum(upstream * ws.a(L, m)))

    def _input_gradient(self, X: Array) -> Array:
        """dJ/da[0], shaped like X: layer 1's backward step taken through to its
        input, from the delta[1] of the pass just run on X."""
        dX = np.empty_like(X)
        passes(self.plan)[2](self.plan, self.theta, np.zeros_like(self.theta), self.alphas,
                                  *self._workspace.buffers(), len(X), dX.reshape(-1),
                                  codes.TRAIN)
        return dX

    def evaluate(self, X: ArrayLike, Y: ArrayLike, loss: str | losses.Loss = "mse") -> float:
        """J on the whole set (X, Y) with the running statistics (no gradient;
        on the GPU for a network moved there by ``to("cuda")``)."""
        X, Y, loss = self._prepare(X, Y, loss)
        if self.device == "cuda":
            return float(self._on_gpu().evaluate(X, Y, loss))
        scale, J = loss.scale(len(X), self.n_outputs), 0.0
        for start, k, ws in self._forward_chunks(X):
            J += plan_loss(self.plan, self.alphas, ws.a_buf, ws.a_off, ws.z_buf, ws.z_off,
                           ws.delta_buf, k, Y[start:start + k].reshape(-1), loss.code, scale)
        return J

    # ------------------------------------------------------------ files

    def config(self) -> dict[str, Any]:
        return {"kind": "Sequential", "input_shape": list(self.input_shape),
                "dtype": self.dtype.name, "layers": [ly.config() for ly in self.layers]}

    def summary(self) -> str:
        rows = [f"{'layer':>5}  {'kind':<10} {'output':<14} {'W[l]':<16} {'activation':<11} params"]
        for l, layer in enumerate(self.layers, 1):
            n = self.W[l].size + self.b[l].size
            W = str(self.W[l].shape) if n else "-"
            rows.append(f"{l:>5}  {layer.name:<10} {str(self.shapes[l]):<14} {W:<16} "
                        f"{layer.activation.name:<11} {n}")
        rows.append(f"total {self.n_params} parameters, {self.dtype.name}, input {self.input_shape}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        kinds = ", ".join(ly.name for ly in self.layers)
        return f"Sequential(input_shape={self.input_shape}, [{kinds}], dtype={self.dtype.name})"


def _fwd(ws: PlanWorkspace) -> tuple[Array, ...]:
    """plan_forward's workspace arguments (no delta_buf)."""
    b = ws.buffers()
    return b[:4] + b[5:]


def from_saved(config: dict[str, Any], theta: Array, running: Array | None,
               path: str | os.PathLike[str]) -> Any:
    """Rebuild a Sequential network from its config, theta and running
    statistics (checked as ``numbann.load`` checks a file; ``path`` names the
    source in errors)."""
    from .model import from_config as network_from_config
    return network_from_config(config, theta, running, path)
