"""The title-overlap check that every notebook figure passes through in the test kernels."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import figure_checks
import matplotlib.pyplot as plt
import pytest


def _rendered(figure):
    figure.savefig(io.BytesIO(), format="png")
    return figure


def test_a_suptitle_drawn_over_a_panel_title_is_found():
    figure, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].set_title("a left panel title long enough\nto reach the middle of the figure")
    figure.suptitle("overall title", y=0.95)  # no layout engine: it is drawn where it was put
    problems = figure_checks.overlapping_titles(_rendered(figure))
    assert problems and "suptitle 'overall title' overlaps axes 0 title" in problems[0]


def test_neighbouring_panel_titles_that_run_into_each_other_are_found():
    figure, axes = plt.subplots(1, 2, figsize=(4, 2))
    axes[0].set_title("a very long title that runs far to the right")
    axes[1].set_title("and another long one that runs left")
    assert figure_checks.overlapping_titles(_rendered(figure))


@pytest.mark.parametrize("layout", ["constrained", "tight"])
def test_a_laid_out_figure_has_no_overlap(layout):
    figure, axes = plt.subplots(2, 3, figsize=(9, 5), layout=layout)
    for k, ax in enumerate(axes.ravel()):
        ax.imshow([[0, 1], [1, 0]])
        ax.set_title(f"panel {k}\nwith two lines")
    figure.suptitle("one overall title")
    assert figure_checks.overlapping_titles(_rendered(figure)) == []


def test_installed_check_fails_the_render_that_overlaps(tmp_path):
    """In a fresh interpreter started the way test kernels start (IPYTHONDIR startup file)."""
    startup = figure_checks.kernel_startup_dir(tmp_path / "ipython")
    script = startup / "profile_default" / "startup" / "00-course-figure-checks.py"
    program = (
        script.read_text()
        + """
import io
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
good, axes = plt.subplots(1, 2, layout="constrained")
axes[0].set_title("a left title long enough to reach the middle"); good.suptitle("fine")
good.savefig(io.BytesIO())
bad, axes = plt.subplots(1, 2)
axes[0].set_title("a left title long enough to reach the middle"); bad.suptitle("covering", y=0.95)
try:
    bad.savefig(io.BytesIO())
except AssertionError as error:
    print("refused:", type(error).__name__, error)
"""
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "refused: OverlappingTitlesError overlapping titles: suptitle 'covering'" in result.stdout
