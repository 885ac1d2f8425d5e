"""learners.objectives: the one registry of training objectives, each objective's analytic optimum against its
population optimum (L-BFGS on the exact loss) and against short Lightning fits, the skip-gram alias, and bad input.

World: the lazy torus 4 x 4 at W = 4 (P_coor PSD, K_PMI PSD-able with C* = 0.726). Its normalised spectrum
(eigenvalues of D^-1/2 P D^-1/2) is 1, 0.557 (x4), 0.316 (x6), 0.184 (x4), 0.111: rank-d optima are unique only where
d cuts between two eigenvalues, so the ranks used here are 5 and 11 (with the constant direction) and 4 and 10
(without it, for VICReg).
"""
import importlib
import math

import numpy as np
import pytest
import torch
from scipy.optimize import check_grad

import alignment
import worlds
from learners import binary_nce, fit, objectives, population_loss, population_optimum
from learners.fit import FitConfig
from learners.losses import one_hot_regression, skipgram, spectral_contrastive
from learners.population import LOSSES, regression_loss, vicreg_loss
from platonic_core import experiment


@pytest.fixture(scope="module")
def torus():
    w = worlds.make_world("torus", side=4)
    return w.cooccurrence(4), w.pmi(4)


def pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def offdiag(a, b):
    m = ~np.eye(len(a), dtype=bool)
    return float(np.corrcoef(a[m], b[m])[0, 1])


def centre(K, P):
    p = P.sum(1)
    H = np.eye(len(p)) - np.outer(np.ones(len(p)), p)
    return H @ K @ H.T


# --- the registry ------------------------------------------------------------------------------------------------

def test_the_loss_list_is_defined_once():
    from learners import module

    fit_mod = importlib.import_module("learners.fit")
    assert LOSSES is objectives.NAMES and module.LOSSES is objectives.NAMES and fit_mod.LOSSES is objectives.NAMES
    assert objectives.NAMES == ("infonce", "nce", "skipgram", "spectral", "next_event", "regression", "vicreg")
    for name, obj in objectives.OBJECTIVES.items():
        assert obj.name == name and obj.gauge in objectives.GAUGES and obj.summary and obj.optimum
    assert objectives.OBJECTIVES["skipgram"].alias_of == "nce"
    assert experiment.get("objectives").defaults["objectives"] == list(objectives.NAMES)


# --- population losses: gradients and unconstrained optima ---------------------------------------------------------

def test_population_loss_gradients_and_unconstrained_optima(torus):
    P, K = torus
    p = P.sum(1)
    g0 = np.random.default_rng(1).standard_normal(P.shape)
    for loss, kw in (("skipgram", {"negatives": 3}), ("spectral", {}), ("next_event", {})):
        f = lambda x: population_loss(x.reshape(P.shape), P, loss, **kw)[0]  # noqa: E731
        df = lambda x: population_loss(x.reshape(P.shape), P, loss, **kw)[1].ravel()  # noqa: E731
        assert check_grad(f, df, g0.ravel()) < 1e-6, loss
    # the analytic minimisers zero the gradient: exp(K) for spectral, K - log K for skip-gram
    assert np.abs(population_loss(np.exp(K), P, "spectral")[1]).max() < 1e-12
    assert np.abs(population_loss(K - math.log(3), P, "skipgram", negatives=3)[1]).max() < 1e-12
    # next_event: logits K + u(a) + u(b) with output bias log p - u: the softmax is P(b | a) for every u
    u = np.random.default_rng(2).standard_normal(len(p))
    z = K + u[:, None] + u[None, :] + (np.log(p) - u)[None, :]
    assert np.abs(population_loss(z, P, "next_event")[1]).max() < 1e-12
    assert population_loss(z, P, "next_event")[0] == pytest.approx(-np.sum(P * np.log(P / p[:, None])), abs=1e-12)
    # the spectral loss's minimum is -(chi2 + 1)
    assert population_loss(np.exp(K), P, "spectral")[0] == pytest.approx(-(worlds.chi2_information(P) + 1), abs=1e-12)


