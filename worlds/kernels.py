"""The PMI kernel of a cooccurrence matrix and the least constant shift that makes a kernel PSD."""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from platonic_core.checks import check_real, fail, param

from ._checks import _numeric_array, check_joint


def pmi_kernel(P) -> np.ndarray:
    """K_PMI(a, b) = log P(a, b) - log p(a) - log p'(b) for a joint P (N, N) summing to 1.

    p and p' are P's row and column marginals (equal for a symmetric P_coor). Entries where P = 0 are -inf,
    never clipped. Dense or sparse input; dense (N, N) output.
    """
    p = check_joint(P, "P", "pmi_kernel")
    rows = np.asarray(p.sum(axis=1)).ravel()
    cols = np.asarray(p.sum(axis=0)).ravel()
    empty = np.flatnonzero((rows == 0) | (cols == 0))
    if empty.size:
        fail(param("P", "pmi_kernel"), "have no state with zero marginal probability (PMI undefined there; drop "
             "them first)", f"states {empty[:10].tolist()}{'...' if empty.size > 10 else ''}")
    dense = p.toarray() if sp.issparse(p) else p
    with np.errstate(divide="ignore"):
        return np.log(dense) - np.log(rows)[:, None] - np.log(cols)[None, :]


def min_shift(K, tol: float | None = None) -> float:
    """The least C such that K + C 11^T is PSD; +inf when no C does (docs/DESIGN.md).

    Write K in the basis (1/sqrt(N), U) with U an orthonormal basis of 1-perp: a = 1^T K 1 / N, b = U^T K 1/sqrt(N),
    M = U^T K U. Some C works iff M is PSD and b lies in range(M), and then C* = (b^T M^+ b - a) / N, which equals
    -min_{1^T v = 1} v^T K v. Kernels with -inf entries are never PSD-able.

    K: (N, N) symmetric, real; tol: eigenvalue tolerance (default 1e-9 * N * max|K|). Scale-equivariant:
    min_shift(c K, c tol) = c min_shift(K, tol) for c > 0, at any magnitude.
    """
    k = _numeric_array(K, "K", "min_shift")
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
        fail(param("K", "min_shift"), "be a non-empty square matrix", f"shape {k.shape}")
    if np.isnan(k).any():
        fail(param("K", "min_shift"), "not contain NaN", f"{int(np.isnan(k).sum())} NaN entries")
    if tol is not None:
        tol = check_real(tol, "tol", "min_shift", low=0)
    if np.isinf(k).any():
        return float("inf")
    if not np.allclose(k, k.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(k).max())):
        fail(param("K", "min_shift"), "be symmetric", f"max |K - K^T| = {np.abs(k - k.T).max():.3g}")
    n = k.shape[0]
    if n == 1:
        return float(-k[0, 0])
    # C* scales with K: work on K 2^-e with max|K 2^-e| in [0.5, 1) (exact), so that no product overflows at 1e300
    # or underflows at 1e-300, and scale C* back
    top = np.abs(k).max()
    f = math.ldexp(1.0, -max(math.frexp(top)[1], -1022)) if top > 0 else 1.0
    k = k * f
    k = (k + k.T) / 2
    tol = 1e-9 * n * top * f if tol is None else tol * f
    basis = _complement_of_ones(n)
    one = np.full(n, 1 / np.sqrt(n))
    a = one @ k @ one
    b = basis.T @ (k @ one)
    evals, evecs = np.linalg.eigh(basis.T @ k @ basis)
    if evals.min() < -tol:
        return float("inf")
    coef = evecs.T @ b
    null = evals <= tol
    if np.any(np.abs(coef[null]) > np.sqrt(tol)):
        return float("inf")
    quad = np.sum(coef[~null] ** 2 / evals[~null])
    return float((quad - a) / n / f)


def is_psd_able(K, tol: float | None = None) -> bool:
    """Whether some constant shift K + C 11^T is PSD."""
    return bool(np.isfinite(min_shift(K, tol)))


def _complement_of_ones(n: int) -> np.ndarray:
    """(n, n-1) orthonormal basis of the vectors orthogonal to 1 (Helmert-like, via QR)."""
    q, _ = np.linalg.qr(np.column_stack([np.ones(n), np.eye(n)[:, : n - 1]]))
    return q[:, 1:]
