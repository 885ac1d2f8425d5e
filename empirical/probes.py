"""Vision-vision alignment vs competence (paper Fig. 2).

Competence: linear-probe accuracy of a model's features on held-out labelled images (Debian dataset-fashion-mnist;
foolbox's 20 CIFAR-10 samples, cross-validated). Alignment: a (models x models) matrix of best-layer-pair scores
on shared images; models are binned by competence and the mean alignment within each bin is reported.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from empirical.assets import deb_hint
from platonic_core.checks import check_int

FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


# ------------------------------------------------------------------------------------------------------- data


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped or not; the MNIST format: magic, dims, big-endian uint8 payload)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The 'path' parameter of read_idx must be an existing file. Got {str(path)!r}; "
                                f"{deb_hint(['dataset-fashion-mnist'])}.")
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{str(path)!r} is not a uint8 IDX file (bad magic {raw[:4]!r}).")
    nd = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * nd)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{str(path)!r} is truncated: header says {dims}, payload has {data.size} bytes.")
    return data.reshape(dims)


def check_fashion(root=FASHION_ROOT) -> Path:
    """The Fashion-MNIST folder, or FileNotFoundError naming it and how to install it (cheap: nothing is read)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Fashion-MNIST not found at {root}: {deb_hint(['dataset-fashion-mnist'])}.")
    return root


def fashion_mnist(split: str, n_per_class: int, seed: int = 0, root=FASHION_ROOT) -> tuple[np.ndarray, np.ndarray]:
    """A class-balanced subset of Fashion-MNIST: (images (10 n, 28, 28) uint8, labels (10 n,) int64).

    split: "train" (60,000 images) or "test" (t10k, 10,000; disjoint from train). Same seed, same subset.
    """
    owner = "fashion_mnist"
    if split not in ("train", "test"):
        raise ValueError(f"The 'split' parameter of {owner} must be 'train' or 'test'. Got {split!r} instead.")
    n_per_class = check_int(n_per_class, "n_per_class", owner, 1)
    stem = "train" if split == "train" else "t10k"
    root = check_fashion(root)
    x = read_idx(Path(root) / f"{stem}-images-idx3-ubyte.gz")
    y = read_idx(Path(root) / f"{stem}-labels-idx1-ubyte.gz").astype(np.int64)
    rng = np.random.default_rng(seed)
    idx = []
    for c in range(10):
        pool = np.flatnonzero(y == c)
        if len(pool) < n_per_class:
            raise ValueError(f"The 'n_per_class' parameter of {owner} must be <= {len(pool)} for split {split!r}. "
                             f"Got {n_per_class}.")
        idx.append(rng.choice(pool, n_per_class, replace=False))
    idx = np.sort(np.concatenate(idx))
    return x[idx], y[idx]


def label_from_name(path) -> int:
    """The class label of a foolbox sample file, the number after the last underscore ('cifar10_04_6.png' -> 6)."""
    stem = Path(path).stem
    tail = stem.rsplit("_", 1)[-1]
    if "_" not in stem or not tail.isdigit():
        raise ValueError(f"The 'path' parameter of label_from_name must end in _<label>. Got {str(path)!r}.")
    return int(tail)


# ------------------------------------------------------------------------------------------------ linear probe


