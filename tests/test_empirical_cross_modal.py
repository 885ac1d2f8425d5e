"""cross_modal end to end on a small subset: the results' schema and ranges, agreement with alignment on the
cached features, and a rerun served from the cache."""
import json

import numpy as np
import pytest

import alignment
from empirical import data, features, run

VISION = ["efficientnet_lite0", "vit_tiny_random"]
LANGUAGE = ["minilm_l6", "smollm2_135m"]
N = 32


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cross_modal")
    argv = ["cross_modal", "--set", f"vision_models={','.join(VISION)}", "--set",
            f"language_models={','.join(LANGUAGE)}", "--set", f"n_samples={N}", "--set", "n_perm=5",
            "--set", "metrics=mutual_knn,cka", "--set", "n_boot=3", "--seed", "3", "--out", str(root / "out"),
            "--set", f"cache_dir={root / 'cache'}", "--set", "corpus_articles=2", "--set", "corpus_chars=800",
            "--quiet"]
    assert run.main(argv) == 0
    saved = json.loads((root / "out" / "results.json").read_text())
    assert saved["seed"] == 3 and saved["config"]["n_samples"] == N
    return root, argv, saved["results"]


def test_cross_modal_results_schema_and_ranges(small_run):
    root, _, res = small_run
    for key in ("vision_models", "language_models", "scores", "calibrated_scores", "p_values", "best_layers", "pairs",
                "bits_per_byte", "n_samples", "k"):
        assert key in res, key
    assert res["vision_models"] == VISION and res["language_models"] == LANGUAGE
    assert (res["n_samples"], res["k"]) == (N, 10)
    layers = {"efficientnet_lite0": 17, "vit_tiny_random": 13, "minilm_l6": 7, "smollm2_135m": 31}
    for metric in ("mutual_knn", "cka"):
        s = np.array(res["scores"][metric])
        assert s.shape == (2, 2) and ((s >= 0) & (s <= 1)).all()
        for i, v in enumerate(VISION):
            for j, lang in enumerate(LANGUAGE):
                la, lb = res["best_layers"][metric][i][j]
                assert 0 <= la < layers[v] and 0 <= lb < layers[lang]
                c = res["pairs"][metric][i][j]
                grid = np.array(c["layer_scores"])
                assert grid.shape == (layers[v], layers[lang]) and grid[la, lb] == s[i, j] == grid.max()
                assert c["n_perm"] == 5 and 0 <= c["null_mean"] <= 1 and c["null_std"] >= 0 and np.isfinite(c["z"])
                # Groger et al.: p = (1 + #{null >= score}) / 6 and the threshold is the 6th smallest of 6 values
                assert c["p_value"] in [m / 6 for m in range(1, 7)] and c["threshold"] >= c["null_q95"] - 1e-12
                expected = max(0.0, (c["score"] - c["threshold"]) / (1 - c["threshold"]))
                assert c["calibrated_score"] == pytest.approx(expected, abs=1e-12)
                assert res["calibrated_scores"][metric][i][j] == c["calibrated_score"]
                assert c["ci_low"] <= c["ci_high"] and c["n_boot"] == 3
    # mutual_knn chance level is about k/(N-1); every null mean of a max over layer pairs sits near or above it
    assert min(c["null_mean"] for row in res["pairs"]["mutual_knn"] for c in row) > 0.8 * 10 / (N - 1)
    assert list(res["bits_per_byte"]) == ["smollm2_135m"]  # the only causal LM
    assert 0.3 < res["bits_per_byte"]["smollm2_135m"] < 2.0
    assert res["bits_per_byte_captions"]["smollm2_135m"] > res["bits_per_byte"]["smollm2_135m"]
    for png in ("heatmap.png", "scatter.png"):
        assert (root / "out" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cross_modal_score_equals_alignment_on_the_cached_features(small_run):
    root, _, res = small_run
    ds = data.tuxpaint().subset(N, seed=3)
    fa = features.cached("efficientnet_lite0", ds, cache_dir=root / "cache")
    fb = features.cached("minilm_l6", ds, cache_dir=root / "cache")
    direct = alignment.layerwise(fa, fb, "mutual_knn", k=10)
    assert direct.best_score == res["scores"]["mutual_knn"][0][0]
    assert list(direct.best_layers) == res["best_layers"]["mutual_knn"][0][0]


def test_cross_modal_rerun_is_identical_and_served_from_cache(small_run, monkeypatch):
    root, argv, res = small_run

    def boom(*a, **k):
        raise AssertionError("features recomputed")

    monkeypatch.setattr(features, "extract", boom)
    assert run.main(argv) == 0
    again = json.loads((root / "out" / "results.json").read_text())["results"]
    for key in ("scores", "calibrated_scores", "best_layers", "pairs", "bits_per_byte", "bits_per_byte_captions"):
        assert again[key] == res[key]


@pytest.mark.parametrize("setting, message", [
    ("vision_models=minilm_l6", "The 'vision_models' parameter of cross_modal must list vision models only"),
    ("language_models=nosuch", "Unknown model 'nosuch'"),
    ("metrics=nope", "The 'metrics' parameter of cross_modal must hold only mutual_knn"),
    ("k=0", "The 'k' parameter of cross_modal must be >= 1. Got 0"),
    ("alpha=1.5", "The 'alpha' parameter of cross_modal must be in (0, 1). Got 1.5"),
    ("n_samples=0", "The 'n_samples' parameter of cross_modal must be >= 4. Got 0"),
    ("dataset=/nonexistent", "/nonexistent"),
    ("batch_size=0", "The 'batch_size' parameter of cross_modal must be >= 1. Got 0"),
    ("device=nosuch", "'device'"),
])
def test_cross_modal_rejects_bad_settings_before_loading_any_model(setting, message, tmp_path, capsys, monkeypatch):
    from empirical import models

    def boom(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(models, "load", boom)
    with pytest.raises(SystemExit) as exit_:
        run.main(["cross_modal", "--set", setting, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()
