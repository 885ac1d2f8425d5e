"""proofs_check (issue 5): every statement holds under the loaded hypothesis profile, and every check reports a
known violating input."""
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import strategies as st

import worlds
from proofs_check import f1, observed, optima, rarity, run_all, sharpened, shift
from proofs_check._kernel import f1_premise, f1_shift, off_diagonal, sharpened_condition


def claims_hold(result):
    failing = {c.name: c.counterexample for c in result.claims if not c.holds}
    assert not failing, failing


# ---- statement 1: F.1 as stated -------------------------------------------------------------------------------

def test_f1_holds_and_its_premise_is_met():
    result = f1.check()
    claims_hold(result)
    assert result.paper_holds
    claim = result.claim("F.1")
    assert claim.paper and claim.premise_met >= 3  # not vacuous: the strategy reaches F.1's regime
    assert claim.counts.get("spread_delta>0", 0) >= 1  # ... including off-diagonals that are not all equal
    assert claim.worst_margin >= -1e-12


def test_f1_reports_a_wrong_shift():
    result = f1.check(shift=lambda K: f1_shift(K) - 1.0)
    assert not result.holds and not result.paper_holds
    bad = result.claim("F.1").counterexample
    # K + (C_F1 - 1) 11^T: the argmin row loses 1 on the diagonal and gains 1 on each of N-1 off-diagonals.
    assert bad["dominance_margin"] < -1.0
    assert bad["min_eigenvalue"] < 0
    assert len(bad["K"]) == 2  # shrunk to two states


def test_f1_premise_on_a_sticky_world_reads_as_the_paper_writes_it():
    world = worlds.make_world("sticky", n_states=4, stickiness=0.5)
    P = world.cooccurrence(1)
    K = worlds.pmi_kernel(P)
    pi = P.sum(axis=1)
    # P_coor(z_i|z_i) / pi(z_i) = P_ii / pi_i^2 = exp K_ii.
    np.testing.assert_allclose(np.diag(P) / pi / pi, np.exp(np.diag(K)), rtol=1e-13)
    premise = f1_premise(K, diagonal_ratio=np.diag(P) / pi / pi)
    assert premise.holds and premise.delta < 1e-12
    # Exchangeable kernel alpha I + beta 11^T: F.1's shift is exactly the least shift.
    assert f1_shift(K) == pytest.approx(worlds.min_shift(K), abs=1e-12)


# ---- statement 2: F.1 sharpened -------------------------------------------------------------------------------

def test_sharpened_holds_and_reaches_beyond_f1():
    result = sharpened.check()
    claims_hold(result)
    claim = result.claim("sharpened")
    assert claim.premise_met >= 5
    assert not claim.paper


def test_sharpened_witness_has_a_positive_off_diagonal():
    K = sharpened.WITNESS
    assert off_diagonal(K).max() > 0 and sharpened_condition(K) and not f1_premise(K).holds
    np.testing.assert_allclose(K + f1_shift(K), [[0.5, -0.5], [-0.5, 0.5]])


def test_sharpened_reports_a_premise_that_is_too_weak():
    # Without the diagonal condition the conclusion fails, e.g. K = [[0, 1], [1, 0]] has eigenvalue -1 after shifting.
    result = sharpened.check(condition=lambda K: True)
    bad = result.claim("sharpened")
    assert not bad.holds and bad.counterexample["min_eigenvalue"] < 0


def test_dominance_criterion_reports_a_wrong_criterion():
    K = np.array([[0.0, 1.0], [1.0, 0.0]])
    # m = c = 1/2: N (m - c) - 2 (1 - 1/2) = -1 per row, the margin of K - 11^T / 2 = [[-.5, .5], [.5, -.5]].
    np.testing.assert_allclose(sharpened.dominance_criterion(K), [-1.0, -1.0])
    wrong = sharpened.judge_criterion(K, criterion=lambda K: K.shape[0] * (K.mean(axis=1) - K.mean(axis=1).min()))
    assert not wrong.ok and wrong.info["dominance_margin"] == pytest.approx(-1.0)


# ---- statement 3: PSD-ability and C* ----------------------------------------------------------------------------

def test_shift_characterisation_holds():
    result = shift.check()
    claims_hold(result)
    counts = result.claim("characterisation").counts
    assert counts.get("psd_able", 0) > 0 and counts.get("not_psd_able", 0) + counts.get("range_fails", 0) > 0
    assert result.claim("least shift").premise_met >= 3
    assert result.claim("negative eigenvalues").premise_met >= 3
    assert result.claim("transitive symmetry").premise_met >= 3


