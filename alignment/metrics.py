"""The thirteen alignment metrics at feature level and (the k-NN metrics, CKA and CKNNA) at kernel level, with one
code path each: validate once, reduce each side to a per-representation state, score the two states.

Definitions: docs/DESIGN.md "Metrics". Inputs are numpy arrays or torch tensors; the computation runs on the
inputs' device in `dtype` (float32 by default, float64 on request) and returns a Python float.
"""
from types import MappingProxyType
from typing import Any, Callable, NamedTuple

import torch

from platonic_core.checks import check_bool, check_choice, check_int, check_real, fail

from . import _faiss, _hsic, _knn, _rsa
from . import _subspace as _sub
from ._checks import as_tensor, check_dtype, check_finite, check_rows, same_device, same_rows
from ._scale import maxabs, pow2
from ._types import DType, Knn, Matrix

METRICS = ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "cka", "unbiased_cka", "cknna", "svcca",
           "jaccard_knn", "rbf_cka", "rsa", "procrustes", "pwcca")
# The others need the features themselves (SVD bases, distances, per-sample correlations).
KERNEL_METRICS = ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "cka", "unbiased_cka", "cknna",
                  "jaccard_knn")
KNN_BACKENDS = ("exact", "faiss", "faiss-approx")


class _Spec(NamedTuple):
    defaults: dict
    feat: Callable          # (X N x D, params, who, unit) -> state; unit: rows are already L2-normalised
    kern: Callable | None   # (K N x N, params, who) -> state
    stack: Callable         # list of L states -> one argument for pair
    pair: Callable          # (stacked states of L layers, one state) -> list of L floats
    exact: bool             # scores are ratios of integer counts, free of rounding
    relabel: Callable       # (state, perm, inv, who) -> the state of the input with rows permuted (row i = perm[i])
    smax: float | None      # the largest score (None: unbounded, CKNNA)
    batch: Callable | None  # state -> how many permutations relabel and pair take at once (perm P x N; pair then
                            # returns P lists of L); None: one at a time


def _each(f):
    """A pair function for states that are not batched: score each of a list of states against one."""
    return lambda sa, sb: [f(a, sb) for a in sa]


_TIES = "vary across samples (neighbour lists are pure tie-breaks when every sample is equally similar to all others)"
_FLAT_ROWS = "every row constant off the diagonal"


def _untied(lists, who, got):
    """Neighbour lists of which at least one row is not a pure tie-break (see _knn.Knn.flat); rows tied at the k-th
    neighbour are noted for the call's TieWarning."""
    if lists.flat.all():
        fail(who, _TIES, got)
    _knn.note(lists, who)
    return lists


def _knn_feat(X, p, who, unit=False):
    zero = maxabs(X, 1)[:, 0] == 0
    if zero.any():
        fail(who, "have no all-zero rows (cosine similarity is undefined for them)",
             f"{int(zero.sum())} all-zero rows (first: row {int(zero.nonzero()[0])})")
    if same_rows(X):
        fail(who, _TIES, f"{X.shape[0]} identical rows")
    return _untied(_knn.knn_from_features(X, p["k"], cosine=not unit, backend=p["knn"], who=who), who,
                   "all cosine similarities between distinct samples equal (e.g. one-hot rows)")


def _knn_kern(S, p, who):
    return _untied(_knn.knn_from_similarity(S, p["k"]), who, _FLAT_ROWS)


def _defined(g, who, unbiased, constant, varies):
    """g if its self-HSIC is positive beyond rounding. Otherwise CKA is 0/0 and the message names the first cause
    that holds (tested only then): constant input (`constant()`: what to print, or None), variation lost to
    underflow (`varies()`: whether the biased self-HSIC of the input is positive), or else an unbiased HSIC that is 0
    for a kernel that is not constant."""
    if g.self > g.noise:
        return g
    const = constant()
    if const:
        what = "unbiased CKA" if unbiased else "CKA"
        fail(who, f"vary across samples ({what} is undefined when its centred kernel is zero)", const)
    if not varies():
        dt = g.K.dtype
        fail(who, f"fit in {dt} (its rows differ on a scale that underflows next to its largest |x|, even after exact "
                  "rescaling" + ("; pass dtype=torch.float64)" if dt == torch.float32 else ")"),
             "rows that differ, but a centred kernel of zero")
    fail(who, "give a positive unbiased HSIC of its kernel with itself, beyond rounding (unbiased CKA divides by its "
              "square root; it is 0 when the kernel is a_i + a_j off the diagonal, e.g. for one-hot features)",
         f"HSIC_u(K, K) = {g.self:.3g}, within rounding ({g.noise:.3g}) of 0")


