"""Issue 20 (reliability round 3), the empirical side: figures that show what they say, user errors found by
`check` as one line before any work, hf: splits of saved datasets, garbage GGUF files, the asset installer."""
import numpy as np
import pytest

from empirical.experiments import colour


def _reps(langs):
    rng = np.random.default_rng(0)
    r = lambda n: {"reference": rng.normal(size=(n, 3)), "embedding": rng.normal(size=(n, 3)),  # noqa: E731
                   "rgb": rng.uniform(size=(n, 3)), "labels": None, "distance_correlation": rng.uniform(),
                   "null_q95": 0.1, "procrustes_residual": 0.5}
    reps = {"pixel_cooccurrence": r(8)}
    for name in langs:
        reps[name] = {**r(5), "labels": [f"w{i}" for i in range(5)]}
    return reps


def test_colour_language_figure_has_a_panel_per_language_model(tmp_path):
    figs = colour.figures(_reps(["lm_a", "lm_b", "lm_c"]))
    assert sorted(figs) == ["colour.png", "colour_language.png"]
    assert len(figs["colour.png"].axes) == 3  # CIELAB, pixels, the best language model
    lang = figs["colour_language.png"]
    assert len(lang.axes) == 4 and [ax.get_title().split("\n")[0] for ax in lang.axes[1:]] == ["lm_a", "lm_b", "lm_c"]
    assert colour._plot(_reps(["lm_a", "lm_b"]), tmp_path) == ["colour.png", "colour_language.png"]
    assert (tmp_path / "colour.png").read_bytes() != (tmp_path / "colour_language.png").read_bytes()


def test_colour_without_language_models_draws_one_figure(tmp_path):
    figs = colour.figures(_reps([]))
    assert list(figs) == ["colour.png"] and len(figs["colour.png"].axes) == 2
    assert colour._plot(_reps([]), tmp_path) == ["colour.png"] and not (tmp_path / "colour_language.png").exists()
