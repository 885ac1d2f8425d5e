"""rbf_cka, rsa, procrustes, pwcca and jaccard_knn against published values and independent implementations
(rsatoolbox, scipy), their invariances, and their errors. Layer sweeps, relabelled nulls, scale invariance
and parameter routing of every metric are tested over alignment.METRICS in the other test files."""

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from support import raises, related
from test_alignment_metrics import ref_cosine, ref_knn

import alignment as al

F64 = torch.float64


def orthogonal(rs, d):
    q, r = np.linalg.qr(rs.randn(d, d))
    return q * np.sign(np.diag(r))


def kornblith():
    rs = np.random.RandomState(1337)
    X = rs.randn(100, 10)
    return X, rs.randn(100, 10) + X


# ---- rbf_cka: Kornblith et al.'s demo ----

def gram_rbf(x, threshold):
    """Kornblith et al. 2019's demo (google-research/representation_similarity), written out."""
    dot = x @ x.T
    sq_norms = np.diag(dot)
    sq_distances = -2 * dot + sq_norms[:, None] + sq_norms[None, :]
    return np.exp(-sq_distances / (2 * threshold ** 2 * np.median(sq_distances)))


def biased_cka(K, L):
    n = len(K)
    H = np.eye(n) - 1.0 / n
    Kc, Lc = H @ K @ H, H @ L @ H
    return (Kc * Lc).sum() / np.sqrt((Kc * Kc).sum() * (Lc * Lc).sum())


def test_rbf_cka_reproduces_kornbliths_published_value():
    X, Y = kornblith()
    assert al.rbf_cka(X, Y) == pytest.approx(0.65483, abs=5e-6)  # the demo's "RBF CKA (threshold 0.5)"
    assert al.rbf_cka(X, Y, dtype=F64) == pytest.approx(biased_cka(gram_rbf(X, 0.5), gram_rbf(Y, 0.5)), abs=1e-12)


@pytest.mark.parametrize("sigma", [0.2, 1.0, 3.0])
def test_rbf_cka_matches_the_demo_at_other_bandwidths_and_sizes(sigma):
    A, B = related(1, 75, 6, 9)  # odd N: the median is one entry; even N (the demo): the mean of two
    assert al.rbf_cka(A, B, sigma=sigma, dtype=F64) == pytest.approx(
        biased_cka(gram_rbf(A, sigma), gram_rbf(B, sigma)), abs=1e-12)
    assert al.measure("rbf_cka", A, B, sigma=sigma) == pytest.approx(al.rbf_cka(A, B, sigma=sigma, dtype=F64),
                                                                     abs=2e-6)


def test_rbf_cka_invariances():
    rs = np.random.RandomState(2)
    A, B = related(3, 60, 7, 5)
    want = al.rbf_cka(A, B, dtype=F64)
    A2 = 3.7 * A @ orthogonal(rs, 7) + rs.randn(1, 7) * 5  # rotate, scale, translate: distances scale uniformly
    assert al.rbf_cka(A2, B, dtype=F64) == pytest.approx(want, abs=1e-12)
    assert al.rbf_cka(B, A, dtype=F64) == pytest.approx(want, abs=1e-12)
    assert 0 <= want <= 1 and al.rbf_cka(A, A.copy()) == pytest.approx(1.0, abs=1e-6)


# ---- rsa: rsatoolbox ----

def rsatoolbox_rsa(A, B):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    rdms = [rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method="correlation") for X in (A, B)]
    return float(rsatoolbox.rdm.compare(rdms[0], rdms[1], method="spearman")[0, 0])


@pytest.mark.parametrize("seed,n,da,db", [(0, 30, 5, 8), (1, 64, 12, 3), (2, 9, 4, 4)])
def test_rsa_matches_rsatoolbox(seed, n, da, db):
    A, B = related(seed, n, da, db, shared=min(da, db, 3))
    want = rsatoolbox_rsa(A, B)
    assert al.rsa(A, B, dtype=F64) == pytest.approx(want, abs=1e-12)
    assert al.rsa(A, B) == pytest.approx(want, abs=2e-6)


