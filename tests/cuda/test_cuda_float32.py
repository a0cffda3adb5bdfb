"""float32 kernels compute in float32: numba types a Python float literal as
float64, so a careless ``x * 0.5`` in a float32 kernel is float64 arithmetic,
up to 64x slower on a GPU. float64_ptx.py compiles every kernel for float32
(no simulator) and counts the float64 instructions in its PTX; run with -s
for the counts. Dropout masks come from integers (``cuda.dropout_args``)."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numbann.kernels import cpu
from numbann.kernels import cuda as ck

SCRIPT = Path(__file__).with_name("float64_ptx.py")
REPO = SCRIPT.parents[2]

# The float64 a float32 kernel keeps on purpose, as the CPU computes it: the
# most float64 instructions allowed (numba 0.68, compute capability 9.0), and why.
FLOAT64_KEPT = {
    "loss_head": (36, ("J, the float64 number logged, as cpu.loss_rows: its terms "
                       "(float64 where the CPU's promote, e.g. the shared bce_value) and "
                       "their float64 sum; delta is float32")),
    "checked_update": (2, "the finite check of J, which is float64"),
    "forward_channels": (171, ("BatchNorm as norm.py, in float64: with N = 2 values per "
                               "channel the input gradient cancels to rounding, which "
                               "float32 would round otherwise than the CPU")),
    "backward_channels": (156, "BatchNorm as norm.py, in float64 (see forward_channels)"),
    "layernorm_rows": (33, ("each row's mean and variance summed in float64, as norm.py; "
                            "xhat and z are float32")),
    "layernorm_input_delta": (71, ("input_delta in float64, as norm.py: its bracket "
                                   "n dxhat - sum dxhat - xhat sum dxhat xhat cancels")),
}


@pytest.fixture(scope="module")
def float64_counts():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, cwd=SCRIPT.parent,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode == 77:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_float32_kernels_do_no_float64_arithmetic(float64_counts):
    excess = {}
    for kernel, ops in float64_counts.items():
        total = sum(ops.values())
        allowed = FLOAT64_KEPT.get(kernel, (0, ""))[0]
        print(f"{kernel}: {total} float64 instructions (allowed {allowed}) {ops}")
        if total > allowed:
            excess[kernel] = ops
    assert not excess, f"float64 arithmetic in float32 kernels: {excess}"
    assert set(FLOAT64_KEPT) <= set(float64_counts), "an exception for a kernel that is gone"


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.5, 0.6, 0.9, 1 - 2 ** -40, 1.0])
def test_dropout_limit_is_the_cpus_comparison(keep):
    """u = h / 2^53 < keep exactly when h < the limit, for the 53-bit h around keep 2^53."""
    seed = 12345
    _, (got_seed, limit) = ck.dropout_args(np.zeros(1, np.float32), keep, seed)
    assert got_seed == seed
    middle = math.floor(keep * ck.DROPOUT_STEPS)
    for h in range(max(middle - 3, 0), min(middle + 4, ck.DROPOUT_STEPS)):
        assert (h < int(limit)) == (h * (1.0 / 9007199254740992.0) < keep), h
    index = np.arange(2000)
    cpu_kept = np.array([cpu.dropout_uniform(np.uint64(seed), i) < keep for i in index])
    hashes = [cpu.mix64(np.uint64(seed) ^ cpu.mix64(np.uint64(i) + np.uint64(0x9E3779B97F4A7C15)))
              for i in index]
    np.testing.assert_array_equal([(h >> np.uint64(11)) < limit for h in hashes], cpu_kept)


def test_a_keep_below_1_stays_below_1_in_float32():
    keep, _ = ck.dropout_args(np.zeros(1, np.float32), 1 - 1e-9, 0)
    assert keep.dtype == np.float32 and keep < 1
    keep, _ = ck.dropout_args(np.zeros(1, np.float64), 0.9, 0)
    assert keep.dtype == np.float64 and keep == 0.9
