"""Captions of increasing information for the same images (paper Fig. 9 / App. E).

openclipart (Debian `openclipart-svg` metadata + `openclipart-png` renders): title < title + description <
title + description + keywords, for images whose description has at least `min_words` words. Tux Paint: captions
truncated to their first 1, 2, 4 words < the full caption.
"""
from __future__ import annotations

import html
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from empirical.assets import deb_hint

SVG_ROOT = Path("/usr/share/openclipart/svg")
PNG_ROOT = Path("/usr/share/openclipart/png")
OPENCLIPART_LEVELS = ("title", "title+description", "title+description+keywords")
TRUNCATIONS = (1, 2, 4, None)  # None = the full caption

_NS = {"dc": "http://purl.org/dc/elements/1.1/", "cc": "http://web.resource.org/cc/",
       "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
_JUNK_KEYWORD = re.compile(r"^(hash\(0x[0-9a-f]+\)|[\W_\d]*)$", re.IGNORECASE)


@dataclass(frozen=True)
class ClipArt:
    """One openclipart image: `id` is the SVG path relative to the SVG root (without .svg)."""

    id: str
    png: Path
    title: str
    description: str
    keywords: tuple[str, ...]


def _clean(text: str | None) -> str:
    return " ".join(html.unescape(text or "").split())  # some descriptions were HTML-escaped twice


def parse_svg_metadata(path) -> tuple[str, str, tuple[str, ...]]:
    """(title, description, keywords) from an SVG's RDF/Dublin Core metadata; empty when absent.

    Keywords drop generator junk (hash(0x...), punctuation or digits only), the creator's own name (openclipart's
    uploader often tagged it), and case-insensitive repeats; order is kept. Whitespace is collapsed.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise ValueError(f"The 'path' parameter of parse_svg_metadata must be a readable SVG. "
                         f"Got {str(path)!r}: {e}") from None
    work = root.find(".//cc:Work", _NS)
    if work is None:
        return "", "", ()
    title = _clean(work.findtext("dc:title", namespaces=_NS))
    description = _clean(work.findtext("dc:description", namespaces=_NS))
    creator = _clean(work.findtext("dc:creator/cc:Agent/dc:title", namespaces=_NS)).lower()
    seen, keywords = set(), []
    for li in work.findall("dc:subject/rdf:Bag/rdf:li", _NS):
        k = _clean(li.text)
        if not k or _JUNK_KEYWORD.match(k) or k.lower() == creator or k.lower() in seen:
            continue
        seen.add(k.lower())
        keywords.append(k)
    return title, description, tuple(keywords)


def openclipart_records(svg_root=SVG_ROOT, png_root=PNG_ROOT, min_words: int = 5) -> list[ClipArt]:
    """Images with a title, a description of >= min_words words and a PNG render, sorted by id.

    Symlinked SVGs (the packages list some images under several categories) and duplicate captions are kept once.
    """
    owner = "openclipart_records"
    svg_root, png_root = Path(svg_root), Path(png_root)
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 0:
        raise ValueError(f"The 'min_words' parameter of {owner} must be an int >= 0. Got {min_words!r}.")
    if not svg_root.is_dir():
        raise FileNotFoundError(f"The 'svg_root' parameter of {owner} must be a folder. Got {str(svg_root)!r}; "
                                f"{deb_hint(['openclipart-svg', 'openclipart-png'])}.")
    out, seen = [], set()
    for dirpath, _, files in sorted(os.walk(svg_root)):
        for name in sorted(files):
            svg = Path(dirpath) / name
            if not name.endswith(".svg") or svg.is_symlink():
                continue
            rel = svg.relative_to(svg_root).with_suffix("")
            png = png_root / rel.with_suffix(".png")
            if not png.is_file():
                continue
            title, desc, kw = parse_svg_metadata(svg)
            key = (title.lower(), desc.lower())
            if not title or len(desc.split()) < min_words or key in seen:
                continue
            seen.add(key)
            out.append(ClipArt(str(rel), png, title, desc, kw))
    return sorted(out, key=lambda r: r.id)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def openclipart_caption(record: ClipArt, level: str) -> str:
    """The caption of `record` at one density of OPENCLIPART_LEVELS; each level contains the previous one."""
    if level not in OPENCLIPART_LEVELS:
        raise ValueError(f"The 'level' parameter of openclipart_caption must be one of {OPENCLIPART_LEVELS}. "
                         f"Got {level!r} instead.")
    parts = [_sentence(record.title)]
    if level != "title":
        parts.append(_sentence(record.description))
    if level == "title+description+keywords" and record.keywords:
        parts.append("Keywords: " + ", ".join(record.keywords) + ".")
    return " ".join(parts)


def truncate_words(caption: str, n_words: int | None) -> str:
    """The first n_words whitespace-separated words of caption (all of them for None)."""
    if not isinstance(caption, str) or not caption.split():
        raise ValueError(f"The 'caption' parameter of truncate_words must be a non-empty string. Got {caption!r}.")
    if n_words is None:
        return " ".join(caption.split())
    if isinstance(n_words, bool) or not isinstance(n_words, int) or n_words < 1:
        raise ValueError(f"The 'n_words' parameter of truncate_words must be an int >= 1 or None. Got {n_words!r}.")
    return " ".join(caption.split()[:n_words])


def truncation_label(n_words: int | None) -> str:
    """'1 word', '2 words', ..., or 'full'."""
    return "full" if n_words is None else f"{n_words} word{'s' if n_words != 1 else ''}"
