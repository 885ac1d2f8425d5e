"""Issue 21, items 1-2: k-NN ties at the k-th neighbour are detected, warned once per call and recorded; the generic
default worlds have none; every cell of alignment.INVARIANCES holds on random features and kernels."""
import warnings

import numpy as np
import pytest
import torch

import alignment
import worlds
from alignment import _knn
from alignment.invariances import INVARIANCES, LEVELS, TRANSFORMS, transform
from learners.experiments._common import recorded_ties, tie_fraction

F64 = {"dtype": torch.float64}


def ties_of(call):
    """(result, the TieWarnings the call emitted)."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = call()
    return out, [w.message for w in got if issubclass(w.category, alignment.TieWarning)]


@pytest.fixture(scope="module")
def torus_pmi():
    return worlds.make_world("torus").pmi(16)


# --- the finding: on the symmetric torus ties decide the k-NN numbers ---------------------------------------------

def test_torus_ties_decide_knn_and_the_warning_fires(torus_pmi):
    """Row neighbours of the 8 x 8 torus come in tie groups 4, 4, 4, 8: k = 8 sits on a group boundary (mutual k-NN
    of any two decreasing isotropic kernels is 1, with no tie at the k-th place), k = 10 inside the group of 8, in
    every row; 1e-9 of noise on K then moves mutual k-NN, which the warning's fraction (1.0) announces."""
    K = torus_pmi
    other = np.exp(K)  # another decreasing isotropic kernel
    score, got = ties_of(lambda: alignment.measure_kernels("mutual_knn", K, other, k=8, **F64))
    assert score == 1.0 and got == []
    score, got = ties_of(lambda: alignment.measure_kernels("mutual_knn", K, other, k=10, **F64))
    assert len(got) == 1 and got[0].fraction == 1.0 and got[0].k == 10
    assert set(got[0].fractions) == {"'K' parameter of mutual_knn", "'L' parameter of mutual_knn"}
    noisy = K + 1e-9 * np.random.default_rng(0).standard_normal(K.shape)
    moved, got = ties_of(lambda: alignment.measure_kernels("mutual_knn", K, noisy, k=10, **F64))
    assert moved < 0.95 and got[0].fractions["'K' parameter of mutual_knn"] == 1.0
    # float32: the same ties, exactly equal after rounding
    assert ties_of(lambda: alignment.measure_kernels("lcs_knn", K, other, k=10))[1][0].fraction == 1.0


@pytest.mark.parametrize("name", ["weighted_torus", "weighted_ring"])
def test_generic_worlds_have_no_ties_at_any_k(name):
    K = worlds.make_world(name, n_states=36) if name == "weighted_ring" else worlds.make_world(name, side=6)
    K = K.pmi(16)
    for k in range(1, len(K) - 1):
        assert ties_of(lambda: alignment.measure_kernels("mutual_knn", K, K, k=k, **F64))[1] == [], k


def test_weighted_torus_defaults_keep_every_objective_reachable():
    """The objectives experiment's default world: K_PMI PSD-able at W = 16 for these seeds (edge_noise 0.5 is not)."""
    for seed in (0, 3):
        assert np.isfinite(worlds.min_shift(worlds.make_world("weighted_torus", seed=seed).pmi(16)))
    assert not np.isfinite(worlds.min_shift(worlds.make_world("weighted_torus", edge_noise=0.5).pmi(16)))
    with pytest.raises(ValueError, match="'edge_noise' parameter of weighted_torus must be in"):
        worlds.make_world("weighted_torus", edge_noise=-1)


# --- tie detection: exact and near ties, once per call, values untouched --------------------------------------------

def test_near_tie_within_rounding_is_detected_and_a_clear_gap_is_not():
    """Row 0's 2nd and 3rd neighbours differ by a few ulps (a tie within rounding at k = 2, not at k = 1 or 3)."""
    X = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.5, 0.5 + 1e-15], [-1.0, 0.2]], dtype=torch.float64)
    near = [_knn.knn_from_features(X, k).near for k in (1, 2, 3)]
    assert near[1][0] and not near[0][0] and not near[2][0]
    X[3, 1] = 0.6  # a clear gap
    assert not _knn.knn_from_features(X, 2).near[0]


def test_duplicate_rows_warn_once_per_call_with_both_inputs_named():
    rng = np.random.default_rng(1)
    A = np.repeat(rng.standard_normal((20, 5)), 3, axis=0)  # 60 rows, each state thrice
    B = A + rng.standard_normal(A.shape)
    cal, got = ties_of(lambda: alignment.calibrate(A, B, "mutual_knn", n_perm=3, k=4))
    assert len(got) == 1 and got[0].fractions == {"'feats_a' parameter of calibrate": 1.0}
    _, got = ties_of(lambda: alignment.calibrate(A, A[::-1], "lcs_knn", n_perm=2, k=4))
    assert len(got) == 1 and len(got[0].fractions) == 2
    assert ties_of(lambda: alignment.cknna(A, B, k=4))[1][0].fraction == 1.0
    _, got = ties_of(lambda: alignment.layerwise([A, B], [B], "mutual_knn", k=4))
    assert len(got) == 1 and got[0].fractions == {"'feats_a' parameter of layerwise (layer 0)": 1.0}
    assert len(ties_of(lambda: alignment.bootstrap(A, B, n_boot=3, k=4))[1]) == 1
    assert ties_of(lambda: alignment.mutual_knn(B, B[::-1], k=4))[1] == []  # generic rows: no warning