def _softmax_loss(w_flat, x, onehot, l2):
    d, k = x.shape[1], onehot.shape[1]
    w = w_flat.reshape(d + 1, k)
    logits = x @ w[:-1] + w[-1]
    logits -= logits.max(1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    n = len(x)
    loss = -(onehot * logp).sum() / n + 0.5 * l2 * (w[:-1] ** 2).sum()
    g = (np.exp(logp) - onehot) / n
    grad = np.vstack([x.T @ g + l2 * w[:-1], g.sum(0, keepdims=True)])
    return loss, grad.ravel()


def fit_logistic(x, y, n_classes: int, l2: float, max_iter: int = 300) -> np.ndarray:
    """Multinomial logistic regression, mean cross-entropy + l2/2 ||W||^2 (bias unpenalised), L-BFGS from zero
    (so deterministic). x: (n, d) float, y: (n,) ints in [0, n_classes). Returns weights (d + 1, n_classes),
    the last row the bias."""
    onehot = np.eye(n_classes)[y]
    res = minimize(_softmax_loss, np.zeros((x.shape[1] + 1) * n_classes), args=(x, onehot, l2), jac=True,
                   method="L-BFGS-B", options={"maxiter": max_iter, "gtol": 1e-6})
    return res.x.reshape(x.shape[1] + 1, n_classes)


def _predict(w, x):
    return np.argmax(x @ w[:-1] + w[-1], axis=1)


def _standardise(train, test):
    mu, sd = train.mean(0), train.std(0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    return (train - mu) / sd, (test - mu) / sd


def stratified_folds(y, n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold index (n,) in [0, n_folds): each class's samples are dealt round-robin after a seeded shuffle."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), np.int64)
    start = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = (start + np.arange(len(idx))) % n_folds
        start += len(idx)  # continue dealing where the last class stopped, so folds stay balanced in size
    return fold


def _check_xy(x, y, owner, xname="x", yname="y"):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"The '{xname}' (n, d) and '{yname}' (n,) parameters of {owner} must match with n >= 2. "
                         f"Got {x.shape} and {y.shape}.")
    if not np.isfinite(x).all():
        raise ValueError(f"The '{xname}' parameter of {owner} must be finite.")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(f"The '{yname}' parameter of {owner} must hold non-negative integer labels. "
                         f"Got dtype {y.dtype}.")
    return x, y.astype(np.int64)


def _select_l2(x, y, n_classes, l2_grid, n_folds, seed):
    """The l2 of l2_grid with the best inner cross-validated accuracy (ties: the larger l2, the simpler model)."""
    if len(l2_grid) == 1:
        return float(l2_grid[0])
    folds = stratified_folds(y, min(n_folds, np.bincount(y).max()), seed)
    best, best_acc = None, -1.0
    for l2 in sorted(l2_grid, reverse=True):
        acc = []
        for f in np.unique(folds):
            tr, te = _rowspace(*_standardise(x[folds != f], x[folds == f]))
            acc.append(np.mean(_predict(fit_logistic(tr, y[folds != f], n_classes, l2), te) == y[folds == f]))
        if np.mean(acc) > best_acc + 1e-12:
            best, best_acc = float(l2), float(np.mean(acc))
    return best


def linear_probe(train_x, train_y, test_x, test_y, l2_grid=(1e-3, 1e-2, 1e-1, 1.0), n_folds: int = 3,
                 seed: int = 0) -> dict:
    """Held-out accuracy of a linear probe on frozen features.

    Features are standardised with the training statistics; l2 is chosen from l2_grid by stratified n_folds
    cross-validation inside the training set only; the probe is refit on the whole training set and scored once
    on the test set. train_x: (n, d), train_y: (n,), test_x: (m, d), test_y: (m,).
    Returns {"accuracy", "train_accuracy", "l2", "chance"} (chance = the test frequency of the commonest class).
    """
    owner = "linear_probe"
    xtr, ytr = _check_xy(train_x, train_y, owner, "train_x", "train_y")
    xte, yte = _check_xy(test_x, test_y, owner, "test_x", "test_y")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"The 'train_x' and 'test_x' parameters of {owner} must have the same width. "
                         f"Got {xtr.shape} and {xte.shape}.")
    grid = [float(v) for v in l2_grid]
    if not grid or min(grid) <= 0:
        raise ValueError(f"The 'l2_grid' parameter of {owner} must hold positive values. Got {l2_grid!r}.")
    n_folds = check_int(n_folds, "n_folds", owner, 2)
    k = int(max(ytr.max(), yte.max()) + 1)
    pred, train_pred, l2 = _fit_predict(xtr, ytr, xte, k, grid, n_folds, seed)
    return {"accuracy": float(np.mean(pred == yte)), "train_accuracy": float(np.mean(train_pred == ytr)),
            "l2": l2, "chance": float(np.bincount(yte).max() / len(yte))}


def _fit_predict(xtr, ytr, xte, k, grid, n_folds, seed):
    l2 = _select_l2(xtr, ytr, k, grid, n_folds, seed)
    tr, te = _rowspace(*_standardise(xtr, xte))
    w = fit_logistic(tr, ytr, k, l2)
    return _predict(w, te), _predict(w, tr), l2


def _rowspace(tr, te):
    """Coordinates in the span of the training rows. With an L2 penalty on W the optimal W lies in that span
    (the rest changes no training logit and only adds penalty), so this is exact and makes wide, few-sample
    problems (d >> n) small and well conditioned."""
    if tr.shape[1] <= tr.shape[0]:
        return tr, te
    _, s, vt = np.linalg.svd(tr, full_matrices=False)
    v = vt[s > s[0] * 1e-10].T
    return tr @ v, te @ v


def cross_validated_probe(x, y, n_folds: int = 5, l2_grid=(1e-2, 1e-1, 1.0), seed: int = 0) -> dict:
    """Accuracy of linear probes where every sample is predicted once by a probe not trained on it (stratified
    n_folds; for tiny labelled sets such as foolbox's 20 CIFAR-10 images). x: (n, d), y: (n,).
    Returns {"accuracy", "n_folds", "chance"}."""
    owner = "cross_validated_probe"
    x, y = _check_xy(x, y, owner)
    n_folds = check_int(n_folds, "n_folds", owner, 2)
    grid = [float(v) for v in l2_grid]
    if not grid or min(grid) <= 0:
        raise ValueError(f"The 'l2_grid' parameter of {owner} must hold positive values. Got {l2_grid!r}.")
    folds = stratified_folds(y, n_folds, seed)
    k = int(y.max() + 1)
    pred = np.empty_like(y)
    for f in np.unique(folds):
        te = folds == f
        pred[te] = _fit_predict(x[~te], y[~te], x[te], k, grid, 2, seed)[0]
    return {"accuracy": float(np.mean(pred == y)), "n_folds": n_folds,
            "chance": float(np.bincount(y).max() / len(y))}


# --------------------------------------------------------------------------------------------- competence bins


def competence_bins(competence, n_bins: int) -> np.ndarray:
    """Bin index (m,) in [0, n_bins) of each model: models sorted by competence (m,), then split into n_bins
    groups of (nearly) equal size, bin 0 the least competent. Ties keep the given order."""
    c = np.asarray(competence, dtype=np.float64)
    owner = "competence_bins"
    n_bins = check_int(n_bins, "n_bins", owner, 1)
    if c.ndim != 1 or not np.isfinite(c).all() or len(c) < n_bins:
        raise ValueError(f"The 'competence' parameter of {owner} must be finite (m,) with m >= n_bins = {n_bins}. "
                         f"Got shape {c.shape}.")
    order = np.argsort(c, kind="stable")
    bins = np.empty(len(c), np.int64)
    for b, members in enumerate(np.array_split(order, n_bins)):
        bins[members] = b
    return bins


def intra_bin_alignment(matrix, bins) -> list[dict]:
    """Per bin: {"bin", "models" (indices), "mean", "std", "n_pairs"} over the distinct model pairs in the bin of a
    symmetric (m, m) alignment matrix; mean/std are None for a bin with a single model."""
    a = np.asarray(matrix, dtype=np.float64)
    b = np.asarray(bins)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or b.shape != (len(a),):
        raise ValueError(f"The 'matrix' (m, m) and 'bins' (m,) parameters of intra_bin_alignment must match. "
                         f"Got {a.shape} and {b.shape}.")
    out = []
    for k in np.unique(b):
        idx = np.flatnonzero(b == k)
        vals = np.array([a[i, j] for n, i in enumerate(idx) for j in idx[n + 1:]])
        out.append({"bin": int(k), "models": idx.tolist(), "n_pairs": int(len(vals)),
                    "mean": float(vals.mean()) if len(vals) else None,
                    "std": float(vals.std()) if len(vals) else None})
    return out
