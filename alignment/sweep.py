"""The paper's layer pipeline (App. C.2): clamp each layer at the q-th quantile of |x| (q = 0.95), L2-normalise each
sample, score every (layer_a, layer_b) pair, report the maximum and where it is. The quantile is taken per layer
with linear interpolation (the released code uses one threshold for a model's whole N x L x D tensor: the mean of
per-sample quantiles, or with --precise one sorted entry). Where that quantile is 0 (mostly-zero features) the clamp
would zero every row: an error naming the layer, which suggests q nearer 1.

Per-layer work (k-NN lists, centred kernels, SVD bases) is done once per layer and reused by every pair, and by
every permutation of a calibration: permuting the rows of a layer relabels its state (the metric's `relabel`).
"""
import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from platonic_core.checks import check_bool, fail

from . import metrics as _m
from ._checks import as_tensor, check_dtype, check_finite, same_device
from ._scale import unit_rows


@dataclass(frozen=True)
class LayerwiseResult:
    """scores[i, j]: the metric on (layer i of feats_a, layer j of feats_b) after the pipeline; the best pair is
    the first maximum in row-major order."""
    scores: np.ndarray   # La x Lb float64
    best_score: float
    best_layers: tuple   # (layer_a, layer_b)
    metric: str
    params: dict


def _threshold(X, q):
    """q-th quantile of |X| over all entries, linear interpolation (np.quantile's default). On the CPU numpy's
    introselect is ~20x faster than torch.kthvalue; both give the exact order statistics."""
    a = X.abs().flatten()
    pos = q * (a.numel() - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, a.numel() - 1)
    if a.device.type == "cpu":
        part = np.partition(a.numpy(), lo)  # one kth: numpy is ~10x slower given two
        v = torch.from_numpy(np.array([part[lo], part[hi:].min()]))
    else:
        v = torch.stack([a.kthvalue(lo + 1).values, a.kthvalue(hi + 1).values])
    return v[0] + (pos - lo) * (v[1] - v[0])


def _prepare(X, q, who, normalize=True):
    t = _threshold(X, q)
    if t == 0 and X.any():
        # sparse features: over a fraction q of |x| is 0, so the clamp would zero every row
        nz = int(X.count_nonzero())
        need = (X.numel() - nz - 1) / (X.numel() - 1)  # the q-quantile of |x| is > 0 iff q (n-1) > #zeros - 1
        fail(who, f"keep nonzero entries through the clamp at the q={q:g} quantile of |x| (that quantile is 0, so the "
                  f"clamp would zero every row); use q nearer 1: q > {need:.6g} (q=1: no clamp)",
             f"{nz} nonzero entries of {X.numel()} ({100 * nz / X.numel():.3g}%)")
    X = X.clamp(min=-t, max=t)
    return unit_rows(X) if normalize else X


def check_q(q, fn):
    if isinstance(q, bool) or not isinstance(q, numbers.Real):
        fail(f"'q' parameter of {fn}", "be a number in (0, 1]", repr(q), TypeError)
    if not 0 < q <= 1:
        fail(f"'q' parameter of {fn}", "be a number in (0, 1]", repr(q))
    return float(q)


def prepare(X, q=0.95, *, normalize=True, dtype=torch.float32):
    """The pipeline on one layer: clamp X (N x D) to [-t, t], t the q-th quantile of |X| (np.quantile's linear
    interpolation), then L2-normalise each row (zero rows stay zero). Returns an N x D tensor on X's device.
    A quantile of 0 (mostly-zero features) would zero every row: ValueError, suggesting q nearer 1."""
    who = "'X' parameter of prepare"
    q = check_q(q, "prepare")
    normalize = check_bool(normalize, "normalize", "prepare")
    X = as_tensor(X, who, check_dtype(dtype, "prepare"), rescale=normalize)  # unit rows ignore the scale of X
    check_finite(X, who)
    return _prepare(X, q, who, normalize)


def is_matrix(x):
    return isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim == 2


def layers(feats, name, fn, dtype, device):
    """A sequence of N x D arrays or an L x N x D array -> list of validated 2-D tensors."""
    if isinstance(feats, (np.ndarray, torch.Tensor)):
        if feats.ndim == 2:
            fail(f"'{name}' parameter of {fn}", "be a sequence of N x D arrays or an L x N x D array (wrap a "
                 "single layer in a list)", f"shape {tuple(feats.shape)}")
        if feats.ndim != 3 or 0 in feats.shape:
            fail(f"'{name}' parameter of {fn}", "be a non-empty 3-D array (L x N x D)", f"shape {tuple(feats.shape)}")
    if isinstance(feats, (np.ndarray, torch.Tensor, list, tuple)) and len(feats):
        out = [as_tensor(x, f"'{name}' parameter of {fn} (layer {i})", dtype, device) for i, x in enumerate(feats)]
    elif isinstance(feats, (list, tuple)):
        fail(f"'{name}' parameter of {fn}", "hold at least one layer", f"an empty {type(feats).__name__}")
    else:
        fail(f"'{name}' parameter of {fn}", "be a sequence of N x D arrays or an L x N x D array",
             type(feats).__name__, TypeError)
    for i, x in enumerate(out):
        check_finite(x, f"'{name}' parameter of {fn} (layer {i})")
    return out


