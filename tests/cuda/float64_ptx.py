"""Count the float64 instructions in each kernel's float32 PTX.

Run without the simulator (as compile_kernels.py, whose kernel list it
reads). Prints one JSON object: kernel name -> {opcode: count}, counting the
arithmetic, comparisons and conversions done in float64 (add, sub, mul, fma,
div, rcp, sqrt, setp, min, max, neg, abs, ... on .f64, and every cvt to or
from .f64). Exit status 77: libNVVM is missing.
"""
import json
import re
from collections import Counter

from compile_kernels import TARGET, signatures
from numba import cuda
from numba import types as nt

ARITHMETIC = r"(?:add|sub|mul|fma|div|rcp|rsqrt|sqrt|setp|min|max|neg|abs|testp|copysign)"
FLOAT64_OP = re.compile(rf"^\s*(?:@!?%p\d+\s+)?({ARITHMETIC}(?:\.\w+)*\.f64|cvt(?:\.\w+)*)\b",
                        re.MULTILINE)


def float64_ops(ptx):
    """{opcode: count} of the float64 instructions in a PTX text."""
    ops = Counter(m.group(1) for m in FLOAT64_OP.finditer(ptx))
    return {op: n for op, n in sorted(ops.items()) if ".f64" in op}


def main():
    counts = {}
    for kernel, args in signatures(nt.float32).items():
        ptx, _ = cuda.compile_ptx(kernel.py_func, nt.void(*args), cc=TARGET)
        counts[kernel.py_func.__name__] = float64_ops(ptx)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
