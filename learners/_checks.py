"""Domain checks of `learners` (a cooccurrence matrix); scalar validators are platonic_core.checks."""
from __future__ import annotations

import numpy as np


def check_cooccurrence(P, owner: str) -> np.ndarray:
    """A dense float64 joint (N, N), symmetric, summing to 1, with no zero entry (K_PMI finite everywhere).

    Zero entries would make the optimum -inf; the error names the first of them instead of training into -inf.
    """
    p = P.toarray() if hasattr(P, "toarray") else np.asarray(P, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] < 2:
        raise ValueError(f"The 'P_coor' parameter of {owner} must be a square matrix with N >= 2. "
                         f"Got shape {p.shape}.")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"The 'P_coor' parameter of {owner} must have finite, non-negative entries.")
    if abs(p.sum() - 1) > 1e-8:
        raise ValueError(f"The 'P_coor' parameter of {owner} must sum to 1. Got {p.sum()!r}.")
    if not np.allclose(p, p.T, rtol=1e-8, atol=1e-14):
        raise ValueError(f"The 'P_coor' parameter of {owner} must be symmetric.")
    zeros = np.argwhere(p == 0)
    if zeros.size:
        shown = ", ".join(f"({a}, {b})" for a, b in zeros[:5])
        raise ValueError(f"The 'P_coor' parameter of {owner} has {len(zeros)} pairs with P_coor = 0 (K_PMI = -inf; "
                         f"no finite kernel is optimal), e.g. {shown}. Use a larger window or add teleport.")
    return (p + p.T) / 2
