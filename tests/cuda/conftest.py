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
from numbann.kernels import cuda_gemm  # noqa: E402
from numbann.kernels.cuda_gemm import Tiling  # noqa: E402

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


# the register-tiled products at small sizes: 16 threads a block each (a power
# of two, for the block sums), 8 x 8 tiles of 2 x 2 outputs a thread, and a
# split-K tiling of 4 slices; products with a side below 6 take the latter
SMALL_GEMM = (Tiling(8, 8, 4, 2, 2, 1), Tiling(4, 4, 2, 2, 2, 4), 6)
SHIPPED_GEMM = cuda_gemm.MAIN, cuda_gemm.THIN, cuda_gemm.THIN_BELOW


def set_gemm(main, thin, thin_below):
    cuda_gemm.MAIN, cuda_gemm.THIN, cuda_gemm.THIN_BELOW = main, thin, thin_below


@pytest.fixture(autouse=True, scope="module")
def small_blocks():
    """Tiles of 4, blocks of 8 threads and the small product tilings, so
    small shapes span several blocks and partial tiles; in the simulator, a
    short GIL switch interval (its threads poll each other)."""
    saved = cuda_kernels.TILE, cuda_kernels.THREADS, sys.getswitchinterval()
    cuda_kernels.TILE, cuda_kernels.THREADS = 4, 8
    set_gemm(*SMALL_GEMM)
    if SIMULATED:
        sys.setswitchinterval(5e-4)
    yield
    cuda_kernels.TILE, cuda_kernels.THREADS = saved[:2]
    set_gemm(*SHIPPED_GEMM)
    sys.setswitchinterval(saved[2])


@pytest.fixture
def shipped_blocks(monkeypatch):
    """For one test, the sizes numbann ships (tiles of 16, blocks of 128
    threads, the product tilings) instead of small_blocks'; they come back
    after the test."""
    monkeypatch.setattr(cuda_kernels, "TILE", SHIPPED[0])
    monkeypatch.setattr(cuda_kernels, "THREADS", SHIPPED[1])
    for name, value in zip(("MAIN", "THIN", "THIN_BELOW"), SHIPPED_GEMM):
        monkeypatch.setattr(cuda_gemm, name, value)


@pytest.fixture
def gpu():
    """Skip where numba can run no CUDA kernel (no GPU and no simulator)."""
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA GPU; NUMBA_ENABLE_CUDASIM=1 runs these tests in numba's simulator")
