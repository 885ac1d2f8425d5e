"""alignment.prepare, alignment.layerwise and alignment.calibrate; `import alignment` stays light."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import alignment as al

F64 = torch.float64


def stack(seed, n, widths, shared=1.0):
    """Layers sharing a latent z with weights growing with depth, plus noise."""
    rs = np.random.RandomState(seed)
    z = rs.randn(n, 6)
    return [np.hstack([shared * (i + 1) / len(widths) * z @ rs.randn(6, 6), rs.randn(n, w - 6)])
            for i, w in enumerate(widths)]


def test_prepare_clamps_at_the_quantile_of_abs_and_normalises_rows():
    rs = np.random.RandomState(0)
    X = rs.standard_t(2, size=(50, 13))  # heavy tails, so the clamp bites
    for q in (0.95, 0.5, 1.0):
        t = np.quantile(np.abs(X), q)
        want = np.clip(X, -t, t)
        got = al.prepare(X, q=q, normalize=False, dtype=F64).numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        assert np.abs(got).max() == pytest.approx(t, abs=1e-12)
        unit = al.prepare(X, q=q, dtype=F64).numpy()
        np.testing.assert_allclose(unit, want / np.linalg.norm(want, axis=1, keepdims=True), rtol=0, atol=1e-12)
    assert (np.abs(X) > np.quantile(np.abs(X), 0.95)).sum() > 0


def test_layerwise_result_fields():
    fa, fb = stack(1, 60, [8, 10, 12]), stack(2, 60, [9, 11])
    fb = [fb[0], fa[1][:, :7] + 0.01 * np.random.RandomState(3).randn(60, 7)]  # a near copy of layer 1 of a
    res = al.layerwise(fa, fb, "mutual_knn", k=5)
    assert res.scores.shape == (3, 2)
    assert res.best_score == res.scores.max()
    assert res.best_layers == tuple(np.unravel_index(res.scores.argmax(), res.scores.shape))
    assert res.best_layers == (1, 1)
    assert res.metric == "mutual_knn" and res.params == {"k": 5, "knn": "exact"}


def test_layerwise_accepts_an_l_by_n_by_d_array():
    fa, fb = stack(4, 40, [9, 9, 9]), stack(5, 40, [7, 7])
    listed = al.layerwise(fa, fb, "cka")
    stacked = al.layerwise(np.stack(fa), torch.tensor(np.stack(fb)), "cka")
    np.testing.assert_array_equal(listed.scores, stacked.scores)


@pytest.mark.parametrize("name", ["cknna", "cycle_knn", "svcca", "unbiased_cka"])
def test_layerwise_matches_single_calls_on_prepared_layers(name):
    fa, fb = stack(6, 50, [8, 12]), stack(7, 50, [10, 9, 14])
    kw = {"cca_dim": 5} if name == "svcca" else ({"k": 6} if "k" in al.PARAMS[name] else {})
    res = al.layerwise(fa, fb, name, **kw)
    prep = (lambda X: al.prepare(X, normalize=False)) if name.endswith("_knn") else al.prepare
    for i, a in enumerate(fa):
        for j, b in enumerate(fb):
            assert res.scores[i, j] == pytest.approx(al.measure(name, prep(a), prep(b), **kw), abs=1e-12)


def test_calibrate_single_pair_null_is_the_shuffled_score():
    rs = np.random.RandomState(8)
    A, B = rs.randn(300, 20), rs.randn(300, 30)
    B[:, :5] += A[:, :5]
    cal = al.calibrate(A, B, "mutual_knn", k=10, n_perm=6, seed=3)
    want = [al.mutual_knn(A, B[al.permutation(300, 3 + p).numpy()], k=10) for p in range(6)]
    np.testing.assert_array_equal(cal.null, want)
    assert cal.score == al.mutual_knn(A, B, k=10)
    assert cal.null_mean == pytest.approx(np.mean(want), abs=1e-15)
    assert cal.null_std == pytest.approx(np.std(want, ddof=1), abs=1e-15)
    assert cal.above_null_mean == pytest.approx(cal.score - np.mean(want), abs=1e-15)
    assert cal.z == pytest.approx((cal.score - np.mean(want)) / np.std(want, ddof=1), rel=1e-12)
    assert abs(cal.null_mean - 10 / 299) < 0.01  # shuffled rows are at chance
    assert cal.z > 4 and cal.best_layers is None and cal.scores is None  # shared columns lift it above chance
    again = al.calibrate(A, B, "mutual_knn", k=10, n_perm=6, seed=3)
    np.testing.assert_array_equal(again.null, cal.null)


def test_calibrate_sweep_null_is_the_max_of_the_shuffled_sweep():
    fa, fb = stack(9, 80, [8, 10, 12]), stack(10, 80, [9, 11])
    cal = al.calibrate(fa, fb, "cknna", k=8, n_perm=4, seed=0)
    res = al.layerwise(fa, fb, "cknna", k=8)
    assert cal.score == res.best_score and cal.best_layers == res.best_layers
    np.testing.assert_array_equal(cal.scores, res.scores)
    for p in range(4):
        perm = al.permutation(80, p).numpy()
        assert cal.null[p] == al.layerwise(fa, [b[perm] for b in fb], "cknna", k=8).scores.max()


def test_max_over_layer_pairs_inflates_the_null():
    rs = np.random.RandomState(11)
    fa = [rs.randn(150, 16) for _ in range(3)]
    fb = [rs.randn(150, 16) for _ in range(3)]
    single = al.calibrate(fa[0], fb[0], "mutual_knn", k=5, n_perm=5)
    sweep = al.calibrate(fa, fb, "mutual_knn", k=5, n_perm=5)
    # one null score has sd ~ 0.007, so the max of 9 sits ~0.01 above chance; the mean of 5 has sd ~ 0.003
    assert sweep.null_mean - single.null_mean > 0.004
    assert abs(single.null_mean - 5 / 149) < 0.008


def test_calibrate_z_when_the_null_has_no_spread():
    # one-hot B: its centred kernel H is invariant to row permutations, so every shuffle scores alike; the score
    # itself may differ by rounding (0.42878240 vs 0.42878244 in float32 with both kernels N x N), which once gave
    # z = -inf
    A = np.random.RandomState(1).randn(20, 5)
    cal = al.calibrate(A, np.eye(20), "cka", n_perm=3)
    assert cal.null_std == 0.0 and cal.null_mean == cal.null[0]
    assert abs(cal.above_null_mean) < 1e-6 and cal.z == 0.0
    assert al.calibrate(A, np.eye(20), "cka", n_perm=3, dtype=F64).z == 0.0


def test_import_alignment_stays_light():
    code = ("import sys, alignment\n"
            "heavy = ('transformers', 'timm', 'worlds', 'learners', 'empirical', 'lightning', 'pytorch_lightning')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "[]"
