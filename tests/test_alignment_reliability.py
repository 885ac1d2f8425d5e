"""Reliability: every metric scores inputs of any magnitude as it scores them unscaled (or says why it cannot), never
returns NaN or a tie-break number for constant features, stays within its range, publishes its parameters, and every
public entry point validates its parameters with one clear message."""

import numpy as np
import pytest
import torch
from support import raises
from test_alignment_metrics import ref_cknna, ref_cosine

import alignment as al

F64 = torch.float64
KNN = ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "jaccard_knn")
RS = np.random.RandomState(0)
A, B = RS.randn(50, 8), RS.randn(50, 6)  # unrelated: cka(A, B) = 0.12457
P, Q = RS.randn(50, 8), RS.randn(50, 6)
Q[:, :3] += P[:, :3]  # related, so every metric is well away from chance
KW = {"svcca": {"cca_dim": 5}}

# 10^k for k in -30..30 in both dtypes, and far beyond float32's range in float64. In float32 the scaled input rounds
# differently from the unscaled one, so scores agree to float32's accuracy (its kernel-level unbiased CKA agrees
# with float64 to 3e-6 on these inputs); in float64 to rounding.
SCALES = {"float32": range(-30, 31), "float64": [*range(-30, 31), -300, -200, -100, 100, 200, 300]}
TOL = {"float32": 1e-5, "float64": 1e-13}


# ---- 1, 2: any magnitude scores as unscaled ----

def test_cka_family_under_overflow():
    want = al.cka(A, B)
    assert want == pytest.approx(0.12457, abs=5e-6)
    assert al.cka(A * 1e9, B) == pytest.approx(want, abs=1e-7)  # was 0.0: the HSIC sums overflowed float32
    assert al.cka(A * 1e30, B) == pytest.approx(want, abs=1e-7)  # was NaN
    K, L = A @ A.T, B @ B.T
    assert al.measure_kernels("cka", K * 1e20, L) == pytest.approx(al.measure_kernels("cka", K, L), abs=1e-7)  # was 0
    assert al.unbiased_cka(A * 1e30, B) == pytest.approx(al.unbiased_cka(A, B), abs=1e-7)  # was a "constant" error
    assert al.cknna(A * 1e30, B) == pytest.approx(al.cknna(A, B), abs=1e-7)  # was an error


def test_knn_and_other_metrics_at_extreme_magnitudes():
    assert al.mutual_knn(A, B) == 0.174 and al.cycle_knn(A, B) == 0.86
    assert al.mutual_knn(A * 1e30, B) == 0.174  # was 0.204: squared norms overflowed, rows normalised to 0
    assert al.cycle_knn(A * 1e30, B) == 0.86  # was 0.22
    assert al.mutual_knn(A * 1e-15, B) == 0.174  # was 0.172: norms under F.normalize's eps
    assert al.mutual_knn(A * 1e200, B, dtype=F64) == al.mutual_knn(A, B, dtype=F64) == 0.174  # was 0.204
    assert al.unbiased_cka(A * 1e-15, B) == pytest.approx(al.unbiased_cka(A, B), abs=1e-7)  # was -0.0423
    assert al.svcca(A * 1e-30, B, cca_dim=5) == pytest.approx(al.svcca(A, B, cca_dim=5), abs=1e-6)  # was 0.306


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", al.METRICS)
def test_every_metric_is_invariant_to_the_scale_of_its_inputs(name, dtype):
    kw = KW.get(name, {})
    want = al.measure(name, P, Q, dtype=dtype, **kw)
    for k in SCALES[dtype]:
        got = al.measure(name, P * 10.0 ** k, Q * 10.0 ** -k, dtype=dtype, **kw)
        assert got == pytest.approx(want, abs=TOL[dtype]), k
        if dtype == "float32":  # float32 tensors take no conversion: the metric itself must cope
            got = al.measure(name, torch.tensor(P * 10.0 ** k, dtype=torch.float32), Q, **kw)
            assert got == pytest.approx(want, abs=TOL[dtype]), k


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", al.KERNEL_METRICS)
def test_every_kernel_metric_is_invariant_to_the_scale_of_its_kernels(name, dtype):
    K, L = (ref_cosine(P), ref_cosine(Q)) if name in KNN else (P @ P.T, Q @ Q.T)
    want = al.measure_kernels(name, K, L, dtype=dtype)
    for k in SCALES[dtype]:
        assert al.measure_kernels(name, K * 10.0 ** k, L * 10.0 ** -k, dtype=dtype) == pytest.approx(
            want, abs=TOL[dtype]), k


