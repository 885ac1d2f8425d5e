"""sample_size: the same model pairs score lower as the number of samples N grows; the permutation null shows why.

Koepke et al. (2026): mutual k-NN alignment falls as N grows at fixed k, so scores measured on different N cannot
be compared raw. For each model pair, features are computed once on the whole dataset (feature cache), then scored
on nested random subsets of growing size: draw d is a seeded permutation of the samples and its subset of size n is
its first n samples (each size is scored on `draws` such subsets). Each subset is scored raw
(`alignment.calibrate`: the layer sweep's best score, the paper's pipeline) and against its permutation null
(null mean, std, z; the excess score - null mean). mutual_knn's chance level k/(N-1) is drawn for reference.
Writes results.json (every draw, and per size the mean and sd over draws) and sample_size.png.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks, runio
from platonic_core.progress import announce, progress

from ._common import cached, check_extraction, check_models, check_samples, dataset, metric_kwargs

DEFAULTS = {
    "pairs": ["efficientnet_lite0|minilm_l6", "efficientnet_lite2|mpnet_base",
              "efficientnet_lite0|efficientnet_lite2"],   # MODEL_A|MODEL_B, any modalities
    "dataset": "tuxpaint",       # the samples (Tux Paint photos); any data spec
    "n_samples": None,           # a seeded subset of the dataset to draw from (None: all)
    "sizes": [16, 32, 64, 128, 256],  # subset sizes N (each > k); sizes past the dataset are an error
    "full": True,                # also score the whole dataset (one draw: every subset of that size is the same)
    "draws": 5,                  # random subsets per size
    "metric": "mutual_knn",      # any of alignment.METRICS
    "k": 10,                     # neighbours (fixed while N grows)
    "n_perm": 50,                # permutations of each null
    "q": 0.95,                   # clamp quantile of the layer pipeline
    "device": "auto",            # auto: the GPU when present
    "dtype": "auto",             # auto: bfloat16 on GPUs that support it, else float32
    "device_map": None,          # accelerate placement of big language models: auto, balanced, sequential
    "quantization": None,        # 4bit: bitsandbytes NF4 weights (language models, CUDA)
    "batch_size": 16,            # halved automatically on out-of-memory
    "cache_dir": None,           # feature cache (None: $PLATONIC_CACHE/features or ~/.cache/platonic/features)
}
TYPES = {"n_samples": int, "device_map": str, "quantization": str, "cache_dir": str}


def parse_pairs(pairs, owner: str = "sample_size") -> list[tuple[str, str]]:
    """'A|B' strings -> [(A, B)], each a valid model name, the two different, no pair twice."""
    out = []
    for p in pairs:
        a, bar, b = str(p).partition("|")
        if not bar or not a.strip() or not b.strip():
            checks.fail(checks.param("pairs", owner), "hold 'MODEL_A|MODEL_B' strings", repr(p))
        a, b = a.strip(), b.strip()
        check_models([a, b], "pairs", owner, at_least=2)
        if (a, b) in out or (b, a) in out:
            checks.fail(checks.param("pairs", owner), "list each pair once", repr(p))
        out.append((a, b))
    if not out:
        checks.fail(checks.param("pairs", owner), "list at least one 'MODEL_A|MODEL_B' pair", "[]")
    return out


def check(cfg: dict) -> None:
    import alignment
    from empirical import data

    pairs = parse_pairs(cfg["pairs"])
    data.check_spec(cfg["dataset"], "sample_size", "dataset")
    k = checks.check_int(cfg["k"], "k", "sample_size", 1)
    sizes = checks.check_ints(cfg["sizes"], "sizes", "sample_size", k + 1) if cfg["sizes"] else []
    if sorted(set(sizes)) != sizes:
        checks.fail(checks.param("sizes", "sample_size"), "be increasing sizes, each once", repr(cfg["sizes"]))
    checks.check_bool(cfg["full"], "full", "sample_size")
    if not sizes and not cfg["full"]:
        checks.fail(checks.param("sizes", "sample_size"), "list a size (or full=True)", "[] with full=False")
    if cfg["n_samples"] is not None:
        checks.check_int(cfg["n_samples"], "n_samples", "sample_size", max(sizes, default=k + 1))
    checks.check_int(cfg["draws"], "draws", "sample_size", 1)
    checks.check_choice(cfg["metric"], "metric", "sample_size", alignment.METRICS)
    checks.check_int(cfg["n_perm"], "n_perm", "sample_size", 1)
    check_extraction(cfg, "sample_size", sorted({m for pair in pairs for m in pair}))
    n = check_samples(cfg, "sample_size", data.load(cfg["dataset"]))  # last: it reads every image
    if sizes and sizes[-1] > n:
        checks.fail(checks.param("sizes", "sample_size"), f"be at most the number of samples ({n})", sizes[-1])


def subsets(n_total: int, sizes: list[int], draws: int, seed: int, full: bool) -> list[tuple[int, int, np.ndarray]]:
    """(size, draw, sorted row indices): draw d permutes the rows with numpy's generator seeded (seed, d) and takes
    the first `size`; nested across sizes. With `full`, the whole set once (draw 0)."""
    out = []
    perms = [np.random.default_rng([seed, d]).permutation(n_total) for d in range(draws)]
    for n in sizes:
        out += [(n, d, np.sort(perms[d][:n])) for d in range(draws)]
    if full and n_total not in sizes:
        out.append((n_total, 0, np.arange(n_total)))
    return out


def run(cfg: dict, out: Path):
    import alignment

    pairs = parse_pairs(cfg["pairs"])
    ds = dataset(cfg)
    sizes = list(cfg["sizes"])
    names = list(dict.fromkeys(m for p in pairs for m in p))
    records = {}
    feats = {m: cached(m, ds, cfg, records, q=cfg["q"]) for m in names}
    kw = metric_kwargs(cfg["metric"], cfg)
    plan = subsets(len(ds), sizes, cfg["draws"], cfg["seed"], cfg["full"])
    per_pair = {}
    announce(f"  {len(pairs)} model pairs on {ds.name}: {len(plan)} subsets each, "
             f"{cfg['n_perm']} permutations per null")
    bar = progress(total=len(pairs) * len(plan), desc="subsets", unit="sweep")
    for a, b in pairs:
        rows = []
        for n, d, idx in plan:
            bar.update()
            ix = torch_index(idx)
            c = alignment.calibrate([x[ix] for x in feats[a]], [x[ix] for x in feats[b]], cfg["metric"],
                                    n_perm=cfg["n_perm"], seed=cfg["seed"], q=cfg["q"], **kw)
            rows.append({"n": n, "draw": d, "score": float(c.score), "best_layers": list(c.best_layers),
                         "null_mean": float(c.null_mean), "null_std": float(c.null_std), "z": float(c.z),
                         "excess": float(c.score - c.null_mean), "p_value": float(c.p_value),
                         "calibrated_score": float(c.calibrated_score)})
        per_pair[f"{a}|{b}"] = {"draws": rows, "by_size": _by_size(rows)}
    bar.close()
    all_sizes = sorted({n for n, _, _ in plan})
    results = {"pairs": [f"{a}|{b}" for a, b in pairs], "dataset": ds.name, "n_total": len(ds), "sizes": all_sizes,
               "draws": cfg["draws"], "metric": cfg["metric"], "k": cfg["k"], "q": cfg["q"], "n_perm": cfg["n_perm"],
               "chance": {str(n): cfg["k"] / (n - 1) for n in all_sizes} if cfg["metric"] == "mutual_knn" else None,
               "results": per_pair, "extraction": records, "plots": ["sample_size.png"]}
    runio.save_figure(_plot(results), out / "sample_size.png", dpi=110)
    return results, _text(results)


def torch_index(idx):
    import torch

    return torch.from_numpy(np.asarray(idx, dtype=np.int64))


def _by_size(rows: list[dict]) -> list[dict]:
    out = []
    for n in sorted({r["n"] for r in rows}):
        rs = [r for r in rows if r["n"] == n]
        entry = {"n": n, "draws": len(rs)}
        for key in ("score", "null_mean", "z", "excess", "p_value", "calibrated_score"):
            v = np.array([r[key] for r in rs], dtype=float)
            finite = v[np.isfinite(v)]
            entry[key] = float(finite.mean()) if finite.size else float(v[0])
            entry[f"{key}_sd"] = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
        out.append(entry)
    return out


def _text(res: dict) -> str:
    lines = [f"Alignment vs sample size ({res['metric']}, k={res['k']}, best layer pair; {res['dataset']}, "
             f"mean over {res['draws']} nested random subsets per size; null: {res['n_perm']} permutations)"]
    head = f"  {'N':>5}  {'score':>13}  {'null mean':>9}  {'excess':>7}  {'z':>6}  {'calibrated':>10}  {'p':>6}"
    if res["chance"]:
        head += f"  {'k/(N-1)':>7}"
    for pair, r in res["results"].items():
        lines += [pair, head]
        for e in r["by_size"]:
            line = (f"  {e['n']:>5}  {e['score']:.3f} ± {e['score_sd']:.3f}  {e['null_mean']:9.3f}  "
                    f"{e['excess']:7.3f}  {e['z']:6.1f}  {e['calibrated_score']:10.3f}  {e['p_value']:6.3f}")
            if res["chance"]:
                line += f"  {res['chance'][str(e['n'])]:7.3f}"
            lines.append(line)
    return "\n".join(lines)


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: how far the raw score falls from the smallest to the largest N (mean over pairs)."""
    falls = [r["by_size"][0]["score"] - r["by_size"][-1]["score"] for r in results["results"].values()]
    return f"raw score fall from N={results['sizes'][0]} to N={results['sizes'][-1]}", float(np.mean(falls))


