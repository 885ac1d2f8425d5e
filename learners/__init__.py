"""Contrastive learners checked against the analytic PMI kernel.

Pure losses (`binary_nce`, `info_nce`, `info_nce_negatives`), encoders per modality, a thin LightningModule and a
DataModule fed by a world, `fit` (Lightning, GPU/DDP through Trainer options), the exact `population_optimum`, and
the comparison report. The experiments behind `python -m worlds.run` live in `learners.experiments`.

Names load on first use, so `import learners.experiments` (the registry, for --help) does not import Lightning.
"""
import importlib

_EXPORTS = {
    "binary_nce": "losses", "info_nce": "losses", "info_nce_negatives": "losses",
    "EmbeddingEncoder": "encoders", "MLPEncoder": "encoders", "TextEncoder": "encoders", "critic": "encoders",
    "make_encoder": "encoders", "ContrastiveModule": "module", "PairDataModule": "data", "fit": "fit",
    "FitResult": "fit", "population_optimum": "population", "population_loss": "population",
    "PopulationOptimum": "population", "compare": "report", "comparison_report": "report",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'learners' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