@pytest.mark.parametrize("name", al.METRICS)
def test_powers_of_two_change_no_bit(name):
    kw = KW.get(name, {})
    for dtype, ks in (("float32", (-120, -20, 20, 120)), ("float64", (-1000, -60, 60, 1000))):
        want = al.measure(name, P, Q, dtype=dtype, **kw)
        for k in ks:
            assert al.measure(name, P * 2.0 ** k, Q * 2.0 ** -k, dtype=dtype, **kw) == want, (dtype, k)
            if name in al.KERNEL_METRICS:
                assert al.measure_kernels(name, P @ P.T * 2.0 ** k, Q @ Q.T, dtype=dtype) == al.measure_kernels(
                    name, P @ P.T, Q @ Q.T, dtype=dtype), (dtype, k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", al.METRICS)
def test_layerwise_and_calibrate_are_invariant_to_the_scale_of_each_layer(name, dtype):
    kw = {"cca_dim": 4} if name == "svcca" else {}
    fa, fb = [P, P[:, :5] + RS.randn(50, 5)], [Q, RS.randn(50, 7)]
    want = al.layerwise(fa, fb, name, dtype=dtype, **kw).scores
    cal = al.calibrate(P, Q, name, n_perm=3, dtype=dtype, **kw)
    for k in list(SCALES[dtype])[::6]:
        got = al.layerwise([fa[0] * 10.0 ** k, fa[1] * 10.0 ** -k], [fb[0], fb[1] * 10.0 ** k], name, dtype=dtype,
                           **kw).scores
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype], err_msg=str(k))
        again = al.calibrate(P * 10.0 ** k, Q * 10.0 ** -k, name, n_perm=3, dtype=dtype, **kw)
        assert again.score == pytest.approx(cal.score, abs=TOL[dtype]), k
        np.testing.assert_allclose(again.null, cal.null, rtol=0, atol=TOL[dtype], err_msg=str(k))


def test_what_float32_cannot_hold_is_an_error_that_suggests_float64():
    X = P.copy()
    X[5] *= 1e-60  # a row 1e60 below the others: below float32's normal numbers even after rescaling
    raises(ValueError, "The 'A' parameter of mutual_knn must fit in torch.float32 (its values span more than its "
                       "range, even after exact rescaling; pass dtype=torch.float64). Got 1 row below its smallest "
                       "normal number (first: row 5, max |x| = ", al.mutual_knn, X, Q)  # was "all-zero rows"
    assert al.mutual_knn(X, Q, dtype=F64) == al.mutual_knn(P, Q, dtype=F64)  # cosine ignores the row's scale
    C = 1 + 1e-10 * P  # rows that differ below float32's resolution
    raises(ValueError, "The 'A' parameter of cka must fit in torch.float32 (its rows differ only on a scale it cannot "
                       "hold next to its largest |x|; pass dtype=torch.float64). Got rows that all become identical "
                       "in torch.float32 instead.", al.cka, C, Q)  # was "constant features"
    assert al.cka(C, Q, dtype=F64) == pytest.approx(al.cka(P, Q, dtype=F64), abs=1e-5)
    # float32 input: a constant 1e30 column next to variation at 1e-20, which underflows once scaled to 1e30
    X32 = torch.tensor(np.c_[np.full(50, 1e30), 1e-20 * P[:, :2]], dtype=torch.float32)
    raises(ValueError, "The 'A' parameter of cka must fit in torch.float32 (its rows differ on a scale that "
                       "underflows next to its largest |x|, even after exact rescaling; pass dtype=torch.float64). Got "
                       "rows that differ, but a centred kernel of zero instead.", al.cka, X32, Q)
    assert al.cka(X32, Q, dtype=F64) == pytest.approx(al.cka(P[:, :2], Q, dtype=F64), abs=1e-6)
    # prepare(normalize=False) returns X's own scale, so float32 must hold X as it is
    raises(ValueError, "The 'X' parameter of prepare must fit in torch.float32 (larger values overflow; pass "
                       "dtype=torch.float64). Got max |x| = 3.17e+200 instead.", al.prepare, P * 1e200, normalize=False)
    assert al.prepare(P * 1e200, normalize=False, dtype=F64).abs().max().item() > 1e200


