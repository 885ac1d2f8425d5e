"""Colour from cooccurrence (paper Fig. 8 / App. D): pixel colour cooccurrence on real photos, colour words, CIELAB.

Vision side: colours quantised on an RGB grid (`levels` per channel), pairs of pixels within Euclidean radius r
(both inside the alpha mask), symmetric cooccurrence counts -> empirical K_PMI -> dissimilarity -K + max K -> MDS.
Language side: the colour words below (XKCD names from matplotlib). Reference: CIELAB of each colour (colour-science,
D65 sRGB). All arrays are numpy; sRGB values are floats in [0, 1].
"""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np

from empirical.assets import HINT
from platonic_core.checks import check_int

from . import geometry

# Berlin & Kay's eleven basic colour terms plus nine common ones, all XKCD names ("grey" is XKCD's spelling).
BASIC_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey",
                 "cyan", "magenta", "violet", "teal", "navy", "maroon", "olive", "lime", "beige")
TEMPLATES = ("The color {}.", "This color is {}.", "The color of this thing is {}.")
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")


# ---------------------------------------------------------------------------------------------------- images


def load_rgba(path, alpha_threshold: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Read an image file -> (rgb (H, W, 3) uint8, mask (H, W) bool). mask = alpha >= threshold (all True without
    alpha); palette images are converted through RGBA so a transparent palette entry is masked too."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"The 'path' parameter of load_rgba must be an existing image file. Got {str(path)!r}.")
    with Image.open(path) as im:
        has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
        arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    rgb = np.ascontiguousarray(arr[..., :3])
    mask = arr[..., 3] >= alpha_threshold if has_alpha else np.ones(arr.shape[:2], bool)
    return rgb, mask


def foolbox_images(prefix: str = "") -> list[Path]:
    """Sorted paths of foolbox's bundled sample images (foolbox/data/*.png, *.jpg) whose name starts with `prefix`
    ("cifar10_", "cifar100_", "imagenet_", ...; 20 each, the label after the last underscore). The package is
    located, not imported (its dependencies are not needed)."""
    spec = find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"foolbox is not installed; its sample images come from `pip install --no-deps "
                                f"foolbox==3.3.4`: {HINT}.")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return sorted(p for p in data.glob(f"{prefix}*") if p.suffix in (".png", ".jpg"))


def skimage_photos() -> list[Path]:
    """Paths of the colour photos bundled in scikit-image's wheel (no download): SKIMAGE_PHOTOS."""
    spec = find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"scikit-image is not installed: {HINT}.")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return [data / n for n in SKIMAGE_PHOTOS if (data / n).is_file()]


# ------------------------------------------------------------------------------------------------ colour grid


def quantise(rgb, levels: int) -> np.ndarray:
    """Colour-bin index of uint8 sRGB pixels (..., 3) on a levels^3 grid: r * levels^2 + g * levels + b, with
    channel bin floor(v * levels / 256). Output (...) int64 in [0, levels^3)."""
    levels = check_int(levels, "levels", "quantise", 1, 256)
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"The 'rgb' parameter of quantise must be a uint8 array (..., 3). "
                         f"Got dtype {a.dtype} and shape {a.shape} instead.")
    q = (a.astype(np.int64) * levels) >> 8
    return (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]


def bin_centres(levels: int) -> np.ndarray:
    """sRGB centre (levels^3, 3) in [0, 1] of every colour bin, in quantise's index order."""
    levels = check_int(levels, "levels", "bin_centres", 1, 256)
    c = (np.arange(levels) + 0.5) / levels
    r, g, b = np.meshgrid(c, c, c, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)


def disk_offsets(radius: int) -> np.ndarray:
    """All integer offsets (dy, dx) with 0 < dy^2 + dx^2 <= radius^2, shape (m, 2)."""
    radius = check_int(radius, "radius", "disk_offsets", 1)
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    keep = (dy ** 2 + dx ** 2 <= radius ** 2) & ((dy != 0) | (dx != 0))
    return np.stack([dy[keep], dx[keep]], axis=1)


