"""A researcher's first hour (issue 24, items 1-3): reports that put the summary and the figures first, figures
that say what they show, and progress on a terminal for every long step (library entry points included)."""
import html
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import alignment
from empirical import bank, bpb
from empirical.experiments import cross_modal, sample_size, score
from learners.experiments import capacity, fit as fit_exp, lossy, multitask
from platonic_core import experiment, progress, report, runio

ROOT = Path(__file__).resolve().parents[1]
HEADLINE_BG, SUMMARY_BG = (238, 244, 251), (247, 247, 247)  # report.py's CSS: .headline and pre.summary


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for window in (2, 3):  # the command line, twice, with one setting changed
        experiment.main(["world", "--set", f"window={window}", "--out", str(root / f"world{window}"), "--quiet"])
    experiment.run("capacity", root / "capacity", quiet=True, scale=0.02, dims=[2, 3])
    experiment.run("fit", root / "fit", quiet=True, world="ring", dim=4, max_steps=60, batch_size=64)
    return root


def _data(runs, name):
    return json.loads((runs / name / "results.json").read_text())


# ------------------------------------------------------------------ item 1: reports a person reads first

def test_results_record_the_summary_the_command_and_the_commit(runs, capsys):
    data = _data(runs, "world3")
    assert data["command"] == f"python -m worlds.run world --set window=3 --out {runs / 'world3'} --quiet"
    assert "mutual_information" in data["summary"] and data["summary"].count("\n") > 5
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert data["commit"].split()[0] == head and data["commit"] in (head, head + " dirty")
    assert _data(runs, "capacity")["command"] == \
        f"experiment.run('capacity', '{runs / 'capacity'}', scale=0.02, dims=[2, 3])"
    # what the terminal prints is what results.json keeps
    experiment.run("world", runs / "printed", window=2)
    assert capsys.readouterr().out.startswith(_data(runs, "printed")["summary"] + "\n")


def test_git_commit_is_none_outside_a_checkout(tmp_path):
    assert runio.git_commit(tmp_path) is None
    assert runio.git_commit(tmp_path / "missing") is None


def test_report_puts_headline_command_summary_figures_first_and_folds_the_rest(runs):
    page = (runs / "capacity" / "report.html").read_text()
    data = _data(runs, "capacity")
    label, value = report.headline(data)
    order = [page.index(f"{html.escape(label)}: <b>{report.fmt(value)}</b>"), page.index("command: <code>"),
             page.index("commit: <code>"), page.index(f'<pre class="summary">{html.escape(data["summary"])}</pre>'),
             page.index("<h2>Figures"), page.index("<details><summary>Results</summary>")]
    assert order == sorted(order)
    assert page.index("<details><summary>Configuration") > order[-1]
    # every table sits in a box that scrolls (nothing falls off the page, no row taller than a screen)
    assert page.count("<table>") == page.count('<div class="box"><table>') > 3


def test_old_results_without_summary_command_or_commit_still_render(runs, tmp_path):
    data = _data(runs, "world2")
    for key in ("summary", "command", "commit"):
        del data[key]
    (tmp_path / "results.json").write_text(json.dumps(data))
    page = report.write_report(tmp_path).read_text()
    assert "command:" not in page and '<pre class="summary">' not in page and "<h2>Figures" in page


def test_matrices_carry_their_row_and_column_names(tmp_path):
    vision, language = ["vit_a", "vit_b", "vit_c"], ["lm_x", "lm_y"]
    data = {"config": {}, "seed": 0, "versions": {}, "timings": {}, "results": {
        "vision_models": vision, "language_models": language, "scores": {"mutual_knn": [[0.1, 0.2]] * 3},
        "best_layers": [[[1, 2], [3, 4]]] * 3, "plots": []}}
    (tmp_path / "results.json").write_text(json.dumps(data))
    page = report.write_report(tmp_path).read_text()
    heads = re.findall(r"<tr><th></th>((?:<th>[^<]*</th>)+)</tr>", page)
    assert heads == ["<th>lm_x</th><th>lm_y</th>"] * 2  # scores and best layers: language models across
    rows = re.findall(r"<tr><th>(vit_\w)</th><td", page)
    assert rows == vision * 2
    assert "<td>1, 2</td>" in page  # a layer pair in one cell


