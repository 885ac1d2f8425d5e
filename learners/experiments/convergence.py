"""convergence: do two bijective modalities with different encoders converge to the same kernel, K_PMI + c?

Each modality (a relabelling read by an embedding table, random vector codes read by an MLP, optionally token
strings read by a tiny transformer) gets its own learner, trained on its own observed pairs (streamed exact draws),
once per loss. Reported: each learned kernel vs K_PMI beside the population optimum and the plug-in PMI at the same
pair budget; the two modalities' state kernels vs each other (alignment metrics) as training proceeds.
"""
from __future__ import annotations

from itertools import combinations, product
from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.progress import progress
from platonic_core.runio import legend_outside, pyplot, save_figure
from worlds import OBSERVATIONS
from worlds.observations import BIJECTIVE
from worlds.summary import summarise

from ..population import LOSSES
from ._common import announce_fits, check_fits, check_world, fit_in, kernel_alignment, scaled, table

DEFAULTS = {
    "world": "torus",            # lazy torus 8 x 8 with teleport: PSD-able at W = 16
    "window": 16,
    "losses": ["infonce", "nce"],
    "modalities": ["permutation", "vector"],  # add "token" for the text encoder
    "dim": 64,                   # = N: the population optimum is K_PMI + c exactly
    "batch_size": 512,
    "steps": 1500,               # x --scale
    "lr": {"permutation": 0.01, "vector": 0.003, "token": 0.003},
    "nce_negatives": 16,         # K explicit negatives per pair for binary NCE (InfoNCE: in-batch)
    "learn_bias": True,          # binary NCE with a learnable offset (exact); False shows the PSD gap
    "evals": 20,                 # kernel snapshots per fit, for the curves
    "k": 8,                      # neighbours for mutual_knn / cknna
    "scale": 1.0,                # multiplies steps (--scale 0.05 for a smoke test)
    "accelerator": "auto",       # Lightning accelerator: GPU when present
}


