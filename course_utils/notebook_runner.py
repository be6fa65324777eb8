"""Execute the course notebooks in order and leave a browsable course under ``build/``.

Used by ``make run`` (``python -m course_utils run-notebooks``). Each notebook
runs in its own kernel with its own folder as working directory, exactly as a
student would run it. What lands in the output folder:

- ``notebooks/NN_name.ipynb`` and ``.html``: the executed notebook and its page;
- ``figures/NN_name/cellCC_K.png``: every figure the notebook drew;
- ``logs/NN_name.kernel.log``: what the kernel process wrote to its stderr
  (TensorFlow's start-up lines, kernel warnings), kept out of the terminal;
- ``site/``: the course's web site, built by Jupyter Book from the executed
  notebooks (:mod:`course_utils.course_site`), and ``index.html``, a link to it.

Progress is printed per notebook (cell k of N, elapsed time), a summary table
at the end; the exit status is 1 when any notebook failed. A kernel that dies
is reported as such: the notebook, the cell, and the end of its stderr.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from course_utils import exercises, files

if TYPE_CHECKING:
    from nbclient import NotebookClient
    from nbformat import NotebookNode

__all__ = [
    "NotebookRun",
    "NotebookFailed",
    "gpu_visible",
    "choose_mode",
    "run_all",
    "run_one",
    "strip_outputs",
    "freeze_checked_outputs",
    "SOLUTION_TAG",
    "student_notebook",
    "write_student_edition",
]


def gpu_visible() -> bool:
    """True when an NVIDIA GPU answers ``nvidia-smi -L`` (checked without importing TensorFlow)."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def choose_mode(environ: dict[str, str], has_gpu: Callable[[], bool] = gpu_visible) -> str | None:
    """The mode ``make run`` should set for its kernels, or None to keep what the user chose.

    Full mode on two CPU cores takes well over an hour, so when the user set
    neither ``COURSE_MODE`` nor ``COURSE_QUICK`` and no GPU is visible, the
    run uses the CPU preset; full mode stays one setting away
    (``COURSE_MODE=full``) and is the default on a GPU.
    """
    from course_utils import config

    if environ.get("COURSE_MODE", "").strip() or config.mode(environ) == "quick":
        return None
    return None if has_gpu() else "cpu"


class NotebookFailed(RuntimeError):
    """A notebook did not run to its end: which notebook, which cell, and why."""


@dataclasses.dataclass
class NotebookRun:
    """What :func:`run_one` did for one notebook."""

    path: Path
    seconds: float
    code_cells: int
    figures: list[Path]
    error: str | None = None

    @property
    def name(self) -> str:
        return self.path.stem


def _client(
    notebook: NotebookNode, path: Path, timeout: int, on_cell_start: Callable[..., Any] | None = None
) -> NotebookClient:
    """An nbclient client whose shell-reply wait cannot miss a wake-up.

    nbclient waits for each cell's reply with one blocking ``get_msg(timeout)``;
    after a cell that writes into an ipywidgets ``Output`` that wait sometimes
    misses the reply and sleeps out the whole cell timeout although the kernel
    is idle (jupyter/nbclient#312). Polling in short slices costs at most
    0.2 s per miss instead.
    """
    from nbclient import NotebookClient

    class _PollingClient(NotebookClient):
        #: SIGINT or SIGTERM, when one arrived while this notebook ran: the whole run must stop.
        stop_signal: int | None = None

        async def async_start_new_kernel(self, **kwargs: Any) -> None:
            await super().async_start_new_kernel(**kwargs)
            _stop_the_run_on_signals(self)

        async def async_start_new_kernel_client(self, **kwargs: Any) -> Any:
            kernel_client = await super().async_start_new_kernel_client(**kwargs)
            _wait_in_short_slices(kernel_client.shell_channel)
            return kernel_client

        async def _async_poll_for_reply(
            self,
            msg_id: str,
            cell: NotebookNode,
            timeout: int | None,
            task_poll_output_msg: Any,
            task_poll_kernel_alive: Any,
        ) -> Any:
            # nbclient cancels its kernel-alive poll only on a normal reply or a timeout. Any
            # other error here (a channel failure) left the poll running after the client was
            # torn down, where it died on `assert self.kc is not None`: a bare AssertionError
            # that hid the real error. The poll ends whenever the wait for the reply ends.
            try:
                return await super()._async_poll_for_reply(
                    msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive
                )
            finally:
                task_poll_kernel_alive.cancel()

    client = _PollingClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        # What native libraries write to the process's stderr (TensorFlow's absl and CUDA start-up lines)
        # goes to the kernel log, not into the cells of the rendered course; Python's own warnings and
        # prints still reach the cells.
        extra_arguments=["--IPKernelApp.capture_fd_output=False"],
    )
    if on_cell_start is not None:
        client.on_cell_start = on_cell_start
    return client


