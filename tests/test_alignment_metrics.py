"""alignment metrics against reference values and plain per-sample reference implementations."""
import numpy as np
import pytest
import torch

import alignment as al
from alignment import _knn

F64 = torch.float64


# ---- plain reference implementations (per sample, Python loops) ----

def ref_knn(S, k):
    """Row i: the k columns j != i with the largest S[i, j], ties to the lower index."""
    n = len(S)
    return [sorted((j for j in range(n) if j != i), key=lambda j: (-S[i][j], j))[:k] for i in range(n)]


def ref_cosine(X):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    return Xn @ Xn.T


def ref_mutual(na, nb):
    k = len(na[0])
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(na, nb)]))


def ref_cycle(na, nb):
    return float(np.mean([any(i in na[j] for j in nb[i]) for i in range(len(na))]))


def ref_lcs(x, y):
    dp = [[0] * (len(y) + 1) for _ in range(len(x) + 1)]
    for i in range(1, len(x) + 1):
        for j in range(1, len(y) + 1):
            dp[i][j] = dp[i - 1][j - 1] + 1 if x[i - 1] == y[j - 1] else max(dp[i - 1][j], dp[i][j - 1])
    return dp[-1][-1]


def ref_lev(x, y):
    dp = [[i + j if i * j == 0 else 0 for j in range(len(y) + 1)] for i in range(len(x) + 1)]
    for i in range(1, len(x) + 1):
        for j in range(1, len(y) + 1):
            dp[i][j] = min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (x[i - 1] != y[j - 1]))
    return dp[-1][-1]


def ref_hsic_b(K, L):
    n = len(K)
    H = np.eye(n) - 1.0 / n
    return np.trace(K @ H @ L @ H)


def ref_hsic_u(K, L):
    m = len(K)
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    return (np.trace(K @ L) + K.sum() * L.sum() / ((m - 1) * (m - 2)) - 2 * (K @ L).sum() / (m - 2)) / (m * (m - 3))


def ref_cknna(A, B, k):
    """Paper App. A, dense: masks from the row-wise top-k of the linear kernels, unbiased HSIC of masked kernels."""
    def mask(K):
        M = np.zeros_like(K)
        for i, row in enumerate(ref_knn(K, k)):
            M[i, row] = 1
        return M
    K, L = A @ A.T, B @ B.T
    Mk, Ml = mask(K), mask(L)
    M = Mk * Ml
    return ref_hsic_u(M * K, M * L) / np.sqrt(ref_hsic_u(Mk * K, Mk * K) * ref_hsic_u(Ml * L, Ml * L))


def ref_svcca(A, B, c):
    """Canonical correlations by whitening the projections onto the top-c principal directions."""
    def proj(X):
        Z = (X - X.mean(0)) / X.std(0)
        U, s, _ = np.linalg.svd(Z, full_matrices=False)
        return U[:, :c] * s[:c]
    Pa, Pb = proj(A), proj(B)

    def inv_sqrt(C):
        w, V = np.linalg.eigh(C)
        return V @ np.diag(w ** -0.5) @ V.T
    M = inv_sqrt(Pa.T @ Pa) @ Pa.T @ Pb @ inv_sqrt(Pb.T @ Pb)
    return float(np.linalg.svd(M, compute_uv=False).mean())


def gauss(seed, n, *ds):
    rs = np.random.RandomState(seed)
    return [rs.randn(n, d) for d in ds]


# ---- reference values ----

def test_kornblith_reference_values():
    rs = np.random.RandomState(1337)
    X = rs.randn(100, 10)
    Y = rs.randn(100, 10) + X
    assert al.cka(X, Y) == pytest.approx(0.55761, abs=5e-6)
    assert al.cka(X, Y, unbiased=True) == pytest.approx(0.51346, abs=5e-6)
    assert al.unbiased_cka(X, Y, dtype=F64) == pytest.approx(0.5134564895, abs=1e-9)
    assert al.cka(X, Y, dtype=F64) == pytest.approx(0.5576132566, abs=1e-9)


def test_cka_matches_dense_reference_formulas():
    A, B = gauss(3, 30, 7, 4)
    K, L = A @ A.T, B @ B.T
    want_b = ref_hsic_b(K, L) / np.sqrt(ref_hsic_b(K, K) * ref_hsic_b(L, L))
    want_u = ref_hsic_u(K, L) / np.sqrt(ref_hsic_u(K, K) * ref_hsic_u(L, L))
    assert al.cka(A, B, dtype=F64) == pytest.approx(want_b, abs=1e-12)
    assert al.unbiased_cka(A, B, dtype=F64) == pytest.approx(want_u, abs=1e-12)
    assert al.measure_kernels("cka", K, L, dtype=F64) == pytest.approx(want_b, abs=1e-12)
    assert al.measure_kernels("unbiased_cka", K, L, dtype=F64) == pytest.approx(want_u, abs=1e-12)