def sample_pixel_pairs(masks, n_pairs: int, radius: int = 4, seed: int = 0) -> np.ndarray:
    """Random pixel pairs within Euclidean distance `radius`, both inside their image's mask.

    masks: sequence of (H_i, W_i) bool arrays (True = pixel belongs to the photo). Each image gets an equal share
    of the pairs (a multinomial draw), so large photos do not drown small ones. Within an image the first pixel is
    uniform over the mask and the offset uniform over disk_offsets(radius); pairs leaving the image or the mask are
    redrawn. Returns (n_pairs, 5) int64 rows [image, y0, x0, y1, x1]. Same seed, same pairs.
    """
    owner = "sample_pixel_pairs"
    n_pairs = check_int(n_pairs, "n_pairs", owner, 1)
    seed = check_int(seed, "seed", owner, 0)
    offsets = disk_offsets(radius)
    masks = [np.asarray(m) for m in masks]
    if not masks:
        raise ValueError(f"The 'masks' parameter of {owner} must hold at least one mask. Got none.")
    for i, m in enumerate(masks):
        if m.ndim != 2 or m.dtype != bool:
            raise ValueError(f"The 'masks' parameter of {owner} must hold 2-D bool arrays. "
                             f"Mask {i} has dtype {m.dtype} and shape {m.shape}.")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_pairs, np.full(len(masks), 1 / len(masks)))
    out = []
    for i, (m, want) in enumerate(zip(masks, counts)):
        if want:
            out.append(_pairs_in(m, int(want), offsets, rng, i))
    return np.concatenate(out, axis=0)


def _pairs_in(mask, want, offsets, rng, index) -> np.ndarray:
    flat = np.flatnonzero(mask)
    h, w = mask.shape
    got, have = [], 0
    for _ in range(100):
        n = max(2 * (want - have), 64)
        first = flat[rng.integers(0, len(flat), n)] if len(flat) else np.empty(0, np.int64)
        off = offsets[rng.integers(0, len(offsets), len(first))]
        y0, x0 = np.divmod(first, w)
        y1, x1 = y0 + off[:, 0], x0 + off[:, 1]
        ok = (y1 >= 0) & (y1 < h) & (x1 >= 0) & (x1 < w)
        ok[ok] = mask[y1[ok], x1[ok]]
        rows = np.stack([np.full(ok.sum(), index), y0[ok], x0[ok], y1[ok], x1[ok]], axis=1)
        got.append(rows[: want - have])
        have += len(got[-1])
        if have == want:
            return np.concatenate(got, axis=0)
    raise ValueError(f"Mask {index} of sample_pixel_pairs has too few pixel pairs inside it within the radius "
                     f"({int(mask.sum())} pixels in the mask).")


def colour_cooccurrence(images, masks, levels: int = 8, n_pairs: int = 300_000, radius: int = 4,
                        seed: int = 0) -> np.ndarray:
    """Symmetric colour-bin cooccurrence counts (levels^3, levels^3) of sampled pixel pairs.

    images: sequence of (H_i, W_i, 3) uint8 sRGB; masks: matching (H_i, W_i) bool. Each pair adds 1 to (a, b) and
    1 to (b, a), so the counts sum to 2 * n_pairs.
    """
    owner = "colour_cooccurrence"
    images = [np.asarray(x) for x in images]
    masks = [np.asarray(m) for m in masks]
    if len(images) != len(masks):
        raise ValueError(f"The 'images' and 'masks' parameters of {owner} must have the same length. "
                         f"Got {len(images)} and {len(masks)}.")
    for i, (x, m) in enumerate(zip(images, masks)):
        if x.ndim != 3 or x.shape[2] != 3 or x.shape[:2] != m.shape:
            raise ValueError(f"Image {i} of {owner} must be (H, W, 3) matching its mask. "
                             f"Got image {x.shape} and mask {m.shape}.")
    pairs = sample_pixel_pairs(masks, n_pairs, radius, seed)
    bins = [quantise(x, levels) for x in images]
    a = np.empty(len(pairs), np.int64)
    b = np.empty(len(pairs), np.int64)
    for i in np.unique(pairs[:, 0]):
        sel = pairs[:, 0] == i
        a[sel] = bins[i][pairs[sel, 1], pairs[sel, 2]]
        b[sel] = bins[i][pairs[sel, 3], pairs[sel, 4]]
    n = levels ** 3
    c = np.bincount(a * n + b, minlength=n * n).reshape(n, n).astype(np.float64)
    return c + c.T


