"""objectives: do different training objectives reach the same representation, and which metrics say so?

Every objective of learners.objectives (infonce, nce, skipgram, spectral, next_event, regression, vicreg) on the same
world: (1) exactly, its population optimum (L-BFGS on the exact loss) against its analytic target (modulo its gauge)
and the optima against each other: the finest relation that holds between two analytic optima (affine, additive
u(a) + u(b), the same neighbour order in every row, nested spans, or none) beside what each alignment metric scores
on the population optima (the k-NN metrics as the paper computes them, by cosine similarity of the optimal
embeddings, or with knn_on='kernel' by ranking the raw kernel values; CKA and CKNNA on the kernels; SVCCA and the
CKA of p-whitened embeddings, both invariant to invertible linear maps, on the embeddings), and which metrics call
them aligned (score >= aligned_at). Each pair is also judged in its gauge: what either objective leaves free
(alignment.TRANSFORMS: infonce a constant, next_event and vicreg u(a) + u(b), regression an invertible linear map)
plus what relates their analytic optima (affine: shift and scale; additive; row order: monotone; nested spans:
linear) names the transforms a fair metric must ignore, and only the metrics invariant to all of them
(alignment.INVARIANCES at the level they are computed on) give the verdict (agree, split, disagree, no invariant
metric, or no common gauge where the optima differ); p_centred_pearson compares the p-double-centred kernels
(u(a) + u(b) + c removed). No number comes from tied k-NN lists: where they tie at the k-th neighbour, every score
of a metric taking k reads "tied". (2) trained, one Lightning learner per objective and bijective modality, its
learned kernel against its target, and the cross-modal alignment matrix of the learned representations (every
feature-level metric, with the permutation null of alignment.calibrate: score, null mean, z, p, calibrated score;
"not calibrated" in place of the last three with fewer than 19 permutations). Each pair records the
largest fraction of rows whose k-NN lists tie at the k-th neighbour (`knn_ties`, from alignment.TieWarning): on the
symmetric torus a row's neighbours come in tie groups (4, 4, 4, 8, ...), so its k-NN scores would be set by symmetry
and tie-breaks; the default weighted torus has no ties. Writes objectives_matrix.png (alignment
matrices) and objectives_targets.png (learned vs analytic kernels).
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from platonic_core import checks
from platonic_core.runio import pyplot, save_figure
from worlds import OBSERVATIONS
from worlds.observations import BIJECTIVE
from worlds.summary import summarise

from ..objectives import NAMES
from ._common import (check_fits, check_world, fit_in, null_fields, recorded_ties, scaled, table,
                      tie_fraction)

DEFAULTS = {
    "world": "weighted_torus",   # 8 x 8 torus, random edge weights (no exact k-NN ties; 'torus' has them): P_coor PSD,
                                 # K_PMI PSD-able at W = 16 (every optimum reachable)
    "window": 16,
    "objectives": ["infonce", "nce", "skipgram", "spectral", "next_event", "regression", "vicreg"],
    "modalities": ["permutation", "vector"],  # bijective: permutation (embedding table), vector (MLP), token (text)
    "dim": 64,                   # = N: the critic objectives' optima are closed forms at full rank
    "dims": {"regression": 5, "vicreg": 4},  # rank-limited objectives (closed forms; vicreg's needs dim <= 5 here)
    "nce_negatives": 16,         # K explicit negatives for nce
    "skipgram_negatives": 5,     # word2vec's K
    "learn_bias": True,          # nce and skipgram with a learnable offset (without it their optima are never PSD)
    "batch_size": 512,
    "steps": 1500,               # x --scale
    "lr": {"permutation": 0.01, "vector": 0.003, "token": 0.003},
    "k": 8,                      # neighbours of the k-NN metrics and CKNNA
    "knn_on": "features",        # k-NN metrics of the optima: features (cosine, the paper's) | kernel (raw values)
    "cca_dim": 3,                # SVCCA dimensions (< the smallest dim)
    "n_perm": 100,               # permutations of alignment.calibrate per learned pair (0: no null; below 19 z, p
                                 # and the calibrated score read "not calibrated")
    "aligned_at": 0.9,           # a metric calls two representations aligned at or above this score
    "unreachable": "error",      # an objective whose optimum no Gram critic reaches on this world: error | cap
    "scale": 1.0,                # multiplies steps (--scale 0.05 for a smoke test)
    "accelerator": "auto",       # Lightning accelerator: GPU when present
}
RANKED = ("spectral", "regression", "vicreg")  # objectives whose target is the rank-dim closed form
KNN_ON = ("features", "kernel")
TIED = "tied"  # in place of a k-NN score decided by ties at the k-th neighbour
# the transforms (alignment.TRANSFORMS) an objective's gauge leaves free, and those relating two analytic optima
GAUGE_FREES = {"none": (), "constant": ("shift",), "additive": ("additive", "shift"), "linear": ("linear",)}
RELATION_FREES = {"affine": ("shift", "scale"), "additive": ("additive", "shift", "scale"), "row order": ("monotone",),
                  "nested spans": ("linear",)}


def _dim(cfg, name, n):
    return min(cfg["dims"].get(name, cfg["dim"]), n)


def _kw(cfg, name) -> dict:
    """The objective's own options for fit, population_optimum and target."""
    kw = {}
    if name == "skipgram":
        kw["negatives"] = cfg["skipgram_negatives"]
    if name in ("nce", "skipgram"):
        kw["learn_bias"] = cfg["learn_bias"]
    return kw


