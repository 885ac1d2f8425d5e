"""Contrastive learners checked against the analytic PMI kernel.

Pure losses (`binary_nce`, `info_nce`, `info_nce_negatives`), encoders per modality, a thin LightningModule and a
DataModule fed by a world, `fit` (Lightning, GPU/DDP through Trainer options), the exact `population_optimum`, and
the comparison report. The experiments behind `python -m worlds.run` live in `learners.experiments`.
"""
from .data import PairDataModule
from .encoders import EmbeddingEncoder, MLPEncoder, TextEncoder, critic, make_encoder
from .fit import FitResult, fit
from .losses import binary_nce, info_nce, info_nce_negatives
from .module import ContrastiveModule
from .population import PopulationOptimum, population_loss, population_optimum
from .report import compare, comparison_report

__all__ = [
    "binary_nce", "info_nce", "info_nce_negatives", "EmbeddingEncoder", "MLPEncoder", "TextEncoder", "critic",
    "make_encoder", "ContrastiveModule", "PairDataModule", "fit", "FitResult", "population_optimum",
    "population_loss", "PopulationOptimum", "compare", "comparison_report",
]
