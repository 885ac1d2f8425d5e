"""Every command and code block of README.md runs here (issue 20, item 8), at tiny sizes, so that a renamed setting
or a broken snippet fails the suite.

Commands (the lines of ``` blocks, and `inline` spans that start with `python -m`, `platonic-sim` or
`platonic-empirical`) are run in-process, in README order, in one temporary folder with a private cache: an
experiment's command is first resolved as written (names, types and domain checks at the README's values), then run
through `experiment.main` with the tiny configuration of tests/test_experiments.py appended as `--set` options
(settings the README sets keep its value unless they are sizes or model lists) and `--out` in the temporary folder.
Python blocks are exec'd there with `experiment.run` shrunk the same way, and the few literal substitutions listed
below. What needs hardware or network this machine lacks is listed in SYNTAX_ONLY with the reason: parsed and
resolved (names and types) only. Usage synopses are listed in SYNOPSES. Anything else fails the test.
"""
import functools
import re
import shlex
from pathlib import Path

import pytest

from platonic_core import experiment, report
from test_experiments import TINY

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text()

# settings the README may set that are still replaced by the tiny configuration's
SIZES = {"n_samples", "n_perm", "scale", "max_steps", "models", "vision_models", "language_models", "features",
         "sizes", "draws", "n_pairs", "dims", "budgets", "seeds", "evals"}
# how each front end is reached in-process: program -> (kind or handler name, argv prefix)
PROGRAMS = {"python -m worlds.run": ("simulation", []), "platonic-sim": ("simulation", []),
            "python -m empirical.run": ("empirical", []), "platonic-empirical": ("empirical", []),
            "python -m learners": ("simulation", ["fit"]), "python -m proofs_check": ("proofs", []),
            "python -m platonic_core.report": ("report", []), "make": ("make", []),
            "python -m empirical.assets": ("assets", []), "pip install": ("pip", [])}
SYNOPSES = {  # usage patterns with placeholders, not commands
    "python -m worlds.run [NAME] [--set KEY=VALUE ...] [--seed N] [--out DIR] [--fresh] [--scale X] [--threads N] "
    "[--quiet]": "usage synopsis",
    "python -m empirical.run [NAME] [--set KEY=VALUE ...] [--seed N] [--out DIR] [--fresh] [--threads N] "
    "[--quiet]": "usage synopsis",
    "python -m worlds.run NAME": "section title, NAME a placeholder",
    "python -m empirical.run bank --set devices=N": "N a placeholder (processes)",
}
_HUB = "needs the Hugging Face hub and a GPU (hf: models, device_map=auto)"
SYNTAX_ONLY = {  # command prefix -> why it is not run here
    "make run": "sets up .venv and runs the default simulation (`python -m worlds.run`, run below)",
    "make test": "sets up .venv and runs this whole suite",
    "pip install": "installs from the registry; the extras it names must exist in pyproject.toml",
    "python -m learners --set accelerator=cpu --set devices=2 --set strategy=ddp": "Lightning relaunches the command "
    "in 2 DDP processes",
    "python -m empirical.run vision_vision --set dataset=/data/my_pairs.jsonl": "/data/my_pairs.jsonl stands for "
    "the user's own data",
    "python -m empirical.run bank --out runs/prh_vision": _HUB + "; 8 DDP processes",
    "python -m empirical.run bank --out runs/prh_language": _HUB,
    "python -m empirical.run score --out runs/score_": _HUB,
    "python -m empirical.run score --set features=hf:you/your-model": _HUB + "; a placeholder model",
    "python -m empirical.run score --set features=my_feats.pt": _HUB + "; placeholder files",
}
# python blocks: first line -> literal substitutions that shrink them (each must still match the README)
PY_SUBS = {
    "import numpy as np": [("n_perm=199", "n_perm=19"), ("n_boot=200", "n_boot=4")],
    "import worlds, learners": [("max_steps=1500", "max_steps=20")],
    "import empirical": [('"hf:you/model"', '"vit_tiny_random"'), ('"bank:prh_vision"', '"bank:mine"'),
                         ("k=10)", "k=3, n_perm=2)"), ('res["name"]', 'res["vit_tiny_random_pool-auto"]')],
}
TEXT_BLOCKS = ("platonic_core/ validators", "best pair (2, 1)")  # blocks that are layout or output, by first line


