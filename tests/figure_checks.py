"""Checks on every figure a notebook shows, run inside the notebook's kernel during the tests.

``install()`` wraps matplotlib's ``FigureCanvasBase.print_figure`` (what the inline backend, ``savefig``
and ``InteractiveFigure`` all render through): after each figure is rendered, its titles are measured
on the renderer and an overlap raises ``OverlappingTitlesError``. Inside a notebook the display
machinery reports that as an error output, so nbval and the browser test fail on the cell that drew
the figure. Students never load this module: ``kernel_startup_dir()`` writes an IPython startup file
that the test kernels (and only they) run, through ``IPYTHONDIR``. The same file turns on the
strict mode of ``course_utils.exercises`` (a worked solution that fails its check fails its cell).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

#: Titles may touch; they overlap when they share more than this many pixels in both directions.
TOLERANCE_PX = 1.0


class OverlappingTitlesError(AssertionError):
    """Two titles of one figure are drawn on top of each other."""


def _suptitles(figure: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    suptitle = getattr(figure, "_suptitle", None)
    if suptitle is not None and suptitle.get_visible() and suptitle.get_text().strip():
        found.append((f"{prefix}suptitle {suptitle.get_text()!r}", suptitle))
    for index, subfigure in enumerate(getattr(figure, "subfigs", [])):
        found += _suptitles(subfigure, f"{prefix}subfigure {index} ")
    return found


def _titles(figure: Any) -> list[tuple[str, Any]]:
    found = _suptitles(figure)
    for index, axes in enumerate(figure.axes):  # the root figure lists its subfigures' axes too
        if not axes.get_visible():
            continue
        for attribute in ("title", "_left_title", "_right_title"):
            text = getattr(axes, attribute, None)
            if text is not None and text.get_visible() and text.get_text().strip():
                found.append((f"axes {index} title {text.get_text()!r}", text))
    return found


def overlapping_titles(figure: Any) -> list[str]:
    """Every pair of titles (the suptitle, each axes' titles) whose rendered boxes overlap.

    Uses the extents of the last draw, so call it after the figure was rendered (layout engines such
    as ``layout="constrained"`` move titles only while drawing).
    """
    # The inline backend leaves a plain FigureCanvasBase, which has no get_renderer of its own.
    get_renderer = getattr(figure.canvas, "get_renderer", None) or figure._get_renderer
    renderer = get_renderer()
    boxes = []
    for name, text in _titles(figure):
        try:
            boxes.append((name, text.get_window_extent(renderer)))
        except (RuntimeError, ValueError):  # a text that cannot be laid out is not an overlap
            continue
    problems = []
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1 :]:
            width = min(a.x1, b.x1) - max(a.x0, b.x0)
            height = min(a.y1, b.y1) - max(a.y0, b.y0)
            if width > TOLERANCE_PX and height > TOLERANCE_PX:
                problems.append(f"{name_a} overlaps {name_b} ({width:.0f} x {height:.0f} px)")
    return problems


def install() -> None:
    """Make every rendered figure fail with ``OverlappingTitlesError`` when two of its titles overlap."""
    from matplotlib.backend_bases import FigureCanvasBase

    original = FigureCanvasBase.print_figure
    if getattr(original, "_checks_titles", False):
        return

    def print_figure(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        problems = overlapping_titles(self.figure)
        if problems:
            raise OverlappingTitlesError("overlapping titles: " + "; ".join(problems))
        return result

    print_figure._checks_titles = True  # type: ignore[attr-defined]
    FigureCanvasBase.print_figure = print_figure  # type: ignore[method-assign]


STARTUP = """\
import os
import sys
os.environ["COURSE_EXERCISES_STRICT"] = "1"  # course_utils.exercises.check raises on a wrong answer
sys.path.insert(0, {folder!r})
import figure_checks
figure_checks.install()
del figure_checks
"""


def kernel_startup_dir(base: Path | None = None) -> Path:
    """An IPYTHONDIR whose default profile runs ``install()`` at kernel start; for the test kernels only."""
    root = Path(base) if base is not None else Path(tempfile.mkdtemp(prefix="course-test-ipython-"))
    startup = root / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-course-figure-checks.py").write_text(STARTUP.format(folder=str(Path(__file__).parent)))
    return root
