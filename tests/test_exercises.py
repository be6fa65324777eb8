"""The self-checking exercises: every exercise of the notebooks has a check, and the checks tell right from wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from course_utils import exercises, notebook_runner

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
_CHECK_CALL = re.compile(r'exercises\.check\("(\d\d\.\d+)"')
_HEADING = re.compile(r"^### Exercise (\d\d\.\d+): (.+)$", re.MULTILINE)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _notebook_exercises() -> dict[str, tuple[str, str]]:
    """Every exercise heading of the notebooks: id -> (notebook name, title)."""
    found = {}
    for path in NOTEBOOKS:
        for cell in _cells(path):
            if cell["cell_type"] == "markdown":
                for exercise_id, title in _HEADING.findall(_source(cell)):
                    assert exercise_id not in found, f"exercise {exercise_id} appears twice"
                    found[exercise_id] = (path.name, title.strip())
    return found


def test_every_exercise_of_the_notebooks_has_a_check_and_every_check_an_exercise():
    in_notebooks = _notebook_exercises()
    assert len(in_notebooks) >= 2 * len(NOTEBOOKS), "at least two exercises per notebook"
    assert set(in_notebooks) == set(exercises.EXERCISES), (
        f"without a check: {sorted(set(in_notebooks) - set(exercises.EXERCISES))}; "
        f"without an exercise: {sorted(set(exercises.EXERCISES) - set(in_notebooks))}"
    )
    for exercise_id, (notebook, title) in in_notebooks.items():
        registered = exercises.EXERCISES[exercise_id]
        assert registered.notebook == notebook, exercise_id
        assert registered.title == title, f"{exercise_id}: the notebook says {title!r}, the registry {registered.title!r}"
        assert registered.hint.strip(), f"{exercise_id} has no hint"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_exercise_is_task_stub_check_then_a_collapsed_solution_that_runs_the_same_check(path: Path):
    cells = _cells(path)
    for index, cell in enumerate(cells):
        match = _HEADING.search(_source(cell)) if cell["cell_type"] == "markdown" else None
        if not match:
            continue
        exercise_id = match.group(1)
        stub, check, solution, prose = cells[index + 1 : index + 5]
        where = f"{path.name} exercise {exercise_id}"
        assert stub["cell_type"] == "code" and "..." in _source(stub), f"{where}: an answer cell with a `...` stub"
        assert re.search(r"^#", _source(stub), re.MULTILINE), f"{where}: the stub says what to write"
        assert _CHECK_CALL.findall(_source(check)) == [exercise_id], f"{where}: then its check"
        assert "solution" not in _tags(stub) + _tags(check), f"{where}: the student keeps stub and check"
        assert solution["cell_type"] == "code" and "solution" in _tags(solution), f"{where}: a solution cell"
        assert solution["metadata"].get("jupyter", {}).get("source_hidden"), f"{where}: the solution is collapsed"
        assert _CHECK_CALL.findall(_source(solution)) == [exercise_id], f"{where}: the solution runs the same check"
        stubbed = re.search(r"=\s*\.\.\.\s*(#.*)?$", _source(solution), re.MULTILINE)
        assert not stubbed, f"{where}: the solution answers everything"
        assert prose["cell_type"] == "markdown" and "solution" in _tags(prose), f"{where}: the solution's explanation"


# --- verdicts -----------------------------------------------------------------------------------------------


def test_ellipsis_and_half_filled_answers_are_not_answered_yet():
    assert exercises.evaluate("01.1", ..., n_train=100, batch_size=32).status == "unanswered"
    assert exercises.evaluate("06.6", {"probabilities": 0.5, "logits": ...}).status == "unanswered"

    def stub(a, b):
        return ...

    assert exercises.evaluate("03.3", stub).status == "unanswered"


def test_the_source_epochs_right_and_wrong():
    right = exercises.evaluate("01.1", 32, n_train=1027, batch_size=32)
    assert right.passed, right
    for wrong, reason in [(1, "correct pipeline"), (1027, "number of steps"), (64, "")]:
        verdict = exercises.evaluate("01.1", wrong, n_train=1027, batch_size=32)
        assert verdict.status == "wrong" and reason in verdict.message and "Hint:" in verdict.message, verdict
    assert "one number" in exercises.evaluate("01.1", "32", n_train=1027, batch_size=32).message


def test_mask_iou_function_right_and_wrong():
    assert exercises.evaluate("03.3", lambda a, b: (a & b).sum() / max((a | b).sum(), 1)).passed
    intersection_only = exercises.evaluate("03.3", lambda a, b: (a & b).sum())
    assert intersection_only.status == "wrong" and "itself" in intersection_only.message
    over_first = exercises.evaluate("03.3", lambda a, b: (a & b).sum() / a.sum())
    assert over_first.status == "wrong" and "sharing" in over_first.message
    assert exercises.evaluate("03.3", 0.5).status == "wrong"


def test_roughness_function_catches_uint8_wrap_around():
    def right(image):
        image = image.astype(float)
        return np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean()

    def wraps(image):  # uint8 differences wrap: 0 - 255 = 1
        return np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean()

    assert exercises.evaluate("07.2", right).passed
    verdict = exercises.evaluate("07.2", wraps)
    assert verdict.status == "wrong" and "float" in verdict.message


def test_flipped_photos_must_be_mirrored_left_to_right():
    photos = np.random.default_rng(0).uniform(0, 255, (2, 6, 5, 3))
    assert exercises.evaluate("09.2", photos[:, :, ::-1], images=photos).passed
    upside_down = exercises.evaluate("09.2", photos[:, ::-1], images=photos)
    assert upside_down.status == "wrong" and "upside down" in upside_down.message
    assert "shape" in exercises.evaluate("09.2", photos[0], images=photos).message


def test_occlusion_agreement_needs_the_positive_part():
    rng = np.random.default_rng(1)
    cam, occlusion = rng.uniform(0, 1, (8, 8)), rng.normal(0, 1, (8, 8))
    right = np.corrcoef(cam.ravel(), np.clip(occlusion, 0, None).ravel())[0, 1]
    assert exercises.evaluate("06.3", right, cam=cam, occlusion=occlusion).passed
    unclipped = np.corrcoef(cam.ravel(), occlusion.ravel())[0, 1]
    verdict = exercises.evaluate("06.3", unclipped, cam=cam, occlusion=occlusion)
    assert verdict.status == "wrong" and "positive part" in verdict.message


def test_edge_map_function_is_checked_on_images_whose_edges_are_known():
    from scipy import ndimage

    images = np.random.default_rng(2).uniform(0, 255, (2, 16, 16, 3))

    def sobel(model, images, class_index):
        gray = np.asarray(images, dtype=float).mean(axis=-1)
        return np.stack([np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1)) for g in gray])

    assert exercises.evaluate("08.3", sobel, images=images).passed
    brightness = exercises.evaluate("08.3", lambda m, x, c: np.asarray(x).mean(axis=-1), images=images)
    assert brightness.status == "wrong" and "flat image" in brightness.message


def test_convergence_gaps_must_fall():
    assert exercises.evaluate("05.3", [0.4, 0.2, 0.1, 0.05], counts=[4, 16, 64, 256]).passed
    assert exercises.evaluate("05.3", [0.4, 0.4, 0.4, 0.4], counts=[4, 16, 64, 256]).status == "wrong"
    assert "negative" in exercises.evaluate("05.3", [-0.4, 0.2, 0.1, 0.05], counts=[4, 16, 64, 256]).message


def test_a_check_that_cannot_read_the_answer_says_so_without_a_traceback():
    verdict = exercises.evaluate("06.2", {"black": 0.1, "white": 0.2}, maps={"mean colour": None}, reference="mean colour")
    assert verdict.status == "wrong" and "Traceback" not in verdict.message


def test_check_prints_and_raises_only_in_strict_mode_on_a_wrong_answer(monkeypatch, capsys):
    monkeypatch.delenv(exercises.STRICT_ENV, raising=False)
    exercises.check("01.1", 1, n_train=10, batch_size=4)
    assert "Not yet" in capsys.readouterr().out
    monkeypatch.setenv(exercises.STRICT_ENV, "1")
    with pytest.raises(exercises.ExerciseCheckFailed, match="01.1"):
        exercises.check("01.1", 1, n_train=10, batch_size=4)
    exercises.check("01.1", ..., n_train=10, batch_size=4)  # never raises for an unanswered stub
    assert "Not answered yet" in capsys.readouterr().out
    exercises.check("01.1", 4, n_train=10, batch_size=4)
    assert "Correct" in capsys.readouterr().out


def test_unknown_exercises_hints_and_solutions(capsys):
    with pytest.raises(ValueError, match="no exercise '99.1'"):
        exercises.evaluate("99.1", 1)
    with pytest.raises(TypeError):
        exercises.hint(4.1)  # type: ignore[arg-type]
    exercises.hint("04.4")
    assert "twice" in capsys.readouterr().out
    exercises.solution("04.4")
    assert "04_integrated_gradients.ipynb" in capsys.readouterr().out


# --- the student edition ------------------------------------------------------------------------------------


def test_student_edition_drops_every_solution_cell_and_keeps_stubs_and_checks(tmp_path: Path):
    import nbformat

    written = notebook_runner.write_student_edition(NOTEBOOK_DIR, tmp_path / "student")
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for source, student in zip(NOTEBOOKS, written):
        original = nbformat.read(source, as_version=4)
        edition = nbformat.read(student, as_version=4)
        kept = [c for c in original.cells if "solution" not in c.metadata.get("tags", [])]
        assert [c.source for c in edition.cells] == [c.source for c in kept]
        assert len(edition.cells) < len(original.cells), f"{source.name} has no solution cells to drop"
        checks = "".join(c.source for c in edition.cells)
        assert set(_CHECK_CALL.findall(checks)) == {i for i in exercises.EXERCISES if i.startswith(source.name[:2])}


def test_student_edition_needs_a_folder_of_notebooks(tmp_path: Path):
    with pytest.raises(ValueError, match="no NN_"):
        notebook_runner.write_student_edition(tmp_path, tmp_path / "out")


def test_a_curve_answer_is_right_from_the_float32_model_and_from_the_forward_pass_twin_the_notebook_uses(monkeypatch):
    """08's curves run on models.forward_pass_model(cnn, S.forward_precision): 08.1, 08.2 and 08.4 accept both."""
    import tiny_models

    from course_utils import metrics, models

    model = tiny_models.small_cnn(softmax=True)
    scores = model.get_layer("scores")
    scores.set_weights([50 * w for w in scores.get_weights()])   # margins of tens, as a trained CNN's: bfloat16 shows
    images = tiny_models.structured_images(4)
    maps = {"mean": images.mean(axis=-1), "red": images[..., 0]}
    classes = np.asarray(model(images)).argmax(1)
    fractions = np.linspace(0.0, 1.0, 6)
    twin = models.forward_pass_model(model, "bfloat16")   # what cnn_forward is in cpu mode on native hardware

    def black_aucs(network):
        return {n: metrics.curve_auc(*metrics.deletion_curve(network, images, m, classes, fractions, "black", "margin"))
                for n, m in maps.items()}

    blur = {n: metrics.curve_auc(*metrics.deletion_curve(model, images, m, classes, fractions, "blur", "margin"))
            for n, m in maps.items()}
    first_aucs = {"model": black_aucs(model), "twin": black_aucs(twin)}
    assert not np.allclose(first_aucs["model"]["mean"], first_aucs["twin"]["mean"], rtol=1e-3, atol=1e-3), (
        "the two formats agree here: this test would not show that the twin is accepted"
    )
    arguments = dict(model=model, images=images, maps=maps, classes=classes, fractions=fractions, score="margin",
                     blur_auc=blur)
    probability = {n: metrics.deletion_curve(twin, images, m, classes, fractions, "blur", "probability")[1]
                   for n, m in maps.items()}
    probability_arguments = dict(model=model, images=images, maps=maps, classes=classes, fractions=fractions, fill="blur")

    monkeypatch.setenv("COURSE_MODE", "cpu")
    monkeypatch.setenv("COURSE_PRECISION", "bfloat16")
    for answer in first_aucs.values():
        assert exercises.evaluate("08.1", answer, **arguments).passed
    assert exercises.evaluate("08.1", blur, **arguments).status == "wrong"
    assert exercises.evaluate("08.2", probability, **probability_arguments).passed
    assert exercises.evaluate("08.4", first_aucs["twin"]["mean"], model=model, images=images, maps=maps["mean"],
                              classes=classes, fractions=fractions, fill="black", score="margin").passed

    monkeypatch.setenv("COURSE_PRECISION", "float32")   # no twin: only the float32 numbers are right
    assert exercises.evaluate("08.1", first_aucs["twin"], **arguments).status == "wrong"
    assert exercises.evaluate("08.1", first_aucs["model"], **arguments).passed


def test_a_curve_check_on_a_model_without_a_bfloat16_twin_judges_the_float32_numbers(monkeypatch):
    import tiny_models

    from course_utils import metrics, models

    model = tiny_models.small_cnn(softmax=True)
    images = tiny_models.structured_images(2)
    maps = images.mean(axis=-1)
    classes = np.asarray(model(images)).argmax(1)
    fractions = np.linspace(0.0, 1.0, 6)
    monkeypatch.setenv("COURSE_MODE", "cpu")
    monkeypatch.setenv("COURSE_PRECISION", "bfloat16")

    def cannot_cast(network, precision):  # what with_precision says of a subclassed model
        raise ValueError("with_precision needs a functional model")

    monkeypatch.setattr(models, "forward_pass_model", cannot_cast)
    right = metrics.curve_auc(*metrics.deletion_curve(model, images, maps, classes, fractions, "blur", "margin"))
    arguments = dict(model=model, images=images, maps=maps, classes=classes, fractions=fractions, fill="blur",
                     score="margin")
    assert exercises.evaluate("08.4", right, **arguments).passed
    verdict = exercises.evaluate("08.4", right + 0.5, **arguments)
    assert verdict.status == "wrong" and "does not match" in verdict.message