def test_rsa_averages_tied_ranks_as_rsatoolbox_does():
    # rows of two +1 and two -1: centred already, unit norm once halved, so every correlation is -1, 0 or 1 exactly
    # in any arithmetic, and both implementations see the same ties (mathematically equal dissimilarities reached
    # by different roundings would not tie alike)
    rs = np.random.RandomState(4)
    patterns = np.array([p for p in np.ndindex(2, 2, 2, 2) if sum(p) == 2]) * 2.0 - 1
    A, B = patterns[rs.randint(0, 6, 30)], patterns[rs.randint(0, 6, 30)]
    B[:10] = A[:10]
    iu = np.triu_indices(30, 1)
    assert set(np.unique((1 - np.corrcoef(A))[iu])) <= {0.0, 1.0, 2.0}  # 435 dissimilarities, 3 values
    want = rsatoolbox_rsa(A, B)
    assert al.rsa(A, B, dtype=F64) == pytest.approx(want, abs=1e-12)
    assert al.rsa(A, B) == pytest.approx(want, abs=1e-6)
    assert want == pytest.approx(scipy.stats.spearmanr((1 - np.corrcoef(A))[iu], (1 - np.corrcoef(B))[iu]).statistic,
                                 abs=1e-12)


def test_rsa_is_spearman_of_the_correlation_rdms_and_its_invariances():
    rs = np.random.RandomState(5)
    A, B = related(6, 40, 6, 6)
    iu = np.triu_indices(40, 1)
    want = scipy.stats.spearmanr((1 - np.corrcoef(A))[iu], (1 - np.corrcoef(B))[iu]).statistic
    assert al.rsa(A, B, dtype=F64) == pytest.approx(want, abs=1e-12)
    # each sample scaled and shifted, and the features permuted: the same Pearson correlations between samples
    A2 = (A * rs.uniform(0.1, 10, (40, 1)) + rs.randn(40, 1))[:, rs.permutation(6)]
    assert al.rsa(A2, B, dtype=F64) == pytest.approx(want, abs=1e-12)
    assert al.rsa(B, A, dtype=F64) == pytest.approx(want, abs=1e-12)


# ---- procrustes: scipy's orthogonal Procrustes (netrep is not on the registry) ----

def procrustes_reference(A, B):
    """cos of the angular Procrustes distance from the optimal rotation of scipy.linalg.orthogonal_procrustes: centre
    each input, scale it to unit Frobenius norm, zero-pad the narrower (as netrep does), rotate A onto B."""
    X, Y = (Z - Z.mean(0) for Z in (A, B))
    X, Y = X / np.linalg.norm(X), Y / np.linalg.norm(Y)
    d = max(X.shape[1], Y.shape[1])
    X, Y = (np.pad(Z, ((0, 0), (0, d - Z.shape[1]))) for Z in (X, Y))
    R, _ = scipy.linalg.orthogonal_procrustes(X, Y)
    return float(np.sum((X @ R) * Y)), float(np.linalg.norm(X @ R - Y))


@pytest.mark.parametrize("seed,n,da,db", [(0, 50, 6, 6), (1, 40, 3, 9), (2, 12, 30, 20)])
def test_procrustes_is_the_cosine_of_the_optimal_rotation(seed, n, da, db):
    A, B = related(seed, n, da, db)
    cos, residual = procrustes_reference(A, B)
    got = al.procrustes(A, B, dtype=F64)
    assert got == pytest.approx(cos, abs=1e-12)
    assert residual ** 2 == pytest.approx(2 - 2 * got, abs=1e-12)  # |X R - Y|^2 = 2 - 2 <X R, Y> for unit X, Y
    assert np.arccos(got) == pytest.approx(np.arccos(cos), abs=1e-6)  # netrep's angular distance
    assert al.procrustes(A, B) == pytest.approx(got, abs=2e-6)


