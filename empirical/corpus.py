"""Real English text for bits-per-byte: the Wikipedia articles in gensim's test data (plain text, markup removed).

gensim is installed without its dependencies only for this file; it is read directly, never imported.
"""
import bz2
import html
import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from empirical.assets import HINT
from platonic_core.checks import check_int, fail, param

ENWIKI = "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


_INSTALL = f"{HINT} (or `pip install --no-deps --force-reinstall gensim==4.4.0`)"


def enwiki_path():
    """The bz2 dump inside the installed gensim package (FileNotFoundError saying how to install it if absent)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"gensim's enwiki test dump needs the package gensim==4.4.0: {_INSTALL}.")
    path = Path(spec.submodule_search_locations[0]) / ENWIKI
    if not path.is_file():
        raise FileNotFoundError(f"gensim is installed but its enwiki test dump {path} is missing: {_INSTALL}.")
    return path


def _innermost(pattern, repl, text):
    """Apply a substitution until nothing changes (templates, tables and links nest)."""
    while True:
        new = re.sub(pattern, repl, text)
        if new == text:
            return text
        text = new


def _link(m):
    target, _, label = m.group(1).partition("|")
    if re.match(r"\s*(file|image|category|media|[a-z]{2,3}(-[a-z]+)?)\s*:", target, re.I):
        return ""  # media, categories and interlanguage links carry no prose
    return label.rsplit("|", 1)[-1] if label else target


def wiki_to_text(markup):
    """Prose paragraphs of a MediaWiki article: templates, tables, references, media and lists removed."""
    if not isinstance(markup, str):
        fail(param("markup", "wiki_to_text"), "be a str", f"{type(markup).__name__}", TypeError)
    t = re.sub(r"<!--.*?-->", "", markup, flags=re.S)
    t = re.sub(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>|<math[^>]*>.*?</math>", "", t, flags=re.S | re.I)
    t = _innermost(r"\{\{[^{}]*\}\}", "", t)
    t = _innermost(r"\{\|[^{}]*?\|\}", "", t)
    t = _innermost(r"\[\[([^\[\]]*)\]\]", _link, t)
    t = re.sub(r"\[(?:https?|ftp)://\S+\s*([^\]]*)\]", r"\1", t)
    t = re.sub(r"<[^>]+>", "", t)
    t = re.sub(r"'{2,}", "", html.unescape(t))
    paragraphs = []
    for line in t.splitlines():
        line = re.sub(r"\s+", " ", line).strip()
        markup_left = any(m in line for m in ("{{", "}}", "[[", "]]", "{|", "|}", "\\"))  # unbalanced nesting
        if len(line) >= 80 and not markup_left and not line.startswith(("=", "*", "#", ":", ";", "|", "!", "{", "}")):
            paragraphs.append(line)
    return "\n".join(paragraphs)


def enwiki(max_articles=None, max_chars=None):
    """Plain-text articles (title order of the dump; redirects and near-empty pages skipped).

    max_articles: keep the first n; max_chars: cut each article at a whitespace before that many characters (both
    None or an int >= 1, checked before the dump is read).
    """
    for name, v in (("max_articles", max_articles), ("max_chars", max_chars)):
        if v is not None:
            check_int(v, name, "enwiki", 1)
    path = enwiki_path()
    out = []
    try:
        with bz2.open(path) as f:
            for _, el in ET.iterparse(f):
                if not el.tag.endswith("}page"):
                    continue
                raw = el.findtext(".//{*}text") or ""
                if el.findtext("{*}ns") == "0" and not raw.lstrip().upper().startswith("#REDIRECT"):
                    text = wiki_to_text(raw)
                    if len(text) >= 500:
                        if max_chars is not None and len(text) > max_chars:
                            text = text[:max_chars].rsplit(" ", 1)[0]
                        out.append(text)
                el.clear()
                if max_articles is not None and len(out) >= max_articles:
                    break
    except (OSError, EOFError, ET.ParseError) as e:  # a damaged install: bad bz2 stream, cut file, broken XML
        raise OSError(f"The enwiki dump {path} cannot be read ({type(e).__name__}: {e}); {_INSTALL}.") from e
    return out
