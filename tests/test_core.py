"""platonic_core: the shared validators and run output."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from platonic_core import checks, runio


def test_runio_writes_atomically_and_leaves_nothing_on_failure(tmp_path):
    path = runio.write_results(tmp_path / "run", {"window": 16}, {"c": np.float64(np.inf), "v": np.arange(2)}, seed=3)
    data = json.loads(path.read_text())
    assert data["results"] == {"c": "inf", "v": [0, 1]} and data["seed"] == 3 and "numpy" in data["versions"]
    assert sorted(data) == ["command", "commit", "config", "results", "seed", "summary", "timings", "versions"]
    assert (path.stat().st_mode & 0o777) != 0o600  # normal permissions, not mkstemp's

    def broken(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        runio.atomic_write(path, broken)
    assert json.loads(path.read_text()) == data  # old file intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]  # no temporary left


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_dead_writers_are_removed_live_ones_and_user_files_kept(tmp_path):
    target = tmp_path / "results.json"
    stale = tmp_path / f".results.json.{_dead_pid()}.abc123.tmp"
    live = tmp_path / f".results.json.{os.getpid()}.zzz.tmp"
    mine = tmp_path / ".results.json.notes.tmp"   # not our pattern: a user's file
    other = tmp_path / f".other.json.{_dead_pid()}.x.tmp"  # another target's: cleaned when that one is written
    for f in (stale, live, mine, other):
        f.write_text("x")
    runio.write_json(target, {"a": 1})
    assert not stale.exists()
    assert live.exists() and mine.exists() and other.exists()
    assert json.loads(target.read_text()) == {"a": 1}


def test_publish_dir_is_whole_or_absent(tmp_path):
    def fill(d):
        (d / "a.txt").write_text("1")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        runio.publish_dir(tmp_path / "set", fill)
    assert list(tmp_path.iterdir()) == []
    runio.publish_dir(tmp_path / "set", lambda d: (d / "a.txt").write_text("2"))
    assert (tmp_path / "set" / "a.txt").read_text() == "2"
    runio.publish_dir(tmp_path / "set", lambda d: (d / "a.txt").write_text("3"))  # already there: kept
    assert (tmp_path / "set" / "a.txt").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_digest_depends_on_every_part():
    a = np.arange(6.0)
    base = runio.digest({"x": 1, "y": [1, 2]}, a)
    assert base == runio.digest({"y": [1, 2], "x": 1}, a.copy())  # key order does not matter
    assert base != runio.digest({"x": 2, "y": [1, 2]}, a)
    assert base != runio.digest({"x": 1, "y": [1, 2]}, a.reshape(2, 3))  # same bytes, other shape
    assert base != runio.digest({"x": 1, "y": [1, 2]}, a.astype(np.float32))
    assert base != runio.digest({"x": 1, "y": [1, 2]}, a + 1e-12)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: checks.check_int(True, "k", "f"), TypeError, "The 'k' parameter of f must be an int. Got True (bool)"),
    (lambda: checks.check_int(3.0, "k", "f"), TypeError, "must be an int. Got 3.0 (float)"),
    (lambda: checks.check_int(0, "k", "f", 1), ValueError, "The 'k' parameter of f must be >= 1. Got 0 instead."),
    (lambda: checks.check_int(9, "k", "f", 1, 5), ValueError, "must be in [1, 5]. Got 9 instead."),
    (lambda: checks.check_int(9, "k", "f", 1, 5, hint="[1, N-1] with N=6"), ValueError,
     "must be in [1, N-1] with N=6. Got 9 instead."),
    (lambda: checks.check_real(float("nan"), "lr", "fit", 0), ValueError, "The 'lr' parameter of fit must be finite"),
    (lambda: checks.check_real(float("inf"), "lr", "fit"), ValueError, "must be finite. Got inf"),
    (lambda: checks.check_positive(0, "lr", "fit"), ValueError, "must be > 0. Got 0.0 instead."),
    (lambda: checks.check_prob(1, "p", "g", open_high=True), ValueError, "must be in [0, 1). Got 1.0 instead."),
    (lambda: checks.check_real("1", "lr", "fit"), TypeError, "must be a real number. Got '1' (str)"),
    (lambda: checks.check_bool("no", "include_self", "w"), TypeError, "must be a bool (True or False). Got 'no'"),
    (lambda: checks.check_bool(1, "include_self", "w"), TypeError, "Got 1 (int)"),
    (lambda: checks.check_choice("x", "loss", "fit", ("a", "b")), ValueError, "must be one of a, b. Got 'x'"),
    (lambda: checks.check_n_perm(1, "n_perm", "score"), ValueError,
     "The 'n_perm' parameter of score must be 0 (no null) or >= 2. Got 1 instead."),
    (lambda: checks.check_n_perm(-1, "n_perm", "score"), ValueError, "must be >= 0. Got -1 instead."),
])
def test_validators_name_parameter_constraint_and_value(call, exc, message):
    with pytest.raises(exc) as err:
        call()
    assert message in str(err.value)


def test_validators_return_converted_values(tmp_path):
    assert checks.check_int(np.int64(3), "k", "f", 1) == 3 and type(checks.check_int(np.int64(3), "k", "f")) is int
    assert checks.check_real(np.float32(0.5), "p", "f", 0, 1) == 0.5
    assert checks.check_bool(np.bool_(True), "b", "f") is True
    assert checks.check_out_dir(tmp_path / "new" / "run", "out", "cli") == tmp_path / "new" / "run"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="'out' parameter of cli must be a directory .* is a file"):
        checks.check_out_dir(tmp_path / "file" / "run", "out", "cli")


def test_gpu_script_runs_and_says_when_there_is_no_gpu():
    import torch

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["bash", str(root / "scripts" / "test_gpu.sh")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    if not torch.cuda.is_available():
        assert "CUDA: none" in out.stdout and " skipped" in out.stdout and " passed" not in out.stdout
    else:
        assert " passed" in out.stdout and " failed" not in out.stdout
