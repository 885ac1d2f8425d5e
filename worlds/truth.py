"""A metric-neutral ground truth for two representations of the same states: how much of one an affine map of the
other explains (the linear stitching loss), and how well a Bayes decoder recovers the state, or a factor of it, from
each. Neither quantity is one of the alignment metrics under test.

Stitching loss. Representations F_A (N x d_A) and F_B (N x d_B) of states with probabilities p (p >= 0, sum 1).
The p-weighted linear stitching loss A -> B is the share of B's p-weighted variance that no affine map of A explains,

    L(A -> B) = min_{W, b} sum_s p_s ||F_A[s] W + b - F_B[s]||^2 / sum_s p_s ||F_B[s] - mu_B||^2,   mu = p^T F,

i.e. 1 - R^2 of the p-weighted least-squares regression of F_B on F_A. Closed form: for any W the best intercept is
b = mu_B - mu_A W, which leaves the centred, weighted X = D^1/2 (F_A - 1 mu_A) and Y = D^1/2 (F_B - 1 mu_B),
D = diag(p), and min_W ||X W - Y||_F^2 is the residual of projecting Y on range(X):

    L(A -> B) = ||Y - U U^T Y||_F^2 / ||Y||_F^2 = 1 - ||U^T Y||_F^2 / ||Y||_F^2,

U an orthonormal basis of range(X) (the left singular vectors of X whose singular values exceed 1e-10 times the
largest). So L depends on A only through range(X): it is invariant to every invertible linear map and translation
of A (F_A -> F_A M + t), and to orthogonal maps, translations and positive scale of B; L(A -> B) = L(B -> A) = 0 when
F_B = F_A M + t with M invertible (gauge-equivalent linear representations); L lies in [0, 1] and is not symmetric.
Two representations of different variables over a joint law J(z, x) (F_A of the state z, F_B of an observation x)
are scored as representations of the pairs (z, x), with p = J: the loss then counts the part of F_B[x] that z does
not determine.

Bayes decodability. For a joint law J(s, x) = P(state s, observed value x), the best decoder (MAP) recovers s with
probability sum_x max_s J(s, x); any decoder g: x -> s scores sum_x J(g(x), x), which is no more. Of a factor f(s):
sum_x max_v sum_{s: f(s) = v} J(s, x). From a representation F of x (rows F[x]): observed values whose rows of F are
equal cannot be told apart, so their columns of J are summed first.
"""
from __future__ import annotations

import numpy as np

from platonic_core.checks import fail, param

RANK_TOL = 1e-10  # singular values of X below this share of the largest span nothing


def _matrix(X, name, owner, rows=None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or not np.isfinite(X).all() or (rows is not None and len(X) != rows):
        got = f"shape {X.shape}" if X.ndim != 2 or rows is not None and len(X) != rows else "non-finite values"
        fail(param(name, owner), f"be a finite 2-D array{'' if rows is None else f' with {rows} rows'}", got)
    return X


def _probabilities(p, n, name, owner) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (n,) or not np.isfinite(p).all() or (p < 0).any() or abs(p.sum() - 1) > 1e-9:
        fail(param(name, owner), f"be {n} probabilities (>= 0, sum 1)",
             f"shape {p.shape}" if p.shape != (n,) else f"min {p.min():.3g}, sum {p.sum():.12g}")
    return p


def stitching_loss(FA, FB, p) -> float:
    """The p-weighted linear stitching loss A -> B: 1 - R^2 of the p-weighted affine regression of FB (N x d_B) on
    FA (N x d_A), rows weighted by p (N probabilities). In [0, 1]; 0 where FB = FA M + t; see the module docstring."""
    owner = "stitching_loss"
    A = _matrix(FA, "FA", owner)
    B = _matrix(FB, "FB", owner, rows=len(A))
    p = _probabilities(p, len(A), "p", owner)
    w = np.sqrt(p)[:, None]
    X, Y = w * (A - p @ A), w * (B - p @ B)
    total = float((Y * Y).sum())
    if total <= 1e-300:
        fail(param("FB", owner), "vary over the states that p weights (its p-weighted variance is the denominator)",
             "a constant representation")
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    U = U[:, s > RANK_TOL * s[0]] if s.size and s[0] > 0 else U[:, :0]
    explained = float(((U.T @ Y) ** 2).sum())
    return min(max(1.0 - explained / total, 0.0), 1.0)


def decodability(joint, factor=None, features=None) -> float:
    """The Bayes (MAP) probability of recovering the state from the observed value, sum_x max_s J(s, x), for the
    joint law `joint` (states x observed values, entries >= 0, sum 1). factor: the value of a factor for each state
    (ints, length n_states): the decodability of that factor instead. features: a representation of the observed
    values (n_values rows): values with equal rows are one value."""
    owner = "decodability"
    J = _matrix(joint, "joint", owner)
    if (J < 0).any() or abs(J.sum() - 1) > 1e-9:
        fail(param("joint", owner), "be a joint law (entries >= 0, sum 1)", f"min {J.min():.3g}, sum {J.sum():.12g}")
    if factor is not None:
        J = _merge(J, factor, "factor", owner)
    if features is not None:
        F = _matrix(features, "features", owner, rows=J.shape[1])
        J = _merge(J.T, np.unique(F, axis=0, return_inverse=True)[1].ravel(), "features", owner).T
    return float(J.max(0).sum())


def _merge(J, labels, name, owner) -> np.ndarray:
    """Rows of J with the same label summed: (number of labels, columns)."""
    labels = np.asarray(labels)
    if labels.shape != (len(J),) or not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        fail(param(name, owner), f"be {len(J)} non-negative ints", f"shape {labels.shape}, dtype {labels.dtype}")
    out = np.zeros((labels.max() + 1, J.shape[1]))
    np.add.at(out, labels, J)
    return out
