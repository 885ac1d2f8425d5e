"""The simulations behind `python -m worlds.run --experiment NAME`: a registry, one module per experiment.

Each module has DEFAULTS (the resolved config starts from them; --scale, --seed, --set override) and
run(config, out) -> (results dict, summary text); it writes its PNG plots into `out` (atomically).
"""
from __future__ import annotations

import importlib

EXPERIMENTS = {  # name -> what it shows (listed by --help without importing torch)
    "convergence": "two bijective modalities (embedding table vs MLP on vector codes), InfoNCE and binary NCE: "
                   "learned kernels vs K_PMI, cross-modal alignment during training",
    "capacity": "embedding-dimension sweep: alignment between independently seeded learners and with K_PMI, "
                "beside the rank-limited population optimum",
    "lossy": "merges, dropped factors and noisy channels on a product world: alignment with the bijective learner "
             "vs the prediction sqrt(chi2_X / chi2_Z) and vs mutual information",
    "data": "pair-budget sweep: learner error vs plug-in PMI error vs the population optimum",
}


def list_experiments() -> list[str]:
    return list(EXPERIMENTS)


def load(name: str):
    """The experiment module `name`; an unknown name lists the valid ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"The 'name' parameter of learners.experiments.load must be one of {list(EXPERIMENTS)}. "
                         f"Got {name!r} instead.")
    return importlib.import_module(f"{__name__}.{name}")
