"""Statement 1: Prop. F.1 (paper App. F.2) exactly as stated.

Premise, for K = K_PMI of a cooccurrence P_coor with marginal pi and N >= 2 states, with the tight
log rho_min = min_{i != j} K_ij and delta = max_{i != j} K_ij - log rho_min:
  (a) the off-diagonal values lie in [log rho_min, log rho_min + delta], a subset of (-inf, 0];
  (b) P_coor(z_i | z_i) / pi(z_i) >= e^{N delta} rho_min for every i, where
      P_coor(z_i | z_i) = P_coor(z_i, z_i) / pi(z_i).
Conclusion: with C_F1 = -min_i (1/N) sum_j K_ij, M = K + C_F1 11^T is diagonally dominant,
min_i (M_ii - sum_{j != i} |M_ij|) >= -1e-12 scale(K), and PSD, lambda_min(M) >= -1e-9 scale(K), where
scale(K) = max(1, max |K_ij|).

Why it holds: (a) and (b) give m_i = mean_j K_ij >= (K_ii + (N-1) log rho_min) / N >= log rho_min + delta >= K_kj
for all i and k != j, so with c = min_i m_i the off-diagonals of M = K - c 11^T are <= 0 and row k's dominance
margin is N (m_k - c) >= 0. Dominance is therefore weak, never strict: the row attaining c has margin exactly 0,
and worst margins of about -1e-16 are rounding.

Reading of (b): P_coor(z_i|z_i) / pi(z_i) = P_coor(z_i, z_i) / pi(z_i)^2 = exp K_ii, so (b) is
K_ii >= log rho_min + N delta; the second claim checks that the probability form and this kernel form agree on every
example. The literal alternative P_coor(z_i|z_i) >= e^{N delta} rho_min (no division by pi) is strictly stronger
(pi < 1); examples meeting the stated premise but not that reading are counted under "literal_reading_fails", and
those with a genuine spread delta > 1e-9 (not just constant off-diagonals) under "spread_delta>0".
"""
from __future__ import annotations

import time

import numpy as np
from hypothesis import strategies as st

from . import strategies
from ._core import StatementResult, Verdict, check_args, check_callable, explore, rounded, statement
from ._kernel import EIG_TOL, dominance_margin, f1_premise, f1_shift, min_eigenvalue, scale

TITLE = "Prop. F.1 as stated"
DOMINANCE_TOL = 1e-12


def judge_f1(case: strategies.Case, shift=f1_shift) -> Verdict:
    """F.1 on one cooccurrence: premise from probabilities, conclusion at C = shift(K)."""
    K, P, pi = case.K, case.P, case.pi
    conditional = np.diag(P) / pi  # P_coor(z_i | z_i)
    premise = f1_premise(K, diagonal_ratio=conditional / pi)
    if not premise.holds:
        return Verdict(ok=True, premise=False)
    c = shift(K)
    M = K + c
    s = scale(K)
    dominance, lam = dominance_margin(M), min_eigenvalue(M)
    ok = dominance >= -DOMINANCE_TOL * s and lam >= -EIG_TOL * s
    literal = bool(np.all(np.log(conditional) >= premise.log_rho_min + K.shape[0] * premise.delta))
    return Verdict(ok=ok, margin=min(dominance, lam) / s,
                   info={**case.describe(), "K": rounded(K), "log_rho_min": premise.log_rho_min,
                         "delta": premise.delta, "C": c, "dominance_margin": dominance, "min_eigenvalue": lam},
                   tags=(("literal_reading_fails",) if not literal else ())
                   + (("spread_delta>0",) if premise.delta > 1e-9 else ()))


def judge_reading(case: strategies.Case) -> Verdict:
    """The probability form of (b) and K_ii >= log rho_min + N delta decide alike, and exp K_ii equals
    P_coor(z_i|z_i) / pi(z_i) to 1e-12 (relative); compared only where K is finite."""
    K, P, pi = case.K, case.P, case.pi
    if not np.all(np.isfinite(K)):
        return Verdict(ok=True, premise=False)
    ratio = np.diag(P) / pi / pi
    gap = float(np.max(np.abs(ratio - np.exp(np.diag(K))) / ratio))
    from_probs = f1_premise(K, diagonal_ratio=ratio).diagonal
    kernel_form = f1_premise(K)
    from_kernel = kernel_form.diagonal
    # Exactly on the boundary either verdict is right.
    boundary = float(np.min(np.abs(np.diag(K) - kernel_form.log_rho_min - K.shape[0] * kernel_form.delta)))
    ok = gap <= 1e-12 and (from_probs == from_kernel or boundary <= 1e-12 * scale(K))
    return Verdict(ok=ok, margin=1e-12 - gap,
                   info={**case.describe(), "relative_gap": gap, "probability_form": from_probs,
                         "kernel_form": from_kernel})


def premise_or_generic():
    """Mostly worlds in F.1's regime (sticky over nearly uniform chains), some generic cooccurrences."""
    return st.one_of(strategies.premise_cooccurrences(), strategies.cooccurrences())


def check(examples: int | None = None, seed: int = 0, shift=f1_shift) -> StatementResult:
    """Check statement 1; `examples` per claim (None: the hypothesis profile's), `shift` the C to test."""
    examples, seed = check_args("f1.check", examples, seed)
    check_callable(shift, "shift", "f1.check")
    start = time.perf_counter()
    claims = [
        explore("F.1", "premise (a), (b) => K + C_F1 11^T diagonally dominant and PSD", True,
                premise_or_generic(), lambda case: judge_f1(case, shift), examples, seed),
        explore("diagonal reading", "P_coor(z_i|z_i)/pi(z_i) = exp K_ii, so (b) reads K_ii >= log rho_min + N delta",
                False, premise_or_generic(), judge_reading, examples, seed),
    ]
    return statement("1", TITLE, claims, start)
