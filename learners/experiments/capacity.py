"""capacity: how does the embedding dimension limit convergence?

For each dim, independently seeded learners (different relabelling, initialisation and data) are trained on the
same world; reported: their alignment with each other and with K_PMI, beside the population optimum at that rank
(the best any rank-dim dot-product critic can do, and its loss gap).
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from platonic_core.runio import save_figure
from worlds import Permutation, make_world

from ..population import population_optimum
from .common import fit_in, kernel_alignment, pyplot, scaled, table

DEFAULTS = {
    "world": "torus",
    "window": 16,
    "loss": "infonce",
    "dims": [1, 2, 4, 8, 16, 32, 64],
    "seeds": 2,                  # independently seeded learners per dim
    "batch_size": 512,
    "steps": 800,                # x --scale
    "lr": 0.01,
    "k": 8,                      # neighbours for mutual_knn / cknna
}


def run(cfg: dict, out: Path):
    from worlds.run import summarise

    world = make_world(cfg["world"], seed=cfg["seed"])
    W, N = cfg["window"], world.n_states
    K, P = world.pmi(W), world.cooccurrence(W)
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    rows = []
    for dim in cfg["dims"]:
        kernels = []
        for s in range(cfg["seeds"]):
            seed = cfg["seed"] + s
            r = fit_in(out, f"dim{dim}-seed{s}", world, Permutation(N, seed=seed + 100), cfg["fresh"],
                       loss=cfg["loss"], dim=dim, window=W, batch_size=cfg["batch_size"], lr=cfg["lr"],
                       max_steps=steps, seed=seed, accelerator=cfg["accelerator"])
            kernels.append(r.state_kernel)
        between = [kernel_alignment(a, b, cfg["k"]) for a, b in combinations(kernels, 2)]
        to_pmi = [kernel_alignment(k, K, cfg["k"]) for k in kernels]
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


def _plot(rows, path):
    plt = pyplot()
    dims = [r["dim"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for m, style in (("pearson", "-o"), ("mutual_knn", "--o"), ("cka", ":o")):
        axes[0].plot(dims, [r[f"seeds_{m}"] for r in rows], style, label=m)
        axes[1].plot(dims, [r[f"learner_pmi_{m}"] for r in rows], style, label=f"learner: {m}")
        axes[1].plot(dims, [r[f"population_pmi_{m}"] for r in rows], style, alpha=0.5, label=f"optimum: {m}")
    axes[0].set_title("alignment between independently seeded learners")
    axes[1].set_title("alignment with K_PMI")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("embedding dim")
        ax.set_ylim(-0.05, 1.02)
        ax.legend(fontsize=7)
    save_figure(fig, path)
