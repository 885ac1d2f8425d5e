"""Statement 2: Prop. F.1 sharpened (our extension; nothing here is claimed by the paper).

F.1's proof uses only that every off-diagonal entry is at most c = min_i m_i, m_i = (1/N) sum_j K_ij: then
M = K + C_F1 11^T = K - c 11^T has off-diagonals K_ij - c <= 0 and row k gives
  M_kk - sum_{j != k} |M_kj| = N (m_k - c) >= 0,
so M is diagonally dominant with a non-negative diagonal, hence PSD (Gershgorin). "Off-diagonals <= 0" and the
PMI structure are never used. Claims:
- sharpened: every real symmetric K (N >= 2) with max_{i != j} K_ij <= min_i m_i gives M diagonally dominant
  (margin >= -1e-12 scale) with M_ii >= 0 and lambda_min(M) >= -1e-9 scale, scale = max(1, max |K|).
- F.1 => sharpened: F.1's premise (kernel form) implies the sharpened condition, because it forces
  m_i >= (K_ii + (N-1) log rho_min) / N >= log rho_min + delta >= max_{i != j} K_ij.
- exact criterion: in general row k of M has margin N (m_k - c) - 2 sum_{j != k} (K_kj - c)_+, so M is diagonally
  dominant iff N (m_k - c) >= 2 sum_{j != k} (K_kj - c)_+ for every k (both sides to 1e-12 scale).
- strictly weaker: K = [[2, 1], [1, 2]] meets the sharpened condition but not F.1 (off-diagonal 1 > 0) and
  K + C_F1 11^T = [[0.5, -0.5], [-0.5, 0.5]] is PSD.
"""
from __future__ import annotations

import time

import numpy as np
from hypothesis import strategies as st

from . import strategies
from ._core import StatementResult, Verdict, check_args, check_callable, explore, fixed, rounded, statement
from ._kernel import (
    EIG_TOL,
    dominance_margin,
    f1_premise,
    f1_shift,
    min_eigenvalue,
    off_diagonal,
    scale,
    sharpened_condition,
)

TITLE = "Prop. F.1 sharpened"
TOL = 1e-12
WITNESS = np.array([[2.0, 1.0], [1.0, 2.0]])


def dominance_criterion(K: np.ndarray) -> np.ndarray:
    """Per-row margin N (m_k - c) - 2 sum_{j != k} (K_kj - c)_+ of K - c 11^T, c = min_k m_k."""
    m = K.mean(axis=1)
    c = m.min()
    excess = np.clip(K - c, 0, None)
    excess[np.diag_indices_from(excess)] = 0
    return K.shape[0] * (m - c) - 2 * excess.sum(axis=1)


def judge_sharpened(K: np.ndarray, condition=sharpened_condition) -> Verdict:
    """condition(K) => K + C_F1 11^T diagonally dominant, non-negative diagonal, PSD."""
    if not condition(K):
        return Verdict(ok=True, premise=False)
    M = K + f1_shift(K)
    s = scale(K)
    dominance, lam, diag = dominance_margin(M), min_eigenvalue(M), float(np.diag(M).min())
    ok = dominance >= -TOL * s and diag >= -TOL * s and lam >= -EIG_TOL * s
    tags = ()
    if not f1_premise(K).holds:
        tags = ("beyond_f1",) + (("positive_off_diagonal",) if off_diagonal(K).max() > 0 else ())
    return Verdict(ok=ok, margin=min(dominance, lam) / s,
                   info={"K": rounded(K), "C_F1": f1_shift(K), "dominance_margin": dominance,
                         "min_eigenvalue": lam}, tags=tags)


def judge_implication(K: np.ndarray) -> Verdict:
    """F.1's premise (kernel form) => the sharpened condition."""
    if not f1_premise(K).holds:
        return Verdict(ok=True, premise=False)
    gap = float(K.mean(axis=1).min() - off_diagonal(K).max())
    return Verdict(ok=gap >= -TOL * scale(K), margin=gap / scale(K), info={"K": rounded(K), "gap": gap})


def judge_criterion(K: np.ndarray, criterion=dominance_criterion) -> Verdict:
    """K + C_F1 11^T diagonally dominant <=> every row's criterion margin >= 0 (decisive rows only)."""
    s = scale(K)
    direct = dominance_margin(K + f1_shift(K))
    rows = criterion(K)
    if abs(direct) <= TOL * s and abs(rows.min()) <= TOL * s:
        return Verdict(ok=True, margin=0.0)  # both on the boundary: either verdict is right
    ok = (direct >= -TOL * s) == (rows.min() >= -TOL * s) and abs(direct - rows.min()) <= 1e-9 * s
    return Verdict(ok=ok, margin=-abs(direct - rows.min()) / s,
                   info={"K": rounded(K), "dominance_margin": direct, "criterion_margin": float(rows.min())})


def judge_witness(K: np.ndarray) -> Verdict:
    """K meets the sharpened condition, fails F.1's premise, and K + C_F1 11^T is PSD."""
    lam = min_eigenvalue(K + f1_shift(K))
    ok = sharpened_condition(K) and not f1_premise(K).holds and lam >= -EIG_TOL * scale(K)
    return Verdict(ok=ok, margin=lam, info={"K": rounded(K), "C_F1": f1_shift(K), "min_eigenvalue": lam})


def check(examples: int | None = None, seed: int = 0, condition=sharpened_condition) -> StatementResult:
    """Check statement 2; `condition` is the premise to test (default the sharpened one)."""
    examples, seed = check_args("sharpened.check", examples, seed)
    check_callable(condition, "condition", "sharpened.check")
    start = time.perf_counter()
    kernels = st.one_of(strategies.sharpened_kernels(), strategies.f1_kernels(), strategies.grid_kernels(),
                        strategies.pmi_kernels())
    f1_side = st.one_of(strategies.f1_kernels(), strategies.premise_cooccurrences().map(lambda case: case.K))
    claims = [
        explore("sharpened", "max_{i!=j} K_ij <= min_i mean_j K_ij => K + C_F1 11^T diagonally dominant, PSD",
                False, kernels, lambda K: judge_sharpened(K, condition), examples, seed),
        explore("F.1 => sharpened", "F.1's premise implies the sharpened condition", False, f1_side,
                judge_implication, examples, seed),
        explore("exact criterion", "K - c 11^T diag. dominant <=> N (m_k - c) >= 2 sum_{j!=k} (K_kj - c)_+ all k",
                False, st.one_of(strategies.grid_kernels(), strategies.sharpened_kernels()), judge_criterion,
                examples, seed),
        fixed("strictly weaker", "[[2, 1], [1, 2]]: sharpened holds, F.1 does not, K + C_F1 11^T is PSD", False,
              [WITNESS], judge_witness),
    ]
    return statement("2", TITLE, claims, start)
