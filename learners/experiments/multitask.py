"""multitask: do learners trained on more tasks have fewer solutions (the paper's multitask scaling hypothesis)?

A factor world (`factors` independent lazy rings of `factor_states` states, N = factor_states^factors) and one task
per factor: predict the value of factor t of a co-occurring event from the shared embedding f(z) of the event (InfoNCE
with an output table per task; learners.multitask). For n = 1..factors tasks, `seeds` independently seeded learners of
rank `dim` minimise the exact population loss of the first n tasks (L-BFGS: the spread between seeds is the loss's own
freedom, not sampling noise), once per `ridges` value (0: none; > 0: weight decay, the simplicity-bias probe).
Reported per n: alignment between the seeds (raw features: CKA, mutual k-NN; modulo invertible linear maps, which the
task heads leave free: p-whitened CKA and SVCCA), beside the prediction (r + (dim - r)^2 / (N - 1 - r)) / dim for the
whitened CKA, r the span the tasks fix; and alignment with the world's joint kernel K_PMI. Writes multitask.png.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.runio import legend_outside, pyplot, save_figure

from ._common import table

DEFAULTS = {
    "factor_world": "ring",      # each factor: a lazy ring (worlds.make_world(NAME, n_states=factor_states))
    "factor_states": 4,
    "factors": 3,                # tasks: the first 1..factors factors
    "window": 4,
    "dim": 10,                   # = factors x (factor_states - 1) + 1: enough for every task, none to spare
    "seeds": 4,                  # independently seeded learners per (tasks, ridge)
    "ridges": [0.0, 0.0001],     # 0: no simplicity bias; > 0: weight decay on F and the heads (min-norm solution)
    "k": 8,                      # neighbours for mutual_knn
    "cca_dim": 10,               # SVCCA dimensions (capped by each pair's rank)
    "max_iter": 20000,           # L-BFGS iterations per learner
}
FACTOR_WORLDS = ("ring", "sticky", "dirichlet")


def check(cfg: dict):
    from ..multitask import factor_world

    name = "multitask"
    checks.check_choice(cfg["factor_world"], "factor_world", name, FACTOR_WORLDS)
    m = checks.check_int(cfg["factor_states"], "factor_states", name, 3 if cfg["factor_world"] == "ring" else 2)
    t = checks.check_int(cfg["factors"], "factors", name, 1)
    if t > 10 or m ** t > 1024:  # m >= 2: more than 10 factors are more than 1024 states (and m ** t is huge)
        checks.fail(checks.param("factors", name), f"give at most 1024 states (factor_states^factors = {m}^{t})", t)
    checks.check_int(cfg["window"], "window", name, 1)
    checks.check_int(cfg["dim"], "dim", name, 1, m ** t - 1, hint=f"[1, N-1] with N={m ** t} states")
    checks.check_int(cfg["seeds"], "seeds", name, 2)
    if not isinstance(cfg["ridges"], list) or not cfg["ridges"]:
        checks.fail(checks.param("ridges", name), "be a non-empty list of numbers >= 0", repr(cfg["ridges"]))
    for i, r in enumerate(cfg["ridges"]):
        checks.check_real(r, f"ridges[{i}]", name, low=0)
    checks.check_int(cfg["k"], "k", name, 1, m ** t - 1, hint=f"[1, N-1] with N={m ** t} states")
    checks.check_int(cfg["cca_dim"], "cca_dim", name, 1)
    checks.check_int(cfg["max_iter"], "max_iter", name, 1)
    return factor_world(t, m, cfg["factor_world"], seed=cfg["seed"])


def _metrics(Fa, Fb, p, k, cca_dim) -> dict:
    import alignment

    from ..multitask import whiten

    wa, wb = whiten(Fa, p), whiten(Fb, p)
    out = {"cka": alignment.cka(Fa, Fb, dtype=_f64()), "whitened_cka": alignment.cka(wa, wb, dtype=_f64())}
    try:
        out["mutual_knn"] = alignment.mutual_knn(Fa, Fb, k=k, dtype=_f64())
    except ValueError:  # pure tie-breaks (a learner that encodes nothing)
        out["mutual_knn"] = float("nan")
    d = min(cca_dim, wa.shape[1], wb.shape[1])
    try:
        out["svcca"] = alignment.svcca(wa, wb, cca_dim=d, dtype=_f64())
    except ValueError:
        out["svcca"] = float("nan")
    return out


def _f64():
    import torch

    return torch.float64


def run(cfg: dict, out: Path):
    import alignment

    from ..multitask import fit_multitask, predicted_whitened_cka, task_joints, task_rank, whiten

    world, labels = check(cfg)
    W, N, T = cfg["window"], world.n_states, cfg["factors"]
    P = world.cooccurrence(W)
    P = P.toarray() if hasattr(P, "toarray") else P
    K = world.pmi(W)
    p = P.sum(1)
    joints = task_joints(P, labels)
    rows = []
    for ridge in cfg["ridges"]:
        for n in range(1, T + 1):
            tasks = list(range(n))
            fits = [fit_multitask(P, labels, tasks, cfg["dim"], seed=cfg["seed"] + 1000 * s, ridge=ridge,
                                  max_iter=cfg["max_iter"]) for s in range(cfg["seeds"])]
            pairs = [_metrics(a.embeddings, b.embeddings, p, cfg["k"], cfg["cca_dim"])
                     for a, b in combinations(fits, 2)]
            joint = []
            for f in fits:
                wf = whiten(f.embeddings, p)
                joint.append({"cka": alignment.measure_kernels("cka", f.embeddings @ f.embeddings.T, K,
                                                               dtype=_f64()),
                              "whitened_cka": alignment.measure_kernels("cka", wf @ wf.T, K, dtype=_f64())})
            r = task_rank(joints, tasks)
            mean = lambda items, key: float(np.nanmean([x[key] for x in items]))  # noqa: E731
            rows.append({"ridge": ridge, "tasks": n, "task_rank": r,
                         "predicted_whitened_cka": predicted_whitened_cka(r, cfg["dim"], N) if ridge == 0 else None,
                         **{f"seeds_{m}": mean(pairs, m) for m in ("cka", "whitened_cka", "svcca", "mutual_knn")},
                         "seeds_whitened_cka_min": float(np.min([x["whitened_cka"] for x in pairs])),
                         **{f"joint_{m}": mean(joint, m) for m in ("cka", "whitened_cka")},
                         "rank": float(np.mean([whiten(f.embeddings, p).shape[1] for f in fits])),
                         "task_loss": float(np.mean([np.sum(f.task_losses) for f in fits])),
                         "converged": all(f.converged for f in fits)})
    _plot(rows, cfg, out / "multitask.png")
    cols = ["ridge", "tasks", "task_rank", "predicted_whitened_cka", "seeds_whitened_cka", "seeds_svcca", "seeds_cka",
            "seeds_mutual_knn", "joint_cka", "joint_whitened_cka", "rank"]
    text = table(rows, cols, f"Multitask learners ({T} factors x {cfg['factor_states']} states, N={N}, W={W}, "
                 f"dim={cfg['dim']}, {cfg['seeds']} seeds; seeds_*: mean over pairs; joint_*: with K_PMI)")
    results = {"n_states": N, "window": W, "by_tasks": rows, "plots": ["multitask.png"],
               "finding": _finding(rows)}
    return results, text + "\n\n" + results["finding"]


def _finding(rows) -> str:
    free = [r for r in rows if r["ridge"] == 0]
    ridge = [r for r in rows if r["ridge"] > 0]
    parts = []
    if len(free) > 1:
        parts.append(f"without a ridge, whitened CKA between seeds goes {free[0]['seeds_whitened_cka']:.3f} -> "
                     f"{free[-1]['seeds_whitened_cka']:.3f} from 1 to {free[-1]['tasks']} tasks (predicted "
                     f"{free[0]['predicted_whitened_cka']:.3f} -> {free[-1]['predicted_whitened_cka']:.3f}); raw CKA "
                     f"{free[0]['seeds_cka']:.3f} -> {free[-1]['seeds_cka']:.3f} (the heads leave F -> F A free, "
                     f"which raw kernels see); CKA with K_PMI {free[0]['joint_cka']:.3f} -> "
                     f"{free[-1]['joint_cka']:.3f}")
    if len(ridge) > 1:
        parts.append(f"with a ridge (ridge={ridge[0]['ridge']:g}) the seeds agree already on 1 task (raw CKA "
                     f"{ridge[0]['seeds_cka']:.3f}): a simplicity bias removes the freedom more tasks remove; CKA with "
                     f"K_PMI {ridge[0]['joint_cka']:.3f} -> {ridge[-1]['joint_cka']:.3f}")
    return "; ".join(parts) + "." if parts else ""


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: whitened CKA between seeds with every task (the first ridge)."""
    ridge = results["by_tasks"][0]["ridge"]
    row = max((r for r in results["by_tasks"] if r["ridge"] == ridge), key=lambda r: r["tasks"])
    return f"whitened CKA between seeds, {row['tasks']} tasks", row["seeds_whitened_cka"]


