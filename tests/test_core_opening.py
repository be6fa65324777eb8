"""The one opening of every method (`_core.method_inputs`) and the one compiled cache (`_core.compiled_function`).

Each method must check its images, model, batch size and classes through the
core exactly once per call, and every compiled function of the library must
come from the core's cache, so that a fix to a check or to caching reaches every
method at once.
"""

from __future__ import annotations

import ast
import gc
import logging
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tiny_models import SIZE
from tiny_models import images as _images
from tiny_models import small_cnn as _small_cnn

from course_utils import _core, attributions, explainers, image_io, metrics, pixel_maps

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"
METHOD_MODULES = ("attributions", "metrics", "explainers", "pixel_maps", "features")


@pytest.fixture(scope="module")
def cnn() -> keras.Model:
    return _small_cnn(softmax=True, seed=7, name="opening_cnn")


# --------------------------------------------------------------------------- method_inputs
def test_deferred_targets_keep_minus_one_and_resolved_targets_are_the_top_class(cnn):
    images = _images(4, seed=3)
    top = np.argmax(cnn(images, training=False).numpy(), axis=1)
    deferred = _core.method_inputs(cnn, images, None, 2, targets="deferred")
    resolved = _core.method_inputs(cnn, images, None, 2, targets="resolved")
    assert deferred.classes.tolist() == [-1] * 4
    assert resolved.classes.tolist() == top.tolist()
    assert resolved.classes.dtype == np.int32 and resolved.batch.dtype == np.float32
    assert resolved.batch_size == 2 and resolved.image_shape == (SIZE, SIZE, 3)
    explicit = _core.method_inputs(cnn, images, [0, 1, 2, 3], targets="deferred")
    assert explicit.classes.tolist() == [0, 1, 2, 3]
    single = _core.method_inputs(cnn, images[0], 2)
    assert single.batch.shape == (1, SIZE, SIZE, 3) and single.classes.tolist() == [2]


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"model": "not a model"}, TypeError, "keras.Model"),
        ({"images": "pixels"}, TypeError, "real numbers"),
        ({"batch_size": 2.0}, TypeError, "batch_size"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"class_index": "cat"}, TypeError, "class_index"),
        ({"class_index": 9}, ValueError, "out of range"),
        ({"images": np.zeros((1, SIZE + 2, SIZE, 3))}, ValueError, "expects images of shape"),
        ({"targets": "none", "class_index": 1}, ValueError, "explains no class"),
        ({"targets": "sometimes"}, ValueError, "targets must be"),
    ],
)
def test_method_inputs_says_what_was_wrong(cnn, arguments, error, words):
    call = {"model": cnn, "images": _images(2), "class_index": None, "batch_size": 4, "targets": "resolved"}
    call.update(arguments)
    with pytest.raises(error, match=words):
        _core.method_inputs(call.pop("model"), call.pop("images"), **call)


def _count_openings(monkeypatch) -> list[str]:
    opened: list[str] = []
    real = _core.method_inputs

    def spy(*args, **kwargs):
        opened.append(kwargs.get("targets", "resolved"))
        return real(*args, **kwargs)

    for module, name in [
        (attributions, "_method_inputs"),
        (metrics, "method_inputs"),
        (explainers, "method_inputs"),
        (pixel_maps, "method_inputs"),
    ]:
        monkeypatch.setattr(module, name, spy)
    return opened


#: Each method, called on a model and images, and how it must resolve "top class": on the clean images now
#: ("resolved": IG, SmoothGrad and the curves evaluate the model away from the image) or inside its compiled
#: function ("deferred"), or not at all ("none").
OPENINGS = {
    "vanilla_gradients": (lambda m, x: attributions.vanilla_gradients(m, x), "deferred"),
    "grad_cam": (lambda m, x: attributions.grad_cam(m, x), "deferred"),
    "guided_backprop": (lambda m, x: attributions.guided_backprop(m, x), "deferred"),
    "guided_grad_cam": (lambda m, x: attributions.guided_grad_cam(m, x), "deferred"),
    "integrated_gradients": (lambda m, x: attributions.integrated_gradients(m, x, steps=4), "resolved"),
    "path_gradients": (lambda m, x: attributions.path_gradients(m, x[:1], steps=4), "resolved"),
    "smoothgrad": (lambda m, x: attributions.smoothgrad(m, x, samples=3), "resolved"),
    "occlusion_sensitivity": (lambda m, x: attributions.occlusion_sensitivity(m, x, patch=8, stride=8), "deferred"),
    "layer_activations": (lambda m, x: attributions.layer_activations(m, x, "conv1"), "none"),
    "deletion_curve": (lambda m, x: metrics.deletion_curve(m, x, np.ones(x.shape[:3]), fractions=[0, 0.5, 1]), "resolved"),
    "insertion_curve": (
        lambda m, x: metrics.insertion_curve(m, x, np.ones(x.shape[:3]), fractions=[0, 0.5, 1]),
        "resolved",
    ),
}


