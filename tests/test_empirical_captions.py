"""openclipart metadata parsing and caption densities (empirical/caption_density.py)."""
from pathlib import Path

import pytest

from empirical import captions as cd

SVG = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:cc="http://web.resource.org/cc/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <metadata><rdf:RDF><cc:Work rdf:about="">
  <dc:title>{title}</dc:title>
  <dc:description>{desc}</dc:description>
  <dc:subject><rdf:Bag>{kw}</rdf:Bag></dc:subject>
  <dc:creator><cc:Agent><dc:title>Jane Doe</dc:title></cc:Agent></dc:creator>
 </cc:Work></rdf:RDF></metadata>
</svg>"""


def _write(root: Path, rel: str, title: str, desc: str, keywords=(), png=True):
    svg = root / "svg" / f"{rel}.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    kw = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    svg.write_text(SVG.format(title=title, desc=desc, kw=kw))
    if png:
        p = root / "png" / f"{rel}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\x89PNG")
    return svg


def test_parse_svg_metadata_cleans_keywords(tmp_path):
    svg = _write(tmp_path, "a/cat", " A   cat ", "A &amp;quot;small&amp;quot; cat\n on a mat",
                 ["hash(0x8c82364)", "jane doe", "animal", "Animal", "cat", "123", " pet "])
    title, desc, kw = cd.parse_svg_metadata(svg)
    assert title == "A cat"
    assert desc == 'A "small" cat on a mat'
    assert kw == ("animal", "cat", "pet")


def test_records_filter_by_description_length_png_and_symlinks(tmp_path):
    _write(tmp_path, "animals/cat", "Cat", "a cat sitting on a mat", ["animal"])
    _write(tmp_path, "animals/dog", "Dog", "a dog, barking", ["animal"])  # 3 words: dropped
    _write(tmp_path, "things/box", "Box", "a brown box with a lid", png=False)  # no render: dropped
    _write(tmp_path, "people/man", "Man", "a man in a chair thinking")
    (tmp_path / "svg" / "pets").mkdir()
    (tmp_path / "svg" / "pets" / "cat.svg").symlink_to(tmp_path / "svg" / "animals" / "cat.svg")
    recs = cd.openclipart_records(tmp_path / "svg", tmp_path / "png", min_words=5)
    assert [r.id for r in recs] == ["animals/cat", "people/man"]
    assert recs[0].png == tmp_path / "png" / "animals" / "cat.png"
    assert len(cd.openclipart_records(tmp_path / "svg", tmp_path / "png", min_words=3)) == 3


def test_caption_levels_nest_and_grow():
    r = cd.ClipArt("x", Path("x.png"), "Apple With Worm", "A worm comes out of an apple!", ("food", "fruit"))
    caps = [cd.openclipart_caption(r, lv) for lv in cd.OPENCLIPART_LEVELS]
    assert caps == ["Apple With Worm.", "Apple With Worm. A worm comes out of an apple!",
                    "Apple With Worm. A worm comes out of an apple! Keywords: food, fruit."]
    bare = cd.ClipArt("y", Path("y.png"), "Box.", "a brown box with a lid", ())
    assert cd.openclipart_caption(bare, "title+description+keywords") == "Box. a brown box with a lid."


def test_truncate_words():
    cap = "A  red fox\tjumps over the dog."
    assert cd.truncate_words(cap, 1) == "A"
    assert cd.truncate_words(cap, 4) == "A red fox jumps"
    assert cd.truncate_words(cap, 40) == cd.truncate_words(cap, None) == "A red fox jumps over the dog."
    assert [cd.truncation_label(n) for n in cd.TRUNCATIONS] == ["1 word", "2 words", "4 words", "full"]


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="'n_words'.*>= 1 or None. Got 0"):
        cd.truncate_words("a b", 0)
    with pytest.raises(ValueError, match="'caption'.*non-empty"):
        cd.truncate_words("   ", 2)
    with pytest.raises(ValueError, match="'level'.*one of"):
        cd.openclipart_caption(cd.ClipArt("x", Path("x"), "t", "d", ()), "keywords")
    with pytest.raises(FileNotFoundError, match="openclipart-svg"):
        cd.openclipart_records(tmp_path / "nope", tmp_path)
    bad = tmp_path / "bad.svg"
    bad.write_text("<svg><unclosed></svg>")
    with pytest.raises(ValueError, match="'path'.*readable SVG"):
        cd.parse_svg_metadata(bad)
