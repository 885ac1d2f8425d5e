"""Input validation shared by every package: one message builder and the scalar validators.

Every error names the parameter, the constraint and the value received (scikit-learn style):
    The 'k' parameter of mutual_knn must be in [1, N-1] with N=200. Got 200 instead.
Validators take the value, the parameter's name and its owner (the function, class or command that takes it) and
return the value converted (int, float, bool). Domain checks (matrices, kernels, observations) stay in their
packages and build their messages with `fail`. Imports only the standard library and numpy.
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np


def param(name: str, owner: str) -> str:
    """The subject of a message: "'k' parameter of mutual_knn"."""
    return f"'{name}' parameter of {owner}"


def fail(who: str, must: str, got, exc: type[Exception] = ValueError):
    """Raise `exc`("The {who} must {must}. Got {got} instead."); `who` as built by `param`."""
    raise exc(f"The {who} must {must}. Got {got} instead.")


def _bounds(low, high, low_open=False, high_open=False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    return f"{'<' if high_open else '<='} {high}"


def check_int(value, name: str, owner: str, low: int | None = None, high: int | None = None, *,
              hint: str | None = None) -> int:
    """`value` as an int (bool refused) in [low, high] (None: unbounded); `hint` replaces the stated bounds,
    e.g. "[1, N-1] with N=200"."""
    who = param(name, owner)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(who, "be an int", f"{value!r} ({type(value).__name__})", TypeError)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        fail(who, f"be in {hint}" if hint else f"be {_bounds(low, high)}", value)
    return value


def check_real(value, name: str, owner: str, low: float | None = None, high: float | None = None, *,
               low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a finite float (bool, NaN and inf refused) within the bounds (open ends on request)."""
    who = param(name, owner)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(who, "be a real number", f"{value!r} ({type(value).__name__})", TypeError)
    value = float(value)
    if not math.isfinite(value):
        fail(who, "be finite", value)
    if ((low is not None and (value <= low if low_open else value < low))
            or (high is not None and (value >= high if high_open else value > high))):
        fail(who, f"be {_bounds(low, high, low_open, high_open)}", value)
    return value


def check_n_perm(value, name: str, owner: str) -> int:
    """A number of permutations: 0 (no null) or >= 2 (a null needs a spread)."""
    value = check_int(value, name, owner, 0)
    if value == 1:
        fail(param(name, owner), "be 0 (no null) or >= 2", 1)
    return value


def check_positive(value, name: str, owner: str) -> float:
    """A finite float > 0."""
    return check_real(value, name, owner, 0, low_open=True)


def check_prob(value, name: str, owner: str, *, open_low: bool = False, open_high: bool = False) -> float:
    """A float in [0, 1] (ends opened on request)."""
    return check_real(value, name, owner, 0, 1, low_open=open_low, high_open=open_high)


def check_bool(value, name: str, owner: str) -> bool:
    """A real bool (numpy's too): "no", 1 or None are refused rather than read as truthy."""
    if not isinstance(value, (bool, np.bool_)):
        fail(param(name, owner), "be a bool (True or False)", f"{value!r} ({type(value).__name__})", TypeError)
    return bool(value)


def check_choice(value, name: str, owner: str, choices):
    """One of `choices` (listed in the message)."""
    if not isinstance(value, str) or value not in choices:
        fail(param(name, owner), f"be one of {', '.join(map(str, choices))}", repr(value))
    return value


def check_subset(values, name: str, owner: str, choices) -> list:
    """A non-empty list of distinct members of `choices`, in the given order."""
    if not isinstance(values, (list, tuple)) or not values:
        fail(param(name, owner), f"be a non-empty list of {', '.join(map(str, choices))}", repr(values))
    for v in values:
        if v not in choices:
            fail(param(name, owner), f"hold only {', '.join(map(str, choices))}", f"{v!r} in {list(values)!r}")
    if len(set(values)) < len(values):
        fail(param(name, owner), "hold distinct items", repr(list(values)))
    return list(values)


def check_ints(values, name: str, owner: str, low: int | None = None, high: int | None = None) -> list[int]:
    """A non-empty list of ints, each in [low, high]."""
    if not isinstance(values, (list, tuple)) or not values:
        fail(param(name, owner), "be a non-empty list of ints", repr(values))
    return [check_int(v, f"{name}[{i}]", owner, low, high) for i, v in enumerate(values)]


def check_out_dir(value, name: str, owner: str) -> Path:
    """A directory to write into: it may not exist yet, but no part of the path may be a file."""
    if not isinstance(value, (str, Path)) or not str(value):
        fail(param(name, owner), "be a directory path", repr(value), TypeError)
    path = Path(value)
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            fail(param(name, owner), "be a directory (or a path that can become one)",
                 f"{str(value)!r}, where {str(p)!r} is a file")
    return path