def _fences(text):
    """(info string, body) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)


def _lines(body):
    """The commands of a shell block: continuations joined, comments dropped, `for V in A B; do C; done` expanded."""
    out = []
    for line in body.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        line = " ".join(w if re.fullmatch(r"[^\s'\"]+", w) else shlex.quote(w) for w in words)
        loop = re.fullmatch(r"for (\w+) in (.+?); do (.+?); done", line)
        out += [loop[3].replace(f"${loop[1]}", v) for v in loop[2].split()] if loop else [line]
    return out


def items(text=TEXT):
    """Every command and python block of the README, in order: ("cmd", text) or ("python", source)."""
    found = []
    for info, body in _fences(text):
        if info == "python":
            found.append((text.index(body), ("python", body)))
        elif not body.startswith(TEXT_BLOCKS):
            found += [(text.index(body), ("cmd", c)) for c in _lines(body)]
    prose = re.sub(r"^```.*?^```", lambda m: " " * len(m[0]), text, flags=re.S | re.M)
    for m in re.finditer(r"`((?:python -m|platonic-sim|platonic-empirical)\b[^`]*)`", prose):
        found.append((m.start(), ("cmd", " ".join(m[1].split()))))
    return [it for _, it in sorted(found, key=lambda f: f[0])]


def _classify(cmd):
    """('synopsis' | 'syntax' | 'run', handler, argv) of a README command."""
    program = next((p for p in sorted(PROGRAMS, key=len, reverse=True) if cmd == p or cmd.startswith(p + " ")),
                   None)
    if program is None:
        raise AssertionError(f"README command {cmd!r} is neither run by tests/test_readme.py nor listed there")
    handler, prefix = PROGRAMS[program]
    argv = prefix + shlex.split(cmd[len(program):])
    if " ".join(cmd.split()) in SYNOPSES:
        return "synopsis", handler, argv
    return ("syntax" if any(cmd.startswith(p) for p in SYNTAX_ONLY) else "run"), handler, argv


ITEMS = items()
ID = [f"{i:02d} {kind}: {(src.splitlines() or [''])[0][:70]}" for i, (kind, src) in enumerate(ITEMS)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One temporary working folder for every item, with a private cache that reuses the converted models."""
    root = tmp_path_factory.mktemp("readme")
    from empirical import data, models

    cache, real = root / "cache", models.cache_root() / "models"
    cache.mkdir()
    if real.is_dir():
        (cache / "models").symlink_to(real)  # converting the packaged models again would take minutes
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATONIC_CACHE", str(cache))
        mp.setattr(data, "is_photo", functools.lru_cache(data.is_photo))  # each tuxpaint load decodes 785 stamps
        mp.chdir(root)
        yield root


def _shrink(name, given):
    """The tiny configuration of `name` over the settings `given`: theirs where given, except sizes and models."""
    return {k: v for k, v in TINY[name].items() if k not in given or k in SIZES}


def _text(value):
    return value if isinstance(value, str) else repr(value)


def _experiment(kind, argv, root, capsys):
    if "--help" in argv or "-h" in argv:
        assert experiment.main(argv, kind=kind) == 0
        assert capsys.readouterr().out.strip()
        return
    args = experiment.parser(kind).parse_args(argv)
    name, given = experiment.settings(args, kind)
    experiment.resolve(name, given, kind)  # the README's own values: names, types and domain checks
    tiny = _shrink(name, given)
    key = repr((name, sorted({**given, **tiny}.items())))
    if key in DONE:  # the same tiny run as an earlier command's (platonic-empirical, cross_modal --set ...)
        return
    DONE.add(key)
    out = root / "runs" / f"readme_{len(list(root.glob('runs/readme_*')))}"
    extra = [a for k, v in tiny.items() for a in ("--set", f"{k}={_text(v)}")]
    assert experiment.main([*argv, *extra, "--out", str(out), "--quiet"], kind=kind) == 0
    assert (out / "results.json").is_file() and (out / "report.html").is_file()


def _banks(src, root, capsys):
    """Build, at tiny size, the named banks that `src` scores against and no earlier item built."""
    for name in re.findall(r"bank:([\w.-]+)", src):
        if not (root / "cache" / "banks" / name).is_dir():
            _run(f"python -m empirical.run bank --set name={name}", root, capsys)


