"""Paired image-caption datasets: the Tux Paint stamps, a local folder, or a JSONL manifest.

All loaders return a `PairedDataset`: parallel tuples of sample ids, image paths and captions, sorted by id (so the
same files always give the same order). Images open as RGB with transparency composited on white.
- `tuxpaint()`: Debian `tuxpaint-stamps-default`; `NAME.png` with its caption on the first line of `NAME.txt`;
  `photos_only=True` keeps real photo cut-outs (a colour-richness test, see `is_photo`), not clip art.
- `folder(path)`: every image under `path` that has a caption file beside it (`x.jpg` + `x.txt`, first line).
- `jsonl(path)`: one JSON object per line, `{"image": "rel/or/abs.jpg", "caption": "...", "id": "optional"}`.
- `load(spec)`: "tuxpaint", "tuxpaint:all", a folder, or a .jsonl file; `check_spec(spec)` validates a spec
  without reading any image (cheap, for checking a run's configuration before it starts).
Every loader checks that each image file opens as an image (PIL open + verify: no full decode) and that each caption
is a non-empty string, and names the offending file (and manifest line); an empty dataset is an error.
"""
import dataclasses
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from platonic_core import runio
from platonic_core.checks import check_bool, check_choice, check_int, fail, param

TUXPAINT_ROOT = Path("/usr/share/tuxpaint/stamps")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
TUXPAINT_SPECS = ("tuxpaint", "tuxpaint:photos", "tuxpaint:all")
SPEC_FORMS = ("'tuxpaint' (photos), 'tuxpaint:all', an existing folder of image + same-name .txt caption files, "
              "or an existing .jsonl manifest")


class DataNotFound(FileNotFoundError, ValueError):
    """A dataset, or a file it names, is not on disk (also a ValueError, so configuration checks catch it)."""


@dataclass(frozen=True)
class PairedDataset:
    """`name` identifies the source in cache keys; ids, images (paths) and captions are parallel tuples."""
    name: str
    ids: tuple
    images: tuple
    captions: tuple

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            fail(param("name", "PairedDataset"), "be a non-empty str", repr(self.name), TypeError)
        sizes = {f: len(getattr(self, f)) for f in ("ids", "images", "captions")}
        if len(set(sizes.values())) != 1:
            fail("ids, images and captions of PairedDataset", "have the same length", sizes)

    def __len__(self):
        return len(self.ids)

    def image(self, i):
        """Sample i as an RGB PIL image, transparency composited on white."""
        i = self._index(i, "image")
        path = self.images[i]
        try:
            with Image.open(path) as img:
                return composite_on_white(img)
        except OSError as e:  # UnidentifiedImageError, truncated data, a file removed since loading
            raise ValueError(f"Image {path} (sample {self.ids[i]!r} of {self.name}) cannot be decoded: "
                             f"{type(e).__name__}: {e}") from e

    def load_images(self):
        return [self.image(i) for i in range(len(self))]

    def subset(self, n, seed=0):
        """n samples chosen by `seed` (kept in id order), 1 <= n <= len(self); n == len(self) gives the whole set.

        n = 0 or n > len(self) is a ValueError (it used to mean "everything"), so a requested sample count is never
        silently ignored."""
        n = check_int(n, "n", "PairedDataset.subset", 1, len(self),
                      hint=f"[1, {len(self)}] (the size of {self.name})")
        seed = check_int(seed, "seed", "PairedDataset.subset", 0)
        if n == len(self):
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return self.select(keep)

    def select(self, index):
        """The samples at the given positions (ints in [0, len)), in that order."""
        index = [self._index(i, "select") for i in np.asarray(index).reshape(-1).tolist()]
        if not index:
            fail(param("index", "PairedDataset.select"), "hold at least one position", "an empty index")
        pick = lambda xs: tuple(xs[i] for i in index)  # noqa: E731
        return dataclasses.replace(self, ids=pick(self.ids), images=pick(self.images), captions=pick(self.captions))

    def with_captions(self, captions, name):
        """Same images with other captions (e.g. truncated), under a new dataset name."""
        if isinstance(captions, str):
            fail(param("captions", "with_captions"), "be a sequence of strings", "a single string", TypeError)
        captions = tuple(captions)
        if len(captions) != len(self):
            raise ValueError(f"The 'captions' parameter of with_captions must have {len(self)} entries. "
                             f"Got {len(captions)} instead.")
        bad = [i for i, c in enumerate(captions) if not isinstance(c, str) or not c.strip()]
        if bad:
            fail(param("captions", "with_captions"), "hold non-empty strings",
                 f"{captions[bad[0]]!r} at position {bad[0]}")
        if not isinstance(name, str) or not name:
            fail(param("name", "with_captions"), "be a non-empty str", repr(name), TypeError)
        return dataclasses.replace(self, name=name, captions=captions)

    def fingerprint(self, modality):
        """Digest of what a model sees: caption texts, or image file sizes and times (cheap, no decoding)."""
        check_choice(modality, "modality", "PairedDataset.fingerprint", ("vision", "language"))
        if modality == "language":
            return runio.digest(list(self.captions), length=16)
        stats = []
        for path in self.images:
            try:
                st = Path(path).stat()
            except OSError as e:
                raise DataNotFound(f"Image {path} of dataset {self.name} is gone since the dataset was loaded: {e}") \
                    from None
            stats.append(f"{path}|{st.st_size}|{st.st_mtime_ns}")
        return runio.digest(stats, length=16)

    def _index(self, i, owner):
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            fail(param("i" if owner == "image" else "index", f"PairedDataset.{owner}"), "be an int (or ints)",
                 f"{i!r} ({type(i).__name__})", TypeError)
        if not 0 <= i < len(self):
            fail(param("i" if owner == "image" else "index", f"PairedDataset.{owner}"),
                 f"be in [0, {len(self) - 1}]", int(i))
        return int(i)


