# implicit3d — two commands: `make demo` and `make test`. Both set up .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Where pip finds torch when none is installed yet. Empty: pip's own configuration (on our machines it offers the
# CPU wheel). On a bare Linux PyPI serves the multi-GB CUDA build: `make test TORCH_INDEX=https://download.pytorch.org/whl/cpu`.
TORCH_INDEX ?=
TORCH_PIN   ?= torch==2.13.0

.PHONY: demo test test-all bench lint install clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# Install the CPU build of torch only when no torch is importable yet (a bare `torch` pulls a CUDA build).
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/implicit3d demo

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

# bench_geometry.py runs bench_geometry_inside.py and bench_geometry_distance.py itself.
BENCHES := $(filter-out benchmarks/bench_geometry_inside.py benchmarks/bench_geometry_distance.py,$(wildcard benchmarks/bench_*.py))

bench: $(STAMP)
	for b in $(BENCHES); do $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
