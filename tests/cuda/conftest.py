"""CUDA tests: numba's CUDA simulator unless NUMBA_ENABLE_CUDASIM is already
set (NUMBA_ENABLE_CUDASIM=0 runs them on a real GPU).

The variable must be set before ``numba.cuda`` is first imported; numba's
config is re-read in case another conftest imported numba already.
"""
import importlib
import os
import pkgutil
import sys

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numba.core.config  # noqa: E402
import pytest  # noqa: E402

numba.core.config.reload_config()

import numbann.kernels  # noqa: E402
from numbann.kernels import cuda as cuda_kernels  # noqa: E402

SIMULATED = numba.core.config.ENABLE_CUDASIM
SHIPPED = cuda_kernels.TILE, cuda_kernels.THREADS  # read before small_blocks shrinks them

# In the simulator every thread of a block iterates the globals of the device
# functions it calls; the first warning raised in a kernel (the dropout hash's
# uint64 overflow) adds ``__warningregistry__`` to them, and another thread's
# iteration then sometimes fails ("dictionary changed size during
# iteration"): each kernel module gets its registry beforehand.
for _name in pkgutil.iter_modules(numbann.kernels.__path__):
    vars(importlib.import_module(f"numbann.kernels.{_name.name}")).setdefault(
        "__warningregistry__", {})


def pytest_configure(config):
    # the simulator runs the uint64 hash of the dropout masks as NumPy scalars
    config.addinivalue_line("filterwarnings", "ignore:overflow encountered:RuntimeWarning")


@pytest.fixture(autouse=True, scope="module")
def small_blocks():
    """Tiles of 4 and blocks of 8 threads, so small shapes span several
    blocks and partial tiles; in the simulator, a short GIL switch interval
    (its threads poll each other)."""
    saved = cuda_kernels.TILE, cuda_kernels.THREADS, sys.getswitchinterval()
    cuda_kernels.TILE, cuda_kernels.THREADS = 4, 8
    if SIMULATED:
        sys.setswitchinterval(5e-4)
    yield
    cuda_kernels.TILE, cuda_kernels.THREADS = saved[:2]
    sys.setswitchinterval(saved[2])


@pytest.fixture
def shipped_blocks(monkeypatch):
    """For one test, the sizes numbann ships (tiles of 16, blocks of 128
    threads) instead of small_blocks'; they come back after the test."""
    monkeypatch.setattr(cuda_kernels, "TILE", SHIPPED[0])
    monkeypatch.setattr(cuda_kernels, "THREADS", SHIPPED[1])


@pytest.fixture
def gpu():
    """Skip where numba can run no CUDA kernel (no GPU and no simulator)."""
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA GPU; NUMBA_ENABLE_CUDASIM=1 runs these tests in numba's simulator")
