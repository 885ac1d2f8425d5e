"""worlds.truth, the metric-neutral ground truth: the stitching loss against explicit optimisation and sampling, its
invariances, and the Bayes decodability against every decoder and against sampled decoding."""
import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from worlds.truth import decodability, stitching_loss


@pytest.fixture
def reps():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(12))
    A = rng.standard_normal((12, 3))
    B = np.tanh(A @ rng.standard_normal((3, 4))) + 0.3 * rng.standard_normal((12, 4))
    return p, A, B


def test_stitching_loss_is_the_explicit_optimum(reps):
    p, A, B = reps
    mu = p @ B
    total = p @ ((B - mu) ** 2).sum(1)

    def loss(v):  # W (3 x 4) and b (4), optimised numerically
        W, b = v[:12].reshape(3, 4), v[12:]
        return p @ ((A @ W + b - B) ** 2).sum(1) / total

    best = minimize(loss, np.zeros(16), method="BFGS", options={"gtol": 1e-10})
    got = stitching_loss(A, B, p)
    assert 0.05 < got < 0.95 and got == pytest.approx(best.fun, abs=1e-7)
    # sampling: states drawn from p, ordinary least squares on the draws
    s = np.random.default_rng(0).choice(12, size=200_000, p=p)
    X = np.hstack([A[s], np.ones((len(s), 1))])
    resid = B[s] - X @ np.linalg.lstsq(X, B[s], rcond=None)[0]
    assert (resid ** 2).sum() / ((B[s] - B[s].mean(0)) ** 2).sum() == pytest.approx(got, abs=0.01)


def test_stitching_loss_invariances(reps):
    p, A, B = reps
    rng = np.random.default_rng(1)
    M = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    t = rng.standard_normal(4)
    base = stitching_loss(A, B, p)
    assert stitching_loss(A @ M + t[:3], B, p) == pytest.approx(base, abs=1e-12)  # any invertible affine map of A
    assert stitching_loss(A, 7.5 * B @ Q + t, p) == pytest.approx(base, abs=1e-12)  # orthogonal, scale, shift of B
    assert stitching_loss(A, B @ np.diag([1, 1, 1, 10.0]), p) != pytest.approx(base, abs=1e-3)  # not B's linear maps
    assert stitching_loss(A, A @ M + t[:3], p) < 1e-12 and stitching_loss(A @ M + t[:3], A, p) < 1e-12  # gauge
    # a lossy copy: A -> A[:, :2] costs nothing, the way back loses the third direction
    assert stitching_loss(A, A[:, :2], p) < 1e-12 and stitching_loss(A[:, :2], A, p) > 0.05
    # zero-probability states do not count, and a state split in two equal halves changes nothing
    q = np.append(p, 0.0)
    assert stitching_loss(np.vstack([A, 9 * A[:1]]), np.vstack([B, -B[:1]]), q) == pytest.approx(base, abs=1e-12)
    half = np.concatenate([p[:-1], [p[-1] / 2] * 2])
    assert stitching_loss(np.vstack([A, A[-1:]]), np.vstack([B, B[-1:]]), half) == pytest.approx(base, abs=1e-12)


def test_decodability_is_the_best_decoder():
    rng = np.random.default_rng(2)
    J = rng.dirichlet(np.ones(12)).reshape(3, 4)  # 3 states x 4 observed values
    best = max(sum(J[g[x], x] for x in range(4)) for g in itertools.product(range(3), repeat=4))
    assert decodability(J) == pytest.approx(best, abs=1e-15)
    # the MAP decoder on sampled pairs
    flat = rng.choice(12, size=200_000, p=J.ravel())
    s, x = np.divmod(flat, 4)
    assert np.mean(J.argmax(0)[x] == s) == pytest.approx(best, abs=0.005)
    # a factor (state // 2: states 0 and 1 are one value) and a representation that cannot tell values 0 and 3 apart
    f = np.array([0, 0, 1])
    assert decodability(J, factor=f) == pytest.approx(np.vstack([J[:2].sum(0), J[2]]).max(0).sum())
    F = np.array([[1.0, 0], [0, 1], [1, 1], [1, 0]])
    merged = np.column_stack([J[:, 0] + J[:, 3], J[:, 1], J[:, 2]])
    assert decodability(J, features=F) == pytest.approx(merged.max(0).sum())
    assert decodability(np.diag([0.2, 0.3, 0.5])) == pytest.approx(1.0)
    assert decodability(np.outer([0.2, 0.3, 0.5], [0.5, 0.5])) == pytest.approx(0.5)  # chance: the most likely state


def test_bad_input(reps):
    p, A, B = reps
    with pytest.raises(ValueError, match=r"'FB' parameter of stitching_loss must be a finite 2-D array with 12 rows"):
        stitching_loss(A, B[:5], p)
    with pytest.raises(ValueError, match=r"'p' parameter of stitching_loss must be 12 probabilities"):
        stitching_loss(A, B, p * 2)
    with pytest.raises(ValueError, match=r"'FB' parameter of stitching_loss must vary"):
        stitching_loss(A, np.ones((12, 2)), p)
    with pytest.raises(ValueError, match=r"'joint' parameter of decodability must be a joint law"):
        decodability(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"'factor' parameter of decodability must be 2 non-negative ints"):
        decodability(np.full((2, 2), 0.25), factor=[0.5, 1.0])
