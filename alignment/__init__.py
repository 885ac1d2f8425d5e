"""Kernel-alignment metrics for the Platonic Representation Hypothesis (Huh et al., ICML 2024).

Feature level: `mutual_knn, cycle_knn, lcs_knn, edit_distance_knn, cka, unbiased_cka, cknna, svcca, jaccard_knn,
rbf_cka, rsa, procrustes, pwcca` (N x D inputs, numpy or torch, same N) and `measure(name, A, B, **kw)`;
`PARAMS[name]` lists each metric's parameters and defaults, and `metric_kwargs(name, **settings)` picks the ones it
takes. Kernel level: `measure_kernels(name, K, L, **kw)` on two N x N kernels / similarity matrices (KERNEL_METRICS).
Layer sweeps: `layerwise`, with the paper's pipeline `prepare` (clamp="stack" reproduces the released code). Chance
level and the calibrated score of record (Gröger et al. 2026): `calibrate` (permutation null, p-value, threshold,
calibrated score; single pairs and layer stacks, aggregate "max" or "mean"), `chance` (the permutation chance level
of any metric), `mutual_knn_chance` (the exact one, k / (N-1)). Uncertainty: `bootstrap` (m-out-of-n subsampling).
Everything runs on the inputs' device, float32 by default (`dtype=torch.float64` on request), and
is deterministic: the same inputs, dtype, device and torch thread count (`torch.get_num_threads()`) give bitwise-equal
numbers; another thread count changes the order of floating-point reductions, so results may differ in the last bits.

Large N: linear CKA never forms the N x N kernel of an input narrower than N; the k-NN metrics and CKNNA take
knn="faiss" (a flat faiss index) or knn="faiss-approx" (an HNSW graph whose recall against exact neighbours on a
sample is reported as an `ApproximateKnnWarning`).

Ties: where a k-NN list's k-th similarity ties the (k+1)-th (exactly, or within float rounding), the list is decided
by the tie-break (lower index first) or by rounding; each call (a metric, `calibrate`, `chance`, `layerwise`) then warns
once with a `TieWarning` carrying the fraction of rows affected, and `with ties() as got:` collects those warnings
for a caller to record. Which transformations each metric is invariant to: `INVARIANCES` (alignment.invariances).

Ranges: the k-NN metrics, cka, svcca, rbf_cka, procrustes, pwcca in [0, 1]; unbiased_cka, rsa in [-1, 1] (rounding
past a bound is clipped); cknna is not bounded (see its docstring). No metric returns NaN: where one is undefined
(constant features, ...) it raises ValueError naming the input. Every metric is invariant to a positive factor on
an input, at any magnitude: inputs are rescaled by powers of two (exact), so A * 1e30 and A * 1e-30 score as A does.
Inputs that float32 cannot hold even then (float64 values spanning more than its range, or differing only below its
resolution) raise ValueError suggesting dtype=torch.float64. Definitions: docs/DESIGN.md. Imports only numpy and torch.
"""
from platonic_core import __version__ as __version__  # re-exported: one version for the project

from ._faiss import ApproximateKnnWarning
from ._knn import TieWarning, ties
from .invariances import INVARIANCES, TRANSFORMS
from .metrics import (
                      KERNEL_METRICS,
                      KNN_BACKENDS,
                      METRICS,
                      PARAMS,
                      cka,
                      cknna,
                      cycle_knn,
                      edit_distance_knn,
                      jaccard_knn,
                      lcs_knn,
                      measure,
                      measure_kernels,
                      metric_kwargs,
                      mutual_knn,
                      procrustes,
                      pwcca,
                      rbf_cka,
                      rsa,
                      svcca,
                      unbiased_cka,
)
from .null import AGGREGATES, Calibration, calibrate, chance, mutual_knn_chance, permutation
from .resample import Bootstrap, bootstrap, subsample
from .sweep import CLAMPS, LayerwiseResult, layerwise, prepare

__all__ = ["METRICS", "KERNEL_METRICS", "PARAMS", "KNN_BACKENDS", "CLAMPS", "metric_kwargs", "mutual_knn", "cycle_knn",
           "lcs_knn", "edit_distance_knn", "cka", "unbiased_cka", "cknna", "svcca", "jaccard_knn", "rbf_cka", "rsa",
           "procrustes", "pwcca", "measure", "measure_kernels", "layerwise", "LayerwiseResult", "prepare", "calibrate",
           "Calibration", "permutation", "AGGREGATES", "chance", "mutual_knn_chance", "bootstrap", "Bootstrap",
           "subsample", "ApproximateKnnWarning", "TieWarning", "ties",
           "INVARIANCES", "TRANSFORMS"]