def _gram(unbiased_default):
    """(feature state, kernel state) for CKA with `unbiased` defaulting to unbiased_default."""
    def feat(X, p, who, unit=False):
        u = p.get("unbiased", unbiased_default)
        return _defined(_hsic.gram_from_features(X, u), who, u,
                        lambda: same_rows(X) and f"{X.shape[0]} identical rows",
                        lambda: _hsic.gram_from_features(X, False).self > 0)

    def kern(K, p, who):
        u = p.get("unbiased", unbiased_default)
        return _defined(_hsic.gram(K, u), who, u,
                        lambda: not _hsic.shift(K).any() and "K_ij = a_i + a_j for all i, j (e.g. a constant kernel), "
                                                             "whose centred form is zero",
                        lambda: _hsic.gram(K, False).self > 0)
    return feat, kern


def _cknna_defined(lists, who):
    """CKNNA state of neighbour lists over a linear kernel; a non-positive self term makes CKNNA undefined."""
    return _cknna_checked(_hsic.cknna_state(lists), who)


def _cknna_checked(state, who):
    low = min(state[1]) if isinstance(state[1], list) else state[1]  # a batch of relabelled states: P self terms
    if not low > 0:
        fail(who, "give a positive unbiased HSIC of its top-k masked kernel with itself (CKNNA divides by its "
                  "square root); a larger k usually does", f"{low:.6g}")
    return state


def _cknna_feat(X, p, who, unit=False):
    if same_rows(X):
        fail(who, _TIES, f"{X.shape[0]} identical rows")
    lists = _knn.knn_from_features(pow2(X), p["k"], cosine=False, backend=p["knn"], who=who)  # pow2: no overflow
    return _cknna_defined(_untied(lists, who, "all inner products between distinct samples equal"), who)


def _cknna_kern(K, p, who):
    return _cknna_defined(_untied(_knn.knn_from_similarity(K, p["k"]), who, _FLAT_ROWS), who)


def _set_relabel(lists, perm, inv, who):
    return _knn.relabel(lists, perm, inv, ordered=False)


def _rank_relabel(lists, perm, inv, who):
    return _knn.relabel(lists, perm, inv, ordered=True)


def _cknna_relabel(state, perm, inv, who):
    return _cknna_checked(_hsic.relabel_cknna(state, perm, inv), who)


def _gram_relabel(g, perm, inv, who):
    return _hsic.relabel_gram(g, perm)


def _rows_relabel(U, perm, inv, who):
    """States with one row per sample (an SVD basis: the same subspace, so the same correlations; Procrustes
    features): the state of the permuted features has its rows permuted."""
    return U[perm]


def _svcca_feat(X, p, who, unit=False):
    U, rank = _sub.basis(X)
    if p["cca_dim"] > rank:
        fail(who, f"have z-scored rank >= cca_dim = {p['cca_dim']} (constant columns count as zero)", f"rank {rank}")
    return U[:, :p["cca_dim"]]


def _constant(name, who):
    fail(who, f"vary across samples ({name} is undefined for constant features)", "constant features")


def _rbf_feat(X, p, who, unit=False):
    g = _hsic.rbf_from_features(X, p["sigma"])
    if g is None:
        fail(who, "vary across samples, with a positive median pairwise distance (RBF CKA's bandwidth is a fraction "
                  "of it)", "identical rows" if same_rows(X) else "a median squared distance of 0 (more than half of "
                  "the pairs coincide)")
    return g


def _rsa_feat(X, p, who, unit=False):
    const = _rsa.constant_rows(X)
    if const.any():
        fail(who, "have no constant rows (RSA's dissimilarity is 1 - the Pearson correlation between samples, "
                  "undefined for them)", f"{int(const.sum())} constant rows (first: row {int(const.nonzero()[0])})")
    R = _rsa.state(X)
    if R is None:
        fail(who, "give dissimilarities that are not all equal (their Spearman correlation is undefined)",
             "an RDM whose entries are all equal")
    return R


def _rsa_relabel(R, perm, inv, who):
    """The rank matrix of the permuted samples: rows and columns permuted."""
    return R[perm[:, None], perm]


