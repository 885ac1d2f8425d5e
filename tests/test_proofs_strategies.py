"""proofs_check.strategies: what they draw is valid, meets the premises it is built for, and shrinks small."""
import numpy as np
from hypothesis import find, given, settings

import worlds
from proofs_check import strategies
from proofs_check._kernel import f1_premise, sharpened_condition


@given(strategies.world_cooccurrences())
def test_world_cooccurrences_are_exact_joints(case):
    P, world = case.P, case.world
    assert case.include_self or case.window >= 1
    np.testing.assert_allclose(P, P.T, atol=1e-15)
    np.testing.assert_allclose(P.sum(axis=1), world.stationary, atol=1e-13)
    np.testing.assert_allclose(world.transition.sum(axis=1), 1.0, atol=1e-12)
    assert 2 <= P.shape[0] <= strategies.MAX_STATES


@given(strategies.cooccurrences(positive=True))
def test_positive_cooccurrences_have_finite_pmi(case):
    assert np.all(case.P > 0) and np.all(np.isfinite(case.K))


@given(strategies.grid_kernels())
def test_grid_kernels_are_symmetric_quarters(K):
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_array_equal(4 * K, np.round(4 * K))
    assert np.abs(K).max() <= 2.0


@given(strategies.f1_kernels())
def test_f1_kernels_meet_the_premise(K):
    premise = f1_premise(K)
    assert premise.holds and premise.log_rho_min + premise.delta <= 0


@given(strategies.sharpened_kernels())
def test_sharpened_kernels_meet_the_condition(K):
    assert sharpened_condition(K)


@given(strategies.circulant_kernels())
def test_circulant_kernels_are_shift_invariant(K):
    n = K.shape[0]
    shifted = np.roll(np.roll(K, 1, axis=0), 1, axis=1)
    np.testing.assert_array_equal(K, shifted)
    np.testing.assert_array_equal(K, K.T)
    assert np.ptp(K.mean(axis=1)) < 1e-12 and n >= 2


@given(strategies.premise_cooccurrences())
def test_premise_cooccurrences_are_sticky_over_a_nearly_uniform_chain(case):
    a = case.world.transition
    off = a[~np.eye(a.shape[0], dtype=bool)].reshape(a.shape[0], -1)
    assert case.source == "sticky"
    # (1 - s) B with B's weights in 8..10: off-diagonal moves within a factor 10/8 of each other per row.
    assert np.all(off.max(axis=1) <= 1.25 * off.min(axis=1) * (1 + 1e-12))


@given(strategies.merged_cases())
def test_merged_cases_are_deterministic_merges(example):
    case, obs = example
    assert obs.deterministic and obs.n_states == case.P.shape[0]
    np.testing.assert_array_equal(obs.matrix.sum(axis=1), 1.0)


def test_shrinking_gives_small_readable_counterexamples():
    quiet = settings(database=None, derandomize=True)
    K = find(strategies.grid_kernels(), lambda K: not worlds.is_psd_able(K), settings=quiet)
    # HKH = (0 + 0.25 - 0.5) / 2 < 0 along (1, -1): the smallest non-PSD-able quarter kernel.
    np.testing.assert_array_equal(K, [[0.0, 0.25], [0.25, 0.25]])
    case = find(strategies.cooccurrences(), lambda c: not worlds.is_psd_able(c.K), settings=quiet)
    assert case.describe() == {"source": "joint", "P": [[0.5, 0.0], [0.0, 0.5]]}  # a zero: K has -inf
