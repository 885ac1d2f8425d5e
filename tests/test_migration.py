"""Coming from the paper's code or calibrated-similarity (issue 24, item 6): `alignment.calibrate` with a user's own
similarity function, and docs/MIGRATION.md, whose printed numbers are parsed and recomputed here."""
import contextlib
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from support import counter, raises, related

import alignment as al

F64 = torch.float64


def readme_cka(X, Y):
    """calibrated-similarity's README example: linear CKA written by a user (a callable that is no named metric's
    code)."""
    X, Y = X - X.mean(0), Y - Y.mean(0)
    hsic = (X @ X.T * (Y @ Y.T)).sum()
    return hsic / (X @ X.T).norm() / (Y @ Y.T).norm()


def mean_cosine(X, Y):
    """Mean cosine of paired rows (calibrated-similarity's docstring example): unbounded below, at most 1."""
    return (torch.nn.functional.normalize(X, dim=1) * torch.nn.functional.normalize(Y, dim=1)).sum(1).mean()


# ---- alignment.calibrate with a callable metric ----

@pytest.mark.parametrize("sim", [readme_cka, mean_cosine])
def test_callable_pair_agrees_with_calibrated_similarity(sim):
    import calibrated_similarity as cs

    A, B = (torch.tensor(x) for x in related(21, 60, 5, 5, shared=2))
    ours = al.calibrate(A, B, sim, n_perm=19, seed=3, dtype=F64)
    scal, p, tau = cs.calibrate(A, B, sim, K=19, alpha=0.05, perm_fn=counter(3))
    assert 0 < ours.calibrated_score < 1 and ours.smax == 1.0
    assert ours.score == pytest.approx(float(sim(A, B)), abs=1e-15)
    assert ours.p_value == pytest.approx(p.item(), abs=1e-7)
    assert ours.threshold == pytest.approx(tau.item(), abs=1e-6)  # the package rounds to float32
    assert ours.calibrated_score == pytest.approx(scal.item(), abs=1e-6)


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_callable_stack_agrees_with_calibrate_layers(aggregate):
    import calibrated_similarity as cs

    rs = np.random.RandomState(22)
    A, B = related(23, 60, 6, 5, shared=3)
    fa, fb = [A, rs.randn(60, 4)], [B, A[:, :3] + rs.randn(60, 3), rs.randn(60, 2)]
    ours = al.calibrate(fa, fb, readme_cka, n_perm=19, seed=1, aggregate=aggregate, dtype=F64)
    prep = [[al.prepare(x, dtype=F64) for x in f] for f in (fa, fb)]  # stacks go through the layerwise pipeline
    scal, p, tau = cs.calibrate_layers(*prep, readme_cka, agg=aggregate, K=19, alpha=0.05, perm_fn=counter(1))
    assert ours.scores.shape == (2, 3) and ours.null_scores.shape == (19, 2, 3)
    assert ours.scores[1, 2] == pytest.approx(float(readme_cka(prep[0][1], prep[1][2])), abs=1e-15)
    assert ours.p_value == pytest.approx(p.item(), abs=1e-7)
    assert ours.threshold == pytest.approx(tau.item(), abs=1e-6)
    assert ours.calibrated_score == pytest.approx(scal.item(), abs=1e-6) and ours.calibrated_score > 0


@pytest.mark.parametrize("name, kw", [("mutual_knn", {"k": 5}), ("cka", {}), ("cknna", {"k": 5})])
@pytest.mark.parametrize("stack", [False, True])
def test_callable_equal_to_a_named_metric_gives_its_calibration(name, kw, stack):
    A, B = related(24, 50, 6, 5)
    fa, fb = ([A, A[:, :4]], [B, B[:, 2:]]) if stack else (A, B)
    named = al.calibrate(fa, fb, name, n_perm=9, seed=4, dtype=F64, **kw)
    ours = al.calibrate(fa, fb, lambda X, Y: al.measure(name, X, Y, dtype=F64, **kw), n_perm=9, seed=4, dtype=F64,
                        smax=named.smax)
    exact = name == "mutual_knn"  # counts: the relabelled null is bitwise the recomputed one
    np.testing.assert_allclose(ours.null, named.null, rtol=0, atol=0 if exact else 1e-12)
    for field in ("score", "null_mean", "null_std", "p_value", "threshold", "calibrated_score"):
        assert getattr(ours, field) == pytest.approx(getattr(named, field), rel=0, abs=0 if exact else 1e-12), field
    assert ours.best_layers == named.best_layers and ours.smax == named.smax


