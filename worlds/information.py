"""Information between paired events under a cooccurrence P_coor (mutual and chi-square information),
and the lossy-alignment prediction of DESIGN.md."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._checks import as_square


def _joint(P, owner: str):
    p = as_square(P, "P", owner)
    p = p.toarray() if sp.issparse(p) else p
    total = p.sum()
    if abs(total - 1) > 1e-8:
        raise ValueError(f"The 'P' parameter of {owner} must sum to 1 (a joint distribution). Got {total!r}.")
    return p, p.sum(axis=1), p.sum(axis=0)


def mutual_information(P) -> float:
    """I(X; X') in nats for a joint P (N, N): sum P log(P / (p p'))."""
    p, r, c = _joint(P, "mutual_information")
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / np.outer(r, c)[nz])))


def chi2_information(P) -> float:
    """Chi-square information sum (P - p p')^2 / (p p') = sum P^2 / (p p') - 1 (zero iff X and X' are independent).

    The first form is used: it keeps precision when the pairs are nearly independent.
    """
    p, r, c = _joint(P, "chi2_information")
    outer = np.outer(r, c)
    nz = outer > 0
    return float(np.sum((p[nz] - outer[nz]) ** 2 / outer[nz]))


def predicted_lossy_alignment(P_world, P_observed) -> float:
    """sqrt(chi2(X; X') / chi2(Z; Z')): the predicted p-weighted cosine between the exp-PMI - 1 kernels of a
    deterministic merge X = h(Z) and of the world Z (DESIGN.md)."""
    chi_z = chi2_information(P_world)
    if not chi_z > 0:
        raise ValueError("The 'P_world' parameter of predicted_lossy_alignment has zero chi-square information "
                         "(independent pairs); the prediction is undefined.")
    return float(np.sqrt(chi2_information(P_observed) / chi_z))


def entropy(p) -> float:
    """Shannon entropy in nats of a distribution (any shape)."""
    q = np.asarray(p, dtype=np.float64).ravel()
    q = q[q > 0]
    return float(-np.sum(q * np.log(q)))
