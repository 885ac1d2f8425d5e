"""Helpers shared by the experiments: cached fits under the run dir, kernel alignment, tables, plots."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ..fit import ConfigMismatch, fit


def scaled(n: int, scale: float, low: int = 1) -> int:
    """n * scale rounded, at least `low` (--scale multiplies training lengths)."""
    return max(low, int(round(n * scale)))


def fit_in(out: Path, label: str, world, observation, fresh: bool, **kw):
    """learners.fit with its checkpoints under out/fits/<label>-<hash of the arguments, world and observation>:
    rerunning an interrupted experiment resumes each fit (a finished fit just reloads); another config gets another
    folder, and a folder whose saved config no longer matches (say, a changed default of fit) is retrained."""
    h = hashlib.sha1(json.dumps(kw, sort_keys=True, default=str).encode())
    transition = world.transition.toarray() if hasattr(world.transition, "toarray") else world.transition
    for content in (transition, observation.matrix, getattr(observation, "vectors", None),
                    getattr(observation, "token_ids", None)):
        if content is not None:
            h.update(np.ascontiguousarray(content).tobytes())
    run_dir = Path(out) / "fits" / f"{label}-{h.hexdigest()[:8]}"
    try:
        return fit(world, observation, run_dir=run_dir, resume=not fresh, **kw)
    except ConfigMismatch:
        return fit(world, observation, run_dir=run_dir, resume=False, **kw)


def kernel_alignment(K: np.ndarray, L: np.ndarray, k: int) -> dict:
    """Alignment of two state kernels (N, N): the alignment package's kernel-level metrics, plus the Pearson
    correlation of their off-diagonal entries."""
    import alignment

    off = ~np.eye(len(K), dtype=bool)
    out = {name: alignment.measure_kernels(name, K, L, k=k) for name in ("mutual_knn", "cknna")}
    out.update({name: alignment.measure_kernels(name, K, L) for name in ("cka", "unbiased_cka")})
    out["pearson"] = float(np.corrcoef(K[off], L[off])[0, 1])
    return out


def pmi_cosine(G: np.ndarray, p: np.ndarray, H: np.ndarray, O: np.ndarray, q: np.ndarray) -> float:
    """p-weighted cosine between exp-PMI - 1 kernels: G over states (weights p), H over observed values (weights q)
    pulled back through O. A kernel known up to a constant (a learned K_PMI + c) is first normalised so that
    sum_ab p_a p_b exp(K_ab) = 1, which K_PMI itself satisfies."""
    def centred(K, w):
        c = np.log(np.einsum("a,b,ab->", w, w, np.exp(K - K.max()))) + K.max()
        return np.exp(K - c) - 1

    u, v = centred(G, p), O @ centred(H, q) @ O.T
    dot = lambda x, y: np.einsum("a,b,ab->", p, p, x * y)  # noqa: E731
    return float(dot(u, v) / math.sqrt(dot(u, u) * dot(v, v)))


def table(rows: list[dict], columns: list[str], title: str) -> str:
    """A fixed-width text table of the given columns (floats with 4 decimals)."""
    cell = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    widths = [max(len(c), *(len(cell(r.get(c, ""))) for r in rows)) for c in columns]
    lines = [title, "  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(cell(r.get(c, "")).rjust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
