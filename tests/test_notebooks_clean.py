"""Notebooks are committed clean (docs/architecture.md, "Notebooks") and follow the course template."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def test_the_eight_notebooks_exist_in_teaching_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in NOTEBOOKS]
    assert len(NOTEBOOKS) == 8, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_outputs_except_checked_cells(path: Path):
    offenders = []
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code":
            continue
        if CHECK_MARK in _source(cell):
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            offenders.append(index)
    assert not offenders, f"{path.name}: cells {offenders} carry outputs or execution counts; clear them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_template(path: Path):
    cells = _cells(path)
    markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    code = [_source(c) for c in cells if c["cell_type"] == "code"]
    assert markdown.lstrip().startswith("# "), "a notebook starts with a title"
    assert re.search(r"learning goals", markdown, re.IGNORECASE), "learning goals are stated"
    assert re.search(r"exercise", markdown, re.IGNORECASE), "it ends with exercises"
    assert re.search(r"references", markdown, re.IGNORECASE), "it cites its references"
    assert "google.colab" in code[0], "the first code cell installs course_utils in Colab"
    assert any("InteractiveFigure" in c for c in code), "it has a widget an instructor can move"
    assert not any(re.search(r"^\s*!\s*(wget|curl)", c, re.MULTILINE) for c in code), "no shell downloads"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_carry_what_nbval_compares(path: Path):
    """nbval skips a checked cell whose stored copy has no execution count or no output."""
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code" and CHECK_MARK in _source(cell):
            assert cell.get("execution_count") is not None, f"{path.name} cell {index}: run `python -m course_utils freeze-notebook`"
            assert cell.get("outputs"), f"{path.name} cell {index} stores no output to compare"
