"""numba keys its on-disk cache by the Python function's name and line, not by
the compile options: two dispatchers of one function share a cache entry, and
a pointable one (``cfunc`` wrapper) loaded from a plain one's entry has no C
wrapper (its pointer is 0)."""
import importlib
from pathlib import Path

import numbann


def _modules():
    root = Path(numbann.__file__).parent
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] not in ("__init__", "__main__"):
            yield importlib.import_module(".".join(parts))


def test_each_compiled_function_has_one_dispatcher():
    dispatchers: dict = {}
    for module in _modules():
        for value in vars(module).values():
            if hasattr(value, "py_func") and hasattr(value, "targetoptions"):
                dispatchers.setdefault(value.py_func.__code__, set()).add(id(value))
    assert len(dispatchers) > 50
    shared = [code.co_name for code, ids in dispatchers.items() if len(ids) > 1]
    assert not shared, f"compiled twice from one function, so sharing a cache entry: {shared}"
