"""Permutation-null calibration (Gröger et al. 2026, Alg. 1 and 2): how far above chance is a score, and how far
above the chance level of an aggregate over layer pairs (the maximum inflates scores: the null of the max is the max
over the same sweep with shuffled rows). Chance levels: exact for mutual k-NN, by permutation for every metric.

Permuting the rows of feats_b changes no per-layer state, only its labels (k-NN lists are relabelled, N_{B.pi}(i) =
pi^-1(N_B(pi(i))); kernels are conjugated, P L P^T; SVD bases have their rows permuted), so each permutation is
scored from the states of the observed sweep: no feature product, no new k-NN search. mutual_knn and CKNNA score
batches of permutations in one call (their cost is then the intersection of the lists, about L k^2 entries per
permutation and layer pair). Definitions: docs/DESIGN.md.
"""
import math
import numbers
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from platonic_core import progress as _progress
from platonic_core.checks import check_bool, check_choice, check_int, check_real, fail, param

from . import _knn
from . import metrics as _m
from . import sweep as _sw
from ._checks import as_tensor, check_dtype, check_finite, check_rows, same_device
from ._types import Aggregate, Clamp, Device, DType, Layers, Sim

AGGREGATES = ("max", "mean")


@dataclass(frozen=True)
class Calibration:
    """The permutation null of a score and the calibration of record (Gröger et al. 2026, Alg. 1/2).

    score: the observed statistic: the metric (one pair), or the aggregate of the La x Lb layer-pair scores
        (stacks: `aggregate` "max", the best pair, or "mean").
    null: the n_perm statistics with the rows of feats_b permuted by `permutation(N, seed + p)` (for stacks, the
        aggregate of each permuted sweep, every layer of feats_b permuted alike).
    null_mean, null_std: mean and sample std (ddof=1) of the null; when all null values are equal (always so for
        n_perm = 1) null_std = 0 and null_mean is that value, exactly.
    above_null_mean = score - null_mean (this field was called `calibrated`; that name is a deprecated alias).
    z = above_null_mean / null_std. When null_std is within rounding of 0 (n_perm = 1, or a null without spread),
        z = 0 if the score equals null_mean within rounding, else +-inf. Never NaN.
    p_value = (1 + #{null >= score}) / (n_perm + 1), a null value within rounding of the score counting as >=.
    threshold: tau, the r-th smallest of {score} U null, r = ceil((1 - alpha)(n_perm + 1)) computed exactly (alpha
        read as the decimal it prints as). With n_perm < 1/alpha - 1, r = n_perm + 1 and tau is the largest value,
        so calibrated_score is 0.
    calibrated_score = clip((score - tau) / (smax - tau), 0, 1), smax the metric's largest score (1 for all but
        CKNNA; a callable metric's `smax`); relu(score - tau) where smax is None (CKNNA, whose range is unbounded).
        0 when score <= tau within rounding.
    Rounding ("within rounding"): none for the count-based k-NN metrics, else 64 eps of the dtype times
    max(1, |null_mean|) (callable metrics too).
    best_layers, scores: for stacks, (layer_a, layer_b) of the best pair (the first maximum, whatever the aggregate)
        and the observed La x Lb scores; null_scores: the n_perm x La x Lb permuted sweeps. None for one pair.
    """
    score: float
    null: np.ndarray
    null_mean: float
    null_std: float
    above_null_mean: float
    z: float
    p_value: float
    threshold: float
    calibrated_score: float
    alpha: float
    aggregate: str
    smax: float | None
    best_layers: tuple | None   # (layer_a, layer_b) of the maximum, for layer stacks
    scores: np.ndarray | None   # observed La x Lb scores, for layer stacks
    null_scores: np.ndarray | None = None  # n_perm x La x Lb permuted scores, for layer stacks

    @property
    def calibrated(self):
        """Deprecated alias of `above_null_mean` (score - null_mean), which is not the calibrated score of record:
        that is `calibrated_score`."""
        warnings.warn("Calibration.calibrated is deprecated: it is score - null_mean, now `above_null_mean`; the "
                      "calibrated score of Gröger et al. is `calibrated_score`", DeprecationWarning, stacklevel=2)
        return self.above_null_mean


