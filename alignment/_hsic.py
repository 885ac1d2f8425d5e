"""HSIC-based scores: linear CKA (biased, Kornblith 2019), unbiased CKA (Song et al. 2012 HSIC), RBF CKA and CKNNA.

Each representation is reduced once to a `Gram` (or, for CKNNA, a `knn.Knn` carrying kernel values); a score is then
HSIC(a, b) / sqrt(HSIC(a, a) HSIC(b, b)) with the self terms stored in the state. No epsilon in the ratio.
CKNNA scores a stack of layers against one layer at once (see _knn.py). Permuting the rows of a representation
conjugates its kernel, P K P^T (`relabel_gram`), and relabels its lists (`relabel_cknna`): the self terms do not
change, so no feature product is needed.

A linear kernel of N samples in D < N dimensions is never formed: its `Gram` holds the N x D centred features
(feature form, O(N D) memory) and every HSIC term comes from D x D products and row sums (`_cross`). Its permuted
state permutes those rows, and the cross term of a permuted pair is the D_a x D_b product X_a^T X_b[perm], one
gathered copy and one matrix product per permutation: O(N D_a D_b), where the N x N form needs O(N^2) memory.

Kernels and features are scaled by powers of two (exact, see _scale.py), so the HSIC sums of squares neither
overflow nor underflow, whatever the magnitude of the input.
"""
import math
from typing import NamedTuple

import torch

from . import _knn
from ._order import quantile
from ._scale import factor, maxabs, pow2


class Gram(NamedTuple):
    """A kernel prepared for HSIC: the centred kernel (biased) or the kernel with zero diagonal (unbiased); in
    feature form (`d` not None) the centred features X whose linear kernel X X^T that is (diagonal d excluded when
    unbiased)."""
    K: torch.Tensor   # N x N, exactly symmetric; feature form: N x D features
    s: float          # sum of K (unbiased only)
    r: torch.Tensor   # N: row sums = column sums of K (unbiased only)
    unbiased: bool
    psd: bool         # a PSD kernel (linear, RBF): biased CKA of two such states is >= 0
    self: float       # HSIC(K, K)
    noise: float      # rounding level of `self`: a self term at or below it is 0 (a sum of squares has none)
    d: torch.Tensor | None = None  # feature form: the diagonal of X X^T, float64 (unbiased; empty when biased)


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


def centre(X):
    """X (N x D) with centred columns. Centring gives the centred linear kernel directly and leaves the unbiased
    HSIC unchanged (exact arithmetic), with better rounding; subtracting a sample first makes constant features
    centre to exactly 0. Each subtraction also applies a power of two (exact, same pass): the first keeps it from
    overflowing, the second brings what is left to magnitude 1, so X X^T has entries of at most about D and its HSIC
    sums neither overflow nor underflow."""
    f = factor(maxabs(X), X.dtype)
    X = torch.add(X[0:1] * -f, X, alpha=f)
    g = factor(maxabs(X), X.dtype)  # row 0 is 0 now, so max|X - mean| is within a factor 2 of max|X|
    return torch.add(X.mean(0, keepdim=True) * -g, X, alpha=g)


def gram_from_features(X, unbiased):
    """Gram state of the linear kernel of X (N x D): in feature form when D < N (no N x N matrix), else the
    centred kernel itself."""
    X = centre(X)
    if X.shape[1] < X.shape[0]:
        return _finish_features(X, unbiased)
    return _finish(X @ X.T, unbiased, True)


def _finish_features(X, unbiased):
    """Feature-form state of the centred features X: for the unbiased HSIC, d = the row norms squared (the kernel's
    diagonal, excluded), r = X (X^T 1) - d and s = |X^T 1|^2 - sum d (row sums and sum of the zero-diagonal kernel)."""
    if unbiased:
        d = X.square().sum(1, dtype=torch.float64)
        c = X.sum(0)
        g = Gram(X, (c @ c).item() - d.sum().item(), (X @ c).double() - d, True, True, 0.0, 0.0, d)
    else:
        g = Gram(X, 0.0, X[:0, 0], False, True, 0.0, 0.0, X.new_empty(0, dtype=torch.float64))
    return _finish_self(g)


