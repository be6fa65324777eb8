"""The floors of course_utils: every import points down, and docs/architecture.md says so truly.

Imports are read from the source (ast), those inside functions and under
``typing.TYPE_CHECKING`` included, so a lazy import cannot hide a wrong
direction.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"

#: course_utils' modules by floor. A module may import modules on lower floors only (never one on its own floor
#: or above). docs/architecture.md mirrors this table; a new module gets a floor here and a line there.
FLOORS: dict[int, tuple[str, ...]] = {
    0: ("_core", "config", "files", "checkpoints", "efficientnet_lite", "widgets", "_site_sphinx"),
    1: ("image_io", "statistics"),
    2: ("data",),
    3: ("models",),
    4: ("attributions", "explainers", "features", "training"),
    5: ("metrics",),
    6: ("pixel_maps", "viz", "exercises"),
    7: ("notebook_runner",),
    8: ("course_site",),
    9: ("cli",),
    10: ("__init__", "__main__"),
}
FLOOR_OF = {module: floor for floor, modules in FLOORS.items() for module in modules}

#: What the core and the settings may import besides the standard library.
GROUND_THIRD_PARTY = {"numpy", "tensorflow", "keras"}


def _modules() -> list[str]:
    return sorted(path.stem for path in PACKAGE.glob("*.py"))


def _imports(module: str) -> list[tuple[int, str]]:
    """(line, imported name) of every import in ``course_utils/<module>.py``, top-level names for outside
    packages and ``course_utils.<submodule>`` for the course's own."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                found.append((node.lineno, ".".join(parts[:2]) if parts[0] == "course_utils" else parts[0]))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] != "course_utils":
                found.append((node.lineno, node.module.split(".")[0]))
                continue
            inner = (node.module or "").split(".")
            if node.level == 0:
                inner = inner[1:]  # drop "course_utils"
            if inner and inner[0]:
                found.append((node.lineno, f"course_utils.{inner[0]}"))
            else:  # from course_utils import a, b  /  from . import a, b
                found.extend((node.lineno, f"course_utils.{alias.name}") for alias in node.names)
    return found


def _course_imports(module: str) -> list[tuple[int, str]]:
    prefix = "course_utils."
    return [(line, name[len(prefix) :]) for line, name in _imports(module) if name.startswith(prefix)]


def test_every_module_has_a_floor():
    modules = set(_modules())
    assert modules - set(FLOOR_OF) == set(), "a new module needs a floor in FLOORS and a line in docs/architecture.md"
    assert set(FLOOR_OF) - modules == set(), "FLOORS names a module that does not exist"


@pytest.mark.parametrize("module", _modules())
def test_imports_point_down(module):
    floor = FLOOR_OF[module]
    wrong = [
        f"line {line}: imports {name} (floor {FLOOR_OF.get(name, '?')})"
        for line, name in _course_imports(module)
        if name not in FLOOR_OF or FLOOR_OF[name] >= floor
    ]
    assert wrong == [], f"course_utils/{module}.py is on floor {floor}; it may import lower floors only: {wrong}"


def test_the_reader_sees_every_kind_of_import():
    """The checks above are only as good as the reader: it must see lazy, relative and dotted imports."""
    exercises = {name for _, name in _course_imports("exercises")}
    assert "attributions" in exercises, "exercises imports attributions inside a function"
    viz = {name for _, name in _course_imports("viz")}
    assert {"_core", "metrics", "explainers"} <= viz, "viz: a top-level, a lazy and a TYPE_CHECKING import"
    assert {name for _, name in _course_imports("__main__")} == {"cli"}


@pytest.mark.parametrize("module", ["_core", "config"])
def test_core_and_config_import_only_the_standard_library_numpy_and_tensorflow(module):
    assert FLOOR_OF[module] == 0 and _course_imports(module) == []
    outside = {name for _, name in _imports(module) if not name.startswith("course_utils.")}
    assert outside - (set(sys.stdlib_module_names) | GROUND_THIRD_PARTY | {"__future__"}) == set()


def test_light_modules_use_the_core_without_loading_tensorflow():
    """image_io and data use the core's checks; the core imports TensorFlow only inside the functions that need it,
    so ``import course_utils.image_io`` stays light (course_utils._WITHOUT_TENSORFLOW lists it)."""
    assert "_core" in {name for _, name in _course_imports("image_io")}
    probe = (
        "import sys, course_utils.image_io, course_utils.data, course_utils._core; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_docs_mirror_the_floors():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    documented = {
        int(floor): tuple(name.strip("` ") for name in names.split(","))
        for floor, names in re.findall(r"^ {4}floor (\d+) +(.+)$", text, flags=re.MULTILINE)
    }
    assert documented == FLOORS, "docs/architecture.md's floor list must match tests/test_architecture.py's FLOORS"
