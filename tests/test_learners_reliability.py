"""learners.fit reliability: resume keyed on content, FitConfig, run-dir ownership, interrupt-and-resume equality
(SIGKILL included), safe checkpoint loading, and every option checked before Lightning starts. Tiny worlds, short
runs (a few seconds each)."""
import dataclasses
import importlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

import worlds
from learners import ConfigMismatch, ContrastiveModule, FitConfig, PairDataModule, fit, info_nce, population_optimum
from learners.encoders import critic, make_encoder

fit_module = importlib.import_module("learners.fit")  # `learners.fit` is the function
population_module = importlib.import_module("learners.population")
ROOT = Path(__file__).resolve().parents[1]
KW = dict(dim=4, window=2, max_steps=20, batch_size=32, eval_every=5, log_every=5, ckpt_every=10)


@pytest.fixture(scope="module")
def ring():
    return worlds.make_world("ring", n_states=8)


def _same_history(a: dict, b: dict):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name]["step"] == b[name]["step"], name
        assert np.allclose(a[name]["value"], b[name]["value"], rtol=0, atol=1e-9), name


def _same_snapshots(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    assert all(np.allclose(a[s], b[s], rtol=0, atol=1e-9) for s in a)


# --- 1. the resume key holds the world's and observation's content -----------------------------------------------

def test_resume_refuses_a_checkpoint_of_another_worlds_content(tmp_path):
    lazy5, lazy1 = (worlds.make_world("ring", n_states=8, lazy=v) for v in (0.5, 0.1))
    obs = worlds.Permutation(8)
    first = fit(lazy5, obs, run_dir=tmp_path, **KW)
    with pytest.raises(ConfigMismatch, match=r"differs in \['world_digest'\]\).*transition matrix.*resume=False"):
        fit(lazy1, obs, run_dir=tmp_path, **KW)
    again = fit(lazy1, obs, run_dir=tmp_path, resume=False, **KW)
    fresh = fit(lazy1, obs, **KW)
    assert np.array_equal(again.kernel, fresh.kernel)
    assert np.abs(again.kernel - first.kernel).max() > 1e-3


@pytest.mark.parametrize("make", [lambda s: worlds.Permutation(8, seed=s), lambda s: worlds.VectorCode(8, seed=s)])
def test_resume_refuses_a_checkpoint_of_another_observation_content(ring, tmp_path, make):
    fit(ring, make(0), run_dir=tmp_path, **KW)
    with pytest.raises(ConfigMismatch, match=r"differs in \['observation_digest'\]\).*perm, vectors, token_ids"):
        fit(ring, make(1), run_dir=tmp_path, **KW)


# --- 2. FitConfig -------------------------------------------------------------------------------------------------

def test_fit_config_and_keywords_train_the_same(ring):
    cfg = FitConfig(**KW)
    by_config = fit(ring, worlds.Permutation(8), config=cfg)
    by_keywords = fit(ring, worlds.Permutation(8), **KW)
    assert np.array_equal(by_config.kernel, by_keywords.kernel)
    assert by_config.config == by_keywords.config and by_config.fit_config == cfg
    assert cfg.resolved()["warmup"] == 2 and cfg.warmup is None  # resolved, not stored: replace() re-derives
    assert dataclasses.replace(cfg, max_steps=1000).resolved()["warmup"] == 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0
    with pytest.raises(ValueError, match=r"^The 'lr' parameter of fit must be > 0. Got 0.0 instead.$"):
        FitConfig(lr=0)
    with pytest.raises(TypeError, match=r"either as config=FitConfig\(...\) or as keywords, not both.*\['lr'\]"):
        fit(ring, worlds.Permutation(8), config=cfg, lr=0.1)


def test_resume_key_is_every_fitconfig_field_but_the_free_ones():
    names = {f.name for f in dataclasses.fields(FitConfig)}
    assert set(fit_module.RESUME_FREE) == {"resume", "verbose", "progress_bar", "tensorboard", "accelerator",
                                           "threads", "ckpt_every", "eval_every", "log_every"}
    # objective_kw is keyed only when not empty, so the keys of runs made before it existed still match
    assert set(FitConfig().resume_fields()) == names - set(fit_module.RESUME_FREE) - {"objective_kw"}
    assert "objective_kw" in FitConfig(loss="vicreg", objective_kw={"cov": 30.0}).resume_fields()
    base = FitConfig()
    for f in dataclasses.fields(FitConfig):  # each keyed field changes the key; each free one does not
        other = {"loss": "nce", "encoder": "embedding", "encoder_kw": {"init_std": 0.2}, "data": "pairs",
                 "n_pairs": 1000, "length": 10, "include_self": False, "batch_size": 64, "negatives": 2,
                 "p_pos": 0.4, "learn_bias": True, "tau": 0.5, "symmetric": True, "normalize": True, "lr": 0.02,
                 "weight_decay": 0.1, "warmup": 7, "max_steps": 999, "min_lr": 0.001, "seed": 3, "eval_every": 3,
                 "log_every": 3, "ckpt_every": 3, "resume": False, "accelerator": "cpu", "devices": 2,
                 "strategy": "ddp", "num_nodes": 2, "precision": "bf16-mixed", "threads": 2, "verbose": True,
                 "progress_bar": True, "tensorboard": True,
                 "trainer_kw": {"gradient_clip_val": 1.0}, "dim": 8, "window": 3, "objective_kw": {"cov": 30.0}}[f.name]
        changes = {f.name: other, **{"learn_bias": {"loss": "nce"}, "data": {"n_pairs": 1000},
                                     "objective_kw": {"loss": "vicreg"}}.get(f.name, {})}
        cfg = dataclasses.replace(base, **changes)
        assert (cfg.resume_fields() != base.resume_fields()) == (f.name not in fit_module.RESUME_FREE), f.name


def test_free_options_resume_and_keyed_ones_refuse(ring, tmp_path):
    obs = worlds.Permutation(8)
    first = fit(ring, obs, run_dir=tmp_path, **KW)
    again = fit(ring, obs, run_dir=tmp_path, **{**KW, "eval_every": 2, "log_every": 7, "ckpt_every": 3})
    assert np.array_equal(again.kernel, first.kernel)  # a finished run reloads
    with pytest.raises(ConfigMismatch, match=r"differs in \['min_lr', 'precision'\]"):
        fit(ring, obs, run_dir=tmp_path, **{**KW, "min_lr": 0.001, "precision": "64-true"})


def test_fit_and_population_take_k_pmi_from_worlds(ring, monkeypatch):
    calls = []

    def spy(P):
        calls.append(P.shape)
        return worlds.pmi_kernel(P)

    monkeypatch.setattr(fit_module, "pmi_kernel", spy)
    monkeypatch.setattr(population_module, "pmi_kernel", spy)
    r = fit(ring, worlds.Permutation(8), **{**KW, "max_steps": 5})
    assert np.array_equal(r.target, worlds.pmi_kernel(r.cooccurrence))
    opt = population_optimum(ring.cooccurrence(2), dim=2, max_iter=5)
    assert np.array_equal(opt.target, worlds.pmi_kernel(ring.cooccurrence(2)))
    assert calls == [(8, 8), (8, 8)]


# --- 3. fit deletes only what it made -----------------------------------------------------------------------------

def test_a_run_dir_fit_did_not_make_is_refused(ring, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "important.txt").write_text("mine too")
    with pytest.raises(ValueError, match=r"must be a new or empty directory, or one that fit made .*"
                                         r"\['logs', 'notes.txt'\].*pass another run_dir"):
        fit(ring, worlds.Permutation(8), run_dir=tmp_path, **KW)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["important.txt", "logs", "notes.txt"]
    (tmp_path / "config.json").write_text(json.dumps({"lr": 0.1}))  # someone else's config.json
    with pytest.raises(ValueError, match="must be a new or empty directory"):
        fit(ring, worlds.Permutation(8), run_dir=tmp_path, resume=False, **KW)


def test_starting_afresh_touches_only_fits_own_files(ring, tmp_path):
    obs = worlds.Permutation(8)
    fit(ring, obs, run_dir=tmp_path, **KW)
    mine = {"logs/important.txt": "a", "checkpoints/mine.txt": "b", "logs/version_0/notes.txt": "c",
            "results.json": "{}"}
    for name, text in mine.items():
        (tmp_path / name).write_text(text)
    r = fit(ring, obs, run_dir=tmp_path, resume=False, **{**KW, "max_steps": 10})
    assert {name: (tmp_path / name).read_text() for name in mine} == mine
    assert r.history["pearson"]["step"] == [0, 5, 10]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.ckpt", "mine.txt", "step10.ckpt"]
    assert not (tmp_path / "logs" / "version_0" / "metrics.csv").exists()
    with np.load(tmp_path / "snapshots.npz") as z:
        assert z["steps"].tolist() == [0, 5, 10]
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["made_by"] == fit_module.MARKER and len(saved["resume_key"]) == 20 and saved["max_steps"] == 10


def test_run_dir_of_an_older_fit_is_restarted_not_resumed(ring, tmp_path):
    fit(ring, worlds.Permutation(8), run_dir=tmp_path, **KW)
    old = json.loads((tmp_path / "config.json").read_text())
    legacy = {k: v for k, v in old.items() if k not in ("made_by", "resume_key", "world_digest",
                                                         "observation_digest")}
    (tmp_path / "config.json").write_text(json.dumps(legacy))
    with pytest.raises(ConfigMismatch, match="older version of fit.*resume=False"):
        fit(ring, worlds.Permutation(8), run_dir=tmp_path, **KW)
    fit(ring, worlds.Permutation(8), run_dir=tmp_path, resume=False, **KW)
    assert json.loads((tmp_path / "config.json").read_text())["made_by"] == fit_module.MARKER


# --- 4. interrupt and resume: the same history, snapshots and kernel ----------------------------------------------

SIGKILL_SCRIPT = """
import os, signal, sys
import pytorch_lightning as pl, torch, worlds
from learners import fit

class Kill(pl.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 27:
            os.kill(os.getpid(), signal.SIGKILL)

torch.set_num_threads(1)
fit(worlds.make_world("ring", n_states=8), worlds.Permutation(8), run_dir=sys.argv[1], callbacks=[Kill()],
    **{kw})
"""


def test_sigkilled_fit_resumes_to_the_uninterrupted_history_snapshots_and_kernel(ring, tmp_path):
    """The CSV logger buffers rows, so a killed attempt loses them: the history must come from the checkpoint."""
    kw = {**KW, "max_steps": 40, "eval_every": 4, "log_every": 30}
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(SIGKILL_SCRIPT).replace("{kw}", repr(kw)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "cut")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    assert (tmp_path / "cut" / "checkpoints" / "last.ckpt").exists()
    full = fit(ring, worlds.Permutation(8), run_dir=tmp_path / "full", **kw)
    resumed = fit(ring, worlds.Permutation(8), run_dir=tmp_path / "cut", **kw)
    assert full.history["pearson"]["step"] == list(range(0, 41, 4))
    _same_history(resumed.history, full.history)
    _same_snapshots(resumed.snapshots, full.snapshots)
    assert np.abs(resumed.kernel - full.kernel).max() < 1e-6
    with np.load(tmp_path / "cut" / "snapshots.npz") as z:
        assert z["steps"].tolist() == sorted(full.snapshots)


class _Abort(pl.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 15:
            raise RuntimeError("aborted")


def test_a_ragged_metrics_csv_does_not_break_resume(ring, tmp_path):
    full = fit(ring, worlds.Permutation(8), run_dir=tmp_path / "full", **KW)
    with pytest.raises(RuntimeError, match="aborted"):
        fit(ring, worlds.Permutation(8), run_dir=tmp_path / "cut", callbacks=[_Abort()], **KW)
    csv = tmp_path / "cut" / "logs" / "version_0" / "metrics.csv"
    text = csv.read_text() if csv.exists() else "epoch,loss,pearson,step\n"
    csv.write_text(text + "0,1.5,0.2,14,9,9\n0,1.5\n")  # a row cut by a kill during Lightning's rewrite
    resumed = fit(ring, worlds.Permutation(8), run_dir=tmp_path / "cut", **KW)
    assert full.history["loss"]["step"] == [4, 9, 14, 19]
    _same_history(resumed.history, full.history)
    _same_snapshots(resumed.snapshots, full.snapshots)
    assert np.abs(resumed.kernel - full.kernel).max() < 1e-6
    again = fit(ring, worlds.Permutation(8), run_dir=tmp_path / "cut", **KW)  # and every later rerun
    _same_history(again.history, full.history)


# --- 5. checkpoints load with weights_only=True whatever the environment -----------------------------------------

class _Planted:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_a_planted_pickle_never_runs(ring, tmp_path, monkeypatch):
    run = tmp_path / "run"
    fit(ring, worlds.Permutation(8), run_dir=run, **KW)
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "evil": _Planted(str(marker))}, run / "checkpoints" / "last.ckpt")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(ValueError, match=r"checkpoint '.*last\.ckpt' .*weights_only=True.*resume=False"):
        fit(ring, worlds.Permutation(8), run_dir=run, **KW)
    assert not marker.exists()
    r = fit(ring, worlds.Permutation(8), run_dir=run, resume=False, **KW)
    assert not marker.exists() and r.history["pearson"]["step"] == [0, 5, 10, 15, 20]


