"""The shared core of every method module: input checks, class targets, batching, compiled caches.

Every attribution method, explainer and metric of the course calls these
instead of its own copy, so that one image batch is accepted or rejected the
same way everywhere, a class index means the same thing everywhere, and one
:func:`tracing_counts` sees every compiled function of a model.

The model contract: a classifier takes **raw RGB pixels**, float32 NHWC in
[0, 255], and returns class scores ``(N, classes)``; preprocessing lives
inside the model, so explanations line up with pixels.

This module is the ground floor of ``course_utils``: it imports no other course
module, so every module (``image_io`` and ``data`` included) can use its checks.
TensorFlow and Keras are imported inside the functions that need them, so the
checks cost a module that does not use TensorFlow (``image_io``) no TensorFlow
import.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import numbers
import sys
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Protocol, Sequence, TypeVar, cast

import numpy as np

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "as_image_batch",
    "positive_int",
    "real_number",
    "real_array",
    "int_or_ints",
    "check_classifier",
    "MethodInputs",
    "method_inputs",
    "validate_class_index",
    "num_classes",
    "class_indices",
    "top_classes",
    "chunks",
    "compiled",
    "compiled_function",
    "CompiledFunction",
    "tracing_counts",
    "shape_key",
    "live_model",
    "select_scores",
    "image_specs",
    "predict",
    "quiet_retracing",
]


# --------------------------------------------------------------------------- input checks
def _as_numpy(values: Any) -> np.ndarray:
    """``np.asarray(values)``, with TensorFlow tensors and variables read out first."""
    tf = sys.modules.get("tensorflow")  # without TensorFlow loaded there are no tensors to convert
    if tf is not None and isinstance(values, (tf.Tensor, tf.Variable)):
        values = values.numpy()
    return np.asarray(values)


def as_image_batch(images: Any, what: str = "images", stacklevel: int = 3) -> np.ndarray:
    """Images as a float32 ``(N, H, W, 3)`` batch, checked: the one pixel policy of the course.

    Parameters
    ----------
    images
        One ``(H, W, 3)`` image or ``(N, H, W, 3)`` images: a numpy array, a
        tensor or nested lists, of any real dtype (uint8 is typical), with
        pixel values in [0, 255].

    what
        How error messages name the argument.
    stacklevel
        Where the [0, 1] warning points: 3 is the caller's caller (a method
        called from a student's cell).

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W, 3)``; a single image gets a batch axis of 1.

    Raises
    ------
    TypeError
        If the values are not real numbers (strings, objects, complex).
    ValueError
        If the rank is not 3 or 4, there are not 3 channels, the batch or an
        image side is empty, or a value is NaN, infinite or outside [0, 255].

    Warns
    -----
    UserWarning
        If float images all lie in [0, 1]: the course's models expect [0, 255].
    """
    try:
        array = _as_numpy(images)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{what} must be a regular array (N, H, W, 3); numpy says: {error}") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold real numbers (uint8 or float pixels in [0, 255]), got dtype {array.dtype}")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(
            f"{what} must be one image (H, W, 3) or a batch (N, H, W, 3), got shape {array.shape} (rank {array.ndim})."
        )
    if array.shape[-1] != 3:
        raise ValueError(
            f"{what} must have 3 channels (RGB) in the last axis, got shape {array.shape} with "
            f"{array.shape[-1]} channels. The course's models take RGB; convert grayscale with "
            "np.repeat(image[..., None], 3, axis=-1), drop an alpha channel with image[..., :3], "
            "or load with image_io.load_image, which converts any mode to RGB."
        )
    if 0 in array.shape:
        raise ValueError(f"{what} must not be empty, got shape {array.shape}")
    was_float = array.dtype.kind == "f"
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contain NaN or infinite values; pixels must be finite numbers in [0, 255].")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 255.0:
        raise ValueError(
            f"{what} must be raw RGB pixels in [0, 255], got values in [{low:.4g}, {high:.4g}]; the course's "
            "models preprocess inside, so pass unnormalized pixels (np.clip(x, 0, 255) if a step overshot)."
        )
    if was_float and high <= 1.0 and high > 0.0:
        warnings.warn(
            f"{what} are floats in [0, 1], but the course's models take raw pixels in [0, 255]; "
            "multiply by 255 unless this is intended.",
            stacklevel=stacklevel,
        )
    return array


def real_array(name: str, values: Any, dtype: Any = np.float64) -> np.ndarray:
    """``values`` as a numpy array of ``dtype`` (``None``: numpy's choice), checked to hold real numbers.

    For maps, scores and fractions, whose shapes the caller checks. Raises
    ``TypeError`` for strings, objects or complex numbers, ``ValueError`` for
    ragged nested lists.
    """
    try:
        array = _as_numpy(values)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name} must be a regular array of numbers; numpy says: {error}") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got {type(values).__name__}"
            + (f" of dtype {array.dtype}" if isinstance(values, np.ndarray) else "")
        )
    return array if dtype is None else array.astype(dtype, copy=False)


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int, checked: a ``TypeError`` if it is not an integer, a ``ValueError`` if below ``minimum``.

    Python and numpy integers pass (``np.int64`` from an array is common); bools,
    floats (even ``3.0``) and strings do not.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def real_number(
    name: str, value: Any, minimum: float | None = None, maximum: float | None = None, strict: bool = False
) -> float:
    """``value`` as a finite float, checked: a ``TypeError`` if it is not a real number, a ``ValueError`` if not
    finite or outside ``[minimum, maximum]`` (``(minimum, ...]`` with ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {number}")
    if minimum is not None and (number < minimum or (strict and number == minimum)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {number}")
    return number


def int_or_ints(name: str, indices: Any) -> tuple[list[int], bool]:
    """An int or a sequence of ints as a list, and whether it was a single int.

    Raises ``TypeError`` for non-integers and ``ValueError`` for an empty sequence;
    ranges are the caller's to check (only it knows the count).
    """
    if isinstance(indices, bool):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {indices!r}")
    if isinstance(indices, numbers.Integral):
        return [int(indices)], True
    try:
        values = list(indices) if isinstance(indices, (list, tuple, range)) else list(np.asarray(indices).ravel())
    except TypeError as error:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {indices!r}") from error
    if not values:
        raise ValueError(f"{name} is empty; ask for at least one index, e.g. {name}=[0, 1, 2]")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must hold integers, got {value!r} in {indices!r}")
    return [int(v) for v in values], False


def check_classifier(model: Any, batch: np.ndarray, what: str = "model") -> None:
    """Check the model contract against the images before any work is done; ``what`` names the argument."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{what} must be a keras.Model that maps (N, H, W, 3) pixels to (N, classes) scores, "
            f"got {type(model).__name__}"
        )
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) > 1:
        raise ValueError(f"model {model.name!r} has {len(inputs)} inputs; attributions need one image input.")
    if inputs:
        expected = tuple(inputs[0].shape[1:])
        if len(expected) != 3:
            raise ValueError(
                f"model {model.name!r} takes inputs of shape {tuple(inputs[0].shape)}, not images (N, H, W, 3)."
            )
        got = batch.shape[1:]
        if any(e is not None and e != g for e, g in zip(expected, got)):
            raise ValueError(
                f"model {model.name!r} expects images of shape (H, W, C) = {expected}, got {got}. "
                f"Resize them first, e.g. image_io.load_image(path, size={expected[0]})."
            )
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) > 1:
        raise ValueError(f"model {model.name!r} has {len(outputs)} outputs; attributions need one (N, classes) output.")
    if outputs and len(outputs[0].shape) != 2:
        raise ValueError(
            f"model {model.name!r} returns shape {tuple(outputs[0].shape)}; attributions need class "
            "scores of shape (N, classes)."
        )


def validate_class_index(class_index: Any, num_classes: int, batch: int) -> np.ndarray | None:
    """Check a ``class_index`` argument and broadcast it to one index per image.

    Parameters
    ----------
    class_index
        ``None`` (top class of each image), an int, or one int per image.
    num_classes
        Number of model outputs.
    batch
        Number of images.

    Returns
    -------
    None or an int array of shape ``(batch,)``.

    Raises
    ------
    TypeError
        If ``class_index`` holds something other than integers (a string, a
        fractional float).
    ValueError
        If there is neither one index nor one per image, or an index is
        outside ``[0, num_classes)``.
    """
    if class_index is None:
        return None
    try:
        indices = np.asarray(class_index)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"class_index must be one int or {batch} ints (one per image), got {class_index!r}") from error
    if indices.dtype.kind not in "iu" and not (indices.dtype.kind == "f" and np.all(np.mod(indices, 1) == 0)):
        raise TypeError(f"class_index must be an integer or integers, got {class_index!r}")
    indices = indices.astype(np.int64)
    if indices.ndim == 0:
        indices = np.full((batch,), int(indices))
    if indices.shape != (batch,):
        raise ValueError(f"class_index must be one int or {batch} ints (one per image), got shape {indices.shape}")
    bad = indices[(indices < 0) | (indices >= num_classes)]
    if bad.size:
        raise ValueError(
            f"class_index {int(bad[0])} is out of range: this model has {num_classes} classes, "
            f"so use 0 to {num_classes - 1}."
        )
    return indices


def num_classes(model: keras.Model, batch: np.ndarray) -> int:
    """How many classes ``model`` scores: its output width, or one forward pass on ``batch[:1]`` if unknown."""
    outputs = getattr(model, "outputs", None) or []
    if outputs and outputs[0].shape[-1] is not None:
        return int(outputs[0].shape[-1])
    scores = predict(model, batch[:1], batch_size=1)
    if scores.ndim != 2:
        raise ValueError(f"model returns shape {scores.shape}; attributions need (N, classes) scores.")
    return int(scores.shape[1])


def class_indices(model: keras.Model, batch: np.ndarray, class_index: Any) -> np.ndarray:
    """One class per image; -1 marks "top class", resolved inside the compiled functions."""
    indices = validate_class_index(class_index, num_classes(model, batch), len(batch))
    if indices is None:
        return np.full((len(batch),), -1, dtype=np.int32)
    return indices.astype(np.int32)


def chunks(total: int, size: int) -> Iterator[slice]:
    """Slices of ``range(total)`` of at most ``size`` items, in order."""
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


# --------------------------------------------------------------------------- compiled functions
# model -> {key: tf.function}. Weak keys, and the functions hold the model only
# through a weak reference, so a cached function never keeps a model alive.
class CompiledFunction(Protocol):
    """What ``tf.function`` returns, as far as the course uses it (TensorFlow ships no type hints)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def get_concrete_function(self, *args: Any, **kwargs: Any) -> Any: ...

    def experimental_get_tracing_count(self) -> int: ...


_COMPILED: weakref.WeakKeyDictionary[keras.Model, dict[str, object]] = weakref.WeakKeyDictionary()

Built = TypeVar("Built")


def compiled(model: keras.Model, key: str, build: Callable[[], Built]) -> Built:
    """``build()``'s result for ``model`` and ``key``, built on the first call and cached with the model.

    ``build`` returns what the caller needs (a ``tf.function``, a helper model,
    a getter); the result has its type. The cache holds the model weakly, so
    ``build`` must reach the model through a weak reference too (a closure over
    ``weakref.ref(model)``), or the model would never be freed.
    """
    per_model = _COMPILED.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return cast(Built, per_model[key])


def live_model(model_ref: weakref.ReferenceType[keras.Model]) -> keras.Model:
    """The model behind a compiled function's weak reference; it is alive while anything can call the function."""
    model = model_ref()
    if model is None:  # the cache entry dies with the model, so only a copied-out function can get here
        raise ReferenceError("the model of this compiled function has been deleted")
    return model


#: Every function :func:`compiled_function` builds carries this in its name, which TensorFlow's
#: retracing warning prints; the course's filter recognises its own functions by it.
_COMPILED_MARK = "course_compiled["

Network = Callable[[], "keras.Model"]


def compiled_function(
    model: keras.Model,
    key: str,
    signature: Sequence[tf.TensorSpec],
    make: Callable[[Network], Callable[..., Any]],
    autograph: bool = True,
) -> CompiledFunction:
    """A ``tf.function`` for ``model``, compiled once per ``key`` and cached with the model.

    The one way the course caches a compiled per-model function.

    Parameters
    ----------
    model
        The model the function belongs to; the cache entry dies with it.
    key
        Names the method, its layer if any and the input shape (see
        :func:`shape_key`), e.g. ``"smoothgrad@224x224x3"``; it is what
        :func:`tracing_counts` reports.
    signature
        The ``tf.TensorSpec`` of each argument. A fixed signature with ``None``
        batch axes means one trace, whatever the batch size or Python values.
    make
        Called once with ``network``, a function returning the live model
        (the cache holds the model only weakly, so the compiled function must
        not hold it either); returns the Python function to compile. Helper
        models (a layer head, a logits model) can be built inside ``make``.
    autograph
        ``tf.function``'s option: False for functions without Python control
        flow on tensors, which then trace faster.
    """
    import tensorflow as tf

    model_ref = weakref.ref(model)

    def network() -> keras.Model:
        return live_model(model_ref)

    def build() -> CompiledFunction:
        function = make(network)
        function.__qualname__ = f"{_COMPILED_MARK}{key}]"
        return cast(CompiledFunction, tf.function(function, input_signature=list(signature), autograph=autograph))

    return compiled(model, key, build)


def tracing_counts(model: keras.Model) -> dict[str, int]:
    """How many times each compiled function of ``model`` has been traced, across every module.

    Keys name the method, the layer where there is one, and the input shape,
    e.g. ``"integrated_gradients@224x224x3"`` or ``"filters:conv3_block4_out@96"``.
    Each should stay at 1 however often the method is called with new steps,
    classes, filters or batch sizes. Cached helper models (a logits model, a
    layer head) are not functions and are left out.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    return {
        key: int(fn.experimental_get_tracing_count())
        for key, fn in _COMPILED.get(model, {}).items()
        if hasattr(fn, "experimental_get_tracing_count")
    }


def shape_key(shape: Sequence[int]) -> str:
    """A shape as a cache-key part, e.g. ``(224, 224, 3)`` -> ``"224x224x3"``."""
    return "x".join(str(int(s)) for s in shape)


def select_scores(scores: tf.Tensor, class_indices: tf.Tensor) -> tf.Tensor:
    """Score of each row's class; a negative index picks the row's top class."""
    import tensorflow as tf

    scores = tf.cast(scores, tf.float32)
    top = tf.argmax(scores, axis=-1, output_type=tf.int32)
    chosen = tf.where(class_indices < 0, top, class_indices)
    return tf.gather(scores, chosen, axis=1, batch_dims=1)


def image_specs(shape: tuple[int, ...]) -> tuple[tf.TensorSpec, tf.TensorSpec]:
    """Input signatures of a compiled method: a ``(None, *shape)`` batch and one ``shape`` image, float32."""
    import tensorflow as tf

    return tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec(shape, tf.float32)


def predict_fn(model: keras.Model, shape: tuple[int, ...]) -> CompiledFunction:
    """``model``'s forward pass on ``(N, *shape)`` float32 pixels, compiled once per model and shape."""
    import tensorflow as tf

    def make(network: Network) -> Callable[[tf.Tensor], tf.Tensor]:
        def predict(images: tf.Tensor) -> tf.Tensor:
            return tf.cast(network()(images, training=False), tf.float32)

        return predict

    return compiled_function(model, f"predict@{shape_key(shape)}", image_specs(shape)[:1], make)


def predict(model: keras.Model, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Class scores of a checked float32 ``(N, H, W, 3)`` batch, float32 ``(N, classes)``, in chunks of ``batch_size``."""
    predict = predict_fn(model, batch.shape[1:])
    return np.concatenate([predict(batch[part]).numpy() for part in chunks(len(batch), batch_size)])


def top_classes(model: keras.Model, batch: np.ndarray, class_index: Any) -> np.ndarray:
    """Explicit classes, with "top class" resolved on the images themselves.

    IG and SmoothGrad evaluate the model away from the image (on the path, on
    noisy copies), where the top class may differ; the class is the image's.
    """
    classes = class_indices(model, batch, class_index)
    if np.any(classes < 0):
        classes = np.argmax(predict(model, batch), axis=1).astype(np.int32)
    return classes


# --------------------------------------------------------------------------- the one opening
#: How :func:`method_inputs` turns ``class_index`` into one class per image.
Targets = Literal["resolved", "deferred", "none"]


@dataclasses.dataclass(frozen=True)
class MethodInputs:
    """The checked arguments every method starts from (see :func:`method_inputs`).

    Attributes
    ----------
    batch
        float32 ``(N, H, W, 3)`` pixels in [0, 255].
    classes
        int32 ``(N,)``: one class per image. With ``targets="deferred"`` a -1
        stands for "the top class", resolved inside the compiled function;
        with ``targets="none"`` it is empty.
    batch_size
        Images per model call, at least 1.
    """

    batch: np.ndarray
    classes: np.ndarray
    batch_size: int

    def classes_given(self, scores: np.ndarray) -> np.ndarray:
        """int32 ``(N,)`` classes with each deferred "top class" (-1) taken from ``scores`` ``(N, classes)``,
        the model's scores of these images: for a method that needs that forward pass anyway."""
        return np.where(self.classes < 0, np.argmax(scores, axis=1), self.classes).astype(np.int32)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, 3)`` of every image: the shape compiled functions are keyed by."""
        height, width, channels = self.batch.shape[1:]
        return int(height), int(width), int(channels)


def method_inputs(
    model: Any,
    images: Any,
    class_index: Any = None,
    batch_size: Any = 32,
    *,
    targets: Targets = "resolved",
    what: str = "images",
    model_what: str = "model",
) -> MethodInputs:
    """The one opening of every method: images, model, batch size and class targets, checked once.

    Parameters
    ----------
    model
        Must be a ``keras.Model`` mapping ``(N, H, W, 3)`` pixels to ``(N, classes)``
        scores and accept the images' size (:func:`check_classifier`).
    images
        One ``(H, W, 3)`` image or an ``(N, H, W, 3)`` batch, pixels in [0, 255]
        (:func:`as_image_batch`).
    class_index
        None (the top class of each image), an int, or one int per image.
    batch_size
        Images per model call, an integer >= 1.
    targets
        ``"resolved"``: None becomes each image's top class now, on the images
        themselves (methods that evaluate the model away from the image, such as
        IG and SmoothGrad, need the image's class). ``"deferred"``:
        None stays -1, resolved inside the compiled function at no extra
        forward pass. ``"none"``: the method has no class (``class_index`` must
        be None).
    what, model_what
        How error messages name the images and the model argument.

    Returns
    -------
    MethodInputs

    Raises
    ------
    TypeError
        For a wrong type: a model that is not a ``keras.Model``, non-numeric
        images, a non-integer batch size or class index.
    ValueError
        For a wrong value: a shape the model does not take, pixels outside
        [0, 255], a batch size below 1, a class outside the model's range.
    """
    batch = as_image_batch(images, what=what, stacklevel=4)  # the warning points at the student's call of the method
    check_classifier(model, batch, model_what)
    size = positive_int("batch_size", batch_size)
    if targets == "none":
        if class_index is not None:
            raise ValueError(f"this method explains no class, so class_index must be None, got {class_index!r}")
        return MethodInputs(batch, np.empty((0,), np.int32), size)
    if targets == "deferred":
        classes = class_indices(model, batch, class_index)
    elif targets == "resolved":
        classes = top_classes(model, batch, class_index)
    else:
        raise ValueError(f"targets must be 'resolved', 'deferred' or 'none', got {targets!r}")
    return MethodInputs(batch, classes.astype(np.int32, copy=False), size)


class _CourseRetracingFilter(logging.Filter):
    """Drop TensorFlow's retracing warning for the course's own per-model compiled functions.

    Every compiled function here is built by :func:`compiled_function` once per
    model and input shape and named ``course_compiled[key]``; TensorFlow counts
    the functions of a second model as retraces of the first and warns,
    although nothing is traced twice. Warnings about a student's own functions pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and _COMPILED_MARK in message)


# TensorFlow logs through the standard logger named "tensorflow" (what tf.get_logger() returns), so the
# filter can be installed before TensorFlow is imported.
logging.getLogger("tensorflow").addFilter(_CourseRetracingFilter())


@contextlib.contextmanager
def quiet_retracing() -> Iterator[None]:
    """Silence TensorFlow's "triggered tf.function retracing" warning inside the block.

    For code that compiles one function per *model* by design (a randomized
    copy of a network, one gradient function per class in shap): TensorFlow
    counts those as retraces of the same Python function and warns, though
    nothing is traced twice for the same model and shape.
    """
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        tf_logger.setLevel(level)
