"""`learners.fit`: train a contrastive learner on a world seen through an observation, with Lightning.

The training options form one frozen dataclass, `FitConfig` (validated when built); `fit` takes them as keywords
or as `config=FitConfig(...)`.

The run dir holds config.json (the resolved config, the marker that fit made the dir, and the resume key),
checkpoints/ (last.ckpt; a rerun with the same config resumes from it), logs/version_*/metrics.csv (one CSV per
attempt, for reading by people) and snapshots.npz (the state embeddings at each evaluation step, for curves).
The history and the snapshots a FitResult returns travel inside the checkpoints, so an interrupted and resumed fit
returns the same history, snapshots and kernel as an uninterrupted one.

Run dir rules: fit writes only into a new or empty directory, or into one it made before (config.json holds its
marker); starting afresh there removes only fit's own files. Resuming needs the same resume key: a digest of the
FitConfig without the options in `RESUME_FREE` and of the world's and observation's content. Checkpoints always
load with weights_only=True (no pickled code runs, whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says).
"""
from __future__ import annotations

import difflib
import inspect
import io
import json
import logging
import re
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import scipy.sparse as sp
import torch
from pytorch_lightning.accelerators import Accelerator, CPUAccelerator
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.strategies import Strategy
from pytorch_lightning.trainer.connectors.accelerator_connector import _AcceleratorConnector  # pl.Trainer's parser

from platonic_core import progress as _progress
from platonic_core.checks import (
    check_bool,
    check_choice,
    check_int,
    check_out_dir,
    check_positive,
    check_prob,
    check_real,
    fail,
    param,
)
from platonic_core.runio import atomic_write_bytes, digest, jsonable, write_json
from worlds import MarkovWorld, pmi_kernel
from worlds.observations import Observation, check_observation
from worlds.render import Factored

from . import objectives as _obj
from ._blas import torch_threads
from ._checks import check_cooccurrence
from .data import SOURCES, PairDataModule
from .encoders import ENCODERS, check_encoder_kw, make_encoder
from .module import LOSSES, ContrastiveModule, check_critic_options

OWNER = "fit"
MARKER = "learners.fit run dir"  # config.json["made_by"]: fit made this run dir and may clear its own files there
SEED_MAX = 2 ** 32 - 1  # pl.seed_everything replaces a seed outside [0, 2^32 - 1] by a random one

# FitConfig fields that do not change what is trained (the weights after each step): a run may resume with other
# values. eval_every and log_every only change which steps the history and snapshots record (a resume with another
# value records the rest of the run on the new grid); ckpt_every only when checkpoints are saved; accelerator the
# hardware (CPU or GPU arithmetic agree to rounding); threads the order of CPU reductions (to rounding). precision is
# keyed: it changes the arithmetic of training, and the precision plugin's state in a checkpoint. devices, strategy
# and num_nodes are keyed: the world size decides which pairs each step sees.
RESUME_FREE = ("resume", "verbose", "progress_bar", "tensorboard", "accelerator", "threads", "ckpt_every",
               "eval_every", "log_every")

# pl.Trainer arguments that fit sets itself (its own options or fixed choices): not allowed in trainer_kw.
_TRAINER_FIXED = ("accelerator", "strategy", "devices", "num_nodes", "precision", "logger", "callbacks", "max_epochs",
                  "max_steps", "log_every_n_steps", "enable_progress_bar", "enable_model_summary",
                  "num_sanity_val_steps", "limit_val_batches", "use_distributed_sampler", "default_root_dir")
_HARDWARE = ("accelerator", "strategy", "precision", "devices", "num_nodes")  # checked by Lightning's parser
_TRAINER_ARGS = tuple(p for p in inspect.signature(pl.Trainer.__init__).parameters if p != "self")

# What fit writes in a run dir (removed when it starts afresh there; nothing else is touched).
_CKPT_NAME = re.compile(r"(last|step\d+)(-v\d+)?\.ckpt")
_LOG_FILES = ("metrics.csv", "hparams.yaml")
# config.json keys of runs made before the marker existed (accepted as fit's own, never resumed)
_LEGACY_KEYS = {"world", "n_states", "observation", "n_obs", "loss", "dim", "max_steps", "seed"}


_DIGESTS = {"world_digest": "world_digest is a digest of the world's transition matrix",
            "observation_digest": "observation_digest is a digest of the observation's matrix and codes (perm, "
                                  "vectors, token_ids)"}


class ConfigMismatch(ValueError):
    """The run dir holds a checkpoint of another config or content (resume=False starts afresh there); `what` says
    how it differs, e.g. "differs in ['lr']"."""

    def __init__(self, message: str, what: str):
        super().__init__(message)
        self.what = what


