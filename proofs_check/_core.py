"""Result types and the property-search harness shared by every statement module.

A *claim* is one precise assertion (an implication "premise => conclusion" or an identity). `explore` searches
for a counterexample with hypothesis under a fixed seed, so the same seed always gives the same numbers; `fixed`
evaluates a claim on explicit inputs. Both return a `ClaimResult`; a statement module groups its claims in a
`StatementResult`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed

from platonic_core.checks import check_int, fail, param


@dataclass(frozen=True)
class Verdict:
    """The judgement of one example.

    ok: the claim held (always True when the premise did not hold: an implication is then vacuous).
    premise: whether the claim's premise held on this example.
    margin: how far the example is from breaking the claim (>= 0 means it held); the worst margin is reported.
    info: a readable description of the example, reported as the counterexample when ok is False.
    tags: names of noteworthy properties of the example; the result counts them (e.g. "beyond_f1").
    """

    ok: bool
    premise: bool = True
    margin: float = math.nan
    info: dict = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def __post_init__(self):  # numpy bools and floats in, plain Python values out
        object.__setattr__(self, "ok", bool(self.ok))
        object.__setattr__(self, "premise", bool(self.premise))
        object.__setattr__(self, "margin", float(self.margin))


@dataclass(frozen=True)
class ClaimResult:
    """Outcome of one claim: `examples` tried, `premise_met` of them with the premise true, the worst margin seen,
    and the (shrunk) counterexample when the claim failed. `paper` marks claims the paper makes (vs. ours).
    `counts` tallies the examples' tags."""

    name: str
    text: str
    paper: bool
    holds: bool
    examples: int
    premise_met: int
    worst_margin: float
    counterexample: dict | None
    seconds: float
    counts: dict = field(default_factory=dict)

    @property
    def vacuous(self) -> bool:
        return self.premise_met == 0

    def to_dict(self) -> dict:
        return {"name": self.name, "text": self.text, "paper_claim": self.paper, "holds": self.holds,
                "examples": self.examples, "premise_met": self.premise_met, "vacuous": self.vacuous,
                "worst_margin": self.worst_margin, "counts": dict(self.counts),
                "counterexample": self.counterexample, "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class StatementResult:
    """Outcome of one statement (a module's `check`): its claims, and for item 4 the table."""

    statement: str
    title: str
    claims: tuple[ClaimResult, ...]
    seconds: float
    table: tuple[dict, ...] = ()

    @property
    def holds(self) -> bool:
        return all(c.holds for c in self.claims)

    @property
    def paper_holds(self) -> bool:
        """Whether every claim the paper itself makes held (our extensions ignored)."""
        return all(c.holds for c in self.claims if c.paper)

    @property
    def examples(self) -> int:
        return sum(c.examples for c in self.claims)

    @property
    def counterexample(self) -> dict | None:
        """The first failing claim's counterexample, tagged with the claim's name."""
        for c in self.claims:
            if not c.holds:
                return {"claim": c.name, **(c.counterexample or {})}
        return None

    def claim(self, name: str) -> ClaimResult:
        for c in self.claims:
            if c.name == name:
                return c
        raise KeyError(f"{self.statement} has no claim {name!r}; it has {[c.name for c in self.claims]}.")

    def to_dict(self) -> dict:
        return {"statement": self.statement, "title": self.title, "holds": self.holds,
                "paper_holds": self.paper_holds, "examples": self.examples, "counterexample": self.counterexample,
                "seconds": round(self.seconds, 4), "claims": [c.to_dict() for c in self.claims],
                "table": list(self.table)}


# No Phase.target: its hill-climbing on margins stalled for minutes on some claims (seen: 285 examples in 500 s).
PHASES = (Phase.explicit, Phase.generate, Phase.shrink)


class _Broken(Exception):
    """Raised inside the hypothesis test so that hypothesis shrinks the failing example."""


def _judge(judge: Callable[[Any], Verdict], example) -> Verdict:
    try:
        return judge(example)
    except Exception as err:  # a crash on a valid input is a finding, not a harness error
        return Verdict(ok=False, info={"error": f"{type(err).__name__}: {err}"})


def explore(name: str, text: str, paper: bool, strategy, judge: Callable[[Any], Verdict],
            examples: int | None, seed: int) -> ClaimResult:
    """Search `strategy` for an example that `judge` rejects; shrink it and report the smallest one.

    examples: hypothesis max_examples (None: the loaded hypothesis profile's). An exception raised by `judge`
    counts as a failure of the claim, with the error in the counterexample.
    """
    start = time.perf_counter()
    stats = {"tried": 0, "premise": 0, "worst": math.inf, "failed": None}
    counts: dict[str, int] = {}
    config = settings(max_examples=examples if examples is not None else settings.default.max_examples,
                      database=None, deadline=None, derandomize=False, report_multiple_bugs=False,
                      verbosity=Verbosity.quiet, print_blob=False,
                      phases=PHASES,
                      suppress_health_check=list(HealthCheck))

    @hypothesis_seed(seed)
    @config
    @given(strategy)
    def search(example):
        verdict = _judge(judge, example)
        if stats["failed"] is None:  # count only the search, not the shrinking after the first failure
            stats["tried"] += 1
            stats["premise"] += verdict.premise
            if verdict.premise and not math.isnan(verdict.margin):
                stats["worst"] = min(stats["worst"], verdict.margin)
            for tag in verdict.tags:
                counts[tag] = counts.get(tag, 0) + 1
        if not verdict.ok:
            stats["failed"] = verdict.info  # the last failure seen is hypothesis' shrunk one
            raise _Broken

    try:
        search()
    except _Broken:
        pass
    failed = stats["failed"]
    return ClaimResult(name=name, text=text, paper=paper, holds=failed is None, examples=stats["tried"],
                       premise_met=stats["premise"], worst_margin=stats["worst"], counterexample=failed,
                       seconds=time.perf_counter() - start, counts=counts)


def fixed(name: str, text: str, paper: bool, inputs: Iterable, judge: Callable[[Any], Verdict]) -> ClaimResult:
    """Evaluate a claim on explicit inputs (a worked example, a sweep); report the first failure (a crash of
    `judge` included)."""
    start = time.perf_counter()
    tried = premise = 0
    worst = math.inf
    failed = None
    counts: dict[str, int] = {}
    for example in inputs:
        verdict = _judge(judge, example)
        tried += 1
        premise += verdict.premise
        if verdict.premise and not math.isnan(verdict.margin):
            worst = min(worst, verdict.margin)
        for tag in verdict.tags:
            counts[tag] = counts.get(tag, 0) + 1
        if not verdict.ok:
            failed = verdict.info
            break
    return ClaimResult(name=name, text=text, paper=paper, holds=failed is None, examples=tried,
                       premise_met=premise, worst_margin=worst, counterexample=failed,
                       seconds=time.perf_counter() - start, counts=counts)


def statement(statement_id: str, title: str, claims: list[ClaimResult], start: float,
              table: tuple[dict, ...] = ()) -> StatementResult:
    return StatementResult(statement=statement_id, title=title, claims=tuple(claims),
                           seconds=time.perf_counter() - start, table=table)


def check_args(owner: str, examples, seed) -> tuple[int | None, int]:
    """Validate the `examples` (None or >= 1) and `seed` (>= 0) parameters every `check` takes."""
    if examples is not None:
        examples = check_int(examples, "examples", owner, low=1)
    return examples, check_int(seed, "seed", owner, low=0)


def check_callable(value, name: str, owner: str) -> Callable:
    if not callable(value):
        fail(param(name, owner), "be callable", type(value).__name__, TypeError)
    return value


def rounded(matrix, digits: int = 6):
    """A matrix as nested lists rounded for a readable report (non-finite values stay as they are)."""
    return np.round(np.asarray(matrix, dtype=float), digits).tolist()
