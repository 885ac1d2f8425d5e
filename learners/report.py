"""How close a kernel is to its target modulo a constant (and a scale): the comparison report of a fit."""
from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from worlds import empirical_cooccurrence, exact_pairs, plugin_pmi

from .population import population_optimum


def compare(kernel, target) -> dict:
    """Agreement of `kernel` with `target` (both (N, N)) over the entries finite in both.

    pearson/spearman over off-diagonal entries and over all; rel_error: ||t - (alpha k + beta)||_F / ||t - mean t||_F
    after the least-squares affine fit (all entries); rel_error_offset: the same with alpha = 1 (the scale is known
    for an unnormalised critic at tau = 1); coverage: the share of finite target entries where the kernel is finite.
    """
    k, t = np.asarray(kernel, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if k.shape != t.shape or k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"The 'kernel' and 'target' parameters of compare must be square and of one shape. "
                         f"Got {k.shape} and {t.shape}.")
    finite_t = np.isfinite(t)
    both = finite_t & np.isfinite(k)
    off = both & ~np.eye(len(k), dtype=bool)
    out = {"coverage": float(both.sum() / max(1, finite_t.sum()))}
    for name, mask in (("offdiag", off), ("all", both)):
        out[f"pearson_{name}"] = float(np.corrcoef(k[mask], t[mask])[0, 1])
        out[f"spearman_{name}"] = float(spearmanr(k[mask], t[mask])[0])
    x, y = k[both], t[both]
    spread = np.linalg.norm(y - y.mean())
    alpha, beta = np.polyfit(x, y, 1)
    out["rel_error"] = float(np.linalg.norm(y - alpha * x - beta) / spread)
    d = y - x
    out["rel_error_offset"] = float(np.linalg.norm(d - d.mean()) / spread)
    out["scale"], out["offset"] = float(alpha), float(beta)
    return out


def comparison_report(result, population: bool = True, plugin: bool = True) -> dict:
    """The learned kernel of a `FitResult` vs its target (K_PMI for infonce and nce; the objective's analytic
    optimum otherwise, both modulo the objective's gauge), beside the population optimum (same loss and dim: the
    limit of infinite data and exact optimisation) and the plug-in estimate at the same pair budget (the fit's own
    pool, or as many fresh exact draws as the stream gave the learner): count PMI for infonce and nce, the
    objective's target computed from the counted joint otherwise."""
    from . import objectives
    from .fit import fit_target

    cfg = result.config
    fc = result.fit_config
    canon = None if fc is None else fit_target(result.cooccurrence, fc)[1]
    view = (lambda k: k) if canon is None else canon  # noqa: E731
    out = {"learned": compare(view(result.kernel), view(result.target)), "pair_budget": result.pairs_seen}
    if population:
        kw = {}
        if cfg["loss"] == "skipgram":
            kw["negatives"] = cfg["negatives"]
        if cfg.get("objective_kw"):
            kw["objective_kw"] = cfg["objective_kw"]
        opt = population_optimum(result.cooccurrence, cfg["loss"], cfg["dim"], p_pos=cfg["p_pos"],
                                 learn_bias=cfg["learn_bias"], seed=cfg["seed"], **kw)
        out["population"] = {**compare(view(opt.kernel), view(result.target)), "gap": opt.gap, "loss": opt.loss,
                             "bound": opt.bound}
    if plugin:
        pairs = result.pairs if result.pairs is not None else exact_pairs(result.cooccurrence, result.pairs_seen,
                                                                          seed=cfg["seed"] + 1)
        try:
            if cfg["loss"] in ("infonce", "nce"):
                out["plugin"] = compare(plugin_pmi(pairs, len(result.target)), result.target)
            else:
                counted = empirical_cooccurrence(pairs, len(result.target))
                counted = (counted + counted.T) / 2
                estimate = fit_target(counted, fc)[0] if fc is not None else objectives.target(counted, cfg["loss"])
                out["plugin"] = compare(view(estimate), view(result.target))
        except ValueError as err:  # a value never seen: its PMI row is undefined
            out["plugin"] = {"error": str(err)}
    return out
