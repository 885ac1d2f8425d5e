"""`python -m proofs_check [--examples N] [--seed S] [--out DIR] [--only 1,3] [--worlds-per-family K] [--strict]`

Runs every statement's checks, prints one line per statement (and one per claim beneath it), the item-4 table,
and writes <out>/results.json. Exit status 1 when a claim the paper makes fails (F.1, the contrastive optima,
Eq. 7-8); with --strict also when one of our extensions fails. Every option is validated before any check runs
(--out must be a directory, or a path that can become one, that we may write into); a usage error exits with
status 2 and one line on stderr.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from platonic_core.checks import check_out_dir
from platonic_core.runio import write_results

from . import STATEMENTS, run_all
from ._core import StatementResult

DEFAULTS = {"examples": 200, "seed": 0, "out": "runs/proofs", "worlds_per_family": 40}


def _status(result) -> str:
    return "holds" if result.holds else "COUNTEREXAMPLE"


def _claim_line(claim) -> str:
    kind = "paper" if claim.paper else "ours"
    premise = "" if claim.premise_met == claim.examples else f", premise met {claim.premise_met}"
    worst = "" if not math.isfinite(claim.worst_margin) else f", worst margin {claim.worst_margin:.2g}"
    tags = "".join(f", {k} {v}" for k, v in sorted(claim.counts.items()))
    line = (f"      {_status(claim):<14} [{kind:<5}] {claim.name}: {claim.examples} examples{premise}{worst}{tags}"
            f" ({claim.seconds:.2f}s)")
    if claim.vacuous:
        line += "  -- VACUOUS: premise never met"
    if not claim.holds:
        line += f"\n        claim: {claim.text}\n        counterexample: {claim.counterexample}"
    return line


def _statement_line(result: StatementResult) -> str:
    kinds = {c.paper for c in result.claims}
    kind = "paper+ours" if kinds == {True, False} else ("paper" if True in kinds else "ours")
    failing = "" if result.holds else (" (a PAPER claim fails)" if not result.paper_holds else " (an extension fails)")
    return (f"[{result.statement}] {result.title:<55} {_status(result)}{failing}  [{kind}]  "
            f"{result.examples} examples  {result.seconds:.1f}s")


def _fmt(value) -> str:
    return "  -  " if isinstance(value, float) and math.isnan(value) else f"{value:5.2f}"


def format_table(rows) -> str:
    head = (f"      {'family':<10} {'worlds':>6} {'states':>7} {'F.1':>5} {'sharp':>5} {'PSD':>5} "
            f"{'+self':>5} {'-self':>5} {'neither':>7} {'C_F1 ok':>7} {'skipped':>7}")
    lines = [head]
    for r in rows:
        states = f"{r['states'][0]}-{r['states'][1]}" if r["states"] else "-"
        lines.append(f"      {r['family']:<10} {r['worlds']:>6} {states:>7} {_fmt(r['f1'])} {_fmt(r['sharpened'])} "
                     f"{_fmt(r['psd_able'])} {_fmt(r['psd_able_with_self'])} {_fmt(r['psd_able_without_self'])} "
                     f"  {_fmt(r['neither'])}   {_fmt(r['f1_shift_works'])} {r['skipped']:>7}")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """Usage errors: exit status 2 and one line on stderr (no usage block, no traceback)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _writable_dir(path: Path) -> str | None:
    """Why `path` cannot become a directory we write into, or None. Nothing is created."""
    for p in (path, *path.parents):
        if p.exists():
            if not os.access(p, os.W_OK | os.X_OK):
                return f"{str(p)!r} is not writable"
            return None
    return None


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, tuple[str, ...] | None]:
    """Parse and validate every option (before any check runs); usage errors exit with status 2."""
    parser = _Parser(prog="python -m proofs_check", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=DEFAULTS["examples"],
                        help="hypothesis examples per claim (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="search seed (default %(default)s)")
    parser.add_argument("--out", default=DEFAULTS["out"], help="output folder (default %(default)s)")
    parser.add_argument("--only", default=None, help=f"comma-separated statements among {','.join(STATEMENTS)}")
    parser.add_argument("--worlds-per-family", type=int, default=DEFAULTS["worlds_per_family"],
                        help="worlds per registered family in the item-4 table (default %(default)s)")
    parser.add_argument("--strict", action="store_true", help="also exit 1 when one of our extensions fails")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error(f"argument --examples: must be >= 1, got {args.examples}")
    if args.seed < 0:
        parser.error(f"argument --seed: must be >= 0, got {args.seed}")
    if args.worlds_per_family < 1:
        parser.error(f"argument --worlds-per-family: must be >= 1, got {args.worlds_per_family}")
    only = None if args.only is None else tuple(s.strip() for s in args.only.split(",") if s.strip())
    if only is not None and (not only or any(s not in STATEMENTS for s in only)):
        unknown = [s for s in only if s not in STATEMENTS]
        parser.error(f"argument --only: choose among {','.join(STATEMENTS)}, got {args.only!r}"
                     + (f" ({', '.join(map(repr, unknown))} unknown)" if unknown else ""))
    if only is not None and len(set(only)) != len(only):
        parser.error(f"argument --only: name each statement once, got {args.only!r}")
    try:
        out = check_out_dir(args.out, "--out", "python -m proofs_check")
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    problem = _writable_dir(out)
    if problem:
        parser.error(f"argument --out: must be a directory we can write into, got {args.out!r}, where {problem}")
    return args, only


def main(argv: list[str] | None = None) -> int:
    args, only = parse_args(argv)

    print(f"proofs_check: --examples {args.examples} per claim, seed {args.seed}")
    results = []
    for key in only or tuple(STATEMENTS):
        result = run_all(args.examples, args.seed, args.worlds_per_family, only=(key,))[0]
        results.append(result)
        print(_statement_line(result))
        for claim in result.claims:
            print(_claim_line(claim))
        if result.table:
            print(format_table(result.table))
        sys.stdout.flush()

    paper_ok = all(r.paper_holds for r in results)
    all_ok = all(r.holds for r in results)
    config = {"examples": args.examples, "seed": args.seed, "only": list(only or STATEMENTS),
              "worlds_per_family": args.worlds_per_family, "strict": args.strict, "out": args.out}
    path = write_results(Path(args.out), config, {"paper_claims_hold": paper_ok, "all_claims_hold": all_ok,
                                                  "statements": [r.to_dict() for r in results]}, seed=args.seed)
    ours_ok = all(c.holds for r in results for c in r.claims if not c.paper)
    print(f"paper claims: {'all hold' if paper_ok else 'A PAPER CLAIM FAILS'}; "
          f"our extensions: {'all hold' if ours_ok else 'AN EXTENSION FAILS'}")
    print(f"wrote {path}")
    return 0 if paper_ok and (all_ok or not args.strict) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
