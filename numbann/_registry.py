"""Resolving a user's choice (a name, a class or an object) to an object."""
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def resolve(kind: str, base: type[T], registry: Mapping[str, Callable[..., T]], choice: object,
            kw: dict[str, Any]) -> T:
    """``choice`` as an instance of ``base``: a name in ``registry`` or a
    subclass (built with the keyword arguments ``kw``), or an instance
    (returned as is, with no keyword arguments)."""
    if isinstance(choice, base):
        if kw:
            raise ValueError(f"keyword arguments {sorted(kw)} given with a {kind} object "
                             f"{choice!r}; set them when constructing it")
        return choice
    make: Callable[..., T]
    if isinstance(choice, type) and issubclass(choice, base):
        key, make = choice.__name__, choice
    elif isinstance(choice, str):
        key = choice.strip().lower()
        if key not in registry:
            raise ValueError(f"unknown {kind} {choice!r:.60}; valid names: {', '.join(registry)}")
        make = registry[key]
    else:
        raise TypeError(f"{kind} must be a name, a {base.__name__} class or object, "
                        f"got {type(choice).__name__}")
    try:
        return make(**kw)
    except TypeError as e:  # a missing or unexpected argument
        raise ValueError(f"bad arguments for {kind} {key!r}: {e}") from None
