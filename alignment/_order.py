"""Order statistics, exact and deterministic: quantiles with numpy's linear interpolation (the pipeline's clamp, RBF
CKA's median distance) and ranks with ties averaged (scipy's rankdata, for RSA's Spearman correlation).
"""
import math

import numpy as np
import torch


def quantile(a, q):
    """q-th quantile of the entries of the tensor a, linear interpolation (np.quantile's default). On the CPU numpy's
    introselect is ~20x faster than torch.kthvalue; both give the exact order statistics."""
    a = a.flatten()
    pos = q * (a.numel() - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, a.numel() - 1)
    if a.device.type == "cpu":
        part = np.partition(a.numpy(), lo)  # one kth: numpy is ~10x slower given two
        v = torch.from_numpy(np.array([part[lo], part[hi:].min()]))
    else:
        v = torch.stack([a.kthvalue(lo + 1).values, a.kthvalue(hi + 1).values])
    return v[0] + (pos - lo) * (v[1] - v[0])


def row_quantiles(X, q):
    """q-th quantile of each row of X (N x M), linear interpolation (torch.quantile's, row by row)."""
    pos = q * (X.shape[1] - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, X.shape[1] - 1)
    if X.device.type == "cpu":
        v = torch.from_numpy(np.partition(X.numpy(), [lo, hi], axis=1)[:, [lo, hi]])
    else:
        v = torch.stack([X.kthvalue(lo + 1, dim=1).values, X.kthvalue(hi + 1, dim=1).values], 1)
    return torch.lerp(v[:, 0], v[:, 1], pos - lo)


def average_ranks(v):
    """Ranks 1..M of the entries of the 1-D tensor v, tied entries sharing the mean of their ranks
    (scipy.stats.rankdata's 'average'), as float64 (exact: halves of integers)."""
    s, order = torch.sort(v, stable=True)
    _, inv, counts = torch.unique_consecutive(s, return_inverse=True, return_counts=True)
    mid = torch.cumsum(counts, 0).double() - (counts.double() - 1) / 2  # the mean of ranks end - count + 1 .. end
    return torch.empty(v.shape, dtype=torch.float64, device=v.device).index_copy_(0, order, mid.index_select(0, inv))
