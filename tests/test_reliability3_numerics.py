"""Issue 20 (reliability round 3), the metrics' numerics: every metric's float32 result against its float64 one
(benchmarks/bench_alignment_precision.py does the same at N = 65536), RBF CKA at any bandwidth, and worlds.min_shift
at any magnitude; type hints of alignment's public functions."""
import inspect
import math
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

import alignment as al
import worlds

F64 = torch.float64


def features(seed, n, d, offset=4.0):
    """Two N x D float32 inputs sharing a latent, plus a large common offset (the same numbers for both dtypes)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 16, generator=gen)
    a = z @ torch.randn(16, d, generator=gen) / 4 + torch.randn(n, d, generator=gen) + offset
    b = z @ torch.randn(16, d, generator=gen) / 4 + torch.randn(n, d, generator=gen) + offset
    return a, b


@pytest.fixture(scope="module")
def big():
    return features(0, 2048, 256)


@pytest.mark.parametrize("name", al.METRICS)
def test_float32_agrees_with_float64(big, name):
    # Frobenius norms summed in float32 put procrustes 4.5e-6 off here (2e-3 at N = 65536); RBF CKA at a bandwidth
    # of 300 median distances was 1.5e-4 off (exp(-x) rounded to 1 - x)
    A, B = big if name not in ("rbf_cka", "rsa") else (big[0][:512], big[1][:512])  # these two form N x N
    kw = al.metric_kwargs(name, sigma=300.0)
    assert al.measure(name, A, B, **kw) == pytest.approx(al.measure(name, A, B, dtype=F64, **kw), abs=2e-6)


@pytest.mark.parametrize("sigma", [300.0, 3e3, 1e5, 1e8, 1e300])
def test_rbf_cka_at_a_large_bandwidth_is_linear_cka(sigma):
    # exp(-x) = 1 - x + ...: as sigma grows the centred kernel tends to the centred linear one (up to a factor), so
    # RBF CKA tends to linear CKA. exp itself rounded to 1 - x left rounding (0.53 for 0.77 at 3e3, then a
    # ZeroDivisionError; float64 was off at 1e8)
    A, B = features(1, 300, 24)
    want = al.cka(A, B, dtype=F64)
    assert al.rbf_cka(A, B, sigma=sigma, dtype=F64) == pytest.approx(want, abs=1e-7 + 0.1 / sigma / sigma)
    assert al.rbf_cka(A, B, sigma=sigma) == pytest.approx(want, abs=1e-6 + 0.1 / sigma / sigma)


@pytest.mark.parametrize("sigma", [1e-300, 1e-30, 1e-3])
def test_rbf_cka_at_a_small_bandwidth_is_one(sigma):
    # both kernels tend to the identity (distinct samples): CKA 1, where 0.5 / sigma^2 overflowed to a
    # ZeroDivisionError at 1e-300
    A, B = features(2, 50, 8)
    assert al.rbf_cka(A, B, sigma=sigma) == 1.0 and al.rbf_cka(A, B, sigma=sigma, dtype=F64) == 1.0


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


def test_every_public_function_of_alignment_is_annotated():
    funcs = [getattr(al, n) for n in al.__all__ if inspect.isfunction(getattr(al, n))]
    assert len(funcs) >= 20  # metrics, measure(_kernels), sweeps, nulls, resampling, metric_kwargs
    for f in funcs:
        hints = typing.get_type_hints(f)  # every annotation resolves
        missing = [p for p in inspect.signature(f).parameters if p not in hints]
        assert not missing and "return" in hints, (f.__name__, missing)
    assert (Path(al.__file__).parent / "py.typed").is_file()
