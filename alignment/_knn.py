"""k-nearest-neighbour lists and the five k-NN alignment scores (mutual, Jaccard, cycle, LCS, edit distance).

A neighbour list ranks the other rows by similarity, highest first, the row itself excluded, ties broken by the
lower index. Lists are computed once per representation (`knn_from_features`, `knn_from_similarity`) and the scores
compare lists in O(N k log(N k)) time and O(N k) memory per pair, with no Python loop over samples.

Permuting the rows of a representation only relabels its lists, N_{B[perm]}(i) = perm^-1(N_B(perm(i))), so the
lists of B[perm] come from those of B in O(N k log k) (`relabel`), with ties re-broken by the new index exactly as a
recomputation would break them: the rows whose k-th similarity is shared by a sample outside the list keep every
tied sample (`Ties`), and within a list equal similarities are re-ordered by the new index.

Ties at the k-th neighbour, exact or within float rounding (a gap to the (k+1)-th similarity of at most TIE_EPS eps
of the dtype times the row's scale), leave the list to the tie-break or to rounding: each list records its rows
(`Knn.near`), the metrics name them (`note`), and a call wrapped by `warns_ties` warns once with a `TieWarning`.
"""
import contextlib
import contextvars
import functools
import warnings
from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ._scale import unit_rows

# Similarity rows are built in blocks of at most this many entries, so memory stays O(N k) beyond one block.
# N <= 4096 is a single block, i.e. exactly the full matmul X @ X.T.
BLOCK = 1 << 24
# A stack of lists with N * N <= DENSE also keeps an N x N int32 map from (i, j) to the union slot of j in row i, so
# that `intersect` looks entries up directly instead of by a row-local search (the same answers; at most 64 MiB).
DENSE = 1 << 24
# A gap between the k-th and (k+1)-th similarity of at most TIE_EPS eps x max(|top|, |k-th|) counts as a tie: K_PMI of
# the symmetric torus computed in float64 spreads a class of equal values over 25 eps of its scale.
TIE_EPS = 64


class TieWarning(UserWarning):
    """Neighbour lists with a tie at the k-th neighbour (exact, or within float rounding) in some rows: there the
    list is decided by the tie-break (lower index first) or by rounding, not by the data. `fractions`: input name ->
    the fraction of its rows so tied; `fraction`: the largest; `k`."""

    def __init__(self, fractions, k):
        self.fractions, self.k = dict(fractions), k
        self.fraction = max(self.fractions.values())
        worst = sorted(self.fractions.items(), key=lambda x: -x[1])
        named = "; ".join(f"{f:.1%} of the rows of the {who}" for who, f in worst[:3])
        more = f" (and {len(worst) - 3} more inputs)" if len(worst) > 3 else ""
        super().__init__(f"k-NN lists tie at the k-th neighbour (k={k}, gap within float rounding) in {named}{more}: "
                         "there the tie-break by index or rounding decides the list")


_seen = contextvars.ContextVar("knn_ties", default=None)      # who -> fraction, while a wrapped call runs
_observers = contextvars.ContextVar("tie_observers", default=())


def note(lists, who):
    """Record the fraction of rows of `lists` tied at the k-th neighbour, under the input name `who`."""
    seen = _seen.get()
    if seen is not None and lists.near is not None and lists.near.any():
        seen[who] = (max(seen.get(who, (0.0, 0))[0], lists.near.double().mean().item()), lists.idx.shape[1])