def _wait_in_short_slices(channel: Any) -> None:
    """Replace ``channel.get_msg(timeout)`` by a wait in 0.2 s slices up to the same deadline (see :func:`_client`)."""
    from queue import Empty

    blocking_get = channel.get_msg

    async def get_msg(timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = 0.2 if deadline is None else min(0.2, max(0.0, deadline - time.monotonic()))
            try:
                return await blocking_get(timeout=remaining)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = get_msg


def _stop_the_run_on_signals(client: Any) -> None:
    """Make SIGINT and SIGTERM stop the whole run, not only ``client``'s notebook.

    nbclient has just installed its own handlers, which shut the kernel down and let the caller go on with the
    next notebook: Ctrl-C would only fail the running notebook. These do the same shutdown and remember the
    signal in ``client.stop_signal``, which the runner turns into :class:`RunInterrupted`. nbclient removes them
    when the notebook ends.
    """

    def stop(number: int) -> None:
        client.stop_signal = number
        client._async_cleanup_kernel_future = asyncio.ensure_future(client._async_cleanup_kernel())

    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        # RuntimeError, NotImplementedError, ValueError: no signal handlers off the main thread or on Windows.
        with contextlib.suppress(RuntimeError, NotImplementedError, ValueError):
            loop.add_signal_handler(number, stop, number)


def _quiet_client_logs() -> None:
    """The runner's own terminal shows progress, not tornado's or nbclient's chatter."""
    for name in ("tornado", "tornado.general", "traitlets", "nbclient", "NotebookClient"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


#: Cells with this tag check what the notebook computed (asserts, widget moves): JupyterLab shows
#: them collapsed, the rendered page leaves them out, the run still executes them.
CHECK_TAG = "course-check"

#: Lines that are log noise, not course content, in a cell's output: native start-up and kernel warnings,
#: network errors, Keras epoch logs ("Epoch 3/15", "17/17 - 5s - 30ms/step - loss: ..."), progress bars
#: (tqdm's "45%|████▌  | 9/20", a widget bar's text fallback) and test counters ("widget redraws: 2").
_NOISE = re.compile(
    r"absl::|oneDNN custom operations|cudart_stub|cuInit|cpu_feature_guard|Kernel is running over TCP"
    r"|Got events for closed stream|\bConnectionError\b"
    r"|^\s*Epoch \d+/\d+\b|\bstep - \w*loss: |^\s*\d+/\d+ .*- loss: "
    r"|\b\d{1,3}%\||\|[█▏▎▍▌▋▊▉]|\b(?:Int|Float)Progress\(value="
    r"|widget redraws\b"
)


def output_noise(notebook: NotebookNode) -> list[str]:
    """Log lines in the executed notebook's outputs: ``"cell K: line"`` for each, empty when clean.

    TensorFlow's native start-up lines, kernel and tornado warnings, network
    errors printed while offline, Keras' per-epoch log lines, progress bars
    left in the saved outputs and the counters of scripted widget checks tell a
    student nothing about the course; an absolute path of the machine (its checkout,
    home or output folder) tells a reader of the page nothing either.
    """
    from course_utils import config

    machine = config.absolute_machine_paths()
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            text += output.get("data", {}).get("text/plain", "") if isinstance(output.get("data"), dict) else ""
            for line in str(text).splitlines():
                if _NOISE.search(line):
                    found.append(f"cell {index}: {line.strip()[:160]}")
                elif any(folder + "/" in line or line.rstrip().endswith(folder) for folder in machine):
                    found.append(
                        f"cell {index}: an absolute path of this machine (print config.display_path): "
                        f"{line.strip()[:160]}"
                    )
    return found


#: The notice ``models.imagenet_model`` prints for ``weights="random"``. Every figure a student sees explains a
#: model that learned something; the lessons whose point is randomness ask for ``weights=None``, which is silent.
_RANDOM_WEIGHTS_NOTICE = re.compile(r"has RANDOM weights")


def random_weights_notices(notebook: NotebookNode) -> list[str]:
    """Lines of the executed notebook saying that a model it explains has random weights: ``"cell K: line"``."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            for line in str(text).splitlines():
                if _RANDOM_WEIGHTS_NOTICE.search(line):
                    found.append(f"cell {index}: {line.strip()[:160]}")
    return found


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

#: Where the pages' local assets go, below the output folder; the pages live in ``notebooks/`` beside it.
PAGE_ASSETS = "assets"
#: MathJax 2.7 from the ``jupyter-server-mathjax`` package (the Jupyter project's packaged copy), so a page
#: renders its math opened from disk with no network. Its full TeX + MathML configuration, HTML-CSS output.
_MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
#: What the pages need of that copy (about 2 MB of its 10): the loader, the configuration, TeX input,
#: HTML-CSS output with its STIX-Web fonts (the only ones the package ships), and English only.
_MATHJAX_PARTS = (
    "MathJax.js",
    "config",
    "jax/input/TeX",
    "jax/output/HTML-CSS",
    "jax/element",
    "extensions",
    "fonts/HTML-CSS/STIX-Web/woff",
    "localization/en",
)


def mathjax_source() -> Path:
    """The folder of the installed ``jupyter-server-mathjax`` copy of MathJax 2.7.

    Raises
    ------
    RuntimeError
        If the package is not installed (it comes with ``pip install -e '.[notebooks]'``).
    """
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise RuntimeError(
            "the rendered pages need MathJax from the jupyter-server-mathjax package: "
            "pip install jupyter-server-mathjax (or pip install -e '.[notebooks]')"
        ) from error
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def install_page_assets(out_dir: Path) -> Path:
    """Copy what the pages load (MathJax) to ``out_dir/assets``, whole or not at all; return that folder.

    An existing complete copy is kept. The copy goes through a temporary folder and a rename, so a
    run killed mid-copy never leaves a half MathJax that a later run would trust.
    """
    assets = Path(out_dir) / PAGE_ASSETS
    target = assets / "mathjax"
    if (target / "MathJax.js").is_file():
        return assets
    source = mathjax_source()
    assets.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".mathjax.partial-", dir=assets))
    try:
        for part in _MATHJAX_PARTS:
            origin = source / part
            if origin.is_dir():
                shutil.copytree(origin, partial / part, ignore=shutil.ignore_patterns("a11y"))
            else:
                (partial / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, partial / part)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return assets


def _page_exporter() -> Any:
    """nbconvert's HTML exporter for the course pages: the lab template, local MathJax, no require.js."""
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        extra_template_paths=[str(Path(__file__).parent / "resources" / "page_template")],
        template_file="course_page.html.j2",
        mathjax_url=f"../{PAGE_ASSETS}/mathjax/MathJax.js?config={_MATHJAX_CONFIG}",
    )


#: PNG figures larger than this are shown as JPEG on the rendered page.
_PAGE_PNG_LIMIT = 150_000


def _compact_for_page(notebook: NotebookNode) -> NotebookNode:
    """A copy of the executed notebook for its HTML page: no check cells, widgets as their figures, JPEG for large PNGs.

    Figures of photos and heatmaps compress badly as PNG (about 1 MB each at
    the inline backend's size); at JPEG quality 85 they take about a fifth of
    that and look the same on a page. The executed notebook and the figure
    files keep the PNGs and the widget state.
    """
    import copy
    import io

    from PIL import Image

    def convert(data: dict) -> None:
        encoded = data.get("image/png")
        if not isinstance(encoded, str) or len(encoded) <= _PAGE_PNG_LIMIT:
            return
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
            rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        buffer = io.BytesIO()
        flat.save(buffer, "JPEG", quality=85, optimize=True)
        del data["image/png"]
        data["image/jpeg"] = base64.b64encode(buffer.getvalue()).decode("ascii")

    page = copy.deepcopy(notebook)
    page.cells = [cell for cell in page.cells if CHECK_TAG not in cell.get("metadata", {}).get("tags", [])]
    # A page has no kernel: each widget shows the figure it stood for (InteractiveFigure puts its first
    # figure beside the widget), and the page loads no widget script from a CDN.
    page.metadata.pop("widgets", None)
    for cell in page.cells:
        if cell.get("cell_type") == "code" and cell.source.startswith(CHECK_MARK):
            # nbval's marker says nothing to a reader; the run compares that output, the page just shows it.
            cell.source = cell.source[len(CHECK_MARK) :].lstrip("\n")
        for output in cell.get("outputs", []):
            data = output.get("data")
            if isinstance(data, dict):
                data.pop(WIDGET_VIEW, None)
                convert(data)
    return page


def _write_notebook(notebook: Any, path: Path) -> None:
    """``nbformat.write``'s bytes (a final newline included), written whole or not at all."""
    import nbformat

    text = nbformat.writes(notebook)
    files.write_text_atomically(path, text if text.endswith("\n") else text + "\n")


def _save_figures(notebook: NotebookNode, folder: Path) -> list[Path]:
    """Write every PNG output of the executed notebook to ``folder`` (cellCC_K.png), replacing an earlier run's."""
    for stale in folder.glob("cell*.png") if folder.is_dir() else ():
        stale.unlink()
    saved: list[Path] = []
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {}) if isinstance(output, dict) else {}
            if "image/png" not in data:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"cell{index:02d}_{len(saved) + 1}.png"
            files.write_bytes_atomically(target, base64.b64decode(data["image/png"]))
            saved.append(target)
    return saved


