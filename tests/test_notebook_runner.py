from __future__ import annotations

import re

import nbformat
import pytest

from course_utils import course_site, notebook_runner


def _notebook():
    nb = nbformat.v4.new_notebook()
    plain = nbformat.v4.new_code_cell("print('hi')")
    plain.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    plain.execution_count = 3
    checked = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(2)")
    checked.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), plain, checked]
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}, "language_info": {"name": "python", "version": "3.11.7"}, "widgets": {"state": {}}}
    return nb


def test_strip_outputs_keeps_only_checked_cells_and_minimal_metadata():
    executed = _notebook()
    executed.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    stripped = notebook_runner.strip_outputs(_notebook(), keep_checked_from=executed)
    plain, checked = stripped.cells[1], stripped.cells[2]
    assert plain.outputs == [] and plain.execution_count is None
    assert [o["text"] for o in checked.outputs] == ["2\n"], "the fresh output replaces the stale one"
    assert checked.execution_count == 1, "nbval skips checked cells without an execution count"
    assert set(stripped.metadata) == {"kernelspec", "language_info"} and stripped.metadata["language_info"] == {"name": "python"}


def test_run_all_reports_a_missing_folder(tmp_path, capsys):
    assert notebook_runner.run_all(tmp_path, tmp_path / "out") == 2
    assert "no NN_*.ipynb" in capsys.readouterr().err


