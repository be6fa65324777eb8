"""Pixel attributions for image classifiers: gradients, Grad-CAM, IG, SmoothGrad, occlusion.

Every method follows one calling convention (as captum does)::

    fn(model, images, class_index=None, ...) -> numpy array

* ``model`` follows the course's model contract (docs/architecture.md): it
  takes raw RGB pixels, float32 NHWC in [0, 255], and returns class scores
  ``(N, classes)``; preprocessing lives inside the model, so attributions line
  up with pixels.
* ``images`` is ``(N, H, W, 3)`` or one ``(H, W, 3)`` image, in [0, 255]; any
  real dtype is accepted and converted to float32 (see :func:`as_image_batch`).
* ``class_index=None`` explains the top predicted class of each image; an int
  explains that class for every image; a sequence gives one class per image.
* The result is a numpy array with one entry per image, even for one image.

What "score" means
------------------
The score of class ``c`` is column ``c`` of the model output. For the
course's softmax models that is the class *probability* ``p_c``, which is
what the source documents differentiate (the keras.io Integrated Gradients
example, tf-explain), and IG's completeness then holds for the probability
difference. The papers often use the pre-softmax logit ``z_c`` instead. The
two differ by the softmax's Jacobian: ``dp_c/dz_c = p_c (1 - p_c)`` and
``dp_c/dz_j = -p_c p_j`` for every other class ``j``. So the probability's
gradient also carries the competition between classes, and for a confident
prediction, where ``p_c`` rounds to 1.0 in float32, the first term is exactly
0 while the others are not: the gradient then reflects only the competing
classes, not evidence for ``c``. :func:`grad_cam` therefore differentiates
the logit by default (``use_logits=True``, as the paper does).

Batching and compilation
------------------------
Interpolation steps (IG), noisy samples (SmoothGrad) and occluded copies
(occlusion) go through the model in chunks of ``batch_size`` inside
``tf.function`` s. Each compiled function is cached per model and per input
shape and has a ``None`` batch dimension; Python numbers (steps, classes,
noise level, patch size) enter as tensors, so a function is traced once per
input shape, never once per call or per value. :func:`tracing_counts` shows
the counts. Results do not depend on ``batch_size`` (up to float rounding).

References
----------
Simonyan, Vedaldi & Zisserman (2014). Deep Inside Convolutional Networks:
    Visualising Image Classification Models and Saliency Maps. ICLR workshop.
Zeiler & Fergus (2014). Visualizing and Understanding Convolutional Networks. ECCV.
Springenberg, Dosovitskiy, Brox & Riedmiller (2015). Striving for Simplicity:
    The All Convolutional Net. ICLR workshop (Guided Backpropagation).
Adebayo et al. (2018). Sanity Checks for Saliency Maps. NeurIPS.
Selvaraju et al. (2017). Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization. ICCV.
Sundararajan, Taly & Yan (2017). Axiomatic Attribution for Deep Networks. ICML.
Smilkov et al. (2017). SmoothGrad: removing noise by adding noise. arXiv:1706.03825.
Sturmfels, Lundberg & Lee (2020). Visualizing the Impact of Feature Attribution
    Baselines. Distill.
"""

from __future__ import annotations

from typing import Any, Iterator

import keras
import numpy as np
import tensorflow as tf

from course_utils import image_io, models
from course_utils._core import (
    CompiledFunction,
    MethodInputs,
    Network,
    as_image_batch,
    tracing_counts,
)
from course_utils._core import chunks as _chunks
from course_utils._core import compiled as _compiled
from course_utils._core import compiled_function as _compiled_function
from course_utils._core import image_specs as _image_specs
from course_utils._core import method_inputs as _method_inputs
from course_utils._core import positive_int as _positive_int
from course_utils._core import predict as _predict
from course_utils._core import real_array as _real_array
from course_utils._core import real_number as _real_number
from course_utils._core import select_scores as _select_scores
from course_utils._core import shape_key as _shape_key

__all__ = [
    "BASELINE_KINDS",
    "as_image_batch",
    "vanilla_gradients",
    "grad_cam",
    "guided_backprop",
    "guided_grad_cam",
    "make_baseline",
    "interpolate_path",
    "path_gradients",
    "integrated_gradients",
    "completeness",
    "smoothgrad",
    "occlusion_sensitivity",
    "patch_starts",
    "layer_activations",
    "tracing_counts",
]

#: Baselines :func:`make_baseline` knows, besides a user-given array.
BASELINE_KINDS: tuple[str, ...] = ("black", "white", "random", "blurred")

