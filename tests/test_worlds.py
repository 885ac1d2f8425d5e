"""Exact statistics of synthetic worlds (issue 2 acceptance)."""
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import worlds
from worlds import MarkovWorld


def random_chain(n, seed, alpha=0.5):
    return np.random.default_rng(seed).dirichlet(np.full(n, alpha), size=n)


def direct_cooccurrence(a, pi, window, include_self):
    """Average of the lagged joints P(z_t = i, z_{t+d} = j) over d in [-W, W] (d = 0 optional)."""
    lags = range(-window, window + 1) if include_self else [d for d in range(-window, window + 1) if d]
    joints = []
    for d in lags:
        j = np.diag(pi) @ np.linalg.matrix_power(a, abs(d))
        joints.append(j if d >= 0 else j.T)
    return np.mean(joints, axis=0)


@given(n=st.integers(2, 9), seed=st.integers(0, 10_000), window=st.integers(1, 6), include_self=st.booleans())
def test_cooccurrence_equals_direct_sum_of_lagged_joints(n, seed, window, include_self):
    a = random_chain(n, seed)
    w = MarkovWorld(a)
    P = w.cooccurrence(window, include_self)
    np.testing.assert_allclose(P, direct_cooccurrence(a, w.stationary, window, include_self), atol=1e-13)
    np.testing.assert_allclose(P, P.T, atol=1e-15)
    np.testing.assert_allclose(P.sum(axis=1), w.stationary, atol=1e-13)
    assert P.sum() == pytest.approx(1.0, abs=1e-12)


def test_stationary_solves_pi_a_equals_pi():
    a = random_chain(12, 3)
    pi = MarkovWorld(a).stationary
    np.testing.assert_allclose(pi @ a, pi, atol=1e-14)
    # The leading left eigenvector, computed another way.
    vals, vecs = np.linalg.eig(a.T)
    v = np.real(vecs[:, np.argmax(np.real(vals))])
    np.testing.assert_allclose(pi, v / v.sum(), atol=1e-12)


@pytest.mark.parametrize("name", worlds.list_worlds())
def test_every_registered_world_has_a_valid_cooccurrence(name):
    w = worlds.make_world(name)
    P = w.cooccurrence(4)
    assert w.stationary.min() > 0
    np.testing.assert_allclose(P.sum(axis=0), w.stationary, atol=1e-12)
    np.testing.assert_allclose(P, P.T, atol=1e-15)
    K = w.pmi(4)
    finite = np.isfinite(K)
    # PMI is log P - log pi - log pi wherever P > 0.
    expected = np.log(P[finite]) - np.log(np.outer(w.stationary, w.stationary)[finite])
    np.testing.assert_allclose(K[finite], expected, atol=1e-12)
    assert np.array_equal(~finite, P == 0)


def test_sparse_and_dense_cooccurrence_agree():
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(12, 12, periodic=True))
    sparse = worlds.random_walk(g, lazy=0.3, sparse=True)
    dense = worlds.random_walk(g, lazy=0.3, sparse=False)
    assert sparse.is_sparse and not dense.is_sparse
    Ps, Pd = sparse.cooccurrence(7), dense.cooccurrence(7)
    assert sp.issparse(Ps)
    np.testing.assert_allclose(Ps.toarray(), Pd, atol=1e-15)
    np.testing.assert_allclose(sparse.stationary, dense.stationary, atol=1e-14)


def test_random_walk_honours_edge_weights():
    g = nx.Graph()
    g.add_edge(0, 1, weight=3.0)
    g.add_edge(0, 2, weight=1.0)
    g.add_edge(1, 2, weight=1.0)
    a = worlds.random_walk(g).transition
    np.testing.assert_allclose(a[0], [0, 0.75, 0.25])
    # Reversible walk: pi is proportional to weighted degree.
    pi = MarkovWorld(a).stationary
    np.testing.assert_allclose(pi, np.array([4, 4, 2]) / 10, atol=1e-14)