def test_constant_features_message_only_for_constant_features():
    E = np.eye(30)  # one-hot rows are not constant, but their unbiased HSIC(K, K) is exactly 0
    for dtype in ("float32", "float64"):
        raises(ValueError, "The 'A' parameter of unbiased_cka must give a positive unbiased HSIC of its kernel with "
                           "itself, beyond rounding (unbiased CKA divides by its square root; it is 0 when the kernel "
                           "is a_i + a_j off the diagonal, e.g. for one-hot features). Got HSIC_u(K, K) = ",
               al.unbiased_cka, E, Q[:30], dtype=dtype)
        raises(ValueError, "The 'K' parameter of unbiased_cka must give a positive unbiased HSIC of its kernel",
               al.measure_kernels, "unbiased_cka", E, Q[:30] @ Q[:30].T, dtype=dtype)
    # one-hot features have a centred kernel (H), so biased CKA is defined: HSIC(H, L) / sqrt(HSIC(H, H) HSIC(L, L))
    Lc = Q[:30] - Q[:30].mean(0)
    Lc = Lc @ Lc.T
    H = np.eye(30) - 1 / 30
    want = np.trace(H @ Lc) / np.sqrt(np.trace(H @ H) * np.trace(Lc @ Lc))
    assert al.cka(E, Q[:30], dtype=F64) == pytest.approx(want, abs=1e-12)


# ---- 3: published parameters ----

def test_params_publish_each_metrics_parameters():
    knn = {"k": 10, "knn": "exact"}
    assert dict(al.PARAMS) == {"mutual_knn": knn, "cycle_knn": knn, "lcs_knn": knn, "edit_distance_knn": knn,
                               "cka": {"unbiased": False}, "unbiased_cka": {}, "cknna": knn, "svcca": {"cca_dim": 10},
                               "jaccard_knn": knn, "rbf_cka": {"sigma": 0.5}, "rsa": {}, "procrustes": {},
                               "pwcca": {}}
    with pytest.raises(TypeError):
        al.PARAMS["cknna"]["k"] = 5
    with pytest.raises(TypeError):
        al.PARAMS["cca"] = {}
    assert al.metric_kwargs("cknna", k=5, cca_dim=3) == {"k": 5}  # routing by name.endswith("_knn") missed cknna


@pytest.mark.parametrize("name", al.METRICS)
def test_metric_kwargs_routes_shared_settings_to_every_metric(name):
    settings = {"k": 5, "knn": "exact", "cca_dim": 3, "unbiased": True, "sigma": 0.4, "dtype": F64, "n_perm": 4}
    kw = al.metric_kwargs(name, **settings)
    assert kw == {p: settings[p] for p in al.PARAMS[name]}
    assert al.measure(name, P, Q, **kw) == al.measure(name, P, Q, **{**al.PARAMS[name], **kw})


def test_metric_kwargs_rejects_an_unknown_metric():
    raises(ValueError, f"The 'name' parameter of metric_kwargs must be one of {', '.join(al.METRICS)}. Got 'knn' "
                       "instead.",
           al.metric_kwargs, "knn", k=5)


# ---- 4: constant features are an error, not a tie-break number ----

TIES = "must vary across samples (neighbour lists are pure tie-breaks when every sample is equally similar to all " \
       "others). Got "