def _plan(cfg: dict, world) -> list:
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    plan = []
    for i, m in enumerate(cfg["modalities"]):
        for name in cfg["objectives"]:
            kw = dict(loss=name, dim=_dim(cfg, name, world.n_states), window=cfg["window"],
                      batch_size=cfg["batch_size"], lr=cfg["lr"][m], max_steps=steps, seed=cfg["seed"],
                      accelerator=cfg["accelerator"], **_kw(cfg, name))
            if name == "nce":
                kw["negatives"] = cfg["nce_negatives"]
            plan.append(((name, m), OBSERVATIONS[m](world.n_states, seed=cfg["seed"] + 1 + i), kw))
    return plan


def check(cfg: dict):
    from .. import objectives as obj

    name = "objectives"
    world = check_world(cfg, name, window_low=1)
    n = world.n_states
    checks.check_subset(cfg["objectives"], "objectives", name, NAMES)
    checks.check_subset(cfg["modalities"], "modalities", name, BIJECTIVE)
    for key, value in cfg["dims"].items():
        checks.check_choice(key, "dims", name, NAMES)
        checks.check_int(value, f"dims[{key!r}]", name, 1, n - (key == "vicreg"))
    checks.check_int(cfg["dim"], "dim", name, 1)
    checks.check_int(cfg["nce_negatives"], "nce_negatives", name, 1)
    checks.check_int(cfg["skipgram_negatives"], "skipgram_negatives", name, 1)
    checks.check_bool(cfg["learn_bias"], "learn_bias", name)
    checks.check_choice(cfg["knn_on"], "knn_on", name, KNN_ON)
    checks.check_int(cfg["cca_dim"], "cca_dim", name, 1, min(_dim(cfg, o, n) for o in cfg["objectives"]) - 1,
                     hint="[1, the smallest learner dim - 1]")
    checks.check_n_perm(cfg["n_perm"], "n_perm", name)
    checks.check_real(cfg["aligned_at"], "aligned_at", name, -1, 1)
    checks.check_choice(cfg["unreachable"], "unreachable", name, ("error", "cap"))
    for m in cfg["modalities"]:
        if m not in cfg["lr"]:
            checks.fail(checks.param("lr", name), f"give a learning rate for every modality ({m!r} has none)",
                        repr(cfg["lr"]))
    check_fits(_plan(cfg, world))
    P = world.cooccurrence(cfg["window"])
    P = P.toarray() if hasattr(P, "toarray") else P
    from .._checks import check_cooccurrence

    check_cooccurrence(P, name)
    if cfg["unreachable"] == "error":
        bad = []
        for o in cfg["objectives"]:
            ok, why = obj.reachable(P, o, dim=_dim(cfg, o, n), **_kw(cfg, o))
            if not ok:
                bad.append(f"{o} ({why.split('. Got')[0]})")
        if bad:
            checks.fail(checks.param("world", name), f"let a Gram critic reach every objective's optimum at "
                        f"window={cfg['window']} (set unreachable='cap' to report the capped optima instead, or "
                        f"drop them from 'objectives'); unreachable: {'; '.join(bad)}", repr(cfg["world"]))
    return world, P