def frequent_colours(counts, n_colours: int, min_count: int = 1) -> np.ndarray:
    """Indices of the `n_colours` bins with the largest marginal count (ties: lower index first) among those with at
    least `min_count`; sorted ascending. counts: (n, n) symmetric cooccurrence counts."""
    owner = "frequent_colours"
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"The 'counts' parameter of {owner} must be square. Got shape {c.shape}.")
    n_colours = check_int(n_colours, "n_colours", owner, 2)
    marg = c.sum(1)
    order = np.argsort(-marg, kind="stable")
    order = order[marg[order] >= max(min_count, 1e-300)][:n_colours]
    if len(order) < n_colours:
        raise ValueError(f"The 'n_colours' parameter of {owner} asks for {n_colours} colours, but only "
                         f"{len(order)} bins have a count >= {min_count}. Use more pairs or fewer colours.")
    return np.sort(order)


def pixel_pmi(counts, keep) -> np.ndarray:
    """Empirical K_PMI (k, k) among the bins `keep` (k,), from the full cooccurrence counts (n, n).

    P = counts / total over all bins (so marginals are the true pixel-pair marginals); -inf where two kept colours
    never cooccurred (worlds.pmi_kernel's convention)."""
    from worlds import pmi_kernel

    c = np.asarray(counts, dtype=np.float64)
    keep = np.asarray(keep, dtype=np.int64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.sum() <= 0 or (c < 0).any():
        raise ValueError(f"The 'counts' parameter of pixel_pmi must be square, non-negative and not all zero. "
                         f"Got shape {c.shape}.")
    seen = np.flatnonzero(c.sum(1) > 0)
    pos = np.full(len(c), -1)
    pos[seen] = np.arange(len(seen))
    valid = keep.ndim == 1 and keep.size >= 2 and keep.min() >= 0 and keep.max() < len(c)
    if not valid or (pos[keep] < 0).any():
        raise ValueError(f"The 'keep' parameter of pixel_pmi must list bins (< {len(c)}) that occur. Got {keep!r}.")
    k = pmi_kernel(c[np.ix_(seen, seen)] / c.sum())
    return k[np.ix_(pos[keep], pos[keep])]


def pmi_dissimilarity(K) -> np.ndarray:
    """Dissimilarity -K + max K (max over finite entries, diagonal included, so every entry is >= 0), with a zero
    diagonal and +inf where K = -inf (never cooccurred: an unknown dissimilarity for SMACOF). K: (k, k)."""
    k = np.asarray(K, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or np.isnan(k).any() or np.isposinf(k).any():
        raise ValueError(f"The 'K' parameter of pmi_dissimilarity must be square with no NaN or +inf. "
                         f"Got shape {k.shape}.")
    finite = np.isfinite(k)
    if not finite.any():
        raise ValueError("The 'K' parameter of pmi_dissimilarity has no finite entry.")
    d = np.where(finite, k[finite].max() - k, np.inf)
    np.fill_diagonal(d, 0.0)
    return d


# ------------------------------------------------------------------------------------------- words and CIELAB


def colour_words(names=BASIC_COLOURS) -> tuple[list[str], np.ndarray]:
    """(names, sRGB (n, 3) in [0, 1]) from matplotlib's XKCD colour survey names."""
    from matplotlib import colors
    from matplotlib._color_data import XKCD_COLORS

    names = list(names)
    unknown = [n for n in names if f"xkcd:{n}" not in XKCD_COLORS]
    if len(names) < 2 or unknown:
        raise ValueError(f"The 'names' parameter of colour_words must hold >= 2 XKCD colour names. "
                         f"Unknown: {unknown}; got {len(names)} names.")
    return names, np.array([colors.to_rgb(XKCD_COLORS[f"xkcd:{n}"]) for n in names])


def cielab(srgb) -> np.ndarray:
    """CIELAB (n, 3) of sRGB colours (n, 3) in [0, 1] (IEC 61966-2-1 decoding, D65 white of sRGB)."""
    import colour

    a = np.asarray(srgb, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError(f"The 'srgb' parameter of cielab must be finite (n, 3) in [0, 1]. Got shape {a.shape}.")
    white = colour.RGB_COLOURSPACES["sRGB"].whitepoint
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(a, illuminant=white), illuminant=white)


def fit_to_reference(dist, reference, n_perm: int = 1000, seed: int = 0, dim: int = 3,
                     n_starts: int = 16) -> dict:
    """Embed a representation's dissimilarities in `dim`-D and compare with reference points (e.g. CIELAB).

    dist: (n, n) dissimilarities (+inf = unknown); reference: (n, dim). MDS (SMACOF, best of n_starts), then
    Kabsch-Umeyama (with reflection) onto the reference. Returns a dict: `embedding` (n, dim) aligned to the
    reference, `stress`, `distance_correlation` (Pearson r of the embedding's and the reference's pairwise
    distances), `raw_distance_correlation` (the same with the dissimilarities themselves, finite pairs only),
    `procrustes_residual`, and the permutation baseline (colour labels shuffled; n_perm draws): `null_q95`,
    `null_mean`, `raw_null_q95`, `residual_null_q05`, with one-sided p-values `p_value`, `raw_p_value`.
    """
    owner = "fit_to_reference"
    ref = np.asarray(reference, dtype=np.float64)
    d = np.asarray(dist, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[1] != dim or d.shape != (len(ref), len(ref)):
        raise ValueError(f"The 'dist' (n, n) and 'reference' (n, {dim}) parameters of {owner} must match. "
                         f"Got {d.shape} and {ref.shape}.")
    n_perm = check_int(n_perm, "n_perm", owner, 1)
    emb, s = geometry.smacof(d, dim, n_starts=n_starts, seed=seed)
    fit = geometry.umeyama(emb, ref)
    d_ref = geometry.pairwise_distances(ref)
    d_emb = geometry.pairwise_distances(emb)
    n = len(ref)
    r = geometry.distance_correlation(d_emb, d_ref)
    raw = geometry.distance_correlation(d, d_ref)
    res = geometry.procrustes_residual(emb, ref)
    null = geometry.permutation_null(lambda p: geometry.distance_correlation(d_emb[np.ix_(p, p)], d_ref),
                                     n, n_perm, seed)
    raw_null = geometry.permutation_null(lambda p: geometry.distance_correlation(d[np.ix_(p, p)], d_ref),
                                         n, n_perm, seed)
    res_null = geometry.permutation_null(lambda p: geometry.procrustes_residual(emb[p], ref), n, n_perm, seed)
    return {
        "embedding": fit.apply(emb), "stress": s,
        "distance_correlation": r, "null_q95": float(np.quantile(null, 0.95)), "null_mean": float(null.mean()),
        "p_value": float((1 + (null >= r).sum()) / (1 + n_perm)),
        "raw_distance_correlation": raw, "raw_null_q95": float(np.quantile(raw_null, 0.95)),
        "raw_p_value": float((1 + (raw_null >= raw).sum()) / (1 + n_perm)),
        "procrustes_residual": res, "residual_null_q05": float(np.quantile(res_null, 0.05)),
        "scale": fit.scale, "reflected": fit.reflected,
    }