def rbf_from_features(X, sigma):
    """Gram state (biased) of the Gaussian kernel exp(-|x_i - x_j|^2 / (2 sigma^2 m)) of X (N x D), m the median of
    the N x N squared distances (np.median's, the zero diagonal included: Kornblith et al.'s demo). Distances from
    the centred, scaled features (`centre`); None where m = 0 (the caller's error)."""
    X = centre(X)
    n2 = X.square().sum(1)
    D2 = torch.addmm(n2[:, None] + n2[None, :], X, X.T, alpha=-2).clamp_(min=0)
    D2 = (D2 + D2.T) / 2  # exactly symmetric, so the kernel is
    same = torch.unique(X, dim=0, return_inverse=True)[1]
    D2.masked_fill_(same[:, None] == same[None, :], 0)  # equal samples (the diagonal too): 0, not rounding
    m = quantile(D2, 0.5).item()
    if m == 0:
        return None
    K = gauss(D2.div_(m), min(0.5 / sigma / sigma, torch.finfo(X.dtype).max))
    K = K - K.mean(0, keepdim=True)
    return _finish(K - K.mean(1, keepdim=True), False, True)


def gauss(t, c):
    """(exp(-c t) - 1) / min(c, 1) of the distances t >= 0 (overwritten), c > 0 finite: the Gaussian kernel less 1
    (centring removes the shift) and scaled (CKA ignores the factor). exp(-c t) itself rounds to 1 - c t when c t is
    below float resolution, so at a large bandwidth centring would leave only rounding (wrong scores, then a zero
    self term); expm1 keeps c t's precision, and for c < 1 the form t expm1(-x) / x, x = c t, keeps magnitudes near
    t's even where x underflows (its limit -t: linear CKA of the centred features)."""
    if c >= 1:
        return torch.expm1(t.mul_(-c))
    x = t * c
    return torch.where(x > 0, torch.expm1(-x).div_(x), -1.0).mul_(t)


def _finish(K, unbiased, psd):
    """K: centred kernel (biased) or any kernel (unbiased), symmetric up to rounding. Symmetrised exactly so that
    tr(K_a K_b) is the contiguous sum(K_a * K_b)."""
    K = (K + K.T) / 2
    if unbiased:
        K.fill_diagonal_(0)
        g = Gram(K, K.sum().item(), K.sum(1), True, psd, 0.0, 0.0)
    else:
        g = Gram(K, 0.0, K[:0], False, psd, 0.0, 0.0)
    return _finish_self(g)


def _finish_self(g):
    """g with its self term and that term's rounding level."""
    value, size = _hsic(g, g)
    # The unbiased self term cancels terms of size `size` (to exactly 0 for one-hot features): rounding leaves ~1 eps
    # of them, which measured features exceed by orders of magnitude.
    return g._replace(self=value, noise=64 * torch.finfo(g.K.dtype).eps * size if g.unbiased else 0.0)


def hsic(a, b):
    """HSIC(K_a, K_b): tr(K_a H K_b H) (biased, no 1/(N-1)^2) or Song et al.'s unbiased estimator; K symmetric."""
    return _hsic(a, b)[0]


def _cross(a, b):
    """(tr(K_a K_b), the sum of the magnitudes of its parts), each state in either form. Feature forms X, Y:
    |X^T Y|_F^2, less sum_i d_a d_b (the diagonal, excluded) when unbiased; one of each: sum(X * (K X)) =
    tr(X^T K X), whose diagonal part is 0 when unbiased (K's diagonal is)."""
    if a.d is not None and b.d is not None:
        t = (a.K.T @ b.K).double().square().sum().item()
        if not a.unbiased:
            return t, t
        diag = (a.d @ b.d).item()
        return t - diag, t + diag
    if a.d is not None or b.d is not None:
        X, K = (a.K, b.K) if a.d is not None else (b.K, a.K)
        t = (X * (K @ X)).sum().item()
    else:
        t = (a.K * b.K).sum().item()
    return t, abs(t)