def relation(Ka, Kb, p, tol=1e-6) -> str:
    """The finest relation between two kernels (N, N), up to tol: 'affine' (Kb = alpha Ka + beta off the diagonal),
    'additive' (equal after double centring under p: Kb = alpha Ka + u(a) + u(b)), 'row order' (the same neighbour
    order in every row: Kb is non-decreasing along each row of Ka sorted, entries tied within tol in any order),
    'nested spans' (both of rank < N and the smaller range inside the larger), or 'different'."""
    n = len(p)
    off = ~np.eye(n, dtype=bool)
    if np.corrcoef(Ka[off], Kb[off])[0, 1] > 1 - tol:
        return "affine"
    H = np.eye(n) - np.outer(np.ones(n), p)
    ca, cb = H @ Ka @ H.T, H @ Kb @ H.T
    if np.corrcoef(ca.ravel(), cb.ravel())[0, 1] > 1 - tol:
        return "additive"
    slack = 0.0
    for i in range(n):
        a, b = Ka[i, off[i]], Kb[i, off[i]]
        order = np.argsort(a, kind="stable")
        slack = max(slack, float(np.max(np.maximum.accumulate(b[order]) - b[order])) / (np.ptp(b) or 1.0))
    if slack < 1e-4:
        return "row order"
    spans = []
    for K in (Ka, Kb):
        w, E = np.linalg.eigh((K + K.T) / 2)
        spans.append(E[:, np.abs(w) > 1e-9 * np.abs(w).max()])
    small, large = sorted(spans, key=lambda s: s.shape[1])
    if large.shape[1] < n and np.linalg.norm(large.T @ small) ** 2 > small.shape[1] * (1 - tol):
        return "nested spans"
    return "different"


