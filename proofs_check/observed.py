"""Statement 6: what observations do to P_coor and K_PMI.

Notation: world cooccurrence P_Z with marginal pi, observation with row-stochastic matrix O (N_z, N_x),
P_X = observation.pushforward(P_Z, W, include_self), p = P_X's marginal; a deterministic map z -> h(z).
- bijective (paper, Eq. 7-8): for a Permutation, VectorCode or TokenCode, with sigma(z) = argmax_x O[z, x]:
  sigma is a bijection of the states, the codes (vectors, strings) are pairwise distinct, and
  P_X[sigma(a), sigma(b)] = P_Z[a, b], K_X[sigma(a), sigma(b)] = K_Z[a, b] (to 1e-12; -inf where P_Z = 0).
  P_X is also rebuilt another way, as the cooccurrence of the relabelled chain (transition O^T A O), which must
  equal the pushforward.
- Jensen (ours): for a deterministic merge (Merge, DropFactor), P_X = O^T P_Z O (block sums), so
  e^{K_X(x, y)} = sum_{a in x, b in y} w_a w_b e^{K_Z(a, b)} with w_a = pi_a / p_x, and by concavity of log
  K_X(x, y) >= sum_{a in x, b in y} w_a w_b K_Z(a, b) (to 1e-12 scale), with equality iff K_Z is constant on
  the block. Diagonal blocks included: for a deterministic map the d = 0 term maps exactly (docs/DESIGN.md).
- chi-square identity (ours, docs/DESIGN.md): with R = e^K - 1 = P / (p p^T) - 1 and <F, G> = sum pi_a pi_b F G,
  the cosine between R_Z and R_X o h is sqrt(chi2(X; X') / chi2(Z; Z')) =
  worlds.predicted_lossy_alignment(P_Z, P_X), and at most 1. Proof: <R_Z, R_X o h> = chi2(X) = ||R_X o h||^2
  and ||R_Z||^2 = chi2(Z). chi2 is computed as sum (P - p p^T)^2 / (p p^T); tolerances in `judge_chi2`.
  Premise: chi2(Z) > 1e-12 and chi2(X) > 1e-20 (otherwise the cosine is 0/0 or rounding noise).
"""
from __future__ import annotations

import time

import numpy as np

import worlds

from . import strategies
from ._core import StatementResult, Verdict, check_args, check_callable, explore, rounded, statement
from ._kernel import scale

TITLE = "Observations: bijections, merges, chi-square alignment"


def _obs_info(case: strategies.Case, obs) -> dict:
    return {**case.describe(), "observation": repr(obs), "O": rounded(obs.matrix)}


def _distinct_codes(obs) -> bool:
    if isinstance(obs, worlds.VectorCode):
        return len({tuple(v) for v in obs.vectors}) == obs.n_states
    if isinstance(obs, worlds.TokenCode):
        return len(set(obs.strings)) == obs.n_states
    return True


def judge_bijective(example) -> Verdict:
    case, obs = example
    info = _obs_info(case, obs)
    n = case.P.shape[0]
    if obs.n_obs != n:
        return Verdict(ok=False, info={**info, "reason": f"{n} states observed as {obs.n_obs} values"})
    sigma = obs.matrix.argmax(axis=1)
    if len(set(sigma.tolist())) != n or not _distinct_codes(obs):
        return Verdict(ok=False, info={**info, "reason": "not a bijection"})
    P_x = obs.pushforward(case.P, case.window, case.include_self)
    err_p = float(np.abs(P_x[np.ix_(sigma, sigma)] - case.P).max())
    K_z, K_x = case.K, worlds.pmi_kernel(P_x)[np.ix_(sigma, sigma)]
    same_support = np.array_equal(np.isfinite(K_z), np.isfinite(K_x))
    finite = np.isfinite(K_z) & np.isfinite(K_x)
    err_k = float(np.abs(K_x[finite] - K_z[finite]).max()) if finite.any() else 0.0
    err_chain = 0.0
    if np.array_equal(obs.matrix, obs.matrix.astype(bool).astype(float)):  # a permutation matrix: rebuild
        O = obs.matrix
        relabelled = worlds.MarkovWorld(O.T @ case.world.transition @ O)
        err_chain = float(np.abs(relabelled.cooccurrence(case.window, case.include_self) - P_x).max())
    worst = max(err_p, err_k / scale(K_z), err_chain)
    return Verdict(ok=same_support and worst <= 1e-12, margin=1e-12 - worst,
                   info={**info, "P_error": err_p, "K_error": err_k, "relabelled_chain_error": err_chain,
                         "same_support": same_support})


def p_weighted_block_average(K_z: np.ndarray, pi: np.ndarray, labels: np.ndarray, n_obs: int) -> np.ndarray:
    """B[x, y] = sum_{h(a) = x, h(b) = y} (pi_a pi_b / (p_x p_y)) K_Z(a, b); -inf if any block entry is -inf."""
    O = np.eye(n_obs)[labels]
    p = O.T @ pi
    W = O * (pi / p[labels])[:, None]  # W[a, x] = w_a for h(a) = x
    out = W.T @ np.where(np.isfinite(K_z), K_z, 0.0) @ W
    blocked = (O.T @ (~np.isfinite(K_z)).astype(float) @ O) > 0
    return np.where(blocked, -np.inf, out)


