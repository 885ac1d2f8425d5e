"""Paired image-caption datasets: the Tux Paint stamps, a local folder, or a JSONL manifest.

All loaders return a `PairedDataset`: parallel tuples of sample ids, image paths and captions, sorted by id (so the
same files always give the same order). Images open as RGB with transparency composited on white.
- `tuxpaint()`: Debian `tuxpaint-stamps-default`; `NAME.png` with its caption on the first line of `NAME.txt`;
  `photos_only=True` keeps real photo cut-outs (a colour-richness test, see `is_photo`), not clip art.
- `folder(path)`: every image under `path` that has a caption file beside it (`x.jpg` + `x.txt`, first line).
- `jsonl(path)`: one JSON object per line, `{"image": "rel/or/abs.jpg", "caption": "...", "id": "optional"}`.
- `load(spec)`: "tuxpaint", "tuxpaint:all", a folder, or a .jsonl file.
"""
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TUXPAINT_ROOT = Path("/usr/share/tuxpaint/stamps")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


@dataclass(frozen=True)
class PairedDataset:
    """`name` identifies the source in cache keys; ids, images (paths) and captions are parallel tuples."""
    name: str
    ids: tuple
    images: tuple
    captions: tuple

    def __len__(self):
        return len(self.ids)

    def image(self, i):
        """Sample i as an RGB PIL image, transparency composited on white."""
        return composite_on_white(Image.open(self.images[i]))

    def load_images(self):
        return [self.image(i) for i in range(len(self))]

    def subset(self, n, seed=0):
        """n samples chosen by `seed` (kept in id order); n >= len gives the whole set."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"The 'n' parameter of PairedDataset.subset must be a positive int. Got {n!r} instead.")
        if n >= len(self):
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return self.select(keep)

    def select(self, index):
        """The samples at the given positions, in that order."""
        pick = lambda xs: tuple(xs[int(i)] for i in index)  # noqa: E731
        return dataclasses.replace(self, ids=pick(self.ids), images=pick(self.images), captions=pick(self.captions))

    def with_captions(self, captions, name):
        """Same images with other captions (e.g. truncated), under a new dataset name."""
        captions = tuple(captions)
        if len(captions) != len(self):
            raise ValueError(f"The 'captions' parameter of with_captions must have {len(self)} entries. "
                             f"Got {len(captions)} instead.")
        return dataclasses.replace(self, name=name, captions=captions)

    def fingerprint(self, modality):
        """Digest of what a model sees: caption texts, or image file sizes and times (cheap, no decoding)."""
        h = hashlib.sha256()
        for i in range(len(self)):
            if modality == "language":
                h.update(self.captions[i].encode() + b"\0")
            else:
                st = Path(self.images[i]).stat()
                h.update(f"{self.images[i]}|{st.st_size}|{st.st_mtime_ns}\0".encode())
        return h.hexdigest()[:16]


def composite_on_white(img):
    """RGB image with any transparency (RGBA, LA, palette) blended onto a white background."""
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


def is_photo(path):
    """Heuristic: a real photo cut-out rather than clip art.

    Clip art (no SVG twin, not in a 'cartoon' folder) still has few flat colours; photos have many. Counts the
    distinct colours of the opaque pixels on a 64-level RGB grid: at least 400, and at least 4 * sqrt(pixels).
    On the Tux Paint stamps this keeps ~330 of 802 images, almost all photos.
    """
    path = Path(path)
    if "cartoon" in path.parts or path.with_suffix(".svg").exists():
        return False
    a = np.asarray(Image.open(path).convert("RGBA"))
    px = a[..., :3][a[..., 3] > 200] // 4
    if len(px) < 1024:
        return False
    colours = len(np.unique((px[:, 0].astype(np.int64) << 12) | (px[:, 1].astype(np.int64) << 6) | px[:, 2]))
    return colours >= 400 and colours >= 4 * np.sqrt(len(px))


def tuxpaint(root=TUXPAINT_ROOT, photos_only=True):
    """The Tux Paint stamps with their English captions; ids are paths relative to `root` without suffix."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"Tux Paint stamps not found at {root}. Install them: `apt-get install tuxpaint-stamps-default` "
            "(scripts/install_assets.sh does this).")
    pngs = [p for p in sorted(root.rglob("*.png")) if p.with_suffix(".txt").is_file()]
    if photos_only:
        pngs = [p for p in pngs if is_photo(p)]
    name = "tuxpaint-photos" if photos_only else "tuxpaint-all"
    return _make(name, [(str(p.relative_to(root).with_suffix("")), p, read_caption(p.with_suffix(".txt")))
                        for p in pngs], root)


def folder(path):
    """Images under `path` (recursively) that have a caption file beside them: `x.jpg` + `x.txt`."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"The 'path' parameter of folder must be an existing folder. Got {path} instead.")
    rows = [(str(p.relative_to(path).with_suffix("")), p, read_caption(p.with_suffix(".txt")))
            for p in sorted(path.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.with_suffix(".txt").is_file()]
    return _make(f"folder:{path.resolve()}", rows, path)


def jsonl(path):
    """A JSONL manifest: one `{"image": ..., "caption": ..., "id": ...}` per line; relative images from its folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The 'path' parameter of jsonl must be an existing file. Got {path} instead.")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n} is not valid JSON: {e}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("image"), str):
            raise ValueError(f"{path}:{n} must be an object with a string 'image'. Got {line.strip()[:80]!r}.")
        caption = rec.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"{path}:{n} has no caption text (a non-empty string 'caption' is required).")
        image = (path.parent / rec["image"]).resolve()
        if not image.is_file():
            raise FileNotFoundError(f"{path}:{n}: image {image} does not exist.")
        rows.append((str(rec.get("id", Path(rec["image"]).with_suffix(""))), image, caption.strip()))
    return _make(f"jsonl:{path.resolve()}", rows, path)


def load(spec="tuxpaint"):
    """'tuxpaint' (photos), 'tuxpaint:all', a folder of image + caption files, or a .jsonl manifest."""
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"The 'spec' parameter of load must be a str or path. Got {type(spec).__name__} instead.")
    if spec in ("tuxpaint", "tuxpaint:photos"):
        return tuxpaint()
    if spec == "tuxpaint:all":
        return tuxpaint(photos_only=False)
    path = Path(spec)
    if path.is_dir():
        return folder(path)
    if path.suffix == ".jsonl":
        return jsonl(path)
    raise ValueError(f"The 'spec' parameter of load must be 'tuxpaint', 'tuxpaint:all', a folder or a .jsonl file. "
                     f"Got {spec!r} instead.")


def _make(name, rows, where):
    if not rows:
        raise ValueError(f"No image-caption pairs found in {where} (expected images with a same-name .txt caption "
                         "file, or manifest lines with 'image' and 'caption').")
    rows.sort(key=lambda r: r[0])
    ids = [r[0] for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) < len(ids) else []
    if dup:
        raise ValueError(f"Duplicate sample ids in {where}: {dup[:5]}")
    return PairedDataset(name, tuple(ids), tuple(Path(r[1]) for r in rows), tuple(r[2] for r in rows))
