# The course's two commands (see README): `make run` and `make test`.
# Each creates .venv with everything it needs on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with nbval.ini

.PHONY: setup run test test-fast lint benchmarks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## Execute every notebook in order; build/index.html, executed notebooks, HTML, figures and GIFs go to build/.
RUN_OUT ?= build
run: $(STAMP)
	$(PY) -m course_utils run-notebooks notebooks --out $(RUN_OUT)

## Lint (ruff), format check and types (mypy) of course_utils, configured in pyproject.toml.
lint: $(STAMP)
	$(PY) -m ruff check
	$(PY) -m ruff format --check
	$(PY) -m mypy

## Lint, then unit tests, benchmark smoke runs, and every notebook under nbval, in quick mode.
test: lint
	COURSE_QUICK=1 $(PY) -m pytest tests notebooks $(NBVAL)

## Unit tests only (no notebooks), for a fast edit-test loop.
test-fast: $(STAMP)
	COURSE_QUICK=1 $(PY) -m pytest tests -m "not slow"

## The performance comparisons of the benchmarks/ folder (minutes; not part of the tests).
benchmarks: $(STAMP)
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf build .pytest_cache