def _procrustes_feat(X, p, who, unit=False):
    W = _sub.procrustes_state(X)
    if W is None:
        _constant("the Procrustes similarity", who)
    return W


def _pwcca_feat(X, p, who, unit=False):
    st = _sub.pwcca_state(X)
    if st is None:
        _constant("CCA", who)
    return st


def _pwcca_relabel(st, perm, inv, who):
    """The basis of the permuted features: its rows permuted; the neurons' coordinates R are unchanged."""
    return st[0][perm], st[1]


def _batch(entries):
    """The permutations scored at once for lists of `entries` entries: about 2^20 relabelled entries a batch."""
    return lambda state: max(1, (1 << 20) // entries(state))


_cka_feat, _cka_kern = _gram(False)
_ucka_feat, _ucka_kern = _gram(True)
_K = {"k": 10, "knn": "exact"}
_SPECS = {
    "mutual_knn": _Spec(_K, _knn_feat, _knn_kern, _knn.stack, _knn.mutual, True, _set_relabel, 1.0,
                        _batch(lambda s: s.sidx.numel())),
    "cycle_knn": _Spec(_K, _knn_feat, _knn_kern, _knn.stack, _knn.cycle, True, _set_relabel, 1.0, None),
    "lcs_knn": _Spec(_K, _knn_feat, _knn_kern, _knn.stack, _knn.lcs, True, _rank_relabel, 1.0, None),
    "edit_distance_knn": _Spec(_K, _knn_feat, _knn_kern, _knn.stack, _knn.edit, True, _rank_relabel, 1.0,
                               None),
    "cka": _Spec({"unbiased": False}, _cka_feat, _cka_kern, list, _each(_hsic.cka), False, _gram_relabel, 1.0,
                 None),
    "unbiased_cka": _Spec({}, _ucka_feat, _ucka_kern, list, _each(_hsic.cka), False, _gram_relabel, 1.0, None),
    "cknna": _Spec(_K, _cknna_feat, _cknna_kern, _hsic.cknna_stack, _hsic.cknna, False, _cknna_relabel, None,
                   _batch(lambda s: s[0].sidx.numel())),
    "svcca": _Spec({"cca_dim": 10}, _svcca_feat, None, list, _each(_sub.svcca), False, _rows_relabel, 1.0,
                   None),
    "jaccard_knn": _Spec(_K, _knn_feat, _knn_kern, _knn.stack, _knn.jaccard, True, _set_relabel, 1.0,
                         _batch(lambda s: s.sidx.numel())),
    "rbf_cka": _Spec({"sigma": 0.5}, _rbf_feat, None, list, _each(_hsic.cka), False, _gram_relabel, 1.0, None),
    "rsa": _Spec({}, _rsa_feat, None, list, _each(_rsa.spearman), False, _rsa_relabel, 1.0, None),
    "procrustes": _Spec({}, _procrustes_feat, None, list, _each(_sub.procrustes), False, _rows_relabel, 1.0, None),
    "pwcca": _Spec({}, _pwcca_feat, None, list, _each(_sub.pwcca), False, _pwcca_relabel, 1.0, None),
}

# Public, read-only: metric name -> {parameter: default}.
PARAMS = MappingProxyType({name: MappingProxyType(dict(s.defaults)) for name, s in _SPECS.items()})


def metric_kwargs(name: str, **available: Any) -> dict[str, Any]:
    """The subset of `available` that the metric `name` (one of METRICS) takes, e.g.
    metric_kwargs("cknna", k=5, cca_dim=3) == {"k": 5}: route shared settings to any metric without knowing its
    parameters. Values are validated when the metric runs."""
    spec(name, "'name' parameter of metric_kwargs")
    return {key: v for key, v in available.items() if key in PARAMS[name]}


def spec(name, who, names=METRICS):
    """The metric's spec; an unknown name lists the valid ones. who: e.g. "'name' parameter of measure"."""
    if not isinstance(name, str) or name not in names:
        fail(who, f"be one of {', '.join(names)}", repr(name))
    return _SPECS[name]


def min_rows(name, p):
    """The fewest samples that define the metric with parameters p (k is checked on its own)."""
    if name in ("unbiased_cka", "cknna") or p.get("unbiased"):
        return 4
    return 3 if name == "rsa" else 2


_WHY_ROWS = {4: "have N >= 4 rows (unbiased HSIC divides by N-3)",
             3: "have N >= 3 rows (RSA correlates the N(N-1)/2 dissimilarities, at least 3 of them)",
             2: "have N >= 2 rows (it compares samples)"}


def params(name, kw, n, widths, src, dtype=torch.float32):
    """Validated metric parameters (defaults filled in) for N = n samples. `widths`: feature widths (None for
    kernels), `src`: names of the inputs, for messages; dtype: the computation's (faiss computes in float32)."""
    extra = sorted(set(kw) - set(PARAMS[name]))
    if extra:
        fail(f"keyword arguments of {name}",
             f"be among ({', '.join(PARAMS[name])})" if PARAMS[name] else "be none (it takes no parameters)",
             ", ".join(map(repr, extra)), TypeError)
    p = {**PARAMS[name], **kw}
    if "unbiased" in p:
        p["unbiased"] = check_bool(p["unbiased"], "unbiased", name)
    low = min_rows(name, p)
    if n < low:
        fail(f"{' and '.join(repr(x) for x in src)} parameters of {name}", _WHY_ROWS[low], f"N={n}")
    if "k" in p:
        p["k"] = check_int(p["k"], "k", name, 1, n - 1, hint=f"[1, N-1] with N={n}")
    if "knn" in p:
        p["knn"] = check_knn(p["knn"], name, widths is None, dtype)
    if "sigma" in p:
        p["sigma"] = check_real(p["sigma"], "sigma", name, 0, low_open=True)
    if "cca_dim" in p:
        w = min(widths)
        p["cca_dim"] = check_int(p["cca_dim"], "cca_dim", name, 1, w, hint=f"[1, min(width of each input)] = [1, {w}]")
    return p


def check_knn(knn, name, kernel, dtype):
    """The neighbour search: one of KNN_BACKENDS; faiss needs features, float32 and the faiss package."""
    knn = check_choice(knn, "knn", name, KNN_BACKENDS)
    if knn == "exact":
        return knn
    who = f"'knn' parameter of {name}"
    if kernel:
        fail(who, "be 'exact' for kernels (a given similarity matrix is ranked directly; faiss indexes features)",
             repr(knn))
    if dtype != torch.float32:
        fail(who, "be 'exact' with dtype=torch.float64 (faiss computes in float32)", repr(knn))
    if not _faiss.available():
        fail(who, f"name an installed backend ({knn!r} needs the faiss package: {_faiss.INSTALL})", repr(knn),
             ImportError)
    return knn


def pair_setup(name, A, B, kw, dtype, fn, names=("A", "B"), kernel=False):
    """Validate a two-input call once: (spec, params, (ta, tb), (who_a, who_b)). fn names the entry point."""
    s = _SPECS[name]
    dtype = check_dtype(dtype, fn)
    dev = same_device((A, B), fn)
    whos = [f"'{nm}' parameter of {fn}" for nm in names]
    ts = [as_tensor(x, who, dtype, dev) for x, who in zip((A, B), whos)]
    check_rows([t.shape for t in ts], names, fn)
    for t, who in zip(ts, whos):
        if kernel:
            check_kernel(t, who, knn_only=name.endswith("_knn"))
        else:
            check_finite(t, who)
    p = params(name, kw, ts[0].shape[0], None if kernel else [t.shape[1] for t in ts], names, dtype)
    return s, p, ts, whos


@_knn.warns_ties(stacklevel=3)
def _score(name, A, B, kw, dtype, kernel=False):
    s, p, ts, whos = pair_setup(name, A, B, kw, dtype, name, ("K", "L") if kernel else ("A", "B"), kernel)
    sa, sb = ((s.kern if kernel else s.feat)(t, p, who) for t, who in zip(ts, whos))
    return s.pair(s.stack([sa]), sb)[0]


def check_kernel(K, who, knn_only):
    """Square; finite (a k-NN similarity may hold -inf, e.g. K_PMI where P_coor = 0); kernels symmetric."""
    if K.shape[0] != K.shape[1]:
        fail(who, "be square (N x N)", f"shape {tuple(K.shape)}")
    check_finite(K, who, allow_neg_inf=knn_only)
    if not knn_only:
        tol = torch.finfo(K.dtype).eps ** 0.5 * K.abs().max().item()
        asym = (K - K.T).abs().max().item()
        if asym > tol:
            fail(who, f"be symmetric (max |K - K^T| <= {tol:.3g})", f"max |K - K^T| = {asym:.3g}")


def mutual_knn(A: Matrix, B: Matrix, k: int = 10, *, knn: Knn = "exact", dtype: DType = torch.float32) -> float:
    """Mean over samples i of |N_A(i) ∩ N_B(i)| / k, N_X(i) the k nearest rows of i by cosine similarity (i itself
    excluded, ties to the lower index). A: N x D_a, B: N x D_b. Chance level ≈ k / (N-1).
    knn: the neighbour search, "exact" (default), "faiss" (a flat index: the same lists up to float rounding of
    near-equal similarities, see alignment._faiss) or "faiss-approx" (an HNSW graph, its recall reported as an
    ApproximateKnnWarning); the faiss ones need the faiss package and float32."""
    return _score("mutual_knn", A, B, {"k": k, "knn": knn}, dtype)


def jaccard_knn(A: Matrix, B: Matrix, k: int = 10, *, knn: Knn = "exact", dtype: DType = torch.float32) -> float:
    """Mean over samples i of |N_A(i) ∩ N_B(i)| / |N_A(i) ∪ N_B(i)| (cosine k-NN lists as in mutual_knn), in [0, 1];
    a shared count c gives c / (2k - c), below mutual_knn's c / k except at 0 and 1. Chance level ≈
    k / (2(N-1) - k). knn: as in mutual_knn."""
    return _score("jaccard_knn", A, B, {"k": k, "knn": knn}, dtype)


def cycle_knn(A: Matrix, B: Matrix, k: int = 10, *, knn: Knn = "exact", dtype: DType = torch.float32) -> float:
    """Fraction of samples i found among the A-neighbours of at least one of i's B-neighbours (cosine k-NN).
    Not symmetric. A: N x D_a, B: N x D_b. knn: as in mutual_knn."""
    return _score("cycle_knn", A, B, {"k": k, "knn": knn}, dtype)


def lcs_knn(A: Matrix, B: Matrix, k: int = 10, *, knn: Knn = "exact", dtype: DType = torch.float32) -> float:
    """Mean longest common subsequence of the ordered k-NN lists (nearest first), divided by k. A: N x D_a,
    B: N x D_b. knn: as in mutual_knn."""
    return _score("lcs_knn", A, B, {"k": k, "knn": knn}, dtype)


def edit_distance_knn(A: Matrix, B: Matrix, k: int = 10, *, knn: Knn = "exact", dtype: DType = torch.float32) -> float:
    """1 - mean Levenshtein distance of the ordered k-NN lists / k. A: N x D_a, B: N x D_b. knn: as in
    mutual_knn."""
    return _score("edit_distance_knn", A, B, {"k": k, "knn": knn}, dtype)


def cka(A: Matrix, B: Matrix, unbiased: bool = False, *, dtype: DType = torch.float32) -> float:
    """Linear CKA of the features as given: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = A A^T, L = B B^T,
    biased HSIC (Kornblith 2019) or, with unbiased=True, Song et al. 2012's unbiased HSIC. A: N x D_a, B: N x D_b.
    In [0, 1] (unbiased: [-1, 1]); rounding past the bounds is clipped. Scale-invariant at any magnitude. Constant
    features make CKA undefined and raise ValueError. An input narrower than N is never turned into its N x N
    kernel: every HSIC term comes from D x D products of the features (O(N D) memory)."""
    return _score("cka", A, B, {"unbiased": unbiased}, dtype)


def unbiased_cka(A: Matrix, B: Matrix, *, dtype: DType = torch.float32) -> float:
    """cka(A, B, unbiased=True), in [-1, 1]. N >= 4."""
    return _score("unbiased_cka", A, B, {}, dtype)


def cknna(A: Matrix, B: Matrix, k: int = 10, *, knn: Knn = "exact", dtype: DType = torch.float32) -> float:
    """CKNNA (paper App. A): unbiased HSIC of (M*K, M*L), M the intersection of the row-wise top-k masks of the
    linear kernels K = A A^T, L = B B^T (diagonal excluded), normalised by the same for (K, K) and (L, L).
    k = N-1 gives unbiased CKA. Not exactly symmetric in (A, B). N >= 4.

    Range: any real number, returned unclipped. The numerator's mask differs from each denominator's and the masked
    kernels are not symmetric, so Cauchy-Schwarz does not bound it: scores above 1 or below -1 occur (3.55 for 7
    samples with k = 4; -3.5 for 5 samples); with k = N-1 it is unbiased CKA, in [-1, 1]. knn: the search of the
    top-k of each kernel row, as in mutual_knn (by inner product here)."""
    return _score("cknna", A, B, {"k": k, "knn": knn}, dtype)


def svcca(A: Matrix, B: Matrix, cca_dim: int = 10, *, dtype: DType = torch.float32) -> float:
    """SVCCA: z-score columns, keep the top cca_dim left singular vectors of each side, return the mean canonical
    correlation of the two subspaces, in [0, 1]. cca_dim <= the width and the z-scored rank of each side."""
    return _score("svcca", A, B, {"cca_dim": cca_dim}, dtype)


def rbf_cka(A: Matrix, B: Matrix, sigma: float = 0.5, *, dtype: DType = torch.float32) -> float:
    """CKA (biased HSIC) of Gaussian kernels K_ij = exp(-|a_i - a_j|^2 / (2 s^2)), s = sigma times the median
    pairwise distance of that input (the median of the N x N squared distances, diagonal included, as in Kornblith et
    al.'s demo; sigma > 0). In [0, 1]. Invariant to translation, orthogonal maps and isotropic scaling of either input.
    Forms the N x N kernels."""
    return _score("rbf_cka", A, B, {"sigma": sigma}, dtype)


def rsa(A: Matrix, B: Matrix, *, dtype: DType = torch.float32) -> float:
    """Representational similarity analysis: the Spearman correlation (ties averaged) of the upper triangles of the
    two RDMs 1 - Pearson correlation between samples (rsatoolbox's correlation RDM and spearman comparison), in
    [-1, 1]. Invariant to scaling or shifting any sample (row), to any transform that keeps the order of the
    dissimilarities, and to permuting the features. N >= 3; rows must not be constant. Forms the N x N RDMs."""
    return _score("rsa", A, B, {}, dtype)


def procrustes(A: Matrix, B: Matrix, *, dtype: DType = torch.float32) -> float:
    """Angular Procrustes similarity: the nuclear norm of Ã^T B̃, Ã and B̃ the column-centred inputs scaled to unit
    Frobenius norm, in [0, 1]; it is max over orthogonal R of <Ã R, B̃>, and its arccos is the angular Procrustes
    distance (Williams et al. 2021; netrep's LinearMetric(alpha=1, score_method="angular")). Symmetric; invariant to
    translation, orthogonal maps and isotropic scaling of either input. Widths may differ."""
    return _score("procrustes", A, B, {}, dtype)


def pwcca(A: Matrix, B: Matrix, *, dtype: DType = torch.float32) -> float:
    """Projection-weighted CCA (Morcos et al. 2018): sum_i w_i rho_i / sum_i w_i over the canonical correlations rho_i
    of the centred inputs, w_i = sum_j |<h_i, a_j>|, h_i the i-th canonical variate of A (unit norm) and a_j the j-th
    centred column of A: weighted by A, so not symmetric (pwcca(B, A) weights by B). In [0, 1]. Invariant to
    translation and isotropic scaling of A, to permuting or negating its columns (the weights are L1 norms over them,
    so not to rotations of A), and to any invertible affine map of B."""
    return _score("pwcca", A, B, {}, dtype)


def measure(name: str, A: Matrix, B: Matrix, **kw: Any) -> float:
    """Score A and B (N x D_a, N x D_b) with the metric `name` (one of METRICS); kw: the metric's parameters and
    `dtype`."""
    spec(name, "'name' parameter of measure")
    return _score(name, A, B, {k: v for k, v in kw.items() if k != "dtype"}, kw.get("dtype", torch.float32))


def measure_kernels(name: str, K: Matrix, L: Matrix, **kw: Any) -> float:
    """Score two N x N kernels / similarity matrices with `name` (one of KERNEL_METRICS).

    k-NN metrics rank row i's columns j != i by the given similarity (-inf allowed: ranked last); CKA and CKNNA use
    K, L as the kernels (finite, symmetric). Feature-level metric(A, B) equals the kernel-level one on
    (A A^T, B B^T) for cka, unbiased_cka and cknna, and on the cosine-similarity matrices for the k-NN metrics.
    Kernels need not be PSD, so kernel-level cka lies in [-1, 1] (in [0, 1] for PSD kernels).
    """
    spec(name, "'name' parameter of measure_kernels", KERNEL_METRICS)
    return _score(name, K, L, {k: v for k, v in kw.items() if k != "dtype"}, kw.get("dtype", torch.float32),
                  kernel=True)
