"""k-nearest-neighbour lists and the four k-NN alignment scores (mutual, cycle, LCS, edit distance).

A neighbour list ranks the other rows by similarity, highest first, the row itself excluded, ties broken by the
lower index. Lists are computed once per representation (`knn_from_features`, `knn_from_similarity`) and the scores
compare lists in O(N k log(N k)) time and O(N k) memory per pair, with no Python loop over samples.
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ._scale import unit_rows

# Similarity rows are built in blocks of at most this many entries, so memory stays O(N k) beyond one block.
# N <= 4096 is a single block, i.e. exactly the full matmul X @ X.T.
BLOCK = 1 << 24


class Knn(NamedTuple):
    """Neighbour lists of one representation (N rows, k neighbours each)."""
    idx: torch.Tensor   # N x k int64, nearest first
    sidx: torch.Tensor  # N x k int64, the same sets in ascending index order
    sval: torch.Tensor  # N x k similarity at sidx
    keys: torch.Tensor  # N*k int64, i*N + sidx[i] flattened: sorted, for membership tests by searchsorted
    rev: torch.Tensor   # N x k int64: flat position of the entry (j, i) for the entry (i, j) of sidx, -1 if absent
    flat: torch.Tensor  # N bool: row i's similarities to all others are equal, so its list is a pure tie-break


def topk_rows(S, k, row0=0):
    """Top-k of each row of a block S (b x N, overwritten) whose row r is sample row0 + r; that sample is excluded.

    Order is (-similarity, index): topk gives the right set unless ties straddle the k-th value, and those rows
    are redone by taking the tied entries lowest index first. Returns (idx, val), each b x k, and `flat` (b bool):
    whether every similarity of the row (the sample excluded) equals its top one.
    """
    b, n = S.shape
    r = torch.arange(b, device=S.device)
    diag = row0 + r
    S.diagonal(offset=row0).fill_(-torch.inf)
    val, idx = torch.topk(S, k, dim=1)
    t = val[:, -1:]
    ge = S >= t
    ge[r, diag] = False  # the diagonal is -inf, so it is ">= t" when t = -inf
    count = ge.sum(1)
    flat = (count == n - 1) & (val[:, 0] == t[:, 0])
    redo = (count > k) | (idx == diag[:, None]).any(1)
    if redo.any():
        rows = redo.nonzero().squeeze(1)
        Sr, tr = S[rows], t[rows]
        eq = Sr == tr
        eq[torch.arange(len(rows), device=S.device), diag[rows]] = False
        need = k - (Sr > tr).sum(1, keepdim=True)
        sel = (Sr > tr) | (eq & (eq.cumsum(1) <= need))
        idx[rows] = sel.nonzero()[:, 1].view(-1, k)
    idx = idx.sort(dim=1).values
    val = S.gather(1, idx)
    val, o = val.sort(dim=1, descending=True, stable=True)  # stable: equal values keep ascending index
    return idx.gather(1, o), val, flat


def _lists(rows, n, k, device):
    """Assemble Knn from row blocks; `rows(i, j)` returns the similarity block for samples i..j-1 (b x n)."""
    b = max(1, BLOCK // n)
    parts = [topk_rows(rows(i, min(i + b, n)), k, i) for i in range(0, n, b)]
    idx = torch.cat([p[0] for p in parts])
    val = torch.cat([p[1] for p in parts])
    sidx, o = idx.sort(dim=1)
    i = torch.arange(n, device=device)[:, None]
    keys = (i * n + sidx).flatten()
    found, pos = member(keys, (sidx * n + i).flatten())
    return Knn(idx, sidx, val.gather(1, o), keys, torch.where(found, pos, -1).view(n, k),
               torch.cat([p[2] for p in parts]))


def knn_from_features(X, k, cosine=True):
    """Neighbour lists of the rows of X (N x D): by cosine similarity (rows normalised at any magnitude), or by the
    raw inner product (`cosine=False`, used for CKNNA's linear kernel and for rows already L2-normalised)."""
    Xn = unit_rows(X) if cosine else X
    return _lists(lambda i, j: Xn[i:j] @ Xn.T, X.shape[0], k, X.device)


def knn_from_similarity(S, k):
    """Neighbour lists of a given N x N similarity matrix (row i ranks the columns j != i)."""
    return _lists(lambda i, j: S[i:j].clone(), S.shape[0], k, S.device)


def stack(states):
    """L Knn states of the same N, k -> one Knn with a leading layer dimension (L x N x k, keys L x N*k)."""
    return Knn(*(torch.stack(f) for f in zip(*states)))


def member(rows, q):
    """(found, pos): whether each q[..., i, m] occurs in the sorted row rows[..., i, :], and where. Leading dims
    match; a 1-D `rows` is one sorted row (e.g. all keys i*N + j). Row-local search over k entries is the fast path."""
    pos = torch.searchsorted(rows, q).clamp(max=rows.shape[-1] - 1)
    return rows.gather(-1, pos) == q, pos


# Scores of a stacked state `a` (L layers, see `stack`) against one state `b`: a list of L floats, so a layer sweep
# issues one batch of tensor ops per layer of b, and a single pair is a stack of one.

def hits(a, b):
    """(hit, pos), L x N x k: whether a.sidx[l, i, p] is in N_b(i), and its position in b.sidx[i]."""
    return member(b.sidx.expand(a.sidx.shape).contiguous(), a.sidx)


def mutual(a, b):
    """mean_i |N_a(i) ∩ N_b(i)| / k."""
    n, k = b.idx.shape
    return [c / (n * k) for c in hits(a, b)[0].sum((1, 2)).tolist()]


def cycle(a, b):
    """Fraction of i found among the a-neighbours of at least one of its b-neighbours."""
    n, k = b.idx.shape
    i = torch.arange(n, device=b.idx.device)[:, None]
    q = (b.sidx * n + i).flatten().repeat(a.keys.shape[0], 1)  # is i in N_a(j) for j in N_b(i)
    hit, _ = member(a.keys, q)
    return [c / n for c in hit.view(-1, n, k).any(-1).sum(-1).tolist()]


def lcs_length(x, y):
    """Longest common subsequence of each row pair of x, y (N x k int) -> N int.

    Row i of the DP table is dp_i[j] = max(dp_i[j-1], c_j) with c_j = max(dp_{i-1}[j], dp_{i-1}[j-1] + [x_i = y_j]),
    i.e. a cumulative max of c, so each of the k rows is a few tensor ops over all N samples.
    """
    n, k = x.shape
    dp = torch.zeros(n, k + 1, dtype=torch.int64, device=x.device)
    for i in range(k):
        c = torch.maximum(dp[:, 1:], dp[:, :-1] + (x[:, i:i + 1] == y))
        dp = F.pad(c.cummax(dim=1).values, (1, 0))
    return dp[:, -1]


def edit_distance(x, y):
    """Levenshtein distance of each row pair of x, y (N x k int) -> N int.

    dp_i[j] = min(c_j, dp_i[j-1] + 1) with c_j = min(dp_{i-1}[j] + 1, dp_{i-1}[j-1] + [x_i != y_j]) and c_0 = i
    unrolls to dp_i[j] = j + min_{j' <= j} (c_{j'} - j'): a cumulative min, vectorised over samples.
    """
    n, k = x.shape
    j = torch.arange(k + 1, device=x.device)
    dp = j.expand(n, k + 1)
    for i in range(1, k + 1):
        c = torch.minimum(dp[:, 1:] + 1, dp[:, :-1] + (x[:, i - 1:i] != y))
        c = torch.cat([torch.full((n, 1), i, device=x.device), c], dim=1)
        dp = j + (c - j).cummin(dim=1).values
    return dp[:, -1]


def lcs(a, b):
    """mean_i LCS(ordered N_a(i), ordered N_b(i)) / k."""
    L, (n, k) = a.idx.shape[0], b.idx.shape
    d = lcs_length(a.idx.reshape(L * n, k), b.idx.repeat(L, 1))
    return [v / k for v in d.view(L, n).double().mean(1).tolist()]


def edit(a, b):
    """1 - mean_i Levenshtein(ordered N_a(i), ordered N_b(i)) / k."""
    L, (n, k) = a.idx.shape[0], b.idx.shape
    d = edit_distance(a.idx.reshape(L * n, k), b.idx.repeat(L, 1))
    return [1.0 - v / k for v in d.view(L, n).double().mean(1).tolist()]
