"""Input validation shared by the public entry points of `worlds` (messages name parameter, constraint, value)."""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp


def check_int(value, name: str, owner: str, low: int | None = None, high: int | None = None) -> int:
    """Return `value` as int if it is an integer in [low, high], else raise naming `name` and `owner`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"The '{name}' parameter of {owner} must be an integer. Got {value!r} instead.")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"The '{name}' parameter of {owner} must be in [{lo}, {hi}]. Got {value} instead.")
    return value


def check_prob(value, name: str, owner: str, open_low=False, open_high=False) -> float:
    """Return `value` as float in [0, 1] (ends opened on request), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"The '{name}' parameter of {owner} must be a real number. Got {value!r} instead.")
    value = float(value)
    ok = (0 < value if open_low else 0 <= value) and (value < 1 if open_high else value <= 1)
    if not ok:
        interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise ValueError(f"The '{name}' parameter of {owner} must be in {interval}. Got {value} instead.")
    return value


def as_square(matrix, name: str, owner: str):
    """Validate a finite, non-negative square matrix (dense or sparse); return float64 ndarray or CSR."""
    if sp.issparse(matrix):
        m = sp.csr_matrix(matrix, dtype=np.float64)
        values = m.data
    else:
        try:
            m = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"The '{name}' parameter of {owner} must be a numeric matrix. {err}") from None
        values = m
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"The '{name}' parameter of {owner} must be a non-empty square matrix. "
                         f"Got shape {m.shape} instead.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"The '{name}' parameter of {owner} must have finite entries. Got NaN or inf.")
    if np.any(values < 0):
        raise ValueError(f"The '{name}' parameter of {owner} must have non-negative entries. "
                         f"Got minimum {values.min():.3g}.")
    return m


def check_row_stochastic(m, name: str, owner: str, atol: float = 1e-9) -> None:
    """Raise unless every row of `m` sums to 1 within `atol`."""
    rows = np.asarray(m.sum(axis=1)).ravel()
    worst = int(np.argmax(np.abs(rows - 1)))
    if abs(rows[worst] - 1) > atol:
        raise ValueError(f"The '{name}' parameter of {owner} must be row-stochastic (rows sum to 1 within "
                         f"{atol:g}). Row {worst} sums to {rows[worst]!r}.")
