"""Feature visualization: inputs that maximise a filter or a class score.

Activation maximization (Erhan et al. 2009) asks the trained network itself
what a unit responds to: keep the weights fixed and change the *input* by
gradient ascent until the unit's activation is as large as possible. Applied
to one filter of a convolutional layer it shows the texture or pattern that
filter detects; applied to a class score it gives a "class model"
(Simonyan et al. 2014); started from a photo instead of noise it amplifies
what the filter already sees there, as DeepDream does (Mordvintsev et al. 2015).

The machinery follows lucid's split (Olah et al. 2017) and is composable:

objectives
    What to raise, built from terms with ``+``, ``-`` and weights:
    :func:`channel` (a filter's mean activation away from the border of its
    feature map), :func:`class_logit`, :func:`class_probability`, and the
    penalties :func:`l2_penalty` and :func:`total_variation`, e.g.
    ``channel("conv3_block4_out") - 0.05 * total_variation()``. A term is a
    :class:`Term` object that maps what it reads (a layer's activations, the
    logits or the pixels) to one score per image; a new one is a subclass of
    a few lines, and runs through the same compiled step.
transforms
    A list of random moves applied to the image before the network sees it at
    every step (:class:`Jitter`, :class:`Scale`, :class:`Rotate`, or a
    :class:`Transform` of your own), composed into one differentiable
    resampling, so only features that survive small shifts can grow;
    high-frequency "adversarial" patterns cannot.
callbacks
    Watch the loop: :class:`RecordFrames` (frames for a GIF),
    :class:`ObjectiveHistory`, :class:`ProgressBar`, or a :class:`Callback`
    of your own.
parameterization
    What the ascent changes. :class:`PixelImage` (the default) optimises the
    course's pixel space directly: float32 RGB in [0, 255], starting from
    mid-grey plus a little uniform noise, or from a photo plus that noise.
    :class:`FourierImage` optimises a scaled Fourier spectrum of decorrelated
    colours instead (Olah et al. 2017): every frequency gets a comparable
    step, so low frequencies, which pixel-space ascent barely moves, grow
    too, and class images become recognisable instead of coloured noise.

:func:`visualize` runs the one compiled ascent step; :func:`maximize_filters`
and :func:`maximize_class` are thin wrappers that build an objective and a
transform list from keyword arguments, and both return a
:class:`MaximizedImages` (display images, and frames when recorded). Every image of a batch has its own
target (its own filter or class), and the gradient is normalised per image,
so many filters are optimised at once as one batch exactly as if each were
optimised alone. The step is a ``tf.function`` with a ``None`` batch
dimension whose numbers (learning rate, term weights, transforms, targets)
are tensors: it is traced once per model, set of terms and image size,
however many filters, steps or weights are asked for (:func:`tracing_counts`).

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

import dataclasses
import math
import weakref
from typing import Any, Callable, ClassVar, Sequence

import keras
import numpy as np
import tensorflow as tf

from course_utils import image_io, models
from course_utils._core import (
    Network,
    check_classifier,
    compiled,
    compiled_function,
    int_or_ints,
    positive_int,
    real_array,
    real_number,
    tracing_counts,
    validate_class_index,
)
from course_utils.models import logits_getter

__all__ = [
    "deprocess",
    "crop_margin",
    "crop_border",
    "layer_head",
    "filter_responses",
    "class_scores",
    "maximize_filters",
    "maximize_class",
    "visualize",
    "Objective",
    "Term",
    "Channel",
    "ClassLogit",
    "ClassProbability",
    "L2Penalty",
    "TotalVariation",
    "CLASS_SCORES",
    "MaximizedImages",
    "channel",
    "class_logit",
    "class_probability",
    "l2_penalty",
    "total_variation",
    "Transform",
    "Jitter",
    "Scale",
    "Rotate",
    "standard_transforms",
    "Callback",
    "RecordFrames",
    "ObjectiveHistory",
    "ProgressBar",
    "Parameterization",
    "PixelImage",
    "FourierImage",
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


# --------------------------------------------------------------------------- deprocessing
def crop_margin(image_size: int) -> int:
    """Pixels cropped from each side for display: the source's 25 of 224, scaled."""
    return int(round(positive_int("image_size", image_size, 1) * _CROP_FRACTION))


def crop_border(images: Any) -> np.ndarray:
    """Cut the display border off images kept whole with ``crop=False``.

    ``crop_border(maximize_filters(..., crop=False))`` equals
    ``maximize_filters(...)``: keep the full canvas to feed images back into
    the network, crop only to show them.
    """
    array = real_array("images", images, dtype=None)
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
    array = real_array("images", images)
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
    return positive_int("image_size", image_size, 8)


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
                f"map (N, h, w, channels); pick a convolutional layer. {_conv_layers_for_message(model)}"
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


def _conv_layers_for_message(model: keras.Model) -> str:
    names = models.conv_layer_names(model)
    shown = names if len(names) <= 40 else [*names[:20], "...", *names[-20:]]
    return f"Convolutional layers of this model ({len(names)}): {', '.join(shown)}"


