"""Files are written whole or not at all: a killed run never leaves half a file that a later run trusts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_utils import files


def _partials(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if ".partial-" in path.name]


def test_a_block_that_ends_normally_replaces_the_file(tmp_path):
    target = tmp_path / "page.html"
    target.write_text("old")
    files.write_text_atomically(target, "new")
    assert target.read_text() == "new" and not _partials(tmp_path)


def test_a_block_that_raises_leaves_the_old_file_and_no_partial(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"the good model")
    with pytest.raises(RuntimeError, match="killed"):
        with files.replaced_atomically(target) as partial:
            assert partial.suffix == ".keras" and partial.name.startswith(".")
            partial.write_bytes(b"half a mod")
            raise RuntimeError("killed mid-save")
    assert target.read_bytes() == b"the good model" and not _partials(tmp_path)


def test_a_block_that_writes_nothing_fails_and_keeps_the_file(tmp_path):
    target = tmp_path / "figure.png"
    target.write_bytes(b"png")
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with files.replaced_atomically(target) as partial:
            partial.unlink()
    assert target.read_bytes() == b"png"


def test_a_process_killed_mid_write_leaves_the_previous_file_whole(tmp_path):
    """SIGKILL (what the out-of-memory killer sends) while 1 MB of 8 is written: the target is untouched."""
    target = tmp_path / "figure.png"
    target.write_bytes(b"previous figure")
    writer = (
        "import sys, time\n"
        "from course_utils import files\n"
        "with files.replaced_atomically(sys.argv[1]) as partial:\n"
        "    with open(partial, 'wb') as out:\n"
        "        out.write(b'x' * 1_000_000); out.flush()\n"
        "        time.sleep(60)\n"
        "        out.write(b'x' * 7_000_000)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", writer, str(target)])
    try:
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size >= 1_000_000 for p in _partials(tmp_path)):
            assert time.monotonic() < deadline and process.poll() is None, "the writer never started writing"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
    assert target.read_bytes() == b"previous figure"
    assert [p.name.startswith(".") for p in _partials(tmp_path)] == [True], "only a hidden partial file remains"


def test_an_unwritable_folder_is_reported_before_any_work(unwritable_folder):
    with pytest.raises(PermissionError, match="choose a folder you can write to"):
        files.check_writable_folder(unwritable_folder)


def test_a_folder_path_is_not_a_file_to_replace(tmp_path):
    with pytest.raises(IsADirectoryError, match="path of a file"):
        with files.replaced_atomically(tmp_path):
            pass
