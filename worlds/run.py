"""The simulations, end to end: `python -m worlds.run [--experiment NAME] [--scale 1] [--seed 0] [--out DIR]`.

Each experiment writes <out>/results.json (resolved config, seed, versions, numbers, the world summary) and PNG
plots beside it, atomically, and prints a summary table; <out> defaults to runs/<experiment>. `--scale` multiplies
training lengths (0.05 for a smoke test, 4 for tighter numbers); `--set key=value` overrides any default shown in
the experiment module (learners/experiments/<name>.py). Fits keep checkpoints under <out>/fits/, so an interrupted
run resumes where it stopped (`--fresh` retrains). The `world` experiment only summarises a world (no training).
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import numpy as np

from platonic_core.runio import save_figure, write_results

from .families import list_worlds, make_world
from .information import chi2_information, entropy, mutual_information
from .kernels import min_shift

DEFAULT_EXPERIMENT = "convergence"
WORLD_DEFAULTS = {"world": "torus", "window": 16, "include_self": True}


def summarise(world, window: int, include_self: bool = True) -> dict:
    """The numbers that describe one world at one window, as a dict (kept in every experiment's results)."""
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


def plot_pmi(K: np.ndarray, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.2))
    shown = np.where(np.isfinite(K), K, np.nan)
    im = ax.imshow(shown, cmap="RdBu_r", vmin=-np.nanmax(np.abs(shown)), vmax=np.nanmax(np.abs(shown)))
    fig.colorbar(im, ax=ax, label="K_PMI")
    ax.set_title(title)
    ax.set_xlabel("state b")
    ax.set_ylabel("state a")
    return fig


def _world_summary(cfg: dict, out: Path):
    world = make_world(cfg["world"], seed=cfg["seed"])
    summary = summarise(world, cfg["window"], cfg["include_self"])
    save_figure(plot_pmi(world.pmi(cfg["window"], cfg["include_self"]), f"K_PMI: {cfg['world']}, W={cfg['window']}"),
                out / "pmi_heatmap.png")
    text = "\n".join(f"{k:>24}: {v:.6g}" if isinstance(v, float) else f"{k:>24}: {v}" for k, v in summary.items())
    return {"world": summary, "plots": ["pmi_heatmap.png"]}, text


def experiments() -> list[str]:
    from learners.experiments import list_experiments  # lazily: `import worlds` never imports torch

    return [*list_experiments(), "world"]


def resolve(name: str, scale: float = 1.0, seed: int = 0, overrides: dict | None = None, fresh: bool = False,
            threads: int = 1, accelerator: str = "auto") -> dict:
    """The resolved config of experiment `name`: its DEFAULTS, then `overrides`, then the run options."""
    valid = experiments()
    if name not in valid:
        raise ValueError(f"The 'experiment' parameter of worlds.run must be one of {valid}. Got {name!r} instead.")
    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(f"The 'scale' parameter of worlds.run must be > 0. Got {scale!r} instead.")
    if name == "world":
        defaults = dict(WORLD_DEFAULTS)
    else:
        from learners.experiments import load

        defaults = dict(load(name).DEFAULTS)
    unknown = sorted(set(overrides or {}) - set(defaults))
    if unknown:
        raise ValueError(f"The 'overrides' parameter of worlds.run names keys {unknown} that experiment {name!r} "
                         f"does not have; valid: {sorted(defaults)}.")
    if "world" in (overrides or {}) and overrides["world"] not in list_worlds():
        raise ValueError(f"The 'world' override of worlds.run must be one of {list_worlds()}. "
                         f"Got {overrides['world']!r} instead.")
    return {"experiment": name, **defaults, **(overrides or {}), "scale": float(scale), "seed": int(seed),
            "fresh": bool(fresh), "threads": int(threads), "accelerator": accelerator}


def run_experiment(name: str = DEFAULT_EXPERIMENT, scale: float = 1.0, seed: int = 0, out=None,
                   overrides: dict | None = None, fresh: bool = False, threads: int = 1,
                   accelerator: str = "auto", quiet: bool = False) -> dict:
    """Run one experiment; write <out>/results.json and its plots; print (unless quiet) and return the results."""
    cfg = resolve(name, scale, seed, overrides, fresh, threads, accelerator)
    out = Path(out or f"runs/{name}")
    cfg["out"] = str(out)
    out.mkdir(parents=True, exist_ok=True)
    if name == "world":
        results, text = _world_summary(cfg, out)
    else:
        import torch

        from learners.experiments import load

        torch.set_num_threads(cfg["threads"])  # more threads only spin on small matrices and busy cores
        results, text = load(name).run(cfg, out)
    path = write_results(out, cfg, results, seed=cfg["seed"])
    if not quiet:
        print(text)
        print(f"\nwrote {path} and {', '.join(str(out / p) for p in results.get('plots', []))}")
    return results


def _override(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare string, e.g. world=ring


def main(argv: list[str] | None = None) -> dict:
    from learners.experiments import EXPERIMENTS

    names = experiments()
    listing = "\n".join(f"  {n:<12} {d}" for n, d in EXPERIMENTS.items())
    parser = argparse.ArgumentParser(
        prog="python -m worlds.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"experiments:\n{listing}\n  {'world':<12} summary of one world's exact statistics (no training)\n\n"
               f"worlds: {', '.join(list_worlds())}")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="experiment name (default %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies training lengths (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of worlds, observations and training")
    parser.add_argument("--out", default=None, help="output folder (default runs/<experiment>)")
    parser.add_argument("--world", default=None, help=f"world override: {', '.join(list_worlds())}")
    parser.add_argument("--window", type=int, default=None, help="window W override")
    parser.add_argument("--set", dest="overrides", type=_override, action="append", default=[],
                        metavar="KEY=VALUE", help="override a default of the experiment (Python literal)")
    parser.add_argument("--fresh", action="store_true", help="retrain instead of resuming saved fits")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--accelerator", default="auto", help="Lightning accelerator (default auto: GPU if any)")
    args = parser.parse_args(argv)
    if args.experiment not in names:
        parser.error(f"argument --experiment: unknown experiment {args.experiment!r}; valid: {', '.join(names)}")
    if args.world is not None and args.world not in list_worlds():
        parser.error(f"argument --world: unknown world {args.world!r}; valid: {', '.join(list_worlds())}")
    if args.window is not None and args.window < 0:
        parser.error(f"argument --window: must be >= 0, got {args.window}")
    if not args.scale > 0:
        parser.error(f"argument --scale: must be > 0, got {args.scale}")
    overrides = dict(args.overrides)
    overrides.update({k: v for k, v in (("world", args.world), ("window", args.window)) if v is not None})
    try:
        resolve(args.experiment, args.scale, args.seed, overrides)
    except ValueError as err:
        parser.error(str(err))
    return run_experiment(args.experiment, args.scale, args.seed, args.out, overrides, args.fresh, args.threads,
                          args.accelerator)


if __name__ == "__main__":
    main(sys.argv[1:])
