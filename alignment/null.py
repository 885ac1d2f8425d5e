"""Permutation-null calibration: how far above chance is a score, and how far above the chance level of a maximum
over layer pairs (which inflates scores: the null of the max is the max over the same sweep with shuffled rows)."""
import math
from dataclasses import dataclass

import numpy as np
import torch

from platonic_core.checks import check_int, fail

from . import metrics as _m
from . import sweep as _sw


@dataclass(frozen=True)
class Calibration:
    """score: the observed score (single pair) or the maximum over layer pairs (layer stacks).
    null: n_perm scores with the rows of feats_b shuffled (for stacks: the maximum of each shuffled sweep).
    calibrated = score - null_mean; z = calibrated / null_std (null_std: sample std, ddof=1; z is +-inf when
    null_std = 0 and the score differs from the null mean, 0 when it does not)."""
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
    device gets the same one. Returns an int64 tensor of length n on `device`."""
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
    mean, sd = float(null.mean()), float(null.std(ddof=1))
    diff = score - mean
    z = diff / sd if sd > 0 else (math.copysign(math.inf, diff) if diff else 0.0)
    return Calibration(score, null, mean, sd, diff, z, ij, scores)
