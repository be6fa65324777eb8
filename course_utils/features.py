"""Feature visualization: inputs that maximise a filter or a class score.

Activation maximization (Erhan et al. 2009) asks the trained network itself
what a unit responds to: keep the weights fixed and change the *input* by
gradient ascent until the unit's activation is as large as possible. Applied
to one filter of a convolutional layer it shows the texture or pattern that
filter detects; applied to a class score it gives a "class model"
(Simonyan et al. 2014); started from a photo instead of noise it amplifies
what the filter already sees there, as DeepDream does (Mordvintsev et al. 2015).

The machinery follows lucid's split (Olah et al. 2017):

parameterization
    The image is optimised directly in the course's pixel space: float32
    RGB in [0, 255], what every course model takes (docs/architecture.md, "The model contract";
    preprocessing lives inside the model). It starts from mid-grey plus a
    little uniform noise, or from a photo plus that noise.
transforms
    Optional random jitter, scaling and rotation, applied to the image before
    the network sees it at every step, so only features that survive small
    shifts can grow; high-frequency "adversarial" patterns cannot.
objectives
    A filter's mean activation away from the border of the feature map, or a
    class logit (or probability), minus optional L2 and total-variation
    penalties on the image.

Every image of a batch has its own objective (its own filter or class), and
the gradient is normalised per image, so many filters are optimised at once
as one batch exactly as if each were optimised alone. The ascent step is a
``tf.function`` with a ``None`` batch dimension whose numbers (learning rate,
strengths, transforms, filter indices) are tensors: it is traced once per
model, layer and image size, however many filters, steps or values are asked
for (:func:`tracing_counts`).

Randomness is per image and deterministic: the starting noise and the random
transforms of the image for filter ``f`` come from a generator seeded with
``(seed, f)``, so running filters ``[3, 7]`` together gives the same images
as running ``[3]`` and ``[7]`` separately.

References
----------
Erhan, Bengio, Courville & Vincent (2009). Visualizing Higher-Layer Features of
    a Deep Network. Technical report 1341, Université de Montréal.
Simonyan, Vedaldi & Zisserman (2014). Deep Inside Convolutional Networks:
    Visualising Image Classification Models and Saliency Maps. ICLR workshop.
Mahendran & Vedaldi (2015). Understanding Deep Image Representations by
    Inverting Them. CVPR. (total variation)
Mordvintsev, Olah & Tyka (2015). Inceptionism: Going Deeper into Neural
    Networks. Google Research blog. (DeepDream)
Olah, Mordvintsev & Schubert (2017). Feature Visualization. Distill.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from course_utils import config, models
from course_utils._core import compiled, logits_getter, tracing_counts

__all__ = [
    "deprocess",
    "crop_margin",
    "crop_border",
    "layer_head",
    "filter_responses",
    "class_scores",
    "maximize_filters",
    "maximize_class",
    "save_gif",
    "tracing_counts",
]

#: Mid-grey, the centre of the course's pixel range.
_GREY = 127.5
#: The source starts from uniform noise of width 0.25 in [-1, 1] units, which
#: is 0.25 * 127.5 (about 32) grey levels in pixel units: centred on grey, +-16.
_NOISE_WIDTH = 0.25 * 127.5
#: Display normalisation of the source (after Chollet): zero mean, std 0.15 of the range.
_DISPLAY_STD = 0.15
#: The source crops 25 pixels from each side of a 224-pixel image: the border,
#: where the padding of the convolutions leaves artefacts, is not shown.
_CROP_FRACTION = 25 / 224
#: Feature-map positions left out of the filter objective on each side (the source's 2:-2).
_BORDER = 2


# --------------------------------------------------------------------------- checks
def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_float(name: str, value: Any, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum}, got {value}")
    return value


def _check_indices(name: str, indices: Any) -> tuple[list[int], bool]:
    """An int or a sequence of ints as a list, and whether it was a single int."""
    if isinstance(indices, bool):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {indices!r}")
    if isinstance(indices, numbers.Integral):
        return [int(indices)], True
    try:
        values = list(np.asarray(indices).ravel()) if not isinstance(indices, (list, tuple, range)) else list(indices)
    except TypeError as error:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {indices!r}") from error
    if not values:
        raise ValueError(f"{name} is empty; ask for at least one index, e.g. {name}=[0, 1, 2]")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must hold integers, got {value!r} in {indices!r}")
    return [int(v) for v in values], False


# --------------------------------------------------------------------------- deprocessing
def crop_margin(image_size: int) -> int:
    """Pixels cropped from each side for display: the source's 25 of 224, scaled."""
    return int(round(_check_int("image_size", image_size, 1) * _CROP_FRACTION))


