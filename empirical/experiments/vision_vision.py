"""Vision-vision alignment vs competence (paper Fig. 2): `python -m empirical.run vision_vision`.

Competence of each vision model = the mean of two linear-probe accuracies on its pooled pre-logits features:
Fashion-MNIST (Debian dataset-fashion-mnist; a class-balanced train subset, scored on a disjoint test subset) and
foolbox's 20 CIFAR-10 samples (stratified 5-fold cross-validation: each image predicted by a probe not trained on it).
Alignment: `alignment.layerwise` (best layer pair; mutual_knn with `--k`) between every two models on the Tux Paint
photos. Models are split into competence bins (equal counts) and the mean alignment within each bin is reported.

Options (`--opt KEY=VALUE`): train_per_class (200), test_per_class (100), cifar_folds (5), n_bins (2).
`--n-samples` caps the Tux Paint photos (seeded subset; default all); `--permutations` > 0 adds a permutation null
for every model pair.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from empirical.experiments import register_experiment

DEFAULT_MODELS = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "random:efficientnet_lite0",
                  "resnet18_random", "vit_tiny_random"]
DEFAULTS = {"train_per_class": 200, "test_per_class": 100, "cifar_folds": 5, "n_bins": 2}


def _options(cfg: dict) -> dict:
    opts = dict(DEFAULTS)
    unknown = sorted(set(cfg.get("options", {})) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for vision_vision. Known: {sorted(DEFAULTS)}.")
    opts.update(cfg.get("options", {}))
    for key, low in (("train_per_class", 2), ("test_per_class", 1), ("cifar_folds", 2), ("n_bins", 1)):
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"The '{key}' option of vision_vision must be an int >= {low}. Got {v!r}.")
    return opts


def fashion_dataset(split: str, n_per_class: int, seed: int):
    """A Fashion-MNIST subset as a PairedDataset of PNG files (written once under the cache root), so that model
    features go through the shared feature cache; captions are the class names. Returns (dataset, labels)."""
    from PIL import Image

    from empirical import data, models
    from empirical import vision_vision as vv

    x, y = vv.fashion_mnist(split, n_per_class, seed)
    where = models.cache_root() / "datasets" / f"fashion-mnist-{split}-{n_per_class}-seed{seed}"
    if not where.is_dir():  # written in a temporary folder and renamed: never half-written
        where.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=where.parent, prefix=f".{where.name}."))
        for i, img in enumerate(x):
            Image.fromarray(img, "L").convert("RGB").save(tmp / f"{i:05d}.png")
        try:
            os.replace(tmp, where)
        except OSError:  # a concurrent run won the race; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
    ds = data.PairedDataset(f"fashion-mnist-{split}-{n_per_class}-seed{seed}", tuple(f"{i:05d}" for i in range(len(x))),
                            tuple(where / f"{i:05d}.png" for i in range(len(x))),
                            tuple(vv.FASHION_CLASSES[c] for c in y))
    return ds, y


def cifar_dataset():
    """foolbox's 20 CIFAR-10 samples as a PairedDataset; returns (dataset, labels)."""
    from empirical import colour, data
    from empirical import vision_vision as vv

    paths = colour.foolbox_images("cifar10_")
    labels = np.array([vv.label_from_name(p) for p in paths])
    ds = data.PairedDataset("foolbox-cifar10", tuple(p.stem for p in paths), tuple(paths),
                            tuple(str(c) for c in labels))
    return ds, labels


