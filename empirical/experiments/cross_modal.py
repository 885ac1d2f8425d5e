"""cross_modal: vision x language alignment (calibrated, best layer pair) vs each LM's bits-per-byte (Fig. 3).

For every vision x language model pair: per-layer features of the images and of their captions, the layerwise
maximum of each alignment metric over layer pairs, its permutation null (the same maximum with the captions
shuffled against the images) with the calibrated score, p-value and threshold of Groger et al., and a bootstrap
interval. For each causal LM: bits-per-byte on a real English corpus (gensim's enwiki test articles, cut to
`bpb_bytes`) and on the captions. Writes results.json, heatmap.png (calibrated scores) and scatter.png (the
calibrated score with every language model, ordered and labelled by 1 - bpb).
"""
from __future__ import annotations

from pathlib import Path

from platonic_core import checks, runio
from platonic_core.progress import announce, progress

from ._common import (
    cached,
    calibrated,
    check_calibration,
    check_extraction,
    check_metrics,
    check_models,
    check_samples,
    dataset,
)

DEFAULTS = {
    "vision_models": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "vit_tiny_random",
                      "resnet18_random"],
    "language_models": ["minilm_l6", "mpnet_base", "smollm2_135m", "gemma3_270m"],
    "dataset": "tuxpaint",       # Tux Paint photos; or a folder of image + .txt captions, or a .jsonl manifest
    "n_samples": None,           # a seeded subset of this many pairs (None: all)
    "metrics": ["mutual_knn"],   # any of alignment.METRICS; the first one is plotted
    "k": 10,                     # neighbours of the k-NN metrics and CKNNA
    "n_perm": 100,               # permutations of the null (0: none; p-values below 0.01 need >= 100)
    "alpha": 0.05,               # level of the calibration threshold
    "n_boot": 100,               # bootstrap replicates of the best pair's score (0: no interval)
    "corpus_articles": 32,       # bits-per-byte corpus: enwiki articles ...
    "corpus_chars": 4000,        # ... of at most this many characters each ...
    "bpb_bytes": None,           # ... cut to this many UTF-8 bytes in all (None: 64 per sample, at least 4096):
                                 # bits-per-byte time grows with it, not with n_samples
    "bpb_max_length": 512,       # context window of bits-per-byte
    "device": "auto",            # auto: the GPU when present
    "dtype": "float32",          # model weights: float32, bfloat16 or float16 (auto: bfloat16 on GPUs with it)
    "device_map": None,          # accelerate placement of big language models: auto, balanced, sequential
    "quantization": None,        # 4bit: bitsandbytes NF4 weights (language models, CUDA)
    "batch_size": 16,            # halved automatically on out-of-memory
    "cache_dir": None,           # feature cache (None: $PLATONIC_CACHE/features or ~/.cache/platonic/features)
}
TYPES = {"n_samples": int, "bpb_bytes": int, "device_map": str, "quantization": str, "cache_dir": str}
BPB_BYTES_PER_SAMPLE, BPB_BYTES_MIN = 64, 4096


def bpb_bytes(cfg: dict, n: int) -> int:
    """The bits-per-byte text budget of a run on n samples: the setting, or in proportion to n."""
    return cfg["bpb_bytes"] if cfg["bpb_bytes"] is not None else max(BPB_BYTES_MIN, BPB_BYTES_PER_SAMPLE * n)


def check(cfg: dict) -> None:
    from empirical import data

    check_models(cfg["vision_models"], "vision_models", "cross_modal", "vision")
    check_models(cfg["language_models"], "language_models", "cross_modal", "language")
    data.check_spec(cfg["dataset"], "cross_modal", "dataset")
    if cfg["n_samples"] is not None:
        checks.check_int(cfg["n_samples"], "n_samples", "cross_modal", 4)
    checks.check_int(cfg["k"], "k", "cross_modal", 1)
    check_metrics(cfg, "cross_modal")
    check_calibration(cfg, "cross_modal")
    for key, low in (("corpus_articles", 1), ("corpus_chars", 1), ("bpb_max_length", 2)):
        checks.check_int(cfg[key], key, "cross_modal", low)
    if cfg["bpb_bytes"] is not None:
        checks.check_int(cfg["bpb_bytes"], "bpb_bytes", "cross_modal", 256)
    check_extraction(cfg, "cross_modal", cfg["vision_models"] + cfg["language_models"])
    from empirical import corpus, models

    if any(models.is_causal(name) for name in cfg["language_models"]):
        corpus.enwiki_path()  # the bits-per-byte corpus is installed
    check_samples(cfg, "cross_modal", data.load(cfg["dataset"]))  # last: it reads every image


