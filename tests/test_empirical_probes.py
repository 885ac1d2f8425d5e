"""Fashion-MNIST reader, linear probes and competence binning (empirical/vision_vision.py)."""
import gzip

import numpy as np
import pytest

from empirical import probes as vv


def _write_idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


@pytest.fixture
def fake_fashion(tmp_path):
    rng = np.random.default_rng(0)
    for stem, n in (("train", 300), ("t10k", 100)):
        y = np.arange(n) % 10
        x = (y[:, None, None] * 20 + rng.integers(0, 5, (n, 28, 28))).astype(np.uint8)
        _write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", x)
        _write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", y)
    return tmp_path


def test_read_idx_and_balanced_fashion_subset(fake_fashion):
    x = vv.read_idx(fake_fashion / "train-images-idx3-ubyte.gz")
    assert x.shape == (300, 28, 28) and x.dtype == np.uint8
    imgs, labels = vv.fashion_mnist("test", 4, seed=1, root=fake_fashion)
    assert imgs.shape == (40, 28, 28)
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 4))
    assert (imgs[:, 0, 0] // 20 == labels).all()  # images stay paired with their labels
    again = vv.fashion_mnist("test", 4, seed=1, root=fake_fashion)
    np.testing.assert_array_equal(again[0], imgs)
    other = vv.fashion_mnist("test", 4, seed=2, root=fake_fashion)
    assert not np.array_equal(other[0], imgs)


def test_real_fashion_mnist_when_installed():
    if not (vv.FASHION_ROOT / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip("Debian dataset-fashion-mnist is not installed")
    y = vv.read_idx(vv.FASHION_ROOT / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))


def test_linear_probe_separates_clusters_and_not_random_labels():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 3
    y = np.arange(400) % 4
    x = centres[y] + rng.normal(size=(400, 16))
    good = vv.linear_probe(x[:300], y[:300], x[300:], y[300:], seed=0)
    assert good["accuracy"] > 0.95 and good["chance"] == 0.25
    assert good["l2"] in (1e-3, 1e-2, 1e-1, 1.0)
    noise = rng.normal(size=(400, 16))
    bad = vv.linear_probe(noise[:300], y[:300], noise[300:], y[300:], seed=0)
    assert bad["accuracy"] < 0.45 and bad["train_accuracy"] > bad["accuracy"]
    assert vv.linear_probe(x[:300], y[:300], x[300:], y[300:], seed=0) == good


def test_cross_validated_probe_predicts_every_sample_out_of_fold():
    rng = np.random.default_rng(1)
    y = np.arange(20) % 4
    x = np.eye(4)[y] * 5 + rng.normal(size=(20, 4)) * 0.1
    r = vv.cross_validated_probe(x, y, n_folds=5)
    assert r["accuracy"] == 1.0 and r["chance"] == 0.25
    r = vv.cross_validated_probe(rng.normal(size=(20, 4)), y, n_folds=5)
    assert r["accuracy"] < 0.6
    # a sample whose own class is missing from its training folds can never be predicted: accuracy < 1
    assert vv.cross_validated_probe(np.eye(3)[[0, 1, 2, 0, 1]] * 5, np.array([0, 1, 2, 0, 1]), 5)["accuracy"] == 0.8


def test_stratified_folds_are_balanced():
    y = np.repeat(np.arange(3), [7, 5, 3])
    f = vv.stratified_folds(y, 5, seed=0)
    assert np.bincount(f).tolist() == [3, 3, 3, 3, 3]
    for c in range(3):
        counts = np.bincount(f[y == c], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_competence_bins_and_intra_bin_alignment():
    comp = np.array([0.9, 0.1, 0.5, 0.95, 0.2, 0.6])
    bins = vv.competence_bins(comp, 2)
    np.testing.assert_array_equal(bins, [1, 0, 0, 1, 0, 1])
    m = np.arange(36, dtype=float).reshape(6, 6)
    m = (m + m.T) / 2
    out = vv.intra_bin_alignment(m, bins)
    assert [o["models"] for o in out] == [[1, 2, 4], [0, 3, 5]]
    assert out[0]["mean"] == pytest.approx(np.mean([m[1, 2], m[1, 4], m[2, 4]]))
    assert out[1]["n_pairs"] == 3
    single = vv.intra_bin_alignment(m[:2, :2], np.array([0, 1]))
    assert single[0]["mean"] is None and single[0]["n_pairs"] == 0


def test_label_from_name():
    assert vv.label_from_name("x/cifar10_04_6.png") == 6
    with pytest.raises(ValueError, match="_<label>"):
        vv.label_from_name("cat.png")


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="'split'.*'train' or 'test'"):
        vv.fashion_mnist("val", 3)
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        vv.fashion_mnist("train", 3, root=tmp_path)
    with pytest.raises(ValueError, match="'train_x' and 'test_x'.*same width"):
        vv.linear_probe(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="'train_x' \\(n, d\\) and 'train_y'"):
        vv.linear_probe(np.zeros((4, 2)), [0, 1, 0], np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match="'train_y'.*integer labels"):
        vv.linear_probe(np.zeros((2, 2)), [0.5, 1.0], np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match="'competence'.*m >= n_bins = 3"):
        vv.competence_bins([0.1, 0.2], 3)
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x00\x00\x0c\x01" + (5).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="not a uint8 IDX"):
        vv.read_idx(bad)
