"""Dense networks whose parameters live in one flat buffer.

``net.theta`` is the flat parameter vector; ``net.W[l]`` and ``net.b[l]``
(``l = 1..L``, the course's numbering) are views into it, so writing
``net.W[1][...] = ...`` or ``net.W[1] = ...`` changes the network.
"""
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _checks, activations, initializers, losses
from ._typing import Array, ArrayLike, DTypeLike
from . import io as nbio
from .base import FORWARD_CHUNK, NO_SEED, LayerList, Model
from .kernels import codes, cpu
from .layers import Layer, Shape, activation_config

if TYPE_CHECKING:
    from .sequential import Sequential

class Dense(Layer):
    """One dense layer: ``units`` neurons, an activation and an initializer.
    ``W[l]`` is (units, n_{l-1}), ``b[l]`` (units,): PyTorch's ``nn.Linear``.
    On a sequence ``(T, n)`` (in a Sequential network) it is applied at every
    time step with the same W[l] and b[l], as ``nn.Linear`` on (m, T, n)."""
    kind = codes.DENSE

    def __init__(self, units: int, activation: str | activations.Activation = "relu",
                 init: str | initializers.Initializer | None = None,
                 bias_init: str | initializers.Initializer = "zeros",
                 alpha: float | None = None) -> None:
        self.units = _checks.size(units, "units")
        self.activation = activations.get(activation, alpha)
        self.init = initializers.get(init, argument="init") if init is not None else \
            initializers.default_for(self.activation.name)
        self.bias_init = initializers.get(bias_init, argument="bias_init")

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) == 2:  # a sequence (T, n): applied at every time step, as nn.Linear
            if self.activation.name == "softmax":
                raise ValueError("Dense on a sequence (T, n) is applied at every time step; "
                                 "softmax is an output activation of a flat last layer")
            return (in_shape[0], self.units)
        if len(in_shape) != 1:
            raise ValueError(f"Dense takes flat input or sequences (T, n), but its input is "
                             f"{tuple(in_shape)} per sample: put Flatten() before it")
        return (self.units,)

    def param_shapes(self, in_shape: Shape) -> tuple[Shape, Shape]:
        return (self.units, in_shape[-1]), (self.units,)

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = super().plan_row(in_shape, out_shape)
        row[codes.P_FLAG] = len(in_shape) == 2   # the same W[l] at every time step
        return row

    def init_params(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        W[...] = self.init(W.shape, rng)
        b[...] = self.bias_init(b.shape, rng)

    def config(self) -> dict[str, Any]:
        return {"kind": "Dense", "units": self.units, **activation_config(self.activation)}

    def __repr__(self) -> str:
        return f"Dense({self.units}, {self.activation!r}, init={self.init!r})"


class Workspace:
    """Buffers for z, a, delta of every layer for batches of up to ``capacity`` rows."""

    def __init__(self, sizes: Array, capacity: int, dtype: DTypeLike) -> None:
        self.capacity = capacity
        self.sizes = sizes
        self.a_off = capacity * np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        self.z_off = capacity * np.concatenate(([0], np.cumsum(sizes[1:]))).astype(np.int64)
        self.a_buf = np.zeros(self.a_off[-1], dtype)
        self.z_buf = np.zeros(self.z_off[-1], dtype)
        self.delta_buf = np.zeros(self.z_off[-1], dtype)
        self.y_buf = np.zeros(capacity * sizes[-1], dtype)

    def a(self, l: int, m: int) -> Array:
        return self.a_buf[self.a_off[l]:self.a_off[l] + m * self.sizes[l]].reshape(m, -1)

    def z(self, l: int, m: int) -> Array:
        return self.z_buf[self.z_off[l - 1]:self.z_off[l - 1] + m * self.sizes[l]].reshape(m, -1)

    def delta(self, l: int, m: int) -> Array:
        return self.delta_buf[self.z_off[l - 1]:self.z_off[l - 1] + m * self.sizes[l]].reshape(m, -1)


class Network(Model):
    """A dense feed-forward network: ``Network(n_inputs, [Dense(...), ...])``."""

    def __init__(self, n_inputs: int, layers: Sequence[Dense], seed: int | None = 0,
                 dtype: DTypeLike = "float64") -> None:
        self.dtype = _checks.as_dtype(dtype)
        n_inputs = _checks.size(n_inputs, "n_inputs")
        _checks.seed(seed)
        dense = _checks.sequence(layers, "layers", "a list of Dense layers")
        if not dense:
            raise ValueError("a network needs at least one layer (layers is empty)")
        for layer in dense:
            if not isinstance(layer, Dense):
                raise TypeError(f"Network takes Dense layers, got {type(layer).__name__}: "
                                "build networks of other layers with numbann.Sequential")
        for layer in dense[:-1]:
            if layer.activation.name == "softmax":
                raise ValueError("layers: softmax is an output activation: use it on the last "
                                 "layer only")
        self.layers: list[Dense] = dense
        self.sizes = np.array([n_inputs] + [ly.units for ly in dense], dtype=np.int64)
        self.L = len(dense)
        counts = self.sizes[1:] * (self.sizes[:-1] + 1)
        self.p_off = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.acts = np.array([ly.activation.code for ly in dense], dtype=np.int64)
        self.alphas = np.array([ly.activation.alpha for ly in dense], dtype=np.float64)
        self.no_dropout = np.ones(self.L, dtype=np.float64)
        self.theta = np.zeros(int(self.p_off[-1]), self.dtype)
        self._bind_views()
        self._workspace = None
        self.initialize(seed)

    # ------------------------------------------------------------ parameters

    def _bind_views(self) -> None:
        # numpy views, as cpu.layer_W / layer_b: building a network compiles
        # (or, cached, loads) no kernel
        W, b = [], []
        for l in range(1, self.L + 1):
            n, n_in, start = int(self.sizes[l]), int(self.sizes[l - 1]), int(self.p_off[l - 1])
            W.append(self.theta[start:start + n * n_in].reshape(n, n_in))
            b.append(self.theta[start + n * n_in:start + n * n_in + n])
        self.W = LayerList(W, "W")
        self.b = LayerList(b, "b")

    def initialize(self, seed: int | None = 0) -> "Network":
        """Draw every W[l] and b[l] from the layers' initializers, seeded."""
        rng = np.random.default_rng(_checks.seed(seed))
        for l, layer in enumerate(self.layers, 1):
            self.W[l][...] = layer.init(self.W[l].shape, rng)
            self.b[l][...] = layer.bias_init(self.b[l].shape, rng)
        self._fit_state = None  # a new run: the next fit shuffles from its seed
        return self

    @property
    def n_inputs(self) -> int:
        return int(self.sizes[0])

    @property
    def n_outputs(self) -> int:
        return int(self.sizes[-1])

    def split(self, flat: Array) -> tuple[list[Array], list[Array]]:
        """(W-list, b-list): views of a vector laid out as theta (a gradient)."""
        Ls = range(1, self.L + 1)
        return ([cpu.layer_W(flat, self.sizes, self.p_off, l) for l in Ls],
                [cpu.layer_b(flat, self.sizes, self.p_off, l) for l in Ls])

    def _new_workspace(self, m: int) -> Workspace:
        return Workspace(self.sizes, m, self.dtype)

    # ------------------------------------------------------------ passes

    def _forward_rows(self, X: Array) -> Array:
        m = len(X)
        ws = self.workspace(min(max(m, 1), FORWARD_CHUNK))
        out = np.empty((m, self.n_outputs), self.dtype)
        for start in range(0, m, ws.capacity):
            rows = X[start:start + ws.capacity]
            k = len(rows)
            ws.a(0, k)[...] = rows
            cpu.forward(self.theta, self.sizes, self.acts, self.alphas, self.p_off,
                        ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, k, self.no_dropout, NO_SEED)
            out[start:start + k] = ws.a(self.L, k)
        return out

    def _inputs(self, X: ArrayLike) -> Array:
        return _checks.inputs(X, self.n_inputs, self.dtype)

    def forward(self, X: ArrayLike) -> Array:
        """a[L] for every row of X (shape (m, n_0)): the network's output (on
        the GPU for a network moved there by ``to("cuda")``)."""
        X = self._inputs(X)
        return self._on_gpu().forward(X) if self.device == "cuda" else self._forward_rows(X)

    def _prepare(self, X: ArrayLike, Y: ArrayLike,
                 loss: str | losses.Loss) -> tuple[Array, Array, losses.Loss]:
        loss = losses.get(loss)
        loss.check_output(self.output_activation)
        inputs = self._inputs(X)
        targets = loss.targets(Y, self.n_outputs, self.dtype)
        _checks.same_rows(inputs, targets)
        return inputs, targets, loss

    def _backprop(self, X: Array, Y: Array, loss: losses.Loss, grad: Array) -> float:
        m = len(X)
        ws = self.workspace(m)
        ws.a(0, m)[...] = X
        return float(cpu.loss_and_gradient(
            self.theta, grad, self.sizes, self.acts, self.alphas, self.p_off,
            ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, ws.delta_buf, m, Y,
            loss.code, loss.scale(m, self.n_outputs), self.no_dropout, NO_SEED))

    def _backward(self, X: Array, upstream: Array, grad: Array) -> float:
        """Forward pass, delta[L] = upstream * g'(z[L]), backward pass; returns
        sum(upstream * a[L]) (see ``Model.backward``)."""
        m, L = len(X), self.L
        ws = self.workspace(m)
        ws.a(0, m)[...] = X
        cpu.forward(self.theta, self.sizes, self.acts, self.alphas, self.p_off,
                    ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, m, self.no_dropout, NO_SEED)
        delta = ws.delta(L, m)
        delta[...] = upstream
        cpu.backprop_activation(self.acts[-1], self.alphas[-1], ws.z(L, m), ws.a(L, m), delta, 1.0)
        cpu.backward(self.theta, grad, self.sizes, self.acts, self.alphas, self.p_off,
                     ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, ws.delta_buf, m, self.no_dropout,
                     NO_SEED)
        return float(np.sum(upstream * ws.a(L, m)))

    def _input_gradient(self, X: Array) -> Array:
        """dJ/da[0] = delta[1] @ W[1], from the pass just run on X."""
        return np.asarray(self._workspace.delta(1, len(X)) @ self.W[1])

    def evaluate(self, X: ArrayLike, Y: ArrayLike, loss: str | losses.Loss = "mse") -> float:
        """J on the whole set (X, Y), computed in chunks (no gradient; on the
        GPU for a network moved there by ``to("cuda")``)."""
        inputs, targets, loss = self._prepare(X, Y, loss)
        if self.device == "cuda":
            return float(self._on_gpu().evaluate(inputs, targets, loss))
        m_total = len(inputs)
        ws = self.workspace(min(m_total, FORWARD_CHUNK))
        scale = loss.scale(m_total, self.n_outputs)
        L, J = self.L, 0.0
        for start in range(0, m_total, ws.capacity):
            k = min(ws.capacity, m_total - start)
            ws.a(0, k)[...] = inputs[start:start + k]
            cpu.forward(self.theta, self.sizes, self.acts, self.alphas, self.p_off,
                        ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, k, self.no_dropout, NO_SEED)
            J += cpu.loss_delta(loss.code, scale, self.acts[-1], self.alphas[-1], ws.z(L, k),
                                ws.a(L, k), targets[start:start + k], ws.delta(L, k))
        return J

    # ------------------------------------------------------------ files

    def config(self) -> dict[str, Any]:
        """The architecture as plain data (what ``save`` writes beside theta)."""
        return {"n_inputs": self.n_inputs, "dtype": self.dtype.name,
                "layers": [{"units": ly.units, "activation": ly.activation.name,
                            "alpha": ly.activation.alpha if ly.activation.name in ("leaky_relu", "elu")
                            else None} for ly in self.layers]}

    def summary(self) -> str:
        rows = [f"{'layer':>5}  {'shape of W[l]':>14}  {'activation':<12} params"]
        for l, layer in enumerate(self.layers, 1):
            rows.append(f"{l:>5}  {str(self.W[l].shape):>14}  {layer.activation.name:<12} "
                        f"{self.W[l].size + self.b[l].size}")
        rows.append(f"total {self.n_params} parameters, {self.dtype.name}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        acts = ", ".join(ly.activation.name for ly in self.layers)
        return f"Network(sizes={self.sizes.tolist()}, activations=[{acts}], dtype={self.dtype.name})"


def load(path: str | os.PathLike[str]) -> "Network | Sequential":
    """Read a network written by ``save`` (bit-exact parameters and running
    statistics), or the network of a checkpoint written by ``fit(...,
    checkpoint=path)``: a :class:`Network` or a
    :class:`~numbann.sequential.Sequential`. A truncated, corrupted, foreign
    or newer file raises :class:`numbann.NumbannFileError` naming the file."""
    _, _, arrays = nbio.read(path, (nbio.NETWORK, nbio.CHECKPOINT), legacy=("theta", "config"))
    return network_from_arrays(path, arrays)


def network_from_arrays(path: str | os.PathLike[str],
                        arrays: Mapping[str, Array]) -> "Network | Sequential":
    """The network held by a file's arrays (see ``network_arrays``)."""
    config = nbio.json_entry(path, arrays, "config")
    nbio.require(path, arrays, "theta")
    return from_config(config, arrays["theta"], arrays.get("running"), path)


def from_config(config: dict[str, Any], theta: Array, running: Array | None = None,
                source: str | os.PathLike[str] = "the file") -> "Network | Sequential":
    """A network rebuilt from its ``config()`` with these parameters (and a
    Sequential network's running statistics), checked: errors are
    :class:`numbann.NumbannFileError` naming ``source``."""
    try:
        if config.get("kind") == "Sequential":
            from .layer_kinds import from_config as layer_from_config
            from .sequential import Sequential
            layers = [_dense(spec) if spec["kind"] == "Dense" else layer_from_config(spec)
                      for spec in config["layers"]]
            net: Network | Sequential = Sequential(config["input_shape"], layers,
                                                   dtype=config["dtype"])
        else:
            net = Network(config["n_inputs"], [_dense(spec) for spec in config["layers"]],
                          dtype=config["dtype"])
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as e:
        raise nbio.NumbannFileError(f"{source}: its config does not describe a network "
                                    f"({type(e).__name__}: {e})") from None
    arrays = {k: v for k, v in (("theta", theta), ("running", running)) if v is not None}
    net.theta[...] = nbio.params(source, arrays, "theta", net.dtype, net.theta.size)
    if getattr(net, "running", None) is not None and (running is not None or net.running.size):
        net.running[...] = nbio.params(source, arrays, "running", net.dtype, net.running.size)
    return net


def _dense(spec: dict[str, Any]) -> Dense:
    return Dense(spec["units"], activations.get(spec["activation"], spec["alpha"]), init="zeros")


def MLP(sizes: Sequence[int], hidden: str | activations.Activation = "relu",
        output: str | activations.Activation = "identity",
        init: str | initializers.Initializer | None = None, seed: int | None = 0,
        dtype: DTypeLike = "float64", alpha: float | None = None) -> Network:
    """A multilayer perceptron with layer sizes ``[n_0, n_1, ..., n_L]``.

    Hidden layers use ``hidden`` (with ``alpha`` for leaky_relu/elu), the last
    layer ``output``; ``init`` names one initializer for every layer (default:
    He for the ReLU family, Xavier otherwise; biases zero).
    """
    given = _checks.sequence(sizes, "sizes", "a list of layer sizes [n_0, n_1, ..., n_L]")
    if len(given) < 2:
        raise ValueError(f"sizes needs at least [n_inputs, n_outputs], got {given}")
    sizes = [_checks.size(n, f"sizes[{i}]") for i, n in enumerate(given)]
    hidden_act = activations.get(hidden, alpha, argument="hidden")
    output_act = activations.get(output, argument="output")
    if hidden_act.name == "softmax" and len(sizes) > 2:
        raise ValueError("hidden='softmax': softmax is an output activation (output='softmax')")
    layers = [Dense(n, hidden_act, init) for n in sizes[1:-1]]
    layers.append(Dense(sizes[-1], output_act, init))
    return Network(sizes[0], layers, seed=seed, dtype=dtype)
