"""Positive pairs (from a trajectory, or exact i.i.d. draws from P_coor), negatives, and the plug-in PMI."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from platonic_core.checks import check_bool, check_int, fail, param

from ._checks import check_distribution, check_joint, check_seed
from .kernels import pmi_kernel

# trajectory_pairs refuses to build more pairs than this (2^30 pairs of int64: 16 GiB) rather than run out of
# memory after a long time.
MAX_PAIRS = 2 ** 30


def trajectory_pairs(trajectory, window: int, include_self: bool = True) -> np.ndarray:
    """All ordered pairs (x_t, x_t') with 1 <= |t - t'| <= W (and t = t' if include_self): (M, 2) int array.

    Both orders of every lagged pair are listed, so the pair counts estimate the symmetric P_coor. Lags beyond the
    trajectory's length give no pairs; at most MAX_PAIRS pairs are built.
    """
    x = _as_trajectory(trajectory, "trajectory_pairs")
    w = check_int(window, "window", "trajectory_pairs", low=0)
    include_self = check_bool(include_self, "include_self", "trajectory_pairs")
    if w == 0 and not include_self:
        fail(param("window", "trajectory_pairs"), "be >= 1 when include_self=False (no pairs are left)", w)
    lags = min(w, x.size - 1)
    count = (x.size if include_self else 0) + lags * (2 * x.size - lags - 1)  # T + 2 sum_{d=1..L} (T - d)
    if count == 0:
        raise ValueError(f"The 'trajectory' parameter of trajectory_pairs is too short (length {x.size}) to give "
                         f"pairs within window {w}.")
    if count > MAX_PAIRS:
        fail(param("window", "trajectory_pairs"),
             f"give at most {MAX_PAIRS} pairs (16 GiB) with a trajectory of length {x.size}", f"{w} ({count} pairs)")
    parts = [np.stack([x, x], axis=1)] if include_self else []
    for d in range(1, lags + 1):
        fwd = np.stack([x[:-d], x[d:]], axis=1)
        parts += [fwd, fwd[:, ::-1]]
    return np.concatenate(parts)


def exact_pairs(P_coor, n_pairs: int, seed: int | None = 0) -> np.ndarray:
    """n_pairs i.i.d. draws (a, b) ~ P_coor: (n_pairs, 2) int array. The infinite-data limit of a trajectory.

    P_coor: a joint distribution (square, finite, non-negative, summing to 1 within 1e-8), dense or sparse.
    seed: an int >= 0 or None (fresh OS entropy)."""
    p = check_joint(P_coor, "P_coor", "exact_pairs")
    n = check_int(n_pairs, "n_pairs", "exact_pairs", low=1)
    seed = check_seed(seed, "seed", "exact_pairs", allow_none=True)
    if sp.issparse(p):
        coo = p.tocoo()
        rows, cols, probs = coo.row, coo.col, coo.data
    else:
        rows, cols = np.nonzero(p)
        probs = p[rows, cols]
    idx = _categorical(probs, n, seed, "exact_pairs")
    return np.stack([rows[idx], cols[idx]], axis=1).astype(np.int64)


def negatives(marginal, n: int, seed: int | None = 0) -> np.ndarray:
    """n i.i.d. draws from a marginal distribution (N,) (summing to 1 within 1e-8): (n,) int array.

    seed: an int >= 0 or None (fresh OS entropy)."""
    p = check_distribution(marginal, "marginal", "negatives")
    if p.ndim != 1:
        fail(param("marginal", "negatives"), "be 1-D", f"shape {p.shape}")
    n = check_int(n, "n", "negatives", low=1)
    seed = check_seed(seed, "seed", "negatives", allow_none=True)
    return _categorical(p, n, seed, "negatives")


def plugin_pmi(pairs, n_states: int, symmetric: bool = True) -> np.ndarray:
    """Count-based PMI estimate (n_states, n_states) from (M, 2) pairs; -inf where a pair was never seen.

    symmetric: count each pair in both orders (P_coor is symmetric), halving the estimator's variance.
    """
    symmetric = check_bool(symmetric, "symmetric", "plugin_pmi")
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
