"""Settings and steps the empirical experiments share: model lists, feature extraction options, the paired
dataset, metric parameters. Imports stay light (models and features load torch on first use)."""
from __future__ import annotations

from platonic_core import checks


def check_models(names, key: str, owner: str, modality: str | None = None, at_least: int = 1) -> list[str]:
    """A list of model names (see empirical.models), each of `modality` when given and each available now (a
    missing package, local file or uncached hub model is named here, before any work)."""
    from empirical import models

    if not isinstance(names, list) or len(names) < at_least:
        checks.fail(checks.param(key, owner), f"list at least {at_least} model name(s)", repr(names))
    for name in names:
        models.check_available(name, owner)
        if modality and models.modality(name) != modality:
            checks.fail(checks.param(key, owner), f"list {modality} models only", f"{name!r}, a "
                        f"{models.modality(name)} model")
    if len(set(names)) < len(names):
        checks.fail(checks.param(key, owner), "list distinct models", repr(names))
    return names


def check_extraction(cfg: dict, owner: str, names=()) -> None:
    """device, dtype, batch_size, cache_dir and (where the experiment has them) device_map, quantization, layers and
    q: valid before any model is loaded; `names` are the run's models, checked against the placement options."""
    from empirical import features, models

    models.resolve_device(cfg["device"], owner)
    models.check_dtype(cfg["dtype"], owner)
    checks.check_int(cfg["batch_size"], "batch_size", owner, 1)
    if cfg.get("cache_dir") is not None:
        checks.check_out_dir(cfg["cache_dir"], "cache_dir", owner)
    if "layers" in cfg:
        features.check_layers(cfg["layers"], owner)
    if "q" in cfg:
        checks.check_real(cfg["q"], "q", owner, 0, 1, low_open=True)
    for name in names:  # device_map and quantization apply to the language models only
        models.check_placement(name, cfg["device"], *models.placement_for(name, cfg.get("device_map"),
                                                                          cfg.get("quantization")), owner)


def check_metrics(cfg: dict, owner: str, key: str = "metrics") -> None:
    import alignment

    checks.check_subset(cfg[key], key, owner, alignment.METRICS)


def check_null(cfg: dict, owner: str) -> None:
    """n_perm: the number of permutations of the null (0: no null)."""
    checks.check_int(cfg["n_perm"], "n_perm", owner, 0)


def check_k(k: int, n: int, owner: str) -> int:
    """k neighbours among n samples."""
    return checks.check_int(k, "k", owner, 1, n - 1, hint=f"[1, N-1] with N={n} samples")


BOOT_FRAC = 0.5  # rows of each bootstrap replicate, a fraction of N (alignment.bootstrap's half-samples)


def check_samples(cfg: dict, owner: str, ds) -> int:
    """N of a run on the (loaded) dataset `ds`: n_samples at most its size; then k (where a metric of the run takes
    it) and the bootstrap (n_boot > 0) must be defined on N samples. Returns N."""
    n = len(ds)
    if cfg["n_samples"] is not None:
        if cfg["n_samples"] > n:
            checks.fail(checks.param("n_samples", owner), f"be at most the size of the dataset ({n} samples in "
                        f"{ds.name})", cfg["n_samples"])
        n = cfg["n_samples"]
    if any("k" in metric_kwargs(m, cfg) for m in _metrics(cfg)):
        check_k(cfg["k"], n, owner)
    if cfg.get("n_boot"):
        check_boot(cfg, n, owner)
    return n


def _metrics(cfg: dict) -> list[str]:
    """The metrics a run scores: its `metrics` list or its one `metric` (none for a bank)."""
    return cfg["metrics"] if "metrics" in cfg else [cfg["metric"]] if "metric" in cfg else []


def check_boot(cfg: dict, n: int, owner: str) -> None:
    """n_boot > 0 on N samples: each replicate scores m = round(BOOT_FRAC N) < N rows, which must define every
    metric of the run (its fewest rows, and k + 1 for the k-NN metrics; see alignment.bootstrap)."""
    from alignment.metrics import min_rows

    names = _metrics(cfg)
    kws = {m: metric_kwargs(m, cfg) for m in names}
    need = max(max(min_rows(m, kw), kw.get("k", 0) + 1) for m, kw in kws.items())
    ok = lambda size: need <= round(BOOT_FRAC * size) < size  # noqa: E731
    if not ok(n):
        least = next(size for size in range(n + 1, 4 * need + 4) if ok(size))
        checks.fail(checks.param("n_boot", owner), f"be 0 (no interval) with N={n} samples: each bootstrap replicate "
                    f"scores round(N/2) = {round(BOOT_FRAC * n)} rows and {', '.join(names)} needs {need}, so an "
                    f"interval needs N >= {least}", cfg["n_boot"])


def extraction(cfg: dict) -> dict:
    """Keyword arguments of empirical.features.cached for this run (device_map, quantization, layers and pooling
    where the experiment has those settings)."""
    out = {"device": cfg["device"], "dtype": cfg["dtype"], "batch_size": cfg["batch_size"],
           "cache_dir": cfg["cache_dir"], "force": cfg["fresh"]}
    for key in ("device_map", "quantization", "layers", "max_length"):
        if key in cfg:
            out[key] = cfg[key]
    return out


