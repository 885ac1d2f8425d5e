"""End to end: `python -m empirical.run vision_vision` on a small subset (three small vision models)."""
import json

import numpy as np
import pytest

from empirical import run


def test_vision_vision_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATONIC_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "vv"
    models = ["efficientnet_lite0", "random:efficientnet_lite0", "resnet18_random"]
    argv = ["vision_vision", "--out", str(out), "--set", f"models={','.join(models)}", "--set", "n_samples=20",
            "--set", "k=3", "--set", "n_perm=3", "--set", "device=cpu", "--set", "train_per_class=4", "--set",
            "test_per_class=2", "--set", "n_bins=2", "--quiet"]
    assert run.main(argv) == 0
    res = json.loads((out / "results.json").read_text())["results"]
    assert res["models"] == models and res["n_photos"] == 20
    assert res["probe_sizes"] == {"fashion_train": 40, "fashion_test": 20, "cifar10": 20}
    a = np.array(res["alignment"])
    assert a.shape == (3, 3) and np.allclose(a, a.T) and np.allclose(np.diag(a), 1)
    off = a[np.triu_indices(3, 1)]
    assert ((off >= 0) & (off < 1)).all()
    for m in models:
        p = res["probes"][m]
        assert 0 <= p["fashion_mnist"]["accuracy"] <= 1 and p["fashion_mnist"]["chance"] == pytest.approx(0.1)
        assert p["competence"] == pytest.approx((p["fashion_mnist"]["accuracy"] + p["cifar10"]["accuracy"]) / 2)
    # the pretrained model's features separate Fashion-MNIST classes better than chance, even from 4 per class
    assert res["probes"]["efficientnet_lite0"]["fashion_mnist"]["accuracy"] >= 0.4
    assert sorted(len(b["models"]) for b in res["bins"]) == [1, 2]
    assert len(res["pairs"]) == 3 and res["bins_of"] == "calibrated_alignment"
    cal = np.array(res["calibrated_alignment"])
    for (i, j), (key, c) in zip([(0, 1), (0, 2), (1, 2)], res["pairs"].items()):
        assert key == f"{models[i]}|{models[j]}" and c["n_perm"] == 3 and a[i, j] == c["score"]
        assert cal[i, j] == cal[j, i] == c["calibrated_score"] and c["p_value"] in (0.25, 0.5, 0.75, 1.0)
    assert (out / "vision_vision.png").stat().st_size > 10_000


def test_vision_vision_rejects_language_models_and_bad_options(tmp_path, capsys):
    for setting, message in (("models=efficientnet_lite0,minilm_l6", "must list vision models only"),
                             ("models=efficientnet_lite0", "must list at least 2 model name(s)"),
                             ("train_per_class=1", "The 'train_per_class' parameter of vision_vision must be >= 2")):
        with pytest.raises(SystemExit) as exit_:
            run.main(["vision_vision", "--out", str(tmp_path), "--set", setting])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_vision_vision_full_run(tmp_path):
    """The default six models (three pretrained, three random-initialised) on all Tux Paint photos."""
    out = tmp_path / "vv"
    assert run.main(["vision_vision", "--out", str(out), "--set", "device=cpu"]) == 0
    res = json.loads((out / "results.json").read_text())["results"]
    acc = {m: p["fashion_mnist"]["accuracy"] for m, p in res["probes"].items()}
    pretrained = [acc[f"efficientnet_lite{i}"] for i in range(3)]
    random = [acc[m] for m in res["models"] if "random" in m]
    assert min(pretrained) > max(random)  # ImageNet training makes better linear features than random weights
    assert len(res["bins"]) == 2 and all(b["n_pairs"] == 3 for b in res["bins"])