def permutation(n: int, seed: int, device: Device = "cpu") -> torch.Tensor:
    """The p-th null permutation of `calibrate` is permutation(N, seed + p): drawn by a CPU generator, so every
    device gets the same one. Returns an int64 tensor of length n on `device` (a torch.device or its name)."""
    fn = "permutation"
    n = check_int(n, "n", fn, 1)
    seed = check_int(seed, "seed", fn, 0, (1 << 63) - 1, hint="[0, 2^63-1]")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        fail(param("device", fn), "be a torch.device or its name (e.g. 'cpu', 'cuda:0')", repr(device), TypeError)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(device)


def _perms(n, seed, n_perm, device, bar):
    """A function of a batch size c returning a fresh iterator over the permutations seed .. seed + n_perm - 1 and
    their inverses: (perm, inv) one at a time (c = 1, length N each) or in batches (c > 1, at most c x N); `bar`
    counts the permutations used."""
    def gen(chunk=1):
        for c in range(0, n_perm, chunk):
            perm = torch.stack([permutation(n, seed + i) for i in range(c, min(c + chunk, n_perm))]).to(device)
            inv = torch.empty_like(perm).scatter_(1, perm, torch.arange(n, device=device).expand_as(perm))
            yield (perm[0], inv[0]) if chunk == 1 else (perm, inv)
            bar.update(len(perm))
    return gen


def null_sweep(feats_a, feats_b, metric, kw, dtype, q, n_perm, seed, fn, clamp="layer", progress=False):
    """Validate a calibration call and run it once: (spec, observed La x Lb scores, n_perm x La x Lb null scores,
    single). One pair is a 1 x 1 sweep of the metric as given (like `measure`); stacks use the `layerwise`
    pipeline. Permutation p is permutation(N, seed + p), applied to every layer of feats_b. `progress`: a bar of
    the permutations on a terminal, after 2 s."""
    dtype = check_dtype(dtype, fn)
    pair = _sw.one_pair(feats_a, feats_b, metric, kw, dtype, fn)
    if pair is not None:
        s, p, (A, B), (wa, wb) = pair
        sa, lb, who, unit = s.stack([s.feat(A, p, wa)]), [B], (lambda j: wb), False
    else:
        s, p, la, lb = _sw.setup(feats_a, feats_b, metric, kw, dtype, q, fn, clamp=clamp)
        sa, who, unit = _sw.states(s, p, la, "feats_a", fn), None, True
    n, dev = lb[0].shape[0], lb[0].device
    with _progress.quiet(not progress):
        bar = _progress.progress(total=n_perm * len(lb), desc=f"{fn}: permutations", unit="perm", delay=2)
    with bar:
        scores, null = _sw.sweep(s, p, sa, lb, fn, _perms(n, seed, n_perm, dev, bar), who, unit)
    return s, scores, null, pair is not None


def _value(v, fn):
    """What a user's similarity returned, as a float: a real number, or a tensor or array of one element; finite."""
    got = None
    if isinstance(v, (torch.Tensor, np.ndarray)):
        got = f"{type(v).__name__} of shape {tuple(v.shape)}"
        if math.prod(v.shape) == 1:
            v = v.item()
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        fail(param("metric", fn), "return a real number (a float, or a tensor or array of one element)",
             got or f"{v!r} ({type(v).__name__})", TypeError)
    if not math.isfinite(v):
        fail(param("metric", fn), "return a finite number", v)
    return float(v)


