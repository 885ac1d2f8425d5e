"""Large N: linear CKA from the features (no N x N kernel), neighbour lists through faiss, and the released code's
stacked clamp (clamp="stack")."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from support import raises, related

import alignment as al
from alignment import _faiss, _hsic, _knn
from alignment import metrics as _m

F64 = torch.float64
KNN = ("mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "jaccard_knn")
needs_faiss = pytest.mark.skipif(not _faiss.available(), reason="needs faiss (pip install faiss-cpu)")


def gram_path(X, unbiased):
    """The N x N state that gram_from_features used for every input before the feature form."""
    Xc = _hsic.centre(torch.as_tensor(X))
    return _hsic._finish(Xc @ Xc.T, unbiased, True)


# ---- 1: linear CKA from features ----

def test_feature_form_is_chosen_when_the_input_is_narrower_than_n():
    wide, narrow = torch.randn(30, 40, dtype=F64), torch.randn(30, 7, dtype=F64)
    assert _hsic.gram_from_features(wide, True).K.shape == (30, 30) and _hsic.gram_from_features(wide, True).d is None
    for unbiased in (False, True):
        g = _hsic.gram_from_features(narrow, unbiased)
        assert g.K.shape == (30, 7) and g.d is not None  # O(N D): no N x N matrix
        want = gram_path(narrow, unbiased)
        assert g.self == pytest.approx(want.self, rel=1e-12) and g.s == pytest.approx(want.s, abs=1e-9)
        if unbiased:
            np.testing.assert_allclose(g.r.numpy(), want.r.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("da,db", [(6, 9), (6, 300), (300, 6), (250, 300)])  # feature, mixed both ways, kernel
def test_cka_equals_the_gram_path(da, db, unbiased):
    A, B = related(1, 200, da, db)
    K, L = A @ A.T, B @ B.T
    got = al.cka(A, B, unbiased=unbiased, dtype=F64)
    assert got == pytest.approx(_hsic.cka(gram_path(A, unbiased), gram_path(B, unbiased)), abs=1e-12)
    assert got == pytest.approx(al.measure_kernels("cka", K, L, unbiased=unbiased, dtype=F64), abs=1e-12)
    assert al.cka(A, B, unbiased=unbiased) == pytest.approx(got, abs=2e-6)  # float32


@pytest.mark.parametrize("name", ["cka", "unbiased_cka"])
def test_sweeps_and_relabelled_nulls_equal_the_gram_path(name, monkeypatch):
    rs = np.random.RandomState(2)
    A, B = related(3, 150, 10, 12)
    fa, fb = [A, rs.randn(150, 6), A[:, :4] + rs.randn(150, 4)], [B, rs.randn(150, 200)]  # the last is N x N
    monkeypatch.setattr(_hsic, "gram_from_features", gram_path)  # every linear kernel N x N, as before
    cal_gram = al.calibrate(fa, fb, name, n_perm=4, seed=1, dtype=F64)
    pair_gram = al.calibrate(A, B, name, n_perm=4, seed=1, dtype=F64)
    monkeypatch.undo()
    cal = al.calibrate(fa, fb, name, n_perm=4, seed=1, dtype=F64)
    pair = al.calibrate(A, B, name, n_perm=4, seed=1, dtype=F64)
    np.testing.assert_allclose(cal.scores, cal_gram.scores, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cal.null_scores, cal_gram.null_scores, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pair.null, pair_gram.null, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(cal.scores, al.layerwise(fa, fb, name, dtype=F64).scores)


def test_a_relabelled_feature_state_is_the_state_of_the_permuted_features():
    A, B = related(4, 90, 5, 7)
    perm = al.permutation(90, 3)
    for unbiased in (False, True):
        ga = _hsic.gram_from_features(torch.tensor(A), unbiased)
        gb = _hsic.gram_from_features(torch.tensor(B), unbiased)
        moved = _hsic.relabel_gram(gb, perm)
        direct = _hsic.gram_from_features(torch.tensor(B)[perm], unbiased)
        assert _hsic.cka(ga, moved) == pytest.approx(_hsic.cka(ga, direct), abs=1e-12)
        assert moved.self == gb.self  # invariant: not recomputed


def test_cka_of_many_narrow_samples_forms_no_n_by_n_kernel():
    # N = 60000: an N x N float32 kernel would be 14 GB; the feature form holds 60000 x 8
    rs = np.random.RandomState(5)
    A = rs.randn(60000, 8).astype(np.float32)
    B = A @ rs.randn(8, 8).astype(np.float32) + rs.randn(60000, 8).astype(np.float32)
    for name in ("cka", "unbiased_cka"):
        v = al.measure(name, A, B)
        assert v == pytest.approx(al.measure(name, A[::10], B[::10], dtype=F64), abs=0.02)  # a 6000-row estimate
    assert al.calibrate(A, B, "cka", n_perm=2).null.max() < 0.01  # permuted rows: about 8 * 8 / N


# ---- 2: neighbour lists through faiss ----

def gaps(X, k):
    """Per row, the smallest gap between consecutive similarities among its k + 1 nearest others (exact)."""
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    top = np.sort(S, axis=1)[:, ::-1][:, :k + 1]
    return (top[:, :-1] - top[:, 1:]).min(1)


@needs_faiss
@pytest.mark.parametrize("cosine", [True, False])
def test_flat_faiss_gives_the_exact_lists_where_similarities_are_apart(cosine):
    rs = np.random.RandomState(6)
    X = rs.randn(500, 24).astype(np.float32)
    t = torch.tensor(X)
    exact = _knn.knn_from_features(t, 8, cosine=cosine)
    faiss_ = _knn.knn_from_features(t, 8, cosine=cosine, backend="faiss")
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True) if cosine else X
    apart = gaps(Xn.astype(np.float64), 8) > 1e-5 * (1 if cosine else np.abs(Xn).max() ** 2 * 24)
    assert apart.mean() > 0.9  # the claim covers most rows
    np.testing.assert_array_equal(faiss_.idx.numpy()[apart], exact.idx.numpy()[apart])
    np.testing.assert_allclose(faiss_.sval.numpy(), exact.sval.numpy(), rtol=0, atol=1e-5 * np.abs(Xn).max() ** 2 * 24)
    assert faiss_.ties is None and not faiss_.flat.any()


def pm_one(seed, n, d=4):
    """+-1 features of width 4: unit rows with entries +-1/2, so every cosine is a multiple of 1/4, computed exactly
    in any order: heavy exact ties."""
    return np.random.RandomState(seed).choice([-1.0, 1.0], size=(n, d))


@needs_faiss
def test_flat_faiss_breaks_exact_ties_as_the_exact_search_does():
    for X, cosine in ((pm_one(7, 80), True), (np.random.RandomState(8).randint(0, 4, (80, 3)).astype(float), False)):
        t = torch.tensor(X, dtype=torch.float32)
        exact = _knn.knn_from_features(t, 6, cosine=cosine)
        faiss_ = _knn.knn_from_features(t, 6, cosine=cosine, backend="faiss")
        assert exact.ties is not None  # the case under test occurs
        for field in ("idx", "sidx", "sval", "flat"):
            assert torch.equal(getattr(faiss_, field), getattr(exact, field)), field
        for got, want in zip(faiss_.ties, exact.ties):
            assert torch.equal(got, want)


@needs_faiss
@pytest.mark.parametrize("name", KNN + ("cknna",))
def test_flat_faiss_scores_and_nulls_equal_exact_on_tied_data(name):
    A, B = pm_one(9, 70), pm_one(10, 70)
    if name == "cknna":  # raw inner products: small integers, exact in float32 in any order
        A, B = (np.random.RandomState(s).randint(0, 4, (70, 3)).astype(float) for s in (9, 10))
        A[:, 0] += 4  # rows of different norms, so the masked self terms are positive
    exact = al.calibrate(A, B, name, n_perm=5, seed=2, k=5)
    faiss_ = al.calibrate(A, B, name, n_perm=5, seed=2, k=5, knn="faiss")
    assert faiss_.score == exact.score
    np.testing.assert_array_equal(faiss_.null, exact.null)


@needs_faiss
def test_faiss_in_layer_sweeps_calibrate_and_metric_kwargs():
    rs = np.random.RandomState(11)
    A, B = related(12, 200, 16, 20, shared=8)
    fa, fb = [A, rs.randn(200, 12)], [B, A[:, :8] + rs.randn(200, 8)]
    kw = al.metric_kwargs("mutual_knn", k=7, knn="faiss", cca_dim=3)
    assert kw == {"k": 7, "knn": "faiss"}
    res = al.layerwise(fa, fb, "mutual_knn", **kw)
    np.testing.assert_allclose(res.scores, al.layerwise(fa, fb, "mutual_knn", k=7).scores, rtol=0, atol=2 / 1400)
    cal = al.calibrate(fa, fb, "cknna", n_perm=3, k=7, knn="faiss")
    np.testing.assert_allclose(cal.null_scores, al.calibrate(fa, fb, "cknna", n_perm=3, k=7).null_scores, rtol=0,
                               atol=1e-5)


@needs_faiss
def test_approximate_index_reports_its_recall_and_is_deterministic():
    A, B = related(13, 1500, 12, 12, shared=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = al.mutual_knn(A, B, k=10, knn="faiss-approx")
    reports = [w.message for w in caught if isinstance(w.message, al.ApproximateKnnWarning)]
    assert [r.who for r in reports] == ["'A' parameter of mutual_knn", "'B' parameter of mutual_knn"]
    for r in reports:
        assert r.rows == 1000 and r.k == 10 and 0.95 <= r.recall <= 1 and r.ef >= 22
        assert f"recall@10 = {r.recall:.4f} against exact neighbours on 1000 sampled rows" in str(r)
    exact = al.mutual_knn(A, B, k=10)
    assert abs(got - exact) <= 2 * (1 - min(r.recall for r in reports)) + 1e-3
    with pytest.warns(al.ApproximateKnnWarning):
        assert al.mutual_knn(A, B, k=10, knn="faiss-approx") == got  # a one-thread build: the same graph


def test_knn_backend_errors():
    A, B = related(14, 50, 4, 4)
    raises(ValueError, "The 'knn' parameter of mutual_knn must be one of exact, faiss, faiss-approx. Got 'annoy' "
                       "instead.", al.mutual_knn, A, B, knn="annoy")
    raises(ValueError, "The 'knn' parameter of cknna must be one of exact, faiss, faiss-approx. Got 'hnsw' instead.",
           al.layerwise, [A], [B], "cknna", knn="hnsw")
    raises(ValueError, "The 'knn' parameter of lcs_knn must be 'exact' for kernels (a given similarity matrix is "
                       "ranked directly; faiss indexes features). Got 'faiss' instead.",
           al.measure_kernels, "lcs_knn", A @ A.T, B @ B.T, knn="faiss")
    raises(ValueError, "The 'knn' parameter of mutual_knn must be 'exact' with dtype=torch.float64 (faiss computes in "
                       "float32). Got 'faiss-approx' instead.", al.mutual_knn, A, B, knn="faiss-approx", dtype=F64)


def test_missing_faiss_gives_an_install_hint(monkeypatch):
    monkeypatch.setattr(_faiss, "available", lambda: False)
    A, B = related(15, 50, 4, 4)
    raises(ImportError, "The 'knn' parameter of mutual_knn must name an installed backend ('faiss' needs the faiss "
                        "package: pip install 'platonic-toolkit[faiss]' (or faiss-gpu on a CUDA machine)). Got 'faiss' "
                        "instead.", al.mutual_knn, A, B, knn="faiss")
    raises(ImportError, "'faiss-approx' needs the faiss package", al.calibrate, [A], [B], "cknna", knn="faiss-approx")
    assert al.mutual_knn(A, B) == al.mutual_knn(A, B, knn="exact")  # the default needs no faiss


# ---- 4: the released code's stacked clamp ----

def released_prepare(stack, q, precise):
    """measure_alignment.py's prepare_features on an N x L x D tensor, then compute_score's per-layer normalisation:
    one threshold for the whole tensor."""
    feats = torch.as_tensor(stack).float()
    if precise:
        t = feats.view(-1).abs().sort().values[int(q * feats.numel())]
    else:
        t = torch.quantile(feats.abs().flatten(start_dim=1), q, dim=1).mean()
    feats = feats.clamp(-t, t)
    return [F.normalize(feats[:, i, :], p=2, dim=-1) for i in range(feats.shape[1])]


def deepening(seed, n=120, layers=4, d=16):
    """An N x L x D stack whose scale grows with depth and whose shared signal moves across layers."""
    rs = np.random.RandomState(seed)
    z = rs.standard_t(3, size=(n, d))
    out = np.empty((n, layers, d))
    for i in range(layers):
        w = (i + 1) / layers
        out[:, i] = (4.0 ** i) * (w * z + (1 - w) * rs.standard_t(3, size=(n, d)))
    return out


@pytest.mark.parametrize("clamp,precise", [("stack", False), ("stack-precise", True)])
def test_stack_clamp_is_the_released_codes(clamp, precise):
    X = deepening(16)
    want = released_prepare(X, 0.95, precise)
    got = al.prepare(X.transpose(1, 0, 2), clamp=clamp)  # our stacks are L x N x D
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-6)
    one = al.prepare(X[:, 0], clamp=clamp)  # one N x D matrix: the released code on that matrix
    torch.testing.assert_close(one, released_prepare(X[:, :1], 0.95, precise)[0], rtol=0, atol=1e-6)


def massive(seed, z, layers=4, d=32):
    """An N x L x D model sharing the latent z, whose scale grows 4x a layer, with two channels of massive
    activations unrelated to the samples' content."""
    rs = np.random.RandomState(seed)
    out = np.empty((len(z), layers, d))
    for i in range(layers):
        x = z @ rs.randn(z.shape[1], d) + rs.randn(len(z), d)
        x[:, :2] = 20 * np.abs(rs.randn(len(z), 2))
        out[:, i] = 4.0 ** i * x
    return out


