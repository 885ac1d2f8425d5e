"""learners: losses against hand computation, their optima, the exact population optimum, the comparison report,
the data order, short training, DDP, resume and bad input."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from scipy.optimize import check_grad

import worlds
from learners import (
    PairDataModule,
    binary_nce,
    compare,
    fit,
    info_nce,
    info_nce_negatives,
    make_encoder,
    population_loss,
    population_optimum,
)
from learners.data import PairBatches, PoolSource

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small():
    """Lazy torus 4 x 4 with teleport, W = 4: PSD-able (C* = 0.726), K_PMI finite."""
    w = worlds.make_world("torus", side=4)
    return w, 4


def logsig(x):
    return -math.log1p(math.exp(-x))


def offdiag_pearson(k, t):
    m = ~np.eye(len(t), dtype=bool)
    return np.corrcoef(k[m], t[m])[0, 1]


# --- losses ------------------------------------------------------------------------------------------------------

def test_binary_nce_matches_hand_computation():
    pos, neg = torch.tensor([0.5, -1.0]), torch.tensor([[2.0, 0.0, -0.5]])
    p = 0.3
    want = -p * (logsig(0.5) + logsig(-1.0)) / 2 - (1 - p) * (logsig(-2.0) + logsig(0.0) + logsig(0.5)) / 3
    assert binary_nce(pos, neg, p).item() == pytest.approx(want, rel=1e-6)
    b = torch.tensor(0.7)
    want_b = -p * (logsig(1.2) + logsig(-0.3)) / 2 - (1 - p) * (logsig(-2.7) + logsig(-0.7) + logsig(-0.2)) / 3
    assert binary_nce(pos, neg, p, bias=b).item() == pytest.approx(want_b, rel=1e-6)


def test_info_nce_matches_hand_computation():
    g = torch.tensor([[1.0, 0.2, -0.3], [0.4, 2.0, 0.1], [-1.0, 0.5, 0.3]])
    rows = [-(g[i, i] - torch.logsumexp(g[i], 0)).item() for i in range(3)]
    cols = [-(g[i, i] - torch.logsumexp(g[:, i], 0)).item() for i in range(3)]
    assert info_nce(g).item() == pytest.approx(np.mean(rows), rel=1e-6)
    assert info_nce(g, symmetric=True).item() == pytest.approx((np.mean(rows) + np.mean(cols)) / 2, rel=1e-6)
    assert info_nce(g, tau=0.5).item() == pytest.approx(info_nce(2 * g).item(), rel=1e-6)
    # explicit negatives: row i of the in-batch matrix is a positive and B - 1 negatives
    pos = g.diagonal()
    neg = torch.stack([torch.cat([g[i, :i], g[i, i + 1:]]) for i in range(3)])
    assert info_nce_negatives(pos, neg).item() == pytest.approx(info_nce(g).item(), rel=1e-6)
    want = -(1.0 - math.log(math.exp(1.0) + math.exp(0.2)))
    assert info_nce_negatives(torch.tensor([1.0]), torch.tensor([[0.2]])).item() == pytest.approx(want, rel=1e-6)


def _rational_joint():
    counts = np.array([[6, 2, 1], [2, 4, 1], [1, 1, 2]])  # sums to 20; pi * 20 = (9, 7, 4)
    return counts, counts / counts.sum()


def test_binary_nce_on_enumerated_pairs_equals_population_loss():
    counts, P = _rational_joint()
    pi20 = counts.sum(1)
    g = np.random.default_rng(0).standard_normal((3, 3))
    pos = [g[a, b] for a in range(3) for b in range(3) for _ in range(counts[a, b])]
    neg = [g[a, b] for a in range(3) for b in range(3) for _ in range(pi20[a] * pi20[b])]
    torch_value = binary_nce(torch.tensor(pos, dtype=torch.float64), torch.tensor(neg, dtype=torch.float64), 0.3)
    assert torch_value.item() == pytest.approx(population_loss(g, P, "nce", 0.3)[0], rel=1e-12)


def test_infonce_with_one_negative_is_minimised_by_pmi_plus_row_constant():
    """Finite K = 1: minimise the exact expected loss over a free logit table; g - K_PMI is constant per row."""
    counts, P = _rational_joint()
    pi20 = counts.sum(1)
    triples = np.array([(a, b, c) for a in range(3) for b in range(3) for c in range(3)
                        for _ in range(counts[a, b] * pi20[c])])
    g = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([g], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = info_nce_negatives(g[triples[:, 0], triples[:, 1]], g[triples[:, 0], triples[:, 2]][:, None])
        loss.backward()
        return loss

    opt.step(closure)
    K = np.log(P) - np.log(P.sum(1))[:, None] - np.log(P.sum(0))[None, :]
    d = g.detach().numpy() - K
    assert np.ptp(d, axis=1).max() < 1e-5


def test_population_loss_gradient_and_optimum():
    w, W = worlds.make_world("torus", side=3), 2
    P = w.cooccurrence(W)
    K = w.pmi(W)
    g0 = np.random.default_rng(1).standard_normal(P.shape)
    for loss, p in (("nce", 0.5), ("nce", 0.8), ("infonce", 0.5)):
        f = lambda x: population_loss(x.reshape(P.shape), P, loss, p)[0]  # noqa: E731
        df = lambda x: population_loss(x.reshape(P.shape), P, loss, p)[1].ravel()  # noqa: E731
        assert check_grad(f, df, g0.ravel()) < 1e-6
        g_star = K + (math.log(p / (1 - p)) if loss == "nce" else 0.0)
        assert np.abs(population_loss(g_star, P, loss, p)[1]).max() < 1e-12
    # InfoNCE: invariant to a per-row constant, minimum -I(X; X')
    c = np.random.default_rng(2).standard_normal((len(K), 1))
    v0, v1 = population_loss(K, P, "infonce")[0], population_loss(K + c, P, "infonce")[0]
    assert v0 == pytest.approx(v1, abs=1e-12)
    assert v0 == pytest.approx(-worlds.mutual_information(P), abs=1e-12)


# --- the population optimum --------------------------------------------------------------------------------------

def test_population_optimum_recovers_pmi_at_full_rank(small):
    w, W = small
    P, K = w.cooccurrence(W), w.pmi(W)
    assert np.isfinite(worlds.min_shift(K))
    for kw in ({"loss": "infonce"}, {"loss": "nce", "learn_bias": True}, {"loss": "nce", "p_pos": 0.9}):
        opt = population_optimum(P, dim=len(K), **kw)
        assert opt.converged
        assert offdiag_pearson(opt.kernel, K) > 0.99999, kw
        assert np.corrcoef(opt.kernel.ravel(), K.ravel())[0, 1] > 0.99999, kw
        assert opt.gap < 1e-8, kw
    # log(0.9 / 0.1) > C*: no bias needed, and the kernel is K_PMI + log 9 itself, not just up to a constant
    opt = population_optimum(P, "nce", p_pos=0.9)
    assert np.abs(opt.kernel - K - math.log(9)).max() < 1e-3
    # with a learnable bias the kernel is K + c, c >= C*, and bias = -c
    opt = population_optimum(P, "nce", learn_bias=True)
    c = opt.kernel - K
    assert np.ptp(c) < 1e-3 and c.mean() >= worlds.min_shift(K) - 1e-3
    assert opt.bias == pytest.approx(-c.mean(), abs=1e-3)


def test_binary_nce_without_bias_at_half_is_not_exact(small):
    """p = 0.5 asks for g = K_PMI itself, which has a negative eigenvalue: no Gram matrix reaches it."""
    w, W = small
    P, K = w.cooccurrence(W), w.pmi(W)
    assert np.linalg.eigvalsh(K)[0] < -1
    opt = population_optimum(P, "nce", p_pos=0.5)
    assert opt.converged
    assert opt.gap > 1e-3
    assert offdiag_pearson(opt.kernel, K) < 0.999
    assert np.linalg.eigvalsh(opt.kernel)[0] > -1e-8


def test_population_optimum_gap_on_non_psd_able_world_and_low_rank():
    w, W = worlds.make_world("ring", n_states=12), 3
    P, K = w.cooccurrence(W), w.pmi(W)
    assert not np.isfinite(worlds.min_shift(K))
    gaps = [population_optimum(P, "infonce", dim=d).gap for d in (2, 4, 12)]
    assert gaps[2] > 1e-5  # not PSD-able: even full rank misses the bound
    assert gaps[0] > gaps[1] > gaps[2]


# --- the comparison report ---------------------------------------------------------------------------------------

def test_compare_affine_and_offset():
    t = np.random.default_rng(0).standard_normal((6, 6))
    t = t + t.T
    out = compare(2 * t + 3, t)
    assert out["pearson_offdiag"] == pytest.approx(1.0) and out["spearman_all"] == pytest.approx(1.0)
    assert out["rel_error"] < 1e-12 and out["scale"] == pytest.approx(0.5)
    assert out["rel_error_offset"] == pytest.approx(1.0, rel=1e-9)  # k - t = t + 3: all of t's spread is error
    noisy = t + 0.1 * np.random.default_rng(1).standard_normal((6, 6))
    out = compare(noisy, t)
    assert 0 < out["rel_error"] < 0.1 and out["pearson_all"] == pytest.approx(math.sqrt(1 - out["rel_error"] ** 2))
    holes = t.copy()
    holes[0, 1] = -np.inf
    assert compare(holes, t)["coverage"] == pytest.approx(35 / 36)


# --- data --------------------------------------------------------------------------------------------------------

def test_pool_epochs_cover_every_pair_once_across_ranks():
    pairs = np.stack([np.arange(12), np.arange(12)[::-1]], axis=1)
    src = PoolSource(pairs, seed=3)
    seen = []
    for step in range(2):
        for rank in range(2):
            b = src.batch(np.random.default_rng(0), step, rank, 2, 3, 0)
            seen += b["a"].tolist()
    assert sorted(seen) == list(range(12))


def test_batches_depend_only_on_seed_step_rank(small):
    w, W = small
    dm = PairDataModule(w, worlds.Permutation(16), W, batch_size=64, negatives=4)
    it = iter(PairBatches(dm.source, 32, 4, seed=0, rank=1, world_size=2, start_step=5))
    first = next(it)
    again = next(iter(PairBatches(dm.source, 32, 4, seed=0, rank=1, world_size=2, start_step=5)))
    other = next(iter(PairBatches(dm.source, 32, 4, seed=0, rank=0, world_size=2, start_step=5)))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["a"], other["a"])
    assert first["neg"].shape == (32, 4)


def test_exact_stream_matches_cooccurrence(small):
    w, W = small
    dm = PairDataModule(w, worlds.Permutation(16, seed=1), W, batch_size=64)
    b = dm.source.batch(np.random.default_rng(0), 0, 0, 1, 200_000, 0)
    emp = worlds.empirical_cooccurrence(np.stack([b["a"], b["b"]], 1), 16)
    assert np.abs(emp - dm.cooccurrence).max() < 4 * np.sqrt(dm.cooccurrence.max() / 200_000)


# --- training ----------------------------------------------------------------------------------------------------

FAST = dict(dim=16, window=4, max_steps=300, batch_size=128)


@pytest.mark.parametrize("obs,kw,threshold", [
    (lambda: worlds.Permutation(16), {}, 0.99),
    (lambda: worlds.Permutation(16), {"loss": "nce", "learn_bias": True, "negatives": 8}, 0.99),
    (lambda: worlds.VectorCode(16), {"lr": 0.003}, 0.985),
    (lambda: worlds.TokenCode(16, length=2, vocab_size=4), {"lr": 0.003}, 0.985),
    (lambda: worlds.Permutation(16), {"normalize": True, "tau": 0.3}, 0.99),
])
def test_short_training_correlates_with_pmi(small, obs, kw, threshold):
    w, W = small
    o = obs()
    r = fit(w, o, **{**FAST, **kw})
    K = w.pmi(W)
    assert offdiag_pearson(r.state_kernel, K) > threshold
    assert r.kernel.shape == (16, 16) and r.embeddings.shape == (16, 16)
    assert r.history["pearson"]["value"][-1] == pytest.approx(offdiag_pearson(r.kernel, r.target), abs=1e-9)
    assert r.history["pearson"]["value"][0] < 0.5  # it learned it
    assert r.pairs_seen == 300 * 128
    if kw.get("normalize"):  # cosine critic: every embedding has norm 1 / sqrt(tau), so kernel = cos / tau
        assert np.allclose(np.linalg.norm(r.embeddings, axis=1), 1 / math.sqrt(kw["tau"]))


def test_same_seed_same_numbers(small):
    w, W = small
    a = fit(w, worlds.Permutation(16), **{**FAST, "max_steps": 60})
    b = fit(w, worlds.Permutation(16), **{**FAST, "max_steps": 60})
    c = fit(w, worlds.Permutation(16), **{**FAST, "max_steps": 60, "seed": 1})
    assert np.array_equal(a.kernel, b.kernel)
    assert np.abs(a.kernel - c.kernel).max() > 1e-3


def test_finite_pool_and_trajectory(small):
    w, W = small
    r = fit(w, worlds.Permutation(16), data="pairs", n_pairs=4000, **FAST)
    assert r.pairs.shape == (4000, 2) and r.pairs_seen == 4000
    rep = r.report(population=False)
    assert rep["learned"]["pearson_offdiag"] > 0.95 and "rel_error" in rep["plugin"]
    t = fit(w, worlds.Permutation(16), data="trajectory", length=500, **FAST)
    assert t.pairs_seen == len(worlds.trajectory_pairs(np.zeros(500, dtype=int), W))
    assert offdiag_pearson(t.state_kernel, w.pmi(W)) > 0.8


class _Interrupt(pl.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 30:
            raise RuntimeError("interrupted")


def test_interrupted_training_resumes_to_the_same_numbers(small, tmp_path):
    w, W = small
    kw = {**FAST, "max_steps": 50, "ckpt_every": 20, "eval_every": 10, "log_every": 10}
    full = fit(w, worlds.Permutation(16), run_dir=tmp_path / "full", **kw)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(w, worlds.Permutation(16), run_dir=tmp_path / "cut", callbacks=[_Interrupt()], **kw)
    assert (tmp_path / "cut" / "checkpoints" / "last.ckpt").exists()
    resumed = fit(w, worlds.Permutation(16), run_dir=tmp_path / "cut", **kw)
    assert np.abs(resumed.kernel - full.kernel).max() < 1e-6
    assert resumed.history["pearson"]["step"] == [0, 10, 20, 30, 40, 50]
    assert np.allclose(resumed.history["pearson"]["value"], full.history["pearson"]["value"], atol=1e-6)
    assert sorted(resumed.snapshots) == sorted(full.snapshots)
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["max_steps"] == 50
    with pytest.raises(ValueError, match=r"different config \(differs in \['dim'\]\)"):
        fit(w, worlds.Permutation(16), run_dir=tmp_path / "cut", **{**kw, "dim": 8})


def test_ddp_two_cpu_processes_match_single_process(tmp_path):
    """DDP through Lightning, 2 CPU processes (gloo): the global batch is split, the kernel quality is the same.
    Lightning relaunches the command per process, so DDP runs as `python -m learners`; the single run in-process."""
    from platonic_core import experiment

    settings = {"world": "torus", "dim": 16, "max_steps": 200, "batch_size": 256, "lr": 0.02, "accelerator": "cpu"}
    single = experiment.run("fit", tmp_path / "single", quiet=True, devices=1, **settings)["learned"]["pearson_offdiag"]
    args = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "learners", *args, "--set", "devices=2", "--set", "strategy=ddp",
                          "--out", str(tmp_path / "ddp")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run = json.loads((tmp_path / "ddp" / "results.json").read_text())
    ddp = run["results"]["learned"]["pearson_offdiag"]
    assert run["config"]["devices"] == 2 and run["config"]["strategy"] == "ddp"
    assert single > 0.97 and ddp > 0.97
    assert abs(single - ddp) < 0.01


# --- bad input ---------------------------------------------------------------------------------------------------

def test_bad_input(small):
    w, W = small
    P = w.cooccurrence(W)
    obs = worlds.Permutation(16)
    with pytest.raises(ValueError, match="'dim' parameter of fit must be >= 1. Got 0"):
        fit(w, obs, dim=0)
    with pytest.raises(ValueError, match="'dim' parameter of population_optimum"):
        population_optimum(P, dim=0)
    with pytest.raises(ValueError, match="'dim' parameter of EmbeddingEncoder"):
        make_encoder(obs, 0)
    with pytest.raises(ValueError, match="'tau' parameter of fit must be > 0. Got 0"):
        fit(w, obs, tau=0)
    with pytest.raises(ValueError, match="'tau' parameter of info_nce must be > 0"):
        info_nce(torch.zeros(3, 3), tau=-1.0)
    for p in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=f"'p_pos' parameter of binary_nce must be in \\(0, 1\\). Got {p}"):
            binary_nce(torch.zeros(2), torch.zeros(2), p_pos=p)
    with pytest.raises(ValueError, match="'p_pos' parameter of fit"):
        fit(w, obs, loss="nce", p_pos=1.0)
    with pytest.raises(ValueError, match="'p_pos' parameter of population_optimum"):
        population_optimum(P, "nce", p_pos=0.0)
    with pytest.raises(ValueError, match="observe the world's 16 states. Got an observation of 64 states"):
        fit(w, worlds.Permutation(64))
    with pytest.raises(TypeError, match="'observation' parameter of fit"):
        fit(w, np.eye(16))
    with pytest.raises(ValueError, match="'loss' parameter of fit must be one of"):
        fit(w, obs, loss="triplet")
    with pytest.raises(ValueError, match="'learn_bias' parameter"):
        fit(w, obs, loss="infonce", learn_bias=True)
    with pytest.raises(ValueError, match="'logits' parameter of info_nce must be a square"):
        info_nce(torch.zeros(3, 2))


def test_window_leaving_zero_pairs_is_named():
    ring = worlds.make_world("ring", n_states=12, teleport=0.0)
    with pytest.raises(ValueError, match=r"PairDataModule has 84 pairs with P_coor = 0 .*e\.g\. \("):
        fit(ring, worlds.Permutation(12), window=2)
    with pytest.raises(ValueError, match=r"has \d+ pairs with P_coor = 0"):
        population_optimum(ring.cooccurrence(2))
