"""lossy: how far does a lossy modality's learner stay from the bijective one, and is it predictable?

On a product world (shape x colour), learners see the world through merges (colour pairs, colour quadruples),
a dropped factor (shape only, colour only) and noisy channels. Each is compared with a learner on a bijective
relabelling through the p-weighted cosine of their exp-PMI - 1 kernels (docs/DESIGN.md: for a deterministic merge it
equals sqrt(chi2_X / chi2_Z)), through the alignment metrics, and against the mutual-information ratio. The two
complementary drops are compared with each other (exactly 0 in theory).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.progress import progress
from platonic_core.runio import legend_outside, pyplot, save_figure
from worlds import (
    DropFactor,
    Merge,
    NoisyChannel,
    Permutation,
    min_shift,
    mutual_information,
    pmi_kernel,
    predicted_lossy_alignment,
)
from worlds.summary import summarise

from ..population import LOSSES
from ._common import announce_fits, check_fits, check_world, fit_in, kernel_alignment, pmi_cosine, scaled, table

DEFAULTS = {
    "world": "product",          # two lazy 8-rings: 64 states, factor_sizes (8, 8); PSD-able at W = 16
    "window": 16,
    "loss": "infonce",
    "merges": [2, 4],            # merge this many consecutive states (colour pairs, quadruples)
    "noise": [0.2, 0.5],         # flip probabilities of NoisyChannel
    "drops": True,               # shape-only and colour-only (needs a product world)
    "batch_size": 512,
    "steps": 1500,               # x --scale
    "lr": 0.01,
    "k": 8,                      # neighbours for mutual_knn / cknna
    "scale": 1.0,                # multiplies steps (--scale 0.05 for a smoke test)
    "accelerator": "auto",       # Lightning accelerator: GPU when present
}


def _observations(cfg, world):
    n = world.n_states
    obs = {f"merge{m}": ("merge", Merge(np.arange(n) // m)) for m in cfg["merges"]}
    if cfg["drops"] and world.factor_sizes is not None and len(world.factor_sizes) == 2:
        obs["shape_only"] = ("drop", DropFactor(world.factor_sizes, drop=1))
        obs["colour_only"] = ("drop", DropFactor(world.factor_sizes, drop=0))
    obs.update({f"noisy{p}": ("noisy", NoisyChannel(p, n)) for p in cfg["noise"]})
    return obs


def check(cfg: dict):
    world = check_world(cfg, "lossy")
    checks.check_choice(cfg["loss"], "loss", "lossy", LOSSES)
    for i, m in enumerate(cfg["merges"]):
        checks.check_int(m, f"merges[{i}]", "lossy", 2, world.n_states - 1)
    for i, p in enumerate(cfg["noise"]):
        checks.check_prob(p, f"noise[{i}]", "lossy", open_low=True)
    if checks.check_bool(cfg["drops"], "drops", "lossy") and (world.factor_sizes is None
                                                              or len(world.factor_sizes) != 2):
        checks.fail(checks.param("drops", "lossy"), f"be False unless the world has two factors (world "
                    f"{cfg['world']!r} has {world.factor_sizes})", True)
    check_fits([(None, None, dict(_fit_options(cfg), dim=world.n_states))])
    return world


def _fit_options(cfg: dict) -> dict:
    """fit's keyword arguments shared by every learner (each also gets dim = its number of observed values)."""
    return dict(loss=cfg["loss"], window=cfg["window"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                max_steps=scaled(cfg["steps"], cfg["scale"], 20), seed=cfg["seed"], accelerator=cfg["accelerator"])


def run(cfg: dict, out: Path):
    world = check(cfg)
    W, N = cfg["window"], world.n_states
    P, K, pi = world.cooccurrence(W), world.pmi(W), world.stationary
    P = P.toarray() if hasattr(P, "toarray") else P
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    announce_fits(world, cfg["window"], 1 + len(_observations(cfg, world)), steps)
    common = _fit_options(cfg)
    ref = fit_in(out, "bijective", world, Permutation(N, seed=cfg["seed"] + 1), cfg["fresh"], dim=N, **common)
    rows, fits = [], {}
    for name, (kind, o) in progress(_observations(cfg, world).items(), desc="lossy fits", unit="fit"):
        r = fit_in(out, name, world, o, cfg["fresh"], dim=o.n_obs, **common)
        fits[name] = r
        PX = o.pushforward(P, W)
        qx = PX.sum(1)
        exact = pmi_cosine(K, pi, pmi_kernel(PX), o.matrix, qx)
        rows.append({"observation": name, "kind": kind, "n_obs": o.n_obs,
                     "psd_able": bool(np.isfinite(min_shift(pmi_kernel(PX)))),
                     "predicted": predicted_lossy_alignment(P, PX), "exact_cosine": exact,
                     "measured_cosine": pmi_cosine(ref.state_kernel, pi, r.kernel, o.matrix, qx),
                     "mi_ratio": mutual_information(PX) / mutual_information(P),
                     "learner_pearson": r.history["pearson"]["value"][-1],
                     **{f"align_{k}": v for k, v in kernel_alignment(r.state_kernel, ref.state_kernel,
                                                                      cfg["k"]).items()}})
    complementary = None
    if "shape_only" in fits:
        a, b = fits["shape_only"], fits["colour_only"]
        oa, ob = _observations(cfg, world)["shape_only"][1], _observations(cfg, world)["colour_only"][1]
        Ka, Kb = (pmi_kernel(o.pushforward(P, W)) for o in (oa, ob))
        complementary = {
            "exact_cosine": pmi_cosine(oa.matrix @ Ka @ oa.matrix.T, pi, Kb, ob.matrix, ob.matrix.T @ pi),
            "measured_cosine": pmi_cosine(a.state_kernel, pi, b.kernel, ob.matrix, ob.matrix.T @ pi),
            **{f"align_{k}": v for k, v in kernel_alignment(a.state_kernel, b.state_kernel, cfg["k"]).items()}}
    _plot(rows, out / "lossy.png")
    text = table(rows, ["observation", "n_obs", "psd_able", "predicted", "exact_cosine", "measured_cosine",
                        "mi_ratio", "align_mutual_knn", "align_cka", "learner_pearson"],
                 f"Lossy observations vs the bijective learner ({world.name}, N={N}, W={W}, {steps} steps; the "
                 "prediction is derived for deterministic merges and drops, not noisy channels; "
                 f"bijective learner Pearson with K_PMI {ref.history['pearson']['value'][-1]:.4f})")
    if complementary:
        text += "\n\n" + table([{"pair": "shape_only vs colour_only", **complementary}],
                               ["pair", "exact_cosine", "measured_cosine", "align_mutual_knn", "align_cka"],
                               "Complementary factor drops (theory: cosine 0)")
    results = {"world": summarise(world, W), "steps": steps,
               "bijective_pearson": ref.history["pearson"]["value"][-1], "observations": rows,
               "complementary": complementary, "plots": ["lossy.png"]}
    return results, text


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the largest gap between a lossy learner's measured cosine and the exact one."""
    return "max |measured - exact cosine|", max(abs(r["measured_cosine"] - r["exact_cosine"])
                                                 for r in results["observations"])


def _plot(rows, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    for kind, marker in (("merge", "o"), ("drop", "s"), ("noisy", "^")):
        sel = [r for r in rows if r["kind"] == kind]
        if sel:
            ax.scatter([r["predicted"] for r in sel], [r["measured_cosine"] for r in sel], marker=marker,
                       label=f"{kind}: learned cosine")
            ax.scatter([r["predicted"] for r in sel], [r["mi_ratio"] for r in sel], marker=marker,
                       facecolors="none", edgecolors="gray", label=f"{kind}: MI ratio")
    for i, r in enumerate(rows):  # labels of points that (nearly) coincide, such as symmetric drops, stacked
        near = sum(abs(q["predicted"] - r["predicted"]) < 0.03 and abs(q["measured_cosine"] - r["measured_cosine"])
                   < 0.05 for q in rows[:i])
        ax.annotate(r["observation"], (r["predicted"], r["measured_cosine"]), xytext=(5, 2 - 9 * near),
                    textcoords="offset points", fontsize=7)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("predicted sqrt(chi2_X / chi2_Z)")
    ax.set_ylabel("measured")
    legend_outside(ax)
    save_figure(fig, path)
