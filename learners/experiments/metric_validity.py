"""metric_validity: do the alignment metrics tell the same world up to gauge from the rest, and rank pairs by a truth
that is none of them?

A product world (two lazy rings of `factor_states` states, log-normal edge weights of spread `edge_noise`: no two
states alike, a spectrum without degeneracy) and the rank-`dim` optimal embedding of each variable
(`representation`: 'spectral', the top `dim` eigen-directions of D^-1/2 P D^-1/2, whose Gram matrix is the p-weighted
rank-dim approximation of exp(K_PMI); or 'infonce', the rank-dim InfoNCE population optimum). Pairs (world, B):
  gauge   B is the world up to gauge: relabelled states re-embedded, or F M (+ t) with M invertible;
  merge, drop, noisy   B embeds a lossy observation (merged states, a dropped factor, a noisy channel);
  world   B embeds another world (other edge weights) over the same states.
The truth is metric-neutral (worlds.truth, closed forms over the joint law of (state, observation)): the p-weighted
linear stitching loss both ways (1 - R^2 of the affine regression; 0 exactly for gauge pairs), and the Bayes
decodability of the state and of each factor from each side. The old truth, the population cosine of the centred
exp-PMI kernels (linear CKA's own infinite-sample limit, so it favours CKA by construction), stays as the column
pmi_cosine for comparison.
Each of `repeats` draws of N events from the stationary law is represented by both sides of every pair and scored by
every metric of alignment.METRICS (k-NN metrics at each fixed k of `ks` and, with k_sqrt, at k = round(sqrt(N))),
with the permutation null of alignment.calibrate where N <= calibrate_max (z from n_perm permutations; "not
calibrated" below 19). Each metric's mean score over the draws is judged by ROC-AUC at telling gauge pairs from the
rest and by Spearman's rank correlation with minus the stitching loss (mean of both ways) across pairs, each with a
95 % bootstrap interval over pairs (gauge and other pairs resampled apart) and the share of replicates in which the
metric ranks first; a ranking is resolved when the first metric beats the second in >= 95 % of the replicates. A
metric is degenerate where it scores every pair alike, and blind to a kind of pair whose stitching loss is > 0.01
while it scores its maximum. Writes metric_validity_scores.png, metric_validity_agreement.png (and
metric_validity_k.png with more than one k) and tables; distinct states and k-NN ties (alignment.TieWarning) per N.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.runio import legend_outside, pyplot, save_figure

from .._checks import check_device
from ._common import (NOT_CALIBRATED, calibrated, null_fields, pmi_cosine, recorded_ties, table,
                      tie_fraction)

DEFAULTS = {
    "factor_states": 16,         # product of two lazy rings: factor_states^2 states (256)
    "edge_noise": 0.5,           # log-normal spread of the rings' edge weights (> 0: a symmetric ring's degenerate
                                 # spectrum would leave the rank-dim embedding to rounding)
    "window": 16,
    "dim": 16,                   # rank of every embedding (full rank would make any two injective ones stitch exactly)
    "gauges": 6,                 # gauge pairs, cycling: relabelled states, F M, F M + t (M invertible)
    "merges": [2, 4, 8, 32, 64],  # merge this many consecutive states (colour pairs ... 2 and 4 whole shapes)
    "drops": True,               # shape only, colour only
    "noise": [0.1, 0.3, 0.6],    # NoisyChannel flip probabilities
    "other_worlds": 4,           # pairs with another world (other edge weights) over the same states
    "representation": "spectral",  # spectral (rank-dim exp(K_PMI)) | infonce (rank-dim InfoNCE population optimum)
    "n_samples": [100, 300, 1000],  # N events (1e4 and more: a GPU, --set device=cuda)
    "ks": [10],                  # fixed k of the k-NN metrics and CKNNA
    "k_sqrt": True,              # also k = round(sqrt(N)), growing with N
    "repeats": 3,                # independent draws of the N events
    "n_perm": 100,               # permutations of alignment.calibrate (0: no null; below 19: "not calibrated")
    "calibrate_max": 300,        # the largest N that gets the null (each permutation costs about one evaluation)
    "bootstrap": 1000,           # bootstrap replicates over pairs of each metric's AUC and rank correlation
    "cca_dim": 10,               # SVCCA dimensions (capped by both sides' ranks)
    "device": "cpu",             # torch device of the metrics
}
REPRESENTATIONS = ("spectral", "infonce")
GAUGES = ("relabel", "linear", "affine")
SQRT = "sqrt(N)"


def check(cfg: dict):
    from worlds import make_world, product_world

    name = "metric_validity"
    m = checks.check_int(cfg["factor_states"], "factor_states", name, 3, 32)
    n = m * m
    checks.check_int(cfg["window"], "window", name, 1)
    checks.check_real(cfg["edge_noise"], "edge_noise", name, 0, 5, low_open=True)
    checks.check_int(cfg["dim"], "dim", name, 2, n - 1, hint=f"[2, N-1] with N={n} states")
    for key in ("gauges", "other_worlds"):
        checks.check_int(cfg[key], key, name, 1)
    if not isinstance(cfg["merges"], list):
        checks.fail(checks.param("merges", name), "be a list of ints", repr(cfg["merges"]))
    for i, k in enumerate(cfg["merges"]):
        checks.check_int(k, f"merges[{i}]", name, 2, n // 2)
    checks.check_bool(cfg["drops"], "drops", name)
    if not isinstance(cfg["noise"], list):
        checks.fail(checks.param("noise", name), "be a list of probabilities", repr(cfg["noise"]))
    for i, q in enumerate(cfg["noise"]):
        checks.check_prob(q, f"noise[{i}]", name, open_low=True)
    if len(cfg["merges"]) + 2 * cfg["drops"] + len(cfg["noise"]) < 1:
        checks.fail(checks.param("merges", name), "leave at least one lossy observation with drops and noise",
                    repr(cfg["merges"]))
    checks.check_choice(cfg["representation"], "representation", name, REPRESENTATIONS)
    checks.check_ints(cfg["n_samples"], "n_samples", name, 10)
    checks.check_ints(cfg["ks"], "ks", name, 1, min(cfg["n_samples"]) - 1)
    checks.check_bool(cfg["k_sqrt"], "k_sqrt", name)
    checks.check_int(cfg["repeats"], "repeats", name, 1)
    checks.check_n_perm(cfg["n_perm"], "n_perm", name)
    checks.check_int(cfg["calibrate_max"], "calibrate_max", name, 0)
    checks.check_int(cfg["bootstrap"], "bootstrap", name, 100)
    checks.check_int(cfg["cca_dim"], "cca_dim", name, 1)
    check_device(cfg["device"], "device", name)

    def world(seed):
        return product_world(*(make_world("weighted_ring", n_states=m, teleport=0.0, edge_noise=cfg["edge_noise"],
                                          seed=seed + i) for i in range(2)))
    return world(cfg["seed"] + 10), [world(cfg["seed"] + 100 + 2 * i) for i in range(cfg["other_worlds"])]


def spectral_embedding(P: np.ndarray, dim: int | None = None) -> np.ndarray:
    """F with F F^T = P / (p p^T) = exp(K_PMI) (the spectral objective's optimum; negative eigenvalues of
    D^-1/2 P D^-1/2, where P is not PSD, are dropped: the rank-N Gram optimum); with dim, the top dim positive
    eigen-directions only (the rank-dim optimum, the p-weighted best rank-dim approximation of exp(K_PMI))."""
    p = P.sum(1)
    s = np.sqrt(p)
    lam, V = np.linalg.eigh(P / np.outer(s, s))
    keep = np.flatnonzero(lam > 1e-12 * lam.max())[::-1][:dim]
    return V[:, keep] * np.sqrt(lam[keep]) / s[:, None]


def true_alignment(P: np.ndarray, PX: np.ndarray, O: np.ndarray) -> float:
    """The old truth (column pmi_cosine): the population cosine of the centred exp-PMI kernels of the world (P over
    states) and of an observation (PX over values, O = P(x | z)) over independent samples (z, x) ~ p(z) O(z, x). It
    is the infinite-sample limit of linear CKA of the full-rank spectral embeddings, so it favours CKA."""
    p, q = P.sum(1), PX.sum(1)
    G = P / np.outer(p, p) - 1
    H = PX / np.outer(q, q) - 1
    num = np.einsum("a,b,ab->", p, p, G * (O @ H @ O.T))
    return float(num / np.sqrt(np.einsum("a,b,ab->", p, p, G * G) * np.einsum("a,b,ab->", q, q, H * H)))


def _embedding(P, cfg):
    if cfg["representation"] == "spectral":
        return spectral_embedding(P, cfg["dim"])
    from ..population import population_optimum

    return population_optimum(P, "infonce", min(cfg["dim"], len(P)), seed=cfg["seed"]).embeddings


def _pairs(cfg, world, others, P, FZ) -> list:
    """(name, kind, observation or None, B's embedding of the observed values, old truth) for every pair."""
    from alignment.invariances import transform
    from worlds import DropFactor, Merge, NoisyChannel, Permutation, pmi_kernel

    m, W, n = cfg["factor_states"], cfg["window"], world.n_states
    out = []
    for i in range(cfg["gauges"]):
        kind = GAUGES[i % 3]
        if kind == "relabel":
            o = Permutation(n, seed=cfg["seed"] + 1 + i)
            out.append((f"relabel{i}", "gauge", o, _embedding(o.pushforward(P, W), cfg), 1.0))
        else:
            FB = transform("linear", "features", FZ, seed=cfg["seed"] + i)
            if kind == "affine":
                FB = FB + np.random.default_rng(cfg["seed"] + i).standard_normal(FB.shape[1]) * np.abs(FB).max()
            out.append((f"{kind}{i}", "gauge", None, FB, 1.0))
    lossy = [(f"merge{k}", "merge", Merge(np.arange(n) // k)) for k in cfg["merges"]]
    if cfg["drops"]:
        lossy += [("shape_only", "drop", DropFactor((m, m), drop=1)), ("colour_only", "drop", DropFactor((m, m), 0))]
    lossy += [(f"noisy{q}", "noisy", NoisyChannel(q, n)) for q in cfg["noise"]]
    for name, kind, o in lossy:
        PX = o.pushforward(P, W)
        out.append((name, kind, o, _embedding(PX, cfg), true_alignment(P, PX, o.matrix)))
    for i, w in enumerate(others):
        PW = w.cooccurrence(W)
        PW = PW.toarray() if hasattr(PW, "toarray") else PW
        old = pmi_cosine(pmi_kernel(P), P.sum(1), pmi_kernel(PW), np.eye(n), PW.sum(1))  # both weighted by p
        out.append((f"world{i}", "world", None, _embedding(PW, cfg), old))
    return out


def _truth(name, kind, o, FZ, FB, old, p, m) -> dict:
    """The metric-neutral truth of a pair (worlds.truth): stitching loss both ways over the joint law of (state,
    observed value), decodability of the state and of each factor from each side."""
    from worlds.truth import decodability, stitching_loss

    J = p[:, None] * (o.matrix if o is not None else np.eye(len(p)))
    z, x = np.nonzero(J)
    w = J[z, x] / J[z, x].sum()
    row = {"pair": name, "kind": kind, "n_values": J.shape[1], "dim_b": FB.shape[1],
           "stitch_ab": stitching_loss(FZ[z], FB[x], w), "stitch_ba": stitching_loss(FB[x], FZ[z], w)}
    row["stitch"] = (row["stitch_ab"] + row["stitch_ba"]) / 2
    s = np.arange(len(p))
    for side, joint, F in (("a", np.diag(p), FZ), ("b", J, FB)):
        for what, f in (("state", None), ("shape", s // m), ("colour", s % m)):
            row[f"decode_{side}_{what}"] = decodability(joint, factor=f, features=F)
    row["pmi_cosine"] = old
    return row


def _score(metric, A, B, kw, cfg, N, seed, device) -> dict:
    import torch

    import alignment

    ta, tb = (torch.as_tensor(X, dtype=torch.float32, device=device) for X in (A, B))
    try:
        with recorded_ties() as ties:
            if cfg["n_perm"] and N <= cfg["calibrate_max"]:
                c = alignment.calibrate(ta, tb, metric, n_perm=cfg["n_perm"], seed=seed, **kw)
                out = {"score": float(c.score), **null_fields(c)}
            else:
                out = {"score": alignment.measure(metric, ta, tb, **kw)}
        return {**out, "knn_ties": tie_fraction(ties)}
    except ValueError as err:
        return {"score": float("nan"), "error": str(err)[:200]}


def _rank(X) -> int:
    s = np.linalg.svd(X - X.mean(0), compute_uv=False)
    return int((s > 1e-6 * s[0]).sum()) if s.size and s[0] > 0 else 0


def _ks(cfg, N) -> list:
    """(label, k) of the k-NN metrics at N samples: each fixed k, and round(sqrt(N)) with k_sqrt."""
    return [(k, k) for k in cfg["ks"]] + ([(SQRT, min(max(1, round(N ** 0.5)), N - 1))] if cfg["k_sqrt"] else [])


def run(cfg: dict, out: Path):
    import alignment

    world, others = check(cfg)
    m, W, n = cfg["factor_states"], cfg["window"], world.n_states
    P = world.cooccurrence(W)
    P = P.toarray() if hasattr(P, "toarray") else P
    p = P.sum(1)
    FZ = _embedding(P, cfg)
    pairs = _pairs(cfg, world, others, P, FZ)
    truths = [_truth(name, kind, o, FZ, FB, old, p, m) for name, kind, o, FB, old in pairs]
    metrics = list(alignment.METRICS)
    knn_like = [x for x in metrics if "k" in alignment.PARAMS[x]]
    scores = []  # one row per (N, repeat, pair, metric, k)
    cdf = np.cumsum(p)
    for N in cfg["n_samples"]:
        for rep in range(cfg["repeats"]):
            rng = np.random.default_rng([cfg["seed"], N, rep])
            z = np.minimum(np.searchsorted(cdf, rng.random(N) * cdf[-1], side="right"), n - 1)
            A, distinct = FZ[z], len(np.unique(z))
            for name, _, o, FB, _ in pairs:
                seed = int(rng.integers(2 ** 31))
                B = FB[o.observe(z, seed=seed) if o is not None else z]
                cca = max(1, min(cfg["cca_dim"], _rank(A), _rank(B)))
                for metric in metrics:
                    for label, k in (_ks(cfg, N) if metric in knn_like else [(None, None)]):
                        kw = alignment.metric_kwargs(metric, k=k or 1, cca_dim=cca)
                        s = _score(metric, A, B, kw, cfg, N, cfg["seed"] + rep, cfg["device"])
                        scores.append({"n_samples": N, "repeat": rep, "pair": name, "metric": metric, "k": label,
                                       "k_used": k, "distinct_states": distinct, **s})
    agreement, boot = _agreement(scores, truths, cfg)
    big, k0 = max(cfg["n_samples"]), cfg["ks"][0]
    ranking = {c: _ranked(agreement, boot, big, c) for c in ("auc", "rho_stitch")}
    samples = [{"n_samples": N, **{f: float(np.mean([r[f] for r in scores if r["n_samples"] == N and f in r and
                                                     (f != "knn_ties" or r["metric"] in knn_like)]))
                                   for f in ("distinct_states", "knn_ties")}} for N in cfg["n_samples"]]
    plots = ["metric_validity_scores.png", "metric_validity_agreement.png"]
    _plot_scores(scores, truths, metrics, cfg, out / plots[0])
    _plot_agreement(agreement, metrics, cfg, out / plots[1])
    if len(cfg["ks"]) + cfg["k_sqrt"] > 1:
        plots.append("metric_validity_k.png")
        _plot_k(agreement, knn_like, cfg, out / plots[2])
    top = [{**a, "auc_ci": f"[{a['auc_lo']:.3f}, {a['auc_hi']:.3f}]",
            "rho_ci": f"[{a['rho_lo']:.3f}, {a['rho_hi']:.3f}]", "blind_to": ",".join(a["blind_to"])}
           for a in agreement if a["n_samples"] == big]
    text = "\n\n".join([
        table(truths, ["pair", "kind", "n_values", "dim_b", "stitch_ab", "stitch_ba", "decode_b_state",
                       "decode_b_shape", "decode_b_colour", "pmi_cosine"],
              f"Pairs (world: product of two {m}-rings, edge_noise={cfg['edge_noise']}, {n} states, W={W}; "
              f"{cfg['representation']} embeddings of rank {cfg['dim']}): stitching loss world -> B (ab) and back "
              "(ba), Bayes decodability of the state and factors from B (from the world: 1), old truth pmi_cosine"),
        table(sorted(top, key=lambda a: -a["auc"]),
              ["metric", "k", "k_used", "auc", "auc_ci", "p_first_auc", "rho_stitch", "rho_ci", "p_first_rho",
               "rho_pmi_cosine", "auc_z", "rho_stitch_z", "knn_ties", "degenerate", "blind_to"],
              f"Each metric at N={big} over {len(truths)} pairs x {cfg['repeats']} draws: ROC-AUC gauge vs rest and "
              "Spearman with -stitching loss, 95 % bootstrap intervals over pairs and the share of replicates ranked "
              "first; rho_pmi_cosine: Spearman with the old truth; z columns from "
              f"{cfg['n_perm']} permutations where N <= {cfg['calibrate_max']}"),
        table([{"metric": a["metric"], "k": a["k"], **{f"{c}@{r['n_samples']}": r[c] for r in agreement
                                                        for c in ("auc", "rho_stitch")
                                                        if r["metric"] == a["metric"] and r["k"] == a["k"]}}
               for a in agreement if a["n_samples"] == big],
              ["metric", "k", *[f"{c}@{x}" for x in cfg["n_samples"] for c in ("auc", "rho_stitch")]],
              "By N (k-NN metrics at each k)"),
        table(samples, ["n_samples", "distinct_states", "knn_ties"], f"Samples: distinct states among the N draws "
              f"(of {n}; the rest are duplicated rows) and the mean fraction of rows whose k-NN lists tie at the k-th "
              "neighbour"),
    ])
    finding = _finding(agreement, ranking, truths, cfg, k0)
    text += "\n\n" + finding
    results = {"n_states": n, "window": W, "representation": cfg["representation"], "dim": cfg["dim"],
               "pairs": truths, "agreement": agreement, "ranking": ranking, "finding": finding, "scores": scores,
               "distinct_states": {str(r["n_samples"]): r["distinct_states"] for r in samples},
               "knn_ties": {str(r["n_samples"]): r["knn_ties"] for r in samples}, "plots": plots}
    return results, text


def _ranks(X) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(X, axis=-1)


def _auc(s, pos) -> np.ndarray:
    """ROC-AUC of scores s (..., n) at telling pos (n bools) from the rest: the Mann-Whitney U over n_pos n_neg,
    ties counted one half."""
    r = _ranks(s)
    n1, n0 = pos.sum(), (~pos).sum()
    return (r[..., pos].sum(-1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def _spearman(s, t) -> np.ndarray:
    """Spearman's rho of s (..., n) with t (..., n); 0 where s is constant (no ranking: no information)."""
    a, b = _ranks(s), _ranks(t)
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1), 0.0)


def _agreement(scores, truths, cfg) -> tuple[list, dict]:
    """Per (N, metric, k): AUC (gauge vs rest) and Spearman with -stitch of the mean scores over the draws, with
    bootstrap intervals over pairs and the share of replicates in which it ranks first among every (metric, k) at
    that N. Returns the rows and each row's replicates, {(N, metric, k): {"auc": (B,), "rho": (B,)}}."""
    names = [t["pair"] for t in truths]
    pos = np.array([t["kind"] == "gauge" for t in truths])
    stitch = np.array([t["stitch"] for t in truths])
    old = np.array([t["pmi_cosine"] for t in truths])
    rng = np.random.default_rng(cfg["seed"])
    nb = cfg["bootstrap"]
    idx = np.concatenate([rng.choice(np.flatnonzero(pos), (nb, pos.sum())),  # positives and the rest apart
                          rng.choice(np.flatnonzero(~pos), (nb, (~pos).sum()))], axis=1)
    rows, boot = [], {}
    for N in cfg["n_samples"]:
        sel = [r for r in scores if r["n_samples"] == N]
        keys = list(dict.fromkeys((r["metric"], r["k"]) for r in sel))
        block = []
        for metric, k in keys:
            mine = [r for r in sel if (r["metric"], r["k"]) == (metric, k)]
            s = np.array([np.mean([r["score"] for r in mine if r["pair"] == x]) for x in names])
            if not np.isfinite(s).all():
                rows.append({"n_samples": N, "metric": metric, "k": k, "error": "a score failed"})
                continue
            row = {"n_samples": N, "metric": metric, "k": k, "k_used": mine[0]["k_used"],
                   "knn_ties": float(np.mean([r.get("knn_ties", 0.0) for r in mine])),
                   "auc": float(_auc(s, pos)), "rho_stitch": float(_spearman(s, -stitch)),
                   "rho_pmi_cosine": float(_spearman(s, old)),
                   "degenerate": bool(np.ptp(s) < 1e-6),
                   "blind_to": sorted({t["kind"] for t, v in zip(truths, s) if t["stitch"] > 0.01 and v >= 1 - 1e-6})}
            if "z" in mine[0]:
                if calibrated(cfg["n_perm"]):
                    zs = np.array([np.mean([r["z"] for r in mine if r["pair"] == x]) for x in names])
                    row.update(auc_z=float(_auc(zs, pos)), rho_stitch_z=float(_spearman(zs, -stitch)))
                else:
                    row.update(auc_z=NOT_CALIBRATED, rho_stitch_z=NOT_CALIBRATED)
            boot[N, metric, k] = {"auc": _auc(s[idx], pos[idx[0]]), "rho": _spearman(s[idx], -stitch[idx])}
            block.append(row)
            rows.append(row)
        for c in ("auc", "rho") if block else ():
            reps = np.array([boot[N, r["metric"], r["k"]][c] for r in block])  # (metric, k) x replicates
            first = reps >= reps.max(0) - 1e-12
            for row, r, f in zip(block, reps, first):
                row[f"{c}_lo"], row[f"{c}_hi"] = (float(v) for v in np.percentile(r, [2.5, 97.5]))
                row[f"p_first_{c}"] = float(f.mean())
    return rows, boot


def headline(results: dict) -> tuple[str, float]:
    """The key number of a run: the first metric's Spearman with minus the stitching loss at the largest N, and
    whether that first place is resolved."""
    r = results["ranking"]["rho_stitch"]
    state = "resolved" if r.get("resolved") else "not resolved"
    return f"Spearman with -stitching loss, first: {r['order'][0]} ({state})", r["values"][0]


def _ranked(agreement, boot, N, column) -> dict:
    """The order of the metrics (each at its best k) by `column` at N, and whether the first is resolved: ahead of
    the second in >= 95 % of the bootstrap replicates (paired: the same resampled pairs)."""
    best = {}
    for a in agreement:
        if a["n_samples"] == N and "error" not in a and a[column] > best.get(a["metric"], {column: -np.inf})[column]:
            best[a["metric"]] = a
    order = sorted(best.values(), key=lambda a: -a[column])
    out = {"order": [f"{a['metric']}" + (f"@k={a['k']}" if a["k"] is not None else "") for a in order],
           "values": [a[column] for a in order]}
    if len(order) > 1:
        c = "auc" if column == "auc" else "rho"
        first, second = (boot[N, a["metric"], a["k"]][c] for a in order[:2])
        ahead = float(np.mean(first > second))
        out.update(first=out["order"][0], second=out["order"][1], first_ahead_share=ahead, resolved=ahead >= 0.95)
    return out


def _finding(agreement, ranking, truths, cfg, k0) -> str:
    """What the run found, from its numbers."""
    big = max(cfg["n_samples"])
    at = {(a["metric"], a["k"]): a for a in agreement if a["n_samples"] == big and "error" not in a}
    parts = []
    for column, what in (("auc", "ROC-AUC gauge vs rest"), ("rho_stitch", "Spearman with -stitching loss")):
        r = ranking[column]
        if "first" not in r:
            continue
        a = at[tuple(_split(r["first"]))]
        c = "auc" if column == "auc" else "rho"
        parts.append(f"at N={big} by {what}: first {r['first']} {a[column]:.3f} [{a[c + '_lo']:.3f}, "
                     f"{a[c + '_hi']:.3f}], then {r['second']} {r['values'][1]:.3f}; "
                     + ("resolved" if r["resolved"] else "not resolved")
                     + f" (first ahead in {r['first_ahead_share']:.0%} of {cfg['bootstrap']} bootstrap replicates)")
    old = sorted(((a["rho_pmi_cosine"], m) for (m, k), a in at.items() if k in (None, k0)), reverse=True)
    if old:
        parts.append(f"against the old truth (pmi_cosine, CKA's own limit) {old[0][1]} ranks first "
                     f"({old[0][0]:.3f})")
    dead = sorted({m for (m, _), a in at.items() if a["degenerate"]})
    if dead:
        parts.append(f"degenerate (every pair scored alike): {', '.join(dead)}")
    blind = {m: a["blind_to"] for (m, k), a in at.items() if a["blind_to"] and k in (None, k0)}
    if blind:
        parts.append("scoring its maximum on lossy or foreign pairs: "
                     + ", ".join(f"{m} ({'/'.join(b)})" for m, b in sorted(blind.items())))
    tied = [(n, a["knn_ties"]) for n in sorted(cfg["n_samples"]) for a in agreement
            if a["n_samples"] == n and a["metric"] == "mutual_knn" and a["k"] == k0]
    if any(t > 0 for _, t in tied):
        parts.append("mutual_knn's lists tie at the k-th neighbour in " + ", ".join(
            f"{t:.0%} of the rows at N={n}" for n, t in tied) + " (duplicated states tie at cosine 1): there the "
            "k-NN metrics' numbers are partly tie-breaks")
    gauge = [t["stitch"] for t in truths if t["kind"] == "gauge"]
    parts.append(f"stitching loss of the gauge pairs <= {max(gauge):.1e}, of the others >= "
                 f"{min(t['stitch'] for t in truths if t['kind'] != 'gauge'):.3f}")
    return "; ".join(parts) + "."


def _split(label) -> list:
    """'metric@k=K' -> [metric, K] (K an int, or 'sqrt(N)'); 'metric' -> [metric, None]."""
    metric, _, k = label.partition("@k=")
    return [metric, (int(k) if k.isdigit() else k) if k else None]


def _plot_scores(scores, truths, metrics, cfg, path):
    plt = pyplot()
    big, k0 = max(cfg["n_samples"]), cfg["ks"][0]
    cols = 4
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    markers = {"gauge": "*", "merge": "o", "drop": "s", "noisy": "^", "world": "D"}
    for ax, metric in zip(axes.ravel(), metrics):
        for t in truths:
            s = [r["score"] for r in scores if r["n_samples"] == big and r["pair"] == t["pair"]
                 and r["metric"] == metric and r["k"] in (None, k0)]
            ax.scatter(t["stitch"], np.mean(s), marker=markers[t["kind"]], s=22, color="C0")
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("stitching loss (mean of both ways)", fontsize=7)
    for ax in axes.ravel()[len(metrics):]:
        ax.set_axis_off()
    fig.suptitle(f"score vs stitching loss at N={big} (k={k0}; * gauge, o merge, s drop, ^ noisy, D other world)",
                 fontsize=9)
    save_figure(fig, path)


def _plot_agreement(agreement, metrics, cfg, path):
    plt = pyplot()
    k0 = cfg["ks"][0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, metric in enumerate(metrics):
        sel = sorted((a for a in agreement if a["metric"] == metric and a["k"] in (None, k0) and "error" not in a),
                     key=lambda a: a["n_samples"])
        x = [a["n_samples"] * (1 + 0.01 * i) for a in sel]
        for ax, c, lo in ((axes[0], "auc", "auc"), (axes[1], "rho_stitch", "rho")):
            y = np.array([a[c] for a in sel])
            err = np.array([[a[c] - a[f"{lo}_lo"] for a in sel], [a[f"{lo}_hi"] - a[c] for a in sel]])
            ax.errorbar(x, y, yerr=np.maximum(err, 0), marker="o", ms=3, color=f"C{i % 10}",
                        ls="-" if i < 10 else ":", label=metric)
    axes[0].set_title("ROC-AUC: gauge pairs vs the rest (95 % bootstrap)", fontsize=9)
    axes[1].set_title("Spearman with -stitching loss (95 % bootstrap)", fontsize=9)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("N samples")
    legend_outside(axes[1], fontsize=6)  # one legend for both panels: the same metrics, the same colours
    save_figure(fig, path)


def _plot_k(agreement, knn_like, cfg, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for i, metric in enumerate(knn_like):
        for label, ls in [(k, "-") for k in cfg["ks"]] + [(SQRT, ":")]:
            sel = sorted((a for a in agreement if a["metric"] == metric and a["k"] == label and "error" not in a),
                         key=lambda a: a["n_samples"])
            if sel:
                ax.plot([a["n_samples"] for a in sel], [a["rho_stitch"] for a in sel], ls, marker="o", ms=3,
                        color=f"C{i}", label=f"{metric} k={label}")
    ax.set_xscale("log")
    ax.set_xlabel("N samples")
    ax.set_ylabel("Spearman with -stitching loss")
    legend_outside(ax, fontsize=5)
    save_figure(fig, path)