def test_run_all_executes_in_order_and_writes_notebooks_and_html(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for number, text in ((2, "second"), (1, "first")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(f"print('{text}')")]
        nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        nbformat.write(nb, folder / f"0{number}_{text}.ipynb")
    out = tmp_path / "build"
    assert notebook_runner.run_all(folder, out, timeout=120) == 0
    done = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[") and ": ok in" in line]
    assert done[0].startswith("[1/2] 01_first.ipynb") and done[1].startswith("[2/2] 02_second.ipynb"), done
    executed = nbformat.read(out / "notebooks" / "01_first.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "first\n"
    assert "first" in (out / "notebooks" / "01_first.html").read_text()


def test_run_all_keeps_going_and_fails_when_a_notebook_fails(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, source in (("01_bad", "raise RuntimeError('boom')"), ("02_good", "print(1)")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source)]
        nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        nbformat.write(nb, folder / f"{name}.ipynb")
    assert notebook_runner.run_all(folder, tmp_path / "build", timeout=120) == 1
    report = capsys.readouterr().out
    assert "01_bad.ipynb: cell 0 raised: RuntimeError: boom" in report and "\x1b[" not in report, report
    assert (tmp_path / "build" / "notebooks" / "02_good.html").is_file()
    assert (tmp_path / "build" / "notebooks" / "01_bad.ipynb").is_file(), "the failing notebook is written for reading"


def test_a_cell_writing_into_a_widget_output_does_not_stall_the_runner(tmp_path):
    """nbclient#312: without polling, the cell after a widget Output write can wait out the whole timeout."""
    import time

    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    sources = [
        "import ipywidgets as widgets, matplotlib.pyplot as plt",
        "o = widgets.Output()",
        "o.clear_output(wait=True)\nwith o:\n    print('hello')\nprint('a')",
        "with o:\n    fig, ax = plt.subplots(); ax.plot([1, 2]); plt.show()\nplt.close(fig)\nprint('c')",
        "o2 = widgets.Output()\nwith o2:\n    fig, ax = plt.subplots(); ax.plot([1, 2]); plt.show()\nplt.close(fig)\nprint('d')",
        "print(1)",
    ]
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(nb, folder / "01_widgets.ipynb")
    started = time.perf_counter()
    notebook_runner.run_one(folder / "01_widgets.ipynb", tmp_path / "out", timeout=120)
    # A stall sleeps out the 120 s cell timeout; a healthy run takes seconds.
    assert time.perf_counter() - started < 100, "a cell waited out its timeout"


def _write_notebook(folder, name, sources):
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name} title\n\nWhat {name} teaches.")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(nb, folder / f"{name}.ipynb")


def test_a_dying_kernel_is_reported_with_notebook_cell_and_stderr(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    dying = "import os, sys\nsys.__stderr__.write('native library says: out of memory\\n'); sys.__stderr__.flush()\nos._exit(1)"
    _write_notebook(folder, "01_dies", ["print('before')", dying, "print('never')"])
    _write_notebook(folder, "02_after", ["print('still runs')"])
    assert notebook_runner.run_all(folder, tmp_path / "build", timeout=120) == 1
    out = capsys.readouterr()
    report = out.out + out.err
    assert "01_dies.ipynb" in report and "kernel died while cell 2 ran" in report, report
    assert "native library says: out of memory" in report, "the kernel's last stderr lines are shown"
    assert "AssertionError" not in report
    assert (tmp_path / "build" / "notebooks" / "02_after.html").is_file(), "the next notebook still runs"
    assert (tmp_path / "build" / "logs" / "01_dies.kernel.log").is_file()


def test_a_kernel_frozen_for_seconds_is_not_taken_for_dead(tmp_path, capsys):
    """A starved kernel (heavy load, swapping) stops answering for a while; the run must wait, not fail."""
    folder = tmp_path / "notebooks"
    # The kernel stops itself (every thread, the heartbeat's too) for 5 s, as a busy machine would.
    freeze = (
        "import os, subprocess, time\n"
        "subprocess.Popen(['sh', '-c', f'kill -STOP {os.getpid()}; sleep 5; kill -CONT {os.getpid()}'])\n"
        "time.sleep(6)\nprint('thawed')"
    )
    _write_notebook(folder, "01_frozen", [freeze, "print('next cell')"])
    assert notebook_runner.run_all(folder, tmp_path / "build", timeout=120) == 0, capsys.readouterr()
    executed = nbformat.read(tmp_path / "build" / "notebooks" / "01_frozen.ipynb", as_version=4)
    assert [c.outputs[0]["text"] for c in executed.cells[1:]] == ["thawed\n", "next cell\n"]


def test_a_client_side_failure_is_reported_as_itself_and_leaves_no_orphan_poll(tmp_path, capsys, caplog, monkeypatch):
    """An error in the client's channels names itself, and nbclient's kernel-alive poll stops with the cell.

    Before, the poll outlived the torn-down client and failed on ``assert self.kc is not None``:
    a bare AssertionError in the next notebook's run instead of the real error.
    """
    import gc
    import logging

    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg
    calls = {"n": 0}

    async def failing_once(self, timeout=None):
        calls["n"] += 1
        if calls["n"] == 12:  # the shell reply is polled in 0.2 s slices: call 12 falls in the 3 s cell
            raise RuntimeError("the shell channel broke")
        return await original(self, timeout=timeout)

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", failing_once)
    folder = tmp_path / "notebooks"
    _write_notebook(folder, "01_channel_breaks", ["import time\ntime.sleep(3)", "print('never')"])
    _write_notebook(folder, "02_after", ["import time\ntime.sleep(2.5)\nprint('still runs')"])
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert notebook_runner.run_all(folder, tmp_path / "build", timeout=120) == 1
        gc.collect()  # asyncio logs a failed, never-awaited task when it is collected
    out = capsys.readouterr()
    report = out.out + out.err
    assert "01_channel_breaks.ipynb" in report and "RuntimeError: the shell channel broke" in report, report
    assert "02_after.ipynb: ok" in report, report
    assert "AssertionError" not in report + caplog.text, caplog.text


def test_figures_index_and_summary_are_written(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    plot = "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\nimport matplotlib.pyplot as plt\n"
    _write_notebook(folder, "01_plots", [plot + "plt.plot([1, 2]); plt.title('one'); plt.show()", "plt.imshow([[0, 1]]); plt.show()"])
    out = tmp_path / "build"
    assert notebook_runner.run_all(folder, out, timeout=120, build_site=course_site.build_after_run) == 0
    figures = sorted((out / "figures" / "01_plots").glob("*.png"))
    assert [p.name for p in figures] == ["cell01_1.png", "cell02_2.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in figures)
    assert 'url=site/index.html' in (out / "index.html").read_text(), "build/index.html opens the course site"
    front = (out / "site" / "index.html").read_text()
    assert "01_plots title" in front and 'href="notebooks/01_plots.html"' in front
    page = (out / "site" / "notebooks" / "01_plots.html").read_text()
    assert page.count("<img") >= 2, "the site's page shows both figures"
    summary = capsys.readouterr().out
    assert "01_plots.ipynb" in summary and "total" in summary and "2 figures" in summary


def test_large_figures_go_on_the_page_as_jpeg_and_stay_png_in_the_figure_files(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    noise = (
        "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "import matplotlib.pyplot as plt, numpy as np\n"
        "plt.figure(figsize=(8, 8)); plt.imshow(np.random.default_rng(0).random((400, 400, 3))); plt.show()"
    )
    small = "plt.figure(figsize=(2, 2)); plt.plot([0, 1]); plt.show()"
    _write_notebook(folder, "01_big", [noise, small])
    out = tmp_path / "build"
    assert notebook_runner.run_all(folder, out, timeout=120) == 0, capsys.readouterr()
    big_png, small_png = sorted((out / "figures" / "01_big").glob("*.png"))
    assert big_png.stat().st_size > 150_000 and big_png.read_bytes().startswith(b"\x89PNG")
    page = (out / "notebooks" / "01_big.html").read_text()
    assert page.count('src="data:image/jpeg;base64') == 1, "the large figure becomes a JPEG"
    assert page.count('src="data:image/png;base64') == 1, "the small line plot stays a PNG"
    executed = nbformat.read(out / "notebooks" / "01_big.ipynb", as_version=4)
    assert "image/png" in executed.cells[1].outputs[0]["data"], "the executed notebook keeps its PNG"
    assert len(page) < big_png.stat().st_size


def test_log_noise_in_outputs_fails_the_run_and_check_cells_stay_off_the_page(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    noisy = "print('I0000 port.cc:153] oneDNN custom operations are on.')\nprint('skipped axolotl: ConnectionError')"
    _write_notebook(folder, "01_noisy", ["print('fine')", noisy])
    check = nbformat.v4.new_code_cell("assert 1 + 1 == 2\nprint('checked quietly')")
    check.metadata = {"tags": [notebook_runner.CHECK_TAG], "jupyter": {"source_hidden": True, "outputs_hidden": True}}
    nb = nbformat.v4.new_notebook()
    shown = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint('shown')")
    nb.cells = [nbformat.v4.new_markdown_cell("# Clean"), shown, check]
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(nb, folder / "02_clean.ipynb")
    out = tmp_path / "build"
    assert notebook_runner.run_all(folder, out, timeout=120) == 1
    report = capsys.readouterr()
    text = report.out + report.err
    assert "01_noisy.ipynb: log noise in the outputs" in text and "cell 2: I0000 port.cc:153] oneDNN" in text, text
    assert "cell 2: skipped axolotl: ConnectionError" in text and "02_clean.ipynb: ok" in text, text
    page = (out / "notebooks" / "02_clean.html").read_text()
    assert "shown" in page and "checked quietly" not in page and "assert 1 + 1" not in page
    assert "NBVAL_CHECK_OUTPUT" not in page, "nbval's marker is for the tests, not for the reader"
    executed = nbformat.read(out / "notebooks" / "02_clean.ipynb", as_version=4)
    assert executed.cells[1].source.startswith("# NBVAL_CHECK_OUTPUT"), "the executed notebook keeps it"
    assert executed.cells[2].outputs[0]["text"] == "checked quietly\n", "the check cell still ran"


def test_an_absolute_path_of_this_machine_in_an_output_fails_the_run(tmp_path, capsys):
    """A reader of the page learns nothing from /home/runner/...; the run says which cell and what to print."""
    from course_utils import config

    folder = tmp_path / "notebooks"
    model = config.output_dir("models") / "cnn.keras"
    _write_notebook(
        folder,
        "01_paths",
        [
            f"print('saved {model}')",
            "from course_utils import config\nprint('saved', config.display_path(" + repr(str(model)) + "))",
        ],
    )
    assert notebook_runner.run_all(folder, tmp_path / "build", timeout=120) == 1
    text = "".join(capsys.readouterr())
    assert "cell 1: an absolute path of this machine (print config.display_path): saved " + str(model) in text, text
    assert "cell 2:" not in text, "the path display_path prints is fine: " + text
    assert config.display_path(model) == "$COURSE_OUTPUT_DIR/models/cnn.keras"


def test_a_page_shows_each_widget_as_its_figure_and_loads_no_widget_script(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    explorer = (
        "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "import matplotlib.pyplot as plt, ipywidgets as w\n"
        "from course_utils.widgets import InteractiveFigure\n"
        "def draw(alpha):\n    fig, ax = plt.subplots(figsize=(2, 2)); ax.set_title(f'alpha {alpha}'); return fig\n"
        "explorer = InteractiveFigure(draw, alpha=w.FloatSlider(value=0.5))\nexplorer.display()"
    )
    _write_notebook(folder, "01_widget", [explorer])
    out = tmp_path / "build"
    assert notebook_runner.run_all(folder, out, timeout=120) == 0, capsys.readouterr()
    executed = nbformat.read(out / "notebooks" / "01_widget.ipynb", as_version=4)
    assert notebook_runner.WIDGET_VIEW in executed.cells[1].outputs[0]["data"], "the notebook keeps the live widget"
    page = (out / "notebooks" / "01_widget.html").read_text()
    assert page.count('src="data:image/png;base64') == 1, "the figure stands in for the widget"
    assert "embed-amd" not in page and "widget-view" not in page and "InteractiveFigure with controls" not in page
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    stylesheets = re.findall(r'<link[^>]*href="([^"]+)"', page)
    assert scripts == ["../assets/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"], scripts
    assert not [url for url in stylesheets if "://" in url], "every stylesheet is inline or local"
    assert not re.search(r"https?://[^\s\"']*\.m?js", page), "no script address on the page names a server"
    mathjax = out / "assets" / "mathjax"
    for part in ("MathJax.js", "config/TeX-AMS-MML_HTMLorMML-full.js", "jax/output/HTML-CSS/fonts/STIX-Web"):
        assert (mathjax / part).exists(), part
    assert sum(f.stat().st_size for f in mathjax.rglob("*") if f.is_file()) < 4_000_000, "a subset, not 10 MB"


def test_page_assets_are_copied_whole_or_not_at_all(tmp_path, monkeypatch):
    source = notebook_runner.mathjax_source()
    calls = []
    real_copytree = notebook_runner.shutil.copytree

    def copytree_that_dies_on_the_third_folder(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_copytree(src, dst, **kwargs)

    monkeypatch.setattr(notebook_runner.shutil, "copytree", copytree_that_dies_on_the_third_folder)
    try:
        notebook_runner.install_page_assets(tmp_path)
    except OSError:
        pass
    assets = tmp_path / notebook_runner.PAGE_ASSETS
    assert not (assets / "mathjax").exists() and list(assets.iterdir()) == [], "no half copy left behind"
    monkeypatch.setattr(notebook_runner.shutil, "copytree", real_copytree)
    notebook_runner.install_page_assets(tmp_path)
    assert (assets / "mathjax" / "MathJax.js").read_bytes() == (source / "MathJax.js").read_bytes()


def test_make_run_picks_the_cpu_preset_only_without_a_gpu_and_without_a_choice():
    no_gpu, gpu = (lambda: False), (lambda: True)
    assert notebook_runner.choose_mode({}, no_gpu) == "cpu"
    assert notebook_runner.choose_mode({}, gpu) is None, "full mode is the default on a GPU"
    assert notebook_runner.choose_mode({"COURSE_MODE": "full"}, no_gpu) is None, "an explicit choice is kept"
    assert notebook_runner.choose_mode({"COURSE_QUICK": "1"}, no_gpu) is None
    assert notebook_runner.choose_mode({"COURSE_QUICK": "0"}, no_gpu) == "cpu"


def test_native_stderr_goes_to_the_kernel_log_not_into_the_cells(tmp_path):
    folder = tmp_path / "notebooks"
    native = "import os\nos.write(2, b'I0000 native start-up line\\n')\nprint('python output')"
    _write_notebook(folder, "01_native", [native, "import sys\nprint('a python warning', file=sys.stderr)"])
    out = tmp_path / "build"
    assert notebook_runner.run_all(folder, out, timeout=120) == 0
    executed = nbformat.read(out / "notebooks" / "01_native.ipynb", as_version=4)
    cells_text = "".join(o.get("text", "") for cell in executed.cells[1:] for o in cell.get("outputs", []))
    assert "python output" in cells_text and "a python warning" in cells_text
    assert "native start-up line" not in cells_text
    assert "native start-up line" in (out / "logs" / "01_native.kernel.log").read_text()


def test_a_random_weights_notice_fails_the_run(tmp_path, capsys):
    """No figure may explain a random network by accident; randomization lessons ask for weights=None, silently."""
    folder = tmp_path / "notebooks"
    notice = "import sys\nprint('vgg19 has RANDOM weights (weights=\\'random\\')', file=sys.stderr)"
    _write_notebook(folder, "01_random", ["print('fine')", notice])
    _write_notebook(folder, "02_lesson", ["print('a random copy, named as such in the title')"])
    out = tmp_path / "build"
    assert notebook_runner.run_all(folder, out, timeout=120) == 1
    text = "".join(capsys.readouterr())
    assert "01_random.ipynb: explains a model with random weights" in text and "cell 2: vgg19 has RANDOM" in text, text
    assert "02_lesson.ipynb: ok" in text, text


def _three_notebooks_the_second_slow(tmp_path):
    """Notebooks 01 to 03; 02 marks that it started, then sleeps 120 s unless FAST is set. Returns
    (folder, output folder, the run-notebooks command)."""
    import sys

    folder = tmp_path / "notebooks"
    marker = tmp_path / "second-started"
    _write_notebook(folder, "01_first", ["print('first')"])
    _write_notebook(
        folder,
        "02_slow",
        [f"import os, time\nopen({str(marker)!r}, 'w').close()\ntime.sleep(0 if os.environ.get('FAST') else 120)"],
    )
    _write_notebook(folder, "03_third", ["print('third')"])
    out = tmp_path / "build"
    return folder, out, [sys.executable, "-m", "course_utils", "run-notebooks", str(folder), "--out", str(out)]


def _start_and_wait_for_the_second_notebook(tmp_path, command):
    """The run, in its own process group, once notebook 02 has started."""
    import subprocess
    import time

    run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "second-started").exists():
        if time.monotonic() > deadline or run.poll() is not None:
            run.kill()
            raise AssertionError(run.communicate()[0])
        time.sleep(0.1)
    return run


def test_make_run_killed_part_way_is_finished_by_the_next_run(tmp_path):
    """SIGKILL (the out-of-memory killer; a power cut is worse) while the second of three notebooks runs:
    nothing half-written is left under a visible name, and the next run completes every page and the index."""
    import hashlib
    import os
    import signal
    import subprocess

    folder, out, command = _three_notebooks_the_second_slow(tmp_path)
    sources = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    run = _start_and_wait_for_the_second_notebook(tmp_path, command)
    try:
        os.killpg(run.pid, signal.SIGKILL)  # no handler, no cleanup: whatever was being written stays as it was
        run.wait(60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == -signal.SIGKILL
    assert not (out / "index.html").exists(), "no index of a run that did not finish"
    assert not (out / "notebooks" / "03_third.html").exists()
    assert not [p for p in out.rglob("*") if ".partial-" in p.name], "no half-written file under a visible name"

    environment = dict(os.environ, FAST="1")
    again = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    front = (out / "site" / "index.html").read_text()
    for stem in ("01_first", "02_slow", "03_third"):
        assert f'href="notebooks/{stem}.html"' in front and (out / "site" / "notebooks" / f"{stem}.html").is_file(), stem
        assert (out / "notebooks" / f"{stem}.html").is_file(), stem
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()} == sources, (
        "the source notebooks are never written"
    )


@pytest.mark.parametrize(
    ("stop", "whole_group"),
    [("SIGINT", True), ("SIGINT", False), ("SIGTERM", False)],
    ids=["ctrl-c in a terminal", "sigint to the runner", "kill"],
)
def test_ctrl_c_or_sigterm_stops_the_whole_run_not_only_the_running_notebook(tmp_path, stop, whole_group):
    """Ctrl-C (SIGINT to the terminal's process group) or `kill` during the second of three notebooks ends the run
    there: exit 128 + signal, no page of the interrupted or a later notebook, no index, and the next run finishes
    everything."""
    import os
    import signal
    import subprocess
    import time

    _, out, command = _three_notebooks_the_second_slow(tmp_path)
    run = _start_and_wait_for_the_second_notebook(tmp_path, command)
    try:
        time.sleep(0.5)
        if whole_group:  # what a terminal does on Ctrl-C: the runner and every process it started
            os.killpg(run.pid, getattr(signal, stop))
        else:
            run.send_signal(getattr(signal, stop))
        printed, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 128 + getattr(signal, stop), printed
    assert "03_third" not in printed, "the run went on after the interruption:\n" + printed
    assert "interrupted" in printed and "02_slow.ipynb" in printed, printed
    assert (out / "notebooks" / "01_first.html").is_file()
    assert not (out / "notebooks" / "02_slow.html").exists() and not (out / "notebooks" / "03_third.html").exists()
    assert not (out / "index.html").exists()

    again = subprocess.run(command, env=dict(os.environ, FAST="1"), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all((out / "notebooks" / f"{stem}.html").is_file() for stem in ("01_first", "02_slow", "03_third"))


def _executed(outputs_by_cell):
    nb = nbformat.v4.new_notebook()
    for outputs in outputs_by_cell:
        cell = nbformat.v4.new_code_cell("...")
        cell.outputs = outputs
        nb.cells.append(cell)
    return nb


def test_output_noise_flags_epoch_logs_progress_bars_and_widget_counters_but_not_results():
    stream = nbformat.v4.new_output
    bad = [
        "Epoch 3/15",
        "17/17 - 5s - 298ms/step - accuracy: 0.5278 - loss: 0.6934 - val_accuracy: 0.5000",
        "17/17 ━━━━━━━━━━━━━━━━━━━━ 5s 298ms/step - accuracy: 0.9 - loss: 0.2",
        "  0%|          | 0/40 [00:00<?, ?it/s]",
        "2 classes:  45%|████▌     | 18/40 [00:03<00:04, 5.1it/s]",
        "widget redraws: 2",
        "SmoothGrad widget redraws: 1",
    ]
    good = [
        "held-out accuracy: 0.931 on 128 images",
        "epoch   loss  accuracy  val_loss  val_accuracy",
        "    3  0.412     0.861     0.377         0.917  <- kept",
        "deletion AUC 0.21 (95% interval 0.18-0.25, 16 rendered models)",
        "the figure redraws from the cache",
    ]
    nb = _executed(
        [[stream("stream", name="stdout", text=line + "\n")] for line in bad]
        + [[stream("display_data", data={"text/plain": "IntProgress(value=0, max=40)"})]]
        + [[stream("stream", name="stdout", text="\n".join(good) + "\n")]]
    )
    found = notebook_runner.output_noise(nb)
    assert [f.split(":")[0] for f in found] == [f"cell {i}" for i in range(len(bad) + 1)], found


def test_a_feature_visualization_progress_bar_leaves_nothing_in_the_saved_outputs():
    import nbclient

    code = (
        "from course_utils import features\n"
        "bar = features.ProgressBar('2 classes')\n"
        "bar.on_start([0, 1], 5, 2)\n"
        "for step in range(5):\n"
        "    bar.on_step(step, None, None)\n"
        "bar.on_end()\n"
        "print('done')"
    )
    nb = _executed([[]])
    nb.cells[0].source = code
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbclient.NotebookClient(nb, timeout=150, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert notebook_runner.output_noise(nb) == [], outputs
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs
    assert any(o.get("text") == "done\n" for o in outputs), "the cell ran to its end"