def _execute(
    client: NotebookClient, path: Path, kernel_log: Path, timeout: int, current: dict[str, int]
) -> NotebookFailed | None:
    """Run ``client``'s kernel in strict exercise mode, its stderr to ``kernel_log``; the failure, or None.

    ``current["cell"]`` is the index of the cell that was running, kept up to date by the client's hook.
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # Strict exercise checks: a worked solution that does not pass its own check fails the run (a student's
    # unanswered `...` never does).
    kernel_env = {**os.environ, exercises.STRICT_ENV: "1"}
    try:
        with kernel_log.open("wb") as kernel_stderr:
            client.execute(stderr=kernel_stderr, env=kernel_env)
    except DeadKernelError as failure:
        tail = _tail(kernel_log)
        return NotebookFailed(
            f"{path.name}: the kernel died while cell {current['cell']} ran ({failure}). "
            f"Last lines of its stderr ({kernel_log}):\n{tail or '(nothing)'}"
        )
    except CellTimeoutError as failure:
        return NotebookFailed(f"{path.name}: cell {current['cell']} ran longer than {timeout} s ({failure})")
    except CellExecutionError as failure:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(failure)).strip()  # drop the traceback's terminal colours
        first_line = plain.splitlines()[-1] if plain else type(failure).__name__
        return NotebookFailed(f"{path.name}: cell {current['cell']} raised: {first_line}")
    except Exception as failure:  # nbclient's own state errors: report them, with the kernel's stderr
        return NotebookFailed(
            f"{path.name}: the run stopped in cell {current['cell']} ({type(failure).__name__}: {failure}). "
            f"Last lines of the kernel's stderr ({kernel_log}):\n{_tail(kernel_log) or '(nothing)'}"
        )
    finally:
        # A stop overrides whatever the shut-down kernel made of the cell: the run ends here.
        _raise_if_stopped(client, path, current)
    return None


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM arrived while a notebook ran: the whole run stops, that notebook unwritten.

    A ``KeyboardInterrupt``, so that code which stops on Ctrl-C stops on it; ``signal_number`` says which signal
    (the command line exits with 128 + it, as a shell does).
    """

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number


