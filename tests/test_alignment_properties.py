"""Property tests (hypothesis): symmetry, ranges, invariances, layerwise max = max of single-pair calls.

Features are Gaussian draws from a hypothesis-chosen seed and shape (continuous, so no exact ties unless a test
builds them); invariances are checked in float64.
"""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import alignment as al

F64 = torch.float64
KNN = ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "jaccard_knn")


@st.composite
def pairs(draw, min_n=8, max_n=40):
    """(A, B, k): N x D_a and N x D_b float64 features with some shared structure, 1 <= k <= N-1."""
    seed = draw(st.integers(0, 2 ** 31 - 1))
    n = draw(st.integers(min_n, max_n))
    da, db = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    rs = np.random.RandomState(seed)
    A, B = rs.randn(n, da), rs.randn(n, db)
    m = min(da, db)
    B[:, :m] += draw(st.sampled_from([0.0, 0.5, 2.0])) * A[:, :m]
    k = draw(st.integers(1, min(n - 1, 12)))
    return A, B, k


def kw_for(name, k, A, B):
    if name in KNN or name == "cknna":
        return {"k": max(k, 2) if name == "cknna" else k}
    if name == "svcca":
        return {"cca_dim": min(A.shape[1], B.shape[1], 3)}
    return {}


def orthogonal(rs, d):
    q, r = np.linalg.qr(rs.randn(d, d))
    return q * np.sign(np.diag(r))


@given(pairs(), st.sampled_from(["mutual_knn", "lcs_knn", "edit_distance_knn", "cka", "unbiased_cka", "svcca"]))
def test_symmetric_metrics_are_symmetric(p, name):
    A, B, k = p
    kw = kw_for(name, k, A, B)
    assert al.measure(name, A, B, dtype=F64, **kw) == pytest.approx(al.measure(name, B, A, dtype=F64, **kw),
                                                                      abs=1e-12)


@given(pairs())
def test_ranges(p):
    A, B, k = p
    n = A.shape[0]
    for name in KNN:
        v = al.measure(name, A, B, k=k)
        assert 0.0 <= v <= 1.0, name
    # mutual k-NN is a count of shared neighbours over N k
    assert al.mutual_knn(A, B, k=k) * n * k == pytest.approx(round(al.mutual_knn(A, B, k=k) * n * k), abs=1e-9)
    assert 0.0 <= al.cka(A, B, dtype=F64) <= 1.0 + 1e-12
    assert -1.0 - 1e-12 <= al.unbiased_cka(A, B, dtype=F64) <= 1.0 + 1e-12
    assert 0.0 <= al.svcca(A, B, cca_dim=min(A.shape[1], B.shape[1], 3), dtype=F64) <= 1.0


@given(pairs(), st.integers(0, 2 ** 31 - 1), st.floats(0.01, 100.0))
def test_cka_invariant_to_orthogonal_maps_isotropic_scaling_and_centring(p, seed, c):
    A, B, _ = p
    rs = np.random.RandomState(seed)
    A2 = c * A @ orthogonal(rs, A.shape[1]) + rs.randn(1, A.shape[1]) * 10  # rotate, scale, shift every sample
    for unbiased in (False, True):
        assert al.cka(A2, B, unbiased=unbiased, dtype=F64) == pytest.approx(
            al.cka(A, B, unbiased=unbiased, dtype=F64), abs=1e-9)


@given(pairs(), st.integers(0, 2 ** 31 - 1))
def test_knn_metrics_invariant_to_orthogonal_maps_and_positive_sample_scaling(p, seed):
    A, B, k = p
    rs = np.random.RandomState(seed)
    A2 = rs.uniform(0.1, 10.0, size=(A.shape[0], 1)) * A @ orthogonal(rs, A.shape[1])
    for name in KNN:
        assert al.measure(name, A2, B, k=k, dtype=F64) == al.measure(name, A, B, k=k, dtype=F64), name


@given(pairs(min_n=14), st.integers(0, 2 ** 31 - 1))
def test_svcca_full_width_invariant_to_invertible_maps(p, seed):
    A, B, _ = p
    if A.shape[1] > B.shape[1]:
        A, B = B, A  # map the narrower side, whose full width is cca_dim
    rs = np.random.RandomState(seed)
    d = A.shape[1]
    M = rs.randn(d, d) + 3 * np.eye(d)  # well-conditioned, almost surely invertible
    assert al.svcca(A @ M, B, cca_dim=d, dtype=F64) == pytest.approx(al.svcca(A, B, cca_dim=d, dtype=F64), abs=1e-9)


@given(pairs(min_n=5, max_n=30))
def test_cknna_with_k_equal_n_minus_1_is_unbiased_cka(p):
    A, B, _ = p
    n = A.shape[0]
    assert al.cknna(A, B, k=n - 1, dtype=F64) == pytest.approx(al.unbiased_cka(A, B, dtype=F64), abs=1e-9)


@given(pairs(min_n=10), st.sampled_from(al.KERNEL_METRICS))
def test_kernel_level_equals_feature_level(p, name):
    A, B, k = p
    At, Bt = torch.tensor(A), torch.tensor(B)
    if name in KNN:
        K, L = [torch.nn.functional.normalize(X, dim=1) @ torch.nn.functional.normalize(X, dim=1).T
                for X in (At, Bt)]
    else:
        K, L = At @ At.T, Bt @ Bt.T
    kw = kw_for(name, k, A, B)
    assert al.measure_kernels(name, K, L, dtype=F64, **kw) == pytest.approx(
        al.measure(name, At, Bt, dtype=F64, **kw), abs=1e-9)


@given(st.integers(0, 2 ** 31 - 1), st.integers(1, 3), st.integers(1, 3), st.sampled_from(al.METRICS))
def test_layerwise_max_equals_max_of_single_pair_calls(seed, la, lb, name):
    rs = np.random.RandomState(seed)
    n = 24
    z = rs.randn(n, 4)
    fa = [np.hstack([z * rs.rand(), rs.randn(n, 3 + i)]) for i in range(la)]
    fb = [np.hstack([z * rs.rand(), rs.randn(n, 5 - i)]) for i in range(lb)]
    kw = {"k": 5} if (name in KNN or name == "cknna") else ({"cca_dim": 4} if name == "svcca" else {})
    res = al.layerwise(fa, fb, name, **kw)
    # k-NN ranks by cosine, so feeding the clamped (not normalised) layers reproduces the sweep bit for bit
    prep = (lambda X: al.prepare(X, normalize=False)) if name in KNN else al.prepare
    single = np.array([[al.measure(name, prep(a), prep(b), **kw) for b in fb] for a in fa])
    np.testing.assert_allclose(res.scores, single, rtol=0, atol=1e-12)
    assert res.best_score == single.max()
    assert single[res.best_layers] == single.max()
