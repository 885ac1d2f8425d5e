"""Calibrated alignment statistics: the relabelled permutation null (equal to recomputation), the calibration of
record (Gröger et al. 2026; agreement with the `calibrated-similarity` package), chance levels and the resampling
interval."""
import math
from fractions import Fraction
from itertools import permutations

import numpy as np
import pytest
import torch
from support import counter, raises, related

import alignment as al
from alignment import _knn
from alignment import metrics as _m

F64 = torch.float64
KNN = ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "jaccard_knn")


def kw_of(name):
    return {"cca_dim": 3} if name == "svcca" else ({"k": 6} if "k" in al.PARAMS[name] else {})


def tied(seed, n, d):
    """Small-integer features: many duplicate rows and equal similarities, so k-NN lists end in tie-breaks."""
    return np.random.RandomState(seed).randint(1, 4, size=(n, d)).astype(float)


# ---- 1: permutations relabel the states, with the numbers of recomputation ----

@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("name", al.METRICS)
def test_single_pair_null_equals_recomputation(name, dtype):
    A, B = related(0, 70, 6, 5)
    cal = al.calibrate(A, B, name, n_perm=6, seed=4, dtype=dtype, **kw_of(name))
    want = [al.measure(name, A, B[al.permutation(70, 4 + p).numpy()], dtype=dtype, **kw_of(name)) for p in range(6)]
    if name in KNN:
        np.testing.assert_array_equal(cal.null, want)  # counts: bitwise
    else:
        np.testing.assert_allclose(cal.null, want, rtol=0, atol=1e-12 if dtype == F64 else 2e-6)


@pytest.mark.parametrize("name", [m for m in al.METRICS if m not in ("svcca", "rsa")])  # rsa: constant rows
def test_null_equals_recomputation_where_lists_end_in_tie_breaks(name):
    # duplicate rows: the samples tied at the k-th similarity are chosen by the lowest index, which a permutation
    # changes; the relabelled lists re-break those ties, bitwise as a recomputation does
    A, B = tied(1, 60, 3), tied(2, 60, 3)
    s, p, (_, tb), (_, wb) = _m.pair_setup(name, A, B, kw_of(name), F64, "t")
    if name in KNN or name == "cknna":
        state = s.feat(tb, p, wb)
        assert (state[0] if name == "cknna" else state).ties is not None  # the case under test occurs
    cal = al.calibrate(A, B, name, n_perm=8, seed=7, dtype=F64, **kw_of(name))
    want = [al.measure(name, A, B[al.permutation(60, 7 + p).numpy()], dtype=F64, **kw_of(name)) for p in range(8)]
    np.testing.assert_allclose(cal.null, want, rtol=0, atol=0 if name in KNN else 1e-12)


def test_relabel_without_re_breaking_ties_would_differ():
    # the tie records matter: dropping them (a pure relabelling) changes the null of tied data
    A, B = tied(3, 60, 3), tied(4, 60, 3)
    s, p, (ta, tb), (wa, wb) = _m.pair_setup("mutual_knn", A, B, {"k": 6}, F64, "t")
    sa, sb = s.stack([s.feat(ta, p, wa)]), s.feat(tb, p, wb)
    diffs = 0
    for q in range(8):
        perm = al.permutation(60, q)
        inv = torch.empty_like(perm).scatter_(0, perm, torch.arange(60))
        exact = s.pair(sa, _knn.relabel(sb, perm, inv))[0]
        naive = s.pair(sa, _knn.relabel(sb._replace(ties=None), perm, inv))[0]
        assert exact == al.mutual_knn(ta, tb[perm], k=6, dtype=F64)
        diffs += exact != naive
    assert diffs > 0