def setup(feats_a, feats_b, metric, kw, dtype, q, fn, raw=False):
    """Validate a layer-stack call once: (spec, params, prepared layers of a, prepared layers of b), and with
    `raw` the validated layers before the pipeline too (for resampling rows)."""
    s = _m.spec(metric, f"'metric' parameter of {fn}")
    dtype = check_dtype(dtype, fn)
    q = check_q(q, fn)
    flat = [x for f in (feats_a, feats_b) for x in (f if isinstance(f, (list, tuple)) else [f])]
    dev = same_device(flat, fn)
    la = layers(feats_a, "feats_a", fn, dtype, dev)
    lb = layers(feats_b, "feats_b", fn, dtype, dev)
    n = la[0].shape[0]
    for name, xs in (("feats_a", la), ("feats_b", lb)):
        for i, x in enumerate(xs):
            if x.shape[0] != n:
                fail(f"'feats_a' and 'feats_b' parameters of {fn}", "have the same number of rows N in every layer",
                     f"shape {tuple(la[0].shape)} (feats_a layer 0) and {tuple(x.shape)} ({name} layer {i})")
    p = _m.params(metric, kw, n, [x.shape[1] for x in la + lb], ("feats_a", "feats_b"))
    pa, pb = (prepare_layers(xs, q, name, fn) for name, xs in (("feats_a", la), ("feats_b", lb)))
    return (s, p, pa, pb, la, lb) if raw else (s, p, pa, pb)


def prepare_layers(xs, q, name, fn):
    """The pipeline (`prepare`) on each validated layer of one side."""
    return [_prepare(x, q, f"'{name}' parameter of {fn} (layer {i})") for i, x in enumerate(xs)]


def states(s, p, xs, name, fn):
    """The stacked per-layer states of the layers xs (prepared)."""
    return s.stack([s.feat(x, p, f"'{name}' parameter of {fn} (layer {i})", unit=True) for i, x in enumerate(xs)])


def sweep(s, p, sa, lb, fn, perms=None, who=None, unit=True):
    """La x Lb scores of the stacked states sa against the layers lb; each b layer is reduced once, scored against
    all of sa in one call, and freed before the next.

    With `perms` (a function of a batch size returning a fresh iterator of (perm, inv) pairs, N or P x N), also the
    n_perm x La x Lb scores of the same sweep with the rows of every b layer permuted by each perm alike: each b
    layer's state is relabelled (the metric's `relabel`), never recomputed from features, and only one b layer is
    held at a time. -> (scores, null scores). `who(j)` names layer j of the b side in messages; `unit`: the layers'
    rows are L2-normalised (the pipeline's)."""
    who = who or (lambda j: f"'feats_b' parameter of {fn} (layer {j})")
    cols, null = [], []
    for j, y in enumerate(lb):
        sb = s.feat(y, p, who(j), unit=unit)
        cols.append(s.pair(sa, sb))
        if perms is not None:  # one permutation at a time, or batches of them where the metric takes batches
            chunk = s.batch(sb) if s.batch else 1
            rows = []
            for perm, inv in perms(chunk):
                out = s.pair(sa, s.relabel(sb, perm, inv, who(j)))
                rows.extend(out if chunk > 1 else [out])
            null.append(rows)
    scores = np.ascontiguousarray(np.array(cols, dtype=np.float64).T)
    if perms is None:
        return scores
    return scores, np.ascontiguousarray(np.array(null, dtype=np.float64).transpose(1, 2, 0))


def best(scores):
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(scores[i, j]), (int(i), int(j))


def layerwise(feats_a, feats_b, metric="mutual_knn", *, q=0.95, dtype=torch.float32, **kw):
    """Score every layer pair of two models after the paper's pipeline (`prepare`).

    feats_a, feats_b: sequences of N x D_l arrays/tensors (widths may differ) or L x N x D arrays, same N.
    kw: the metric's parameters (k, unbiased, cca_dim). scores[i, j] equals
    metric(prepare(A_i, q), prepare(B_j, q)); for the k-NN metrics exactly
    metric(prepare(A_i, q, normalize=False), ...) since cosine similarity normalises anyway.
    """
    s, p, la, lb = setup(feats_a, feats_b, metric, kw, dtype, q, "layerwise")
    scores = sweep(s, p, states(s, p, la, "feats_a", "layerwise"), lb, "layerwise")
    score, ij = best(scores)
    return LayerwiseResult(scores, score, ij, metric, p)
