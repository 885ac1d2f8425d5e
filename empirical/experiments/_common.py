"""Settings and steps the empirical experiments share: model lists, feature extraction options, the paired
dataset, metric parameters. Imports stay light (models and features load torch on first use)."""
from __future__ import annotations

from platonic_core import checks


def check_models(names, key: str, owner: str, modality: str | None = None, at_least: int = 1) -> list[str]:
    """A list of model names (see empirical.models), each of `modality` when given."""
    from empirical import models

    if not isinstance(names, list) or len(names) < at_least:
        checks.fail(checks.param(key, owner), f"list at least {at_least} model name(s)", repr(names))
    for name in names:
        models.check_name(name, owner)
        if modality and models.modality(name) != modality:
            checks.fail(checks.param(key, owner), f"list {modality} models only", f"{name!r}, a "
                        f"{models.modality(name)} model")
    if len(set(names)) < len(names):
        checks.fail(checks.param(key, owner), "list distinct models", repr(names))
    return names


def check_extraction(cfg: dict, owner: str) -> None:
    """device, dtype, batch_size and cache_dir: valid before any model is loaded."""
    from empirical import models

    models.resolve_device(cfg["device"], owner)
    models.check_dtype(cfg["dtype"], owner)
    checks.check_int(cfg["batch_size"], "batch_size", owner, 1)
    if cfg.get("cache_dir") is not None:
        checks.check_out_dir(cfg["cache_dir"], "cache_dir", owner)


def check_metrics(cfg: dict, owner: str, key: str = "metrics") -> None:
    import alignment

    checks.check_subset(cfg[key], key, owner, alignment.METRICS)


def check_null(cfg: dict, owner: str) -> None:
    """n_perm: 0 (no null) or the number of permutations of the null (at least 2)."""
    if checks.check_int(cfg["n_perm"], "n_perm", owner, 0) == 1:
        checks.fail(checks.param("n_perm", owner), "be 0 (no null) or >= 2", 1)


def check_k(k: int, n: int, owner: str) -> int:
    """k neighbours among n samples."""
    return checks.check_int(k, "k", owner, 1, n - 1, hint=f"[1, N-1] with N={n} samples")


def extraction(cfg: dict) -> dict:
    """Keyword arguments of empirical.features.cached for this run."""
    return {"device": cfg["device"], "dtype": cfg["dtype"], "batch_size": cfg["batch_size"],
            "cache_dir": cfg["cache_dir"], "force": cfg["fresh"]}


def dataset(cfg: dict, spec_key: str = "dataset"):
    """The paired dataset of the run: cfg[spec_key], then a seeded subset of cfg["n_samples"] (None: all)."""
    from empirical import data

    ds = data.load(cfg[spec_key])
    return ds if cfg["n_samples"] is None else ds.subset(cfg["n_samples"], cfg["seed"])


def metric_kwargs(metric: str, cfg: dict) -> dict:
    """The settings this metric takes (k for the k-NN metrics and CKNNA), from the run's settings."""
    import alignment

    return alignment.metric_kwargs(metric, **{k: cfg[k] for k in ("k", "cca_dim") if k in cfg})
