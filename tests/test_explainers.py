"""LIME and SHAP wrappers (course_utils.explainers) on tiny models with known answers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from tiny_models import wrapped

from course_utils import _core as explainers_core
from course_utils import explainers

SIZE = 48
BLOCK = 12
REGION = (slice(12, 24), slice(24, 36))  # one 12x12 block of the 4x4 grid
SHAP_SIZE = 16


# --------------------------------------------------------------------------- fixtures
def _region_mask() -> np.ndarray:
    mask = np.zeros((1, SIZE, SIZE, 1), np.float32)
    mask[0, REGION[0], REGION[1]] = 1.0
    return mask


def _region_model(name: str = "region_model") -> keras.Model:
    """Class 1's logit grows with the brightness of REGION; nothing else matters.

    Global average pooling of the masked image gives (region mean / 255) / 16
    per channel (the region is 1/16 of the image), so the logit difference is
    8 * (mean region brightness in [0, 1]) - 4.
    """
    mask = _region_mask()
    inputs = keras.Input((SIZE, SIZE, 3))
    masked = keras.layers.Lambda(lambda pixels: pixels * mask / 255.0, name="keep_region")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(masked)
    logits = keras.layers.Dense(2, name="logits")(pooled)
    outputs = keras.layers.Softmax(name="probabilities")(logits)
    model = keras.Model(inputs, outputs, name=name)
    per_channel = 16.0 * 8.0 / 3.0
    model.get_layer("logits").set_weights(
        [np.array([[0.0, per_channel]] * 3, np.float32), np.array([0.0, -4.0], np.float32)]
    )
    return model


def _block_image(seed: int = 0) -> np.ndarray:
    """A 4x4 grid of distinctly colored, lightly textured blocks; REGION is bright."""
    rng = np.random.default_rng(seed)
    image = np.zeros((SIZE, SIZE, 3), np.float32)
    for row in range(SIZE // BLOCK):
        for col in range(SIZE // BLOCK):
            color = rng.uniform(40, 200, size=3)
            image[row * BLOCK : (row + 1) * BLOCK, col * BLOCK : (col + 1) * BLOCK] = color
    image[REGION[0], REGION[1]] = (230.0, 220.0, 210.0)
    image += rng.normal(0, 3, size=image.shape)
    return np.clip(image, 0, 255).astype(np.float32)


@pytest.fixture(scope="module")
def region_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return _region_model()


@pytest.fixture(scope="module")
def block_image() -> np.ndarray:
    return _block_image()


LIME_ARGS = dict(
    top_labels=2,
    num_samples=160,
    batch_size=48,  # 160 is not a multiple: the smaller last batch is exercised
    segmentation="slic",
    segmentation_params={"n_segments": 16, "compactness": 20.0},
    hide_color=0.0,
)


def _backbone(name: str) -> keras.Model:
    """Conv -> ReLU -> max-pool; ``pool`` is the layer SHAP explains."""
    inputs = keras.Input((SHAP_SIZE, SHAP_SIZE, 3))
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="feat")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    return keras.Model(inputs, x, name=name)


def _linear_tail_model(nested: bool) -> keras.Model:
    """Scores are linear in the ``pool`` activations (Flatten -> Dense, no activation)."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SHAP_SIZE, SHAP_SIZE, 3))
    if nested:
        x = _backbone("backbone")(inputs)
    else:
        x = inputs
        for layer in _backbone("flat").layers[1:]:
            x = layer(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(5, name="scores")(x)
    return keras.Model(inputs, outputs, name="nested_linear" if nested else "flat_linear")


def _nonlinear_model() -> keras.Model:
    """Conv, ReLU, pool, conv, ReLU, global pooling, dense logits: nonlinear after ``pool``."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((SHAP_SIZE, SHAP_SIZE, 3))
    x = _backbone("backbone")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="deep")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="nonlinear")


def _random_images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (count, SHAP_SIZE, SHAP_SIZE, 3)).astype(np.float32)


# --------------------------------------------------------------------------- LIME
def test_batched_predict_matches_model_and_traces_once(region_model, block_image):
    predict = explainers.batched_predict(region_model, batch_size=4)
    images = np.stack([block_image * (i / 7.0) for i in range(7)]).astype(np.float32)
    expected = keras.ops.convert_to_numpy(region_model(images))
    np.testing.assert_allclose(predict(images), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict(images[:3]), expected[:3], rtol=1e-5, atol=1e-6)
    assert predict.tracing_count() == 1, "a partial batch must not retrace"
    again = explainers.batched_predict(region_model, batch_size=4)
    again(images)
    other_size = explainers.batched_predict(region_model, batch_size=3)
    other_size(images)
    assert again.tracing_count() == other_size.tracing_count() == 1, "one compiled function per model, any batch size"
    key = f"predict@{SIZE}x{SIZE}x3"  # the core's forward pass, shared with every other user
    assert explainers_core.tracing_counts(region_model)[key] == 1, "the core's tracing_counts sees it"


class _CountRows(keras.layers.Layer):
    """Identity that adds up the rows it sees (in graph mode too): the forward passes a model pays for."""

    def build(self, input_shape):
        self.rows = self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="int64", name="rows")

    def call(self, x):
        self.rows.assign_add(keras.ops.cast(keras.ops.shape(x)[0], "int64"))
        return x


def _counting_region_model() -> tuple[keras.Model, _CountRows]:
    counter = _CountRows(name="count_rows")
    inner = _region_model("counted")
    inputs = keras.Input((SIZE, SIZE, 3))
    return keras.Model(inputs, inner(counter(inputs)), name="counting"), counter


def test_batched_predict_runs_each_image_once_without_padding():
    model, counter = _counting_region_model()
    predict = explainers.batched_predict(model, batch_size=4)
    before = int(counter.rows.numpy())  # tracing builds the graph without running it
    predict(np.stack([_block_image(i) for i in range(7)]))
    assert int(counter.rows.numpy()) - before == 7, "7 images in batches of 4 are 7 forward passes, not 8"


def test_lime_pays_exactly_one_forward_pass_per_sample(block_image):
    model, counter = _counting_region_model()
    plain = explainers.lime_explanation(_region_model("plain"), block_image, seed=3, **LIME_ARGS)
    before = int(counter.rows.numpy())
    counted = explainers.lime_explanation(model, block_image, seed=3, **LIME_ARGS)
    assert int(counter.rows.numpy()) - before == LIME_ARGS["num_samples"], "no extra pass for the top labels"
    # The top labels come from LIME's own score of the unperturbed image: the same as scoring it alone.
    assert counted.top_labels == plain.top_labels
    np.testing.assert_allclose(counted.scores, keras.ops.convert_to_numpy(model(block_image[None]))[0], rtol=1e-5)
    for label in counted.labels:
        np.testing.assert_allclose(counted.weights[label], plain.weights[label], rtol=1e-5, atol=1e-7)


def test_batched_predict_cache_does_not_keep_models_alive():
    import gc
    import weakref

    model = _region_model("short_lived")
    explainers.batched_predict(model, batch_size=2)(_block_image()[None])
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_lime_top_superpixel_lies_in_the_region_the_model_reads(region_model, block_image):
    explanation = explainers.lime_explanation(region_model, block_image, **LIME_ARGS)
    assert explanation.top_labels[0] == 1
    top = explanation.ranked_superpixels(1)[0]
    pixels = explanation.segments == top
    inside = pixels[REGION[0], REGION[1]].sum() / pixels.sum()
    assert inside > 0.5, f"top superpixel has only {inside:.0%} of its pixels in the region"
    # Class 0 is the complement, so the same superpixel is the strongest evidence against it.
    assert explanation.ranked_superpixels(0)[-1] == top
    assert explanation.weights[1][top] > 0


def test_lime_is_reproducible_with_a_seed_and_the_seed_matters(region_model, block_image):
    first = explainers.lime_explanation(region_model, block_image, seed=3, **LIME_ARGS)
    again = explainers.lime_explanation(region_model, block_image, seed=3, **LIME_ARGS)
    other = explainers.lime_explanation(region_model, block_image, seed=4, **LIME_ARGS)
    np.testing.assert_array_equal(first.segments, again.segments)
    for label in first.labels:
        np.testing.assert_allclose(first.weights[label], again.weights[label], rtol=1e-6, atol=1e-9)
    assert first.segments.shape == other.segments.shape
    assert not np.allclose(first.weights[1], other.weights[1]), "a different seed must draw different samples"


def test_lime_masks_follow_the_weights(region_model, block_image):
    explanation = explainers.lime_explanation(region_model, block_image, **LIME_ARGS)
    weights = explanation.weights[1]
    assert weights.shape == (explanation.num_superpixels,)
    assert set(np.unique(explanation.segments)) == set(range(explanation.num_superpixels))
    positive = [s for s in np.argsort(-weights) if weights[s] > 0][:2]
    np.testing.assert_array_equal(explanation.positive_mask(1, num_features=2), np.isin(explanation.segments, positive))
    pros_cons = explanation.pros_and_cons_mask(1, num_features=3)
    strongest = np.argsort(-np.abs(weights))[:3]
    expected = np.where(np.isin(explanation.segments, strongest), np.sign(weights)[explanation.segments], 0)
    np.testing.assert_array_equal(pros_cons, expected)
    hidden = explanation.hidden_rest_image(1, num_features=1)
    assert hidden.dtype == np.uint8 and hidden[~explanation.positive_mask(1, 1)].max() == 0
    np.testing.assert_allclose(explanation.weight_map(1), weights[explanation.segments])


def test_lime_explains_requested_labels_and_refuses_others(region_model, block_image):
    explanation = explainers.lime_explanation(region_model, block_image, **{**LIME_ARGS, "top_labels": 1}, labels=[0])
    assert explanation.top_labels == [1] and explanation.labels == [1, 0]
    with pytest.raises(KeyError, match="was not explained"):
        explainers.lime_explanation(region_model, block_image, **{**LIME_ARGS, "top_labels": 1}).weight_map(0)


def test_lime_works_on_a_nested_model(region_model, block_image):
    nested = wrapped(region_model, "wrapper")
    flat = explainers.lime_explanation(region_model, block_image, seed=5, **LIME_ARGS)
    inside = explainers.lime_explanation(nested, block_image, seed=5, **LIME_ARGS)
    np.testing.assert_allclose(inside.weights[1], flat.weights[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["quickshift", "slic", "felzenszwalb"])
def test_segmentations_give_dense_labels(method, block_image):
    segments = explainers.segmentation_function(method, seed=0)(block_image)
    assert segments.shape == block_image.shape[:2]
    labels = np.unique(segments)
    np.testing.assert_array_equal(labels, np.arange(len(labels)))
    assert len(labels) > 1


def test_lime_rejects_bad_inputs(region_model, block_image):
    with pytest.raises(ValueError, match=r"one RGB image \(H, W, 3\)"):
        explainers.lime_explanation(region_model, block_image[..., 0], **LIME_ARGS)
    with pytest.raises(ValueError, match="one RGB image"):
        explainers.lime_explanation(region_model, np.stack([block_image] * 2), **LIME_ARGS)
    with pytest.raises(ValueError, match=r"image: .*expects images of shape \(H, W, C\) = \(48, 48, 3\)"):
        explainers.lime_explanation(region_model, block_image[:32, :32], **LIME_ARGS)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        explainers.lime_explanation(region_model, block_image * 10, **LIME_ARGS)
    with pytest.raises(ValueError, match="Unknown segmentation 'watershed'"):
        explainers.lime_explanation(region_model, block_image, **{**LIME_ARGS, "segmentation": "watershed"})
    with pytest.raises(ValueError, match="slic has no parameter n_clusters"):
        explainers.segmentation_function("slic", n_clusters=3)
    with pytest.raises(ValueError, match="num_samples must be an integer >= 2"):
        explainers.lime_explanation(region_model, block_image, **{**LIME_ARGS, "num_samples": 0})
    # Wrong type -> TypeError, wrong value -> ValueError (the _core convention).
    with pytest.raises(TypeError, match="num_samples must be an integer"):
        explainers.lime_explanation(region_model, block_image, **{**LIME_ARGS, "num_samples": 100.0})
    with pytest.raises(TypeError, match="num_features must be an integer"):
        explainers.lime_explanation(region_model, block_image, **LIME_ARGS, num_features="5")
    with pytest.raises(ValueError, match="kernel_width must be > 0"):
        explainers.lime_explanation(region_model, block_image, **LIME_ARGS, kernel_width=0)
    with pytest.raises(TypeError, match="must hold real numbers"):
        explainers.lime_explanation(region_model, block_image.astype(str), **LIME_ARGS)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        explainers.batched_predict(region_model, batch_size=2.0)
    with pytest.raises(TypeError, match="keras.Model"):
        explainers.batched_predict(lambda x: x)
    with pytest.raises(ValueError, match="out of range"):
        explainers.lime_explanation(region_model, block_image, **LIME_ARGS, labels=[7])
    with pytest.raises(ValueError, match="hide_color must be None, a gray level or an RGB triple"):
        explainers.lime_explanation(region_model, block_image, **{**LIME_ARGS, "hide_color": (300, 0, 0)})
    with pytest.raises(TypeError, match="keras.Model"):
        explainers.lime_explanation(lambda x: x, block_image)


# --------------------------------------------------------------------------- SHAP
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_shap_additivity_is_exact_for_a_linear_tail(nested):
    """Sum of SHAP values == f(x) - E_b f(b) up to float32 round-off.

    With a tail that is linear in the layer activations, every Monte-Carlo
    sample of expected gradients equals w . (a - b) whatever the path point
    t, so with a single background image there is no sampling error at all:
    the sum is exact. What is left is float32 arithmetic (eps ~ 6e-8) over
    the 8*8*4 = 256 terms of the sum, bounded well below 1e-4 of the sum of
    their magnitudes, which is the tolerance.
    """
    model = _linear_tail_model(nested)
    images = _random_images(3, seed=10)
    background = _random_images(1, seed=11)
    explanation = explainers.shap_gradient_explanation(model, images, "pool", background, ranked_outputs=2, nsamples=6)
    assert explanation.values.shape == (3, 8, 8, 4, 2)
    assert explanation.spatial.shape == (3, 8, 8, 2)
    scores = keras.ops.convert_to_numpy(model(images))
    base = keras.ops.convert_to_numpy(model(background))[0]
    target = np.take_along_axis(scores, explanation.class_indices, 1) - base[explanation.class_indices]
    magnitude = np.abs(explanation.values).reshape(3, -1, 2).sum(axis=1)
    np.testing.assert_allclose(explanation.totals, target, rtol=0, atol=float(1e-4 * magnitude.max()))
    np.testing.assert_allclose(explanation.additivity_gap, explanation.totals - target, atol=1e-5)
    assert np.abs(target).min() > 100 * 1e-4 * magnitude.max(), "the check must be able to tell a wrong sum"


def test_shap_additivity_within_monte_carlo_error_for_a_nonlinear_tail():
    """Sum of SHAP values == f(x) - mean background f, within 4 standard errors.

    Expected gradients estimates f(a) - E_b f(b) by the mean of n draws of
    g = (a - b) . grad f(b + t (a - b)), with b uniform over the background
    and t ~ U(0, 1); each draw is unbiased. The mean of n = 1000 draws has
    standard error sigma / sqrt(n). sigma is measured here from 400
    independent draws of g computed with a GradientTape on the tail, and
    the tolerance is 4 sigma / sqrt(n): a correct implementation fails it
    with probability ~6e-5 (normal tail), a wrong one (missing baseline,
    wrong class) misses by far more, which the last assert makes sure.
    """
    import tensorflow as tf

    model = _nonlinear_model()
    images = _random_images(2, seed=20)
    # Darker backgrounds than the images, so f(x) - E f(b) is far from zero.
    background = 0.3 * _random_images(8, seed=21)
    explainer = explainers.GradientLayerExplainer(model, "pool", background)
    nsamples = 1000
    explanation = explainer.explain(images, ranked_outputs=2, nsamples=nsamples, seed=0)
    target = explanation.outputs - explanation.expected_outputs

    rng = np.random.default_rng(0)
    activations = keras.ops.convert_to_numpy(explainer.head(images))
    sigma = np.zeros_like(target)
    for i, activation in enumerate(activations):
        picks = explainer.background_activations[rng.integers(0, len(background), 400)]
        steps = rng.uniform(size=(400, 1, 1, 1)).astype(np.float32)
        points = tf.constant(picks + steps * (activation - picks))
        for rank, class_index in enumerate(explanation.class_indices[i]):
            with tf.GradientTape() as tape:
                tape.watch(points)
                score = explainer.tail(points)[:, class_index]
            draws = (tape.gradient(score, points).numpy() * (activation - picks)).reshape(400, -1).sum(axis=1)
            sigma[i, rank] = draws.std(ddof=1)
    tolerance = 4 * sigma / np.sqrt(nsamples)
    assert np.all(np.abs(explanation.additivity_gap) <= tolerance + 1e-6), (explanation.additivity_gap, tolerance)
    assert np.all(tolerance < 0.25 * np.abs(target)), "the bound must be tight enough to catch a wrong sum"


def test_shap_ranked_outputs_are_the_models_top_classes():
    model = _nonlinear_model()
    images = _random_images(4, seed=30)
    explanation = explainers.shap_gradient_explanation(
        model, images, "pool", _random_images(2, seed=31), ranked_outputs=3, nsamples=2, class_names=list("abcde")
    )
    scores = keras.ops.convert_to_numpy(model(images))
    np.testing.assert_array_equal(explanation.class_indices, np.argsort(-scores, axis=1)[:, :3])
    np.testing.assert_allclose(explanation.outputs, np.sort(scores, axis=1)[:, ::-1][:, :3], rtol=1e-5)
    assert explanation.class_names[0] == ["abcde"[i] for i in explanation.class_indices[0]]


def test_shap_explainer_is_reusable_and_seeded():
    model = _nonlinear_model()
    explainer = explainers.GradientLayerExplainer(model, "deep", _random_images(3, seed=40))
    images = _random_images(1, seed=41)
    state = np.random.get_state()[1].copy()
    first = explainer.explain(images, nsamples=8, seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # shap's global reseed is undone
    again = explainer.explain(images, nsamples=8, seed=1)
    other = explainer.explain(images, nsamples=8, seed=2)
    np.testing.assert_array_equal(first.values, again.values)
    assert not np.allclose(first.values, other.values)
    assert explainer.layer_shape == (8, 8, 8)


@pytest.mark.filterwarnings("ignore:The structure of `inputs`")  # shap alone hands Keras a one-element list
def test_shap_uses_one_compiled_gradient_for_every_class_with_shaps_own_values():
    """One trace for five classes, and the same SHAP values as shap's own per-class functions."""
    import shap

    model = _nonlinear_model()
    background, images = _random_images(3, seed=50), _random_images(3, seed=51)
    explainer = explainers.GradientLayerExplainer(model, "pool", background)
    shared = explainer.explain(images, ranked_outputs=5, nsamples=16, seed=3)
    assert len(np.unique(shared.class_indices)) == 5, "every class is explained"
    assert explainers_core.tracing_counts(explainer.tail) == {"shap_class_gradient": 1}

    # shap alone, on the same tail, background activations, samples and seed.
    own = shap.GradientExplainer(explainer.tail, explainer.background_activations)
    activations = keras.ops.convert_to_numpy(explainer.head(images))
    values, indices = own.shap_values(activations, nsamples=16, ranked_outputs=5, output_rank_order="max", rseed=3)
    np.testing.assert_array_equal(np.asarray(indices), shared.class_indices)
    np.testing.assert_allclose(np.asarray(values), shared.values, rtol=1e-4, atol=1e-6)
    assert sum(g is not None for g in own.explainer.gradients) == 5, "shap alone compiles one function per class"


def test_shap_rejects_bad_inputs():
    model = _nonlinear_model()
    images = _random_images(2, seed=50)
    background = _random_images(2, seed=51)
    with pytest.raises(ValueError, match=r"No layer named 'block2_pool'.*feat, deep"):
        explainers.shap_gradient_explanation(model, images, "block2_pool", background)
    with pytest.raises(ValueError, match="background is empty"):
        explainers.shap_gradient_explanation(model, images, "pool", np.zeros((0, SHAP_SIZE, SHAP_SIZE, 3)))
    with pytest.raises(ValueError, match=r"background: .*\(16, 16, 3\), got \(8, 8, 3\)"):
        explainers.shap_gradient_explanation(model, images, "pool", background[:, :8, :8])
    with pytest.raises(ValueError, match=r"images: .*\(16, 16, 3\), got \(8, 8, 3\)"):
        explainers.shap_gradient_explanation(model, images[:, :8, :8], "pool", background)
    with pytest.raises(ValueError, match=r"images must be one image \(H, W, 3\) or a batch"):
        explainers.shap_gradient_explanation(model, images[0, ..., 0], "pool", background)
    with pytest.raises(ValueError, match=r"background must be raw RGB pixels in \[0, 255\]"):
        explainers.shap_gradient_explanation(model, images, "pool", background - 300)
    with pytest.raises(ValueError, match="ranked_outputs must be at most the number of classes"):
        explainers.shap_gradient_explanation(model, images, "pool", background, ranked_outputs=6)
    with pytest.raises(ValueError, match="nsamples must be an integer >= 1"):
        explainers.shap_gradient_explanation(model, images, "pool", background, nsamples=0)
    with pytest.raises(TypeError, match="nsamples must be an integer"):
        explainers.shap_gradient_explanation(model, images, "pool", background, nsamples=8.0)
    with pytest.raises(TypeError, match="ranked_outputs must be an integer"):
        explainers.shap_gradient_explanation(model, images, "pool", background, ranked_outputs="2")
    with pytest.raises(ValueError, match="local_smoothing must be >= 0"):
        explainers.GradientLayerExplainer(model, "pool", background, local_smoothing=-0.1)
    with pytest.raises(TypeError, match="keras.Model"):
        explainers.GradientLayerExplainer(lambda x: x, "pool", background)


def test_background_from_photos_is_seeded_and_augmented():
    first = explainers.background_from_photos(6, size=32, seed=0, exclude=["cat"])
    again = explainers.background_from_photos(6, size=32, seed=0, exclude=["cat"])
    assert first.shape == (6, 32, 32, 3) and first.dtype == np.float32
    assert 0 <= first.min() and first.max() <= 255
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, explainers.background_from_photos(6, size=32, seed=1, exclude=["cat"]))
    photo = np.arange(64 * 48 * 3, dtype=np.uint8).reshape(64, 48, 3)
    crops = explainers.background_from_photos(8, size=16, seed=0, photos=[photo])
    assert len({crop.tobytes() for crop in crops}) == 8, "crops and flips must differ"
    with pytest.raises(ValueError, match="unknown photos"):
        explainers.background_from_photos(2, exclude=["unicorn"])
    with pytest.raises(TypeError, match="count must be an integer"):
        explainers.background_from_photos(2.0)
    with pytest.raises(ValueError, match="min_crop must be > 0"):
        explainers.background_from_photos(2, min_crop=0.0)


