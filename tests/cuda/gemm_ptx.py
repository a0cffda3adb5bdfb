"""Compile cuda_gemm's kernels (both tilings; float32, or the dtypes named on
the command line) to PTX for a Hopper GPU (compute capability 9.0) and print
as JSON, for each, its instruction counts (FMAs, shared loads, local loads
and stores) over the whole kernel and over its k loop: of the innermost
loops holding FMAs, the one reading shared memory most (the epilogue's loop
has FMAs too, in tanh and exp, and one shared load).

Run without the simulator (NUMBA_ENABLE_CUDASIM=0), as compile_kernels.py;
needs libNVVM, not a GPU. Exit status 77: libNVVM is missing. Registers per
thread come from ptxas where it is installed (None otherwise).
"""
import json
import re
import shutil
import subprocess
import sys
import tempfile

from compile_kernels import TARGET  # on import: exit 77 without libNVVM, no GPU needed
from numba import cuda
from numba import types as nt

from numbann.kernels import cuda_gemm

FMA = re.compile(r"^\s*(@%p\d+\s+)?fma\.rn\.f(32|64)\b")
LOAD_SHARED = re.compile(r"^\s*(@%p\d+\s+)?ld\.shared\b")  # a vector load counts once
LOCAL = re.compile(r"^\s*(@%p\d+\s+)?(ld|st)\.local\b")
LABEL = re.compile(r"^(\$L__\w+):")
BRANCH = re.compile(r"\bbra(\.uni)?\s+(\$L__\w+);")


def counts(lines):
    """FMAs, shared loads and local loads and stores among PTX lines."""
    return {"fma": sum(bool(FMA.match(s)) for s in lines),
            "ld_shared": sum(bool(LOAD_SHARED.match(s)) for s in lines),
            "local": sum(bool(LOCAL.match(s)) for s in lines)}


def k_loop(lines):
    """The lines of the k loop: of the loops (a label and a later branch back
    to it) holding FMAs and no smaller such loop, the one with the most shared loads."""
    labels = {}
    loops = []
    for n, line in enumerate(lines):
        label = LABEL.match(line)
        if label:
            labels[label.group(1)] = n
        branch = BRANCH.search(line)
        if branch and branch.group(2) in labels:
            loops.append((labels[branch.group(2)], n))
    multiplying = [(a, b) for a, b in loops if counts(lines[a:b + 1])["fma"]]
    inner = [lines[a:b + 1] for a, b in multiplying
             if not any(a <= c and d <= b and (c, d) != (a, b) for c, d in multiplying)]
    return max(inner, key=lambda loop: counts(loop)["ld_shared"], default=[])


def registers(ptx):
    """Registers per thread by ptxas -v, or None without ptxas."""
    if not shutil.which("ptxas"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as source:
        source.write(ptx)
        source.flush()
        done = subprocess.run(["ptxas", f"-arch=sm_{TARGET[0]}{TARGET[1]}", "-v", source.name,
                               "-o", "/dev/null"], capture_output=True, text=True, check=False)
    used = re.search(r"Used (\d+) registers", done.stdout + done.stderr)
    return int(used.group(1)) if used else None


def signatures(dtype):
    """Argument types of (dense_forward, backward_layer)."""
    A, i64, mask = nt.Array(dtype, 1, "C"), nt.int64, nt.UniTuple(nt.uint64, 2)
    return [(A, i64, i64, A, i64, i64, A, i64, i64, i64, i64, i64, dtype, dtype, mask),
            (A, A, i64, i64, A, i64, A, i64, i64, i64, i64, dtype, dtype, dtype, nt.boolean, A,
             i64, i64, i64, i64, A, i64, dtype, dtype, mask)]


def report(which, tiling, dtype):
    """Counts and registers of kernel ``which`` (0, 1) of gemm_kernels."""
    kernel = cuda_gemm.gemm_kernels(tiling, dtype.name)[which]
    ptx = cuda.compile_ptx(kernel.py_func, nt.void(*signatures(dtype)[which]), cc=TARGET)[0]
    lines = ptx.splitlines()
    return {"kernel": kernel.py_func.__name__, "tiling": tiling._asdict(), "dtype": dtype.name,
            "counts": counts(lines), "k_loop": counts(k_loop(lines)), "registers": registers(ptx)}


if __name__ == "__main__":
    dtypes = [getattr(nt, name) for name in sys.argv[1:]] or [nt.float32]
    print(json.dumps([report(which, tiling, dtype) for dtype in dtypes  # dense_forward first
                      for tiling in (cuda_gemm.MAIN, cuda_gemm.THIN) for which in range(2)]))
