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
from platonic_core.progress import announce, progress

from ._common import cached, calibrated, check_calibration, check_extraction, check_models, check_samples

DEFAULTS = {
    "vision_models": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"],
    "language_models": ["minilm_l6", "mpnet_base", "smollm2_135m", "gemma3_270m"],
    "datasets": ["openclipart", "tuxpaint"],
    "min_words": 5,              # openclipart images whose description has at least this many words
    "n_samples": None,           # a seeded subset of each image set (None: all)
    "metric": "mutual_knn",
    "k": 10,
    "n_perm": 100,               # permutations of every pair's null (0: none)
    "alpha": 0.05,               # level of the calibration threshold
    "n_boot": 0,                 # bootstrap replicates of each best pair's score (0: no interval)
    "device": "auto",            # auto: the GPU when present
    "dtype": "float32",          # model weights: float32, bfloat16 or float16 (auto: bfloat16 on GPUs with it)
    "device_map": None,          # accelerate placement of big language models: auto, balanced, sequential
    "quantization": None,        # 4bit: bitsandbytes NF4 weights (language models, CUDA)
    "batch_size": 16,            # halved automatically on out-of-memory
    "cache_dir": None,           # feature cache (None: $PLATONIC_CACHE/features or ~/.cache/platonic/features)
}
TYPES = {"n_samples": int, "device_map": str, "quantization": str, "cache_dir": str}
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
        checks.check_int(cfg["n_samples"], "n_samples", "caption_density", 4)
    check_calibration(cfg, "caption_density")
    check_extraction(cfg, "caption_density", cfg["vision_models"] + cfg["language_models"])
    for which in cfg["datasets"]:  # last: it reads every image
        check_samples(cfg, "caption_density", image_set(which, cfg["min_words"])[0])


def image_set(which: str, min_words: int = 5):
    """(all the images of one density experiment with their sparsest captions (openclipart: titles), openclipart's
    records by id or None)."""
    from empirical import captions as cd
    from empirical import data

    if which == "tuxpaint":
        return data.tuxpaint(photos_only=True), None
    recs = cd.openclipart_records(min_words=min_words)
    return data.PairedDataset(f"openclipart-min{min_words}", tuple(r.id for r in recs), tuple(r.png for r in recs),
                              tuple(r.title for r in recs)), {r.id: r for r in recs}


def density_datasets(which: str, n_samples, seed: int, min_words: int = 5):
    """(base PairedDataset, [(density label, dataset with those captions), ...]) from the sparsest caption up."""
    from empirical import captions as cd

    base, by_id = image_set(which, min_words)
    if n_samples is not None:
        base = base.subset(n_samples, seed)
    if which == "openclipart":
        levels = [(lv, base.with_captions([cd.openclipart_caption(by_id[i], lv) for i in base.ids],
                                          f"{base.name}-{lv}")) for lv in cd.OPENCLIPART_LEVELS]
    else:
        levels = [(cd.truncation_label(n), base.with_captions([cd.truncate_words(c, n) for c in base.captions],
                                                              f"{base.name}-words{n or 'all'}"))
                  for n in cd.TRUNCATIONS]
    return base, levels