@dataclass(frozen=True)
class FitConfig:
    """Every training option of `fit`, with its default; validated when built (errors name fit's parameter).

    loss: one of learners.objectives.NAMES (infonce, nce, skipgram, spectral, next_event, regression, vicreg);
    dim: embedding size; window W: pairs within |t - t'| <= W; encoder 'auto' (by
    modality) | 'embedding' | 'mlp' | 'text', encoder_kw: its options (e.g. init_std, hidden, width); data
    'stream' | 'pairs' (n_pairs) | 'trajectory' (length); include_self: count d = 0 pairs; batch_size (global);
    negatives: K per pair, 0 for in-batch (skipgram: K >= 1; next_event, regression, vicreg: 0); p_pos, learn_bias:
    binary NCE's prior and learnable offset (learn_bias also for skipgram, whose prior is 1/(K+1)); tau,
    symmetric, normalize: the critic; AdamW at lr with weight_decay, `warmup` linear steps (None: min(50,
    max_steps // 10)), then cosine decay to min_lr (0 <= min_lr <= lr) at max_steps; seed; eval_every (None:
    max_steps // 20), log_every, ckpt_every (None: max_steps // 5): steps between history points and checkpoints;
    resume: continue from the run dir's checkpoint; accelerator, devices, strategy, num_nodes, precision and
    trainer_kw (any other pl.Trainer argument) go to pl.Trainer, checked by Lightning's own parser on this machine
    when the config is built; threads: torch CPU threads during the call (restored after it; the matrices are small,
    so more threads mostly spin on busy cores); verbose: Lightning's progress and info lines;
    progress_bar: Lightning's progress bar alone; tensorboard: also log to TensorBoard (run_dir/tensorboard/; needs
    the tensorboard or tensorboardX package, not a dependency of the toolkit);
    objective_kw: the objective's own options (vicreg: sim, std, cov, gamma, eps), keyed only when not empty.
    None-valued defaults are resolved by `resolved()`, so `dataclasses.replace` re-derives them.
    """

    loss: str = "infonce"
    dim: int = 32
    window: int = 16
    encoder: str = "auto"
    encoder_kw: dict = field(default_factory=dict)
    data: str = "stream"
    n_pairs: int | None = None
    length: int | None = None
    include_self: bool = True
    batch_size: int = 512
    negatives: int = 0
    p_pos: float = 0.5
    learn_bias: bool = False
    tau: float = 1.0
    symmetric: bool = False
    normalize: bool = False
    lr: float = 0.01
    weight_decay: float = 0.0
    warmup: int | None = None
    max_steps: int = 1000
    min_lr: float = 0.0
    seed: int = 0
    eval_every: int | None = None
    log_every: int = 50
    ckpt_every: int | None = None
    resume: bool = True
    accelerator: object = "auto"
    devices: object = 1
    strategy: object = "auto"
    num_nodes: int = 1
    precision: object = "32-true"
    threads: int = 1
    verbose: bool = False
    progress_bar: bool = False
    tensorboard: bool = False
    trainer_kw: dict = field(default_factory=dict)
    objective_kw: dict = field(default_factory=dict)

    def __post_init__(self):
        o = OWNER
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen)
        put("loss", check_choice(self.loss, "loss", o, LOSSES))
        put("dim", check_int(self.dim, "dim", o, low=1))
        put("include_self", check_bool(self.include_self, "include_self", o))
        put("window", check_int(self.window, "window", o, low=0))
        if self.window == 0 and not self.include_self:
            fail(param("window", o), "be >= 1 when include_self=False (no pairs are left)", 0)
        put("encoder", check_choice(self.encoder, "encoder", o, ENCODERS))
        kw = {} if self.encoder_kw is None else self.encoder_kw
        if not isinstance(kw, dict) or not all(isinstance(k, str) for k in kw):
            fail(param("encoder_kw", o), "be a dict of keyword options (or None)", repr(kw), TypeError)
        put("encoder_kw", dict(kw))
        put("data", check_choice(self.data, "data", o, SOURCES))
        for name, low, needed in (("n_pairs", 1, "pairs"), ("length", 2, "trajectory")):
            value = getattr(self, name)
            if value is None:
                if self.data == needed:
                    fail(param(name, o), f"be set with data={needed!r}", "None")
            else:
                put(name, check_int(value, name, o, low=low))
        put("batch_size", check_int(self.batch_size, "batch_size", o, low=2))
        put("negatives", _obj.check_negatives(self.loss, self.negatives, o))
        put("p_pos", check_prob(self.p_pos, "p_pos", o, open_low=True, open_high=True))
        if self.loss == "skipgram" and self.p_pos != 0.5:
            fail(param("p_pos", o), "be left at its default with loss='skipgram' (its prior is 1/(K+1), K = "
                 "negatives)", self.p_pos)
        put("learn_bias", check_bool(self.learn_bias, "learn_bias", o))
        _obj.check_learn_bias(self.loss, self.learn_bias, o)
        put("tau", check_positive(self.tau, "tau", o))
        put("symmetric", check_bool(self.symmetric, "symmetric", o))
        put("normalize", check_bool(self.normalize, "normalize", o))
        check_critic_options(self.loss, self.tau, self.normalize, o)
        ok = {} if self.objective_kw is None else self.objective_kw
        _obj.check_options(self.loss, ok, o)
        put("objective_kw", dict(ok))
        put("lr", check_positive(self.lr, "lr", o))
        put("weight_decay", check_real(self.weight_decay, "weight_decay", o, low=0))
        put("max_steps", check_int(self.max_steps, "max_steps", o, low=1))
        if self.warmup is not None:
            put("warmup", check_int(self.warmup, "warmup", o, low=0))
        put("min_lr", check_real(self.min_lr, "min_lr", o, low=0, high=self.lr))
        put("seed", check_int(self.seed, "seed", o, low=0, high=SEED_MAX))
        for name in ("eval_every", "ckpt_every"):  # None: the default; 0 is an error, not "the default"
            if getattr(self, name) is not None:
                put(name, check_int(getattr(self, name), name, o, low=1))
        put("log_every", check_int(self.log_every, "log_every", o, low=1))
        put("resume", check_bool(self.resume, "resume", o))
        put("verbose", check_bool(self.verbose, "verbose", o))
        put("progress_bar", check_bool(self.progress_bar, "progress_bar", o))
        if check_bool(self.tensorboard, "tensorboard", o) and not _tensorboard_available():
            fail(param("tensorboard", o), "be False unless the tensorboard or tensorboardX package is installed "
                 "(pip install tensorboard)", True)
        put("num_nodes", check_int(self.num_nodes, "num_nodes", o, low=1))
        put("threads", check_int(self.threads, "threads", o, low=1))
        tk = {} if self.trainer_kw is None else self.trainer_kw
        if not isinstance(tk, dict):
            fail(param("trainer_kw", o), "be a dict of pl.Trainer arguments (or None)", repr(tk), TypeError)
        for name in tk:
            _check_trainer_arg(name)
        put("trainer_kw", dict(tk))
        _check_hardware(self)

    def __hash__(self):
        return hash(json.dumps(_plain(self.resolved()), sort_keys=True))

    def resolved(self) -> dict:
        """The options by name, with the None defaults of warmup, eval_every and ckpt_every resolved."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        n = self.max_steps
        out["warmup"] = min(50, n // 10) if self.warmup is None else self.warmup
        out["eval_every"] = max(1, n // 20) if self.eval_every is None else self.eval_every
        out["ckpt_every"] = max(1, n // 5) if self.ckpt_every is None else self.ckpt_every
        return out

    def resume_fields(self) -> dict:
        """The resolved options that change what is trained (JSON values): the config part of the resume key.
        objective_kw counts only when not empty (so the keys of runs made before it existed still match)."""
        return {k: v for k, v in _plain(self.resolved()).items()
                if k not in RESUME_FREE and not (k == "objective_kw" and not v)}


def _check_hardware(cfg: FitConfig) -> None:
    """accelerator, strategy, precision, devices and num_nodes as pl.Trainer will parse them on this machine, through
    Lightning's own parser (about a millisecond; no CUDA initialisation, no global state changed), so that a bad value,
    or one this machine cannot run (a GPU option without a GPU), fails when the config is built and names the option
    at fault: the first whose default makes the parser accept the rest or refuse them for another reason. A Strategy
    or Accelerator object is left to pl.Trainer (the parser would configure the caller's object)."""
    if isinstance(cfg.accelerator, Accelerator) or isinstance(cfg.strategy, Strategy):
        return
    if isinstance(cfg.devices, bool) or not (
            isinstance(cfg.devices, (int, str)) or isinstance(cfg.devices, (list, tuple))
            and all(isinstance(d, int) and not isinstance(d, bool) for d in cfg.devices)):
        fail(param("devices", OWNER), "be an int, 'auto', a string such as '0,1' or a list of GPU indices",
             f"{cfg.devices!r} ({type(cfg.devices).__name__})", TypeError)
    given = {k: getattr(cfg, k) for k in _HARDWARE}
    gpus = torch.cuda.device_count()
    here = f"this machine has {gpus or 'no'} CUDA GPU{'' if gpus == 1 else 's'}"
    parsed, reason = _parse_hardware(given)
    if parsed is None:
        default = {f.name: f.default for f in fields(FitConfig)}
        culprit = next((k for k in _HARDWARE if given[k] != default[k]
                        and _parse_hardware({**given, k: default[k]})[1] != reason), None)
        rest = ", ".join(f"{k}={v!r}" for k, v in given.items() if k != culprit)
        if culprit is None:
            fail(f"Trainer options of {OWNER}", f"go together on this machine ({here}; pl.Trainer: {reason})", rest)
        fail(param(culprit, OWNER), f"be a value pl.Trainer accepts on this machine with {rest} ({here}; "
             f"pl.Trainer: {reason})", repr(given[culprit]))
    if str(cfg.precision) in ("16-mixed", "16") and isinstance(parsed.accelerator, CPUAccelerator):
        # Lightning would train in bf16-mixed instead, with a warning: not what was asked for
        fail(param("precision", OWNER), f"be 'bf16-mixed', '32-true' or '64-true' on the CPU (fp16 mixed precision "
             f"needs a CUDA GPU; {here})", repr(cfg.precision))
    _check_split(cfg.batch_size, cfg.num_nodes * len(getattr(parsed.strategy, "parallel_devices", None) or [0]))


def _parse_hardware(options: dict):
    """(Lightning's parse of the hardware options, None) or (None, its one-line reason for refusing them)."""
    try:
        with _quiet(False), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _AcceleratorConnector(use_distributed_sampler=False, **options), None
    except Exception as err:  # noqa: BLE001  (Lightning raises ValueError, TypeError, MisconfigurationException...)
        return None, " ".join(str(err).split())[:400] or type(err).__name__


def _check_split(batch_size: int, world_size: int) -> None:
    if batch_size % world_size:
        fail(param("batch_size", OWNER), f"be divisible by the number of processes ({world_size})", batch_size)


def _check_trainer_arg(name):
    if not isinstance(name, str) or name not in _TRAINER_ARGS:
        near = difflib.get_close_matches(str(name), [f.name for f in fields(FitConfig)] + list(_TRAINER_ARGS), 1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise TypeError(f"The {param(name, OWNER)} is neither an option of fit (see FitConfig) nor a pl.Trainer "
                        f"argument{hint}.")
    if name in _TRAINER_FIXED:
        raise TypeError(f"The {param(name, OWNER)} is a pl.Trainer argument that fit sets itself"
                        + (" (use fit's own option of that name)." if name in {f.name for f in fields(FitConfig)}
                           else "; it cannot be passed."))


def _plain(values: dict) -> dict:
    """JSON values for config.json and the resume key: objects (a Strategy, a profiler) by their str()."""
    def conv(v):
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if v is None or isinstance(v, (bool, int, float, str)) or isinstance(v, (np.generic, np.ndarray, Path)):
            return jsonable(v)
        return str(v)
    out = {k: conv(v) for k, v in values.items()}
    for k in ("strategy", "precision", "accelerator"):  # as before: always strings
        out[k] = str(values[k])
    out["trainer_kw"] = {k: str(v) for k, v in values["trainer_kw"].items()}
    return out


@dataclass
class FitResult:
    """kernel: learned logit kernel <f(a), f(b)>/tau over observed values (N_x, N_x), bias excluded;
    state_kernel: O K O^T over world states (N_z, N_z) (the pull-back for deterministic observations);
    embeddings (N_x, dim) with kernel = E E^T; state_embeddings = O E; target: the objective's analytic optimum over
    observed values (K_PMI for infonce and nce; `fit_target`), which history's Pearson compares with (modulo the
    objective's gauge: learners.objectives.canonical);
    cooccurrence: exact P_coor over observed values; history: {'loss'|'pearson': {'step': [...], 'value': [...]}};
    snapshots: {step: state_embeddings}; pairs: the finite pool (None when streamed); pairs_seen: pair budget;
    config: the resolved options and the world's and observation's names, sizes and content digests (JSON);
    fit_config: the FitConfig trained with."""

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
    fit_config: FitConfig | None = field(default=None, repr=False)

    def report(self, population: bool = True, plugin: bool = True) -> dict:
        """Comparison with K_PMI, the population optimum and the plug-in estimator (see learners.report)."""
        from .report import comparison_report

        return comparison_report(self, population, plugin)


def fit_target(P: np.ndarray, cfg: FitConfig):
    """(target, canonical) of a fit: the objective's analytic optimum over observed values, and the map taking a
    kernel modulo the objective's gauge (None: the kernel itself). K_PMI for infonce and nce; for vicreg without a
    closed form at these settings (learners.objectives.vicreg_parts), K_PMI as well."""
    if cfg.loss in ("infonce", "nce"):
        return pmi_kernel(P), None
    P = check_cooccurrence(P, OWNER)
    n = len(P)
    dim = min(cfg.dim, n - 1 if cfg.loss == "vicreg" else n)
    try:
        t = _obj.target(P, cfg.loss, dim if cfg.loss in ("spectral", "regression", "vicreg") else None,
                        p_pos=cfg.p_pos, negatives=cfg.negatives if cfg.loss == "skipgram" else None,
                        learn_bias=cfg.learn_bias, objective_kw=cfg.objective_kw)
    except ValueError:  # vicreg whose coefficients leave no closed form
        if cfg.loss != "vicreg":
            raise
        return pmi_kernel(P), None
    gauge = _obj.get(cfg.loss).gauge
    if gauge == "additive" or (gauge == "linear" and dim < n):
        return t, (lambda k: _obj.canonical(k, cfg.loss, P, dim))
    return t, None


class KernelTracker(Callback):
    """Every `every` steps (and at steps 0 and max_steps): Pearson of the learned kernel with the target
    (off-diagonal; K_PMI for infonce and nce; both taken through `canonical` when given) and a snapshot of the state
    embeddings; also the training loss of every step the module logs. All of it is this callback's checkpointed
    state, so a resumed run returns the whole history, not just its last attempt's."""

    def __init__(self, target: np.ndarray, obs_matrix: np.ndarray, every: int, canonical=None):
        self.canonical = canonical
        target = target if canonical is None else canonical(target)
        self.mask = np.isfinite(target) & ~np.eye(len(target), dtype=bool)
        self.target, self.obs, self.every = target, obs_matrix, every
        self.snapshots: dict[int, np.ndarray] = {}
        self.pearson: dict[int, float] = {}
        self.loss: dict[int, float] = {}

    def _record(self, trainer, module):
        step = trainer.global_step
        with torch.no_grad():
            e = module.embed_all().double().cpu().numpy()
        k = e @ e.T
        k = k if self.canonical is None else self.canonical(k)
        r = float(np.corrcoef(k[self.mask], self.target[self.mask])[0, 1])
        self.snapshots[step] = self.obs @ e
        self.pearson[step] = r
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics({"pearson": r}, step=step)

    def on_train_start(self, trainer, module):
        if trainer.global_step == 0:
            self._record(trainer, module)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        logged = getattr(module, "logged_loss", None)
        if logged is not None:  # the (step, value) the module just logged
            self.loss[logged[0]] = float(logged[1])
            module.logged_loss = None
        if trainer.global_step % self.every == 0 or trainer.global_step == trainer.max_steps:
            self._record(trainer, module)

    def history(self) -> dict:
        """{'pearson'|'loss': {'step': [...], 'value': [...]}} (a series with no point yet is left out)."""
        return {name: {"step": sorted(series), "value": [series[s] for s in sorted(series)]}
                for name, series in (("pearson", self.pearson), ("loss", self.loss)) if series}

    def state_dict(self):  # tensors and plain lists, so checkpoints load with torch.load(weights_only=True)
        steps = sorted(self.snapshots)
        emb = (torch.from_numpy(np.stack([self.snapshots[s] for s in steps])) if steps
               else torch.zeros(0, dtype=torch.float64))
        p, lo = sorted(self.pearson), sorted(self.loss)
        return {"steps": steps, "embeddings": emb, "pearson_steps": p, "pearson": [self.pearson[s] for s in p],
                "loss_steps": lo, "loss": [self.loss[s] for s in lo]}

    def load_state_dict(self, state):
        self.snapshots = dict(zip((int(s) for s in state["steps"]), state["embeddings"].numpy()))
        self.pearson = dict(zip((int(s) for s in state.get("pearson_steps", [])), state.get("pearson", [])))
        self.loss = dict(zip((int(s) for s in state.get("loss_steps", [])), state.get("loss", [])))


class FinalCheckpoint(Callback):
    """Save last.ckpt when training ends, so a finished run reruns as a no-op (ModelCheckpoint saves only every
    ckpt_every steps)."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_end(self, trainer, module):
        trainer.save_checkpoint(self.path)


def fit(world: MarkovWorld, observation: Observation, loss: str | None = None, dim: int | None = None,
        window: int | None = None, *, config: FitConfig | None = None, run_dir=None, callbacks=(),
        progress: bool = True, **options) -> FitResult:
    """Train <f(a), f(b)> on pairs of `observation`s of `world` within `window`; return a FitResult.

    The training options are FitConfig's fields, given as keywords (loss, dim and window also by position), or
    all at once as `config=FitConfig(...)`; any other keyword is a pl.Trainer argument (FitConfig.trainer_kw).
    Defaults: loss 'infonce', dim 32, window 16, batch_size 512, lr 0.01, max_steps 1000 (see FitConfig).
    accelerator, devices, strategy, num_nodes, precision go to pl.Trainer (GPU when present with the defaults;
    strategy='ddp' with devices=2 runs DDP). `callbacks`: extra Lightning callbacks. progress: Lightning's bar of the
    steps on a terminal, as `platonic_core.progress` shows bars (False: none unless progress_bar or verbose).

    With a run_dir, a rerun with the same resume key resumes from checkpoints/last.ckpt (resume=False starts
    afresh); another config or another world/observation content raises ConfigMismatch. A run_dir that is neither
    new, empty, nor made by fit is refused. Without a run_dir, a temporary dir is used. Every check runs before
    Lightning starts and before anything is written.
    """
    cfg = _config(loss, dim, window, config, options)
    bar = check_bool(progress, "progress", OWNER) and _progress.enabled()
    _check_inputs(world, observation)
    check_encoder_kw(observation, cfg.encoder, cfg.encoder_kw, OWNER)
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else callbacks
    if not isinstance(callbacks, list) or not all(isinstance(c, Callback) for c in callbacks):
        fail(param("callbacks", OWNER), "be a list of pytorch_lightning Callbacks", repr(callbacks), TypeError)
    root = None if run_dir is None else check_out_dir(run_dir, "run_dir", OWNER)
    r = cfg.resolved()
    config, key = _saved_config(world, observation, cfg)
    ckpt = None if root is None else _inspect_run_dir(root, config, key, cfg.resume)

    with _quiet(cfg.verbose), torch_threads(cfg.threads):
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        dm = PairDataModule(world, observation, cfg.window, cfg.data, cfg.batch_size, cfg.negatives, cfg.n_pairs,
                            cfg.length, cfg.include_self, cfg.seed)
        module = ContrastiveModule(make_encoder(observation, cfg.dim, cfg.encoder, **cfg.encoder_kw), cfg.loss,
                                   cfg.p_pos, cfg.learn_bias, cfg.tau, cfg.symmetric, cfg.normalize, cfg.lr,
                                   cfg.weight_decay, r["warmup"], cfg.max_steps, cfg.min_lr, cfg.objective_kw)
        target, canonical = fit_target(dm.cooccurrence, cfg)
        with _run_dir(root) as where:
            tracker = KernelTracker(target, observation.matrix, r["eval_every"], canonical)
            saver = ModelCheckpoint(dirpath=where / "checkpoints", filename="step{step}",
                                    every_n_train_steps=r["ckpt_every"], save_last=True, save_top_k=1,
                                    auto_insert_metric_name=False)
            final = FinalCheckpoint(where / "checkpoints" / "last.ckpt")
            try:
                trainer = pl.Trainer(max_steps=cfg.max_steps, max_epochs=-1, accelerator=cfg.accelerator,
                                     devices=cfg.devices, strategy=cfg.strategy, num_nodes=cfg.num_nodes,
                                     precision=cfg.precision, logger=_loggers(where, cfg.tensorboard),
                                     callbacks=[tracker, saver, final, *callbacks], log_every_n_steps=cfg.log_every,
                                     enable_progress_bar=cfg.verbose or cfg.progress_bar or bar,
                                     enable_model_summary=cfg.verbose,
                                     num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False,
                                     default_root_dir=where, **cfg.trainer_kw)
            except Exception as err:
                raise ValueError(f"The Trainer options of {OWNER} (accelerator={cfg.accelerator!r}, "
                                 f"devices={cfg.devices!r}, strategy={cfg.strategy!r}, num_nodes={cfg.num_nodes}, "
                                 f"precision={cfg.precision!r}, trainer_kw={cfg.trainer_kw!r}) are refused by "
                                 f"pl.Trainer: {err}") from err
            _check_split(cfg.batch_size, trainer.world_size)  # a Strategy object's world size is known only here
            if root is not None and ckpt is None:
                _start_afresh(root, {"made_by": MARKER, "resume_key": key, **config})
            trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
            history, snapshots = tracker.history(), dict(sorted(tracker.snapshots.items()))
            if trainer.is_global_zero and root is not None:
                _write_snapshots(where / "snapshots.npz", snapshots)
        module = module.cpu()
        with torch.no_grad():
            e = module.embed_all().double().numpy()
    kernel = e @ e.T
    o = observation.matrix
    return FitResult(kernel=kernel, state_kernel=o @ kernel @ o.T, embeddings=e, state_embeddings=o @ e,
                     bias=float(module.bias.detach()) if module.bias is not None else 0.0, target=target,
                     cooccurrence=dm.cooccurrence, history=history, snapshots=snapshots, pairs=dm.pairs,
                     pairs_seen=len(dm.pairs) if dm.pairs is not None else cfg.max_steps * cfg.batch_size,
                     config=config, run_dir=root, module=module, fit_config=cfg)


def _config(loss, dim, window, config, options) -> FitConfig:
    """The FitConfig of a call: from `config=`, or from the keyword options (the rest go to trainer_kw)."""
    positional = {k: v for k, v in (("loss", loss), ("dim", dim), ("window", window)) if v is not None}
    if config is not None:
        if not isinstance(config, FitConfig):
            fail(param("config", OWNER), "be a learners.FitConfig", f"{type(config).__name__}", TypeError)
        if positional or options:
            raise TypeError(f"fit takes its options either as config=FitConfig(...) or as keywords, not both. Got "
                            f"config= and {sorted([*positional, *options])}; use dataclasses.replace(config, ...).")
        return config
    names = {f.name for f in fields(FitConfig)}
    given = {**positional, **{k: v for k, v in options.items() if k in names}}
    extra = {k: v for k, v in options.items() if k not in names}
    if "trainer_kw" in given and extra:
        raise TypeError(f"fit takes pl.Trainer arguments either in trainer_kw or as keywords, not both. Got "
                        f"trainer_kw and {sorted(extra)}.")
    if extra:
        given["trainer_kw"] = extra
    return FitConfig(**given)


def check_run_dir(world: MarkovWorld, observation: Observation, run_dir, config: FitConfig) -> str | None:
    """What a fit of `config` in `run_dir` would find there, read-only: the checkpoint it would resume from (None:
    it would start afresh); raises what fit would raise before training (a run dir fit did not make, ConfigMismatch,
    an unreadable config.json or checkpoint). For front ends that check before any work."""
    if not isinstance(config, FitConfig):
        fail(param("config", "check_run_dir"), "be a learners.FitConfig", type(config).__name__, TypeError)
    _check_inputs(world, observation)
    saved, key = _saved_config(world, observation, config)
    return _inspect_run_dir(check_out_dir(run_dir, "run_dir", OWNER), saved, key, config.resume)


def _check_inputs(world, observation) -> None:
    if not isinstance(world, MarkovWorld):
        raise TypeError(f"The 'world' parameter of {OWNER} must be a worlds.MarkovWorld. Got {type(world).__name__}.")
    check_observation(observation, world.n_states, OWNER)
    if isinstance(observation, Factored):  # its encoders would read the state index, not the pixels or words
        fail(param("observation", OWNER), "be an index observation (fit's encoders read observed value indices); "
             "train on images and sentences with learners.perceptual.train", type(observation).__name__, TypeError)


def _saved_config(world: MarkovWorld, observation: Observation, cfg: FitConfig) -> tuple[dict, str]:
    """config.json's content (the resolved options; the world's and observation's names, sizes and content digests)
    and the resume key."""
    config = {"world": world.name, "n_states": world.n_states, "observation": type(observation).__name__,
              "n_obs": observation.n_obs, "world_digest": world_digest(world),
              "observation_digest": observation_digest(observation), **_plain(cfg.resolved())}
    return config, digest(cfg.resume_fields(), config["world_digest"], config["observation_digest"])


def world_digest(world: MarkovWorld) -> str:
    """A digest of the world's content: its transition matrix (canonical CSR parts when sparse)."""
    a = world.transition
    if sp.issparse(a):
        a = sp.csr_matrix(a, dtype=np.float64, copy=True)
        a.sum_duplicates()
        a.eliminate_zeros()
        a.sort_indices()
        return digest("csr", list(a.shape), a.indptr.astype(np.int64), a.indices.astype(np.int64), a.data)
    return digest("dense", np.asarray(a, dtype=np.float64))


def observation_digest(observation: Observation) -> str:
    """A digest of the observation's content: its class, matrix and codes (every array or plain attribute:
    perm, vectors, token_ids, vocab, labels...)."""
    parts: list = [type(observation).__name__]
    for name, value in sorted(vars(observation).items()):
        if isinstance(value, np.ndarray):
            parts += [name, value]
        elif sp.issparse(value):
            parts += [name, value.toarray()]
        elif isinstance(value, (bool, int, float, str, type(None), np.generic)) or (
                isinstance(value, (list, tuple)) and all(isinstance(x, (bool, int, float, str)) for x in value)):
            parts += [name, jsonable(value)]
    return digest(*parts)


def _describe_difference(old: dict, new: dict) -> list[str]:
    names = [*new.keys()]
    keyed = [k for k in names if k not in RESUME_FREE and k not in ("world", "n_states", "observation", "n_obs")]
    return sorted(k for k in keyed if json.dumps(old.get(k), sort_keys=True) != json.dumps(new.get(k), sort_keys=True))


def _inspect_run_dir(root: Path, config: dict, key: str, resume: bool) -> str | None:
    """Read-only checks of the run dir; the checkpoint to resume from, or None (start afresh).

    Refuses a non-empty dir fit did not make; with resume, a checkpoint of another resume key (ConfigMismatch),
    and an unreadable config.json or checkpoint (a ValueError naming the file and the remedy)."""
    if not root.exists() or not any(root.iterdir()):
        return None
    saved_path, last = root / "config.json", root / "checkpoints" / "last.ckpt"
    saved = None
    if saved_path.exists():
        try:
            saved = json.loads(saved_path.read_text())
            if not isinstance(saved, dict):
                raise ValueError(f"a JSON {type(saved).__name__}, not an object")
        except (ValueError, OSError, UnicodeDecodeError) as err:
            if not resume and _has_fit_layout(root):
                return None  # fit's own dir (checkpoints/, logs/) with a damaged config.json: start afresh
            raise ValueError(f"The {param('run_dir', OWNER)} holds a config.json that cannot be read ({saved_path}: "
                             f"{err}). If the run dir is fit's, pass resume=False to start afresh there (when it "
                             f"also holds checkpoints/ or logs/), or delete the run dir; else use another run_dir."
                             ) from err
    mine = saved is not None and saved.get("made_by") == MARKER
    legacy = saved is not None and not mine and _LEGACY_KEYS <= set(saved)
    if not (mine or legacy):
        shown = sorted(p.name for p in root.iterdir())[:5]
        raise ValueError(f"The {param('run_dir', OWNER)} must be a new or empty directory, or one that fit made "
                         f"(its config.json holds made_by={MARKER!r}). Got {str(root)!r}, which holds {shown}"
                         f"{' and more' if len(list(root.iterdir())) > 5 else ''}. fit writes and deletes files in "
                         f"its run dir: pass another run_dir (a new folder), or empty this one if its contents are "
                         f"disposable.")
    if not resume or not last.exists():
        return None
    if legacy:
        raise ConfigMismatch(f"The {param('run_dir', OWNER)} holds a checkpoint of an older version of fit, whose "
                             f"config.json has no resume key (it does not record the world's and observation's "
                             f"content), so resuming it could load another world's kernel. Pass resume=False to "
                             f"start afresh in this run dir, or use another run_dir.",
                             "was made by an older version of fit (no resume key)")
    if saved.get("resume_key") != key:
        differ = _describe_difference(saved, config)
        what = (f"differs in {differ}" if differ else "differs in its resume key")
        content = [_DIGESTS[k] for k in differ if k in _DIGESTS]
        note = f" ({'; '.join(content)}: same names and sizes, other content.)" if content else ""
        raise ConfigMismatch(f"The {param('run_dir', OWNER)} holds a checkpoint of a different config ({what}).{note} "
                             f"Use another run_dir to keep that run, or resume=False to start afresh here (its "
                             f"checkpoints, logs and snapshots are replaced).", what)
    _check_checkpoint(last)
    return str(last)


def _has_fit_layout(root: Path) -> bool:
    return any((root / name).exists() for name in ("checkpoints", "logs", "snapshots.npz"))


def _check_checkpoint(path: Path) -> None:
    """Load the checkpoint as Lightning will (weights_only=True: no pickled code runs) and check its shape, so that
    a damaged or planted file is reported before Lightning starts."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        missing = [k for k in ("state_dict", "global_step", "callbacks", "loops") if k not in ckpt]
        if missing:
            raise ValueError(f"not a Lightning checkpoint of fit (no {missing})")
    except Exception as err:  # noqa: BLE001  (any failure to load means the same remedy)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"The checkpoint {str(path)!r} in the run_dir of {OWNER} cannot be loaded safely "
                         f"(weights_only=True; {type(err).__name__}: {reason[:300]}). It is damaged or was not "
                         f"written by fit. Pass resume=False to start afresh in this run dir (it is replaced), or "
                         f"delete the run dir.") from err


def _start_afresh(root: Path, saved: dict) -> None:
    """Remove fit's own outputs of an earlier run (checkpoints, CSV logs, snapshots; never another file) and write
    config.json. Only rank 0 writes (DDP ranks rerun fit and see the dir rank 0 prepared)."""
    if pl.utilities.rank_zero_only.rank != 0:
        return
    root.mkdir(parents=True, exist_ok=True)
    ckpts = root / "checkpoints"
    if ckpts.is_dir():
        for f in ckpts.iterdir():
            if f.is_file() and _CKPT_NAME.fullmatch(f.name):
                f.unlink()
        _rmdir_if_empty(ckpts)
    for logs in (root / "logs", root / "tensorboard"):
        if logs.is_dir():
            for version in logs.glob("version_*"):
                if version.is_dir():
                    for f in version.iterdir():
                        if f.name in _LOG_FILES or f.name.startswith("events.out.tfevents."):
                            f.unlink()
                    _rmdir_if_empty(version)
            _rmdir_if_empty(logs)
    (root / "snapshots.npz").unlink(missing_ok=True)
    write_json(root / "config.json", saved)


def _tensorboard_available() -> bool:
    from importlib.util import find_spec

    return find_spec("tensorboard") is not None or find_spec("tensorboardX") is not None


def _loggers(where: Path, tensorboard: bool) -> list:
    """The CSV logger (the history's record on disk), and TensorBoard's beside it on request."""
    loggers = [CSVLogger(where, name="logs")]
    if tensorboard:
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(where, name="tensorboard", default_hp_metric=False))
    return loggers


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _write_snapshots(path: Path, snapshots: dict) -> None:
    if not snapshots:
        return
    buf = io.BytesIO()
    steps = sorted(snapshots)
    np.savez(buf, steps=np.array(steps), embeddings=np.stack([snapshots[s] for s in steps]))
    atomic_write_bytes(path, buf.getvalue())


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
                                    r"LightningModule.*has parameters that were not used|treespec|"
                                    r"callbacks used to create the checkpoint need to be provided).*")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextmanager
def _run_dir(root: Path | None):
    if root is not None:
        yield root
        return
    tmp = tempfile.mkdtemp(prefix="learners-fit-")
    try:
        yield Path(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
