"""Paired image-caption datasets: the Tux Paint stamps, a local folder, a JSONL manifest, or a Hugging Face dataset.

All loaders return a `PairedDataset`: parallel tuples of sample ids, image paths and captions, sorted by id (so the
same files always give the same order; Hugging Face datasets keep their row order, ids '000000', '000001', ...
unless an id column is named). Images open as RGB with transparency composited on white.
- `tuxpaint()`: Debian `tuxpaint-stamps-default`; `NAME.png` with its caption on the first line of `NAME.txt`;
  `photos_only=True` keeps real photo cut-outs (a colour-richness test, see `is_photo`), not clip art.
- `folder(path)`: every image under `path` that has a caption file beside it (`x.jpg` + `x.txt`, first line).
- `jsonl(path)`: one JSON object per line, `{"image": "rel/or/abs.jpg", "caption": "...", "id": "optional"}`.
- `hf(spec)`: a Hugging Face dataset, `hf:NAME_OR_PATH[@REVISION][:SPLIT][?image=COL&text=COL&caption=I|all&id=COL]`
  (see `parse_hf`): a hub id (the paper's `hf:minhuh/prh@wit_1024`), a folder written by `save_to_disk`, a folder
  of data files, or parquet files (`hf:/data/*.parquet`). Its images are written once, as they are stored, into
  the cache (cache_root()/datasets/hf-DIGEST, named by a digest of their bytes and the captions) so that every
  model and the feature cache see plain files.
- `load(spec)`: "tuxpaint", "tuxpaint:all", a folder, a .jsonl file, or an `hf:` spec; `check_spec(spec)` validates
  a spec without reading any image (cheap, for checking a run's configuration before it starts).

Several captions per image (many-to-many): a text column holding a list of strings per row. `caption=I` (default
0) takes the I-th caption of every row (an error names a row with fewer). `caption=all` keeps every caption
(`PairedDataset.caption_sets`; `captions` holds the first ones): a language model then embeds every caption, and the
language features of an image are the mean of its captions' features, layer by layer (before the clamp and the
normalisation of the layer pipeline). An image's language-side neighbours are thus the images whose caption
centroids are nearest its own caption centroid, and every metric, layer sweep and null applies unchanged.
Every loader checks that each image file opens as an image (PIL open + verify: no full decode) and that each caption
is a non-empty string, and names the offending file (and manifest line); an empty dataset is an error.
"""
import dataclasses
import glob
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from platonic_core.extras import require

require("empirical.data", "empirical")  # before PIL: one line naming the extra
from PIL import Image

from empirical import hub
from empirical.assets import deb_hint
from platonic_core import runio
from platonic_core.checks import check_bool, check_choice, check_int, fail, param

TUXPAINT_ROOT = Path("/usr/share/tuxpaint/stamps")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
TUXPAINT_SPECS = ("tuxpaint", "tuxpaint:photos", "tuxpaint:all")
SPEC_FORMS = ("'tuxpaint' (photos), 'tuxpaint:all', an existing folder of image + same-name .txt caption files, "
              "an existing .jsonl manifest, or 'hf:NAME_OR_PATH[@REVISION][:SPLIT][?image=COL&text=COL"
              "&caption=I|all&id=COL]'")
HF_OPTIONS = ("image", "text", "caption", "id")


class DataNotFound(FileNotFoundError, ValueError):
    """A dataset, or a file it names, is not on disk (also a ValueError, so configuration checks catch it)."""


