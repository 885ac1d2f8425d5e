"""Issue 20 (reliability round 3), the runner and report part: settings that share a name with the runner's own
parameters, report.html and the runs index reading or linking what they should not, a damaged results.json
stopping the index, seeds beyond what the seeding takes, and durable atomic writes."""
import base64
import json
import os
import sys
import types

import pytest
from support import cli

from platonic_core import experiment, report, runio
from test_experiments import TINY

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
TINY_BANK = ["--set", "models=vit_tiny_random", "--set", "n_samples=12", "--set", "device=cpu"]




# ------------------------------------------------------------------ item 1: a setting called name (or out)

def test_a_named_bank_is_built_and_scored_from_the_command_line_and_from_python(tmp_path, monkeypatch, capsys):
    # a named bank goes to cache_root()/banks; tiny models that need no conversion keep a private cache cheap
    monkeypatch.setenv("PLATONIC_CACHE", str(tmp_path / "cache"))
    code, out, err = cli(["bank", *TINY_BANK, "--set", "name=mine", "--out", str(tmp_path / "bank"), "--quiet"],
                         "empirical", capsys)
    assert (code, err) == (0, "")
    built = json.loads((tmp_path / "bank" / "results.json").read_text())
    assert built["config"]["name"] == "mine" and built["results"]["reference"] == "bank:mine"
    assert (tmp_path / "cache" / "banks" / "mine" / "vit_tiny_random_pool-auto.pt").is_file()
    code, _, err = cli(["score", "--set", "features=vit_tiny_random", "--set", "references=bank:mine", "--set",
                        "k=3", "--set", "n_perm=2", "--set", "device=cpu", "--out", str(tmp_path / "cli"),
                        "--quiet"], "empirical", capsys)
    assert (code, err) == (0, "")
    by_cli = json.loads((tmp_path / "cli" / "results.json").read_text())["results"]["references"]
    assert by_cli["vit_tiny_random_pool-auto"]["best_score"] == 1.0  # the model against its own features

    res = experiment.run("bank", tmp_path / "bank2", quiet=True, name="mine2", models=["vit_tiny_random"],
                         n_samples=12, device="cpu")
    assert res["reference"] == "bank:mine2"
    py = experiment.run("score", tmp_path / "py", quiet=True, features="vit_tiny_random", references=["bank:mine2"],
                        k=3, n_perm=2, device="cpu")
    ours, theirs = py["references"]["vit_tiny_random_pool-auto"], by_cli["vit_tiny_random_pool-auto"]
    assert [ours[k] for k in ("scores", "null", "p_value")] == [theirs[k] for k in ("scores", "null", "p_value")]


def test_no_experiment_may_take_a_setting_the_runner_keeps_for_itself(monkeypatch):
    assert all(not set(experiment.get(n).load().DEFAULTS) & set(experiment.RUNNER_OPTIONS)
               for n in experiment.names())
    fake = types.ModuleType("fake_quiet_experiment")
    fake.DEFAULTS = {"quiet": 1, "kind": "x"}
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setitem(experiment.registry(), "fake", experiment.Experiment("fake", "simulation", fake.__name__))
    with pytest.raises(TypeError, match=r"The settings of fake must avoid the runner's own options \(quiet, kind\)"
                                        r"\. Got 'kind', 'quiet' instead\."):
        experiment.resolve("fake")


# ------------------------------------------------------------------ item 2: report.html embeds only the run's files

def _results(run_dir, plots, **extra):
    run_dir.mkdir(parents=True, exist_ok=True)
    return runio.write_results(run_dir, {"experiment": "custom", "out": str(run_dir)},
                               {"value": 0.5, "plots": plots, **extra}, seed=0)


