"""The paper's layer pipeline (App. C.2): clamp each layer at the q-th quantile of |x| (q = 0.95), L2-normalise each
sample, score every (layer_a, layer_b) pair, report the maximum and where it is. The quantile is taken per layer
with linear interpolation (clamp="layer", the default). The released code (measure_alignment.py) clamps a model's
whole N x L x D tensor at one threshold: the mean over samples of each sample's q-quantile of |x| over its L x D
entries (clamp="stack"), or with --precise the entry int(q N L D) of all |x| sorted ascending (clamp="stack-precise").
Where layer scales grow with depth, one threshold clips the deep layers much harder than the shallow ones: pair scores
move by up to 0.3 and the best pair can move. Where the threshold is 0 (mostly-zero features) the clamp would zero
every row: an error naming the layer (or the stack), which suggests q nearer 1.

Per-layer work (k-NN lists, centred kernels, SVD bases) is done once per layer and reused by every pair, and by
every permutation of a calibration: permuting the rows of a layer relabels its state (the metric's `relabel`).
"""
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from platonic_core.checks import check_bool, check_choice, fail

from . import _knn
from . import metrics as _m
from ._checks import as_tensor, check_dtype, check_finite, same_device
from ._order import quantile, row_quantiles
from ._scale import unit_rows
from ._types import Clamp, DType, Layers, Matrix

CLAMPS = ("layer", "stack", "stack-precise")


@dataclass(frozen=True)
class LayerwiseResult:
    """scores[i, j]: the metric on (layer i of feats_a, layer j of feats_b) after the pipeline; the best pair is
    the first maximum in row-major order."""
    scores: np.ndarray   # La x Lb float64
    best_score: float
    best_layers: tuple   # (layer_a, layer_b)
    metric: str
    params: dict


def _stack_threshold(xs, q, clamp):
    """The released code's one threshold for all layers xs (N x D_l each; see the module docstring)."""
    if q == 1:  # the released code skips the clamp
        return max(x.abs().max() for x in xs)
    a = torch.cat([x.abs() for x in xs], 1)
    if clamp == "stack":
        return row_quantiles(a, q).mean()
    a = a.flatten()
    k = int(q * a.numel())
    return a.kthvalue(k + 1).values if a.device.type != "cpu" else torch.tensor(np.partition(a.numpy(), k)[k])


def _prepare(X, q, who, normalize=True, t=None):
    """The pipeline on one layer; t: the stack's threshold (clamp="stack..."), else the layer's own quantile."""
    if t is None:
        t = quantile(X.abs(), q)
        if t == 0 and X.any():
            # sparse features: over a fraction q of |x| is 0, so the clamp would zero every row
            nz = int(X.count_nonzero())
            need = (X.numel() - nz - 1) / (X.numel() - 1)  # the q-quantile of |x| is > 0 iff q (n-1) > #zeros - 1
            fail(who, f"keep nonzero entries through the clamp at the q={q:g} quantile of |x| (that quantile is 0, so "
                      f"the clamp would zero every row); use q nearer 1: q > {need:.6g} (q=1: no clamp)",
                 f"{nz} nonzero entries of {X.numel()} ({100 * nz / X.numel():.3g}%)")
    X = X.clamp(min=-t, max=t)
    return unit_rows(X) if normalize else X


def check_q(q, fn):
    if isinstance(q, bool) or not isinstance(q, numbers.Real):
        fail(f"'q' parameter of {fn}", "be a number in (0, 1]", repr(q), TypeError)
    if not 0 < q <= 1:
        fail(f"'q' parameter of {fn}", "be a number in (0, 1]", repr(q))
    return float(q)


def prepare(X: Matrix, q: float = 0.95, *, normalize: bool = True, clamp: Clamp = "layer",
            dtype: DType = torch.float32) -> torch.Tensor:
    """The pipeline on one layer: clamp X (N x D) to [-t, t], t the q-th quantile of |X| (np.quantile's linear
    interpolation), then L2-normalise each row (zero rows stay zero). Returns an N x D tensor on X's device.
    A quantile of 0 (mostly-zero features) would zero every row: ValueError, suggesting q nearer 1.

    X may also be a layer stack (a sequence of N x D_l arrays or an L x N x D array): a list of tensors comes back.
    clamp: "layer" (each layer at its own quantile), "stack" or "stack-precise" (one threshold for the whole X, as
    the paper's released code computes it: see the module docstring; on one N x D matrix, the mean of the per-sample
    quantiles, or the sorted entry int(q N D))."""
    fn = "prepare"
    q = check_q(q, fn)
    normalize = check_bool(normalize, "normalize", fn)
    clamp = check_choice(clamp, "clamp", fn, CLAMPS)
    dtype = check_dtype(dtype, fn)
    if is_matrix(X):
        X = as_tensor(X, f"'X' parameter of {fn}", dtype, rescale=normalize)  # unit rows ignore the scale of X
        check_finite(X, f"'X' parameter of {fn}")
        return prepare_layers([X], q, "X", fn, clamp, normalize, single=True)[0]
    xs = layers(X, "X", fn, dtype, same_device(X if isinstance(X, (list, tuple)) else [X], fn), rescale=normalize)
    return prepare_layers(xs, q, "X", fn, clamp, normalize)


def is_matrix(x):
    return isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim == 2


