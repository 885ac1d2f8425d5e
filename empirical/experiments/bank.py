"""bank: a reference bank, every model's features on one dataset in the paper's feature-file format.

Features come through the feature cache (filled by several processes or GPUs when devices > 1: Lightning DDP);
each model's file holds `feats` (N x L x D, or a list of N x D_l when widths differ), `num_params`, and for language
models the paper's `mask`, `loss` and `bpb`, plus the sample ids and extraction settings. The bank is written into
<out>/bank, or, with name=NAME, into cache_root()/banks/NAME, where `score` finds it as references='bank:NAME'.
bank.json lists the models, the dataset spec and the ids; results.json records every model's extraction (precision,
batch size, pooling, layers, clamp) and the bank's folder.
"""
from __future__ import annotations

from pathlib import Path

from platonic_core import checks
from platonic_core.progress import enabled

from ._common import check_extraction, check_models, check_samples

DEFAULTS = {
    "models": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "minilm_l6", "mpnet_base",
               "smollm2_135m", "gemma3_270m"],
    "dataset": "tuxpaint",       # a data spec: tuxpaint, a folder, a .jsonl, or hf:NAME[@REV][:SPLIT][?options]
    "n_samples": None,           # a seeded subset of the dataset (None: all)
    "name": None,                # register the bank as bank:NAME in cache_root()/banks (None: write <out>/bank)
    "extras": True,              # num_params, and for language models the paper's mask, loss and bpb
    "pooling": "auto",           # vision: auto (class token or average), cls, avg; language: auto = mean
    "max_length": 256,           # tokens per caption
    "layers": None,              # keep only these layer indices (None: every layer)
    "device": "auto",            # auto: the GPU when present
    "dtype": "auto",             # auto: bfloat16 on GPUs that support it, else float32; or float32/bfloat16/float16
    "device_map": None,          # accelerate placement of big language models: auto, balanced, sequential
    "quantization": None,        # 4bit: bitsandbytes NF4 weights (language models, CUDA)
    "batch_size": 16,            # halved automatically on out-of-memory
    "devices": 1,                # processes (one per GPU, or CPU processes) filling the feature cache (Lightning)
    "accelerator": "auto",       # auto (GPUs when there are enough), cpu, gpu
    "cache_dir": None,           # feature cache (None: $PLATONIC_CACHE/features or ~/.cache/platonic/features)
}
TYPES = {"n_samples": int, "name": str, "layers": list, "device_map": str, "quantization": str, "cache_dir": str}


def check(cfg: dict) -> None:
    import re

    from empirical import data, distributed

    check_models(cfg["models"], "models", "bank")
    data.check_spec(cfg["dataset"], "bank", "dataset")
    if cfg["n_samples"] is not None:
        checks.check_int(cfg["n_samples"], "n_samples", "bank", 2)
    if cfg["name"] is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", cfg["name"]):
        checks.fail(checks.param("name", "bank"), "be a bank name of letters, digits, '_', '.', '-'",
                    repr(cfg["name"]))
    checks.check_bool(cfg["extras"], "extras", "bank")
    checks.check_int(cfg["max_length"], "max_length", "bank", 1)
    checks.check_int(cfg["devices"], "devices", "bank", 1)
    checks.check_choice(cfg["accelerator"], "accelerator", "bank", distributed.ACCELERATORS)
    if cfg["devices"] > 1 and (cfg["device_map"] or cfg["quantization"]):
        checks.fail(checks.param("devices", "bank"), "be 1 with a device_map or quantization (one process spreads "
                    "one model over the GPUs)", cfg["devices"])
    check_extraction(cfg, "bank", cfg["models"])
    from empirical import features, models

    for name in cfg["models"]:  # pooling, max_length, layers as extraction checks them, per modality
        features.check_options("bank", models.modality(name), cfg["pooling"], cfg["batch_size"], cfg["device"],
                                cfg["dtype"], cfg["max_length"], False, cfg["layers"])
    check_samples(cfg, "bank", data.load(cfg["dataset"]))  # last: it reads every image


def run(cfg: dict, out: Path):
    from empirical import bank, data

    ds = data.load(cfg["dataset"])
    subset = None
    if cfg["n_samples"] is not None:
        ds = ds.subset(cfg["n_samples"], cfg["seed"])
        subset = {"n": cfg["n_samples"], "seed": cfg["seed"]}
    where = dict(name=cfg["name"]) if cfg["name"] else dict(out=Path(out) / "bank")
    folder, records = bank.build(cfg["models"], ds, pooling=cfg["pooling"], dtype=cfg["dtype"], device=cfg["device"],
                                 batch_size=cfg["batch_size"], max_length=cfg["max_length"],
                                 cache_dir=cfg["cache_dir"], force=cfg["fresh"], layers=cfg["layers"],
                                 device_map=cfg["device_map"], quantization=cfg["quantization"],
                                 extras=cfg["extras"], devices=cfg["devices"], accelerator=cfg["accelerator"],
                                 progress=enabled(), subset=subset, spec=cfg["dataset"], **where)
    for rec in records.values():
        rec["clamp"] = {"cached": None, "q": None}  # stored raw; the scorer clamps
    results = {"bank": str(folder), "reference": f"bank:{cfg['name']}" if cfg["name"] else str(folder),
               "dataset": ds.name, "n_samples": len(ds), "models": cfg["models"],
               "files": sorted(p.name for p in Path(folder).glob("*.pt")), "extraction": records, "plots": []}
    lines = [f"Bank {results['reference']}: {len(cfg['models'])} models on {ds.name} (N={len(ds)})"]
    for m, r in records.items():
        extra = f", bpb {r['bpb']:.3f}" if r.get("bpb") is not None else ""
        lines.append(f"  {m:>22}  {r['n_layers']} layers, {r['dtype']}, batch {r['effective_batch_size']}{extra}")
    return results, "\n".join(lines)


def headline(results: dict) -> tuple[str, int]:
    """The key number of a run: how many models' feature files the bank holds."""
    return f"feature files on {results['dataset']} (N={results['n_samples']})", len(results["files"])