@dataclass(frozen=True)
class PairedDataset:
    """`name` identifies the source in cache keys; ids, images (paths) and captions are parallel tuples.
    `caption_sets` (caption mode 'all'): one tuple of captions per sample, `captions` holding the first of each."""
    name: str
    ids: tuple
    images: tuple
    captions: tuple
    caption_sets: tuple = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            fail(param("name", "PairedDataset"), "be a non-empty str", repr(self.name), TypeError)
        fields = ("ids", "images", "captions") + (("caption_sets",) if self.caption_sets is not None else ())
        sizes = {f: len(getattr(self, f)) for f in fields}
        if len(set(sizes.values())) != 1:
            fail("ids, images and captions of PairedDataset", "have the same length", sizes)
        if self.caption_sets is not None:
            bad = next((i for i, g in enumerate(self.caption_sets) if not isinstance(g, tuple) or not g
                        or not all(isinstance(c, str) and c.strip() for c in g)), None)
            if bad is not None:
                fail(param("caption_sets", "PairedDataset"), "hold a non-empty tuple of non-empty strings per sample",
                     f"{self.caption_sets[bad]!r:.80} at position {bad}")

    def __len__(self):
        return len(self.ids)

    @property
    def caption_mode(self):
        """'single' (one caption per sample) or 'all' (caption sets: features are per-image caption means)."""
        return "single" if self.caption_sets is None else "all"

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
        sets = None if self.caption_sets is None else pick(self.caption_sets)
        return dataclasses.replace(self, ids=pick(self.ids), images=pick(self.images), captions=pick(self.captions),
                                   caption_sets=sets)

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
        return dataclasses.replace(self, name=name, captions=captions, caption_sets=None)

    def fingerprint(self, modality):
        """Digest of what a model sees: caption texts, or image file sizes and times (cheap, no decoding)."""
        check_choice(modality, "modality", "PairedDataset.fingerprint", ("vision", "language"))
        if modality == "language":
            if self.caption_sets is not None:
                return runio.digest([list(g) for g in self.caption_sets], length=16)
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
            f"Tux Paint stamps not found at {root}. Install them: {deb_hint(['tuxpaint-stamps-default'])}.")
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
    A missing Tux Paint install, or a hub dataset that is not in the local cache while the hub is off or unreachable,
    raises DataNotFound (a FileNotFoundError and a ValueError) saying how to provide it.
    """
    who = param(name, owner)
    if not isinstance(spec, (str, os.PathLike)):
        fail(who, f"be a str: {SPEC_FORMS}", f"{spec!r} ({type(spec).__name__})", TypeError)
    text = os.fspath(spec)
    if not isinstance(text, str) or not text.strip():
        fail(who, f"be a non-empty str: {SPEC_FORMS}", repr(text))
    if text.startswith("hf:"):
        p = parse_hf(text, owner, name)
        if p.kind == "hub":
            reason = hub.offline_reason()
            if reason is not None and not hub.cached(p.source, "dataset"):
                raise DataNotFound(_hf_missing(p, reason, None))
        return text
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
    if text.startswith("hf:"):
        return hf(text)
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


# ---------------------------------------------------------------- Hugging Face datasets


class DataError(ValueError):
    """A dataset's content cannot be used (missing columns, empty split, undecodable image, non-string caption)."""


@dataclass(frozen=True)
class HFSpec:
    """A parsed `hf:` spec. kind: 'hub', 'disk' (save_to_disk folder), 'folder' (data files) or 'parquet'."""
    text: str
    source: str
    kind: str
    revision: str | None
    split: str
    image: str
    text_column: str
    caption: object   # int index or 'all'
    id: str | None


def _local_source(src):
    """(kind, path) of a local `hf:` source, or None when it names no local thing (a hub id)."""
    path = Path(src).expanduser()
    if src.endswith(".parquet") or any(c in src for c in "*?["):
        return "parquet", path
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return "disk", path
        return "folder", path
    if src.startswith(("/", ".", "~")) or path.exists():
        return "missing", path
    return None


