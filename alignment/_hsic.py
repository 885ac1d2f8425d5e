"""HSIC-based scores: linear CKA (biased, Kornblith 2019), unbiased CKA (Song et al. 2012 HSIC) and CKNNA.

Each representation is reduced once to a `Gram` (or, for CKNNA, a `knn.Knn` carrying kernel values); a score is then
HSIC(a, b) / sqrt(HSIC(a, a) HSIC(b, b)) with the self terms stored in the state. No epsilon in the ratio.
CKNNA scores a stack of layers against one layer at once (see _knn.py).

Kernels and features are scaled by powers of two (exact, see _scale.py), so the HSIC sums of squares neither
overflow nor underflow, whatever the magnitude of the input.
"""
import math
from typing import NamedTuple

import torch

from . import _knn
from ._scale import factor, maxabs, pow2


class Gram(NamedTuple):
    """A kernel prepared for HSIC: the centred kernel (biased) or the kernel with zero diagonal (unbiased)."""
    K: torch.Tensor   # N x N, exactly symmetric
    s: float          # sum of K (unbiased only)
    r: torch.Tensor   # N: row sums = column sums of K (unbiased only)
    unbiased: bool
    psd: bool         # built from features (a linear kernel): biased CKA of two such states is >= 0
    self: float       # HSIC(K, K)
    noise: float      # rounding level of `self`: a self term at or below it is 0 (a sum of squares has none)


def shift(K, f=1.0):
    """f (K_ij - K_0j - K_i0 + K_00), f a power of two (exact, applied in the same pass): leaves both HSICs of a
    symmetric kernel unchanged (up to f^2), and makes the kernel of constant features exactly zero, so "undefined" is
    detected exactly rather than drowned in rounding."""
    return torch.add(K[0:1] * -f, K, alpha=f) - (K[:, 0:1] - K[0, 0]) * f


def gram(K, unbiased):
    """Gram state of a symmetric N x N kernel K (asymmetry within rounding is averaged out), scaled by the power of
    two that brings max|K| into [0.5, 1): the shift cannot overflow, and the HSIC sums neither overflow nor underflow
    (what the shift leaves is zero or at least an ulp of that)."""
    K = shift(K, factor(maxabs(K), K.dtype))
    if not unbiased:
        K = K - K.mean(0, keepdim=True)
        K = K - K.mean(1, keepdim=True)
    return _finish(K, unbiased, False)


def gram_from_features(X, unbiased):
    """Gram state of the linear kernel of X (N x D). Centring the features gives the centred kernel directly and
    leaves the unbiased HSIC unchanged (exact arithmetic), with better rounding; subtracting a sample first makes
    constant features centre to exactly 0. Each subtraction also applies a power of two (exact, same pass): the
    first keeps it from overflowing, the second brings what is left to magnitude 1, so X X^T has entries of at most
    about D and its HSIC sums neither overflow nor underflow."""
    f = factor(maxabs(X), X.dtype)
    X = torch.add(X[0:1] * -f, X, alpha=f)
    g = factor(maxabs(X), X.dtype)  # row 0 is 0 now, so max|X - mean| is within a factor 2 of max|X|
    X = torch.add(X.mean(0, keepdim=True) * -g, X, alpha=g)
    return _finish(X @ X.T, unbiased, True)


def _finish(K, unbiased, psd):
    """K: centred kernel (biased) or any kernel (unbiased), symmetric up to rounding. Symmetrised exactly so that
    tr(K_a K_b) is the contiguous sum(K_a * K_b)."""
    K = (K + K.T) / 2
    if unbiased:
        K.fill_diagonal_(0)
        g = Gram(K, K.sum().item(), K.sum(1), True, psd, 0.0, 0.0)
    else:
        g = Gram(K, 0.0, K[:0], False, psd, 0.0, 0.0)
    value, size = _hsic(g, g)
    # The unbiased self term cancels terms of size `size` (to exactly 0 for one-hot features): rounding leaves ~1 eps
    # of them, which measured features exceed by orders of magnitude.
    return g._replace(self=value, noise=64 * torch.finfo(K.dtype).eps * size if unbiased else 0.0)


def hsic(a, b):
    """HSIC(K_a, K_b): tr(K_a H K_b H) (biased, no 1/(N-1)^2) or Song et al.'s unbiased estimator; K symmetric."""
    return _hsic(a, b)[0]


def _hsic(a, b):
    """(HSIC(K_a, K_b), the sum of the magnitudes of its terms)."""
    t = (a.K * b.K).sum().item()
    if not a.unbiased:
        return t, abs(t)
    m = a.K.shape[0]
    terms = (t, a.s * b.s / ((m - 1) * (m - 2)), -2.0 * (a.r @ b.r).item() / (m - 2))  # (a.r @ b.r = 1^T K_a K_b 1)
    return sum(terms) / (m * (m - 3)), sum(map(abs, terms)) / (m * (m - 3))


def cka(a, b):
    """HSIC(a, b) / sqrt(HSIC(a, a) HSIC(b, b)), clipped to its range, which rounding can overstep (1.00000005):
    [-1, 1] by Cauchy-Schwarz (the unbiased HSIC is an inner product of U-centred kernels, Szekely & Rizzo 2014),
    [0, 1] for the biased HSIC of two linear kernels (an inner product of PSD matrices)."""
    low = 0.0 if a.psd and b.psd and not a.unbiased else -1.0
    return min(max(hsic(a, b) / math.sqrt(a.self * b.self), low), 1.0)


def cknna_state(lists):
    """(lists, HSIC_u(mask K, mask K)) for neighbour lists carrying the values of a linear kernel K. The values are
    scaled by a power of two (CKNNA ignores it) so that the float64 sums neither overflow nor underflow."""
    lists = lists._replace(sval=pow2(lists.sval))
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