def run(cfg: dict, out: Path):
    import torch

    import alignment

    from .. import objectives as obj
    from ..multitask import whiten
    from ..population import population_loss, population_optimum
    from ..report import compare

    world, P = check(cfg)
    W, N = cfg["window"], world.n_states
    p = P.sum(1)
    steps = scaled(cfg["steps"], cfg["scale"], 20)
    f64 = {"dtype": torch.float64}
    names = cfg["objectives"]

    # (1) exact: population optima against their targets and against each other
    exact, pops, targets = [], {}, {}
    for name in names:
        d = _dim(cfg, name, N)
        kw = _kw(cfg, name)
        ok, why = obj.reachable(P, name, dim=d, **kw)
        opt = population_optimum(P, name, d, seed=cfg["seed"], **kw)
        pops[name] = opt
        try:
            t = targets[name] = obj.target(P, name, d if name in RANKED else None, **kw)
            c = compare(obj.canonical(opt.kernel, name, P, d), obj.canonical(t, name, P, d))
            agree = {"target_pearson": c["pearson_offdiag"], "target_rel_error": c["rel_error"]}
        except ValueError as err:
            targets[name] = None
            agree = {"target_pearson": float("nan"), "target_rel_error": float("nan"), "target_error": str(err)}
        closed = opt.gap  # the loss above the analytic optimum at this rank (the unconstrained bound for critics)
        if name == "regression":
            closed = opt.loss - opt.extra["rank_bound"]
        elif name == "spectral" and targets[name] is not None:
            closed = opt.loss - float(population_loss(targets[name], P, "spectral")[0])
        exact.append({"objective": name, "dim": d, "gauge": obj.get(name).gauge, "reachable": ok, "condition": why,
                      "optimum": obj.get(name).optimum, **agree, "gap": opt.gap, "closed_form_gap": closed,
                      "loss": opt.loss, "converged": opt.converged})
    metrics_k = [m for m in alignment.KERNEL_METRICS]
    white = {name: whiten(pops[name].embeddings, p) for name in names}
    pairs = []
    for a, b in combinations(names, 2):
        Ka, Kb = pops[a].kernel, pops[b].kernel
        with recorded_ties() as ties:
            scores = {m: _optima_score(m, pops[a], pops[b], cfg) for m in metrics_k}
        cca = min(cfg["cca_dim"], pops[a].embeddings.shape[1] - 1, pops[b].embeddings.shape[1] - 1)
        try:
            scores["svcca"] = alignment.svcca(pops[a].embeddings, pops[b].embeddings, cca_dim=cca, **f64)
        except ValueError:
            scores["svcca"] = float("nan")
        scores["whitened_cka"] = alignment.cka(white[a], white[b], **f64)
        exact_a = targets[a] if targets[a] is not None else Ka  # the analytic optima (their canonical gauge)
        exact_b = targets[b] if targets[b] is not None else Kb
        tied = tie_fraction(ties)
        _untie(scores, tied)
        rel = relation(exact_a, exact_b, p)
        frees = sorted({*GAUGE_FREES[obj.get(a).gauge], *GAUGE_FREES[obj.get(b).gauge], *RELATION_FREES.get(rel, ())})
        numbers = {m: v for m, v in scores.items() if v != TIED}
        pairs.append({"pair": f"{a}/{b}", "relation": rel, "pearson": _pearson(Ka, Kb),
                      "p_centred_pearson": _pearson(*(_p_centred(K, p) for K in (Ka, Kb)), offdiag=False),
                      **scores, "knn_ties": tied,
                      "aligned_by": [m for m, v in numbers.items() if v >= cfg["aligned_at"]],
                      "not_aligned_by": [m for m, v in numbers.items() if not v >= cfg["aligned_at"]],
                      **_in_gauge(rel, frees, numbers, cfg)})

    metric_names = [*metrics_k, "svcca", "whitened_cka"]
    by_relation = []
    for rel in ("affine", "additive", "row order", "nested spans", "different"):
        sel = [r for r in pairs if r["relation"] == rel]
        if sel:
            by_relation.append({"relation": rel, "pairs": len(sel),
                                **{m: float(np.mean([m in r["aligned_by"] for r in sel])) for m in metric_names}})

    # (2) trained: one learner per objective and modality
    fits, learned = {}, []
    for (name, m), o, kw in _plan(cfg, world):
        r = fit_in(out, f"{name}-{m}", world, o, cfg["fresh"], **kw)
        fits[name, m] = r
        d = kw["dim"]
        row = {"objective": name, "modality": m, "encoder": type(r.module.encoder).__name__, "dim": d}
        if targets[name] is not None:
            target = obj.canonical(targets[name], name, P, d)
            c = compare(obj.canonical(r.state_kernel, name, P, d), target)
            row.update(target_pearson=c["pearson_offdiag"], target_spearman=c["spearman_offdiag"],
                       target_rel_error=c["rel_error"],
                       population_pearson=_pearson(obj.canonical(pops[name].kernel, name, P, d), target))
        learned.append({**row, "pearson_curve": r.history["pearson"]})
    mods = cfg["modalities"]
    ma, mb = mods[0], mods[-1]
    for row in learned:  # the same objective on the two modalities, modulo its own gauge
        if row["modality"] == ma and ma != mb:
            name, d = row["objective"], row["dim"]
            row["cross_modal_pearson"] = _pearson(obj.canonical(fits[name, ma].state_kernel, name, P, d),
                                                  obj.canonical(fits[name, mb].state_kernel, name, P, d))
    feat_metrics = list(alignment.METRICS)
    white = {key: whiten(r.state_embeddings, p) for key, r in fits.items()}
    matrix = []
    for a in names:
        for b in names:
            fa, fb = fits[a, ma].state_embeddings, fits[b, mb].state_embeddings
            row = {"a": f"{a}/{ma}", "b": f"{b}/{mb}"}
            with recorded_ties() as ties:
                _learned_scores(row, fa, fb, feat_metrics, cfg)
            row["knn_ties"] = tie_fraction(ties)
            _untie(row, row["knn_ties"])
            Ka, Kb = fits[a, ma].state_kernel, fits[b, mb].state_kernel
            row["pearson"] = _pearson(Ka, Kb)
            row["whitened_cka"] = alignment.cka(white[a, ma], white[b, mb], **f64)
            matrix.append(row)

    _plot_matrix(names, pairs, matrix, cfg, out / "objectives_matrix.png")
    _plot_targets(names, fits, targets, P, ma, cfg, N, out / "objectives_targets.png")
    text = "\n\n".join([
        table(exact, ["objective", "dim", "gauge", "reachable", "target_pearson", "target_rel_error", "gap",
                      "closed_form_gap"],
              f"Population optima vs analytic targets ({world.name}, N={N}, W={W}; Pearson of the kernels modulo "
              "each objective's gauge; gap: loss minus the unconstrained bound; closed_form_gap: minus the loss of "
              "the closed-form optimum at this rank)"),
        table(pairs, ["pair", "relation", "pearson", "mutual_knn", "lcs_knn", "cknna", "cka", "unbiased_cka", "svcca",
                      "whitened_cka", "knn_ties"],
              f"Optima against each other (k-NN metrics, k={cfg['k']}, "
              + ("by cosine on the embeddings" if cfg["knn_on"] == "features" else "ranking the raw kernels")
              + "; cka, cknna on the kernels; svcca and whitened_cka, the CKA of p-whitened embeddings (invariant to "
              "invertible linear maps), on the embeddings; knn_ties: the largest fraction of rows tied at the k-th "
              "neighbour)"),
        table([{"pair": r["pair"], "relation": r["relation"], "aligned_by": ",".join(r["aligned_by"]),
                "not_aligned_by": ",".join(r["not_aligned_by"])} for r in pairs],
              ["pair", "relation", "aligned_by", "not_aligned_by"], f"Which metrics call them aligned (score >= "
              f"{cfg['aligned_at']})"),
        table(by_relation, ["relation", "pairs", *metric_names], "Share of the pairs of each relation that each "
              "metric calls aligned"),
        table([{**r, "gauge_metrics": ",".join(r["gauge_metrics"])} for r in pairs],
              ["pair", "relation", "gauge", "in_gauge", "gauge_metrics", "p_centred_pearson"],
              "Optima in their gauges: what either objective leaves free plus what relates their analytic optima "
              "(alignment.TRANSFORMS), judged only by the metrics invariant to all of it (agree: all call them "
              f"aligned at {cfg['aligned_at']}); p_centred_pearson: Pearson of the p-double-centred kernels "
              "(u(a) + u(b) + c removed)"),
        table(learned, ["objective", "modality", "dim", "target_pearson", "target_spearman", "population_pearson",
                        "cross_modal_pearson"],
              f"Learned kernels vs analytic targets ({steps} steps; modulo the gauge; cross_modal_pearson: the "
              f"{ma} learner vs the {mb} one, modulo the gauge)"),
        table(matrix, ["a", "b", "pearson", "mutual_knn", "cka", "svcca", "whitened_cka", "knn_ties"]
              + (["cka_z", "cka_p", "mutual_knn_z", "mutual_knn_calibrated"] if cfg["n_perm"] else []),
              f"Learned representations across modalities ({ma} x {mb}; n_perm={cfg['n_perm']})"),
    ])
    finding = _finding(exact, pairs, by_relation, learned, cfg)
    text += "\n\n" + finding
    results = {"world": summarise(world, W), "steps": steps, "exact": exact, "exact_pairs": pairs,
               "by_relation": by_relation, "finding": finding,
               "learned": learned, "learned_matrix": matrix,
               "plots": ["objectives_matrix.png", "objectives_targets.png"]}
    return results, text