@pytest.mark.parametrize("name", al.METRICS)
def test_layer_stack_null_equals_recomputed_sweeps(name):
    rs = np.random.RandomState(5)
    A, B = related(6, 60, 7, 6)
    fa, fb = [A, A[:, :4] + rs.randn(60, 4)], [B, rs.randn(60, 5), B[:, :4] + 0.5 * rs.randn(60, 4)]
    cal = al.calibrate(fa, fb, name, n_perm=3, seed=2, dtype=F64, **kw_of(name))
    assert cal.null_scores.shape == (3, 2, 3)
    for p in range(3):
        perm = al.permutation(60, 2 + p).numpy()
        want = al.layerwise(fa, [b[perm] for b in fb], name, dtype=F64, **kw_of(name)).scores
        np.testing.assert_allclose(cal.null_scores[p], want, rtol=0, atol=0 if name in KNN else 1e-12)
        assert cal.null[p] == cal.null_scores[p].max()


def test_the_direct_map_and_the_row_search_find_the_same_intersection(monkeypatch):
    fa = [np.random.RandomState(i).randn(80, 6) for i in range(3)]
    fb = [np.random.RandomState(10 + i).randn(80, 5) for i in range(2)]
    fb[0][:, :3] += fa[1][:, :3]
    want = {m: al.calibrate(fa, fb, m, n_perm=3, dtype=F64) for m in ("mutual_knn", "cknna")}
    monkeypatch.setattr(_knn, "DENSE", 0)  # no N x N map: searchsorted in the union rows
    for m, w in want.items():
        got = al.calibrate(fa, fb, m, n_perm=3, dtype=F64)
        np.testing.assert_array_equal(got.null_scores, w.null_scores)
        np.testing.assert_array_equal(got.scores, w.scores)


@pytest.mark.parametrize("name", ["mutual_knn", "cknna"])
def test_permutations_scored_in_batches_equal_one_at_a_time(name, monkeypatch):
    rs = np.random.RandomState(25)
    A, B = related(26, 90, 6, 5)
    fa, fb = [A, rs.randn(90, 4)], [B, tied(27, 90, 3)]  # the second b layer has tie records
    batched = al.calibrate(fa, fb, name, n_perm=7, seed=1, dtype=F64)
    monkeypatch.setitem(_m._SPECS, name, _m._SPECS[name]._replace(batch=None))
    single = al.calibrate(fa, fb, name, n_perm=7, seed=1, dtype=F64)
    np.testing.assert_allclose(batched.null_scores, single.null_scores, rtol=0, atol=0 if name in KNN else 1e-15)


# ---- 2: the calibration of record ----

def record(score, null, alpha, smax):
    """Gröger et al. Alg. 1, written out from its definition."""
    K = len(null)
    p = (1 + sum(v >= score for v in null)) / (K + 1)
    r = math.ceil((1 - Fraction(str(alpha))) * (K + 1))
    tau = sorted([score, *null])[r - 1]
    cal = max(score - tau, 0.0) if smax is None else min(max((score - tau) / (smax - tau), 0.0), 1.0)
    return p, tau, cal


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.5])
@pytest.mark.parametrize("name", ["mutual_knn", "cka", "cknna"])
def test_p_value_threshold_and_calibrated_score_follow_their_definitions(name, alpha):
    A, B = related(7, 90, 6, 5, shared=1)
    cal = al.calibrate(A, B, name, n_perm=39, seed=1, alpha=alpha, dtype=F64)
    p, tau, c = record(cal.score, list(cal.null), alpha, None if name == "cknna" else 1.0)
    assert (cal.p_value, cal.threshold) == (p, tau)
    assert cal.calibrated_score == pytest.approx(c, abs=1e-15)
    assert cal.alpha == alpha and cal.smax == (None if name == "cknna" else 1.0)
    assert cal.above_null_mean == cal.score - cal.null_mean


def test_a_strong_score_is_significant_and_calibrated_and_chance_is_not():
    A, B = related(8, 120, 6, 6, shared=4)
    strong = al.calibrate(A, B, "mutual_knn", n_perm=99, k=5)
    assert strong.p_value == 0.01 and strong.score > strong.null.max()
    assert strong.threshold == np.sort(strong.null)[94]  # r = ceil(0.95 * 100) = 95: the 95th of 100 values
    assert strong.calibrated_score == pytest.approx((strong.score - strong.threshold) / (1 - strong.threshold))
    C = np.random.RandomState(9).randn(120, 6)
    none = al.calibrate(A, C, "mutual_knn", n_perm=99, k=5)
    assert none.p_value > 0.05 and none.calibrated_score == 0.0