def _plot(rows, cfg, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    metrics = {"whitened_cka": ("o", "C0"), "svcca": ("s", "C1"), "cka": ("^", "C2"), "mutual_knn": ("v", "C3")}
    # a colour and marker per metric, a line style per ridge (hollow markers past the first), and a small x offset
    # per metric and ridge: series that coincide (all at 1) stay visible side by side
    for j, (ridge, style) in enumerate(zip(cfg["ridges"], ("-", "--", ":", "-."))):
        sel = [r for r in rows if r["ridge"] == ridge]
        for i, (metric, (marker, colour)) in enumerate(metrics.items()):
            x = [r["tasks"] + 0.025 * (2 * i + j - 3.5) for r in sel]
            kw = dict(marker=marker, color=colour, mfc=colour if j == 0 else "none",
                      label=f"{metric} (ridge {ridge:g})")
            axes[0].plot(x, [r[f"seeds_{metric}"] for r in sel], style, **kw)
            if metric in ("cka", "whitened_cka"):
                axes[1].plot(x, [r[f"joint_{metric}"] for r in sel], style, **kw)
        if ridge == 0:
            axes[0].plot([r["tasks"] for r in sel], [r["predicted_whitened_cka"] for r in sel], "k*", ms=10,
                         label="predicted whitened CKA")
    axes[0].set_title("alignment between independently seeded learners")
    axes[1].set_title("alignment with the joint kernel K_PMI")
    for ax in axes:
        ax.set_xlabel("number of tasks")
        ax.set_xticks(sorted({r["tasks"] for r in rows}))
        ax.set_ylim(-0.02, 1.02)
        legend_outside(ax)
    save_figure(fig, path)
