"""Pixel colour cooccurrence, PMI dissimilarity, colour words and CIELAB (empirical/colour.py)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from empirical import colour_stats as C
from empirical import geometry as G


def test_disk_offsets_are_exactly_the_lattice_points_of_the_punctured_disk():
    off = C.disk_offsets(4)
    assert len(off) == 48  # Gauss circle count N(4) = 49, minus the centre
    assert len({tuple(o) for o in off}) == 48
    r2 = (off ** 2).sum(1)
    assert r2.min() == 1 and r2.max() == 16
    assert len(C.disk_offsets(1)) == 4


@given(seed=st.integers(0, 10_000), radius=st.integers(1, 5))
def test_pixel_pairs_respect_radius_bounds_and_mask(seed, radius):
    rng = np.random.default_rng(seed)
    masks = [rng.random((17, 23)) < 0.6, np.ones((9, 9), bool), rng.random((30, 8)) < 0.9]
    pairs = C.sample_pixel_pairs(masks, 3000, radius=radius, seed=seed)
    assert pairs.shape == (3000, 5)
    d2 = (pairs[:, 1] - pairs[:, 3]) ** 2 + (pairs[:, 2] - pairs[:, 4]) ** 2
    assert d2.min() >= 1 and d2.max() <= radius ** 2
    for i, m in enumerate(masks):
        p = pairs[pairs[:, 0] == i]
        assert len(p) > 700  # equal share per image: ~1000 each
        assert m[p[:, 1], p[:, 2]].all() and m[p[:, 3], p[:, 4]].all()


def test_pixel_pairs_cover_the_whole_disk_and_are_deterministic():
    m = np.zeros((40, 40), bool)
    m[10:30, 10:30] = True  # the transparent border must never be sampled
    pairs = C.sample_pixel_pairs([m], 20_000, radius=4, seed=3)
    assert pairs[:, 1:].min() >= 10 and pairs[:, 1:].max() < 30
    offsets = {(a, b) for a, b in pairs[:, 3:5] - pairs[:, 1:3]}
    assert offsets == {tuple(o) for o in C.disk_offsets(4)}
    np.testing.assert_array_equal(pairs, C.sample_pixel_pairs([m], 20_000, radius=4, seed=3))
    assert not np.array_equal(pairs, C.sample_pixel_pairs([m], 20_000, radius=4, seed=4))


def test_load_rgba_masks_transparent_pixels(tmp_path):
    from PIL import Image

    a = np.zeros((6, 5, 4), np.uint8)
    a[..., 0] = 200
    a[2:4, 1:3, 3] = 255  # 4 opaque pixels
    a[0, 0, 3] = 127  # just below the threshold
    Image.fromarray(a, "RGBA").save(tmp_path / "x.png")
    rgb, mask = C.load_rgba(tmp_path / "x.png")
    assert rgb.shape == (6, 5, 3) and rgb[0, 0, 0] == 200
    assert mask.sum() == 4 and mask[2:4, 1:3].all()
    Image.fromarray(a[..., :3], "RGB").save(tmp_path / "y.png")
    assert C.load_rgba(tmp_path / "y.png")[1].all()


def test_quantise_and_bin_centres_agree():
    rgb = np.array([[0, 0, 0], [255, 255, 255], [31, 32, 255], [128, 0, 64]], np.uint8)
    q = C.quantise(rgb, 8)
    np.testing.assert_array_equal(q, [0, 511, 0 * 64 + 1 * 8 + 7, 4 * 64 + 0 + 2])
    cen = C.bin_centres(8)
    assert cen.shape == (512, 3)
    # every pixel value lies within half a bin of its bin's centre
    assert np.abs(cen[q] - rgb / 255.0).max() <= 0.5 / 8 + 1 / 255


def test_cooccurrence_counts_and_pmi_on_a_two_colour_image():
    img = np.zeros((20, 20, 3), np.uint8)
    img[:, 10:] = 255  # left black, right white
    mask = np.ones((20, 20), bool)
    c = C.colour_cooccurrence([img], [mask], levels=2, n_pairs=5000, radius=2, seed=0)
    assert c.sum() == 10_000 and np.array_equal(c, c.T)
    black, white = 0, 7
    assert c[black, white] > 0 and c[np.ix_([1, 2, 3, 4, 5, 6], range(8))].sum() == 0
    keep = C.frequent_colours(c, 2)
    np.testing.assert_array_equal(keep, [black, white])
    k = C.pixel_pmi(c, keep)
    p = c / c.sum()
    pi = p.sum(1)
    assert k[0, 1] == pytest.approx(np.log(p[0, 7] / (pi[0] * pi[7])))
    assert k[0, 0] > 0 > k[0, 1]  # a colour is mostly next to itself
    d = C.pmi_dissimilarity(k)
    assert d[0, 0] == 0 and d[0, 1] == pytest.approx(max(k[0, 0], k[1, 1]) - k[0, 1])


def test_pmi_dissimilarity_marks_never_cooccurring_colours_unknown():
    k = np.array([[1.0, -np.inf, 0.2], [-np.inf, 2.0, 0.5], [0.2, 0.5, 0.7]])
    d = C.pmi_dissimilarity(k)
    assert np.isinf(d[0, 1]) and np.isinf(d[1, 0])
    assert d[0, 2] == pytest.approx(2.0 - 0.2)
    np.testing.assert_array_equal(np.diag(d), 0)


def test_cielab_reference_values_and_colour_words():
    lab = C.cielab(np.array([[1.0, 1, 1], [0, 0, 0], [1, 0, 0]]))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.01)  # IEC's 4-digit matrix: white off by < 0.01
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)  # sRGB red, standard table
    names, rgb = C.colour_words()
    assert len(names) == 20 and names[0] == "red"
    np.testing.assert_allclose(rgb[0], np.array([0xE5, 0, 0]) / 255)
    with pytest.raises(ValueError, match="Unknown: \\['notacolour'\\]"):
        C.colour_words(["red", "notacolour"])


def test_fit_to_reference_finds_real_structure_and_not_noise():
    names, rgb = C.colour_words()
    lab = C.cielab(rgb)
    d = G.pairwise_distances(lab) * 3.0  # an exact similarity image of CIELAB
    fit = C.fit_to_reference(d, lab, n_perm=200, seed=0, n_starts=2)
    assert fit["distance_correlation"] == pytest.approx(1.0, abs=1e-6)
    assert fit["procrustes_residual"] < 1e-8
    np.testing.assert_allclose(fit["embedding"], lab, atol=1e-3)
    assert fit["null_q95"] < 0.5 and fit["residual_null_q05"] > 0.5
    noise = G.pairwise_distances(np.random.default_rng(1).normal(size=(20, 3)))
    bad = C.fit_to_reference(noise, lab, n_perm=200, seed=0, n_starts=2)
    assert bad["distance_correlation"] < bad["null_q95"] + 0.2
    assert bad["p_value"] > 0.01


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="'radius'.*>= 1. Got 0"):
        C.sample_pixel_pairs([np.ones((3, 3), bool)], 10, radius=0)
    with pytest.raises(ValueError, match="'masks'.*bool"):
        C.sample_pixel_pairs([np.ones((3, 3))], 10)
    with pytest.raises(ValueError, match="Mask 0.*too few pixel pairs"):
        m = np.zeros((10, 10), bool)
        m[0, 0] = m[9, 9] = True
        C.sample_pixel_pairs([m], 10, radius=2)
    with pytest.raises(ValueError, match="'rgb'.*uint8"):
        C.quantise(np.zeros((2, 3)), 8)
    with pytest.raises(ValueError, match="'n_colours'.*only 2 bins"):
        C.frequent_colours(np.array([[2.0, 1, 0], [1, 2, 0], [0, 0, 0]]), 3)
    with pytest.raises(ValueError, match="'srgb'.*\\[0, 1\\]"):
        C.cielab(np.array([[0, 128, 255]]))
    with pytest.raises(ValueError, match="'path'.*existing image file"):
        C.load_rgba(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="'images' and 'masks'.*same length"):
        C.colour_cooccurrence([np.zeros((3, 3, 3), np.uint8)], [])