def composite_on_white(img):
    """RGB image with any transparency (RGBA, LA, palette) blended onto a white background."""
    if not isinstance(img, Image.Image):
        fail(param("img", "composite_on_white"), "be a PIL image", type(img).__name__, TypeError)
    img = img.convert("RGBA")
    bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
    bg.alpha_composite(img)
    return bg.convert("RGB")


def read_caption(path):
    """First line of a caption file, stripped; a clear error when it has no text."""
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline().strip()
    if not first:
        raise ValueError(f"Caption file {path} has no text on its first line; write the caption there.")
    return first


def check_image(path, where=None):
    """Raise ValueError naming `path` (and `where`, e.g. "m.jsonl:3") unless it opens as an image and passes PIL's
    verify (header and, for PNG, chunk checksums); cheap: no pixel decoding."""
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception as e:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, DecompressionBombError ...
        at = f"{where}: " if where else ""
        raise ValueError(f"{at}image {path} is not a readable image file ({type(e).__name__}: {e}). "
                         "Replace or remove it.") from None


def is_photo(path):
    """Heuristic: a real photo cut-out rather than clip art.

    Clip art (no SVG twin, not in a 'cartoon' folder) still has few flat colours; photos have many. Counts the
    distinct colours of the opaque pixels on a 64-level RGB grid: at least 400, and at least 4 * sqrt(pixels).
    On the Tux Paint stamps this keeps ~330 of 802 images, almost all photos.
    """
    path = Path(path)
    if "cartoon" in path.parts or path.with_suffix(".svg").exists():
        return False
    with Image.open(path) as img:
        a = np.asarray(img.convert("RGBA"))
    px = a[..., :3][a[..., 3] > 200] // 4
    if len(px) < 1024:
        return False
    colours = len(np.unique((px[:, 0].astype(np.int64) << 12) | (px[:, 1].astype(np.int64) << 6) | px[:, 2]))
    return colours >= 400 and colours >= 4 * np.sqrt(len(px))


def tuxpaint(root=TUXPAINT_ROOT, photos_only=True):
    """The Tux Paint stamps with their English captions; ids are paths relative to `root` without suffix."""
    photos_only = check_bool(photos_only, "photos_only", "tuxpaint")
    root = _tuxpaint_root(_path(root, "root", "tuxpaint"))
    pngs = [p for p in sorted(root.rglob("*.png")) if p.with_suffix(".txt").is_file()]
    for p in pngs:
        check_image(p)
    if photos_only:
        pngs = [p for p in pngs if is_photo(p)]
    name = "tuxpaint-photos" if photos_only else "tuxpaint-all"
    return _make(name, [(str(p.relative_to(root).with_suffix("")), p, read_caption(p.with_suffix(".txt")))
                        for p in pngs], root)


def _tuxpaint_root(root):
    root = Path(root)
    if not root.is_dir():
        raise DataNotFound(
            f"Tux Paint stamps not found at {root}. Install them: `apt-get install tuxpaint-stamps-default` "
            "(scripts/install_assets.sh does this).")
    return root


def _path(value, name, owner):
    if isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip()):
        return Path(value)
    fail(param(name, owner), "be a non-empty str or path", f"{value!r} ({type(value).__name__})", TypeError)