def is_pair(feats_a, feats_b, fn):
    """True when both inputs are single N x D matrices, False when both are layer stacks; one of each is an error."""
    single = [is_matrix(f) for f in (feats_a, feats_b)]
    if single[0] != single[1]:
        fail(f"'feats_a' and 'feats_b' parameters of {fn}", "be both single N x D matrices (one pair) or both layer "
             "stacks (sequences of N x D, or L x N x D)", "one of each")
    return single[0]


def one_pair(feats_a, feats_b, metric, kw, dtype, fn):
    """For entry points that take one pair or two layer stacks: (spec, params, (A, B), (who_a, who_b)) of the
    validated pair when both inputs are single N x D matrices, None when both are stacks; one of each is an error."""
    if not is_pair(feats_a, feats_b, fn):
        return None
    _m.spec(metric, f"'metric' parameter of {fn}")
    return _m.pair_setup(metric, feats_a, feats_b, kw, dtype, fn, ("feats_a", "feats_b"))


def layers(feats, name, fn, dtype, device, rescale=True):
    """A sequence of N x D arrays or an L x N x D array -> list of validated 2-D tensors (`rescale`: as_tensor's)."""
    if isinstance(feats, (np.ndarray, torch.Tensor)):
        if feats.ndim == 2:
            fail(f"'{name}' parameter of {fn}", "be a sequence of N x D arrays or an L x N x D array (wrap a "
                 "single layer in a list)", f"shape {tuple(feats.shape)}")
        if feats.ndim != 3 or 0 in feats.shape:
            fail(f"'{name}' parameter of {fn}", "be a non-empty 3-D array (L x N x D)", f"shape {tuple(feats.shape)}")
    if isinstance(feats, (np.ndarray, torch.Tensor, list, tuple)) and len(feats):
        out = [as_tensor(x, f"'{name}' parameter of {fn} (layer {i})", dtype, device, rescale)
               for i, x in enumerate(feats)]
    elif isinstance(feats, (list, tuple)):
        fail(f"'{name}' parameter of {fn}", "hold at least one layer", f"an empty {type(feats).__name__}")
    else:
        fail(f"'{name}' parameter of {fn}", "be a sequence of N x D arrays or an L x N x D array",
             type(feats).__name__, TypeError)
    for i, x in enumerate(out):
        check_finite(x, f"'{name}' parameter of {fn} (layer {i})")
    return out


def setup(feats_a, feats_b, metric, kw, dtype, q, fn, raw=False, clamp="layer", user=False):
    """Validate a layer-stack call once: (spec, params, prepared layers of a, prepared layers of b), and with
    `raw` the validated layers before the pipeline too (for resampling rows). `user`: metric is a user's callable
    (spec and params None)."""
    s = None if user else _m.spec(metric, f"'metric' parameter of {fn}")
    dtype = check_dtype(dtype, fn)
    q = check_q(q, fn)
    clamp = check_choice(clamp, "clamp", fn, CLAMPS)
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
    p = None if user else _m.params(metric, kw, n, [x.shape[1] for x in la + lb], ("feats_a", "feats_b"), dtype)
    pa, pb = (prepare_layers(xs, q, name, fn, clamp) for name, xs in (("feats_a", la), ("feats_b", lb)))
    return (s, p, pa, pb, la, lb) if raw else (s, p, pa, pb)


def prepare_layers(xs, q, name, fn, clamp="layer", normalize=True, single=False):
    """The pipeline (`prepare`) on each validated layer of one side; with clamp "stack..." at one threshold for all.
    `single`: xs is one matrix, named without a layer number."""
    whos = [f"'{name}' parameter of {fn}" + ("" if single else f" (layer {i})") for i in range(len(xs))]
    if clamp == "layer":
        return [_prepare(x, q, who, normalize) for x, who in zip(xs, whos)]
    t = _stack_threshold(xs, q, clamp)
    if t == 0 and any(x.any() for x in xs):
        fail(f"'{name}' parameter of {fn}", f"keep nonzero entries through the clamp={clamp!r} threshold at q={q:g} "
             "(it is 0, so the clamp would zero every row); use q nearer 1 (q=1: no clamp) or clamp='layer'",
             "a threshold of 0")
    return [_prepare(x, q, who, normalize, t) for x, who in zip(xs, whos)]


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


@_knn.warns_ties()
def layerwise(feats_a: Layers, feats_b: Layers, metric: str = "mutual_knn", *, q: float = 0.95,
              clamp: Clamp = "layer", dtype: DType = torch.float32, **kw: Any) -> LayerwiseResult:
    """Score every layer pair of two models after the paper's pipeline (`prepare`).

    feats_a, feats_b: sequences of N x D_l arrays/tensors (widths may differ) or L x N x D arrays, same N.
    kw: the metric's parameters (k, knn, unbiased, cca_dim, sigma). scores[i, j] equals
    metric(prepare(A_i, q), prepare(B_j, q)); for the k-NN metrics exactly
    metric(prepare(A_i, q, normalize=False), ...) since cosine similarity normalises anyway.
    clamp: "layer" (default), or "stack" / "stack-precise" to reproduce the released code's numbers (one threshold
    per model; see the module docstring), then scores[i, j] = metric(prepare(feats_a, q, clamp=clamp)[i], ...).
    """
    s, p, la, lb = setup(feats_a, feats_b, metric, kw, dtype, q, "layerwise", clamp=clamp)
    scores = sweep(s, p, states(s, p, la, "feats_a", "layerwise"), lb, "layerwise")
    score, ij = best(scores)
    return LayerwiseResult(scores, score, ij, metric, p)