def run(cfg: dict, out: Path):
    vision, language, metric = cfg["vision_models"], cfg["language_models"], cfg["metric"]
    sets = {which: density_datasets(which, cfg["n_samples"], cfg["seed"], cfg["min_words"])
            for which in cfg["datasets"]}

    n_sweeps = sum(len(levels) for _, levels in sets.values()) * len(vision) * len(language)
    announce(f"  {len(vision)} vision x {len(language)} language models on {', '.join(sets)}: {n_sweeps} layer "
             f"sweeps, each with {cfg['n_perm']} permutations")
    bar = progress(total=n_sweeps, desc="pairs", unit="pair")
    results, records = {}, {}
    for which, (base, levels) in sets.items():
        records[which] = {}  # per image set: each model's extraction (language models: the densest captions)
        vfeats = {v: cached(v, base, cfg, records[which]) for v in vision}
        per_level = []
        for label, ds in levels:
            pairs = [[None] * len(language) for _ in vision]
            for j, lm in enumerate(language):
                lf = cached(lm, ds, cfg, records[which])
                for i, v in enumerate(vision):
                    pairs[i][j] = calibrated(vfeats[v], lf, metric, cfg)
                    bar.update()
            mean_words = float(np.mean([len(c.split()) for c in ds.captions]))
            per_level.append({"density": label, "mean_words": mean_words, "pairs": pairs,
                              **_spread([c["score"] for row in pairs for c in row]),
                              "calibrated": (_spread([c["calibrated_score"] for row in pairs for c in row])
                                             if cfg["n_perm"] else None)})
        results[which] = {"n_samples": len(base), "levels": per_level,
                          "chance": cfg["k"] / (len(base) - 1) if metric == "mutual_knn" else None}
    bar.close()

    summary = {"vision_models": vision, "language_models": language, "metric": metric, "k": cfg["k"],
               "datasets": results, "extraction": records, "plots": ["caption_density.png"]}
    runio.save_figure(_plot(summary), out / "caption_density.png", dpi=110)
    return summary, _text(summary)


def _spread(values) -> dict:
    """mean, sample std, min and max of the scores of every model pair at one density."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "min": float(v.min()),
            "max": float(v.max())}


def _text(summary: dict) -> str:
    lines = [f"Alignment vs caption density ({summary['metric']}, best layer pair; mean ± sd over vision x language "
             "pairs: raw, and calibrated where there is a null)"]
    for which, res in summary["datasets"].items():
        lines.append(f"{which} (N={res['n_samples']}):")
        for lv in res["levels"]:
            cal = f"   calibrated {lv['calibrated']['mean']:.3f} ± {lv['calibrated']['std']:.3f}" \
                if lv["calibrated"] else ""
            lines.append(f"  {lv['density']:>28}  {lv['mean_words']:5.1f} words  raw {lv['mean']:.3f} ± "
                         f"{lv['std']:.3f}{cal}")
    return "\n".join(lines)


def _plot(summary: dict):
    plt = runio.pyplot()
    sets = summary["datasets"]
    fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 4), squeeze=False)
    for ax, (which, res) in zip(axes[0], sets.items()):
        levels = res["levels"]
        x = np.arange(len(levels))
        cal = levels[0]["calibrated"] is not None
        key, spread = ("calibrated_score", "calibrated") if cal else ("score", None)
        s = np.array([[[c[key] for c in row] for row in lv["pairs"]] for lv in levels])  # levels x vision x LM
        for j, lm in enumerate(summary["language_models"]):
            ax.plot(x, s[:, :, j].mean(1), marker="o", lw=1, label=lm)
        stats = [lv[spread] if cal else lv for lv in levels]
        ax.errorbar(x, [st["mean"] for st in stats], yerr=[st["std"] for st in stats], color="k", lw=2.5,
                    capsize=4, label="mean ± sd (all pairs)")
        if res["chance"] is not None and not cal:
            ax.axhline(res["chance"], color="grey", ls=":", label="mutual_knn chance k/(N-1)")
        ax.set_xticks(x, [f"{lv['density']}\n({lv['mean_words']:.1f} words)" for lv in levels], fontsize=7)
        ax.set_ylabel(f"{summary['metric']} (k={summary['k']}), best layer pair" + (", calibrated" if cal else ""))
        ax.set_title(f"{which} (N={res['n_samples']})", fontsize=9)
        runio.legend_outside(ax, fontsize=6)
    fig.suptitle("Vision-language alignment vs caption density (mean over vision models per LM)", fontsize=10)
    return fig


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the rise of the mean score from the sparsest to the densest captions (calibrated
    where there is a null), averaged over image sets."""
    rises = []
    for res in results["datasets"].values():
        first, last = res["levels"][0], res["levels"][-1]
        stat = (lambda lv: lv["calibrated"]["mean"]) if first["calibrated"] else (lambda lv: lv["mean"])
        rises.append(stat(last) - stat(first))
    return "mean rise, sparsest to densest captions", float(np.mean(rises))