@pytest.mark.parametrize("name", sorted(OPENINGS))
def test_every_method_opens_through_the_core_exactly_once(cnn, monkeypatch, name):
    method, targets = OPENINGS[name]
    opened = _count_openings(monkeypatch)
    method(cnn, _images(2, seed=5))
    assert opened == [targets], f"{name} opened {opened}, expected one opening with targets={targets!r}"


def test_guided_grad_cam_of_the_top_class_equals_the_explicit_top_class(cnn):
    images = _images(3, seed=8)
    top = np.argmax(cnn(images, training=False).numpy(), axis=1)
    np.testing.assert_allclose(
        attributions.guided_grad_cam(cnn, images), attributions.guided_grad_cam(cnn, images, top), rtol=1e-5, atol=1e-9
    )


def test_occlusion_resolves_the_top_class_on_the_clean_image(cnn):
    images = _images(2, seed=9)
    top = np.argmax(cnn(images, training=False).numpy(), axis=1)
    np.testing.assert_allclose(
        attributions.occlusion_sensitivity(cnn, images, patch=8, stride=4),
        attributions.occlusion_sensitivity(cnn, images, top, patch=8, stride=4),
        rtol=1e-6,
    )


def _functions_calling(module: str, names: set[str]) -> list[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            called = {
                call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
                for call in ast.walk(node)
                if isinstance(call, ast.Call)
            }
            if names <= called:
                found.append(f"{module}.{node.name}")
    return found


def test_no_method_module_writes_its_own_opening():
    """Checking images and then the model by hand is what method_inputs is for."""
    hand_written = [
        function
        for module in METHOD_MODULES
        for pair in ({"as_image_batch", "check_classifier"}, {"as_image_batch", "_check_model"})
        for function in _functions_calling(module, pair)
    ]
    assert not hand_written, hand_written


def test_only_the_core_compiles():
    """Every tf.function of the library comes from _core.compiled_function (one cache, one tracing count)."""
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "_core.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "function" and getattr(node.value, "id", "") == "tf":
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


# --------------------------------------------------------------------------- compiled_function
def test_compiled_function_is_cached_per_key_traced_once_and_holds_the_model_weakly():
    model = _small_cnn(seed=9, name="compiled_function_cnn")
    built = []

    def make(network):
        built.append(1)

        def doubled(images):
            return 2.0 * tf.cast(network()(images, training=False), tf.float32)

        return doubled

    signature = [tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32)]
    first = _core.compiled_function(model, "doubled@test", signature, make)
    again = _core.compiled_function(model, "doubled@test", signature, make)
    assert first is again and len(built) == 1
    # TensorFlow's retracing warning prints the Python function; this name is what the log filter looks for.
    assert "course_compiled[doubled@test]" in repr(first.python_function)
    for count in (1, 3, 5):
        images = _images(count, seed=count)
        np.testing.assert_allclose(first(images).numpy(), 2.0 * model(images).numpy(), rtol=1e-5)
    assert _core.tracing_counts(model)["doubled@test"] == 1
    alive = weakref.ref(model)
    del model, first, again
    gc.collect()
    assert alive() is None, "the cached function kept its model alive"


def test_the_retracing_warning_is_dropped_for_the_course_functions_only():
    course_filter = _core._CourseRetracingFilter()

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("tensorflow", logging.WARNING, __file__, 1, message, None, None)

    ours = "5 out of the last 5 calls to <function course_compiled[gradients@32x32x3] at 0x1> triggered tf.function retracing."
    theirs = "5 out of the last 5 calls to <function my_step at 0x1> triggered tf.function retracing."
    assert not course_filter.filter(record(ours))
    assert course_filter.filter(record(theirs))


def test_blur_is_a_separable_gaussian_within_each_image_and_channel():
    batch = np.zeros((2, 9, 9, 3), np.float32)
    batch[0, 4, 4, 1] = 255.0
    blurred = image_io.blur(batch, 1.5)
    assert blurred.dtype == np.float32
    np.testing.assert_allclose(blurred.sum(), 255.0, rtol=1e-3)  # mass kept (reflecting edges, far from them)
    assert blurred[1].max() == 0.0 and blurred[0, ..., [0, 2]].max() == 0.0  # nothing leaks across images or channels
    np.testing.assert_allclose(blurred[0, 4, :, 1], blurred[0, :, 4, 1], rtol=1e-6)  # isotropic
    fill = metrics.fill_images(batch, "blur", blur_sigma=1.5)
    baseline = attributions.make_baseline(batch, "blurred", sigma=1.5)
    np.testing.assert_array_equal(fill, blurred)
    np.testing.assert_array_equal(baseline, blurred)