def run(cfg: dict, out: Path):
    from empirical import bpb, corpus, models

    vision, language = cfg["vision_models"], cfg["language_models"]
    ds = dataset(cfg)
    records = {}
    announce(f"  {len(vision)} vision x {len(language)} language models on {ds.name} (N={len(ds)}); per metric "
             f"{len(vision) * len(language)} layer sweeps, each with {cfg['n_perm']} permutations and "
             f"{cfg['n_boot']} bootstrap replicates")
    feats = {name: cached(name, ds, cfg, records) for name in progress(vision + language, desc="features")}

    budget = bpb_bytes(cfg, len(ds))
    texts = bpb.clip_bytes(corpus.enwiki(max_articles=cfg["corpus_articles"], max_chars=cfg["corpus_chars"]), budget)
    run_kw = {k: cfg[k] for k in ("device", "dtype", "cache_dir", "device_map", "quantization")}
    causal = [name for name in language if models.is_causal(name)]
    if causal:
        announce(f"  bits-per-byte of {', '.join(causal)} on {sum(len(t.encode()) for t in texts)} bytes of enwiki "
                 f"(bpb_bytes) and the {len(ds)} captions")
    bits, bits_captions = {}, {}
    for name in causal:
        bits[name] = bpb.cached(name, texts, max_length=cfg["bpb_max_length"], force=cfg["fresh"],
                                **run_kw)["bits_per_byte"]
        bits_captions[name] = bpb.cached(name, list(ds.captions), max_length=cfg["bpb_max_length"],
                                         force=cfg["fresh"], **run_kw)["bits_per_byte"]

    pairs = {}
    for metric in cfg["metrics"]:
        todo = [(v, lang) for v in vision for lang in language]
        done = {key: calibrated(feats[key[0]], feats[key[1]], metric, cfg)
                for key in progress(todo, desc=f"{metric} pairs", unit="pair")}
        pairs[metric] = [[done[v, lang] for lang in language] for v in vision]
    table = {key: {m: [[c[key] for c in row] for row in pairs[m]] for m in pairs}
             for key in ("score", "calibrated_score", "p_value", "best_layers")}

    results = {
        "vision_models": vision,
        "language_models": language,
        "scores": table["score"],
        "calibrated_scores": table["calibrated_score"],
        "p_values": table["p_value"],
        "best_layers": table["best_layers"],
        "pairs": pairs,
        "bits_per_byte": bits,
        "bits_per_byte_captions": bits_captions,
        "n_samples": len(ds),
        "k": cfg["k"],
        "dataset": ds.name,
        "extraction": records,
        "sample_ids_sha256": runio.digest(list(ds.ids), length=64),
        "corpus": {"source": "gensim enwiki test dump", "articles": len(texts),
                   "bytes": sum(len(t.encode()) for t in texts), "bpb_bytes": budget},
        "plots": ["heatmap.png", "scatter.png"],
    }
    metric = cfg["metrics"][0]
    runio.save_figure(_heatmap(results, metric), out / "heatmap.png")
    runio.save_figure(_scatter(results, metric), out / "scatter.png")
    return results, _summary(results, metric)


def _has_null(res: dict, metric: str) -> bool:
    """Whether the run scored against a permutation null (n_perm > 0), so calibrated scores exist."""
    return res["pairs"][metric][0][0]["n_perm"] > 0


def _summary(res: dict, metric: str) -> str:
    calibrated_ = _has_null(res, metric)
    what = "calibrated score (raw, p-value)" if calibrated_ else "raw score, no null"
    lines = [f"Cross-modal alignment ({metric}, best layer pair; {res['dataset']}, N={res['n_samples']}, "
             f"k={res['k']}): {what}"]
    width = max(len(v) for v in res["vision_models"])
    lines.append(" " * width + "  " + "  ".join(f"{lm:>24}" for lm in res["language_models"]))
    for i, v in enumerate(res["vision_models"]):
        cells = []
        for c in res["pairs"][metric][i]:
            cell = (f"{c['calibrated_score']:.3f} ({c['score']:.3f}, p={c['p_value']:.3f})" if calibrated_
                    else f"{c['score']:.3f}")
            cells.append(cell.rjust(24))
        lines.append(f"{v:>{width}}  " + "  ".join(cells))
    if res["bits_per_byte"]:
        lines.append("bits-per-byte (enwiki / captions): " + ", ".join(
            f"{lm} {b:.3f} / {res['bits_per_byte_captions'][lm]:.3f}" for lm, b in res["bits_per_byte"].items()))
    return "\n".join(lines)


