"""The student edition of a notebook runs up to its exercises, and each stub says clearly that it is not answered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_utils import exercises, notebook_runner

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
#: The shortest notebook in quick mode (about 15 s on two cores).
SHORT = NOTEBOOK_DIR / "05_shap.ipynb"


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(str(output.get("text", "")))
        parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "".join(parts)


@pytest.mark.slow
def test_the_student_edition_runs_and_every_stub_reports_that_it_is_not_answered(tmp_path: Path, monkeypatch):
    import nbformat

    monkeypatch.setenv("COURSE_QUICK", "1")
    monkeypatch.delenv("COURSE_MODE", raising=False)
    (student_path,) = [p for p in notebook_runner.write_student_edition(NOTEBOOK_DIR, tmp_path) if p.name == SHORT.name]
    source = nbformat.read(SHORT, as_version=4)
    solutions = [c.source for c in source.cells if notebook_runner.SOLUTION_TAG in c.metadata.get("tags", [])]
    assert solutions, f"{SHORT.name} has no cells tagged {notebook_runner.SOLUTION_TAG!r}"

    student = nbformat.read(student_path, as_version=4)
    everything = "\n".join(c.source for c in student.cells)
    assert not any(solution.strip() in everything for solution in solutions), "solution code left in the edition"
    assert not any(notebook_runner.SOLUTION_TAG in c.metadata.get("tags", []) for c in student.cells)

    # Run where the source notebook runs (its folder), under the test kernels' start-up file: strict checks.
    notebook_runner._client(student, SHORT, timeout=600).execute()

    ids = sorted(i for i in exercises.EXERCISES if i.startswith(SHORT.name[:2]))
    reported = {}
    for cell in student.cells:
        calls = re.findall(r'exercises\.check\("(\d\d\.\d+)"', cell.source)
        if cell.cell_type == "code" and calls:
            reported[calls[0]] = _text(cell)
    assert sorted(reported) == ids
    for exercise_id, text in reported.items():
        assert f"Not answered yet (exercise {exercise_id})" in text, f"{exercise_id} printed {text!r}"
        assert "replace the `...`" in text
    errors = [c.source[:60] for c in student.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"cells raised in the student edition: {errors}"
