"""Functions the layer engine calls through pointers (numba's first-class
functions), and the pointers themselves.

A jitted caller links each jitted callee's code into its own and optimizes
it again, at every level; called through a pointer (``pointer``), a callee
is compiled once and shared. What only a pointer calls is compiled with a C
wrapper and without a CPython wrapper (``pointable``): the wrappers of
signatures of up to 41 arguments, 16 of them pointers, cost LeNet-5's first
fit 2.3 s (16.7 -> 14.4 s, measured). numba would crash on a Python call to
such a function (it jumps to the missing wrapper), so ``PointerOnly`` takes
Python calls through a small jitted trampoline instead (``_python_call``,
compiled on the first such call: what the tests' CPU references use).

numba names its cache files by a function's file, qualified name and line,
not by its compile options: a second dispatcher of the same function would
load the first's cache entries, built without the C wrapper, and its
pointer would be null (``twin`` gives a function a name of its own;
tests/test_pointers.py checks that no two dispatchers share a name).
"""
import warnings
from types import FunctionType
from typing import Any, Callable

from numba import njit, typeof
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.core.types.function_type import CompileResultWAP

POINTER_OPTIONS = dict(cache=True, error_model="numpy", no_cpython_wrapper=True)


class PointerOnly:
    """A dispatcher compiled for pointer calls only: attributes pass through
    (``compile``, ``overloads``, ``py_func``); a Python call goes through a
    jitted trampoline."""

    def __init__(self, dispatcher: Any):
        self.dispatcher = dispatcher
        self.__name__ = dispatcher.py_func.__name__
        self.__doc__ = dispatcher.py_func.__doc__

    def __getattr__(self, name: str) -> Any:
        if name == "dispatcher":  # not set yet (a copy or unpickling)
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __call__(self, *args: Any) -> Any:
        return _python_call(self.dispatcher, *args)


@njit(error_model="numpy")
def _python_call(kernel, *args):  # type: ignore[no-untyped-def]
    """kernel(*args) from compiled code, which needs no CPython wrapper."""
    return kernel(*args)


def pointer_only(**options: Any) -> Callable[[Callable[..., Any]], PointerOnly]:
    """A decorator: njit(**options) without the CPython wrapper, as ``PointerOnly``."""
    compile_ = njit(**{**POINTER_OPTIONS, **options})
    return lambda f: PointerOnly(compile_(f))


pointable = pointer_only()
# Called through a pointer and from Python too: both wrappers.
pointable_and_callable = njit(cache=True, error_model="numpy")


def twin(dispatcher: Any) -> PointerOnly:
    """A pointable dispatcher of ``dispatcher``'s Python function, under a name
    of its own (module notes)."""
    f = dispatcher.py_func
    copy = FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    copy.__qualname__ = f"{f.__qualname__}_pointable"
    return pointable(copy)


def pointer(dispatcher: Any, *args: Any) -> CompileResultWAP:
    """``dispatcher`` compiled for the types of ``args``, as a first-class
    function a jitted caller calls through its address."""
    return pointer_for(dispatcher, tuple(typeof(a) for a in args))


def pointer_for(dispatcher: Any, sig: tuple) -> CompileResultWAP:
    """``pointer`` for the argument types ``sig``; one per (dispatcher, sig)."""
    key = (dispatcher, sig)
    found = _POINTERS.get(key)
    if found is None:
        dispatcher.compile(sig)
        found = _POINTERS[key] = CompileResultWAP(dispatcher.overloads[sig])
    return found


_POINTERS: dict = {}

# numba marks its first-class functions experimental and says so at every
# compile that uses them; the passes rely on them by design (tests/test_split.py
# and every Sequential test exercise them), so the notice is not the user's concern.
warnings.filterwarnings("ignore", ".*First-class function type feature is experimental",
                        NumbaExperimentalFeatureWarning)