def test_fewer_permutations_than_the_level_allows_give_zero():
    # r = ceil(0.95 * 11) = 11: tau is the largest of {score} U null, so nothing lies above it
    A, B = related(10, 100, 5, 5, shared=5)
    cal = al.calibrate(A, B, "cka", n_perm=10)
    assert cal.threshold == cal.score and cal.calibrated_score == 0.0 and cal.p_value == 1 / 11


def test_one_permutation_is_allowed_and_nan_free():
    A, B = related(11, 80, 5, 5)
    cal = al.calibrate(A, B, "cka", n_perm=1, seed=3)
    assert cal.null_std == 0.0 and cal.null_mean == cal.null[0]
    assert cal.z == math.inf and cal.p_value == 0.5 and cal.threshold == cal.score
    same = al.calibrate(A, np.eye(80), "cka", n_perm=1)  # a null with no spread, equal to the score within rounding
    assert same.z == 0.0 and same.p_value == 1.0 and same.calibrated_score == 0.0
    assert not any(math.isnan(v) for v in (cal.z, cal.null_std, cal.p_value, cal.calibrated_score))


def test_mean_aggregate_uses_the_same_aggregate_for_the_null():
    fa = [np.random.RandomState(i).randn(70, 5) for i in range(3)]
    fb = [fa[0] + 0.5 * np.random.RandomState(9).randn(70, 5), np.random.RandomState(8).randn(70, 4)]
    mx = al.calibrate(fa, fb, "cka", n_perm=5, seed=1)
    mean = al.calibrate(fa, fb, "cka", n_perm=5, seed=1, aggregate="mean")
    np.testing.assert_array_equal(mean.null_scores, mx.null_scores)
    assert mean.score == mx.scores.mean() and mean.aggregate == "mean"
    np.testing.assert_allclose(mean.null, mx.null_scores.mean((1, 2)), rtol=0, atol=0)
    assert mean.best_layers == mx.best_layers == (0, 0) and mean.null_mean < mx.null_mean


def test_calibrated_is_a_deprecated_alias_of_above_null_mean():
    A, B = related(12, 60, 4, 4)
    cal = al.calibrate(A, B, "mutual_knn", n_perm=4, k=5)
    with pytest.warns(DeprecationWarning, match="above_null_mean"):
        assert cal.calibrated == cal.above_null_mean == cal.score - cal.null_mean


# ---- 2: agreement with the calibrated-similarity package on the same permutations ----

@pytest.mark.parametrize("alpha", [0.05, 0.2])
@pytest.mark.parametrize("name", ["mutual_knn", "cka", "cknna"])
def test_single_pair_agrees_with_calibrated_similarity(name, alpha):
    cs = pytest.importorskip("calibrated_similarity")
    A, B = (torch.tensor(x) for x in related(13, 80, 6, 5, shared=1))
    smax = None if name == "cknna" else 1.0
    ours = al.calibrate(A, B, name, n_perm=19, seed=5, alpha=alpha, dtype=F64)
    scal, p, tau = cs.calibrate(A, B, lambda X, Y: al.measure(name, X, Y, dtype=F64), K=19, alpha=alpha, smax=smax,
                                perm_fn=counter(5))
    assert 0 < ours.calibrated_score < 1
    assert ours.p_value == pytest.approx(p.item(), abs=1e-7)
    assert ours.threshold == pytest.approx(tau.item(), abs=1e-7)  # the package works in float32
    assert ours.calibrated_score == pytest.approx(scal.item(), abs=1e-6)


