"""Summarise a world's exact statistics: `python -m worlds.run [--world torus] [--window 16] [--out runs/world]`.

Prints N, W, the K_PMI spectrum range, the least PSD shift C*, PSD-ability and entropies; writes
<out>/results.json (resolved config, seed, versions, numbers) and <out>/pmi_heatmap.png.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .families import list_worlds, make_world
from .information import chi2_information, entropy, mutual_information
from .kernels import min_shift
from .runio import save_figure, write_results

DEFAULTS = {"world": "torus", "window": 16, "seed": 0, "include_self": True, "out": "runs/world"}


def summarise(world, window: int, include_self: bool = True) -> dict:
    """The numbers `python -m worlds.run` reports for one world, as a dict."""
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m worlds.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=DEFAULTS["world"],
                        help=f"registered world: {', '.join(list_worlds())} (default %(default)s)")
    parser.add_argument("--window", type=int, default=DEFAULTS["window"], help="W (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="world seed (default %(default)s)")
    parser.add_argument("--no-self", dest="include_self", action="store_false", help="exclude d = 0 pairs")
    parser.add_argument("--out", default=None, help="output folder (default runs/<world>)")
    args = parser.parse_args(argv)
    if args.world not in list_worlds():
        parser.error(f"argument --world: unknown world {args.world!r}; valid: {', '.join(list_worlds())}")
    if args.window < 0:
        parser.error(f"argument --window: must be >= 0, got {args.window}")
    out = Path(args.out or f"runs/{args.world}")
    config = {"world": args.world, "window": args.window, "seed": args.seed, "include_self": args.include_self,
              "out": str(out)}

    world = make_world(args.world, seed=args.seed)
    summary = summarise(world, args.window, args.include_self)
    for key, value in summary.items():
        print(f"{key:>24}: {value:.6g}" if isinstance(value, float) else f"{key:>24}: {value}")
    save_figure(plot_pmi(world.pmi(args.window, args.include_self), f"K_PMI: {args.world}, W={args.window}"),
                out / "pmi_heatmap.png")
    path = write_results(out, config, summary, seed=args.seed)
    print(f"wrote {path} and {out / 'pmi_heatmap.png'}")
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
