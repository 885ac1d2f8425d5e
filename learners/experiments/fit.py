"""fit: one learner on one world through one bijective observation, checked against K_PMI.

The single-learner run behind `python -m learners` (an alias of `python -m worlds.run fit`): trains with
learners.fit (checkpoints and CSV logs under <out>/fit/, resumed on a rerun; --fresh retrains) and reports the
learned kernel against K_PMI and the plug-in PMI at the same pair budget; fit.png shows its loss and Pearson curves.
Trainer settings pass through, so `--set accelerator=cpu --set devices=2 --set strategy=ddp` runs DDP (Lightning
relaunches the command once per extra process; only rank 0 writes).
"""
from __future__ import annotations

import math
from pathlib import Path

from platonic_core import checks
from platonic_core.runio import legend_outside, pyplot, save_figure
from worlds import OBSERVATIONS
from worlds.observations import BIJECTIVE

from ._common import check_fits, check_world

DEFAULTS = {
    "world": "torus",
    "observation": "permutation",  # a bijective modality: permutation (embedding table), vector (MLP), token (text)
    "loss": "infonce",             # infonce | nce
    "dim": 32,
    "window": 16,
    "data": "stream",              # stream (fresh exact draws) | pairs (a pool of n_pairs) | trajectory (of length)
    "n_pairs": None,
    "length": None,
    "batch_size": 512,
    "negatives": 0,                # K explicit negatives per pair (0: in-batch)
    "learn_bias": False,           # binary NCE with a learnable offset
    "lr": 0.01,
    "max_steps": 1000,
    "accelerator": "auto",         # Lightning Trainer settings
    "devices": 1,
    "strategy": "auto",
    "num_nodes": 1,
    "precision": "32-true",
    "tensorboard": False,          # also log to TensorBoard (<out>/fit/tensorboard; needs tensorboard installed)
}
TYPES = {"n_pairs": int, "length": int}


def _options(cfg: dict) -> dict:
    """fit's keyword arguments from the settings (fit shows Lightning's bar on a terminal)."""
    keys = ("loss", "dim", "window", "data", "n_pairs", "length", "batch_size", "negatives", "learn_bias", "lr",
            "max_steps", "seed", "accelerator", "devices", "strategy", "num_nodes", "precision", "tensorboard",
            "threads")
    return {k: cfg[k] for k in keys}


def check(cfg: dict):
    world = check_world(cfg, "fit")
    checks.check_choice(cfg["observation"], "observation", "fit", BIJECTIVE)
    for key, needed in (("n_pairs", "pairs"), ("length", "trajectory")):
        if cfg["data"] == needed and cfg[key] is None:
            checks.fail(checks.param(key, "fit"), f"be set with data={needed!r}", "None")
        if cfg[key] is not None:
            if cfg["data"] != needed:
                checks.fail(checks.param(key, "fit"), f"be None unless data={needed!r} (data={cfg['data']!r})",
                            cfg[key])
    check_fits([(None, None, _options(cfg))])
    if "out" in cfg and not cfg["fresh"]:  # the runner's cfg carries out: an earlier fit there must match
        _check_rerun(world, Path(cfg["out"]), cfg)
    return world


def _check_rerun(world, out: Path, cfg: dict) -> None:
    """A rerun into a folder whose fit/ holds a checkpoint of other settings resumes nothing: say so before any work,
    in the command line's terms (--fresh, --out; fit's own message names its Python option resume=False)."""
    from ..fit import ConfigMismatch, FitConfig, check_run_dir

    try:
        check_run_dir(world, _observation(world, cfg), out / "fit", FitConfig(**_options(cfg)))
    except ConfigMismatch as err:
        checks.fail(checks.param("out", "fit"), "be a new folder or hold a fit of the same settings (pass --fresh to "
                    "train afresh there, replacing that fit's checkpoints, logs and snapshots, or use another --out)",
                    f"{str(out)!r}, whose fit/ {err.what}")


def _observation(world, cfg: dict):
    return OBSERVATIONS[cfg["observation"]](world.n_states, seed=cfg["seed"])


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the learned kernel's Pearson with K_PMI."""
    return "Pearson(learned, K_PMI)", results["learned"]["pearson_offdiag"]


def run(cfg: dict, out: Path):
    from ..fit import fit

    world = check(cfg)
    result = fit(world, _observation(world, cfg), run_dir=out / "fit", resume=not cfg["fresh"], **_options(cfg))
    report = result.report(population=False)
    learned = report["learned"]
    text = (f"pearson_offdiag {learned['pearson_offdiag']:.5f}  rel_error {learned['rel_error']:.5f}  "
            f"plugin rel_error {report['plugin'].get('rel_error', float('nan')):.5f}  pairs {report['pair_budget']}")
    _plot(result.history, report["plugin"].get("pearson_offdiag"), out / "fit.png")
    return {**report, "history": result.history, "fit_config": result.config, "plots": ["fit.png"]}, text


def _plot(history: dict, plugin, path: Path) -> None:
    """The training loss and the Pearson of the learned kernel with K_PMI against the step, side by side."""
    plt = pyplot()
    fig, (loss, pearson) = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, label in ((loss, "loss", "training loss"), (pearson, "pearson", "Pearson(learned, K_PMI)")):
        if key in history:
            ax.plot(history[key]["step"], history[key]["value"], "-o", ms=3, color="tab:blue", label="learner")
        else:  # a run shorter than fit's log_every logs no loss
            ax.text(0.5, 0.5, "no point logged", transform=ax.transAxes, ha="center", color="gray")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.set_title(label)
    if plugin is not None and math.isfinite(plugin):  # a pool that missed some value has no plug-in
        pearson.axhline(plugin, color="tab:orange", ls="--", label=f"plug-in PMI, same pairs: {plugin:.3f}")
    legend_outside(pearson)
    save_figure(fig, path)