def parse_hf(spec, owner="load", name="spec"):
    """Parse 'hf:NAME_OR_PATH[@REVISION][:SPLIT][?image=COL&text=COL&caption=I|all&id=COL]' (cheap: no network,
    no file read beyond checking that a local source exists and, for a save_to_disk folder, that it has the split)
    into an `HFSpec`.

    NAME_OR_PATH: a hub id ('minhuh/prh'), a folder written by `Dataset(Dict).save_to_disk`, a folder of data files
    that `datasets.load_dataset` reads (parquet, imagefolder, ...), or parquet files (a path or glob ending in
    .parquet). REVISION (hub ids only): a branch, tag or commit ('wit_1024'). SPLIT: default 'train'. Options:
    image (column of images, default 'image'), text (column of captions, a string or a list of strings per row,
    default 'text'), caption (index into each row's list, default 0, or 'all'), id (column of sample ids; default the
    row number)."""
    who = param(name, owner)
    if not isinstance(spec, str) or not spec.startswith("hf:"):
        fail(who, "be an 'hf:' dataset spec", repr(spec))
    body, _, query = spec[3:].partition("?")
    opts = {}
    for item in filter(None, query.split("&")):
        k, eq, v = item.partition("=")
        if k not in HF_OPTIONS or not eq or not v.strip():
            fail(who, f"have options KEY=VALUE with KEY among {', '.join(HF_OPTIONS)}", f"{item!r} in {spec!r}")
        opts[k] = v.strip()
    split, named = "train", False
    head, colon, tail = body.rpartition(":")
    if colon and tail and "/" not in tail and head:
        body, split, named = head, tail, True
    source, revision = body, None
    if "@" in body:
        src, _, rev = body.rpartition("@")
        if src and rev and "/" not in rev:
            source, revision = src, rev
    if not source.strip():
        fail(who, f"name a dataset: {SPEC_FORMS}", repr(spec))
    local = _local_source(source)
    if local is None:
        kind = "hub"
    elif local[0] == "missing":
        fail(who, "name an existing local dataset (folder or parquet files) or a hub id", f"{spec!r} ({local[1]} "
             "does not exist)")
    else:
        kind = local[0]
        if kind == "parquet" and not glob.glob(str(local[1])):
            fail(who, "name parquet files that exist", f"{spec!r} (no file matches {local[1]})")
        if revision is not None:
            fail(who, "give a revision (@REV) for hub datasets only", f"{spec!r} (a local {kind} source)")
        if kind == "disk":
            _check_saved_split(local[1], split, named, spec)
    caption = opts.get("caption", "0")
    if caption != "all":
        if not (caption.isascii() and caption.isdigit()):
            fail(who, "have caption=I (a caption index >= 0) or caption=all", f"caption={caption!r} in {spec!r}")
        caption = int(caption)
    return HFSpec(spec, source, kind, revision, split, opts.get("image", "image"), opts.get("text", "text"), caption,
                  opts.get("id"))


def _check_saved_split(folder, split, named, spec):
    """DataError unless a save_to_disk folder has the split: a DatasetDict lists its splits; a saved Dataset is one
    split and has none to choose (a named split is accepted only when it is the one the Dataset was saved from)."""
    def read(name):
        try:
            return json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    if (folder / "dataset_dict.json").is_file():
        splits = (read("dataset_dict.json") or {}).get("splits")
        if isinstance(splits, list) and split not in splits:
            raise DataError(f"Dataset {spec!r}: split {split!r} not found; the saved dataset has splits "
                            f"{sorted(splits)}. Name one after ':'.")
        return
    saved = (read("state.json") or {}).get("_split")
    if named and split != saved:
        was = f" (saved from split {saved!r})" if saved else ""
        raise DataError(f"Dataset {spec!r}: {folder} is a saved Dataset{was}, not a DatasetDict: it has no splits, "
                        f"so split {split!r} cannot be chosen. Drop ':{split}' from the spec.")


