"""metric_validity: do the alignment metrics rank representations by their true alignment, as N and k vary?

A product world (two lazy rings of `factor_states` states, with log-normal edge weights of spread `edge_noise` so that
no two states are exactly alike: a symmetric world's exact ties would leave k-NN lists to rounding) seen through
observations whose true alignment with the world is known exactly: a relabelling (1), merges of growing
coarseness, dropped factors and noisy channels. Each of N events drawn from the stationary distribution is
represented twice, by the world's and by the observation's exact optimal embedding (`representation`:
'spectral', whose Gram matrix is exp(K_PMI) = P / (p p^T); or 'infonce', the InfoNCE population optimum), and every
metric of alignment.METRICS scores the pair, raw and against the permutation
null of alignment.calibrate (null mean, z). The truth is the population alignment of the two sample kernels: the
p-weighted cosine of the centred exp-PMI kernels over the joint law of (state, observation),

    truth = E[(e^K_Z - 1)(z, z') (e^K_X - 1)(x, x')] / sqrt(E[(e^K_Z - 1)^2] E[(e^K_X - 1)^2]),

which is sqrt(chi2_X / chi2_Z) for deterministic maps (worlds.predicted_lossy_alignment; the exact cosine of
experiments/lossy.py) and includes the channel's own decorrelation for noisy ones; linear CKA of the spectral
embeddings converges to it as N grows. Reported per metric: Spearman rank agreement with the truth across
observations (raw score, calibrated z, score - null mean), and how scores and agreement move with N and k. Writes
metric_validity_scores.png, metric_validity_agreement.png (and metric_validity_k.png with several k) and a table.
Draws repeat states (always once N exceeds the number of states): the distinct states per N and the fraction of
rows whose k-NN lists tie at the k-th neighbour (alignment.TieWarning; each score row's `knn_ties`) are reported.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.runio import pyplot, save_figure

from .._checks import check_device
from ._common import NOT_CALIBRATED, calibrated, check_n_perm, null_fields, recorded_ties, table, tie_fraction

DEFAULTS = {
    "factor_states": 16,         # product of two lazy rings: N = factor_states^2 states (256)
    "edge_noise": 0.5,           # log-normal spread of the rings' edge weights (0: uniform rings, exactly symmetric)
    "window": 16,
    "merges": [2, 4, 8, 32, 64],  # merge this many consecutive states (colour pairs ... 2 and 4 whole shapes)
    "drops": True,               # shape only, colour only
    "noise": [0.1, 0.3, 0.6],    # NoisyChannel flip probabilities
    "representation": "spectral",  # spectral (Gram exp(K_PMI)) | infonce (InfoNCE population optimum)
    "n_samples": [100, 300, 1000],  # N events (full: [100, 1000, 10000, 100000]; 1e5 needs ~40 GB per Gram: GPU)
    "ks": [10],                  # k of the k-NN metrics and CKNNA (full: [5, 10, 50])
    "repeats": 2,                # independent draws of the N events
    "n_perm": 100,               # permutations of alignment.calibrate (0: no null; below 19: "not calibrated")
    "calibrate_max": 1000,       # the largest N that gets the null (each permutation costs one more evaluation)
    "cca_dim": 10,               # SVCCA dimensions (capped by both sides' ranks)
    "device": "cpu",             # torch device of the metrics (cuda for the 1e5 samples)
}
REPRESENTATIONS = ("spectral", "infonce")


def check(cfg: dict):
    from worlds import make_world

    name = "metric_validity"
    m = checks.check_int(cfg["factor_states"], "factor_states", name, 3, 32)
    n = m * m
    checks.check_int(cfg["window"], "window", name, 1)
    checks.check_real(cfg["edge_noise"], "edge_noise", name, 0, 5)
    if not isinstance(cfg["merges"], list):
        checks.fail(checks.param("merges", name), "be a list of ints", repr(cfg["merges"]))
    for i, k in enumerate(cfg["merges"]):
        checks.check_int(k, f"merges[{i}]", name, 2, n // 2)
    checks.check_bool(cfg["drops"], "drops", name)
    if not isinstance(cfg["noise"], list):
        checks.fail(checks.param("noise", name), "be a list of probabilities", repr(cfg["noise"]))
    for i, q in enumerate(cfg["noise"]):
        checks.check_prob(q, f"noise[{i}]", name, open_low=True)
    checks.check_choice(cfg["representation"], "representation", name, REPRESENTATIONS)
    checks.check_ints(cfg["n_samples"], "n_samples", name, 10)
    checks.check_ints(cfg["ks"], "ks", name, 1, min(cfg["n_samples"]) - 1)
    checks.check_int(cfg["repeats"], "repeats", name, 1)
    check_n_perm(cfg, name)
    checks.check_int(cfg["calibrate_max"], "calibrate_max", name, 0)
    checks.check_int(cfg["cca_dim"], "cca_dim", name, 1)
    check_device(cfg["device"], "device", name)
    if len(_observations(cfg, n, m)) < 3:
        checks.fail(checks.param("merges", name), "leave at least 3 observations with drops and noise (a rank "
                    "agreement needs them)", repr(cfg["merges"]))
    from worlds import product_world

    if cfg["edge_noise"] == 0:
        ring = make_world("ring", n_states=m, seed=cfg["seed"])
        return product_world(ring, ring)
    return product_world(*(make_world("weighted_ring", n_states=m, teleport=0.0, edge_noise=cfg["edge_noise"],
                                      seed=cfg["seed"] + 10 + i) for i in range(2)))


def _observations(cfg, n, m) -> dict:
    from worlds import DropFactor, Merge, NoisyChannel, Permutation

    obs = {"bijective": ("bijective", Permutation(n, seed=cfg["seed"] + 1))}
    obs.update({f"merge{k}": ("merge", Merge(np.arange(n) // k)) for k in cfg["merges"]})
    if cfg["drops"]:
        obs["shape_only"] = ("drop", DropFactor((m, m), drop=1))
        obs["colour_only"] = ("drop", DropFactor((m, m), drop=0))
    obs.update({f"noisy{q}": ("noisy", NoisyChannel(q, n)) for q in cfg["noise"]})
    return obs


def true_alignment(P: np.ndarray, PX: np.ndarray, O: np.ndarray) -> float:
    """The population cosine of the centred exp-PMI kernels of the world (P over states) and of an observation (PX
    over values, O = P(x | z)) over independent samples (z, x) ~ p(z) O(z, x)."""
    p, q = P.sum(1), PX.sum(1)
    G = P / np.outer(p, p) - 1
    H = PX / np.outer(q, q) - 1
    num = np.einsum("a,b,ab->", p, p, G * (O @ H @ O.T))
    return float(num / np.sqrt(np.einsum("a,b,ab->", p, p, G * G) * np.einsum("a,b,ab->", q, q, H * H)))


def spectral_embedding(P: np.ndarray) -> np.ndarray:
    """F with F F^T = P / (p p^T) = exp(K_PMI) (the spectral objective's optimum; negative eigenvalues of
    D^-1/2 P D^-1/2, where P is not PSD, are dropped: the rank-N Gram optimum)."""
    p = P.sum(1)
    s = np.sqrt(p)
    lam, V = np.linalg.eigh(P / np.outer(s, s))
    keep = lam > 1e-12 * lam.max()
    return V[:, keep] * np.sqrt(lam[keep]) / s[:, None]


def _embedding(P, cfg, seed):
    if cfg["representation"] == "spectral":
        return spectral_embedding(P)
    from ..population import population_optimum

    return population_optimum(P, "infonce", len(P), seed=seed).embeddings


def _score(metric, A, B, kw, cfg, N, seed, device):
    import torch

    import alignment

    ta, tb = torch.as_tensor(A, dtype=torch.float32, device=device), torch.as_tensor(B, dtype=torch.float32,
                                                                                       device=device)
    try:
        with recorded_ties() as ties:
            if cfg["n_perm"] and N <= cfg["calibrate_max"]:
                c = alignment.calibrate(ta, tb, metric, n_perm=cfg["n_perm"], seed=seed, **kw)
                out = {"score": float(c.score), **null_fields(c)}
            else:
                out = {"score": alignment.measure(metric, ta, tb, **kw), "null_mean": float("nan"), "z": float("nan")}
        return {**out, "knn_ties": tie_fraction(ties)}
    except ValueError as err:
        return {"score": float("nan"), "null_mean": float("nan"), "z": float("nan"), "error": str(err)[:200]}


def _rank(X) -> int:
    Xc = X - X.mean(0)
    s = np.linalg.svd(Xc, compute_uv=False)
    return int((s > 1e-6 * s[0]).sum()) if s.size and s[0] > 0 else 0


def run(cfg: dict, out: Path):
    from scipy.stats import spearmanr

    import alignment
    from worlds import predicted_lossy_alignment

    world = check(cfg)
    m, W = cfg["factor_states"], cfg["window"]
    n = world.n_states
    P = world.cooccurrence(W)
    P = P.toarray() if hasattr(P, "toarray") else P
    p = P.sum(1)
    obs = _observations(cfg, n, m)
    FZ = _embedding(P, cfg, cfg["seed"])
    reps, truths = {}, []
    for name, (kind, o) in obs.items():
        PX = o.pushforward(P, W)
        reps[name] = (o, _embedding(PX, cfg, cfg["seed"]))
        truths.append({"observation": name, "kind": kind, "n_obs": o.n_obs,
                       "truth": true_alignment(P, PX, o.matrix),
                       "predicted": predicted_lossy_alignment(P, PX) if o.deterministic else None})
    truth = {t["observation"]: t["truth"] for t in truths}
    metrics = list(alignment.METRICS)
    knn_like = [x for x in metrics if "k" in alignment.PARAMS[x]]
    scores = []  # one row per (N, repeat, observation, metric, k)
    cdf = np.cumsum(p)
    for N in cfg["n_samples"]:
        for rep in range(cfg["repeats"]):
            rng = np.random.default_rng([cfg["seed"], N, rep])
            z = np.minimum(np.searchsorted(cdf, rng.random(N) * cdf[-1], side="right"), n - 1)
            A = FZ[z]
            distinct = len(np.unique(z))
            for name, (o, FX) in reps.items():
                x = o.observe(z, seed=int(rng.integers(2 ** 31)))
                B = FX[x]
                cca = min(cfg["cca_dim"], _rank(A), _rank(B))
                for metric in metrics:
                    for k in (cfg["ks"] if metric in knn_like else [None]):
                        kw = alignment.metric_kwargs(metric, k=min(k or 1, N - 1), cca_dim=max(cca, 1))
                        s = _score(metric, A, B, kw, cfg, N, cfg["seed"] + rep, cfg["device"])
                        scores.append({"n_samples": N, "repeat": rep, "observation": name, "metric": metric,
                                       "k": k, "distinct_states": distinct, **s})
    agreement = _agreement(scores, truth, cfg, metrics, knn_like, spearmanr)
    means = _means(scores, truth)
    plots = ["metric_validity_scores.png", "metric_validity_agreement.png"]
    _plot_scores(means, truths, metrics, cfg, out / plots[0])
    _plot_agreement(agreement, metrics, cfg, out / plots[1])
    if len(cfg["ks"]) > 1:
        plots.append("metric_validity_k.png")
        _plot_k(agreement, knn_like, cfg, out / plots[2])
    big = max(cfg["n_samples"])
    k0 = cfg["ks"][0]
    top = [a for a in agreement if a["n_samples"] == big and a["k"] in (None, k0)]
    samples = [{"n_samples": N, **{f: float(np.mean([r[f] for r in scores if r["n_samples"] == N and
                                                     (f != "knn_ties" or r["metric"] in knn_like)]))
                                   for f in ("distinct_states", "knn_ties")}} for N in cfg["n_samples"]]
    text = "\n\n".join([
        table(truths, ["observation", "kind", "n_obs", "truth", "predicted"],
              f"True alignment with the world (product of two {m}-rings, edge_noise={cfg['edge_noise']}, N={n} "
              f"states, W={W})"),
        table(top, ["metric", "k", "spearman", "spearman_z", "spearman_excess", "pearson", "mean_abs_error"],
              f"Rank agreement with the truth across {len(truths)} observations at N={big} samples "
              f"({cfg['representation']} embeddings; z and excess = score - null mean from {cfg['n_perm']} "
              f"permutations where N <= {cfg['calibrate_max']})"),
        table([{"metric": a["metric"], "k": a["k"], **{f"N={r['n_samples']}": r["spearman"] for r in agreement
                                                        if r["metric"] == a["metric"] and r["k"] == a["k"]}}
               for a in agreement if a["n_samples"] == big],
              ["metric", "k", *[f"N={x}" for x in cfg["n_samples"]]], "Spearman with the truth by N"),
        table([{"observation": t["observation"], "truth": t["truth"],
                **{f"{mm}@{big}": means[big, k0 if mm in knn_like else None, t["observation"], mm]["score"]
                   for mm in ("mutual_knn", "cka", "cknna", "svcca")}} for t in truths],
              ["observation", "truth", *[f"{mm}@{big}" for mm in ("mutual_knn", "cka", "cknna", "svcca")]],
              f"Mean scores at N={big} (k={k0})"),
        table(samples, ["n_samples", "distinct_states", "knn_ties"], f"Samples: distinct states among the N draws "
              f"(of {n}; the rest are duplicated rows) and the mean fraction of rows whose k-NN lists tie at the k-th "
              "neighbour (duplicates tie exactly: their order there is the tie-break by index)"),
    ])
    finding = _finding(agreement, cfg)
    text += "\n\n" + finding
    results = {"n_states": n, "window": W, "representation": cfg["representation"], "truths": truths,
               "finding": finding,
               "agreement": agreement, "scores": [{k: v for k, v in r.items()} for r in scores],
               "distinct_states": {str(r["n_samples"]): r["distinct_states"] for r in samples},
               "knn_ties": {str(r["n_samples"]): r["knn_ties"] for r in samples},
               "plots": plots}
    return results, text


def _finding(agreement, cfg) -> str:
    """What the run found, from its numbers: the best and worst rank agreement at the largest N, which metrics gain
    or lose agreement as N grows, and what calibration does to it."""
    Ns = sorted(cfg["n_samples"])
    k0 = cfg["ks"][0]
    at = {(a["metric"], a["n_samples"]): a for a in agreement if a["k"] in (None, k0)}
    metrics = sorted({m for m, _ in at})
    big = [(at[m, Ns[-1]]["spearman"], m) for m in metrics if np.isfinite(at[m, Ns[-1]]["spearman"])]
    if not big:
        return ""
    big.sort(reverse=True)
    parts = [f"at N={Ns[-1]} (k={k0}) Spearman with the truth: best {big[0][1]} {big[0][0]:.3f}, worst "
             f"{big[-1][1]} {big[-1][0]:.3f}"]
    if len(Ns) > 1:
        delta = {m: at[m, Ns[-1]]["spearman"] - at[m, Ns[0]]["spearman"] for m in metrics}
        up = [m for m, d in delta.items() if d > 0.05]
        down = [m for m, d in delta.items() if d < -0.05]
        if up:
            parts.append(f"rising with N ({Ns[0]} -> {Ns[-1]}): {', '.join(up)}")
        if down:
            knn = [m for m in down if "k" in _params(m)]
            why = (" (at fixed k a k-NN list covers a shrinking share of the samples: duplicates of one state or "
                   "merged class fill it)" if knn else "")
            parts.append(f"falling with N: {', '.join(down)}{why}")
    z = [(at[m, n]["spearman_z"], at[m, n]["spearman_excess"], at[m, n]["spearman"]) for m in metrics for n in Ns
         if at[m, n]["spearman_z"] != NOT_CALIBRATED and np.isfinite(at[m, n]["spearman_z"])]
    if z:
        worse_z = sum(a < c - 0.05 for a, _, c in z)
        worse_x = sum(b < c - 0.05 for _, b, c in z if np.isfinite(b))
        parts.append(f"ranking by the calibrated z instead of the raw score lowers the agreement in {worse_z} of "
                     f"{len(z)} (metric, N) cases (z divides by a null spread that differs between observations), "
                     f"ranking by score - null mean in {worse_x}")
    return "; ".join(parts) + "."


def _params(metric) -> dict:
    import alignment

    return dict(alignment.PARAMS[metric])


def _means(scores, truth) -> dict:
    out = {}
    keys = {(r["n_samples"], r["k"], r["observation"], r["metric"]) for r in scores}
    for key in keys:
        sel = [r for r in scores if (r["n_samples"], r["k"], r["observation"], r["metric"]) == key]
        out[key] = {f: float(np.nanmean([r[f] for r in sel])) if any(np.isfinite(r[f]) for r in sel)
                    else float("nan") for f in ("score", "null_mean", "z")
                    if not any(isinstance(r[f], str) for r in sel)}
        out[key]["std"] = float(np.nanstd([r["score"] for r in sel])) if len(sel) > 1 else 0.0
    return out


def _agreement(scores, truth, cfg, metrics, knn_like, spearmanr) -> list:
    means = _means(scores, truth)
    names = list(truth)
    t = np.array([truth[x] for x in names])
    rows = []
    for N in cfg["n_samples"]:
        for metric in metrics:
            for k in (cfg["ks"] if metric in knn_like else [None]):
                s, null = (np.array([means[N, k, x, metric][f] for x in names]) for f in ("score", "null_mean"))
                z = np.array([means[N, k, x, metric].get("z", np.nan) for x in names])

                def sp(v):
                    ok = np.isfinite(v)
                    return float(spearmanr(v[ok], t[ok])[0]) if ok.sum() >= 3 and np.ptp(v[ok]) > 0 else float("nan")
                ok = np.isfinite(s)
                rows.append({"n_samples": N, "metric": metric, "k": k, "spearman": sp(s),
                             "spearman_z": sp(z) if calibrated(cfg["n_perm"]) else NOT_CALIBRATED,
                             "spearman_excess": sp(s - null),
                             "pearson": float(np.corrcoef(s[ok], t[ok])[0, 1]) if ok.sum() >= 3 and np.ptp(s[ok]) > 0
                             else float("nan"),
                             "mean_abs_error": float(np.mean(np.abs(s[ok] - t[ok]))) if ok.any() else float("nan"),
                             "score_std": float(np.mean([means[N, k, x, metric]["std"] for x in names]))})
    return rows


def _plot_scores(means, truths, metrics, cfg, path):
    plt = pyplot()
    big, k0 = max(cfg["n_samples"]), cfg["ks"][0]
    cols = 4
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    markers = {"bijective": "*", "merge": "o", "drop": "s", "noisy": "^"}
    for ax, metric in zip(axes.ravel(), metrics):
        for N, alpha in zip(sorted(cfg["n_samples"]), np.linspace(0.3, 1, len(cfg["n_samples"]))):
            for t in truths:
                key = (N, k0 if (N, k0, t["observation"], metric) in means else None, t["observation"], metric)
                ax.scatter(t["truth"], means[key]["score"], marker=markers[t["kind"]], alpha=alpha, s=18,
                           color="C0" if N == big else "gray")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("true alignment", fontsize=7)
    for ax in axes.ravel()[len(metrics):]:
        ax.set_axis_off()
    fig.suptitle(f"score vs truth (blue: N={big}; grey: smaller N; k={k0})", fontsize=9)
    save_figure(fig, path)


def _plot_agreement(agreement, metrics, cfg, path):
    plt = pyplot()
    k0 = cfg["ks"][0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, metric in enumerate(metrics):
        sel = sorted((a for a in agreement if a["metric"] == metric and a["k"] in (None, k0)),
                     key=lambda a: a["n_samples"])
        x = [a["n_samples"] for a in sel]
        axes[0].plot(x, [a["spearman"] for a in sel], "-o", color=f"C{i}", label=metric)
        axes[0].plot(x, [a["spearman_excess"] for a in sel], ":", color=f"C{i}")
        axes[1].plot(x, [a["mean_abs_error"] for a in sel], "-o", color=f"C{i}", label=metric)
    axes[0].set_title("Spearman with the truth (solid: raw; dotted: score - null mean)", fontsize=9)
    axes[1].set_title("mean |score - truth|", fontsize=9)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("N samples")
        ax.legend(fontsize=6)
    save_figure(fig, path)


def _plot_k(agreement, knn_like, cfg, path):
    plt = pyplot()
    big = max(cfg["n_samples"])
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for i, metric in enumerate(knn_like):
        sel = sorted((a for a in agreement if a["metric"] == metric and a["n_samples"] == big), key=lambda a: a["k"])
        ax.plot([a["k"] for a in sel], [a["spearman"] for a in sel], "-o", color=f"C{i}", label=metric)
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel(f"Spearman with the truth (N={big})")
    ax.legend(fontsize=7)
    save_figure(fig, path)