def _plan(cfg: dict, world) -> list:
    """((loss, modality), observation, fit's keyword arguments) of every learner, in training order."""
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    plan = []
    for loss in cfg["losses"]:
        for i, m in enumerate(cfg["modalities"]):
            nce = loss == "nce"
            kw = dict(loss=loss, dim=cfg["dim"], window=cfg["window"], batch_size=cfg["batch_size"], lr=cfg["lr"][m],
                      max_steps=steps, negatives=cfg["nce_negatives"] if nce else 0,
                      learn_bias=nce and cfg["learn_bias"], seed=cfg["seed"], eval_every=max(1, steps // cfg["evals"]),
                      accelerator=cfg["accelerator"])
            plan.append(((loss, m), OBSERVATIONS[m](world.n_states, seed=cfg["seed"] + 1 + i), kw))
    return plan


def check(cfg: dict):
    world = check_world(cfg, "convergence")
    checks.check_subset(cfg["losses"], "losses", "convergence", LOSSES)
    checks.check_subset(cfg["modalities"], "modalities", "convergence", BIJECTIVE)
    checks.check_int(cfg["nce_negatives"], "nce_negatives", "convergence", 1)
    checks.check_bool(cfg["learn_bias"], "learn_bias", "convergence")
    for m in cfg["modalities"]:
        if m not in cfg["lr"]:
            checks.fail(checks.param("lr", "convergence"), f"give a learning rate for every modality ({m!r} has "
                        "none)", repr(cfg["lr"]))
    check_fits(_plan(cfg, world))
    return world


def run(cfg: dict, out: Path):
    world = check(cfg)
    W, N = cfg["window"], world.n_states
    K = world.pmi(W)
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    announce_fits(world, W, len(cfg["losses"]) * len(cfg["modalities"]), steps)
    fits, rows = {}, []
    for (loss, m), obs, kw in progress(_plan(cfg, world), desc="fits", unit="fit"):
        r = fit_in(out, f"{loss}-{m}", world, obs, cfg["fresh"], **kw)
        fits[loss, m] = r
        rep = r.report()
        rows.append({"loss": loss, "modality": m, "encoder": type(r.module.encoder).__name__,
                     **{f"learned_{k}": v for k, v in rep["learned"].items()},
                     **{f"population_{k}": v for k, v in rep["population"].items()},
                     **{f"plugin_{k}": v for k, v in rep["plugin"].items()},
                     "pair_budget": rep["pair_budget"],
                     "pearson_curve": r.history["pearson"]})
    cross = []
    for loss, (ma, mb) in product(cfg["losses"], combinations(cfg["modalities"], 2)):
        a, b = fits[loss, ma], fits[loss, mb]
        final = kernel_alignment(a.state_kernel, b.state_kernel, cfg["k"])
        curve_steps = sorted(set(a.snapshots) & set(b.snapshots))
        curve = [kernel_alignment(a.snapshots[s] @ a.snapshots[s].T, b.snapshots[s] @ b.snapshots[s].T, cfg["k"])
                 for s in curve_steps]
        cross.append({"loss": loss, "pair": f"{ma}/{mb}", **final,
                      "curve": {"step": curve_steps, **{k: [c[k] for c in curve] for k in final}}})

    _plot_scatter(fits, K, out / "scatter.png")
    _plot_curves(cross, rows, out / "alignment_curve.png")
    summary = "\n\n".join([
        table(rows, ["loss", "modality", "encoder", "learned_pearson_offdiag", "learned_spearman_offdiag",
                     "learned_rel_error", "population_rel_error", "plugin_rel_error", "pair_budget"],
              f"Learned kernel vs K_PMI ({world.name}, N={N}, W={W}, {steps} steps)"),
        table(cross, ["loss", "pair", "pearson", "mutual_knn", "cknna", "cka", "unbiased_cka"],
              "Cross-modal alignment of the state kernels (final)"),
    ])
    results = {"world": summarise(world, W), "steps": steps, "learners": rows, "cross_modal": cross,
               "plots": ["scatter.png", "alignment_curve.png"]}
    return results, summary


def _plot_scatter(fits, K, path):
    plt = pyplot()
    off = ~np.eye(len(K), dtype=bool)
    fig, axes = plt.subplots(1, len(fits), figsize=(3.6 * len(fits), 3.4), squeeze=False)
    for ax, ((loss, m), r) in zip(axes[0], fits.items()):
        y = r.state_kernel[off]
        ax.scatter(K[off], y, s=3, alpha=0.4)
        slope, icpt = np.polyfit(K[off], y, 1)
        xs = np.linspace(K[off].min(), K[off].max(), 2)
        ax.plot(xs, slope * xs + icpt, "k--", lw=1)
        ax.set_title(f"{loss} / {m}\nr = {np.corrcoef(K[off], y)[0, 1]:.4f}", fontsize=9)
        ax.set_xlabel("K_PMI(a, b)")
    axes[0][0].set_ylabel("learned <f(a), f(b)>")
    save_figure(fig, path)


def _plot_curves(cross, rows, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, c in enumerate(cross):  # a colour per pair of learners, a line style and marker per metric
        for metric, style in (("pearson", "-o"), ("mutual_knn", "--s"), ("cka", ":^")):
            axes[0].plot(c["curve"]["step"], c["curve"][metric], style, color=f"C{i % 10}", ms=3,
                         label=f"{c['loss']} {c['pair']}: {metric}")
    axes[0].set_title("cross-modal alignment of state kernels")
    for r in rows:
        axes[1].plot(r["pearson_curve"]["step"], r["pearson_curve"]["value"], label=f"{r['loss']} / {r['modality']}")
    axes[1].set_title("Pearson with K_PMI (off-diagonal)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.set_ylim(-0.05, 1.02)
        legend_outside(ax)
    save_figure(fig, path)


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the lowest learned-kernel Pearson with K_PMI over learners."""
    return "min Pearson(learned, K_PMI)", min(r["learned_pearson_offdiag"] for r in results["learners"])