def cached(name: str, ds, cfg: dict, records: dict, q: float | None = 0.95, **kw):
    """features.cached(name, ds) with this run's extraction settings (a progress bar on a terminal); records[name]
    receives what results.json records of it (features.record: precision, batch size requested and effective,
    pooling, layers, clamp q, ...). `kw` overrides settings (e.g. pooling)."""
    from empirical import features, models
    from platonic_core.progress import enabled

    rep = {}
    opts = {**extraction(cfg), **kw}
    if "device_map" in opts or "quantization" in opts:  # they apply to language models only
        opts["device_map"], opts["quantization"] = models.placement_for(name, opts.get("device_map"),
                                                                        opts.get("quantization"))
    out = features.cached(name, ds, progress=enabled(), report=rep, **opts)
    rep.pop("computed", None)
    rep["clamp"] = {"cached": None, "q": q}
    records[name] = rep
    return out


def extract_record(name: str, feats, cfg: dict, pooling: str = "auto", max_length: int = 256,
                   report: dict | None = None) -> dict:
    """What results.json records of features computed by features.extract (no cache, no clamp)."""
    from empirical import models

    device_map, quantization = models.placement_for(name, cfg.get("device_map"), cfg.get("quantization"))
    return {"model": name, "dtype": models.resolve_dtype(cfg["dtype"], cfg["device"]), "quantization": quantization,
            "batch_size": cfg["batch_size"], "effective_batch_size": (report or {}).get("batch_size",
                                                                                         cfg["batch_size"]),
            "pooling": pooling, "max_length": max_length if models.modality(name) == "language" else None,
            "layers": None, "n_layers": len(feats), "widths": [int(f.shape[1]) for f in feats],
            "clamp": {"cached": None, "q": None}, "device_map": device_map}


def dataset(cfg: dict, spec_key: str = "dataset"):
    """The paired dataset of the run: cfg[spec_key], then a seeded subset of cfg["n_samples"] (None: all)."""
    from empirical import data

    ds = data.load(cfg[spec_key])
    return ds if cfg["n_samples"] is None else ds.subset(cfg["n_samples"], cfg["seed"])


def metric_kwargs(metric: str, cfg: dict) -> dict:
    """The settings this metric takes (k for the k-NN metrics and CKNNA), from the run's settings."""
    import alignment

    return alignment.metric_kwargs(metric, **{k: cfg[k] for k in ("k", "cca_dim") if k in cfg})


def check_calibration(cfg: dict, owner: str) -> None:
    """n_perm (0: no null), alpha and n_boot (0: no interval) of a run that reports calibrated scores."""
    check_null(cfg, owner)
    checks.check_real(cfg["alpha"], "alpha", owner, 0, 1, low_open=True, high_open=True)
    checks.check_int(cfg["n_boot"], "n_boot", owner, 0)


def calibrated(feats_a, feats_b, metric: str, cfg: dict) -> dict:
    """Every statistic of record of one model pair (layer stacks; the paper's pipeline): the best layer pair's
    score and where it is; with n_perm > 0 its permutation null (Groger et al.: p_value, threshold,
    calibrated_score; also null mean, std, 95th percentile and z); with n_boot > 0 a bootstrap interval of the best
    pair's score (the layers fixed at the full sample's best pair) and the calibrated score's interval through the
    same threshold. Keys absent from the run are None."""
    import numpy as np

    import alignment

    kw = metric_kwargs(metric, cfg)
    if cfg["n_perm"]:
        c = alignment.calibrate(feats_a, feats_b, metric, n_perm=cfg["n_perm"], seed=cfg["seed"], alpha=cfg["alpha"],
                                **kw)
        out = {"score": c.score, "best_layers": list(c.best_layers), "p_value": c.p_value, "threshold": c.threshold,
               "calibrated_score": c.calibrated_score, "null_mean": c.null_mean, "null_std": c.null_std,
               "null_q95": float(np.quantile(c.null, 0.95)), "z": c.z, "n_perm": cfg["n_perm"], "alpha": c.alpha,
               "layer_scores": c.scores.tolist()}
    else:
        r = alignment.layerwise(feats_a, feats_b, metric, **kw)
        out = {"score": r.best_score, "best_layers": list(r.best_layers), "layer_scores": r.scores.tolist(),
               **dict.fromkeys(("p_value", "threshold", "calibrated_score", "null_mean", "null_std", "null_q95",
                                "z", "alpha")), "n_perm": 0}
    out.update(dict.fromkeys(("ci_low", "ci_high", "calibrated_low", "calibrated_high")))
    if cfg["n_boot"]:
        i, j = out["best_layers"]
        b = alignment.bootstrap(alignment.prepare(feats_a[i]), alignment.prepare(feats_b[j]), metric,
                                n_boot=cfg["n_boot"], seed=cfg["seed"], frac=BOOT_FRAC, **kw)
        out.update(ci_low=b.low, ci_high=b.high, n_boot=cfg["n_boot"])
        if out["threshold"] is not None:
            out.update(calibrated_low=_calibrate(b.low, out["threshold"], c.smax),
                       calibrated_high=_calibrate(b.high, out["threshold"], c.smax))
    return out


def _calibrate(x: float, tau: float, smax) -> float:
    """Groger et al.'s calibration of a value x at threshold tau: clip((x - tau) / (smax - tau), 0, 1)."""
    if smax is None:
        return max(0.0, x - tau)
    return min(1.0, max(0.0, (x - tau) / (smax - tau))) if smax > tau else 0.0