def test_lightning_loads_checkpoints_with_weights_only(ring, tmp_path, monkeypatch):
    seen = []
    original = pl.Trainer.fit

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "fit", spy)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(RuntimeError, match="aborted"):
        fit(ring, worlds.Permutation(8), run_dir=tmp_path, callbacks=[_Abort()], **KW)
    r = fit(ring, worlds.Permutation(8), run_dir=tmp_path, **KW)  # resumes from step 10
    assert seen == [True, True] and r.history["pearson"]["step"] == [0, 5, 10, 15, 20]


# --- 6. every option checked, before any work ---------------------------------------------------------------------

BAD = [
    ({"min_lr": math.nan}, ValueError, "The 'min_lr' parameter of fit must be finite. Got nan instead."),
    ({"min_lr": -1e-3}, ValueError, "The 'min_lr' parameter of fit must be in [0, 0.01]. Got -0.001 instead."),
    ({"min_lr": 0.1}, ValueError, "The 'min_lr' parameter of fit must be in [0, 0.01]. Got 0.1 instead."),
    ({"log_every": 0}, ValueError, "The 'log_every' parameter of fit must be >= 1. Got 0 instead."),
    ({"eval_every": 0}, ValueError, "The 'eval_every' parameter of fit must be >= 1. Got 0 instead."),
    ({"ckpt_every": 0}, ValueError, "The 'ckpt_every' parameter of fit must be >= 1. Got 0 instead."),
    ({"encoder_kw": {"init_std": 0}}, ValueError,
     "The 'init_std' parameter of EmbeddingEncoder must be > 0. Got 0.0 instead."),
    ({"encoder_kw": {"init_std": 0.1, "hidden": 8}}, TypeError,
     "The 'encoder_kw' parameter of fit must hold only options of the 'embedding' encoder (EmbeddingEncoder takes "
     "init_std). Got unknown keys ['hidden'] instead."),
    ({"include_self": "yes"}, TypeError, "The 'include_self' parameter of fit must be a bool"),
    ({"learn_bias": 1, "loss": "nce"}, TypeError, "The 'learn_bias' parameter of fit must be a bool"),
    ({"symmetric": 1}, TypeError, "The 'symmetric' parameter of fit must be a bool"),
    ({"normalize": "no"}, TypeError, "The 'normalize' parameter of fit must be a bool"),
    ({"resume": 0}, TypeError, "The 'resume' parameter of fit must be a bool"),
    ({"verbose": None}, TypeError, "The 'verbose' parameter of fit must be a bool"),
    ({"lr": -0.1}, ValueError, "The 'lr' parameter of fit must be > 0. Got -0.1 instead."),
    ({"weight_decay": -0.1}, ValueError, "The 'weight_decay' parameter of fit must be >= 0. Got -0.1 instead."),
    ({"batch_size": 1}, ValueError, "The 'batch_size' parameter of fit must be >= 2. Got 1 instead."),
    ({"negatives": -1}, ValueError, "The 'negatives' parameter of fit must be >= 0. Got -1 instead."),
    ({"data": "pairs", "n_pairs": 0}, ValueError, "The 'n_pairs' parameter of fit must be >= 1. Got 0 instead."),
    ({"data": "pairs"}, ValueError, "The 'n_pairs' parameter of fit must be set with data='pairs'. Got None"),
    ({"data": "trajectory", "length": 1}, ValueError, "The 'length' parameter of fit must be >= 2. Got 1 instead."),
    ({"warmup": -1}, ValueError, "The 'warmup' parameter of fit must be >= 0. Got -1 instead."),
    ({"seed": -1}, ValueError, "The 'seed' parameter of fit must be in [0, 4294967295]. Got -1 instead."),
    ({"dim": 0}, ValueError, "The 'dim' parameter of fit must be >= 1. Got 0 instead."),
    ({"window": -1}, ValueError, "The 'window' parameter of fit must be >= 0. Got -1 instead."),
    ({"window": 0, "include_self": False}, ValueError,
     "The 'window' parameter of fit must be >= 1 when include_self=False (no pairs are left). Got 0 instead."),
    ({"max_step": 5}, TypeError, "The 'max_step' parameter of fit is neither an option of fit (see FitConfig) nor a "
     "pl.Trainer argument (did you mean 'max_steps'?)."),
    ({"trainer_kw": {"logger": False}}, TypeError, "The 'logger' parameter of fit is a pl.Trainer argument that "
     "fit sets itself"),
    ({"accelerator": "tpu"}, ValueError, "The 'accelerator' parameter of fit must be a value pl.Trainer accepts"),
    ({"devices": 2, "accelerator": "cpu", "strategy": "ddp", "batch_size": 33}, ValueError,
     "The 'batch_size' parameter of fit must be divisible by the number of processes (2). Got 33 instead."),
]


