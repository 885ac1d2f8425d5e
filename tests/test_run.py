"""`python -m worlds.run`: the simulation experiments end to end at a tiny scale (the registry and the command line
are tested for every experiment in test_experiments.py)."""
import json
import math

import numpy as np
import pytest

from platonic_core.experiment import resolve
from platonic_core.experiment import run as run_experiment
from worlds.run import main

PNG = b"\x89PNG\r\n\x1a\n"


def _outputs(out, plots):
    data = json.loads((out / "results.json").read_text())
    for name in plots:
        assert (out / name).read_bytes()[:8] == PNG
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files
    assert sorted(data) == ["command", "commit", "config", "results", "seed", "summary", "timings", "versions"]
    assert data["versions"]["torch"]
    return data


def test_resolved_config_layers_defaults_overrides_and_options():
    cfg = resolve("capacity", {"scale": 0.5, "seed": 3, "dims": [2]})
    assert cfg["dims"] == [2] and cfg["scale"] == 0.5 and cfg["seed"] == 3 and cfg["lr"] == 0.01
    assert cfg["experiment"] == "capacity" and cfg["threads"] == 1 and cfg["fresh"] is False


def test_world_summary(tmp_path, capsys):
    assert main(["--experiment", "world", "--set", "world=ring", "--set", "window=3", "--out", str(tmp_path)]) == 0
    data = _outputs(tmp_path, ["pmi_heatmap.png"])
    res = data["results"]
    assert res["world"]["n_states"] == 64 and data["config"]["window"] == 3
    assert res["world"]["psd_able"] is False and "n_negative_eigenvalues" in capsys.readouterr().out


def test_convergence_end_to_end_and_rerun_resumes(tmp_path, capsys):
    args = ["--scale", "0.02", "--out", str(tmp_path), "--set", "evals=3"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Learned kernel vs K_PMI" in text and "Cross-modal alignment" in text
    data = _outputs(tmp_path, ["scatter.png", "alignment_curve.png"])
    res = data["results"]
    assert res["world"]["psd_able"] and data["config"]["experiment"] == "convergence"
    rows = res["learners"]
    assert [(r["loss"], r["modality"]) for r in rows] == [("infonce", "permutation"), ("infonce", "vector"),
                                                         ("nce", "permutation"), ("nce", "vector")]
    for r in rows:
        assert r["learned_pearson_offdiag"] > 0.5  # 30 steps already learn much of the kernel
        assert r["population_rel_error"] < 1e-3  # dim = N on a PSD-able world: exact
        assert r["pair_budget"] == 30 * 512
    for c in res["cross_modal"]:
        assert c["curve"]["step"][0] == 0 and c["curve"]["step"][-1] == 30
        assert c["curve"]["pearson"][-1] > c["curve"]["pearson"][0] + 0.3
    assert main(args) == 0  # every fit reloads its final checkpoint
    again = json.loads((tmp_path / "results.json").read_text())["results"]
    assert again["learners"][0]["learned_pearson_offdiag"] == rows[0]["learned_pearson_offdiag"]


def test_capacity_end_to_end(tmp_path):
    res = run_experiment("capacity", tmp_path, quiet=True, scale=0.03, dims=[1, 4, 64])
    _outputs(tmp_path, ["capacity.png"])
    gaps = [r["population_gap"] for r in res["by_dim"]]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-8
    assert res["by_dim"][2]["population_pmi_pearson"] > 0.99999
    assert res["by_dim"][0]["population_pmi_pearson"] < 0.9  # rank 1 cannot hold a torus


def test_lossy_end_to_end(tmp_path):
    res = run_experiment("lossy", tmp_path, quiet=True, scale=0.02, merges=[4], noise=[0.3])
    _outputs(tmp_path, ["lossy.png"])
    rows = {r["observation"]: r for r in res["observations"]}
    assert set(rows) == {"merge4", "shape_only", "colour_only", "noisy0.3"}
    for name in ("merge4", "shape_only", "colour_only"):  # the exact kernels satisfy the prediction exactly
        assert rows[name]["exact_cosine"] == pytest.approx(rows[name]["predicted"], abs=1e-9)
        assert 0 < rows[name]["predicted"] < 1
    assert rows["shape_only"]["n_obs"] == 8 and rows["merge4"]["n_obs"] == 16
    assert abs(res["complementary"]["exact_cosine"]) < 1e-9
    assert 0 < rows["noisy0.3"]["mi_ratio"] < 1


def test_data_end_to_end(tmp_path):
    res = run_experiment("data", tmp_path, quiet=True, scale=0.02, budgets=[500, 50000], dims=[64])
    _outputs(tmp_path, ["data.png"])
    small, large = res["by_budget"]
    assert small["pairs"] == 500 and large["pairs"] == 50000
    assert small["plugin_coverage"] < 0.5 < large["plugin_coverage"]
    assert large["plugin_rel_error"] < small["plugin_rel_error"]
    assert small["population_rel_error"] < 1e-3
    assert math.isclose(small["ratio_seen"], small["learner_rel_error_seen"] / small["plugin_rel_error"])
    assert np.isfinite(large["learner_rel_error"])
