"""Property tests of course_utils.attributions on tiny models.

Each test checks something that a wrong implementation would get wrong:
closed forms on linear models, hand-written references, the completeness
axiom, invariance to batch size, bounded tracing, and the error messages.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tiny_models import SIZE, wrapped
from tiny_models import images as _images
from tiny_models import linear_model as _linear_model
from tiny_models import small_cnn as _small_cnn
from tiny_models import structured_images as _structured_images

from course_utils import attributions as A
from course_utils import viz


@pytest.fixture(scope="module")
def cnn() -> keras.Model:
    return _small_cnn()


@pytest.fixture(scope="module")
def softmax_cnn() -> keras.Model:
    return _small_cnn(softmax=True, seed=3, name="softmax_cnn")


@pytest.fixture(scope="module")
def constant_model() -> keras.Model:
    """A conv model whose score does not depend on the input (zero head weights)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", kernel_initializer="zeros", bias_initializer="ones")(x)
    return keras.Model(inputs, outputs, name="constant")


# --------------------------------------------------------------------------- gradients
def test_vanilla_gradients_equal_a_hand_written_tape(softmax_cnn):
    images = _images(3)
    classes = np.array([0, 2, 3])
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = softmax_cnn(x, training=False)
        picked = tf.reduce_sum(scores * tf.one_hot(classes, 4), axis=1)
    expected = tape.gradient(picked, x).numpy()
    got = A.vanilla_gradients(softmax_cnn, images, class_index=classes)
    assert got.shape == images.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
    assert np.abs(expected).max() > 0


def test_class_index_none_means_top_class_of_each_image(softmax_cnn):
    images = _images(4, seed=5)
    top = np.argmax(softmax_cnn.predict(images, verbose=0), axis=1)
    np.testing.assert_allclose(
        A.vanilla_gradients(softmax_cnn, images), A.vanilla_gradients(softmax_cnn, images, class_index=top), rtol=1e-6
    )


def test_vanilla_gradients_of_a_linear_model_are_its_weights():
    model, weights = _linear_model()
    got = A.vanilla_gradients(model, _images(2), class_index=[1, 2])
    np.testing.assert_allclose(got[0], weights[..., 1], rtol=1e-5)
    np.testing.assert_allclose(got[1], weights[..., 2], rtol=1e-5)


def test_single_uint8_image_is_accepted_and_batched(cnn):
    image = _images(1)[0].astype(np.uint8)
    got = A.vanilla_gradients(cnn, image)
    assert got.shape == (1, SIZE, SIZE, 3)
    np.testing.assert_allclose(got, A.vanilla_gradients(cnn, image.astype(np.float32)[None]), rtol=1e-6)


# --------------------------------------------------------------------------- Grad-CAM
def _reference_grad_cam(
    model: keras.Model, layer: str, images: np.ndarray, class_index: int, logits: bool = True
) -> np.ndarray:
    """Grad-CAM written out step by step, as in the keras.io example.

    With ``logits=True`` the class score is recomputed before the final
    softmax from the last Dense layer's own input, kernel and bias.
    """
    last = model.layers[-1]
    target = last.input if logits else model.output
    inner = keras.Model(model.inputs, [model.get_layer(layer).output, target])
    with tf.GradientTape() as tape:
        activations, scores = inner(tf.constant(images), training=False)
        if logits:
            scores = tf.matmul(scores, last.kernel) + last.bias
        score = scores[:, class_index]
    grads = tape.gradient(score, activations)
    pooled = tf.reduce_mean(grads, axis=(1, 2))
    maps = tf.nn.relu(tf.reduce_sum(activations * pooled[:, None, None, :], axis=-1)).numpy()
    maps = maps / maps.max(axis=(1, 2), keepdims=True)
    return tf.image.resize(maps[..., None], images.shape[1:3], method="bilinear")[..., 0].numpy()


def test_grad_cam_equals_a_hand_written_reference(softmax_cnn):
    images = _images(2, seed=7)
    expected = _reference_grad_cam(softmax_cnn, "conv2", images, class_index=1)
    got = A.grad_cam(softmax_cnn, images, class_index=1)  # layer=None finds conv2
    assert got.shape == (2, SIZE, SIZE) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert got.max() > 0.5 and got.min() >= 0.0 and got.max() <= 1.0