def folder(path):
    """Images under `path` (recursively) that have a caption file beside them: `x.jpg` + `x.txt`."""
    path = _path(path, "path", "folder")
    if not path.is_dir():
        raise DataNotFound(f"The 'path' parameter of folder must be an existing folder. Got {path} instead.")
    rows = []
    for p in sorted(path.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and p.with_suffix(".txt").is_file():
            check_image(p)
            rows.append((str(p.relative_to(path).with_suffix("")), p, read_caption(p.with_suffix(".txt"))))
    return _make(f"folder:{path.resolve()}", rows, path)


def jsonl(path):
    """A JSONL manifest: one `{"image": ..., "caption": ..., "id": ...}` per line; relative images from its folder.

    Every error names the manifest line: invalid JSON, a missing or non-string 'image', an image file that does not
    exist or is not a readable image, a 'caption' that is not a non-empty string, an 'id' that is not a non-empty
    string or an int. Blank lines are skipped; a manifest without entries is an error."""
    path = _path(path, "path", "jsonl")
    if not path.is_file():
        raise DataNotFound(f"The 'path' parameter of jsonl must be an existing file. Got {path} instead.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text ({e}); a manifest holds one JSON object per line.") from None
    rows, seen = [], {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where} is not valid JSON: {e}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("image"), str) or not rec["image"].strip():
            raise ValueError(f"{where} must be an object with a string 'image'. Got {line.strip()[:80]!r}.")
        caption = rec.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"{where} has no caption text: 'caption' must be a non-empty string. "
                             f"Got {caption!r} instead.")
        ident = rec.get("id", str(Path(rec["image"]).with_suffix("")))
        if isinstance(ident, bool) or not isinstance(ident, (str, int)) or not str(ident).strip():
            raise ValueError(f"{where}: 'id' must be a non-empty string or an int. Got {ident!r} instead.")
        image = (path.parent / rec["image"]).resolve()
        if not image.is_file():
            raise DataNotFound(f"{where}: image {image} does not exist.")
        check_image(image, where)
        ident = str(ident)
        if ident in seen:
            raise ValueError(f"{where}: sample id {ident!r} repeats the id of line {seen[ident]}; ids must be unique "
                             "(give each line its own 'id').")
        seen[ident] = n
        rows.append((ident, image, caption.strip()))
    return _make(f"jsonl:{path.resolve()}", rows, path)


def check_spec(spec, owner="load", name="spec"):
    """`spec` as a str when it names a dataset `load` can read: 'tuxpaint' ('tuxpaint:photos'), 'tuxpaint:all', an
    existing folder, or an existing .jsonl file. Reads no image (cheap); `load` checks the contents.

    TypeError for a non-string; ValueError (listing the valid forms) otherwise, e.g.
        The 'spec' parameter of load must be 'tuxpaint' (photos), 'tuxpaint:all', an existing folder of image +
        same-name .txt caption files, or an existing .jsonl manifest. Got 'x.jsonl' (no such file) instead.
    A missing Tux Paint install raises DataNotFound (a FileNotFoundError and a ValueError) saying how to install it.
    """
    who = param(name, owner)
    if not isinstance(spec, (str, os.PathLike)):
        fail(who, f"be a str: {SPEC_FORMS}", f"{spec!r} ({type(spec).__name__})", TypeError)
    text = os.fspath(spec)
    if not isinstance(text, str) or not text.strip():
        fail(who, f"be a non-empty str: {SPEC_FORMS}", repr(text))
    if text in TUXPAINT_SPECS:
        _tuxpaint_root(TUXPAINT_ROOT)
        return text
    path = Path(text).expanduser()
    if path.is_dir():
        return text
    if path.suffix == ".jsonl":
        if path.is_file():
            return text
        fail(who, f"be {SPEC_FORMS}", f"{text!r} (no such file)")
    why = "no such folder" if not path.exists() else "neither a folder nor a .jsonl file"
    fail(who, f"be {SPEC_FORMS}", f"{text!r} ({why})")


def load(spec="tuxpaint"):
    """'tuxpaint' (photos), 'tuxpaint:all', a folder of image + caption files, or a .jsonl manifest.

    The spec is checked first (`check_spec`), then every sample (see the module docstring)."""
    text = check_spec(spec)
    if text in ("tuxpaint", "tuxpaint:photos"):
        return tuxpaint()
    if text == "tuxpaint:all":
        return tuxpaint(photos_only=False)
    path = Path(text).expanduser()
    if path.is_dir():
        return folder(path)
    return jsonl(path)


def _make(name, rows, where):
    if not rows:
        raise ValueError(f"No image-caption pairs found in {where} (expected images with a same-name .txt caption "
                         "file, or manifest lines with 'image' and 'caption').")
    rows.sort(key=lambda r: r[0])
    ids = [r[0] for r in rows]
    dup = sorted(i for i, c in Counter(ids).items() if c > 1)
    if dup:
        raise ValueError(f"Duplicate sample ids in {where}: {dup[:5]}")
    return PairedDataset(name, tuple(ids), tuple(Path(r[1]) for r in rows), tuple(r[2] for r in rows))
