# The two commands a user needs: `make demo` and `make test`. Each installs what it
# needs into .venv from this repository's own files first.
#
# Floors and the lock: pyproject.toml declares the range each dependency works in, and its
# lower bounds are tested: `make test-floor` (CI runs it) installs every direct dependency
# at its floor (uv --resolution lowest-direct) into .venv-floor and runs the unit tests
# and one upload through a real stack there; a floor that fails is raised to the lowest
# release that passes. requirements.lock pins, with hashes, the versions .venv gets
# (`make install`, hence demo and test); `make lock` regenerates it after pyproject.toml
# changes, and tests/unit/test_dependencies.py fails while the two disagree.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
FLOOR  ?= .venv-floor
# Linux, CPython 3.11 (what CI and the stack run); uv resolves from PyPI
RESOLVE := pip compile --quiet --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --extra test

.PHONY: install demo test lint format unit integration bench clean lock test-floor

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# uv comes from the lock; any installed .venv has it (so `make lock` does not reinstall)
$(BIN)/uv:
	$(MAKE) install

lock: | $(BIN)/uv
	$(BIN)/uv $(RESOLVE) --generate-hashes --custom-compile-command 'make lock' \
		pyproject.toml -o $(LOCK)

test-floor: | $(BIN)/uv
	test -x $(FLOOR)/bin/python || $(BIN)/uv venv --quiet --python $(PYTHON) $(FLOOR)
	$(BIN)/uv $(RESOLVE) --resolution lowest-direct pyproject.toml -o $(FLOOR)/floor.txt
	$(BIN)/uv pip sync --quiet --python $(FLOOR)/bin/python $(FLOOR)/floor.txt
	$(BIN)/uv pip install --quiet --python $(FLOOR)/bin/python --no-deps -e .
	PALETTE_FLOOR=1 $(FLOOR)/bin/pytest -q -p no:cacheprovider tests/unit \
		tests/integration/test_pipeline.py::test_an_upload_becomes_a_palette_json_and_a_bar_png

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/palette demo

test: lint $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/bench_palette.py

clean:
	rm -rf $(VENV) $(FLOOR) .pytest_cache .ruff_cache