def test_callable_sees_the_inputs_and_each_permutation():
    A, B = related(25, 12, 3, 2, shared=1)
    calls = []

    def sim(X, Y):
        calls.append((X, Y))
        return float(torch.cosine_similarity(X.flatten(), Y[:, :1].repeat(1, 3).flatten(), 0))
    cal = al.calibrate(A * 1e3, B, sim, n_perm=4, seed=7, dtype=F64)
    assert len(calls) == 5 and cal.null.shape == (4,)
    for X, _ in calls:  # as given, in dtype: not rescaled
        assert X.dtype == F64 and torch.equal(X, torch.tensor(A * 1e3))
    for p, (_, Y) in enumerate(calls[1:]):
        assert torch.equal(Y, torch.tensor(B)[al.permutation(12, 7 + p)])
    again = al.calibrate(A * 1e3, B, sim, n_perm=4, seed=7, dtype=F64)
    np.testing.assert_array_equal(again.null, cal.null)  # same seed, same numbers


def test_callable_without_maximum_uses_relu():
    A, B = related(26, 40, 4, 4)
    cal = al.calibrate(A, B, lambda X, Y: 10 * al.cka(X, Y, dtype=F64), n_perm=19, dtype=F64, smax=None)
    assert cal.smax is None and cal.score > 1
    assert cal.calibrated_score == cal.score - cal.threshold > 0


def test_callable_metric_is_checked_before_the_null():
    A, B = related(27, 20, 3, 3)
    calls = []

    def matrix(X, Y):
        calls.append(1)
        return X
    raises(TypeError, "The 'metric' parameter of calibrate must return a real number (a float, or a tensor or array "
           "of one element). Got Tensor of shape (20, 3) instead.", al.calibrate, A, B, matrix, n_perm=50)
    assert len(calls) == 1  # the observed call only: no permutation was scored
    raises(ValueError, "The 'metric' parameter of calibrate must return a finite number. Got nan instead.",
           al.calibrate, A, B, lambda X, Y: float("nan"))
    raises(ValueError, "The 'metric' parameter of calibrate must return values <= smax=1 (pass smax=None for a "
           "similarity without a maximum). Got 2 instead.", al.calibrate, A, B, lambda X, Y: 2.0)
    raises(TypeError, "The 'metric' parameter of calibrate must return a real number (a float, or a tensor or array "
           "of one element). Got 'high' (str) instead.", al.calibrate, A, B, lambda X, Y: "high")
    raises(TypeError, "The 'metric' parameter of calibrate must be one of mutual_knn, ", al.calibrate, A, B, 3)
    raises(TypeError, "The keyword arguments of calibrate with a callable metric must be among (smax). Got 'k' "
           "instead.", al.calibrate, A, B, mean_cosine, k=5)
    raises(ValueError, "The 'smax' parameter of calibrate must be finite. Got inf instead.", al.calibrate, A, B,
           mean_cosine, smax=float("inf"))
    raises(ValueError, "The 'feats_a' and 'feats_b' parameters of calibrate must be both single N x D matrices",
           al.calibrate, A, [B], mean_cosine)
    raises(ValueError, "The 'feats_b' parameter of calibrate must contain only finite values", al.calibrate, A,
           np.full_like(B, np.nan), mean_cosine)


# ---- docs/MIGRATION.md: every example prints what the document says ----

DOC = Path(__file__).resolve().parent.parent / "docs" / "MIGRATION.md"


