# Two entry points on a fresh machine: `make demo` (the main job on the embedded default model)
# and `make test` (the whole suite). Both create the virtualenv and install what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: install demo test bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev,server]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest -q tests

clean:
	rm -rf build .pytest_cache
