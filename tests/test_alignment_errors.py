"""Bad input gets a clear error naming the parameter, the constraint and the value received."""

import numpy as np
import pytest
import torch
from support import raises

import alignment as al

RS = np.random.RandomState(0)
A, B = RS.randn(200, 5), RS.randn(200, 6)


def test_k_out_of_range_uses_the_design_message():
    raises(ValueError, "The 'k' parameter of mutual_knn must be in [1, N-1] with N=200. Got 200 instead.",
           al.mutual_knn, A, B, k=200)
    raises(ValueError, "The 'k' parameter of cknna must be in [1, N-1] with N=200. Got 0 instead.", al.cknna, A, B, k=0)
    raises(ValueError, "The 'k' parameter of lcs_knn must be in [1, N-1] with N=200. Got -3 instead.",
           al.measure, "lcs_knn", A, B, k=-3)
    raises(TypeError, "The 'k' parameter of cycle_knn must be an int. Got 2.5 (float) instead.",
           al.cycle_knn, A, B, k=2.5)
    raises(ValueError, "The 'k' parameter of edit_distance_knn must be in [1, N-1] with N=10.",
           al.measure_kernels, "edit_distance_knn", np.eye(10), np.eye(10), k=10)


@pytest.mark.parametrize("name", al.METRICS)
def test_different_n_prints_both_shapes(name):
    raises(ValueError, f"The 'A' and 'B' parameters of {name} must have the same number of rows N. "
                       "Got shapes (200, 5) and (190, 6) instead.", al.measure, name, A, B[:190])


def test_kernels_of_different_n():
    raises(ValueError, "Got shapes (20, 20) and (21, 21) instead.", al.measure_kernels, "cka", np.eye(20), np.eye(21))


@pytest.mark.parametrize("bad,shape", [(A[:, 0], "(200,)"), (A[None], "(1, 200, 5)")])
@pytest.mark.parametrize("name", al.METRICS)
def test_1d_or_3d_features(name, bad, shape):
    raises(ValueError, f"The 'A' parameter of {name} must be a 2-D array (N x D). Got shape {shape} instead.",
           al.measure, name, bad, B)


@pytest.mark.parametrize("value,counts", [(np.nan, "3 NaN and 0 infinite"), (np.inf, "0 NaN and 3 infinite"),
                                          (-np.inf, "0 NaN and 3 infinite")])
@pytest.mark.parametrize("name", al.METRICS)
def test_nan_or_inf_features(name, value, counts):
    bad = B.copy()
    bad[[1, 5, 9], 2] = value
    raises(ValueError, f"The 'B' parameter of {name} must contain only finite values. Got {counts} entries",
           al.measure, name, A, bad)


def test_nan_in_layer_stacks_names_the_layer():
    bad = B.copy()
    bad[0, 0] = np.nan
    raises(ValueError, "The 'feats_b' parameter of layerwise (layer 1) must contain only finite values.",
           al.layerwise, [A], [B, bad])


def test_kernel_similarities_may_hold_minus_inf_but_kernels_may_not():
    S = RS.randn(20, 20)
    S[3, 4] = -np.inf
    assert 0 <= al.measure_kernels("mutual_knn", S, S.T, k=3) <= 1
    raises(ValueError, "must contain only finite values or -inf. Got 1 NaN and 0 +inf entries",
           al.measure_kernels, "mutual_knn", np.where(S == -np.inf, np.nan, S), S, k=3)
    K = S + S.T
    raises(ValueError, "The 'K' parameter of cka must contain only finite values. Got 0 NaN and 2 infinite",
           al.measure_kernels, "cka", K, np.eye(20))


@pytest.mark.parametrize("call", [lambda X: al.unbiased_cka(X, X), lambda X: al.cka(X, X, unbiased=True),
                                  lambda X: al.cknna(X, X, k=2), lambda X: al.measure("cknna", X, X, k=1)])
def test_fewer_than_4_samples_for_unbiased_hsic(call):
    with pytest.raises(ValueError, match=r"parameters of \w+ must have N >= 4 rows \(unbiased HSIC divides by "
                                         r"N-3\)\. Got N=3 instead\."):
        call(A[:3])


