"""Helpers shared by the simulation experiments: settings checks, cached fits under the run dir, kernel alignment,
tables. Imports stay light: `fit` (Lightning) and `alignment` (torch) load on first use."""
from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path

import numpy as np

from platonic_core import checks, runio
from worlds import list_worlds, make_world

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
NOT_CALIBRATED = "not calibrated"  # in place of z, p and the calibrated score where n_perm < 1/alpha - 1


def check_world(cfg: dict, name: str, window_low: int = 0):
    """Validate the settings every simulation shares (world, window, accelerator, and the learners' steps, lr,
    batch_size where the experiment has them) and return the world, built from its name and the seed."""
    checks.check_choice(cfg["world"], "world", name, list_worlds())
    checks.check_int(cfg["window"], "window", name, window_low)
    for key, low in (("steps", 1), ("batch_size", 2), ("k", 1), ("evals", 1), ("dim", 1)):
        if key in cfg:
            checks.check_int(cfg[key], key, name, low)
    lrs = cfg.get("lr", {})
    for key, lr in (lrs.items() if isinstance(lrs, dict) else [(None, lrs)]):
        checks.check_positive(lr, "lr" if key is None else f"lr[{key!r}]", name)
    if "accelerator" in cfg:
        checks.check_choice(cfg["accelerator"], "accelerator", name, ACCELERATORS)
    world = make_world(cfg["world"], seed=cfg["seed"])
    if "k" in cfg:
        checks.check_int(cfg["k"], "k", name, 1, world.n_states - 1, hint=f"[1, N-1] with N={world.n_states} states")
    return world


def check_fits(plan) -> None:
    """Build the FitConfig of every planned fit ((key, observation, fit's keyword arguments) triples): each option
    of `fit` is validated before any training starts."""
    from ..fit import FitConfig

    for _, _, kw in plan:
        FitConfig(**kw)


def calibrated(n_perm: int, alpha: float = 0.05) -> bool:
    """Whether n_perm permutations calibrate at level alpha: n_perm >= 1/alpha - 1 (19 at 0.05). Below it the
    threshold of alignment.calibrate is the largest of {score} U null whatever the score (calibrated score 0), p
    cannot reach alpha, and z divides by a spread estimated from too few draws to read."""
    from alignment.null import rank

    return n_perm >= 1 and rank(alpha, n_perm) <= n_perm


def null_fields(cal) -> dict:
    """A Calibration for the results: null_mean, and z, p and calibrated (Gröger et al.'s calibrated score) where
    its n_perm calibrates (see `calibrated`), else the string NOT_CALIBRATED in their place."""
    ok = calibrated(len(cal.null), cal.alpha)
    return {"null_mean": float(cal.null_mean),
            **{f: float(getattr(cal, a)) if ok else NOT_CALIBRATED
               for f, a in (("z", "z"), ("p", "p_value"), ("calibrated", "calibrated_score"))}}


def announce_fits(world, window: int, n_fits: int, steps: int) -> None:
    """Say what the simulation is about to train (on a terminal)."""
    from platonic_core.progress import announce

    announce(f"  world {world.name} (N={world.n_states}), W={window}: {n_fits} fits of {steps} steps; fits are "
             "cached under <out>/fits/ and resume when rerun")


def scaled(n: int, scale: float, low: int = 1) -> int:
    """n * scale rounded, at least `low` (--scale multiplies training lengths)."""
    return max(low, int(round(n * scale)))


def fit_in(out: Path, label: str, world, observation, fresh: bool, **kw):
    """learners.fit with its checkpoints under out/fits/<label>-<digest of the arguments, world and observation>:
    rerunning an interrupted experiment resumes each fit (a finished fit just reloads); another config gets another
    folder, and a folder whose saved config no longer matches (say, a changed default of fit) is retrained. The fit
    runs with the caller's torch thread count (the runner's --threads), which the folder's name does not depend on,
    and without a bar of its own: the experiments count their fits in one."""
    import torch

    from ..fit import ConfigMismatch, fit

    key = runio.digest(kw, world.transition.toarray() if hasattr(world.transition, "toarray") else world.transition,
                       *(c for c in (observation.matrix, getattr(observation, "vectors", None),
                                     getattr(observation, "token_ids", None)) if c is not None), length=8)
    run_dir = Path(out) / "fits" / f"{label}-{key}"
    kw = {"threads": torch.get_num_threads(), **kw}
    try:
        return fit(world, observation, run_dir=run_dir, resume=not fresh, progress=False, **kw)
    except ConfigMismatch:
        return fit(world, observation, run_dir=run_dir, resume=False, progress=False, **kw)


def kernel_alignment(K: np.ndarray, L: np.ndarray, k: int) -> dict:
    """Alignment of two state kernels (N, N): the alignment package's kernel-level metrics, plus the Pearson
    correlation of their off-diagonal entries."""
    import alignment

    off = ~np.eye(len(K), dtype=bool)
    out = {name: alignment.measure_kernels(name, K, L, **alignment.metric_kwargs(name, k=k))
           for name in ("mutual_knn", "cknna", "cka", "unbiased_cka")}
    out["pearson"] = float(np.corrcoef(K[off], L[off])[0, 1])
    return out


@contextlib.contextmanager
def recorded_ties():
    """`with recorded_ties() as got:` the alignment.TieWarning of each metric call inside is collected into the list
    `got` (for the results: see tie_fraction) instead of printed."""
    import alignment

    with warnings.catch_warnings(), alignment.ties() as got:
        warnings.simplefilter("ignore", alignment.TieWarning)
        yield got


def tie_fraction(got: list) -> float:
    """The largest fraction of rows tied at the k-th neighbour over the TieWarnings collected by recorded_ties."""
    return max((w.fraction for w in got), default=0.0)


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
    widths = [max([len(c), *(len(cell(r.get(c, ""))) for r in rows)]) for c in columns]  # rows may be empty
    lines = [title, "  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(cell(r.get(c, "")).rjust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)
