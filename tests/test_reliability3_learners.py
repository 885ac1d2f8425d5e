"""Issue 20, learners side: Trainer options and metric_validity's device checked before any work (one line, exit 2 on
the command line), a rerun of `fit` into a folder of other settings refused in the command line's terms (--fresh),
and fit's own torch thread count (default 1) applied during the call and restored after it. Tiny worlds, short runs."""
import importlib
import json

import pytest
import pytorch_lightning as pl
import torch

import worlds
from learners import ConfigMismatch, FitConfig, fit
from learners.experiments import _common
from platonic_core.experiment import main, resolve

fit_module = importlib.import_module("learners.fit")  # `learners.fit` is the function
KW = dict(dim=4, window=2, max_steps=4, batch_size=16, eval_every=2, log_every=2, ckpt_every=2)
CLI = ["--set", "world=ring", "--set", "dim=4", "--set", "window=2", "--set", "batch_size=16", "--set", "max_steps=2"]


@pytest.fixture(scope="module")
def ring():
    return worlds.make_world("ring", n_states=8)


@pytest.fixture
def no_gpu(monkeypatch):
    """A CPU-only machine, as Lightning and fit see it (both count GPUs through torch.cuda.device_count)."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _cli_error(capsys, argv) -> str:
    """The one stderr line of a command-line user error (exit status 2)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv, kind="simulation", prog="python -m learners")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------- item 6: Trainer options and devices, found early

BAD_HARDWARE = [
    ({"devices": 0}, ValueError, "The 'devices' parameter of fit must be a value pl.Trainer accepts on this machine "
     "with accelerator='auto', strategy='auto', precision='32-true', num_nodes=1 (this machine has no CUDA GPUs; "
     "pl.Trainer: `Trainer(devices=0)` value is not a valid input using cpu accelerator.). Got 0 instead."),
    ({"devices": True}, TypeError, "The 'devices' parameter of fit must be an int, 'auto', a string such as '0,1' or a "
     "list of GPU indices. Got True (bool) instead."),
    ({"devices": [0]}, ValueError, "The 'devices' parameter of fit must be a value pl.Trainer accepts"),
    ({"strategy": "bogus"}, ValueError, "The 'strategy' parameter of fit must be a value pl.Trainer accepts"),
    ({"strategy": "fsdp"}, ValueError, "The 'strategy' parameter of fit must be a value pl.Trainer accepts"),
    ({"precision": "33"}, ValueError, "The 'precision' parameter of fit must be a value pl.Trainer accepts"),
    ({"precision": "16-mixed"}, ValueError, "The 'precision' parameter of fit must be 'bf16-mixed', '32-true' or "
     "'64-true' on the CPU (fp16 mixed precision needs a CUDA GPU; this machine has no CUDA GPUs). Got '16-mixed' "
     "instead."),
    ({"accelerator": "gpu"}, ValueError, "The 'accelerator' parameter of fit must be a value pl.Trainer accepts"),
    ({"accelerator": "cuda", "devices": [0]}, ValueError, "The 'accelerator' parameter of fit must be a value "
     "pl.Trainer accepts on this machine with strategy='auto', precision='32-true', devices=[0], num_nodes=1"),
    ({"num_nodes": 2, "batch_size": 33}, ValueError,
     "The 'batch_size' parameter of fit must be divisible by the number of processes (2). Got 33 instead."),
    ({"threads": 0}, ValueError, "The 'threads' parameter of fit must be >= 1. Got 0 instead."),
]


@pytest.mark.parametrize("kw,exc,message", BAD_HARDWARE, ids=[repr(k) for k, _, _ in BAD_HARDWARE])
def test_fitconfig_refuses_what_this_machine_cannot_run_naming_the_option(no_gpu, kw, exc, message):
    with pytest.raises(exc) as err:
        FitConfig(**kw)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)
    if isinstance(err.value, ValueError) and "pl.Trainer accepts" in message:
        assert "this machine has no CUDA GPUs" in str(err.value)


def test_fitconfig_accepts_what_lightning_runs_here():
    for kw in ({"accelerator": "cpu", "devices": 2, "strategy": "ddp"}, {"precision": "bf16-mixed"},
               {"precision": "64-true"}, {"devices": "auto"}, {"num_nodes": 2}, {"threads": 2}):
        assert all(getattr(FitConfig(**kw), k) == v for k, v in kw.items())


def test_parsing_the_options_changes_no_global_state():
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    FitConfig(accelerator="cpu", devices=2, strategy="ddp", precision="bf16-mixed")
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == flags


@pytest.mark.parametrize("setting,start", [
    ("devices=0", "The 'devices' parameter of fit must be a value pl.Trainer accepts"),
    ("strategy=bogus", "The 'strategy' parameter of fit must be a value pl.Trainer accepts"),
    ("precision=33", "The 'precision' parameter of fit must be a value pl.Trainer accepts"),
    ("accelerator=cuda", "The 'accelerator' parameter of fit must be a value pl.Trainer accepts"),
    ("num_nodes=3", "The 'batch_size' parameter of fit must be divisible by the number of processes (3)."),
])
def test_fit_command_refuses_bad_trainer_options_before_any_work(capsys, tmp_path, monkeypatch, no_gpu, setting,
                                                                  start):
    monkeypatch.setattr(pl.Trainer, "fit", lambda *a, **k: pytest.fail("Lightning started"))
    err = _cli_error(capsys, ["fit", *CLI, "--set", setting, "--out", str(tmp_path / "run")])
    assert err.startswith(f"python -m learners: error: {start}"), err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("device,got", [("cuda", "'cuda'"), ("cuda:1", "'cuda:1'"),
                                        ("gpu", "'gpu' (not a device name)"), ("meta", "'meta'")])
