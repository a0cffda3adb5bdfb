"""The layer engine's pointer machinery (numbann/kernels/pointers.py).

numba names its cache files by a function's file, qualified name and line,
not by the compile options: two dispatchers under one name share cache
entries, and a pointable one (C wrapper) loaded from a plain one's entry has
no C wrapper (a null pointer: the layer engine's fit failed after a dense fit
had filled the cache)."""
import importlib
from pathlib import Path

import numpy as np
import pytest

import numbann
from numbann.kernels import conv
from numbann.kernels.pointers import PointerOnly


def _modules():
    root = Path(numbann.__file__).parent
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] not in ("__init__", "__main__"):
            yield importlib.import_module(".".join(parts))


def test_no_two_dispatchers_share_cache_files():
    dispatchers: dict = {}
    for module in _modules():
        for value in vars(module).values():
            if hasattr(value, "py_func") and hasattr(value, "targetoptions"):
                f = value.py_func
                name = (f.__code__.co_filename, f.__qualname__, f.__code__.co_firstlineno)
                dispatchers.setdefault(name, set()).add(id(getattr(value, "dispatcher", value)))
    assert len(dispatchers) > 50
    shared = [name[1] for name, ids in dispatchers.items() if len(ids) > 1]
    assert not shared, f"dispatchers sharing cache files: {shared}"


def test_a_pointer_only_kernel_called_from_python_runs():
    # compiled without a CPython wrapper (numba would crash on a direct Python
    # call): PointerOnly takes the call through a jitted trampoline
    assert isinstance(conv.maxpool_forward, PointerOnly)
    a = np.array([1.0, 5.0, 3.0, 2.0, 0.0, 7.0, 4.0, 6.0])  # one 2x4 plane
    z, where = np.zeros(2), np.zeros(2, np.int64)
    conv.maxpool_forward(a, z, where, 1, 1, 2, 4, 2, 2, 2, 1, 2)
    np.testing.assert_array_equal(z, [7.0, 6.0])
    np.testing.assert_array_equal(where, [5, 7])