def test_cca_dim_larger_than_width_or_rank():
    raises(ValueError, "The 'cca_dim' parameter of svcca must be in [1, min(width of each input)] = [1, 5]. "
                       "Got 6 instead.", al.svcca, A, B, cca_dim=6)
    low = np.hstack([A[:, :2], A[:, :2] @ RS.randn(2, 4)])  # width 6, rank 2
    raises(ValueError, "The 'A' parameter of svcca must have z-scored rank >= cca_dim = 5 (constant columns count "
                       "as zero). Got rank 2 instead.", al.svcca, low, B, cca_dim=5)
    raises(ValueError, "The 'B' parameter of svcca must have z-scored rank >= cca_dim = 2", al.svcca,
           A, np.hstack([np.ones((200, 3)), B[:, :1]]), cca_dim=2)
    assert al.svcca(A, np.hstack([np.ones((200, 3)), B[:, :2]]), cca_dim=2) > 0  # constant columns drop out


@pytest.mark.parametrize("name", ["cka", "unbiased_cka"])
def test_constant_features_make_cka_undefined(name):
    what = "unbiased CKA" if name == "unbiased_cka" else "CKA"
    for const in (np.ones((200, 5)), np.full((200, 3), 0.1), np.tile(A[:1], (200, 1))):
        for dtype in ("float32", "float64"):
            raises(ValueError, f"The 'A' parameter of {name} must vary across samples ({what} is undefined when its "
                               "centred kernel is zero). Got 200 identical rows instead.",
                   al.measure, name, const, B, dtype=dtype)
    a = RS.randint(0, 9, 20).astype(float)  # integers: a_i + a_j is exact, so its centred kernel is exactly 0
    for K in (np.full((20, 20), 3.7), np.add.outer(a, a)):
        raises(ValueError, f"The 'K' parameter of {name} must vary across samples ({what} is undefined when its "
                           "centred kernel is zero). Got K_ij = a_i + a_j for all i, j (e.g. a constant kernel), whose "
                           "centred form is zero instead.", al.measure_kernels, name, K, np.eye(20))


def test_cknna_undefined_self_term_is_an_error_not_nan():
    # found by search: with N=4, k=2 the masked kernel's unbiased self-HSIC is negative
    X = np.array([[0.09, -1.15], [-0.93, -0.22], [-0.6, 0.73], [2.43, 0.35]])
    from alignment import _hsic as hsic
    from alignment import _knn as knn
    self_term = hsic.cknna_state(knn.knn_from_similarity(torch.tensor(X @ X.T, dtype=torch.float64), 2))[1]
    assert self_term < 0
    raises(ValueError, "The 'A' parameter of cknna must give a positive unbiased HSIC of its top-k masked kernel "
                       "with itself (CKNNA divides by its square root); a larger k usually does. Got -0.0",
           al.cknna, X, X, k=2, dtype="float64")


def test_zero_rows_have_no_cosine_similarity():
    bad = A.copy()
    bad[[4, 7]] = 0
    raises(ValueError, "The 'A' parameter of mutual_knn must have no all-zero rows (cosine similarity is undefined "
                       "for them). Got 2 all-zero rows (first: row 4) instead.", al.mutual_knn, bad, B)


@pytest.mark.parametrize("f", [al.measure, al.measure_kernels])
def test_unknown_metric_lists_the_valid_ones(f):
    names = al.METRICS if f is al.measure else al.KERNEL_METRICS
    raises(ValueError, f"The 'name' parameter of {f.__name__} must be one of {', '.join(names)}. Got 'cca' instead.",
           f, "cca", A @ A.T, B @ B.T)


def test_svcca_is_not_a_kernel_metric():
    raises(ValueError, "must be one of mutual_knn, cycle_knn, lcs_knn, edit_distance_knn, cka, unbiased_cka, cknna, "
                       "jaccard_knn. Got 'svcca' instead.", al.measure_kernels, "svcca", A @ A.T, B @ B.T)


@pytest.mark.parametrize("f", [al.layerwise, al.calibrate])
def test_unknown_metric_in_sweeps(f):
    raises(ValueError, f"The 'metric' parameter of {f.__name__} must be one of mutual_knn, cycle_knn, lcs_knn, "
                       "edit_distance_knn, cka, unbiased_cka, cknna, svcca, jaccard_knn, rbf_cka, rsa, procrustes, "
                       "pwcca. Got 'knn' instead.", f, [A], [B], "knn")