def test_transitive_symmetry_on_a_ring_kernel():
    K = np.array([[1.0, 0.25, -0.5, 0.25], [0.25, 1.0, 0.25, -0.5], [-0.5, 0.25, 1.0, 0.25],
                  [0.25, -0.5, 0.25, 1.0]])  # circulant (1, .25, -.5, .25): eigenvalues 1 (along 1), 1.5, 1.5, 0
    assert worlds.min_shift(K) == pytest.approx(-0.25) == pytest.approx(f1_shift(K))  # -mean(K)
    assert not shift.judge_transitive(K, min_shift=lambda K: worlds.min_shift(K) + 0.1).ok


def test_counterexample_kernel_numbers():
    K = shift.COUNTEREXAMPLE
    psd, in_range, lam, residual = shift.centred_criterion(K)
    assert psd and not in_range and abs(lam) < 1e-15
    assert residual == pytest.approx(np.sqrt(0.5))  # HK1 = (.5, -.5)
    assert np.sum(np.linalg.eigvalsh(K) < 0) == 1
    assert math.isinf(worlds.min_shift(K))
    assert shift.certificate(K, 1e4) < -0.5  # a vector with v^T (K + C 11^T) v < 0 even at C = 10^4


def test_neither_converse_of_psd_able_holds():
    # PSD-able => HKH PSD => at most one negative eigenvalue; [[1,.5],[.5,0]] and [[0,1],[1,0]] break the converses.
    hkh_psd = shift.judge_interlacing(shift.COUNTEREXAMPLE)
    assert hkh_psd.premise and hkh_psd.info["negatives"] == 1
    assert not shift.judge_interlacing(shift.SWAP).premise  # HKH has eigenvalue -1 along (1, -1)
    np.testing.assert_allclose(np.linalg.eigvalsh(shift.SWAP), [-1.0, 1.0])
    assert shift.certificate(shift.SWAP, 1e6) == pytest.approx(-1.0)  # (1,-1)/sqrt2: -1 whatever C
    assert shift.judge_one_negative(shift.SWAP).ok
    assert not shift.judge_one_negative(shift.SWAP, min_shift=lambda K: 1.0).ok


def test_least_shift_agrees_with_bisection_on_a_worked_example():
    K = np.array([[2.0, 0.0], [0.0, 0.0]])  # min over v1 + v2 = 1 of 2 v1^2 is 0 at v = (0, 1)
    assert worlds.min_shift(K) == pytest.approx(0.0, abs=1e-12)
    K = np.array([[0.0, -1.0], [-1.0, 0.0]])  # v = (1/2, 1/2): v^T K v = -1/2, so C* = 1/2
    assert worlds.min_shift(K) == pytest.approx(0.5)
    assert shift.bisection_shift(K, 1e-12) == pytest.approx(0.5, abs=1e-9)
    v, residual = shift.kkt_minimiser(K)
    np.testing.assert_allclose(v, [0.5, 0.5], atol=1e-12)
    assert residual < 1e-12


@pytest.mark.parametrize("name, wrong, broken", [
    ("too small", lambda K: worlds.min_shift(K) - 0.1, "characterisation"),
    ("too large", lambda K: worlds.min_shift(K) + 0.1, "least shift"),
    ("ignores -inf and range", lambda K: 0.0 if math.isinf(worlds.min_shift(K)) else worlds.min_shift(K),
     "characterisation"),
])
def test_shift_reports_a_wrong_min_shift(name, wrong, broken):
    result = shift.check(min_shift=wrong)
    assert not result.claim(broken).holds, name


def test_shift_counterexample_claim_reports_a_min_shift_that_forgets_the_range_condition():
    result = shift.check(examples=1, min_shift=lambda K: 0.25)
    assert not result.claim("counterexample").holds


# ---- statement 4: rarity ------------------------------------------------------------------------------------

