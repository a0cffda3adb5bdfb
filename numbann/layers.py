"""Layers beyond dense: Conv2D, MaxPool2D, AvgPool2D, BatchNorm, Flatten (the
layers of sequences are in ``sequence_layers.py``).

Each layer kind declares, from the shape of one input sample, its output
shape, the shapes of its ``W[l]`` and ``b[l]`` (views into the network's
theta) and its plan row (``kernels/codes.py``), which the compiled passes
walk. Shapes are per sample: ``(C, H, W)`` for images (NCHW batches, as
PyTorch), ``(T, n)`` for sequences of T steps, ``(n,)`` for flat layers.
See docs/layers.md.
"""
from typing import Any

import numpy as np

from . import _checks, activations, initializers
from ._typing import Array
from .kernels import codes
from .kernels.conv import conv_output_size
from .kernels.conv_direct import prefers_direct

Shape = tuple[int, ...]  # one sample's shape: (n,), (T, n) or (C, H, W)


def _pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    """An int or a pair of ints, as a pair of positive ints."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
    return _checks.size(pair[0], name), _checks.size(pair[1], name)


def _spatial(layer: "Layer", in_shape: Shape) -> tuple[int, int, int]:
    if len(in_shape) == 2:
        raise ValueError(f"{layer.name} takes images (C, H, W) per sample, but its input is "
                         f"a sequence {in_shape} (T, n); grey images need a channel axis: "
                         f"input_shape=(1, {in_shape[0]}, {in_shape[1]})")
    if len(in_shape) != 3:
        raise ValueError(f"{layer.name} takes images (C, H, W) per sample, but its input is "
                         f"flat {in_shape}: give the network input_shape=(C, H, W), or put "
                         "the layer before Flatten()")
    return in_shape[0], in_shape[1], in_shape[2]


def _out_size(layer: "Layer", what: str, size: int, kernel: int, stride: int, pad: int) -> int:
    out = int(conv_output_size(size, kernel, stride, pad))
    if out < 1:
        raise ValueError(
            f"{layer.name}: output {what} floor(({size} + {pad} - {kernel}) / {stride}) + 1 = "
            f"{out}, less than 1: the {'kernel' if layer.kind == codes.CONV2D else 'window'} "
            f"({kernel}) is larger than the {'padded ' if pad else ''}input ({size + pad})")
    return out


class Layer:
    """What every layer kind declares (see the module notes)."""
    kind = -1
    activation = activations.get("identity")

    @property
    def name(self) -> str:
        return type(self).__name__

    def output_shape(self, in_shape: Shape) -> Shape:
        raise NotImplementedError

    def param_shapes(self, in_shape: Shape) -> tuple[Shape, Shape]:
        """(shape of W[l], shape of b[l]); (0,) for none."""
        return (0,), (0,)

    def n_running(self, in_shape: Shape) -> int:
        return 0

    def init_params(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        pass

    def blocks(self, W: Array) -> dict[str, Array]:
        """Named views of W[l]'s parts (an RNN's W_x and W_h, ...); none here."""
        return {}

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = np.zeros(codes.N_PLAN, np.int64)
        row[codes.P_KIND] = self.kind
        row[codes.P_ACT] = self.activation.code
        row[codes.P_CIN:codes.P_WIN + 1] = (tuple(in_shape) + (1, 1))[:3]
        row[codes.P_COUT:codes.P_WOUT + 1] = (tuple(out_shape) + (1, 1))[:3]
        return row

    def config(self) -> dict[str, Any]:
        return {"kind": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "kind")
        return f"{self.name}({args})"


def activation_config(act: activations.Activation) -> dict[str, Any]:
    return {"activation": act.name,
            "alpha": act.alpha if act.name in ("leaky_relu", "elu") else None}


class Conv2D(Layer):
    """``filters`` output channels from a ``kernel_size`` filter slid with
    ``stride`` over zero-``padding``ed images: PyTorch's ``nn.Conv2d``
    (cross-correlation; output size floor((H + 2p - k)/s) + 1).
    ``padding="same"`` (stride 1) keeps H and W, padding k - 1 in total as
    PyTorch does (the extra row and column of an even kernel go below and
    right). ``W[l]`` is (filters, C_in, k_h, k_w), ``b[l]`` (filters,)."""
    kind = codes.CONV2D

    def __init__(self, filters: int, kernel_size: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] | str = 0,
                 activation: str | activations.Activation = "relu",
                 init: str | initializers.Initializer | None = None,
                 bias_init: str | initializers.Initializer = "zeros",
                 alpha: float | None = None) -> None:
        self.filters = _checks.size(filters, "filters")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _checks.size(stride, "stride")
        self.padding: tuple[int, int] | str
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be an int >= 0, a pair, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != 1:
                raise ValueError("padding='same' needs stride=1 (as PyTorch's Conv2d)")
            self.padding = (0, 0) if padding == "valid" else padding
        else:
            pads = tuple(padding) if isinstance(padding, (tuple, list)) else (padding, padding)
            if len(pads) != 2:
                raise ValueError(f"padding must be an int >= 0, a pair, 'same' or 'valid', "
                                 f"got {padding!r}")
            pad_h, pad_w = (_checks.integer(p, "padding", 0, _checks.MAX_SIZE) for p in pads)
            self.padding = pad_h, pad_w
        self.activation = activations.get(activation, alpha)
        if self.activation.name == "softmax":
            raise ValueError("Conv2D: softmax is an output activation of a Dense layer")
        self.init = initializers.get(init, argument="init") if init is not None else \
            initializers.default_for(self.activation.name)
        self.bias_init = initializers.get(bias_init, argument="bias_init")

    def pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((zeros above, below), (left, right))."""
        if isinstance(self.padding, str):  # "same"
            kh, kw = self.kernel_size
            return ((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2)
        ph, pw = self.padding
        return (ph, ph), (pw, pw)

    def output_shape(self, in_shape: Shape) -> Shape:
        C, H, W = _spatial(self, in_shape)
        (kh, kw), s, (ph, pw) = self.kernel_size, self.stride, self.pads()
        return (self.filters, _out_size(self, "height", H, kh, s, sum(ph)),
                _out_size(self, "width", W, kw, s, sum(pw)))

    def param_shapes(self, in_shape: Shape) -> tuple[Shape, Shape]:
        return (self.filters, in_shape[0]) + self.kernel_size, (self.filters,)

    def init_params(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        W[...] = self.init(W.shape, rng)
        b[...] = self.bias_init(b.shape, rng)

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = super().plan_row(in_shape, out_shape)
        row[codes.P_KH], row[codes.P_KW] = self.kernel_size
        row[codes.P_STRIDE] = self.stride
        (row[codes.P_PAD_H], _), (row[codes.P_PAD_W], _) = self.pads()
        row[codes.P_ALGO] = codes.DIRECT if prefers_direct(self.stride, out_shape[1], out_shape[2],
                                                           self.kernel_size[1]) else codes.IM2COL
        return row

    def config(self) -> dict[str, Any]:
        pad = self.padding if isinstance(self.padding, str) else list(self.padding)
        return {"kind": self.name, "filters": self.filters,
                "kernel_size": list(self.kernel_size), "stride": self.stride, "padding": pad,
                **activation_config(self.activation)}


class _Pool(Layer):
    def __init__(self, size: int | tuple[int, int], stride: int | None = None,
                 activation: str | activations.Activation = "identity",
                 alpha: float | None = None) -> None:
        self.size = _pair(size, "size")
        self.stride = self.size[0] if stride is None else _checks.size(stride, "stride")
        if stride is None and self.size[0] != self.size[1]:
            raise ValueError(f"{self.name}: give stride= for a non-square window {self.size}")
        self.activation = activations.get(activation, alpha)

    def output_shape(self, in_shape: Shape) -> Shape:
        C, H, W = _spatial(self, in_shape)
        return (C, _out_size(self, "height", H, self.size[0], self.stride, 0),
                _out_size(self, "width", W, self.size[1], self.stride, 0))

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = super().plan_row(in_shape, out_shape)
        row[codes.P_KH], row[codes.P_KW] = self.size
        row[codes.P_STRIDE] = self.stride
        return row

    def config(self) -> dict[str, Any]:
        return {"kind": self.name, "size": list(self.size), "stride": self.stride,
                **activation_config(self.activation)}


class MaxPool2D(_Pool):
    """The maximum of each ``size`` window, windows ``stride`` apart (default:
    ``size``, no overlap): PyTorch's ``nn.MaxPool2d``. The gradient goes to
    the window's first maximum in row-major order, where PyTorch sends it."""
    kind = codes.MAXPOOL2D


class AvgPool2D(_Pool):
    """The mean of each ``size`` window: PyTorch's ``nn.AvgPool2d``."""
    kind = codes.AVGPOOL2D


class BatchNorm(Layer):
    """z = gamma * (a - mu) / sqrt(var + eps) + beta per feature (after a dense
    layer: PyTorch's ``BatchNorm1d``) or per channel (after a conv layer:
    ``BatchNorm2d``); eps 1e-5, momentum 0.1. ``W[l]`` is gamma (ones at
    first), ``b[l]`` beta (zeros). Batch statistics in fit's steps (and in
    backprop, gradient, gradcheck); running statistics, saved with the
    network, in forward, predict, evaluate and score."""
    kind = codes.BATCHNORM

    def __init__(self, activation: str | activations.Activation = "identity",
                 alpha: float | None = None) -> None:
        self.activation = activations.get(activation, alpha)
        if self.activation.name == "softmax":
            raise ValueError("BatchNorm: softmax is an output activation of a Dense layer")

    def output_shape(self, in_shape: Shape) -> Shape:
        return tuple(in_shape)

    def param_shapes(self, in_shape: Shape) -> tuple[Shape, Shape]:
        return (in_shape[0],), (in_shape[0],)

    def n_running(self, in_shape: Shape) -> int:
        return 2 * in_shape[0]

    def init_params(self, W: Array, b: Array, rng: np.random.Generator) -> None:
        W[...] = 1.0
        b[...] = 0.0

    def config(self) -> dict[str, Any]:
        return {"kind": self.name, **activation_config(self.activation)}


class Flatten(Layer):
    """(C, H, W) -> (C H W,): the same numbers, row-major, as PyTorch's ``nn.Flatten``."""
    kind = codes.FLATTEN

    def output_shape(self, in_shape: Shape) -> Shape:
        return (int(np.prod(in_shape)),)

