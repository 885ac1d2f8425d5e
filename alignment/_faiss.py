"""Neighbour lists through faiss (`knn="faiss"` or `"faiss-approx"` of the k-NN metrics and CKNNA), for sample counts
where the exact O(N^2 D) search is too slow. faiss is imported only when one of them is asked for.

"faiss": a flat (exhaustive) inner-product index, on the GPU where faiss-gpu is installed and the features are on
CUDA. Each row's k + 1 best other samples are ranked by (-similarity, index), as the exact search ranks them. Where the
k-th and (k+1)-th similarity are equal (a tie straddling the end of the list, or a row of equal similarities), faiss
cannot say which other samples share that value, so the row is recomputed by the exact search (`_knn.topk_rows`),
with its tie record: exact ties (duplicate rows, integer-valued products) give exactly the exact search's lists and
the same relabelled permutation nulls. faiss computes the inner products in its own order of summation, so where two
similarities of a row differ by less than their rounding (|s - s'| <~ D eps for unit rows, eps of float32) the two
searches may order them differently, or, at the k-th place, keep a different one of them.

"faiss-approx": an HNSW graph (IndexHNSWFlat, M = 32, efConstruction = 40), built on one thread, since a parallel
build is not deterministic; on the CPU whatever the device. Its search breadth efSearch starts at 2 (k + 1) and doubles
until the recall@k against the exact lists of a sample of min(N, 1000) rows (fixed, seed 0) reaches 0.95, or up to
1024. The recall is reported as an `ApproximateKnnWarning`. Rows for which the graph returns fewer than k others, or
only equal similarities, are recomputed exactly. A permutation null relabels these lists as they are (no new graph).
"""
import contextlib
import importlib.util
import warnings

import numpy as np
import torch

from platonic_core.extras import hint

from . import _knn

HNSW_M = 32
EF_CONSTRUCTION = 40
EF_MAX = 1024
RECALL = 0.95    # the sample recall that stops the efSearch doubling
SAMPLE = 1000    # rows whose exact lists measure the recall
INSTALL = f"{hint('faiss')} (or faiss-gpu on a CUDA machine)"


class ApproximateKnnWarning(UserWarning):
    """The recall@k of knn="faiss-approx" against the exact lists of `rows` sampled rows of the input `who`:
    the mean over those rows of |approximate ∩ exact| / k, at the HNSW search breadth `ef`."""

    def __init__(self, who, recall, rows, k, ef):
        super().__init__(f"knn='faiss-approx' on the {who}: recall@{k} = {recall:.4f} against exact neighbours on "
                         f"{rows} sampled rows (efSearch {ef})")
        self.who, self.recall, self.rows, self.k, self.ef = who, recall, rows, k, ef


def available():
    return importlib.util.find_spec("faiss") is not None


@contextlib.contextmanager
def _threads(faiss, n):
    """faiss's OpenMP threads set to n (torch's count) for the block, then restored."""
    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(old)


def _others(V, I, ids):
    """(V, I) of a search of the rows ids (R x m) without the row itself (or, where it is absent, without the last
    result), ranked by (-similarity, index): R x (m - 1) tensors."""
    V, I = torch.from_numpy(V), torch.from_numpy(I)
    keep = I != ids[:, None]
    keep[keep.all(1), -1] = False
    I, V = I[keep].view(len(ids), -1), V[keep].view(len(ids), -1)
    I, o = I.sort(dim=1)  # equal similarities: lower index first (sorts below are stable)
    V, o2 = V.gather(1, o).sort(dim=1, descending=True, stable=True)
    return V, I.gather(1, o2)


def _exact_rows(X, rows, k):
    """(block of rows, its `topk_rows`) for the given rows (a 1-D tensor of sample indices), in blocks."""
    return [(r, _knn.topk_rows(X[r] @ X.T, k, r)) for r in rows.split(max(1, _knn.BLOCK // X.shape[0]))]


def knn(X, k, approx, who):
    """Neighbour lists (`_knn.Knn`) of the rows of X (N x D float32) by inner product, k <= N - 1."""
    import faiss

    n, d = X.shape
    xs = np.ascontiguousarray(X.detach().cpu().numpy(), dtype=np.float32)
    m = min(k + 2, n)  # the row itself, k others and the next one
    with _threads(faiss, torch.get_num_threads()):
        if approx:
            V, I = _hnsw(faiss, X, xs, k, m, who)
        else:
            index, _res = _flat(faiss, X, d)  # _res: the GPU resources must outlive the search
            index.add(xs)
            V, I = index.search(xs, m)
    V, I = _others(V, I, torch.arange(n))
    V, I = V.to(X.device, X.dtype), I.to(X.device)
    redo = (I[:, :k] < 0).any(1) | (V[:, 0] == V[:, -1])  # fewer than k results; maybe a row of equal values
    if not approx and I.shape[1] > k:
        redo |= V[:, k - 1] == V[:, k]
    idx, val = I[:, :k].clone(), V[:, :k].clone()
    flat = torch.zeros(n, dtype=torch.bool, device=X.device)
    near = _knn.near_tie(V[:, k - 1], V[:, k], V[:, 0]) if V.shape[1] > k else torch.zeros_like(flat)
    tied = []
    for r, (i, v, f, t, e) in _exact_rows(X, redo.nonzero()[:, 0], k):
        idx[r], val[r], flat[r], near[r] = i, v, f, e
        tied.append(t)
    return _knn.assemble(idx, val, flat, tied, n, near)


def _flat(faiss, X, d):
    """An empty flat inner-product index, on X's GPU where faiss-gpu can, and its GPU resources (or None)."""
    if X.is_cuda and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        res = faiss.StandardGpuResources()
        cfg = faiss.GpuIndexFlatConfig()
        cfg.device = X.device.index or 0
        return faiss.GpuIndexFlatIP(res, d, cfg), res
    return faiss.IndexFlatIP(d), None


def _hnsw(faiss, X, xs, k, m, who):
    """Search results (V, I) of every row in an HNSW graph whose efSearch is tuned on a sample (module docstring)."""
    n, d = xs.shape
    index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    with _threads(faiss, 1):
        index.add(xs)
    rows = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:min(n, SAMPLE)].sort().values
    exact = torch.cat([p[0] for _, p in _exact_rows(X, rows.to(X.device), k)]).cpu()
    ef = 2 * (k + 1)
    while True:
        index.hnsw.efSearch = ef
        found = _others(*index.search(xs[rows.numpy()], m), rows)[1][:, :k]
        found = torch.where(found < 0, n, found)  # missing results match nothing
        recall = (found[:, :, None] == exact[:, None, :]).any(-1).double().mean().item()
        if recall >= RECALL or ef >= EF_MAX:
            break
        ef *= 2
    warnings.warn(ApproximateKnnWarning(who, recall, len(rows), k, ef), stacklevel=2)
    return index.search(xs, m)
