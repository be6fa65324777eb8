"""Faithfulness metrics: does an explanation tell the truth about the model?

A saliency map is a claim: "these pixels are what the model used". The
functions here test that claim against the model itself.

Deletion and insertion curves (Samek et al., 2017; Petsiuk et al., 2018)
    Rank the pixels by the map, most important first. *Deletion* replaces the
    top ``k`` pixels by a fill (a blurred copy, the mean colour, black) and
    watches the class score fall: a faithful map makes it fall fast, so the
    area under the curve (AUC) is small. *Insertion* starts from the fill
    image and puts the top pixels back: a faithful map makes the score rise
    fast, so the AUC is large. Both change the input into images the model
    never saw in training; part of the score change comes from that
    distribution shift, not from the pixels' information (Hooker et al.,
    2019), which is why the fill matters and why every map is compared with
    the same baselines (:func:`random_map`, :func:`center_prior_map`).

Randomization sanity checks (Adebayo et al., 2018)
    An explanation that does not change when the model's weights are replaced
    by random ones (:func:`parameter_randomization`), or when the model was
    trained on shuffled labels (:func:`data_randomization`), cannot be
    explaining what the model learned.

Every function follows the course's calling convention: ``model`` takes raw
RGB pixels ``(N, H, W, 3)`` in [0, 255] and returns ``(N, classes)`` scores;
``class_index=None`` is the top class of each (unmodified) image, an int is
that class for every image, a sequence gives one class per image. Maps are
``(N, H, W)`` or ``(N, H, W, C)`` (summed over channels to rank pixels).

References
----------
Samek, Binder, Montavon, Lapuschkin & Müller (2017). Evaluating the
    Visualization of What a Deep Neural Network Has Learned. IEEE TNNLS 28(11).
Petsiuk, Das & Saenko (2018). RISE: Randomized Input Sampling for Explanation
    of Black-box Models. BMVC.
Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim (2018). Sanity Checks for
    Saliency Maps. NeurIPS.
Hooker, Erhan, Kindermans & Kim (2019). A Benchmark for Interpretability
    Methods in Deep Neural Networks. NeurIPS.
Efron & Tibshirani (1993). An Introduction to the Bootstrap. Chapman & Hall.

The bootstrap intervals, p-values and Holm's correction that compare methods live in
:mod:`course_utils.statistics`; ``bootstrap_interval`` is re-exported here.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from scipy import stats

from course_utils import image_io, models
from course_utils._core import (
    CompiledFunction,
    Network,
    as_image_batch,
    check_classifier,
    chunks,
    compiled_function,
    method_inputs,
    positive_int,
    quiet_retracing,
    real_array,
    real_number,
    shape_key,
)
from course_utils.statistics import bootstrap_interval

__all__ = [
    "FILLS",
    "SCORES",
    "deletion_curve",
    "insertion_curve",
    "curve_auc",
    "bootstrap_interval",
    "fill_images",
    "pixel_ranks",
    "rank_correlation",
    "parameter_randomization",
    "data_randomization",
    "random_map",
    "center_prior_map",
]

#: Fills :func:`deletion_curve` knows by name, besides an array.
FILLS: tuple[str, ...] = ("blur", "mean", "black")
#: Scores the curves can follow.
SCORES: tuple[str, ...] = ("logit", "probability", "margin")

#: An explanation method in the course's convention: ``explain(model, images, class_index) -> maps``.
Explain = Callable[[keras.Model, np.ndarray, np.ndarray], Any]


# --------------------------------------------------------------------------- checks
def _check_maps(attributions: Any, batch: np.ndarray, what: str = "attributions") -> np.ndarray:
    """Maps as float64 ``(N, H, W)``, summed over channels, checked against the images."""
    values = real_array(what, attributions)
    n, height, width = batch.shape[:3]
    if values.ndim == 2 and n == 1:
        values = values[None]
    if values.ndim == 4:
        values = values.sum(axis=-1)
    if values.shape != (n, height, width):
        raise ValueError(
            f"{what} have shape {np.shape(attributions)}, but the images are {batch.shape}: give one map "
            f"per image, (N, H, W) = {(n, height, width)} or (N, H, W, C). Upsample coarse maps (Grad-CAM "
            "at a deep layer) to the image size first; attributions.grad_cam already does."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} contain NaN or infinite values; a map must rank every pixel.")
    return values


def _check_fractions(fractions: Any) -> np.ndarray:
    if fractions is None:
        return np.linspace(0.0, 1.0, 11)
    values = real_array("fractions", fractions)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"fractions must be a 1-D sequence of at least 2 numbers in [0, 1], got {fractions!r}")
    if not np.all(np.isfinite(values)) or values.min() < 0.0 or values.max() > 1.0:
        raise ValueError(f"fractions must lie in [0, 1] (share of the pixels replaced), got {fractions!r}")
    if np.any(np.diff(values) <= 0):
        raise ValueError(f"fractions must be strictly ascending, got {fractions!r}")
    return values


def _check_score(score: Any) -> str:
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(repr(s) for s in SCORES)}, got {score!r}")
    return str(score)


# --------------------------------------------------------------------------- building blocks
def pixel_ranks(attributions: Any, seed: int = 0) -> np.ndarray:
    """Rank of every pixel in a map, 0 for the most important.

    Parameters
    ----------
    attributions
        ``(N, H, W)`` maps, or ``(N, H, W, C)`` (summed over channels).
    seed
        Orders pixels of equal value. Maps have large ties (Grad-CAM's zeros
        after its ReLU, occlusion's patches, LIME's superpixels); ordering
        them by position would delete the top rows first and reward maps for
        where the subject stands. A fixed random order per seed is
        deterministic and carries no such bias.

    Returns
    -------
    np.ndarray
        int32 ``(N, H, W)``, a permutation of ``0 .. H*W-1`` per image; the
        same for the same maps and seed.
    """
    values = real_array("attributions", attributions)
    if values.ndim == 4:
        values = values.sum(axis=-1)
    if values.ndim != 3:
        raise ValueError(f"attributions must be (N, H, W) or (N, H, W, C), got shape {values.shape}")
    n, height, width = values.shape
    flat = values.reshape(n, -1)
    tie_breaker = np.random.default_rng(positive_int("seed", seed, 0)).permutation(flat.shape[1])
    # lexsort sorts by the last key first: descending value, then the fixed random order.
    order = np.stack([np.lexsort((tie_breaker, -row)) for row in flat])
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None].repeat(n, axis=0), axis=1)
    return ranks.reshape(n, height, width).astype(np.int32)


def fill_images(images: Any, fill: Any = "blur", blur_sigma: float | None = None) -> np.ndarray:
    """The images that stand for "pixel removed" in deletion and insertion.

    Parameters
    ----------
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    fill
        ``"blur"``: a Gaussian-blurred copy (keeps colours and coarse layout,
        removes detail; Petsiuk et al. insert into a blurred image),
        ``"mean"``: each image's mean colour, ``"black"``: zeros, or an array
        of pixels in [0, 255] that broadcasts to the images (one colour
        ``(3,)``, one image ``(H, W, 3)`` or one per image).
    blur_sigma
        Standard deviation of the blur in pixels; None takes ``max(H, W) / 16``.

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W, 3)``.
    """
    return _fills(as_image_batch(images), fill, blur_sigma)


def _fills(batch: np.ndarray, fill: Any, blur_sigma: float | None) -> np.ndarray:
    """:func:`fill_images` of a batch already checked by the caller."""
    if isinstance(fill, str):
        if fill == "blur":
            if blur_sigma is None:
                sigma = max(batch.shape[1:3]) / 16.0
            else:
                sigma = real_number("blur_sigma (pixels)", blur_sigma, minimum=0.0, strict=True)
            return image_io.blur(batch, sigma)
        if fill == "mean":
            return np.broadcast_to(batch.mean(axis=(1, 2), keepdims=True), batch.shape).astype(np.float32)
        if fill == "black":
            return np.zeros_like(batch)
        raise ValueError(f"fill must be one of {', '.join(repr(f) for f in FILLS)} or an array of pixels, got {fill!r}")
    values = real_array("fill", fill)
    try:
        values = np.broadcast_to(values, batch.shape)
    except ValueError:
        raise ValueError(
            f"a fill array must broadcast to the images {batch.shape}: one colour (3,), one image "
            f"{batch.shape[1:]} or one per image; got shape {values.shape}"
        ) from None
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 255:
        raise ValueError("a fill array must hold finite pixels in [0, 255].")
    return values.astype(np.float32)


def _curve_fn(model: keras.Model, shape: tuple[int, int, int], score: str) -> CompiledFunction:
    def make(model_itself: Network) -> Any:
        # The logit and the margin read the logits; the probability reads the model's own output.
        network = model_itself if score == "probability" else models.logits_getter(model_itself())

        def mixed_scores(
            top: tf.Tensor, rest: tf.Tensor, ranks: tf.Tensor, counts: tf.Tensor, class_indices: tf.Tensor
        ) -> tf.Tensor:
            # Pixels ranked below the count come from `top`, the others from `rest`.
            chosen = tf.cast(ranks < counts[:, None, None], tf.float32)[..., None]
            outputs = tf.cast(network()(chosen * top + (1.0 - chosen) * rest, training=False), tf.float32)
            selected = tf.gather(outputs, class_indices, axis=1, batch_dims=1)
            if score != "margin":
                return selected
            others = tf.where(tf.one_hot(class_indices, tf.shape(outputs)[1]) > 0, -np.inf, outputs)
            return selected - tf.reduce_max(others, axis=1)

        return mixed_scores

    batch_spec = tf.TensorSpec((None, *shape), tf.float32)
    index_spec = tf.TensorSpec((None,), tf.int32)
    signature = [batch_spec, batch_spec, tf.TensorSpec((None, *shape[:2]), tf.int32), index_spec, index_spec]
    return compiled_function(model, f"faithfulness_curve[{score}]@{shape_key(shape)}", signature, make)


def _curve(
    insertion: bool,
    model: keras.Model,
    images: Any,
    attributions: Any,
    class_index: Any,
    fractions: Any,
    fill: Any,
    score: str,
    batch_size: int,
    blur_sigma: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    given = method_inputs(model, images, class_index, batch_size)
    batch, classes, batch_size = given.batch, given.classes, given.batch_size
    maps = _check_maps(attributions, batch)
    steps = _check_fractions(fractions)
    score = _check_score(score)
    fills = _fills(batch, fill, blur_sigma)
    ranks = pixel_ranks(maps)
    n, height, width = maps.shape
    counts = np.rint(steps * height * width).astype(np.int32)
    # One row per (image, fraction): every image and every fraction go through the model in batches.
    image_of_row = np.repeat(np.arange(n), len(steps))
    count_of_row = np.tile(counts, n)
    top, rest = (batch, fills) if insertion else (fills, batch)
    mixed_scores = _curve_fn(model, batch.shape[1:], score)
    scores = np.empty(len(image_of_row), dtype=np.float32)
    for part in chunks(len(image_of_row), batch_size):
        rows = image_of_row[part]
        scores[part] = mixed_scores(top[rows], rest[rows], ranks[rows], count_of_row[part], classes[rows]).numpy()
    return steps, scores.reshape(n, len(steps))


def deletion_curve(
    model: keras.Model,
    images: Any,
    attributions: Any,
    class_index: Any = None,
    fractions: Any = None,
    fill: Any = "blur",
    score: str = "logit",
    batch_size: int = 64,
    blur_sigma: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The class score as the most important pixels are removed (Samek et al., 2017; Petsiuk et al., 2018).

    For each fraction ``f`` the top ``round(f * H * W)`` pixels of the map
    (all channels of a pixel together) are replaced by the fill and the
    model scores the result. A faithful map makes the score drop early, so a
    lower :func:`curve_auc` is better.

    Parameters
    ----------
    model
        Classifier on raw pixels in [0, 255] returning ``(N, classes)`` scores.
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    attributions
        One map per image: ``(N, H, W)`` or ``(N, H, W, C)`` (summed over
        channels), at the image's resolution. Larger = more important.
    class_index
        None (top class of each unmodified image), an int, or one int per image.
    fractions
        Ascending shares of the pixels in [0, 1]; default 11 points from
        exactly 0 to exactly 1.
    fill
        ``"blur"``, ``"mean"``, ``"black"`` or an array (see :func:`fill_images`).
    score
        ``"logit"`` (pre-softmax, through :func:`course_utils.models.logits_model`),
        ``"probability"`` (the model's output column) or ``"margin"`` (the
        class logit minus the largest other logit: below 0 the prediction flipped).
    batch_size
        Modified images per model call.
    blur_sigma
        Blur of the ``"blur"`` fill in pixels (default ``max(H, W) / 16``).

    Returns
    -------
    fractions, scores
        float64 ``(F,)`` and float32 ``(N, F)``: ``scores[:, 0]`` is the score
        of the image itself when ``fractions[0] == 0``, ``scores[:, -1]`` that
        of the fill image when ``fractions[-1] == 1``.
    """
    return _curve(False, model, images, attributions, class_index, fractions, fill, score, batch_size, blur_sigma)


