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


def test_the_nine_notebooks_exist_in_teaching_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in NOTEBOOKS]
    assert len(NOTEBOOKS) == 9, [p.name for p in NOTEBOOKS]


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


#: The conventions note of notebooks 02-09, word for word; notebook 01 sets the conventions out in full.
LOGIT_NOTE = (
    "**Which score, which colours** (the course's conventions, set out at the top of notebook 01). "
    "With two classes $\\nabla p_c = p_c\\, p_{\\text{other}}\\, \\nabla m_c$: the probability's gradient "
    'is the gradient of the margin $m_c = z_c - z_{\\text{other}}$ between the two logits, scaled by '
    'a factor that shrinks to 0 as the prediction grows confident. So the gradient methods and '
    'occlusion on the two-class CNN explain the margin, and Grad-CAM and the class images on the '
    'ImageNet models the class logit $z_c$; the other methods on the ImageNet models, and LIME and '
    'SHAP, explain a probability, as the examples and libraries they come from do, unless this '
    'notebook says otherwise below. In every map red is evidence for the explained class, blue '
    'against it, transparent nothing.'
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_teaching_structure_recap_solutions_and_the_logit_note(path: Path):
    cells = _cells(path)
    markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    flat = " ".join(markdown.split())
    if path.name.startswith("01_"):
        assert "**The course's conventions: which score, which colours.**" in flat, "01 states the conventions"
    else:
        assert LOGIT_NOTE in flat, "the conventions note, word for word (tests/test_notebooks_clean.py)"
    recap = re.search(r"^## Recap\b(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert recap, "a '## Recap' section"
    for topic in ("strength", "limitation", "when to use", "cost"):
        assert topic in recap.group(1).lower(), f"the recap covers {topic!r}"
    exercises = re.search(r"^## Exercises\b(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert exercises, "a '## Exercises' section"
    count = len(re.findall(r"^### Exercise \d\d\.\d+: ", exercises.group(1), re.MULTILINE))
    solutions = sum(1 for c in cells if c["cell_type"] == "code" and "solution" in c.get("metadata", {}).get("tags", []))
    assert count >= 2 and solutions == count, f"{count} exercises, {solutions} worked solutions (code cells tagged 'solution')"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_carry_what_nbval_compares(path: Path):
    """nbval skips a checked cell whose stored copy has no execution count or no output."""
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code" and CHECK_MARK in _source(cell):
            assert cell.get("execution_count") is not None, f"{path.name} cell {index}: run `python -m course_utils freeze-notebook`"
            assert cell.get("outputs"), f"{path.name} cell {index} stores no output to compare"


CHECK_TAG = "course-check"  # course_utils.notebook_runner.CHECK_TAG, without importing TensorFlow
_ASSERT = re.compile(r"^\s*assert\b", re.MULTILINE)
_EXPLORER = re.compile(r"^\s*(\w+)\s*=\s*InteractiveFigure\(", re.MULTILINE)
_MACHINERY_WORDS = re.compile(r"\bCI\b|nbval|test suite|benchmarks/|pytest", re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checks_are_tagged_collapsed_cells_and_the_prose_never_mentions_test_machinery(path: Path):
    """Students see the course: asserts and scripted widget moves sit in collapsed cells the page leaves out."""
    untagged, expanded, prose = [], [], []
    explorers = {name for cell in _cells(path) for name in _EXPLORER.findall(_source(cell))}
    moves = re.compile(rf"^\s*({'|'.join(map(re.escape, explorers)) or '(?!)'})\.set\(", re.MULTILINE)
    for index, cell in enumerate(_cells(path)):
        source, metadata = _source(cell), cell.get("metadata", {})
        if cell["cell_type"] == "markdown":
            prose += [f"cell {index}: {m.group(0)!r}" for m in _MACHINERY_WORDS.finditer(source)]
            continue
        tagged = CHECK_TAG in metadata.get("tags", [])
        if (_ASSERT.search(source) or moves.search(source)) and not tagged:
            untagged.append(index)
        hidden = metadata.get("jupyter", {})
        if tagged and not (hidden.get("source_hidden") and hidden.get("outputs_hidden")):
            expanded.append(index)
    assert not untagged, f"cells with assert or an explorer's .set( need the {CHECK_TAG!r} tag: {untagged}"
    assert not expanded, f"{CHECK_TAG!r} cells must be collapsed (jupyter.source_hidden and outputs_hidden): {expanded}"
    assert not prose, f"markdown mentions test machinery: {prose}"


def test_the_setup_cell_is_the_same_everywhere_and_copes_with_colab():
    """One install cell: quick mode one line away, and a restart asked for when an upgrade replaced a loaded package
    (Colab's ipywidgets 7 above all; .ci/test-compat colab runs the cell in a Colab-like environment)."""
    firsts = {_source(next(c for c in _cells(p) if c["cell_type"] == "code")) for p in NOTEBOOKS}
    assert len(firsts) == 1, "every notebook starts with the same setup cell"
    (cell,) = firsts
    assert 'os.environ["COURSE_MODE"] = "quick"' in cell and "Restart session" in cell
    assert "enable_custom_widget_manager" in cell and '"ipywidgets"' in cell and "sys.modules" in cell


#: Where the course came from is no concern of a student: works are cited by author, title and year
#: ("Sarkar (2019)"), never as "the source notebook" or by the language a document was written in.
_PROVENANCE = re.compile(
    r"\b(?:polish|chinese|japanese|spanish)\b|\bsource (?:notebook|document|article|example)s?\b"
    r"|\bthe source(?:'s)?\b(?! (?:code|file|image|photo|pixel|folder|edition))|\bsource got\b",
    re.IGNORECASE,
)


def _provenance(cells: list[dict]) -> list[str]:
    found = []
    for index, cell in enumerate(cells):
        text = _source(cell)
        if cell["cell_type"] == "code":  # only what a student reads: comments and strings
            text = "\n".join(line for line in text.splitlines() if "#" in line or '"' in line or "'" in line)
        found += [f"cell {index}: {m.group(0)!r}" for m in _PROVENANCE.finditer(text)]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_cite_works_by_author_and_year_not_by_where_the_course_came_from(path: Path):
    found = _provenance(_cells(path))
    assert not found, f"cite the work (author, title, year) instead: {found}"


def test_the_provenance_check_catches_what_it_is_for():
    bad = [
        {"cell_type": "markdown", "source": "The Polish source notebook explained axolotls."},
        {"cell_type": "markdown", "source": ["as the Chinese\n", "document did"]},
        {"cell_type": "markdown", "source": "Here the source got the epochs wrong."},
        {"cell_type": "code", "source": "x = 1  # the source's step of 10"},
    ]
    assert [f.split(":")[0] for f in _provenance(bad)] == ["cell 0", "cell 0", "cell 1", "cell 2", "cell 3"]
    good = [
        {"cell_type": "markdown", "source": "Sarkar (2019) compared two cat breeds; Rivera (2023) uses 300 steps."},
        {"cell_type": "code", "source": "source_model = build()\nprint(source_image.shape)  # the source image"},
    ]
    assert _provenance(good) == []
