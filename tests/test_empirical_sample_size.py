"""Issue 11, item 6: the sample_size experiment's subsets and checks (the run itself: tests/test_experiments.py)."""
import numpy as np
import pytest

from empirical.experiments import sample_size
from platonic_core import experiment


def test_subsets_are_nested_seeded_and_sorted():
    plan = sample_size.subsets(50, [10, 20], draws=3, seed=4, full=True)
    assert [(n, d) for n, d, _ in plan] == [(10, 0), (10, 1), (10, 2), (20, 0), (20, 1), (20, 2), (50, 0)]
    by = {(n, d): idx for n, d, idx in plan}
    for d in range(3):
        assert set(by[10, d]) < set(by[20, d])  # draw d's smaller subset lies inside its larger one
        assert list(by[10, d]) == sorted(by[10, d]) and len(set(by[20, d])) == 20
    assert not np.array_equal(by[10, 0], by[10, 1])
    again = sample_size.subsets(50, [10, 20], draws=3, seed=4, full=True)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(plan, again))
    assert [n for n, _, _ in sample_size.subsets(20, [10, 20], 2, 0, True)] == [10, 10, 20, 20]  # no extra full


@pytest.mark.parametrize("overrides, message", [
    (dict(pairs=["efficientnet_lite0"]), "'pairs' parameter of sample_size must hold 'MODEL_A|MODEL_B' strings"),
    (dict(pairs=["minilm_l6|minilm_l6"]), "must list distinct models"),
    (dict(pairs=["a|b"]), "Unknown model 'a'"),
    (dict(sizes=[8], k=10), r"'sizes\[0\]' parameter of sample_size must be >= 11"),
    (dict(sizes=[64, 32]), "must be increasing sizes, each once"),
    (dict(sizes=[], full=False), "list a size"),
    (dict(n_perm=0), "'n_perm' parameter of sample_size must be >= 1"),
])
def test_bad_settings_are_errors_before_any_work(overrides, message):
    with pytest.raises(ValueError, match=message):
        experiment.resolve("sample_size", overrides)