def test_embedding_losses_gradients(torus):
    P, _ = torus
    rng = np.random.default_rng(3)
    F0, W0 = rng.standard_normal((16, 5)), rng.standard_normal((16, 5))
    f = lambda x: regression_loss(x[:80].reshape(16, 5), x[80:].reshape(16, 5), P)[0]  # noqa: E731
    df = lambda x: np.concatenate([g.ravel() for g in regression_loss(x[:80].reshape(16, 5),  # noqa: E731
                                                                          x[80:].reshape(16, 5), P)[1:]])
    x0 = np.concatenate([F0.ravel(), W0.ravel()])
    assert check_grad(f, df, x0) < 1e-6 * np.linalg.norm(df(x0))
    opts = objectives.check_options("vicreg", None, "test")
    f = lambda x: vicreg_loss(x.reshape(16, 5), P, **opts)[0]  # noqa: E731
    df = lambda x: vicreg_loss(x.reshape(16, 5), P, **opts)[1].ravel()  # noqa: E731
    assert check_grad(f, df, F0.ravel()) < 1e-6 * np.linalg.norm(df(F0.ravel()))


def test_torch_losses_match_the_population_losses_on_enumerated_pairs():
    """The batch losses are the population ones when the batch enumerates P exactly."""
    counts = np.array([[6, 2, 1], [2, 4, 1], [1, 1, 2]])
    P = counts / counts.sum()
    pi20 = counts.sum(1)
    pairs = np.array([(a, b) for a in range(3) for b in range(3) for _ in range(counts[a, b])])
    negs = np.array([(a, b) for a in range(3) for b in range(3) for _ in range(pi20[a] * pi20[b])])
    g = np.random.default_rng(0).standard_normal((3, 3))
    g = g + g.T
    t = torch.tensor(g)
    pos, neg = t[pairs[:, 0], pairs[:, 1]], t[negs[:, 0], negs[:, 1]]
    assert spectral_contrastive(pos, neg).item() == pytest.approx(population_loss(g, P, "spectral")[0], rel=1e-12)
    F0, W0 = np.random.default_rng(1).standard_normal((3, 2)), np.random.default_rng(2).standard_normal((3, 2))
    pred = torch.tensor(F0 @ W0.T)[pairs[:, 0]]
    assert one_hot_regression(pred, torch.tensor(pairs[:, 1])).item() == pytest.approx(
        regression_loss(F0, W0, P)[0], rel=1e-12)


# --- the skip-gram alias ---------------------------------------------------------------------------------------

def test_skipgram_is_binary_nce_at_prior_one_over_k_plus_one(torus):
    P, K = torus
    gen = torch.Generator().manual_seed(0)
    for k in (1, 4, 15):
        pos, neg = torch.randn(32, generator=gen), torch.randn(32, k, generator=gen)
        b = torch.tensor(0.3)
        assert skipgram(pos, neg).item() == pytest.approx((k + 1) * binary_nce(pos, neg, 1 / (k + 1)).item(), rel=1e-6)
        assert skipgram(pos, neg, b).item() == pytest.approx((k + 1) * binary_nce(pos, neg, 1 / (k + 1), b).item(),
                                                            rel=1e-6)
        g = np.random.default_rng(k).standard_normal(P.shape)
        vs, gs = population_loss(g, P, "skipgram", negatives=k)
        vn, gn = population_loss(g, P, "nce", 1 / (k + 1))
        assert vs == pytest.approx((k + 1) * vn, rel=1e-12) and np.allclose(gs, (k + 1) * gn, rtol=1e-12, atol=1e-15)
        assert objectives.skipgram_prior(k) == 1 / (k + 1)
    # the Gram optimum with a learnable offset: kernel + bias is the whole logit K_PMI - log K
    opt = population_optimum(P, "skipgram", negatives=4, learn_bias=True)
    assert opt.gap < 1e-8
    assert np.abs(opt.kernel + opt.bias - (K - math.log(4))).max() < 1e-3
    # without it the optimum K_PMI - log K is never a Gram matrix (p^T K_PMI p = -KL(p p^T || P) < 0): both the
    # alias and binary NCE at p = 1/5 stop at the same capped kernel
    p = P.sum(1)
    assert p @ K @ p < 0 and not objectives.reachable(P, "skipgram", negatives=4)[0]
    a = population_optimum(P, "skipgram", negatives=4)
    b = population_optimum(P, "nce", p_pos=0.2)
    assert a.gap > 1e-3 and np.abs(a.kernel - b.kernel).max() < 1e-4
    assert a.loss == pytest.approx(5 * b.loss, rel=1e-9)


# --- each objective's population optimum against its analytic target ------------------------------------------

