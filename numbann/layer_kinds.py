"""Every layer kind of a Sequential network by name, to rebuild a network
from its saved config."""
from typing import Any

from .layers import AvgPool2D, BatchNorm, Conv2D, Flatten, Layer, MaxPool2D
from .residual import Skip
from .sequence_layers import RNN, LastStep, LayerNorm, PositionalEncoding, SelfAttention

KINDS: dict[str, type[Layer]] = {cls.__name__: cls for cls in (
    Conv2D, MaxPool2D, AvgPool2D, BatchNorm, Flatten, RNN, LayerNorm, SelfAttention,
    PositionalEncoding, Skip, LastStep)}


def from_config(spec: dict[str, Any]) -> Layer:
    """A layer from its ``config()`` (Dense layers are handled by the model)."""
    spec = dict(spec)
    cls = KINDS[spec.pop("kind")]
    return cls(**spec)
