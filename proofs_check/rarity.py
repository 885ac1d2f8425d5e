"""Statement 4: how rare Prop. F.1's premise is (our extension).

Spread bound. Let s_i = P_coor(z_i | z_i) = P_coor(z_i, z_i) / pi_i and p_i = pi_i. Row i of P_coor sums to pi_i, so
the off-diagonal mass pi_i (1 - s_i) = sum_{j != i} pi_i pi_j e^{K_ij} <= pi_i (1 - p_i) rho_min e^delta, i.e.
rho_min >= (1 - s_i) / ((1 - p_i) e^delta). With the diagonal condition s_i / p_i >= e^{N delta} rho_min:
    F.1's premise  =>  (N - 1) delta <= logit(s_i) + log((1 - p_i) / p_i)   for every i.
So the off-diagonal PMI spread must shrink like 1/N unless states are very sticky: a strong restriction.
The bound uses neither "off-diagonals <= 0" nor the Markov structure. Checked on world cooccurrences and bare joints
with tolerance 1e-12 scale(K).

Table. For every registered world family (worlds.list_worlds()) a deterministic sweep of parameters, windows
W in {1, 2, 4, 8, 16} and include_self draws, at most MAX_STATES states; per family the fractions meeting F.1's
premise, the sharpened condition, PSD-able (worlds.min_shift finite; also split by include_self), neither F.1
nor PSD-able, and "F.1's shift works" (K + C_F1 11^T PSD, whatever the premise). It also checks, on every swept
world, F.1 => sharpened => PSD-able with C_F1 >= C*, and on ring, torus and sticky worlds that PSD-able implies
C_F1 = C* (statement 3's transitive-symmetry argument). Outside those, C_F1 < C* happens (SBM worlds): F.1's shift
is then not PSD although a larger one is. Worlds that a
family rejects (e.g. a disconnected SBM without teleport) are counted as skipped. The sweep also checks the chain
F.1 => sharpened => PSD-able with C_F1 >= C* on every world it builds.
"""
from __future__ import annotations

import time
import zlib

import numpy as np
from hypothesis import strategies as st

import worlds
from platonic_core.checks import check_int

from . import strategies
from ._core import StatementResult, Verdict, check_args, check_callable, explore, fixed, statement
from ._kernel import f1_premise, f1_shift, scale, sharpened_condition

TITLE = "How rare F.1's premise is"
MAX_STATES = 64
TABLE_WINDOWS = (1, 2, 4, 8, 16)
LAZY = (0.0, 0.2, 0.5, 0.8)
TELEPORT = (0.0, 0.01, 0.05, 0.2)
TRANSITIVE = ("ring", "torus", "sticky")  # families whose walks are invariant under a transitive symmetry


def spread_bound(P: np.ndarray) -> np.ndarray:
    """Per state, logit(s_i) + log((1 - p_i) / p_i): the most (N - 1) delta can be under F.1's premise."""
    pi = P.sum(axis=1)
    s = np.diag(P) / pi
    with np.errstate(divide="ignore"):
        return np.log(s) - np.log1p(-s) + np.log1p(-pi) - np.log(pi)


def judge_spread(case: strategies.Case, bound=spread_bound) -> Verdict:
    K, P, pi = case.K, case.P, case.pi
    premise = f1_premise(K, diagonal_ratio=np.diag(P) / pi / pi)
    if not premise.holds:
        return Verdict(ok=True, premise=False)
    n = K.shape[0]
    limit = float(np.min(bound(P)))
    gap = limit - (n - 1) * premise.delta
    return Verdict(ok=gap >= -1e-12 * scale(K), margin=gap / scale(K),
                   info={**case.describe(), "delta": premise.delta, "(N-1) delta": (n - 1) * premise.delta,
                         "bound": limit})


def _family_kwargs(name: str, rng: np.random.Generator) -> dict:
    """Parameters for one world of a registered family (defaults plus a seed for families not known here)."""
    seed = int(rng.integers(0, 2**16))
    walk = {"lazy": float(rng.choice(LAZY)), "teleport": float(rng.choice(TELEPORT))}
    small = ("ring", "sticky", "dirichlet")
    if name == "ring":
        return {"n_states": int(rng.integers(4, 33)), **walk}
    if name == "torus":
        return {"side": int(rng.integers(3, 7)), **walk}
    if name == "sbm":
        sizes = tuple(int(rng.integers(3, 9)) for _ in range(int(rng.integers(2, 5))))
        return {"sizes": sizes, "p_in": float(rng.choice((0.5, 0.8, 1.0))),
                "p_out": float(rng.choice((0.0, 0.05, 0.2))), **walk, "seed": seed}
    if name == "sticky":
        return {"n_states": int(rng.integers(4, 33)), "stickiness": float(rng.integers(5, 96)) / 100}
    if name == "dirichlet":
        return {"n_states": int(rng.integers(4, 33)), "alpha": float(rng.choice((0.1, 0.5, 1.0, 5.0))),
                "seed": seed}
    if name == "product":
        first, second = (str(rng.choice(small)) for _ in range(2))
        return {"first": first, "second": second, "first_kw": {"n_states": int(rng.integers(3, 6))},
                "second_kw": {"n_states": int(rng.integers(3, 6))}, "seed": seed}
    return {"seed": seed}


