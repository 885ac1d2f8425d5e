"""colour: colour geometry from pixel and word cooccurrence matches CIELAB (Fig. 8).

Vision: pixel colour cooccurrence on real photos (Tux Paint photo cut-outs with their alpha mask, foolbox's CIFAR-10,
CIFAR-100 and ImageNet samples, scikit-image's colour photos) -> K_PMI among the most frequent RGB-grid colours ->
dissimilarity -K + max K -> metric MDS to 3-D. Language: the colour words in three sentence templates, each sentence
embedded (mean-pooled hidden state, L2-normalised) and averaged over templates -> Euclidean dissimilarities ->
MDS to 3-D. Both are aligned to CIELAB (Kabsch-Umeyama with reflection) and scored against a permutation baseline.
For each language model every layer's raw fit is also reported, with the null of the maximum over layers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks, runio

from ._common import check_extraction, check_models, extract_record

DEFAULTS = {
    "language_models": ["minilm_l6", "mpnet_base", "smollm2_135m"],
    "sources": ["tuxpaint", "foolbox", "skimage"],  # photos for the pixel statistics
    "max_photos": None,          # a seeded subset of each source (None: all)
    "levels": 8,                 # RGB grid: levels per channel
    "n_pairs": 300_000,          # pixel pairs drawn
    "radius": 4,                 # pixels of a pair lie within this distance
    "n_colours": 64,             # the most frequent colour bins kept
    "words": [],                 # colour words (XKCD names); [] = the 20 basic colours
    "n_starts": 16,              # MDS restarts
    "n_perm": 1000,              # permutations of the baseline (the fits are cheap)
    "device": "auto",            # auto: the GPU when present
    "dtype": "float32",          # model weights: float32, bfloat16 or float16 (auto: bfloat16 on GPUs with it)
    "device_map": None,          # accelerate placement of big language models: auto, balanced, sequential
    "quantization": None,        # 4bit: bitsandbytes NF4 weights (CUDA)
    "batch_size": 16,            # halved automatically on out-of-memory
}
TYPES = {"max_photos": int, "device_map": str, "quantization": str}
SOURCES = ("tuxpaint", "foolbox", "skimage")


def check(cfg: dict) -> None:
    from empirical import colour_stats

    check_models(cfg["language_models"], "language_models", "colour", "language", at_least=0)
    checks.check_subset(cfg["sources"], "sources", "colour", SOURCES)
    for src in cfg["sources"]:  # each source is installed (its photos are read by run)
        if src == "tuxpaint":
            from empirical import data

            data.check_spec("tuxpaint", "colour", "sources")
        else:
            (colour_stats.foolbox_images if src == "foolbox" else colour_stats.skimage_photos)()
    if cfg["max_photos"] is not None:
        checks.check_int(cfg["max_photos"], "max_photos", "colour", 1)
    checks.check_int(cfg["levels"], "levels", "colour", 2, 256)
    checks.check_int(cfg["n_pairs"], "n_pairs", "colour", 1)
    checks.check_int(cfg["radius"], "radius", "colour", 1)
    checks.check_int(cfg["n_colours"], "n_colours", "colour", 4, cfg["levels"] ** 3)
    checks.check_int(cfg["n_starts"], "n_starts", "colour", 1)
    checks.check_int(cfg["n_perm"], "n_perm", "colour", 1)
    if cfg["words"]:
        colour_stats.colour_words(cfg["words"])  # unknown names are named
    check_extraction(cfg, "colour", cfg["language_models"])


def photo_paths(sources, max_photos=None, seed: int = 0) -> list[Path]:
    """Image files for the pixel statistics, in a fixed order; max_photos keeps a seeded subset of each source."""
    from empirical import colour_stats as colour

    out = []
    for src in sources:
        if src == "tuxpaint":
            from empirical import data

            paths = [Path(p) for p in data.tuxpaint(photos_only=True).images]
        elif src == "foolbox":
            paths = [p for pre in ("cifar10_", "cifar100_", "imagenet_") for p in colour.foolbox_images(pre)]
        else:
            paths = colour.skimage_photos()
        if max_photos is not None and len(paths) > max_photos:
            keep = np.sort(np.random.default_rng(seed).choice(len(paths), max_photos, replace=False))
            paths = [paths[i] for i in keep]
        out += paths
    if not out:
        raise ValueError(f"No photos found in the sources {list(sources)}.")
    return out


def vision_representation(paths, levels, n_pairs, radius, n_colours, seed):
    """(dissimilarity (k, k), sRGB centres (k, 3), info) of the n_colours most frequent colour bins."""
    from empirical import colour_stats as colour

    loaded = [colour.load_rgba(p) for p in paths]
    counts = colour.colour_cooccurrence([x for x, _ in loaded], [m for _, m in loaded], levels=levels,
                                        n_pairs=n_pairs, radius=radius, seed=seed)
    keep = colour.frequent_colours(counts, n_colours)
    k = colour.pixel_pmi(counts, keep)
    d = colour.pmi_dissimilarity(k)
    share = counts[keep].sum() / counts.sum()
    iu = np.triu_indices(len(keep), 1)
    info = {"n_photos": len(paths), "n_pairs": n_pairs, "bins_seen": int((counts.sum(1) > 0).sum()),
            "pixel_share_of_kept_colours": float(share),
            "unknown_pair_fraction": float(np.isinf(d[iu]).mean())}
    return d, colour.bin_centres(levels)[keep], info


def word_embeddings(model_name, words, cfg, records=None) -> list[np.ndarray]:
    """Per layer, (n_words, D): each template sentence's mean-pooled embedding, L2-normalised, averaged over the
    templates (normalising first keeps a few huge activation dimensions of causal LMs from dominating).
    records[model_name], when records is a dict, receives what results.json records of the extraction."""
    from empirical import colour_stats as colour
    from empirical import features

    sentences = [t.format(w) for w in words for t in colour.TEMPLATES]
    rep = {}
    layers = features.extract(model_name, sentences, batch_size=cfg["batch_size"], device=cfg["device"],
                              dtype=cfg["dtype"], device_map=cfg["device_map"], quantization=cfg["quantization"],
                              report=rep)
    if records is not None:
        records[model_name] = extract_record(model_name, layers, cfg, "mean", report=rep)
    out = []
    for x in layers:
        x = x.double().numpy()
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        out.append(x.reshape(len(words), len(colour.TEMPLATES), -1).mean(1))
    return out


def layer_sweep(layers, reference, n_perm: int, seed: int) -> dict:
    """Raw distance correlation of every layer's Euclidean dissimilarities with the reference, the best layer, and
    the permutation null of the maximum over layers (the same permutation applied to every layer), so that picking
    the best layer after the fact is judged against a fair baseline."""
    from empirical import geometry

    d_ref = geometry.pairwise_distances(reference)
    ds = [geometry.pairwise_distances(x) for x in layers]
    per_layer = [geometry.distance_correlation(d, d_ref) for d in ds]
    null = geometry.permutation_null(
        lambda p: max(geometry.distance_correlation(d[np.ix_(p, p)], d_ref) for d in ds), len(d_ref), n_perm, seed)
    best = int(np.argmax(per_layer))
    return {"per_layer_raw_distance_correlation": per_layer, "best_layer": best,
            "best_layer_raw_distance_correlation": per_layer[best],
            "best_layer_null_q95": float(np.quantile(null, 0.95))}


def run(cfg: dict, out: Path):
    from empirical import colour_stats as colour
    from empirical import geometry

    seed, n_perm, n_starts = cfg["seed"], cfg["n_perm"], cfg["n_starts"]
    paths = photo_paths(cfg["sources"], cfg["max_photos"], seed)
    d_vis, rgb_vis, info = vision_representation(paths, cfg["levels"], cfg["n_pairs"], cfg["radius"],
                                                 cfg["n_colours"], seed)
    reps = {"pixel_cooccurrence": _fit(d_vis, rgb_vis, None, n_perm, seed, n_starts)}
    reps["pixel_cooccurrence"].update(info)

    words, rgb_words = colour.colour_words(cfg["words"] or colour.BASIC_COLOURS)
    records = {}
    for name in cfg["language_models"]:
        layers = word_embeddings(name, words, cfg, records)
        reps[name] = _fit(geometry.pairwise_distances(layers[-1]), rgb_words, words, n_perm, seed, n_starts)
        reps[name].update(layer_sweep(layers, colour.cielab(rgb_words), n_perm, seed))

    plots = _plot(reps, out)
    results = {
        "representations": {k: {kk: vv for kk, vv in v.items() if kk not in ("embedding", "reference", "rgb")}
                            for k, v in reps.items()},
        "words": words, "language_models": list(cfg["language_models"]), "n_perm": n_perm,
        "photo_sources": cfg["sources"], "extraction": records, "plots": plots,
    }
    text = "\n".join(["Colour geometry vs CIELAB: distance correlation after MDS + Kabsch-Umeyama (null 95th pct.)"]
                     + [f"  {k:>20}  {v['distance_correlation']:.3f}  (null {v['null_q95']:.3f})"
                        for k, v in reps.items()])
    return results, text


def _fit(dist, rgb, labels, n_perm, seed, n_starts) -> dict:
    from empirical import colour_stats as colour

    lab = colour.cielab(rgb)
    fit = colour.fit_to_reference(dist, lab, n_perm=n_perm, seed=seed, n_starts=n_starts)
    out = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in fit.items()}
    out.update({"n_colours": len(rgb), "reference": lab, "rgb": rgb, "labels": labels,
                "above_null": bool(fit["distance_correlation"] > fit["null_q95"])})
    return out


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the weakest representation's distance correlation with CIELAB."""
    name, rep = min(results["representations"].items(), key=lambda kv: kv[1]["distance_correlation"])
    return f"lowest distance correlation with CIELAB ({name})", rep["distance_correlation"]