def insertion_curve(
    model: keras.Model,
    images: Any,
    attributions: Any,
    class_index: Any = None,
    fractions: Any = None,
    fill: Any = "blur",
    score: str = "logit",
    batch_size: int = 64,
    blur_sigma: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The class score as the most important pixels are put back into the fill image (Petsiuk et al., 2018).

    The mirror of :func:`deletion_curve`, with the same arguments: at
    fraction 0 the model sees the fill image, at fraction 1 the image; in
    between, the top ``round(f * H * W)`` pixels of the map come from the
    image and the rest from the fill. A faithful map makes the score rise
    early, so a higher :func:`curve_auc` is better.

    Returns
    -------
    fractions, scores
        float64 ``(F,)`` and float32 ``(N, F)``.
    """
    return _curve(True, model, images, attributions, class_index, fractions, fill, score, batch_size, blur_sigma)


def curve_auc(fractions: Any, scores: Any) -> np.ndarray:
    """Area under deletion or insertion curves over [0, 1], by the trapezoidal rule.

    Parameters
    ----------
    fractions
        ``(F,)`` ascending, from exactly 0 to exactly 1.
    scores
        ``(N, F)`` curves (or one ``(F,)`` curve).

    Returns
    -------
    np.ndarray
        float64 ``(N,)``; a constant curve at ``c`` has area ``c``.
    """
    steps = _check_fractions(fractions)
    if steps[0] != 0.0 or steps[-1] != 1.0:
        raise ValueError(
            f"fractions must run from exactly 0 to exactly 1 for an area over [0, 1], got {steps[0]} to {steps[-1]}"
        )
    values = real_array("scores", scores)
    if values.ndim == 1:
        values = values[None]
    if values.ndim != 2 or values.shape[1] != steps.size:
        raise ValueError(f"scores must be (N, {steps.size}) for {steps.size} fractions, got shape {values.shape}")
    return ((values[:, 1:] + values[:, :-1]) / 2.0 * np.diff(steps)[None]).sum(axis=1)


# --------------------------------------------------------------------------- baseline maps
def random_map(model: Any, images: Any, class_index: Any = None, seed: int = 0) -> np.ndarray:
    """A map of uniform noise: the floor any explanation has to beat.

    Takes the attribution calling convention so it slots in beside real
    methods; ``model`` and ``class_index`` are ignored on purpose.

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W)`` in [0, 1), the same for the same ``seed``.
    """
    batch = as_image_batch(images)
    seed = positive_int("seed", seed, 0)
    return np.random.default_rng(seed).random(batch.shape[:3]).astype(np.float32)


def center_prior_map(model: Any, images: Any, class_index: Any = None, width: float = 0.25) -> np.ndarray:
    """A Gaussian blob in the middle of the frame, whatever the image shows.

    Photographers centre their subject, so "the middle matters" is a strong
    guess that needs neither the model nor the image. An explanation that
    does no better than this prior has not shown that it read the model.
    ``model`` and ``class_index`` are ignored on purpose.

    Parameters
    ----------
    width
        Standard deviation of the blob as a fraction of the image side.

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W)`` in (0, 1], 1 at the centre.
    """
    batch = as_image_batch(images)
    width = real_number("width (a fraction of the image side)", width, minimum=0.0, strict=True)
    n, height, wide = batch.shape[:3]
    rows = (np.arange(height) - (height - 1) / 2.0) / (width * height)
    cols = (np.arange(wide) - (wide - 1) / 2.0) / (width * wide)
    blob = np.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2))
    return np.broadcast_to(blob, (n, height, wide)).astype(np.float32)


# --------------------------------------------------------------------------- randomization checks
def rank_correlation(maps_a: Any, maps_b: Any, absolute: bool = False) -> np.ndarray:
    """Spearman rank correlation between two maps of each image.

    Parameters
    ----------
    maps_a, maps_b
        ``(N, H, W)`` or ``(N, H, W, C)`` (summed over channels), the same shape.
    absolute
        Compare ``|map|`` (Adebayo et al. report both: the sign of a gradient
        map can flip while its outline stays).

    Returns
    -------
    np.ndarray
        float64 ``(N,)`` in [-1, 1]; 0 where either map is constant (it ranks nothing).
    """
    a = real_array("maps_a", maps_a)
    b = real_array("maps_b", maps_b)
    if a.ndim == 4:
        a = a.sum(axis=-1)
    if b.ndim == 4:
        b = b.sum(axis=-1)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(
            f"maps must both be (N, H, W) (or (N, H, W, C)), got {np.shape(maps_a)} and {np.shape(maps_b)}"
        )
    if absolute:
        a, b = np.abs(a), np.abs(b)
    ranks_a = stats.rankdata(a.reshape(len(a), -1), axis=1)
    ranks_b = stats.rankdata(b.reshape(len(b), -1), axis=1)
    ranks_a -= ranks_a.mean(axis=1, keepdims=True)
    ranks_b -= ranks_b.mean(axis=1, keepdims=True)
    norm = np.sqrt((ranks_a**2).sum(axis=1) * (ranks_b**2).sum(axis=1))
    dot = (ranks_a * ranks_b).sum(axis=1)
    return np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)


def _reinitialised(value: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """A fresh value for one weight, as Keras initialises layers by default."""
    if value.ndim >= 2:  # kernels: Glorot uniform
        receptive = int(np.prod(value.shape[:-2])) if value.ndim > 2 else 1
        fan_in, fan_out = value.shape[-2] * receptive, value.shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, value.shape).astype(value.dtype)
    if "bias" in name:
        return np.zeros_like(value)
    return rng.permutation(value.reshape(-1)).reshape(value.shape)  # batch-norm scales and statistics


def _explained(explain: Explain, model: keras.Model, batch: np.ndarray, classes: np.ndarray, what: str) -> np.ndarray:
    return _check_maps(explain(model, batch, classes), batch, what=f"the maps explain() returned for {what}")


def _trained_maps(
    explain: Explain, model: keras.Model, batch: np.ndarray, classes: np.ndarray, given: Any
) -> np.ndarray:
    """The trained model's maps: ``given`` (checked against the images) or, when None, explained now."""
    if given is None:
        return _explained(explain, model, batch, classes, "the trained model")
    return _check_maps(given, batch, what="trained_maps (the trained model's maps of these images)")


