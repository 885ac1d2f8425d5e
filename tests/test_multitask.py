"""learners.multitask and the `multitask` experiment: the factor world's task joints, the span the tasks fix, the
population learners' freedom between seeds against its prediction, the ridge (simplicity-bias) probe, bad input, and
the experiment end to end (full run: slow)."""
import itertools
import json

import numpy as np
import pytest
import torch
from scipy.optimize import check_grad

import alignment
from learners.multitask import (
    factor_world,
    fit_multitask,
    multitask_loss,
    predicted_whitened_cka,
    task_joints,
    task_pmi,
    task_rank,
    whiten,
)
from platonic_core import experiment


@pytest.fixture(scope="module")
def small():
    """Three lazy 3-rings: N = 27 states, W = 3."""
    world, labels = factor_world(3, 3)
    return world.cooccurrence(3), labels


def cka64(a, b):
    return alignment.cka(a, b, dtype=torch.float64)


def test_factor_world_and_task_joints(small):
    P, labels = small
    assert P.shape == (27, 27) and labels.shape == (27, 3)
    assert [tuple(x) for x in labels[:4]] == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)]  # Kronecker order
    joints = task_joints(P, labels)
    for t, J in enumerate(joints):
        assert J.shape == (27, 3) and np.allclose(J.sum(1), P.sum(1)) and J.sum() == pytest.approx(1)
        K = task_pmi(J)  # independent factors: the PMI with factor t's value depends on z_t alone
        for v in range(3):
            rows = K[labels[:, t] == v]
            assert np.abs(rows - rows[0]).max() < 1e-12
    assert [task_rank(joints, list(range(n))) for n in (1, 2, 3)] == [2, 4, 6]


def test_multitask_loss_gradient(small):
    P, labels = small
    joints = task_joints(P, labels)
    x0 = np.random.default_rng(0).standard_normal(27 * 4 + 2 * 3 * 4)
    for ridge in (0.0, 0.3):
        f = lambda x: multitask_loss(x, joints, [0, 2], 4, ridge)[0]  # noqa: E731
        g = lambda x: multitask_loss(x, joints, [0, 2], 4, ridge)[1]  # noqa: E731
        assert check_grad(f, g, x0) < 1e-6 * np.linalg.norm(g(x0))


def test_more_tasks_leave_less_freedom_as_predicted(small):
    """Between seeds, the p-whitened CKA (invariant to the F -> F A the heads leave free) equals the prediction
    (r + (dim - r)^2 / (N - 1 - r)) / dim within sampling of the random directions, and rises with the tasks."""
    P, labels = small
    p = P.sum(1)
    joints = task_joints(P, labels)
    means = []
    for n in (1, 2, 3):
        fits = [fit_multitask(P, labels, list(range(n)), 7, seed=s) for s in range(4)]
        assert all(f.converged for f in fits)
        got = np.mean([cka64(whiten(a.embeddings, p), whiten(b.embeddings, p))
                       for a, b in itertools.combinations(fits, 2)])
        want = predicted_whitened_cka(task_rank(joints, list(range(n))), 7, 27)
        assert abs(got - want) < 0.03, (n, got, want)
        means.append(got)
    assert means[0] < means[1] < means[2]
    assert predicted_whitened_cka(6, 7, 27) == pytest.approx((6 + 1 / 20) / 7)


def test_a_ridge_removes_the_freedom_of_a_single_task(small):
    P, labels = small
    p = P.sum(1)
    free = [fit_multitask(P, labels, [0], 7, seed=s) for s in range(2)]
    ridge = [fit_multitask(P, labels, [0], 7, seed=s, ridge=1e-4) for s in range(2)]
    assert cka64(free[0].embeddings, free[1].embeddings) < 0.95
    assert cka64(ridge[0].embeddings, ridge[1].embeddings) > 0.9999
    assert whiten(ridge[0].embeddings, p).shape[1] == 2  # the minimum-norm solution keeps the 2 needed directions


def test_bad_input(small):
    P, labels = small
    with pytest.raises(ValueError, match="'tasks' parameter of fit_multitask must be a non-empty list of distinct"):
        fit_multitask(P, labels, [0, 0], 4)
    with pytest.raises(ValueError, match=r"'tasks\[\]' parameter of fit_multitask must be in \[0, 2\]"):
        fit_multitask(P, labels, [3], 4)
    with pytest.raises(ValueError, match="'ridge' parameter of fit_multitask must be >= 0"):
        fit_multitask(P, labels, [0], 4, ridge=-1.0)
    with pytest.raises(ValueError, match=r"'labels' parameter of task_joints must be \(N, factors\)"):
        task_joints(P, labels[:5])
    with pytest.raises(ValueError, match="'factor_states' parameter of factor_world must be >= 2"):
        factor_world(2, 1)


def test_experiment_tiny_numbers(tmp_path):
    res = experiment.run("multitask", tmp_path, quiet=True, factors=2, factor_states=3, dim=5, seeds=3,
                         ridges=[0.0, 0.0001])
    rows = res["by_tasks"]
    free = [r for r in rows if r["ridge"] == 0]
    ridge = [r for r in rows if r["ridge"] > 0]
    assert [r["tasks"] for r in free] == [1, 2] and [r["task_rank"] for r in free] == [2, 4]
    assert free[0]["seeds_whitened_cka"] < free[1]["seeds_whitened_cka"]
    for r in free:
        assert abs(r["seeds_whitened_cka"] - r["predicted_whitened_cka"]) < 0.1
    assert all(r["seeds_cka"] > 0.999 for r in ridge)
    assert free[0]["joint_cka"] < free[1]["joint_cka"]
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["results"]["by_tasks"][0]["tasks"] == 1 and "finding" in data["results"]


@pytest.mark.slow
def test_experiment_default_run(tmp_path):
    """The default run (3 factors x 4 states, dim 10, 4 seeds): whitened CKA between seeds follows the prediction
    (0.38, 0.63, 0.90) within 0.03 and rises; with the ridge the seeds agree on every task count."""
    res = experiment.run("multitask", tmp_path, quiet=True)
    free = [r for r in res["by_tasks"] if r["ridge"] == 0]
    ridge = [r for r in res["by_tasks"] if r["ridge"] > 0]
    for r in free:
        assert abs(r["seeds_whitened_cka"] - r["predicted_whitened_cka"]) < 0.03, r
    assert free[0]["seeds_whitened_cka"] < free[1]["seeds_whitened_cka"] < free[2]["seeds_whitened_cka"]
    assert free[0]["joint_cka"] < free[1]["joint_cka"] < free[2]["joint_cka"]
    assert all(r["seeds_cka"] > 0.999 and r["seeds_whitened_cka"] > 0.999 for r in ridge)