def _plot(res: dict):
    plt = runio.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    for i, (pair, r) in enumerate(res["results"].items()):
        colour = f"C{i}"
        e = r["by_size"]
        n = [x["n"] for x in e]
        axes[0].errorbar(n, [x["score"] for x in e], yerr=[x["score_sd"] for x in e], color=colour, marker="o",
                         capsize=3, label=pair)
        axes[0].plot(n, [x["null_mean"] for x in e], color=colour, ls=":", marker=".")
        axes[1].errorbar(n, [x["excess"] for x in e], yerr=[x["excess_sd"] for x in e], color=colour, marker="o",
                         capsize=3, label=pair)
        axes[2].errorbar(n, [x["z"] for x in e], yerr=[x["z_sd"] for x in e], color=colour, marker="o", capsize=3,
                         label=pair)
    if res["chance"]:
        sizes = res["sizes"]
        axes[0].plot(sizes, [res["chance"][str(s)] for s in sizes], color="grey", ls="--", label="chance k/(N-1)")
    axes[0].set_ylabel(f"{res['metric']} (k={res['k']}), best layer pair")
    axes[0].set_title("Raw score (dotted: permutation null mean)", fontsize=9)
    axes[1].set_ylabel("score - null mean")
    axes[1].set_title("Above the null", fontsize=9)
    axes[2].set_ylabel("z = (score - null mean) / null sd")
    axes[2].set_title("z against the permutation null", fontsize=9)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (samples)")
        runio.legend_outside(ax, fontsize=6)
    fig.suptitle(f"Sample-size effect on {res['dataset']} (mean ± sd over {res['draws']} draws)", fontsize=10)
    return fig
