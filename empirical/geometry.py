"""Small-point-set geometry for comparing embeddings with a perceptual reference (paper Fig. 8 / App. D).

Kabsch-Umeyama similarity alignment (rotation, translation, scale, optional reflection), classical and metric MDS
(SMACOF stress majorisation with weights and many starts), the correlation of pairwise distances, the Procrustes
residual and a permutation baseline. Pure numpy; points are rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from platonic_core.checks import check_int


def _points(x, name: str, owner: str, min_rows: int = 2) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < min_rows or a.shape[1] < 1:
        raise ValueError(f"The '{name}' parameter of {owner} must be a 2-D array (n, d) with n >= {min_rows} "
                         f"and d >= 1. Got shape {a.shape} instead.")
    if not np.isfinite(a).all():
        raise ValueError(f"The '{name}' parameter of {owner} must be finite. Got NaN or inf.")
    return a


def _square(d, name: str, owner: str, allow_inf: bool = False) -> np.ndarray:
    a = np.asarray(d, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"The '{name}' parameter of {owner} must be a square matrix (n, n) with n >= 2. "
                         f"Got shape {a.shape} instead.")
    bad = np.isnan(a) | (np.isinf(a) if not allow_inf else np.isneginf(a))
    if bad.any():
        allowed = "finite or +inf" if allow_inf else "finite"
        raise ValueError(f"The '{name}' parameter of {owner} must be {allowed}. Got NaN or inf at {bad.sum()} entries.")
    if not np.array_equal(np.isinf(a), np.isinf(a).T) or not np.allclose(
            np.where(np.isinf(a), 0, a), np.where(np.isinf(a), 0, a).T, rtol=1e-9, atol=1e-12):
        raise ValueError(f"The '{name}' parameter of {owner} must be symmetric.")
    if (a[np.isfinite(a)] < 0).any():
        raise ValueError(f"The '{name}' parameter of {owner} must be non-negative. Got min {a.min()!r}.")
    return a


@dataclass(frozen=True)
class Similarity:
    """y = scale * x @ rotation + translation for row vectors x (d,); rotation is orthogonal (d, d)."""

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    @property
    def reflected(self) -> bool:
        return bool(np.linalg.det(self.rotation) < 0)

    def apply(self, x) -> np.ndarray:
        """Map points (n, d) -> (n, d)."""
        x = _points(x, "x", "Similarity.apply", min_rows=1)
        if x.shape[1] != self.rotation.shape[0]:
            raise ValueError(f"The 'x' parameter of Similarity.apply must have {self.rotation.shape[0]} columns. "
                             f"Got shape {x.shape} instead.")
        return self.scale * x @ self.rotation + self.translation


def umeyama(source, target, reflection: bool = True) -> Similarity:
    """Least-squares similarity transform mapping `source` (n, d) onto `target` (n, d) (Umeyama 1991).

    Minimises sum_i ||target_i - (s source_i Q + t)||^2 over s > 0, orthogonal Q and t. With reflection=False Q is
    restricted to det(Q) = +1 (Kabsch's sign correction); with reflection=True (default) mirror images are allowed,
    which is what an MDS embedding needs, since MDS fixes its output only up to an orthogonal map.
    """
    owner = "umeyama"
    x = _points(source, "source", owner)
    y = _points(target, "target", owner)
    if x.shape != y.shape:
        raise ValueError(f"The 'source' and 'target' parameters of {owner} must have the same shape. "
                         f"Got {x.shape} and {y.shape} instead.")
    if not isinstance(reflection, bool):
        raise TypeError(f"The 'reflection' parameter of {owner} must be a bool. Got {type(reflection).__name__}.")
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    var_x = (xc ** 2).sum() / len(x)
    if var_x <= 1e-300:
        raise ValueError(f"The 'source' parameter of {owner} has all points equal; no scale can be fitted.")
    u, sv, vt = np.linalg.svd(xc.T @ yc / len(x))  # cross-covariance in row convention: Q = U diag(e) V^T
    e = np.ones(len(sv))
    if not reflection and np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[-1] = -1.0
    q = (u * e) @ vt
    s = float((sv * e).sum() / var_x)
    return Similarity(scale=s, rotation=q, translation=my - s * mx @ q)


def procrustes_residual(source, target, reflection: bool = True) -> float:
    """Fraction of target's variance left after the best similarity fit: ||Y - fit||^2 / ||Y - mean Y||^2 in [0, 1].

    source, target: (n, d). 0 means source is an exact similarity image of target.
    """
    y = _points(target, "target", "procrustes_residual")
    fit = umeyama(source, y, reflection=reflection).apply(source)
    total = ((y - y.mean(0)) ** 2).sum()
    if total <= 1e-300:
        raise ValueError("The 'target' parameter of procrustes_residual has all points equal.")
    return float(((y - fit) ** 2).sum() / total)


def pairwise_distances(x) -> np.ndarray:
    """Euclidean distances (n, n) between the rows of x (n, d); exact zeros on the diagonal."""
    x = _points(x, "x", "pairwise_distances", min_rows=1)
    sq = (x ** 2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def distance_correlation(dist_a, dist_b) -> float:
    """Pearson correlation of the pairwise distances (upper triangle, i < j) of two (n, n) distance matrices.

    Pairs where either side is +inf (unknown dissimilarity) are skipped. This is the "correlation of pairwise
    distances" fit of an embedding to a reference (not Szekely's distance covariance statistic); it is invariant to
    any similarity transform of either point set.
    """
    owner = "distance_correlation"
    a = _square(dist_a, "dist_a", owner, allow_inf=True)
    b = _square(dist_b, "dist_b", owner, allow_inf=True)
    if a.shape != b.shape:
        raise ValueError(f"The 'dist_a' and 'dist_b' parameters of {owner} must have the same shape. "
                         f"Got {a.shape} and {b.shape} instead.")
    iu = np.triu_indices(len(a), 1)
    u, v = a[iu], b[iu]
    keep = np.isfinite(u) & np.isfinite(v)
    u, v = u[keep], v[keep]
    if len(u) < 3 or u.std() == 0 or v.std() == 0:
        raise ValueError(f"{owner} needs at least 3 finite, non-constant pairwise distances on each side. "
                         f"Got {len(u)} pairs.")
    return float(np.corrcoef(u, v)[0, 1])


def classical_mds(dist, dim: int = 3) -> np.ndarray:
    """Torgerson MDS: points (n, dim) whose Euclidean distances best match `dist` (n, n) in the strain sense.

    Exact (up to a rigid motion) when dist is Euclidean of rank <= dim. Negative eigenvalues are dropped.
    +inf entries are replaced by the largest finite distance (used only for starting SMACOF).
    """
    d = _square(dist, "dist", "classical_mds", allow_inf=True)
    dim = check_int(dim, "dim", "classical_mds", 1)
    if dim > len(d):
        raise ValueError(f"The 'dim' parameter of classical_mds must be <= n = {len(d)}. Got {dim} instead.")
    d = np.where(np.isinf(d), d[np.isfinite(d)].max(), d)
    n = len(d)
    h = np.eye(n) - 1.0 / n
    b = -0.5 * h @ (d ** 2) @ h
    w, v = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(w)[::-1][:dim]
    return v[:, order] * np.sqrt(np.maximum(w[order], 0.0))


def stress(x, dist, weights=None) -> float:
    """Normalised stress-1: sqrt(sum_{i<j} w (|x_i - x_j| - dist_ij)^2 / sum_{i<j} w dist_ij^2).

    x: (n, d); dist: (n, n), +inf entries get weight 0; weights: (n, n) non-negative or None (all 1).
    """
    d, w = _stress_inputs(dist, weights, "stress")
    x = _points(x, "x", "stress")
    if len(x) != len(d):
        raise ValueError(f"The 'x' and 'dist' parameters of stress must have the same n. "
                         f"Got {x.shape} and {d.shape} instead.")
    return _stress(x, d, w)


def smacof(dist, dim: int = 3, n_starts: int = 16, seed: int = 0, max_iter: int = 500, tol: float = 1e-9,
           weights=None) -> tuple[np.ndarray, float]:
    """Metric MDS by stress majorisation (SMACOF, de Leeuw 1977), best of `n_starts` starts.

    dist: (n, n) symmetric non-negative dissimilarities; +inf marks an unknown dissimilarity (weight 0).
    The first start is classical MDS, the others Gaussian with the data's scale, drawn from `seed`.
    Returns (points (n, dim), normalised stress-1 of the best start). Same seed, same output.
    """
    owner = "smacof"
    d, w = _stress_inputs(dist, weights, owner)
    dim = check_int(dim, "dim", owner, 1)
    n_starts = check_int(n_starts, "n_starts", owner, 1)
    max_iter = check_int(max_iter, "max_iter", owner, 1)
    seed = check_int(seed, "seed", owner, 0)
    if dim > len(d):
        raise ValueError(f"The 'dim' parameter of {owner} must be <= n = {len(d)}. Got {dim} instead.")
    if not tol > 0:
        raise ValueError(f"The 'tol' parameter of {owner} must be > 0. Got {tol!r} instead.")
    n = len(d)
    v = -w.copy()
    np.fill_diagonal(v, w.sum(1))
    if np.linalg.matrix_rank(v) < n - 1:
        raise ValueError(f"The weights/finite entries of 'dist' in {owner} split the points into disconnected "
                         f"groups; their relative placement is undefined.")
    v_pinv = np.linalg.pinv(v)
    rng = np.random.default_rng(seed)
    scale = np.sqrt((w * d ** 2).sum() / max(w.sum(), 1e-300) / 2)
    best, best_stress = None, np.inf
    for start in range(n_starts):
        x = classical_mds(dist, dim) if start == 0 else rng.normal(scale=scale, size=(n, dim))
        x = _majorise(x, d, w, v_pinv, max_iter, tol)
        s = _stress(x, d, w)
        if s < best_stress - 1e-12:
            best, best_stress = x, s
    return best - best.mean(0), float(best_stress)


def _stress_inputs(dist, weights, owner: str) -> tuple[np.ndarray, np.ndarray]:
    d = _square(dist, "dist", owner, allow_inf=True)
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != d.shape or not np.isfinite(w).all() or (w < 0).any() or not np.allclose(w, w.T):
        raise ValueError(f"The 'weights' parameter of {owner} must be a finite, symmetric, non-negative "
                         f"matrix of shape {d.shape}. Got shape {w.shape}.")
    w = np.where(np.isinf(d), 0.0, w)
    np.fill_diagonal(w, 0.0)
    d = np.where(np.isinf(d), 0.0, d)
    if (w * d ** 2).sum() <= 0:
        raise ValueError(f"The 'dist' parameter of {owner} has no positive finite off-diagonal dissimilarity.")
    return d, w


def _stress(x: np.ndarray, d: np.ndarray, w: np.ndarray) -> float:
    dx = pairwise_distances(x)
    return float(np.sqrt((w * (dx - d) ** 2).sum() / (w * d ** 2).sum()))


def _majorise(x, d, w, v_pinv, max_iter, tol) -> np.ndarray:
    """Guttman transforms x <- V^+ B(x) x until the raw stress stops decreasing by more than tol (relative)."""
    prev = np.inf
    for _ in range(max_iter):
        dx = pairwise_distances(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(dx > 0, w * d / dx, 0.0)
        b = -ratio
        np.fill_diagonal(b, ratio.sum(1))
        x = v_pinv @ (b @ x)
        cur = (w * (pairwise_distances(x) - d) ** 2).sum()
        if np.isfinite(prev) and prev - cur <= tol * prev:
            break
        prev = cur
    return x


def permutation_null(statistic: Callable[[np.ndarray], float], n: int, n_perm: int = 1000,
                     seed: int = 0) -> np.ndarray:
    """Values (n_perm,) of statistic(perm) for uniformly random permutations perm of range(n).

    The caller's statistic relabels one side with perm (e.g. rows and columns of one distance matrix), which breaks
    the correspondence between the two sides and leaves each side's own geometry intact.
    """
    owner = "permutation_null"
    if not callable(statistic):
        raise TypeError(f"The 'statistic' parameter of {owner} must be callable. Got {type(statistic).__name__}.")
    n = check_int(n, "n", owner, 2)
    n_perm = check_int(n_perm, "n_perm", owner, 1)
    seed = check_int(seed, "seed", owner, 0)
    rng = np.random.default_rng(seed)
    return np.array([float(statistic(rng.permutation(n))) for _ in range(n_perm)])