def parameter_randomization(
    model: keras.Model,
    images: Any,
    explain: Explain,
    class_index: Any = None,
    seed: int = 0,
    absolute: bool = False,
    evaluate_at: Sequence[str] | None = None,
    trained_maps: Any = None,
) -> list[tuple[str, np.ndarray]]:
    """Cascading model-parameter randomization (Adebayo et al., 2018).

    Layer by layer, from the output down to the input, the weights of a copy
    of the model are re-initialised (Glorot-uniform kernels, zero biases, as
    Keras initialises them; other weights such as batch-norm statistics are
    permuted), keeping the layers above random too. After each layer the
    maps of the copy are compared with the trained model's maps. A method
    that explains what the model *learned* must lose its similarity as the
    learned weights disappear; a map that stays the same is explaining the
    image (edges) or the architecture, not the training.

    Parameters
    ----------
    model
        The trained classifier; it is never modified (a copy is randomized).
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    explain
        ``explain(model, images, class_index) -> maps`` of shape
        ``(N, H, W)`` or ``(N, H, W, C)``, e.g.
        ``lambda m, x, c: attributions.grad_cam(m, x, c)``.
    class_index
        The classes to explain, resolved on the trained model (None: its top
        classes); the randomized copies explain the same classes.
    seed
        Seeds the new weights.
    absolute
        Compare absolute maps (see :func:`rank_correlation`).
    evaluate_at
        Names of weighted layers after whose randomization the maps are
        compared (every layer above each is random too); ``None``: after
        every weighted layer. A deep network has about a hundred weighted
        layers (EfficientNet-Lite0: 99), so a check at block boundaries
        costs a tenth of the full cascade and shows the same trend.
    trained_maps
        The maps ``explain`` gives for the trained model on these images and
        classes, if they are already computed (``(N, H, W)`` or
        ``(N, H, W, C)``); ``None`` computes them. Passing the same maps to
        :func:`data_randomization` saves explaining the trained model twice.

    Returns
    -------
    list of ``(layer_name, similarity)``
        From the top weighted layer down; ``similarity`` is float64 ``(N,)``,
        the Spearman rank correlation between the trained model's map and the
        map of the copy randomized down to and including that layer.

    Raises
    ------
    ValueError
        If a name in ``evaluate_at`` is not a weighted layer of the model, or
        ``trained_maps`` do not hold one finite map per image.
    """
    given = method_inputs(model, images, class_index)
    batch, classes = given.batch, given.classes
    seed = positive_int("seed", seed, 0)
    if not callable(explain):
        raise TypeError("explain must be a function explain(model, images, class_index) -> maps")
    weighted = [layer.name for layer in models.iter_layers(model) if layer.weights]
    if evaluate_at is not None:
        if isinstance(evaluate_at, str) or not all(isinstance(name, str) for name in evaluate_at):
            raise TypeError(f"evaluate_at must be a list of layer names, got {evaluate_at!r}")
        unknown = [name for name in evaluate_at if name not in weighted]
        if unknown:
            raise ValueError(
                f"evaluate_at names {unknown}, which are not weighted layers of {model.name!r}; weighted layers: "
                + ", ".join(weighted[:12] + (["..."] if len(weighted) > 12 else []))
            )
    checkpoints = set(weighted if evaluate_at is None else evaluate_at)
    original = _trained_maps(explain, model, batch, classes, trained_maps)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    results: list[tuple[str, np.ndarray]] = []
    for layer in reversed([layer for layer in models.iter_layers(copy) if layer.weights]):
        for variable in layer.weights:
            value = np.asarray(variable.numpy())
            variable.assign(_reinitialised(value, variable.name, rng))
        if layer.name not in checkpoints:
            continue
        # The copy is a new model: its methods compile once for it, which TensorFlow calls retracing.
        with quiet_retracing():
            maps = _explained(explain, copy, batch, classes, f"the model randomized down to {layer.name}")
        results.append((layer.name, rank_correlation(original, maps, absolute)))
    return results