def _heatmap(res, metric):
    import numpy as np

    plt = runio.pyplot()
    pairs = res["pairs"][metric]
    shown = "calibrated_score" if _has_null(res, metric) else "score"
    s = np.array([[c[shown] for c in row] for row in pairs])
    fig, ax = plt.subplots(figsize=(1.8 * s.shape[1] + 3, 0.7 * s.shape[0] + 2))
    im = ax.imshow(s, cmap="viridis", aspect="auto")
    ax.set_xticks(range(s.shape[1]), res["language_models"], rotation=30, ha="right")
    ax.set_yticks(range(s.shape[0]), res["vision_models"])
    for i, row in enumerate(pairs):
        for j, c in enumerate(row):
            text = f"{c[shown]:.3f}\nraw {c['score']:.3f}" + (f", p={c['p_value']:.2g}" if c["p_value"] else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if s[i, j] < s.mean() else "black")
    fig.colorbar(im, ax=ax, label=f"{metric}, best layer pair ({shown.replace('_', ' ')})")
    ax.set_title(f"Cross-modal alignment, {shown.replace('_', ' ')} (Groger et al.)\n{res['dataset']}, "
                 f"N={res['n_samples']}, k={res['k']}", fontsize=10)
    fig.tight_layout()
    return fig


MARKERS = "osD^v<>ph*"


def _scatter(res, metric):
    """Alignment of each vision model with every language model, the language models on the x axis by competence
    (1 - bits-per-byte on enwiki; the ones without it, not causal, first) and named; each vision model its own
    colour, marker and small x offset, so that series that coincide stay visible; the legend outside the axes."""
    import numpy as np

    plt = runio.pyplot()
    pairs, bits = res["pairs"][metric], res["bits_per_byte"]
    shown, low, high = (("calibrated_score", "calibrated_low", "calibrated_high")
                        if _has_null(res, metric) else ("score", "ci_low", "ci_high"))
    lms = sorted(res["language_models"], key=lambda lm: (lm in bits, -bits.get(lm, 0.0)))
    x, n = np.arange(len(lms)), len(res["vision_models"])
    offsets = (np.arange(n) - (n - 1) / 2) * (0.3 / max(n - 1, 1))
    fig, ax = plt.subplots(figsize=(1.5 * len(lms) + 3.5, 4.5))
    for i, v in enumerate(res["vision_models"]):
        cs = [pairs[i][res["language_models"].index(lm)] for lm in lms]
        ys = [c[shown] for c in cs]
        err = None
        if all(c[low] is not None for c in cs):
            err = [[y - c[low] for y, c in zip(ys, cs)], [c[high] - y for y, c in zip(ys, cs)]]
        ax.errorbar(x + offsets[i], ys, yerr=err, fmt=MARKERS[i % len(MARKERS)] + "-", color=f"C{i % 10}",
                    capsize=3, label=v)
    ax.set_xticks(x, [f"{lm}\n1 - bpb {1 - bits[lm]:.3f}" if lm in bits else f"{lm}\n(no bpb: not causal)"
                      for lm in lms], fontsize=8)
    ax.set_xlabel("language model, by competence (1 - bits-per-byte on enwiki)")
    ax.set_ylabel(f"{metric}, {shown.replace('_', ' ')} (best layer pair)")
    ax.set_title("Alignment vs language competence (bars: bootstrap interval)", fontsize=10)
    runio.legend_outside(ax, title="vision model", title_fontsize=7)
    return fig


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the mean calibrated score (raw where there is no null) of the first metric."""
    import numpy as np

    metric = next(iter(results["pairs"]))
    key = "calibrated_scores" if _has_null(results, metric) else "scores"
    return f"mean {key.replace('_', ' ')[:-1]} ({metric})", float(np.mean(results[key][metric]))
