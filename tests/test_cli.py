"""Bad input to the command line and the runner: one clear line, a non-zero exit, no traceback unless asked for.

Each case is what a user can get wrong before or while running the tools:
a missing folder, an unreadable image among good ones, an empty class
folder, a non-numeric size, a read-only output folder, a notebook that raises.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils import cli, data


def _error_lines(captured) -> list[str]:
    return [line for line in captured.err.splitlines() if line.strip()]


def _sample_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    shutil.copytree(data.embedded_sample_dir(), folder)
    return folder


def _assert_one_clear_line(capsys, *fragments: str) -> None:
    captured = capsys.readouterr()
    errors = [line for line in _error_lines(captured) if line.startswith("error:")]
    assert len(errors) == 1, captured.err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in captured.err + captured.out


def test_train_a_missing_folder(tmp_path, capsys):
    assert cli.main(["train", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.keras")]) == 2
    _assert_one_clear_line(capsys, "does not exist", "HORSES_OR_HUMANS_DIR")


def test_train_an_empty_class_folder(tmp_path, capsys):
    folder = _sample_copy(tmp_path)
    for image in (folder / "humans").iterdir():
        image.unlink()
    assert cli.main(["train", "--data-dir", str(folder), "--out", str(tmp_path / "m.keras")]) == 2
    _assert_one_clear_line(capsys, "humans", "holds no images")


def test_train_an_unreadable_image_among_good_ones(tmp_path, capsys):
    folder = _sample_copy(tmp_path)
    broken = folder / "horses" / "horse99-1.jpg"
    broken.write_bytes(b"\xff\xd8 not really a JPEG")
    status = cli.main(
        ["train", "--data-dir", str(folder), "--image-size", "16", "--epochs", "1", "--out", str(tmp_path / "m.keras")]
    )
    assert status == 2
    _assert_one_clear_line(capsys, "cannot decode image", "horse99-1.jpg", "remove or replace")
    assert not (tmp_path / "m.keras").exists(), "nothing saved"


@pytest.mark.parametrize("option", ["--image-size", "--epochs", "--seed"])
def test_train_a_non_numeric_number(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", option, "abc", "--out", str(tmp_path / "m.keras")])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert f"argument {option}: 'abc' is not a whole number" in captured.err and "Traceback" not in captured.err


def test_train_a_too_small_image_size(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--image-size", "4", "--out", str(tmp_path / "m.keras")])
    assert "4 is too small: at least 8" in capsys.readouterr().err


def test_train_a_read_only_output_folder_fails_before_training(unwritable_folder, capsys):
    status = cli.main(["train", "--data-dir", str(data.embedded_sample_dir()), "--out", str(unwritable_folder / "m.keras")])
    assert status == 2
    _assert_one_clear_line(capsys, "cannot write in", "choose a folder you can write to")
    assert "Epoch" not in capsys.readouterr().out


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        cli.main(["--debug", "train", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.keras")])


def _notebooks(folder: Path, sources: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(source)]
        notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        nbformat.write(notebook, folder / f"{name}.ipynb")
    return folder


def test_run_notebooks_a_missing_folder(tmp_path, capsys):
    assert cli.main(["run-notebooks", str(tmp_path / "nowhere"), "--out", str(tmp_path / "build")]) == 2
    _assert_one_clear_line(capsys, "is not a folder")


def test_run_notebooks_a_folder_without_notebooks(tmp_path, capsys):
    assert cli.main(["run-notebooks", str(tmp_path), "--out", str(tmp_path / "build")]) == 2
    _assert_one_clear_line(capsys, "no NN_*.ipynb notebooks", "notebooks/ folder")


def test_run_notebooks_a_read_only_output_folder(tmp_path, unwritable_folder, capsys):
    folder = _notebooks(tmp_path / "notebooks", {"01_one": "print(1)"})
    assert cli.main(["run-notebooks", str(folder), "--out", str(unwritable_folder)]) == 2
    _assert_one_clear_line(capsys, "cannot write in")


def test_run_notebooks_a_notebook_that_raises(tmp_path, capsys):
    folder = _notebooks(tmp_path / "notebooks", {"01_bad": "raise ValueError('the answer is 41')", "02_good": "1"})
    assert cli.main(["run-notebooks", str(folder), "--out", str(tmp_path / "build")]) == 1
    captured = capsys.readouterr()
    assert "01_bad.ipynb: cell 0 raised: ValueError: the answer is 41" in captured.out
    assert "1 notebook(s) failed: 01_bad.ipynb" in captured.err and "Traceback" not in captured.out + captured.err


def test_run_notebooks_a_non_numeric_timeout(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["run-notebooks", str(tmp_path), "--timeout", "soon"])
    assert "'soon' is not a whole number (seconds, e.g. 1800)" in capsys.readouterr().err


def test_debug_also_works_after_the_command(tmp_path):
    """course-train --debug: the option after the command, where course-train puts it."""
    with pytest.raises(FileNotFoundError):
        cli.train_main(["--debug", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.keras")])


def test_train_in_mixed_precision_from_the_command_line(tmp_path, capsys):
    """--precision bfloat16 trains in mixed precision and says so; the saved model computes in float32."""
    from course_utils import data, models

    arguments = ["train", "--data-dir", str(data.embedded_sample_dir()), "--image-size", "16", "--epochs", "1"]
    out = tmp_path / "m.keras"
    assert cli.main([*arguments, "--precision", "bfloat16", "--allow-low-accuracy", "--out", str(out)]) == 0
    assert "(bfloat16 arithmetic)" in capsys.readouterr().out
    assert models.compute_precision(models.load_saved_model(out)) == "float32"
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*arguments, "--precision", "float16", "--out", str(tmp_path / "n.keras")])
    assert exit_info.value.code == 2
    assert "invalid choice: 'float16'" in capsys.readouterr().err
