"""Cross-modal alignment vs language competence (paper Fig. 3), on image-caption pairs.

For every vision x language model pair: per-layer features of the images and of their captions, the layerwise
maximum of each alignment metric over layer pairs, and its permutation null (the same maximum with the captions
shuffled against the images). For each causal LM: bits-per-byte on a real English corpus (gensim's enwiki test
articles) and on the captions. Writes results.json, heatmap.png and scatter.png into cfg["out"].
"""
import hashlib

from empirical.experiments import register_experiment

VISION = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "vit_tiny_random", "resnet18_random"]
LANGUAGE = ["minilm_l6", "mpnet_base", "smollm2_135m", "gemma3_270m"]
# --opt defaults: corpus size for bits-per-byte, and the context window it is scored with.
OPTIONS = {"corpus_articles": 32, "corpus_chars": 4000, "bpb_max_length": 512}


@register_experiment("cross_modal")
def cross_modal(cfg):
    """Vision x language alignment (layerwise max, permutation null) vs each LM's bits-per-byte (Fig. 3)."""
    import numpy as np

    import alignment
    from empirical import bpb, corpus, data, features, models
    from platonic_core import runio

    opts = {**OPTIONS, **cfg.get("options", {})}
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise ValueError(f"Unknown --opt keys for cross_modal: {unknown}. Known: {sorted(OPTIONS)}.")
    names = cfg.get("models") or VISION + LANGUAGE
    vision = [n for n in names if models.modality(n) == "vision"]
    language = [n for n in names if models.modality(n) == "language"]
    if not vision or not language:
        raise ValueError(f"The 'models' option of cross_modal needs at least one vision and one language model. "
                         f"Got vision={vision}, language={language}.")
    metrics = cfg.get("metrics") or ["mutual_knn"]
    bad = [m for m in metrics if m not in alignment.METRICS]
    if bad:
        raise ValueError(f"The 'metrics' option must name metrics in {sorted(alignment.METRICS)}. Got {bad} instead.")
    seed, k, n_perm = cfg.get("seed", 0), cfg.get("k", 10), cfg.get("permutations", 100)

    ds = data.load(cfg.get("dataset", "tuxpaint"))
    if cfg.get("n_samples"):
        ds = ds.subset(cfg["n_samples"], seed)
    common = dict(dtype=cfg.get("dtype", "float32"), cache_dir=cfg.get("cache_dir"), force=cfg.get("force", False))
    run = dict(device=cfg.get("device", "auto"), **common)
    feats = {}
    for name in vision + language:
        feats[name] = features.cached(name, ds, batch_size=cfg.get("batch_size", 16), progress=True, **run)

    texts = corpus.enwiki(max_articles=opts["corpus_articles"], max_chars=opts["corpus_chars"])
    bits, bits_captions = {}, {}
    for name in language:
        if models.is_causal(name):
            rec = bpb.cached(name, texts, max_length=opts["bpb_max_length"], **run)
            bits[name] = rec["bits_per_byte"]
            bits_captions[name] = bpb.cached(name, list(ds.captions), max_length=opts["bpb_max_length"],
                                             **run)["bits_per_byte"]

    scores, best, null, layer_scores = {}, {}, {}, {}
    for metric in metrics:
        kw = {"k": k} if metric.endswith("knn") or metric == "cknna" else {}
        rows = [[alignment.calibrate(feats[v], feats[lang], metric, n_perm=n_perm, seed=seed, **kw)
                 for lang in language] for v in vision]
        scores[metric] = [[c.score for c in row] for row in rows]
        best[metric] = [[list(c.best_layers) for c in row] for row in rows]
        null[metric] = [[{"mean": c.null_mean, "std": c.null_std, "q95": float(np.quantile(c.null, 0.95)),
                          "calibrated": c.calibrated, "z": c.z, "n_perm": n_perm} for c in row] for row in rows]
        layer_scores[metric] = [[c.scores.tolist() for c in row] for row in rows]

    out = cfg["out"]
    results = {
        "vision_models": vision,
        "language_models": language,
        "scores": scores,
        "best_layers": best,
        "null": null,
        "bits_per_byte": bits,
        "n_samples": len(ds),
        "k": k,
        "bits_per_byte_captions": bits_captions,
        "layer_scores": layer_scores,
        "dataset": ds.name,
        "sample_ids_sha256": hashlib.sha256("\0".join(ds.ids).encode()).hexdigest(),
        "corpus": {"source": "gensim enwiki test dump", "articles": len(texts), "bytes": sum(len(t.encode())
                   for t in texts), **{k_: opts[k_] for k_ in OPTIONS}},
        "seed": seed,
        "config": {k_: (str(v) if k_ in ("out", "cache_dir") else v) for k_, v in cfg.items()},
        "versions": runio.versions(),
    }
    _heatmap(out / "heatmap.png", results, metrics[0])
    _scatter(out / "scatter.png", results, metrics[0])
    runio.write_json(out / "results.json", results)
    return results


def _heatmap(path, res, metric):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from platonic_core import runio

    s = np.array(res["scores"][metric])
    z = np.array([[c["z"] for c in row] for row in res["null"][metric]])
    fig, ax = plt.subplots(figsize=(1.6 * s.shape[1] + 3, 0.6 * s.shape[0] + 2))
    im = ax.imshow(s, cmap="viridis", aspect="auto")
    ax.set_xticks(range(s.shape[1]), res["language_models"], rotation=30, ha="right")
    ax.set_yticks(range(s.shape[0]), res["vision_models"])
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            ax.text(j, i, f"{s[i, j]:.3f}\nz={z[i, j]:.1f}", ha="center", va="center", fontsize=8,
                    color="white" if s[i, j] < s.mean() else "black")
    fig.colorbar(im, ax=ax, label=f"{metric}, best layer pair")
    ax.set_title(f"Cross-modal alignment (z: vs permutation null)\n{res['dataset']}, N={res['n_samples']}, "
                 f"k={res['k']}", fontsize=10)
    fig.tight_layout()
    runio.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def _scatter(path, res, metric):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from platonic_core import runio

    fig, ax = plt.subplots(figsize=(6, 4.5))
    lms = [lm for lm in res["language_models"] if lm in res["bits_per_byte"]]
    for i, v in enumerate(res["vision_models"]):
        xs = [1 - res["bits_per_byte"][lm] for lm in lms]
        ys = [res["scores"][metric][i][res["language_models"].index(lm)] for lm in lms]
        ax.plot(xs, ys, "o-", label=v)
        q95 = [res["null"][metric][i][res["language_models"].index(lm)]["q95"] for lm in lms]
        ax.plot(xs, q95, "_", color=ax.lines[-1].get_color(), markersize=14)
    for lm in lms:
        ax.annotate(lm, (1 - res["bits_per_byte"][lm], ax.get_ylim()[0]), fontsize=7, rotation=90, va="bottom")
    ax.set_xlabel("1 - bits-per-byte (enwiki)")
    ax.set_ylabel(f"{metric} (max over layer pairs)")
    ax.set_title("Alignment vs language competence (bars: null 95th pct.)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    runio.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
