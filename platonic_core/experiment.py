"""The experiment contract, the one registry and the one command line, for simulations and real models alike.

An experiment is a module of `learners.experiments` (simulations, `python -m worlds.run NAME`) or
`empirical.experiments` (real models, `python -m empirical.run NAME`):

    '''One line: what the experiment shows.

    More text: what it does, what it writes.'''
    DEFAULTS = {"window": 16, "n_samples": None, ...}   # every knob with its default (visible, nanoGPT style)
    TYPES = {"n_samples": int}                           # the type of each knob whose default is None
    def check(cfg): ...                                  # optional: ranges and names, before any work starts
    def run(cfg, out): return results, summary_text      # figures go to `out` via runio.save_figure and are
                                                         # listed in results["plots"]

Module-level imports stay light (no torch), so listing experiments and `--help NAME` are instant. Every experiment
also takes the run options in RUN_DEFAULTS. The runner resolves RUN_DEFAULTS <- DEFAULTS <- overrides, rejects
unknown keys, checks each value's type against its default, calls `check`, then `run`, and writes
<out>/results.json in the one schema (platonic_core.runio.write_results) and report.html (platonic_core.report).
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import math
import os
import pkgutil
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import checks, progress, report, runio

# kind -> (package holding the experiments, the command that runs them)
KINDS = {"simulation": ("learners.experiments", "python -m worlds.run"),
         "empirical": ("empirical.experiments", "python -m empirical.run")}
DEFAULT_EXPERIMENT = {"simulation": "convergence", "empirical": "cross_modal"}
RUN_DEFAULTS = {
    "seed": 0,        # every random choice of the run derives from it
    "fresh": False,   # recompute what is cached for this run (fits, features) instead of reusing it
    "threads": 1,     # torch and BLAS CPU threads (more only spin on small matrices and shared cores)
}

# alignment's calibrate and bootstrap take seeds up to 2^62 (torch draws seed + p as an int64) and runs derive seeds
# seed + i with i < 2^31; fits narrow this to Lightning's [0, 2^32 - 1] in their own check
SEED_MAX = 2 ** 62 - 2 ** 31
RUNNER_OPTIONS = ("quiet", "kind")  # keyword options of `run` beside the settings; no experiment may take them


@dataclass(frozen=True)
class Experiment:
    name: str
    kind: str
    module: str

    def load(self):
        return importlib.import_module(self.module)

    @property
    def description(self) -> str:
        doc = inspect.getdoc(self.load()) or ""
        line = doc.splitlines()[0] if doc else ""
        return line.removeprefix(f"{self.name}: ")

    @property
    def defaults(self) -> dict:
        clash = sorted(set(self.load().DEFAULTS) & set(RUNNER_OPTIONS))
        if clash:  # run(**settings) could not pass them
            checks.fail(f"settings of {self.name}", f"avoid the runner's own options ({', '.join(RUNNER_OPTIONS)})",
                        ", ".join(map(repr, clash)), TypeError)
        return {**RUN_DEFAULTS, **self.load().DEFAULTS}

    @property
    def command(self) -> str:
        return f"{KINDS[self.kind][1]} {self.name}"


_REGISTRY: dict[str, Experiment] = {}


def registry() -> dict[str, Experiment]:
    """Every experiment, by name: the modules of each kind's package (names starting with '_' are helpers)."""
    if not _REGISTRY:
        for kind, (package, _) in KINDS.items():
            path = importlib.import_module(package).__path__
            for mod in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
                if not mod.name.startswith("_"):
                    _REGISTRY[mod.name] = Experiment(mod.name, kind, f"{package}.{mod.name}")
    return _REGISTRY


def names(kind: str | None = None) -> list[str]:
    return [n for n, e in registry().items() if kind in (None, e.kind)]


def get(name: str, kind: str | None = None) -> Experiment:
    """The registered experiment `name` (of `kind` if given); an unknown name lists the valid ones."""
    valid = names(kind)
    if not isinstance(name, str) or name not in valid:
        other = registry().get(name) if isinstance(name, str) else None
        hint = f" ({name} is run by {other.command})" if other else ""
        checks.fail("'experiment' parameter", f"be one of {', '.join(valid)}{hint}", repr(name))
    return registry()[name]


# ------------------------------------------------------------------ values and their types

def _type_name(t) -> str:
    return {int: "an int", float: "a number", str: "a string", bool: "a bool (True or False)", list: "a list",
            dict: "a dict"}.get(t, t.__name__)