def test_stack_clamp_moves_pair_scores_and_the_best_pair():
    z = np.random.RandomState(0).randn(200, 6)
    a, b = massive(10, z), massive(20, z)
    fa, fb = a.transpose(1, 0, 2), b.transpose(1, 0, 2)
    per_layer = al.layerwise(fa, fb, "mutual_knn", k=5)
    stacked = al.layerwise(fa, fb, "mutual_knn", k=5, clamp="stack")
    ref = released_prepare(a, 0.95, False), released_prepare(b, 0.95, False)
    want = np.array([[al.mutual_knn(x, y, k=5) for y in ref[1]] for x in ref[0]])
    np.testing.assert_array_equal(stacked.scores, want)
    # the stack's threshold is set by the deep layers, so the shallow ones keep their massive channels
    assert np.abs(stacked.scores - per_layer.scores).max() == pytest.approx(0.294, abs=1e-9)
    assert (per_layer.best_layers, stacked.best_layers) == ((0, 0), (3, 3))
    cal = al.calibrate(fa, fb, "mutual_knn", k=5, n_perm=3, clamp="stack")
    assert cal.score == stacked.best_score and cal.best_layers == stacked.best_layers
    bs = al.bootstrap(fa, fb, "mutual_knn", k=5, n_boot=2, clamp="stack")
    assert bs.estimate == stacked.best_score


