"""data: how many pairs does a learner need, against counting?

For each pair budget M, a finite pool of M pairs (exact i.i.d. draws from P_coor, or a sampled trajectory) trains
learners of several embedding dims to the end of their schedule; the plug-in count PMI uses the very same pool.
Reported: the relative error after the best affine fit to K_PMI of each, on all finite entries and on the entries the
plug-in has seen (its own support: unseen pairs give it -inf), beside the population optimum at each dim (the
infinite-data floor of a rank-dim learner).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.progress import progress
from platonic_core.runio import legend_outside, pyplot, save_figure
from worlds import Permutation, plugin_pmi
from worlds.summary import summarise

from ..population import LOSSES
from ._common import announce_fits, check_fits, check_world, fit_in, scaled, table

DEFAULTS = {
    "world": "torus",
    "window": 16,
    "loss": "infonce",
    "data": "pairs",             # "pairs": i.i.d. exact draws; "trajectory": all pairs of one sampled trajectory
    "budgets": [1000, 3000, 10000, 30000, 100000, 300000],
    "dims": [16, 64],            # low rank regularises; 64 = N
    "batch_size": 512,           # capped at the budget
    "steps": 1200,               # x --scale
    "lr": 0.01,
    "scale": 1.0,                # multiplies steps (--scale 0.05 for a smoke test)
    "accelerator": "auto",       # Lightning accelerator: GPU when present
}


def _plan(cfg: dict, world) -> list:
    """((budget, dim), observation, fit's keyword arguments) of every learner; one observation for all, so the
    plug-in estimate of each budget's pool is comparable across dims."""
    steps, W = scaled(cfg["steps"], cfg["scale"], 20), cfg["window"]
    obs = Permutation(world.n_states, seed=cfg["seed"] + 1)
    plan = []
    for budget in cfg["budgets"]:
        source = ({"n_pairs": budget} if cfg["data"] == "pairs"
                  else {"length": max(2, budget // (2 * W + 1))})  # ~budget pairs from one trajectory
        for dim in cfg["dims"]:
            plan.append(((budget, dim), obs, dict(loss=cfg["loss"], dim=dim, window=W, data=cfg["data"],
                                                  batch_size=min(cfg["batch_size"], budget), lr=cfg["lr"],
                                                  max_steps=steps, seed=cfg["seed"],
                                                  accelerator=cfg["accelerator"], **source)))
    return plan


def check(cfg: dict):
    world = check_world(cfg, "data", window_low=1)
    checks.check_choice(cfg["loss"], "loss", "data", LOSSES)
    checks.check_choice(cfg["data"], "data", "data", ("pairs", "trajectory"))
    checks.check_ints(cfg["budgets"], "budgets", "data", 2)
    checks.check_ints(cfg["dims"], "dims", "data", 1)
    check_fits(_plan(cfg, world))
    return world


def run(cfg: dict, out: Path):
    from ..population import population_optimum
    from ..report import compare

    world = check(cfg)
    W, N = cfg["window"], world.n_states
    K, P = world.pmi(W), world.cooccurrence(W)
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    announce_fits(world, cfg["window"], len(cfg["budgets"]) * len(cfg["dims"]), steps)
    floors = {d: compare(population_optimum(P, cfg["loss"], d, seed=cfg["seed"]).kernel, K) for d in cfg["dims"]}
    rows, plugs = [], {}
    for (budget, dim), obs, kw in progress(_plan(cfg, world), desc="fits", unit="fit"):
        r = fit_in(out, f"M{budget}-dim{dim}", world, obs, cfg["fresh"], **kw)
        if budget not in plugs:  # the plug-in PMI of this budget's pool (the same pool for every dim)
            try:
                plug = plugin_pmi(r.pairs, N)[np.ix_(obs.perm, obs.perm)]  # over states
                plugs[budget] = plug, compare(plug, K)
            except ValueError:  # some value never seen: its plug-in row is undefined
                plugs[budget] = None, {"rel_error": float("nan"), "coverage": 0.0, "pearson_offdiag": float("nan")}
        plug, plug_err = plugs[budget]
        learned = compare(r.state_kernel, K)
        seen = compare(np.where(np.isfinite(plug), r.state_kernel, -np.inf), K) if plug is not None else learned
        rows.append({"budget": budget, "pairs": r.pairs_seen, "dim": dim,
                     "learner_rel_error": learned["rel_error"], "learner_pearson": learned["pearson_offdiag"],
                     "learner_rel_error_seen": seen["rel_error"],
                     "plugin_rel_error": plug_err["rel_error"], "plugin_pearson": plug_err["pearson_offdiag"],
                     "plugin_coverage": plug_err["coverage"],
                     "ratio_seen": seen["rel_error"] / plug_err["rel_error"],
                     "population_rel_error": floors[dim]["rel_error"]})
    _plot(rows, cfg["dims"], out / "data.png")
    text = table(rows, ["budget", "pairs", "dim", "learner_rel_error", "learner_rel_error_seen", "plugin_rel_error",
                        "plugin_coverage", "ratio_seen", "population_rel_error"],
                 f"Pair budget sweep ({world.name}, N={N}, W={W}, {cfg['loss']}, data={cfg['data']}, {steps} steps; "
                 "ratio_seen = learner / plug-in error on the plug-in's finite entries)")
    results = {"world": summarise(world, W), "steps": steps, "by_budget": rows,
               "population": {str(d): f for d, f in floors.items()}, "plots": ["data.png"]}
    return results, text


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: learner / plug-in error (on the plug-in's entries) at the largest budget and dim."""
    row = max(results["by_budget"], key=lambda r: (r["budget"], r["dim"]))
    return f"learner / plug-in error at M={row['budget']}, dim {row['dim']}", row["ratio_seen"]


def _plot(rows, dims, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    budgets = sorted({r["budget"] for r in rows})
    plug = [next(r["plugin_rel_error"] for r in rows if r["budget"] == b) for b in budgets]
    ax.plot(budgets, plug, "k-o", label="plug-in PMI (its finite entries)")
    for dim in dims:
        sel = [r for r in rows if r["dim"] == dim]
        line, = ax.plot([r["budget"] for r in sel], [r["learner_rel_error"] for r in sel], "-o",
                        label=f"learner dim {dim} (all entries)")
        ax.plot([r["budget"] for r in sel], [r["learner_rel_error_seen"] for r in sel], "--", color=line.get_color(),
                label=f"learner dim {dim} (plug-in's entries)")
        floor = sel[0]["population_rel_error"]
        ax.axhline(floor, color=line.get_color(), ls=":", lw=1, label=f"population optimum dim {dim}: {floor:.2g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    shown = [r[k] for r in rows for k in ("learner_rel_error", "plugin_rel_error") if np.isfinite(r[k])]
    ax.set_ylim(0.5 * min(shown), 1.5 * max(shown))  # a full-rank floor near 0 is named in the legend
    ax.set_xlabel("pair budget")
    ax.set_ylabel("relative error after affine fit")
    legend_outside(ax)
    save_figure(fig, path)
