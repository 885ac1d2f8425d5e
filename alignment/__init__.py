"""Kernel-alignment metrics for the Platonic Representation Hypothesis (Huh et al., ICML 2024).

Feature level: `mutual_knn, cycle_knn, lcs_knn, edit_distance_knn, cka, unbiased_cka, cknna, svcca` (N x D inputs,
numpy or torch, same N) and `measure(name, A, B, **kw)`. Kernel level: `measure_kernels(name, K, L, **kw)` on two
N x N kernels / similarity matrices. Layer sweeps: `layerwise`, with the paper's pipeline `prepare`. Chance level:
`calibrate`. Everything runs on the inputs' device, float32 by default (`dtype=torch.float64` on request), and is
deterministic. Definitions: DESIGN.md. Imports only numpy and torch.
"""
from .metrics import (
                      KERNEL_METRICS,
                      METRICS,
                      cka,
                      cknna,
                      cycle_knn,
                      edit_distance_knn,
                      lcs_knn,
                      measure,
                      measure_kernels,
                      mutual_knn,
                      svcca,
                      unbiased_cka,
)
from .null import Calibration, calibrate, permutation
from .sweep import LayerwiseResult, layerwise, prepare

__all__ = ["METRICS", "KERNEL_METRICS", "mutual_knn", "cycle_knn", "lcs_knn", "edit_distance_knn", "cka",
           "unbiased_cka", "cknna", "svcca", "measure", "measure_kernels", "layerwise", "LayerwiseResult", "prepare",
           "calibrate", "Calibration", "permutation"]
