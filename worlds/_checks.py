"""Domain checks of `worlds` (matrices, distributions, seeds); scalar validators and the message builder are
platonic_core.checks, and every message here is built with its `fail`:
    The 'P_coor' parameter of Merge.pushforward must be symmetric within 1e-12. Got ... instead.
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from platonic_core.checks import check_int, fail, param

# A distribution (or joint, or row of a transition) sums to 1 within this (absolute; the entries sum to 1).
SUM_ATOL = 1e-8
# A cooccurrence matrix is symmetric within this (absolute; its entries are probabilities summing to 1).
SYMMETRY_ATOL = 1e-12


def _numeric_array(value, name: str, owner: str) -> np.ndarray:
    """`value` as a float64 ndarray; TypeError for what is not real numbers (strings, complex, ragged lists)."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as err:
        fail(param(name, owner), "be a numeric array", f"{type(value).__name__} ({err})", TypeError)
    if raw.dtype.kind not in "biuf":
        fail(param(name, owner), "be an array of real numbers", f"dtype {raw.dtype}", TypeError)
    return raw.astype(np.float64, copy=False)


def _check_finite_non_negative(values: np.ndarray, name: str, owner: str, shape) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        fail(param(name, owner), "have finite entries", f"{int(bad.sum())} NaN or infinite entries (shape {shape})")
    if values.size and values.min() < 0:
        fail(param(name, owner), "have non-negative entries", f"minimum {values.min():.3g}")


def as_square(matrix, name: str, owner: str):
    """Validate a finite, non-negative square matrix (dense or sparse); return float64 ndarray or CSR."""
    if sp.issparse(matrix):
        if matrix.dtype.kind not in "biuf":
            fail(param(name, owner), "be a matrix of real numbers", f"dtype {matrix.dtype}", TypeError)
        m = sp.csr_matrix(matrix, dtype=np.float64)
        values = m.data
    else:
        m = _numeric_array(matrix, name, owner)
        values = m
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        fail(param(name, owner), "be a non-empty square matrix", f"shape {m.shape}")
    _check_finite_non_negative(values, name, owner, m.shape)
    return m


def check_row_stochastic(m, name: str, owner: str, atol: float = 1e-9) -> None:
    """Raise unless every row of `m` sums to 1 within `atol`."""
    rows = np.asarray(m.sum(axis=1)).ravel()
    worst = int(np.argmax(np.abs(rows - 1)))
    if abs(rows[worst] - 1) > atol:
        fail(param(name, owner), f"be row-stochastic (rows sum to 1 within {atol:g})",
             f"row {worst} summing to {float(rows[worst])!r}")


def check_distribution(p, name: str, owner: str, atol: float = SUM_ATOL) -> np.ndarray:
    """A probability distribution of any shape: non-empty, finite, non-negative, summing to 1 within `atol`.
    Returns it as a float64 array (shape kept)."""
    q = _numeric_array(p, name, owner)
    if q.size == 0:
        fail(param(name, owner), "be a non-empty distribution", f"shape {q.shape}")
    _check_finite_non_negative(q, name, owner, q.shape)
    total = float(q.sum())
    if abs(total - 1) > atol:
        fail(param(name, owner), f"sum to 1 within {atol:g} (a probability distribution)", f"a sum of {total!r}")
    return q


def check_joint(P, name: str, owner: str, atol: float = SUM_ATOL):
    """A joint distribution of two variables: square, finite, non-negative, summing to 1 within `atol`.
    Returns float64 ndarray or CSR (as `as_square`)."""
    p = as_square(P, name, owner)
    total = float(p.sum())
    if abs(total - 1) > atol:
        fail(param(name, owner), f"sum to 1 within {atol:g} (a joint distribution)", f"a sum of {total!r}")
    return p


def check_cooccurrence(P, n_states: int, name: str, owner: str):
    """A cooccurrence matrix P_coor over `n_states` states: (n_states, n_states), finite, non-negative, symmetric
    within SYMMETRY_ATOL and summing to 1 within SUM_ATOL. Returns float64 ndarray or CSR."""
    p = as_square(P, name, owner)
    if p.shape[0] != n_states:
        fail(param(name, owner), f"be {n_states} x {n_states} (the observation's n_states)", f"shape {p.shape}")
    asym = abs(p - p.T).max() if sp.issparse(p) else np.abs(p - p.T).max()
    if asym > SYMMETRY_ATOL:
        fail(param(name, owner), f"be symmetric within {SYMMETRY_ATOL:g} (a cooccurrence matrix)",
             f"max |P - P^T| = {float(asym):.3g}")
    total = float(p.sum())
    if abs(total - 1) > SUM_ATOL:
        fail(param(name, owner), f"sum to 1 within {SUM_ATOL:g} (a cooccurrence matrix)", f"a sum of {total!r}")
    return p


def check_seed(seed, name: str, owner: str, allow_none: bool = False):
    """A seed: an int >= 0 (None too when `allow_none`: fresh OS entropy, not reproducible)."""
    if seed is None and allow_none:
        return None
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        must = "be an int >= 0 or None" if allow_none else "be an int >= 0"
        fail(param(name, owner), must, f"{seed!r} ({type(seed).__name__})", TypeError)
    return check_int(seed, name, owner, low=0)


def check_sizes(sizes, name: str, owner: str, low: int = 1, min_len: int = 1) -> tuple[int, ...]:
    """A non-empty sequence (tuple, list, 1-D array) of ints >= `low`."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__") or np.ndim(sizes) != 1:
        fail(param(name, owner), "be a sequence of ints", f"{sizes!r} ({type(sizes).__name__})", TypeError)
    out = tuple(check_int(s, name, owner, low=low) for s in sizes)
    if len(out) < min_len:
        fail(param(name, owner), f"hold at least {min_len} size{'s' if min_len > 1 else ''}", repr(out))
    return out


def check_name(value, name: str, owner: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        fail(param(name, owner), "be a non-empty string", f"{value!r} ({type(value).__name__})", TypeError)
    return value
