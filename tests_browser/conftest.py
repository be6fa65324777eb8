"""A JupyterLab server on a copy of the notebooks, and headless Chromium (Debian's) driven by Playwright.

Run with ``make test-browser``; it installs what these tests need. Nothing here writes into the
repository: the server's root, settings, workspaces, runtime files and the course's output folder
are temporary folders.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

#: JupyterLab settings for the test server: no autosave (the notebook on disk must not change), no news
#: toast over the outputs, no update check (no network).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}

_timings: list[tuple[str, float, str]] = []
_summary_notes: list[str] = []  # lines printed above the timings (which trained networks were loaded)


def pytest_addoption(parser):
    parser.addoption(
        "--notebook",
        action="append",
        default=[],
        help="check this notebook instead of the default ones (repeatable; copied to the server's root)",
    )
    parser.addoption(
        "--trained-models",
        default=None,
        help="a folder with quick mode's trained CNN and shuffled-label control (what `make test` saved): the "
        "notebooks load them, as in a class whose instructor trained before it, instead of training both",
    )
    parser.addoption(
        "--pages",
        default=None,
        help="check the rendered pages of this finished `make run` output folder (default: render a small one)",
    )


def chromium_executable() -> str:
    """Debian's chromium-headless-shell (the binary, not its /usr/bin wrapper script), or CHROMIUM_PATH."""
    if os.environ.get("CHROMIUM_PATH"):
        return os.environ["CHROMIUM_PATH"]
    candidates: list[str] = []
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "chromium-headless-shell"], capture_output=True, text=True, check=False
        ).stdout
        candidates += [line for line in listing.splitlines() if line.endswith("/chromium-headless-shell")]
    except FileNotFoundError:
        pass
    candidates += [shutil.which(name) or "" for name in ("chromium-headless-shell", "chromium")]
    files = [c for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)]
    binaries = [c for c in files if Path(c).read_bytes()[:4] == b"\x7fELF"]
    if not files:
        pytest.fail(
            "no Chromium found: `apt-get install -y chromium-headless-shell` (make test-browser does it), "
            "or set CHROMIUM_PATH"
        )
    return (binaries or files)[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A running JupyterLab server."""

    def __init__(self, base: str, token: str, root: Path, log: Path) -> None:
        self.base, self.token, self.root, self.log = base, token, root, log
        self.models_loaded = False  # True when the notebooks load trained networks instead of training them

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"{self.base}/{path}{separator}token={self.token}"

    @property
    def runtime(self) -> Path:
        """The server's runtime folder, where each kernel's connection file lies (kernel-<id>.json)."""
        return self.root.parent / "runtime"

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        request = urllib.request.Request(
            f"{self.base}/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def sessions_of(self, notebook: str) -> list[dict]:
        """The server's sessions (with their kernels) of the notebook file named ``notebook``."""
        return [s for s in self.api("api/sessions") if Path(s["path"]).name == notebook and s.get("kernel")]

    def shut_down_kernels(self, notebook: str) -> None:
        """Shut down the kernels of the sessions of the notebook file named ``notebook``."""
        for session in self.sessions_of(notebook):
            self.api(f"api/sessions/{session['id']}", method="DELETE")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def model_input_size(path: Path) -> int | None:
    """The image size a saved ``.keras`` model takes (its InputLayer), read from the archive without TensorFlow."""
    try:
        with zipfile.ZipFile(path) as archive:
            layers = json.loads(archive.read("config.json"))["config"]["layers"]
        shape = next(layer["config"]["batch_shape"] for layer in layers if layer["class_name"] == "InputLayer")
        return int(shape[1]) if shape[1] == shape[2] else None
    except (OSError, KeyError, StopIteration, TypeError, ValueError, zipfile.BadZipFile):
        return None


def pretrained_models(folder: str | None, base: Path) -> tuple[dict[str, str], str]:
    """The environment that makes the notebooks load quick mode's two trained CNNs from ``folder``, and a line
    saying what was chosen.

    Training is not what the browser test checks (nbval trains them), and it is a third of the ten quick-mode
    Run Alls (01's CNN about 55 s, 08's shuffled-label control about 45 s on two cores). The CNN is named by
    ``HORSES_HUMANS_MODEL``, an instructor's pre-trained model (01 then loads it instead of training); the
    control is copied to where ``training.course_cnn`` looks for it. Without both files, each a readable
    model of quick mode's image size, the notebooks train both.
    """
    from course_utils import config

    if not folder:
        return {}, "no --trained-models folder: the notebooks train the CNN and its control"
    size = config.settings(mode="quick").train_image_size
    cnn, control = (Path(folder) / f"horses_humans_{size}{suffix}.keras" for suffix in ("", "_shuffled_labels_fitted"))
    for path in (cnn, control):
        if model_input_size(path) != size:
            why = "missing" if not path.is_file() else f"not a readable {size}-pixel model"
            return {}, f"{path} is {why}: the notebooks train the CNN and its control"
    (base / "pretrained").mkdir()
    (base / "build" / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy2(cnn, base / "pretrained" / cnn.name)
    shutil.copy2(control, base / "build" / "models" / control.name)
    dates = ", ".join(
        f"{p.name} of {time.strftime('%Y-%m-%d %H:%M', time.localtime(p.stat().st_mtime))}" for p in (cnn, control)
    )
    return {"HORSES_HUMANS_MODEL": str(base / "pretrained" / cnn.name)}, f"the notebooks load {folder}: {dates}"


@pytest.fixture(scope="session")
def lab(tmp_path_factory, request) -> Lab:
    jupyter = Path(sys.executable).with_name("jupyter")
    probe = subprocess.run([sys.executable, "-c", "import jupyterlab"], capture_output=True, check=False)
    if probe.returncode != 0 or not jupyter.exists():
        pytest.fail(f"JupyterLab is not installed next to {sys.executable} (pip install -e '.[dev]')")
    base = tmp_path_factory.mktemp("jupyterlab")
    root, settings = base / "root", base / "settings"
    for folder in ("root", "settings", "workspaces", "runtime", "config", "data", "build"):
        (base / folder).mkdir()
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    env.pop("COURSE_MODE", None)  # it would win over COURSE_QUICK
    env.update(
        COURSE_QUICK="1",
        COURSE_OUTPUT_DIR=str(base / "build"),
        JUPYTER_CONFIG_DIR=str(base / "config"),  # no user config or user kernelspecs
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("HORSES_HUMANS_MODEL", None)
    loaded, models_line = pretrained_models(request.config.getoption("--trained-models"), base)
    env.update(loaded)
    _summary_notes.append(f"trained networks: {models_line}")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as a student gets
    # IPYTHONDIR (set by the root conftest.py) makes the kernels fail a cell whose figure has overlapping titles.
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",  # the tests read execution counts from it
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "jupyterlab.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=root)
    server = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                server.api("api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{server.log_tail()}")
                time.sleep(0.5)
        autosave = server.api("lab/api/settings/@jupyterlab/docmanager-extension:plugin")["settings"]["autosave"]
        assert autosave is False, "the test server's settings did not turn autosave off"
        server.models_loaded = bool(loaded)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable(), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def record_timing():
    def record(name: str, seconds: float, detail: str = "") -> None:
        _timings.append((name, seconds, detail))

    return record


def pytest_terminal_summary(terminalreporter):
    if not _timings:
        return
    terminalreporter.section("browser test: seconds per notebook")
    for note in _summary_notes:
        terminalreporter.write_line(note)
    for name, seconds, detail in _timings:
        terminalreporter.write_line(f"{name:40s} {seconds:6.1f} s  {detail}")