def test_spread_bound_and_table():
    result = rarity.check(per_family=6)
    claims_hold(result)
    assert result.claim("spread bound").premise_met >= 3
    rows = {row["family"]: row for row in result.table}
    assert set(rows) == set(worlds.list_worlds())
    for row in rows.values():
        assert row["worlds"] + row["skipped"] == 6
        if row["worlds"]:
            assert 0 <= row["f1"] <= row["sharpened"] <= row["psd_able"] <= 1  # F.1 => sharpened => PSD-able
            assert row["neither"] == pytest.approx(1 - row["psd_able"])
            assert row["f1"] <= row["f1_shift_works"] <= row["psd_able"]
    for name in rarity.TRANSITIVE:  # a transitive symmetry makes F.1's shift the least one whenever one works
        assert rows[name]["f1_shift_works"] == rows[name]["psd_able"]
    assert result.claim("transitive worlds").premise_met >= 1
    assert rows["sticky"]["f1"] == 1.0  # A = s I + (1 - s) 11^T / N: constant off-diagonal PMI
    assert rows["dirichlet"]["f1"] == 0.0


def test_spread_bound_on_a_hand_computed_joint():
    P = np.array([[0.4, 0.1], [0.1, 0.4]])  # pi = (1/2, 1/2), s = (0.8, 0.8)
    np.testing.assert_allclose(rarity.spread_bound(P), [np.log(4.0)] * 2)


def test_rarity_reports_a_bound_that_is_too_strong():
    result = rarity.check(per_family=1, bound=lambda P: rarity.spread_bound(P) / 4)
    bad = result.claim("spread bound")
    assert not bad.holds and bad.counterexample["(N-1) delta"] > bad.counterexample["bound"]


# ---- statement 5: contrastive optima ------------------------------------------------------------------------

def test_optima_hold():
    result = optima.check()
    claims_hold(result)
    assert all(c.paper for c in result.claims)


def test_optima_report_wrong_optima():
    result = optima.check(nce=lambda K, p: K, infonce=lambda K, c: K + c[None, :])
    for claim in result.claims:
        assert not claim.holds
        assert claim.counterexample["grad"] > 1e-6
    assert result.claim("binary NCE").counterexample["p"] != 0.5  # K_PMI alone is right only for p = 1/2


def test_nce_loss_on_a_worked_example():
    torch = pytest.importorskip("torch")
    P = torch.tensor([[0.3, 0.2], [0.2, 0.3]], dtype=torch.float64)
    g = torch.zeros(2, 2, dtype=torch.float64)
    # softplus(0) = log 2 for every pair, so L = p log 2 + (1 - p) log 2.
    assert optima.nce_loss(g, P, 0.3).item() == pytest.approx(np.log(2))
    # Population InfoNCE at g = 0: -0 + sum_a pi_a log sum_b pi_b = 0.
    assert optima.infonce_population_loss(g, P).item() == pytest.approx(0.0, abs=1e-15)
    # With one negative and g = 0 every tuple costs log 2.
    assert optima.infonce_loss(g, P, 1).item() == pytest.approx(np.log(2))


# ---- statement 6: observations ------------------------------------------------------------------------------

def test_observations_hold():
    result = observed.check()
    claims_hold(result)
    assert result.claim("bijective (Eq. 7-8)").paper
    assert result.claim("chi-square identity").premise_met >= 3


def test_observed_reports_a_noisy_channel_as_not_preserving_pmi():
    result = observed.check(observations=lambda n: st.just(worlds.NoisyChannel(0.2, n_states=n)))
    bad = result.claim("bijective (Eq. 7-8)")
    assert not bad.holds and not result.paper_holds
    assert bad.counterexample["P_error"] > 1e-3


def test_observed_reports_wrong_bound_and_similarity():
    def block_max(K, pi, labels, m):
        O = np.eye(m)[labels]
        out = np.full((m, m), -np.inf)
        for x in range(m):
            for y in range(m):
                out[x, y] = K[np.ix_(O[:, x] > 0, O[:, y] > 0)].max()
        return out

    def unweighted(F, G, pi):
        return observed.p_weighted_cosine(F, G, np.ones_like(pi))

    result = observed.check(block_average=block_max, similarity=unweighted)
    assert not result.claim("Jensen merge").holds
    assert result.claim("Jensen merge").counterexample["worst_gap"] < 0
    bad = result.claim("chi-square identity").counterexample
    assert abs(bad["cosine"] - bad["sqrt_chi2_ratio"]) > 1e-6


def test_chi2_identity_on_a_worked_merge():
    world = worlds.make_world("sticky", n_states=4, stickiness=0.5)
    P = world.cooccurrence(2)
    merge = worlds.Merge(np.array([0, 0, 1, 1]))
    P_x = merge.pushforward(P)
    # Merging two of four exchangeable states keeps a known fraction of the chi-square information.
    assert observed.chi2_stable(P) == pytest.approx(worlds.chi2_information(P), rel=1e-10)
    ratio = observed.chi2_stable(P_x) / observed.chi2_stable(P)
    assert ratio == pytest.approx(1 / 3, rel=1e-10)  # (M-1)/(N-1) with M = 2 blocks of N = 4 exchangeable states
    verdict = observed.judge_chi2((world_case(world, 2, True), merge))
    assert verdict.ok and verdict.info["cosine"] == pytest.approx(np.sqrt(1 / 3), rel=1e-10)