def _border(extent: int) -> int:
    """Positions left out on each side: the source's 2, fewer on tiny maps (keep >= 1)."""
    return max(0, min(_BORDER, (extent - 1) // 2))


def _inner(activations: tf.Tensor) -> tf.Tensor:
    rows = _border(int(activations.shape[1]))
    cols = _border(int(activations.shape[2]))
    return activations[:, rows : activations.shape[1] - rows, cols : activations.shape[2] - cols, :]


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
    per_image = list(range(1, len(gradients.shape)))  # pixels (N, S, S, 3) or spectra (N, 3, S, S/2 + 1, 2)
    return images + learning_rate * tf.sqrt(values) * tf.math.l2_normalize(gradients, axis=per_image)


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


# --------------------------------------------------------------------------- randomness per image
def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    # One generator per (seed, image index, purpose): an image's noise and
    # transforms do not depend on which other images share its batch.
    return np.random.default_rng([seed, index, stream])


def _initial_images(indices: Sequence[int], size: int, seed: int, start: np.ndarray | None) -> np.ndarray:
    base = np.full((size, size, 3), _GREY, np.float32) if start is None else start
    noise = [(_rng(seed, i, 0).random((size, size, 3), dtype=np.float32) - 0.5) * _NOISE_WIDTH for i in indices]
    return (base[None] + np.stack(noise)).astype(np.float32)


def _start_image(seed_image: Any, size: int) -> np.ndarray | None:
    if seed_image is None:
        return None
    array = np.asarray(seed_image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.dtype.kind not in "buif":
        raise TypeError(
            f"seed_image must hold real pixels in [0, 255], got {type(seed_image).__name__} of dtype {array.dtype}"
        )
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(
            f"seed_image must be one RGB photo (H, W, 3) with pixels in [0, 255], got shape "
            f"{array.shape} and dtype {array.dtype}; load one with image_io.load_image or data.sample_images."
        )
    # The central square, so a landscape photo is not squashed.
    return image_io.center_square(array, size).astype(np.float32)


# --------------------------------------------------------------------------- parameterizations
class Parameterization:
    """What gradient ascent optimises, and how it becomes the pixels the network sees.

    Subclasses give the parameters' shape per image, their starting values,
    and ``to_pixels``, a differentiable TensorFlow map from parameters to
    float32 RGB in [0, 255]; :func:`visualize` compiles one ascent step per
    parameterization (its :attr:`key`) and normalises the gradient per image
    in parameter space.
    """

    #: Part of the compiled step's cache key: two parameterizations with the same key share a step.
    key = "parameterization"

    def shape(self, size: int) -> tuple[int, ...]:
        """Shape of one image's parameters at ``size`` x ``size`` pixels."""
        raise NotImplementedError

    def initial(self, indices: Sequence[int], size: int, seed: int, start: np.ndarray | None) -> np.ndarray:
        """Starting parameters, ``(len(indices), *shape(size))`` float32; image ``i`` draws from ``(seed, i)``."""
        raise NotImplementedError

    def to_pixels(self, parameters: tf.Tensor) -> tf.Tensor:
        """``(N, *shape)`` parameters -> ``(N, size, size, 3)`` float32 pixels."""
        raise NotImplementedError


class PixelImage(Parameterization):
    """The pixels themselves: what the course's ascent has always optimised (the default)."""

    key = "pixels"

    def shape(self, size: int) -> tuple[int, ...]:
        return (size, size, 3)

    def initial(self, indices: Sequence[int], size: int, seed: int, start: np.ndarray | None) -> np.ndarray:
        return _initial_images(indices, size, seed, start)

    def to_pixels(self, parameters: tf.Tensor) -> tf.Tensor:
        return parameters


#: Square root of the colour covariance of ImageNet photos (an SVD factor, columns normalised by the largest
#: column norm), as in Olah et al. 2017: decorrelated colour channels in, RGB out.
_COLOUR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
_COLOUR_SQRT = _COLOUR_SQRT / np.max(np.linalg.norm(_COLOUR_SQRT, axis=0))


class FourierImage(Parameterization):
    """A Fourier spectrum of decorrelated colours, scaled by ``1 / frequency ** decay`` (Olah et al., 2017).

    The parameters are the real and imaginary parts of each colour channel's
    2-D spectrum, ``(3, S, S // 2 + 1, 2)`` per image. The image is the inverse
    real FFT of the spectrum times ``1 / max(f, 1 / S) ** decay`` (``f`` in
    cycles per pixel), mixed from decorrelated colour channels into RGB by the
    square root of ImageNet's colour covariance, squashed by a sigmoid into
    (0, 255). A normalised step changes every frequency about equally in
    parameter space, which after the scaling means natural-image statistics:
    much larger steps at low frequencies than pixel-space ascent gives them.

    Parameters
    ----------
    decay
        Exponent of the frequency scaling (1: the 1/f spectrum of photos), >= 0.
    """

    def __init__(self, decay: float = 1.0) -> None:
        self.decay = real_number("decay", decay, 0.0)
        self.key = f"fourier(decay={self.decay:g})"

    def shape(self, size: int) -> tuple[int, ...]:
        return (3, size, size // 2 + 1, 2)

    def initial(self, indices: Sequence[int], size: int, seed: int, start: np.ndarray | None) -> np.ndarray:
        if start is not None:
            raise ValueError("FourierImage starts from noise; seed_image needs the default PixelImage()")
        return np.stack([0.01 * _rng(seed, i, 0).standard_normal(self.shape(size), dtype=np.float32) for i in indices])

    def _scale(self, size: int) -> np.ndarray:
        rows = np.fft.fftfreq(size)[:, None]
        cols = np.fft.rfftfreq(size)[None, :]
        frequency = np.sqrt(rows**2 + cols**2)
        # times size: the inverse FFT divides by size**2, so unit spectra would give pixels near 0
        return (size / np.maximum(frequency, 1.0 / size) ** self.decay).astype(np.float32)

    def to_pixels(self, parameters: tf.Tensor) -> tf.Tensor:
        size = int(parameters.shape[2])
        scale = tf.constant(self._scale(size))
        spectrum = tf.complex(parameters[..., 0] * scale, parameters[..., 1] * scale)
        channels = tf.signal.irfft2d(spectrum, fft_length=[size, size]) / 4.0  # (N, 3, S, S), logits of the sigmoid
        decorrelated = tf.transpose(channels, [0, 2, 3, 1])
        rgb = tf.einsum("nhwc,dc->nhwd", decorrelated, tf.constant(_COLOUR_SQRT))
        return 255.0 * tf.sigmoid(rgb)


# --------------------------------------------------------------------------- objectives
#: What a term can read (:attr:`Term.reads`): the image itself, a layer's feature map, or the logits.
_SOURCES = ("pixels", "activations", "logits")

#: Per fully qualified class name, the term classes seen so far: a class defined again under the same name
#: (a notebook cell run twice with a new ``score``) gets a key of its own, hence its own compiled step.
_TERM_CLASSES: dict[str, list[weakref.ref[type]]] = {}


def _term_class_name(cls: type) -> str:
    seen = _TERM_CLASSES.setdefault(f"{cls.__module__}.{cls.__qualname__}", [])
    number = next((k for k, known in enumerate(seen) if known() is cls), None)
    if number is None:
        seen.append(weakref.ref(cls))
        number = len(seen) - 1
    return cls.__qualname__ if number == 0 else f"{cls.__qualname__}#{number + 1}"


class Term:
    """One term of an objective: a score per image that the ascent raises, times its weight.

    A term says what it reads, :attr:`reads`, and maps those values and each
    image's target to one score per image, :meth:`score`:

    ``"activations"``
        the feature map of the layer named :attr:`layer`, float32
        ``(N, h, w, channels)``, computed from the randomly transformed image;
    ``"logits"``
        the class scores before the softmax, float32 ``(N, classes)``, of the
        transformed image (needs the model's own input size);
    ``"pixels"``
        the image itself, float32 ``(N, S, S, 3)`` in about [0, 255], before the
        transforms (penalties such as :class:`TotalVariation`).

    Terms add and scale into an :class:`Objective` (``a + b``, ``0.5 * a``,
    ``-a``), in the spirit of lucid's objectives and tf-keras-vis'
    regularizers (Olah et al. 2017). A term of your own is a subclass that
    sets ``reads`` (and ``layer``) and writes ``score`` with TensorFlow ops;
    :func:`visualize` runs it inside its one compiled step, computing each
    layer and the logits once however many terms read them. Terms that read
    the same thing are equal when their class and attributes are; the
    attributes are part of the compiled step's key (changing one retraces),
    the weights are not (see :class:`Objective`).
    """

    #: What :meth:`score` receives: ``"activations"`` (of :attr:`layer`), ``"logits"`` or ``"pixels"``.
    reads: ClassVar[str] = "pixels"
    #: The layer whose feature map an ``"activations"`` term reads.
    layer: str | None = None

    def score(self, values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """Scores ``(N,)`` from what the term reads, ``values`` ``(N, ...)``, and each image's target, int32 ``(N,)``."""
        raise NotImplementedError(f"{type(self).__name__} must define score(values, targets) -> (N,) scores")

    def check_targets(self, targets: Sequence[int], shape: tuple[int, ...]) -> None:
        """Refuse targets the term cannot read (a ``ValueError`` saying the range); ``shape``: one image's values."""

    @property
    def key(self) -> str:
        """The term in the compiled step's cache key and in ``repr``: its class name and attributes."""
        attributes = ", ".join(f"{name}={value!r}" for name, value in sorted(vars(self).items()))
        return f"{_term_class_name(type(self))}({attributes})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.key == self.key

    def __hash__(self) -> int:
        return hash((type(self), self.key))

    def __repr__(self) -> str:
        return self.key

    def _as_objective(self) -> Objective:
        return Objective(((self, 1.0),))

    def __add__(self, other: Objective | Term) -> Objective:
        return self._as_objective() + other

    def __sub__(self, other: Objective | Term) -> Objective:
        return self._as_objective() - other

    def __mul__(self, factor: float) -> Objective:
        return self._as_objective() * factor

    def __rmul__(self, factor: float) -> Objective:
        return self._as_objective() * factor

    def __neg__(self) -> Objective:
        return -self._as_objective()


@dataclasses.dataclass(frozen=True, eq=True, repr=False)
class Channel(Term):
    """Mean activation of each image's target channel of ``layer``, border positions left out (Erhan et al. 2009).

    The two outer positions of the feature map are skipped (fewer on maps smaller
    than 5x5): zero padding makes activations there grow without showing a pattern.
    """

    layer: str
    reads: ClassVar[str] = "activations"

    def __post_init__(self) -> None:
        if not isinstance(self.layer, str):
            raise TypeError(f"layer must be a layer name (str), e.g. 'conv3_block4_out', got {self.layer!r}")

    @property
    def key(self) -> str:
        return f"channel({self.layer})"

    def score(self, values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        # Each image's own channel; images do not interact (inference mode).
        own = tf.gather(_inner(values), targets, axis=3, batch_dims=1)
        return tf.reduce_mean(own, axis=[1, 2])

    def check_targets(self, targets: Sequence[int], shape: tuple[int, ...]) -> None:
        channels = int(shape[-1])
        bad = [t for t in targets if not 0 <= t < channels]
        if bad:
            raise ValueError(
                f"filter index {bad[0]} is out of range: layer {self.layer!r} has {channels} filters "
                f"(channels), so use 0 to {channels - 1}."
            )


@dataclasses.dataclass(frozen=True, eq=True, repr=False)
class ClassLogit(Term):
    """The logit (score before the softmax) of each image's target class (Simonyan et al. 2014)."""

    reads: ClassVar[str] = "logits"

    @property
    def key(self) -> str:
        return "class_logit"

    def score(self, values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        return tf.gather(values, targets, axis=1, batch_dims=1)

    def check_targets(self, targets: Sequence[int], shape: tuple[int, ...]) -> None:
        validate_class_index(list(targets), int(shape[-1]), len(targets))


@dataclasses.dataclass(frozen=True, eq=True, repr=False)
class ClassProbability(ClassLogit):
    """The softmax probability of each image's target class; saturates once the class wins."""

    @property
    def key(self) -> str:
        return "class_probability"

    def score(self, values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        return tf.gather(tf.nn.softmax(values), targets, axis=1, batch_dims=1)


@dataclasses.dataclass(frozen=True, eq=True, repr=False)
class L2Penalty(Term):
    """``mean(u**2)`` of the centred image ``u = (x - 127.5) / 127.5``, in [0, 1]; subtract it to keep pixels small."""

    @property
    def key(self) -> str:
        return "l2"

    def score(self, values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.square(_centred(values)), axis=[1, 2, 3])


@dataclasses.dataclass(frozen=True, eq=True, repr=False)
class TotalVariation(Term):
    """``mean|u[i+1,j]-u[i,j]| + mean|u[i,j+1]-u[i,j]|`` of the centred image, in [0, 2] (Mahendran & Vedaldi 2015).

    Subtract it to favour smooth images over high-frequency noise.
    """

    @property
    def key(self) -> str:
        return "total_variation"

    def score(self, values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        return _variation(_centred(values))


@dataclasses.dataclass(frozen=True)
class Objective:
    """A weighted sum of terms, each scoring every image; the ascent maximises it per image.

    Build one from :class:`Term` objects (:func:`channel`, :func:`class_logit`,
    :func:`class_probability`, :func:`l2_penalty`, :func:`total_variation`, or
    a term of your own) with ``+``, ``-`` and scalar ``*``, e.g.
    ``channel("conv3_block4_out") - 0.05 * total_variation()``; equal terms
    merge, their weights add. Terms that need a target (a channel, a class)
    read it per image from the ``targets`` of :func:`visualize`. The weights
    are fed to the compiled step as a tensor: changing them (even to 0)
    never retraces it; a different set of terms is a different step.
    """

    terms: tuple[tuple[Term, float], ...]

    def __add__(self, other: Objective | Term) -> Objective:
        if isinstance(other, Term):
            other = other._as_objective()
        if not isinstance(other, Objective):
            return NotImplemented
        # Merged by key, not by hash: a term need not be hashable (a plain dataclass is not).
        merged = {term.key: (term, weight) for term, weight in self.terms}
        for term, weight in other.terms:
            merged[term.key] = (term, merged.get(term.key, (term, 0.0))[1] + weight)
        return Objective(tuple(merged.values()))

    def __mul__(self, factor: float) -> Objective:
        scale = real_number("objective weight", factor)
        return Objective(tuple((term, weight * scale) for term, weight in self.terms))

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return self * -1.0

    def __sub__(self, other: Objective | Term) -> Objective:
        if not isinstance(other, (Objective, Term)):
            return NotImplemented
        return self + (-other)

    @property
    def key(self) -> str:
        """The terms, in order, as the compiled step's cache key."""
        return "+".join(term.key for term, _ in self.terms)

    @property
    def weights(self) -> np.ndarray:
        """float32 ``(terms,)``, in the order of :attr:`terms`."""
        return np.array([weight for _, weight in self.terms], np.float32)

    def __repr__(self) -> str:
        return " + ".join(f"{weight:g}*{term.key}" for term, weight in self.terms)


def channel(layer: str | keras.layers.Layer) -> Objective:
    """Mean activation of each image's target channel of ``layer`` (:class:`Channel`), as an objective."""
    if not isinstance(layer, (str, keras.layers.Layer)):
        raise TypeError(f"layer must be a layer name (str) or a keras layer, got {type(layer).__name__}")
    return Channel(layer.name if isinstance(layer, keras.layers.Layer) else layer)._as_objective()


def class_logit() -> Objective:
    """The logit of each image's target class (:class:`ClassLogit`), as an objective."""
    return ClassLogit()._as_objective()


def class_probability() -> Objective:
    """The softmax probability of each image's target class (:class:`ClassProbability`), as an objective."""
    return ClassProbability()._as_objective()


def l2_penalty() -> Objective:
    """The mean squared centred pixel (:class:`L2Penalty`), as an objective; subtract it."""
    return L2Penalty()._as_objective()


def total_variation() -> Objective:
    """The total variation of the centred image (:class:`TotalVariation`), as an objective; subtract it."""
    return TotalVariation()._as_objective()


#: The class scores that :func:`maximize_class` and :func:`class_scores` accept by name.
CLASS_SCORES: dict[str, Term] = {"logit": ClassLogit(), "probability": ClassProbability()}


def _class_score_name(objective: Any) -> str:
    if not isinstance(objective, str):
        raise TypeError(f"objective must be a name, 'logit' or 'probability', got {type(objective).__name__}")
    if objective not in CLASS_SCORES:
        raise ValueError(
            f"objective must be 'logit' (score before the softmax; recommended) or 'probability', got {objective!r}"
        )
    return objective


def _as_objective(objective: Objective | Term) -> Objective:
    if isinstance(objective, Term):
        objective = objective._as_objective()
    elif not isinstance(objective, Objective):
        raise TypeError(
            f"objective must be an Objective or a Term, e.g. features.channel('conv2') - 0.1 * "
            f"features.l2_penalty(), got {type(objective).__name__}"
        )
    for term, _ in objective.terms:
        if term.reads not in _SOURCES:
            raise ValueError(f"term {term!r} reads {term.reads!r}; a term reads 'pixels', 'logits' or 'activations'")
        if term.reads == "activations":
            _term_layer(term)
    return objective


def _term_layer(term: Term) -> str:
    if not isinstance(term.layer, str):
        raise TypeError(
            f"term {term!r} reads 'activations', so its layer must be a layer name (str), got {term.layer!r}"
        )
    return term.layer


def _source(term: Term) -> str:
    """What ``term`` reads, as a key shared by the terms that read the same tensor."""
    return f"activations:{term.layer}" if term.reads == "activations" else term.reads


def _network_readers(
    model: keras.Model, objective: Objective, size: int
) -> dict[str, Callable[[tf.Tensor], tf.Tensor]]:
    """Per network source the terms read, ``seen images -> values``; built outside the compiled step, model not kept."""
    readers: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {}
    for term, _ in objective.terms:
        source = _source(term)
        if source in readers or source == "pixels":
            continue
        if term.reads == "logits":
            readers[source] = _reader(logits_getter(model))
        else:
            readers[source] = _reader(_fixed(layer_head(model, _term_layer(term), size)))
    return readers


def _fixed(network: keras.Model) -> Callable[[], keras.Model]:
    return lambda: network


def _reader(network: Callable[[], keras.Model]) -> Callable[[tf.Tensor], tf.Tensor]:
    """``seen -> network()(seen)`` in inference mode; ``network`` is a getter, so a model can stay weakly held."""

    def read(seen: tf.Tensor) -> tf.Tensor:
        return network()(seen, training=False)

    return read


def _source_shape(model: keras.Model, term: Term, size: int) -> tuple[int, ...]:
    """The shape of one image's values that ``term`` reads (the class objectives' size checked)."""
    if term.reads == "pixels":
        return (size, size, 3)
    if term.reads == "activations":
        return tuple(int(d) for d in layer_head(model, _term_layer(term), size).outputs[0].shape[1:])
    own_size = _model_image_size(model)
    if own_size is not None and size != own_size:
        raise ValueError(f"class objectives need the model's own input size {own_size}, got {size}")
    return (int(model.outputs[0].shape[-1]),)


def _check_targets(model: keras.Model, objective: Objective, targets: list[int], size: int) -> None:
    """Every target in range for every term that reads one; the message gives the range."""
    for term, _ in objective.terms:
        term.check_targets(targets, _source_shape(model, term, size))


def _centred(images: tf.Tensor) -> tf.Tensor:
    return (images - _GREY) / _GREY


def _variation(centred: tf.Tensor) -> tf.Tensor:
    rows = tf.reduce_mean(tf.abs(centred[:, 1:] - centred[:, :-1]), axis=[1, 2, 3])
    return rows + tf.reduce_mean(tf.abs(centred[:, :, 1:] - centred[:, :, :-1]), axis=[1, 2, 3])


def _term_score(term: Term, values: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    score = tf.cast(term.score(values, targets), tf.float32)
    if score.shape.rank != 1:
        raise ValueError(f"{term!r}.score must return one score per image, shape (N,), got shape {score.shape}")
    return score


def _weighted(term: Term, values: tf.Tensor, weight: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """``weight * score`` per image; at weight 0 (a slider at 0) a term that reads pixels does not run.

    The weight is a tensor, so the choice is made in the graph (``tf.cond``):
    moving a weight from 0 to 5 runs the other branch, not a second trace.
    Only the terms that read pixels are skipped: the network's forward pass
    is shared by every term that reads it, so it always runs.
    """
    if term.reads != "pixels":
        return weight * _term_score(term, values, targets)
    zeros = tf.zeros(tf.shape(values)[:1], tf.float32)
    return tf.cond(tf.equal(weight, 0.0), lambda: zeros, lambda: weight * _term_score(term, values, targets))


def _objective_values(
    objective: Objective,
    readers: dict[str, Callable[[tf.Tensor], tf.Tensor]],
    seen: tf.Tensor,
    images: tf.Tensor,
    targets: tf.Tensor,
    weights: tf.Tensor,
) -> tf.Tensor:
    """``sum_k w_k s_k`` per image, ``(N,)``: one forward pass per layer (and one for the logits)."""
    values = {source: tf.cast(read(seen), tf.float32) for source, read in readers.items()}
    values["pixels"] = images
    scores = [
        _weighted(term, values[_source(term)], weights[k], targets) for k, (term, _) in enumerate(objective.terms)
    ]
    return tf.reduce_sum(tf.stack(scores, axis=1), axis=1)


def _ascent_step(
    model: keras.Model, objective: Objective, size: int, parameterization: Parameterization
) -> Callable[..., tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    """The compiled ascent step for these terms, size and parameterization (cached; traced once for each)."""

    def make(network: Network) -> Callable[..., tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
        readers = _network_readers(network(), objective, size)

        def ascent_step(
            parameters: tf.Tensor,
            targets: tf.Tensor,
            transforms: tf.Tensor,
            learning_rate: tf.Tensor,
            weights: tf.Tensor,
        ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(parameters)
                images = parameterization.to_pixels(parameters)
                seen = _maybe_transform(images, transforms)
                objectives = _objective_values(objective, readers, seen, images, targets, weights)
                # The gradient of the sum is each image's own gradient: images do not interact.
                total = tf.reduce_sum(objectives)
            updated = _ascend(parameters, tape.gradient(total, parameters), learning_rate)
            return updated, parameterization.to_pixels(updated), objectives

        return ascent_step

    signature = [
        tf.TensorSpec((None, *parameterization.shape(size)), tf.float32),  # parameters being optimised
        tf.TensorSpec((None,), tf.int32),  # each image's target (a channel or a class)
        tf.TensorSpec((None, 8), tf.float32),  # this step's transform of each image
        tf.TensorSpec((), tf.float32),  # learning rate
        tf.TensorSpec((len(objective.terms),), tf.float32),  # the terms' weights
    ]
    suffix = "" if parameterization.key == PixelImage.key else f":{parameterization.key}"
    return compiled_function(model, f"ascent:{objective.key}@{size}{suffix}", signature, make, autograph=False)


# --------------------------------------------------------------------------- transforms
class Transform:
    """A random geometric change of every image before the network sees it, new at every step.

    Subclasses return, per step, the 3x3 matrix that maps an output pixel
    position ``(x, y, 1)`` to the input position it samples. :func:`visualize`
    multiplies the matrices of a list of transforms into one resampling per
    step (one differentiable op, however many transforms). Each subclass
    draws from its own random stream, so turning one transform on or off does
    not change the draws of the others.
    """

    stream: int = 0

    def sampling_matrices(self, rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
        """``(steps, 3, 3)`` sampling matrices for one image of side ``size``."""
        raise NotImplementedError


def _about_centre(matrices: np.ndarray, size: int) -> np.ndarray:
    """Conjugate linear maps ``(steps, 2, 2)`` by a shift, so they act about the image centre."""
    centre = (size - 1) / 2.0
    out = np.tile(np.eye(3), (len(matrices), 1, 1))
    out[:, :2, :2] = matrices
    out[:, :2, 2] = centre - matrices @ np.array([centre, centre])
    return out


@dataclasses.dataclass(frozen=True)
class Jitter(Transform):
    """Shift by a whole number of pixels in ``[-pixels, pixels]`` on each axis (Mordvintsev et al. 2015)."""

    pixels: int
    stream = 1

    def __post_init__(self) -> None:
        positive_int("jitter pixels", self.pixels, 0)

    def sampling_matrices(self, rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
        shift = np.rint(rng.uniform(-1.0, 1.0, size=(steps, 2)) * self.pixels)
        out = np.tile(np.eye(3), (steps, 1, 1))
        out[:, :2, 2] = -shift  # the output at p shows the input at p - shift
        return out


@dataclasses.dataclass(frozen=True)
class Scale(Transform):
    """Zoom about the centre by a factor in ``[1 - fraction, 1 + fraction]``, ``0 <= fraction < 1``."""

    fraction: float
    stream = 2

    def __post_init__(self) -> None:
        if not 0.0 <= real_number("scale", self.fraction) < 1.0:
            raise ValueError(f"scale must be in [0, 1) (0.05 = up to 5 % larger or smaller), got {self.fraction}")

    def sampling_matrices(self, rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
        factor = 1.0 + rng.uniform(-1.0, 1.0, size=steps) * self.fraction
        return _about_centre(np.eye(2)[None] / factor[:, None, None], size)


@dataclasses.dataclass(frozen=True)
class Rotate(Transform):
    """Turn about the centre by an angle in ``[-degrees, degrees]``, ``0 <= degrees <= 180``."""

    degrees: float
    stream = 3

    def __post_init__(self) -> None:
        if not 0.0 <= real_number("rotate", self.degrees) <= 180.0:
            raise ValueError(f"rotate must be in [0, 180] degrees, got {self.degrees}")

    def sampling_matrices(self, rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
        angle = np.deg2rad(rng.uniform(-1.0, 1.0, size=steps) * self.degrees)
        cos, sin = np.cos(angle), np.sin(angle)
        # Sampling turns the other way: input = R(-angle) (output - centre) + centre.
        return _about_centre(np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2), size)


def standard_transforms(jitter: int = 0, scale: float = 0.0, rotate: float = 0.0) -> list[Transform]:
    """The regularising transforms of Olah et al. (2017) in their order (scale, rotate, then shift); zeros left out."""
    chosen: list[Transform] = []
    if real_number("scale", scale) != 0.0:
        chosen.append(Scale(scale))
    if real_number("rotate", rotate) != 0.0:
        chosen.append(Rotate(rotate))
    if positive_int("jitter", jitter, 0):
        chosen.append(Jitter(jitter))
    return chosen


def _transform_rows(
    transforms: Sequence[Transform], indices: Sequence[int], steps: int, size: int, seed: int
) -> np.ndarray:
    """Per-step, per-image rows of the projective-transform op, ``(steps, len(indices), 8)``.

    The transforms apply in list order, so the sampling matrix is the product
    of their sampling matrices in the same order (the inverse of the composed
    forward map). Image ``i`` draws from ``(seed, i, stream)``.
    """
    rows = np.empty((steps, len(indices), 8), np.float32)
    for column, index in enumerate(indices):
        sampling = np.tile(np.eye(3), (steps, 1, 1))
        for transform in transforms:
            sampling = sampling @ transform.sampling_matrices(_rng(seed, index, transform.stream), steps, size)
        rows[:, column] = (sampling / sampling[:, 2:3, 2:3]).reshape(steps, 9)[:, :8]
    return rows


# --------------------------------------------------------------------------- callbacks
class Callback:
    """Hooks into :func:`visualize`'s loop; override the ones you need.

    ``images`` are the raw optimised pixels (tensors during the loop, call
    ``.numpy()`` only when you keep them: copying every step costs time),
    ``objectives`` the value of the objective per image before the step.
    """

    def on_start(self, targets: Sequence[int], steps: int, batch_size: int) -> None:
        """Before the first batch: every target, the steps per batch, the images per batch."""

    def on_batch_start(self, targets: Sequence[int], images: tf.Tensor) -> None:
        """A batch of images starts from ``images``."""

    def on_step(self, step: int, images: tf.Tensor, objectives: tf.Tensor) -> None:
        """After step ``step`` (1-based) of the current batch."""

    def on_batch_end(self, images: tf.Tensor) -> None:
        """The current batch is done."""

    def on_end(self) -> None:
        """Every batch is done (also after an error)."""


class RecordFrames(Callback):
    """Keep the start and every ``every``-th step (and always the last) as frames, e.g. for a GIF.

    After the run, :attr:`frames` is float32 ``(N, T, S, S, 3)`` raw pixels with
    ``T = 1 + ceil(steps / every)``; show them with :func:`deprocess`.
    """

    def __init__(self, every: int = 1) -> None:
        self.every = positive_int("frame_every", every)
        self._sets: list[np.ndarray] = []
        self._current: list[np.ndarray] = []
        self._steps = 0

    def on_start(self, targets: Sequence[int], steps: int, batch_size: int) -> None:
        self._sets, self._steps = [], steps

    def on_batch_start(self, targets: Sequence[int], images: tf.Tensor) -> None:
        self._current = [images.numpy()]

    def on_step(self, step: int, images: tf.Tensor, objectives: tf.Tensor) -> None:
        if step % self.every == 0 or step == self._steps:
            self._current.append(images.numpy())

    def on_batch_end(self, images: tf.Tensor) -> None:
        self._sets.append(np.stack(self._current, axis=1))

    @property
    def frames(self) -> np.ndarray:
        if not self._sets:
            raise RuntimeError("RecordFrames has no frames yet: pass it in callbacks=[...] to visualize first.")
        return np.concatenate(self._sets)


class ObjectiveHistory(Callback):
    """The objective of every image at every step: :attr:`values` is float ``(N, steps)``."""

    def __init__(self) -> None:
        self._sets: list[np.ndarray] = []
        self._current: list[np.ndarray] = []

    def on_start(self, targets: Sequence[int], steps: int, batch_size: int) -> None:
        self._sets = []

    def on_batch_start(self, targets: Sequence[int], images: tf.Tensor) -> None:
        self._current = []

    def on_step(self, step: int, images: tf.Tensor, objectives: tf.Tensor) -> None:
        self._current.append(objectives.numpy())

    def on_batch_end(self, images: tf.Tensor) -> None:
        self._sets.append(np.stack(self._current, axis=1))

    @property
    def values(self) -> np.ndarray:
        return np.concatenate(self._sets)


class ProgressBar(Callback):
    """A progress bar over all steps of all batches that leaves nothing behind.

    In a Jupyter kernel the bar is an ``ipywidgets.IntProgress`` shown under a
    display id; when the loop ends the display is replaced by an empty one, so
    a notebook executed and saved without a browser (``make run``, nbval) keeps
    no stale "0 %" bar in its outputs. Elsewhere it is a ``tqdm`` bar on stderr
    that clears its line when done (``leave=False``).
    """

    def __init__(self, description: str = "") -> None:
        self.description = description
        self._bar: Any = None
        self._widget: Any = None
        self._handle: Any = None

    def on_start(self, targets: Sequence[int], steps: int, batch_size: int) -> None:
        total = steps * math.ceil(len(targets) / batch_size)
        description = self.description or f"{len(targets)} images"
        if _in_jupyter_kernel():
            import ipywidgets
            from IPython.display import display

            self._widget = ipywidgets.IntProgress(value=0, min=0, max=total, description=description)
            self._handle = display(self._widget, display_id=True)
        else:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=description, leave=False)

    def on_step(self, step: int, images: tf.Tensor, objectives: tf.Tensor) -> None:
        if self._widget is not None:
            self._widget.value += 1
        elif self._bar is not None:
            self._bar.update(1)

    def on_end(self) -> None:
        if self._handle is not None:
            # Replace the saved output too (an update reaches nbclient's copy, not only the browser's).
            self._handle.update({"text/plain": ""}, raw=True)
            self._widget.close()
            self._widget = self._handle = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _in_jupyter_kernel() -> bool:
    """Whether this code runs inside an IPython kernel (a notebook), not a terminal or a script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


# --------------------------------------------------------------------------- the ascent
def visualize(
    model: keras.Model,
    objective: Objective | Term,
    targets: int | Sequence[int],
    *,
    steps: int = 100,
    learning_rate: float | None = None,
    image_size: int | None = None,
    transforms: Sequence[Transform] = (),
    callbacks: Sequence[Callback] = (),
    seed: int = 0,
    seed_image: Any = None,
    batch_size: int | None = None,
    parameterization: Parameterization | None = None,
) -> np.ndarray:
    """Optimise one image per target by normalised gradient ascent on ``objective``.

    The one loop behind :func:`maximize_filters` and :func:`maximize_class`
    (lucid's split, Olah et al. 2017): an *objective* says what to raise, a
    list of *transforms* says how each image is randomly moved before the
    network sees it, *callbacks* watch the loop. Every step is

    .. math:: x \\leftarrow x + \\eta \\, \\frac{g}{\\mathrm{rms}(g)}, \\qquad
              g = \\nabla_x \\sum_k w_k \\, s_k(T(x), x)

    per image, where the ``s_k`` are the objective's terms with weights
    ``w_k`` (network terms see the transformed image ``T(x)``, the penalties
    the image itself) and ``eta`` is ``learning_rate``.

    Parameters
    ----------
    model
        A course model: raw RGB pixels in [0, 255] in.
    objective
        What to maximise, e.g. ``channel("conv2") - 0.1 * total_variation()``:
        an :class:`Objective`, or one :class:`Term` (weight 1).
    targets
        A target index or a sequence of them, one image each: the channel for
        :func:`channel` terms, the class for class terms (repeats allowed).
    steps
        Ascent steps, >= 1.
    learning_rate
        Root-mean-square change of a parameter per step, > 0; ``None``: the
        parameterization's own (3 grey levels per pixel for :class:`PixelImage`,
        0.05 per spectrum coefficient for :class:`FourierImage`).
    image_size
        Side of the square images; ``None``: the model's input size. Channel
        objectives may use other sizes (the layers up to a convolution do not
        care); class objectives need the model's own.
    transforms
        Applied in order at every step (:class:`Jitter`, :class:`Scale`,
        :class:`Rotate`, or your own :class:`Transform`).
    callbacks
        :class:`RecordFrames`, :class:`ObjectiveHistory`, :class:`ProgressBar`
        or your own :class:`Callback`.
    seed
        Image ``i`` draws its starting noise and its transforms from
        ``(seed, targets[i])``: results do not depend on which targets share a batch.
    seed_image
        A photo ``(H, W, 3)`` in [0, 255] to start from instead of grey: its
        central square at ``image_size``, plus the same small noise.
    batch_size
        Images per batch; ``None``: all at once. Only memory changes, not the images.
    parameterization
        What the ascent optimises: :class:`PixelImage` (``None``, the default)
        or :class:`FourierImage` (decorrelated colours in Fourier space; no
        ``seed_image``). Callbacks and the result see pixels either way.

    Returns
    -------
    np.ndarray
        float32 ``(N, S, S, 3)``, the raw optimised pixels (in pixel space
        they may leave [0, 255]); :func:`deprocess` makes them displayable.
    """
    objective = _as_objective(objective)
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model taking raw RGB pixels in [0, 255], got {type(model).__name__}")
    parameterization = PixelImage() if parameterization is None else parameterization
    if not isinstance(parameterization, Parameterization):
        raise TypeError(f"parameterization must be PixelImage() or FourierImage(), got {parameterization!r}")
    chosen, _ = int_or_ints("targets", targets)
    steps = positive_int("steps", steps)
    if learning_rate is None:
        learning_rate = 0.05 if isinstance(parameterization, FourierImage) else 3.0
    rate = real_number("learning_rate", learning_rate, 0.0, strict=True)
    seed = positive_int("seed", seed, 0)
    chunk = len(chosen) if batch_size is None else positive_int("batch_size", batch_size)
    for transform in transforms:
        if not isinstance(transform, Transform):
            raise TypeError(f"transforms must be Transform objects (Jitter, Scale, Rotate), got {transform!r}")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks must be Callback objects (RecordFrames, ProgressBar, ...), got {callback!r}")
    size = _resolve_size(model, image_size)
    _check_targets(model, objective, chosen, size)
    step = _ascent_step(model, objective, size, parameterization)
    start = _start_image(seed_image, size)
    scalars = (tf.constant(rate, tf.float32), tf.constant(objective.weights))
    results = []
    for callback in callbacks:
        callback.on_start(chosen, steps, chunk)
    try:
        for first in range(0, len(chosen), chunk):
            part = chosen[first : first + chunk]
            parameters = tf.constant(parameterization.initial(part, size, seed, start))
            images = parameterization.to_pixels(parameters)
            moves = tf.constant(_transform_rows(transforms, part, steps, size, seed))
            part_targets = tf.constant(part, tf.int32)
            for callback in callbacks:
                callback.on_batch_start(part, images)
            for number in range(1, steps + 1):
                parameters, images, objectives = step(parameters, part_targets, moves[number - 1], *scalars)
                for callback in callbacks:
                    callback.on_step(number, images, objectives)
            for callback in callbacks:
                callback.on_batch_end(images)
            results.append(images.numpy())
    finally:
        for callback in callbacks:
            callback.on_end()
    return np.concatenate(results)


# --------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class MaximizedImages:
    """What :func:`maximize_filters` and :func:`maximize_class` return: display images, and frames if recorded.

    Attributes
    ----------
    images
        uint8 display images through :func:`deprocess`, one per requested
        filter or class (see each function for the exact shape).
    recorded_frames
        uint8 frames of the optimisation, deprocessed the same way, one axis
        ``T`` after the image axis; ``None`` when none were recorded.
    """

    images: np.ndarray
    recorded_frames: np.ndarray | None = None

    @property
    def frames(self) -> np.ndarray:
        """The recorded frames; a ``RuntimeError`` says how to record them when there are none."""
        if self.recorded_frames is None:
            raise RuntimeError("no frames were recorded: pass return_frames=True to maximize_filters")
        return self.recorded_frames


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
) -> MaximizedImages:
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
        Also record the images during the optimisation (``result.frames``).
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
    MaximizedImages
        ``images``: uint8 ``(F, H, W, 3)``, one image per requested filter
        (also for a single int), through :func:`deprocess` (so
        ``H = image_size - 2 * crop_margin(image_size)``, or ``image_size`` with
        ``crop=False``). ``frames``, only with ``return_frames``: uint8
        ``(F, T, H, W, 3)``, deprocessed the same way, ``T = 1 + ceil(steps / frame_every)``.

    Raises
    ------
    ValueError
        Unknown layer (the message lists the convolutional layers), a layer
        without a feature map, a filter index beyond the layer's channels (the
        message gives the count), or a bad number.
    """
    chosen, _single = int_or_ints("filters", filters)
    objective = (
        channel(layer) - real_number("l2", l2, 0.0) * l2_penalty() - real_number("tv", tv, 0.0) * total_variation()
    )
    frame_every = positive_int("frame_every", frame_every)  # checked even when no frames are recorded
    frames = RecordFrames(frame_every) if return_frames else None
    watchers: list[Callback] = [frames] if frames else []
    if progress:
        watchers.append(ProgressBar(f"{len(chosen)} filters"))
    raw = visualize(
        model,
        objective,
        chosen,
        steps=steps,
        learning_rate=learning_rate,
        image_size=image_size,
        transforms=standard_transforms(jitter, scale, rotate),
        callbacks=watchers,
        seed=seed,
        seed_image=seed_image,
        batch_size=batch_size,
    )
    shown_frames = None if frames is None else deprocess(frames.frames, crop=crop)
    return MaximizedImages(deprocess(raw, crop=crop), shown_frames)


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
    # Not as_image_batch: an optimised image before deprocess() may overshoot [0, 255] and is still measured.
    array = real_array("images", images, np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[1] != array.shape[2]:
        raise ValueError(f"images must be square RGB (N, S, S, 3), got shape {array.shape}")
    head = layer_head(model, layer, array.shape[1])
    channels = int(head.outputs[0].shape[-1])
    chosen = list(range(channels)) if filters is None else int_or_ints("filters", filters)[0]
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
        ``"logit"`` (scores before the softmax) or ``"probability"`` (the names of :data:`CLASS_SCORES`).
    """
    _class_score_name(objective)
    # Not as_image_batch: frames of an ascent may overshoot [0, 255] and are still scored.
    array = real_array("images", images, np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"images must be RGB (N, H, W, 3) or one (H, W, 3) image, got shape {array.shape}")
    check_classifier(model, array)
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
) -> MaximizedImages:
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
        ``"logit"`` (:class:`ClassLogit`) or ``"probability"`` (:class:`ClassProbability`),
        the names of :data:`CLASS_SCORES`.
    frame_every
        Keep the start and every ``frame_every``-th step (and the last) as a frame.
    crop
        Crop the border for display (the source does); ``crop=False`` keeps
        the model's input size, e.g. to feed the image back with :func:`class_scores`.
    progress
        Show a progress bar.

    Returns
    -------
    MaximizedImages
        ``images``: uint8 ``(H, W, 3)`` for one class, ``(N, H, W, 3)`` for a
        sequence, through :func:`deprocess`; ``frames``: uint8 ``(T, H, W, 3)``
        (or ``(N, T, H, W, 3)``), ready for :func:`course_utils.image_io.save_gif`.

    Raises
    ------
    ValueError
        A class index out of range (the message gives the range), an unknown
        objective or a bad number.
    """
    chosen_score = _class_score_name(objective)
    chosen, single = int_or_ints("class_index", class_index)
    # Every named class score is there, the unchosen ones with weight 0: switching needs no second
    # compiled step, and they share one forward pass.
    scores = Objective(tuple((term, float(name == chosen_score)) for name, term in CLASS_SCORES.items()))
    target = scores - real_number("l2", l2, 0.0) * l2_penalty() - real_number("tv", tv, 0.0) * total_variation()
    frames = RecordFrames(frame_every)
    watchers: list[Callback] = [frames]
    if progress:
        watchers.append(ProgressBar(f"class {chosen[0]}" if single else f"{len(chosen)} classes"))
    raw = visualize(
        model,
        target,
        chosen,
        steps=steps,
        learning_rate=learning_rate,
        transforms=standard_transforms(jitter, scale, rotate),
        callbacks=watchers,
        seed=seed,
        seed_image=seed_image,
    )
    images, shown_frames = deprocess(raw, crop=crop), deprocess(frames.frames, crop=crop)
    if single:
        return MaximizedImages(images[0], shown_frames[0])
    return MaximizedImages(images, shown_frames)
