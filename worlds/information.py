"""Information between paired events under a cooccurrence P_coor (mutual and chi-square information),
and the lossy-alignment prediction of docs/DESIGN.md.

Inputs are validated as distributions: finite, non-negative, summing to 1 within SUM_ATOL = 1e-8 (joints also
square); NaN, negative entries or unnormalised counts raise instead of giving a number.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from platonic_core.checks import fail, param

from ._checks import check_distribution, check_joint


def _joint(P, name: str, owner: str):
    p = check_joint(P, name, owner)
    p = p.toarray() if sp.issparse(p) else p
    return p, p.sum(axis=1), p.sum(axis=0)


def mutual_information(P) -> float:
    """I(X; X') in nats for a joint P (N, N): sum P log(P / (p p'))."""
    p, r, c = _joint(P, "P", "mutual_information")
    return _mutual_information(p, r, c)


def _mutual_information(p, r, c) -> float:
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / np.outer(r, c)[nz])))


def chi2_information(P) -> float:
    """Chi-square information sum (P - p p')^2 / (p p') = sum P^2 / (p p') - 1 (zero iff X and X' are independent).

    The first form is used: it keeps precision when the pairs are nearly independent.
    """
    return _chi2(*_joint(P, "P", "chi2_information"))


def _chi2(p, r, c) -> float:
    outer = np.outer(r, c)
    nz = outer > 0
    return float(np.sum((p[nz] - outer[nz]) ** 2 / outer[nz]))


def predicted_lossy_alignment(P_world, P_observed) -> float:
    """sqrt(chi2(X; X') / chi2(Z; Z')): the predicted p-weighted cosine between the exp-PMI - 1 kernels of a
    deterministic merge X = h(Z) and of the world Z (docs/DESIGN.md).

    Both are joint distributions (square, summing to 1); a merge never has more values than the world has states,
    so P_observed may not be larger than P_world.
    """
    owner = "predicted_lossy_alignment"
    pz = _joint(P_world, "P_world", owner)
    px = _joint(P_observed, "P_observed", owner)
    if px[0].shape[0] > pz[0].shape[0]:
        fail(param("P_observed", owner), f"have at most as many states as P_world ({pz[0].shape[0]}; X = h(Z) merges "
             "states)", f"shape {px[0].shape}")
    chi_z = _chi2(*pz)
    if not chi_z > 0:
        fail(param("P_world", owner), "have positive chi-square information (the prediction divides by it)",
             f"{chi_z!r} (independent pairs)")
    return float(np.sqrt(_chi2(*px) / chi_z))


def entropy(p) -> float:
    """Shannon entropy in nats of a distribution (any shape): finite, non-negative entries summing to 1 within
    1e-8; zero entries contribute 0."""
    q = check_distribution(p, "p", "entropy").ravel()
    q = q[q > 0]
    return float(-np.sum(q * np.log(q)))