def test_headline_and_summary_are_on_the_first_screen_in_chromium(runs, tmp_path):
    shot = tmp_path / "shot.png"
    out = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,800", "--hide-scrollbars",
         f"--screenshot={shot}", (runs / "capacity" / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.is_file(), out.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    assert pixels.shape[:2] == (800, 1280)

    def rows_of(colour):
        return np.flatnonzero((np.abs(pixels - colour).sum(2) == 0).sum(1) > 200)  # rows the box spans

    headline, summary = rows_of(HEADLINE_BG), rows_of(SUMMARY_BG)
    assert headline.size > 20 and summary.size > 60, (headline.size, summary.size)
    assert headline.max() < summary.min()  # the headline above the summary, both within the first 800 px


def test_index_shows_experiment_headline_time_and_the_settings_that_differ(runs):
    report.write_index(runs)
    page = (runs / "index.html").read_text()
    cells = dict(re.findall(r'<a href="\./(\w+)/report\.html">\w+</a></td><td>\w+</td><td>([^<]*)</td>', page))
    assert cells["world2"] == html.escape("mutual information I(Z; Z') (nats)")
    differ = dict(re.findall(r'<a href="\./(\w+)/report\.html">.*?<td>([^<]*)</td></tr>', page))
    assert differ["world2"] == "window=2" and differ["world3"] == "window=3"
    assert differ["capacity"] == "" and "n_states" not in page
    assert re.search(r"<td>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d</td>", page)


def test_every_experiment_has_a_headline_that_is_its_result(runs):
    missing = [n for n, e in experiment.registry().items() if not hasattr(e.load(), "headline")]
    assert missing == []
    assert report.headline(_data(runs, "world2")) == \
        ("mutual information I(Z; Z') (nats)", _data(runs, "world2")["results"]["world"]["mutual_information"])
    rows = _data(runs, "capacity")["results"]["by_dim"]
    assert report.headline(_data(runs, "capacity")) == ("Pearson between seeds at dim 3", rows[-1]["seeds_pearson"])
    fit = _data(runs, "fit")["results"]
    assert report.headline(_data(runs, "fit"))[1] == fit["learned"]["pearson_offdiag"]


def test_simulation_headlines_pick_the_real_result():
    from learners.experiments import metric_validity, objectives

    rho = {"order": ["cycle_knn@k=10", "mutual_knn@k=32"], "values": [0.909, 0.902], "resolved": False}
    assert metric_validity.headline({"ranking": {"rho_stitch": rho}}) == \
        ("Spearman with -stitching loss, first: cycle_knn@k=10 (not resolved)", 0.909)
    pairs = [{"in_gauge": v} for v in ("agree", "agree", "no common gauge", "split")]
    assert objectives.headline({"exact_pairs": pairs}) == ("pairs of optima that agree in their gauge (of 4)", 2)


def test_empirical_headlines_pick_the_real_result():
    refs = {"a": {"best_score": 0.5, "calibrated_score": 0.1}, "b": {"best_score": 0.4, "calibrated_score": 0.3}}
    assert score.headline({"n_perm": 10, "references": refs}) == ("calibrated score (b)", 0.3)
    assert score.headline({"n_perm": 0, "references": refs}) == ("best score (a)", 0.5)
    sizes = [{"score": 0.5}, {"score": 0.2}]
    res = {"sizes": [16, 64], "results": {"p": {"by_size": sizes}, "q": {"by_size": sizes[::-1]}}}
    assert sample_size.headline(res) == ("raw score fall from N=16 to N=64", 0.0)


# ------------------------------------------------------------------ item 2: figures that say what they show

def _capture(monkeypatch, module):
    figs = []
    monkeypatch.setattr(module, "save_figure", lambda fig, path, **kw: figs.append(fig))
    return figs


def _disjoint(a, b) -> bool:
    return a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0


def _legends_cover_nothing(fig):
    """Every legend lies outside every axes and every annotation of the figure."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for leg in legends:
        box = leg.get_window_extent(r)
        for ax in fig.axes:
            assert _disjoint(box, ax.get_window_extent(r)), ax.get_title()
            for t in ax.texts:
                assert _disjoint(box, t.get_window_extent(r)), t.get_text()


def _distinct(ax):
    """The labelled series of `ax` (lines, error bars) differ pairwise in colour, marker, line style or fill."""
    import matplotlib.colors as mc

    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    lines += [c.lines[0] for c in ax.containers if hasattr(c, "has_yerr")]
    keys = [(mc.to_hex(ln.get_color()), ln.get_marker(), ln.get_linestyle(), str(ln.get_markerfacecolor()))
            for ln in lines]
    assert len(keys) > 1 and len(set(keys)) == len(keys), keys
    return lines


def test_fit_report_shows_its_loss_and_pearson_curves(runs, monkeypatch):
    data = _data(runs, "fit")
    assert data["results"]["plots"] == ["fit.png"] and (runs / "fit" / "fit.png").is_file()
    figs = _capture(monkeypatch, fit_exp)
    history = data["results"]["history"]
    fit_exp._plot(history, 0.9, runs / "unused.png")
    loss, pearson = figs[0].axes
    assert loss.get_ylabel() == "training loss" and pearson.get_ylabel() == "Pearson(learned, K_PMI)"
    assert list(loss.get_lines()[0].get_ydata()) == history["loss"]["value"]
    assert list(pearson.get_lines()[0].get_ydata()) == history["pearson"]["value"]
    _legends_cover_nothing(figs[0])


def test_capacity_and_multitask_series_are_distinct_and_legends_outside(runs, monkeypatch, tmp_path):
    figs = _capture(monkeypatch, capacity)
    capacity._plot(_data(runs, "capacity")["results"]["by_dim"], tmp_path / "c.png")
    figs += _capture(monkeypatch, multitask)
    res = experiment.run("multitask", tmp_path / "m", quiet=True, factors=2, factor_states=3, dim=5, seeds=2,
                         max_iter=200)
    multitask._plot(res["by_tasks"], {"ridges": [0.0, 0.0001]}, tmp_path / "m.png")
    for fig in figs:
        _legends_cover_nothing(fig)
        for ax in fig.axes:
            _distinct(ax)


def test_lossy_labels_of_coinciding_points_do_not_overlap(monkeypatch, tmp_path):
    figs = _capture(monkeypatch, lossy)
    row = {"kind": "drop", "predicted": 0.58, "measured_cosine": 0.44, "mi_ratio": 0.47}
    lossy._plot([{**row, "observation": "shape_only"}, {**row, "observation": "colour_only", "measured_cosine": 0.43},
                 {**row, "kind": "merge", "observation": "merge2", "predicted": 0.9}], tmp_path / "l.png")
    fig = figs[0]
    _legends_cover_nothing(fig)
    r = fig.canvas.get_renderer()
    a, b = (t.get_window_extent(r) for t in fig.axes[0].texts[:2])
    assert _disjoint(a, b)


def test_cross_modal_scatter_names_every_language_model(tmp_path):
    vision, language = ["v0", "v1", "v2"], ["enc_a", "enc_b", "causal_c", "causal_d"]
    cell = {"score": 0.2, "calibrated_score": 0.1, "calibrated_low": 0.05, "calibrated_high": 0.15, "p_value": 0.01,
            "n_perm": 10}
    res = {"vision_models": vision, "language_models": language, "bits_per_byte": {"causal_c": 1.2, "causal_d": 0.9},
           "pairs": {"mutual_knn": [[dict(cell) for _ in language] for _ in vision]}}
    fig = cross_modal._scatter(res, "mutual_knn")
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert [t.split("\n")[0] for t in ticks] == ["enc_a", "enc_b", "causal_c", "causal_d"]  # by competence
    assert "1 - bpb 0.100" in ticks[3] and "no bpb" in ticks[0]
    _legends_cover_nothing(fig)
    # identical scores: the series are drawn side by side, not on top of each other
    xs = {tuple(np.round(ln.get_xdata(), 6)) for ln in _distinct(ax)}
    assert len(xs) == len(vision)


def test_score_bars_legend_hides_no_label():
    rows = {n: bank.ScoreResult(n, s, (1, 1), np.zeros((2, 2)), "mutual_knn", {"k": 5}, 64, 0.95, s / 3, 0.01, 9.0,
                                10, np.zeros(10), 0.09, s / 2, s / 4) for n, s in (("a", 0.3), ("b", 0.2))}
    _legends_cover_nothing(bank.plot(rows))


# ------------------------------------------------------------------ item 3: nothing silent for long

@pytest.fixture
def terminal(monkeypatch):
    """Bars on, as on a terminal, shown at once (the library's 2 s delay off)."""
    real = progress.progress
    monkeypatch.setattr(progress, "enabled", lambda: not progress._quiet)
    monkeypatch.setattr(progress, "progress", lambda *a, **kw: real(*a, **{**kw, "delay": 0}))


def test_calibrate_shows_its_permutations_unless_progress_false(terminal, capsys):
    a = torch.randn(40, 6)
    alignment.calibrate(a, a + torch.randn(40, 6), "mutual_knn", k=4, n_perm=12)
    assert re.search(r"calibrate: permutations: .*/12 ", capsys.readouterr().err)
    alignment.calibrate(a, a + torch.randn(40, 6), "mutual_knn", k=4, n_perm=12, progress=False)
    assert "permutations" not in capsys.readouterr().err
    with pytest.raises(TypeError, match="'progress' parameter of calibrate must be a bool"):
        alignment.calibrate(a, a, "mutual_knn", k=4, progress="no")


def test_fit_shows_lightnings_bar_unless_progress_false(terminal, monkeypatch):
    import pytorch_lightning as pl

    from learners import fit
    from worlds import OBSERVATIONS, make_world

    seen = []

    class Spy(pl.Trainer):
        def __init__(self, *a, **kw):
            seen.append(kw["enable_progress_bar"])
            super().__init__(*a, **kw)

    monkeypatch.setattr(pl, "Trainer", Spy)
    world = make_world("ring", n_states=6)
    for flag in (True, False):
        fit(world, OBSERVATIONS["permutation"](6, seed=0), dim=3, window=1, max_steps=2, batch_size=8,
            accelerator="cpu", progress=flag)
    assert seen == [True, False]
    with pytest.raises(TypeError, match="'progress' parameter"):
        fit(world, OBSERVATIONS["permutation"](6, seed=0), progress=None)


def test_bits_per_byte_shows_its_windows(terminal, capsys):
    bpb.token_bits("smollm2_135m", ["The cat sat on the mat. " * 20], max_length=32)
    assert re.search(r"bits-per-byte smollm2_135m.*window", capsys.readouterr().err)


def test_cross_modal_bpb_text_budget_is_a_setting_in_proportion_to_n():
    assert cross_modal.bpb_bytes({"bpb_bytes": None}, 64) == cross_modal.BPB_BYTES_MIN
    assert cross_modal.bpb_bytes({"bpb_bytes": None}, 333) == 333 * cross_modal.BPB_BYTES_PER_SAMPLE
    assert cross_modal.bpb_bytes({"bpb_bytes": 5000}, 333) == 5000
    with pytest.raises(ValueError, match="'bpb_bytes' parameter of cross_modal"):
        experiment.resolve("cross_modal", {"bpb_bytes": 10})
    texts = bpb.clip_bytes(["ab", "cdé", "fgh"], 5)  # é is 2 bytes: cut in two, it is dropped
    assert texts == ["ab", "cd"] and bpb.clip_bytes(["abc"], 100) == ["abc"]
    assert sum(len(t.encode()) for t in bpb.clip_bytes(["x" * 50] * 10, 120)) == 120
