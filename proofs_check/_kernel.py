"""Kernel quantities the statements share: F.1's premise and shift, diagonal dominance, eigenvalue tolerance."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Eigenvalue tolerance, relative to the kernel's scale: "PSD" means lambda_min >= -EIG_TOL * scale(K).
EIG_TOL = 1e-9


def scale(K: np.ndarray) -> float:
    """max(1, max |K_ij|) over finite entries: the unit the tolerances are relative to."""
    finite = K[np.isfinite(K)]
    return float(max(1.0, np.abs(finite).max())) if finite.size else 1.0


def off_diagonal(K: np.ndarray) -> np.ndarray:
    return K[~np.eye(K.shape[0], dtype=bool)]


def min_eigenvalue(M: np.ndarray) -> float:
    return float(np.linalg.eigvalsh((M + M.T) / 2)[0])


def dominance_margin(M: np.ndarray) -> float:
    """min_i (M_ii - sum_{j != i} |M_ij|): >= 0 iff M is (weakly) diagonally dominant with M_ii >= 0."""
    off = np.abs(M).sum(axis=1) - np.abs(np.diag(M))
    return float(np.min(np.diag(M) - off))


def f1_shift(K: np.ndarray) -> float:
    """Prop. F.1's shift C_F1 = -min_i (1/N) sum_j K_ij."""
    return float(-np.min(K.mean(axis=1)))


@dataclass(frozen=True)
class F1Premise:
    """F.1's premise for a PMI kernel, from the tightest rho_min and delta.

    log_rho_min = min_{i != j} K_ij and delta = max_{i != j} K_ij - log_rho_min; any looser (rho_min, delta)
    only makes the diagonal condition harder, so the tight pair decides whether the premise can hold.
    off_nonpositive: [log rho_min, log rho_min + delta] lies in (-inf, 0], i.e. every off-diagonal K_ij <= 0.
    diagonal: for all i, K_ii >= log rho_min + N delta (P_coor(z_i|z_i) / pi(z_i) >= e^{N delta} rho_min).
    """

    log_rho_min: float
    delta: float
    off_nonpositive: bool
    diagonal: bool

    @property
    def holds(self) -> bool:
        return self.off_nonpositive and self.diagonal


def f1_premise(K: np.ndarray, diagonal_ratio: np.ndarray | None = None) -> F1Premise:
    """F.1's premise for kernel K (N >= 2, finite entries assumed by the caller; -inf entries fail it).

    diagonal_ratio: P_coor(z_i|z_i) / pi(z_i) computed from probabilities, when K is a PMI kernel; the diagonal
    condition then uses it as the paper writes it. Default exp(K_ii), which equals it for K = K_PMI.
    """
    n = K.shape[0]
    off = off_diagonal(K)
    if not np.all(np.isfinite(K)):
        return F1Premise(-np.inf, np.inf, False, False)
    low, high = float(off.min()), float(off.max())
    delta = high - low
    log_ratio = np.diag(K) if diagonal_ratio is None else np.log(np.asarray(diagonal_ratio, dtype=float))
    diagonal = bool(np.all(log_ratio >= low + n * delta))
    return F1Premise(low, delta, high <= 0.0, diagonal)


def sharpened_condition(K: np.ndarray) -> bool:
    """max_{i != j} K_ij <= min_i mean_j K_ij (all entries finite)."""
    return bool(np.all(np.isfinite(K)) and off_diagonal(K).max() <= K.mean(axis=1).min())
