"""One report per run, and one index of all runs: `python -m platonic_core.report [RUNS_DIR]`.

`write_report(run_dir)` turns run_dir/results.json into run_dir/report.html: a self-contained page (no script, no
external file; figures embedded as PNG data) with the run's headline number, command, git commit and the summary
the terminal printed, then its figures, then (folded) every number of its results as tables, the resolved config,
the timings and the package versions. The runner writes it after every run.
`write_index(runs_dir)` writes runs_dir/index.html: one row per run found below runs_dir, with its experiment,
headline number, time, duration and the settings that differ between runs of one experiment, linking to its report
(written first where missing or stale).
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
body{font:14px/1.45 system-ui,sans-serif;margin:1.2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.4em}
.lead{color:#555;margin:.2em 0}.headline{font-size:1.3em;background:#eef4fb;padding:.4em .8em;border-radius:6px;
display:inline-block;margin:.4em 0}code{overflow-wrap:anywhere}
pre.summary{background:#f7f7f7;border:1px solid #ddd;padding:.6em;font-size:12.5px;line-height:1.3;overflow:auto;
max-height:75vh;margin:.4em 0}
.box{overflow:auto;max-height:80vh;max-width:100%;margin:.3em 0}td .box{max-width:1000px;max-height:60vh}
td td .box{max-width:30em}td:has(>.box){max-width:none}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;vertical-align:top;text-align:left;
max-width:36em;overflow-wrap:break-word}th{background:#f5f5f5;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.seq{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all;max-width:900px;max-height:10em;
overflow:auto}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}details{margin:.5em 0}summary{cursor:pointer;font-weight:600}
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


def _num(v) -> str:
    return ' class="n"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""


def _cell(v, names=()) -> str:
    return f"<td{_num(v)}>{_render(v, names)}</td>"


def _short(v) -> bool:
    """A value shown inline in one cell: a scalar or a short list of scalars (a layer pair)."""
    return _scalar(v) or (isinstance(v, list) and len(v) <= 4 and all(_scalar(x) for x in v))


def _inline(v) -> str:
    return html.escape(fmt(v) if _scalar(v) else ", ".join(fmt(x) for x in v))


def _box(table: str) -> str:
    """A table in a box that scrolls: nothing falls off the page, no row is taller than a screen."""
    return f'<div class="box"><table>{table}</table></div>'


def _labels(names, n: int, first: bool) -> list[str]:
    """Row (first) or column labels of a matrix with n of them: the first (last) list of names of that length among
    the results' lists of names (vision x language models, models x models), else the indices."""
    fits = [v for v in names if len(v) == n]
    return [str(x) for x in (fits[0] if first else fits[-1])] if fits else [str(i) for i in range(n)]


def _render(v, names=()) -> str:
    """HTML for any JSON value: dicts as key/value tables (a dict of like records as one table), uniform lists of
    dicts as tables with a header, matrices as tables labelled by `names` (the lists of names among the results),
    lists of scalars as one wrapped line; every number is shown."""
    if _scalar(v):
        return html.escape(fmt(v))
    if isinstance(v, dict):
        records = list(v.values())
        if records and all(isinstance(x, dict) and x for x in records) and len({tuple(x) for x in records}) == 1:
            # a column per record, a row per field, the short fields first: a record's key numbers are seen at once
            fields = sorted(records[0], key=lambda f: not all(_short(x[f]) for x in records))
            head = "<th></th>" + "".join(f"<th>{html.escape(str(k))}</th>" for k in v)
            body = "".join(f"<tr><th>{html.escape(str(f))}</th>" + "".join(
                f"<td>{_inline(x[f])}</td>" if _short(x[f]) else f"<td>{_render(x[f], names)}</td>" for x in records)
                + "</tr>" for f in fields)
            return _box(f"<tr>{head}</tr>{body}")
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_render(x, names)}</td></tr>" for k, x in v.items())
        return _box(rows) if rows else "{}"
    if not v:
        return "[]"
    if all(_scalar(x) for x in v):
        return f'<div class="seq">{html.escape(", ".join(fmt(x) for x in v))}</div>'
    if all(isinstance(x, dict) for x in v) and len({tuple(x) for x in v}) == 1:
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in v[0])
        body = "".join("<tr>" + "".join(_cell(x, names) for x in row.values()) + "</tr>" for row in v)
        return _box(f"<tr>{head}</tr>{body}")
    if all(isinstance(x, list) and x and all(_short(y) or isinstance(y, dict) for y in x) for x in v) \
            and len(set(map(len, v))) == 1:  # a matrix (of numbers, layer pairs or records)
        rows, cols = _labels(names, len(v), True), _labels(names, len(v[0]), False)
        head = "<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"
        return _box(head + "".join(f"<tr><th>{html.escape(r)}</th>" + "".join(
            f"<td{_num(y)}>{_inline(y)}</td>" if _short(y) else _cell(y) for y in row) + "</tr>"
            for r, row in zip(rows, v)))
    return "<ol start=0>" + "".join(f"<li>{_render(x, names)}</li>" for x in v) + "</ol>"


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