def test_spectral_reaches_exp_pmi_where_p_coor_is_psd(torus):
    P, K = torus
    assert objectives.reachable(P, "spectral")[0]
    opt = population_optimum(P, "spectral", dim=16)
    assert pearson(opt.kernel, np.exp(K)) > 0.9999 and offdiag(opt.kernel, np.exp(K)) > 0.9999
    assert np.abs(opt.kernel - np.exp(K)).max() < 1e-4 * np.exp(K).max()  # no offset, no scale: exp(K) itself
    assert opt.gap < 1e-10 and opt.bound == pytest.approx(-(worlds.chi2_information(P) + 1), abs=1e-12)
    # a different kernel from K_PMI with the same neighbour order in every row
    assert offdiag(opt.kernel, K) < 0.99
    assert all((np.argsort(-np.exp(K)[i], kind="stable") == np.argsort(-K[i], kind="stable")).all() for i in range(16))
    # rank 5 (1 + the 4-fold eigenvalue): the top eigenpairs of D^-1/2 P D^-1/2
    low = population_optimum(P, "spectral", dim=5)
    t5 = objectives.target(P, "spectral", 5)
    assert pearson(low.kernel, t5) > 0.9999 and np.abs(low.kernel - t5).max() < 1e-5


def test_spectral_on_a_world_whose_p_coor_is_not_psd_stops_at_its_psd_part():
    w = worlds.make_world("ring", n_states=12, lazy=0.0)
    P, K = w.cooccurrence(1), w.pmi(1)
    ok, why = objectives.reachable(P, "spectral")
    assert not ok and "P_coor PSD" in why
    opt = population_optimum(P, "spectral")
    capped = objectives.target(P, "spectral", 12)  # D^-1/2 [M]_+ D^-1/2: the documented cap
    assert pearson(opt.kernel, capped) > 0.9999
    assert pearson(opt.kernel, np.exp(K)) < 0.999 and opt.gap > 1e-4


def test_next_event_reaches_pmi_up_to_additive_row_terms(torus):
    P, K = torus
    opt = population_optimum(P, "next_event")
    assert opt.gap < 1e-8
    assert pearson(centre(opt.kernel, P), centre(K, P)) > 0.9999
    assert np.abs(centre(opt.kernel, P) - centre(K, P)).max() < 1e-3
    # the raw kernel differs from K_PMI by u(a) + u(b) + c with u != 0 (the bias takes the rest: beta = log p - u)
    d = opt.kernel - K
    u = d.mean(1) - d.mean() / 2
    assert np.abs(d - u[:, None] - u[None, :]).max() < 1e-3
    assert np.ptp(u) > 1e-3
    logits = opt.kernel + opt.extra["output_bias"][None, :]
    p = P.sum(1)
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    assert np.abs(softmax / softmax.sum(1, keepdims=True) - P / p[:, None]).max() < 1e-4
    assert objectives.reachable(P, "next_event")[0]


@pytest.mark.parametrize("dim", [5, 11, 16])
def test_regression_reaches_the_p_weighted_low_rank_approximation(torus, dim):
    P, _ = torus
    opt = population_optimum(P, "regression", dim=dim)
    Y, balanced, whitened, S = objectives.regression_parts(P, dim)
    assert opt.loss == pytest.approx(opt.extra["rank_bound"], abs=1e-10)
    assert opt.extra["rank_bound"] == pytest.approx(1 - np.sum(S[:dim] ** 2), abs=1e-12)
    assert np.abs(opt.extra["prediction"] - Y).max() < 1e-5
    assert pearson(opt.kernel, balanced) > 0.9999 and np.abs(opt.kernel - balanced).max() < 1e-4
    assert np.allclose(opt.embeddings.T @ opt.embeddings, opt.extra["head"].T @ opt.extra["head"], atol=1e-8)
    if dim < 16:  # the span is what the loss fixes: every minimiser has the same p-whitened projector
        assert np.abs(opt.extra["whitened"] - whitened).max() < 1e-5 * np.abs(whitened).max()
    else:
        Q = P / P.sum(1)[:, None]  # full rank: the prediction is P(b | a) itself
        assert np.abs(opt.extra["prediction"] - Q).max() < 1e-6