def test_default_sizes_are_the_full_mode_and_ignore_the_environment(monkeypatch):
    """No setting is read behind the caller's back: the defaults are full mode's, whatever the mode."""
    import inspect

    from course_utils import config

    full = config.settings(mode="full")
    lime = inspect.signature(explainers.lime_explanation).parameters
    assert (lime["num_samples"].default, lime["batch_size"].default, lime["num_features"].default) == (
        full.lime_samples,
        full.lime_batch_size,
        full.lime_num_features,
    )
    assert inspect.signature(explainers.shap_gradient_explanation).parameters["nsamples"].default == full.shap_nsamples
    explain = inspect.signature(explainers.GradientLayerExplainer.explain).parameters
    assert explain["nsamples"].default == full.shap_nsamples
    monkeypatch.setenv("COURSE_MODE", "quick")
    assert config.settings().shap_nsamples < full.shap_nsamples
    explanation = explainers.shap_gradient_explanation(
        _linear_tail_model(False), _random_images(1, seed=60), "pool", _random_images(1, seed=61), ranked_outputs=1
    )
    assert explanation.nsamples == full.shap_nsamples


def test_lime_clamps_top_labels_to_the_number_of_classes(region_model, block_image):
    """lime_image clamps top_labels; so does the wrapper (the course CNN has 2 classes, the default is 5)."""
    explanation = explainers.lime_explanation(region_model, block_image, **{**LIME_ARGS, "top_labels": 5})
    assert sorted(explanation.top_labels) == [0, 1]
    # An empty list of further labels (what notebook 03 passes by default) adds nothing.
    assert (
        explainers.lime_explanation(region_model, block_image, **LIME_ARGS, labels=[]).labels == explanation.top_labels
    )
