"""The register-tiled products as a GPU runs them, compiled to PTX by
gemm_ptx.py in a process without the simulator: every float32 kernel of
cuda_gemm compiles and keeps its k loop in registers (no local memory), and
dense_forward at the shipped tiling does at least 4 FMAs per shared-memory
load in its k loop. Run with -s for the counts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from numbann.kernels import cuda_gemm

SHIPPED_MAIN = cuda_gemm.MAIN  # read on import, before the fixtures shrink it
SCRIPT = Path(__file__).with_name("gemm_ptx.py")
REPO = SCRIPT.parents[2]


@pytest.fixture(scope="module")
def reports():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode == 77:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def ratio(counts):
    return counts["fma"] / max(counts["ld_shared"], 1)


def test_k_loop_does_4_fmas_per_shared_load_in_registers(reports):
    for report in reports:
        loop, kernel = report["k_loop"], report["counts"]
        print(f"{report['kernel']} {report['dtype']} {tuple(report['tiling'].values())}:"
              f" FMA / shared load {ratio(loop):.2f} in the k loop {loop},"
              f" {ratio(kernel):.2f} over the kernel {kernel}; {report['registers']} registers")
        assert loop["local"] == 0, report  # every kernel's accumulators in registers
    forward = reports[0]
    assert (forward["kernel"], forward["dtype"]) == ("dense_forward", "float32")
    assert forward["tiling"] == SHIPPED_MAIN._asdict()
    assert forward["k_loop"]["fma"] >= 16, forward  # the loop found: one k step or more
    assert ratio(forward["k_loop"]) >= 4, forward
