"""Learners checked against the analytic optima of their objectives (K_PMI for the contrastive ones).

The registry of training objectives (`learners.objectives`: infonce, nce, skipgram, spectral, next_event, regression,
vicreg, each with its analytic optimum `target`, its gauge and its world condition), pure losses (`binary_nce`,
`info_nce`, `info_nce_negatives`, `skipgram`, `spectral_contrastive`, `next_event`, `one_hot_regression`, `vicreg`),
encoders per modality, a thin LightningModule and a DataModule fed by a world, `fit` (Lightning, GPU/DDP through
Trainer options; its options are a `FitConfig`), the exact `population_optimum`, multitask learners
(`learners.multitask`) and the comparison report. The experiments behind `python -m worlds.run` live in
`learners.experiments`.

Names load on first use, so `import learners.experiments` (the registry, for --help) does not import Lightning.
`learners.fit` is always the function: importing the submodule of that name (`from learners.fit import ...`,
`from ..fit import fit`) does not replace it; `importlib.import_module("learners.fit")` gives the module.
"""
import importlib
import sys
import types

from platonic_core import __version__ as __version__  # re-exported: one version for the project
from platonic_core.extras import require

require("learners", "sim")  # here, since the names below load on first use

_EXPORTS = {
    "binary_nce": "losses", "info_nce": "losses", "info_nce_negatives": "losses", "skipgram": "losses",
    "spectral_contrastive": "losses", "next_event": "losses", "one_hot_regression": "losses", "vicreg": "losses",
    "OBJECTIVES": "objectives", "regression_loss": "population", "vicreg_loss": "population",
    "fit_multitask": "multitask",
    "EmbeddingEncoder": "encoders", "MLPEncoder": "encoders", "TextEncoder": "encoders", "critic": "encoders",
    "make_encoder": "encoders", "ContrastiveModule": "module", "PairDataModule": "data", "fit": "fit",
    "FitConfig": "fit", "FitResult": "fit", "ConfigMismatch": "fit", "population_optimum": "population",
    "population_loss": "population", "PopulationOptimum": "population", "compare": "report",
    "comparison_report": "report",
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


class _Package(types.ModuleType):
    """Importing a submodule binds it as an attribute of the package; for `fit` that would hide the function of the
    same name (and `from learners import fit` would then return a module, depending on import order)."""

    def __setattr__(self, name, value):
        if (isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name
                and value.__name__ == f"{__name__}.{name}"):
            if not hasattr(value, name):
                return  # still loading: __getattr__ resolves the name on first use
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
