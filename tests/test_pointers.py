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
from numbann.kernels import conv, plan_step


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


@pytest.mark.parametrize("kernel", [conv.maxpool_forward, plan_step.split_pass])
def test_a_pointer_only_kernel_called_from_python_raises(kernel):
    # compiled without a CPython wrapper: a call from Python would crash numba
    with pytest.raises(TypeError, match="through a pointer"):
        kernel(np.zeros(4), np.zeros(1), np.zeros(1, np.int64), 1, 1, 2, 2, 2, 2, 2, 1, 1)
