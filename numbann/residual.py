"""Residual (skip) connections: ``Residual([layers])`` adds a block's input to
its output, ``a = x + f(x)`` (He et al., 2016), as in a transformer's
"attention, add, norm". In the plan it is the block's layers followed by a
``Skip`` layer, ``z[l] = a[l-1] + a[source]``; backpropagation sends
``delta[l]`` both through the block and straight to ``a[source]``, where the
two add up.
"""
from typing import Any

from ._typing import Array
from .kernels import codes
from .layers import Layer, Shape


class Skip(Layer):
    """The end of a residual block: ``z[l] = a[l-1] + a[source]`` (``source``:
    the layer number of the block's input, 0 for the network's input). Made
    by ``Residual``; a saved network lists it with its ``source``."""
    kind = codes.SKIP

    def __init__(self, source: int) -> None:
        if isinstance(source, bool) or not isinstance(source, int) or source < 0:
            raise ValueError(f"Skip: source must be a layer number >= 0, got {source!r}")
        self.source = source

    def output_shape(self, in_shape: Shape) -> Shape:
        return tuple(in_shape)

    def plan_row(self, in_shape: Shape, out_shape: Shape) -> Array:
        row = super().plan_row(in_shape, out_shape)
        row[codes.P_SKIP_FROM] = self.source
        return row

    def config(self) -> dict[str, Any]:
        return {"kind": self.name, "source": self.source}


class Residual:
    """``Residual([layers])``: the layers, then their input added to their
    output. The block must keep the shape of its input (e.g. SelfAttention
    on (T, d), a Dense of d units on (T, d) or (d,)). Blocks may follow each
    other but not nest."""

    def __init__(self, layers: list[Layer]) -> None:
        layers = list(layers)
        if not layers:
            raise ValueError("Residual needs at least one layer")
        for layer in layers:
            if not isinstance(layer, Layer) or isinstance(layer, Skip):
                raise TypeError(f"Residual takes numbann layers (not another Residual), got "
                                f"{type(layer).__name__}")
        self.layers = layers

    def expand(self, source: int) -> list[Layer]:
        """Its layers and the Skip layer, for a block whose input is a[source]."""
        return self.layers + [Skip(source)]

    def __repr__(self) -> str:
        return f"Residual({self.layers!r})"
