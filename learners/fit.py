"""`learners.fit`: train a contrastive learner on a world seen through an observation, with Lightning.

The run dir holds config.json (the resolved config), checkpoints/ (last.ckpt; a rerun with the same config resumes
from it), logs/version_*/metrics.csv (one CSV per attempt; `history` merges them) and snapshots.npz (the state
embeddings at each evaluation step, for curves).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from platonic_core.checks import check_choice, check_int, check_positive, check_prob
from platonic_core.runio import atomic_write_bytes, write_json
from worlds import MarkovWorld
from worlds.observations import Observation, check_observation

from .data import SOURCES, PairDataModule
from .encoders import make_encoder
from .module import LOSSES, ContrastiveModule

# Config keys that do not change what is trained: a run may resume with other values.
_FREE_KEYS = ("resume", "verbose", "accelerator", "precision", "ckpt_every", "eval_every", "log_every")


class ConfigMismatch(ValueError):
    """The run dir holds a checkpoint of another config (resume=False starts afresh there)."""


@dataclass
class FitResult:
    """kernel: learned logit kernel <f(a), f(b)>/tau over observed values (N_x, N_x), bias excluded;
    state_kernel: O K O^T over world states (N_z, N_z) (the pull-back for deterministic observations);
    embeddings (N_x, dim) with kernel = E E^T; state_embeddings = O E; target: K_PMI over observed values;
    cooccurrence: exact P_coor over observed values; history: {'loss'|'pearson': {'step': [...], 'value': [...]}};
    snapshots: {step: state_embeddings}; pairs: the finite pool (None when streamed); pairs_seen: pair budget."""

    kernel: np.ndarray
    state_kernel: np.ndarray
    embeddings: np.ndarray
    state_embeddings: np.ndarray
    bias: float
    target: np.ndarray
    cooccurrence: np.ndarray
    history: dict
    snapshots: dict
    pairs: np.ndarray | None
    pairs_seen: int
    config: dict
    run_dir: Path | None = None
    module: ContrastiveModule | None = field(default=None, repr=False)

    def report(self, population: bool = True, plugin: bool = True) -> dict:
        """Comparison with K_PMI, the population optimum and the plug-in estimator (see learners.report)."""
        from .report import comparison_report

        return comparison_report(self, population, plugin)


class KernelTracker(Callback):
    """Every `every` steps (and at steps 0 and max_steps): Pearson of the learned kernel with K_PMI (off-diagonal),
    written to the logger, and a snapshot of the state embeddings; snapshots travel in checkpoints."""

    def __init__(self, target: np.ndarray, obs_matrix: np.ndarray, every: int, path: Path):
        self.mask = np.isfinite(target) & ~np.eye(len(target), dtype=bool)
        self.target, self.obs, self.every, self.path = target, obs_matrix, every, path
        self.snapshots: dict[int, np.ndarray] = {}

    def _record(self, trainer, module):
        step = trainer.global_step
        with torch.no_grad():
            e = module.embed_all().double().cpu().numpy()
        k = e @ e.T
        r = float(np.corrcoef(k[self.mask], self.target[self.mask])[0, 1])
        self.snapshots[step] = self.obs @ e
        if trainer.is_global_zero and trainer.logger is not None:
            trainer.logger.log_metrics({"pearson": r}, step=step)

    def on_train_start(self, trainer, module):
        if trainer.global_step == 0:
            self._record(trainer, module)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step % self.every == 0 or trainer.global_step == trainer.max_steps:
            self._record(trainer, module)

    def on_train_end(self, trainer, module):
        if trainer.is_global_zero:
            buf = io.BytesIO()
            np.savez(buf, steps=np.array(sorted(self.snapshots)),
                     embeddings=np.stack([self.snapshots[s] for s in sorted(self.snapshots)]))
            atomic_write_bytes(self.path, buf.getvalue())

    def state_dict(self):  # tensors, so checkpoints load with torch.load(weights_only=True)
        steps = sorted(self.snapshots)
        return {"steps": steps, "embeddings": torch.from_numpy(np.stack([self.snapshots[s] for s in steps]))}

    def load_state_dict(self, state):
        self.snapshots = dict(zip(state["steps"], state["embeddings"].numpy()))


class FinalCheckpoint(Callback):
    """Save last.ckpt when training ends, so a finished run reruns as a no-op (ModelCheckpoint saves only every
    ckpt_every steps)."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_end(self, trainer, module):
        trainer.save_checkpoint(self.path)