def test_lazy_and_teleport_enter_as_documented():
    a = worlds.random_walk(nx.cycle_graph(5), lazy=0.4, teleport=0.1).transition
    assert a[0, 0] == pytest.approx(0.9 * 0.4 + 0.1 / 5)
    assert a[0, 1] == pytest.approx(0.9 * 0.3 + 0.1 / 5)
    assert a[0, 2] == pytest.approx(0.1 / 5)


def test_sticky_world_formula():
    w = worlds.make_world("sticky", n_states=5, stickiness=0.7)
    np.testing.assert_allclose(w.transition, 0.7 * np.eye(5) + 0.06)


def test_product_world_factors_are_independent():
    w = worlds.make_world("product")
    n1, n2 = w.factor_sizes
    P = w.cooccurrence(3).reshape(n1, n2, n1, n2)
    ring = worlds.make_world("ring", n_states=8)
    # Each factor's marginal pair statistics equal the factor world's own P_coor.
    np.testing.assert_allclose(P.sum(axis=(1, 3)), ring.cooccurrence(3), atol=1e-14)
    np.testing.assert_allclose(w.stationary, np.kron(ring.stationary, ring.stationary), atol=1e-14)


def test_trajectory_cooccurrence_converges_to_exact():
    w = MarkovWorld(random_chain(6, 1, alpha=2.0))
    window = 3
    P = w.cooccurrence(window)
    errs = []
    for length in (2_000, 200_000):
        pairs = worlds.trajectory_pairs(w.sample(length, seed=5), window)
        errs.append(np.abs(worlds.empirical_cooccurrence(pairs, 6) - P).max())
    assert errs[1] < 2e-3  # ~ a few standard errors of a 36-cell histogram from 2e5 correlated draws
    assert errs[1] < errs[0] / 3


def test_exact_pairs_and_plugin_pmi_converge():
    w = worlds.make_world("sticky", n_states=6, stickiness=0.5)
    P = w.cooccurrence(2)
    pairs = worlds.exact_pairs(P, 400_000, seed=0)
    np.testing.assert_allclose(worlds.empirical_cooccurrence(pairs, 6), P, atol=3e-3)
    K_hat = worlds.plugin_pmi(pairs, 6)
    assert np.abs(K_hat - w.pmi(2)).max() < 0.05


def test_negatives_follow_the_marginal():
    pi = np.array([0.5, 0.3, 0.2])
    draws = worlds.negatives(pi, 100_000, seed=1)
    np.testing.assert_allclose(np.bincount(draws) / draws.size, pi, atol=6e-3)


def test_sampling_is_deterministic_per_seed():
    w = worlds.make_world("dirichlet", n_states=10)
    assert np.array_equal(w.sample(500, seed=3), w.sample(500, seed=3))
    assert not np.array_equal(w.sample(500, seed=3), w.sample(500, seed=4))


def test_sparse_sampling_follows_the_chain():
    g = nx.cycle_graph(7)
    w = worlds.random_walk(g, lazy=0.5, sparse=True)
    x = w.sample(50_000, seed=2)
    steps = (x[1:] - x[:-1]) % 7
    assert set(np.unique(steps)) == {0, 1, 6}  # only stay or move to a neighbour
    assert np.mean(steps == 0) == pytest.approx(0.5, abs=0.01)


def test_permutation_permutes_pmi_exactly():
    w = worlds.make_world("dirichlet", n_states=9, seed=2)
    obs = worlds.Permutation(9, seed=4)
    Kx = worlds.pmi_kernel(obs.pushforward(w.cooccurrence(3)))
    Kz = w.pmi(3)
    np.testing.assert_allclose(Kx[np.ix_(obs.perm, obs.perm)], Kz, atol=1e-12)
    assert obs.bijective


