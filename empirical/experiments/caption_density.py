"""Caption density (paper Fig. 9 / App. E): `python -m empirical.run caption_density`.

The same images captioned with more and more information: openclipart title < + description < + keywords (images
whose description has >= 5 words), and Tux Paint photo captions truncated to 1, 2, 4 words < full. For every density,
every (vision model, language model) pair is scored with `alignment.layerwise` (best layer pair; mutual_knn with
`--k` by default) and the mean and spread over pairs are reported. Vision features do not depend on the captions,
so each model embeds each image set once (feature cache).

Options (`--opt KEY=VALUE`): datasets ("openclipart,tuxpaint"), min_words (5).
`--n-samples` caps each image set (seeded subset; default all); `--permutations` > 0 adds a permutation null for
every pair at the densest caption level.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from empirical.experiments import register_experiment

DEFAULT_VISION = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
DEFAULT_LANGUAGE = ["minilm_l6", "mpnet_base", "smollm2_135m", "gemma3_270m"]
DEFAULTS = {"datasets": "openclipart,tuxpaint", "min_words": 5}
DATASETS = ("openclipart", "tuxpaint")


def _options(cfg: dict) -> dict:
    opts = dict(DEFAULTS)
    unknown = sorted(set(cfg.get("options", {})) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for caption_density. Known: {sorted(DEFAULTS)}.")
    opts.update(cfg.get("options", {}))
    names = [s for s in str(opts["datasets"]).split(",") if s]
    if not names or set(names) - set(DATASETS):
        raise ValueError(f"The 'datasets' option of caption_density must be a comma-separated subset of {DATASETS}. "
                         f"Got {opts['datasets']!r}.")
    opts["datasets"] = names
    return opts


def density_datasets(which: str, n_samples, seed: int, min_words: int = 5):
    """(base PairedDataset, [(density label, dataset with those captions), ...]) from the sparsest caption up."""
    from empirical import caption_density as cd
    from empirical import data

    if which == "openclipart":
        recs = cd.openclipart_records(min_words=min_words)
        base = data.PairedDataset(f"openclipart-min{min_words}", tuple(r.id for r in recs),
                                  tuple(r.png for r in recs), tuple(r.title for r in recs))
        if n_samples:
            base = base.subset(n_samples, seed)
        by_id = {r.id: r for r in recs}
        levels = [(lv, base.with_captions([cd.openclipart_caption(by_id[i], lv) for i in base.ids],
                                          f"{base.name}-{lv}")) for lv in cd.OPENCLIPART_LEVELS]
    else:
        base = data.tuxpaint(photos_only=True)
        if n_samples:
            base = base.subset(n_samples, seed)
        levels = [(cd.truncation_label(n), base.with_captions([cd.truncate_words(c, n) for c in base.captions],
                                                              f"{base.name}-words{n or 'all'}"))
                  for n in cd.TRUNCATIONS]
    return base, levels


@register_experiment("caption_density")
def run(cfg: dict) -> dict:
    """Alignment vs caption density (Fig. 9): openclipart title/+description/+keywords, Tux Paint 1/2/4/all words."""
    import alignment
    from empirical import features
    from empirical.models import modality
    from platonic_core import runio

    opts = _options(cfg)
    seed = int(cfg.get("seed", 0))
    out = Path(cfg.get("out") or "runs/caption_density")
    metric = (cfg.get("metrics") or ["mutual_knn"])[0]
    k = int(cfg.get("k", 10))
    n_perm = int(cfg.get("permutations", 0))
    models = cfg.get("models")
    vision = [m for m in models if modality(m) == "vision"] if models else DEFAULT_VISION
    language = [m for m in models if modality(m) == "language"] if models else DEFAULT_LANGUAGE
    if not vision or not language:
        raise ValueError(f"caption_density needs at least one vision and one language model. Got {models!r}.")
    kw = {"k": k} if metric.endswith("_knn") else {}

    def feats(name, ds):
        return features.cached(name, ds, dtype=cfg.get("dtype", "float32"), device=cfg.get("device", "auto"),
                               batch_size=cfg.get("batch_size", 16), cache_dir=cfg.get("cache_dir"),
                               force=cfg.get("force", False))

    results = {}
    for which in opts["datasets"]:
        base, levels = density_datasets(which, cfg.get("n_samples"), seed, opts["min_words"])
        vfeats = {v: feats(v, base) for v in vision}
        per_level = []
        for label, ds in levels:
            scores = np.zeros((len(vision), len(language)))
            layers = [[None] * len(language) for _ in vision]
            null = {} if n_perm and label == levels[-1][0] else None
            for j, lm in enumerate(language):
                lf = feats(lm, ds)
                for i, v in enumerate(vision):
                    r = alignment.layerwise(vfeats[v], lf, metric, **kw)
                    scores[i, j], layers[i][j] = r.best_score, list(r.best_layers)
                    if null is not None:
                        c = alignment.calibrate(vfeats[v], lf, metric, n_perm=n_perm, seed=seed, **kw)
                        null[f"{v}|{lm}"] = {"null_mean": c.null_mean, "null_std": c.null_std, "z": c.z}
            mean_words = float(np.mean([len(c.split()) for c in ds.captions]))
            per_level.append({"density": label, "mean_words": mean_words, "scores": scores.tolist(),
                              "best_layers": layers, "mean": float(scores.mean()),
                              "std": float(scores.std(ddof=1)) if scores.size > 1 else 0.0,
                              "min": float(scores.min()), "max": float(scores.max()), "null": null})
        results[which] = {"n_samples": len(base), "levels": per_level,
                          "chance": k / (len(base) - 1) if metric.endswith("_knn") else None}

    summary = {"vision_models": vision, "language_models": language, "metric": metric, "k": k,
               "datasets": results}
    _plot(summary, out / "caption_density.png")
    config = {key: (str(val) if isinstance(val, Path) else val) for key, val in cfg.items()}
    config["options"] = opts
    runio.write_json(out / "results.json", {"config": config, "seed": seed, "versions": runio.versions(),
                                            "results": summary})
    return summary


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from platonic_core import runio

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
            ax.axhline(res["chance"], color="grey", ls=":", label="chance k/(N-1)")
        ax.set_xticks(x, [f"{lv['density']}\n({lv['mean_words']:.1f} words)" for lv in levels], fontsize=7)
        ax.set_ylabel(f"{summary['metric']} (k={summary['k']}), best layer pair")
        ax.set_title(f"{which} (N={res['n_samples']})", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Vision-language alignment vs caption density (mean over vision models per LM)", fontsize=10)
    runio.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