def headline(results: dict) -> tuple[str, int]:
    """The key number of a run: how many pairs of optima agree in their gauge (by every metric invariant to it)."""
    pairs = results["exact_pairs"]
    return f"pairs of optima that agree in their gauge (of {len(pairs)})", sum(r["in_gauge"] == "agree" for r in pairs)


def _finding(exact, pairs, by_relation, learned, cfg) -> str:
    """One paragraph of what the run found, from its numbers."""
    parts = []
    ok = [r["target_pearson"] for r in exact if np.isfinite(r["target_pearson"])]
    if ok:
        parts.append(f"population optima vs analytic targets: min Pearson {min(ok):.6f} over {len(ok)} objectives")
    everything = [m for m in by_relation[0] if m not in ("relation", "pairs")] if by_relation else []
    always = [m for m in everything if all(r[m] == 1.0 for r in by_relation)]
    never = [m for m in everything if all(r[m] == 0.0 for r in by_relation)]
    if always:
        parts.append(f"{', '.join(always)} call every pair of optima aligned (>= {cfg['aligned_at']})")
    if never:
        parts.append(f"{', '.join(never)} call none aligned, not even affinely related kernels")
    mono = [r for r in pairs if r["relation"] == "row order"]
    if mono:
        r = mono[0]
        parts.append(f"{r['pair']} have the same neighbour order in every row (a monotone transform): "
                     + ", ".join(f"{m} {r[m]:.3f}" if r[m] != TIED else f"{m} {TIED}"
                                 for m in ("mutual_knn", "cka", "unbiased_cka")))
    verdicts = {v: [r["pair"] for r in pairs if r["in_gauge"] == v] for v in
                ("agree", "split", "disagree", "no invariant metric", "no common gauge")}
    parts.append("judged only by metrics invariant to their gauge, " + "; ".join(
        f"{v}: {', '.join(x)}" for v, x in verdicts.items() if x))
    tied = [r for r in pairs if r["knn_ties"] > 0]
    if tied:
        parts.append(f"k-NN lists of the optima tie at the k-th neighbour in {len(tied)} of {len(pairs)} pairs (up to "
                     f"{max(r['knn_ties'] for r in tied):.0%} of the rows): there their k-NN scores are tie-breaks")
    got = [r["target_pearson"] for r in learned if "target_pearson" in r]
    if got:
        worst = min((r for r in learned if "target_pearson" in r), key=lambda r: r["target_pearson"])
        parts.append(f"learned kernels vs targets: Pearson {min(got):.4f} ({worst['objective']}/{worst['modality']}) "
                     f"to {max(got):.4f}")
    return "; ".join(parts) + "." if parts else ""