def test_types_and_options():
    raises(TypeError, "The 'A' parameter of cka must be a numpy array or torch tensor. Got list instead.",
           al.cka, A.tolist(), B)
    raises(TypeError, "The 'A' parameter of mutual_knn must have a real numeric dtype. Got dtype complex128",
           al.mutual_knn, A.astype(complex), B)
    raises(TypeError, "The 'dtype' parameter of cka must be torch.float32 or torch.float64", al.cka, A, B,
           dtype=torch.float16)
    raises(TypeError, "The 'unbiased' parameter of cka must be a bool (True or False). Got 1 (int) instead.",
           al.cka, A, B, unbiased=1)
    raises(TypeError, "The keyword arguments of cka must be among (unbiased). Got 'k' instead.",
           al.measure, "cka", A, B, k=3)
    raises(TypeError, "The keyword arguments of svcca must be among (cca_dim). Got 'unbiased' instead.",
           al.layerwise, [A], [B], "svcca", unbiased=True)


def test_kernel_shape_and_symmetry():
    raises(ValueError, "The 'K' parameter of cka must be square (N x N). Got shape (20, 19) instead.",
           al.measure_kernels, "cka", RS.randn(20, 19), np.eye(20))
    raises(ValueError, "The 'L' parameter of cknna must be symmetric", al.measure_kernels, "cknna", np.eye(20),
           RS.randn(20, 20), k=3)
    S = RS.randn(20, 20)  # k-NN similarities need not be symmetric
    assert al.measure_kernels("cycle_knn", S, S, k=3) == al.measure_kernels("cycle_knn", S, S.copy(), k=3)


def test_layer_stack_errors():
    raises(ValueError, "The 'feats_a' parameter of layerwise must be a sequence of N x D arrays or an L x N x D array "
                       "(wrap a single layer in a list). Got shape (200, 5) instead.", al.layerwise, A, [B])
    raises(ValueError, "The 'feats_b' parameter of layerwise must hold at least one layer. Got an empty list instead.",
           al.layerwise, [A], [])
    raises(TypeError, "The 'feats_a' parameter of layerwise must be a sequence of N x D arrays or an L x N x D array. "
                      "Got dict instead.", al.layerwise, {0: A}, [B])
    raises(ValueError, "The 'feats_a' and 'feats_b' parameters of layerwise must have the same number of rows N in "
                       "every layer. Got shape (200, 5) (feats_a layer 0) and (100, 6) (feats_b layer 1) instead.",
           al.layerwise, [A], [B, B[:100]])
    raises(ValueError, "The 'feats_a' parameter of layerwise (layer 1) must be a 2-D array (N x D). Got shape (200,)",
           al.layerwise, [A, A[:, 0]], [B])
    raises(ValueError, "The 'q' parameter of layerwise must be a number in (0, 1]. Got 0 instead.",
           al.layerwise, [A], [B], q=0)
    raises(ValueError, "The 'k' parameter of mutual_knn must be in [1, N-1] with N=200. Got 500 instead.",
           al.layerwise, [A], [B], k=500)


def test_calibrate_errors():
    raises(ValueError, "The 'feats_a' and 'feats_b' parameters of calibrate must be both single N x D matrices (one "
                       "pair) or both layer stacks", al.calibrate, A, [B])
    raises(ValueError, "The 'n_perm' parameter of calibrate must be in [1, 2^31]. Got 0 instead.",
           al.calibrate, A, B, n_perm=0)
    raises(ValueError, "The 'seed' parameter of calibrate must be in [0, 2^62]. Got -1 instead.",
           al.calibrate, A, B, seed=-1)
    raises(ValueError, "The 'feats_a' and 'feats_b' parameters of calibrate must have the same number of rows N.",
           al.calibrate, A, B[:10])


def test_prepare_errors():
    raises(ValueError, "The 'X' parameter of prepare must contain only finite values.", al.prepare,
           np.full((3, 3), np.nan))
    raises(ValueError, "The 'q' parameter of prepare must be a number in (0, 1]. Got 1.5 instead.", al.prepare, A,
           q=1.5)