def test_vicreg_reaches_the_weighted_laplacian_eigenmap(torus):
    P, _ = torus
    for dim in (4, 10):
        opt = population_optimum(P, "vicreg", dim=dim)
        t = objectives.target(P, "vicreg", dim)
        assert pearson(opt.kernel, t) > 0.9999 and np.abs(opt.kernel - t).max() < 1e-4, dim
        assert abs(opt.gap) < 1e-8
        _, _, lam, s2, _ = objectives.vicreg_parts(P, dim, objectives.check_options("vicreg", None, "t"))
        sd = np.sqrt(np.diag(opt.embeddings.T @ (P.sum(1)[:, None] * opt.embeddings)))
        assert np.allclose(np.sort(sd), np.sort(np.sqrt(s2)), atol=1e-5)
        assert np.allclose(np.sqrt(s2 + 1e-4), np.minimum(1.0, 25 / (4 * 25 * (1 - lam))))


def test_vicreg_with_the_official_weak_covariance_weight_collapses(torus):
    """cov = 1 cannot keep 10 dimensions apart here: the closed form is refused with the weight it would need, and
    the population optimum indeed beats the eigenmap by correlating dimensions."""
    P, _ = torus
    weak = {"cov": 1.0}
    with pytest.raises(ValueError, match=r"cov >= 16\.\d+"):
        objectives.target(P, "vicreg", 10, objective_kw=weak)
    opts = objectives.check_options("vicreg", weak, "t")
    z = objectives.vicreg_parts(P, 10, {**opts, "cov": 25.0})[0]  # the eigenmap at these variances
    opt = population_optimum(P, "vicreg", dim=10, objective_kw=weak)
    assert opt.loss < vicreg_loss(z, P, **opts)[0] - 1e-3 and np.isnan(opt.bound) and "target_error" in opt.extra


# --- short Lightning fits of each objective -----------------------------------------------------------------------

FAST = dict(window=4, max_steps=300, batch_size=128, lr=0.03)


@pytest.mark.parametrize("kw, threshold", [
    ({"loss": "spectral", "dim": 16}, 0.98),
    ({"loss": "skipgram", "dim": 16, "negatives": 4, "learn_bias": True, "lr": 0.01}, 0.96),
    ({"loss": "next_event", "dim": 16, "lr": 0.01}, 0.99),
    ({"loss": "regression", "dim": 5}, 0.99),
    ({"loss": "vicreg", "dim": 4}, 0.99),
], ids=lambda x: x["loss"] if isinstance(x, dict) else str(x))
def test_short_fit_reaches_its_target(torus, kw, threshold):
    w = worlds.make_world("torus", side=4)
    r = fit(w, worlds.Permutation(16, seed=1), **{**FAST, **kw})
    final = r.history["pearson"]["value"][-1]
    assert final > threshold and r.history["pearson"]["value"][0] < 0.5
    t = objectives.target(r.cooccurrence, kw["loss"], kw["dim"] if kw["loss"] in ("spectral", "regression", "vicreg")
                          else None, negatives=kw.get("negatives"), learn_bias=kw.get("learn_bias", False))
    assert np.array_equal(r.target, t)
    canon = objectives.canonical(r.kernel, kw["loss"], r.cooccurrence, kw["dim"])
    assert offdiag(canon, objectives.canonical(t, kw["loss"], r.cooccurrence, kw["dim"])) == pytest.approx(final,
                                                                                                           abs=1e-9)


# --- bad input ---------------------------------------------------------------------------------------------------