def _hsic(a, b):
    """(HSIC(K_a, K_b), the sum of the magnitudes of its terms)."""
    t, size = _cross(a, b)
    if not a.unbiased:
        return t, size
    m = a.K.shape[0]
    rr = (a.r.double() @ b.r.double()).item()  # 1^T K_a K_b 1
    terms = (a.s * b.s / ((m - 1) * (m - 2)), -2.0 * rr / (m - 2))
    return (t + sum(terms)) / (m * (m - 3)), (size + sum(map(abs, terms))) / (m * (m - 3))


def cka(a, b):
    """HSIC(a, b) / sqrt(HSIC(a, a) HSIC(b, b)), clipped to its range, which rounding can overstep (1.00000005):
    [-1, 1] by Cauchy-Schwarz (the unbiased HSIC is an inner product of U-centred kernels, Szekely & Rizzo 2014),
    [0, 1] for the biased HSIC of two linear kernels (an inner product of PSD matrices)."""
    low = 0.0 if a.psd and b.psd and not a.unbiased else -1.0
    return min(max(hsic(a, b) / math.sqrt(a.self * b.self), low), 1.0)


def relabel_gram(g, perm):
    """The Gram state of the same features with their rows permuted (row i is old row perm[i]): P K P^T (feature
    form: P X), row sums and diagonal permuted; sum, self term and rounding level unchanged (the same sums in another
    order)."""
    if not g.unbiased:
        return g._replace(K=g.K[perm] if g.d is not None else g.K[perm[:, None], perm])
    if g.d is not None:
        return g._replace(K=g.K[perm], r=g.r[perm], d=g.d[perm])
    return g._replace(K=g.K[perm[:, None], perm], r=g.r[perm])


def cknna_state(lists):
    """(lists, HSIC_u(mask K, mask K)) for neighbour lists carrying the values of a linear kernel K. The values are
    scaled by a power of two (CKNNA ignores it) so that the float64 sums neither overflow nor underflow, and held
    in float64 (exact), the precision of those sums."""
    lists = lists._replace(sval=pow2(lists.sval).double())
    return lists, masked_hsic(_knn.stack([lists]), lists)[0].item()


def relabel_cknna(state, perm, inv):
    """The CKNNA state of the same features with their rows permuted (see _knn.relabel; perm, inv may be P x N, a
    batch, whose self terms are then a list of P). The self term is invariant under a relabelling; only where a tie
    at the k-th value is re-broken (a different tied sample enters a list) is it recomputed from the relabelled
    lists."""
    lists, self_term = state
    if lists.ties is None:
        new = _knn.relabel(lists, perm, inv, ordered=False)
        return new, (self_term if perm.ndim == 1 else [self_term] * len(perm))
    if perm.ndim == 1:
        return cknna_state(_knn.complete(_knn.relabel(lists, perm, inv)))
    one = [relabel_cknna(state, p, q) for p, q in zip(perm, inv)]  # P permutations (P x N), each re-breaking ties
    return (_knn.Knn(None, torch.stack([x[0].sidx for x in one]), torch.stack([x[0].sval for x in one]), None, None,
                     torch.stack([x[0].flat for x in one])), [x[1] for x in one])


def cknna_stack(states):
    """L CKNNA states -> (stacked lists, self terms as an L tensor)."""
    return _knn.stack([s[0] for s in states]), torch.tensor([s[1] for s in states], dtype=torch.float64)


