"""Exact synthetic worlds: Markov chains, graph walks, product worlds, observations, cooccurrence and PMI.

Importing this package never imports torch, transformers or timm.
"""
from platonic_core import __version__ as __version__  # re-exported: one version for the project
from platonic_core.extras import require

require("worlds", "sim")  # before the imports that need it: one line naming the extra, not a traceback
from . import observations
from .chain import MarkovWorld
from .families import WORLDS, list_worlds, make_world, product_world, random_walk, register_world
from .information import chi2_information, entropy, mutual_information, predicted_lossy_alignment
from .kernels import is_psd_able, min_shift, pmi_kernel
from .observations import OBSERVATIONS, DropFactor, Merge, NoisyChannel, Observation, Permutation, TokenCode, VectorCode
from .pairs import empirical_cooccurrence, exact_pairs, negatives, plugin_pmi, trajectory_pairs

__all__ = [
    "MarkovWorld", "WORLDS", "list_worlds", "make_world", "product_world", "random_walk", "register_world",
    "pmi_kernel", "min_shift", "is_psd_able", "mutual_information", "chi2_information", "entropy",
    "predicted_lossy_alignment", "observations", "OBSERVATIONS", "Observation", "Permutation", "VectorCode",
    "TokenCode", "Merge", "DropFactor", "NoisyChannel", "trajectory_pairs", "exact_pairs", "negatives",
    "plugin_pmi", "empirical_cooccurrence",
]