def crop_border(images: Any) -> np.ndarray:
    """Cut the display border off images kept whole with ``crop=False``.

    ``crop_border(maximize_filters(..., crop=False))`` equals
    ``maximize_filters(...)``: keep the full canvas to feed images back into
    the network, crop only to show them.
    """
    array = np.asarray(images)
    if array.ndim < 3 or array.shape[-1] != 3:
        raise ValueError(f"crop_border expects images (..., H, W, 3), got shape {array.shape}")
    margin = crop_margin(array.shape[-3])
    if not margin or array.shape[-3] <= 2 * margin or array.shape[-2] <= 2 * margin:
        return array
    return array[..., margin:-margin, margin:-margin, :]


def deprocess(images: Any, crop: bool = True) -> np.ndarray:
    """Turn optimised pixels into displayable uint8 images, as the source does.

    Each image is normalised on its own to zero mean and standard deviation
    0.15 of the display range, shifted to mid-grey and clipped, and its border
    (25 of every 224 pixels on each side) is cropped. The optimised values
    can leave [0, 255] and drift in brightness; this stretch shows the
    pattern, not its absolute level. Every image and every GIF frame of this
    module goes through this one function.

    Parameters
    ----------
    images
        ``(..., H, W, 3)`` pixel values (any real dtype and range).
    crop
        Remove the border (see :func:`crop_margin`).

    Returns
    -------
    np.ndarray
        uint8 ``(..., H - 2m, W - 2m, 3)`` with ``m = crop_margin(H)`` (or
        ``m = 0`` without cropping).
    """
    array = np.asarray(images, dtype=np.float64)
    if array.ndim < 3 or array.shape[-1] != 3:
        raise ValueError(f"deprocess expects images (..., H, W, 3), got shape {array.shape}")
    axes = (-3, -2, -1)
    centred = array - array.mean(axis=axes, keepdims=True)
    scaled = centred / (centred.std(axis=axes, keepdims=True) + 1e-5) * _DISPLAY_STD + 0.5
    shown = np.clip(scaled * 255.0, 0, 255).astype(np.uint8)
    return crop_border(shown) if crop else shown


# --------------------------------------------------------------------------- compiled pieces
def _model_image_size(model: keras.Model) -> int | None:
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(
            f"Model {model.name!r} takes inputs of shape {shape}; feature visualization needs an "
            "image model with inputs (N, H, W, 3)."
        )
    height, width = shape[1], shape[2]
    if height is None or width is None:
        return None
    if height != width:
        raise ValueError(
            f"Model {model.name!r} takes {height}x{width} images; feature visualization here "
            "optimises square images, so use a model with a square (or unspecified) input size."
        )
    return int(height)


def _resolve_size(model: keras.Model, image_size: int | None) -> int:
    fixed = _model_image_size(model)
    if image_size is None:
        if fixed is None:
            raise ValueError(f"Model {model.name!r} accepts any image size; pass image_size=..., e.g. 224.")
        return fixed
    return _check_int("image_size", image_size, 8)


def layer_head(model: keras.Model, layer: str | keras.layers.Layer, image_size: int | None = None) -> keras.Model:
    """The part of ``model`` from its pixels to ``layer``, at any image size.

    The source builds ``ResNet50V2(include_top=False)`` to reach its layer;
    with the course's models the head up to the layer is all that is needed,
    and it shares the model's weights. The layer may sit inside a nested model
    (see :func:`course_utils.models.layer_output_model`). Up to a
    convolutional layer the head does not care about the image size, so it
    can be rebuilt for a smaller size than the model was built for: quick
    mode optimises 96-pixel images on the 224-pixel ResNet50V2.

    Parameters
    ----------
    model
        A course model (raw RGB pixels in [0, 255] in).
    layer
        Name (or object) of a layer with a 4-D output ``(N, h, w, channels)``.
    image_size
        Side of the square input; ``None``: the model's own input size.

    Returns
    -------
    keras.Model
        pixels ``(N, image_size, image_size, 3)`` -> activations ``(N, h, w, channels)``.
        Cached per model, layer and size.
    """
    target = models.find_layer(model, layer)
    size = _resolve_size(model, image_size)

    def build() -> keras.Model:
        both = models.layer_output_model(model, target)
        # Only the first output: Keras keeps just the layers on the path to it.
        head = keras.Model(both.inputs[0], both.outputs[0], name=f"{model.name}_to_{target.name}")
        if len(head.outputs[0].shape) != 4:
            raise ValueError(
                f"Layer {target.name!r} outputs shape {tuple(head.outputs[0].shape)}, not a feature "
                f"map (N, h, w, channels); pick a convolutional layer. {models._layer_list_for_message(model)}"
            )
        if tuple(head.inputs[0].shape[1:3]) == (size, size):
            return head
        pixels = keras.Input((size, size, 3), name="pixels")
        try:
            # `call`, not `__call__`: the head's input spec pins the size it was
            # built for, while its convolutions work at any size.
            activations = head.call(pixels, training=False)
        except Exception as error:  # a Flatten/Dense on the way, or a size too small for the pooling
            raise ValueError(
                f"The layers up to {target.name!r} cannot run on {size}x{size} images ({error}); "
                "use image_size=None (the model's own size) or a larger size."
            ) from error
        return keras.Model(pixels, activations, name=f"{model.name}_to_{target.name}_{size}")

    return compiled(model, f"head:{target.name}@{size}", build)


