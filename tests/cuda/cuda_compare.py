"""Comparing CUDA results with the CPU kernels': float64 to 1e-10, float32 to 1e-5."""
import numpy as np

RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}


def assert_close(got, want, dtype, name=""):
    """|got - want| <= rtol |want| + rtol max|want| (the second term for entries near 0)."""
    got = got.copy_to_host() if hasattr(got, "copy_to_host") else np.asarray(got)
    want = np.asarray(want)
    rtol = RTOL[np.dtype(dtype)]
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * (scale or 1.0), err_msg=name)
