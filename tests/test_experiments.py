"""Every registered experiment, simulation and empirical, through the one runner and command line: its settings
are listed by `--help NAME`, a bad setting exits 2 with one line before any work, and a tiny configuration runs
end to end and writes results.json in the one schema."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import cli

from platonic_core import experiment
from platonic_core.experiment import main

# A configuration of each experiment that runs in seconds (the models are the small random or packaged ones).
TINY = {
    "convergence": {"scale": 0.01, "evals": 2},
    "capacity": {"scale": 0.02, "dims": [2]},
    "data": {"scale": 0.02, "budgets": [600], "dims": [8]},
    "lossy": {"scale": 0.02, "merges": [4], "noise": [], "drops": False},
    "fit": {"max_steps": 20, "dim": 8},
    "world": {"window": 2},
    "objectives": {"scale": 0.02, "objectives": ["infonce", "spectral", "regression"], "modalities": ["permutation"],
                   "n_perm": 2},
    "multitask": {"factors": 2, "factor_states": 3, "dim": 5, "seeds": 2, "ridges": [0.0]},
    "metric_validity": {"factor_states": 4, "dim": 4, "gauges": 3, "other_worlds": 1, "merges": [2, 4],
                        "noise": [0.3], "n_samples": [40], "ks": [5], "repeats": 1, "n_perm": 2, "bootstrap": 100},
    "cross_modal": {"vision_models": ["vit_tiny_random"], "language_models": ["minilm_l6"], "n_samples": 12,
                    "k": 3, "n_perm": 2, "device": "cpu"},
    "caption_density": {"vision_models": ["vit_tiny_random"], "language_models": ["minilm_l6"],
                        "datasets": ["tuxpaint"], "n_samples": 12, "k": 3, "n_perm": 0, "device": "cpu"},
    "vision_vision": {"models": ["vit_tiny_random", "resnet18_random"], "n_samples": 12, "k": 3, "n_perm": 0,
                      "train_per_class": 2, "test_per_class": 1, "cifar_folds": 2, "device": "cpu"},
    "colour": {"language_models": [], "sources": ["skimage"], "n_pairs": 2000, "n_colours": 8, "n_starts": 1,
               "n_perm": 10, "device": "cpu"},
    "bank": {"models": ["vit_tiny_random", "minilm_l6"], "n_samples": 12, "device": "cpu"},
    "score": {"features": "vit_tiny_random", "references": ["resnet18_random", "minilm_l6"], "dataset": "tuxpaint",
              "n_samples": 12, "k": 3, "n_perm": 2, "device": "cpu"},
    "sample_size": {"pairs": ["vit_tiny_random|minilm_l6"], "sizes": [8], "n_samples": 12, "draws": 2, "k": 3,
                    "n_perm": 2, "device": "cpu"},
}
NAMES = experiment.names()


def _cli(kind):
    return "worlds.run" if kind == "simulation" else "empirical.run"


def _main(name, argv, capsys):
    """Run the command line of `name`'s kind in-process: (exit status, stdout, stderr)."""
    return cli(argv, experiment.get(name).kind, capsys)


def test_every_experiment_has_a_tiny_configuration():
    assert sorted(TINY) == sorted(NAMES)
    assert set(experiment.names("simulation")) == {"convergence", "capacity", "data", "lossy", "fit", "world",
                                                   "objectives", "multitask", "metric_validity"}


def test_listing_and_settings_import_no_torch():
    code = ("import sys; from platonic_core import experiment as e; "
            "[(x.description, x.defaults, e.describe(n)) for n, x in e.registry().items()]; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", NAMES)
def test_help_name_lists_every_setting_with_its_value(name, capsys):
    code, out, _ = _main(name, ["--help", name], capsys)
    assert code == 0
    shown = out.split("DEFAULTS = ", 1)[1].split("\n}\n", 1)[0] + "\n}"
    assert ast.literal_eval(shown) == experiment.get(name).load().DEFAULTS
    for key, value in experiment.RUN_DEFAULTS.items():
        assert f"{key!r}: {value!r}" in out