def test_procrustes_invariances_and_range():
    rs = np.random.RandomState(3)
    A, B = related(4, 60, 5, 7)
    want = al.procrustes(A, B, dtype=F64)
    A2 = 0.01 * A @ orthogonal(rs, 5) + rs.randn(1, 5)
    assert al.procrustes(A2, B, dtype=F64) == pytest.approx(want, abs=1e-12)
    assert al.procrustes(B, A, dtype=F64) == pytest.approx(want, abs=1e-12)
    assert 0 < want < 1 and al.procrustes(A, 2 * A @ orthogonal(rs, 5)) == pytest.approx(1.0, abs=1e-6)
    # not invariant to an invertible non-orthogonal map (unlike CCA)
    assert al.procrustes(A * [1, 1, 1, 1, 20], B, dtype=F64) != pytest.approx(want, abs=1e-3)


# ---- pwcca: Morcos et al.'s covariance formulation ----

def pwcca_reference(A, B):
    """PWCCA weighted by A, from the covariances (Morcos et al. 2018, google/svcca's cca_core without epsilon):
    whitened cross-covariance Sxx^-1/2 Sxy Syy^-1/2 = U diag(rho) V^T, canonical variates h_i = X Sxx^-1/2 u_i
    (unit norm), weights alpha_i = sum_j |<h_i, x_j>| over the centred neurons x_j of A."""
    X, Y = A - A.mean(0), B - B.mean(0)

    def inv_sqrt(C):
        w, V = np.linalg.eigh(C)
        return V @ np.diag(w ** -0.5) @ V.T
    Wx, Wy = inv_sqrt(X.T @ X), inv_sqrt(Y.T @ Y)
    U, rho, _ = np.linalg.svd(Wx @ X.T @ Y @ Wy)
    m = min(X.shape[1], Y.shape[1])
    H = X @ Wx @ U[:, :m]
    H /= np.linalg.norm(H, axis=0)
    alpha = np.abs(H.T @ X).sum(1)
    return float(alpha @ rho[:m] / alpha.sum())


@pytest.mark.parametrize("seed,n,da,db", [(0, 80, 6, 6), (1, 100, 4, 9), (2, 60, 10, 5)])
def test_pwcca_matches_the_covariance_formulation(seed, n, da, db):
    A, B = related(seed, n, da, db)
    got = al.pwcca(A, B, dtype=F64)
    assert got == pytest.approx(pwcca_reference(A, B), abs=1e-10)
    assert al.pwcca(B, A, dtype=F64) == pytest.approx(pwcca_reference(B, A), abs=1e-10)
    assert got != pytest.approx(al.pwcca(B, A, dtype=F64), abs=1e-4)  # weighted by its first input
    assert al.pwcca(A, B) == pytest.approx(got, abs=2e-6)


def test_pwcca_invariances_and_range():
    rs = np.random.RandomState(5)
    A, B = related(6, 90, 5, 7)
    want = al.pwcca(A, B, dtype=F64)
    signed = np.eye(5)[rs.permutation(5)] * rs.choice([-1, 1], 5)  # the weights are L1 norms over A's neurons
    assert al.pwcca(7 * A @ signed + 3, B, dtype=F64) == pytest.approx(want, abs=1e-10)
    assert al.pwcca(A, B @ rs.randn(7, 7) + 1, dtype=F64) == pytest.approx(want, abs=1e-10)  # B: any invertible map
    assert al.pwcca(A @ orthogonal(rs, 5), B, dtype=F64) != pytest.approx(want, abs=1e-4)  # A: not rotations
    assert 0 < want < 1 and al.pwcca(A, A @ rs.randn(5, 5)) == pytest.approx(1.0, abs=1e-5)


# ---- jaccard_knn: per-sample sets ----

@pytest.mark.parametrize("seed,n,k", [(0, 20, 1), (1, 40, 6), (2, 33, 32)])
def test_jaccard_knn_matches_per_sample_sets(seed, n, k):
    A, B = related(seed, n, 5, 4, shared=2)
    na, nb = ref_knn(ref_cosine(A), k), ref_knn(ref_cosine(B), k)
    want = np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(na, nb)])
    assert al.jaccard_knn(A, B, k=k, dtype=F64) == pytest.approx(want, abs=1e-15)
    m = al.mutual_knn(A, B, k=k, dtype=F64)
    assert al.jaccard_knn(A, B, k=k, dtype=F64) <= m + 1e-15  # c / (2k - c) <= c / k