def test_grad_cam_can_differentiate_the_probability_instead(softmax_cnn):
    images = _images(2, seed=7)
    expected = _reference_grad_cam(softmax_cnn, "conv2", images, class_index=1, logits=False)
    got = A.grad_cam(softmax_cnn, images, class_index=1, use_logits=False)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert not np.allclose(got, A.grad_cam(softmax_cnn, images, class_index=1))


def test_grad_cam_of_a_saturated_softmax_needs_the_logit():
    """A very confident model: p rounds to 1.0, so the probability's gradient is exactly zero."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv", kernel_initializer=keras.initializers.RandomUniform(0.0, 0.1, seed=0))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax", kernel_initializer=keras.initializers.Constant([[50.0, -50.0]] * 3))(x)
    model = keras.Model(inputs, outputs)
    images = np.full((1, SIZE, SIZE, 3), 200.0, np.float32) + 0.2 * _images(1, seed=4)  # bright, still <= 255
    assert float(model(images)[0, 0]) == 1.0
    assert np.all(A.grad_cam(model, images, class_index=0, use_logits=False) == 0.0)
    from_logits = A.grad_cam(model, images, class_index=0)
    assert from_logits.max() > 0.5
    np.testing.assert_allclose(from_logits, _reference_grad_cam(model, "conv", images, 0), rtol=1e-4, atol=1e-6)


def test_grad_cam_at_a_shallow_layer_differs_from_the_deep_one(softmax_cnn):
    images = _images(1, seed=8)
    shallow = A.grad_cam(softmax_cnn, images, class_index=0, layer="conv1")
    np.testing.assert_allclose(shallow, _reference_grad_cam(softmax_cnn, "conv1", images, 0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(shallow, A.grad_cam(softmax_cnn, images, class_index=0, layer="conv2"))


def test_grad_cam_on_a_nested_model_matches_the_inner_model(softmax_cnn):
    outer = wrapped(softmax_cnn)
    images = _images(2, seed=9)
    expected = A.grad_cam(softmax_cnn, images, class_index=2, layer="conv2")
    np.testing.assert_allclose(A.grad_cam(outer, images, class_index=2, layer="conv2"), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(A.grad_cam(outer, images, class_index=2), expected, rtol=1e-5, atol=1e-7)
    inner_acts = A.layer_activations(softmax_cnn, images, "conv1")
    np.testing.assert_allclose(A.layer_activations(outer, images, "conv1"), inner_acts, rtol=1e-6)


# --------------------------------------------------------------------------- zero gradients
def test_zero_gradient_model_gives_zeros_and_no_nan(constant_model):
    images = _images(2)
    results = {
        "vanilla": A.vanilla_gradients(constant_model, images),
        "grad_cam": A.grad_cam(constant_model, images),
        "integrated_gradients": A.integrated_gradients(constant_model, images, steps=4),
        "smoothgrad": A.smoothgrad(constant_model, images, samples=3, seed=0),
        "occlusion": A.occlusion_sensitivity(constant_model, images, patch=8, stride=8),
    }
    for name, result in results.items():
        assert not np.any(np.isnan(result)), name
        assert np.all(result == 0.0), name
    check = A.completeness(constant_model, images, results["integrated_gradients"])
    np.testing.assert_array_equal(check["relative_error"], 0.0)


# --------------------------------------------------------------------------- Integrated Gradients
@pytest.mark.parametrize(
    "model_name, baseline",
    [("cnn", "black"), ("cnn", "blurred"), ("cnn", "random"), ("softmax_cnn", "black")],
)
def test_integrated_gradients_completeness_within_2_percent(request, model_name, baseline):
    model = request.getfixturevalue(model_name)
    images = _structured_images(2, seed=11)
    attributions = A.integrated_gradients(model, images, baseline=baseline, steps=256, batch_size=64)
    check = A.completeness(model, images, attributions, baseline=baseline)
    # The check is only meaningful when there is a difference to explain.
    assert np.all(np.abs(check["score_difference"]) > 1e-3), check
    assert np.all(check["relative_error"] < 0.02), check
    np.testing.assert_allclose(check["sum_attributions"], attributions.sum(axis=(1, 2, 3)), rtol=1e-5)


def test_completeness_detects_a_coarse_integral(cnn):
    images = _structured_images(2, seed=11)
    coarse = A.integrated_gradients(cnn, images, steps=1)
    fine = A.integrated_gradients(cnn, images, steps=256)
    coarse_error = A.completeness(cnn, images, coarse)["relative_error"]
    assert np.all(coarse_error > A.completeness(cnn, images, fine)["relative_error"])
    assert np.any(coarse_error > 0.02)


def test_integrated_gradients_of_a_linear_model_have_the_closed_form():
    model, weights = _linear_model()
    images = _images(2, seed=12)
    baseline = A.make_baseline(images, "random", seed=4)
    got = A.integrated_gradients(model, images, class_index=0, baseline=baseline, steps=3)
    np.testing.assert_allclose(got, (images - baseline) * weights[..., 0], rtol=1e-4, atol=1e-4)


def test_integrated_gradients_are_the_trapezoid_of_the_path_gradients(softmax_cnn):
    image = _images(1, seed=13)[0]
    steps = 5
    alphas, scores, grads = A.path_gradients(softmax_cnn, image, class_index=3, baseline="white", steps=steps)
    np.testing.assert_allclose(alphas, np.linspace(0, 1, steps + 1), atol=1e-7)
    trapezoid = (grads[:-1] + grads[1:]).sum(axis=0) / (2 * steps)
    expected = (image - 255.0) * trapezoid
    got = A.integrated_gradients(softmax_cnn, image, class_index=3, baseline="white", steps=steps)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-9)
    end_scores = softmax_cnn.predict(np.stack([np.full_like(image, 255.0), image]), verbose=0)[:, 3]
    np.testing.assert_allclose(scores[[0, -1]], end_scores, rtol=1e-5)


def test_interpolate_path_is_a_straight_line():
    image = _images(1)[0]
    path = A.interpolate_path(image, "black", steps=4)
    assert path.shape == (5, SIZE, SIZE, 3)
    np.testing.assert_array_equal(path[0], 0.0)
    np.testing.assert_allclose(path[-1], image, rtol=1e-6)
    np.testing.assert_allclose(np.diff(path, axis=0), np.broadcast_to(image / 4, (4, *image.shape)), rtol=1e-4, atol=1e-4)


def test_make_baseline_kinds():
    images = _images(2)
    assert np.all(A.make_baseline(images, "black") == 0) and np.all(A.make_baseline(images, None) == 0)
    assert np.all(A.make_baseline(images, "white") == 255)
    noise = A.make_baseline(images, "random", seed=3)
    assert noise.shape == images.shape and 0 <= noise.min() and noise.max() <= 255
    np.testing.assert_array_equal(noise, A.make_baseline(images, "random", seed=3))
    assert not np.array_equal(noise, A.make_baseline(images, "random", seed=4))
    blurred = A.make_baseline(images[0], "blurred", sigma=2.0)
    assert blurred.shape == images[0].shape
    # Blurring removes high frequencies but keeps each channel's mean color.
    assert np.abs(np.diff(blurred, axis=0)).mean() < 0.5 * np.abs(np.diff(images[0], axis=0)).mean()
    np.testing.assert_allclose(blurred.mean(axis=(0, 1)), images[0].mean(axis=(0, 1)), rtol=0.02)


def test_random_baseline_of_an_image_does_not_depend_on_the_batch():
    images = _images(3, seed=22)
    together = A.make_baseline(images, "random", seed=5)
    for i in range(len(images)):
        np.testing.assert_array_equal(together[i], A.make_baseline(images[i : i + 1], "random", seed=5)[0])
        np.testing.assert_array_equal(together[i], A.make_baseline(images[i], "random", seed=5))
    # Reordering or growing the batch changes nothing either.
    np.testing.assert_array_equal(A.make_baseline(images[::-1], "random", seed=5), together[::-1])
    np.testing.assert_array_equal(A.make_baseline(np.concatenate([images, images]), "random", seed=5)[:3], together)


def test_integrated_gradients_sigma_sets_the_blurred_baseline(cnn):
    images = _structured_images(2, seed=23)
    got = A.integrated_gradients(cnn, images, baseline="blurred", sigma=3.0, steps=16)
    explicit = A.integrated_gradients(cnn, images, baseline=A.make_baseline(images, "blurred", sigma=3.0), steps=16)
    np.testing.assert_allclose(got, explicit, rtol=1e-5, atol=1e-9)
    assert not np.allclose(got, A.integrated_gradients(cnn, images, baseline="blurred", steps=16))
    check = A.completeness(cnn, images, got, baseline="blurred", sigma=3.0)
    np.testing.assert_allclose(
        check["score_difference"],
        A.completeness(cnn, images, explicit, baseline=A.make_baseline(images, "blurred", sigma=3.0))["score_difference"],
    )
    _, _, path_grads = A.path_gradients(cnn, images[:1], baseline="blurred", sigma=3.0, steps=4)
    _, _, explicit_grads = A.path_gradients(
        cnn, images[:1], baseline=A.make_baseline(images[:1], "blurred", sigma=3.0), steps=4
    )
    np.testing.assert_allclose(path_grads, explicit_grads, rtol=1e-5, atol=1e-9)


# --------------------------------------------------------------------------- SmoothGrad
def test_smoothgrad_with_zero_noise_equals_vanilla_gradients(softmax_cnn):
    images = _images(2, seed=14)
    expected = A.vanilla_gradients(softmax_cnn, images)
    got = A.smoothgrad(softmax_cnn, images, samples=5, noise=0.0, batch_size=2, seed=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-10)


def test_smoothgrad_is_the_mean_gradient_of_seeded_noisy_copies(softmax_cnn):
    image = _images(1, seed=15)
    samples, noise = 4, 0.2
    sigma = noise * (image.max() - image.min())
    unit = np.random.default_rng(21).standard_normal((samples, *image.shape[1:]), dtype=np.float32)
    noisy = tf.constant(image + sigma * unit)  # leaves [0, 255], as SmoothGrad's samples do: a hand-written tape
    with tf.GradientTape() as tape:
        tape.watch(noisy)
        score = softmax_cnn(noisy)[:, int(np.argmax(softmax_cnn(image)))]
    expected = tape.gradient(score, noisy).numpy()
    got = A.smoothgrad(softmax_cnn, image, samples=samples, noise=noise, seed=21)
    np.testing.assert_allclose(got[0], expected.mean(axis=0), rtol=1e-4, atol=1e-10)
    assert not np.allclose(got, A.vanilla_gradients(softmax_cnn, image))


def test_smoothgrad_of_an_image_does_not_depend_on_the_batch(softmax_cnn):
    images = _images(3, seed=24)
    together = A.smoothgrad(softmax_cnn, images, samples=3, noise=0.2, seed=6, batch_size=2)
    for i in range(len(images)):
        alone = A.smoothgrad(softmax_cnn, images[i : i + 1], samples=3, noise=0.2, seed=6, batch_size=3)
        np.testing.assert_allclose(together[i], alone[0], rtol=1e-5, atol=1e-9)
    reordered = A.smoothgrad(softmax_cnn, images[::-1], samples=3, noise=0.2, seed=6)
    np.testing.assert_allclose(reordered, together[::-1], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(("images", "samples", "batch_size"), [(2, 16, 32), (3, 5, 4), (1, 7, 3), (4, 1, 8)])
def test_smoothgrad_fills_every_call_with_samples_of_several_images(images, samples, batch_size):
    calls = list(A._sample_batches(images, samples, batch_size))
    rows = [image for call in calls for image, count in call for _ in range(count)]
    assert rows == [image for image in range(images) for _ in range(samples)], "every sample once, images in order"
    sizes = [sum(count for _, count in call) for call in calls]
    assert all(size == batch_size for size in sizes[:-1]) and 0 < sizes[-1] <= batch_size, "only the last call is short"
    assert all(len({image for image, _ in call}) == len(call) for call in calls), "an image appears once per call"


# --------------------------------------------------------------------------- occlusion
def test_occlusion_on_a_linear_model_is_the_patch_sum_of_w_times_x():
    model, weights = _linear_model()
    images = _images(2, seed=16)
    patch = 4
    got = A.occlusion_sensitivity(model, images, class_index=1, patch=patch, stride=patch, fill=0.0, batch_size=5)
    contribution = images * weights[..., 1]  # w * x per pixel and channel
    blocks = contribution.reshape(2, SIZE // patch, patch, SIZE // patch, patch, 3).sum(axis=(2, 4, 5))
    expected = np.repeat(np.repeat(blocks, patch, axis=1), patch, axis=2)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_occlusion_with_overlapping_patches_averages_every_covering_patch():
    model, weights = _linear_model(seed=5, size=10)
    image = np.random.default_rng(17).uniform(0, 255, (10, 10, 3)).astype(np.float32)
    patch, stride = 4, 3  # starts 0, 3, 6: 6 + 4 = 10 covers the border exactly
    got = A.occlusion_sensitivity(model, image, class_index=2, patch=patch, stride=stride)[0]
    fill = image.mean(axis=(0, 1))
    drops = (image - fill) * weights[..., 2]
    total, count = np.zeros((10, 10)), np.zeros((10, 10))
    for y in (0, 3, 6):
        for x in (0, 3, 6):
            total[y : y + patch, x : x + patch] += drops[y : y + patch, x : x + patch].sum()
            count[y : y + patch, x : x + patch] += 1
    np.testing.assert_allclose(got, total / count, rtol=1e-4, atol=1e-3)


def test_occlusion_covers_the_border_when_stride_does_not_divide():
    model, weights = _linear_model(seed=6, size=10)
    image = np.random.default_rng(18).uniform(0, 255, (10, 10, 3)).astype(np.float32)
    # Starts 0, 4 and the extra 6 (so the last patch ends at the border).
    got = A.occlusion_sensitivity(model, image, class_index=0, patch=4, stride=4, fill=0)[0]
    contribution = image * weights[..., 0]
    corner = contribution[6:10, 6:10].sum()
    np.testing.assert_allclose(got[9, 9], corner, rtol=1e-4, atol=1e-3)


# --------------------------------------------------------------------------- batch size and tracing
def test_results_do_not_depend_on_batch_size(softmax_cnn):
    images = _images(3, seed=19)
    for method, kwargs in [
        (A.vanilla_gradients, {}),
        (A.integrated_gradients, {"steps": 7, "baseline": "random"}),
        (A.smoothgrad, {"samples": 5, "seed": 3}),
        (A.occlusion_sensitivity, {"patch": 6, "stride": 5}),
        (A.grad_cam, {}),
    ]:
        small = method(softmax_cnn, images, batch_size=2, **kwargs)
        large = method(softmax_cnn, images, batch_size=64, **kwargs)
        np.testing.assert_allclose(small, large, rtol=1e-5, atol=1e-9, err_msg=method.__name__)


def test_each_compiled_function_is_traced_once_per_input_shape():
    model = _small_cnn(seed=4, name="tracing_cnn")
    images = _images(3, seed=20)
    for steps, classes, batch_size in [(8, None, 4), (16, 2, 5), (3, [0, 1, 3], 32)]:
        A.integrated_gradients(model, images, class_index=classes, steps=steps, batch_size=batch_size)
        A.smoothgrad(model, images, class_index=classes, samples=steps, noise=0.1 * steps, batch_size=batch_size)
        A.vanilla_gradients(model, images[: steps % 3 + 1], class_index=classes if classes is None else 1)
        A.occlusion_sensitivity(model, images, class_index=classes, patch=steps, stride=steps // 2 + 1)
        A.grad_cam(model, images, class_index=classes, batch_size=batch_size)
    counts = A.tracing_counts(model)
    expected = {
        f"{kind}@{SIZE}x{SIZE}x3"
        for kind in ("predict", "gradients", "integrated_gradients", "smoothgrad", "occlusion", "grad_cam[conv2,logits]")
    }
    assert expected <= set(counts), counts
    assert all(count == 1 for count in counts.values()), counts


def test_the_compiled_function_cache_does_not_keep_models_alive():
    import gc
    import weakref

    model = _small_cnn(seed=5, name="short_lived_cnn")
    A.grad_cam(model, _images(1))
    A.integrated_gradients(model, _images(1), steps=2)
    assert A.tracing_counts(model)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


# --------------------------------------------------------------------------- activations
def test_layer_activations_and_grid(cnn):
    images = _images(2)
    acts = A.layer_activations(cnn, images, "conv1")
    reference = keras.Model(cnn.inputs, cnn.get_layer("conv1").output)(tf.constant(images)).numpy()
    np.testing.assert_allclose(acts, reference, rtol=1e-5, atol=1e-6)
    grid = viz.activation_grid(acts[0], channels=5, cols=3)
    assert grid.shape == (2 * (SIZE + 1) - 1, 3 * (SIZE + 1) - 1)
    assert np.all(grid[SIZE, :] == 1.0) and np.all(grid[:, SIZE] == 1.0)  # separators
    first = grid[:SIZE, :SIZE]
    channel = acts[0, ..., 0]
    if channel.max() > channel.min():
        np.testing.assert_allclose(first, (channel - channel.min()) / (channel.max() - channel.min()), atol=1e-6)
    assert np.all(grid[SIZE + 1 :, 2 * (SIZE + 1) :] == 1.0)  # the unused sixth tile: the separator, not a silent channel
    assert np.isnan(viz.activation_grid(acts[0], channels=5, cols=3, separator=np.nan)[SIZE + 1 :, 2 * (SIZE + 1) :]).all()
    constant = viz.activation_grid(np.ones((4, 4, 2)))
    assert np.all(constant[:, :4] == 0.0)
    picked = viz.activation_grid(acts[0], channels=[3], normalize=False)
    np.testing.assert_allclose(picked, acts[0, ..., 3])


# --------------------------------------------------------------------------- validation
def test_bad_inputs_raise_helpful_messages(softmax_cnn):
    images = _images(1)
    with pytest.raises(ValueError, match=r"No layer named 'nope'.*conv1, conv2"):
        A.grad_cam(softmax_cnn, images, layer="nope")
    with pytest.raises(ValueError, match=r"spatial .* output.*conv1, conv2"):
        A.grad_cam(softmax_cnn, images, layer="gap")
    with pytest.raises(ValueError, match=r"4 classes, so use 0 to 3"):
        A.integrated_gradients(softmax_cnn, images, class_index=4)
    with pytest.raises(ValueError, match=r"4 classes, so use 0 to 3"):
        A.grad_cam(softmax_cnn, images, class_index=-1)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) or a batch \(N, H, W, 3\).*rank 2"):
        A.vanilla_gradients(softmax_cnn, images[0, ..., 0])
    with pytest.raises(ValueError, match=r"3 channels.*got shape \(1, 16, 16, 4\)"):
        A.smoothgrad(softmax_cnn, np.zeros((1, SIZE, SIZE, 4)))
    with pytest.raises(ValueError, match=r"expects images of shape .*\(16, 16, 3\), got \(8, 8, 3\)"):
        A.occlusion_sensitivity(softmax_cnn, np.zeros((8, 8, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        A.vanilla_gradients(softmax_cnn, np.full((SIZE, SIZE, 3), "a"))
    with pytest.raises(ValueError, match="NaN"):
        A.vanilla_gradients(softmax_cnn, np.full((SIZE, SIZE, 3), np.nan))
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        A.integrated_gradients(softmax_cnn, images, steps=0)
    with pytest.raises(ValueError, match="Unknown baseline 'grey'.*black, white, random, blurred"):
        A.integrated_gradients(softmax_cnn, images, baseline="grey")
    with pytest.raises(ValueError, match="does not broadcast"):
        A.integrated_gradients(softmax_cnn, images, baseline=np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="noise must be"):
        A.smoothgrad(softmax_cnn, images, noise=-0.1)
    with pytest.raises(ValueError, match="patch=32 is larger than the images"):
        A.occlusion_sensitivity(softmax_cnn, images, patch=32)
    with pytest.raises(ValueError, match="fill must be"):
        A.occlusion_sensitivity(softmax_cnn, images, patch=8, fill=(1, 2))
    with pytest.raises(TypeError, match="keras.Model"):
        A.vanilla_gradients(lambda x: x, images)
    with pytest.raises(ValueError, match="ONE image"):
        viz.activation_grid(np.zeros((2, 4, 4, 3)))
    with pytest.warns(UserWarning, match=r"\[0, 1\]"):
        A.as_image_batch(images / 255.0)


def test_as_image_batch_converts_dtypes():
    batch = A.as_image_batch((np.arange(SIZE * SIZE * 3) % 256).astype(np.uint16).reshape(SIZE, SIZE, 3))
    assert batch.dtype == np.float32 and batch.shape == (1, SIZE, SIZE, 3)
    assert A.as_image_batch(tf.zeros((2, 4, 4, 3), tf.float64)).dtype == np.float32