@pytest.mark.parametrize("name", KNN + ("cknna",))
def test_neighbour_metrics_refuse_constant_features(name):
    one_hot = "all inner products" if name == "cknna" else "all cosine similarities"
    for X, got in ((np.ones((20, 3)), "20 identical rows"), (np.tile(P[:1], (20, 1)), "20 identical rows"),
                   (np.eye(20), f"{one_hot} between distinct samples equal")):
        raises(ValueError, f"The 'A' parameter of {name} {TIES}{got}", al.measure, name, X, Q[:20], k=3)
        raises(ValueError, f"The 'B' parameter of {name} {TIES}{got}", al.measure, name, Q[:20], X, k=3)
    raises(ValueError, f"The 'L' parameter of {name} {TIES}every row constant off the diagonal instead.",
           al.measure_kernels, name, P[:20] @ P[:20].T, np.full((20, 20), 0.3), k=3)
    raises(ValueError, f"The 'feats_b' parameter of calibrate {TIES}20 identical rows instead.",
           al.calibrate, P[:20], np.ones((20, 3)), name, k=3)
    raises(ValueError, f"The 'feats_b' parameter of layerwise (layer 1) {TIES}",
           al.layerwise, [P[:20]], [Q[:20], np.ones((20, 3))], name, k=3)


def test_similarity_rows_that_each_hold_one_value_are_pure_tie_breaks():
    S = np.repeat(RS.randn(20, 1), 20, axis=1)  # row i: the same similarity to every j, a different one per row
    raises(ValueError, f"The 'K' parameter of mutual_knn {TIES}every row constant off the diagonal instead.",
           al.measure_kernels, "mutual_knn", S, ref_cosine(Q[:20]), k=3)
    S[0, 5] += 1  # one informative row is enough
    assert al.measure_kernels("mutual_knn", S, S, k=3) == 1.0


# ---- 5: ranges ----

def test_rounding_never_takes_cka_past_its_bounds():
    for seed in range(10):  # these gave 0.99999992..1.00000017
        X = np.random.RandomState(seed).randn(50, 8)
        for name in ("cka", "unbiased_cka"):
            v = al.measure(name, X, 3 * X)
            assert v <= 1.0 and v == pytest.approx(1.0, abs=1e-6), (seed, name)
    S = RS.randn(30, 30)
    S = S + S.T  # indefinite, so kernel-level CKA may be negative: clipped to [-1, 1], not to [0, 1]
    assert -1.0 <= al.measure_kernels("cka", S, -S) <= -1.0 + 1e-6
    assert al.cka(A, -A) == pytest.approx(1.0, abs=1e-6)  # linear kernels are PSD: CKA >= 0


def test_cknna_is_not_clipped():
    # the numerator's mask differs from each denominator's: CKNNA can exceed 1 by the paper's formula
    A7 = np.array([[-2.5, -1.4], [1.4, 0.9], [0.3, 0.7], [0.2, 0.4], [0.3, 1.2], [0.2, 0.8], [0.2, 0.7]])
    B7 = np.array([[-0.4, 0.2], [-1.4, 1.3], [-1.2, 0.6], [-0.7, 0.5], [-0.3, 0.6], [-1.5, -0.5], [0.3, -0.2]])
    want = ref_cknna(A7, B7, 4)
    assert want == pytest.approx(3.5461, abs=1e-4)
    assert al.cknna(A7, B7, k=4, dtype=F64) == pytest.approx(want, abs=1e-12)
    assert al.cknna(A7, B7, k=4) == pytest.approx(want, abs=1e-5)


# ---- 6: sparse features and the clamp ----

def test_sparse_layers_name_the_clamp_not_zero_rows():
    rs = np.random.RandomState(1)
    D = rs.randn(200, 64)
    S = D * (rs.rand(200, 64) < 0.03)  # 96% zeros: the 0.95 quantile of |x| is 0, but no row is zero
    S[np.arange(200), rs.randint(0, 64, 200)] = rs.randn(200)
    assert (np.abs(S).max(1) > 0).all()
    msg = ("must keep nonzero entries through the clamp at the q=0.95 quantile of |x| (that quantile is 0, so the "
           "clamp would zero every row); use q nearer 1: q > 0.955856 (q=1: no clamp). Got 565 nonzero entries of "
           "12800 (4.41%) instead.")
    raises(ValueError, f"The 'feats_a' parameter of layerwise (layer 1) {msg}", al.layerwise, [D, S], [D[:, :9]])
    raises(ValueError, f"The 'feats_b' parameter of calibrate (layer 0) {msg}", al.calibrate, [D], [S], "cka")
    raises(ValueError, f"The 'X' parameter of prepare {msg}", al.prepare, S)
    res = al.layerwise([D, S], [D[:, :9]], "cka", q=0.98)
    assert res.scores[1, 0] == pytest.approx(al.cka(al.prepare(S, 0.98), al.prepare(D[:, :9], 0.98)), abs=1e-12)


