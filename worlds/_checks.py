"""Domain checks of `worlds` (matrices); scalar validators and the message builder are platonic_core.checks."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


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