def test_jaccard_chance_level():
    rs = np.random.RandomState(7)
    A, B = rs.randn(400, 8), rs.randn(400, 8)
    chance = al.chance(A, B, "jaccard_knn", n_perm=50, k=10)
    assert chance == pytest.approx(10 / (2 * 399 - 10), abs=0.003)  # E[c] / (2k - E[c]) to first order


# ---- bad input ----

def test_new_metric_errors():
    A, B = related(8, 30, 4, 4)
    raises(ValueError, "The 'sigma' parameter of rbf_cka must be > 0. Got 0.0 instead.", al.rbf_cka, A, B, sigma=0)
    raises(ValueError, "The 'sigma' parameter of rbf_cka must be > 0. Got -1.0 instead.", al.measure, "rbf_cka", A, B,
           sigma=-1.0)
    raises(TypeError, "The 'sigma' parameter of rbf_cka must be a real number. Got '0.5' (str) instead.",
           al.layerwise, [A], [B], "rbf_cka", sigma="0.5")
    raises(ValueError, "The 'B' parameter of rbf_cka must vary across samples, with a positive median pairwise "
                       "distance (RBF CKA's bandwidth is a fraction of it). Got identical rows instead.",
           al.rbf_cka, A, np.ones((30, 3)))
    twins = A[[0] * 25 + [1] * 5]  # 25 * 25 + 5 * 5 = 650 of the 900 pairs coincide: the median is 0
    raises(ValueError, "Got a median squared distance of 0 (more than half of the pairs coincide) instead.",
           al.rbf_cka, twins, B)
    C = A.copy()
    C[[3, 7]] = 2.5
    raises(ValueError, "The 'A' parameter of rsa must have no constant rows (RSA's dissimilarity is 1 - the Pearson "
                       "correlation between samples, undefined for them). Got 2 constant rows (first: row 3) instead.",
           al.rsa, C, B)
    raises(ValueError, "The 'B' parameter of rsa must have no constant rows", al.rsa, A, B[:, :1])  # width 1
    raises(ValueError, "The 'A' and 'B' parameters of rsa must have N >= 3 rows (RSA correlates the N(N-1)/2 "
                       "dissimilarities, at least 3 of them). Got N=2 instead.", al.rsa, A[:2], B[:2])
    raises(ValueError, "The 'A' parameter of rsa must give dissimilarities that are not all equal (their Spearman "
                       "correlation is undefined). Got an RDM whose entries are all equal instead.",
           al.rsa, np.outer(2.0 ** (np.arange(30) % 5), [1, 1, -1, -1]), B)  # every pair perfectly correlated
    for name, what in (("procrustes", "the Procrustes similarity"), ("pwcca", "CCA")):
        raises(ValueError, f"The 'A' parameter of {name} must vary across samples ({what} is undefined for constant "
                           "features). Got constant features instead.", al.measure, name, np.ones((30, 3)) * 7, B)
        raises(ValueError, f"The 'feats_b' parameter of calibrate must vary across samples ({what}",
               al.calibrate, A, np.tile(B[:1], (30, 1)), name)
    raises(ValueError, "The 'A' and 'B' parameters of jaccard_knn must have N >= 2 rows", al.jaccard_knn, A[:1], B[:1])
    raises(TypeError, "The keyword arguments of procrustes must be none (it takes no parameters). Got 'k' instead.",
           al.measure, "procrustes", A, B, k=3)
    raises(ValueError, "must be one of mutual_knn, cycle_knn, lcs_knn, edit_distance_knn, cka, unbiased_cka, cknna, "
                       "jaccard_knn. Got 'rsa' instead.", al.measure_kernels, "rsa", A @ A.T, B @ B.T)
