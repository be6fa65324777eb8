"""Execute the course notebooks in order and write them, as HTML too, under ``build/``.

Used by ``make run`` (``python -m course_utils run-notebooks``). Each notebook
runs in its own kernel with its own folder as working directory, exactly as a
student would run it; the executed copy and an HTML page land in
``build/notebooks/`` and the figures and GIFs the notebooks save land in
``build/`` through :func:`course_utils.config.output_dir`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

__all__ = ["run_all", "run_one", "strip_outputs", "freeze_checked_outputs"]


def _client(notebook, path: Path, timeout: int):
    """An nbclient client whose shell-reply wait cannot miss a wake-up.

    nbclient waits for each cell's reply with one blocking ``get_msg(timeout)``;
    after a cell that writes into an ipywidgets ``Output`` that wait sometimes
    misses the reply and sleeps out the whole cell timeout although the kernel
    is idle (jupyter/nbclient#312). Polling in short slices costs at most
    0.2 s per miss instead.
    """
    from queue import Empty

    from nbclient import NotebookClient

    class _PollingClient(NotebookClient):
        async def async_start_new_kernel_client(self, **kwargs):
            kernel_client = await super().async_start_new_kernel_client(**kwargs)
            channel = kernel_client.shell_channel
            blocking_get = channel.get_msg

            async def get_msg(timeout=None):
                deadline = None if timeout is None else time.monotonic() + timeout
                while True:
                    remaining = 0.2 if deadline is None else min(0.2, max(0.0, deadline - time.monotonic()))
                    try:
                        return await blocking_get(timeout=remaining)
                    except Empty:
                        if deadline is not None and time.monotonic() >= deadline:
                            raise

            channel.get_msg = get_msg
            return kernel_client

    return _PollingClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )


def run_one(path: Path, out_dir: Path, timeout: int = 1800) -> float:
    """Execute one notebook; write ``NAME.ipynb`` and ``NAME.html`` into ``out_dir``.

    Returns the seconds it took. Raises the execution error of the first
    failing cell (nbclient's ``CellExecutionError``), after writing the
    partially executed notebook so the failure can be read.
    """
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(path, as_version=4)
    client = _client(notebook, path, timeout)
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, out_dir / path.name)
        html, _ = HTMLExporter().from_notebook_node(notebook)
        (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return time.perf_counter() - started


def run_all(folder: Path, out_dir: Path, timeout: int = 1800) -> int:
    """Execute every ``NN_*.ipynb`` of ``folder`` in order, a progress line each.

    Returns 0 when all ran, 1 otherwise (the remaining notebooks still run).
    """
    notebooks = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(f"error: no NN_*.ipynb notebooks in {str(folder)!r}", file=sys.stderr)
        return 1
    target = Path(out_dir) / "notebooks"
    failures = []
    for number, path in enumerate(notebooks, start=1):
        print(f"[{number}/{len(notebooks)}] {path.name} ...", end=" ", flush=True)
        try:
            seconds = run_one(path, target, timeout=timeout)
        except Exception as error:  # report every failing notebook, not just the first
            failures.append(path.name)
            print(f"FAILED ({type(error).__name__}); see {target / path.name}", flush=True)
            continue
        print(f"ok in {seconds:.0f} s -> {target / path.with_suffix('.html').name}", flush=True)
    if failures:
        print(f"{len(failures)} notebook(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    print(f"all {len(notebooks)} notebooks ran; executed copies and HTML in {target}")
    return 0


CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def _is_checked(cell) -> bool:
    return cell.get("cell_type") == "code" and CHECK_MARK in "".join(cell.get("source", ""))


def strip_outputs(notebook, keep_checked_from=None):
    """Remove outputs and execution counts, as notebooks are committed (DESIGN.md section 5).

    Cells marked ``# NBVAL_CHECK_OUTPUT`` keep their outputs (and an
    execution count, without which nbval does not compare them), taken from
    ``keep_checked_from`` (an executed copy of the same notebook) when given,
    since nbval compares a fresh run against them.
    """
    executed = {}
    if keep_checked_from is not None:
        executed = {
            "".join(cell.get("source", "")): cell.get("outputs", [])
            for cell in keep_checked_from.cells
            if _is_checked(cell)
        }
    checked_count = 0
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        cell["execution_count"] = None
        if _is_checked(cell):
            # nbval compares a cell only if its stored copy has an execution
            # count ("unrun" cells are skipped), so checked cells get 1, 2, ...
            checked_count += 1
            cell["execution_count"] = checked_count
            outputs = executed.get("".join(cell.get("source", "")), cell.get("outputs", []))
            for output in outputs:
                if "execution_count" in output:
                    output["execution_count"] = checked_count
            cell["outputs"] = outputs
        else:
            cell["outputs"] = []
        cell.get("metadata", {}).pop("execution", None)
    notebook.metadata = {
        key: value for key, value in notebook.metadata.items() if key in ("kernelspec", "language_info")
    }
    if "language_info" in notebook.metadata:
        notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def freeze_checked_outputs(path: Path, timeout: int = 1800) -> None:
    """Execute ``path`` and store only its ``# NBVAL_CHECK_OUTPUT`` outputs in it.

    Run it in quick mode (``COURSE_QUICK=1``), the mode CI compares in.
    """
    import copy

    import nbformat

    source = nbformat.read(path, as_version=4)
    executed = copy.deepcopy(source)
    _client(executed, path, timeout).execute()
    nbformat.write(strip_outputs(source, keep_checked_from=executed), path)
