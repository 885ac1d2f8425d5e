"""Coming from the paper's code or calibrated-similarity (issue 24, item 6): `alignment.calibrate` with a user's own
similarity function, and docs/MIGRATION.md, whose printed numbers are parsed and recomputed here."""
import numpy as np
import pytest
import torch
from support import raises, related

import alignment as al

F64 = torch.float64


def counter(seed):
    """perm_fn for calibrated_similarity: the p-th call returns alignment's p-th permutation."""
    state = {"p": 0}

    def perm_fn(n, device):
        state["p"] += 1
        return al.permutation(n, seed + state["p"] - 1, device)
    return perm_fn


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
