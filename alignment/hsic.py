"""HSIC-based scores: linear CKA (biased, Kornblith 2019), unbiased CKA (Song et al. 2012 HSIC) and CKNNA.

Each representation is reduced once to a `Gram` (or, for CKNNA, a `knn.Knn` carrying kernel values); a score is then
HSIC(a, b) / sqrt(HSIC(a, a) HSIC(b, b)) with the self terms stored in the state. No epsilon in the ratio.
CKNNA scores a stack of layers against one layer at once (see knn.py).
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


def cknna_state(lists):
    """(lists, HSIC_u(mask K, mask K)) for neighbour lists carrying the values of a linear kernel K."""
    return lists, masked_hsic(_knn.stack([lists]), lists)[0].item()


def cknna_stack(states):
    """L CKNNA states -> (stacked lists, self terms as an L tensor)."""
    return _knn.stack([s[0] for s in states]), torch.tensor([s[1] for s in states], dtype=torch.float64)


def masked_hsic(a, b):
    """Unbiased HSIC of P = M*K_a and Q = M*K_b, M the intersection of the two row-wise top-k masks, for each layer
    of the stacked lists a (L x N x k) against the lists b (N x k) -> L float64.

    P and Q live on a's sorted lists (zero where b lacks the entry), so every term costs O(N k log k):
    tr(P Q) = sum_ij P_ij Q_ji with (j, i) located by a.rev, and 1^T P Q 1 = sum_ij P_ij (Q 1)_j.
    Sums are accumulated in float64.
    """
    L, (n, k) = a.idx.shape[0], b.idx.shape
    hit, pos = _knn.hits(a, b)
    P = torch.where(hit, a.sval.double(), 0.0).flatten(1)                                    # L x Nk
    Q = torch.where(hit, b.sval.double().expand(L, n, k).gather(-1, pos), 0.0).flatten(1)
    pq1 = (P * Q.view(L, n, k).sum(-1).gather(1, a.sidx.flatten(1))).sum(-1)
    rev = a.rev.flatten(1)
    tr = (P * torch.where(rev >= 0, Q.gather(1, rev.clamp(min=0)), 0.0)).sum(-1)
    return (tr + P.sum(-1) * Q.sum(-1) / ((n - 1) * (n - 2)) - 2.0 * pq1 / (n - 2)) / (n * (n - 3))


def cknna(a, b):
    """a: cknna_stack of L states, b: one state -> L scores."""
    (la, sa), (lb, sb) = a, b
    return (masked_hsic(la, lb).cpu() / torch.sqrt(sa * sb)).tolist()