def user_sweep(feats_a, feats_b, sim, kw, dtype, q, n_perm, seed, fn, clamp, progress=False):
    """calibrate's sweep for a user's similarity sim(A, B) -> float: (smax, observed La x Lb scores, n_perm x La x Lb
    null scores, single). One pair: sim on the two N x D inputs as tensors of `dtype` on their device (not rescaled);
    stacks: on every (layer_a, layer_b) pair after the `layerwise` pipeline. The null calls sim with the rows of
    feats_b (every layer alike) permuted by permutation(N, seed + p). kw: only smax (default 1.0; None: unbounded).
    `progress`: a bar of the permutations on a terminal, after 2 s."""
    extra = sorted(set(kw) - {"smax"})
    if extra:
        fail(f"keyword arguments of {fn} with a callable metric", "be among (smax)", ", ".join(map(repr, extra)),
             TypeError)
    smax = kw.get("smax", 1.0)
    smax = None if smax is None else check_real(smax, "smax", fn)
    dtype = check_dtype(dtype, fn)
    single = _sw.is_pair(feats_a, feats_b, fn)
    if single:
        dev, names = same_device((feats_a, feats_b), fn), ("feats_a", "feats_b")
        la, lb = ([as_tensor(x, param(nm, fn), dtype, dev, rescale=False)] for x, nm in zip((feats_a, feats_b), names))
        check_rows([la[0].shape, lb[0].shape], names, fn)
        for t, nm in zip(la + lb, names):
            check_finite(t, param(nm, fn))
    else:
        _, _, la, lb = _sw.setup(feats_a, feats_b, None, {}, dtype, q, fn, clamp=clamp, user=True)
    n = la[0].shape[0]
    if n < 2:
        fail(f"'feats_a' and 'feats_b' parameters of {fn}", "have N >= 2 rows (a permutation null needs two)",
             f"N={n}")

    def grid(ys):
        out = np.array([[_value(sim(x, y), fn) for y in ys] for x in la], dtype=np.float64)
        if smax is not None and out.max() > smax + 64 * torch.finfo(dtype).eps * max(1.0, abs(smax)):
            fail(param("metric", fn), f"return values <= smax={smax:g} (pass smax=None for a similarity without a "
                 "maximum)", f"{out.max():g}")
        return out
    scores = grid(lb)  # the first calls: a bad return value stops before the null
    with _progress.quiet(not progress):
        bar = _progress.progress(total=n_perm, desc=f"{fn}: permutations", unit="perm", delay=2)
    with bar:
        null = np.array([grid([y[perm] for y in lb]) for perm, _ in _perms(n, seed, n_perm, lb[0].device, bar)()])
    return smax, scores, null, single


def _common(fn, n_perm, seed, q, clamp):
    n_perm = check_int(n_perm, "n_perm", fn, 1, 1 << 31, hint="[1, 2^31]")
    seed = check_int(seed, "seed", fn, 0, 1 << 62, hint="[0, 2^62]")
    q = _sw.check_q(q, fn)  # q and clamp: used by layer stacks only, but checked always
    return n_perm, seed, q, check_choice(clamp, "clamp", fn, _sw.CLAMPS)


def rank(alpha, n_perm):
    """r = ceil((1 - alpha)(n_perm + 1)), in exact arithmetic on the decimal alpha prints as (0.05 is 1/20), so
    that an integer product is not pushed past itself by binary rounding."""
    return math.ceil((1 - Fraction(repr(float(alpha)))) * (n_perm + 1))