def _read_hf(p):
    """The split of an `HFSpec` as a datasets.Dataset; a source neither local nor downloadable now is DataNotFound
    (naming it and how to provide it, within seconds when the network is unreachable)."""
    try:
        import datasets
    except ImportError:
        raise ImportError(f"Dataset {p.text!r} needs the `datasets` library: pip install datasets") from None

    empty = DataError(f"Dataset {p.text!r}: split {p.split!r} is empty (0 rows).")
    if p.kind == "disk":
        folder = Path(p.source).expanduser()
        if (folder / "dataset_dict.json").is_file():  # parse_hf checked the split
            folder = folder / p.split
        try:  # datasets cannot reopen an empty saved split (no data file): say so before it trips
            no_data = json.loads((folder / "state.json").read_text(encoding="utf-8")).get("_data_files") == []
        except (OSError, ValueError, AttributeError):
            no_data = False
        if no_data:
            raise empty
        try:
            return datasets.load_from_disk(str(folder))
        except Exception as e:  # noqa: BLE001 - a damaged or foreign folder
            raise DataError(f"Dataset {p.text!r}: {folder} cannot be read by datasets.load_from_disk "
                            f"({type(e).__name__}: {e}).") from None
    if p.kind in ("parquet", "folder"):
        args = (("parquet",), {"data_files": {p.split: [str(Path(p.source).expanduser())]}}) if p.kind == "parquet" \
            else ((str(Path(p.source).expanduser()),), {})
        try:
            return datasets.load_dataset(*args[0], split=p.split, **args[1])
        except ValueError as e:
            if "corresponds to no data" in str(e):
                raise empty from None
            raise DataError(f"Dataset {p.text!r}: {e}") from None
    reason = hub.offline_reason()
    try:
        with hub.local_only(reason is not None):
            return datasets.load_dataset(p.source, revision=p.revision, split=p.split)
    except ValueError as e:  # an unknown split or config of a dataset that was found
        if "split" in str(e).lower():
            raise DataError(f"Dataset {p.text!r}: {e}") from None
        raise DataNotFound(_hf_missing(p, reason, e)) from None
    except Exception as e:  # noqa: BLE001 - ConnectionError, FileNotFoundError, DatasetNotFoundError, HTTP errors
        raise DataNotFound(_hf_missing(p, reason, e)) from None


def _hf_missing(p, reason, err):
    rev = f", revision={p.revision!r}" if p.revision else ""
    remedy = (f"on a machine with the hub, save it with `datasets.load_dataset({p.source!r}{rev}, "
              f"split={p.split!r}).save_to_disk(DIR)` and use 'hf:DIR', or copy its parquet files and use "
              "'hf:/path/*.parquet'")
    return hub.missing_message("dataset", p.text, reason, remedy, err)


def _image_bytes(value, column, row, where):
    """The encoded bytes of one image cell: an Image feature ({'bytes', 'path'}), raw bytes, or a file path."""
    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        if value.get("bytes"):
            return bytes(value["bytes"])
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value:
        path = Path(value) if Path(value).is_absolute() or where is None else Path(where) / value
        try:
            return path.read_bytes()
        except OSError as e:
            raise DataError(f"Row {row}: column {column!r} names image file {path}, which cannot be read "
                            f"({type(e).__name__}: {e}).") from None
    raise DataError(f"Row {row}: column {column!r} must hold an image (an Image feature, bytes or a file path). "
                    f"Got {type(value).__name__} instead.")


def _captions_of(value, row, p):
    """The caption(s) a row's text cell gives under the spec's caption choice: a str, or a tuple ('all')."""
    if isinstance(value, str):
        texts, listed = [value], False
    elif isinstance(value, (list, tuple)) and value:
        texts, listed = list(value), True
    else:
        got = "an empty list" if isinstance(value, (list, tuple)) else f"{value!r:.60} ({type(value).__name__})"
        raise DataError(f"Dataset {p.text!r}, row {row}: column {p.text_column!r} must hold a caption string or a "
                        f"non-empty list of caption strings. Got {got} instead.")
    for j, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            at = f" item {j}" if listed else ""
            raise DataError(f"Dataset {p.text!r}, row {row}: column {p.text_column!r}{at} must be a non-empty "
                            f"caption string. Got {t!r:.60} ({type(t).__name__}) instead.")
    if p.caption == "all":
        return tuple(t.strip() for t in texts)
    if p.caption >= len(texts):
        raise DataError(f"Dataset {p.text!r}, row {row}: caption={p.caption} asks for caption {p.caption} but the "
                        f"row has {len(texts)} caption(s) in column {p.text_column!r}.")
    return texts[p.caption].strip()