def test_metric_validity_refuses_a_device_this_machine_lacks(capsys, tmp_path, no_gpu, device, got):
    err = _cli_error(capsys, ["metric_validity", "--set", f"device={device}", "--out", str(tmp_path / "run")])
    assert err.startswith("python -m learners: error: The 'device' parameter of metric_validity must be a torch "
                          f"device of this machine (cpu; it has no CUDA GPU). Got {got} instead."), err
    assert not (tmp_path / "run").exists()
    assert resolve("metric_validity", {"device": "cpu"})["device"] == "cpu"


# ---------------------------------------------------------------- item 7: a rerun with other settings, on the CLI

def test_fit_command_rerun_with_other_settings_says_fresh_and_exits_2(capsys, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main(["fit", *CLI, "--out", str(out), "--quiet"], kind="simulation") == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with monkeypatch.context() as m:
        m.setattr(pl.Trainer, "fit", lambda *a, **k: pytest.fail("Lightning started"))
        err = _cli_error(capsys, ["fit", *CLI, "--set", "lr=0.02", "--out", str(out)])
    assert err == (f"python -m learners: error: The 'out' parameter of fit must be a new folder or hold a fit of the "
                   f"same settings (pass --fresh to train afresh there, replacing that fit's checkpoints, logs and "
                   f"snapshots, or use another --out). Got {str(out)!r}, whose fit/ differs in ['lr'] instead. "
                   f"(see --help)\n")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # the same settings resume (a no-op on a finished fit); --fresh retrains with the new ones
    assert main(["fit", *CLI, "--out", str(out), "--quiet"], kind="simulation") == 0
    assert main(["fit", *CLI, "--set", "lr=0.02", "--fresh", "--out", str(out), "--quiet"], kind="simulation") == 0
    assert json.loads((out / "fit" / "config.json").read_text())["lr"] == 0.02
    # from Python, resolve without a folder checks nothing on disk (fit itself still refuses, naming resume=False)
    assert resolve("fit", {"world": "ring", "lr": 0.03})["lr"] == 0.03


def test_check_run_dir_is_read_only_and_agrees_with_fit(ring, tmp_path):
    obs = worlds.Permutation(8)
    assert fit_module.check_run_dir(ring, obs, tmp_path / "new", FitConfig(**KW)) is None
    fit(ring, obs, run_dir=tmp_path, **KW)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert fit_module.check_run_dir(ring, obs, tmp_path, FitConfig(**KW)).endswith("last.ckpt")
    with pytest.raises(ConfigMismatch) as err:
        fit_module.check_run_dir(ring, obs, tmp_path, FitConfig(**{**KW, "dim": 5}))
    assert err.value.what == "differs in ['dim']"
    assert fit_module.check_run_dir(ring, obs, tmp_path, FitConfig(**{**KW, "dim": 5, "resume": False})) is None
    with pytest.raises(TypeError, match="The 'config' parameter of check_run_dir must be a learners.FitConfig"):
        fit_module.check_run_dir(ring, obs, tmp_path, KW)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------- item 12: fit's own torch thread count

class _Threads(pl.Callback):
    def __init__(self):
        self.seen = set()

    def on_train_batch_end(self, *args):
        self.seen.add(torch.get_num_threads())


@pytest.mark.parametrize("threads", [None, 2])
def test_fit_runs_with_its_thread_count_and_restores_the_callers(ring, tmp_path, threads):
    saved = torch.get_num_threads()
    caller = 3 if threads is None else 1  # differs from what fit should apply
    torch.set_num_threads(caller)
    try:
        probe = _Threads()
        kw = KW if threads is None else {**KW, "threads": threads}
        r = fit(ring, worlds.Permutation(8), run_dir=tmp_path, callbacks=[probe], **kw)
        assert probe.seen == {threads or 1}  # the default is 1
        assert torch.get_num_threads() == caller
    finally:
        torch.set_num_threads(saved)
    assert r.config["threads"] == (threads or 1) == json.loads((tmp_path / "config.json").read_text())["threads"]


def test_thread_count_is_restored_when_fit_fails(ring, tmp_path):
    saved = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        class Boom(pl.Callback):
            def on_train_start(self, *args):
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fit(ring, worlds.Permutation(8), callbacks=[Boom()], **KW)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(saved)


def test_a_rerun_with_another_thread_count_resumes(ring, tmp_path):
    first = fit(ring, worlds.Permutation(8), run_dir=tmp_path, **KW)
    again = fit(ring, worlds.Permutation(8), run_dir=tmp_path, **{**KW, "threads": 2})  # no ConfigMismatch
    assert again.history == first.history
    assert json.loads((tmp_path / "config.json").read_text())["threads"] == 1  # the run that trained


def test_experiment_fits_run_with_the_runners_thread_count(ring, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(fit_module, "fit", lambda world, obs, **kw: seen.append(kw))
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _common.fit_in(tmp_path, "x", ring, worlds.Permutation(8), False, dim=4)
    finally:
        torch.set_num_threads(saved)
    assert seen[0]["threads"] == 2 and seen[0]["dim"] == 4
