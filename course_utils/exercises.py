"""Self-checking exercises: one check per exercise of the notebooks, with hints and a pointer to the solution.

Each notebook ends with exercises. A student fills in a cell that holds ``...``, then runs
``exercises.check("04.1", answer, **objects)``: the check recomputes what it can from the
notebook's own objects (the model, the images, the maps) and says whether the answer is right,
or what is wrong with it and where to look, or that it is not answered yet. Checks compare
properties (shapes, ranges, tolerances, consistency with a recomputation), never numbers written
down in advance, so they hold in quick, cpu and full mode alike.

- :func:`check` prints the verdict; :func:`evaluate` returns it as a :class:`Verdict` without printing.
- :func:`hint` prints the hint of an exercise, :func:`solution` where its worked solution is.
- :data:`EXERCISES` is the registry: one :class:`Exercise` per id such as ``"04.1"`` (notebook 04,
  exercise 1).

When the environment variable :data:`STRICT_ENV` is set to ``1``, :func:`check` raises
:class:`ExerciseCheckFailed` on a wrong answer instead of only printing it, so that running a
notebook fails where a worked solution does not pass its own check. An answer that is still
``...`` never raises.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "EXERCISES",
    "STRICT_ENV",
    "Exercise",
    "ExerciseCheckFailed",
    "Verdict",
    "check",
    "evaluate",
    "hint",
    "solution",
]

#: Set to ``1`` (or ``true``/``yes``) and :func:`check` raises on a wrong answer.
STRICT_ENV = "COURSE_EXERCISES_STRICT"

#: The notebook of each two-digit prefix, for :func:`solution`'s pointer.
NOTEBOOKS = {
    "01": "01_train_horses_humans_cnn.ipynb",
    "02": "02_grad_cam.ipynb",
    "03": "03_lime.ipynb",
    "04": "04_integrated_gradients.ipynb",
    "05": "05_shap.ipynb",
    "06": "06_activations_occlusion_smoothgrad.ipynb",
    "07": "07_feature_visualization.ipynb",
    "08": "08_do_explanations_tell_the_truth.ipynb",
    "09": "09_a_real_imagenet_network_crisp_or_faithful.ipynb",
}

CORRECT, WRONG, UNANSWERED = "correct", "wrong", "unanswered"


class ExerciseCheckFailed(AssertionError):
    """A checked answer is wrong (raised by :func:`check` in strict mode only)."""


class _Wrong(Exception):
    """Raised inside a check: the answer is wrong, and the message says why."""


class _Unanswered(Exception):
    """Raised inside a check: part of the answer (a function's result, say) is still ``...``."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a check found.

    Attributes
    ----------
    exercise_id
        Such as ``"04.1"``.
    status
        ``"correct"``, ``"wrong"`` or ``"unanswered"``.
    message
        One or two sentences for the student: what was right, or what is wrong and a hint.
    """

    exercise_id: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        """True when the answer is right."""
        return self.status == CORRECT

    def __str__(self) -> str:
        mark = {CORRECT: "✓ Correct", WRONG: "✗ Not yet", UNANSWERED: "… Not answered yet"}[self.status]
        return f"{mark} (exercise {self.exercise_id}): {self.message}"


Checker = Callable[..., str]


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook.

    Attributes
    ----------
    exercise_id
        ``"NN.k"``: notebook ``NN``, exercise ``k``.
    title
        The exercise's title, as in the notebook.
    hint
        What to look at when the answer is wrong.
    checker
        ``checker(answer, **objects) -> str``: returns what was right, raises ``_Wrong`` when not.
    """

    exercise_id: str
    title: str
    hint: str
    checker: Checker = dataclasses.field(repr=False)

    @property
    def notebook(self) -> str:
        """The notebook's file name."""
        return NOTEBOOKS[self.exercise_id.split(".")[0]]


#: Every exercise, by id.
EXERCISES: dict[str, Exercise] = {}


def _exercise(exercise_id: str, title: str, hint: str) -> Callable[[Checker], Checker]:
    """Register ``checker`` as the check of ``exercise_id``."""

    def register(checker: Checker) -> Checker:
        if exercise_id in EXERCISES:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        EXERCISES[exercise_id] = Exercise(exercise_id, title, hint, checker)
        return checker

    return register


def _lookup(exercise_id: Any) -> Exercise:
    if not isinstance(exercise_id, str):
        raise TypeError(f"exercise_id must be a string such as '04.1', got {exercise_id!r}")
    if exercise_id not in EXERCISES:
        known = ", ".join(sorted(EXERCISES))
        raise ValueError(f"there is no exercise {exercise_id!r}; the exercises are {known}")
    return EXERCISES[exercise_id]


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def evaluate(exercise_id: str, answer: Any, **objects: Any) -> Verdict:
    """Check an answer and return the verdict, without printing or raising.

    Parameters
    ----------
    exercise_id
        Such as ``"04.1"`` (notebook 04, exercise 1).
    answer
        What the student computed; ``...`` (Ellipsis) means not answered yet.
    **objects
        The notebook's objects the check recomputes from (the check cell passes them).

    Returns
    -------
    Verdict

    Raises
    ------
    TypeError, ValueError
        For an exercise id that is not a string or not registered.
    """
    exercise = _lookup(exercise_id)
    if answer is Ellipsis or _holds_ellipsis(answer):
        return Verdict(
            exercise_id, UNANSWERED, "replace the `...` in the cell above with your answer, then run this cell again."
        )
    try:
        praise = exercise.checker(answer, **objects)
    except _Unanswered:
        return Verdict(
            exercise_id, UNANSWERED, "your function still returns `...`: write its body, then run this cell again."
        )
    except _Wrong as wrong:
        return Verdict(exercise_id, WRONG, f"{wrong} Hint: {exercise.hint}")
    except Exception as error:  # an answer of a shape the check cannot read: say so, without a traceback
        return Verdict(
            exercise_id,
            WRONG,
            f"the check could not read your answer ({type(error).__name__}: {str(error)[:200]}). Hint: {exercise.hint}",
        )
    return Verdict(exercise_id, CORRECT, praise)


def _holds_ellipsis(answer: Any) -> bool:
    """True for a dict, list or tuple that still holds ``...`` somewhere (a half-filled stub)."""
    if isinstance(answer, Mapping):
        return any(value is Ellipsis or _holds_ellipsis(value) for value in answer.values())
    if isinstance(answer, (list, tuple)):
        return any(value is Ellipsis or _holds_ellipsis(value) for value in answer)
    return False


def check(exercise_id: str, answer: Any, **objects: Any) -> None:
    """Check an answer and print whether it is right, wrong (and why, with a hint) or not answered yet.

    Parameters
    ----------
    exercise_id
        Such as ``"04.1"``.
    answer
        The student's answer; ``...`` means not answered yet.
    **objects
        The notebook's objects the check recomputes from.

    Raises
    ------
    ExerciseCheckFailed
        Only when the environment variable :data:`STRICT_ENV` is set and the answer is wrong.
    """
    verdict = evaluate(exercise_id, answer, **objects)
    print(verdict)
    if verdict.status == WRONG and _strict():
        raise ExerciseCheckFailed(str(verdict))


def hint(exercise_id: str) -> None:
    """Print the hint of an exercise."""
    exercise = _lookup(exercise_id)
    print(f"Hint for exercise {exercise_id} ({exercise.title}): {exercise.hint}")


def solution(exercise_id: str) -> None:
    """Print where the worked solution of an exercise is."""
    exercise = _lookup(exercise_id)
    print(
        f"The worked solution of exercise {exercise_id} ({exercise.title}) is the collapsed cell below its check "
        f"in {exercise.notebook}. The student edition leaves the solutions out: try the hint first "
        f"(exercises.hint({exercise_id!r}))."
    )


# --- helpers the checks share -------------------------------------------------------------------------------


def _number(value: Any, what: str) -> float:
    """``value`` as a finite float, or ``_Wrong``."""
    if value is Ellipsis:
        raise _Unanswered
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
        else:
            raise _Wrong(f"{what} should be one number, got {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number):
        raise _Wrong(f"{what} is {number}, not a finite number.")
    return number


def _array(value: Any, what: str, shape: Sequence[int] | None = None) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (when given), or ``_Wrong``."""
    if value is Ellipsis:
        raise _Unanswered
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Wrong(f"{what} should be an array of numbers, got {type(value).__name__}.") from None
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise _Wrong(f"{what} has shape {tuple(array.shape)}; it should have shape {tuple(shape)}.")
    if not np.all(np.isfinite(array)):
        raise _Wrong(f"{what} holds NaN or infinite values.")
    return array


def _mapping(value: Any, keys: Sequence[Any], what: str) -> dict[Any, Any]:
    """``value`` as a dict with exactly ``keys``, or ``_Wrong``."""
    if not isinstance(value, Mapping):
        raise _Wrong(f"{what} should be a dict with the keys {list(keys)}, got {type(value).__name__}.")
    missing = [key for key in keys if key not in value]
    extra = [key for key in value if key not in keys]
    if missing or extra:
        raise _Wrong(f"{what} should have the keys {list(keys)}; missing {missing}, unexpected {extra}.")
    return dict(value)


def _close(value: Any, expected: Any, what: str, rtol: float = 1e-3, atol: float = 1e-6, why: str = "") -> None:
    """``_Wrong`` unless ``value`` matches ``expected`` within the tolerances (shapes must match)."""
    array = _array(value, what, np.shape(expected))
    if not np.allclose(array, np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol):
        raise _Wrong(f"{what} does not match what the notebook's objects give{': ' + why if why else '.'}")


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-4, atol=1e-7))


def _predict(model: Any, images: Any, batch_size: int = 64) -> np.ndarray:
    """The model's outputs on ``images`` ``(N, H, W, 3)``, in batches, in inference mode."""
    batch = np.asarray(images, dtype=np.float32)
    parts = [np.asarray(model(batch[i : i + batch_size], training=False)) for i in range(0, len(batch), batch_size)]
    return np.concatenate(parts).astype(np.float64)


def _correlation(a: Any, b: Any) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


# --- 01: training the CNN -----------------------------------------------------------------------------------


@_exercise(
    "01.1",
    "Epochs that are not epochs",
    "`steps_per_epoch` counts batches, not images: each step takes one batch of `BATCH` images. "
    "Divide the images one 'epoch' shows by the number of training images.",
)
def _passes_per_epoch(answer: Any, n_train: int, batch_size: int) -> str:
    passes = _number(answer, "the number of passes")
    if math.isclose(passes, 1.0):
        raise _Wrong(
            "1 pass is what the correct pipeline makes; the repeated dataset with steps_per_epoch=n_train makes more."
        )
    if math.isclose(passes, n_train):
        raise _Wrong(f"{n_train} is the number of steps Keras runs, not the number of passes over the data.")
    if not math.isclose(passes, n_train * batch_size / n_train, rel_tol=1e-6):
        raise _Wrong(f"{passes:g} passes is not what {n_train} steps of {batch_size} images make.")
    return f"{n_train} steps of {batch_size} images are {passes:g} passes: each 'epoch' is {passes:g} real epochs."


@_exercise(
    "01.2",
    "A random split",
    "train the model on `random_train`, then measure its accuracy on `random_val`: the share of its images "
    "whose predicted class (the argmax of the output) is the label.",
)
def _random_split_accuracy(answer: Any, model: Any, validation: Any) -> str:
    accuracy = _number(answer, "the validation accuracy")
    if not 0.0 <= accuracy <= 1.0:
        raise _Wrong(f"an accuracy is a share between 0 and 1, got {accuracy:g}.")
    predicted, labels = [], []
    for images, targets in validation.batch(64):
        predicted.append(_predict(model, images.numpy()).argmax(axis=1))
        labels.append(np.asarray(targets).reshape(-1))
    measured = float(np.mean(np.concatenate(predicted) == np.concatenate(labels)))
    if abs(accuracy - measured) > 0.005:
        raise _Wrong(f"the model scores {measured:.3f} on `random_val`, not {accuracy:.3f}.")
    return f"the random split reports {accuracy:.3f}; compare it with the held-out-model accuracy."


@_exercise(
    "01.3",
    "No augmentation",
    "take `history['accuracy']` minus `history['val_accuracy']` of the run without augmentation, epoch by epoch, "
    "and average the last five epochs.",
)
def _augmentation_gap(answer: Any, history: Mapping[str, Sequence[float]]) -> str:
    gap = _number(answer, "the gap")
    difference = np.subtract(history["accuracy"], history["val_accuracy"])[-5:]
    expected = float(np.mean(difference))
    if math.isclose(gap, -expected, abs_tol=1e-6) and not math.isclose(expected, 0.0, abs_tol=1e-6):
        raise _Wrong("the sign is reversed: training minus held-out accuracy, not the other way round.")
    if not math.isclose(gap, expected, abs_tol=1e-6):
        raise _Wrong("that is not the mean of the last five epochs' training minus held-out accuracy of this run.")
    return f"without augmentation the training accuracy is {gap:+.2f} above the held-out one at the end."


@_exercise(
    "01.4",
    "A shallower layer",
    "explain the margin as section 6 does: call `attributions.grad_cam(models.contrast_logits_model(model), "
    'image[None], class_index=predicted, layer="block2_conv2")[0]`.',
)
def _shallow_grad_cam(answer: Any, model: Any, image: Any, class_index: int, last_layer: str) -> str:
    from course_utils import attributions

    image = np.asarray(image, dtype=np.float32)
    shallow = _array(answer, "the map", image.shape[:2])
    if shallow.min() < -1e-6 or shallow.max() > 1 + 1e-6:
        raise _Wrong("a Grad-CAM map of the library lies in [0, 1].")
    last = attributions.grad_cam(model, image[None], class_index=class_index, layer=last_layer)[0]
    if _same(shallow, last):
        raise _Wrong(f"this is the map at {last_layer}, the last convolutional layer.")
    expected = attributions.grad_cam(model, image[None], class_index=class_index, layer="block2_conv2")[0]
    _close(
        shallow, expected, "the map", atol=1e-4, why="is it the margin's map at block2_conv2, for the predicted class?"
    )
    return "the map at block2_conv2 is the Grad-CAM of that layer; compare its detail with the deep map."


# --- 02: Grad-CAM ---------------------------------------------------------------------------------------------


def _mean_pairwise_rank_correlation(maps: np.ndarray) -> float:
    from course_utils import metrics

    pairs = [(a, b) for a in range(len(maps)) for b in range(a + 1, len(maps))]
    return float(np.mean([metrics.rank_correlation(maps[[a]], maps[[b]])[0] for a, b in pairs]))


@_exercise(
    "02.1",
    "Other breeds",
    "for each layer, compute the three breeds' Grad-CAM maps with `attributions.grad_cam` and average the rank "
    "correlations (`metrics.rank_correlation`) of the three pairs.",
)
def _breed_correlations(answer: Any, model: Any, image: Any, classes: Sequence[int], layers: Sequence[str]) -> str:
    from course_utils import attributions

    found = _mapping(answer, list(layers), "the correlations")
    copies = np.stack([np.asarray(image, dtype=np.float32)] * len(classes))
    for layer in layers:
        rho = _number(found[layer], f"the correlation at {layer}")
        if not -1.0 <= rho <= 1.0:
            raise _Wrong(f"a rank correlation lies in [-1, 1]; at {layer} you have {rho:g}.")
        maps = attributions.grad_cam(model, copies, class_index=list(classes), layer=layer)
        expected = _mean_pairwise_rank_correlation(maps)
        if abs(rho - expected) > 0.02:
            raise _Wrong(f"the mean pairwise rank correlation of the three maps at {layer} is not {rho:.2f}.")
    lowest = min(layers, key=lambda layer: found[layer])
    return f"the breeds' maps differ most at {lowest}: that is where the network separates them."


@_exercise(
    "02.2",
    "No ReLU",
    "weight the activations of the last layer by the spatial mean of the tabby logit's gradients, sum over the "
    "channels, and resize to the photo, with no ReLU: the map keeps its negative values.",
)
def _signed_map(answer: Any, cam: Any) -> str:
    cam = np.asarray(cam, dtype=np.float64)
    signed = _array(answer, "the signed map", cam.shape)
    positive = np.maximum(signed, 0)
    if positive.max() <= 0 or _correlation(positive / positive.max(), cam) < 0.9:
        raise _Wrong("the positive part of your map should be the Grad-CAM map of tabby at the last layer.")
    if signed.min() >= 0:
        # Possible without any mistake: on some photos every region's weighted features raise the logit.
        return (
            "your map has no negative values. Either every region of this photo raises the tabby logit, "
            "or a ReLU (or a clip) is still applied: make sure `signed` is the weighted sum itself."
        )
    return f"{(signed < 0).mean():.0%} of the photo lowers the tabby logit; its positive part is Grad-CAM."


@_exercise(
    "02.3",
    "The sanity check on our own network",
    "for each layer, compute the maps of the random-weight CNN for the same images and classes, and average "
    "`metrics.rank_correlation(cnn_cams[layer], random_maps[layer])` over the images.",
)
def _randomization_on_the_cnn(answer: Any, trained_maps: Mapping[str, Any], random_maps: Mapping[str, Any]) -> str:
    from course_utils import metrics

    layers = list(trained_maps)
    found = _mapping(answer, layers, "the correlations")
    for layer in layers:
        if _same(trained_maps[layer], random_maps[layer]):
            raise _Wrong(f"the random maps at {layer} equal the trained ones: they must come from the untrained CNN.")
        rho = _number(found[layer], f"the correlation at {layer}")
        expected = float(np.mean(metrics.rank_correlation(trained_maps[layer], random_maps[layer])))
        if abs(rho - expected) > 1e-3:
            raise _Wrong(f"at {layer} the mean rank correlation of the trained and random maps is not {rho:.2f}.")
    return "read the two correlations as in section 8: the deep map should depend more on the weights."


@_exercise(
    "02.4",
    "The CNN's mistake, for the right class",
    "the map of the *true* class is `attributions.grad_cam(cnn_margin, val_x[i:i + 1], class_index=true class, "
    "layer=...)[0]`, for the mistaken image `i`.",
)
def _true_class_map(answer: Any, model: Any, image: Any, true_class: int, predicted_class: int, layer: str) -> str:
    from course_utils import attributions

    image = np.asarray(image, dtype=np.float32)
    mine = _array(answer, "the map", image.shape[:2])
    if true_class != predicted_class:
        other = attributions.grad_cam(model, image[None], class_index=predicted_class, layer=layer)[0]
        if _same(mine, other):
            raise _Wrong("this is the map of the predicted class; the exercise asks for the true class.")
    expected = attributions.grad_cam(model, image[None], class_index=true_class, layer=layer)[0]
    _close(mine, expected, "the map", atol=1e-4, why=f"is it the true class's map at {layer}?")
    return "compare where the evidence for the true class sits with the predicted class's map."


# --- 03: LIME -------------------------------------------------------------------------------------------------


@_exercise(
    "03.1",
    "Does LIME's choice matter to the model?",
    "for each case, paint the superpixels `e.ranked_superpixels(label)[:5]` (label = `e.top_labels[0]`) with "
    "`FILL` and read the margin model's output for that label.",
)
def _top_five_margin(answer: Any, margin_model: Any, explanations: Mapping[int, Any], images: Any, fill: Any) -> str:
    found = _mapping(answer, list(explanations), "the margins")
    for index, explanation in explanations.items():
        label = explanation.top_labels[0]
        image = np.asarray(images[index], dtype=np.float32)
        off = np.isin(explanation.segments, explanation.ranked_superpixels(label)[:5])[..., None]
        painted = np.where(off, np.asarray(fill, dtype=np.float32), image)
        original, expected = _predict(margin_model, np.stack([image, painted]))[:, label]
        margin = _number(found[index], f"the margin of image {index}")
        if math.isclose(margin, original, rel_tol=1e-4, abs_tol=1e-4):
            raise _Wrong(f"for image {index} that is the margin of the unpainted image.")
        if not math.isclose(margin, expected, rel_tol=1e-3, abs_tol=1e-3):
            raise _Wrong(
                f"for image {index}, painting LIME's top five superpixels does not give a margin of {margin:.2f}."
            )
    return "compare each margin with the random fives: LIME's choice should cost more."


@_exercise(
    "03.2",
    "Segmentation matters",
    "for each explanation, `e.positive_mask(None, 5).mean()` is the share of the image its top five superpixels cover.",
)
def _segment_coverage(answer: Any, runs: Mapping[str, Any]) -> str:
    explanations = {n: runs[f"slic, n_segments={n}"] for n in (15, 60)}
    found = _mapping(answer, list(explanations), "the coverages")
    for key, explanation in explanations.items():
        share = _number(found[key], f"the coverage for {key}")
        if not 0.0 <= share <= 1.0:
            raise _Wrong(f"a share of the image lies in [0, 1], got {share:g} for {key}.")
        if not math.isclose(share, float(explanation.positive_mask(None, 5).mean()), abs_tol=1e-6):
            raise _Wrong(f"that is not the share the top five superpixels cover for {key}.")
    return "coarser superpixels cover more of the image with the same five: the question LIME answers changed."


@_exercise(
    "03.3",
    "How many samples are enough?",
    "the intersection over union of two boolean masks is the number of pixels in both divided by the number in "
    "either (0 when both are empty).",
)
def _mask_iou_function(answer: Any) -> str:
    if not callable(answer):
        raise _Wrong(f"the answer should be a function of two masks, got {type(answer).__name__}.")
    a = np.zeros((6, 6), dtype=bool)
    b = np.zeros((6, 6), dtype=bool)
    a[:2, :2] = True  # 4 pixels
    b[1:3, :2] = True  # 4 pixels, 2 shared
    cases = [
        ((a, a), 1.0, "a mask with itself"),
        ((a, ~a), 0.0, "disjoint masks"),
        ((a, b), 2 / 6, "two masks sharing 2 of 6 pixels"),
    ]
    for (first, second), expected, name in cases:
        value = _number(answer(first, second), f"the IoU of {name}")
        if not math.isclose(value, expected, abs_tol=1e-9):
            raise _Wrong(f"the IoU of {name} should be {expected:.3f}, your function gives {value:.3f}.")
    empty = _number(answer(np.zeros_like(a), np.zeros_like(a)), "the IoU of two empty masks")
    if not math.isfinite(empty):
        raise _Wrong("two empty masks must not divide by zero.")
    return "your IoU is right; the curve shows how many samples make the top five stable."


@_exercise(
    "03.4",
    "Hide with what?",
    "for each run, correlate its weights for `label` with the weights of the `FILL` run "
    "(`np.corrcoef(base.weights[label], e.weights[label])[0, 1]`).",
)
def _hide_color_correlations(answer: Any, explanations: Mapping[str, Any], base: Any) -> str:
    label = base.top_labels[0]
    others = {name: e for name, e in explanations.items() if e is not base}
    found = _mapping(answer, list(others), "the correlations")
    for name, explanation in others.items():
        rho = _number(found[name], f"the correlation for {name}")
        expected = _correlation(base.weights[label], explanation.weights[label])
        if not math.isclose(rho, expected, abs_tol=1e-6):
            raise _Wrong(f"the correlation of the {name} weights with FILL's is not {rho:.2f}.")
    return "the hide colour changes the weights: no colour is neutral."


@_exercise(
    "03.5",
    "Is the CNN's explanation stable?",
    "compare each rerun's `positive_mask(None, 5)` with seed 0's (`cnn_lime[i]`) by intersection over union.",
)
def _lime_stability(answer: Any, base: Any, runs: Mapping[str, Any]) -> str:
    found = _mapping(answer, list(runs), "the IoUs")
    reference = base.positive_mask(None, 5)
    for name, explanation in runs.items():
        value = _number(found[name], f"the IoU for {name}")
        if not 0.0 <= value <= 1.0:
            raise _Wrong(f"an IoU lies in [0, 1], got {value:g} for {name}.")
        if not math.isclose(value, _iou(reference, explanation.positive_mask(None, 5)), abs_tol=1e-6):
            raise _Wrong(f"that is not the IoU of the top-5 masks of seed 0 and {name}.")
    return "compare the seeds' IoUs with the coarser superpixels' one."


# --- 04: Integrated Gradients ---------------------------------------------------------------------------------

_IG_STEPS = (8, 16, 32, 64, 128)


@_exercise(
    "04.1",
    "How many steps are enough?",
    "for each (baseline, image index) try the step counts 8, 16, 32, 64, 128 in order and keep the first whose "
    "`attributions.completeness(...)['relative_error']` is below 0.05 (None when none is).",
)
def _steps_needed(answer: Any, model: Any, images: Any, classes: Any, baselines: Sequence[str], batch_size: int) -> str:
    from course_utils import attributions

    keys = [(kind, i) for kind in baselines for i in range(len(images))]
    found = _mapping(answer, keys, "the step counts")

    def error(kind: str, i: int, steps: int) -> float:
        label = int(np.asarray(classes)[i])
        values = attributions.integrated_gradients(
            model, images[i], class_index=label, baseline=kind, steps=steps, batch_size=batch_size
        )
        return float(
            attributions.completeness(model, images[i], values, class_index=label, baseline=kind)["relative_error"][0]
        )

    for kind, i in keys:
        steps = found[(kind, i)]
        if steps is None:
            if error(kind, i, _IG_STEPS[-1]) < 0.05:
                raise _Wrong(f"{kind}, image {i}: 128 steps already bring the error below 5 %.")
            continue
        if steps not in _IG_STEPS:
            raise _Wrong(f"{kind}, image {i}: {steps!r} is not one of {_IG_STEPS} (or None).")
        if error(kind, i, steps) >= 0.05:
            raise _Wrong(f"{kind}, image {i}: with {steps} steps the completeness error is still 5 % or more.")
        smaller = _IG_STEPS[_IG_STEPS.index(steps) - 1] if steps != _IG_STEPS[0] else None
        if smaller is not None and error(kind, i, smaller) < 0.05:
            raise _Wrong(f"{kind}, image {i}: {smaller} steps are already enough.")
    return "each count is the smallest that passes: they differ between images and baselines."


@_exercise(
    "04.2",
    "Average several random baselines",
    'compute IG with `baseline="random"` and `seed=0` to `4`, stack the five maps and take their mean over the '
    "first axis: by completeness it sums to F(image) minus the mean F of the five baselines.",
)
def _random_baseline_average(answer: Any, model: Any, image: Any, class_index: int, seeds: Sequence[int]) -> str:
    from course_utils import attributions

    image = np.asarray(image, dtype=np.float32)
    average = _array(answer, "the average map", image.shape)
    baselines = np.concatenate([attributions.make_baseline(image[None], "random", seed=seed) for seed in seeds])
    scores = _predict(model, np.concatenate([image[None], baselines]))[:, class_index]
    expected = scores[0] - scores[1:].mean()
    total = float(average.sum())
    if abs(total - expected) > 0.2 * abs(expected) + 0.1:
        raise _Wrong(
            f"the average map sums to {total:.3f}; by completeness it should be F(image) minus the mean F of the "
            "five random baselines."
        )
    return f"the average sums to {total:.3f}, F(image) minus the baselines' mean score, up to the step error."


@_exercise(
    "04.3",
    "Gradient × input",
    "multiply the images by `attributions.vanilla_gradients(cnn_logits, cnn_images, class_index=predicted)`.",
)
def _gradient_times_input(answer: Any, model: Any, images: Any, classes: Any) -> str:
    from course_utils import attributions

    images = np.asarray(images, dtype=np.float32)
    product = _array(answer, "gradient × input", images.shape)
    gradients = attributions.vanilla_gradients(model, images, class_index=classes)
    if _same(product, gradients):
        raise _Wrong("this is the gradient alone: multiply it by the image.")
    _close(product, images * gradients, "gradient × input", rtol=1e-3, atol=1e-5, why="the gradient of the margin?")
    return "its sum generally misses F(x) - F(black): the CNN is not linear along the path."


@_exercise(
    "04.4",
    "The CNN's mistake, from the other side",
    "the margins of the two classes are opposites, so the difference map is twice the map of z_true - z_pred; "
    "by completeness its sum is twice how much z_true - z_pred changed from the blurred baseline to the image.",
)
def _difference_map_sum(answer: Any, model: Any, image: Any, true_class: int, predicted_class: int) -> str:
    from course_utils import attributions

    if true_class == predicted_class:
        raise _Wrong("the two classes are the same, so the difference map is zero: take the class not predicted.")
    image = np.asarray(image, dtype=np.float32)
    total = _number(answer, "the sum of the difference map")
    baseline = attributions.make_baseline(image[None], "blurred")
    scores = _predict(model, np.concatenate([image[None], baseline]))
    change = (scores[0, true_class] - scores[1, true_class]) - (scores[0, predicted_class] - scores[1, predicted_class])
    tolerance = 0.1 * abs(change) + 0.05
    if abs(change) > 0.2 and abs(total - change / 2) <= 0.05 * abs(change / 2):
        raise _Wrong("that is half of it: the difference of two opposite maps is twice either change.")
    if abs(total - change) > tolerance:
        raise _Wrong(f"the difference map sums to {total:.3f}, which does not match the change of the two margins.")
    return f"the sum, {total:.3f}, is the change of m_true - m_pred = 2 (z_true - z_pred) along the path."


# --- 05: SHAP -------------------------------------------------------------------------------------------------


@_exercise(
    "05.1",
    "Two classes, two maps?",
    "for each (layer, photo), correlate `explanation.spatial[i, ..., 0].ravel()` with `[i, ..., 1]` "
    "(`np.corrcoef(...)[0, 1]`).",
)
def _two_class_correlations(answer: Any, explanations: Mapping[str, Any], photos: Sequence[str]) -> str:
    keys = [(layer, photo) for layer in explanations for photo in photos]
    found = _mapping(answer, keys, "the correlations")
    for layer, explanation in explanations.items():
        for i, photo in enumerate(photos):
            rho = _number(found[(layer, photo)], f"the correlation for {photo} at {layer}")
            expected = _correlation(explanation.spatial[i, ..., 0], explanation.spatial[i, ..., 1])
            if not math.isclose(rho, expected, abs_tol=1e-6):
                raise _Wrong(f"for {photo} at {layer}, the two top classes' maps do not correlate at {rho:+.2f}.")
    return "a lower correlation means the layer already tells the two classes apart."


@_exercise(
    "05.2",
    "The background is the question",
    "`against_grey.expected_outputs[0]`: E f over the grey background, for the first photo's two classes. Every "
    "background image is the same grey, so E f is the model's output on that grey image.",
)
def _grey_expected_value(
    answer: Any, model: Any, explanation: Any, image_size: int, photo_background_expected: Any
) -> str:
    classes = np.asarray(explanation.class_indices[0]).reshape(-1)
    expected_f = _array(answer, "E f", classes.shape)
    if _same(expected_f, photo_background_expected):
        raise _Wrong("this is E f over the photo background of section 6, not over the grey one.")
    grey = np.full((1, image_size, image_size, 3), 128.0, dtype=np.float32)
    _close(expected_f, _predict(model, grey)[0, classes], "E f", rtol=1e-3, atol=1e-5, why="is it f(grey)?")
    return "E f is now f(grey): the map answers 'rather than a grey image', like IG with a grey baseline."


@_exercise(
    "05.3",
    "Convergence",
    "for each nsamples in (4, 16, 64, 256) average `np.abs(explanation.additivity_gap)` over a few seeds; the "
    "gap is a Monte-Carlo error, so it should shrink as nsamples grows.",
)
def _additivity_convergence(answer: Any, counts: Sequence[int]) -> str:
    gaps = _array(answer, "the mean gaps", (len(counts),))
    if np.any(gaps < 0):
        raise _Wrong("a mean absolute gap cannot be negative: take np.abs before averaging.")
    if not gaps[-1] < gaps[0] / 2:
        raise _Wrong(
            f"the gap at {counts[-1]} samples should be well below the gap at {counts[0]} (a 1/sqrt(n) error falls "
            f"{math.sqrt(counts[-1] / counts[0]):.0f}-fold): is nsamples passed on?"
        )
    return f"the gap falls {gaps[0] / gaps[-1]:.1f}-fold from {counts[0]} to {counts[-1]} samples (1/sqrt(n): {math.sqrt(counts[-1] / counts[0]):.0f})."


@_exercise(
    "05.4",
    "Another layer",
    "`concentration(deepest)[:, 0]`: for each photo, the share of |SHAP| of the top class held by the top 5 % "
    "of grid cells.",
)
def _deepest_concentration(answer: Any, explanation: Any) -> str:
    cells = np.abs(np.asarray(explanation.spatial, dtype=np.float64))
    cells = cells.reshape(len(explanation.images), -1, cells.shape[-1])[..., 0]
    shares = _array(answer, "the concentrations", (len(cells),))
    k = max(1, int(0.05 * cells.shape[1]))
    expected = -np.sort(-cells, axis=1)[:, :k].sum(axis=1) / np.maximum(cells.sum(axis=1), 1e-30)
    if np.any(shares < 0) or np.any(shares > 1):
        raise _Wrong("a share of |SHAP| lies in [0, 1].")
    _close(shares, expected, "the concentrations", atol=1e-6, why="is it the top class (index 0) of each photo?")
    return f"on the {cells.shape[1]}-cell grid the top 5 % hold {', '.join(f'{s:.0%}' for s in shares)} of |SHAP|."


@_exercise(
    "05.5",
    "The CNN, against a different background",
    "`again.expected_value`: SHAP's base value is the model's mean output over the background images, here the "
    "held-out horses only.",
)
def _horse_background_expected(answer: Any, model: Any, images: Any, background: Any, mixed_expected: Any) -> str:
    expected = _predict(model, np.asarray(images)[np.asarray(background)]).mean(axis=0)
    value = _array(answer, "E f", expected.shape)
    if _same(value, mixed_expected):
        raise _Wrong("this is E f over the mixed background of section 8, not over the horses only.")
    _close(value, expected, "E f", rtol=1e-3, atol=1e-5, why="the mean output over the horses-only background?")
    return f"E f for 'horses' is now {value[0]:.2f}: a confident horse has little left to explain."


# --- 06: activations, occlusion, SmoothGrad -------------------------------------------------------------------


@_exercise(
    "06.1",
    "Silent channels",
    "a channel is silent when its largest activation on the photo, "
    "`attributions.layer_activations(model, photo[None], layer).max(axis=(1, 2))`, is at most 0; give the share "
    "of the layer's channels that are.",
)
def _silent_fractions(answer: Any, model: Any, image: Any, layers: Sequence[str]) -> str:
    from course_utils import attributions

    found = _mapping(answer, list(layers), "the fractions")
    batch = np.asarray(image, dtype=np.float32)[None]
    for layer in layers:
        share = _number(found[layer], f"the fraction at {layer}")
        if not 0.0 <= share <= 1.0:
            raise _Wrong(f"a fraction lies in [0, 1], got {share:g} at {layer}.")
        silent = attributions.layer_activations(model, batch, layer).max(axis=(1, 2)) <= 0
        if not math.isclose(share, float(silent.mean()), abs_tol=1e-9):
            raise _Wrong(f"at {layer} the share of channels silent on the cat is not {share:.0%}.")
    return "compare the shares from the first to the last layer."


@_exercise(
    "06.2",
    "Occlusion colour",
    "pass `fill=0` and `fill=255` to `attributions.occlusion_sensitivity`, then correlate each map with the "
    "mean-colour map (`np.corrcoef(a.ravel(), b.ravel())[0, 1]`).",
)
def _fill_correlations(answer: Any, maps: Mapping[str, Any], reference: str) -> str:
    others = [name for name in maps if name != reference]
    found = _mapping(answer, others, "the correlations")
    for name in others:
        if _same(maps[name], maps[reference]):
            raise _Wrong(f"the {name} map equals the {reference} map: is `fill=` passed on?")
        rho = _number(found[name], f"the correlation for {name}")
        if not math.isclose(rho, _correlation(maps[reference], maps[name]), abs_tol=1e-6):
            raise _Wrong(f"the {name} map does not correlate at {rho:.2f} with the {reference} map.")
    return "a low correlation means the map must be read with its fill named."


@_exercise(
    "06.3",
    "Occlusion vs Grad-CAM",
    "correlate the Grad-CAM map with the *positive part* of the occlusion map "
    "(`np.clip(large, 0, None)`): Grad-CAM has no negative values.",
)
def _cam_occlusion_agreement(answer: Any, cam: Any, occlusion: Any) -> str:
    rho = _number(answer, "the correlation")
    expected = _correlation(cam, np.clip(np.asarray(occlusion, dtype=np.float64), 0, None))
    if math.isclose(rho, _correlation(cam, occlusion), abs_tol=1e-6) and not math.isclose(rho, expected, abs_tol=1e-6):
        raise _Wrong("keep only the positive part of the occlusion map before correlating.")
    if not math.isclose(rho, expected, abs_tol=1e-6):
        raise _Wrong("that is not the correlation of Grad-CAM with the occlusion map's positive part.")
    return f"they correlate at {rho:.2f}: where both are high the finding is sturdier."


@_exercise(
    "06.4",
    "Too much noise",
    "noise of 50 % is a standard deviation of half the photo's pixel range; average "
    "`model.predict(noisy)[:, target]` over the noisy copies.",
)
def _noisy_probability(answer: Any, model: Any, photo: Any, noisy: Any, class_index: int) -> str:
    photo = np.asarray(photo, dtype=np.float64)
    noise = np.asarray(noisy, dtype=np.float64) - photo[None]
    level = noise.std() / (photo.max() - photo.min())
    if not 0.45 <= level <= 0.55:
        raise _Wrong(f"the copies' noise is {level:.0%} of the pixel range, not 50 %.")
    probability = _number(answer, "the mean probability")
    expected = float(_predict(model, noisy)[:, class_index].mean())
    if not math.isclose(probability, expected, abs_tol=1e-4):
        raise _Wrong(f"the mean probability of the class on your noisy copies is not {probability:.4f}.")
    return "compare it with the clean photo's probability: the network no longer sees the cat."


@_exercise(
    "06.5",
    "Patch size on the CNN",
    "one `attributions.occlusion_sensitivity(cnn_logits, image, class_index=..., patch=patch, "
    "stride=max(1, patch // 2))[0]` map per patch size, each of the image's height and width.",
)
def _patch_size_maps(answer: Any, model: Any, image: Any, class_index: int, sizes: Sequence[int]) -> str:
    from course_utils import attributions

    image = np.asarray(image, dtype=np.float32)
    found = _mapping(answer, list(sizes), "the maps")
    for patch in sizes:
        _array(found[patch], f"the map for patch {patch}", image.shape[:2])
    largest = max(sizes)
    expected = attributions.occlusion_sensitivity(
        model, image, class_index=class_index, patch=largest, stride=max(1, largest // 2)
    )[0]
    _close(found[largest], expected, f"the map for patch {largest}", atol=1e-4, why="stride half the patch?")
    return "look for the regions that stay red at every size."


@_exercise(
    "06.6",
    "Logit instead of probability",
    "run SmoothGrad on `models.logits_model(model)` for both rivals, take `magnitude(...)` of each, and correlate "
    "the two maps for probabilities and for logits.",
)
def _logit_vs_probability(answer: Any, probability_maps: Sequence[Any], logit_maps: Sequence[Any]) -> str:
    found = _mapping(answer, ["probabilities", "logits"], "the correlations")
    if _same(probability_maps[0], logit_maps[0]):
        raise _Wrong("the logit maps equal the probability maps: use `models.logits_model(model)`.")
    for key, (a, b) in (("probabilities", probability_maps), ("logits", logit_maps)):
        rho = _number(found[key], f"the correlation of the {key} maps")
        if not math.isclose(rho, _correlation(a, b), abs_tol=1e-6):
            raise _Wrong(f"the two {key} maps do not correlate at {rho:.2f}.")
    return "the probability maps mix in the rival's gradient; the logit maps do not."


# --- 07: feature visualization --------------------------------------------------------------------------------


@_exercise(
    "07.1",
    "Depth",
    "`features.layer_head(fv_model, layer, S.fv_image_size).output.shape[1:3]` is the (height, width) of a "
    "layer's feature map at the canvas size.",
)
def _feature_map_sizes(answer: Any, model: Any, layers: Mapping[str, str], image_size: int) -> str:
    from course_utils import features

    found = _mapping(answer, list(layers), "the sizes")
    for depth, layer in layers.items():
        expected = tuple(int(v) for v in features.layer_head(model, layer, image_size).output.shape[1:3])
        try:
            size = tuple(int(v) for v in found[depth])
        except (TypeError, ValueError):
            raise _Wrong(f"the size of the {depth} layer should be a (height, width) pair.") from None
        if size != expected:
            raise _Wrong(f"the {depth} layer's feature map is not {size[0]}x{size[1]} at {image_size} pixels.")
    return "the maps shrink with depth, so each position of a deep map covers more pixels."


@_exercise(
    "07.2",
    "Regularisers",
    "roughness = mean |difference| between vertical neighbours + mean |difference| between horizontal "
    "neighbours (`np.diff` along axis 0 and 1, as floats).",
)
def _roughness_function(answer: Any) -> str:
    if not callable(answer):
        raise _Wrong(f"the answer should be a function of an image, got {type(answer).__name__}.")
    flat = np.full((8, 8, 3), 128, dtype=np.uint8)
    ramp = np.tile(np.arange(8, dtype=np.uint8)[None, :, None], (8, 1, 3))  # +1 per column
    stripes = np.zeros((8, 8, 3), dtype=np.uint8)
    stripes[::2] = 255  # rows alternate 255, 0
    for image, expected, name in (
        (flat, 0.0, "a flat image"),
        (ramp, 1.0, "a ramp of +1 per column"),
        (stripes, 255.0, "rows alternating 0 and 255"),
    ):
        value = _number(answer(image), f"the roughness of {name}")
        if not math.isclose(value, expected, abs_tol=1e-6):
            raise _Wrong(
                f"the roughness of {name} should be {expected:g}, your function gives {value:g} "
                "(uint8 differences wrap around: convert to float first)."
            )
    return "your roughness measures what total variation penalises."


@_exercise(
    "07.3",
    "Is it the class?",
    "the top class of each optimised image is the argmax of `class_model.predict(class_images)` per row.",
)
def _top_classes(answer: Any, model: Any, images: Any) -> str:
    expected = _predict(model, images).argmax(axis=1)
    try:
        found = np.asarray(answer, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise _Wrong("the answer should be one class index per image.") from None
    if found.shape != expected.shape or not np.array_equal(found, expected):
        raise _Wrong("these are not the top classes of the optimised pixels.")
    return "read the probabilities too: the ascent makes the class win by far, yet the image need not look like it."


@_exercise(
    "07.4",
    "A photo of your choice",
    "rms change = `np.sqrt(np.mean((raw - start) ** 2))`, between the optimised raw pixels and the starting photo.",
)
def _rms_changes(answer: Any, raw: Mapping[str, Any], start: Any) -> str:
    found = _mapping(answer, list(raw), "the changes")
    start = np.asarray(start, dtype=np.float64)
    for depth, pixels in raw.items():
        change = _number(found[depth], f"the change for {depth}")
        expected = float(np.sqrt(np.mean((np.asarray(pixels, dtype=np.float64) - start) ** 2)))
        if not math.isclose(change, expected, rel_tol=1e-4, abs_tol=1e-4):
            raise _Wrong(f"the rms change of the {depth} image is not {change:.1f} grey levels.")
    changes = {depth: float(found[depth]) for depth in raw}
    larger = max(changes, key=changes.__getitem__)
    ratio = changes[larger] / max(min(changes.values()), 1e-12)
    if ratio < 1.25:
        return "the two changes are about equal in pixels: 'more' means more visible."
    return (
        f"the {larger} filter moved the pixels {ratio:.1f}x as far: same step size, but its steps kept one "
        "direction while the other's wandered and partly cancelled."
    )


@_exercise(
    "07.5",
    "Which filters tell horses from humans?",
    "keep the filters whose largest response is above 0 (`np.flatnonzero(cnn_responses.max(axis=0) > 0)`), then "
    "the four of them with the smallest |lean|.",
)
def _shared_filters(answer: Any, lean: Any, responses: Any) -> str:
    lean = np.asarray(lean, dtype=np.float64)
    active = np.flatnonzero(np.asarray(responses).max(axis=0) > 0)
    try:
        chosen = {int(k) for k in answer}
    except (TypeError, ValueError):
        raise _Wrong("the answer should be a list of four filter indices.") from None
    if len(chosen) != 4:
        raise _Wrong(f"give four different filters, got {len(chosen)}.")
    if not chosen <= set(active.tolist()):
        raise _Wrong("some of these filters are silent on every held-out image: keep the active ones only.")
    threshold = np.sort(np.abs(lean[active]))[3]
    if any(abs(lean[k]) > threshold + 1e-12 for k in chosen):
        raise _Wrong("these are not the four active filters with the smallest absolute lean.")
    return "these filters fire about equally on both classes."


# --- 08: faithfulness -----------------------------------------------------------------------------------------


def _deletion_auc(
    model: Any, images: Any, maps: Any, classes: Any, fractions: Any, fill: Any, score: str
) -> np.ndarray:
    from course_utils import metrics

    return np.asarray(
        metrics.curve_auc(*metrics.deletion_curve(model, images, maps, classes, fractions, fill, score)),
        dtype=np.float64,
    )


def _forward_twin(model: Any) -> Any:
    """The forward-pass model a notebook may have used instead of ``model`` (08's ``cnn_forward``), or None.

    08 runs its curves on ``models.forward_pass_model(cnn, S.forward_precision)``: a bfloat16 twin in cpu and
    full mode on native hardware, whose AUCs differ from float32 ones by up to a few hundredths. None where
    that is ``model`` itself (quick mode, float32) or where no twin can be built.
    """
    from course_utils import config, models

    try:
        twin = models.forward_pass_model(model, config.settings().forward_precision)
    except ValueError:  # forward_pass_model's word for a model it cannot cast (subclassed, say)
        return None
    return None if twin is model else twin


def _close_to_a_forward_model(
    value: Any, model: Any, compute: Callable[[Any], Any], what: str, **tolerances: Any
) -> None:
    """``_close(value, compute(model), what, ...)``, or the same on :func:`_forward_twin`: either is right."""
    try:
        _close(value, compute(model), what, **tolerances)
        return
    except _Wrong as wrong:
        mismatch = wrong  # the float32 model's message: the one the hint and the prompt speak of
    twin = _forward_twin(model)
    if twin is not None:
        try:
            _close(value, compute(twin), what, **tolerances)
            return
        except _Wrong:
            pass
    raise mismatch


def _check_rescored_aucs(
    answer: Any, curve: tuple[Any, ...], unchanged: Mapping[str, Any], unchanged_message: str, why: str = ""
) -> None:
    """Deletion AUCs per method under one changed setting: not the ``unchanged`` ones, and those of ``curve``.

    ``curve`` is ``(model, images, maps, classes, fractions, fill, score)``; the first method is recomputed.
    """
    model, images, maps, classes, fractions, fill, score = curve
    found = _mapping(answer, list(maps), "the AUCs")
    name = next(iter(maps))
    if _same(found[name], unchanged[name]):
        raise _Wrong(unchanged_message)
    _close_to_a_forward_model(
        found[name],
        model,
        lambda network: _deletion_auc(network, images, maps[name], classes, fractions, fill, score),
        f"the AUCs of {name}",
        rtol=1e-3,
        atol=1e-3,
        why=why,
    )


@_exercise(
    "08.1",
    "Another fill",
    'score every method\'s maps with `metrics.deletion_curve(..., "black", SCORE)` and keep '
    "`metrics.curve_auc` of each: one AUC per image.",
)
def _black_deletion(
    answer: Any,
    model: Any,
    images: Any,
    maps: Mapping[str, Any],
    classes: Any,
    fractions: Any,
    score: str,
    blur_auc: Mapping[str, Any],
) -> str:
    _check_rescored_aucs(
        answer,
        (model, images, maps, classes, fractions, "black", score),
        blur_auc,
        'these are the blur fill\'s AUCs: pass "black" as the fill.',
        why="black fill, the same score?",
    )
    return "compare the two rankings: each fill asks its own question about 'absent'."


@_exercise(
    "08.2",
    "Probability instead of margin",
    '`metrics.deletion_curve(cnn_forward, images, maps[n], predicted, FRACTIONS, FILL, "probability")[1]`: the scores '
    "are probabilities, so every value lies in [0, 1].",
)
def _probability_deletion(
    answer: Any, model: Any, images: Any, maps: Mapping[str, Any], classes: Any, fractions: Any, fill: Any
) -> str:
    found = _mapping(answer, list(maps), "the curves")
    for name in maps:
        values = _array(found[name], f"the curves of {name}")
        if values.min() < -1e-6 or values.max() > 1 + 1e-6:
            raise _Wrong(f"the curves of {name} leave [0, 1]: that is not a probability (the margin?).")
    name = next(iter(maps))
    from course_utils import metrics

    _close_to_a_forward_model(
        found[name],
        model,
        lambda network: metrics.deletion_curve(network, images, maps[name], classes, fractions, fill, "probability")[1],
        f"the curves of {name}",
        atol=1e-3,
    )
    return "the probability saturates near 1, so the curves start with a plateau."


@_exercise(
    "08.3",
    "A method of your own",
    "return the magnitude of the Sobel gradient of each image's grey values: `np.hypot(ndimage.sobel(g, 0), "
    "ndimage.sobel(g, 1))` for g = the image averaged over its colour channels; the model is not used.",
)
def _edge_map_function(answer: Any, images: Any) -> str:
    if not callable(answer):
        raise _Wrong(
            f"the answer should be a function edge_map(model, images, class_index), got {type(answer).__name__}."
        )
    images = np.asarray(images, dtype=np.float32)
    maps = _array(answer(None, images, None), "the edge maps")
    if maps.shape[:3] != images.shape[:3]:
        raise _Wrong(f"one map per image of the image's size: expected {images.shape[:3]}, got {maps.shape}.")
    if maps.min() < 0:
        raise _Wrong("an edge magnitude is never negative.")
    flat = np.full((1, 16, 16, 3), 100.0, dtype=np.float32)
    if np.abs(_array(answer(None, flat, None), "the map of a flat image")).max() > 1e-6:
        raise _Wrong("a flat image has no edges: its map should be 0 everywhere.")
    step = flat.copy()
    step[:, :, 8:] = 200.0  # a vertical edge between columns 7 and 8
    edge = _array(answer(None, step, None), "the map of a step image").reshape(16, 16)
    if edge[:, 7:9].mean() <= edge[:, :4].mean() or edge[:, 7:9].mean() <= 0:
        raise _Wrong("on an image with one vertical edge the map should be largest along that edge.")
    return "the edge map knows nothing of the model: watch where the curves put it."


@_exercise(
    "08.4",
    "Grad-CAM at the first block",
    "score `first_maps` like the others: `metrics.curve_auc(*metrics.deletion_curve(cnn_forward, images, first_maps, "
    "predicted, FRACTIONS, FILL, SCORE))`, one AUC per image.",
)
def _first_block_deletion(
    answer: Any, model: Any, images: Any, maps: Any, classes: Any, fractions: Any, fill: Any, score: str
) -> str:
    _close_to_a_forward_model(
        answer,
        model,
        lambda network: _deletion_auc(network, images, maps, classes, fractions, fill, score),
        "the AUCs",
        rtol=1e-3,
        atol=1e-3,
        why="the first block's maps, the same fill and score?",
    )
    return "compare its AUC and its ρ under randomization with the deeper layers."


@_exercise(
    "08.5",
    "Gradients in bfloat16",
    "explain the margin, `models.contrast_logits_model(cnn)`, and its bfloat16 twin, "
    '`models.contrast_logits_model(models.with_precision(cnn, "bfloat16"))`; for each (precision, steps) take the '
    "median over the images of `attributions.completeness(...)['relative_error']` of IG with `steps=steps` "
    "(the default black baseline).",
)
def _bfloat16_completeness(
    answer: Any, steps: Sequence[int], model: Any = None, images: Any = None, classes: Any = None
) -> str:
    keys = [(precision, n) for precision in ("float32", "bfloat16") for n in steps]
    found = _mapping(answer, keys, "the errors")
    errors = {key: _number(value, f"the error {key}") for key, value in found.items()}
    if any(value < 0 for value in errors.values()):
        raise _Wrong("a relative error is never negative.")
    if all(math.isclose(errors[("float32", n)], errors[("bfloat16", n)], rel_tol=1e-6) for n in steps):
        raise _Wrong("both formats give the same errors: is the bfloat16 twin (models.with_precision) explained?")
    if model is not None:
        from course_utils import attributions, models

        margin = models.contrast_logits_model(model)
        batch, few = np.asarray(images, dtype=np.float32), min(steps)
        ig = attributions.integrated_gradients(margin, batch, class_index=classes, steps=few)
        expected = float(np.median(attributions.completeness(margin, batch, ig, class_index=classes)["relative_error"]))
        if not math.isclose(errors[("float32", few)], expected, rel_tol=0.05, abs_tol=1e-4):
            raise _Wrong(
                f"float32 at {few} steps should be about {expected:.4f} (IG of the margin, median over the images)."
            )
    fell = errors[("float32", max(steps))] < errors[("float32", min(steps))]
    return (
        f"float32's error {'fell' if fell else 'did not fall'} from {min(steps)} to {max(steps)} steps; "
        "see whether bfloat16's stops falling."
    )


# --- 09: a real ImageNet network ------------------------------------------------------------------------------


@_exercise(
    "09.1",
    "Margin instead of probability",
    'score each method with `metrics.deletion_curve(..., FILL, "margin")` and keep `metrics.curve_auc`: one '
    "AUC per photo.",
)
def _margin_deletion(
    answer: Any,
    model: Any,
    images: Any,
    maps: Mapping[str, Any],
    classes: Any,
    fractions: Any,
    fill: Any,
    probability_auc: Mapping[str, Any],
) -> str:
    _check_rescored_aucs(
        answer,
        (model, images, maps, classes, fractions, fill, "margin"),
        probability_auc,
        'these are the probability\'s AUCs: pass "margin" as the score.',
    )
    return "compare the two orders: a report must name its score."


@_exercise(
    "09.2",
    "More photos",
    "flip each photo left to right: the width is axis 2 of a (photos, height, width, 3) batch, so "
    "`curve_batch[:, :, ::-1]`.",
)
def _flipped_photos(answer: Any, images: Any) -> str:
    images = np.asarray(images)
    flipped = _array(answer, "the flipped photos", images.shape)
    if _same(flipped, images[:, ::-1]):
        raise _Wrong("these photos are upside down: that flips the height (axis 1), not the width.")
    _close(flipped, images[:, :, ::-1], "the flipped photos", atol=1e-6, why="a left-right mirror of each photo?")
    return "a mirrored photo is almost the same evidence: the narrower interval is not honest."
