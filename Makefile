# Two entry points on a fresh machine: `make demo` (the main job on the embedded default model)
# and `make test` (the whole suite). Both create the virtualenv and install what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_INDEX ?=   # a GPU machine: TORCH_INDEX=https://download.pytorch.org/whl/cu128 installs torch's CUDA build (docs/gpu.md)
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: install demo test test-fast test-min test-faults test-agreement test-crash doctest check format docs bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -q -e ".[dev,server,documents,code,lora,extract,ray,static]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) examples/demo.py
	@echo
	@echo "encoderkit is installed in $(VENV): run '. $(VENV)/bin/activate' to put it on your PATH, or call $(VENV)/bin/encoderkit"

# everything CI runs: unit + integration tests, then the doctests of the library's pure functions
test: install
	$(PY) -m pytest -q tests
	$(PY) -m pytest -q --doctest-modules src/encoderkit -p no:cacheprovider

# the inner loop: no bundled-MiniLM / real-data integration tests
test-fast: install
	$(PY) -m pytest -q -m "not integration" tests

# the suite against the oldest versions pyproject.toml allows: every direct runtime dependency pinned to
# its lower bound (.ci/lowest_pins.py; like uv's --resolution lowest-direct), in its own virtualenv
VENV_MIN ?= .venv-min
EXTRAS   := server,documents,code,lora,extract,ray,static
comma    := ,
$(VENV_MIN)/.installed: pyproject.toml constraints.txt .ci/lowest_pins.py
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install -q --upgrade pip
	$(VENV_MIN)/bin/python -m pip install -q torch==2.13.0
	$(PYTHON) .ci/lowest_pins.py $(subst $(comma), ,$(EXTRAS)) > $(VENV_MIN)/lowest-pins.txt
	PIP_CONSTRAINT="$(CURDIR)/constraints.txt $(CURDIR)/$(VENV_MIN)/lowest-pins.txt" \
	  $(VENV_MIN)/bin/python -m pip install -q -e ".[$(EXTRAS)]" $(shell $(PYTHON) .ci/lowest_pins.py --test-tools)
	touch $@

test-min: $(VENV_MIN)/.installed
	$(VENV_MIN)/bin/python -m pip list --format=freeze > $(VENV_MIN)/versions.txt
	$(VENV_MIN)/bin/python -m pytest -q -p no:cacheprovider tests

# one tier only (each is part of `make test` too): fault injection (hostile files, damaged indexes, full
# disks), agreement with the reference implementations, kills and interrupts at chosen points
test-faults: install
	$(PY) -m pytest -q -m faults tests

test-agreement: install
	$(PY) -m pytest -q -m agreement tests

test-crash: install
	$(PY) -m pytest -q -m crash tests

doctest: install
	$(PY) -m pytest -q --doctest-modules src/encoderkit -p no:cacheprovider

# lint, formatting and the import-layer contract (see pyproject: [tool.ruff], [tool.importlinter])
check: install
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/lint-imports

# the documentation site (tutorials + API reference generated from the docstrings) into build/site;
# --strict: a broken reference or docstring fails the build. No network needed.
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	$(VENV)/bin/mkdocs build --strict --quiet

format: install
	$(VENV)/bin/ruff check --fix src tests benchmarks examples
	$(VENV)/bin/ruff format src tests benchmarks examples

# the figures in BENCHMARKS.md that a 2-core machine reproduces in about an hour: SciFact retrieval
# per stage, STS-B, pooling geometry, and the index build benchmark
bench: install
	bash benchmarks/eval_scifact.sh
	$(PY) benchmarks/index_scifact.py

clean:
	rm -rf build .pytest_cache .ruff_cache