def test_report_embeds_only_regular_files_inside_the_run_folder(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG + b"SECRET")
    run = tmp_path / "run"
    (run / "sub").mkdir(parents=True)
    (run / "ok.png").write_bytes(PNG + b"OK")
    (run / "sub" / "deep.png").write_bytes(PNG + b"DEEP")
    (run / "inside.png").symlink_to(run / "ok.png")
    (run / "out.png").symlink_to(secret)
    (run / "sub" / "up.png").symlink_to("../../secret.png")
    (run / "dir.png").mkdir()
    plots = ["ok.png", "sub/deep.png", "inside.png", str(secret), "../secret.png", "out.png", "sub/up.png",
             "dir.png", "missing.png", "/etc/passwd"]
    _results(run, plots)
    page = report.write_report(run).read_text()
    assert base64.b64encode(PNG + b"SECRET").decode() not in page and "root:" not in page
    shown = [base64.b64encode(PNG + x).decode() for x in (b"OK", b"DEEP")]
    assert all(s in page for s in shown) and page.count("<img") == 3  # ok, deep and the symlink to ok
    refused = page.split("Not shown (missing, or not a file inside the run folder): ", 1)[1].split("</p>", 1)[0]
    assert refused.split(", ") == [str(secret), "../secret.png", "out.png", "sub/up.png", "dir.png", "missing.png",
                                   "/etc/passwd"]


# ------------------------------------------------------------------ items 3 and 4: the runs index

def test_index_links_are_quoted_relative_paths(tmp_path):
    for name in ("javascript:alert(1)", "a b#?&\"'<x>", "plain"):
        _results(tmp_path / name, [])
    page = report.write_index(tmp_path).read_text()
    hrefs = sorted(page.split('href="')[i].split('"', 1)[0] for i in range(1, 4))
    assert hrefs == ["./a%20b%23%3F%26%22%27%3Cx%3E/report.html", "./javascript%3Aalert%281%29/report.html",
                     "./plain/report.html"]
    assert "href=\"javascript" not in page and "&lt;x&gt;" in page  # the text shows the name, escaped


BAD = ["{not json", "[1, 2]", '{"results": [1]}', '{"results": {"plots": "a.png"}}',
       '{"config": {"experiment": "cross_modal"}, "results": {}}']  # the last: its headline finds no pairs


@pytest.mark.parametrize("content", BAD)
def test_a_bad_results_json_is_skipped_with_one_line_and_the_index_written(tmp_path, capsys, content):
    _results(tmp_path / "good", [])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text(content)
    assert report.main([str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"warning: skipped {tmp_path / 'bad' / 'results.json'}: ")
    page = (tmp_path / "index.html").read_text()
    assert "./good/report.html" in page and "./bad/" not in page and "1 runs" in page


def test_odd_but_readable_values_are_listed(tmp_path, capsys):
    _results(tmp_path / "a", [])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results.json").write_text('{"config": {"experiment": 3}, "timings": {"started": 5}}')
    report.write_index(tmp_path)
    assert capsys.readouterr().err == "" and "2 runs" in (tmp_path / "index.html").read_text()


# ------------------------------------------------------------------ item 5: seeds

@pytest.mark.parametrize("seed", [2 ** 62 - 2 ** 31 + 1, 2 ** 62 + 1, 2 ** 64])
def test_a_seed_beyond_what_seeding_takes_is_one_line_before_any_work(seed, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(["world", "--set", "window=2", "--seed", str(seed)], "simulation", capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert (f"The 'seed' parameter of world must be in [0, 2^62 - 2^31] (alignment takes seeds up to 2^62, "
            f"and runs derive seeds seed + i). Got {seed} instead.") in err
    assert not (tmp_path / "runs").exists()


def test_the_largest_seed_runs_where_alignment_draws_seed_plus_i(tmp_path):
    seed = experiment.SEED_MAX
    res = experiment.run("metric_validity", tmp_path, quiet=True, seed=seed,
                         **{**TINY["metric_validity"], "n_samples": [20], "ks": [3], "repeats": 2})
    assert json.loads((tmp_path / "results.json").read_text())["seed"] == seed and res["plots"]


# ------------------------------------------------------------------ item 6: durable atomic writes

def test_atomic_write_flushes_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def spy_replace(a, b):
        events.append(("replace", str(a)))
        replace(a, b)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    path = runio.atomic_write_bytes(tmp_path / "f.bin", b"data")
    assert path.read_bytes() == b"data"
    (_, tmp), (what, renamed), folder = events
    assert (what, renamed) == ("replace", tmp) and os.path.basename(tmp).startswith(".f.bin.")
    assert folder == ("fsync", str(tmp_path))