@pytest.mark.parametrize("name", ["mutual_knn", "cka", "cknna"])
def test_layer_stack_max_agrees_with_calibrated_similarity(name):
    cs = pytest.importorskip("calibrated_similarity")
    rs = np.random.RandomState(14)
    A, B = related(15, 80, 6, 5, shared=3)
    fa, fb = [A, rs.randn(80, 5), A[:, :3] + rs.randn(80, 3)], [B, rs.randn(80, 4)]
    ours = al.calibrate(fa, fb, name, n_perm=19, seed=2, dtype=F64)
    prep = [[al.prepare(x, normalize=name not in KNN, dtype=F64) for x in f] for f in (fa, fb)]
    scal, p, tau = cs.calibrate_layers(*prep, lambda X, Y: al.measure(name, X, Y, dtype=F64), agg="max", K=19,
                                       alpha=0.05, smax=None if name == "cknna" else 1.0, perm_fn=counter(2))
    assert 0 < ours.calibrated_score < 1
    assert ours.p_value == pytest.approx(p.item(), abs=1e-7)
    assert ours.threshold == pytest.approx(tau.item(), abs=1e-7)
    assert ours.calibrated_score == pytest.approx(scal.item(), abs=1e-6)


# ---- 3: resampling interval ----

def test_bootstrap_replicates_are_the_metric_on_subsampled_rows():
    A, B = related(16, 120, 6, 5)
    bs = al.bootstrap(A, B, "cknna", n_boot=12, seed=3, k=5)
    assert bs.m == 60 and bs.estimate == al.cknna(A, B, k=5)
    for b in range(12):
        rows = al.subsample(120, 60, 3 + b).numpy()
        assert len(np.unique(rows)) == 60 and np.all(np.diff(rows) > 0)  # no duplicate, in order
        assert bs.replicates[b] == al.cknna(A[rows], B[rows], k=5)
    d = (bs.replicates - bs.replicates.mean()) * math.sqrt(60 / 60)
    assert (bs.low, bs.high) == tuple(bs.estimate + np.quantile(d, [0.025, 0.975]))
    again = al.bootstrap(A, B, "cknna", n_boot=12, seed=3, k=5)
    np.testing.assert_array_equal(again.replicates, bs.replicates)
    assert (again.low, again.high) == (bs.low, bs.high)


def test_bootstrap_interval_scales_with_the_fraction():
    A, B = related(17, 100, 6, 5)
    bs = al.bootstrap(A, B, "cka", n_boot=30, frac=0.8, ci=0.9)
    d = (bs.replicates - bs.replicates.mean()) * math.sqrt(80 / 20)
    np.testing.assert_allclose([bs.low, bs.high], bs.estimate + np.quantile(d, [0.05, 0.95]), rtol=0, atol=1e-15)


def test_bootstrap_of_layer_stacks_is_the_best_pair():
    rs = np.random.RandomState(18)
    A, B = related(19, 80, 6, 5)
    fa, fb = [A, rs.randn(80, 4)], [rs.randn(80, 5), B]
    bs = al.bootstrap(fa, fb, "mutual_knn", n_boot=4, seed=1, k=5)
    res = al.layerwise(fa, fb, "mutual_knn", k=5)
    assert bs.estimate == res.best_score and bs.best_layers == res.best_layers == (0, 1)
    for b in range(4):
        rows = al.subsample(80, 40, 1 + b).numpy()
        assert bs.replicates[b] == al.layerwise([x[rows] for x in fa], [x[rows] for x in fb], "mutual_knn",
                                                k=5).best_score


def test_subsampled_knn_replicates_are_not_inflated_by_duplicates():
    # unrelated data: each replicate sits at the chance level of its size, k / (m - 1); with replacement, a
    # duplicated row would be its copy's nearest neighbour in both inputs and lift every replicate far above it
    rs = np.random.RandomState(20)
    A, B = rs.randn(400, 8), rs.randn(400, 8)
    bs = al.bootstrap(A, B, "mutual_knn", n_boot=40, k=10)
    assert abs(bs.replicates.mean() - 10 / 199) < 0.006
    rows = np.sort(rs.randint(0, 400, 400))  # the textbook bootstrap: N rows drawn with replacement
    assert al.mutual_knn(A[rows], B[rows], k=10) > 10 / 399 + 0.05  # measured: 0.12 against a chance of 0.025


def test_half_sampling_spread_matches_the_spread_over_independent_samples():
    def draw(seed):
        return related(seed, 200, 8, 8, shared=4)
    across = np.std([al.mutual_knn(*draw(100 + s), k=10) for s in range(40)], ddof=1)
    bs = al.bootstrap(*draw(99), "mutual_knn", n_boot=200, k=10)
    within = np.std(bs.replicates, ddof=1)  # m = N/2: the factor sqrt(m / (N - m)) is 1
    assert 0.6 < within / across < 1.6
    assert bs.low < bs.estimate < bs.high