def _plot(reps: dict, out: Path) -> list[str]:
    """Save the figures of `figures` into `out`; returns their file names."""
    names = []
    for name, fig in figures(reps).items():
        runio.save_figure(fig, out / name, dpi=110)
        names.append(name)
    return names


def figures(reps: dict) -> dict:
    """Fig. 8's three panels: CIELAB, pixel cooccurrence (aligned), the best-aligned language model (aligned) as
    colour.png; with language models, also colour_language.png: the words' CIELAB and every language model."""
    plt = runio.pyplot()

    vis = reps["pixel_cooccurrence"]
    langs = [k for k in reps if k != "pixel_cooccurrence"]

    def caption(name, r):
        return (f"{name}\nr = {r['distance_correlation']:.2f} (null q95 {r['null_q95']:.2f}), "
                f"residual {r['procrustes_residual']:.2f}")

    def draw(panels, title):
        fig = plt.figure(figsize=(4.2 * len(panels), 4.4))
        for i, (pts, rgb, text, labels) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
            ax.scatter(pts[:, 1], pts[:, 2], pts[:, 0], c=np.clip(rgb, 0, 1), s=40, edgecolors="k",
                       linewidths=0.3, depthshade=False)
            for j, t in enumerate(labels or []):
                ax.text(pts[j, 1], pts[j, 2], pts[j, 0], t, fontsize=6)
            ax.set_xlabel("a*")
            ax.set_ylabel("b*")
            ax.set_zlabel("L*")
            ax.set_title(text, fontsize=9)
        fig.suptitle(title, fontsize=10)
        return fig

    panels = [(vis["reference"], vis["rgb"], "Perception: CIELAB", None),
              (vis["embedding"], vis["rgb"], caption("Vision: pixel cooccurrence", vis), None)]
    if langs:
        best = max(langs, key=lambda k: reps[k]["distance_correlation"])
        b = reps[best]
        panels.append((b["embedding"], b["rgb"], caption(f"Language: {best}", b), b["labels"]))
    out = {"colour.png": draw(panels, "Colour representations aligned to CIELAB (Kabsch-Umeyama)")}
    if langs:
        ref = reps[langs[0]]
        panels = [(ref["reference"], ref["rgb"], "CIELAB of the colour words", ref["labels"])]
        panels += [(reps[k]["embedding"], reps[k]["rgb"], caption(k, reps[k]), reps[k]["labels"]) for k in langs]
        out["colour_language.png"] = draw(panels, "Colour words in each language model, aligned to CIELAB")
    return out
