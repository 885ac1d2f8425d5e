"""Positive pairs (from a trajectory, or exact i.i.d. draws from P_coor), negatives, and the plug-in PMI."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from platonic_core.checks import check_int

from ._checks import as_square
from .kernels import pmi_kernel


def trajectory_pairs(trajectory, window: int, include_self: bool = True) -> np.ndarray:
    """All ordered pairs (x_t, x_t') with 1 <= |t - t'| <= W (and t = t' if include_self): (M, 2) int array.

    Both orders of every lagged pair are listed, so the pair counts estimate the symmetric P_coor.
    """
    x = _as_trajectory(trajectory, "trajectory_pairs")
    w = check_int(window, "window", "trajectory_pairs", low=0)
    if w == 0 and not include_self:
        raise ValueError("The 'window' parameter of trajectory_pairs must be >= 1 when include_self=False.")
    parts = [np.stack([x, x], axis=1)] if include_self else []
    for d in range(1, min(w, x.size - 1) + 1):
        fwd = np.stack([x[:-d], x[d:]], axis=1)
        parts += [fwd, fwd[:, ::-1]]
    if not parts:
        raise ValueError(f"The 'trajectory' parameter of trajectory_pairs is too short (length {x.size}) to give "
                         f"pairs within window {w}.")
    return np.concatenate(parts)


def exact_pairs(P_coor, n_pairs: int, seed: int | None = 0) -> np.ndarray:
    """n_pairs i.i.d. draws (a, b) ~ P_coor: (n_pairs, 2) int array. The infinite-data limit of a trajectory."""
    p = as_square(P_coor, "P_coor", "exact_pairs")
    n = check_int(n_pairs, "n_pairs", "exact_pairs", low=1)
    if sp.issparse(p):
        coo = p.tocoo()
        rows, cols, probs = coo.row, coo.col, coo.data
    else:
        rows, cols = np.nonzero(p)
        probs = p[rows, cols]
    idx = _categorical(probs, n, seed, "exact_pairs")
    return np.stack([rows[idx], cols[idx]], axis=1).astype(np.int64)


def negatives(marginal, n: int, seed: int | None = 0) -> np.ndarray:
    """n i.i.d. draws from a marginal distribution (N,): (n,) int array."""
    p = np.asarray(marginal, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"The 'marginal' parameter of negatives must be a non-empty 1-D non-negative array. "
                         f"Got shape {p.shape}.")
    return _categorical(p, check_int(n, "n", "negatives", low=1), seed, "negatives")


def plugin_pmi(pairs, n_states: int, symmetric: bool = True) -> np.ndarray:
    """Count-based PMI estimate (n_states, n_states) from (M, 2) pairs; -inf where a pair was never seen.

    symmetric: count each pair in both orders (P_coor is symmetric), halving the estimator's variance.
    """
    counts = _pair_counts(pairs, n_states, "plugin_pmi")
    if symmetric:
        counts = counts + counts.T
    unseen = np.flatnonzero(counts.sum(axis=1) == 0)
    if unseen.size:
        raise ValueError(f"The 'pairs' parameter of plugin_pmi never shows states {unseen[:10].tolist()}; "
                         "their PMI is undefined.")
    return pmi_kernel(counts / counts.sum())


def empirical_cooccurrence(pairs, n_states: int) -> np.ndarray:
    """Normalised pair counts (n_states, n_states), summing to 1."""
    counts = _pair_counts(pairs, n_states, "empirical_cooccurrence")
    return counts / counts.sum()


def _pair_counts(pairs, n_states: int, owner: str) -> np.ndarray:
    n = check_int(n_states, "n_states", owner, low=1)
    pr = np.asarray(pairs)
    if pr.ndim != 2 or pr.shape[1] != 2 or pr.shape[0] == 0 or not np.issubdtype(pr.dtype, np.integer):
        raise ValueError(f"The 'pairs' parameter of {owner} must be a non-empty (M, 2) integer array. "
                         f"Got dtype {pr.dtype}, shape {pr.shape}.")
    if pr.min() < 0 or pr.max() >= n:
        raise ValueError(f"The 'pairs' parameter of {owner} must hold values in [0, {n - 1}]. "
                         f"Got range [{pr.min()}, {pr.max()}].")
    return np.bincount(pr[:, 0] * n + pr[:, 1], minlength=n * n).reshape(n, n).astype(np.float64)


def _categorical(probs: np.ndarray, n: int, seed, owner: str) -> np.ndarray:
    total = probs.sum()
    if not total > 0:
        raise ValueError(f"{owner} needs a distribution with positive mass.")
    cdf = np.cumsum(probs / total)
    u = np.random.default_rng(seed).random(n)
    return np.minimum(np.searchsorted(cdf, u, side="right"), probs.size - 1)


def _as_trajectory(trajectory, owner: str) -> np.ndarray:
    x = np.asarray(trajectory)
    if x.ndim != 1 or x.size < 1 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"The 'trajectory' parameter of {owner} must be a non-empty 1-D integer array. "
                         f"Got dtype {x.dtype}, shape {x.shape}.")
    return x