def _coerce(value, default, expected, who):
    """`value` checked against the type of `default` (or `expected` when the default is None)."""
    t = expected if default is None else type(default)
    if value is None:
        if default is None:
            return None
        checks.fail(who, f"be {_type_name(t)}", "None", TypeError)
    if t is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if t is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, t) or (t is int and isinstance(value, bool)):
        checks.fail(who, f"be {_type_name(t)}", f"{value!r} ({type(value).__name__})", TypeError)
    if t is float and not math.isfinite(value):
        checks.fail(who, "be finite", value)
    if t is list and isinstance(default, list) and default:
        item = type(default[0])
        for i, v in enumerate(value):
            value[i] = _coerce(v, default[0], item, f"{who} (item {i})")
    if t is dict and isinstance(default, dict):
        unknown = sorted(set(value) - set(default))
        if unknown:
            checks.fail(who, f"have keys among {', '.join(map(str, default))}", f"keys {unknown}")
        value = {**default, **{k: _coerce(v, default[k], None, f"{who} (key {k!r})") for k, v in value.items()}}
    return value


def parse_value(text: str, default: Any, expected: type | None = None) -> Any:
    """A --set value from the command line: a Python literal (true/false/null accepted), a bare string where a
    string is expected, and comma-separated items where a list of strings is expected."""
    t = expected if default is None else type(default)
    if t is str:
        return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" else text
    if text.lower() in ("true", "false", "null", "none"):
        return {"true": True, "false": False}.get(text.lower())
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if t is list and (not default or isinstance(default[0], str)):
            return [s.strip() for s in text.split(",") if s.strip()]
        return text


def resolve(name: str, overrides: dict[str, Any] | None = None, kind: str | None = None,
            out: str | os.PathLike | None = None) -> dict[str, Any]:
    """The validated config of experiment `name`: RUN_DEFAULTS <- DEFAULTS <- overrides, then its `check`; `out`,
    when given, is in the config as cfg["out"] (a check may compare the settings with what a run left there)."""
    exp = get(name, kind)
    mod = exp.load()
    defaults, types = exp.defaults, getattr(mod, "TYPES", {})
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        checks.fail(f"settings of {name}", f"be among its parameters ({', '.join(defaults)})",
                    ", ".join(map(repr, unknown)))
    cfg = {"experiment": name}
    for key, default in defaults.items():
        cfg[key] = _coerce(overrides[key], default, types.get(key), checks.param(key, name)) if key in overrides \
            else default
    checks.check_int(cfg["seed"], "seed", name, 0, SEED_MAX,
                     hint="[0, 2^62 - 2^31] (alignment takes seeds up to 2^62, and runs derive seeds seed + i)")
    checks.check_int(cfg["threads"], "threads", name, 1)
    if "scale" in cfg:
        checks.check_positive(cfg["scale"], "scale", name)
    if out is not None:
        cfg["out"] = str(out)
    if hasattr(mod, "check"):
        mod.check(cfg)
    return cfg


def _rank_zero() -> bool:
    """False in the extra processes Lightning launches for DDP (they re-run the same command)."""
    return all(int(os.environ.get(v, "0")) == 0 for v in ("LOCAL_RANK", "NODE_RANK"))


def run(name: str, out: str | os.PathLike | None = None, /, *, quiet: bool = False, kind: str | None = None,
        **overrides: Any) -> dict[str, Any]:
    """Run experiment `name` with `overrides` of its DEFAULTS; write <out>/results.json (default out:
    runs/<name>), its figures and report.html; print the summary (and, on a terminal, progress) unless `quiet`;
    return the results. `name` and `out` are positional only, so that settings may be called name or out."""
    out = checks.check_out_dir(out if out is not None else Path("runs") / name, "out", name)
    call = ", ".join([repr(name), repr(str(out)), *(f"{k}={v!r}" for k, v in overrides.items())])
    return _execute(resolve(name, overrides, kind, out), out, quiet, f"experiment.run({call})")


def _execute(cfg: dict[str, Any], out: Path, quiet: bool, command: str) -> dict[str, Any]:
    """`run` after its checks: `cfg` resolved (with `out`), `out` checked; `command` is what the user typed or
    called, recorded with the results."""
    cfg["out"] = str(out)
    exp = get(cfg["experiment"])
    import scipy.linalg  # noqa: F401  (only now: listing and resolving stay light; loads scipy's BLAS for the limit)
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg["threads"])
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    try:  # BLAS threads too: more than the cores free only spin (64x slower small L-BFGS probes on a busy core)
        with progress.quiet(quiet), threadpool_limits(cfg["threads"]):
            progress.announce(f"{exp.command}: {exp.description} -> {out}")
            out.mkdir(parents=True, exist_ok=True)
            results, summary = exp.load().run(cfg, out)
    finally:
        torch.set_num_threads(threads)  # a Python caller's setting is theirs
    timings = {"started": started.isoformat(timespec="seconds"), "seconds": round(time.perf_counter() - clock, 2)}
    if _rank_zero():
        path = runio.write_results(out, cfg, results, seed=cfg["seed"], timings=timings, summary=summary,
                                   command=command)
        page = report.write_report(out)
        if not quiet:
            print(summary)
            plots = [str(out / p) for p in results.get("plots", [])]
            print(f"\nwrote {', '.join([str(path), str(page), *plots])}")
    return results