_ZERO = tf.UnconnectedGradients.ZERO


_CLASS_ROWS = tf.TensorSpec((None,), tf.int32)


def _gradients_fn(model: keras.Model, shape: tuple[int, int, int]) -> CompiledFunction:
    def make(network: Network) -> Any:
        def gradients(images: tf.Tensor, class_indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(images)
                selected = _select_scores(network()(images, training=False), class_indices)
            return selected, tape.gradient(selected, images, unconnected_gradients=_ZERO)

        return gradients

    signature = [_image_specs(shape)[0], _CLASS_ROWS]
    return _compiled_function(model, f"gradients@{_shape_key(shape)}", signature, make)


def _score_and_gradients(
    model: keras.Model, batch: np.ndarray, classes: np.ndarray, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    gradients = _gradients_fn(model, batch.shape[1:])
    scores, grads = [], []
    for part in _chunks(len(batch), batch_size):
        score, grad = gradients(batch[part], classes[part])
        scores.append(score.numpy())
        grads.append(grad.numpy())
    return np.concatenate(scores), np.concatenate(grads)


# --------------------------------------------------------------------------- vanilla gradients
def vanilla_gradients(
    model: keras.Model, images: Any, class_index: Any = None, batch_size: int = 32, use_logits: bool = False
) -> np.ndarray:
    """Gradient of the class score with respect to every input pixel.

    The saliency map of Simonyan, Vedaldi & Zisserman (2014): how much the
    score changes when one pixel value changes a little.

    Parameters
    ----------
    model
        Classifier on raw pixels in [0, 255] returning ``(N, classes)`` scores.
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    class_index
        None (top class of each image), an int, or one int per image.
    batch_size
        Images per model call.
    use_logits
        Differentiate the class logit ``z_c`` (the paper's score, and what
        :func:`guided_backprop` differentiates) instead of the model's output
        column (the probability, the default of the source documents).

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W, 3)``, d score / d pixel.
    """
    given = _method_inputs(model, images, class_index, batch_size, targets="deferred")
    target = models.logits_getter(model)() if use_logits else model
    return _score_and_gradients(target, given.batch, given.classes, given.batch_size)[1]


# --------------------------------------------------------------------------- Grad-CAM
def _layer_name(model: keras.Model, layer: Any) -> str:
    return models.last_conv_layer(model) if layer is None else models.find_layer(model, layer).name


def _spatial_layer_model(model: keras.Model, name: str) -> keras.Model:
    """Model from the pixels to ``[activations of name, scores]``, nested layers included."""
    both = models.layer_output_model(model, name)
    if len(both.outputs[0].shape) != 4:
        raise ValueError(
            f"Layer {name!r} outputs shape {tuple(both.outputs[0].shape)}, but Grad-CAM and "
            "activation maps need a spatial (N, h, w, channels) output. "
            f"Convolutional layers of this model: {', '.join(models.conv_layer_names(model))}"
        )
    return both


def _grad_cam_fn(model: keras.Model, name: str, shape: tuple[int, int, int], use_logits: bool) -> CompiledFunction:
    height, width = shape[:2]

    def make(network: Network) -> Any:
        both = _spatial_layer_model(models.logits_model(network()) if use_logits else network(), name)

        def cam(images: tf.Tensor, class_indices: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                # Watching the pixels records every op, even in a frozen model.
                tape.watch(images)
                activations, scores = both(images, training=False)
                selected = _select_scores(scores, class_indices)
            grads = tape.gradient(selected, activations, unconnected_gradients=_ZERO)
            activations = tf.cast(activations, tf.float32)
            channel_weights = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2))
            maps = tf.nn.relu(tf.einsum("bhwc,bc->bhw", activations, channel_weights))
            peak = tf.reduce_max(maps, axis=(1, 2), keepdims=True)
            # No positive evidence (peak 0) gives an all-zero map, not 0/0 = NaN.
            maps = tf.math.divide_no_nan(maps, peak)
            resized = tf.image.resize(maps[..., None], (height, width), method="bilinear")[..., 0]
            return tf.clip_by_value(resized, 0.0, 1.0)

        return cam

    kind = "logits" if use_logits else "scores"
    signature = [_image_specs(shape)[0], _CLASS_ROWS]
    return _compiled_function(model, f"grad_cam[{name},{kind}]@{_shape_key(shape)}", signature, make)


def grad_cam(
    model: keras.Model,
    images: Any,
    class_index: Any = None,
    layer: str | None = None,
    batch_size: int = 32,
    use_logits: bool = True,
) -> np.ndarray:
    """Gradient-weighted class activation maps (Selvaraju et al., 2017).

    For a convolutional layer with activations ``A^k`` (channel ``k``), the
    channel weight is the spatial mean of d score / d ``A^k``; the map is
    ``ReLU(sum_k weight_k A^k)``, divided by its maximum and bilinearly resized
    to the input.

    Unlike the other methods of this module, Grad-CAM differentiates the class
    *logit* ``z_c`` by default, as the paper does ("the score for class c
    before the softmax"). The probability's gradient goes through the
    softmax's Jacobian, ``dp_c/dz_c = p_c (1 - p_c)`` and ``dp_c/dz_j =
    -p_c p_j`` for the other classes ``j``: when a confident prediction has
    ``p_c`` rounding to 1.0 in float32, the first term is exactly 0 and the
    map is built only from the gradients of the competing classes' logits,
    not from evidence for ``c`` (see :func:`course_utils.models.logits_model`).

    Parameters
    ----------
    model
        Classifier on raw pixels in [0, 255] returning ``(N, classes)`` scores.
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    class_index
        None (top class of each image), an int, or one int per image.
    layer
        Name of the layer whose activations are weighted, which may sit inside
        a nested model; None uses :func:`course_utils.models.last_conv_layer`.
    batch_size
        Images per model call.
    use_logits
        Differentiate the logit (True, the default) rather than the model's
        output column; models without a final softmax are unaffected.

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W)`` in [0, 1]. A map without positive evidence is
        all zeros (never NaN).

    Raises
    ------
    ValueError
        If ``layer`` does not exist (the message lists the convolutional
        layers) or has no spatial output.
    """
    given = _method_inputs(model, images, class_index, batch_size, targets="deferred")
    return _grad_cam_maps(model, given, layer, bool(use_logits))


def _grad_cam_maps(model: keras.Model, given: MethodInputs, layer: str | None, use_logits: bool) -> np.ndarray:
    cam = _grad_cam_fn(model, _layer_name(model, layer), given.image_shape, use_logits)
    batch, classes = given.batch, given.classes
    return np.concatenate([cam(batch[part], classes[part]).numpy() for part in _chunks(len(batch), given.batch_size)])


# --------------------------------------------------------------------------- Guided Backpropagation
def guided_backprop(model: keras.Model, images: Any, class_index: Any = None, batch_size: int = 32) -> np.ndarray:
    """Guided Backpropagation (Springenberg et al., 2015): the logit's gradient through guided ReLUs.

    At every ReLU (and ReLU6) the backward pass keeps only positive gradients
    of active units (:func:`course_utils.models.guided_relu_model`). The maps
    look crisp, edge-like and convincing; Adebayo et al. (2018) showed that
    they barely change when the network's weights are randomized, i.e. they
    show the image more than the model. Notebook 08 tests that on the course's
    models. Like Grad-CAM, it differentiates the class logit ``z_c``.

    Parameters
    ----------
    model
        A rectifier classifier (ReLU or ReLU6) on raw pixels in [0, 255].
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    class_index
        None (top class of each image), an int, or one int per image.
    batch_size
        Images per model call.

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W, 3)``, the guided gradient of ``z_c`` per pixel value.

    Raises
    ------
    ValueError
        If the model has no ReLU to guide.
    """
    given = _method_inputs(model, images, class_index, batch_size, targets="deferred")
    return _guided_gradients(model, given)


def _guided_gradients(model: keras.Model, given: MethodInputs) -> np.ndarray:
    guided = _compiled(model, "guided_relu_model", lambda: models.guided_relu_model(models.logits_model(model)))
    return _score_and_gradients(guided, given.batch, given.classes, given.batch_size)[1]


def guided_grad_cam(
    model: keras.Model, images: Any, class_index: Any = None, layer: str | None = None, batch_size: int = 32
) -> np.ndarray:
    """Guided Grad-CAM (Selvaraju et al., 2017): Guided Backpropagation times the upsampled Grad-CAM map.

    Grad-CAM says where (coarse, class-discriminative), Guided
    Backpropagation adds pixel detail; their product is the paper's
    high-resolution, class-discriminative map.

    Parameters
    ----------
    model, images, class_index, batch_size
        As in :func:`guided_backprop`.
    layer
        Grad-CAM's layer (None: :func:`course_utils.models.last_conv_layer`).

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W, 3)``: ``guided_backprop(...) * grad_cam(...)[..., None]``.
    """
    given = _method_inputs(model, images, class_index, batch_size, targets="deferred")
    cams = _grad_cam_maps(model, given, layer, True)  # first: a wrong layer name fails before any gradient work
    return _guided_gradients(model, given) * cams[..., None]


# --------------------------------------------------------------------------- baselines and paths
def make_baseline(images: Any, kind: str | None = "black", seed: int | None = 0, sigma: float = 10.0) -> np.ndarray:
    """A reference input for Integrated Gradients.

    Parameters
    ----------
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    kind
        ``"black"`` (or None): zeros; ``"white"``: 255 everywhere;
        ``"random"``: uniform noise in [0, 255]; ``"blurred"``: the image
        under a Gaussian blur of ``sigma`` pixels, which removes edges and
        texture but keeps colors (Sturmfels, Lundberg & Lee, 2020).
    seed
        Seed of the random baseline (None: fresh noise each call). With a
        seed, every image gets the noise that seed gives one image alone, so
        an image's baseline does not depend on the batch it is in (its size
        or the image's position).
    sigma
        Blur radius (standard deviation in pixels) of the blurred baseline.

    Returns
    -------
    np.ndarray
        float32, the same shape as ``images``.
    """
    single = np.ndim(images) == 3
    batch = as_image_batch(images)
    seed = None if seed is None else _positive_int("seed", seed, 0)
    pixels = _real_number("sigma (pixels)", sigma, minimum=0.0, strict=True)
    kind = "black" if kind is None else kind
    if kind == "black":
        baseline = np.zeros_like(batch)
    elif kind == "white":
        baseline = np.full_like(batch, 255.0)
    elif kind == "random":
        # One stream per image, started from the seed alone: independent of the rest of the batch.
        baseline = np.stack(
            [np.random.default_rng(seed).uniform(0.0, 255.0, size=batch.shape[1:]) for _ in range(len(batch))]
        ).astype(np.float32)
    elif kind == "blurred":
        # Blur along height and width only, never across images or channels.
        baseline = image_io.blur(batch, pixels)
    else:
        raise ValueError(
            f"Unknown baseline {kind!r}; use one of {', '.join(BASELINE_KINDS)}, None, or an array "
            "broadcastable to the images."
        )
    baseline = baseline.astype(np.float32)
    return baseline[0] if single else baseline


def _resolve_baseline(baseline: Any, batch: np.ndarray, seed: int | None, sigma: float = 10.0) -> np.ndarray:
    if baseline is None or isinstance(baseline, str):
        return make_baseline(batch, baseline, seed=seed, sigma=sigma)
    if isinstance(baseline, (tf.Tensor, tf.Variable)):
        baseline = baseline.numpy()
    array = np.asarray(baseline)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"baseline must be a kind name or an array of pixels, got dtype {array.dtype}")
    try:
        array = np.broadcast_to(array.astype(np.float32), batch.shape)
    except ValueError as error:
        raise ValueError(
            f"baseline of shape {array.shape} does not broadcast to the images' shape {batch.shape}; "
            "give one image (H, W, 3), one per image (N, H, W, 3), an RGB triple or a number."
        ) from error
    if not np.all(np.isfinite(array)):
        raise ValueError("baseline contains NaN or infinite values")
    return np.ascontiguousarray(array)