@pytest.mark.parametrize("n,k", [(12, 11), (40, 39), (97, 96)])
def test_cknna_full_k_equals_unbiased_cka(n, k):
    A, B = gauss(n, n, 5, 9)
    assert al.cknna(A, B, k=k, dtype=F64) == pytest.approx(al.unbiased_cka(A, B, dtype=F64), abs=1e-10)


@pytest.mark.parametrize("seed,n,k", [(0, 20, 1), (1, 25, 3), (2, 40, 10), (3, 33, 20)])
def test_cknna_matches_dense_reference(seed, n, k):
    A, B = gauss(seed, n, 6, 4)
    B[:, :2] += A[:, :2]  # some shared structure so the masks overlap
    assert al.cknna(A, B, k=k, dtype=F64) == pytest.approx(ref_cknna(A, B, k), abs=1e-10)


def test_cknna_is_not_symmetric_but_close():
    A, B = gauss(1337, 100, 10, 10)
    B += A
    ab, ba = al.cknna(A, B, dtype=F64), al.cknna(B, A, dtype=F64)
    assert ab == pytest.approx(ref_cknna(A, B, 10), abs=1e-10)
    assert ba == pytest.approx(ref_cknna(B, A, 10), abs=1e-10)
    assert ab != pytest.approx(ba, abs=1e-6)  # 1^T P Q 1 != 1^T Q P 1 for row-wise masks


@pytest.mark.parametrize("seed,n,c", [(0, 50, 3), (1, 80, 10), (2, 30, 6)])
def test_svcca_matches_whitened_cca(seed, n, c):
    A, B = gauss(seed, n, 12, 10)
    B[:, :4] += A[:, :4]
    assert al.svcca(A, B, cca_dim=c, dtype=F64) == pytest.approx(ref_svcca(A, B, c), abs=1e-9)


def test_mutual_knn_of_independent_gaussians_is_near_chance():
    A, B = gauss(7, 1024, 64, 48)
    chance = 10 / 1023
    # per-row overlap has variance ~ chance / k, so the mean over 1024 rows has sd ~ 0.001
    assert abs(al.mutual_knn(A, B, k=10) - chance) < 0.003
    assert al.mutual_knn(A, B, k=10) * 1024 * 10 == int(round(al.mutual_knn(A, B, k=10) * 10240))


@pytest.mark.parametrize("name", [m for m in al.METRICS if m != "cycle_knn"])
def test_identical_inputs_score_one(name):
    (A,) = gauss(11, 60, 12)
    assert al.measure(name, A, A.copy()) == pytest.approx(1.0, abs=1e-6)


def test_cycle_knn_of_identical_inputs_is_the_reciprocal_neighbour_fraction():
    # a tight cluster plus one far point whose neighbours all prefer each other: cycle < 1 = mutual
    rs = np.random.RandomState(0)
    A = np.vstack([rs.randn(10, 2) * 0.1 + [5, 0], [[0, 1.0]]])
    nn = ref_knn(ref_cosine(A), 2)
    want = ref_cycle(nn, nn)
    assert want < 1
    assert al.cycle_knn(A, A, k=2, dtype=F64) == pytest.approx(want, abs=1e-15)
    assert al.mutual_knn(A, A, k=2) == 1.0


# ---- vectorised k-NN against per-sample references ----

@pytest.mark.parametrize("seed,n,k", [(0, 15, 1), (1, 30, 5), (2, 47, 12), (3, 20, 19)])
def test_knn_metrics_match_per_sample_references(seed, n, k):
    A, B = gauss(seed, n, 5, 3)
    B[:, :2] += 0.5 * A[:, :2]
    na, nb = ref_knn(ref_cosine(A), k), ref_knn(ref_cosine(B), k)
    assert al.mutual_knn(A, B, k=k, dtype=F64) == pytest.approx(ref_mutual(na, nb), abs=1e-12)
    assert al.cycle_knn(A, B, k=k, dtype=F64) == pytest.approx(ref_cycle(na, nb), abs=1e-12)
    lcs = np.mean([ref_lcs(a, b) for a, b in zip(na, nb)]) / k
    lev = 1 - np.mean([ref_lev(a, b) for a, b in zip(na, nb)]) / k
    assert al.lcs_knn(A, B, k=k, dtype=F64) == pytest.approx(lcs, abs=1e-12)
    assert al.edit_distance_knn(A, B, k=k, dtype=F64) == pytest.approx(lev, abs=1e-12)