def test_clamp_errors():
    X = deepening(19)
    raises(ValueError, "The 'clamp' parameter of layerwise must be one of layer, stack, stack-precise. Got 'global' "
                       "instead.", al.layerwise, [X[:, 0]], [X[:, 1]], clamp="global")
    raises(ValueError, "The 'clamp' parameter of calibrate must be one of layer, stack, stack-precise. Got 'model' "
                       "instead.", al.calibrate, X[:, 0], X[:, 1], clamp="model")
    raises(ValueError, "The 'clamp' parameter of prepare must be one of layer, stack, stack-precise. Got None instead.",
           al.prepare, X[:, 0], clamp=None)
    sparse = np.zeros((50, 40))
    sparse[np.arange(50), np.arange(50) % 40] = 1.0  # one nonzero entry in 80 per sample
    raises(ValueError, "The 'feats_b' parameter of layerwise must keep nonzero entries through the clamp='stack' "
                       "threshold at q=0.95 (it is 0, so the clamp would zero every row); use q nearer 1 (q=1: no "
                       "clamp) or clamp='layer'. Got a threshold of 0 instead.",
           al.layerwise, [X[:50, 0]], [sparse, sparse], clamp="stack")


def test_params_route_the_new_options():
    assert _m.PARAMS["cknna"] == {"k": 10, "knn": "exact"} and al.KNN_BACKENDS == ("exact", "faiss", "faiss-approx")
    assert al.CLAMPS == ("layer", "stack", "stack-precise")


@needs_faiss
@pytest.mark.parametrize("knn", ["faiss", "faiss-approx"])
def test_faiss_lists_that_are_pure_tie_breaks_are_refused_as_exact_ones_are(knn):
    E, Q = np.eye(30), np.random.RandomState(20).randn(30, 5)  # one-hot rows: every cosine between them is 0
    for k in (5, 29):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", al.ApproximateKnnWarning)
            raises(ValueError, "The 'A' parameter of mutual_knn must vary across samples (neighbour lists are pure "
                               "tie-breaks", al.mutual_knn, E, Q, k=k, knn=knn)