def test_bad_input(torus):
    P, _ = torus
    w = worlds.make_world("torus", side=4)
    obs = worlds.Permutation(16)
    valid = "infonce, nce, skipgram, spectral, next_event, regression, vicreg"
    with pytest.raises(ValueError, match=f"'loss' parameter of fit must be one of {valid}. Got 'triplet'"):
        fit(w, obs, loss="triplet")
    with pytest.raises(ValueError, match=f"'loss' parameter of population_optimum must be one of {valid}"):
        population_optimum(P, "barlow")
    with pytest.raises(ValueError, match=f"'loss' parameter of target must be one of {valid}"):
        objectives.target(P, "barlow")
    for owner, call in (("fit", lambda: FitConfig(loss="skipgram")),
                        ("fit", lambda: FitConfig(loss="skipgram", negatives=-1)),
                        ("population_optimum", lambda: population_optimum(P, "skipgram", negatives=0)),
                        ("population_optimum", lambda: population_optimum(P, "skipgram"))):
        with pytest.raises(ValueError, match=f"'negatives' parameter of {owner} must be"):
            call()
    with pytest.raises(ValueError, match="'negatives' parameter of fit must be 0 with loss='next_event'"):
        FitConfig(loss="next_event", negatives=4)
    with pytest.raises(ValueError, match=r"'learn_bias' parameter of fit only applies to loss in \('nce', 'skip"):
        FitConfig(loss="spectral", learn_bias=True)
    with pytest.raises(ValueError, match="'p_pos' parameter of fit must be left at its default with loss='skipgram'"):
        FitConfig(loss="skipgram", negatives=2, p_pos=0.3)
    with pytest.raises(ValueError, match="'tau' and 'normalize' parameters of fit apply to critic objectives"):
        FitConfig(loss="vicreg", tau=0.5)
    with pytest.raises(TypeError, match=r"'objective_kw' parameter of fit must hold only options of 'vicreg'"):
        FitConfig(loss="vicreg", objective_kw={"lambda": 1.0})
    with pytest.raises(TypeError, match=r"options of 'infonce' \(it takes none\)"):
        FitConfig(loss="infonce", objective_kw={"cov": 1.0})
    with pytest.raises(ValueError, match=r"objective_kw\['cov'\]' parameter of fit must be > 0"):
        FitConfig(loss="vicreg", objective_kw={"cov": 0.0})
    with pytest.raises(ValueError, match="'dim' parameter of target must be <= N - 1 = 15 with loss='vicreg'"):
        objectives.target(P, "vicreg", 16)
    with pytest.raises(ValueError, match="'learn_bias' parameter of population_optimum only applies"):
        population_optimum(P, "next_event", learn_bias=True)


# --- the `objectives` experiment ---------------------------------------------------------------------------------

def test_experiment_tiny_numbers(tmp_path):
    """Every objective on the default weighted torus (N = 64, W = 16, no k-NN ties): each population optimum is its
    analytic target, the relations between the optima are the derived ones, k-NN metrics (cosine on the optimal
    embeddings, the paper's) and CKA disagree on the monotone pair, and no k-NN list ties at the k-th neighbour."""
    res = experiment.run("objectives", tmp_path, quiet=True, scale=0.02, modalities=["permutation"], n_perm=0)
    for row in res["exact"]:
        assert row["reachable"] and row["target_pearson"] > 0.9999, row["objective"]
    rel = {r["pair"]: r for r in res["exact_pairs"]}
    assert rel["infonce/nce"]["relation"] == rel["infonce/skipgram"]["relation"] == "affine"
    assert rel["infonce/next_event"]["relation"] == "affine"  # its analytic optimum is K_PMI up to u(a) + u(b)
    assert rel["infonce/spectral"]["relation"] == "row order"  # exp(K_PMI): same neighbours, other kernel
    # cosine k-NN sees the monotone map through the norms (ranking the kernels would give exactly 1), CKA sees more
    assert 0.9 < rel["infonce/spectral"]["mutual_knn"] < 1.0 and rel["infonce/spectral"]["cka"] < 0.9
    assert rel["regression/vicreg"]["relation"] == "different"  # nested spans only where p is uniform (the torus)
    assert rel["infonce/regression"]["relation"] == "different"
    assert rel["infonce/regression"]["whitened_cka"] < 0.5 < 0.9 < rel["infonce/regression"]["mutual_knn"]
    by = {r["relation"]: r for r in res["by_relation"]}
    assert by["affine"]["cka"] == 1.0 and by["row order"]["cka"] == 0.0 and by["row order"]["mutual_knn"] == 1.0
    assert all(r["knn_ties"] == 0.0 for r in res["exact_pairs"] + res["learned_matrix"])
    assert len(res["learned_matrix"]) == 49 and all(0 < r["cka"] <= 1 for r in res["learned_matrix"])
    # in their gauges: judged only by metrics invariant to what the objectives leave free and what relates them
    assert rel["infonce/nce"]["gauge"] == "scale,shift" and rel["infonce/nce"]["in_gauge"] == "agree"
    assert rel["infonce/nce"]["gauge_metrics"] == ["cka", "unbiased_cka", "svcca", "whitened_cka"]  # not cosine k-NN
    assert rel["infonce/next_event"]["gauge_metrics"] == ["cka", "unbiased_cka"]  # double centring removes u(a) + u(b)
    assert rel["infonce/next_event"]["p_centred_pearson"] == pytest.approx(1.0, abs=1e-6)
    assert rel["infonce/next_event"]["pearson"] < 1 - 1e-4  # ... which the raw kernels keep
    assert rel["infonce/spectral"]["in_gauge"] == "no invariant metric"  # exp(K): cosine k-NN is not monotone-blind
    assert rel["regression/vicreg"]["in_gauge"] == "no common gauge"