@pytest.mark.parametrize("name", NAMES)
def test_unknown_key_and_wrong_type_exit_2_with_one_line(name, capsys, tmp_path):
    code, out, err = _main(name, [name, "--set", "no_such_key=1", "--out", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "'no_such_key'" in err and "Traceback" not in err
    key, default = next((k, v) for k, v in experiment.get(name).load().DEFAULTS.items() if isinstance(v, int)
                        and not isinstance(v, bool))
    code, _, err = _main(name, [name, "--set", f"{key}=abc", "--out", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and f"The '{key}' parameter of {name} must be an int" in err
    assert list(tmp_path.iterdir()) == []  # nothing started


@pytest.mark.parametrize("name", NAMES)
def test_tiny_configuration_runs_and_writes_the_one_schema(name, tmp_path):
    settings = dict(TINY[name])
    if "cache_dir" in experiment.get(name).defaults:
        settings["cache_dir"] = str(tmp_path / "cache")
    results = experiment.run(name, tmp_path / "out", quiet=True, **settings)
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sorted(data) == ["command", "commit", "config", "results", "seed", "summary", "timings", "versions"]
    assert data["config"]["experiment"] == name and data["seed"] == 0
    assert set(experiment.get(name).defaults) <= set(data["config"])
    assert {k: data["config"][k] for k in settings} == settings
    assert data["results"] == json.loads(json.dumps(experiment.runio.jsonable(results)))
    for plot in results["plots"]:
        assert (tmp_path / "out" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_run_options_apply_only_where_they_mean_something(capsys, tmp_path):
    code, _, err = _main("cross_modal", ["cross_modal", "--scale", "2", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--scale" in err and "no 'scale' setting" in err
    code, _, err = _main("fit", ["fit", "--set", "n_pairs=100", "--out", str(tmp_path)], capsys)
    assert code == 2 and "'n_pairs' parameter of fit must be None unless data='pairs'" in err
    code, _, err = _main("convergence", ["--set", "lr=0.01", "--out", str(tmp_path)], capsys)
    assert code == 2 and "The 'lr' parameter of convergence must be a dict" in err


def test_the_other_kind_is_named_with_its_command(capsys):
    code, _, err = _main("convergence", ["cross_modal"], capsys)
    assert code == 2 and "python -m empirical.run cross_modal" in err


def test_set_values_parse_as_literals_lists_and_strings():
    assert experiment.parse_value("3", 1) == 3 and experiment.parse_value("true", False) is True
    assert experiment.parse_value("a,b", ["x"]) == ["a", "b"] and experiment.parse_value("[1, 2]", [1]) == [1, 2]
    assert experiment.parse_value("ring", "torus") == "ring" and experiment.parse_value("'3'", "x") == "3"
    assert experiment.parse_value("null", None, int) is None and experiment.parse_value("7", None, int) == 7


@pytest.mark.parametrize("script, kind", [("platonic-sim", "simulation"), ("platonic-empirical", "empirical")])
def test_console_scripts(script, kind):
    exe = Path(sys.executable).parent / script
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    assert all(n in out for n in experiment.names(kind))


# Issue 10, item 8: the command-line cases that ended in tracebacks. Each exits 2 with one line, before any work.
def _afile(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    return str(f)


CLI_ERRORS = [
    ("simulation", ["--set", "evals=0"], "The 'evals' parameter of convergence must be >= 1. Got 0"),
    ("simulation", ["--set", "lr=0.01"], "The 'lr' parameter of convergence must be a dict"),
    ("simulation", ["--set", "modalities=['x']"], "The 'modalities' parameter of convergence must hold only"),
    ("simulation", ["--set", "window=abc"], "The 'window' parameter of convergence must be an int. Got 'abc'"),
    ("simulation", ["--out", _afile], "The 'out' parameter of convergence must be a directory"),
    ("simulation", ["world", "--seed", "-1", "--set", "world=dirichlet"],
     "The 'seed' parameter of world must be in [0, 2^62 - 2^31]"),
    ("simulation", ["--scale", "inf"], "The 'scale' parameter of convergence must be finite"),
    ("simulation", ["--threads", "0"], "The 'threads' parameter of convergence must be >= 1. Got 0"),
    ("simulation", ["fit", "--set", "dim=0"], "The 'dim' parameter of fit must be >= 1. Got 0"),
    ("simulation", ["fit", "--set", "lr=0"], "The 'lr' parameter of fit must be > 0. Got 0"),
    ("simulation", ["fit", "--seed", "-1"], "The 'seed' parameter of fit must be in [0, 2^62 - 2^31] (alignment"),
    ("simulation", ["world", "--set", "include_self=maybe"], "The 'include_self' parameter of world must be a bool"),
    ("empirical", ["cross_modal", "--set", "vision_models=nosuch"], "Unknown model 'nosuch'"),
    ("empirical", ["cross_modal", "--set", "dataset=/nonexistent"], "/nonexistent"),
    ("empirical", ["cross_modal", "--set", "dataset="], "The 'dataset' parameter of cross_modal must be a non-empty"),
    ("empirical", ["cross_modal", "--set", "k=0"], "The 'k' parameter of cross_modal must be >= 1. Got 0"),
    ("empirical", ["cross_modal", "--out", _afile], "The 'out' parameter of cross_modal must be a directory"),
    ("empirical", ["cross_modal", "--set", "n_perm=-1"], "The 'n_perm' parameter of cross_modal must be >= 0"),
    ("empirical", ["cross_modal", "--set", "n_samples=0"], "The 'n_samples' parameter of cross_modal must be >= 4"),
    ("empirical", ["cross_modal", "--set", "batch_size=0"], "The 'batch_size' parameter of cross_modal must be >= 1"),
    ("empirical", ["cross_modal", "--set", "device=nosuch"], "The 'device' parameter of cross_modal"),
    ("empirical", ["cross_modal", "--set", "dtype=float8"], "The 'dtype' parameter of cross_modal"),
    ("empirical", ["cross_modal", "--set", "bpb_max_length=0"], "The 'bpb_max_length' parameter of cross_modal"),
    # sizes that would exhaust memory while checking (found by fuzzing every setting)
    ("simulation", ["capacity", "--set", "seeds=1000000000000"],
     "The 'seeds' parameter of capacity must be in [2, 1000]. Got 1000000000000"),
    ("simulation", ["multitask", "--set", "factors=1000000000000"],
     "The 'factors' parameter of multitask must give at most 1024 states (factor_states^factors = 4^1000000000000)"),
]


@pytest.mark.parametrize("kind, argv, message", CLI_ERRORS, ids=[" ".join(getattr(a, "__name__", a) for a in c[1]) for c in CLI_ERRORS])
def test_user_errors_exit_2_with_one_line(kind, argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a run that wrongly started would write runs/ here
    argv = [a(tmp_path) if callable(a) else a for a in argv]
    with pytest.raises(SystemExit) as exit_:
        main(argv, kind=kind)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()


def test_a_missing_optional_library_is_a_user_error(tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else
                        find_spec(name, *a))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["cross_modal", "--set", "quantization=4bit"], kind="empirical")
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1, err
    assert "The 'quantization' parameter of cross_modal must name a quantization whose library is installed" in err
    assert "pip install bitsandbytes" in err and not (tmp_path / "runs").exists()


def test_a_user_error_is_one_line_without_traceback_from_the_shell(tmp_path):
    for module in ("worlds.run", "learners"):
        out = subprocess.run([sys.executable, "-m", module, "--set", "no_such=1"], capture_output=True, text=True,
                             cwd=tmp_path)
        assert out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1, out.stderr
        assert "Traceback" not in out.stderr and "'no_such'" in out.stderr
        assert out.stderr.startswith(f"python -m {module}: error: ")  # the command the user typed
