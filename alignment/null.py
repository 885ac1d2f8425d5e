"""Permutation-null calibration: how far above chance is a score, and how far above the chance level of a maximum
over layer pairs (which inflates scores: the null of the max is the max over the same sweep with shuffled rows)."""
import math
from dataclasses import dataclass

import numpy as np
import torch

from platonic_core.checks import check_int, fail, param

from . import metrics as _m
from . import sweep as _sw
from ._checks import check_dtype


@dataclass(frozen=True)
class Calibration:
    """score: the observed score (single pair) or the maximum over layer pairs (layer stacks).
    null: n_perm scores with the rows of feats_b shuffled (for stacks: the maximum of each shuffled sweep).
    calibrated = score - null_mean; z = calibrated / null_std (null_std: sample std, ddof=1; 0 and null_mean exact
    when all null scores are equal). When null_std is within rounding of 0, z is 0 if the score equals null_mean
    within rounding too, and +-inf otherwise. Rounding: none for the count-based k-NN metrics, else 64 eps of the
    dtype times max(1, |null_mean|)."""
    score: float
    null: np.ndarray
    null_mean: float
    null_std: float
    calibrated: float
    z: float
    best_layers: tuple | None   # (layer_a, layer_b) of the maximum, for layer stacks
    scores: np.ndarray | None   # observed La x Lb scores, for layer stacks


def permutation(n, seed, device="cpu"):
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


def calibrate(feats_a, feats_b, metric="mutual_knn", *, n_perm=10, seed=0, q=0.95, dtype=torch.float32, **kw):
    """Permutation null of an alignment score.

    Two N x D matrices: the metric on them as given (like `measure`), null = the metric with the rows of feats_b
    permuted. Two layer stacks (sequences of N x D, or L x N x D): the `layerwise` pipeline and its maximum over
    layer pairs, null = the maximum over the sweep with the rows of every feats_b layer permuted alike.
    Permutation p (0 <= p < n_perm) is `permutation(N, seed + p)`. kw: the metric's parameters.
    """
    fn = "calibrate"
    n_perm = check_int(n_perm, "n_perm", fn, 2, 1 << 31, hint="[2, 2^31]")
    seed = check_int(seed, "seed", fn, 0, 1 << 62, hint="[0, 2^62]")
    q = _sw.check_q(q, fn)  # used by layer stacks only, but checked always
    dtype = check_dtype(dtype, fn)
    single = [_sw.is_matrix(f) for f in (feats_a, feats_b)]
    if single[0] != single[1]:
        fail(f"'feats_a' and 'feats_b' parameters of {fn}", "be both single N x D matrices (one pair) or both layer "
             "stacks (sequences of N x D, or L x N x D)", "one of each")
    if single[0]:
        _m.spec(metric, f"'metric' parameter of {fn}")
        s, p, (A, B), (wa, wb) = _m.pair_setup(metric, feats_a, feats_b, kw, dtype, fn, ("feats_a", "feats_b"))
        sa = s.stack([s.feat(A, p, wa)])
        score = s.pair(sa, s.feat(B, p, wb))[0]
        n = A.shape[0]
        null = [s.pair(sa, s.feat(B[permutation(n, seed + i, B.device)], p, wb))[0] for i in range(n_perm)]
        ij, scores = None, None
    else:
        s, p, la, lb = _sw.setup(feats_a, feats_b, metric, kw, dtype, q, fn)
        sa = _sw.states(s, p, la, "feats_a", fn)
        scores = _sw.sweep(s, p, sa, lb, fn)
        score, ij = _sw.best(scores)
        n, dev = la[0].shape[0], la[0].device
        null = [_sw.sweep(s, p, sa, lb, fn, permutation(n, seed + i, dev)).max() for i in range(n_perm)]
    null = np.asarray(null, dtype=np.float64)
    if null.min() == null.max():  # zero spread, stated exactly: np.mean and np.std would add rounding
        mean, sd = float(null[0]), 0.0
    else:
        mean, sd = float(null.mean()), float(null.std(ddof=1))
    diff = score - mean
    tol = 0.0 if s.exact else 64 * torch.finfo(dtype).eps * max(1.0, abs(mean))
    z = diff / sd if sd > tol else (math.copysign(math.inf, diff) if abs(diff) > tol else 0.0)
    return Calibration(score, null, mean, sd, diff, z, ij, scores)
