"""Issue 11, item 2: Hugging Face datasets as paired data (`hf:NAME_OR_PATH[@REVISION][:SPLIT][?options]`), built
tiny on disk: save_to_disk folders, DatasetDicts, parquet files; image and text columns; several captions per
image (one by index, or all: per-image means of the captions' features); and the errors, each before any model."""

import numpy as np
import pytest
import torch
from PIL import Image

datasets = pytest.importorskip("datasets")

from empirical import bank, data, features, hub, models  # noqa: E402

N = 6


def _images(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)) for i in range(n)]


def _texts(n=N):
    return [[f"A noisy square number {i}.", f"Picture {i}, seen again.", f"Third caption of {i}."] for i in range(n)]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A save_to_disk dataset (Image feature + list of captions), a DatasetDict, parquet files and broken ones."""
    root = tmp_path_factory.mktemp("hf")
    imgs = _images()
    d = datasets.Dataset.from_dict({"image": imgs, "text": _texts(), "name": [f"s{i}" for i in range(N)],
                                    "title": [f"Title {i}" for i in range(N)]})
    d = d.cast_column("image", datasets.Image())
    d.save_to_disk(root / "disk")
    datasets.DatasetDict({"train": d, "validation": d.select(range(3))}).save_to_disk(root / "dict")
    d.select(range(3)).to_parquet(root / "part-0.parquet")
    d.select(range(3, N)).to_parquet(root / "part-1.parquet")
    d.select([]).save_to_disk(root / "empty")
    d.select([]).to_parquet(root / "empty.parquet")
    d.rename_column("text", "caption").save_to_disk(root / "renamed")
    bad = datasets.Dataset.from_dict({"image": [{"bytes": b"not an image at all", "path": None}] * 2,
                                      "text": ["a", "b"]}).cast_column("image", datasets.Image())
    bad.save_to_disk(root / "badimage")
    datasets.Dataset.from_dict({"image": imgs[:2], "text": [["ok caption", "fine"], ["fine", ""]]}).cast_column(
        "image", datasets.Image()).save_to_disk(root / "emptycaption")
    datasets.Dataset.from_dict({"image": imgs[:2], "text": [7, 8]}).cast_column(
        "image", datasets.Image()).save_to_disk(root / "intcaption")
    return root


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("PLATONIC_CACHE", str(tmp_path_factory.getbasetemp() / "platonic"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_save_to_disk_folder_is_paired_data_in_row_order(root):
    ds = data.load(f"hf:{root / 'disk'}")
    assert len(ds) == N and ds.ids == tuple(f"{i:06d}" for i in range(N))
    assert ds.captions == tuple(t[0] for t in _texts()) and ds.caption_sets is None
    for i, img in enumerate(_images()):  # PNG bytes kept as stored: the pixels are the originals
        assert np.array_equal(np.asarray(ds.image(i)), np.asarray(img.convert("RGB")))
    assert ds.name.startswith("hf:") and "caption=0" in ds.name
    again = data.load(f"hf:{root / 'disk'}")
    assert again.images == ds.images  # the same content reuses the written images
    assert data.load(f"hf:{root / 'disk'}?caption=2").captions == tuple(t[2] for t in _texts())


def test_columns_ids_splits_and_parquet(root):
    ds = data.load(f"hf:{root / 'renamed'}?text=caption&id=name")
    assert ds.ids == tuple(f"s{i}" for i in range(N)) and ds.captions[1] == "A noisy square number 1."
    plain = data.load(f"hf:{root / 'disk'}?text=title")
    assert plain.captions == tuple(f"Title {i}" for i in range(N))
    val = data.load(f"hf:{root / 'dict'}:validation?caption=1")
    assert len(val) == 3 and val.captions[2] == "Picture 2, seen again."
    assert len(data.load(f"hf:{root / 'dict'}")) == N  # split 'train' by default
    parquet = data.load(f"hf:{root}/part-*.parquet")
    assert len(parquet) == N and parquet.captions == data.load(f"hf:{root / 'disk'}").captions
    assert [np.asarray(parquet.image(i)).shape for i in range(N)] == [(20 + i, 24, 3) for i in range(N)]


def test_all_captions_are_kept_as_caption_sets(root):
    ds = data.load(f"hf:{root / 'disk'}?caption=all")
    assert ds.caption_mode == "all" and ds.caption_sets == tuple(tuple(t) for t in _texts())
    assert ds.captions == tuple(t[0] for t in _texts())
    sub = ds.select([4, 1])
    assert sub.caption_sets == (tuple(_texts()[4]), tuple(_texts()[1]))
    one = data.load(f"hf:{root / 'disk'}")
    assert ds.fingerprint("language") != one.fingerprint("language")
    assert features.cache_key("minilm_l6", ds) != features.cache_key("minilm_l6", one)


def test_caption_all_features_are_the_mean_of_each_images_caption_features(root, tmp_path):
    ds = data.load(f"hf:{root / 'disk'}?caption=all")
    m = models.load("minilm_l6")
    got = features.cached("minilm_l6", ds, cache_dir=tmp_path, chunk_size=4, loaded=m, batch_size=5)
    flat = [c for g in ds.caption_sets for c in g]
    each = features.extract(m, flat, batch_size=5)
    for layer, per_caption in zip(got, each):
        want = per_caption.reshape(N, 3, -1).mean(1)
        torch.testing.assert_close(layer, want, rtol=1e-4, atol=1e-5)


BAD = [
    ("renamed", "", r"has no column 'text' \(option text=text\); its columns are \['image', 'caption', 'name', "
                    r"'title'\]\. Name the right one: \?text=COLUMN"),
    ("disk", "?image=picture", r"has no column 'picture' \(option image=picture\)"),
    ("disk", "?id=nosuch", r"has no column 'nosuch' \(option id=nosuch\)"),
    ("empty", "", r"split 'train' is empty \(0 rows\)"),
    ("empty.parquet", "", r"split 'train' is empty \(0 rows\)"),
    ("badimage", "", r"row 0 \(id '000000'\): the image in column 'image' does not decode \(UnidentifiedImageError"),
    ("emptycaption", "?caption=all", r"row 1: column 'text' item 1 must be a non-empty caption string\. Got ''"),
    ("intcaption", "", r"row 0: column 'text' must hold a caption string or a non-empty list of caption strings\. "
                       r"Got 7 \(int\)"),
    ("disk", "?caption=3", r"row 0: caption=3 asks for caption 3 but the row has 3 caption\(s\) in column 'text'"),
    ("dict", ":test", r"split 'test' not found; the saved dataset has splits \['train', 'validation'\]"),
]


@pytest.mark.parametrize("folder, options, message", BAD, ids=[f"{b[0]}{b[1]}" for b in BAD])
def test_bad_datasets_are_one_clear_error_before_any_model(root, folder, options, message, monkeypatch, tmp_path):
    spec = f"hf:{root / folder}{options}"
    with pytest.raises(data.DataError, match=message) as err:
        data.load(spec)
    assert str(root / folder) in str(err.value) or "row" in str(err.value)
    assert not list((tmp_path).iterdir())

    def no_loading(*a, **k):
        raise AssertionError("a model was loaded before the dataset was checked")

    monkeypatch.setattr(models, "load", no_loading)
    with pytest.raises(data.DataError, match=message):
        bank.score("minilm_l6", ["vit_tiny_random"], dataset=spec, k=2, n_perm=0, cache_dir=tmp_path)


def test_spec_errors_are_found_without_reading(root):
    with pytest.raises(ValueError, match=r"name an existing local dataset .* does not exist"):
        data.check_spec(f"hf:{root}/nothing")
    with pytest.raises(ValueError, match=r"give a revision \(@REV\) for hub datasets only"):
        data.check_spec(f"hf:{root / 'disk'}@v2")
    with pytest.raises(ValueError, match="caption=I .* or caption=all"):
        data.check_spec(f"hf:{root / 'disk'}?caption=first")
    with pytest.raises(ValueError, match="KEY among image, text, caption, id"):
        data.check_spec(f"hf:{root / 'disk'}?images=x")
    with pytest.raises(ValueError, match="parquet files that exist"):
        data.check_spec(f"hf:{root}/none-*.parquet")
    assert data.parse_hf("hf:minhuh/prh@wit_1024").kind == "hub"


def test_the_papers_dataset_by_name_reads_the_hub_revision(root, monkeypatch):
    """hf:minhuh/prh@wit_1024 asks datasets for the paper's revision and split (the hub itself is mocked here)."""
    calls = []
    local = datasets.load_from_disk(str(root / "disk"))

    def fake(name, revision=None, split=None, **kw):
        calls.append((name, revision, split))
        return local

    monkeypatch.setattr(datasets, "load_dataset", fake)
    monkeypatch.setattr(hub, "offline_reason", lambda: None)  # as if online
    ds = data.load("hf:minhuh/prh@wit_1024")
    assert calls == [("minhuh/prh", "wit_1024", "train")]
    assert ds.name == "hf:minhuh/prh@wit_1024:train?image=image&text=text&caption=0" and len(ds) == N


def test_an_experiment_runs_on_an_hf_dataset(root, tmp_path):
    from platonic_core import experiment

    res = experiment.run("score", tmp_path / "out", quiet=True, features="vit_tiny_random",
                         references=["minilm_l6"], dataset=f"hf:{root / 'disk'}?caption=all", k=2, n_perm=2,
                         device="cpu", cache_dir=str(tmp_path / "cache"))
    assert res["n_samples"] == N and res["extraction"]["minilm_l6"]["captions"] == "all"
    assert 0 <= res["references"]["minilm_l6"]["best_score"] <= 1
