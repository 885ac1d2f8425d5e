"""vision_vision: vision models that solve more tasks align more with each other (Fig. 2).

Competence of each vision model = the mean of two linear-probe accuracies on its pooled pre-logits features:
Fashion-MNIST (Debian dataset-fashion-mnist; a class-balanced train subset, scored on a disjoint test subset) and
foolbox's 20 CIFAR-10 samples (stratified cross-validation: each image predicted by a probe not trained on it).
Alignment: `alignment.layerwise` (best layer pair) between every two models on the Tux Paint photos (or `dataset`),
with a permutation null per pair when n_perm > 0. Models are split into competence bins (equal counts) and the mean
alignment within each bin is reported.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks, runio
from platonic_core.progress import announce, progress

from ._common import (
    cached,
    calibrated,
    check_calibration,
    check_extraction,
    check_models,
    check_samples,
    dataset,
    extraction,
)

DEFAULTS = {
    "models": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "random:efficientnet_lite0",
               "resnet18_random", "vit_tiny_random"],
    "dataset": "tuxpaint",       # the images the models are aligned on
    "n_samples": None,           # a seeded subset of them (None: all)
    "metric": "mutual_knn",
    "k": 10,
    "n_perm": 100,               # permutations of the null of every pair (0: none)
    "alpha": 0.05,               # level of the calibration threshold
    "n_boot": 0,                 # bootstrap replicates of each best pair's score (0: no interval)
    "train_per_class": 100,      # Fashion-MNIST probe: training images per class (200 for a tighter probe) ...
    "test_per_class": 50,        # ... and test images per class
    "cifar_folds": 5,            # cross-validation folds of the CIFAR-10 probe (20 images)
    "n_bins": 2,                 # competence bins
    "device": "auto",            # auto: the GPU when present
    "dtype": "float32",          # model weights: float32, bfloat16 or float16
    "batch_size": 16,
    "cache_dir": None,           # feature cache (None: $PLATONIC_CACHE/features or ~/.cache/platonic/features)
}
TYPES = {"n_samples": int, "cache_dir": str}


def check(cfg: dict) -> None:
    import alignment
    from empirical import data

    check_models(cfg["models"], "models", "vision_vision", "vision", at_least=2)
    data.check_spec(cfg["dataset"], "vision_vision", "dataset")
    checks.check_choice(cfg["metric"], "metric", "vision_vision", alignment.METRICS)
    checks.check_int(cfg["k"], "k", "vision_vision", 1)
    if cfg["n_samples"] is not None:
        checks.check_int(cfg["n_samples"], "n_samples", "vision_vision", 4)
    check_calibration(cfg, "vision_vision")
    for key, low in (("train_per_class", 2), ("test_per_class", 1), ("cifar_folds", 2), ("n_bins", 1)):
        checks.check_int(cfg[key], key, "vision_vision", low)
    check_extraction(cfg, "vision_vision")
    from empirical import probes

    probes.check_fashion()
    check_samples(cfg, "vision_vision", data.load(cfg["dataset"]))  # last: it reads every image


def fashion_dataset(split: str, n_per_class: int, seed: int):
    """A Fashion-MNIST subset as a PairedDataset of PNG files (written once under the cache root, whole or not at
    all), so that model features go through the shared feature cache; captions are the class names.
    Returns (dataset, labels)."""
    from PIL import Image

    from empirical import data, models, probes

    x, y = probes.fashion_mnist(split, n_per_class, seed)
    name = f"fashion-mnist-{split}-{n_per_class}-seed{seed}"
    where = models.cache_root() / "datasets" / name
    if not where.is_dir():
        def fill(tmp):
            for i, img in enumerate(x):
                Image.fromarray(img, "L").convert("RGB").save(tmp / f"{i:05d}.png")
        runio.publish_dir(where, fill)
    ds = data.PairedDataset(name, tuple(f"{i:05d}" for i in range(len(x))),
                            tuple(where / f"{i:05d}.png" for i in range(len(x))),
                            tuple(probes.FASHION_CLASSES[c] for c in y))
    return ds, y


def cifar_dataset():
    """foolbox's 20 CIFAR-10 samples as a PairedDataset; returns (dataset, labels)."""
    from empirical import colour_stats, data, probes

    paths = colour_stats.foolbox_images("cifar10_")
    labels = np.array([probes.label_from_name(p) for p in paths])
    ds = data.PairedDataset("foolbox-cifar10", tuple(p.stem for p in paths), tuple(paths),
                            tuple(str(c) for c in labels))
    return ds, labels


