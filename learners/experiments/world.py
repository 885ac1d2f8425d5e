"""world: one world's exact statistics at one window (no training): K_PMI spectrum, PSD shift, information.

Writes the summary of `worlds.summary.summarise` and a heat map of K_PMI (pmi_heatmap.png).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.runio import pyplot, save_figure
from worlds.summary import summarise

from ._common import check_world

DEFAULTS = {
    "world": "torus",            # see worlds.list_worlds()
    "window": 16,
    "include_self": True,        # count the d = 0 pairs (the paper's |t - t'| <= W)
}


def check(cfg: dict):
    checks.check_bool(cfg["include_self"], "include_self", "world")
    return check_world(cfg, "world", window_low=0 if cfg["include_self"] else 1)


def run(cfg: dict, out: Path):
    world = check(cfg)
    summary = summarise(world, cfg["window"], cfg["include_self"])
    title = f"K_PMI: {cfg['world']}, W={cfg['window']}"
    save_figure(_plot_pmi(world.pmi(cfg["window"], cfg["include_self"]), title), out / "pmi_heatmap.png")
    text = "\n".join(f"{k:>24}: {v:.6g}" if isinstance(v, float) else f"{k:>24}: {v}" for k, v in summary.items())
    return {"world": summary, "plots": ["pmi_heatmap.png"]}, text


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: how much one event says about a co-occurring one."""
    return "mutual information I(Z; Z') (nats)", results["world"]["mutual_information"]


def _plot_pmi(K: np.ndarray, title: str):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    shown = np.where(np.isfinite(K), K, np.nan)
    im = ax.imshow(shown, cmap="RdBu_r", vmin=-np.nanmax(np.abs(shown)), vmax=np.nanmax(np.abs(shown)))
    fig.colorbar(im, ax=ax, label="K_PMI")
    ax.set_title(title)
    ax.set_xlabel("state b")
    ax.set_ylabel("state a")
    return fig
