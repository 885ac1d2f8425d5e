# Two commands for a newcomer: `make run` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp

.PHONY: setup run test test-all test-gpu bench clean

setup: $(STAMP)

# Re-run the set-up whenever the dependency list or the asset installer (empirical/assets.py) changes.
# Package __init__ files too: the editable install maps the top-level packages that exist when it runs.
$(STAMP): pyproject.toml constraints.txt scripts/setup.sh empirical/assets.py $(wildcard */__init__.py)
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup.sh
	touch $@

run: setup
	$(PY) -m worlds.run

test: setup
	$(PY) -m pytest -n auto --dist loadfile --durations=20

test-all: setup
	$(PY) -m pytest -m ""

# On a GPU machine: the CUDA tests and the benchmarks on the GPU (scripts/test_gpu.sh; needs no set-up there).
test-gpu:
	bash scripts/test_gpu.sh

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