def warns_ties(stacklevel=2):
    """Decorator: the call warns once (TieWarning) if any lists it noted tie at the k-th neighbour; nested calls
    report to the outermost one."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kw):
            if _seen.get() is not None:
                return fn(*args, **kw)
            token = _seen.set({})
            try:
                out = fn(*args, **kw)
                seen = _seen.get()
            finally:
                _seen.reset(token)
            if seen:
                w = TieWarning({who: f for who, (f, _) in seen.items()}, max(k for _, k in seen.values()))
                for got in _observers.get():
                    got.append(w)
                warnings.warn(w, stacklevel=stacklevel)
            return out
        return wrapper
    return deco


@contextlib.contextmanager
def ties() -> Iterator[list[TieWarning]]:
    """`with ties() as got:` collects the TieWarning of every metric call inside (also warned as usual), so that a
    caller can record the tied fractions with its results."""
    got = []
    token = _observers.set(_observers.get() + (got,))
    try:
        yield got
    finally:
        _observers.reset(token)


class Ties(NamedTuple):
    """The rows whose k-th similarity t is shared by a sample outside the list: the list ends in a tie-break (the
    lowest indices among the samples at t win), which a relabelling of the samples can change."""
    rows: torch.Tensor  # E int64
    need: torch.Tensor  # E int64: how many entries of the list are at t (the last ones in rank order)
    cand: torch.Tensor  # E x C int64: every other sample at t (those in the list too), ascending, padded with N


class Knn(NamedTuple):
    """Neighbour lists of one representation (N rows, k neighbours each), or of L layers stacked (see `stack`)."""
    idx: torch.Tensor   # N x k int64, nearest first
    sidx: torch.Tensor  # N x k int64, the same sets in ascending index order (any order: see relabel, ordered=False)
    sval: torch.Tensor  # N x k similarity at sidx
    keys: torch.Tensor  # N*k int64, i*N + sidx[i] flattened: sorted, for membership tests by searchsorted
    rev: torch.Tensor   # N x k int64: flat position of the entry (j, i) for the entry (i, j) of sidx, -1 if absent
    flat: torch.Tensor  # N bool: row i's similarities to all others are equal, so its list is a pure tie-break
    ties: Ties | None = None            # lists that end in a tie-break, for `relabel` (None: none, or a stack)
    union: torch.Tensor | None = None   # stacks: N x M, row i's entries over all layers, distinct, sorted, padded N
    order: torch.Tensor | None = None   # stacks: L*N*k, a's flat entries (l N k + i k + p) grouped by union slot
    start: torch.Tensor | None = None   # stacks: N (M + 1) + 1, slot i (M + 1) + u holds order[start[s]:start[s+1]]
    umap: torch.Tensor | None = None    # stacks with N^2 <= DENSE: N*N int32, i N + j -> slot of j in union[i], or M
    near: torch.Tensor | None = None    # N bool: the k-th similarity ties the (k+1)-th within rounding (see near_tie)


def near_tie(t, nxt, top, count=None, k=None):
    """Rows whose k-th similarity t is within rounding of the (k+1)-th, nxt (TIE_EPS eps x max(|top|, |t|), top the
    row's largest): where they swap, the list changes. -inf = -inf (K_PMI where P_coor = 0) is a tie; count > k
    (more than k values >= t) is an exact one."""
    scale = torch.maximum(top.abs(), t.abs()).nan_to_num(0.0, posinf=0.0)
    near = (t - nxt <= TIE_EPS * torch.finfo(t.dtype).eps * scale) | ((t == nxt) & t.isinf())
    return near if count is None else near | (count > k)


def topk_rows(S, k, diag):
    """Top-k of each row of a block S (b x N, overwritten) whose row r is sample diag[r]; that sample is excluded.

    Order is (-similarity, index): topk gives the right set unless ties straddle the k-th value, and those rows
    are redone by taking the tied entries lowest index first. Returns (idx, val), each b x k, `flat` (b bool):
    whether every similarity of the row (the sample excluded) equals its top one, the rows whose tie straddles
    the k-th value as (rows, need, cand) of `Ties` (None if there are none), and `near` (b bool, `near_tie`: the
    (k+1)-th similarity, which the search finds with the k first, is within rounding of the k-th).
    """
    b, n = S.shape
    r = torch.arange(b, device=S.device)
    S[r, diag] = -torch.inf
    val, idx = torch.topk(S, min(k + 1, n), dim=1)  # the (k+1)-th too, for the tie test
    nxt = val[:, k] if k < n else None
    val, idx = val[:, :k], idx[:, :k]
    t = val[:, -1:]
    ge = S >= t
    ge[r, diag] = False  # the diagonal is -inf, so it is ">= t" when t = -inf
    count = ge.sum(1)
    flat = (count == n - 1) & (val[:, 0] == t[:, 0])
    # k = N-1: every other sample is listed, nothing can swap in
    near = near_tie(t[:, 0], nxt, val[:, 0], count, k) if k < n - 1 else torch.zeros_like(flat)
    redo = (count > k) | (idx == diag[:, None]).any(1)
    ties = None
    if redo.any():
        rows = redo.nonzero().squeeze(1)
        Sr, tr = S[rows], t[rows]
        eq = Sr == tr
        eq[torch.arange(len(rows), device=S.device), diag[rows]] = False
        need = k - (Sr > tr).sum(1, keepdim=True)
        sel = (Sr > tr) | (eq & (eq.cumsum(1) <= need))
        idx[rows] = sel.nonzero()[:, 1].view(-1, k)
        edge = count[rows] > k
        if edge.any():
            e = edge.nonzero().squeeze(1)
            width = int(eq[e].sum(1).max())
            cand = torch.where(eq[e], torch.arange(n, device=S.device), n).sort(dim=1).values[:, :width]
            ties = (diag[rows[e]], need[e, 0], cand)
    idx = idx.sort(dim=1).values
    val = S.gather(1, idx)
    val, o = val.sort(dim=1, descending=True, stable=True)  # stable: equal values keep ascending index
    return idx.gather(1, o), val, flat, ties, near


def _lists(rows, n, k, device):
    """Assemble Knn from row blocks; `rows(i, j)` returns the similarity block for samples i..j-1 (b x n)."""
    b = max(1, BLOCK // n)
    parts = [topk_rows(rows(i, min(i + b, n)), k, torch.arange(i, min(i + b, n), device=device))
             for i in range(0, n, b)]
    idx, val, flat, near = (torch.cat([p[f] for p in parts]) for f in (0, 1, 2, 4))
    return assemble(idx, val, flat, [p[3] for p in parts], n, near)


def assemble(idx, val, flat, tied, n, near=None):
    """Knn from the lists idx, values val (N x k, nearest first), `flat` (N bool), the tie records (rows, need,
    cand) of `topk_rows` (a list; None entries: no ties) and the rows tied within rounding, `near` (N bool)."""
    sidx, o = idx.sort(dim=1)
    tied = [t for t in tied if t is not None]
    ties = None
    if tied:
        width = max(c.shape[1] for _, _, c in tied)
        ties = Ties(torch.cat([r for r, _, _ in tied]), torch.cat([m for _, m, _ in tied]),
                    torch.cat([torch.nn.functional.pad(c, (0, width - c.shape[1]), value=n) for _, _, c in tied]))
    return complete(Knn(idx, sidx, val.gather(1, o), None, None, flat, ties, near=near))


def complete(s):
    """s with `keys` and `rev` computed from its sorted lists sidx (the fields a left-hand side of a pair reads)."""
    n, k = s.sidx.shape
    i = torch.arange(n, device=s.sidx.device)[:, None]
    keys = (i * n + s.sidx).flatten()
    found, pos = member(keys, (s.sidx * n + i).flatten())
    return s._replace(keys=keys, rev=torch.where(found, pos, -1).view(n, k))


def relabel(s, perm, inv, ordered=True):
    """The lists of the same representation with its rows permuted (new row i is old row perm[i], inv = perm^-1),
    without any similarity: N_new(i) = inv[N_s(perm[i])], exactly the lists a recomputation gives. Two kinds of
    tie depend on the labels and are re-broken by the new index: in rows of `s.ties` the entries at the k-th value
    t become the `need` tied samples of lowest new index; within every list, equal similarities are re-ordered
    (idx is ordered by (-similarity, new index)). The similarity values of each row are unchanged (the samples
    that swap in or out of a list are all at t). keys and rev are not computed (None): a relabelled state is only
    ever the right-hand side of a pair, which reads idx, sidx, sval; `complete` adds them. O(N k log k).

    ordered=False, for the scores that compare sets (mutual, cycle, CKNNA: they read sidx and sval in any order):
    sidx holds each list in no particular order, sval alongside, idx is None; O(N k) then. With P permutations at
    once (perm, inv: P x N; set scores only), sidx and sval are P x N x k: a batch of right-hand sides that `mutual`
    and CKNNA score in one call."""
    n, k = s.sidx.shape
    if perm.ndim == 2:
        if s.ties is not None:  # each permutation re-breaks its own ties
            one = [relabel(s, p, q, ordered=False) for p, q in zip(perm, inv)]
            return Knn(None, torch.stack([x.sidx for x in one]), torch.stack([x.sval for x in one]), None, None,
                       torch.stack([x.flat for x in one]))
        rows = s.sidx.index_select(0, perm.flatten()).view(len(perm), n * k)
        return Knn(None, inv.gather(1, rows).view(-1, n, k), s.sval.index_select(0, perm.flatten()).view(-1, n, k),
                   None, None, s.flat[perm])
    sidx, sval = inv[s.sidx[perm]], s.sval[perm]
    if s.ties is not None:
        r = inv[s.ties.rows]  # the tied rows' new positions
        at_t = sval[r] == sval[r].min(1, keepdim=True).values  # their `need` entries at the k-th value
        cand = torch.where(s.ties.cand < n, inv[s.ties.cand.clamp(max=n - 1)], n).sort(dim=1).values
        cand = cand[:, :k]
        take = torch.arange(cand.shape[1], device=cand.device) < s.ties.need[:, None]
        new = sidx[r]
        new[at_t] = cand[take]  # row-major on both sides: row j's entries at t get row j's `need` lowest labels
        sidx[r] = new
    if not ordered:
        return Knn(None, sidx, sval, None, None, s.flat[perm])
    sidx, o = sidx.sort(dim=1)
    sval = sval.gather(1, o)
    idx = sidx.gather(1, sval.sort(dim=1, descending=True, stable=True).indices)  # as topk_rows orders them
    return Knn(idx, sidx, sval, None, None, s.flat[perm])


def knn_from_features(X, k, cosine=True, backend="exact", who=None):
    """Neighbour lists of the rows of X (N x D): by cosine similarity (rows normalised at any magnitude), or by the
    raw inner product (`cosine=False`, used for CKNNA's linear kernel and for rows already L2-normalised).
    backend: "exact" (blocks of X X^T), or a faiss index, "faiss" (flat) or "faiss-approx" (HNSW; see _faiss.py;
    `who` names the input in its recall report)."""
    Xn = unit_rows(X) if cosine else X
    if backend != "exact":
        from . import _faiss  # here: _faiss builds on this module
        return _faiss.knn(Xn, k, backend == "faiss-approx", who)
    return _lists(lambda i, j: Xn[i:j] @ Xn.T, X.shape[0], k, X.device)


def knn_from_similarity(S, k):
    """Neighbour lists of a given N x N similarity matrix (row i ranks the columns j != i)."""
    return _lists(lambda i, j: S[i:j].clone(), S.shape[0], k, S.device)


def stack(states):
    """L Knn states of the same N, k -> one Knn with a leading layer dimension (L x N x k, keys L x N*k), and the
    union of each row's lists over the layers (`union`, `order`, `start`, `umap`), which `intersect` searches. The
    tie records are dropped (a stack is only a left-hand side)."""
    fields = [torch.stack(f) for f in zip(*(s[:6] for s in states))]
    L, n, k = fields[1].shape
    rows = fields[1].transpose(0, 1).reshape(n, L * k)  # row i: its lists in all layers
    union = rows.sort(dim=1).values
    if L > 1:  # repeated entries become N (a sample index never is) and move to the end
        dup = torch.zeros_like(union, dtype=torch.bool)
        dup[:, 1:] = union[:, 1:] == union[:, :-1]
        union = union.masked_fill(dup, n).sort(dim=1).values
    i = torch.arange(n, device=union.device)[:, None]
    slot = torch.searchsorted(union, rows)
    flat = (slot + i * (L * k + 1)).view(n, L, k).transpose(0, 1).flatten()  # the slot of each entry, (l, i, p) order
    order = flat.argsort(stable=True)  # entries grouped by slot, each group in (l, i, p) order
    start = torch.searchsorted(flat[order], torch.arange(n * (L * k + 1) + 1, device=union.device))
    umap = None
    if n * n <= DENSE:
        umap = torch.full((n * n,), L * k, dtype=torch.int32, device=union.device)
        umap[(i * n + rows).flatten()] = slot.flatten().to(torch.int32)
    return Knn(*fields, None, union, order, start, umap)


def member(rows, q):
    """(found, pos): whether each q[..., i, m] occurs in the sorted row rows[..., i, :], and where. Leading dims
    match; a 1-D `rows` is one sorted row (e.g. all keys i*N + j). Row-local search over k entries is the fast path."""
    pos = torch.searchsorted(rows, q).clamp(max=rows.shape[-1] - 1)
    return rows.gather(-1, pos) == q, pos


# Scores of a stacked state `a` (L layers, see `stack`) against one state `b`: a list of L floats, so a layer sweep
# issues one batch of tensor ops per layer of b, and a single pair is a stack of one.

def intersect(a, b):
    """(g, q): the entries of the stacked lists a that are also in b's list of their row, as flat indices
    g = l N k + i k + p of a.sidx (ascending), and their positions q in b.sidx[i]. For a batch of P right-hand
    sides (b.sidx P x N x k, see `relabel`), g = (b_index L + l) N k + i k + p: the entries of a virtual P x L x N x k.

    Each of b's N k entries is looked up once in the union of a's lists over its layers (a direct map, or a
    row-local search), and each one found expands into the entries of a that hold it: O(N k + E log E) for the
    whole stack, E the size of the intersection (about L k^2 under a permutation null)."""
    n, k = b.sidx.shape[-2:]
    L, m = a.sidx.shape[0], a.union.shape[1]
    dev = b.sidx.device
    bs = b.sidx.view(-1, n, k)
    i = torch.arange(n, device=dev)[:, None]
    if a.umap is not None:
        p = a.umap.index_select(0, (i * n + bs).flatten()).long()  # m: absent
    else:  # row i of the union as keys i (N + 1) + j: one sorted array for every right-hand side
        keys = (a.union + i * (n + 1)).flatten()
        q = (bs + i * (n + 1)).flatten()
        at = torch.searchsorted(keys, q).clamp_(max=n * m - 1)
        p = torch.where(keys.index_select(0, at) == q, at - (q // (n + 1)) * m, m)
    f = (p < m).nonzero().squeeze(1)  # b's entries found in the union, flat (b_index N + i) k + q
    row = f // k
    s = (row % n) * (m + 1) + p.index_select(0, f)
    lo = a.start.index_select(0, s)
    cnt = a.start.index_select(0, s + 1) - lo
    rep = torch.repeat_interleave(torch.arange(len(f), device=dev), cnt)
    first = torch.cumsum(cnt, 0) - cnt
    g = a.order.index_select(0, (lo - first).index_select(0, rep) + torch.arange(len(rep), device=dev))
    g = g + (row // n).index_select(0, rep) * (L * n * k)
    g, o = g.sort()
    return g, (f % k).index_select(0, rep.index_select(0, o))


def mutual(a, b):
    """mean_i |N_a(i) ∩ N_b(i)| / k; for a batch of P right-hand sides, P lists of L."""
    n, k = b.sidx.shape[-2:]
    L = a.sidx.shape[0]
    g, _ = intersect(a, b)
    c = (torch.bincount(g // (n * k), minlength=L * b.sidx.numel() // (n * k)).double() / (n * k)).view(-1, L)
    return c.tolist() if b.sidx.ndim == 3 else c[0].tolist()


def jaccard(a, b):
    """mean_i |N_a(i) ∩ N_b(i)| / |N_a(i) ∪ N_b(i)| = mean_i c_i / (2k - c_i), c_i the shared count; for a batch of
    P right-hand sides, P lists of L. Summed as the histogram of c_i times the k + 1 ratios, in a fixed order: equal
    counts give bitwise-equal scores, as for the count-based scores."""
    n, k = b.sidx.shape[-2:]
    G = a.sidx.shape[0] * b.sidx.numel() // (n * k)
    g, _ = intersect(a, b)
    c = torch.bincount(g // k, minlength=G * n).view(G, n)  # shared count of each (group, row)
    hist = torch.bincount((c + torch.arange(G, device=c.device)[:, None] * (k + 1)).flatten(), minlength=G * (k + 1))
    hist = hist.view(G, k + 1).double()
    s = torch.zeros(G, dtype=torch.float64, device=c.device)
    for j in range(1, k + 1):  # elementwise, so each group's sum is the same whatever the batch
        s += hist[:, j] * (j / (2 * k - j))
    s = (s / n).view(-1, a.sidx.shape[0])
    return s.tolist() if b.sidx.ndim == 3 else s[0].tolist()


def cycle(a, b):
    """Fraction of i found among the a-neighbours of at least one of its b-neighbours."""
    n, k = b.sidx.shape
    i = torch.arange(n, device=b.sidx.device)[:, None]
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
