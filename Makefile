# The course's two commands (see README): `make run` and `make test`.
# Each creates .venv with everything it needs on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with nbval.ini

.PHONY: setup run student test test-fast test-compat test-browser test-pages chromium lint benchmarks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,site]"
	touch $(STAMP)

setup: $(STAMP)

## Execute every notebook in order; executed notebooks, HTML, figures and GIFs go to build/, and the course site
## (Jupyter Book, from the executed notebooks) to build/site/, which build/index.html opens.
RUN_OUT ?= build
run: $(STAMP)
	$(PY) -m course_utils run-notebooks notebooks --out $(RUN_OUT)

## The student edition: the notebooks without their worked solutions (cells tagged "solution"), in build/student/.
student: $(STAMP)
	$(PY) -m course_utils student-edition notebooks --out build/student

## Lint (ruff: the library, tests, benchmarks and CI scripts), format check and types (mypy: course_utils),
## configured in pyproject.toml.
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

## The unit tests and notebook 04 at both ends of the declared ranges (Python 3.10 with every dependency at its
## lower bound, Python 3.13 with the newest releases), and the setup cell in a Colab-like environment.
test-compat:
	bash .ci/test-compat

## The interactive figures in a real browser (tests_browser/): JupyterLab on a temporary copy of the notebooks,
## driven by Playwright in Debian's headless Chromium; every control of every InteractiveFigure must redraw it.
## The notebooks load the quick-mode CNN and control that `make test` saved, when both are there.
## Installs chromium-headless-shell with apt where missing (never `playwright install`) and Playwright in .venv.
BROWSER_STAMP := $(VENV)/.browser-stamp
APT := $(shell [ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get
BROWSER_ARGS ?=

$(BROWSER_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,site,browser]"
	touch $(BROWSER_STAMP)

chromium:
	@if [ -n "$${CHROMIUM_PATH:-}" ] || dpkg-query -W -f='$${Status}' chromium-headless-shell 2> /dev/null \
		| grep -q "install ok installed"; then exit 0; fi; \
	echo "installing chromium-headless-shell with apt"; \
	$(APT) install -y -qq --no-install-recommends chromium-headless-shell > /dev/null 2>&1 || \
	{ $(APT) update -qq && $(APT) install -y -qq --no-install-recommends chromium-headless-shell > /dev/null; }

test-browser: chromium $(BROWSER_STAMP)
	COURSE_QUICK=1 $(PY) -m pytest tests_browser --trained-models "$${COURSE_OUTPUT_DIR:-build}/models" $(BROWSER_ARGS)

## The rendered pages of a finished `make run` (RUN_OUT) opened from disk in Chromium with the network off:
## no CDN request, no console error, math typeset, images decoded.
test-pages: chromium $(BROWSER_STAMP)
	$(PY) -m pytest tests_browser/test_rendered_pages.py --pages $(RUN_OUT)

## The performance comparisons of the benchmarks/ folder (minutes; not part of the tests).
benchmarks: $(STAMP)
	for script in benchmarks/[!_]*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf build .pytest_cache