def _border(extent: int) -> int:
    """Positions left out on each side: the source's 2, fewer on tiny maps (keep >= 1)."""
    return max(0, min(_BORDER, (extent - 1) // 2))


def _inner(activations: tf.Tensor) -> tf.Tensor:
    rows = _border(int(activations.shape[1]))
    cols = _border(int(activations.shape[2]))
    return activations[:, rows : activations.shape[1] - rows, cols : activations.shape[2] - cols, :]


def _penalties(images: tf.Tensor, l2: tf.Tensor, tv: tf.Tensor) -> tf.Tensor:
    """Per-image ``l2 * mean(u**2) + tv * mean|grad u|`` of the centred image ``u`` in [-1, 1]."""
    centred = (images - _GREY) / _GREY
    energy = tf.reduce_mean(tf.square(centred), axis=[1, 2, 3])
    variation = tf.reduce_mean(tf.abs(centred[:, 1:] - centred[:, :-1]), axis=[1, 2, 3]) + tf.reduce_mean(
        tf.abs(centred[:, :, 1:] - centred[:, :, :-1]), axis=[1, 2, 3]
    )
    return l2 * energy + tv * variation


def _ascend(images: tf.Tensor, gradients: tf.Tensor, learning_rate: tf.Tensor) -> tf.Tensor:
    """One normalised ascent step, normalised per image.

    The source divides the gradient by its L2 norm over the whole tensor
    (``tf.math.l2_normalize(grads)``). For one image that is the same; for a
    batch it would couple the images: a filter with large gradients would
    shrink every other filter's step. Dividing each image's gradient by its
    own root-mean-square keeps the filters independent and makes
    ``learning_rate`` the typical change of one pixel per step, in grey levels,
    whatever the image size.
    """
    # l2_normalize per image (its epsilon only guards an all-zero gradient, a dead
    # filter); times sqrt(values per image) turns unit norm into unit rms. An
    # epsilon added to the rms instead would not be negligible: filter gradients
    # are ~1e-7 per pixel, which would shrink the step by a few percent.
    values = tf.cast(tf.reduce_prod(tf.shape(gradients)[1:]), gradients.dtype)
    return images + learning_rate * tf.sqrt(values) * tf.math.l2_normalize(gradients, axis=[1, 2, 3])


_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


def _maybe_transform(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    # A tensor condition, not a Python one: turning transforms on or off needs
    # no second trace, and without them the resampling (~7 % of a step) is skipped.
    moving = tf.reduce_any(tf.not_equal(transforms, tf.constant(_IDENTITY, tf.float32)))
    return tf.cond(moving, lambda: _transform(images, transforms), lambda: tf.identity(images))


def _transform(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    # One differentiable resampling for jitter, scale and rotation, a different
    # transform per image (rows of the projective transform op).
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return tf.ensure_shape(moved, images.shape)


def _image_specs(size: int) -> list[tf.TensorSpec]:
    return [
        tf.TensorSpec((None, size, size, 3), tf.float32),  # images being optimised
        tf.TensorSpec((None,), tf.int32),  # the filter (or class) of each image
        tf.TensorSpec((None, 8), tf.float32),  # this step's transform of each image
        tf.TensorSpec((), tf.float32),  # learning rate
        tf.TensorSpec((), tf.float32),  # L2 strength
        tf.TensorSpec((), tf.float32),  # total-variation strength
    ]


def _filter_step(model: keras.Model, layer: str | keras.layers.Layer, size: int):
    """The compiled ascent step for filters of ``layer`` at ``size`` (cached, traced once)."""
    head = layer_head(model, layer, size)
    target = models.find_layer(model, layer)

    def build():
        @tf.function(input_signature=_image_specs(size), autograph=False)
        def filter_ascent_step(images, filters, transforms, learning_rate, l2, tv):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(images)
                activations = head(_maybe_transform(images, transforms), training=False)
                # Each image's objective is its own filter's mean activation,
                # border positions excluded (padding artefacts grow there).
                own = tf.gather(_inner(activations), filters, axis=3, batch_dims=1)
                objectives = tf.reduce_mean(own, axis=[1, 2]) - _penalties(images, l2, tv)
                # Images do not interact (inference mode: batch norm uses its moving
                # statistics), so the gradient of the sum is each image's own gradient.
                total = tf.reduce_sum(objectives)
            gradients = tape.gradient(total, images)
            return _ascend(images, gradients, learning_rate), objectives

        return filter_ascent_step

    return compiled(model, f"filters:{target.name}@{size}", build)


def _class_step(model: keras.Model, size: int):
    """The compiled ascent step for class scores at ``size`` (cached, traced once)."""
    logits_of = logits_getter(model)

    def build():
        @tf.function(input_signature=[*_image_specs(size), tf.TensorSpec((), tf.float32)], autograph=False)
        def class_ascent_step(images, classes, transforms, learning_rate, l2, tv, probability_weight):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(images)
                logits = tf.cast(logits_of()(_maybe_transform(images, transforms), training=False), tf.float32)
                logit = tf.gather(logits, classes, axis=1, batch_dims=1)
                probability = tf.gather(tf.nn.softmax(logits), classes, axis=1, batch_dims=1)
                # A tensor weight picks the objective, so switching needs no retrace.
                score = logit + probability_weight * (probability - logit)
                objectives = score - _penalties(images, l2, tv)
                total = tf.reduce_sum(objectives)
            gradients = tape.gradient(total, images)
            return _ascend(images, gradients, learning_rate), objectives

        return class_ascent_step

    return compiled(model, f"class@{size}", build)


# --------------------------------------------------------------------------- randomness per image
def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    # One generator per (seed, image index, purpose): an image's noise and
    # transforms do not depend on which other images share its batch.
    return np.random.default_rng([seed, index, stream])


def _initial_images(indices: Sequence[int], size: int, seed: int, start: np.ndarray | None) -> np.ndarray:
    base = np.full((size, size, 3), _GREY, np.float32) if start is None else start
    noise = [(_rng(seed, i, 0).random((size, size, 3), dtype=np.float32) - 0.5) * _NOISE_WIDTH for i in indices]
    return (base[None] + np.stack(noise)).astype(np.float32)


def _transforms(
    indices: Sequence[int], steps: int, size: int, seed: int, jitter: int, scale: float, rotate: float
) -> np.ndarray:
    """Per-step, per-image projective transforms ``(steps, len(indices), 8)``.

    Jitter shifts by an integer number of pixels in [-jitter, jitter], scale
    multiplies by a factor in [1 - scale, 1 + scale], rotate turns by an angle
    in [-rotate, rotate] degrees, about the image centre. The draws are made
    whatever the strengths, so turning one transform on does not change the
    others.
    """
    centre = (size - 1) / 2.0
    rows = np.empty((steps, len(indices), 8), np.float32)
    for column, index in enumerate(indices):
        draws = _rng(seed, index, 1).uniform(-1.0, 1.0, size=(steps, 4))
        shift = np.rint(draws[:, :2] * jitter)
        factor = 1.0 + draws[:, 2] * scale
        angle = np.deg2rad(draws[:, 3] * rotate)
        # The op maps each output pixel to the input position it samples:
        # input = R(-angle) / factor @ (output - centre - shift) + centre.
        cos, sin = np.cos(angle) / factor, np.sin(angle) / factor
        offset_x = centre + shift[:, 0]
        offset_y = centre + shift[:, 1]
        rows[:, column, 0] = cos
        rows[:, column, 1] = sin
        rows[:, column, 2] = centre - cos * offset_x - sin * offset_y
        rows[:, column, 3] = -sin
        rows[:, column, 4] = cos
        rows[:, column, 5] = centre + sin * offset_x - cos * offset_y
        rows[:, column, 6:] = 0.0
    return rows


def _start_image(seed_image: Any, size: int) -> np.ndarray | None:
    if seed_image is None:
        return None
    array = np.asarray(seed_image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype.kind not in "uif":
        raise ValueError(
            f"seed_image must be one RGB photo (H, W, 3) with pixels in [0, 255], got shape "
            f"{array.shape} and dtype {array.dtype}; load one with data.load_image or data.sample_images."
        )
    # The central square, so a landscape photo is not squashed.
    side = min(array.shape[0], array.shape[1])
    top, left = (array.shape[0] - side) // 2, (array.shape[1] - side) // 2
    square = array[top : top + side, left : left + side].astype(np.float32)
    resized = tf.image.resize(square[None], (size, size), antialias=True)[0]
    return np.clip(resized.numpy(), 0.0, 255.0)


def _frame_steps(steps: int, frame_every: int) -> set[int]:
    """Steps after which a frame is kept: every ``frame_every`` steps and the last."""
    return {s for s in range(1, steps + 1) if s % frame_every == 0} | {steps}


def _run_ascent(
    step_fn,
    indices: list[int],
    size: int,
    steps: int,
    learning_rate: float,
    l2: float,
    tv: float,
    jitter: int,
    scale: float,
    rotate: float,
    seed: int,
    seed_image: Any,
    frame_every: int | None,
    batch_size: int | None,
    progress: bool,
    description: str,
    extra: Sequence[tf.Tensor] = (),
) -> tuple[np.ndarray, np.ndarray | None]:
    """Optimise one image per index; return raw pixels and (optionally) raw frames."""
    from tqdm.auto import tqdm

    start = _start_image(seed_image, size)
    chunk = len(indices) if batch_size is None else batch_size
    scalars = [tf.constant(v, tf.float32) for v in (learning_rate, l2, tv)]
    keep = _frame_steps(steps, frame_every) if frame_every else set()
    results, frame_sets = [], []
    bar = tqdm(total=steps * math.ceil(len(indices) / chunk), desc=description, disable=not progress, leave=False)
    try:
        for first in range(0, len(indices), chunk):
            part = indices[first : first + chunk]
            images = tf.constant(_initial_images(part, size, seed, start))
            transforms = tf.constant(_transforms(part, steps, size, seed, jitter, scale, rotate))
            targets = tf.constant(part, tf.int32)
            frames = [images.numpy()] if frame_every else []
            for step in range(1, steps + 1):
                images, _ = step_fn(images, targets, transforms[step - 1], *scalars, *extra)
                if step in keep:
                    frames.append(images.numpy())
                bar.update(1)
            results.append(images.numpy())
            if frame_every:
                frame_sets.append(np.stack(frames, axis=1))
    finally:
        bar.close()
    raw = np.concatenate(results)
    return raw, (np.concatenate(frame_sets) if frame_every else None)


def _check_common(
    steps: Any,
    learning_rate: Any,
    l2: Any,
    tv: Any,
    jitter: Any,
    scale: Any,
    rotate: Any,
    seed: Any,
    frame_every: Any,
    batch_size: Any,
) -> None:
    _check_int("steps", steps, 1)
    _check_float("learning_rate", learning_rate, 0.0, strict=True)
    _check_float("l2", l2)
    _check_float("tv", tv)
    _check_int("jitter", jitter, 0)
    if not 0.0 <= _check_float("scale", scale) < 1.0:
        raise ValueError(f"scale must be in [0, 1) (0.05 = up to 5 % larger or smaller), got {scale}")
    if not 0.0 <= _check_float("rotate", rotate) <= 180.0:
        raise ValueError(f"rotate must be in [0, 180] degrees, got {rotate}")
    _check_int("seed", seed, 0)
    if frame_every is not None:
        _check_int("frame_every", frame_every, 1)
    if batch_size is not None:
        _check_int("batch_size", batch_size, 1)


# --------------------------------------------------------------------------- filters
def maximize_filters(
    model: keras.Model,
    layer: str | keras.layers.Layer,
    filters: int | Sequence[int],
    steps: int = 100,
    learning_rate: float = 3.0,
    *,
    image_size: int | None = None,
    l2: float = 0.0,
    tv: float = 0.0,
    jitter: int = 0,
    scale: float = 0.0,
    rotate: float = 0.0,
    seed_image: Any = None,
    seed: int = 0,
    return_frames: bool = False,
    frame_every: int = 1,
    batch_size: int | None = None,
    crop: bool = True,
    progress: bool = True,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Images that maximise filters of a layer, all filters in one batch.

    Activation maximization (Erhan et al. 2009): starting from grey noise (or
    a photo, as in DeepDream, Mordvintsev et al. 2015), repeat

    .. math:: x \\leftarrow x + \\eta \\, \\frac{g}{\\mathrm{rms}(g)}, \\qquad
              g = \\nabla_x \\Big[ \\tfrac{1}{|\\Omega|} \\sum_{(i,j) \\in \\Omega} a_{ijk}(T(x))
              - \\lambda_2 \\, \\overline{u^2} - \\lambda_{tv} \\, \\overline{|\\nabla u|} \\Big]

    where ``a_ijk`` is channel ``k`` of the layer at position ``(i, j)``,
    ``Omega`` leaves out the two outer positions of the feature map (the
    source's ``2:-2``, fewer on maps smaller than 5x5), ``T`` is an optional
    random jitter/scale/rotation and ``u = (x - 127.5) / 127.5`` the centred
    image. Without transforms and penalties (the defaults) this is the
    source's method; the transforms and penalties are the regularisers of
    Olah et al. (2017) (total variation after Mahendran & Vedaldi 2015),
    which make the patterns recognisable to people.

    Every requested filter gets its own image in one batch and one compiled
    step (traced once per model, layer and image size); the gradient is
    normalised per image, so the result equals optimising each filter alone.

    Parameters
    ----------
    model
        A course model: raw RGB pixels in [0, 255] in. Only the part up to
        ``layer`` runs (:func:`layer_head`).
    layer
        Name of a layer with a feature-map output, e.g. ``"conv3_block4_out"``
        of ResNet50V2. The layer may sit inside a nested model.
    filters
        A channel index or a sequence of them (repeats allowed).
    steps
        Ascent steps (the source uses 50 for one filter, 300 for its grids).
    learning_rate
        Root-mean-square change of a pixel per step, in grey levels (pixels
        run 0-255). The source's step of 10 on [-1, 1] inputs at 224x224 is
        about 3.3 grey levels per pixel.
    image_size
        Side of the optimised square images. ``None`` uses the model's input
        size (224 for the ImageNet models: faithful to the source); quick mode
        passes ``settings().fv_image_size`` (96), which runs the same
        convolutions on a smaller canvas, about 5x faster.
    l2, tv
        Strengths of the L2 penalty ``mean(u**2)`` and the total-variation
        penalty ``mean|u[i+1,j]-u[i,j]| + mean|u[i,j+1]-u[i,j]|``, both
        dimensionless and at most about 1 (2 for TV), so a strength reads as "this
        many units of mean activation"; 0 turns a penalty off.
    jitter, scale, rotate
        Random transforms before the network at every step: a shift of up to
        ``jitter`` pixels, a zoom by up to ``scale`` (0.05 = 5 %), a rotation
        of up to ``rotate`` degrees. 0 turns a transform off.
    seed_image
        A photo ``(H, W, 3)`` in [0, 255] to start from instead of grey: its
        central square, resized to ``image_size``, plus the same small noise.
    seed
        Seeds the starting noise and the transforms; filter ``f`` draws from
        ``(seed, f)`` so results do not depend on which filters share a batch.
    return_frames
        Also return the images during the optimisation.
    frame_every
        With ``return_frames``: keep the start and every ``frame_every``-th
        step (and always the last).
    batch_size
        Filters per batch; ``None`` puts all of them in one batch. Smaller
        batches only save memory: the images are the same.
    crop
        Crop the border for display (the source does). ``crop=False`` keeps
        the full ``image_size`` canvas, e.g. to feed the images back into the
        model with :func:`filter_responses`: on small canvases the pattern sits
        on the feature map's grid, and cropping shifts it off.
    progress
        Show a progress bar (``tqdm``).

    Returns
    -------
    images : np.ndarray
        uint8 ``(F, H, W, 3)``, one image per requested filter, through
        :func:`deprocess` (so ``H = image_size - 2 * crop_margin(image_size)``,
        or ``image_size`` with ``crop=False``).
    frames : np.ndarray
        Only with ``return_frames``: uint8 ``(F, T, H, W, 3)``, deprocessed the
        same way, ``T = 1 + ceil(steps / frame_every)``.

    Raises
    ------
    ValueError
        Unknown layer (the message lists the convolutional layers), a layer
        without a feature map, a filter index beyond the layer's channels (the
        message gives the count), or a bad number.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    chosen, _single = _check_indices("filters", filters)
    _check_common(steps, learning_rate, l2, tv, jitter, scale, rotate, seed, frame_every, batch_size)
    size = _resolve_size(model, image_size)
    head = layer_head(model, layer, size)
    channels = int(head.outputs[0].shape[-1])
    bad = [f for f in chosen if not 0 <= f < channels]
    if bad:
        raise ValueError(
            f"filter index {bad[0]} is out of range: layer {models.find_layer(model, layer).name!r} has "
            f"{channels} filters (channels), so use 0 to {channels - 1}."
        )
    step_fn = _filter_step(model, layer, size)
    raw, raw_frames = _run_ascent(
        step_fn,
        chosen,
        size,
        steps,
        learning_rate,
        l2,
        tv,
        jitter,
        scale,
        rotate,
        seed,
        seed_image,
        frame_every if return_frames else None,
        batch_size,
        progress,
        f"{len(chosen)} filters",
    )
    images = deprocess(raw, crop=crop)
    if return_frames:
        return images, deprocess(raw_frames, crop=crop)
    return images


def filter_responses(
    model: keras.Model, layer: str | keras.layers.Layer, images: Any, filters: int | Sequence[int] | None = None
) -> np.ndarray:
    """Mean activation of filters on images, border positions left out.

    The quantity :func:`maximize_filters` maximises, measured on any images
    (e.g. its uint8 outputs): entry ``[i, j]`` is how strongly image ``i``
    excites filter ``filters[j]``. For maximised images the diagonal should
    win each column: every filter responds most to its own image.

    Parameters
    ----------
    model, layer
        As for :func:`maximize_filters`.
    images
        ``(N, S, S, 3)`` pixels in [0, 255] (one ``(S, S, 3)`` image is a batch of one).
    filters
        Channels to report; ``None`` for all.

    Returns
    -------
    np.ndarray
        float ``(N, len(filters))``.
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[1] != array.shape[2]:
        raise ValueError(f"images must be square RGB (N, S, S, 3), got shape {array.shape}")
    head = layer_head(model, layer, array.shape[1])
    channels = int(head.outputs[0].shape[-1])
    chosen = list(range(channels)) if filters is None else _check_indices("filters", filters)[0]
    bad = [f for f in chosen if not 0 <= f < channels]
    if bad:
        raise ValueError(
            f"filter index {bad[0]} is out of range: the layer has {channels} filters, so use 0 to {channels - 1}."
        )
    inner = _inner(head(tf.constant(array), training=False))
    means = tf.reduce_mean(inner, axis=[1, 2]).numpy()
    return means[:, chosen]


# --------------------------------------------------------------------------- classes
def class_scores(model: keras.Model, images: Any, objective: str = "logit") -> np.ndarray:
    """Class logits (or probabilities) of images, ``(N, classes)``.

    Parameters
    ----------
    model
        A course classifier (raw pixels in [0, 255], softmax scores out).
    images
        ``(N, H, W, 3)`` or one ``(H, W, 3)`` image at the model's input size.
    objective
        ``"logit"`` (scores before the softmax) or ``"probability"``.
    """
    if objective not in ("logit", "probability"):
        raise ValueError(f"objective must be 'logit' or 'probability', got {objective!r}")
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    logits = logits_getter(model)()(tf.constant(array), training=False)
    return (tf.nn.softmax(logits) if objective == "probability" else logits).numpy()


def maximize_class(
    model: keras.Model,
    class_index: int | Sequence[int],
    steps: int = 100,
    learning_rate: float = 3.0,
    *,
    l2: float = 0.1,
    objective: str = "logit",
    tv: float = 0.0,
    jitter: int = 0,
    scale: float = 0.0,
    rotate: float = 0.0,
    seed_image: Any = None,
    seed: int = 0,
    frame_every: int = 1,
    crop: bool = True,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """An image that maximises a class score: a class model (Simonyan et al. 2014).

    Gradient ascent on

    .. math:: S_c(x) - \\lambda \\, \\overline{u^2}, \\qquad u = (x - 127.5) / 127.5

    with the same normalised step, transforms and total-variation option as
    :func:`maximize_filters`. ``S_c`` is the class logit by default, as in
    Simonyan et al.: the softmax probability can also be raised by pushing
    the *other* classes down (``grad p_c = p_c (grad z_c - sum_j p_j grad z_j)``),
    so its images fill with evidence against competitors, and it saturates
    (``dp_c/dz_c = p_c (1 - p_c)`` vanishes once the class wins, and in float32
    the gradient then is mostly rounding). The source maximises the
    probability; ``objective="probability"`` does that.

    The L2 term keeps the image from growing without bound. The source's
    ``1e-6 * tf.nn.l2_loss(x)`` on a 224x224 image in [-1, 1] units equals
    ``l2 = 0.075`` here (``l2_loss`` is half the sum, the mean divides by
    150,528 values); the default 0.1 is that strength, rounded.

    Parameters
    ----------
    model
        A course classifier: raw RGB pixels in [0, 255] in, class scores out
        (VGG16 in the source). Its input size is used (224 for ImageNet
        models, whose dense top fixes it).
    class_index
        A class, or a sequence of classes optimised together as one batch.
    steps, learning_rate, tv, jitter, scale, rotate, seed_image, seed
        As for :func:`maximize_filters`.
    l2
        Strength ``lambda`` of the L2 penalty (0 turns it off).
    objective
        ``"logit"`` or ``"probability"``.
    frame_every
        Keep the start and every ``frame_every``-th step (and the last) as a frame.
    crop
        Crop the border for display (the source does); ``crop=False`` keeps
        the model's input size, e.g. to feed the image back with :func:`class_scores`.
    progress
        Show a progress bar.

    Returns
    -------
    image : np.ndarray
        uint8 ``(H, W, 3)`` for one class, ``(N, H, W, 3)`` for a sequence,
        through :func:`deprocess`.
    frames : np.ndarray
        uint8 ``(T, H, W, 3)`` (or ``(N, T, H, W, 3)``), ready for :func:`save_gif`.

    Raises
    ------
    ValueError
        A class index out of range (the message gives the range), an unknown
        objective or a bad number.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    if objective not in ("logit", "probability"):
        raise ValueError(
            f"objective must be 'logit' (score before the softmax; recommended) or 'probability', got {objective!r}"
        )
    chosen, single = _check_indices("class_index", class_index)
    _check_common(steps, learning_rate, l2, tv, jitter, scale, rotate, seed, frame_every, None)
    size = _resolve_size(model, None)
    num_classes = int(model.outputs[0].shape[-1])
    models.validate_class_index(chosen, num_classes, len(chosen))
    step_fn = _class_step(model, size)
    weight = tf.constant(1.0 if objective == "probability" else 0.0, tf.float32)
    raw, raw_frames = _run_ascent(
        step_fn,
        chosen,
        size,
        steps,
        learning_rate,
        l2,
        tv,
        jitter,
        scale,
        rotate,
        seed,
        seed_image,
        frame_every,
        None,
        progress,
        f"class {chosen[0]}" if single else f"{len(chosen)} classes",
        extra=(weight,),
    )
    images, frames = deprocess(raw, crop=crop), deprocess(raw_frames, crop=crop)
    if single:
        return images[0], frames[0]
    return images, frames


# --------------------------------------------------------------------------- GIF
def save_gif(frames: Any, path: str | os.PathLike, fps: float = 5) -> Path:
    """Write frames as an animated GIF with moviepy; return the path.

    Parameters
    ----------
    frames
        uint8 ``(T, H, W, 3)`` (e.g. the frames of :func:`maximize_class`);
        floats are read as pixels in [0, 255] (or [0, 1]).
    path
        Where to write, ending in ``.gif``. A bare file name goes into
        ``config.output_dir("gifs")``, so notebooks write under ``build/``.
    fps
        Frames per second (> 0).

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    GIF writers merge consecutive identical frames into one longer frame, so
    a file can hold fewer frames than ``T`` when the image stops changing.
    Everything happens locally (moviepy writes through imageio and Pillow).
    """
    from moviepy import ImageSequenceClip

    from course_utils.viz import to_uint8_image

    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] < 1:
        raise ValueError(
            f"frames must be (T, H, W, 3) with T >= 1, got shape {array.shape}; for a batch from "
            "maximize_filters(..., return_frames=True) pass frames[i] of one filter."
        )
    rate = _check_float("fps", fps, 0.0, strict=True)
    target = Path(path)
    if target.suffix.lower() != ".gif":
        raise ValueError(f"path must end in .gif, got {str(path)!r}")
    if target.parent == Path("."):
        target = config.output_dir("gifs") / target.name
    target.parent.mkdir(parents=True, exist_ok=True)
    sequence = [to_uint8_image(frame) for frame in array]  # a list: moviepy reads an array as a folder name
    clip = ImageSequenceClip(sequence, fps=rate)
    # moviepy writes int(duration * fps) frames, and its duration (a sum of
    # 1/fps) can fall just short of T/fps, dropping the last frame; half a
    # frame of slack keeps all T.
    clip = clip.with_duration((len(sequence) + 0.5) / rate)
    clip.write_gif(str(target), fps=rate, logger=None)
    return target