def _sums(group, n_groups, slot, values):
    """Sums of the rows of values (E x c) within each group (E int64, ascending), as n_groups x c: each group's
    values are laid out by `slot` (their place within the group, distinct) in a zero-padded block and summed in
    that order. No atomics, so the same on every run and device."""
    width = int(slot.max()) + 1 if len(slot) else 1
    block = torch.zeros(n_groups, width, values.shape[1], dtype=values.dtype, device=values.device)
    block[group, slot] = values
    return block.sum(1)


def _segments(key):
    """(the distinct values of the ascending int64 tensor key, the index of each entry's value, its place among the
    entries of that value)."""
    uniq, inv, counts = torch.unique_consecutive(key, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts
    return uniq, inv, torch.arange(len(key), device=key.device) - first.index_select(0, inv)


def masked_hsic(a, b):
    """Unbiased HSIC of P = M*K_a and Q = M*K_b, M the intersection of the two row-wise top-k masks, for each layer
    of the stacked lists a (L x N x k) against the lists b (N x k) -> L float64; against a batch of P right-hand
    sides (b.sidx P x N x k, see _knn.relabel) -> P x L.

    P and Q are nonzero only on the intersection, which `_knn.intersect` finds among a's entries, and every term is
    a sum over its E entries, O(E log E) after the intersection: tr(P Q) = sum_ij P_ij Q_ji with (j, i) located by
    a.rev, and 1^T P Q 1 = sum_ij P_ij (Q 1)_j. Sums are accumulated in float64 in a fixed order.
    """
    L, (n, k) = a.sidx.shape[0], b.sidx.shape[-2:]
    G = L * b.sidx.numel() // (n * k)                         # (right-hand side, layer) groups
    g, q = _knn.intersect(a, b)                              # the intersection, in (group, row, entry) order
    e = g % (L * n * k)                                       # the entry of a
    row = g // k                                              # group N + i
    group = row // n
    P = a.sval.view(-1).index_select(0, e).double()
    Q = b.sval.reshape(-1).index_select(0, (group // L * n + row % n) * k + q).double()
    z = Q.new_zeros(1)
    # (Q 1)_j of the row (group, j), j the column of each entry: the row sums of Q, looked up where the row has any
    rows, which, place = _segments(row)
    rsum = torch.cat([_sums(which, len(rows), place, Q[:, None])[:, 0], z])
    want = group * n + a.sidx.view(-1).index_select(0, e)
    at = torch.searchsorted(rows, want).clamp_(max=max(len(rows) - 1, 0))
    q1 = rsum.index_select(0, torch.where(rows.index_select(0, at) == want, at, len(rows)) if len(rows) else at)
    # Q_ji of the reverse entry (j, i), where a holds it (a.rev) and it is in the intersection too
    r = a.rev.view(-1).index_select(0, e)
    flat = torch.where(r >= 0, group * (n * k) + r, -1)
    at = torch.searchsorted(g, flat).clamp_(max=max(len(g) - 1, 0))
    qt = torch.cat([Q, z]).index_select(0, torch.where(g.index_select(0, at) == flat, at, len(g)) if len(g) else at)
    groups, which, place = _segments(group)
    t = torch.zeros(G, 4, dtype=torch.float64, device=g.device)
    t[groups] = _sums(which, len(groups), place, torch.stack([P * qt, P, Q, P * q1], 1))
    tr, sp, sq, pq1 = t.cpu().unbind(1)
    h = (tr + sp * sq / ((n - 1) * (n - 2)) - 2.0 * pq1 / (n - 2)) / (n * (n - 3))
    return h.view(-1, L) if b.sidx.ndim == 3 else h


def cknna(a, b):
    """a: cknna_stack of L states, b: one state -> L scores."""
    (la, sa), (lb, sb) = a, b
    if lb.sidx.ndim == 3:  # a batch of P right-hand sides, with P self terms
        return (masked_hsic(la, lb) / torch.sqrt(sa * torch.as_tensor(sb, dtype=torch.float64)[:, None])).tolist()
    return (masked_hsic(la, lb) / torch.sqrt(sa * sb)).tolist()
