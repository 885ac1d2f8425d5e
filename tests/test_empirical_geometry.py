"""Kabsch-Umeyama, MDS, distance correlation and permutation baseline (empirical/geometry.py)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from empirical import geometry as g


def _orthogonal(rng, d, det):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    q = q * np.sign(np.diag(r))
    if np.sign(np.linalg.det(q)) != det:
        q[:, 0] *= -1
    return q


@given(seed=st.integers(0, 2 ** 31 - 1), d=st.integers(2, 4), det=st.sampled_from([1, -1]))
def test_umeyama_recovers_known_similarity_including_reflection(seed, d, det):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, d))
    q = _orthogonal(rng, d, det)
    s, t = float(rng.uniform(0.2, 5.0)), rng.normal(size=d) * 3
    y = s * x @ q + t
    fit = g.umeyama(x, y)
    assert fit.scale == pytest.approx(s, rel=1e-9)
    np.testing.assert_allclose(fit.rotation, q, atol=1e-9)
    np.testing.assert_allclose(fit.translation, t, atol=1e-9)
    assert fit.reflected == (det < 0)
    np.testing.assert_allclose(fit.apply(x), y, atol=1e-9)
    assert g.procrustes_residual(x, y) == pytest.approx(0.0, abs=1e-18)


def test_umeyama_without_reflection_cannot_fit_a_mirror_image():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = x * np.array([1.0, 1.0, -1.0])  # a pure mirror
    assert g.procrustes_residual(x, y, reflection=True) == pytest.approx(0.0, abs=1e-20)
    fit = g.umeyama(x, y, reflection=False)
    assert np.linalg.det(fit.rotation) == pytest.approx(1.0)
    assert g.procrustes_residual(x, y, reflection=False) > 0.05


def test_procrustes_residual_of_unrelated_points_is_large_and_bounded():
    rng = np.random.default_rng(1)
    r = g.procrustes_residual(rng.normal(size=(200, 3)), rng.normal(size=(200, 3)))
    assert 0.85 < r <= 1.0


@given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(5, 25))
def test_mds_of_exact_euclidean_distances_is_a_rigid_motion(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * np.array([3.0, 2.0, 1.0])
    d = g.pairwise_distances(x)
    for emb in (g.classical_mds(d, 3), g.smacof(d, 3, n_starts=2, seed=seed)[0]):
        np.testing.assert_allclose(g.pairwise_distances(emb), d, atol=1e-5 * d.max())
        fit = g.umeyama(emb, x)
        assert fit.scale == pytest.approx(1.0, rel=1e-5)  # rigid: no rescaling needed
        np.testing.assert_allclose(fit.apply(emb), x, atol=1e-4 * d.max())


def test_smacof_beats_classical_start_on_non_euclidean_and_handles_unknown_pairs():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(15, 3))
    d = g.pairwise_distances(x) ** 0.5  # a metric, but not Euclidean in 3-D
    cl = g.stress(g.classical_mds(d, 3), d)
    emb, s = g.smacof(d, 3, n_starts=4, seed=0)
    assert s == pytest.approx(g.stress(emb, d))
    assert s < cl - 1e-3
    # unknown (+inf) entries get weight 0: the exact Euclidean structure is still recovered from the rest
    d = g.pairwise_distances(x)
    d_missing = d.copy()
    d_missing[0, 1] = d_missing[1, 0] = d_missing[2, 5] = d_missing[5, 2] = np.inf
    emb, s = g.smacof(d_missing, 3, n_starts=4, seed=0)
    assert s < 1e-5
    assert g.pairwise_distances(emb)[0, 1] == pytest.approx(d[0, 1], rel=1e-3)


def test_smacof_same_seed_same_output():
    rng = np.random.default_rng(3)
    d = g.pairwise_distances(rng.normal(size=(10, 5)))
    a, sa = g.smacof(d, 2, n_starts=3, seed=7)
    b, sb = g.smacof(d, 2, n_starts=3, seed=7)
    np.testing.assert_array_equal(a, b)
    assert sa == sb


def test_distance_correlation_values_and_invariance():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 3))
    q = _orthogonal(rng, 3, -1)
    dx = g.pairwise_distances(x)
    assert g.distance_correlation(dx, g.pairwise_distances(2.5 * x @ q + 7)) == pytest.approx(1.0)
    d2 = dx ** 2
    iu = np.triu_indices(30, 1)
    assert g.distance_correlation(dx, d2) == pytest.approx(np.corrcoef(dx[iu], d2[iu])[0, 1])
    dy = g.pairwise_distances(rng.normal(size=(30, 3)))
    assert abs(g.distance_correlation(dx, dy)) < 0.2
    dinf = dx.copy()
    dinf[0, 1] = dinf[1, 0] = np.inf  # skipped, not propagated
    keep = np.ones(len(iu[0]), bool)
    keep[0] = False
    assert g.distance_correlation(dinf, d2) == pytest.approx(np.corrcoef(dx[iu][keep], d2[iu][keep])[0, 1])


def test_permutation_null_is_centred_for_unrelated_and_far_below_the_truth():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(25, 3))
    dx = g.pairwise_distances(x)
    dy = g.pairwise_distances(x + 0.1 * rng.normal(size=x.shape))
    null = g.permutation_null(lambda p: g.distance_correlation(dx[np.ix_(p, p)], dy), 25, n_perm=300, seed=0)
    assert null.shape == (300,)
    assert abs(null.mean()) < 0.05
    assert np.quantile(null, 0.95) < 0.3 < 0.95 < g.distance_correlation(dx, dy)
    again = g.permutation_null(lambda p: g.distance_correlation(dx[np.ix_(p, p)], dy), 25, n_perm=300, seed=0)
    np.testing.assert_array_equal(null, again)


def test_bad_inputs_raise_clear_errors():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="'source' and 'target'.*same shape"):
        g.umeyama(np.ones((4, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="'source'.*all points equal"):
        g.umeyama(x, np.arange(12.0).reshape(4, 3))
    with pytest.raises(ValueError, match="'source'.*finite"):
        g.umeyama(np.full((4, 3), np.nan), x)
    with pytest.raises(ValueError, match="'dist'.*square"):
        g.smacof(np.ones((3, 4)))
    with pytest.raises(ValueError, match="'dist'.*symmetric"):
        g.smacof(np.array([[0, 1, 2], [1, 0, 1], [3, 1, 0.0]]))
    with pytest.raises(ValueError, match="'dim'.*<= n = 3"):
        g.classical_mds(g.pairwise_distances(np.eye(3)), 4)
    with pytest.raises(TypeError, match="'n_starts'.*int"):
        g.smacof(g.pairwise_distances(np.eye(3)), 2, n_starts=2.0)
    with pytest.raises(ValueError, match="disconnected"):
        d = np.full((4, 4), np.inf)
        d[0, 1] = d[1, 0] = d[2, 3] = d[3, 2] = 1.0
        np.fill_diagonal(d, 0)
        g.smacof(d, 2)
    with pytest.raises(ValueError, match="'dist_a' and 'dist_b'.*same shape"):
        g.distance_correlation(np.zeros((3, 3)), np.zeros((4, 4)))
    with pytest.raises(TypeError, match="'statistic'.*callable"):
        g.permutation_null(3, 5)