def examples():
    """{section heading: (code, printed lines)} of docs/MIGRATION.md: each python block and the block after it."""
    text = DOC.read_text()
    found = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        m = re.search(r"```python\n(.*?)```\n```\n(.*?)```", part, re.S)
        if m:
            found[part.splitlines()[0]] = (m.group(1), m.group(2).splitlines())
    return found


def printed(code):
    """Run an example: (what it printed, line by line; its variables)."""
    out, ns = io.StringIO(), {"__name__": "migration_example"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), ns)
    return out.getvalue().splitlines(), ns


def numbers(lines):
    """{first word: the numbers after it} of printed lines."""
    return {ln.split()[0]: [float(v) for v in ln.split()[1:]] for ln in lines}


def section(start):
    (code, lines), = [v for k, v in examples().items() if k.startswith(start)]
    return code, lines


def test_every_example_prints_what_the_document_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the Alignment.score example writes a feature file
    found = examples()
    assert len(found) == 4 and all(lines for _, lines in found.values())
    for heading, (code, lines) in found.items():
        assert printed(code)[0] == lines, heading


# ---- The paper's numbers: an INDEPENDENT REIMPLEMENTATION of the formulas of the paper's metrics.py and
# measure_alignment.py (its package is not installed), written from the paper's App. A and the released code's
# definitions, in float64. Argument names as the paper's (topk = our k). The paper's cka and cknna add 1e-6 to the
# denominator; this reimplementation, like alignment, does not. ----

def paper_knn(X, topk):
    """Row i: the topk rows of largest inner product with row i (itself excluded), nearest first."""
    S = X @ X.T
    S.fill_diagonal_(-math.inf)
    return torch.argsort(S, dim=1, descending=True, stable=True)[:, :topk].tolist()


def lcs(a, b):
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            t[i + 1][j + 1] = t[i][j] + 1 if x == y else max(t[i][j + 1], t[i + 1][j])
    return t[-1][-1]


def levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def paper_knn_metric(name, A, B, topk):
    na, nb = paper_knn(A, topk), paper_knn(B, topk)
    if name == "mutual_knn":
        per = [len(set(a) & set(b)) / topk for a, b in zip(na, nb)]
    elif name == "cycle_knn":  # is i among the A-neighbours of its B-neighbours
        per = [float(any(i in na[j] for j in b)) for i, b in enumerate(nb)]
    elif name == "lcs_knn":  # the mean length, not divided by topk
        per = [lcs(a, b) for a, b in zip(na, nb)]
    else:
        return 1 - np.mean([levenshtein(a, b) for a, b in zip(na, nb)]) / topk
    return float(np.mean(per))


def hsic_biased(K, L):
    H = torch.eye(len(K), dtype=K.dtype) - 1 / len(K)
    return torch.trace(K @ H @ L @ H)


def hsic_unbiased(K, L):
    """Song et al. 2012, Eq. 5, as the paper writes it."""
    m = len(K)
    Kt, Lt = K.clone().fill_diagonal_(0), L.clone().fill_diagonal_(0)
    h = (Kt * Lt.T).sum() + Kt.sum() * Lt.sum() / ((m - 1) * (m - 2)) - 2 * (Kt @ Lt).sum() / (m - 2)
    return h / (m * (m - 3))


def paper_cka(K, L, unbiased=False):
    h = hsic_unbiased if unbiased else hsic_biased
    return float(h(K, L) / torch.sqrt(h(K, K) * h(L, L)))


def paper_cknna(A, B, topk):
    K, L = A @ A.T, B @ B.T

    def masked(K, L):
        mask = torch.zeros_like(K)
        for S in (K, L):
            top = torch.topk(S.clone().fill_diagonal_(-math.inf), topk, dim=1).indices
            mask = mask + torch.zeros_like(K).scatter_(1, top, 1.0)
        mask = (mask == 2).to(K.dtype)
        return hsic_unbiased(mask * K, mask * L)
    return float(masked(K, L) / torch.sqrt(masked(K, K) * masked(L, L)))


