"""One report per run, and one index of all runs: `python -m platonic_core.report [RUNS_DIR]`.

`write_report(run_dir)` turns run_dir/results.json into run_dir/report.html: a self-contained page (no script, no
external file; figures embedded as PNG data) with the run's headline number, its figures, every number of its
results as tables, the resolved config, the timings and the package versions. The runner writes it after every run.
`write_index(runs_dir)` writes runs_dir/index.html: one row per run found below runs_dir, with its experiment, seed,
time, duration and headline number, linking to its report (written first where missing or stale).
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import math
import sys
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

from . import checks, runio

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}
.lead{color:#555}.headline{font-size:1.3em;background:#eef4fb;padding:.5em .8em;border-radius:6px;display:inline-block}
table{border-collapse:collapse;margin:.3em 0}td,th{border:1px solid #ddd;padding:2px 6px;vertical-align:top;
text-align:left}th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.seq{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all;max-width:900px}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}details{margin:.3em 0}
"""
_SECTIONS = ("config", "results", "timings", "versions")


def fmt(value) -> str:
    """The one way a report writes a value: ints as they are, floats to 6 significant digits."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _cell(v) -> str:
    cls = ' class="n"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
    return f"<td{cls}>{_render(v)}</td>"


def _render(v) -> str:
    """HTML for any JSON value: dicts as key/value tables, uniform lists of dicts as tables with a header, matrices
    as tables, lists of scalars as one wrapped line; every number is shown."""
    if _scalar(v):
        return html.escape(fmt(v))
    if isinstance(v, dict):
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(x)}</tr>" for k, x in v.items())
        return f"<table>{rows}</table>" if rows else "{}"
    if not v:
        return "[]"
    if all(_scalar(x) for x in v):
        return f'<div class="seq">{html.escape(", ".join(fmt(x) for x in v))}</div>'
    if all(isinstance(x, dict) for x in v) and len({tuple(x) for x in v}) == 1:
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in v[0])
        body = "".join("<tr>" + "".join(_cell(x) for x in row.values()) + "</tr>" for row in v)
        return f"<table><tr>{head}</tr>{body}</table>"
    if all(isinstance(x, list) and all(_scalar(y) for y in x) for x in v):
        return "<table>" + "".join("<tr>" + "".join(_cell(y) for y in row) + "</tr>" for row in v) + "</table>"
    return "<ol start=0>" + "".join(f"<li>{_render(x)}</li>" for x in v) + "</ol>"


def leaves(v, path=""):
    """(path, value) of every scalar inside a JSON value, depth first."""
    if isinstance(v, dict):
        for k, x in v.items():
            yield from leaves(x, f"{path}.{k}" if path else str(k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from leaves(x, f"{path}[{i}]")
    else:
        yield path, v


def headline(data: dict) -> tuple[str, object]:
    """(label, value) of a run's key number: its experiment's `headline(results)` if it has one, else the first
    number of its results."""
    results, name = data.get("results", {}), data.get("config", {}).get("experiment")
    if name:
        from .experiment import registry

        exp = registry().get(name)
        if exp is not None and hasattr(exp.load(), "headline"):
            return exp.load().headline(results)
    for path, value in leaves(results):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return path, value
    return "", None


def _figures(run_dir: Path, results: dict) -> str:
    """The listed PNGs that are regular files inside run_dir (symlinks resolved), embedded; other names listed."""
    root, out, refused = run_dir.resolve(), [], []
    for name in results.get("plots", []):
        path = (run_dir / str(name)).resolve()
        if not (path.is_relative_to(root) and path.is_file()):
            refused.append(str(name))
            continue
        data = base64.b64encode(path.read_bytes()).decode()
        out.append(f'<figure><img alt="{html.escape(str(name))}" src="data:image/png;base64,{data}">'
                   f"<figcaption>{html.escape(str(name))}</figcaption></figure>")
    if refused:
        out.append(f"<p>Not shown (missing, or not a file inside the run folder): "
                   f"{html.escape(', '.join(refused))}</p>")
    return "".join(out) or "<p>No figures.</p>"


def write_report(run_dir) -> Path:
    """run_dir/report.html from run_dir/results.json (atomically)."""
    run_dir = Path(run_dir)
    data = _read(run_dir / "results.json")
    cfg, results = data.get("config", {}), data.get("results", {})
    name = cfg.get("experiment", run_dir.name)
    label, value = headline(data)
    description = ""
    if name:
        from .experiment import registry

        exp = registry().get(name)
        description = exp.description if exp is not None else ""
    shown = {k: v for k, v in results.items() if k != "plots"}
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(f"{name}: {run_dir}")}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(str(name))}</h1><p class="lead">{html.escape(description)}</p>
<p class="lead">{html.escape(str(run_dir))}: seed {html.escape(fmt(data.get("seed")))}</p>
<p class="headline">{html.escape(label)}: <b>{html.escape(fmt(value))}</b></p>
<h2>Figures</h2>{_figures(run_dir, results)}
<h2>Results</h2>{_render(shown)}
<h2>Configuration</h2>{_render(cfg)}
<h2>Timings</h2>{_render(data.get("timings", {}))}
<h2>Versions</h2>{_render(data.get("versions", {}))}
</body></html>
"""
    return runio.atomic_write_bytes(run_dir / "report.html", page.encode())