def run(cfg: dict, out: Path):
    from empirical import features, probes

    names, metric, seed, n_perm = cfg["models"], cfg["metric"], cfg["seed"], cfg["n_perm"]
    photos = dataset(cfg)

    def feats(name, ds):
        return features.cached(name, ds, **extraction(cfg))

    train, ytr = fashion_dataset("train", cfg["train_per_class"], seed)
    test, yte = fashion_dataset("test", cfg["test_per_class"], seed)
    cifar, ycf = cifar_dataset()
    probe = {}
    for m in names:
        f = feats(m, train)[-1].double().numpy()
        fashion = probes.linear_probe(f, ytr, feats(m, test)[-1].double().numpy(), yte, seed=seed)
        cif = probes.cross_validated_probe(feats(m, cifar)[-1].double().numpy(), ycf, n_folds=cfg["cifar_folds"],
                                           seed=seed)
        probe[m] = {"fashion_mnist": fashion, "cifar10": cif,
                    "competence": float(np.mean([fashion["accuracy"], cif["accuracy"]]))}

    records = {}
    pf = {m: cached(m, photos, cfg, records) for m in names}
    n = len(names)
    todo = [(i, j) for i in range(n) for j in range(i + 1, n)]
    announce(f"  {n} vision models on {photos.name} (N={len(photos)}): {len(todo)} layer sweeps, each with {n_perm} "
             "permutations")
    matrix, calibrated_matrix, layers, pairs = np.eye(n), np.eye(n), [[None] * n for _ in range(n)], {}
    for i, j in progress(todo, desc="pairs", unit="pair"):
        c = pairs[f"{names[i]}|{names[j]}"] = calibrated(pf[names[i]], pf[names[j]], metric, cfg)
        matrix[i, j] = matrix[j, i] = c["score"]
        if n_perm:
            calibrated_matrix[i, j] = calibrated_matrix[j, i] = c["calibrated_score"]
        layers[i][j], layers[j][i] = c["best_layers"], c["best_layers"][::-1]
    competence = np.array([probe[m]["competence"] for m in names])
    bins = probes.competence_bins(competence, min(cfg["n_bins"], n))
    per_bin = probes.intra_bin_alignment(calibrated_matrix if n_perm else matrix, bins)
    for b in per_bin:
        b["models"] = [names[i] for i in b["models"]]
        b["mean_competence"] = float(competence[bins == b["bin"]].mean())
    results = {"models": names, "metric": metric, "k": cfg["k"], "n_photos": len(photos), "dataset": photos.name,
               "probes": probe, "competence": competence.tolist(), "alignment": matrix.tolist(),
               "calibrated_alignment": calibrated_matrix.tolist() if n_perm else None, "best_layers": layers,
               "pairs": pairs, "bins": per_bin, "bins_of": "calibrated_alignment" if n_perm else "alignment",
               "extraction": records,
               "chance": cfg["k"] / (len(photos) - 1) if metric == "mutual_knn" else None,
               "probe_sizes": {"fashion_train": len(ytr), "fashion_test": len(yte), "cifar10": len(ycf)},
               "plots": ["vision_vision.png"]}
    runio.save_figure(_plot(results), out / "vision_vision.png", dpi=110)
    return results, _text(results)


def _text(res: dict) -> str:
    lines = [f"Vision-vision alignment ({res['metric']}, best layer pair, {res['n_photos']} images of "
             f"{res['dataset']}; bins of {res['bins_of'].replace('_', ' ')}) and competence (mean probe accuracy)"]
    lines += [f"  {m:>28}  competence {c:.3f}" for m, c in zip(res["models"], res["competence"])]
    lines += [f"  bin {b['bin']} (competence {b['mean_competence']:.2f}, {b['n_pairs']} pairs): "
              + (f"{b['mean']:.3f}" if b["mean"] is not None else "-") for b in res["bins"]]
    return "\n".join(lines)


def _plot(res: dict):
    """Heat map of the alignment matrix (models sorted by competence), intra-bin alignment per competence bin, and
    every pair's alignment against the lower competence of the two."""
    plt = runio.pyplot()
    names, comp = res["models"], np.array(res["competence"])
    a = np.array(res[res["bins_of"]])
    order = np.argsort(comp, kind="stable")
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6), gridspec_kw={"wspace": 0.45})
    shown = a[np.ix_(order, order)].copy()
    np.fill_diagonal(shown, np.nan)  # the trivial 1s would squash the colour scale of the pairs
    im = axes[0].imshow(shown, cmap="viridis")
    labels = [f"{names[i]}\n({comp[i]:.2f})" for i in order]
    axes[0].set_xticks(range(len(names)), labels, rotation=60, ha="right", fontsize=6)
    axes[0].set_yticks(range(len(names)), labels, fontsize=6)
    for r in range(len(names)):
        for c in range(len(names)):
            if r != c:
                axes[0].text(c, r, f"{a[order[r], order[c]]:.2f}", ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    axes[0].set_title(f"{res['metric']} ({res['bins_of'].replace('_', ' ')}) on {res['n_photos']} photos "
                      "(competence)", fontsize=9)
    bins = [b for b in res["bins"] if b["mean"] is not None]
    axes[1].bar(range(len(bins)), [b["mean"] for b in bins], yerr=[b["std"] for b in bins], capsize=4,
                color="tab:blue")
    axes[1].set_xticks(range(len(bins)), [f"bin {b['bin']}\ncompetence {b['mean_competence']:.2f}\n"
                                          f"({b['n_pairs']} pairs)" for b in bins], fontsize=7)
    if res["chance"] is not None and res["bins_of"] == "alignment":
        axes[1].axhline(res["chance"], color="grey", ls=":")
        axes[1].annotate("chance\nk/(N-1)", (1, res["chance"]), xycoords=("axes fraction", "data"), xytext=(4, 0),
                         textcoords="offset points", va="center", fontsize=7, color="grey")  # beside: hides no bar
    axes[1].set_ylabel("mean alignment within bin")
    axes[1].set_title("Intra-bin alignment (models binned by competence)", fontsize=9)
    iu = np.triu_indices(len(names), 1)
    axes[2].scatter(np.minimum(comp[iu[0]], comp[iu[1]]), a[iu], c="tab:orange", edgecolors="k")
    axes[2].set_xlabel("lower competence of the pair (mean probe accuracy)")
    axes[2].set_ylabel("pairwise alignment")
    axes[2].set_title("Pairs: alignment vs competence", fontsize=9)
    return fig


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the mean alignment of the model pairs (calibrated where there is a null)."""
    a = np.array(results[results["bins_of"]])
    return f"mean {results['bins_of'].replace('_', ' ')}", float(a[np.triu_indices(len(a), 1)].mean())
