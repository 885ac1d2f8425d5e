"""capacity: how does the embedding dimension limit convergence?

For each dim, independently seeded learners (different relabelling, initialisation and data) are trained on the
same world; reported: their alignment with each other and with K_PMI, beside the population optimum at that rank
(the best any rank-dim dot-product critic can do, and its loss gap).
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.progress import progress
from platonic_core.runio import legend_outside, pyplot, save_figure
from worlds import Permutation
from worlds.summary import summarise

from ..population import LOSSES
from ._common import announce_fits, check_fits, check_world, fit_in, kernel_alignment, scaled, table

DEFAULTS = {
    "world": "torus",
    "window": 16,
    "loss": "infonce",
    "dims": [1, 2, 4, 8, 16, 32, 64],
    "seeds": 2,                  # independently seeded learners per dim (2 to 1000)
    "batch_size": 512,
    "steps": 800,                # x --scale
    "lr": 0.01,
    "k": 8,                      # neighbours for mutual_knn / cknna
    "scale": 1.0,                # multiplies steps (--scale 0.05 for a smoke test)
    "accelerator": "auto",       # Lightning accelerator: GPU when present
}


def _plan(cfg: dict, world) -> list:
    """((dim, s), observation, fit's keyword arguments) of every learner: cfg["seeds"] per dim."""
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    return [((dim, s), Permutation(world.n_states, seed=cfg["seed"] + s + 100),
             dict(loss=cfg["loss"], dim=dim, window=cfg["window"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                  max_steps=steps, seed=cfg["seed"] + s, accelerator=cfg["accelerator"]))
            for dim in cfg["dims"] for s in range(cfg["seeds"])]


def check(cfg: dict):
    world = check_world(cfg, "capacity")
    checks.check_choice(cfg["loss"], "loss", "capacity", LOSSES)
    checks.check_ints(cfg["dims"], "dims", "capacity", 1)
    # alignment between seeds needs two; the plan of every fit is built (and checked) up front
    checks.check_int(cfg["seeds"], "seeds", "capacity", 2, 1000)
    check_fits(_plan(cfg, world))
    return world


def run(cfg: dict, out: Path):
    from ..population import population_optimum

    world = check(cfg)
    W, N = cfg["window"], world.n_states
    K, P = world.pmi(W), world.cooccurrence(W)
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    announce_fits(world, W, len(cfg["dims"]) * cfg["seeds"], steps)
    kernels = {}
    for (dim, s), obs, kw in progress(_plan(cfg, world), desc="fits", unit="fit"):
        r = fit_in(out, f"dim{dim}-seed{s}", world, obs, cfg["fresh"], **kw)
        kernels.setdefault(dim, []).append(r.state_kernel)
    rows = []
    for dim in cfg["dims"]:
        between = [kernel_alignment(a, b, cfg["k"]) for a, b in combinations(kernels[dim], 2)]
        to_pmi = [kernel_alignment(k, K, cfg["k"]) for k in kernels[dim]]
        opt = population_optimum(P, cfg["loss"], dim, seed=cfg["seed"])
        pop = kernel_alignment(opt.kernel, K, cfg["k"])
        mean = lambda items, key: float(np.mean([x[key] for x in items])) if items else float("nan")  # noqa: E731
        rows.append({"dim": dim,
                     **{f"seeds_{m}": mean(between, m) for m in ("pearson", "mutual_knn", "cka")},
                     **{f"learner_pmi_{m}": mean(to_pmi, m) for m in ("pearson", "mutual_knn", "cka")},
                     **{f"population_pmi_{m}": pop[m] for m in ("pearson", "mutual_knn", "cka")},
                     "population_gap": opt.gap})
    _plot(rows, out / "capacity.png")
    summary = table(rows, ["dim", "seeds_pearson", "seeds_mutual_knn", "seeds_cka", "learner_pmi_pearson",
                           "learner_pmi_mutual_knn", "population_pmi_pearson", "population_gap"],
                    f"Capacity sweep ({world.name}, N={N}, W={W}, {cfg['loss']}, {cfg['seeds']} seeds, {steps} steps)")
    return {"world": summarise(world, W), "steps": steps, "by_dim": rows, "plots": ["capacity.png"]}, summary


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: how alike independently seeded learners are at the largest dim."""
    row = max(results["by_dim"], key=lambda r: r["dim"])
    return f"Pearson between seeds at dim {row['dim']}", row["seeds_pearson"]


def _plot(rows, path):
    plt = pyplot()
    dims = [r["dim"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    # one colour and marker per metric; the optimum dashed with hollow markers, so coinciding series stay visible
    for i, (m, marker) in enumerate((("pearson", "o"), ("mutual_knn", "s"), ("cka", "^"))):
        axes[0].plot(dims, [r[f"seeds_{m}"] for r in rows], "-", marker=marker, color=f"C{i}", label=m)
        axes[1].plot(dims, [r[f"learner_pmi_{m}"] for r in rows], "-", marker=marker, color=f"C{i}",
                     label=f"learner: {m}")
        axes[1].plot(dims, [r[f"population_pmi_{m}"] for r in rows], "--", marker=marker, color=f"C{i}", ms=9,
                     mfc="none", label=f"optimum: {m}")
    axes[0].set_title("alignment between independently seeded learners")
    axes[1].set_title("alignment with K_PMI")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("embedding dim")
        ax.set_ylim(-0.05, 1.02)
        legend_outside(ax)
    save_figure(fig, path)