@pytest.mark.parametrize("kw,exc,message", BAD, ids=[",".join(k) for k, _, _ in BAD])
def test_bad_options_fail_before_lightning_and_before_any_write(ring, tmp_path, monkeypatch, kw, exc, message):
    monkeypatch.setattr(pl.Trainer, "fit", lambda *a, **k: pytest.fail("Lightning started"))
    with pytest.raises(exc) as err:
        fit(ring, worlds.Permutation(8), run_dir=tmp_path / "run", **{**KW, **kw})
    assert str(err.value).startswith(message), str(err.value)
    assert not (tmp_path / "run").exists()


def test_a_refused_call_leaves_the_run_dir_untouched(ring, tmp_path):
    fit(ring, worlds.Permutation(8), run_dir=tmp_path, **KW)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for bad in ({"accelerator": "tpu"}, {"encoder_kw": {"init_std": -1.0}}, {"window": 1, "max_step": 3}):
        with pytest.raises(Exception):  # noqa: B017  (before the fix: a raw error after clearing the run dir)
            fit(ring, worlds.Permutation(8), run_dir=tmp_path, resume=False, **{**KW, **bad})
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_bool_and_range_checks_across_learners(ring):
    obs = worlds.Permutation(8)
    enc = make_encoder(obs, 4)
    with pytest.raises(TypeError, match="The 'symmetric' parameter of ContrastiveModule must be a bool"):
        ContrastiveModule(enc, symmetric=1)
    with pytest.raises(TypeError, match="The 'learn_bias' parameter of ContrastiveModule must be a bool"):
        ContrastiveModule(enc, loss="nce", learn_bias="yes")
    with pytest.raises(ValueError, match=r"The 'min_lr' parameter of ContrastiveModule must be in \[0, 0.01\]"):
        ContrastiveModule(enc, min_lr=-1.0)
    with pytest.raises(ValueError, match="The 'weight_decay' parameter of ContrastiveModule must be >= 0"):
        ContrastiveModule(enc, weight_decay=-1.0)
    with pytest.raises(TypeError, match="The 'include_self' parameter of PairDataModule must be a bool"):
        PairDataModule(ring, obs, 2, include_self=1)
    with pytest.raises(ValueError, match="The 'seed' parameter of PairDataModule must be >= 0"):
        PairDataModule(ring, obs, 2, seed=-1)
    P = ring.cooccurrence(2)
    with pytest.raises(TypeError, match="The 'learn_bias' parameter of population_optimum must be a bool"):
        population_optimum(P, "nce", learn_bias=1)
    with pytest.raises(ValueError, match="The 'max_iter' parameter of population_optimum must be >= 1. Got 0"):
        population_optimum(P, max_iter=0)
    with pytest.raises(ValueError, match="The 'tol' parameter of population_optimum must be >= 0. Got -1.0"):
        population_optimum(P, tol=-1.0)
    with pytest.raises(TypeError, match="The 'symmetric' parameter of info_nce must be a bool"):
        info_nce(torch.zeros(3, 3), symmetric=1)
    with pytest.raises(TypeError, match="The 'normalize' parameter of critic must be a bool"):
        critic(torch.ones(2, 3), torch.ones(2, 3), normalize=1)
    with pytest.raises(ValueError, match="The 'heads' parameter of TextEncoder must divide width=6. Got 4"):
        make_encoder(worlds.TokenCode(8, length=2, vocab_size=3), 4, width=6, heads=4)


def test_damaged_run_dir_files_are_named_with_the_remedy(ring, tmp_path):
    obs = worlds.Permutation(8)
    fit(ring, obs, run_dir=tmp_path, **KW)
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:200])  # cut short
    with pytest.raises(ValueError, match=r"checkpoint '.*last\.ckpt' in the run_dir of fit cannot be loaded.*"
                                         r"resume=False.*or delete the run dir"):
        fit(ring, obs, run_dir=tmp_path, **KW)
    fit(ring, obs, run_dir=tmp_path, resume=False, **KW)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json that cannot be read \(.*config\.json: .*resume=False.*"
                                         r"delete the run dir"):
        fit(ring, obs, run_dir=tmp_path, **KW)
    r = fit(ring, obs, run_dir=tmp_path, resume=False, **KW)
    assert json.loads((tmp_path / "config.json").read_text())["made_by"] == fit_module.MARKER
    assert r.history["pearson"]["step"] == [0, 5, 10, 15, 20]
