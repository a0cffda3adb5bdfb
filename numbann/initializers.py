"""Weight initializers: ``W[l]`` of shape (n_out, n_in), fan_in = n_in, fan_out = n_out;
for a conv kernel (C_out, C_in, k_h, k_w), fan_in = C_in k_h k_w and
fan_out = C_out k_h k_w (as torch.nn.init).

Each draws from a ``numpy.random.Generator`` the network seeds, so the same
seed gives the same weights on every machine and device.
"""
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _checks
from ._typing import Array

ShapeLike = Sequence[int]


class Initializer:
    name = ""
    formula = ""

    def __call__(self, shape: ShapeLike, rng: np.random.Generator) -> Array:
        """An array of the given shape (n_out, n_in) or (n_out,) in float64."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _fans(shape: ShapeLike) -> tuple[int, int]:
    field = math.prod(shape[2:])  # a conv kernel's receptive field k_h k_w (1 if dense)
    fan_out = shape[0] * field
    fan_in = shape[1] * field if len(shape) > 1 else 1
    return fan_in, fan_out


class Constant(Initializer):
    """W = value everywhere (``zeros`` is value 0: no symmetry breaking)."""
    name, formula = "constant", "W_ij = c"

    def __init__(self, value: float = 0.0) -> None:
        self.value = _checks.real(value, "value")

    def __call__(self, shape: ShapeLike, rng: np.random.Generator) -> Array:
        return np.full(shape, self.value)


class Normal(Initializer):
    """W ~ N(mean, std^2): the course's small random init with std = eps."""
    name, formula = "normal", "W_ij ~ N(mean, std^2)"

    def __init__(self, std: float = 0.01, mean: float = 0.0) -> None:
        self.std = _checks.real(std, "normal: std", 0)
        self.mean = _checks.real(mean, "normal: mean")

    def __call__(self, shape: ShapeLike, rng: np.random.Generator) -> Array:
        return rng.normal(self.mean, self.std, size=shape)


class Uniform(Initializer):
    """W ~ U(-a, a)."""
    name, formula = "uniform", "W_ij ~ U(-a, a)"

    def __init__(self, a: float = 0.05) -> None:
        self.a = _checks.real(a, "uniform: a", 0)

    def __call__(self, shape: ShapeLike, rng: np.random.Generator) -> Array:
        return rng.uniform(-self.a, self.a, size=shape)


class _Scaled(Initializer):
    """Normal or uniform with a variance set by the layer's fans."""
    distribution = "normal"

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _checks.real(gain, "gain", 0)

    def std(self, fan_in: int, fan_out: int) -> float:
        raise NotImplementedError

    def __call__(self, shape: ShapeLike, rng: np.random.Generator) -> Array:
        std = self.std(*_fans(shape))
        if self.distribution == "normal":
            return rng.normal(0.0, std, size=shape)
        bound = math.sqrt(3.0) * std  # U(-a, a) has std a / sqrt(3)
        return rng.uniform(-bound, bound, size=shape)


class XavierNormal(_Scaled):
    """Glorot: W ~ N(0, gain^2 2 / (fan_in + fan_out)) (torch.nn.init.xavier_normal_)."""
    name, formula = "xavier_normal", "std = gain sqrt(2 / (fan_in + fan_out))"

    def std(self, fan_in: int, fan_out: int) -> float:
        return self.gain * math.sqrt(2.0 / (fan_in + fan_out))


class XavierUniform(XavierNormal):
    """Glorot: W ~ U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)) (xavier_uniform_)."""
    name, formula, distribution = "xavier_uniform", "a = gain sqrt(6 / (fan_in + fan_out))", "uniform"


class HeNormal(_Scaled):
    """He/Kaiming for ReLU: W ~ N(0, 2 / fan_in) (kaiming_normal_, fan_in mode)."""
    name, formula = "he_normal", "std = gain sqrt(2 / fan_in)"

    def std(self, fan_in: int, fan_out: int) -> float:
        return self.gain * math.sqrt(2.0 / fan_in)


class HeUniform(HeNormal):
    """He/Kaiming: W ~ U(-a, a), a = sqrt(6 / fan_in) (kaiming_uniform_)."""
    name, formula, distribution = "he_uniform", "a = gain sqrt(6 / fan_in)", "uniform"


class TorchDefault(Initializer):
    """PyTorch's ``nn.Linear`` default: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    name, formula = "torch", "W_ij ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))"

    def __init__(self, fan_in: int | None = None) -> None:
        self.fan_in = _checks.positive_int(fan_in, "fan_in", none=True)

    def __call__(self, shape: ShapeLike, rng: np.random.Generator) -> Array:
        fan_in = self.fan_in or _fans(shape)[0]
        bound = 1.0 / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape)


_REGISTRY: dict[str, Callable[..., Initializer]] = {
    "zeros": lambda: Constant(0.0), "ones": lambda: Constant(1.0), "constant": Constant,
    "normal": Normal, "uniform": Uniform,
    "xavier_normal": XavierNormal, "xavier_uniform": XavierUniform,
    "glorot_normal": XavierNormal, "glorot_uniform": XavierUniform,
    "he_normal": HeNormal, "he_uniform": HeUniform,
    "kaiming_normal": HeNormal, "kaiming_uniform": HeUniform,
    "torch": TorchDefault,
}
NAMES = tuple(_REGISTRY)


def get(init: "str | Initializer", argument: str = "init", **kwargs: Any) -> Initializer:
    """Resolve a name (with keyword arguments) or an :class:`Initializer`;
    ``argument`` names the caller's argument in error messages."""
    if isinstance(init, Initializer):
        if kwargs:
            raise ValueError(f"keyword arguments {sorted(kwargs)} given with an Initializer "
                             f"object ({argument}); set them when constructing it")
        return init
    if not isinstance(init, str):
        raise TypeError(f"{argument} must be a name or an Initializer, got {type(init).__name__}")
    name = init.lower()
    if name not in _REGISTRY:
        raise ValueError(f"unknown initializer {init!r:.60} ({argument}); valid names: "
                         f"{', '.join(NAMES)}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as e:  # a missing or unexpected keyword argument
        raise TypeError(f"bad arguments for initializer {name!r} ({argument}): {e}") from None


def default_for(activation_name: str) -> Initializer:
    """He for the ReLU family, Xavier otherwise: each keeps activations' variance steady."""
    if activation_name in ("relu", "leaky_relu", "elu"):
        return HeUniform()
    return XavierUniform()