def _optima_score(metric, opt_a, opt_b, cfg) -> float:
    """A metric on two population optima: the k-NN metrics on the embeddings by cosine (knn_on='features', the
    paper's) or on the raw kernels (knn_on='kernel', blind to any constant shift c), the others on the kernels."""
    import torch

    import alignment

    kw = {**alignment.metric_kwargs(metric, k=cfg["k"]), "dtype": torch.float64}
    if metric.endswith("_knn") and cfg["knn_on"] == "features":
        return alignment.measure(metric, opt_a.embeddings, opt_b.embeddings, **kw)
    return alignment.measure_kernels(metric, opt_a.kernel, opt_b.kernel, **kw)


def _learned_scores(row, fa, fb, metrics, cfg) -> None:
    """Each metric on two learned representations into row: the score and, with n_perm, its null mean, z, p and
    calibrated score (see _common.null_fields)."""
    import torch

    import alignment

    for metric in metrics:
        kw = {**alignment.metric_kwargs(metric, k=cfg["k"], cca_dim=cfg["cca_dim"]), "dtype": torch.float64}
        try:
            if cfg["n_perm"]:
                cal = alignment.calibrate(fa, fb, metric, n_perm=cfg["n_perm"], seed=cfg["seed"], **kw)
                row[metric] = float(cal.score)
                row.update({f"{metric}_{f}": v for f, v in null_fields(cal).items()})
            else:
                row[metric] = alignment.measure(metric, fa, fb, **kw)
        except ValueError as err:
            row[metric], row[f"{metric}_error"] = float("nan"), str(err)


def _pearson(a, b, offdiag=True) -> float:
    """Pearson correlation of the off-diagonal (or all) entries of two N x N kernels."""
    off = ~np.eye(len(a), dtype=bool) if offdiag else np.ones(a.shape, dtype=bool)
    return float(np.corrcoef(a[off], b[off])[0, 1])


def _untie(row, tied) -> None:
    """Where k-NN lists tied at the k-th neighbour (tied > 0), every number of a metric that takes k (its score,
    null mean, z, p, calibrated score) in row becomes TIED: tie-breaks, not the representations, decided it."""
    import alignment

    if tied:
        knn = [m for m in alignment.METRICS if "k" in alignment.PARAMS[m]]
        row.update({key: TIED for key in row for m in knn if key == m or key.startswith(f"{m}_")})