def world_case(world, window, include_self):
    from proofs_check.strategies import Case

    return Case(world.cooccurrence(window, include_self), world.name, world, window, include_self)


# ---- harness ------------------------------------------------------------------------------------------------

def test_same_seed_same_numbers_and_other_seeds_differ():
    def numbers(result):
        return [(c.name, c.examples, c.premise_met, c.worst_margin, c.counts) for c in result.claims]

    assert numbers(sharpened.check(examples=20, seed=3)) == numbers(sharpened.check(examples=20, seed=3))
    assert numbers(sharpened.check(examples=20, seed=3)) != numbers(sharpened.check(examples=20, seed=4))


@pytest.mark.parametrize("kwargs, error, text", [
    ({"examples": 0}, ValueError, "'examples' parameter of f1.check must be >= 1. Got 0"),
    ({"examples": 2.5}, TypeError, "'examples' parameter of f1.check must be an int. Got 2.5"),
    ({"seed": -1}, ValueError, "'seed' parameter of f1.check must be >= 0. Got -1"),
    ({"shift": 3}, TypeError, "'shift' parameter of f1.check must be callable. Got int"),
])
def test_check_validates_its_input(kwargs, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        f1.check(**kwargs)


def test_rarity_validates_per_family():
    with pytest.raises(ValueError, match="'per_family' parameter of rarity.check must be >= 1. Got 0"):
        rarity.check(per_family=0)
    with pytest.raises(TypeError, match="'per_family' parameter of rarity.check must be an int. Got '3'"):
        rarity.check(per_family="3")


def test_run_all_rejects_unknown_statements():
    with pytest.raises(ValueError, match=r"'only' parameter of run_all .* Got \['7'\]"):
        run_all(only=("7",))


def test_result_serialises():
    result = rarity.check(examples=2, per_family=1)
    data = result.to_dict()
    assert data["statement"] == "4" and data["holds"] is True and len(data["table"]) == len(worlds.list_worlds())
    assert data["examples"] == sum(c["examples"] for c in data["claims"])


def test_cli_runs_writes_results_and_exits_zero(tmp_path):
    out = tmp_path / "proofs"
    proc = subprocess.run([sys.executable, "-m", "proofs_check", "--examples", "3", "--worlds-per-family", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("[") for line in lines) == 6  # one line per statement
    assert any("[paper]" in line for line in lines) and any("[ours" in line for line in lines)
    data = json.loads((out / "results.json").read_text())
    results = data["results"]
    assert data["seed"] == 0 and data["config"]["examples"] == 3
    assert results["paper_claims_hold"] is True
    assert [s["statement"] for s in results["statements"]] == ["1", "2", "3", "4", "5", "6"]
    table = results["statements"][3]["table"]
    assert {row["family"] for row in table} == set(worlds.list_worlds())


def test_cli_rejects_bad_arguments(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "proofs_check", "--examples", "0", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--examples: must be >= 1, got 0" in proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_a_crashing_judge_is_reported_as_a_failure():
    from proofs_check._core import explore, fixed
    from proofs_check.strategies import grid_kernels

    def judge(K):
        raise ArithmeticError(f"boom at N={K.shape[0]}")

    searched = explore("crash", "never", False, grid_kernels(), judge, 5, 0)
    assert not searched.holds and searched.examples == 1
    assert searched.counterexample == {"error": "ArithmeticError: boom at N=2"}  # shrunk to the smallest N
    listed = fixed("crash", "never", False, [np.zeros((3, 3))], judge)
    assert not listed.holds and listed.counterexample == {"error": "ArithmeticError: boom at N=3"}


@pytest.mark.parametrize("paper, strict, code", [(True, False, 1), (False, False, 0), (False, True, 1)])
def test_cli_exit_status_follows_paper_claims(monkeypatch, tmp_path, capsys, paper, strict, code):
    import proofs_check.__main__ as cli
    from proofs_check._core import ClaimResult, StatementResult

    broken = ClaimResult(name="x", text="x", paper=paper, holds=False, examples=1, premise_met=1,
                         worst_margin=-1.0, counterexample={"K": [[0.0]]}, seconds=0.0)
    result = StatementResult(statement="1", title="fake", claims=(broken,), seconds=0.0)
    monkeypatch.setattr(cli, "run_all", lambda *args, **kwargs: [result])
    argv = ["--only", "1", "--out", str(tmp_path)] + (["--strict"] if strict else [])
    assert cli.main(argv) == code
    printed = capsys.readouterr().out
    assert ("A PAPER CLAIM FAILS" in printed) == paper and "counterexample: {'K': [[0.0]]}" in printed
    saved = json.loads((tmp_path / "results.json").read_text())["results"]
    assert saved["paper_claims_hold"] is (not paper) and saved["all_claims_hold"] is False


# ---- the command line validates every option before any check runs --------------------------------------------

def _cli(*args):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "proofs_check", *args], capture_output=True, text=True, timeout=120)
    return proc, time.perf_counter() - start


@pytest.mark.parametrize("where", ["file", "below_file"])
def test_cli_rejects_a_file_as_out_before_running_any_check(tmp_path, where):
    existing = tmp_path / "taken.txt"
    existing.write_text("keep me")
    out = existing if where == "file" else existing / "proofs"
    proc, seconds = _cli("--examples", "3", "--worlds-per-family", "2", "--out", str(out))
    # Before: every check ran (about 30 s at the defaults) and then write_results died with a traceback.
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == (f"python -m proofs_check: error: The '--out' parameter of python -m proofs_check must be "
                           f"a directory (or a path that can become one). Got {str(out)!r}, where {str(existing)!r} "
                           f"is a file instead.\n")
    assert proc.stdout == ""  # not even the header line: nothing ran
    assert existing.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["taken.txt"]
    assert seconds < 20


@pytest.mark.parametrize("argv, message", [
    (["--examples", "-5"], "argument --examples: must be >= 1, got -5"),
    (["--examples", "many"], "argument --examples: invalid int value: 'many'"),
    (["--seed", "-1"], "argument --seed: must be >= 0, got -1"),
    (["--worlds-per-family", "0"], "argument --worlds-per-family: must be >= 1, got 0"),
    (["--only", "7"], "argument --only: choose among 1,2,3,4,5,6, got '7' ('7' unknown)"),
    (["--only", ","], "argument --only: choose among 1,2,3,4,5,6, got ','"),
    (["--only", "1,3,1"], "argument --only: name each statement once, got '1,3,1'"),
    (["--out", ""], "The '--out' parameter of python -m proofs_check must be a directory path. Got '' instead."),
    (["--strict=yes"], "argument --strict: ignored explicit argument 'yes'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_cli_usage_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch, argv, message):
    import proofs_check.__main__ as cli

    monkeypatch.setattr(cli, "run_all", lambda *a, **k: pytest.fail("a check ran despite a usage error"))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--out", str(out), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr()
    assert err.err == f"python -m proofs_check: error: {message}\n" and err.out == ""
    assert not out.exists()


def test_cli_usage_error_in_a_subprocess_is_one_line_and_quick(tmp_path):
    proc, seconds = _cli("--only", "1,9", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "python -m proofs_check: error: argument --only: choose among 1,2,3,4,5,6, got '1,9' " \
                          "('9' unknown)\n"
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists() and seconds < 20


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_cli_rejects_an_out_it_cannot_write(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        proc, _ = _cli("--out", str(locked / "proofs"))
    finally:
        locked.chmod(0o700)
    assert proc.returncode == 2 and f"{str(locked)!r} is not writable" in proc.stderr


def test_run_all_validates_everything_before_running(monkeypatch):
    from proofs_check import f1 as f1_module

    monkeypatch.setattr(f1_module, "check", lambda *a, **k: pytest.fail("statement 1 ran before validation"))
    # Before: statement 1 ran first, then rarity.check rejected per_family.
    with pytest.raises(ValueError, match="The 'per_family' parameter of run_all must be >= 1. Got 0 instead."):
        run_all(examples=2, per_family=0, only=("1", "4"))
    with pytest.raises(ValueError, match="The 'seed' parameter of run_all must be >= 0. Got -1 instead."):
        run_all(examples=2, seed=-1, only=("1",))
    # A bare string is one statement name, not a sequence of characters (before: "12" ran statements 1 and 2).
    with pytest.raises(ValueError, match=r"'only' parameter of run_all .* Got \['12'\]"):
        run_all(only="12")