def hf(spec, *, cache_root=None):
    """The paired dataset of an `hf:` spec (see `parse_hf`), checked whole before any model is loaded.

    Errors (DataError, a ValueError, naming the dataset and the row): a named column that the split lacks (the
    columns it has are listed), an empty split, an image that does not decode (fully decoded once, when written to
    the cache), a caption that is not a non-empty string (or a caption index past a row's list), a repeated or
    empty id. A source that is neither on local disk nor downloadable now is DataNotFound.
    Images are written as stored (no re-encoding) under cache_root/datasets/hf-DIGEST, DIGEST covering every
    image's bytes and the captions; a later load of the same content reuses them."""
    import hashlib
    import io

    from empirical import models

    p = parse_hf(spec, "hf")
    d = _read_hf(p)
    cols = list(d.column_names)
    for option, column in (("image", p.image), ("text", p.text_column), ("id", p.id)):
        if column is not None and column not in cols:
            raise DataError(f"Dataset {p.text!r} has no column {column!r} (option {option}={column}); its columns "
                            f"are {cols}. Name the right one: ?{option}=COLUMN.")
    if len(d) == 0:
        raise DataError(f"Dataset {p.text!r}: split {p.split!r} is empty (0 rows).")
    try:
        from datasets import Image as HFImage

        if isinstance(d.features.get(p.image), HFImage):
            d = d.cast_column(p.image, HFImage(decode=False))  # the stored bytes, not decoded PIL images
    except ImportError:
        pass
    where = Path(p.source).expanduser() if p.kind != "hub" else None
    texts = d[p.text_column]
    captions = [_captions_of(t, r, p) for r, t in enumerate(texts)]
    if p.id is not None:
        ids = []
        for r, v in enumerate(d[p.id]):
            if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).strip():
                raise DataError(f"Dataset {p.text!r}, row {r}: id column {p.id!r} must hold non-empty strings or "
                                f"ints. Got {v!r:.60} instead.")
            ids.append(str(v))
        dup = sorted(i for i, c in Counter(ids).items() if c > 1)
        if dup:
            raise DataError(f"Dataset {p.text!r}: id column {p.id!r} repeats ids {dup[:5]}; ids must be unique.")
    else:
        ids = [f"{r:06d}" for r in range(len(d))]
    h = hashlib.sha256(json.dumps([p.text_column, captions], default=list).encode())
    blobs = []
    for r, batch in enumerate(d.select_columns([p.image]).iter(batch_size=256)):
        for j, value in enumerate(batch[p.image]):
            b = _image_bytes(value, p.image, r * 256 + j, where)
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
            blobs.append(b)
    root = Path(cache_root) if cache_root is not None else models.cache_root()
    target = root / "datasets" / f"hf-{h.hexdigest()[:20]}"
    manifest = target / "manifest.json"
    files = None
    if manifest.is_file():
        try:
            files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
            if len(files) != len(blobs) or not all((target / f).is_file() for f in files):
                files = None
        except (OSError, ValueError, KeyError, TypeError):
            files = None
    if files is None:
        names = []
        for r, b in enumerate(blobs):  # decode every image before anything is written
            try:
                with Image.open(io.BytesIO(b)) as img:
                    img.load()
                    fmt = (img.format or "png").lower()
            except Exception as e:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, DecompressionBomb
                raise DataError(f"Dataset {p.text!r}, row {r} (id {ids[r]!r}): the image in column {p.image!r} "
                                f"does not decode ({type(e).__name__}: {e}).") from None
            names.append(f"{r:06d}.{ {'jpeg': 'jpg'}.get(fmt, fmt)}")

        def fill(tmp):
            for n, b in zip(names, blobs):
                (tmp / n).write_bytes(b)
            runio.write_json(tmp / "manifest.json", {"source": p.text, "files": names})

        runio.publish_dir(target, lambda tmp: fill(Path(tmp)))
        files = names
    sets = None
    if p.caption == "all":
        sets, captions = tuple(captions), [c[0] for c in captions]
    opts = f"?image={p.image}&text={p.text_column}&caption={p.caption}" + (f"&id={p.id}" if p.id else "")
    name = f"hf:{p.source if p.kind == 'hub' else Path(p.source).expanduser().resolve()}" \
           f"{'@' + p.revision if p.revision else ''}:{p.split}{opts}"
    return PairedDataset(name, tuple(ids), tuple(target / f for f in files), tuple(captions), sets)