def _raise_if_stopped(client: NotebookClient, path: Path, current: dict[str, int]) -> None:
    number = getattr(client, "stop_signal", None)
    if number is not None:
        name = "Ctrl-C" if number == signal.SIGINT else signal.Signals(number).name
        raise RunInterrupted(f"{name} while {path.name} ran cell {current['cell']}", number)


def _content_problem(notebook: NotebookNode, path: Path) -> NotebookFailed | None:
    """The failure for outputs that are not course content (log noise, a random-weights notice), or None."""
    noise = output_noise(notebook)
    if noise:
        return NotebookFailed(f"{path.name}: log noise in the outputs, not course content:\n  " + "\n  ".join(noise))
    random_models = random_weights_notices(notebook)
    if random_models:
        return NotebookFailed(
            f"{path.name}: explains a model with random weights outside a randomization lesson (those use "
            "weights=None):\n  " + "\n  ".join(random_models)
        )
    return None


def _write_outputs(notebook: NotebookNode, path: Path, out_dir: Path) -> list[Path]:
    """Write the executed notebook and its HTML page to ``out_dir/notebooks``; return its figures' paths."""
    target = out_dir / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    _write_notebook(notebook, target / path.name)
    install_page_assets(out_dir)
    page, _ = _page_exporter().from_notebook_node(_compact_for_page(notebook))
    files.write_text_atomically(target / path.with_suffix(".html").name, page)
    return _save_figures(notebook, out_dir / "figures" / path.stem)


