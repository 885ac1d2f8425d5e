"""Issue 24, items 4, 5 and 7: a package a lab can adopt. One version everywhere, license and citation files, type
hints on the experiment API, dependencies in layers (the metrics need numpy and torch only; a missing extra's
import names the extra in one line), and the examples run at tiny settings with their printed numbers checked."""
import importlib.metadata
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

import alignment
import platonic_core
from platonic_core import experiment, extras

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["platonic_core", "worlds", "alignment", "learners", "proofs_check", "empirical"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def python(code, *args, cwd=None, check=True):
    """Run Python code (-c) or a script in a fresh interpreter with the repository first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, *(["-c", code] if code else []), *map(str, args)]
    r = subprocess.run(cmd, cwd=cwd or ROOT, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


def blocked(*modules):
    """Code that makes `modules` unimportable, as if their distributions were not installed."""
    return "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)


def numbers(line):
    """{name: float} of the `name=value` fields of a printed line."""
    return {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+(?:e-?\d+)?)\b", line)}


# ------------------------------------------------------------------ item 4: version, license, citation, hints
def test_every_package_has_the_installed_version():
    installed = importlib.metadata.version("platonic-toolkit")
    got = {p: importlib.import_module(p).__version__ for p in PACKAGES}
    assert got == dict.fromkeys(PACKAGES, installed) == dict.fromkeys(PACKAGES, platonic_core.__version__)
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "platonic_core.__version__"}


def test_license_citation_and_changelog_agree_with_the_version():
    assert PYPROJECT["project"]["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT" and cff["version"] == platonic_core.__version__
    assert {"message", "title", "authors"} <= set(cff)
    paper = cff["preferred-citation"]
    assert paper["title"] == "The Platonic Representation Hypothesis" and paper["year"] == 2024
    assert [a["family-names"] for a in paper["authors"]] == ["Huh", "Cheung", "Wang", "Isola"]
    assert "arXiv:2405.07987" in [i["value"] for i in paper["identifiers"]]
    log = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[([^\]]+)\]", log, re.M)
    assert releases[0] == "Unreleased" and releases[1] == platonic_core.__version__ == cff["version"]


def test_py_typed_ships_in_every_package():
    assert all((ROOT / p / "py.typed").is_file() for p in PACKAGES)
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["*"]


@pytest.mark.parametrize("fn", ["run", "resolve", "get", "names", "registry", "main", "parse_value", "describe"])
def test_the_experiment_api_is_typed(fn):
    hints = inspect.get_annotations(getattr(experiment, fn))
    params = inspect.signature(getattr(experiment, fn)).parameters
    assert set(params) <= set(hints) and "return" in hints, (fn, set(params) - set(hints))


# ------------------------------------------------------------------ item 5: dependencies in layers
def _names(reqs):
    return {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower().replace("_", "-") for r in reqs}


def test_dependencies_are_layered_and_pinned_only_in_constraints():
    project = PYPROJECT["project"]
    opt = project["optional-dependencies"]
    assert _names(project["dependencies"]) == {"numpy", "torch"}
    every = [r for reqs in [project["dependencies"], *opt.values()] for r in reqs]
    assert not [r for r in every if re.search(r"[=<>~!]", r)], "pins belong in constraints.txt"
    for extra, dists in extras.EXTRAS.items():  # the helper's list is pyproject's
        assert _names(opt[extra]) - {"platonic-toolkit"} == set(dists), extra
    assert opt["empirical"][0] == "platonic-toolkit[sim]" and opt["all"] == ["platonic-toolkit[sim,empirical,faiss]"]
    pins = _names(line for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    assert _names(every) - {"platonic-toolkit"} <= pins
    assert "-c constraints.txt -e '.[all,test]'" in (ROOT / "scripts" / "setup.sh").read_text()


def test_the_metrics_need_only_numpy_and_torch():
    others = [m for dists in extras.EXTRAS.values() for m in dists.values()]
    code = blocked(*others, "lightning", "sklearn", "pandas") + (
        "import numpy as np, alignment as al\n"
        "rng = np.random.default_rng(0); A = rng.standard_normal((30, 6)); B = A + rng.standard_normal((30, 6))\n"
        "s = [al.measure(m, A, B, **al.metric_kwargs(m, k=4, cca_dim=3)) for m in al.METRICS]\n"
        "s += [al.measure_kernels(m, A @ A.T, B @ B.T, **al.metric_kwargs(m, k=4)) for m in al.KERNEL_METRICS]\n"
        "c = al.calibrate([A, A], [B, B], 'mutual_knn', k=4, n_perm=9)\n"
        "print(len(s), c.p_value, al.bootstrap(A, B, 'cka', n_boot=4).estimate)\n")
    out = python(code).stdout.split()
    assert int(out[0]) == len(alignment.METRICS) + len(alignment.KERNEL_METRICS) and float(out[1]) == 0.1
    assert float(out[2]) == pytest.approx(alignment.cka(*_pair()), abs=1e-6)


def _pair():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 6))
    return A, A + rng.standard_normal((30, 6))


@pytest.mark.parametrize("module,missing,extra", [
    ("worlds", "networkx", "sim"), ("learners", "pytorch_lightning", "sim"), ("proofs_check", "hypothesis", "sim"),
    ("empirical.models", "transformers", "empirical"), ("empirical.data", "PIL", "empirical"),
])
def test_a_missing_extra_says_which_extra_to_install_in_one_line(module, missing, extra):
    r = python(blocked(missing) + f"import {module}", check=False)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"ModuleNotFoundError: {module} needs the '{extra}' extra: pip install 'platonic-toolkit[{extra}]' "
        f"(missing: {missing})")


def test_without_the_empirical_extra_the_command_line_lists_and_refuses_in_one_line(tmp_path):
    code = blocked("transformers", "timm") + (
        "import empirical, empirical.experiments\n"  # the registry still imports
        "from platonic_core.experiment import main, names\n"
        "print(len(names('empirical')))\n"
        f"sys.exit(main(['cross_modal', '--out', {str(tmp_path / 'run')!r}], kind='empirical'))\n")
    r = python(code, check=False)
    assert r.returncode == 2 and int(r.stdout) == len(experiment.names("empirical")) > 0
    assert r.stderr.strip().splitlines() == [
        "python -m empirical.run: error: empirical.data needs the 'empirical' extra: pip install "
        "'platonic-toolkit[empirical]' (missing: transformers, timm) (see --help)"]
    assert not (tmp_path / "run").exists()


def test_require_passes_when_the_extra_is_there(monkeypatch):
    extras.require("me", "sim")  # this environment has every extra
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))  # a stand-in without __spec__
    extras.require("me", "sim")
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(ImportError, match=r"^me needs the 'sim' extra: .* \(missing: tqdm\)$"):
        extras.require("me", "sim")
    with pytest.raises(KeyError):
        extras.require("me", "nope")


# ------------------------------------------------------------------ item 7: the examples, at tiny settings
def _example(name):
    path = ROOT / "examples" / name
    spec = importlib.util.spec_from_file_location(name[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.__doc__ and "--tiny" in mod.__doc__
    return path, mod


@pytest.mark.filterwarnings("ignore::alignment.TieWarning")  # the example's run shows it; here it is known
def test_example_score_your_features(tmp_path):
    path, mod = _example("01_score_your_features.py")
    lines = python(None, path, "--tiny", cwd=tmp_path).stdout.splitlines()
    a, pairs = mod.demo(200)
    assert len(lines) == 4
    for line in lines:
        name, metric = line.split()[:2]
        got = numbers(line)
        c = alignment.calibrate(a, pairs[name], metric, n_perm=99, **alignment.metric_kwargs(metric, k=10))
        assert got["score"] == pytest.approx(c.score, abs=1e-6) and got["p"] == pytest.approx(c.p_value, abs=1e-6)
        assert got["calibrated"] == pytest.approx(c.calibrated_score, abs=1e-6)
        if name == "related":  # above every permutation, well past chance
            assert got["p"] == 0.01 and got["calibrated"] > 0.3
        else:
            assert got["p"] > 0.05 and got["calibrated"] == 0
    a, b = _pair()
    np.save(tmp_path / "a.npy", a), np.save(tmp_path / "b.npy", b)
    lines = python(None, path, "--a", "a.npy", "--b", "b.npy", "--k", 4, "--n-perm", 9, cwd=tmp_path).stdout
    lines = lines.splitlines()
    c = alignment.calibrate(a, b, "cka", n_perm=9)
    assert [line.split()[:2] for line in lines] == [["b", "mutual_knn"], ["b", "cka"]]
    assert numbers(lines[1])["score"] == pytest.approx(c.score, abs=1e-6) and numbers(lines[1])["p"] == c.p_value
    r = python(None, path, "--a", "a.npy", "--b", "absent.npy", cwd=tmp_path, check=False)
    assert r.returncode == 2 and "absent.npy" in r.stderr.strip().splitlines()[-1] and "Traceback" not in r.stderr


def test_example_simulation_from_scratch(tmp_path):
    path, _ = _example("02_simulation_from_scratch.py")
    lines = python(None, path, "--tiny", cwd=tmp_path).stdout.splitlines()
    fits = {line.split()[0]: numbers(line) for line in lines[1:3]}
    assert set(fits) == {"relabelled", "vector_code"} and len(lines) == 4
    for got in fits.values():  # 150 steps take the learned kernel from near 0 to near K_PMI
        assert got["first"] < 0.5 and got["pearson"] > 0.95
    both = numbers(lines[3])
    assert both["cka"] > 0.9 and both["p"] == 0.01 and both["calibrated"] > 0.8


def test_example_score_against_a_bank(tmp_path):
    from empirical import bank, data, features

    path, mod = _example("03_score_against_a_bank.py")
    lines = python(None, path, "--tiny", "--out", tmp_path / "bank", cwd=tmp_path).stdout.splitlines()
    assert sorted(p.name for p in (tmp_path / "bank").glob("*.pt")) == [f"{m}_pool-auto.pt" for m in mod.BANK]
    ds = data.load("tuxpaint").subset(16, seed=0)
    ours = features.cached(mod.MODEL, ds, device="cpu")  # computed by the example: read back from the cache
    assert len(lines) == 1 + len(mod.BANK)
    for line in lines[1:]:
        ref, got = line.split()[0], numbers(line)
        theirs = bank.read(tmp_path / "bank" / f"{ref}.pt").layers
        best = alignment.layerwise(ours, theirs, "mutual_knn", k=5)
        assert got["best"] == pytest.approx(best.best_score, abs=1e-6) and got["n"] == 16
        assert round(got["p"] * 20) == pytest.approx(got["p"] * 20, abs=1e-4) and 0.05 <= got["p"] <= 1
