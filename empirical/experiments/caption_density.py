"""caption_density: vision-language alignment rises with caption density (Fig. 9).

The same images captioned with more and more information: openclipart title < + description < + keywords (images
whose description has >= min_words words), and Tux Paint photo captions truncated to 1, 2, 4 words < full. For
every density, every (vision model, language model) pair is scored with `alignment.layerwise` (best layer pair)
and the mean and spread over pairs are reported; with n_perm > 0 every pair at the densest level also gets a
permutation null. Vision features do not depend on the captions, so each model embeds each image set once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks, runio

from ._common import cached, check_extraction, check_k, check_models, check_null, metric_kwargs

DEFAULTS = {
    "vision_models": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"],
    "language_models": ["minilm_l6", "mpnet_base", "smollm2_135m", "gemma3_270m"],
    "datasets": ["openclipart", "tuxpaint"],
    "min_words": 5,              # openclipart images whose description has at least this many words
    "n_samples": None,           # a seeded subset of each image set (None: all)
    "metric": "mutual_knn",
    "k": 10,
    "n_perm": 100,               # permutations of the null at the densest level (0: none)
    "device": "auto",            # auto: the GPU when present
    "dtype": "float32",          # model weights: float32, bfloat16 or float16
    "batch_size": 16,
    "cache_dir": None,           # feature cache (None: $PLATONIC_CACHE/features or ~/.cache/platonic/features)
}
TYPES = {"n_samples": int, "cache_dir": str}
DATASETS = ("openclipart", "tuxpaint")


def check(cfg: dict) -> None:
    import alignment

    check_models(cfg["vision_models"], "vision_models", "caption_density", "vision")
    check_models(cfg["language_models"], "language_models", "caption_density", "language")
    checks.check_subset(cfg["datasets"], "datasets", "caption_density", DATASETS)
    checks.check_int(cfg["min_words"], "min_words", "caption_density", 0)
    checks.check_choice(cfg["metric"], "metric", "caption_density", alignment.METRICS)
    checks.check_int(cfg["k"], "k", "caption_density", 1)
    if cfg["n_samples"] is not None:
        check_k(cfg["k"], checks.check_int(cfg["n_samples"], "n_samples", "caption_density", 4), "caption_density")
    check_null(cfg, "caption_density")
    check_extraction(cfg, "caption_density")


def density_datasets(which: str, n_samples, seed: int, min_words: int = 5):
    """(base PairedDataset, [(density label, dataset with those captions), ...]) from the sparsest caption up."""
    from empirical import captions as cd
    from empirical import data

    if which == "openclipart":
        recs = cd.openclipart_records(min_words=min_words)
        base = data.PairedDataset(f"openclipart-min{min_words}", tuple(r.id for r in recs),
                                  tuple(r.png for r in recs), tuple(r.title for r in recs))
        if n_samples is not None:
            base = base.subset(n_samples, seed)
        by_id = {r.id: r for r in recs}
        levels = [(lv, base.with_captions([cd.openclipart_caption(by_id[i], lv) for i in base.ids],
                                          f"{base.name}-{lv}")) for lv in cd.OPENCLIPART_LEVELS]
    else:
        base = data.tuxpaint(photos_only=True)
        if n_samples is not None:
            base = base.subset(n_samples, seed)
        levels = [(cd.truncation_label(n), base.with_captions([cd.truncate_words(c, n) for c in base.captions],
                                                              f"{base.name}-words{n or 'all'}"))
                  for n in cd.TRUNCATIONS]
    return base, levels


def run(cfg: dict, out: Path):
    import alignment

    vision, language, metric = cfg["vision_models"], cfg["language_models"], cfg["metric"]
    kw = metric_kwargs(metric, cfg)
    sets = {which: density_datasets(which, cfg["n_samples"], cfg["seed"], cfg["min_words"])
            for which in cfg["datasets"]}
    for base, _ in sets.values():
        check_k(cfg["k"], len(base), "caption_density")

    results, records = {}, {}
    for which, (base, levels) in sets.items():
        records[which] = {}  # per image set: each model's extraction (language models: the densest captions)
        vfeats = {v: cached(v, base, cfg, records[which]) for v in vision}
        per_level = []
        for label, ds in levels:
            scores = np.zeros((len(vision), len(language)))
            layers = [[None] * len(language) for _ in vision]
            null = {} if cfg["n_perm"] and label == levels[-1][0] else None
            for j, lm in enumerate(language):
                lf = cached(lm, ds, cfg, records[which])
                for i, v in enumerate(vision):
                    r = alignment.layerwise(vfeats[v], lf, metric, **kw)
                    scores[i, j], layers[i][j] = r.best_score, list(r.best_layers)
                    if null is not None:
                        c = alignment.calibrate(vfeats[v], lf, metric, n_perm=cfg["n_perm"], seed=cfg["seed"], **kw)
                        null[f"{v}|{lm}"] = {"null_mean": c.null_mean, "null_std": c.null_std, "z": c.z}
            mean_words = float(np.mean([len(c.split()) for c in ds.captions]))
            per_level.append({"density": label, "mean_words": mean_words, "scores": scores.tolist(),
                              "best_layers": layers, "mean": float(scores.mean()),
                              "std": float(scores.std(ddof=1)) if scores.size > 1 else 0.0,
                              "min": float(scores.min()), "max": float(scores.max()), "null": null})
        results[which] = {"n_samples": len(base), "levels": per_level,
                          "chance": cfg["k"] / (len(base) - 1) if metric == "mutual_knn" else None}

    summary = {"vision_models": vision, "language_models": language, "metric": metric, "k": cfg["k"],
               "datasets": results, "extraction": records, "plots": ["caption_density.png"]}
    runio.save_figure(_plot(summary), out / "caption_density.png", dpi=110)
    return summary, _text(summary)


def _text(summary: dict) -> str:
    lines = [f"Alignment vs caption density ({summary['metric']}, mean ± sd over vision x language pairs)"]
    for which, res in summary["datasets"].items():
        lines.append(f"{which} (N={res['n_samples']}):")
        lines += [f"  {lv['density']:>28}  {lv['mean_words']:5.1f} words  {lv['mean']:.3f} ± {lv['std']:.3f}"
                  for lv in res["levels"]]
    return "\n".join(lines)


def _plot(summary: dict):
    plt = runio.pyplot()
    sets = summary["datasets"]
    fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 4), squeeze=False)
    for ax, (which, res) in zip(axes[0], sets.items()):
        levels = res["levels"]
        x = np.arange(len(levels))
        s = np.array([lv["scores"] for lv in levels])  # levels x vision x language
        for j, lm in enumerate(summary["language_models"]):
            ax.plot(x, s[:, :, j].mean(1), marker="o", lw=1, label=lm)
        ax.errorbar(x, [lv["mean"] for lv in levels], yerr=[lv["std"] for lv in levels], color="k", lw=2.5,
                    capsize=4, label="mean ± sd (all pairs)")
        if res["chance"] is not None:
            ax.axhline(res["chance"], color="grey", ls=":", label="mutual_knn chance k/(N-1)")
        ax.set_xticks(x, [f"{lv['density']}\n({lv['mean_words']:.1f} words)" for lv in levels], fontsize=7)
        ax.set_ylabel(f"{summary['metric']} (k={summary['k']}), best layer pair")
        ax.set_title(f"{which} (N={res['n_samples']})", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Vision-language alignment vs caption density (mean over vision models per LM)", fontsize=10)
    return fig