@pytest.mark.parametrize("seed,n,k", [(0, 12, 3), (1, 25, 6), (2, 9, 8), (3, 40, 7)])
def test_tied_similarities_rank_lower_index_first(seed, n, k):
    rs = np.random.RandomState(seed)
    S = rs.randint(0, 3, size=(n, n)).astype(float)  # heavy ties, not symmetric
    S[rs.rand(n, n) < 0.2] = -np.inf  # e.g. K_PMI where P_coor = 0
    got = _knn.knn_from_similarity(torch.tensor(S), k)
    assert got.idx.tolist() == ref_knn(S, k)
    assert got.sidx.tolist() == [sorted(r) for r in ref_knn(S, k)]
    T = rs.randint(0, 2, size=(n, n)).astype(float)
    ns, nt = ref_knn(S, k), ref_knn(T, k)
    assert al.measure_kernels("lcs_knn", S, T, k=k) == pytest.approx(
        np.mean([ref_lcs(a, b) for a, b in zip(ns, nt)]) / k, abs=1e-12)
    assert al.measure_kernels("edit_distance_knn", S, T, k=k) == pytest.approx(
        1 - np.mean([ref_lev(a, b) for a, b in zip(ns, nt)]) / k, abs=1e-12)
    assert al.measure_kernels("cycle_knn", S, T, k=k) == pytest.approx(ref_cycle(ns, nt), abs=1e-12)


def test_tied_features_rank_lower_index_first():
    # duplicate rows tie exactly in cosine similarity
    rs = np.random.RandomState(5)
    base = rs.randn(6, 4)
    A = base[[0, 1, 2, 1, 3, 1, 4, 2, 5, 1]]
    got = _knn.knn_from_features(torch.tensor(A), 4)
    assert got.idx.tolist() == ref_knn(ref_cosine(A), 4)


def test_knn_row_blocks_match_one_block(monkeypatch):
    A, B = gauss(4, 50, 6, 6)
    whole = [al.measure(m, A, B, k=7) for m in ("mutual_knn", "lcs_knn", "cknna")]
    monkeypatch.setattr(_knn, "BLOCK", 50 * 7)  # 7 rows per block, last block partial
    blocked = [al.measure(m, A, B, k=7) for m in ("mutual_knn", "lcs_knn", "cknna")]
    assert blocked[:2] == whole[:2]
    assert blocked[2] == pytest.approx(whole[2], abs=1e-7)  # blocked matmul rounds differently


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_lcs_and_levenshtein_on_random_lists(seed):
    rs = np.random.RandomState(seed)
    x = rs.randint(0, 6, size=(200, 7))  # repeats allowed: the DP must not rely on distinct entries
    y = rs.randint(0, 6, size=(200, 7))
    assert _knn.lcs_length(torch.tensor(x), torch.tensor(y)).tolist() == [ref_lcs(a, b) for a, b in zip(x, y)]
    assert _knn.edit_distance(torch.tensor(x), torch.tensor(y)).tolist() == [ref_lev(a, b) for a, b in zip(x, y)]


# ---- two computations of one number ----

@pytest.mark.parametrize("name", al.KERNEL_METRICS)
def test_kernel_level_equals_feature_level(name):
    A, B = gauss(21, 45, 6, 8)
    B[:, :3] += A[:, :3]
    At, Bt = torch.tensor(A), torch.tensor(B)
    if name.endswith("_knn"):
        K, L = [torch.nn.functional.normalize(X, dim=1) @ torch.nn.functional.normalize(X, dim=1).T
                for X in (At, Bt)]
    else:
        K, L = At @ At.T, Bt @ Bt.T
    kw = {"k": 6} if "k" in al.PARAMS[name] else {}
    assert al.measure_kernels(name, K, L, dtype=F64, **kw) == pytest.approx(
        al.measure(name, At, Bt, dtype=F64, **kw), abs=1e-10)


@pytest.mark.parametrize("name", al.METRICS)
def test_float32_agrees_with_float64(name):
    A, B = gauss(8, 64, 10, 12)
    B[:, :5] += A[:, :5]
    lo, hi = al.measure(name, A, B), al.measure(name, A, B, dtype="float64")
    assert lo == pytest.approx(hi, abs=2e-5)


def test_numpy_and_torch_inputs_agree():
    A, B = gauss(9, 40, 5, 5)
    for name in al.METRICS:
        kw = {"cca_dim": 5} if name == "svcca" else {}
        assert al.measure(name, A, B, **kw) == al.measure(name, torch.tensor(A), torch.tensor(B), **kw)
