"""cross_modal: vision x language alignment (best layer pair, permutation null) vs each LM's bits-per-byte (Fig. 3).

For every vision x language model pair: per-layer features of the images and of their captions, the layerwise
maximum of each alignment metric over layer pairs, and its permutation null (the same maximum with the captions
shuffled against the images). For each causal LM: bits-per-byte on a real English corpus (gensim's enwiki test
articles) and on the captions. Writes results.json, heatmap.png and scatter.png.
"""
from __future__ import annotations

from pathlib import Path

from platonic_core import checks, runio

from ._common import (
    cached,
    check_extraction,
    check_k,
    check_metrics,
    check_models,
    check_null,
    dataset,
    metric_kwargs,
)

DEFAULTS = {
    "vision_models": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "vit_tiny_random",
                      "resnet18_random"],
    "language_models": ["minilm_l6", "mpnet_base", "smollm2_135m", "gemma3_270m"],
    "dataset": "tuxpaint",       # Tux Paint photos; or a folder of image + .txt captions, or a .jsonl manifest
    "n_samples": None,           # a seeded subset of this many pairs (None: all)
    "metrics": ["mutual_knn"],   # any of alignment.METRICS; the first one is plotted
    "k": 10,                     # neighbours of the k-NN metrics and CKNNA
    "n_perm": 100,               # permutations of the null (0: none)
    "corpus_articles": 32,       # bits-per-byte corpus: enwiki articles ...
    "corpus_chars": 4000,        # ... of at most this many characters each
    "bpb_max_length": 512,       # context window of bits-per-byte
    "device": "auto",            # auto: the GPU when present
    "dtype": "float32",          # model weights: float32, bfloat16 or float16
    "batch_size": 16,
    "cache_dir": None,           # feature cache (None: $PLATONIC_CACHE/features or ~/.cache/platonic/features)
}
TYPES = {"n_samples": int, "cache_dir": str}


def check(cfg: dict) -> None:
    from empirical import data

    check_models(cfg["vision_models"], "vision_models", "cross_modal", "vision")
    check_models(cfg["language_models"], "language_models", "cross_modal", "language")
    data.check_spec(cfg["dataset"], "cross_modal", "dataset")
    if cfg["n_samples"] is not None:
        check_k(cfg["k"], checks.check_int(cfg["n_samples"], "n_samples", "cross_modal", 4), "cross_modal")
    checks.check_int(cfg["k"], "k", "cross_modal", 1)
    check_metrics(cfg, "cross_modal")
    check_null(cfg, "cross_modal")
    for key, low in (("corpus_articles", 1), ("corpus_chars", 1), ("bpb_max_length", 2)):
        checks.check_int(cfg[key], key, "cross_modal", low)
    check_extraction(cfg, "cross_modal")


def run(cfg: dict, out: Path):
    import numpy as np

    import alignment
    from empirical import bpb, corpus, models

    vision, language = cfg["vision_models"], cfg["language_models"]
    ds = dataset(cfg)
    check_k(cfg["k"], len(ds), "cross_modal")
    records = {}
    feats = {name: cached(name, ds, cfg, records, progress=True) for name in vision + language}

    texts = corpus.enwiki(max_articles=cfg["corpus_articles"], max_chars=cfg["corpus_chars"])
    run_kw = {k: cfg[k] for k in ("device", "dtype", "cache_dir")}
    bits, bits_captions = {}, {}
    for name in language:
        if models.is_causal(name):
            bits[name] = bpb.cached(name, texts, max_length=cfg["bpb_max_length"], force=cfg["fresh"],
                                    **run_kw)["bits_per_byte"]
            bits_captions[name] = bpb.cached(name, list(ds.captions), max_length=cfg["bpb_max_length"],
                                             force=cfg["fresh"], **run_kw)["bits_per_byte"]

    n_perm = cfg["n_perm"]
    scores, best, null, layer_scores = {}, {}, {}, {}
    for metric in cfg["metrics"]:
        kw = metric_kwargs(metric, cfg)
        if n_perm:
            rows = [[alignment.calibrate(feats[v], feats[lang], metric, n_perm=n_perm, seed=cfg["seed"], **kw)
                     for lang in language] for v in vision]
        else:
            rows = [[alignment.layerwise(feats[v], feats[lang], metric, **kw) for lang in language] for v in vision]
        scores[metric] = [[_score(c) for c in row] for row in rows]
        best[metric] = [[list(c.best_layers) for c in row] for row in rows]
        layer_scores[metric] = [[c.scores.tolist() for c in row] for row in rows]
        null[metric] = [[{"mean": c.null_mean, "std": c.null_std, "q95": float(np.quantile(c.null, 0.95)),
                          "calibrated": c.calibrated, "z": c.z, "n_perm": n_perm} for c in row]
                        for row in rows] if n_perm else None

    results = {
        "vision_models": vision,
        "language_models": language,
        "scores": scores,
        "best_layers": best,
        "null": null,
        "bits_per_byte": bits,
        "bits_per_byte_captions": bits_captions,
        "n_samples": len(ds),
        "k": cfg["k"],
        "layer_scores": layer_scores,
        "dataset": ds.name,
        "extraction": records,
        "sample_ids_sha256": runio.digest(list(ds.ids), length=64),
        "corpus": {"source": "gensim enwiki test dump", "articles": len(texts),
                   "bytes": sum(len(t.encode()) for t in texts)},
        "plots": ["heatmap.png", "scatter.png"],
    }
    metric = cfg["metrics"][0]
    runio.save_figure(_heatmap(results, metric), out / "heatmap.png")
    runio.save_figure(_scatter(results, metric), out / "scatter.png")
    return results, _summary(results, metric)


