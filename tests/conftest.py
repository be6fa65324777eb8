"""Shared fixtures: quick mode, a quiet TensorFlow, and tiny models."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quick_mode_and_output(monkeypatch, tmp_path):
    """Every test runs in quick mode and writes only below its own tmp folder."""
    monkeypatch.setenv("COURSE_QUICK", "1")
    monkeypatch.setenv("COURSE_OUTPUT_DIR", str(tmp_path / "build"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def horses_dir() -> Path:
    """The real horses-or-humans images, when HORSES_OR_HUMANS_DIR points at them."""
    folder = os.environ.get("HORSES_OR_HUMANS_DIR")
    if not folder or not Path(folder).is_dir():
        message = "HORSES_OR_HUMANS_DIR is not set to the horses-or-humans images"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must train on real images: see .ci/run)")
        pytest.skip(message)
    return Path(folder)


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder nobody may create files in (root ignores permission bits, so root gets one under /sys)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
    elif Path("/sys").is_dir():
        yield Path("/sys/course_utils_cannot_write_here")
    else:
        pytest.skip("no folder is read-only for root on this machine")