def _p_centred(K, p) -> np.ndarray:
    """K double-centred under p, H K H^T with H = I - 1 p^T: removes any u(a) + u(b) + c (next_event's and vicreg's
    gauge, InfoNCE's constant)."""
    H = np.eye(len(p)) - np.outer(np.ones(len(p)), p)
    return H @ K @ H.T


def _invariant(metric, frees, cfg) -> bool:
    """Whether `metric`, as this experiment scores optima, is invariant to every transform in frees
    (alignment.INVARIANCES at the level it is computed on; whitened_cka: p-whitening removes shifts and linear maps)."""
    import alignment

    if metric == "whitened_cka":
        return set(frees) <= {"shift", "linear", "orthogonal", "scale"}
    level = "features" if metric == "svcca" or (metric.endswith("_knn") and cfg["knn_on"] == "features") else "kernel"
    return all(alignment.INVARIANCES[level][metric][t] is True for t in frees)


def _in_gauge(rel, frees, numbers, cfg) -> dict:
    """The pair judged only by metrics invariant to its gauge (what either objective leaves free and what relates
    their analytic optima): agree (all call it aligned), disagree (none does), split, no invariant metric, or no
    common gauge (the analytic optima differ)."""
    fair = [m for m in numbers if _invariant(m, frees, cfg)]
    ok = [m for m in fair if numbers[m] >= cfg["aligned_at"]]
    verdict = ("no common gauge" if rel == "different" else "no invariant metric" if not fair else
               "agree" if len(ok) == len(fair) else "disagree" if not ok else "split")
    return {"gauge": ",".join(frees) or "none", "gauge_metrics": fair, "in_gauge": verdict}


def _plot_matrix(names, pairs, matrix, cfg, path):
    plt = pyplot()
    n = len(names)
    panels = [("exact: cka", {}), ("exact: mutual_knn", {}), ("exact: whitened_cka", {}), ("learned: cka", {}),
              ("learned: mutual_knn", {}), ("learned: whitened_cka", {})]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.6))
    idx = {x: i for i, x in enumerate(names)}
    for i_ax, (ax, (title, _)) in enumerate(zip(axes.ravel(), panels)):
        kind, metric = title.split(": ")
        M = np.eye(n)
        if kind == "exact":
            for r in pairs:
                a, b = r["pair"].split("/")
                M[idx[a], idx[b]] = M[idx[b], idx[a]] = r[metric] if r[metric] != TIED else np.nan
        else:
            for r in matrix:
                M[idx[r["a"].split("/")[0]], idx[r["b"].split("/")[0]]] = r[metric] if r[metric] != TIED else np.nan
        im = ax.imshow(M, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(n), names if i_ax >= 3 else [], rotation=90, fontsize=7)
        ax.set_yticks(range(n), names if i_ax % 3 == 0 else [], fontsize=7)
        ax.set_title(title, fontsize=9)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
    axes[0, 0].set_ylabel("exact (population optima)")
    axes[1, 0].set_ylabel(f"learned ({cfg['modalities'][0]} x {cfg['modalities'][-1]})")
    fig.colorbar(im, ax=axes, shrink=0.6)
    save_figure(fig, path)


def _plot_targets(names, fits, targets, P, modality, cfg, N, path):
    from .. import objectives as obj

    plt = pyplot()
    off = ~np.eye(N, dtype=bool)
    fig, axes = plt.subplots(1, len(names), figsize=(2.8 * len(names), 2.9), squeeze=False)
    for ax, name in zip(axes[0], names):
        d = _dim(cfg, name, N)
        if targets[name] is None:
            ax.set_axis_off()
            continue
        t = obj.canonical(targets[name], name, P, d)
        y = obj.canonical(fits[name, modality].state_kernel, name, P, d)
        ax.scatter(t[off], y[off], s=2, alpha=0.4)
        ax.set_title(f"{name} ({obj.get(name).gauge})\nr = {np.corrcoef(t[off], y[off])[0, 1]:.4f}", fontsize=8)
        ax.set_xlabel("analytic", fontsize=7)
    axes[0][0].set_ylabel(f"learned ({modality})", fontsize=7)
    save_figure(fig, path)
