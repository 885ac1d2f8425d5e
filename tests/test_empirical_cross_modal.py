"""The experiment registry, the CLI, and an end-to-end cross_modal run on a small subset."""
import json
import subprocess
import sys

import numpy as np
import pytest

import alignment
from empirical import data, features, run
from empirical.experiments import EXPERIMENTS, register_experiment

VISION = ["efficientnet_lite0", "vit_tiny_random"]
LANGUAGE = ["minilm_l6", "smollm2_135m"]
N = 32


def test_help_lists_the_experiments():
    out = subprocess.run([sys.executable, "-m", "empirical.run", "--help"], capture_output=True, text=True, check=True)
    assert "cross_modal" in out.stdout and "bits-per-byte" in out.stdout
    assert "cross_modal" in EXPERIMENTS and "--n-samples" in out.stdout


def test_registry_rejects_bad_and_duplicate_names():
    with pytest.raises(ValueError, match="'name' parameter of register_experiment must be an identifier"):
        register_experiment("not a name")
    with pytest.raises(ValueError, match="'cross_modal' is already registered"):
        register_experiment("cross_modal")(lambda cfg: {})


def test_cli_config_parses_lists_and_options(tmp_path):
    args = run.parser().parse_args(["cross_modal", "--models", "a,b", "c", "--opt", "corpus_articles=2",
                                    "--opt", "note=text", "--out", str(tmp_path)])
    cfg = run.config(args)
    assert cfg["models"] == ["a", "b", "c"] and cfg["options"] == {"corpus_articles": 2, "note": "text"}
    assert (cfg["k"], cfg["seed"], cfg["metrics"], cfg["out"]) == (10, 0, ["mutual_knn"], tmp_path)
    with pytest.raises(SystemExit):
        run.parser().parse_args(["cross_modal", "--opt", "no_equals_sign"])


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cross_modal")
    argv = ["cross_modal", "--models", *VISION, *LANGUAGE, "--n-samples", str(N), "--permutations", "5",
            "--metrics", "mutual_knn", "cka", "--seed", "3", "--out", str(root / "out"),
            "--cache-dir", str(root / "cache"), "--opt", "corpus_articles=2", "--opt", "corpus_chars=800"]
    assert run.main(argv) == 0
    return root, argv, json.loads((root / "out" / "results.json").read_text())


def test_cross_modal_results_schema_and_ranges(small_run):
    root, _, res = small_run
    for key in ("vision_models", "language_models", "scores", "best_layers", "null", "bits_per_byte", "n_samples",
                "k"):
        assert key in res, key
    assert res["vision_models"] == VISION and res["language_models"] == LANGUAGE
    assert (res["n_samples"], res["k"], res["seed"]) == (N, 10, 3)
    layers = {"efficientnet_lite0": 17, "vit_tiny_random": 13, "minilm_l6": 7, "smollm2_135m": 31}
    for metric in ("mutual_knn", "cka"):
        s = np.array(res["scores"][metric])
        assert s.shape == (2, 2) and ((s >= 0) & (s <= 1)).all()
        for i, v in enumerate(VISION):
            for j, lang in enumerate(LANGUAGE):
                la, lb = res["best_layers"][metric][i][j]
                assert 0 <= la < layers[v] and 0 <= lb < layers[lang]
                grid = np.array(res["layer_scores"][metric][i][j])
                assert grid.shape == (layers[v], layers[lang]) and grid[la, lb] == s[i, j] == grid.max()
                c = res["null"][metric][i][j]
                assert c["n_perm"] == 5 and 0 <= c["mean"] <= 1 and c["std"] >= 0
                assert c["calibrated"] == pytest.approx(s[i, j] - c["mean"])
                assert np.isfinite(c["z"])
    # mutual_knn chance level is about k/(N-1); every null mean of a max over layer pairs sits near or above it
    assert min(c["mean"] for row in res["null"]["mutual_knn"] for c in row) > 0.8 * 10 / (N - 1)
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
    again = json.loads((root / "out" / "results.json").read_text())
    for key in ("scores", "best_layers", "null", "bits_per_byte", "bits_per_byte_captions"):
        assert again[key] == res[key]


def test_cross_modal_needs_both_modalities(tmp_path):
    with pytest.raises(ValueError, match="at least one vision and one language model"):
        EXPERIMENTS["cross_modal"]({"models": ["resnet18_random"], "out": tmp_path})
    with pytest.raises(ValueError, match="'metrics' option must name metrics"):
        EXPERIMENTS["cross_modal"]({"models": VISION + LANGUAGE, "metrics": ["nope"], "out": tmp_path})
    with pytest.raises(ValueError, match="Unknown --opt keys for cross_modal"):
        EXPERIMENTS["cross_modal"]({"models": VISION + LANGUAGE, "options": {"typo": 1}, "out": tmp_path})
