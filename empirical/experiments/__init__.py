"""Experiment registry for `python -m empirical.run NAME`.

Add an experiment by dropping a module into `empirical/experiments/`; it is imported automatically (pkgutil) and
registers itself:

    from empirical.experiments import register_experiment

    @register_experiment("my_experiment")
    def my_experiment(cfg: dict) -> dict:
        '''One-line summary shown by `python -m empirical.run --help`.'''
        ...

Keep module-level imports light (torch, timm, transformers inside the function) so `--help` stays instant.

`cfg` is a plain dict built by `empirical.run` (the same keys when called from Python):
- `out` (pathlib.Path): the run directory, default `runs/<name>`; the experiment creates it.
- `n_samples` (int or None): number of paired samples to use; None = the experiment's default.
- `models` (list[str] or None): model names for `empirical.models.load`; None = the experiment's default.
- `force` (bool): recompute cached features instead of reusing them.
- `seed` (int): every random choice (subsets, permutation nulls, random-init models) derives from it.
- `device` ("auto", "cpu", "cuda", ...), `dtype` ("float32", "bfloat16", "float16"), `batch_size` (int).
- `metrics` (list[str]): alignment metrics; `k` (int): neighbours for the k-NN metrics.
- `dataset` (str): paired dataset spec for `empirical.data.load` ("tuxpaint", a folder, or a .jsonl manifest).
- `cache_dir` (pathlib.Path or None): feature cache root; None = `empirical.features.default_cache_dir()`.
- `permutations` (int): permutations for the null calibration.
- `options` (dict): experiment-specific `--opt KEY=VALUE` pairs (values parsed as JSON when they parse).

The function must write `cfg["out"]/results.json` atomically (`empirical.runio.write_json`) with the resolved
config, seed, library versions and its numbers, save its PNG plots beside it, and return the results dict.
"""
import importlib
import pkgutil

EXPERIMENTS = {}


def register_experiment(name):
    """Decorator registering `fn(cfg) -> dict` under `name` (a unique identifier)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"The 'name' parameter of register_experiment must be an identifier. Got {name!r} instead.")

    def wrap(fn):
        if name in EXPERIMENTS and EXPERIMENTS[name] is not fn:
            raise ValueError(f"Experiment {name!r} is already registered by {EXPERIMENTS[name].__module__}.")
        EXPERIMENTS[name] = fn
        return fn

    return wrap


def summary(name):
    """First line of an experiment's docstring."""
    doc = (EXPERIMENTS[name].__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
