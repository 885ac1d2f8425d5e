"""End to end: `python -m empirical.run caption_density` on a small subset (one vision model, one small LM)."""
import json

import pytest

from empirical import run


def test_caption_density_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATONIC_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cd"
    argv = ["caption_density", "--out", str(out), "--set", "vision_models=efficientnet_lite0", "--set",
            "language_models=minilm_l6", "--set", "n_samples=16", "--set", "k=3", "--set", "n_perm=3", "--set",
            "device=cpu", "--set", f"cache_dir={tmp_path / 'features'}", "--quiet"]
    assert run.main(argv) == 0
    res = json.loads((out / "results.json").read_text())["results"]
    assert res["vision_models"] == ["efficientnet_lite0"] and res["language_models"] == ["minilm_l6"]
    oc, tux = res["datasets"]["openclipart"], res["datasets"]["tuxpaint"]
    assert oc["n_samples"] == tux["n_samples"] == 16 and oc["chance"] == pytest.approx(3 / 15)
    assert [lv["density"] for lv in oc["levels"]] == ["title", "title+description", "title+description+keywords"]
    assert [lv["density"] for lv in tux["levels"]] == ["1 word", "2 words", "4 words", "full"]
    words = [lv["mean_words"] for lv in oc["levels"]]
    assert words[0] < words[1] <= words[2] and words[1] >= 5  # descriptions have >= 5 words
    assert tux["levels"][0]["mean_words"] == 1.0 and tux["levels"][1]["mean_words"] <= 2.0
    for lv in oc["levels"] + tux["levels"]:
        c = lv["pairs"][0][0]
        assert 0 <= c["score"] <= 1 and lv["mean"] == c["score"] and lv["std"] == 0.0
        assert len(c["best_layers"]) == 2 and c["n_perm"] == 3 and c["p_value"] in (0.25, 0.5, 0.75, 1.0)
        assert lv["calibrated"]["mean"] == c["calibrated_score"] and 0 <= c["calibrated_score"] <= 1
        assert 0 <= c["null_mean"] < 0.6
    assert (out / "caption_density.png").stat().st_size > 10_000
    # the cached features give the same numbers again
    assert run.main(argv) == 0
    again = json.loads((out / "results.json").read_text())["results"]
    assert again["datasets"] == res["datasets"]


def test_caption_density_rejects_bad_settings(tmp_path, capsys):
    for setting, message in (("vision_models=minilm_l6", "must list vision models only"),
                             ("datasets=coco", "'datasets' parameter of caption_density must hold only openclipart")):
        with pytest.raises(SystemExit) as exit_:
            run.main(["caption_density", "--out", str(tmp_path), "--set", setting])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_caption_density_full_run(tmp_path):
    """The default run: every openclipart image with a >= 5-word description and every Tux Paint photo, three
    EfficientNet-Lite models x four language models."""
    out = tmp_path / "cd"
    assert run.main(["caption_density", "--out", str(out), "--set", "device=cpu"]) == 0
    res = json.loads((out / "results.json").read_text())["results"]
    for which in ("openclipart", "tuxpaint"):
        d = res["datasets"][which]
        assert d["n_samples"] > 300
        for lv in d["levels"]:
            assert len(lv["pairs"]) == 3 and len(lv["pairs"][0]) == 4
            assert lv["min"] > d["chance"]  # every pair's raw score above the k-NN chance level at every density
            assert 0 <= lv["calibrated"]["mean"] < lv["mean"]  # the null's threshold lies above chance
        first, last = d["levels"][0], d["levels"][-1]
        assert last["mean"] > first["mean"] and last["calibrated"]["mean"] > first["calibrated"]["mean"]