DONE = set()  # commands, and tiny runs, already done: platonic-sim is python -m worlds.run


def _run(cmd, root, capsys):
    what, handler, argv = _classify(cmd)
    if what == "synopsis" or (what == "run" and (handler, *argv) in DONE):
        return
    if what == "run":
        _banks(cmd, root, capsys)
        DONE.add((handler, *argv))
    if handler == "make":
        assert what == "syntax", f"{cmd!r}: make is never run here"
        assert re.search(rf"^{re.escape(argv[0])}:", (ROOT / "Makefile").read_text(), re.M), f"no target {argv[0]}"
    elif handler == "pip":
        assert what == "syntax", f"{cmd!r}: pip is never run here"
        import tomllib

        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        for spec in argv:
            name, _, extras = spec.partition("[")
            assert name == project["name"], f"{cmd!r}: installs {name}, not {project['name']}"
            for extra in filter(None, extras.rstrip("]").split(",")):
                assert extra in project["optional-dependencies"], f"{cmd!r}: no extra {extra!r} in pyproject.toml"
    elif handler == "assets":  # the set-up ran it: every asset is there, so its check reports nothing missing
        from empirical import assets

        assert assets.main([*argv, "--check"]) == 0
    elif handler == "proofs":
        from proofs_check.__main__ import main

        assert main([*argv, "--examples", "2", "--out", str(root / "runs" / "proofs")]) == 0
    elif handler == "report":
        if not Path(argv[0]).is_dir():  # run alone: give it a run to index
            _run("python -m worlds.run world", root, capsys)
        assert report.main(argv) == 0
    elif what == "syntax":  # names and types only: the domain checks would reach the hub or the GPUs
        args = experiment.parser(handler).parse_args(argv)
        name, given = experiment.settings(args, handler)
        mod = experiment.get(name).load()
        with pytest.MonkeyPatch.context() as mp:
            if hasattr(mod, "check"):
                mp.delattr(mod, "check")
            experiment.resolve(name, given, handler)
    else:
        _experiment(handler, argv, root, capsys)


@pytest.mark.parametrize("index", range(len(ITEMS)), ids=ID)
def test_readme_item_runs(index, env, capsys, monkeypatch):
    kind, src = ITEMS[index]
    if kind == "cmd":
        _run(src, env, capsys)
        return
    for old, new in PY_SUBS.get(src.splitlines()[0], []):
        assert old in src, f"README python block changed: {old!r} no longer there (update PY_SUBS)"
        src = src.replace(old, new)
    _banks(src, env, capsys)
    run = experiment.run

    def tiny(name, out=None, /, **given):
        experiment.resolve(name, {k: v for k, v in given.items() if k != "quiet"})
        return run(name, out, **{**given, **_shrink(name, given), "quiet": True})

    monkeypatch.setattr(experiment, "run", tiny)
    exec(compile(src, f"README.md python block {index}", "exec"), {"__name__": "readme"})


def test_every_listed_exception_is_still_in_the_readme():
    commands = [src for kind, src in ITEMS if kind == "cmd"]
    for listed in [*SYNOPSES, *SYNTAX_ONLY]:
        assert any(" ".join(c.split()).startswith(listed) for c in commands), f"{listed!r} is no longer in README"
    firsts = [src.splitlines()[0] for kind, src in ITEMS if kind == "python"]
    assert set(PY_SUBS) <= set(firsts) and len(ITEMS) > 30


def test_a_new_or_renamed_command_fails(env, capsys):
    assert items("Run `python -m newtool --fast`.\n") == [("cmd", "python -m newtool --fast")]
    with pytest.raises(AssertionError, match="neither run by tests/test_readme.py nor listed there"):
        _classify("python -m newtool --fast")
    with pytest.raises(ValueError, match=r"The settings of cross_modal must be among its parameters .*'n_sample'"):
        _run("python -m empirical.run cross_modal --set n_sample=100", env, capsys)
    with pytest.raises(ValueError, match=r"settings of bank must be among .*'nam'"):
        _run("python -m empirical.run bank --out runs/prh_vision --set nam=x", env, capsys)  # syntax-only too
    assert [c for k, c in items("```\npython -m worlds.run world \\\n  --set window=2  # c\n```\n")] == \
        ["python -m worlds.run world --set window=2"]
