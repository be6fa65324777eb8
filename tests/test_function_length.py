"""No long rooms: every function body in course_utils/ and benchmarks/ fits in 60 lines.

A body is counted from its first statement after the docstring to its last
line (comments and blank lines inside included), so a long docstring costs
nothing and a long function cannot hide behind one. Nested functions count
on their own and inside the function that holds them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("course_utils", "benchmarks")
MAX_BODY_LINES = 60


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the last statement."""
    body = function.body
    if ast.get_docstring(function, clean=False) is not None:
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def long_functions(source: str, filename: str) -> list[str]:
    """``"file:line name (n lines)"`` for every function of ``source`` whose body is over the limit."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > MAX_BODY_LINES:
            found.append(f"{filename}:{node.lineno} {node.name} ({body_lines(node)} lines)")
    return found


def python_files() -> list[Path]:
    return sorted(path for folder in FOLDERS for path in (REPO_ROOT / folder).rglob("*.py"))


def test_the_folders_hold_python_files():
    files = {path.relative_to(REPO_ROOT).parts[0] for path in python_files()}
    assert files == set(FOLDERS)


@pytest.mark.parametrize("path", python_files(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_no_function_body_is_over_60_lines(path):
    found = long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))
    assert not found, f"split these functions (a body over {MAX_BODY_LINES} lines): " + "; ".join(found)


def test_the_count_skips_the_docstring_and_catches_a_long_nested_function():
    statements = "\n".join(f"        x{k} = {k}" for k in range(MAX_BODY_LINES))
    source = f'def outer():\n    """A docstring\n    of three lines.\n    """\n    def inner():\n{statements}\n    return inner\n'
    assert body_lines(ast.parse(source).body[0]) == MAX_BODY_LINES + 2  # def inner, its body, return
    found = long_functions(source, "example.py")
    assert found == [f"example.py:1 outer ({MAX_BODY_LINES + 2} lines)"]
    longer = source.replace("    return inner\n", f"        x{MAX_BODY_LINES} = 0\n    return inner\n")
    assert long_functions(longer, "example.py") == [
        f"example.py:1 outer ({MAX_BODY_LINES + 3} lines)",
        f"example.py:5 inner ({MAX_BODY_LINES + 1} lines)",
    ]
