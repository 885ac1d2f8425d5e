"""Domain checks of `learners` (a cooccurrence matrix, a torch device); scalar validators are platonic_core.checks."""
from __future__ import annotations

import numpy as np

from platonic_core.checks import fail, param


def check_device(value, name: str, owner: str) -> str:
    """A torch device name this machine has: 'cpu', 'cuda' or 'cuda:I' (I below the GPU count), 'mps' (counting the
    GPUs does not initialise CUDA)."""
    import torch

    gpus = torch.cuda.device_count()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    here = ["cpu", *(["cuda"] if gpus else []), *(f"cuda:{i}" for i in range(gpus)), *(["mps"] if mps else [])]
    must = f"be a torch device of this machine ({', '.join(here)}{'' if gpus else '; it has no CUDA GPU'})"
    if not isinstance(value, str):
        fail(param(name, owner), must, f"{value!r} ({type(value).__name__})", TypeError)
    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError):
        fail(param(name, owner), must, f"{value!r} (not a device name)")
    if str(dev) not in here and dev.type != "cpu":
        fail(param(name, owner), must, repr(value))
    return value


def check_cooccurrence(P, owner: str) -> np.ndarray:
    """A dense float64 joint (N, N), symmetric, summing to 1, with no zero entry (K_PMI finite everywhere).

    Zero entries would make the optimum -inf; the error names the first of them instead of training into -inf.
    """
    p = P.toarray() if hasattr(P, "toarray") else np.asarray(P, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] < 2:
        raise ValueError(f"The 'P_coor' parameter of {owner} must be a square matrix with N >= 2. "
                         f"Got shape {p.shape}.")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"The 'P_coor' parameter of {owner} must have finite, non-negative entries.")
    if abs(p.sum() - 1) > 1e-8:
        raise ValueError(f"The 'P_coor' parameter of {owner} must sum to 1. Got {p.sum()!r}.")
    if not np.allclose(p, p.T, rtol=1e-8, atol=1e-14):
        raise ValueError(f"The 'P_coor' parameter of {owner} must be symmetric.")
    zeros = np.argwhere(p == 0)
    if zeros.size:
        shown = ", ".join(f"({a}, {b})" for a, b in zeros[:5])
        raise ValueError(f"The 'P_coor' parameter of {owner} has {len(zeros)} pairs with P_coor = 0 (K_PMI = -inf; "
                         f"no finite kernel is optimal), e.g. {shown}. Use a larger window or add teleport.")
    return (p + p.T) / 2