def test_merge_pushforward_sums_blocks():
    w = worlds.make_world("dirichlet", n_states=7, seed=1)
    labels = np.array([2, 0, 2, 1, 0, 2, 1])
    P = w.cooccurrence(2)
    Px = worlds.Merge(labels).pushforward(P)
    for a in range(3):
        for b in range(3):
            assert Px[a, b] == pytest.approx(P[np.ix_(labels == a, labels == b)].sum(), abs=1e-15)
    assert not worlds.Merge(labels).bijective


def test_drop_factor_keeps_the_other_factor():
    w = worlds.make_world("product")
    P = w.cooccurrence(2)
    keep_first = worlds.DropFactor(w.factor_sizes, drop=1)
    n1, n2 = w.factor_sizes
    np.testing.assert_allclose(keep_first.pushforward(P), P.reshape(n1, n2, n1, n2).sum(axis=(1, 3)), atol=1e-15)
    assert keep_first.observe(np.array([0, 9, 63])).tolist() == [0, 1, 7]


def test_noisy_channel_pushforward_matches_observed_trajectory():
    w = worlds.make_world("sticky", n_states=4, stickiness=0.6)
    noisy = worlds.NoisyChannel(0.3, n_states=4)
    window = 2
    exact = noisy.pushforward(w.cooccurrence(window), window=window)
    x = noisy.observe(w.sample(300_000, seed=1), seed=2)
    empirical = worlds.empirical_cooccurrence(worlds.trajectory_pairs(x, window), 4)
    np.testing.assert_allclose(empirical, exact, atol=2e-3)
    # The naive O^T P O gets the d = 0 term wrong by far more than the sampling error.
    naive = noisy.matrix.T @ w.cooccurrence(window) @ noisy.matrix
    assert np.abs(naive - exact).max() > 0.01
    np.testing.assert_allclose(exact.sum(axis=1), noisy.matrix.T @ w.stationary, atol=1e-14)


def test_vector_and_token_codes_are_bijective_and_distinct():
    v = worlds.VectorCode(20, dim=8, seed=0)
    assert v.bijective and v.encode([3, 4]).shape == (2, 8)
    assert np.unique(v.vectors.round(12), axis=0).shape[0] == 20
    t = worlds.TokenCode(20, length=3, vocab_size=4, seed=0)
    assert len(set(t.strings)) == 20 and t.token_ids.shape == (20, 3) and t.token_ids.max() < 4


def test_min_shift_counterexample_is_not_psd_able():
    assert worlds.min_shift(np.array([[1.0, 0.5], [0.5, 0.0]])) == np.inf


@given(n=st.integers(2, 12), rank=st.integers(1, 12), shift=st.floats(-5, 5), seed=st.integers(0, 10_000))
def test_min_shift_gives_psd_kernel_with_a_zero_eigenvalue(n, rank, shift, seed):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, min(rank, n)))
    K = g @ g.T - shift * np.ones((n, n))
    c = worlds.min_shift(K)
    assert np.isfinite(c) and c <= shift + 1e-8
    eig = np.linalg.eigvalsh(K + c * np.ones((n, n)))
    scale = max(1.0, np.abs(K).max()) * n
    assert eig.min() > -1e-8 * scale
    assert abs(eig).min() < 1e-8 * scale
    # Any smaller shift breaks PSD: C* is the least.
    assert np.linalg.eigvalsh(K + (c - 1e-3) * np.ones((n, n))).min() < 0


def test_min_shift_is_inf_for_minus_inf_entries_and_for_two_negative_directions():
    assert worlds.min_shift(np.array([[0.0, -np.inf], [-np.inf, 0.0]])) == np.inf
    assert worlds.min_shift(-np.eye(3)) == np.inf


