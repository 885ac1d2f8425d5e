"""Uncertainty of an alignment score by resampling samples (rows): m-out-of-n subsampling without replacement.

Why not the textbook bootstrap (N rows drawn with replacement)? It duplicates rows (a third of them on average), and
a duplicated sample is its copy's nearest neighbour, at similarity 1, in both representations: the k-NN metrics
would count that agreement, which is an artefact of the resampling, not of the data, and the unbiased HSIC of
unbiased CKA and CKNNA would take the copy pairs for distinct samples (self-pairs it is built to exclude). Drawing
m < N rows without replacement creates no duplicate at all, so every metric runs unchanged, with its exact
tie-breaking, on each replicate. What it changes is the sample size, and the k-NN metrics depend on it (mutual
k-NN's chance level is k / (m - 1), and Koepke et al. 2026 show it falls as N grows), so the replicates are centred
on their own mean and the interval is placed around the full-sample estimate (below). Definitions: docs/DESIGN.md.
"""
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from platonic_core.checks import check_choice, check_int, check_real, fail, param

from . import _knn
from . import metrics as _m
from . import sweep as _sw
from ._checks import check_dtype
from ._types import Aggregate, Clamp, Device, DType, Layers
from .null import AGGREGATES


@dataclass(frozen=True)
class Bootstrap:
    """estimate: the statistic on all N rows (one pair: the metric as given; layer stacks: the aggregate of the
        `layerwise` scores, "max" the best pair).
    replicates: n_boot statistics, replicate b computed on the m rows `subsample(N, m, seed + b)` of both inputs
        (for stacks the whole pipeline, clamp quantile included, runs on those rows).
    low, high: the interval estimate + sqrt(m / (N - m)) * [Q((1 - ci) / 2), Q((1 + ci) / 2)] of the centred
        replicates d_b = replicates_b - mean(replicates), Q linear-interpolation quantiles (np.quantile's).
        Sampling m of N rows without replacement gives a mean-like statistic the variance sigma^2 (1/m - 1/N) =
        sigma^2 (N - m) / (m N), against sigma^2 / N for the full-sample estimate: the factor sqrt(m / (N - m))
        (1 at the default m = N/2, half-sampling) gives the replicates the full sample's spread, and centring removes
        the level shift between sizes m and N. A percentile interval of those rescaled, centred replicates.
    m: rows per replicate, round(frac N); best_layers: the best pair of the full estimate (stacks), else None.
    """
    estimate: float
    low: float
    high: float
    ci: float
    replicates: np.ndarray
    m: int
    frac: float
    aggregate: str
    best_layers: tuple | None


def subsample(n: int, m: int, seed: int, device: Device = "cpu") -> torch.Tensor:
    """The rows of replicate b of `bootstrap` are subsample(N, m, seed + b): m distinct rows of n, drawn without
    replacement by a CPU generator (every device gets the same ones), in ascending order (so ties between samples
    are broken as in the full data: by the lower original index). int64 tensor of length m on `device`."""
    fn = "subsample"
    n = check_int(n, "n", fn, 1)
    m = check_int(m, "m", fn, 1, n, hint=f"[1, n] with n={n}")
    seed = check_int(seed, "seed", fn, 0, (1 << 63) - 1, hint="[0, 2^63-1]")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:m].sort().values.to(device)


@_knn.warns_ties()  # the largest tied fraction over the full data and the replicates
def bootstrap(feats_a: Layers, feats_b: Layers, metric: str = "mutual_knn", *, n_boot: int = 200, seed: int = 0,
              ci: float = 0.95, frac: float = 0.5, aggregate: Aggregate = "max", q: float = 0.95,
              clamp: Clamp = "layer", dtype: DType = torch.float32, **kw: Any) -> Bootstrap:
    """Resampling interval of an alignment score (see the module docstring for why rows are subsampled).

    feats_a, feats_b: two N x D matrices (the metric as given, like `measure`) or two layer stacks (the `layerwise`
    pipeline; statistic = the best-pair score, or the mean over pairs with aggregate="mean"). Each replicate scores
    the same m = round(frac N) rows of both inputs (without replacement: no duplicated rows). n_boot >= 1,
    ci and frac in (0, 1), and m must leave the metric defined (k <= m - 1; m >= 4 for unbiased HSIC). Returns a
    `Bootstrap` (estimate, low, high, replicates, ...). Deterministic for a seed, on every device. q, clamp: the
    pipeline's (stacks; see `layerwise`).
    """
    fn = "bootstrap"
    n_boot = check_int(n_boot, "n_boot", fn, 1, 1 << 31, hint="[1, 2^31]")
    seed = check_int(seed, "seed", fn, 0, 1 << 62, hint="[0, 2^62]")
    ci = check_real(ci, "ci", fn, 0, 1, low_open=True, high_open=True)
    frac = check_real(frac, "frac", fn, 0, 1, low_open=True, high_open=True)
    aggregate = check_choice(aggregate, "aggregate", fn, AGGREGATES)
    q = _sw.check_q(q, fn)
    clamp = check_choice(clamp, "clamp", fn, _sw.CLAMPS)
    dtype = check_dtype(dtype, fn)
    agg = np.max if aggregate == "max" else np.mean
    pair = _sw.one_pair(feats_a, feats_b, metric, kw, dtype, fn)
    if pair is not None:
        s, p, (A, B), (wa, wb) = pair
        n = A.shape[0]

        def stat(rows):
            a, b = (A, B) if rows is None else (A[rows], B[rows])
            return s.pair(s.stack([s.feat(a, p, wa)]), s.feat(b, p, wb))[0], None
    else:
        s, p, pa, pb, la, lb = _sw.setup(feats_a, feats_b, metric, kw, dtype, q, fn, raw=True, clamp=clamp)
        n = la[0].shape[0]

        def stat(rows):
            xa, xb = (pa, pb) if rows is None else (_sw.prepare_layers([x[rows] for x in xs], q, name, fn, clamp)
                                                    for name, xs in (("feats_a", la), ("feats_b", lb)))
            scores = _sw.sweep(s, p, _sw.states(s, p, xa, "feats_a", fn), xb, fn)
            return float(agg(scores)), _sw.best(scores)[1]
    m = round(frac * n)
    low = max(_m.min_rows(metric, p), p.get("k", 0) + 1)
    if not low <= m < n:
        fail(param("frac", fn), f"leave m = round(frac N) rows with {low} <= m < N = {n} (each replicate must "
             f"define {metric}" + (f" with k={p['k']}" if "k" in p else "") + ")", f"{frac!r} (m = {m})")
    estimate, ij = stat(None)
    dev = (A if pair is not None else la[0]).device
    reps = np.array([stat(subsample(n, m, seed + b, dev))[0] for b in range(n_boot)], dtype=np.float64)
    d = (reps - reps.mean()) * np.sqrt(m / (n - m))
    lo, hi = np.quantile(d, [(1 - ci) / 2, (1 + ci) / 2])
    return Bootstrap(float(estimate), float(estimate + lo), float(estimate + hi), ci, reps, m, frac, aggregate, ij)
