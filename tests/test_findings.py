"""docs/FINDINGS.md: one test per finding of the simulator, asserting its direction (and its control) at small
scale. Each section of FINDINGS.md names the test that backs it."""
import itertools
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import alignment
import worlds
from learners import fit
from learners.experiments._common import pmi_cosine, recorded_ties, tie_fraction
from learners.experiments.objectives import _p_centred, relation
from learners.multitask import factor_world, fit_multitask, whiten
from learners.objectives import target
from learners.population import population_optimum
from learners.report import compare
from worlds.truth import stitching_loss

F64 = {"dtype": torch.float64}
FAST = dict(window=16, max_steps=300, batch_size=128)


@pytest.fixture(scope="module")
def generic():
    """A 16-state weighted ring (no symmetry, so no exact ties) at W = 16, where K_PMI is PSD-able."""
    w = worlds.make_world("weighted_ring", n_states=16)
    return w, w.pmi(16)


def pearson(a, b):
    off = ~np.eye(len(a), dtype=bool)
    return float(np.corrcoef(a[off], b[off])[0, 1])


def shuffled(K, seed=0):
    """K with its states relabelled at random: the same values, the wrong world (the null control)."""
    perm = np.random.default_rng(seed).permutation(len(K))
    return K[np.ix_(perm, perm)]


def cka64(a, b):
    return alignment.cka(a, b, **F64)


def test_convergence_bijective_learners_reach_pmi_and_each_other(generic):
    """Two modalities (a table on a relabelling, an MLP on vector codes) each reach K_PMI and each other; against a
    state-shuffled K_PMI (same values, wrong world) they do not."""
    w, K = generic
    a = fit(w, worlds.Permutation(16, seed=1), dim=16, **FAST).state_kernel
    b = fit(w, worlds.VectorCode(16, seed=2), dim=16, lr=0.003, **FAST).state_kernel
    for learned in (a, b):
        assert pearson(learned, K) > 0.97
        assert pearson(learned, shuffled(K)) < 0.5
    assert pearson(a, b) > 0.95 and pearson(a, shuffled(b)) < 0.5