def _alphas_and_weights(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points ``alpha_k = k / steps`` and trapezoidal-rule weights over [0, 1]."""
    alphas = np.arange(steps + 1, dtype=np.float64) / steps
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] = 0.5 / steps
    return alphas.astype(np.float32), weights.astype(np.float32)


def interpolate_path(image: Any, baseline: Any = None, steps: int = 50) -> np.ndarray:
    """The straight line from ``baseline`` to ``image`` in ``steps`` equal steps.

    Parameters
    ----------
    image
        One ``(H, W, 3)`` image (or a batch of one).
    baseline
        A kind for :func:`make_baseline` (None: black) or an array
        broadcastable to the image.
    steps
        Number of intervals; the path has ``steps + 1`` points.

    Returns
    -------
    np.ndarray
        float32 ``(steps + 1, H, W, 3)``: ``baseline + alpha_k (image - baseline)``
        with ``alpha_k = k / steps``; the first point is the baseline, the
        last the image.
    """
    batch = as_image_batch(image)
    if len(batch) != 1:
        raise ValueError(f"interpolate_path takes one image, got a batch of {len(batch)}")
    steps = _positive_int("steps", steps)
    start = _resolve_baseline(baseline, batch, seed=0)
    alphas, _ = _alphas_and_weights(steps)
    return (start + alphas[:, None, None, None] * (batch - start)).astype(np.float32)


def path_gradients(
    model: keras.Model,
    image: Any,
    class_index: Any = None,
    baseline: Any = None,
    steps: int = 50,
    batch_size: int = 32,
    seed: int | None = 0,
    sigma: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores and gradients at every point of the straight-line path.

    Shows why Integrated Gradients integrates: the score often saturates
    near the image, where the plain gradient is small (Sundararajan, Taly &
    Yan, 2017, section 2).

    Parameters
    ----------
    model, class_index, baseline, steps, batch_size, seed, sigma
        As in :func:`integrated_gradients`; the class is chosen on ``image``.
    image
        One ``(H, W, 3)`` image.

    Returns
    -------
    alphas : np.ndarray
        ``(steps + 1,)`` positions on the path, 0 (baseline) to 1 (image).
    scores : np.ndarray
        ``(steps + 1,)`` class score at each point.
    grads : np.ndarray
        ``(steps + 1, H, W, 3)`` gradient of the score at each point.
    """
    given = _method_inputs(model, image, class_index, batch_size)
    batch = given.batch
    if len(batch) != 1:
        raise ValueError(f"path_gradients takes one image, got a batch of {len(batch)}")
    steps = _positive_int("steps", steps)
    path = interpolate_path(batch, _resolve_baseline(baseline, batch, seed, sigma), steps)
    scores, grads = _score_and_gradients(model, path, np.full(len(path), given.classes[0], np.int32), given.batch_size)
    return _alphas_and_weights(steps)[0], scores, grads


# --------------------------------------------------------------------------- Integrated Gradients
def _ig_fn(model: keras.Model, shape: tuple[int, int, int]) -> CompiledFunction:
    _, image_spec = _image_specs(shape)
    vector = tf.TensorSpec((None,), tf.float32)

    def make(network: Network) -> Any:
        def weighted_path_gradients(
            image: tf.Tensor, baseline: tf.Tensor, alphas: tf.Tensor, weights: tf.Tensor, class_index: tf.Tensor
        ) -> tf.Tensor:
            path = baseline[None] + alphas[:, None, None, None] * (image - baseline)[None]
            with tf.GradientTape() as tape:
                tape.watch(path)
                scores = tf.cast(network()(path, training=False), tf.float32)
                selected = tf.gather(scores, class_index, axis=1)
            grads = tape.gradient(selected, path, unconnected_gradients=_ZERO)
            return tf.tensordot(weights, grads, axes=1)

        return weighted_path_gradients

    signature = [image_spec, image_spec, vector, vector, tf.TensorSpec((), tf.int32)]
    return _compiled_function(model, f"integrated_gradients@{_shape_key(shape)}", signature, make)


def integrated_gradients(
    model: keras.Model,
    images: Any,
    class_index: Any = None,
    baseline: Any = None,
    steps: int = 50,
    batch_size: int = 32,
    seed: int | None = 0,
    sigma: float = 10.0,
) -> np.ndarray:
    """Integrated Gradients (Sundararajan, Taly & Yan, 2017).

    ``IG_i(x) = (x_i - x'_i) * integral_0^1 d score(x' + a (x - x')) / d x_i da``
    along the straight line from the baseline ``x'`` to the image ``x``; the
    integral is the trapezoidal rule over ``steps + 1`` equally spaced points.
    The attributions add up to ``score(x) - score(x')`` (completeness), up
    to the integration error; see :func:`completeness`.

    Parameters
    ----------
    model
        Classifier on raw pixels in [0, 255] returning ``(N, classes)`` scores.
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    class_index
        None (top class of each image, decided on the image), an int, or one
        int per image.
    baseline
        None or ``"black"``, ``"white"``, ``"random"``, ``"blurred"`` (see
        :func:`make_baseline`), or an array broadcastable to the images.
    steps
        Number of intervals of the path (the papers use 20 to 300).
    batch_size
        Path points per model call.
    seed
        Seed of the ``"random"`` baseline.
    sigma
        Blur (pixels) of the ``"blurred"`` baseline; give :func:`completeness`
        the same value.

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W, 3)`` attributions.
    """
    given = _method_inputs(model, images, class_index, batch_size)
    batch, classes, batch_size = given.batch, given.classes, given.batch_size
    steps = _positive_int("steps", steps)
    baselines = _resolve_baseline(baseline, batch, seed, sigma)
    alphas, weights = _alphas_and_weights(steps)
    weighted_path_gradients = _ig_fn(model, batch.shape[1:])
    result = np.empty_like(batch)
    for i, (image, start) in enumerate(zip(batch, baselines)):
        average_gradient = np.zeros(batch.shape[1:], dtype=np.float64)
        for part in _chunks(steps + 1, batch_size):
            average_gradient += weighted_path_gradients(image, start, alphas[part], weights[part], classes[i]).numpy()
        result[i] = (image - start) * average_gradient
    return result


def completeness(
    model: keras.Model,
    images: Any,
    attributions: Any,
    class_index: Any = None,
    baseline: Any = None,
    seed: int | None = 0,
    sigma: float = 10.0,
) -> dict[str, np.ndarray]:
    """Check IG's completeness axiom: attributions sum to the score difference.

    Parameters
    ----------
    model, images, class_index, baseline, seed, sigma
        The arguments given to :func:`integrated_gradients` (the same
        ``seed`` reproduces a random baseline, the same ``sigma`` a blurred
        one).
    attributions
        ``(N, H, W, 3)`` attributions of the images.

    Returns
    -------
    dict
        ``sum_attributions`` ``(N,)``, ``score_difference`` ``(N,)`` =
        ``score(image) - score(baseline)``, and ``relative_error`` ``(N,)`` =
        ``|sum - difference| / |difference|`` (0 when both are 0).
    """
    given = _method_inputs(model, images, class_index)
    batch, classes = given.batch, given.classes
    values = _real_array("attributions", attributions)
    if values.ndim == 3:
        values = values[None]
    if values.shape != batch.shape:
        raise ValueError(f"attributions have shape {values.shape}, the images {batch.shape}; they must match.")
    baselines = _resolve_baseline(baseline, batch, seed, sigma)
    rows = np.arange(len(batch))
    difference = _predict(model, batch)[rows, classes].astype(np.float64) - _predict(model, baselines)[
        rows, classes
    ].astype(np.float64)
    total = values.sum(axis=(1, 2, 3))
    gap = np.abs(total - difference)
    relative = np.divide(gap, np.abs(difference), out=np.where(gap > 0, np.inf, 0.0), where=np.abs(difference) > 0)
    return {"sum_attributions": total, "score_difference": difference, "relative_error": relative}


# --------------------------------------------------------------------------- SmoothGrad
def _smoothgrad_fn(model: keras.Model, shape: tuple[int, int, int]) -> CompiledFunction:
    def make(network: Network) -> Any:
        def summed_noisy_gradients(
            images: tf.Tensor, unit_noise: tf.Tensor, sigmas: tf.Tensor, class_indices: tf.Tensor, owners: tf.Tensor
        ) -> tf.Tensor:
            # Row r is a noisy copy of images[owners[r]]; one call mixes the samples of several
            # images, so a batch is always full, and returns each image's sum of gradients.
            noisy = tf.gather(images, owners) + tf.gather(sigmas, owners)[:, None, None, None] * unit_noise
            with tf.GradientTape() as tape:
                tape.watch(noisy)
                selected = _select_scores(network()(noisy, training=False), tf.gather(class_indices, owners))
            gradients = tape.gradient(selected, noisy, unconnected_gradients=_ZERO)
            return tf.math.unsorted_segment_sum(gradients, owners, tf.shape(images)[0])

        return summed_noisy_gradients

    batch_spec, _ = _image_specs(shape)
    signature = [batch_spec, batch_spec, tf.TensorSpec((None,), tf.float32), _CLASS_ROWS, _CLASS_ROWS]
    return _compiled_function(model, f"smoothgrad@{_shape_key(shape)}", signature, make)


def _sample_batches(images: int, samples: int, batch_size: int) -> Iterator[list[tuple[int, int]]]:
    """Calls of ``batch_size`` rows over every (image, sample): each a list of ``(image, how many of its samples)``."""
    pieces: list[tuple[int, int]] = []
    room = batch_size
    for image in range(images):
        left = samples
        while left:
            take = min(left, room)
            pieces.append((image, take))
            left, room = left - take, room - take
            if room == 0:
                yield pieces
                pieces, room = [], batch_size
    if pieces:
        yield pieces


def smoothgrad(
    model: keras.Model,
    images: Any,
    class_index: Any = None,
    samples: int = 50,
    noise: float = 0.15,
    batch_size: int = 32,
    seed: int | None = None,
) -> np.ndarray:
    """SmoothGrad: the mean gradient over noisy copies (Smilkov et al., 2017).

    Each sample adds Gaussian noise of standard deviation
    ``noise * (max - min)`` of that image's pixels; the paper finds 10-20 %
    of the input range works best. With ``noise=0`` the result equals
    :func:`vanilla_gradients`.

    Parameters
    ----------
    model
        Classifier on raw pixels in [0, 255] returning ``(N, classes)`` scores.
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    class_index
        None (top class of each clean image), an int, or one int per image.
    samples
        Noisy copies per image.
    noise
        Noise level as a fraction of the image's value range, >= 0.
    batch_size
        Noisy copies per model call.
    seed
        Seed of the noise (None: fresh noise each call). Each image draws its
        noise from its own stream, started from the seed alone, so the same
        seed gives the same result for an image whatever ``batch_size`` and
        whatever other images share the call.

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W, 3)`` smoothed gradients.
    """
    given = _method_inputs(model, images, class_index, batch_size)
    batch, classes, batch_size = given.batch, given.classes, given.batch_size
    samples = _positive_int("samples", samples)
    noise = _real_number("noise", noise, minimum=0.0)
    seed = None if seed is None else _positive_int("seed", seed, 0)
    summed_noisy_gradients = _smoothgrad_fn(model, batch.shape[1:])
    sigmas = (noise * (batch.max(axis=(1, 2, 3)) - batch.min(axis=(1, 2, 3)))).astype(np.float32)
    # A stream per image from the seed alone, drawn piece by piece in order: the same noise for an
    # image whatever batch_size and whatever other images share a call.
    streams = [np.random.default_rng(seed) for _ in range(len(batch))]
    totals = np.zeros(batch.shape, dtype=np.float64)
    for pieces in _sample_batches(len(batch), samples, batch_size):
        members = np.array([image for image, _ in pieces])
        counts = [count for _, count in pieces]
        unit_noise = np.concatenate(
            [streams[image].standard_normal((count, *batch.shape[1:]), dtype=np.float32) for image, count in pieces]
        )
        owners = np.repeat(np.arange(len(pieces), dtype=np.int32), counts)
        sums = summed_noisy_gradients(batch[members], unit_noise, sigmas[members], classes[members], owners)
        totals[members] += sums.numpy()
    return (totals / samples).astype(np.float32)


# --------------------------------------------------------------------------- occlusion
def _occlusion_fn(model: keras.Model, shape: tuple[int, int, int]) -> CompiledFunction:
    height, width, channels = shape

    def make(network: Network) -> Any:
        def occluded_scores(
            image: tf.Tensor, corners: tf.Tensor, patch: tf.Tensor, fill: tf.Tensor, class_index: tf.Tensor
        ) -> tf.Tensor:
            rows = tf.range(height)[None, :]
            cols = tf.range(width)[None, :]
            in_rows = (rows >= corners[:, :1]) & (rows < corners[:, :1] + patch)
            in_cols = (cols >= corners[:, 1:]) & (cols < corners[:, 1:] + patch)
            covered = tf.cast(in_rows[:, :, None] & in_cols[:, None, :], tf.float32)[..., None]
            occluded = image[None] * (1.0 - covered) + fill * covered
            scores = tf.cast(network()(occluded, training=False), tf.float32)
            return tf.gather(scores, class_index, axis=1)

        return occluded_scores

    signature = [
        _image_specs(shape)[1],
        tf.TensorSpec((None, 2), tf.int32),
        tf.TensorSpec((), tf.int32),
        tf.TensorSpec((channels,), tf.float32),
        tf.TensorSpec((), tf.int32),
    ]
    return _compiled_function(model, f"occlusion@{_shape_key(shape)}", signature, make)


def patch_starts(size: int, patch: int, stride: int) -> list[int]:
    """Start positions that cover every pixel (the last patch ends at the border)."""
    size, patch, stride = _positive_int("size", size), _positive_int("patch", patch), _positive_int("stride", stride)
    if patch > size:
        raise ValueError(f"patch={patch} is larger than the side ({size}); use 1 to {size}.")
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return starts


def _fill_values(fill: Any, image: np.ndarray) -> np.ndarray:
    if fill is None:
        return image.mean(axis=(0, 1)).astype(np.float32)
    values = _real_array("fill", fill)
    if values.ndim == 0:
        values = np.full(3, float(values))
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise ValueError(f"fill must be None (the image's mean color), a number or an RGB triple, got {fill!r}")
    return values.astype(np.float32)


def occlusion_sensitivity(
    model: keras.Model,
    images: Any,
    class_index: Any = None,
    patch: int = 32,
    stride: int = 16,
    batch_size: int = 64,
    fill: Any = None,
) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus, 2014).

    A ``patch x patch`` square of constant color slides over the image with
    the given stride; for each position the drop of the class score
    (original minus occluded) is recorded, and each pixel gets the mean drop
    over every patch that covered it. Positive: hiding the pixel hurts the
    class; negative: hiding it helps. Patches are placed so every pixel is
    covered (the last one in each row and column ends at the border).

    Parameters
    ----------
    model
        Classifier on raw pixels in [0, 255] returning ``(N, classes)`` scores.
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    class_index
        None (top class of each image), an int, or one int per image.
    patch
        Side of the square patch in pixels, at most the image's shorter side.
    stride
        Step between patch positions in pixels.
    batch_size
        Occluded copies per model call.
    fill
        Patch color: None (the image's mean color per channel), a number, or
        an RGB triple in [0, 255].

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W)`` mean score drop per pixel.
    """
    given = _method_inputs(model, images, class_index, batch_size, targets="deferred")
    batch, batch_size = given.batch, given.batch_size
    height, width = batch.shape[1:3]
    patch = _positive_int("patch", patch)
    if patch > min(height, width):
        raise ValueError(f"patch={patch} is larger than the images ({height}x{width}); use 1 to {min(height, width)}.")
    stride = _positive_int("stride", stride)
    # One forward pass gives both the unoccluded scores and, where asked, the top classes.
    unoccluded = _predict(model, batch)
    classes = given.classes_given(unoccluded)
    original = unoccluded[np.arange(len(batch)), classes]
    corners = np.array(
        [(y, x) for y in patch_starts(height, patch, stride) for x in patch_starts(width, patch, stride)],
        dtype=np.int32,
    )
    occluded_scores = _occlusion_fn(model, batch.shape[1:])
    result = np.empty(batch.shape[:3], dtype=np.float32)
    for i, image in enumerate(batch):
        fill_values = _fill_values(fill, image)
        scores = np.concatenate(
            [
                occluded_scores(image, corners[part], np.int32(patch), fill_values, classes[i]).numpy()
                for part in _chunks(len(corners), batch_size)
            ]
        )
        drop_sum = np.zeros((height, width), dtype=np.float64)
        covered = np.zeros((height, width), dtype=np.int64)
        for (y, x), drop in zip(corners, float(original[i]) - scores.astype(np.float64)):
            drop_sum[y : y + patch, x : x + patch] += drop
            covered[y : y + patch, x : x + patch] += 1
        result[i] = drop_sum / covered
    return result


# --------------------------------------------------------------------------- activations
def _activations_fn(model: keras.Model, name: str, shape: tuple[int, int, int]) -> CompiledFunction:
    def make(network: Network) -> Any:
        both = _spatial_layer_model(network(), name)
        head = keras.Model(both.inputs[0], both.outputs[0], name=f"{model.name}_to_{name}_only")

        def activations(images: tf.Tensor) -> tf.Tensor:
            return tf.cast(head(images, training=False), tf.float32)

        return activations

    signature = _image_specs(shape)[:1]
    return _compiled_function(model, f"layer_activations[{name}]@{_shape_key(shape)}", signature, make)


def layer_activations(model: keras.Model, images: Any, layer: str, batch_size: int = 32) -> np.ndarray:
    """Feature maps of one layer, which may sit inside a nested model.

    What tf-explain's ``ExtractActivations`` shows: which channels respond
    to the image, and where (Zeiler & Fergus, 2014, visualise the same maps).

    Parameters
    ----------
    model
        Classifier on raw pixels in [0, 255].
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    layer
        Name of a layer with a spatial output ``(N, h, w, c)``.
    batch_size
        Images per model call.

    Returns
    -------
    np.ndarray
        float32 ``(N, h, w, c)``.
    """
    given = _method_inputs(model, images, batch_size=batch_size, targets="none")
    if layer is None:
        raise ValueError(
            "layer_activations needs a layer name; convolutional layers of this model: "
            + ", ".join(models.conv_layer_names(model))
        )
    activations = _activations_fn(model, _layer_name(model, layer), given.image_shape)
    batch = given.batch
    return np.concatenate([activations(batch[part]).numpy() for part in _chunks(len(batch), given.batch_size)])