def data_randomization(
    model: keras.Model,
    shuffled_label_model: keras.Model,
    images: Any,
    explain: Explain,
    class_index: Any = None,
    absolute: bool = False,
    trained_maps: Any = None,
) -> np.ndarray:
    """Data randomization test (Adebayo et al., 2018): maps of a model trained on shuffled labels.

    The control network has the same architecture and training images, but
    its training labels were permuted, so it can only memorise; as in the
    paper it trains until it has (the course's control: without augmentation,
    until it fits 90 % of its labels; see
    :func:`course_utils.training.course_cnn` with ``shuffled_labels=True``).
    A method whose maps look the same for both models does not depend on the
    relation between images and labels that the real model learned.

    Parameters
    ----------
    model, shuffled_label_model
        The trained classifier and its shuffled-label control (same input shape and classes).
    images, explain, class_index, absolute, trained_maps
        As in :func:`parameter_randomization`; the classes are resolved on
        ``model`` and explained on both (on ``model`` only when
        ``trained_maps`` is None).

    Returns
    -------
    np.ndarray
        float64 ``(N,)`` Spearman rank correlation between the two maps of each image.
    """
    given = method_inputs(model, images, class_index)
    batch, classes = given.batch, given.classes
    check_classifier(shuffled_label_model, batch, "shuffled_label_model")
    original = _trained_maps(explain, model, batch, classes, trained_maps)
    with quiet_retracing():
        control = _explained(explain, shuffled_label_model, batch, classes, "the shuffled-label model")
    return rank_correlation(original, control, absolute)
