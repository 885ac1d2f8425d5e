"""Numerical and property-based checks of the paper's propositions (issue 5).

One module per statement, each with `check(examples=None, seed=0, ...) -> StatementResult`:
  1 `f1`         Prop. F.1 as stated (paper)
  2 `sharpened`  F.1 with the weaker premise max_{i!=j} K_ij <= min_i mean_j K_ij (ours)
  3 `shift`      PSD-ability, the least shift C*, valid shifts, negative eigenvalues (ours, docs/DESIGN.md)
  4 `rarity`     the spread bound and a table of how often worlds meet F.1 / are PSD-able (ours)
  5 `optima`     binary NCE and InfoNCE optima (paper, App. F.1)
  6 `observed`   bijections preserve P_coor and K_PMI (paper, Eq. 7-8); merges: Jensen, chi-square identity (ours)
`run_all` runs them; `python -m proofs_check` prints and saves the results.
"""
from __future__ import annotations

from platonic_core import __version__ as __version__  # re-exported: one version for the project
from platonic_core.extras import require

require("proofs_check", "sim")
from platonic_core.checks import check_int
from platonic_core.progress import progress

from . import f1, observed, optima, rarity, sharpened, shift
from ._core import ClaimResult, StatementResult, Verdict, check_args

STATEMENTS = {"1": f1, "2": sharpened, "3": shift, "4": rarity, "5": optima, "6": observed}


def run_all(examples: int | None = None, seed: int = 0, per_family: int = 24,
            only: tuple[str, ...] | None = None) -> list[StatementResult]:
    """Run the checks of the statements in `only` (default all) with `examples` per claim."""
    examples, seed = check_args("run_all", examples, seed)  # all of them before any statement runs
    per_family = check_int(per_family, "per_family", "run_all", low=1)
    chosen = tuple(STATEMENTS) if only is None else ((only,) if isinstance(only, str) else tuple(only))
    unknown = [s for s in chosen if s not in STATEMENTS]
    if unknown:
        raise ValueError(f"The 'only' parameter of run_all must name statements among {list(STATEMENTS)}. "
                         f"Got {unknown}.")
    results = []
    for key in progress(chosen, desc="statements", unit="statement"):  # a bar on a terminal only
        if key == "4":
            results.append(rarity.check(examples, seed, per_family=per_family))
        else:
            results.append(STATEMENTS[key].check(examples, seed))
    return results


__all__ = ["STATEMENTS", "run_all", "ClaimResult", "StatementResult", "Verdict", "f1", "sharpened", "shift",
           "rarity", "optima", "observed"]
