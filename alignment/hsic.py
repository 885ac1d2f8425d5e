"""HSIC-based scores: linear CKA (biased, Kornblith 2019), unbiased CKA (Song et al. 2012 HSIC) and CKNNA.

Each representation is reduced once to a `Gram` (or, for CKNNA, a `knn.Knn` carrying kernel values); a score is then
HSIC(a, b) / sqrt(HSIC(a, a) HSIC(b, b)) with the self terms stored in the state. No epsilon in the ratio.
"""
import math
from typing import NamedTuple

import torch

from . import knn as _knn


class Gram(NamedTuple):
    """A kernel prepared for HSIC: the centred kernel (biased) or the kernel with zero diagonal (unbiased)."""
    K: torch.Tensor   # N x N, exactly symmetric
    s: float          # sum of K (unbiased only)
    r: torch.Tensor   # N: row sums = column sums of K (unbiased only)
    unbiased: bool
    self: float       # HSIC(K, K)


def _shift(K):
    """K_ij - K_0j - K_i0 + K_00: leaves both HSICs of a symmetric kernel unchanged, and makes the kernel of constant
    features exactly zero, so "undefined" is detected exactly rather than drowned in rounding."""
    return (K - K[0:1]) - (K[:, 0:1] - K[0, 0])


def gram(K, unbiased):
    """Gram state of a symmetric N x N kernel K (asymmetry within rounding is averaged out)."""
    K = _shift(K)
    if not unbiased:
        K = K - K.mean(0, keepdim=True)
        K = K - K.mean(1, keepdim=True)
    return _finish(K, unbiased)


def gram_from_features(X, unbiased):
    """Gram state of the linear kernel of X (N x D). Centring the features gives the centred kernel directly and
    leaves the unbiased HSIC unchanged (exact arithmetic), with better rounding; subtracting a sample first makes
    constant features centre to exactly 0."""
    X = X - X[0:1]
    X = X - X.mean(0, keepdim=True)
    return _finish(X @ X.T, unbiased)


def _finish(K, unbiased):
    """K: centred kernel (biased) or any kernel (unbiased), symmetric up to rounding. Symmetrised exactly so that
    tr(K_a K_b) is the contiguous sum(K_a * K_b)."""
    K = (K + K.T) / 2
    if unbiased:
        K.fill_diagonal_(0)
        g = Gram(K, K.sum().item(), K.sum(1), True, 0.0)
    else:
        g = Gram(K, 0.0, K[:0], False, 0.0)
    return g._replace(self=hsic(g, g))


def hsic(a, b):
    """HSIC(K_a, K_b): tr(K_a H K_b H) (biased, no 1/(N-1)^2) or Song et al.'s unbiased estimator; K symmetric."""
    t = (a.K * b.K).sum().item()
    if not a.unbiased:
        return t
    m = a.K.shape[0]
    cross = (a.r @ b.r).item()  # 1^T K_a K_b 1
    return (t + a.s * b.s / ((m - 1) * (m - 2)) - 2.0 * cross / (m - 2)) / (m * (m - 3))


def cka(a, b):
    return hsic(a, b) / math.sqrt(a.self * b.self)


def cknna_state(L):
    """Attach the self term HSIC_u(mask K, mask K) to neighbour lists built from a linear kernel K."""
    return L, masked_hsic(L, L)


def masked_hsic(a, b):
    """Unbiased HSIC of P = M*K_a and Q = M*K_b, M the intersection of the two top-k masks (row-wise).

    P and Q live on the matched entries of a's sorted lists, so every term is O(N k log(N k)):
    tr(P Q) = sum_ij P_ij Q_ji (transposed entries found by key lookup), 1^T P Q 1 = sum_ij P_ij (Q 1)_j.
    Sums are accumulated in float64.
    """
    n, k = a.sidx.shape
    hit, pos = _knn._member(b.keys, a.keys)
    P = torch.where(hit, a.sval.flatten().double(), 0.0)
    Q = torch.where(hit, b.sval.flatten().double()[pos], 0.0)
    rows = torch.arange(n, device=P.device).repeat_interleave(k)
    cols = a.sidx.flatten()
    r = Q.view(n, k).sum(1)
    pq1 = (P * r[cols]).sum().item()
    found, tpos = _knn._member(a.keys, cols * n + rows)
    tr = (P * torch.where(found, Q[tpos], 0.0)).sum().item()
    sp, sq = P.sum().item(), Q.sum().item()
    return (tr + sp * sq / ((n - 1) * (n - 2)) - 2.0 * pq1 / (n - 2)) / (n * (n - 3))


def cknna(a, b):
    (la, sa), (lb, sb) = a, b
    return masked_hsic(la, lb) / math.sqrt(sa * sb)
