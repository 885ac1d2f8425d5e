"""Paired datasets: Tux Paint photos, local folders, JSONL manifests, and their errors."""
import json

import numpy as np
import pytest
from PIL import Image

from empirical import data


@pytest.fixture(scope="module")
def tux():
    return data.tuxpaint()


def test_tuxpaint_photos_are_deterministic_and_captioned(tux):
    assert 250 <= len(tux) <= 400  # ~300 real photos among 785 captioned stamps
    assert list(tux.ids) == sorted(set(tux.ids))
    assert tux.ids == data.tuxpaint().ids
    i = tux.ids.index("animals/amphibians/frog")
    assert tux.captions[i] == "A frog."
    assert all(c and "\n" not in c and "utf8=" not in c for c in tux.captions)
    assert not any("cartoon" in i for i in tux.ids)
    everything = data.tuxpaint(photos_only=False)
    assert len(everything) > 2 * len(tux) and set(tux.ids) < set(everything.ids)


def test_tuxpaint_images_are_composited_on_white(tux):
    i = tux.ids.index("animals/amphibians/frog")
    raw = np.asarray(Image.open(tux.images[i]).convert("RGBA"))
    img = np.asarray(tux.image(i))
    assert img.shape == raw.shape[:2] + (3,)
    clear = raw[..., 3] == 0
    assert clear.any() and (img[clear] == 255).all()
    solid = raw[..., 3] == 255
    assert (img[solid] == raw[..., :3][solid]).all()


def test_subset_is_seeded_and_keeps_id_order(tux):
    a, b, c = tux.subset(32, seed=1), tux.subset(32, seed=1), tux.subset(32, seed=2)
    assert len(a) == 32 and a.ids == b.ids and a.ids != c.ids
    assert list(a.ids) == sorted(a.ids)
    assert all(tux.captions[tux.ids.index(i)] == cap for i, cap in zip(a.ids, a.captions))
    assert tux.subset(len(tux)) is tux
    with pytest.raises(ValueError, match=r"'n' parameter of PairedDataset.subset must be in \[1, \d+\].*Got 0 inst"):
        tux.subset(0)
    with pytest.raises(ValueError, match=rf"must be in \[1, {len(tux)}\] \(the size of tuxpaint-photos\)\. Got 10000"):
        tux.subset(10_000)  # more samples than there are is an error, no longer "all of them"


def test_is_photo_separates_flat_art_from_texture(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "noise.png")
    flat = np.zeros((64, 64, 3), np.uint8)
    flat[:, 32:] = (200, 30, 30)
    Image.fromarray(flat).save(tmp_path / "flat.png")
    assert data.is_photo(tmp_path / "noise.png") and not data.is_photo(tmp_path / "flat.png")


def _image(path, colour=(10, 200, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def test_folder_pairs_images_with_caption_files(tmp_path):
    _image(tmp_path / "b.png")
    (tmp_path / "b.txt").write_text("A green square.\nsecond line ignored\n")
    _image(tmp_path / "sub" / "a.jpg")
    (tmp_path / "sub" / "a.txt").write_text("  Another one. \n")
    _image(tmp_path / "orphan.png")  # no caption file: not a pair
    ds = data.load(str(tmp_path))
    assert ds.ids == ("b", "sub/a") and ds.captions == ("A green square.", "Another one.")
    assert ds.image(0).getpixel((0, 0)) == (10, 200, 30)
    assert ds.name == f"folder:{tmp_path.resolve()}"


def test_jsonl_manifest(tmp_path):
    _image(tmp_path / "img" / "x.png", (1, 2, 3))
    lines = [{"image": "img/x.png", "caption": "An image.", "id": "first"}, {"image": "img/x.png", "caption": "Again"}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n\n")
    ds = data.load(tmp_path / "m.jsonl")
    assert ds.ids == ("first", "img/x") and ds.captions == ("An image.", "Again")
    assert ds.image(1).getpixel((3, 3)) == (1, 2, 3)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"No image-caption pairs found in .*same-name \.txt"):
        data.folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="existing folder"):
        data.folder(tmp_path / "absent")


def test_caption_file_without_text_is_a_clear_error(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("\n\nlater text\n")
    with pytest.raises(ValueError, match=r"Caption file .*a\.txt has no text on its first line"):
        data.folder(tmp_path)


@pytest.mark.parametrize("line, message", [
    ('{"image": "x.png"}', r"m\.jsonl:1 has no caption text"),
    ('{"image": "x.png", "caption": "  "}', r"m\.jsonl:1 has no caption text"),
    ('{"caption": "hi"}', r"m\.jsonl:1 must be an object with a string 'image'"),
    ("not json", r"m\.jsonl:1 is not valid JSON"),
    ('{"image": "absent.png", "caption": "hi"}', r"absent\.png does not exist"),
])
def test_bad_manifest_lines_name_the_line(tmp_path, line, message):
    _image(tmp_path / "x.png")
    (tmp_path / "m.jsonl").write_text(line + "\n")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        data.jsonl(tmp_path / "m.jsonl")


def test_load_rejects_unknown_specs(tmp_path):
    with pytest.raises(ValueError, match="'spec' parameter of load"):
        data.load(str(tmp_path / "nothing.csv"))
    with pytest.raises(TypeError, match="'spec' parameter of load"):
        data.load(3)
