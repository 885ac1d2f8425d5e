"""The `metric_validity` benchmark: its ground truth (exact, and sqrt(chi2_X / chi2_Z) for deterministic maps), the
exact optimal embeddings it samples, the consistency of linear CKA with the truth, and the experiment end to end
(tiny here; the full N ladder is slow)."""
import json

import numpy as np
import pytest
import torch

import alignment
import worlds
from learners.experiments._common import pmi_cosine
from learners.experiments.metric_validity import spectral_embedding, true_alignment
from platonic_core import experiment


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def product():
    """Two lazy 6-rings, N = 36, W = 4."""
    r = worlds.make_world("ring", n_states=6)
    w = worlds.product_world(r, r)
    return w.cooccurrence(4), w.pmi(4)


OBSERVATIONS = [lambda: worlds.Merge(np.arange(36) // 3), lambda: worlds.DropFactor((6, 6), drop=1),
                lambda: worlds.NoisyChannel(0.3, 36), lambda: worlds.Permutation(36, seed=2)]


def test_the_truth_is_the_lossy_prediction_for_deterministic_maps(product):
    P, K = product
    p = P.sum(1)
    for make in OBSERVATIONS:
        o = make()
        PX = o.pushforward(P, 4)
        truth = true_alignment(P, PX, o.matrix)
        pulled_back = pmi_cosine(K, p, worlds.pmi_kernel(PX), o.matrix, PX.sum(1))
        if o.deterministic:
            assert truth == pytest.approx(worlds.predicted_lossy_alignment(P, PX), abs=1e-12)
            assert truth == pytest.approx(pulled_back, abs=1e-12)
        else:  # the channel's noise also decorrelates the samples' kernels, which the pull-back averages away
            assert truth < pulled_back - 0.3
    assert true_alignment(P, P, np.eye(36)) == pytest.approx(1.0, abs=1e-12)


def test_spectral_embedding_and_cka_consistency(product):
    """The spectral embedding's Gram is exp(K_PMI); linear CKA of 3000 sampled embeddings is within sampling error
    of the truth (noisy channels included)."""
    P, K = product
    p = P.sum(1)
    F = spectral_embedding(P)
    assert np.abs(F @ F.T - np.exp(K)).max() < 1e-10
    for make in OBSERVATIONS[:3]:
        o = make()
        PX = o.pushforward(P, 4)
        FX = spectral_embedding(PX)
        truth = true_alignment(P, PX, o.matrix)
        z = np.random.default_rng(0).choice(36, size=3000, p=p)
        x = o.observe(z, seed=1)
        assert alignment.cka(F[z], FX[x], dtype=torch.float64) == pytest.approx(truth, abs=0.02)
        assert alignment.unbiased_cka(F[z], FX[x], dtype=torch.float64) == pytest.approx(truth, abs=0.02)


TINY = {"factor_states": 4, "merges": [2, 4], "noise": [0.3], "n_samples": [40, 400], "ks": [5], "repeats": 1,
        "n_perm": 2}


def test_experiment_tiny_numbers(tmp_path):
    res = experiment.run("metric_validity", tmp_path, quiet=True, **TINY)
    truths = {t["observation"]: t["truth"] for t in res["truths"]}
    assert list(truths) == ["bijective", "merge2", "merge4", "shape_only", "colour_only", "noisy0.3"]
    assert truths["bijective"] == pytest.approx(1.0) and truths["merge4"] == pytest.approx(truths["shape_only"])
    rows = {(a["metric"], a["n_samples"]): a for a in res["agreement"]}
    assert {m for m, _ in rows} == set(alignment.METRICS)
    assert rows["unbiased_cka", 400]["mean_abs_error"] < 0.03
    assert rows["cka", 400]["mean_abs_error"] < rows["cka", 40]["mean_abs_error"]  # its bias shrinks with N
    assert rows["unbiased_cka", 400]["spearman"] > 0.9
    scored = [s for s in res["scores"] if s["metric"] == "cka" and s["observation"] == "bijective"]
    assert all(s["score"] == pytest.approx(1.0, abs=1e-5) and np.isfinite(s["null_mean"]) for s in scored)
    assert all(s["z"] == "not calibrated" for s in scored if s["n_samples"] == 40)  # 2 permutations < 19
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["results"]["distinct_states"]["40"] <= 16
    # 400 draws of 16 states: every row's k = 5 nearest are among its duplicates, tied at cosine 1 (recorded)
    assert data["results"]["knn_ties"]["400"] == 1.0
    assert all(s["knn_ties"] == 0.0 for s in res["scores"] if s["metric"] in ("cka", "svcca"))


@pytest.mark.slow
def test_full_ladder(tmp_path):
    """N from 1e2 to 3e3 and three k (about 10 minutes on 2 cores; 1e4 takes ~15 more, and 1e5 samples need ~40 GB
    per Gram matrix, a GPU: --set device=cuda): CKA's error shrinks with N, unbiased CKA ranks the observations as
    the truth does."""
    res = experiment.run("metric_validity", tmp_path, quiet=True, n_samples=[100, 1000, 3000], ks=[5, 10, 50],
                         repeats=1)
    rows = {(a["metric"], a["n_samples"], a["k"]): a for a in res["agreement"]}
    assert rows["cka", 3000, None]["mean_abs_error"] < rows["cka", 100, None]["mean_abs_error"]
    assert rows["cka", 3000, None]["spearman"] > 0.95
    assert rows["unbiased_cka", 3000, None]["spearman"] > 0.98
    assert (tmp_path / "metric_validity_k.png").exists()
