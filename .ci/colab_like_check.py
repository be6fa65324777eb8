"""Run the notebooks' setup cell the way Colab runs it, in a Colab-like environment, then run a notebook.

Run by ``.ci/test-compat colab`` with the interpreter of that environment (Python 3.12, ipywidgets 7,
the TensorFlow / Keras pair named there, no course_utils installed). It checks what the setup cell
promises in Colab:

1. A kernel where ``google.colab`` and ipywidgets 7 are already imported (a stand-in ``google.colab``
   package records ``output.enable_custom_widget_manager()``) runs the setup cell of notebook 04.
   The cell installs the course (from this checkout instead of GitHub: the one line that differs),
   turns the widget manager on, and says that a restart is needed and why (ipywidgets 7 -> 8).
2. "After the restart": a new kernel in the same environment runs all of notebook 04 in quick mode;
   the setup cell must now ask for no restart, and no cell may fail.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_integrated_gradients.ipynb"
# The install line of the setup cells, made from pyproject's [tool.course] repository (course_utils.course_site).
_REPOSITORY = re.search(r'^repository = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), flags=re.M).group(1)
GITHUB = f"course_utils @ git+https://github.com/{_REPOSITORY}"

COLAB_STAND_IN = '''"""A stand-in for Colab's google.colab.output: records that the custom widget manager was turned on."""
import os

def enable_custom_widget_manager():
    with open(os.environ["COLAB_WIDGET_MANAGER_LOG"], "a") as log:
        log.write("enabled\\n")
'''


def stand_in_colab(folder: Path) -> Path:
    package = folder / "google" / "colab"
    package.mkdir(parents=True)
    # No google/__init__.py: "google" stays a namespace package, so google.protobuf (TensorFlow's) still imports.
    (package / "__init__.py").write_text("")
    (package / "output.py").write_text(COLAB_STAND_IN)
    return folder


def outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
        elif "text/plain" in output.get("data", {}):
            parts.append(output["data"]["text/plain"])
    return "".join(parts)


def main() -> int:
    import ipywidgets

    assert ipywidgets.__version__.startswith("7."), (
        f"a Colab-like environment has ipywidgets 7, not {ipywidgets.__version__}"
    )
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert GITHUB in setup.source, "the setup cell installs the course from GitHub"
    local = setup.source.replace(GITHUB, f"course_utils @ {ROOT.as_uri()}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = stand_in_colab(Path(scratch) / "colab")
        log = Path(scratch) / "widget-manager.log"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
        os.environ["COLAB_WIDGET_MANAGER_LOG"] = str(log)
        os.environ["COURSE_QUICK"] = "1"

        first = nbformat.v4.new_notebook()
        first.metadata = notebook.metadata
        first.cells = [
            nbformat.v4.new_code_cell("import google.colab, ipywidgets  # Colab loads these at start"),
            nbformat.v4.new_code_cell(local),
        ]
        NotebookClient(
            first, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
        ).execute()
        said = outputs_text(first.cells[1])
        print("setup cell, first run:\n  " + said.strip().replace("\n", "\n  "))
        assert "Restart session" in said and "ipywidgets 7." in said, (
            "the cell must ask for a restart after replacing ipywidgets 7"
        )
        assert log.read_text().count("enabled") == 1, "the cell turns Colab's custom widget manager on"

        rerun = nbformat.read(NOTEBOOK, as_version=4)
        next(cell for cell in rerun.cells if cell.cell_type == "code").source = local
        rerun.cells.insert(0, nbformat.v4.new_code_cell("import google.colab, ipywidgets"))
        NotebookClient(
            rerun, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
        ).execute()
        said = outputs_text(rerun.cells[1])
        assert "Restart session" not in said, f"after the restart the cell asks for no other restart: {said}"
        import importlib.metadata as metadata

        print(
            f"after the restart, notebook 04 ran in quick mode: ipywidgets {metadata.version('ipywidgets')}, "
            f"tensorflow {metadata.version('tensorflow')}, keras {metadata.version('keras')}, "
            f"numpy {metadata.version('numpy')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