def _row(path: Path, runs_dir: Path) -> tuple:
    """The index row of the run whose results.json is `path`, its report.html (re)written if missing or stale."""
    run_dir = path.parent
    report = run_dir / "report.html"
    if not report.is_file() or report.stat().st_mtime < path.stat().st_mtime:
        write_report(run_dir)
    data = _read(path)
    label, value = headline(data)
    timings = data.get("timings", {})
    when = str(timings.get("started") or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat())
    return (when, run_dir.relative_to(runs_dir), data.get("config", {}).get("experiment", ""), data.get("seed"),
            timings.get("seconds"), str(label), value)


def _link(rel: Path) -> str:
    """A relative link to rel/report.html: every character that could make it a scheme or leave the path quoted."""
    return html.escape("./" + urllib.parse.quote(f"{rel.as_posix()}/report.html"))


def write_index(runs_dir="runs") -> Path:
    """runs_dir/index.html: every run below runs_dir (a folder holding results.json), newest first, with a link to
    its report.html, which is (re)written when missing or older than its results.json. A run whose results.json
    cannot be read or shown is left out with a one-line warning on stderr."""
    runs_dir = Path(runs_dir)
    rows = []
    for path in sorted(runs_dir.rglob("results.json")):
        try:
            rows.append(_row(path, runs_dir))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OSError) as err:
            print(f"warning: skipped {path}: {err}".replace("\n", " "), file=sys.stderr)
    rows.sort(key=lambda r: r[0], reverse=True)
    body = "".join(
        f'<tr><td><a href="{_link(d)}">{html.escape(str(d))}</a></td><td>{html.escape(str(e))}</td>{_cell(s)}'
        f"<td>{html.escape(w[:19])}</td>{_cell(t)}<td>{html.escape(lab)}</td>{_cell(v)}</tr>"
        for w, d, e, s, t, lab, v in rows)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Runs in {html.escape(str(runs_dir))}</title>
<style>{_CSS}</style></head><body>
<h1>Runs in {html.escape(str(runs_dir))}</h1><p class="lead">{len(rows)} runs, newest first.</p>
<table><tr><th>run</th><th>experiment</th><th>seed</th><th>started (UTC)</th><th>seconds</th><th>key number</th>
<th>value</th></tr>{body}</table>
</body></html>
"""
    return runio.atomic_write_bytes(runs_dir / "index.html", page.encode())


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"Cannot read {path}: {err}. Rerun its experiment to write it again.") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k, {}), dict) for k in _SECTIONS) \
            or not isinstance(data.get("results", {}).get("plots", []), list):
        raise ValueError(f"{path} is not a results.json of the one schema (a dict of dicts {', '.join(_SECTIONS)}, "
                         "results.plots a list). Rerun its experiment to write it again.")
    return data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m platonic_core.report",
                                description="Write report.html for every run below RUNS_DIR and RUNS_DIR/index.html.")
    p.add_argument("runs_dir", nargs="?", default="runs", help="folder holding the runs (default runs)")
    args = p.parse_args(argv)
    try:
        runs_dir = checks.check_out_dir(args.runs_dir, "runs_dir", p.prog)
        if not runs_dir.is_dir():
            checks.fail(checks.param("runs_dir", p.prog), "be an existing folder", repr(args.runs_dir))
        path = write_index(runs_dir)
    except ValueError as err:
        p.exit(2, f"{p.prog}: error: {err}\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
