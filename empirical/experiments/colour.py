"""Colour from cooccurrence (paper Fig. 8 / App. D): `python -m empirical.run colour`.

Vision: pixel colour cooccurrence on real photos (Tux Paint photo cut-outs with their alpha mask, foolbox's CIFAR-10,
CIFAR-100 and ImageNet samples, scikit-image's colour photos) -> K_PMI among the most frequent RGB-grid colours ->
dissimilarity -K + max K -> metric MDS to 3-D. Language: the colour words in three sentence templates, each sentence
embedded (mean-pooled last hidden state, L2-normalised) and averaged over templates -> Euclidean dissimilarities ->
MDS to 3-D. Both are aligned to CIELAB (Kabsch-Umeyama with reflection) and scored against a permutation baseline.
For each language model every layer's raw fit is also reported, with the null of the maximum over layers.

Options (`--opt KEY=VALUE`): levels (8), n_pairs (300000), radius (4), n_colours (64), sources
("tuxpaint,foolbox,skimage"), max_photos (all), n_starts (16), words (the 20 BASIC_COLOURS, comma separated).
`--models` lists the language models (default minilm_l6, mpnet_base, smollm2_135m); `--permutations` the baseline
draws (at least 1000 is used for the colour fits, they are cheap).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from empirical.experiments import register_experiment

DEFAULT_LMS = ["minilm_l6", "mpnet_base", "smollm2_135m"]
DEFAULTS = {"levels": 8, "n_pairs": 300_000, "radius": 4, "n_colours": 64, "sources": "tuxpaint,foolbox,skimage",
            "max_photos": None, "n_starts": 16, "words": None}
SOURCES = ("tuxpaint", "foolbox", "skimage")


def _options(cfg: dict) -> dict:
    opts = dict(DEFAULTS)
    unknown = sorted(set(cfg.get("options", {})) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for the colour experiment. Known: {sorted(DEFAULTS)}.")
    opts.update(cfg.get("options", {}))
    sources = [s for s in str(opts["sources"]).split(",") if s]
    if not sources or set(sources) - set(SOURCES):
        raise ValueError(f"The 'sources' option of colour must be a comma-separated subset of {SOURCES}. "
                         f"Got {opts['sources']!r}.")
    opts["sources"] = sources
    if isinstance(opts["words"], str):
        opts["words"] = [w.strip() for w in opts["words"].split(",") if w.strip()]
    return opts


def photo_paths(sources, max_photos=None, seed: int = 0) -> list[Path]:
    """Image files for the pixel statistics, in a fixed order; max_photos keeps a seeded subset of each source."""
    from empirical import colour

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
    from empirical import colour

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


def word_embeddings(model_name, words, cfg) -> list[np.ndarray]:
    """Per layer, (n_words, D): each template sentence's mean-pooled embedding, L2-normalised, averaged over the
    templates (normalising first keeps a few huge activation dimensions of causal LMs from dominating)."""
    from empirical import colour, features

    sentences = [t.format(w) for w in words for t in colour.TEMPLATES]
    layers = features.extract(model_name, sentences, batch_size=cfg.get("batch_size", 16),
                              device=cfg.get("device", "auto"), dtype=cfg.get("dtype", "float32"))
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


@register_experiment("colour")
def run(cfg: dict) -> dict:
    """Colour from pixel and word cooccurrence vs CIELAB (Fig. 8): MDS, Kabsch-Umeyama, permutation baseline."""
    from empirical import colour, geometry
    from platonic_core import runio

    opts = _options(cfg)
    seed = int(cfg.get("seed", 0))
    out = Path(cfg.get("out") or "runs/colour")
    n_perm = max(int(cfg.get("permutations", 1000)), 1000)
    lms = cfg.get("models") or DEFAULT_LMS

    paths = photo_paths(opts["sources"], opts["max_photos"], seed)
    d_vis, rgb_vis, info = vision_representation(paths, opts["levels"], opts["n_pairs"], opts["radius"],
                                                 opts["n_colours"], seed)
    reps = {"pixel_cooccurrence": _fit(d_vis, rgb_vis, None, n_perm, seed, opts["n_starts"])}
    reps["pixel_cooccurrence"].update(info)

    words, rgb_words = colour.colour_words(opts["words"] or colour.BASIC_COLOURS)
    for name in lms:
        layers = word_embeddings(name, words, cfg)
        reps[name] = _fit(geometry.pairwise_distances(layers[-1]), rgb_words, words, n_perm, seed, opts["n_starts"])
        reps[name].update(layer_sweep(layers, colour.cielab(rgb_words), n_perm, seed))

    _plot(reps, out / "colour.png")
    results = {
        "representations": {k: {kk: vv for kk, vv in v.items() if kk not in ("embedding", "reference", "rgb")}
                            for k, v in reps.items()},
        "words": words, "language_models": list(lms), "n_permutations": n_perm,
        "photo_sources": opts["sources"],
    }
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.items()}
    config["options"] = {k: v for k, v in opts.items()}
    runio.write_json(out / "results.json", {"config": config, "seed": seed, "versions": runio.versions(),
                                            "results": results})
    return results


def _fit(dist, rgb, labels, n_perm, seed, n_starts) -> dict:
    from empirical import colour

    lab = colour.cielab(rgb)
    fit = colour.fit_to_reference(dist, lab, n_perm=n_perm, seed=seed, n_starts=n_starts)
    out = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in fit.items()}
    out.update({"n_colours": len(rgb), "reference": lab, "rgb": rgb, "labels": labels,
                "above_null": bool(fit["distance_correlation"] > fit["null_q95"])})
    return out


def _plot(reps: dict, path: Path) -> None:
    """Fig. 8's three panels: CIELAB, pixel cooccurrence (aligned), the best-aligned language model (aligned);
    a second figure colour_language.png shows every language model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vis = reps["pixel_cooccurrence"]
    langs = [k for k in reps if k != "pixel_cooccurrence"]
    best = max(langs, key=lambda k: reps[k]["distance_correlation"]) if langs else None

    def panel(ax, pts, rgb, title, labels=None):
        ax.scatter(pts[:, 1], pts[:, 2], pts[:, 0], c=np.clip(rgb, 0, 1), s=40, edgecolors="k", linewidths=0.3,
                   depthshade=False)
        for i, t in enumerate(labels or []):
            ax.text(pts[i, 1], pts[i, 2], pts[i, 0], t, fontsize=6)
        ax.set_xlabel("a*")
        ax.set_ylabel("b*")
        ax.set_zlabel("L*")
        ax.set_title(title, fontsize=9)

    def caption(name, r):
        return (f"{name}\nr = {r['distance_correlation']:.2f} (null q95 {r['null_q95']:.2f}), "
                f"residual {r['procrustes_residual']:.2f}")

    panels = [(vis["reference"], vis["rgb"], "Perception: CIELAB", None),
              (vis["embedding"], vis["rgb"], caption("Vision: pixel cooccurrence", vis), None)]
    if best:
        b = reps[best]
        panels.append((b["embedding"], b["rgb"], caption(f"Language: {best}", b), b["labels"]))
    fig = plt.figure(figsize=(4.2 * len(panels), 4.4))
    for i, (pts, rgb, title, labels) in enumerate(panels):
        panel(fig.add_subplot(1, len(panels), i + 1, projection="3d"), pts, rgb, title, labels)
    fig.suptitle("Colour representations aligned to CIELAB (Kabsch-Umeyama)", fontsize=10)
    _save(fig, path)
    if langs:
        fig = plt.figure(figsize=(4.2 * (len(langs) + 1), 4.4))
        ref = reps[langs[0]]
        panel(fig.add_subplot(1, len(langs) + 1, 1, projection="3d"), ref["reference"], ref["rgb"],
              "CIELAB of the colour words", ref["labels"])
        for i, name in enumerate(langs):
            r = reps[name]
            panel(fig.add_subplot(1, len(langs) + 1, i + 2, projection="3d"), r["embedding"], r["rgb"],
                  caption(name, r), r["labels"])
        _save(fig, path.with_name("colour_language.png"))


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    from platonic_core import runio

    runio.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
