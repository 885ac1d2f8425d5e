"""RSA: the Spearman correlation of the upper triangles of two representational dissimilarity matrices, RDM = 1 -
Pearson correlation between samples (rsatoolbox's calc_rdm(method="correlation") and compare(method="spearman")).

A representation is reduced once to its ranks: the ranks of its N (N - 1) / 2 dissimilarities (ties averaged),
centred and scaled to unit norm, laid out as a symmetric N x N matrix with a zero diagonal. The Spearman correlation
of two representations is then half the sum of the product of their matrices. Permuting the samples permutes the
RDM's rows and columns, and so those of the rank matrix (the ranks of a multiset do not depend on its order).
"""
import torch

from ._order import average_ranks
from ._scale import pow2


def constant_rows(X):
    """Rows of X (N x D) whose entries are all equal: Pearson correlation is undefined for them."""
    return (X == X[:, :1]).all(1)


def state(X):
    """The unit-norm centred rank matrix of the correlation RDM of X (N x D, no constant row, N >= 3), or None if all
    dissimilarities are equal (Spearman's correlation is then undefined). Each row is scaled by a power of two (exact;
    Pearson correlation ignores it) and has its first entry subtracted before centring, so that the sums neither
    overflow nor underflow."""
    X = pow2(X, 1)
    X = X - X[:, :1]
    X = pow2(X - X.mean(1, keepdim=True), 1)
    X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    n = X.shape[0]
    iu = torch.triu_indices(n, n, 1, device=X.device)
    rdm = 1 - (X @ X.T)[iu[0], iu[1]]
    r = average_ranks(rdm)
    r -= r.mean()
    norm = torch.linalg.vector_norm(r)
    if norm == 0:
        return None
    R = torch.zeros(n, n, dtype=X.dtype, device=X.device)
    R[iu[0], iu[1]] = (r / norm).to(X.dtype)
    return R + R.T


def spearman(Ra, Rb):
    """The Spearman correlation of two rank matrices (`state`), clipped to [-1, 1]."""
    return min(max((Ra * Rb).sum().item() / 2, -1.0), 1.0)
