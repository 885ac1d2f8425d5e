"""Issue 20 (reliability round 3), the metrics' numerics: every metric's float32 result against its float64 one
(benchmarks/bench_alignment_precision.py does the same at N = 65536), RBF CKA at any bandwidth, and worlds.min_shift
at any magnitude."""
import math

import numpy as np
import pytest

import worlds


def psd_able():
    rs = np.random.default_rng(0)
    X = rs.normal(size=(6, 3))
    return X @ X.T - 0.3  # PSD plus a constant: min_shift 0.3


@pytest.mark.parametrize("scale", [1e300, 1e-300, 2.0 ** -1000, 2.0 ** 1000, 1e307])
def test_min_shift_is_scale_equivariant(scale):
    K = psd_able()
    want = worlds.min_shift(K)
    assert want == pytest.approx(0.3, abs=1e-12)
    got = worlds.min_shift(K * scale)
    assert math.isfinite(got) and got == pytest.approx(want * scale, rel=1e-12)
    if math.frexp(scale)[0] == 0.5:  # a power of two: the same numbers, exactly
        assert got == want * scale
    L = K.copy()
    L[0, 0] -= 5  # M not PSD: no shift works, at any scale
    assert worlds.min_shift(L * scale) == math.inf and worlds.min_shift(L) == math.inf
