"""End to end: `python -m empirical.run colour` on a small subset (few photos, few colours, one small LM)."""
import json

import pytest

from empirical import run


def test_colour_experiment_end_to_end(tmp_path):
    out = tmp_path / "colour"
    argv = ["colour", "--out", str(out), "--set", "language_models=minilm_l6", "--set", "device=cpu",
            "--set", "sources=foolbox,skimage", "--set", "max_photos=8", "--set", "n_pairs=20000",
            "--set", "n_colours=16", "--set", "n_starts=2", "--set", "words=red,green,blue,yellow,black,white,grey,"
            "orange,purple,brown", "--quiet"]
    assert run.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["seed"] == 0 and res["config"]["n_colours"] == 16
    reps = res["results"]["representations"]
    assert set(reps) == {"pixel_cooccurrence", "minilm_l6"}
    vis = reps["pixel_cooccurrence"]
    assert vis["n_photos"] == 13 and vis["n_colours"] == 16  # 8 foolbox + 5 scikit-image photos
    # the photos' colour geometry is far above the shuffled-label baseline, as in the paper
    assert vis["distance_correlation"] > vis["null_q95"] + 0.2
    assert vis["procrustes_residual"] < vis["residual_null_q05"]
    lm = reps["minilm_l6"]
    assert lm["n_colours"] == 10 and -1 <= lm["distance_correlation"] <= 1 and 0 < lm["null_q95"] < 0.7
    assert len(lm["per_layer_raw_distance_correlation"]) == 7  # embeddings + 6 layers
    assert (out / "colour.png").stat().st_size > 10_000 and (out / "colour_language.png").is_file()
    # same seed, same numbers
    assert run.main(argv) == 0
    again = json.loads((out / "results.json").read_text())["results"]["representations"]
    assert again["pixel_cooccurrence"]["distance_correlation"] == vis["distance_correlation"]
    assert again["minilm_l6"]["null_q95"] == lm["null_q95"]


def test_colour_experiment_rejects_bad_settings(tmp_path, capsys):
    for setting, message in (("nope=1", "Got 'nope' instead"),
                             ("sources=flickr", "The 'sources' parameter of colour must hold only tuxpaint"),
                             ("words=red,notacolour", "notacolour")):
        with pytest.raises(SystemExit) as exit_:
            run.main(["colour", "--out", str(tmp_path), "--set", setting])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_colour_full_run(tmp_path):
    """The default run: 300,000 pixel pairs on all photos, 64 colours, three language models."""
    out = tmp_path / "colour"
    assert run.main(["colour", "--out", str(out), "--set", "device=cpu"]) == 0
    reps = json.loads((out / "results.json").read_text())["results"]["representations"]
    assert set(reps) == {"pixel_cooccurrence", "minilm_l6", "mpnet_base", "smollm2_135m"}
    vis = reps["pixel_cooccurrence"]
    assert vis["n_pairs"] == 300_000 and vis["n_colours"] == 64 and vis["n_photos"] > 300
    assert vis["distance_correlation"] > vis["null_q95"] + 0.4
    for name in ("minilm_l6", "mpnet_base", "smollm2_135m"):
        assert 0 < reps[name]["null_q95"] < 0.4 and reps[name]["n_colours"] == 20
