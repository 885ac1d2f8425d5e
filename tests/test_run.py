"""`python -m worlds.run`: the experiment registry and CLI, and each experiment end to end at a tiny scale."""
import json
import math

import numpy as np
import pytest
import torch

from worlds.run import main, resolve, run_experiment

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _outputs(out, plots):
    data = json.loads((out / "results.json").read_text())
    for name in plots:
        assert (out / name).read_bytes()[:8] == PNG
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files
    assert data["versions"]["torch"] and data["config"]["scale"] > 0
    return data


def test_help_lists_experiments_and_worlds(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for name in ("convergence", "capacity", "lossy", "data", "world", "torus", "product", "--scale", "--seed"):
        assert name in text


def test_unknown_experiment_and_override(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--experiment", "nope"])
    assert exc.value.code == 2
    assert "unknown experiment 'nope'; valid: convergence, capacity, lossy, data, world" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'experiment' parameter of worlds.run must be one of"):
        run_experiment("nope")
    with pytest.raises(ValueError, match=r"names keys \['stepz'\] that experiment 'convergence' does not have"):
        resolve("convergence", overrides={"stepz": 3})
    with pytest.raises(ValueError, match="'scale' parameter of worlds.run must be > 0. Got 0"):
        resolve("capacity", scale=0)
    with pytest.raises(SystemExit):
        main(["--experiment", "data", "--world", "moon"])
    assert "unknown world 'moon'" in capsys.readouterr().err


def test_resolved_config_layers_defaults_overrides_and_options():
    cfg = resolve("capacity", scale=0.5, seed=3, overrides={"dims": [2]})
    assert cfg["dims"] == [2] and cfg["scale"] == 0.5 and cfg["seed"] == 3 and cfg["lr"] == 0.01


def test_world_summary(tmp_path, capsys):
    res = main(["--experiment", "world", "--world", "ring", "--window", "3", "--out", str(tmp_path)])
    data = _outputs(tmp_path, ["pmi_heatmap.png"])
    assert data["results"]["world"]["n_states"] == 64 and data["config"]["window"] == 3
    assert res["world"]["psd_able"] is False and "n_negative_eigenvalues" in capsys.readouterr().out


def test_convergence_end_to_end_and_rerun_resumes(tmp_path, capsys):
    args = ["--scale", "0.02", "--out", str(tmp_path), "--set", "evals=3"]
    res = main(args)
    text = capsys.readouterr().out
    assert "Learned kernel vs K_PMI" in text and "Cross-modal alignment" in text
    data = _outputs(tmp_path, ["scatter.png", "alignment_curve.png"])
    assert data["results"]["world"]["psd_able"] and data["config"]["experiment"] == "convergence"
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
    again = main(args)  # every fit reloads its final checkpoint
    assert again["learners"][0]["learned_pearson_offdiag"] == rows[0]["learned_pearson_offdiag"]


def test_capacity_end_to_end(tmp_path):
    res = run_experiment("capacity", scale=0.03, out=tmp_path, overrides={"dims": [1, 4, 64]}, quiet=True)
    _outputs(tmp_path, ["capacity.png"])
    gaps = [r["population_gap"] for r in res["by_dim"]]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-8
    assert res["by_dim"][2]["population_pmi_pearson"] > 0.99999
    assert res["by_dim"][0]["population_pmi_pearson"] < 0.9  # rank 1 cannot hold a torus


def test_lossy_end_to_end(tmp_path):
    res = run_experiment("lossy", scale=0.02, out=tmp_path, overrides={"merges": [4], "noise": [0.3]}, quiet=True)
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
    res = run_experiment("data", scale=0.02, out=tmp_path, overrides={"budgets": [500, 50000], "dims": [64]},
                         quiet=True)
    _outputs(tmp_path, ["data.png"])
    small, large = res["by_budget"]
    assert small["pairs"] == 500 and large["pairs"] == 50000
    assert small["plugin_coverage"] < 0.5 < large["plugin_coverage"]
    assert large["plugin_rel_error"] < small["plugin_rel_error"]
    assert small["population_rel_error"] < 1e-3
    assert math.isclose(small["ratio_seen"], small["learner_rel_error_seen"] / small["plugin_rel_error"])
    assert np.isfinite(large["learner_rel_error"])
