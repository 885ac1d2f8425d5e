"""learners.fit's loggers: the CSV log always, TensorBoard on request (an optional package), and only fit's own files
removed when it starts afresh."""
import importlib
import struct

import numpy as np
import pytest

import worlds
from learners import fit

KW = dict(dim=8, max_steps=40, eval_every=10, log_every=10)


def _scalars(run_dir):
    """{tag: [(step, value), ...]} from the TensorBoard event files under run_dir/tensorboard (TFRecord framing:
    length, crc, record, crc)."""
    from tensorboardX.proto import event_pb2

    out = {}
    for path in sorted((run_dir / "tensorboard").rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_tensorboard_logs_the_same_pearson_series_as_the_history(tmp_path):
    w = worlds.make_world("torus")
    r = fit(w, worlds.Permutation(64), run_dir=tmp_path / "run", tensorboard=True, **KW)
    tb = _scalars(tmp_path / "run")
    steps, values = zip(*tb["pearson"])
    assert list(steps) == r.history["pearson"]["step"] == [0, 10, 20, 30, 40]
    np.testing.assert_allclose(values, r.history["pearson"]["value"], rtol=1e-6)
    assert "loss" in tb and (tmp_path / "run" / "logs").is_dir()  # the CSV log is still written


def test_tensorboard_is_optional_and_refused_up_front_without_it(tmp_path, monkeypatch):
    module = importlib.import_module("learners.fit")  # `learners.fit` is the function
    monkeypatch.setattr(module, "_tensorboard_available", lambda: False)
    with pytest.raises(ValueError, match="'tensorboard' parameter of fit must be False unless the tensorboard"):
        fit(worlds.make_world("torus"), worlds.Permutation(64), run_dir=tmp_path / "run", tensorboard=True, **KW)
    assert not (tmp_path / "run").exists()


def test_tensorboard_does_not_change_the_resume_key_and_afresh_removes_only_fits_files(tmp_path):
    w, obs = worlds.make_world("torus"), worlds.Permutation(64)
    first = fit(w, obs, run_dir=tmp_path / "run", tensorboard=True, **KW)
    again = fit(w, obs, run_dir=tmp_path / "run", **KW)  # a free option: resumes the finished run
    np.testing.assert_array_equal(first.kernel, again.kernel)
    mine = tmp_path / "run" / "tensorboard" / "notes.txt"
    mine.write_text("a user's file")
    fit(w, obs, run_dir=tmp_path / "run", resume=False, **KW)
    assert mine.read_text() == "a user's file"
    assert not list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