# ---- 4: chance levels ----

def test_mutual_knn_chance_is_exact_over_all_permutations():
    rs = np.random.RandomState(21)
    A, B = rs.randn(5, 3), rs.randn(5, 3)
    for k in (1, 2, 3):
        total = sum(Fraction(round(al.mutual_knn(A, B[list(p)], k=k, dtype=F64) * 5 * k), 5 * k)
                    for p in permutations(range(5)))
        assert total / 120 == Fraction(k, 4) and al.mutual_knn_chance(5, k) == k / 4


def test_chance_by_permutation_matches_k_over_n_minus_1():
    A, B = related(22, 150, 6, 6)
    for k in (3, 10):
        sims = al.chance(A, B, "mutual_knn", n_perm=400, k=k)
        per_perm_sd = math.sqrt(k / 149 / k / 150)  # about binomial(N k, k / (N-1)) / (N k)
        assert abs(sims - al.mutual_knn_chance(150, k)) < 5 * per_perm_sd / math.sqrt(400) + 1e-3


def test_chance_is_calibrates_null_mean_and_per_pair_for_stacks():
    A, B = related(23, 70, 5, 5)
    assert al.chance(A, B, "cka", n_perm=7, seed=2) == pytest.approx(
        al.calibrate(A, B, "cka", n_perm=7, seed=2).null_mean, abs=1e-15)
    fa, fb = [A, B], [B[:, :3], A]
    per_pair = al.chance(fa, fb, "cknna", n_perm=5, k=5)
    cal = al.calibrate(fa, fb, "cknna", n_perm=5, k=5)
    np.testing.assert_array_equal(per_pair, cal.null_scores.mean(0))
    assert cal.null_mean >= per_pair.max() - 1e-12  # the best pair's chance level is inflated


# ---- bad input: one clear error naming the parameter ----

def test_bad_calibration_parameters():
    A, B = related(24, 50, 4, 4)
    raises(ValueError, "The 'n_perm' parameter of calibrate must be in [1, 2^31]. Got 0 instead.",
           al.calibrate, A, B, n_perm=0)
    for alpha in (0, 1, 1.5, -0.1):
        raises(ValueError, f"The 'alpha' parameter of calibrate must be in (0, 1). Got {float(alpha)} instead.",
               al.calibrate, A, B, alpha=alpha)
    raises(ValueError, "The 'aggregate' parameter of calibrate must be one of max, mean. Got 'median' instead.",
           al.calibrate, [A], [B], aggregate="median")
    raises(ValueError, "The 'n_perm' parameter of chance must be in [1, 2^31]. Got -2 instead.",
           al.chance, A, B, n_perm=-2)
    raises(ValueError, "The 'k' parameter of mutual_knn_chance must be in [1, N-1] with N=10. Got 10 instead.",
           al.mutual_knn_chance, 10, 10)
    raises(ValueError, "The 'n_boot' parameter of bootstrap must be in [1, 2^31]. Got 0 instead.",
           al.bootstrap, A, B, n_boot=0)
    for ci in (0, 1, 2):
        raises(ValueError, f"The 'ci' parameter of bootstrap must be in (0, 1). Got {float(ci)} instead.",
               al.bootstrap, A, B, ci=ci)
    raises(ValueError, "The 'aggregate' parameter of bootstrap must be one of max, mean. Got 'min' instead.",
           al.bootstrap, A, B, aggregate="min")
    raises(ValueError, "The 'frac' parameter of bootstrap must leave m = round(frac N) rows with 11 <= m < N = 50 "
                       "(each replicate must define mutual_knn with k=10). Got 0.1 (m = 5) instead.",
           al.bootstrap, A, B, frac=0.1)
    raises(TypeError, "The 'alpha' parameter of calibrate must be a real number. Got '0.05' (str) instead.",
           al.calibrate, A, B, alpha="0.05")
