"""Which transformations of an input leave each alignment metric unchanged: `INVARIANCES`, checked cell by cell in
tests/test_ties_invariances.py with the transforms of `transform`.

Two levels. "features": metric(A, B) on N x D features (`measure`, METRICS). "kernel": measure_kernels(name, K, L)
on N x N kernels (KERNEL_METRICS; the k-NN metrics rank each row's raw values). A transform acts on one input, A or
B (K or L); a metric is invariant to it when the score is unchanged whichever input it acts on. What each transform
does at each level (`TRANSFORMS`):

  transform   features (A, N x D)                              kernel (K, N x N; K = A A^T where it acts on A)
  shift       A -> [A, sqrt(c) 1]: the Gram matrix gains c 11^T  K -> K + c 11^T (InfoNCE's free constant c)
  row_shift   -                                                K_ij -> K_ij + u_i (InfoNCE's c(a); K not symmetric)
  additive    -                                                K_ij -> K_ij + u_i + u_j (next_event's gauge)
  monotone    -                                                K_ij -> g(K_ij), g strictly increasing (spectral)
  orthogonal  A -> A Q, Q orthogonal                           K = A A^T with A -> A Q (so K is unchanged)
  linear      A -> A M, M invertible                           K = A A^T with A -> A M
  scale       A -> s A, s > 0                                  K -> s K

A cell is True (invariant), False (not: some inputs change the score) or None (the transform does not apply: no
feature map realises it, or the metric refuses its result, e.g. CKA on a kernel that is not symmetric). Cells hold
at the metrics' default parameters: SVCCA keeps cca_dim < width dimensions of z-scored columns, so it is not
invariant to rotations (with cca_dim = the full rank it would be invariant to any invertible linear map).
"""
from types import MappingProxyType

import numpy as np

from platonic_core.checks import check_choice

LEVELS = ("features", "kernel")
TRANSFORMS = MappingProxyType({
    "shift": ("A -> [A, sqrt(c) 1] (Gram + c 11^T)", "K -> K + c 11^T"),
    "row_shift": (None, "K_ij -> K_ij + u_i"),
    "additive": (None, "K_ij -> K_ij + u_i + u_j"),
    "monotone": (None, "K_ij -> g(K_ij), g strictly increasing"),
    "orthogonal": ("A -> A Q, Q orthogonal", "K = A A^T, A -> A Q (K unchanged)"),
    "linear": ("A -> A M, M invertible", "K = A A^T, A -> A M"),
    "scale": ("A -> s A, s > 0", "K -> s K, s > 0"),
})

_KNN = ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "jaccard_knn")
T, F, NA = True, False, None
# columns: shift, row_shift, additive, monotone, orthogonal, linear, scale
_FEATURES = {
    **{m: (F, NA, NA, NA, T, F, T) for m in _KNN},   # cosine: a constant column moves every angle
    "cka": (T, NA, NA, NA, T, F, T),                 # centring removes a constant column
    "unbiased_cka": (T, NA, NA, NA, T, F, T),
    "cknna": (F, NA, NA, NA, T, F, T),               # the shift keeps the top-k masks but not the masked HSIC
    "svcca": (T, NA, NA, NA, F, F, T),               # z-scoring per column is not rotation invariant
    "rbf_cka": (T, NA, NA, NA, T, F, T),             # distances ignore a constant column
    "rsa": (F, NA, NA, NA, F, F, T),                 # correlations across the features of a sample
    "procrustes": (T, NA, NA, NA, T, F, T),
    "pwcca": (T, NA, NA, NA, F, F, T),               # weights by A's own columns (B: any invertible affine map)
}
_KERNEL = {
    **{m: (T, T, F, T, T, F, T) for m in _KNN},      # raw ranking of each row: blind to c and c(a)
    "cka": (T, NA, T, F, T, F, T),                   # double centring removes u_i + u_j
    "unbiased_cka": (T, NA, T, F, T, F, T),          # so does the unbiased HSIC (a U-statistic)
    "cknna": (F, NA, F, F, T, F, T),
}
INVARIANCES = MappingProxyType({
    level: MappingProxyType({m: MappingProxyType(dict(zip(TRANSFORMS, cells))) for m, cells in table.items()})
    for level, table in (("features", _FEATURES), ("kernel", _KERNEL))})


def transform(name, level, X, seed=0):
    """One random instance (seeded) of the transform `name` at `level`, applied to X: N x D features at level
    "features", and at level "kernel" also N x D features for orthogonal and linear (the kernel is then X X^T of the
    result) or an N x N kernel for the others. Returns a float64 numpy array; None where the transform does not
    apply at that level."""
    check_choice(name, "name", "transform", tuple(TRANSFORMS))
    check_choice(level, "level", "transform", LEVELS)
    if TRANSFORMS[name][LEVELS.index(level)] is None:
        return None
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    size = np.abs(X).mean()
    if name in ("orthogonal", "linear"):
        Q = np.linalg.qr(rng.standard_normal((X.shape[1],) * 2))[0]
        if name == "linear":  # condition number about e^2
            Q = Q @ np.diag(np.exp(rng.uniform(-1, 1, X.shape[1]))) @ np.linalg.qr(rng.standard_normal(Q.shape))[0]
        return X @ Q
    if name == "scale":
        return X * 3.7
    if name == "shift":
        c = 2.0 * size * (size if level == "features" else 1.0)
        return np.hstack([X, np.full((len(X), 1), np.sqrt(c))]) if level == "features" else X + c
    if name == "monotone":
        return np.exp(3 * X / np.abs(X).max())
    u = size * rng.standard_normal(len(X))
    return X + u[:, None] + (u[None, :] if name == "additive" else 0.0)