def _score(c) -> float:
    return c.score if hasattr(c, "score") else c.best_score


def _summary(res: dict, metric: str) -> str:
    lines = [f"Cross-modal alignment ({metric}, best layer pair; {res['dataset']}, N={res['n_samples']}, "
             f"k={res['k']}; z against the permutation null)"]
    width = max(len(v) for v in res["vision_models"])
    lines.append(" " * width + "  " + "  ".join(f"{lm:>16}" for lm in res["language_models"]))
    for i, v in enumerate(res["vision_models"]):
        cells = []
        for j in range(len(res["language_models"])):
            s = res["scores"][metric][i][j]
            z = f" z={res['null'][metric][i][j]['z']:.1f}" if res["null"] else ""
            cells.append(f"{s:.3f}{z}".rjust(16))
        lines.append(f"{v:>{width}}  " + "  ".join(cells))
    if res["bits_per_byte"]:
        lines.append("bits-per-byte (enwiki / captions): " + ", ".join(
            f"{lm} {b:.3f} / {res['bits_per_byte_captions'][lm]:.3f}" for lm, b in res["bits_per_byte"].items()))
    return "\n".join(lines)


def _heatmap(res, metric):
    import numpy as np

    plt = runio.pyplot()
    s = np.array(res["scores"][metric])
    fig, ax = plt.subplots(figsize=(1.6 * s.shape[1] + 3, 0.6 * s.shape[0] + 2))
    im = ax.imshow(s, cmap="viridis", aspect="auto")
    ax.set_xticks(range(s.shape[1]), res["language_models"], rotation=30, ha="right")
    ax.set_yticks(range(s.shape[0]), res["vision_models"])
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            z = f"\nz={res['null'][metric][i][j]['z']:.1f}" if res["null"] else ""
            ax.text(j, i, f"{s[i, j]:.3f}{z}", ha="center", va="center", fontsize=8,
                    color="white" if s[i, j] < s.mean() else "black")
    fig.colorbar(im, ax=ax, label=f"{metric}, best layer pair")
    ax.set_title(f"Cross-modal alignment (z: vs permutation null)\n{res['dataset']}, N={res['n_samples']}, "
                 f"k={res['k']}", fontsize=10)
    fig.tight_layout()
    return fig


def _scatter(res, metric):
    plt = runio.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    lms = [lm for lm in res["language_models"] if lm in res["bits_per_byte"]]
    for i, v in enumerate(res["vision_models"]):
        xs = [1 - res["bits_per_byte"][lm] for lm in lms]
        ys = [res["scores"][metric][i][res["language_models"].index(lm)] for lm in lms]
        ax.plot(xs, ys, "o-", label=v)
        if res["null"]:
            q95 = [res["null"][metric][i][res["language_models"].index(lm)]["q95"] for lm in lms]
            ax.plot(xs, q95, "_", color=ax.lines[-1].get_color(), markersize=14)
    for lm in lms:
        ax.annotate(lm, (1 - res["bits_per_byte"][lm], ax.get_ylim()[0]), fontsize=7, rotation=90, va="bottom")
    ax.set_xlabel("1 - bits-per-byte (enwiki)")
    ax.set_ylabel(f"{metric} (max over layer pairs)")
    ax.set_title("Alignment vs language competence (bars: null 95th pct.)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
