"""The numbers that describe one world at one window (kept in every simulation's results)."""
from __future__ import annotations

import numpy as np

from .information import chi2_information, entropy, mutual_information
from .kernels import min_shift


def summarise(world, window: int, include_self: bool = True) -> dict:
    """World name and size, the window, the K_PMI spectrum, the least PSD shift C*, entropy and the pair
    information (mutual and chi-square) of P_coor."""
    P = world.cooccurrence(window, include_self)
    P = P.toarray() if hasattr(P, "toarray") else P
    K = world.pmi(window, include_self)
    finite = np.isfinite(K).all()
    spectrum = np.linalg.eigvalsh(K) if finite else np.array([-np.inf, np.inf])
    c_star = min_shift(K)
    return {
        "world": world.name,
        "n_states": world.n_states,
        "window": window,
        "include_self": include_self,
        "pmi_finite": bool(finite),
        "spectrum_min": float(spectrum[0]),
        "spectrum_max": float(spectrum[-1]),
        "n_negative_eigenvalues": int((spectrum < -1e-9).sum()),
        "min_shift": c_star,
        "psd_able": bool(np.isfinite(c_star)),
        "stationary_entropy": entropy(world.stationary),
        "mutual_information": mutual_information(P),
        "chi2_information": chi2_information(P),
    }