@pytest.mark.slow
def test_experiment_default_run(tmp_path):
    """The default run (7 objectives x permutation and vector codes, 1500 steps, weighted torus): every learner within
    Pearson 0.97 of its analytic target (0.976 at worst, skipgram/vector) and of its other modality (modulo its
    gauge); the two modalities' raw kernels aligned (CKA >= 0.95, z > 3) except regression's, whose heads leave
    F -> F A free (CKA 0.91 measured)."""
    res = experiment.run("objectives", tmp_path, quiet=True)
    for row in res["learned"]:
        assert row["target_pearson"] > 0.97, (row["objective"], row["modality"])
        if row["modality"] == "permutation":
            assert row["cross_modal_pearson"] > 0.97, row["objective"]
    for row in res["learned_matrix"]:
        name = row["a"].split("/")[0]
        if name == row["b"].split("/")[0]:
            assert row["cka"] > (0.9 if name == "regression" else 0.95) and row["cka_z"] > 3, row


def test_experiment_refuses_a_world_whose_optima_no_gram_critic_reaches(tmp_path, capsys):
    from platonic_core.experiment import main

    with pytest.raises(SystemExit) as exit_:
        main(["objectives", "--set", "world=ring", "--out", str(tmp_path / "refused")], kind="simulation")
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "unreachable: infonce (K_PMI PSD-able" in err and "unreachable='cap'" in err
    assert not (tmp_path / "refused").exists()
    # the documented cap: the best Gram critic, with its gap
    res = experiment.run("objectives", tmp_path / "cap", quiet=True, world="ring", unreachable="cap",
                         objectives=["infonce"], modalities=["permutation"], scale=0.02, n_perm=0)
    infonce = res["exact"][0]
    assert not infonce["reachable"] and infonce["gap"] > 1e-6  # small here: the ring at W = 16 is nearly PSD-able


def test_calibrated_claims_need_enough_permutations(tmp_path, capsys):
    """z, p and the calibrated score are numbers only with n_perm >= 1/alpha - 1 = 19 (below it the threshold is the
    largest null value whatever the score); every simulation with a null defaults to >= 100 permutations."""
    from learners.experiments import _common

    assert [n for n in range(30) if _common.calibrated(n)][0] == 19 and _common.calibrated(9, alpha=0.1)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 3))
    B = A + rng.standard_normal((40, 3))
    for n_perm, ok in ((18, False), (19, True)):
        got = _common.null_fields(alignment.calibrate(A, B, "cka", n_perm=n_perm))
        assert np.isfinite(got["null_mean"])
        assert all((isinstance(got[f], float) and np.isfinite(got[f])) == ok for f in ("z", "p", "calibrated"))
        assert ok or all(got[f] == "not calibrated" for f in ("z", "p", "calibrated"))
    for name in experiment.names("simulation"):
        assert experiment.get(name).defaults.get("n_perm", 100) >= 100, name
    res = experiment.run("objectives", tmp_path, scale=0.01, objectives=["infonce", "spectral"],
                         modalities=["permutation"], n_perm=5)
    row = res["learned_matrix"][0]
    assert np.isfinite(row["cka_null_mean"]) and row["cka_z"] == row["mutual_knn_calibrated"] == "not calibrated"
    table = capsys.readouterr().out.split("Learned representations across modalities")[1]
    assert table.count("not calibrated") == 4 * 4  # 4 pairs x cka_z, cka_p, mutual_knn_z, mutual_knn_calibrated


def test_no_number_from_tied_neighbour_lists():
    """Where k-NN lists tie at the k-th neighbour, every number of a metric taking k reads "tied" (the population
    optima of the symmetric torus come from L-BFGS, whose noise breaks the exact ties, so this is the rule itself)."""
    from learners.experiments.objectives import _untie

    row = {"mutual_knn": 0.5, "mutual_knn_z": 3.0, "cknna": 0.9, "cka": 0.8, "cka_z": 2.0, "knn_ties": 0.25}
    _untie(row, 0.0)
    assert row["mutual_knn"] == 0.5
    _untie(row, row["knn_ties"])
    assert row == {"mutual_knn": "tied", "mutual_knn_z": "tied", "cknna": "tied", "cka": 0.8, "cka_z": 2.0,
                   "knn_ties": 0.25}