# ------------------------------------------------------------------ the command line

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2 (argparse prints the usage too)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _setting(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def parser(kind: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of one kind of experiment; `prog` names a front end other than the kind's own."""
    command = prog or KINDS[kind][1]
    listing = "\n".join(f"  {n:<18} {registry()[n].description}" for n in names(kind))
    p = _Parser(prog=command, formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False,
                description=f"Run one {kind} experiment; write runs/NAME/results.json and its figures.",
                epilog=f"experiments (default {DEFAULT_EXPERIMENT[kind]}; `{command} --help NAME` shows its "
                       f"settings):\n{listing}")
    p.add_argument("name", nargs="?", metavar="NAME", help="the experiment to run")
    p.add_argument("--experiment", help=argparse.SUPPRESS)  # the older spelling of NAME
    p.add_argument("--set", dest="settings", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting (a Python literal; lists of names may be comma-separated)")
    p.add_argument("--seed", type=int, help="seed of every random choice (default 0)")
    p.add_argument("--out", help="output folder (default runs/NAME)")
    p.add_argument("--fresh", "--force", dest="fresh", action="store_true", default=None,
                   help="recompute cached fits and features instead of reusing them")
    p.add_argument("--scale", type=float, help="multiply training lengths (experiments with a 'scale' setting)")
    p.add_argument("--threads", type=int, help="torch and BLAS CPU threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("-h", "--help", action="store_true", help="show this help, or NAME's settings")
    return p


def describe(name: str) -> str:
    """An experiment's docstring and its settings as they appear in its module (with their comments)."""
    exp = get(name)
    mod = exp.load()
    source = inspect.getsource(mod)
    tree = ast.parse(source)
    block = next(("\n".join(source.splitlines()[n.lineno - 1:n.end_lineno]) for n in tree.body
                  if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "DEFAULTS" for t in n.targets)), "")
    run_opts = "\n".join(f"    {k!r}: {v!r}," for k, v in RUN_DEFAULTS.items())
    return (f"{exp.command} [--set KEY=VALUE ...]\n\n{inspect.getdoc(mod)}\n\nSettings (--set KEY=VALUE):\n{block}\n"
            f"Run options (also --seed, --fresh, --threads):\n{run_opts}\n")


def settings(args: argparse.Namespace, kind: str) -> tuple[str, dict]:
    """(experiment name, settings) of a parsed command line: --set values read against the defaults, and the
    --seed/--fresh/--threads/--scale shorthands; an unknown name or an inapplicable option is a ValueError."""
    name = args.name or args.experiment or DEFAULT_EXPERIMENT[kind]
    exp = get(name, kind)
    defaults, types = exp.defaults, getattr(exp.load(), "TYPES", {})
    overrides = {}
    for key, text in args.settings:
        overrides[key] = parse_value(text, defaults.get(key), types.get(key)) if key in defaults else text
    for key in ("seed", "fresh", "threads", "scale"):
        if getattr(args, key) is not None:
            if key not in defaults:
                checks.fail(f"--{key} option", f"apply to {name} (it has no '{key}' setting)", "--" + key)
            overrides[key] = getattr(args, key)
    return name, overrides


def main(argv: list[str] | None = None, kind: str = "simulation", prog: str | None = None) -> int:
    """The command line of one kind of experiment. User errors exit with status 2 and one line, before any
    work starts."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser(kind, prog)
    args = p.parse_args(argv)
    name = args.name or args.experiment
    if args.name and args.experiment and args.name != args.experiment:
        p.error(f"two experiment names given: {args.name!r} and --experiment {args.experiment!r}")
    if args.help:
        if name is None:
            p.print_help()
            return 0
        try:
            print(describe(get(name, kind).name))
        except ValueError as err:
            p.error(str(err))
        return 0
    try:
        name, overrides = settings(args, kind)
        out = checks.check_out_dir(args.out or Path("runs") / name, "out", name)
        cfg = resolve(name, overrides, kind, out)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:  # ImportError: a missing optional library
        p.error(str(err))
    command = shlex.join([*shlex.split(prog or KINDS[kind][1]), *argv])
    _execute(cfg, out, args.quiet, command)  # checked once: an experiment's check may read its whole dataset
    return 0