def test_ties_are_collected_for_the_results():
    A = np.repeat(np.random.default_rng(2).standard_normal((10, 4)), 2, axis=0)  # k = 2 splits each twin pair
    with warnings.catch_warnings(record=True) as shown, recorded_ties() as got:
        alignment.mutual_knn(A, A, k=2)
        alignment.cka(A, A)
    assert shown == [] and len(got) == 1 and tie_fraction(got) == 1.0 and tie_fraction([]) == 0.0


def test_faiss_flat_marks_the_same_tied_rows():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    X = torch.tensor(np.vstack([np.repeat(rng.standard_normal((15, 6)), 2, axis=0), rng.standard_normal((30, 6))]),
                     dtype=torch.float32)
    exact, flat = _knn.knn_from_features(X, 2), _knn.knn_from_features(X, 2, backend="faiss")  # splits twins
    assert exact.near.sum() >= 10 and torch.equal(exact.near, flat.near)


# --- the invariance table, cell by cell ---------------------------------------------------------------------------

def test_the_table_covers_every_metric_and_transform():
    assert set(INVARIANCES["features"]) == set(alignment.METRICS)
    assert set(INVARIANCES["kernel"]) == set(alignment.KERNEL_METRICS)
    assert all(set(row) == set(TRANSFORMS) for level in LEVELS for row in INVARIANCES[level].values())
    with pytest.raises(ValueError, match="'level' parameter of transform must be one of features, kernel"):
        transform("shift", "gram", np.eye(3))


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 12))
    return A, A @ rng.standard_normal((12, 12)) + 1.5 * rng.standard_normal((40, 12))


CELLS = [(level, m, t) for level in LEVELS for m in INVARIANCES[level] for t in TRANSFORMS]


@pytest.mark.parametrize("level, metric, name", CELLS, ids=["-".join(c) for c in CELLS])
def test_invariance_cell(features, level, metric, name):
    """The transform on either input: unchanged (1e-9) where the table says invariant, moved by > 1e-3 on some input
    where it says not; a transform that does not apply gives None, or the metric refuses what it makes."""
    A, B = features
    kw = {**alignment.metric_kwargs(metric, k=5), **F64}
    feat = level == "features" or name in ("orthogonal", "linear")
    gram = (lambda X: X) if level == "features" else (lambda X: X @ X.T)
    score = (lambda X, Y: alignment.measure(metric, X, Y, **kw)) if level == "features" else (
        lambda X, Y: alignment.measure_kernels(metric, gram(X) if feat else X, gram(Y) if feat else Y, **kw))
    X, Y = (A, B) if feat else (A @ A.T, B @ B.T)
    base = score(X, Y)
    ta, tb = transform(name, level, X, seed=1), transform(name, level, Y, seed=2)
    expected = INVARIANCES[level][metric][name]
    if ta is None:
        assert expected is None
        return
    if expected is None:  # applies, but the metric refuses the result (CKA of an asymmetric kernel)
        with pytest.raises(ValueError, match="must be symmetric"):
            score(ta, Y)
        return
    moved = max(abs(score(ta, Y) - base), abs(score(X, tb) - base))
    assert (moved < 1e-9) if expected else (moved > 1e-3), moved


def test_infonce_constant_moves_cosine_knn_but_not_kernel_ranking():
    """The issue's case: InfoNCE's free constant c. Features F with F F^T = K + c 11^T for growing c: ranking the
    kernel ignores c, cosine k-NN (the paper's) does not."""
    w = worlds.make_world("dirichlet", n_states=32)
    K = w.pmi(4)
    c0 = worlds.min_shift(K)
    spectral = np.exp(K)
    scores = []
    for c in (c0 + 1, c0 + 10):
        lam, V = np.linalg.eigh(K + c)
        Fc = V * np.sqrt(np.clip(lam, 0, None))
        Fs = np.linalg.cholesky(spectral + 1e-12 * np.eye(32))
        scores.append((alignment.mutual_knn(Fc, Fs, k=5, **F64),
                       alignment.measure_kernels("mutual_knn", Fc @ Fc.T, spectral, k=5, **F64)))
    assert scores[0][1] == scores[1][1] == 1.0
    assert scores[0][0] != scores[1][0] and min(s[0] for s in scores) < 1.0

