"""One report per run and one index of runs (platonic_core.report), and progress only on a terminal."""
import html
import json
import os
import pty
import re
import select
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from platonic_core import experiment, report

ROOT = Path(__file__).resolve().parents[1]
VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Balance(HTMLParser):
    """Checks that every element is closed in order; collects the page's text."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Balance:
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert page.startswith("<!DOCTYPE html>") and not parser.errors and parser.stack == [], parser.errors
    return parser


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    experiment.run("world", root / "world", quiet=True, window=2)
    experiment.run("capacity", root / "capacity", quiet=True, scale=0.02, dims=[2])
    experiment.run("convergence", root / "convergence", quiet=True, scale=0.01, evals=2)
    return root


@pytest.mark.parametrize("name", ["world", "capacity"])
def test_report_is_valid_html_and_shows_every_number_and_figure(runs, name):
    page = (runs / name / "report.html").read_text()
    text = html.unescape("".join(_parse(page).text))
    data = json.loads((runs / name / "results.json").read_text())
    for path, value in report.leaves({k: v for k, v in data["results"].items() if k != "plots"}):
        assert report.fmt(value) in text, path
    for key in data["config"]:
        assert key in text, key
    for path, value in report.leaves(data["config"]):
        assert report.fmt(value) in text, path
    for plot in data["results"]["plots"]:
        assert f"<figcaption>{plot}</figcaption>" in page and "data:image/png;base64," in page
    assert data["timings"]["seconds"] > 0 and data["timings"]["started"][:4] in text
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")  # self-contained


def test_headline_uses_the_experiments_key_number_or_the_first_number(runs):
    data = json.loads((runs / "world" / "results.json").read_text())
    assert report.headline(data) == ("mutual information I(Z; Z') (nats)",
                                     data["results"]["world"]["mutual_information"])
    data = json.loads((runs / "convergence" / "results.json").read_text())
    label, value = report.headline(data)
    assert label == "min Pearson(learned, K_PMI)"
    assert value == min(r["learned_pearson_offdiag"] for r in data["results"]["learners"])
    assert f"{label}: <b>{report.fmt(value)}</b>" in html.unescape((runs / "convergence" / "report.html").read_text())


def test_index_lists_every_run_and_links_its_report(runs, capsys):
    assert report.main([str(runs)]) == 0
    page = (runs / "index.html").read_text()
    _parse(page)
    for name in ("world", "capacity"):
        assert f'href="./{name}/report.html"' in page and (runs / name / "report.html").is_file()
    assert "3 runs" in page
    assert "wrote" in capsys.readouterr().out


def test_index_rewrites_a_missing_report_and_refuses_a_file(runs, tmp_path, capsys):
    (runs / "world" / "report.html").unlink()
    report.write_index(runs)
    assert (runs / "world" / "report.html").is_file()
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit) as exit_:
        report.main([str(tmp_path / "f")])
    assert exit_.value.code == 2 and "runs_dir" in capsys.readouterr().err


def test_report_renders_in_headless_chromium_without_console_errors(runs, tmp_path):
    shot = tmp_path / "shot.png"
    out = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--window-size=1200,900",
         f"--screenshot={shot}", (runs / "capacity" / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.is_file(), out.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 5 and (pixels < 128).mean() > 0.001  # text and a figure, not a blank page
    console = [line for line in out.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console


def _run_in(argv, terminal: bool, cwd):
    """Run a command with stdout/stderr on a pseudo-terminal (or on pipes); return everything it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    if not terminal:
        out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
        assert out.returncode == 0, out.stderr
        return out.stdout + out.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=cwd)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 600)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process ended
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=600) == 0
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_progress_on_a_terminal_and_none_without(tmp_path):
    argv = [sys.executable, "-m", "worlds.run", "capacity", "--scale", "0.02", "--set", "dims=[2]"]
    shown = _run_in([*argv, "--out", "tty"], True, tmp_path)
    assert "python -m worlds.run capacity:" in shown  # what it is about to do
    # the bar with its counts (0/2 when it opens; later counts are drawn at most every 0.1 s of wall time)
    assert re.search(r"fits: +\d+%\|.*\| [0-2]/2 \[", shown), shown
    assert shown.rstrip().endswith(("report.html", "capacity.png"))  # the summary comes after the bars
    piped = _run_in([*argv, "--out", "pipe"], False, tmp_path)
    assert "fits:" not in piped and "python -m worlds.run capacity:" not in piped
    assert "Capacity sweep" in piped
    quiet = _run_in([*argv, "--out", "quiet", "--quiet"], True, tmp_path)
    assert "fits:" not in quiet and "Capacity sweep" not in quiet