def judge_jensen(example, block_average=p_weighted_block_average) -> Verdict:
    case, obs = example
    labels = obs.matrix.argmax(axis=1)
    P_x = obs.pushforward(case.P, case.window, case.include_self)
    blocks = np.zeros_like(P_x)
    np.add.at(blocks, (labels[:, None], labels[None, :]), case.P)  # block sums, computed without O
    K_x = worlds.pmi_kernel(P_x)
    bound = block_average(case.K, case.pi, labels, obs.n_obs)
    s = scale(case.K)
    with np.errstate(invalid="ignore"):  # -inf - -inf where a block has a zero; such blocks bound nothing
        gap = np.where(np.isneginf(bound), np.inf, K_x - bound)
    worst = float(gap.min())
    identity = float(np.abs(P_x - blocks).max())
    ok = identity <= 1e-15 * max(1, case.P.shape[0]) and worst >= -1e-12 * s
    return Verdict(ok=ok, margin=worst / s,
                   info={**_obs_info(case, obs), "K_X": rounded(K_x), "block_average": rounded(bound),
                         "worst_gap": worst, "block_sum_error": identity})


def p_weighted_cosine(F: np.ndarray, G: np.ndarray, pi: np.ndarray) -> float:
    w = np.outer(pi, pi)
    return float(np.sum(w * F * G) / np.sqrt(np.sum(w * F * F) * np.sum(w * G * G)))


def chi2_stable(P: np.ndarray) -> float:
    """sum (P - p p^T)^2 / (p p^T): the chi-square information without the cancellation of sum P^2/(p p^T) - 1."""
    p = P.sum(axis=1)
    outer = np.outer(p, p)
    return float(np.sum((P - outer) ** 2 / outer))


def judge_chi2(example, similarity=p_weighted_cosine) -> Verdict:
    """cosine = sqrt(chi2_X / chi2_Z) to 1e-10 + 1e-13 / sqrt(chi2_X) (R_X's rounding, relative to its size), and
    worlds.predicted_lossy_alignment agrees to 1e-10 + 1e-15 N^2 / sqrt(chi2_X chi2_Z) (its sum - 1 form cancels)."""
    case, obs = example
    P_z, pi = case.P, case.pi
    labels = obs.matrix.argmax(axis=1)
    P_x = obs.pushforward(P_z, case.window, case.include_self)
    chi_z, chi_x = chi2_stable(P_z), chi2_stable(P_x)
    if not (chi_z > 1e-12 and chi_x > 1e-20):  # independent pairs: the cosine is 0/0 or rounding noise
        return Verdict(ok=True, premise=False)
    p = P_x.sum(axis=1)
    R_z = P_z / np.outer(pi, pi) - 1
    R_x = (P_x / np.outer(p, p) - 1)[np.ix_(labels, labels)]
    cosine = similarity(R_z, R_x, pi)
    exact = float(np.sqrt(chi_x / chi_z))
    predicted = worlds.predicted_lossy_alignment(P_z, P_x)
    tol_cos = 1e-10 + 1e-13 / np.sqrt(chi_x)
    tol_pred = 1e-10 + 1e-15 * P_z.shape[0] ** 2 / np.sqrt(chi_x * chi_z)
    err_cos, err_pred = abs(cosine - exact), abs(predicted - exact)
    ok = err_cos <= tol_cos and err_pred <= tol_pred and exact <= 1 + 1e-12
    return Verdict(ok=ok, margin=min(tol_cos - err_cos, tol_pred - err_pred),
                   info={**_obs_info(case, obs), "cosine": cosine, "sqrt_chi2_ratio": exact,
                         "predicted_lossy_alignment": predicted, "chi2_Z": chi_z, "chi2_X": chi_x})


def check(examples: int | None = None, seed: int = 0, observations=strategies.bijections,
          block_average=p_weighted_block_average, similarity=p_weighted_cosine) -> StatementResult:
    """Check statement 6. `observations(n)` is a strategy of the observations the bijective claim is tested on;
    `block_average` and `similarity` are the bound and the similarity of the two merge claims."""
    examples, seed = check_args("observed.check", examples, seed)
    for value, name in ((observations, "observations"), (block_average, "block_average"),
                        (similarity, "similarity")):
        check_callable(value, name, "observed.check")
    start = time.perf_counter()
    merged = strategies.merged_cases()
    claims = [
        explore("bijective (Eq. 7-8)", "bijective observations preserve P_coor and K_PMI up to relabelling", True,
                strategies.observed_cases(observations), judge_bijective, examples, seed),
        explore("Jensen merge", "deterministic merge: K_X >= p-weighted block average of K_Z", False, merged,
                lambda ex: judge_jensen(ex, block_average), examples, seed),
        explore("chi-square identity", "p-weighted cos(e^K_Z - 1, e^K_X - 1) = sqrt(chi2(X)/chi2(Z))", False,
                merged, lambda ex: judge_chi2(ex, similarity), examples, seed),
    ]
    return statement("6", TITLE, claims, start)