def paper_measure(metric, A, B, topk):
    if metric.endswith("knn") and metric != "cknna":
        return paper_knn_metric(metric, A, B, topk)
    if metric == "cknna":
        return paper_cknna(A, B, topk)
    return paper_cka(A @ A.T, B @ B.T, unbiased=metric == "unbiased_cka")


def paper_prepare(feats, q=0.95, exact=False):
    """prepare_features / remove_outliers: one threshold for the whole N x L x D tensor."""
    a = feats.abs()
    t = a.flatten().sort().values[int(q * a.numel())] if exact else torch.quantile(a.flatten(1), q, dim=1).mean()
    return feats.clamp(-t, t)


def paper_compute_score(x, y, metric, topk=10):
    """compute_score on N x L x D tensors: normalised rows, the first pair scoring above the best so far (from 0)."""
    best, where = 0, None
    for i in range(x.shape[1]):
        for j in range(y.shape[1]):
            xs, ys = (torch.nn.functional.normalize(f[:, k], dim=-1) for f, k in ((x, i), (y, j)))
            s = paper_measure(metric, xs, ys, topk)
            if s > best:
                best, where = s, (i, j)
    return best, where


def close(got, want, tol=2e-6):  # printed to 6 decimals, computed in float32 here
    assert got == pytest.approx(want, abs=tol), (got, want)


def test_paper_metrics_example_matches_the_papers_formulas():
    code, lines = section("The paper's `metrics.py`")
    doc = numbers(lines)
    out, ns = printed(code)
    A, B = (ns[v].double() for v in "AB")
    for name in ("mutual_knn", "cycle_knn", "edit_distance_knn", "cknna", "lcs_knn", "cka", "unbiased_cka"):
        close(doc[name][0], paper_measure(name, A, B, 10))
    K, L = (torch.exp(-torch.cdist(X, X) ** 2 / (2 * 0.5 ** 2)) for X in (A, B))
    close(doc["rbf_cka_sigma_0.5"][0], paper_cka(K, L))
    assert numbers(out) == doc


def test_paper_compute_score_example_matches_the_papers_formulas():
    code, lines = section("The paper's `compute_score`")
    doc = numbers(lines)
    x, y = (printed(code)[1][v].double() for v in "xy")
    for key, metric, prep in (("compute_score", "mutual_knn", None), ("compute_score_cka", "cka", None),
                              ("precise_cka", "cka", True), ("stack_cka", "cka", False)):
        px, py = (f if prep is None else paper_prepare(f, exact=prep) for f in (x, y))
        best, (i, j) = paper_compute_score(px, py, metric, topk=5)
        close(doc[key][0], best)
        assert doc[key][1:] == [i, j], key
    assert doc["precise_cka"] != doc["stack_cka"] != doc["compute_score_cka"]  # the clamps differ here


def test_paper_alignment_score_example_matches_the_papers_formulas(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, lines = section("The paper's `platonic.Alignment")
    doc = numbers(lines)
    ns = printed(code)[1]
    feats, ref = ns["feats"], ns["ref"]
    best, (i, j) = paper_compute_score(paper_prepare(feats.double(), exact=True),
                                       paper_prepare(ref.double(), exact=True), "mutual_knn", topk=5)
    close(doc["Alignment.score"][0], best)
    assert doc["Alignment.score"][1:] == [i, j]
    cal = al.calibrate(feats.transpose(0, 1), ref.transpose(0, 1), "mutual_knn", k=5, n_perm=99)  # clamp="layer"
    close(doc["score"][0], cal.score)
    assert doc["score"][1:3] == list(cal.best_layers) and 0 < cal.calibrated_score
    close(doc["score"][3], cal.calibrated_score)
    assert doc["score"][4] == pytest.approx(cal.p_value, abs=5e-5)


def test_calibrated_similarity_example_agrees_with_the_package():
    doc = numbers(section("calibrated-similarity")[1])
    assert doc["ours"][0] > 0 and doc["ours"][1] < 0.05
    for key in ("calibrated-similarity", "named"):
        np.testing.assert_allclose(doc[key], doc["ours"], rtol=0, atol=1e-5)
