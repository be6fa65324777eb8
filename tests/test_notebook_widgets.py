"""Every notebook widget is moved programmatically by the notebook itself.

The notebooks check their widgets in place: after each ``InteractiveFigure``
a cell moves the controls with ``.set(...)`` and asserts that
``redraw_count`` grew, and CI runs those cells through nbval. This static
test (no kernel, no TensorFlow) makes sure that convention holds, so a widget
cannot silently lose its check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
CONSTRUCTION = re.compile(r"InteractiveFigure\(")
NAMED = re.compile(r"^\s*(\w+)\s*=\s*InteractiveFigure\(", re.MULTILINE)


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_widget_is_moved_and_checked(path: Path):
    cells = _code_cells(path)
    problems = []
    for index, source in enumerate(cells):
        constructions = len(CONSTRUCTION.findall(source))
        names = NAMED.findall(source)
        if constructions > len(names):
            problems.append(f"code cell {index} builds an InteractiveFigure without a name, so nothing can move it")
        for name in names:
            checked = any(f"{name}.set(" in later and "redraw_count" in later for later in cells[index:])
            if not checked:
                problems.append(
                    f"widget {name!r} (code cell {index}) has no later cell that calls {name}.set(...) "
                    "and asserts its redraw_count"
                )
    assert not problems, f"{path.name}: " + "; ".join(problems)
