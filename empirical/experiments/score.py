"""score: how well a model aligns with reference models (a bank of feature files, the paper's or ours).

`features` is a model name (its features are computed on `dataset` through the feature cache) or a feature file;
`references` are folders of feature files (e.g. the paper's released wit_1024 files), .pt files, 'bank:NAME'
(built by `python -m empirical.run bank --set name=NAME`), or model names computed on the same dataset. For every
reference: `alignment.layerwise` (every layer pair after the q-quantile clamp and L2 normalisation; the best score
and its layer pair) and, with n_perm > 0, the permutation null of `alignment.calibrate` (null mean, std, z).
Every input is checked before any model is loaded (reference files of another N or with NaN, mismatched sample
ids). Writes results.json (with each model's extraction record), scores.txt (the table) and score.png.
"""
from __future__ import annotations

from pathlib import Path

from platonic_core import checks, runio
from platonic_core.progress import enabled

from ._common import check_extraction, check_null, check_samples

DEFAULTS = {
    "features": "",              # a model name (computed on `dataset`) or a feature file (.pt)
    "references": [],            # folders of .pt files, .pt files, bank:NAME, or model names (comma-separated)
    "dataset": None,             # data spec of the samples (None: the bank's, from its bank.json)
    "n_samples": None,           # a seeded subset of the dataset (None: all); must match the references' rows
    "metric": "mutual_knn",      # any of alignment.METRICS
    "k": 10,                     # neighbours of the k-NN metrics and CKNNA
    "n_perm": 100,               # permutations of the null (0: none)
    "q": 0.95,                   # clamp quantile of the layer pipeline
    "pooling": "auto",           # extraction of computed models (see features.extract)
    "max_length": 256,
    "layers": None,              # keep only these layer indices of computed models (None: every layer)
    "device": "auto",            # auto: the GPU when present
    "dtype": "auto",             # auto: bfloat16 on GPUs that support it, else float32
    "device_map": None,          # accelerate placement of big language models: auto, balanced, sequential
    "quantization": None,        # 4bit: bitsandbytes NF4 weights (language models, CUDA)
    "batch_size": 16,            # halved automatically on out-of-memory
    "cache_dir": None,           # feature cache (None: $PLATONIC_CACHE/features or ~/.cache/platonic/features)
}
TYPES = {"dataset": str, "n_samples": int, "layers": list, "device_map": str, "quantization": str, "cache_dir": str}


def _dataset(cfg: dict):
    from empirical import data

    if cfg["dataset"] is None:
        return None
    ds = data.load(cfg["dataset"])
    check_samples(cfg, "score", ds)
    return ds if cfg["n_samples"] is None else ds.subset(cfg["n_samples"], cfg["seed"])


def _plan(cfg: dict, ds):
    from empirical import bank

    return bank.prepare(cfg["features"], cfg["references"], cfg["metric"], cfg["k"], dataset=ds,
                        n_perm=cfg["n_perm"], seed=cfg["seed"], q=cfg["q"], pooling=cfg["pooling"],
                        dtype=cfg["dtype"], device=cfg["device"], batch_size=cfg["batch_size"],
                        max_length=cfg["max_length"], cache_dir=cfg["cache_dir"], force=cfg["fresh"],
                        device_map=cfg["device_map"], quantization=cfg["quantization"], layers=cfg["layers"],
                        progress=enabled(), owner="score")


def check(cfg: dict) -> None:
    """Everything the run needs, checked in full before any model is loaded: the reference files are read (N,
    finite values, ids), the dataset is loaded and compared with them."""
    from empirical import data

    if not cfg["features"].strip():
        checks.fail(checks.param("features", "score"), "name a model or a feature file", repr(cfg["features"]))
    if not cfg["references"]:
        checks.fail(checks.param("references", "score"), "list folders of feature files, .pt files, bank:NAME or "
                    "model names", "[]")
    if cfg["dataset"] is not None:
        data.check_spec(cfg["dataset"], "score", "dataset")
    if cfg["n_samples"] is not None:
        checks.check_int(cfg["n_samples"], "n_samples", "score", 2)
        if cfg["dataset"] is None:
            checks.fail(checks.param("n_samples", "score"), "be None unless a dataset is given", cfg["n_samples"])
    check_null(cfg, "score")
    checks.check_int(cfg["max_length"], "max_length", "score", 1)
    check_extraction(cfg, "score")
    from empirical import bank

    for ref in bank.resolve(cfg["references"], "score"):  # the reference files first: they need no dataset
        if ref.path is not None:
            bank.read(ref.path)
    _plan(cfg, _dataset(cfg))


def run(cfg: dict, out: Path):
    from empirical import bank

    plan = _plan(cfg, _dataset(cfg))
    records = {}
    res = bank.run_plan(plan, records)
    results = {"features": cfg["features"], "references": {k: v.as_dict() for k, v in res.items()},
               "metric": cfg["metric"], "k": cfg["k"], "q": cfg["q"], "n_perm": cfg["n_perm"], "n_samples": plan.n,
               "dataset": plan.dataset.name if plan.dataset is not None else None,
               "extraction": records, "table": "scores.txt", "plots": ["score.png"]}
    text = bank.table(res)
    runio.atomic_write_bytes(out / "scores.txt", (text + "\n").encode())
    title = f"{cfg['features']} vs references ({cfg['metric']}, k={cfg['k']}, N={plan.n})"
    runio.save_figure(bank.plot(res, title), out / "score.png")
    return results, f"{title}\n{text}"


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the best reference's calibrated score (its raw best score without a null)."""
    key = "calibrated_score" if results["n_perm"] else "best_score"
    name, ref = max(results["references"].items(), key=lambda kv: kv[1][key])
    return f"{key.replace('_', ' ')} ({name})", ref[key]