def run_one(
    path: Path, out_dir: Path, timeout: int = 1800, progress: Callable[[int, int, float], None] | None = None
) -> NotebookRun:
    """Execute one notebook; write it, its HTML, its figures and its kernel log under ``out_dir``.

    Parameters
    ----------
    path
        The notebook.
    out_dir
        Output folder: ``notebooks/``, ``figures/NAME/`` and ``logs/`` go below it.
    timeout
        Seconds one cell may run.
    progress
        Called as ``progress(k, n, elapsed_seconds)`` when code cell ``k`` of ``n`` starts.

    Returns
    -------
    NotebookRun

    Raises
    ------
    NotebookFailed
        When a cell raised (a worked exercise solution that fails its check
        included: the kernels run :mod:`course_utils.exercises` in strict
        mode), timed out, or the kernel died, or an output holds
        log noise (:func:`output_noise`) or a random-weights notice
        (:func:`random_weights_notices`); the message names
        the notebook and the cell, and for a dead kernel ends with the last
        lines the kernel wrote to stderr. The partially executed notebook is
        written first, so the failure can be read.
    """
    import nbformat

    _quiet_client_logs()
    path = Path(path)
    out_dir = Path(out_dir)
    notebook = nbformat.read(path, as_version=4)
    code_indices = [i for i, cell in enumerate(notebook.cells) if cell.get("cell_type") == "code"]
    current = {"cell": -1}
    started = time.perf_counter()

    def on_cell_start(cell: Any = None, cell_index: int = -1, **_: Any) -> None:
        current["cell"] = cell_index
        if progress is not None and cell_index in code_indices:
            progress(code_indices.index(cell_index) + 1, len(code_indices), time.perf_counter() - started)

    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    kernel_log = logs / f"{path.stem}.kernel.log"
    client = _client(notebook, path, timeout, on_cell_start)
    error = _execute(client, path, kernel_log, timeout, current)
    seconds = time.perf_counter() - started
    if error is None:
        error = _content_problem(notebook, path)
    figures = _write_outputs(notebook, path, out_dir)
    if error is not None:
        raise error
    return NotebookRun(path, seconds, len(code_indices), figures)


def _printer(number: int, total: int, name: str) -> Callable[[int, int, float], None]:
    """Progress for a terminal (one line rewritten) or a log (a line at most every 15 s)."""
    tty = sys.stdout.isatty()
    last = {"printed": -1e9}

    def show(cell: int, cells: int, elapsed: float) -> None:
        text = f"[{number}/{total}] {name}: cell {cell}/{cells}, {elapsed:.0f} s"
        if tty:
            print("\r" + text.ljust(78), end="", flush=True)
        elif elapsed - last["printed"] >= 15:
            last["printed"] = elapsed
            print(text, flush=True)

    return show


#: Builds the course site from a finished run: ``(runs, notebooks folder, output folder) -> index.html or None``
#: (None: it failed and said why). :func:`course_utils.course_site.build_after_run` is the course's; the runner
#: takes it as an argument because the site sits on the runner's floor, not below it (docs/architecture.md).
SiteBuilder = Callable[[list["NotebookRun"], Path, Path], "Path | None"]


def run_all(folder: Path, out_dir: Path, timeout: int = 1800, build_site: SiteBuilder | None = None) -> int:
    """Execute every ``NN_*.ipynb`` of ``folder`` in order, then build the site (``build_site``) and print a summary.

    Returns 0 when all ran (and the site was built, when ``build_site`` is given), 1 when a notebook failed (the
    remaining notebooks still run) or the site could not be built, 2 when
    ``folder`` holds no notebooks. Every file is written whole or not at all (:mod:`course_utils.files`),
    and the source notebooks are only read, so a run interrupted anywhere is finished by running it again.
    """
    if not Path(folder).is_dir():
        print(f"error: {str(folder)!r} is not a folder; pass the folder of NN_*.ipynb notebooks", file=sys.stderr)
        return 2
    notebooks = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(
            f"error: no NN_*.ipynb notebooks in {str(folder)!r}; pass the course's notebooks/ folder", file=sys.stderr
        )
        return 2
    out_dir = files.check_writable_folder(out_dir)  # a clear error now, not after the first notebook ran
    runs: list[NotebookRun] = []
    for number, path in enumerate(notebooks, start=1):
        runs.append(_run_numbered(path, number, len(notebooks), out_dir, timeout))
    return _summarise(runs, out_dir, Path(folder), build_site)