def fit(world: MarkovWorld, observation: Observation, loss: str = "infonce", dim: int = 32, window: int = 16, *,
        encoder: str = "auto", encoder_kw: dict | None = None, data: str = "stream", n_pairs: int | None = None,
        length: int | None = None, include_self: bool = True, batch_size: int = 512, negatives: int = 0,
        p_pos: float = 0.5, learn_bias: bool = False, tau: float = 1.0, symmetric: bool = False,
        normalize: bool = False, lr: float = 0.01, weight_decay: float = 0.0, warmup: int | None = None,
        max_steps: int = 1000, min_lr: float = 0.0, seed: int = 0, eval_every: int | None = None,
        log_every: int = 50, ckpt_every: int | None = None, run_dir=None, resume: bool = True,
        accelerator: str = "auto", devices=1, strategy="auto", num_nodes: int = 1,
        precision="32-true", callbacks=(), verbose: bool = False, **trainer_kw) -> FitResult:
    """Train <f(a), f(b)> on pairs of `observation`s of `world` within `window`; return a FitResult.

    loss 'infonce' | 'nce'; encoder 'auto' (by modality) | 'embedding' | 'mlp' | 'text'; data 'stream' |
    'pairs' (n_pairs) | 'trajectory' (length); negatives K per pair, 0 for in-batch; batch_size is global;
    AdamW at lr with `warmup` linear steps (default min(50, max_steps // 10)), then cosine decay to min_lr.
    accelerator, devices, strategy, num_nodes, precision and any other keyword go to pl.Trainer (GPU when
    present with the defaults; strategy='ddp' with devices=2 runs DDP). With a run_dir, a rerun with the same
    config resumes from checkpoints/last.ckpt (resume=False starts afresh); without one, a temporary dir is used.
    """
    owner = "fit"
    if not isinstance(world, MarkovWorld):
        raise TypeError(f"The 'world' parameter of {owner} must be a worlds.MarkovWorld. Got {type(world).__name__}.")
    check_observation(observation, world.n_states, owner)
    check_choice(loss, "loss", owner, LOSSES)
    check_choice(data, "data", owner, SOURCES)
    dim = check_int(dim, "dim", owner, low=1)
    window = check_int(window, "window", owner, low=0)
    check_positive(tau, "tau", owner)
    check_prob(p_pos, "p_pos", owner, open_low=True, open_high=True)
    max_steps = check_int(max_steps, "max_steps", owner, low=1)
    warmup = min(50, max_steps // 10) if warmup is None else check_int(warmup, "warmup", owner, low=0)
    seed = check_int(seed, "seed", owner)
    eval_every = check_int(eval_every or max(1, max_steps // 20), "eval_every", owner, low=1)
    ckpt_every = check_int(ckpt_every or max(1, max_steps // 5), "ckpt_every", owner, low=1)
    config = {"world": world.name, "n_states": world.n_states, "observation": type(observation).__name__,
              "n_obs": observation.n_obs, "loss": loss, "dim": dim, "window": window, "encoder": encoder,
              "encoder_kw": dict(encoder_kw or {}), "data": data, "n_pairs": n_pairs, "length": length,
              "include_self": include_self, "batch_size": batch_size, "negatives": negatives, "p_pos": p_pos,
              "learn_bias": learn_bias, "tau": tau, "symmetric": symmetric, "normalize": normalize, "lr": lr,
              "weight_decay": weight_decay, "warmup": warmup, "max_steps": max_steps, "min_lr": min_lr,
              "seed": seed, "eval_every": eval_every, "log_every": log_every, "ckpt_every": ckpt_every,
              "accelerator": accelerator, "devices": devices, "strategy": str(strategy), "num_nodes": num_nodes,
              "precision": str(precision), "trainer_kw": {k: str(v) for k, v in trainer_kw.items()}}

    with _quiet(verbose):
        pl.seed_everything(seed, workers=True, verbose=False)
        dm = PairDataModule(world, observation, window, data, batch_size, negatives, n_pairs, length,
                            include_self, seed)
        module = ContrastiveModule(make_encoder(observation, dim, encoder, **(encoder_kw or {})), loss, p_pos,
                                   learn_bias, tau, symmetric, normalize, lr, weight_decay, warmup, max_steps,
                                   min_lr)
        target = np.log(dm.cooccurrence) - np.log(dm.cooccurrence.sum(1))[:, None] - np.log(
            dm.cooccurrence.sum(0))[None, :]
        with _run_dir(run_dir) as root:
            ckpt = _prepare(root, config, resume)
            tracker = KernelTracker(target, observation.matrix, eval_every, root / "snapshots.npz")
            saver = ModelCheckpoint(dirpath=root / "checkpoints", filename="step{step}",
                                    every_n_train_steps=ckpt_every, save_last=True, save_top_k=1,
                                    auto_insert_metric_name=False)
            final = FinalCheckpoint(root / "checkpoints" / "last.ckpt")
            trainer = pl.Trainer(max_steps=max_steps, max_epochs=-1, accelerator=accelerator, devices=devices,
                                 strategy=strategy, num_nodes=num_nodes, precision=precision,
                                 logger=CSVLogger(root, name="logs"), callbacks=[tracker, saver, final, *callbacks],
                                 log_every_n_steps=log_every, enable_progress_bar=verbose,
                                 enable_model_summary=verbose, num_sanity_val_steps=0, limit_val_batches=0,
                                 use_distributed_sampler=False, default_root_dir=root, **trainer_kw)
            trainer.fit(module, datamodule=dm, ckpt_path=ckpt)
            history = _history(root / "logs")
            snapshots = _snapshots(root / "snapshots.npz")
    module = module.cpu()
    with torch.no_grad():
        e = module.embed_all().double().numpy()
    kernel = e @ e.T
    o = observation.matrix
    return FitResult(kernel=kernel, state_kernel=o @ kernel @ o.T, embeddings=e, state_embeddings=o @ e,
                     bias=float(module.bias.detach()) if module.bias is not None else 0.0, target=target,
                     cooccurrence=dm.cooccurrence, history=history, snapshots=snapshots, pairs=dm.pairs,
                     pairs_seen=len(dm.pairs) if dm.pairs is not None else max_steps * batch_size,
                     config=config, run_dir=None if run_dir is None else Path(run_dir), module=module)


@contextmanager
def _quiet(verbose: bool):
    """Silence Lightning's info lines and its data-loader advice unless verbose (the CLI output stays readable)."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric",
                                              "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*(does not have many workers|num_workers|"
                                    r"Experiment logs directory|Checkpoint directory .* exists|"
                                    r"LightningModule.*has parameters that were not used|treespec).*")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextmanager
def _run_dir(run_dir):
    if run_dir is not None:
        root = Path(run_dir)
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    tmp = tempfile.mkdtemp(prefix="learners-fit-")
    try:
        yield Path(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prepare(root: Path, config: dict, resume: bool) -> str | None:
    """Save config.json; return the checkpoint to resume from (None: start afresh, clearing old outputs)."""
    last = root / "checkpoints" / "last.ckpt"
    saved = root / "config.json"
    if resume and last.exists() and saved.exists():
        old = json.loads(saved.read_text())
        differ = sorted(k for k in set(old) | set(config)
                        if k not in _FREE_KEYS and json.dumps(old.get(k), default=str) !=
                        json.dumps(config.get(k), default=str))
        if differ:
            raise ConfigMismatch(f"The 'run_dir' parameter of fit holds a checkpoint of a different config "
                             f"(differs in {differ}). Use another run_dir, or resume=False to start afresh.")
        return str(last)
    if pl.utilities.rank_zero_only.rank == 0:
        for name in ("checkpoints", "logs"):
            shutil.rmtree(root / name, ignore_errors=True)
        (root / "snapshots.npz").unlink(missing_ok=True)
        write_json(saved, config)
    return None


def _history(logs: Path) -> dict:
    """Merge logs/version_*/metrics.csv into {metric: {'step': [...], 'value': [...]}}; a later attempt (a resume)
    replaces the rows of earlier ones from its first step on."""
    rows: list[dict] = []
    for version in sorted(logs.glob("version_*"), key=lambda p: int(p.name.split("_")[1])):
        f = version / "metrics.csv"
        if not f.exists():
            continue
        with f.open() as fh:
            new = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(fh)]
        if new:
            start = min(r["step"] for r in new)
            rows = [r for r in rows if r["step"] < start] + new
    out: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: r["step"]):
        for k, v in r.items():
            if k not in ("step", "epoch"):
                series = out.setdefault(k, {"step": [], "value": []})
                series["step"].append(int(r["step"]))
                series["value"].append(v)
    return out


def _snapshots(path: Path) -> dict:
    if not path.exists():
        return {}
    with np.load(path) as z:
        return {int(s): e for s, e in zip(z["steps"], z["embeddings"])}