@register_experiment("vision_vision")
def run(cfg: dict) -> dict:
    """Vision-vision alignment vs competence (Fig. 2): linear probes, alignment matrix, competence bins."""
    import alignment
    from empirical import data, features
    from empirical import vision_vision as vv
    from empirical.models import modality
    from platonic_core import runio

    opts = _options(cfg)
    seed = int(cfg.get("seed", 0))
    out = Path(cfg.get("out") or "runs/vision_vision")
    metric = (cfg.get("metrics") or ["mutual_knn"])[0]
    k = int(cfg.get("k", 10))
    n_perm = int(cfg.get("permutations", 0))
    names = cfg.get("models") or DEFAULT_MODELS
    if len(names) < 2 or any(modality(m) != "vision" for m in names):
        raise ValueError(f"vision_vision needs at least two vision models. Got {names!r}.")
    kw = {"k": k} if metric.endswith("_knn") else {}

    def feats(name, ds):
        return features.cached(name, ds, dtype=cfg.get("dtype", "float32"), device=cfg.get("device", "auto"),
                               batch_size=cfg.get("batch_size", 16), cache_dir=cfg.get("cache_dir"),
                               force=cfg.get("force", False))

    train, ytr = fashion_dataset("train", opts["train_per_class"], seed)
    test, yte = fashion_dataset("test", opts["test_per_class"], seed)
    cifar, ycf = cifar_dataset()
    probes = {}
    for m in names:
        f = feats(m, train)[-1].double().numpy()
        fashion = vv.linear_probe(f, ytr, feats(m, test)[-1].double().numpy(), yte, seed=seed)
        cif = vv.cross_validated_probe(feats(m, cifar)[-1].double().numpy(), ycf, n_folds=opts["cifar_folds"],
                                       seed=seed)
        probes[m] = {"fashion_mnist": fashion, "cifar10": cif,
                     "competence": float(np.mean([fashion["accuracy"], cif["accuracy"]]))}

    photos = data.load(cfg.get("dataset") or "tuxpaint")
    if cfg.get("n_samples"):
        photos = photos.subset(cfg["n_samples"], seed)
    pf = {m: feats(m, photos) for m in names}
    n = len(names)
    matrix, layers = np.eye(n), [[None] * n for _ in range(n)]
    null = {} if n_perm else None
    for i in range(n):
        for j in range(i + 1, n):
            r = alignment.layerwise(pf[names[i]], pf[names[j]], metric, **kw)
            matrix[i, j] = matrix[j, i] = r.best_score
            layers[i][j], layers[j][i] = list(r.best_layers), list(r.best_layers)[::-1]
            if null is not None:
                c = alignment.calibrate(pf[names[i]], pf[names[j]], metric, n_perm=n_perm, seed=seed, **kw)
                null[f"{names[i]}|{names[j]}"] = {"null_mean": c.null_mean, "null_std": c.null_std, "z": c.z}
    competence = np.array([probes[m]["competence"] for m in names])
    bins = vv.competence_bins(competence, min(opts["n_bins"], n))
    per_bin = vv.intra_bin_alignment(matrix, bins)
    for b in per_bin:
        b["models"] = [names[i] for i in b["models"]]
        b["mean_competence"] = float(competence[bins == b["bin"]].mean())
    results = {"models": names, "metric": metric, "k": k, "n_photos": len(photos), "dataset": photos.name,
               "probes": probes, "competence": competence.tolist(), "alignment": matrix.tolist(),
               "best_layers": layers, "null": null, "bins": per_bin,
               "chance": k / (len(photos) - 1) if metric.endswith("_knn") else None,
               "probe_sizes": {"fashion_train": len(ytr), "fashion_test": len(yte), "cifar10": len(ycf)}}
    _plot(results, out / "vision_vision.png")
    config = {key: (str(val) if isinstance(val, Path) else val) for key, val in cfg.items()}
    config["options"] = opts
    runio.write_json(out / "results.json", {"config": config, "seed": seed, "versions": runio.versions(),
                                            "results": results})
    return results


def _plot(res: dict, path: Path) -> None:
    """Heat map of the alignment matrix (models sorted by competence), intra-bin alignment per competence bin, and
    every pair's alignment against the lower competence of the two."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from platonic_core import runio

    names, comp = res["models"], np.array(res["competence"])
    a = np.array(res["alignment"])
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
    axes[0].set_title(f"{res['metric']} on {res['n_photos']} photos (competence)", fontsize=9)
    bins = [b for b in res["bins"] if b["mean"] is not None]
    axes[1].bar(range(len(bins)), [b["mean"] for b in bins], yerr=[b["std"] for b in bins], capsize=4,
                color="tab:blue")
    axes[1].set_xticks(range(len(bins)), [f"bin {b['bin']}\ncompetence {b['mean_competence']:.2f}\n"
                                          f"({b['n_pairs']} pairs)" for b in bins], fontsize=7)
    if res["chance"] is not None:
        axes[1].axhline(res["chance"], color="grey", ls=":", label="chance k/(N-1)")
        axes[1].legend(fontsize=7)
    axes[1].set_ylabel("mean alignment within bin")
    axes[1].set_title("Intra-bin alignment (models binned by competence)", fontsize=9)
    iu = np.triu_indices(len(names), 1)
    axes[2].scatter(np.minimum(comp[iu[0]], comp[iu[1]]), a[iu], c="tab:orange", edgecolors="k")
    axes[2].set_xlabel("lower competence of the pair (mean probe accuracy)")
    axes[2].set_ylabel("pairwise alignment")
    axes[2].set_title("Pairs: alignment vs competence", fontsize=9)
    runio.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
