"""LIME and SHAP, wrapped for the course's raw-pixel Keras models.

The notebooks should be about the ideas, so the bookkeeping lives here:

* :func:`lime_explanation` runs ``lime_image.LimeImageExplainer`` (Ribeiro,
  Singh and Guestrin 2016) with a compiled batched predict
  function, a seeded segmentation and sampling, and returns a
  :class:`LimeExplanation` that holds every superpixel's weight, so masks for
  any ``num_features`` are drawn later without running LIME again.
* :func:`shap_gradient_explanation` and :class:`GradientLayerExplainer` run
  ``shap.GradientExplainer`` (expected gradients: Lundberg and Lee 2017;
  Erion et al. 2021) at an inner layer of a Keras 3 model, by splitting the
  model at that layer with :func:`course_utils.models.split_model`: SHAP sees
  the ``tail`` (layer activations -> class scores) and the background as the
  ``head``'s activations. No TF1 session, no symbolic tensors.

Both follow the course's model contract: images are raw RGB pixels, float32
in [0, 255], and the model does its own preprocessing; the inputs are checked
by :mod:`course_utils._core`. The explanations are plain data: their figures
are drawn by :func:`course_utils.viz.plot_lime`, :func:`~course_utils.viz.plot_lime_weights`,
:func:`~course_utils.viz.plot_lime_superpixels` and :func:`~course_utils.viz.plot_shap_layers`.
Sizes have the full-mode defaults; a notebook passes its mode's
(``config.settings()``), this module never reads them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import time
import warnings
from typing import Any, Callable, Iterator, Mapping, Sequence, cast

import keras
import numpy as np

from course_utils import models
from course_utils._core import (
    Network,
    as_image_batch,
    check_classifier,
    chunks,
    compiled_function,
    image_specs,
    method_inputs,
    positive_int,
    predict_fn,
    quiet_retracing,
    real_array,
    real_number,
    shape_key,
    tracing_counts,
)

__all__ = [
    "IMAGENET_MEAN_RGB",
    "SEGMENTATION_DEFAULTS",
    "batched_predict",
    "segmentation_function",
    "LimeExplanation",
    "lime_explanation",
    "background_from_photos",
    "GradientLayerExplainer",
    "ShapLayerExplanation",
    "shap_gradient_explanation",
]

#: Mean ImageNet pixel (RGB). Caffe-style models (VGG) subtract it, so a
#: superpixel painted this color reaches the first convolution as zeros: the
#: closest thing to "no information" for them, and LIME's default fill here.
IMAGENET_MEAN_RGB: tuple[float, float, float] = (123.68, 116.779, 103.939)

#: Default parameters of each segmentation algorithm (scikit-image names).
#: Quickshift's are LIME's own defaults; SLIC starts its labels at 0 because
#: LIME assumes superpixel ids 0..n-1.
SEGMENTATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "quickshift": {"kernel_size": 4, "max_dist": 200, "ratio": 0.2},
    "slic": {"n_segments": 50, "compactness": 10.0, "start_label": 0},
    "felzenszwalb": {"scale": 100.0, "sigma": 0.5, "min_size": 50},
}


# --------------------------------------------------------------------------- validation helpers
def _checked_images(model: Any, images: Any, what: str) -> np.ndarray:
    """``images`` as a float32 batch (:func:`_core.as_image_batch`), checked against ``model``
    (:func:`_core.check_classifier`); a mismatch names the argument."""
    try:
        return method_inputs(model, images, targets="none", what=what).batch
    except ValueError as error:
        if str(error).startswith(what):  # the image checks name the argument themselves
            raise
        raise ValueError(f"{what}: {error}") from error


def _checked_model(model: Any) -> tuple[int | None, ...]:
    """The model contract of :func:`_core.check_classifier` with no images at hand; returns the input's ``(H, W, C)``.

    A probe of the model's own input shape stands in for the images (a
    broadcast zero: nothing is allocated), so only the model is judged.
    """
    inputs = (getattr(model, "inputs", None) or []) if isinstance(model, keras.Model) else []
    shape: tuple[int | None, ...] = tuple(inputs[0].shape[1:]) if inputs else (None, None, None)
    probe = (1, *(side or 1 for side in shape)) if len(shape) == 3 else (1, 1, 1, 3)
    check_classifier(model, np.broadcast_to(np.float32(0), probe))
    return shape


def _class_names_for(num_classes: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None:
        names = list(class_names)
        if len(names) != num_classes:
            raise ValueError(f"class_names has {len(names)} names but the model has {num_classes} outputs")
        return names
    if num_classes == 1000:
        from course_utils.data import imagenet_class_names

        return imagenet_class_names()
    return [f"class {i}" for i in range(num_classes)]


# --------------------------------------------------------------------------- LIME
def batched_predict(model: keras.Model, batch_size: int = 64) -> Callable[[np.ndarray], np.ndarray]:
    """A fast ``classifier_fn`` for LIME: one compiled forward pass per batch, traced once.

    LIME calls its classifier with ``batch_size`` perturbed images at a time.
    ``model.predict`` pays a per-call setup cost on every call; this function
    runs a ``tf.function`` whose batch dimension is ``None``, so the last,
    smaller batch runs on its own rows without a second trace (and without
    padding: 1000 samples in batches of 64 cost 1000 forward passes, not 1024).

    Parameters
    ----------
    model
        A Keras image classifier taking raw pixels.
    batch_size
        Most images per compiled call (match LIME's ``batch_size``); larger
        inputs are split into chunks of this size to bound memory.

    Returns
    -------
    callable
        ``predict(images) -> scores``: ``(n, H, W, C)`` array-like in, float32
        ``(n, classes)`` out, for any ``n``. The compiled function is the
        core's forward pass (:func:`course_utils._core.predict_fn`), kept per
        model and image shape and shared by every batch size and every other
        user of it (so :func:`course_utils._core.tracing_counts` sees it):
        repeated explanations (a notebook, a widget) trace only once.
    """
    image_shape = _checked_model(model)
    batch_size = positive_int("batch_size", batch_size)
    if None not in image_shape:
        # Trace now, so a caller that times the first call times the work, not the tracing.
        predict_fn(model, cast("tuple[int, int, int]", image_shape)).get_concrete_function()

    def predict(images: np.ndarray) -> np.ndarray:
        array = np.asarray(images, dtype=np.float32)
        if array.ndim != 4:
            raise ValueError(f"predict expects a batch (n, H, W, C), got shape {array.shape}")
        forward = predict_fn(model, array.shape[1:])
        outputs = [forward(array[part]).numpy() for part in chunks(len(array), batch_size)]
        return np.concatenate(outputs, axis=0) if outputs else np.zeros((0, 0), np.float32)

    def tracing_count() -> int:
        return sum(count for key, count in tracing_counts(model).items() if key.startswith("predict@"))

    # Lets tests and the benchmark check that any batch size keeps it to one trace.
    predict.tracing_count = tracing_count  # type: ignore[attr-defined]
    return predict


def segmentation_function(
    method: str = "quickshift", seed: int = 0, **params: Any
) -> Callable[[np.ndarray], np.ndarray]:
    """The superpixel segmentation LIME uses, on raw [0, 255] pixels.

    Wraps ``lime.wrappers.scikit_image.SegmentationAlgorithm``. scikit-image
    reads float images as [0, 1] (quickshift converts to Lab), so the image is
    scaled before segmenting; labels are renumbered to ``0..n-1`` because LIME
    treats superpixel ids as column numbers (SLIC's labels start at 1 by
    default, which would silently drop a superpixel).

    Parameters
    ----------
    method
        ``"quickshift"`` (LIME's default), ``"slic"`` or ``"felzenszwalb"``.
    seed
        Seeds quickshift's tie-breaking noise (the others are deterministic).
    **params
        scikit-image parameters that replace :data:`SEGMENTATION_DEFAULTS`.

    Returns
    -------
    callable
        ``segment(image) -> int labels (H, W)`` in ``0..n-1``.
    """
    from lime.wrappers.scikit_image import SegmentationAlgorithm
    from skimage import segmentation as skseg

    if method not in SEGMENTATION_DEFAULTS:
        raise ValueError(f"Unknown segmentation {method!r}; use one of {', '.join(SEGMENTATION_DEFAULTS)}")
    seed = positive_int("seed", seed, 0)
    target = getattr(skseg, method)
    accepted = inspect.signature(target).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"{method} has no parameter {', '.join(unknown)}; its parameters are "
            f"{', '.join(p for p in accepted if p != 'image')}"
        )
    merged = {**SEGMENTATION_DEFAULTS[method], **params}
    if method == "quickshift" and "rng" in accepted:
        # scikit-image >= 0.23 calls quickshift's seed `rng`; LIME still passes
        # `random_seed`, which its wrapper then drops, so set it by name.
        merged.setdefault("rng", int(seed))
    algorithm = SegmentationAlgorithm(method, **merged)

    def segment(image: np.ndarray) -> np.ndarray:
        scaled = np.asarray(image, dtype=np.float64) / 255.0
        labels = np.asarray(algorithm(scaled))
        _, dense = np.unique(labels, return_inverse=True)
        return dense.reshape(labels.shape).astype(np.int64)

    segment.method = method  # type: ignore[attr-defined]
    segment.params = merged  # type: ignore[attr-defined]
    return segment


@contextlib.contextmanager
def _lime_progress(show: bool) -> Iterator[None]:
    """Silence LIME's per-sample progress bar unless asked for.

    ``lime_image`` calls ``tqdm`` unconditionally; a bar per explanation
    clutters notebooks and CI logs, so its module-level name is pointed at a
    disabled tqdm for the duration of the call.
    """
    if show:
        yield
        return
    from lime import lime_image
    from tqdm.auto import tqdm

    original = lime_image.tqdm
    lime_image.tqdm = functools.partial(tqdm, disable=True)
    try:
        yield
    finally:
        lime_image.tqdm = original


@dataclasses.dataclass
class LimeExplanation:
    """What LIME found for one image: superpixels and one weight per superpixel and label.

    Attributes
    ----------
    image : np.ndarray
        float32 ``(H, W, 3)`` raw pixels that were explained.
    segments : np.ndarray
        int ``(H, W)`` superpixel id of every pixel, ids ``0..n-1``.
    top_labels : list of int
        The model's top classes for the image, best first.
    labels : list of int
        Every explained class (the top labels plus any asked for).
    class_names : dict
        class index -> name, for the explained classes.
    scores : np.ndarray
        ``(classes,)`` model scores of the unperturbed image.
    weights : dict
        class index -> float ``(n,)``: the weight of the local linear model
        for each superpixel (positive: evidence for the class).
    intercepts : dict
        class index -> intercept of the local linear model.
    num_samples, batch_size, seed, segmentation, hide_color, seconds
        How it was computed, and how long LIME took.
    num_features : int
        Default number of superpixels in masks and plots.
    lime : lime.lime_image.ImageExplanation
        LIME's own object, for anything not wrapped here.
    """

    image: np.ndarray
    segments: np.ndarray
    top_labels: list[int]
    labels: list[int]
    class_names: dict[int, str]
    scores: np.ndarray
    weights: dict[int, np.ndarray]
    intercepts: dict[int, float]
    num_samples: int
    batch_size: int
    seed: int
    segmentation: str
    hide_color: Any
    num_features: int
    seconds: float
    lime: Any = dataclasses.field(repr=False)

    @property
    def num_superpixels(self) -> int:
        """How many superpixels the image was cut into."""
        return int(self.segments.max()) + 1

    def _label(self, label: int | None) -> int:
        if label is None:
            return self.top_labels[0]
        if int(label) not in self.weights:
            raise KeyError(
                f"class {label} was not explained; explained classes: {self.labels}. "
                "Pass labels=[...] to lime_explanation to explain others."
            )
        return int(label)

    def _num_features(self, num_features: int | None) -> int:
        if num_features is None:
            return self.num_features
        return positive_int("num_features", num_features)

    def ranked_superpixels(self, label: int | None = None) -> np.ndarray:
        """Superpixel ids from strongest evidence for ``label`` to strongest against."""
        return np.argsort(-self.weights[self._label(label)], kind="stable")

    def weight_map(self, label: int | None = None) -> np.ndarray:
        """float ``(H, W)``: each pixel carries its superpixel's weight for ``label``."""
        return self.weights[self._label(label)][self.segments]

    def image_and_mask(
        self,
        label: int | None = None,
        num_features: int | None = None,
        positive_only: bool = True,
        hide_rest: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """LIME's ``get_image_and_mask`` for a class, from the cached weights.

        Parameters
        ----------
        label
            Class to show; ``None`` is the top class.
        num_features
            How many superpixels: with ``positive_only`` the ones with the
            largest positive weights, otherwise the largest |weights|, for
            and against; default ``self.num_features``.
        positive_only
            Only superpixels that support the class (mask 1), else pros (1)
            and cons (-1), with pros tinted green and cons red in the image.
        hide_rest
            Black out everything outside the chosen superpixels.

        Returns
        -------
        image, mask
            float ``(H, W, 3)`` in [0, 255] and int ``(H, W)``.
        """
        return self.lime.get_image_and_mask(
            self._label(label),
            positive_only=bool(positive_only),
            negative_only=False,
            hide_rest=bool(hide_rest),
            num_features=self._num_features(num_features),
        )

    def positive_mask(self, label: int | None = None, num_features: int | None = None) -> np.ndarray:
        """bool ``(H, W)``: the top superpixels with positive weight."""
        return self.image_and_mask(label, num_features, positive_only=True)[1] > 0

    def pros_and_cons_mask(self, label: int | None = None, num_features: int | None = None) -> np.ndarray:
        """int ``(H, W)``: +1 for the top superpixels that support ``label``, -1 for those against."""
        return self.image_and_mask(label, num_features, positive_only=False)[1].astype(np.int64)

    def hidden_rest_image(self, label: int | None = None, num_features: int | None = None) -> np.ndarray:
        """uint8 ``(H, W, 3)``: only the top positive superpixels, the rest black."""
        image, _ = self.image_and_mask(label, num_features, positive_only=True, hide_rest=True)
        return np.rint(np.clip(image, 0, 255)).astype(np.uint8)


class _LabelsRankedOnOriginal:
    """The classes LIME fits, ranked on the scores LIME itself computes for the original image.

    ``lime_image`` scores all its samples before it iterates over ``labels``,
    and its first sample is the unperturbed image (every superpixel on). So
    the top classes can be read from that first row instead of costing a
    forward pass of their own: this object is the ``classifier_fn`` (it keeps
    the first row) and the ``labels`` (iterated only after the samples).
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], top_labels: int, extra: Sequence[int]) -> None:
        self._predict = predict
        self._top_labels = top_labels
        self._extra = list(dict.fromkeys(extra))
        self._scores: np.ndarray | None = None

    def predict(self, images: np.ndarray) -> np.ndarray:
        scores = self._predict(images)
        if self._scores is None:
            self._scores = scores[0].copy()
        return scores

    @property
    def scores(self) -> np.ndarray:
        if self._scores is None:
            raise RuntimeError("lime_image asked for the labels before scoring the original image")
        return self._scores

    @property
    def ranked(self) -> list[int]:
        return [int(i) for i in np.argsort(-self.scores, kind="stable")[: self._top_labels]]

    @property
    def explained(self) -> list[int]:
        ranked = self.ranked
        return ranked + [label for label in self._extra if label not in ranked]

    def __iter__(self) -> Iterator[int]:
        return iter(self.explained)


def lime_explanation(
    model: keras.Model,
    image: Any,
    *,
    top_labels: int = 5,
    labels: Sequence[int] | None = None,
    num_samples: int = 1000,
    batch_size: int = 64,
    num_features: int = 5,
    segmentation: str = "quickshift",
    segmentation_params: Mapping[str, Any] | None = None,
    hide_color: float | Sequence[float] | None = IMAGENET_MEAN_RGB,
    kernel_width: float = 0.25,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    progress: bool = False,
) -> LimeExplanation:
    """Explain one prediction with LIME (Ribeiro, Singh and Guestrin 2016).

    LIME cuts the image into superpixels, draws ``num_samples`` random on/off
    patterns (an "off" superpixel is painted ``hide_color``), asks the model
    for each perturbed image, and fits a weighted linear model (ridge) from
    the on/off pattern to the class score, weighting samples by their cosine
    proximity to the original. The linear model's coefficients are the
    superpixel weights.

    Every superpixel's weight is kept (LIME's ``feature_selection="none"``),
    so masks and plots for any ``num_features`` are drawn later from the
    cached explanation; choosing the top ``num_features`` by |weight| is what
    ``lime_image`` does with its defaults.

    Parameters
    ----------
    model
        Keras classifier taking raw RGB pixels ``(N, H, W, 3)`` in [0, 255].
    image
        One image ``(H, W, 3)`` (or a batch of one) in [0, 255], the size the
        model expects.
    top_labels
        Explain this many of the model's top classes (at most all of them: a
        larger number is clamped to the number of classes, as ``lime_image`` does).
    labels
        Further classes to explain (e.g. the expected class of a wrong prediction).
    num_samples
        Perturbed images to score, at least 2; the cost is ``num_samples``
        forward passes. Default 1000, the full-mode size
        (``config.settings().lime_samples``; notebooks pass their mode's).
    batch_size
        Images per model call (at most ``num_samples`` are used); default 64.
        The compiled predict function is traced once per model.
    num_features
        Default number of superpixels in masks and plots; default 5.
    segmentation
        ``"quickshift"`` (default, as LIME), ``"slic"`` or ``"felzenszwalb"``.
    segmentation_params
        scikit-image parameters for the segmentation (see :data:`SEGMENTATION_DEFAULTS`).
    hide_color
        Color of switched-off superpixels: a gray level, an RGB triple in
        [0, 255], or ``None`` for each superpixel's mean color (LIME's own
        default). Default: the ImageNet mean pixel (zeros after VGG's preprocessing).
    kernel_width
        Width of LIME's exponential proximity kernel on cosine distance.
    seed
        Seeds the sampling and the segmentation: the same call gives the same
        superpixels and weights.
    class_names
        Names of the model's classes; ImageNet names for 1000 outputs by default.
    progress
        Show LIME's progress bar.

    Returns
    -------
    LimeExplanation
    """
    from lime import lime_image

    pixels = _lime_pixels(model, image)
    num_samples = positive_int("num_samples", num_samples, 2)
    batch_size = positive_int("batch_size", batch_size)
    num_features = positive_int("num_features", num_features)
    top_labels = positive_int("top_labels", top_labels)
    seed = positive_int("seed", seed, 0)
    kernel_width = real_number("kernel_width", kernel_width, 0.0, strict=True)
    hide_color = _lime_hide_color(hide_color)
    names, top_labels, extra = _lime_classes(model, top_labels, labels, class_names)
    segmenter = segmentation_function(segmentation, seed, **dict(segmentation_params or {}))

    # What LIME will actually use (recorded in the explanation).
    batch_size = min(batch_size, num_samples)
    labels_to_fit = _LabelsRankedOnOriginal(batched_predict(model, batch_size), top_labels, extra)
    explainer = lime_image.LimeImageExplainer(kernel_width=kernel_width, feature_selection="none", random_state=seed)
    start = time.perf_counter()
    with _lime_progress(progress):
        raw = explainer.explain_instance(
            pixels,
            labels_to_fit.predict,
            labels=labels_to_fit,
            hide_color=hide_color,
            top_labels=None,
            num_features=100_000,
            num_samples=num_samples,
            batch_size=batch_size,
            segmentation_fn=segmenter,
            random_seed=seed,
        )
    seconds = time.perf_counter() - start
    scores, ranked, explained = labels_to_fit.scores, labels_to_fit.ranked, labels_to_fit.explained
    raw.top_labels = ranked
    return LimeExplanation(
        image=pixels,
        segments=raw.segments,
        top_labels=ranked,
        labels=explained,
        class_names={label: names[label] for label in explained},
        scores=scores,
        weights=_dense_weights(raw, explained),
        intercepts={label: float(raw.intercept[label]) for label in explained},
        num_samples=num_samples,
        batch_size=batch_size,
        seed=seed,
        segmentation=segmentation,
        hide_color=hide_color,
        num_features=num_features,
        seconds=seconds,
        lime=raw,
    )


def _lime_pixels(model: keras.Model, image: Any) -> np.ndarray:
    """The one image LIME explains, float32 ``(H, W, 3)``, checked against the model."""
    array = real_array("image", image, dtype=None)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise ValueError(
            f"image must be one RGB image (H, W, 3) in [0, 255], got shape {np.asarray(image).shape}; "
            "LIME explains one image at a time, so loop over a batch."
        )
    return _checked_images(model, array, what="image")[0]


def _lime_hide_color(hide_color: float | Sequence[float] | None) -> float | tuple[float, ...] | None:
    """``hide_color`` checked and made plain: ``None``, a gray level or an RGB triple in [0, 255]."""
    if hide_color is None:
        return None
    fill = np.asarray(hide_color, dtype=np.float64)
    if fill.shape not in ((), (3,)) or fill.min() < 0 or fill.max() > 255:
        raise ValueError(f"hide_color must be None, a gray level or an RGB triple in [0, 255], got {hide_color!r}")
    return float(fill) if fill.ndim == 0 else tuple(float(v) for v in fill)


def _lime_classes(
    model: keras.Model, top_labels: int, labels: Sequence[int] | None, class_names: Sequence[str] | None
) -> tuple[list[str], int, list[int]]:
    """The class names, the number of top classes to explain (clamped) and the further classes asked for."""
    output_shape = tuple(model.outputs[0].shape)
    if len(output_shape) != 2 or output_shape[-1] is None:
        raise ValueError(f"model {model.name!r} must return class scores (N, classes), not {output_shape}")
    num_classes = int(output_shape[-1])
    names = _class_names_for(num_classes, class_names)
    requested = None if labels is None else models.validate_class_index(list(labels), num_classes, len(labels))
    extra = [] if requested is None else [int(v) for v in requested]
    # As lime_image does: a 2-class model explains its 2 classes, whatever the default of 5.
    return names, min(top_labels, num_classes), extra


def _dense_weights(raw: Any, labels: Sequence[int]) -> dict[int, np.ndarray]:
    """Per label, one weight per superpixel (0 where LIME's sparse ``local_exp`` has none)."""
    count = int(raw.segments.max()) + 1
    weights = {}
    for label in labels:
        dense = np.zeros(count, dtype=np.float64)
        for feature, weight in raw.local_exp[label]:
            dense[int(feature)] = float(weight)
        weights[label] = dense
    return weights


# --------------------------------------------------------------------------- SHAP
def background_from_photos(
    count: int,
    size: int | tuple[int, int] = 224,
    seed: int = 0,
    photos: Mapping[str, np.ndarray] | Sequence[np.ndarray] | None = None,
    exclude: Sequence[str] = (),
    min_crop: float = 0.5,
) -> np.ndarray:
    """A SHAP background set made offline: random crops and flips of real photos.

    Expected gradients integrates from background images to the input, so the
    background should look like the data the model sees. Without a dataset at
    hand (``shap.datasets.imagenet50`` needs a download), random crops of the
    offline sample photos, half of them mirrored, are a reasonable stand-in.

    Parameters
    ----------
    count
        How many background images.
    size
        Output height and width (an int for a square).
    seed
        Seeds the crops and flips.
    photos
        Source photos (uint8 or [0, 255] floats); default
        :func:`course_utils.data.sample_images`.
    exclude
        Names of photos to leave out (e.g. the ones being explained).
    min_crop
        Smallest crop side as a fraction of the photo's shorter side, in (0, 1].

    Returns
    -------
    np.ndarray
        float32 ``(count, height, width, 3)`` raw pixels in [0, 255].
    """
    from PIL import Image

    count = positive_int("count", count)
    if isinstance(size, (bool, str, bytes, float)) or not isinstance(size, (int, np.integer, tuple, list)):
        raise TypeError(f"size must be an int or a (height, width) pair of ints, got {size!r}")
    seed = positive_int("seed", seed, 0)
    height, width = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    height = positive_int("size (height)", height)
    width = positive_int("size (width)", width)
    min_crop = real_number("min_crop", min_crop, 0.0, 1.0, strict=True)
    if photos is None:
        from course_utils.data import sample_images

        photos = sample_images()
    if isinstance(photos, Mapping):
        unknown = sorted(set(exclude) - set(photos))
        if unknown:
            raise ValueError(f"exclude names unknown photos {unknown}; photos: {sorted(photos)}")
        sources = [np.asarray(p) for name, p in photos.items() if name not in set(exclude)]
    else:
        sources = [np.asarray(p) for p in photos]
    if not sources:
        raise ValueError("background_from_photos needs at least one photo (after exclude)")
    for photo in sources:
        if photo.ndim != 3 or photo.shape[-1] != 3:
            raise ValueError(f"photos must be RGB images (H, W, 3), got shape {photo.shape}")
    # The core's pixel check, then uint8 for PIL's resampling.
    sources = [np.round(as_image_batch(photo, what="photos")[0]).astype(np.uint8) for photo in sources]
    rng = np.random.default_rng(seed)
    background = np.empty((count, height, width, 3), dtype=np.float32)
    for i in range(count):
        photo = sources[i % len(sources)]
        side = min(photo.shape[:2])
        crop = max(1, int(round(side * rng.uniform(min_crop, 1.0))))
        top = int(rng.integers(0, photo.shape[0] - crop + 1))
        left = int(rng.integers(0, photo.shape[1] - crop + 1))
        patch = Image.fromarray(photo[top : top + crop, left : left + crop])
        patch = patch.resize((width, height), Image.Resampling.BILINEAR)
        array = np.asarray(patch, dtype=np.float32)
        background[i] = array[:, ::-1] if rng.random() < 0.5 else array
    return background


@dataclasses.dataclass
class ShapLayerExplanation:
    """Expected-gradients SHAP values at an inner layer, for the top-ranked classes.

    Shapes use ``N`` images, ``R`` ranked classes and the layer's output
    ``(h, w, c)``. As in shap 0.51, the rank axis comes last (shap >= 0.45
    returns one array, not a list of per-output arrays).

    Attributes
    ----------
    images : np.ndarray
        float32 ``(N, H, W, 3)`` explained images (raw pixels).
    layer : str
        Name of the layer whose output is explained.
    values : np.ndarray
        float ``(N, h, w, c, R)``: SHAP value of every activation for each ranked class.
    class_indices : np.ndarray
        int ``(N, R)``: the explained classes, the model's top ``R`` per image.
    class_names : list of lists of str
        ``(N, R)`` names of those classes.
    outputs : np.ndarray
        ``(N, R)`` model output for each explained class.
    expected_outputs : np.ndarray
        ``(N, R)`` mean model output over the background for those classes.
    nsamples, seed : int
        Monte-Carlo samples per image and class, and the seed.
    """

    images: np.ndarray
    layer: str
    values: np.ndarray
    class_indices: np.ndarray
    class_names: list[list[str]]
    outputs: np.ndarray
    expected_outputs: np.ndarray
    nsamples: int
    seed: int

    @property
    def spatial(self) -> np.ndarray:
        """``(N, h, w, R)``: SHAP values summed over channels, on the layer's spatial grid."""
        return self.values.sum(axis=3)

    @property
    def totals(self) -> np.ndarray:
        """``(N, R)``: sum of all SHAP values (additivity: ~ ``outputs - expected_outputs``)."""
        return self.values.reshape(self.values.shape[0], -1, self.values.shape[-1]).sum(axis=1)

    @property
    def additivity_gap(self) -> np.ndarray:
        """``(N, R)``: ``totals - (outputs - expected_outputs)``, the Monte-Carlo error."""
        return self.totals - (self.outputs - self.expected_outputs)


def _share_one_gradient_function(explainer: Any, tail: keras.Model) -> None:
    """Give every class of a ``shap.GradientExplainer`` one compiled gradient function, the class a tensor.

    shap's TensorFlow backend keeps a list ``gradients`` with one
    ``tf.function`` per output, traced the first time its class is explained
    (a retrace per Python value: about 0.2 s for VGG16's tail on two cores,
    paid again for each image's top classes and each class a widget asks
    for). Filling that list with one function of ``(activations, class)``,
    built in the core's cache, traces once per tail instead. Same computation: the
    gradient of ``tail(a)[:, class]`` with respect to ``a``, summed over the
    batch as shap's own function does. Where shap keeps its functions
    elsewhere (another version), nothing is changed and shap compiles its own.
    """
    import tensorflow as tf

    backend = getattr(explainer, "explainer", None)
    gradients = getattr(backend, "gradients", None)
    num_classes = int(tail.outputs[0].shape[-1])
    if not isinstance(gradients, list) or len(gradients) != num_classes or any(g is not None for g in gradients):
        return
    # The activations' own dtype: bfloat16 when the model computes in it (models.with_precision).
    activation_spec = tf.TensorSpec((None, *tail.inputs[0].shape[1:]), tail.inputs[0].dtype)

    def make(network: Network) -> Callable[..., Any]:
        def class_gradient(activations: tf.Tensor, class_index: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(activations)
                scores = tf.cast(network()(activations, training=False), tf.float32)
                chosen = tf.gather(scores, class_index, axis=1)
            return tape.gradient(chosen, activations)

        return class_gradient

    signature = [activation_spec, tf.TensorSpec((), tf.int32)]
    class_gradient = compiled_function(tail, "shap_class_gradient", signature, make)

    def for_class(class_index: int) -> Callable[[list], list]:
        # shap calls it with a one-element list of inputs and indexes the result per input.
        return lambda inputs: [class_gradient(inputs[0], tf.constant(class_index, tf.int32))]

    gradients[:] = [for_class(k) for k in range(num_classes)]


class GradientLayerExplainer:
    """``shap.GradientExplainer`` at an inner layer of a Keras 3 model, built once.

    The model is split at ``layer`` (:func:`course_utils.models.split_model`,
    which also reaches layers inside nested models): SHAP differentiates the
    ``tail`` (layer activations -> class scores) and its background is the
    ``head``'s activations of the background images. Building this object
    splits the model and runs the background once; each :meth:`explain` call
    reuses both, and shap's compiled gradient functions, so widgets stay fast.

    Expected gradients (Erion et al. 2021; Lundberg and Lee 2017) attributes
    ``f(a) - E_b[f(b)]`` to the activations ``a`` as the expectation, over a
    background activation ``b`` and ``t ~ U(0, 1)``, of
    ``(a - b) * grad f(b + t (a - b))``, estimated with ``nsamples`` draws.

    Parameters
    ----------
    model
        Keras classifier taking raw RGB pixels.
    layer
        Name (or object) of the layer whose output is explained.
    background
        float ``(B, H, W, 3)`` raw-pixel background images, ``B >= 1``
        (e.g. :func:`background_from_photos`).
    batch_size
        Samples per gradient call inside shap.
    local_smoothing
        Std of Gaussian noise added to the input activations (SmoothGrad-like), 0 for none.
    class_names
        Names of the model's classes; ImageNet names for 1000 outputs by default.
    """

    def __init__(
        self,
        model: keras.Model,
        layer: str | keras.layers.Layer,
        background: Any,
        batch_size: int = 50,
        local_smoothing: float = 0.0,
        class_names: Sequence[str] | None = None,
    ) -> None:
        import shap

        _checked_model(model)
        self.model: keras.Model = model
        self.layer = models.find_layer(self.model, layer).name
        background_array = np.asarray(background)
        if background_array.size == 0:
            raise ValueError(
                "background is empty: expected gradients needs at least one background image "
                "(B, H, W, 3) in [0, 255]; build some with background_from_photos(count)."
            )
        self.batch_size = positive_int("batch_size", batch_size)
        local_smoothing = real_number("local_smoothing", local_smoothing, 0.0)
        self.background = _checked_images(self.model, background_array, what="background")
        self.head, self.tail = models.split_model(self.model, self.layer)
        self.background_activations, background_outputs = self._activations_and_scores(self.background)
        #: ``(classes,)`` mean model output over the background: SHAP's base value.
        self.expected_value = background_outputs.mean(axis=0)
        self.class_names = _class_names_for(background_outputs.shape[1], class_names)
        self._shap = shap.GradientExplainer(
            self.tail, self.background_activations, batch_size=self.batch_size, local_smoothing=local_smoothing
        )
        _share_one_gradient_function(self._shap, self.tail)

    def _activations_and_scores(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The layer's activations (in the model's compute dtype: bfloat16 stays bfloat16, as shap gets it) and
        the float32 scores of checked pixels, in one compiled pass of head and tail per batch."""
        import tensorflow as tf

        head, tail = self.head, self.tail

        def make(network: Network) -> Callable[..., Any]:
            def activations_and_scores(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                activations = network()(images, training=False)
                return activations, tf.cast(tail(activations, training=False), tf.float32)

            return activations_and_scores

        shape = pixels.shape[1:]
        both = compiled_function(head, f"shap_head_and_tail@{shape_key(shape)}", image_specs(shape)[:1], make)
        parts = [both(pixels[part]) for part in chunks(len(pixels), self.batch_size)]
        return (
            np.concatenate([activations.numpy() for activations, _ in parts]),
            np.concatenate([scores.numpy() for _, scores in parts]),
        )

    @property
    def layer_shape(self) -> tuple[int, ...]:
        """Shape of one image's activations at the layer, e.g. ``(56, 56, 128)``."""
        return tuple(self.background_activations.shape[1:])

    def explain(self, images: Any, ranked_outputs: int = 2, nsamples: int = 200, seed: int = 0) -> ShapLayerExplanation:
        """SHAP values at the layer for each image's top ``ranked_outputs`` classes.

        Parameters
        ----------
        images
            float ``(N, H, W, 3)`` raw pixels (or one image ``(H, W, 3)``).
        ranked_outputs
            How many top classes to explain per image.
        nsamples
            Monte-Carlo samples per image and class; the estimate's error
            shrinks like ``1 / sqrt(nsamples)``. Default 200, the full-mode size
            (``config.settings().shap_nsamples``; notebooks pass their mode's).
        seed
            Seeds shap's choice of background samples and path points.

        Returns
        -------
        ShapLayerExplanation
        """

        pixels = _checked_images(self.model, images, what="images")
        num_classes = len(self.class_names)
        ranked_outputs = positive_int("ranked_outputs", ranked_outputs)
        if ranked_outputs > num_classes:
            raise ValueError(
                f"ranked_outputs must be at most the number of classes ({num_classes}), got {ranked_outputs}"
            )
        nsamples = positive_int("nsamples", nsamples)
        seed = positive_int("seed", seed, 0)
        activations, scores = self._activations_and_scores(pixels)
        # shap reseeds NumPy's global generator (np.random.seed(rseed)); restore
        # it so a notebook's own random stream does not depend on this call.
        state = np.random.get_state()
        try:
            # shap compiles one gradient function per explained class by design.
            with warnings.catch_warnings(), quiet_retracing():
                # shap hands the single-input tail a one-element list; Keras warns, harmlessly.
                warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't match")
                values, indices = self._shap.shap_values(
                    activations, nsamples=nsamples, ranked_outputs=ranked_outputs, output_rank_order="max", rseed=seed
                )
        finally:
            np.random.set_state(state)
        values = np.asarray(values)
        if values.ndim == activations.ndim:  # a single-output model gives no rank axis
            values = values[..., None]
        indices = np.asarray(indices, dtype=np.int64).reshape(len(pixels), -1)
        return ShapLayerExplanation(
            images=pixels,
            layer=self.layer,
            values=values,
            class_indices=indices,
            class_names=[[self.class_names[i] for i in row] for row in indices],
            outputs=np.take_along_axis(scores, indices, axis=1),
            expected_outputs=self.expected_value[indices],
            nsamples=nsamples,
            seed=seed,
        )


def shap_gradient_explanation(
    model: keras.Model,
    images: Any,
    layer: str | keras.layers.Layer,
    background: Any,
    ranked_outputs: int = 2,
    nsamples: int = 200,
    seed: int = 0,
    batch_size: int = 50,
    local_smoothing: float = 0.0,
    class_names: Sequence[str] | None = None,
) -> ShapLayerExplanation:
    """Expected-gradients SHAP values at an inner layer (Lundberg and Lee 2017; Erion et al. 2021).

    One-shot form of :class:`GradientLayerExplainer`; build that object
    instead when explaining several batches at the same layer.

    Parameters
    ----------
    model
        Keras classifier taking raw RGB pixels (the layer may sit in a nested model).
    images
        float ``(N, H, W, 3)`` raw pixels in [0, 255].
    layer
        Name of the layer whose output is explained, e.g. ``"block2_pool"``.
    background
        float ``(B, H, W, 3)`` raw-pixel background images, ``B >= 1``.
    ranked_outputs
        How many of each image's top classes to explain.
    nsamples
        Monte-Carlo samples per image and class; default 200, the full-mode
        size (``config.settings().shap_nsamples``; notebooks pass their mode's).
    seed, batch_size, local_smoothing, class_names
        See :class:`GradientLayerExplainer` and :meth:`GradientLayerExplainer.explain`.

    Returns
    -------
    ShapLayerExplanation
        ``values`` ``(N, h, w, c, R)``, ``spatial`` ``(N, h, w, R)``,
        ``class_indices`` and ``class_names`` ``(N, R)``.
    """
    explainer = GradientLayerExplainer(
        model, layer, background, batch_size=batch_size, local_smoothing=local_smoothing, class_names=class_names
    )
    return explainer.explain(images, ranked_outputs=ranked_outputs, nsamples=nsamples, seed=seed)