@_knn.warns_ties()
def calibrate(feats_a: Layers, feats_b: Layers, metric: str | Sim = "mutual_knn", *, n_perm: int = 100, seed: int = 0,
              alpha: float = 0.05, aggregate: Aggregate = "max", q: float = 0.95, clamp: Clamp = "layer",
              dtype: DType = torch.float32, progress: bool = True, **kw: Any) -> Calibration:
    """Permutation null and calibrated score of an alignment score (Gröger et al. 2026, Alg. 1 and 2).

    Two N x D matrices: the metric on them as given (like `measure`); null = the metric with the rows of feats_b
    permuted. Two layer stacks (sequences of N x D, or L x N x D): the `layerwise` pipeline, statistic = the
    `aggregate` ("max": the best pair, the paper's; "mean": the mean over pairs) of the La x Lb scores; null = the
    same aggregate of the sweep with the rows of every feats_b layer permuted alike. Permutation p (0 <= p < n_perm)
    is `permutation(N, seed + p)`. Each permutation relabels the per-layer states of feats_b (no recomputation):
    the same numbers as scoring feats_b[perm] afresh, to float rounding (bitwise for the k-NN metrics).
    alpha in (0, 1): the level of the threshold. kw: the metric's parameters. q, clamp: the pipeline's (stacks; see
    `layerwise`). progress: a bar of the permutations on a terminal when they take over 2 s (False: none). Returns a
    `Calibration`, whose docstring defines every field. n_perm >= 1; calibrated_score can be nonzero only for
    n_perm >= 1/alpha - 1.

    metric may also be a callable sim(A, B) -> float (calibrated-similarity's convention): it is called on the
    inputs (one pair: the two N x D inputs as torch tensors of `dtype` on their device, not rescaled; stacks: every
    layer pair after the pipeline) and on feats_b with its rows permuted, n_perm x La x Lb calls in all, and must
    return a finite real number (or a one-element tensor), checked from its first call on. kw then holds only
    `smax`, its largest value (default 1.0; None: unbounded, calibrated_score = relu(score - tau)). The fields are
    defined as for named metrics; a callable equal to a named metric gives that metric's calibration.
    """
    fn = "calibrate"
    n_perm, seed, q, clamp = _common(fn, n_perm, seed, q, clamp)
    progress = check_bool(progress, "progress", fn)
    alpha = check_real(alpha, "alpha", fn, 0, 1, low_open=True, high_open=True)
    aggregate = check_choice(aggregate, "aggregate", fn, AGGREGATES)
    if callable(metric):
        smax, scores, sweeps, single = user_sweep(feats_a, feats_b, metric, kw, dtype, q, n_perm, seed, fn, clamp,
                                                  progress)
        exact = False
    elif isinstance(metric, str):
        s, scores, sweeps, single = null_sweep(feats_a, feats_b, metric, kw, dtype, q, n_perm, seed, fn, clamp,
                                               progress)
        smax, exact = s.smax, s.exact
    else:
        fail(param("metric", fn), f"be one of {', '.join(_m.METRICS)} or a callable sim(A, B) -> float",
             repr(metric), TypeError)
    agg = np.max if aggregate == "max" else np.mean
    score = float(agg(scores))
    null = np.asarray(agg(sweeps, axis=(1, 2)), dtype=np.float64)
    ij = None if single else _sw.best(scores)[1]
    if null.min() == null.max():  # zero spread (n_perm = 1 too), stated exactly: np.mean and np.std would add rounding
        mean, sd = float(null[0]), 0.0
    else:
        mean, sd = float(null.mean()), float(null.std(ddof=1))
    diff = score - mean
    tol = 0.0 if exact else 64 * torch.finfo(check_dtype(dtype, fn)).eps * max(1.0, abs(mean))
    z = diff / sd if sd > tol else (math.copysign(math.inf, diff) if abs(diff) > tol else 0.0)
    p_value = (1 + int((null >= score - tol).sum())) / (n_perm + 1)
    tau = float(np.sort(np.append(null, score))[rank(alpha, n_perm) - 1])
    excess = score - tau
    if excess <= tol:
        cal = 0.0
    else:  # score > tau, and score <= smax: smax - tau > 0
        cal = excess if smax is None else min(excess / (smax - tau), 1.0)
    return Calibration(score, null, mean, sd, diff, z, p_value, tau, cal, alpha, aggregate, smax, ij,
                       *((None, None) if single else (scores, sweeps)))


@_knn.warns_ties()
def chance(feats_a: Layers, feats_b: Layers, metric: str = "mutual_knn", *, n_perm: int = 100, seed: int = 0,
           q: float = 0.95, clamp: Clamp = "layer", dtype: DType = torch.float32, **kw: Any) -> float | np.ndarray:
    """The chance level of a metric on these data, by permutation: the mean of the metric over n_perm permutations
    of the rows of feats_b (permutation(N, seed + p), as `calibrate`'s). One pair: a float, equal to
    calibrate(..., n_perm, seed).null_mean. Layer stacks: the La x Lb array of each layer pair's chance level (after
    the `layerwise` pipeline); the chance level of the best pair is calibrate's null_mean (the max inflates it).
    For mutual_knn the exact expectation is `mutual_knn_chance(N, k)` = k / (N - 1)."""
    fn = "chance"
    n_perm, seed, q, clamp = _common(fn, n_perm, seed, q, clamp)
    _, _, null, single = null_sweep(feats_a, feats_b, metric, kw, dtype, q, n_perm, seed, fn, clamp)
    means = null.mean(0)
    return float(means[0, 0]) if single else means


def mutual_knn_chance(n: int, k: int) -> float:
    """The exact expectation of mutual_knn(A, B[perm], k) over uniformly random permutations perm of N = n rows:
    k / (n - 1), for any A and B whose k-NN lists have no tie at the k-th neighbour (real-valued features almost
    surely). Given perm(i) = u, the relabelled list perm^-1(N_B(u)) is a uniformly random k-subset of the n - 1
    samples other than i, so it shares k * k / (n - 1) samples with N_A(i) on average. (Where a tie at the k-th
    value is broken by the lower index, the labels enter the list and the expectation can differ slightly.)"""
    fn = "mutual_knn_chance"
    n = check_int(n, "n", fn, 2)
    k = check_int(k, "k", fn, 1, n - 1, hint=f"[1, N-1] with N={n}")
    return k / (n - 1)
