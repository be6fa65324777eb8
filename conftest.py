"""pytest set-up for every test run from the repository root, the notebooks under nbval included.

The kernels that run the notebooks in the tests get an IPython startup file (tests/figure_checks.py)
that fails any cell whose figure draws two titles over each other. It reaches the kernels through
IPYTHONDIR, a temporary folder, so neither a student's kernel nor `make run` ever loads it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent / "tests"


def pytest_configure(config):
    sys.path.insert(0, str(_TESTS))
    import figure_checks

    config._course_ipython_dir = figure_checks.kernel_startup_dir()
    os.environ["IPYTHONDIR"] = str(config._course_ipython_dir)


def pytest_unconfigure(config):
    folder = getattr(config, "_course_ipython_dir", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