def _fold(title: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{html.escape(title)}</summary>{body}</details>"


def write_report(run_dir) -> Path:
    """run_dir/report.html from run_dir/results.json (atomically). What a person reads first comes first: the
    headline, the command and commit, the summary the terminal printed; then the figures; then every number,
    folded away."""
    run_dir = Path(run_dir)
    data = _read(run_dir / "results.json")
    cfg, results, timings = data.get("config", {}), data.get("results", {}), data.get("timings", {})
    name = cfg.get("experiment", run_dir.name)
    label, value = headline(data)
    description = ""
    if name:
        from .experiment import registry

        exp = registry().get(name)
        description = exp.description if exp is not None else ""
    shown = {k: v for k, v in results.items() if k != "plots"}
    names = [v for v in shown.values() if isinstance(v, list) and v and all(isinstance(x, str) for x in v)]
    when = f", started {timings['started']} UTC, {fmt(timings.get('seconds'))} s" if "started" in timings else ""
    made = "".join(f'<p class="lead">{k}: <code>{html.escape(str(data[k]))}</code></p>'
                   for k in ("command", "commit") if data.get(k))
    summary = f'<pre class="summary">{html.escape(data["summary"])}</pre>' if data.get("summary") else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(f"{name}: {run_dir}")}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(str(name))}</h1><p class="lead">{html.escape(description)}</p>
<p class="headline">{html.escape(label)}: <b>{html.escape(fmt(value))}</b></p>
<p class="lead">{html.escape(str(run_dir))}: seed {html.escape(fmt(data.get("seed")))}{html.escape(when)}</p>
{made}{summary}
<h2>Figures</h2>{_figures(run_dir, results)}
<h2>Everything</h2>
{_fold("Results", _render(shown, names))}
{_fold("Configuration", _render(cfg))}
{_fold("Timings", _render(timings))}
{_fold("Versions", _render(data.get("versions", {})))}
</body></html>
"""
    return runio.atomic_write_bytes(run_dir / "report.html", page.encode())


def _row(path: Path, runs_dir: Path) -> dict:
    """The index row of the run whose results.json is `path`, its report.html (re)written if missing or stale."""
    run_dir = path.parent
    report = run_dir / "report.html"
    if not report.is_file() or report.stat().st_mtime < path.stat().st_mtime:
        write_report(run_dir)
    data = _read(path)
    label, value = headline(data)
    timings, cfg = data.get("timings", {}), data.get("config", {})
    when = str(timings.get("started") or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat())
    return {"when": when, "dir": run_dir.relative_to(runs_dir), "experiment": str(cfg.get("experiment", "")),
            "seconds": timings.get("seconds"), "label": str(label), "value": value,
            "settings": {k: v for k, v in cfg.items() if k not in ("experiment", "out")}}


def _differing(rows: list[dict]) -> None:
    """Give each row the text of the settings that differ between the runs of its experiment."""
    for exp in {r["experiment"] for r in rows}:
        group = [r for r in rows if r["experiment"] == exp]
        keys = sorted({k for r in group for k in r["settings"]})
        vary = [k for k in keys if len({json.dumps(r["settings"].get(k), sort_keys=True) for r in group}) > 1]
        for r in group:
            r["differ"] = ", ".join(f"{k}={fmt(r['settings'].get(k))}" for k in vary)


def _link(rel: Path) -> str:
    """A relative link to rel/report.html: every character that could make it a scheme or leave the path quoted."""
    return html.escape("./" + urllib.parse.quote(f"{rel.as_posix()}/report.html"))


def write_index(runs_dir="runs") -> Path:
    """runs_dir/index.html: every run below runs_dir (a folder holding results.json), newest first, with its
    experiment, headline, time and the settings that differ between the runs of its experiment, linking to its
    report.html, which is (re)written when missing or older than its results.json. A run whose results.json
    cannot be read or shown is left out with a one-line warning on stderr."""
    runs_dir = Path(runs_dir)
    rows = []
    for path in sorted(runs_dir.rglob("results.json")):
        try:
            rows.append(_row(path, runs_dir))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OSError) as err:
            print(f"warning: skipped {path}: {err}".replace("\n", " "), file=sys.stderr)
    rows.sort(key=lambda r: r["when"], reverse=True)
    _differing(rows)
    body = "".join(
        f'<tr><td><a href="{_link(r["dir"])}">{html.escape(str(r["dir"]))}</a></td>'
        f'<td>{html.escape(r["experiment"])}</td><td>{html.escape(r["label"])}</td>{_cell(r["value"])}'
        f'<td>{html.escape(r["when"][:19])}</td>{_cell(r["seconds"])}<td>{html.escape(r["differ"])}</td></tr>'
        for r in rows)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Runs in {html.escape(str(runs_dir))}</title>
<style>{_CSS}</style></head><body>
<h1>Runs in {html.escape(str(runs_dir))}</h1><p class="lead">{len(rows)} runs, newest first; the last column
shows the settings that differ between the runs of one experiment.</p>
{_box("<tr><th>run</th><th>experiment</th><th>headline</th><th>value</th><th>started (UTC)</th><th>seconds</th>"
      f"<th>settings that differ</th></tr>{body}")}
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