def test_lossy_alignment_falls_with_merge_size_and_tracks_chi2():
    """On a 4 x 4 product world, learners on merged colours are further from the bijective learner the more they
    merge, in the order and within 0.08 of sqrt(chi2_X / chi2_Z); the exact cosine is that prediction."""
    w = worlds.make_world("product", first_kw={"n_states": 4}, second_kw={"n_states": 4})
    W, N = 16, 16
    P, K, pi = w.cooccurrence(W), w.pmi(W), w.stationary
    ref = fit(w, worlds.Permutation(N, seed=1), dim=N, **FAST)
    got = {}
    for m in (2, 4):
        o = worlds.Merge(np.arange(N) // m)
        PX = o.pushforward(P, W)
        qx = PX.sum(1)
        r = fit(w, o, dim=o.n_obs, **FAST)
        predicted = worlds.predicted_lossy_alignment(P, PX)
        assert pmi_cosine(K, pi, worlds.pmi_kernel(PX), o.matrix, qx) == pytest.approx(predicted, abs=1e-9)
        got[m] = predicted, pmi_cosine(ref.state_kernel, pi, r.kernel, o.matrix, qx)
    assert 1 > got[2][0] > got[4][0] + 0.1
    assert got[2][1] > got[4][1]
    for predicted, measured in got.values():  # 300 steps: a little short of the population value, never above it
        assert predicted - 0.08 < measured < predicted + 0.01, got


def test_capacity_alignment_with_pmi_rises_with_rank(generic):
    """The rank-dim population optimum's Pearson with K_PMI rises with dim and its loss gap falls to 0 at full rank."""
    w, K = generic
    P = w.cooccurrence(16)
    opts = [population_optimum(P, "infonce", d, seed=0) for d in (1, 4, 16)]
    r = [pearson(o.kernel, K) for o in opts]
    gaps = [o.gap for o in opts]
    assert r == sorted(r) and r[0] < 0.8 and r[-1] > 0.9999
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-6 < gaps[0]


def test_data_learner_beats_plugin_on_a_small_pool(generic):
    """On a finite pool of 2000 pairs the full-rank learner's error is below the plug-in PMI's on the same pairs."""
    w, K = generic
    o = worlds.Permutation(16, seed=1)
    r = fit(w, o, dim=16, data="pairs", n_pairs=2000, **FAST)
    plug = worlds.plugin_pmi(r.pairs, 16)[np.ix_(o.perm, o.perm)]
    seen = np.where(np.isfinite(plug), r.state_kernel, -np.inf)  # both on the plug-in's finite entries
    learned, plugin = compare(seen, K)["rel_error"], compare(plug, K)["rel_error"]
    assert learned < 0.9 * plugin, (learned, plugin)


def test_objectives_gauge_verdicts(generic):
    """infonce and nce optima are affinely related (p-centred Pearson 1); spectral (exp K_PMI) has the same neighbour
    order, so raw-kernel k-NN calls it aligned (1.0), but it is another kernel (p-centred Pearson < 0.99)."""
    w, K = generic
    P = w.cooccurrence(16)
    p = w.stationary
    info, nce, spec = (target(P, name, 16) for name in ("infonce", "nce", "spectral"))
    assert relation(info, nce, p) == "affine"
    assert pearson(_p_centred(info, p), _p_centred(nce, p)) > 1 - 1e-9
    assert relation(info, spec, p) == "row order"
    assert alignment.measure_kernels("mutual_knn", info, spec, k=4, **F64) == 1.0
    assert pearson(_p_centred(info, p), _p_centred(spec, p)) < 0.99


def test_metric_validity_truth_and_tie_control(generic):
    """The metric-neutral truth: stitching loss 0 for a gauge copy F M + t, positive for a merge; CKA scores the gauge
    copy below 1 (why it cannot separate gauge pairs); draws that repeat states tie the k-NN lists, distinct ones do
    not."""
    w, K = generic
    p = w.stationary
    F = population_optimum(w.cooccurrence(16), "infonce", 8, seed=0).embeddings
    rng = np.random.default_rng(0)
    G = F @ rng.standard_normal((8, 8)) + rng.standard_normal(8)
    merged = worlds.Merge(np.arange(16) // 4).matrix
    lossy = merged @ (merged.T @ (p[:, None] * F) / (merged.T @ p)[:, None])  # each state: its class's mean
    assert stitching_loss(F, G, p) < 1e-12 and stitching_loss(G, F, p) < 1e-12
    assert stitching_loss(lossy, F, p) > 0.05
    assert cka64(F, G) < 0.99
    draws = rng.choice(16, size=100, p=p)
    with recorded_ties() as got:
        alignment.mutual_knn(F[draws], G[draws], k=10, **F64)
    assert tie_fraction(got) > 0.5
    with recorded_ties() as got:
        alignment.mutual_knn(F, G, k=4, **F64)
    assert tie_fraction(got) == 0.0


def test_multitask_tasks_fix_a_span_and_a_ridge_does_it_at_one_task():
    """Three lazy 3-rings (N = 27), rank 7: whitened CKA between seeds rises with the tasks; with no ridge raw CKA
    between seeds at 1 task is below 0.99, with a ridge of 1e-4 the seeds agree (raw CKA > 0.999)."""
    world, labels = factor_world(3, 3)
    P = world.cooccurrence(3)
    p = P.sum(1)

    def seeds(n, ridge=0.0):
        fits = [fit_multitask(P, labels, list(range(n)), 7, seed=s, ridge=ridge) for s in range(3)]
        pairs = list(itertools.combinations([f.embeddings for f in fits], 2))
        return (np.mean([cka64(whiten(a, p), whiten(b, p)) for a, b in pairs]),
                np.mean([cka64(a, b) for a, b in pairs]))

    white = [seeds(n)[0] for n in (1, 2, 3)]
    assert white[0] < white[1] < white[2]
    assert seeds(1)[1] < 0.99 < 0.999 < seeds(1, ridge=1e-4)[1]


def test_ties_decide_knn_on_the_symmetric_torus_not_on_the_weighted_one():
    """Symmetric torus: at k = 10 every row ties and 1e-9 of noise moves mutual k-NN from 1.000 to 0.894; on the
    weighted torus nothing ties and the same noise leaves it at 1.000."""
    noise = 1e-9 * np.random.default_rng(0).standard_normal((64, 64))
    K = worlds.make_world("torus").pmi(16)
    with recorded_ties() as got:
        assert alignment.measure_kernels("mutual_knn", K, np.exp(K), k=10, **F64) == 1.0
        moved = alignment.measure_kernels("mutual_knn", K, K + noise, k=10, **F64)
    assert tie_fraction(got) == 1.0 and moved == pytest.approx(0.894, abs=5e-4)
    L = worlds.make_world("weighted_torus").pmi(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", alignment.TieWarning)
        assert alignment.measure_kernels("mutual_knn", L, L + noise, k=10, **F64) == 1.0


def test_psd_one_negative_eigenvalue_and_the_least_shift():
    """The torus K_PMI at W = 16 is not PSD, has exactly one negative eigenvalue, and C* = min_shift is the least
    shift: K + C* 11^T is PSD (to rounding) and K + 0.99 C* 11^T is not."""
    K = worlds.make_world("torus").pmi(16)
    c = worlds.min_shift(K)
    ones = np.ones((64, 64))
    assert (np.linalg.eigvalsh(K) < 0).sum() == 1 and c > 0
    assert np.linalg.eigvalsh(K + c * ones).min() > -1e-9 * np.abs(K).max()
    assert np.linalg.eigvalsh(K + 0.99 * c * ones).min() < -1e-6


def test_findings_md_names_each_test_of_this_file():
    """Every section of docs/FINDINGS.md names a test of this file, and every finding test is named there."""
    here = Path(__file__)
    named = set(re.findall(r"`(test_\w+)`", (here.parents[1] / "docs" / "FINDINGS.md").read_text()))
    defined = set(re.findall(r"^def (test_\w+)", here.read_text(), re.M))
    assert named == defined - {"test_findings_md_names_each_test_of_this_file"}