# ---- 7: bad input at every public entry point ----

def test_permutation_validates_its_parameters():
    assert al.permutation(5, 3).tolist() == torch.randperm(5, generator=torch.Generator().manual_seed(3)).tolist()
    raises(ValueError, "The 'n' parameter of permutation must be >= 1. Got 0 instead.", al.permutation, 0, 1)
    raises(TypeError, "The 'n' parameter of permutation must be an int. Got 5.0 (float) instead.",
           al.permutation, 5.0, 1)
    raises(ValueError, "The 'seed' parameter of permutation must be in [0, 2^63-1]. Got -1 instead.",
           al.permutation, 5, -1)
    raises(TypeError, "The 'seed' parameter of permutation must be an int. Got True (bool) instead.",
           al.permutation, 5, True)
    raises(TypeError, "The 'device' parameter of permutation must be a torch.device or its name (e.g. 'cpu', "
                      "'cuda:0'). Got 'gpu' instead.", al.permutation, 5, 1, "gpu")


def test_booleans_must_be_bools():
    raises(TypeError, "The 'normalize' parameter of prepare must be a bool (True or False). Got 1 (int) instead.",
           al.prepare, P, normalize=1)
    raises(TypeError, "The 'normalize' parameter of prepare must be a bool (True or False). Got 'no' (str) instead.",
           al.prepare, P, normalize="no")
    assert torch.equal(al.prepare(P, normalize=np.False_), al.prepare(P, normalize=False))
    raises(TypeError, "The 'unbiased' parameter of cka must be a bool (True or False). Got None (NoneType) instead.",
           al.measure, "cka", P, Q, unbiased=None)
    assert al.cka(P, Q, unbiased=np.True_) == al.unbiased_cka(P, Q)


def test_q_is_validated_at_every_entry_point():
    raises(ValueError, "The 'q' parameter of calibrate must be a number in (0, 1]. Got 2 instead.",
           al.calibrate, P, Q, q=2)  # a single pair does not use q, but it was silently accepted
    raises(TypeError, "The 'q' parameter of layerwise must be a number in (0, 1]. Got '0.9' instead.",
           al.layerwise, [P], [Q], q="0.9")
    raises(ValueError, "The 'q' parameter of prepare must be a number in (0, 1]. Got nan instead.",
           al.prepare, P, q=float("nan"))


def test_too_few_samples_and_parameterless_metrics():
    for name in ("mutual_knn", "cka", "svcca"):
        raises(ValueError, f"The 'A' and 'B' parameters of {name} must have N >= 2 rows (it compares samples). Got N=1 "
                           "instead.", al.measure, name, P[:1], Q[:1], **({"cca_dim": 1} if name == "svcca" else {}))
    raises(TypeError, "The keyword arguments of unbiased_cka must be none (it takes no parameters). Got 'k' instead.",
           al.measure, "unbiased_cka", P, Q, k=3)


def test_arrays_must_be_dense_and_stacks_three_dimensional():
    raises(TypeError, "The 'A' parameter of mutual_knn must be a dense tensor. Got layout torch.sparse_coo instead.",
           al.mutual_knn, torch.tensor(P).to_sparse(), Q)
    raises(ValueError, "The 'feats_a' parameter of layerwise must be a non-empty 3-D array (L x N x D). Got shape "
                       "(1, 1, 50, 8) instead.", al.layerwise, P[None, None], [Q])
    raises(ValueError, "The 'feats_b' parameter of layerwise must be a non-empty 3-D array (L x N x D). Got shape "
                       "(0, 50, 6) instead.", al.layerwise, [P], Q[None, :0].reshape(0, 50, 6))
    stacked = al.layerwise(np.stack([P, P * 1e30]), torch.tensor(np.stack([Q, Q])), "cka")  # per-layer scales
    np.testing.assert_allclose(stacked.scores, al.layerwise([P, P], [Q, Q], "cka").scores, rtol=0, atol=1e-7)