def test_information_measures():
    w = worlds.make_world("sticky", n_states=5, stickiness=0.6)
    P = w.cooccurrence(2)
    assert worlds.mutual_information(P) > 0 and worlds.chi2_information(P) > 0
    indep = np.outer(w.stationary, w.stationary)
    assert worlds.mutual_information(indep) == pytest.approx(0, abs=1e-15)
    assert worlds.chi2_information(indep) == pytest.approx(0, abs=1e-14)
    # Merging every state into one destroys all information.
    assert worlds.predicted_lossy_alignment(P, worlds.Merge(np.zeros(5, int)).pushforward(P)) == pytest.approx(0)
    assert worlds.predicted_lossy_alignment(P, P) == pytest.approx(1)


def test_chi2_keeps_precision_for_nearly_independent_pairs():
    q = np.random.default_rng(8).dirichlet(np.ones(3))
    w = worlds.product_world(MarkovWorld(np.tile(q, (3, 1))), worlds.make_world("sticky", n_states=3))
    P = w.cooccurrence(2, include_self=False)
    Px = worlds.DropFactor(w.factor_sizes, drop=1).pushforward(P)  # the i.i.d. factor alone: independent pairs
    assert 0 <= worlds.chi2_information(Px) < 1e-15
    assert worlds.predicted_lossy_alignment(P, Px) == pytest.approx(0, abs=1e-7)
    expected = np.sum(P ** 2 / np.outer(w.stationary, w.stationary)) - 1
    assert worlds.chi2_information(P) == pytest.approx(expected, rel=1e-12)


def test_summary_reports_psd_ability_of_the_default_world():
    from worlds.summary import summarise

    s = summarise(worlds.make_world("torus"), 16)
    assert s["n_states"] == 64 and s["psd_able"] and s["n_negative_eigenvalues"] == 1
    assert s["min_shift"] == pytest.approx(worlds.min_shift(worlds.make_world("torus").pmi(16)))


def test_importing_worlds_does_not_import_heavy_libraries():
    code = "import sys, worlds; print(any(m in sys.modules for m in ('torch', 'transformers', 'timm')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- bad input gets a clear error ----

@pytest.mark.parametrize("matrix, message", [
    (np.ones((2, 3)) / 3, "square"),
    (np.array([[0.5, 0.4], [0.5, 0.5]]), "row-stochastic"),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), "non-negative"),
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), "finite"),
    (np.array([[1.0, 0.0], [0.0, 1.0]]), "irreducible"),
])
def test_bad_transitions_are_rejected(matrix, message):
    with pytest.raises(ValueError, match=message):
        MarkovWorld(matrix)


@pytest.mark.parametrize("window, err", [(-1, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_bad_window_is_rejected(window, err):
    with pytest.raises(err, match="'window' parameter"):
        worlds.make_world("sticky", n_states=3).cooccurrence(window)


def test_other_bad_inputs_are_rejected():
    w = worlds.make_world("sticky", n_states=3)
    with pytest.raises(ValueError, match="'length' parameter of MarkovWorld.sample must be >= 1. Got 0"):
        w.sample(0)
    with pytest.raises(ValueError, match="one label per state \\(n_states=3\\). Got 2 labels"):
        worlds.Merge([0, 1], n_states=3)
    with pytest.raises(ValueError, match="must be one of \\['dirichlet'.*Got 'cube'"):
        worlds.make_world("cube")
    with pytest.raises(ValueError, match="'channel' parameter of NoisyChannel must be row-stochastic"):
        worlds.NoisyChannel(np.array([[0.5, 0.4], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="'channel' parameter of NoisyChannel must be in \\[0, 1\\]"):
        worlds.NoisyChannel(1.5, n_states=3)
    with pytest.raises(ValueError, match="must be 3 x 3"):
        worlds.Permutation(3).pushforward(np.ones((4, 4)) / 16)
    with pytest.raises(ValueError, match="'window' parameter of NoisyChannel.pushforward is required"):
        worlds.NoisyChannel(0.1, n_states=3).pushforward(w.cooccurrence(1))
    with pytest.raises(ValueError, match="sum to 1"):
        worlds.pmi_kernel(np.ones((2, 2)))