def sweep(per_family: int, seed: int) -> list[dict]:
    """One record per (family, parameters, window): the decisions the table and the chain claim need."""
    records = []
    for name in worlds.list_worlds():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        for _ in range(per_family):
            kwargs = _family_kwargs(name, rng)
            window = int(rng.choice(TABLE_WINDOWS))
            include_self = bool(rng.integers(0, 2))
            try:
                world = worlds.make_world(name, **kwargs)
            except ValueError:
                records.append({"family": name, "kwargs": kwargs, "skipped": True})
                continue
            if world.n_states > MAX_STATES:
                records.append({"family": name, "kwargs": kwargs, "skipped": True})
                continue
            P = world.cooccurrence(window, include_self)
            P = P.toarray() if hasattr(P, "toarray") else np.asarray(P)
            K = worlds.pmi_kernel(P)
            pi = P.sum(axis=1)
            records.append({
                "family": name, "kwargs": kwargs, "window": window, "include_self": include_self,
                "n_states": world.n_states, "skipped": False,
                "f1": f1_premise(K, diagonal_ratio=np.diag(P) / pi / pi).holds,
                "sharpened": sharpened_condition(K), "C_star": float(worlds.min_shift(K)),
                "C_F1": f1_shift(K) if np.all(np.isfinite(K)) else float("inf"), "scale": scale(K),
            })
    return records


def _fraction(flags: list) -> float:
    return float(np.mean(flags)) if flags else float("nan")


def table(records: list[dict]) -> tuple[dict, ...]:
    """Per-family fractions of the swept worlds: F.1, sharpened, PSD-able, neither F.1 nor PSD-able."""
    rows = []
    for name in worlds.list_worlds():
        mine = [r for r in records if r["family"] == name]
        built = [r for r in mine if not r["skipped"]]
        n = len(built)

        def frac(pred):
            return _fraction([pred(r) for r in built])

        rows.append({
            "family": name, "worlds": n, "skipped": len(mine) - n,
            "states": [min(r["n_states"] for r in built), max(r["n_states"] for r in built)] if n else None,
            "f1": frac(lambda r: r["f1"]), "sharpened": frac(lambda r: r["sharpened"]),
            "psd_able": frac(lambda r: np.isfinite(r["C_star"])),
            "psd_able_with_self": _fraction([np.isfinite(r["C_star"]) for r in built if r["include_self"]]),
            "psd_able_without_self": _fraction([np.isfinite(r["C_star"]) for r in built if not r["include_self"]]),
            "neither": frac(lambda r: not r["f1"] and not np.isfinite(r["C_star"])),
            "f1_shift_works": frac(_f1_shift_works),
        })
    return tuple(rows)


def _f1_shift_works(record: dict) -> bool:
    """K + C_F1 11^T is PSD: some shift works and C_F1 >= C* (to 1e-9 scale)."""
    return bool(np.isfinite(record["C_star"]) and record["C_F1"] >= record["C_star"] - 1e-9 * record["scale"])


def judge_transitive(record: dict) -> Verdict:
    """Ring, torus and sticky worlds (transitive symmetry): PSD-able => C_F1 = C* (statement 3's argument)."""
    if record["skipped"] or record["family"] not in TRANSITIVE or not np.isfinite(record["C_star"]):
        return Verdict(ok=True, premise=False)
    err = abs(record["C_F1"] - record["C_star"])
    return Verdict(ok=err <= 1e-9 * record["scale"], margin=-err / record["scale"], info=record)


def judge_chain(record: dict) -> Verdict:
    """F.1 => sharpened => PSD-able, and then C_F1 >= C* (to 1e-9 scale of C_F1)."""
    if record["skipped"] or not record["sharpened"]:
        return Verdict(ok=not record.get("f1", False), premise=False,
                       info={k: v for k, v in record.items() if k != "skipped"})
    gap = record["C_F1"] - record["C_star"]
    ok = np.isfinite(record["C_star"]) and gap >= -1e-9 * max(1.0, abs(record["C_F1"]))
    return Verdict(ok=ok, margin=gap, info=record, tags=("f1",) if record["f1"] else ())


def check(examples: int | None = None, seed: int = 0, per_family: int = 24, bound=spread_bound) -> StatementResult:
    """Check statement 4; `per_family` worlds per registered family in the table; `bound` the spread bound."""
    examples, seed = check_args("rarity.check", examples, seed)
    per_family = check_int(per_family, "per_family", "rarity.check", low=1)
    check_callable(bound, "bound", "rarity.check")
    start = time.perf_counter()
    cases = st.one_of(strategies.premise_cooccurrences(), strategies.cooccurrences())
    records = sweep(per_family, seed)
    claims = [
        explore("spread bound", "F.1's premise => (N-1) delta <= logit(s_i) + log((1-p_i)/p_i) for all i", False,
                cases, lambda case: judge_spread(case, bound), examples, seed),
        fixed("F.1 => sharpened => PSD-able", "on every swept world of every registered family, with C_F1 >= C*",
              False, records, judge_chain),
        fixed("transitive worlds", "ring, torus, sticky: PSD-able => C_F1 = C*", False, records, judge_transitive),
    ]
    return statement("4", TITLE, claims, start, table=table(records))
