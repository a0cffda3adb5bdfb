"""Layers of sequences, on samples ``(T, n)`` (batches ``(m, T, n)``, batch
first as PyTorch's ``batch_first=True``): ``RNN``, ``SelfAttention``,
``PositionalEncoding``, ``LastStep``, and ``LayerNorm`` (over the last axis, of sequences
or flat samples). Each declares its shapes and plan row as the layers of
``layers.py`` do; the kernels are ``kernels/rnn.py``, ``kernels/attention.py``
and ``kernels/norm.py``. See docs/layers.md.
"""
from typing import Any

import numpy as np

from . import _checks, activations, initializers
from ._typing import Array
from .kernels import codes
from .layers import Layer, Shape


def _sequence(layer: Layer, in_shape: Shape) -> tuple[int, int]:
    if len(in_shape) != 2:
        raise ValueError(f"{layer.name} takes sequences (T, n) per sample, but its input is "
                         f"{tuple(in_shape)}: give the network input_shape=(T, n)")
    return int(in_shape[0]), int(in_shape[1])


class RNN(Layer):
    """An Elman recurrent layer on sequences ``(T, n)`` per sample (batches
    ``(m, T, n)``): ``h_t = g(x_t W_x^T + h_{t-1} W_h^T + b)``, ``h_0 = 0``,
    PyTorch's ``nn.RNN`` (``batch_first=True``; ``activation`` "tanh" or
    "relu", its ``nonlinearity``). The output is h_T, shape ``(units,)``, or
    with ``return_sequences`` every h_t, ``(T, units)``.

    ``W[l] = [W_x | W_h]``, shape ``(units, n + units)``: one matrix acting on
    ``[x_t; h_{t-1}]``; ``net.W_x[l]``, ``net.W_h[l]`` are views of its two
    blocks. PyTorch's two biases are one here: ``b = bias_ih + bias_hh``.
    Default initialization is PyTorch's, U(-1/sqrt(units), 1/sqrt(units)) for
    every weight and for b; ``init`` draws W_x and W_h separately."""
    kind = codes.RNN

    def __init__(self, units: int, activation: str = "tanh", return_sequences: bool = False,
                 init: str | initializers.Initializer | None = None,
                 bias_init: str | initializers.Initializer | None = None) -> None:
        self.units = _checks.size(units, "units")
        if activation not in ("tanh", "relu"):
            raise ValueError(f"RNN: activation must be 'tanh' or 'relu' (as nn.RNN), "
                             f"got {activation!r}")
        self.activation = activations.get(activation)
        if not isinstance(return_sequences, (bool, np.bool_)):
            raise TypeError(f"return_sequences must be True or False, got {return_sequences!r}")
        self.return_sequences = bool(return_sequences)
        default: initializers.Initializer = initializers.TorchDefault(fan_in=self.units)
        self.init = default if init is None else initializers.get(init, argument="init")
        self.bias_init = default if bias_init is None else \
            initializers.get(bias_init, argument="bias_init")

    def output_shape(self, in_shape: Shape) -> Shape:
        T, _ = _sequence(self, in_shape)
        return (T, self.units) if self.return_sequences else (self.units,)

    def param_shapes(self, in_shape: Shape) -> tuple[Shape, Shape]:
        return (self.units, in_shape[1] + self.units), (self.units,)

    def blocks(self, W: Array) -> dict[str, Array]:
        """Views of W[l] = [W_x | W_h]: W_x (units, n) and W_h (units, units)."""
        n_in = W.shape[1] - self.units
        return {"W_x": W[:, :n_in], "W_h": W[:, n_in:]}

    def init_params(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        for block in self.blocks(W).values():
            block[...] = self.init(block.shape, rng)
        b[...] = self.bias_init(b.shape, rng)

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = super().plan_row(in_shape, out_shape)
        row[codes.P_FLAG] = int(self.return_sequences)
        return row

    def config(self) -> dict[str, Any]:
        return {"kind": self.name, "units": self.units, "activation": self.activation.name,
                "return_sequences": self.return_sequences}



class LayerNorm(Layer):
    """Layer normalization over the last axis of each sample (PyTorch's
    ``nn.LayerNorm(n)``, eps 1e-5): every time step of a sequence ``(T, n)``,
    or a flat sample ``(n,)``, is normalized by its own mean and (biased)
    variance, then scaled and shifted, ``z = gamma * xhat + beta`` (``W[l]``
    is gamma, ones at first; ``b[l]`` beta, zeros). The same in training and
    evaluation: no running statistics."""
    kind = codes.LAYERNORM

    def __init__(self, activation: str = "identity", alpha: float | None = None) -> None:
        self.activation = activations.get(activation, alpha)
        if self.activation.name == "softmax":
            raise ValueError("LayerNorm: softmax is an output activation of a Dense layer")

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) == 3:
            raise ValueError(f"LayerNorm normalizes the last axis of a sequence (T, n) or a "
                             f"flat sample (n,), but its input is an image {tuple(in_shape)}: "
                             f"use BatchNorm, or Flatten first")
        return tuple(in_shape)

    def param_shapes(self, in_shape: Shape) -> tuple[Shape, Shape]:
        return (in_shape[-1],), (in_shape[-1],)

    def init_params(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        W[...] = 1.0
        b[...] = 0.0

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = super().plan_row(in_shape, out_shape)
        row[codes.P_KH] = in_shape[-1]
        return row

    def config(self) -> dict[str, Any]:
        return {"kind": self.name, "activation": self.activation.name,
                "alpha": self.activation.alpha if self.activation.name in ("leaky_relu", "elu")
                else None}


class SelfAttention(Layer):
    """Single-head scaled dot-product self-attention on sequences ``(T, d)``:
    ``Q = X W_q^T``, ``K = X W_k^T``, ``V = X W_v^T`` (d_k, d_k and d_v
    columns), ``A = softmax(Q K^T / sqrt(d_k))`` row by row (with ``causal``,
    step t sees steps 1..t only), output ``A V W_o^T``, ``(T, d)``: PyTorch's
    ``scaled_dot_product_attention(Q, K, V, is_causal=causal) @ W_o.T``.

    ``W[l]`` stacks the four matrices by rows, ``[W_q; W_k; W_v; W_o^T]``,
    shape ``(2 d_k + 2 d_v, d)``; ``net.W_q[l]``, ``W_k[l]``, ``W_v[l]`` and
    ``W_o[l]`` (shape ``(d, d_v)``) are views. No bias. ``d_v`` defaults to
    ``d_k``. Initialization: Xavier uniform per matrix (``init=`` to change)."""
    kind = codes.ATTENTION

    def __init__(self, d_k: int, d_v: int | None = None, causal: bool = False,
                 init: str | initializers.Initializer = "xavier_uniform") -> None:
        self.d_k = _checks.size(d_k, "d_k")
        self.d_v = self.d_k if d_v is None else _checks.size(d_v, "d_v")
        if not isinstance(causal, (bool, np.bool_)):
            raise TypeError(f"causal must be True or False, got {causal!r}")
        self.causal = bool(causal)
        self.init = initializers.get(init, argument="init")

    def output_shape(self, in_shape: Shape) -> Shape:
        return _sequence(self, in_shape)

    def param_shapes(self, in_shape: Shape) -> tuple[Shape, Shape]:
        return (2 * self.d_k + 2 * self.d_v, in_shape[1]), (0,)

    def blocks(self, W: Array) -> dict[str, Array]:
        """Views of W[l]: W_q, W_k, W_v (d_k, d_k, d_v rows of d) and W_o (d, d_v)."""
        k, v = self.d_k, self.d_v
        return {"W_q": W[:k], "W_k": W[k:2 * k], "W_v": W[2 * k:2 * k + v],
                "W_o": W[2 * k + v:].T}

    def init_params(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        for block in self.blocks(W).values():
            block[...] = self.init(block.shape, rng)

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = super().plan_row(in_shape, out_shape)
        row[codes.P_KH], row[codes.P_KW], row[codes.P_FLAG] = self.d_k, self.d_v, self.causal
        return row

    def config(self) -> dict[str, Any]:
        return {"kind": self.name, "d_k": self.d_k, "d_v": self.d_v, "causal": self.causal}


class PositionalEncoding(Layer):
    """Adds a position signal to every time step of a sequence ``(T, d)``:
    the sinusoidal table of Vaswani et al., ``PE(t, 2i) = sin(t / 10000^(2i/d))``,
    ``PE(t, 2i+1) = cos(t / 10000^(2i/d))`` (t = 0..T-1; no parameters), or
    with ``learned=True`` a trained table ``b[l]`` of shape ``(T, d)``
    (zeros at first)."""
    kind = codes.POSENC

    def __init__(self, learned: bool = False) -> None:
        if not isinstance(learned, (bool, np.bool_)):
            raise TypeError(f"learned must be True or False, got {learned!r}")
        self.learned = bool(learned)

    def output_shape(self, in_shape: Shape) -> Shape:
        return _sequence(self, in_shape)

    def param_shapes(self, in_shape: Shape) -> tuple[Shape, Shape]:
        return (0,), (tuple(in_shape) if self.learned else (0,))

    def init_params(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        b[...] = 0.0

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = super().plan_row(in_shape, out_shape)
        row[codes.P_FLAG] = self.learned
        return row

    def config(self) -> dict[str, Any]:
        return {"kind": self.name, "learned": self.learned}


class LastStep(Layer):
    """A sequence's last time step: ``(T, n) -> (n,)``, as ``x[:, -1]`` in
    PyTorch (what a classifier reads after causal attention, where step T
    has seen every step). The gradient goes to step T only."""
    kind = codes.LAST_STEP

    def output_shape(self, in_shape: Shape) -> Shape:
        return (_sequence(self, in_shape)[1],)