def _run_numbered(path: Path, number: int, count: int, out_dir: Path, timeout: int) -> NotebookRun:
    started = time.perf_counter()
    try:
        run = run_one(path, out_dir, timeout=timeout, progress=_printer(number, count, path.name))
    except NotebookFailed as failure:
        run = NotebookRun(path, time.perf_counter() - started, 0, [], error=str(failure))
        print(f"\n[{number}/{count}] {path.name} FAILED after {run.seconds:.0f} s: {failure}", flush=True)
    else:
        print(
            f"\r[{number}/{count}] {path.name}: ok in {run.seconds:.0f} s, {len(run.figures)} figures".ljust(78),
            flush=True,
        )
    return run


def _summarise(runs: list[NotebookRun], out_dir: Path, folder: Path, build_site: SiteBuilder | None) -> int:
    index = build_site(runs, folder, out_dir) if build_site is not None else None
    width = max(len(run.path.name) for run in runs)
    print(f"\n{'notebook':{width}s}  {'result':>7s}  {'seconds':>8s}  figures")
    for run in runs:
        print(
            f"{run.path.name:{width}s}  {'FAILED' if run.error else 'ok':>7s}  {run.seconds:8.0f}  {len(run.figures):7d}"
        )
    print(f"{'total':{width}s}  {'':>7s}  {sum(r.seconds for r in runs):8.0f}")
    failures = [run for run in runs if run.error]
    if failures:
        print(f"{len(failures)} notebook(s) failed: {', '.join(r.path.name for r in failures)}", file=sys.stderr)
        return 1
    if build_site is None:
        print(f"all {len(runs)} notebooks ran; the executed notebooks are in {out_dir / 'notebooks'}")
        return 0
    if index is None:
        return 1
    print(f"all {len(runs)} notebooks ran; the course is in {index}")
    return 0


CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def _is_checked(cell: NotebookNode) -> bool:
    return cell.get("cell_type") == "code" and CHECK_MARK in "".join(cell.get("source", ""))


def strip_outputs(notebook: NotebookNode, keep_checked_from: NotebookNode | None = None) -> NotebookNode:
    """Remove outputs and execution counts, as notebooks are committed (docs/architecture.md, "Notebooks").

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
    _quiet_client_logs()
    _client(executed, path, timeout).execute()
    _write_notebook(strip_outputs(source, keep_checked_from=executed), path)


#: Cells with this tag hold an exercise's worked solution (code or prose); the student edition leaves them out.
SOLUTION_TAG = "solution"


def student_notebook(notebook: Any) -> Any:
    """A copy of ``notebook`` without the cells tagged :data:`SOLUTION_TAG`: the student edition of it.

    Every exercise keeps its task, its answer cell with the ``...`` stub and its check, so a student
    runs the notebook up to the exercises and each check says "not answered yet" until it is answered.
    """
    import copy

    edition = copy.deepcopy(notebook)
    edition.cells = [cell for cell in edition.cells if SOLUTION_TAG not in cell.get("metadata", {}).get("tags", [])]
    return edition


def write_student_edition(folder: Path, out_dir: Path) -> list[Path]:
    """Write the student edition of every ``NN_*.ipynb`` of ``folder`` to ``out_dir`` (``make student``).

    Generated from the solution tags of the source notebooks, so the two editions never drift.

    Parameters
    ----------
    folder
        The course's ``notebooks/`` folder (only read).
    out_dir
        Where the student notebooks go, e.g. ``build/student``; created when missing.

    Returns
    -------
    list of Path
        The notebooks written, in teaching order.

    Raises
    ------
    ValueError
        When ``folder`` is not a folder or holds no ``NN_*.ipynb`` notebooks.
    """
    import nbformat

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not a folder; pass the folder of NN_*.ipynb notebooks")
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise ValueError(f"no NN_*.ipynb notebooks in {str(folder)!r}; pass the course's notebooks/ folder")
    out_dir = files.check_writable_folder(out_dir)
    written = []
    for path in notebooks:
        target = out_dir / path.name
        _write_notebook(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written
