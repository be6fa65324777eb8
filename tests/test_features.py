"""Tests of course_utils.features on tiny conv models (the whole file runs in seconds)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageSequence
from tiny_models import filter_cnn, wrapped

from course_utils import features, image_io

SIZE = 32
CLASSES = 5


def _tiny_cnn(name: str = "tiny") -> keras.Model:
    return filter_cnn(name, SIZE, CLASSES)


@pytest.fixture(scope="module")
def tiny() -> keras.Model:
    return _tiny_cnn()


@pytest.fixture(scope="module")
def nested() -> keras.Model:
    """The tiny CNN used as a layer inside another model (a Keras Application inside a model)."""
    return wrapped(_tiny_cnn("inner"))


# --------------------------------------------------------------------------- filters
def test_each_image_excites_its_own_filter_most(tiny):
    filters = list(range(12))
    images = features.maximize_filters(tiny, "conv2", filters, steps=15, crop=False, progress=False).images
    assert images.shape == (12, SIZE, SIZE, 3) and images.dtype == np.uint8
    responses = features.filter_responses(tiny, "conv2", images, filters)
    # Column j: how strongly each image excites filter j; its own image must win.
    assert list(responses.argmax(axis=0)) == filters
    start = features._initial_images(filters, SIZE, 0, None)
    before = np.diag(features.filter_responses(tiny, "conv2", start, filters))
    assert np.all(np.diag(responses) > before), "the ascent raised every filter's activation"


def test_regularised_ascent_still_excites_its_own_filter(tiny):
    filters = [0, 4, 9]
    images = features.maximize_filters(
        tiny, "conv2", filters, steps=15, l2=0.05, tv=0.05, jitter=1, scale=0.05, rotate=5,
        crop=False, progress=False,
    ).images
    responses = features.filter_responses(tiny, "conv2", images, filters)
    assert list(responses.argmax(axis=0)) == [0, 1, 2]


def test_filters_inside_a_nested_model(nested):
    images = features.maximize_filters(nested, "conv2", [2, 5], steps=10, crop=False, progress=False).images
    responses = features.filter_responses(nested, "conv2", images, [2, 5])
    assert list(responses.argmax(axis=0)) == [0, 1]


def test_batched_equals_one_at_a_time_for_the_same_seed(tiny):
    options = dict(steps=8, jitter=2, scale=0.1, rotate=10, l2=0.02, tv=0.02, seed=3, progress=False)
    together = features.maximize_filters(tiny, "conv2", [3, 7], **options).images
    alone = np.concatenate([features.maximize_filters(tiny, "conv2", [f], **options).images for f in (3, 7)])
    chunked = features.maximize_filters(tiny, "conv2", [3, 7], batch_size=1, **options).images
    # Conv kernels may sum in another order for another batch size: allow one grey level.
    assert np.abs(together.astype(int) - alone).max() <= 1
    assert np.abs(together.astype(int) - chunked).max() <= 1
    # ... and the equality is not trivial: another seed or another filter gives another image.
    other_seed = features.maximize_filters(tiny, "conv2", [3], **{**options, "seed": 4}).images
    assert np.abs(other_seed[0].astype(int) - together[0]).mean() > 5
    assert np.abs(together[0].astype(int) - together[1]).mean() > 5


def test_ascent_step_is_traced_once_however_many_filters(tiny):
    model = _tiny_cnn("trace_count")
    key = f"ascent:channel(conv2)+l2+total_variation@{SIZE}"
    features.maximize_filters(model, "conv2", [0, 1], steps=2, progress=False)
    assert features.tracing_counts(model)[key] == 1
    features.maximize_filters(model, "conv2", list(range(8)), steps=3, learning_rate=1.5, l2=0.1, progress=False)
    features.maximize_filters(model, "conv2", [11], steps=2, tv=0.3, jitter=2, rotate=4, progress=False)
    assert features.tracing_counts(model)[key] == 1
    features.maximize_class(model, 0, steps=2, progress=False)
    features.maximize_class(model, [1, 2, 3], steps=2, objective="probability", l2=0.5, progress=False)
    assert features.tracing_counts(model)[f"ascent:class_logit+class_probability+l2+total_variation@{SIZE}"] == 1


def test_frames_record_the_optimisation(tiny):
    result = features.maximize_filters(tiny, "conv2", [1, 2], steps=7, return_frames=True, frame_every=3, progress=False)
    images, frames = result.images, result.frames
    side = SIZE - 2 * features.crop_margin(SIZE)
    assert images.shape == (2, side, side, 3)
    # start, after steps 3 and 6, and the last step 7
    assert frames.shape == (2, 4, side, side, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[:, -1], images)
    assert np.abs(frames[:, 0].astype(int) - frames[:, -1]).mean() > 5


def test_seed_image_keeps_the_photo_visible(tiny):
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    photo = np.stack([rows * 8, cols * 8, (rows + cols) * 4], axis=-1).clip(0, 255).astype(np.uint8)
    from_photo = features.maximize_filters(tiny, "conv2", [0], steps=3, learning_rate=1.0, seed_image=photo, crop=False, progress=False).images
    from_noise = features.maximize_filters(tiny, "conv2", [0], steps=3, learning_rate=1.0, crop=False, progress=False).images
    reference = features.deprocess(photo.astype(np.float32), crop=False).astype(float).ravel()

    def correlation(image):
        return np.corrcoef(image.astype(float).ravel(), reference)[0, 1]

    assert correlation(from_photo[0]) > 0.8
    assert abs(correlation(from_noise[0])) < 0.3


def test_jitter_only_transform_is_an_integer_shift():
    import tensorflow as tf

    size = 16
    image = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    rows = features._transform_rows([features.Jitter(3)], [0], steps=5, size=size, seed=0)
    for transform in rows[:, 0]:
        dx, dy = -transform[2], -transform[5]  # pure shifts: the op samples input = output - shift
        assert dx == round(dx) and dy == round(dy) and max(abs(dx), abs(dy)) <= 3
        moved = features._transform(tf.constant(image), tf.constant(transform[None])).numpy()[0]
        expected = np.roll(image[0], (int(dy), int(dx)), axis=(0, 1))
        inner = slice(3, size - 3)
        np.testing.assert_allclose(moved[inner, inner], expected[inner, inner], atol=1e-3)
    identity = features._transform_rows(features.standard_transforms(0, 0.0, 0.0), [0], steps=3, size=size, seed=0)
    np.testing.assert_allclose(identity[:, 0], [[1, 0, 0, 0, 1, 0, 0, 0]] * 3, atol=1e-6)


def test_deprocess_normalises_each_image_and_crops():
    rng = np.random.default_rng(0)
    raw = np.stack([rng.normal(0, 1, (224, 224, 3)), rng.normal(500, 80, (224, 224, 3))])
    shown = features.deprocess(raw)
    assert shown.shape == (2, 174, 174, 3) and shown.dtype == np.uint8  # 25 pixels off each side
    np.testing.assert_array_equal(features.crop_border(features.deprocess(raw, crop=False)), shown)
    full = features.deprocess(raw, crop=False).astype(float)
    for image in full:  # each image on its own: mean grey, std 0.15 of the range
        assert abs(image.mean() - 127.5) < 1.0
        assert abs(image.std() - 0.15 * 255) < 1.0


def test_layer_head_runs_at_another_image_size(tiny):
    head = features.layer_head(tiny, "conv2", image_size=48)
    assert tuple(head.outputs[0].shape) == (None, 48, 48, 12)
    image = np.random.default_rng(1).uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32)
    same = features.layer_head(tiny, "conv2")(image).numpy()
    np.testing.assert_allclose(same, features.layer_head(tiny, "conv2", image_size=SIZE)(image).numpy())


# --------------------------------------------------------------------------- classes
def test_class_images_raise_their_class_above_other_class_images(tiny):
    classes = list(range(CLASSES))
    result = features.maximize_class(tiny, classes, steps=15, crop=False, progress=False)
    images, frames = result.images, result.frames
    assert images.shape == (CLASSES, SIZE, SIZE, 3) and frames.shape == (CLASSES, 16, SIZE, SIZE, 3)
    logits = features.class_scores(tiny, images)
    # Column c: the logit of class c on every image; the image made for c must win.
    assert list(logits.argmax(axis=0)) == classes


def test_probability_objective_also_raises_its_class(tiny):
    result = features.maximize_class(tiny, 3, steps=15, objective="probability", crop=False, progress=False)
    image, frames = result.images, result.frames
    assert image.shape == (SIZE, SIZE, 3) and frames.shape == (16, SIZE, SIZE, 3)
    start = features.class_scores(tiny, frames[0], objective="probability")[0, 3]
    assert features.class_scores(tiny, image, objective="probability")[0, 3] > start


def test_class_logits_are_the_scores_before_the_softmax(tiny):
    image = np.random.default_rng(2).uniform(0, 255, (2, SIZE, SIZE, 3))
    logits = features.class_scores(tiny, image)
    np.testing.assert_allclose(
        features.class_scores(tiny, image, objective="probability"), tiny(image.astype(np.float32)).numpy(), atol=1e-5
    )
    np.testing.assert_allclose(keras.ops.softmax(logits).numpy(), tiny(image.astype(np.float32)).numpy(), atol=1e-5)


# --------------------------------------------------------------------------- GIF
def test_gif_has_every_frame_at_the_right_size(tmp_path):
    # 7 frames at 3 fps is a case where moviepy's own duration would drop the last frame.
    frames = np.zeros((7, 20, 30, 3), np.uint8)
    for index in range(7):
        frames[index, :, : 4 * (index + 1)] = 255  # distinct frames: GIF writers merge equal ones
    path = image_io.save_gif(frames, tmp_path / "bar.gif", fps=3)
    assert path == tmp_path / "bar.gif"
    with Image.open(path) as gif:
        read = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
    assert len(read) == 7
    assert all(frame.shape == (20, 30, 3) for frame in read)
    np.testing.assert_array_equal(read[3][0, :, 0] > 127, frames[3][0, :, 0] > 127)


def test_gif_of_a_class_optimisation_goes_under_the_output_dir(tiny):
    from course_utils import config

    frames = features.maximize_class(tiny, 1, steps=4, frame_every=1, progress=False).frames
    path = image_io.save_gif(frames, "class_1.gif", fps=5)
    assert path.parent == config.output_dir("gifs")
    with Image.open(path) as gif:
        assert gif.n_frames == len(frames) == 5
        assert gif.size == (frames.shape[2], frames.shape[1])


# --------------------------------------------------------------------------- bad inputs
def test_unknown_layer_lists_the_conv_layers(tiny):
    with pytest.raises(ValueError, match=r"No layer named 'conv9'.*conv1, conv2"):
        features.maximize_filters(tiny, "conv9", [0], steps=1, progress=False)


def test_layer_without_a_feature_map_is_refused(tiny):
    with pytest.raises(ValueError, match=r"'gap'.*not a feature map"):
        features.maximize_filters(tiny, "gap", [0], steps=1, progress=False)


def test_filter_index_beyond_the_channels_states_the_count(tiny):
    with pytest.raises(ValueError, match=r"filter index 12 is out of range.*12 filters.*0 to 11"):
        features.maximize_filters(tiny, "conv2", [3, 12], steps=1, progress=False)
    with pytest.raises(ValueError, match=r"filter index -1"):
        features.maximize_filters(tiny, "conv2", -1, steps=1, progress=False)
    with pytest.raises(ValueError, match="empty"):
        features.maximize_filters(tiny, "conv2", [], steps=1, progress=False)
    with pytest.raises(TypeError, match="integers"):
        features.maximize_filters(tiny, "conv2", [1.5], steps=1, progress=False)


def test_class_index_out_of_range_states_the_range(tiny):
    with pytest.raises(ValueError, match=r"class_index 5 is out of range.*5 classes.*0 to 4"):
        features.maximize_class(tiny, 5, steps=1, progress=False)
    with pytest.raises(ValueError, match="objective must be 'logit'"):
        features.maximize_class(tiny, 0, steps=1, objective="softmax", progress=False)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(learning_rate=0.0), "learning_rate must be > 0"),
        (dict(l2=-1.0), "l2 must be >= 0"),
        (dict(scale=1.5), r"scale must be in \[0, 1\)"),
        (dict(frame_every=0, return_frames=True), "frame_every must be an integer >= 1"),
        (dict(seed_image=np.zeros((8, 8))), "seed_image must be one RGB photo"),
        (dict(image_size=4), "image_size must be an integer >= 8"),
    ],
)
def test_bad_numbers_are_refused_with_a_reason(tiny, options, message):
    with pytest.raises(ValueError, match=message):
        features.maximize_filters(tiny, "conv2", [0], **{"steps": 1, "progress": False, **options})


def test_save_gif_refuses_bad_frames_and_paths(tmp_path):
    with pytest.raises(ValueError, match=r"frames must be \(T, H, W, 3\)"):
        image_io.save_gif(np.zeros((2, 3, 8, 8, 3), np.uint8), tmp_path / "a.gif")
    with pytest.raises(ValueError, match=r"must end in \.gif"):
        image_io.save_gif(np.zeros((2, 8, 8, 3), np.uint8), tmp_path / "a.mp4")
    with pytest.raises(ValueError, match="fps must be > 0"):
        image_io.save_gif(np.zeros((2, 8, 8, 3), np.uint8), tmp_path / "a.gif", fps=0)


def test_the_compiled_step_cache_does_not_keep_models_alive():
    import gc
    import weakref

    model = _tiny_cnn("short_lived")
    features.maximize_filters(model, "conv2", [0], steps=1, progress=False)
    features.maximize_class(model, 0, steps=1, progress=False)
    linear_top = keras.Model(model.inputs, model.get_layer("gap").output, name="short_lived_logits")
    features.maximize_class(linear_top, 2, steps=1, progress=False)  # a model that already gives logits
    assert features.tracing_counts(model) and features.tracing_counts(linear_top)
    alive = [weakref.ref(model), weakref.ref(linear_top)]
    del model, linear_top
    gc.collect()
    assert [ref() for ref in alive] == [None, None]


# --------------------------------------------------------------------------- the composable parts
def test_objectives_add_up_merge_equal_terms_and_keep_zero_weights():
    objective = features.channel("conv2") - 0.1 * features.l2_penalty() + 0.1 * features.l2_penalty()
    assert objective.key == "channel(conv2)+l2"
    np.testing.assert_array_equal(objective.weights, [1.0, 0.0])
    both = 2 * features.class_logit() - features.total_variation()
    assert both.key == "class_logit+total_variation" and list(both.weights) == [2.0, -1.0]
    with pytest.raises(TypeError, match="objective weight must be a real number"):
        features.channel("conv2") * "3"


def test_the_objective_is_the_weighted_sum_of_its_terms_by_hand(tiny):
    """The first recorded objective equals a hand computation on the starting image (no transforms)."""
    import tensorflow as tf

    history = features.ObjectiveHistory()
    weights = (0.7, 0.3, 0.2)
    objective = weights[0] * features.channel("conv2") - weights[1] * features.l2_penalty() - weights[2] * features.total_variation()
    features.visualize(tiny, objective, [4, 9], steps=1, callbacks=[history], seed=3)
    start = features._initial_images([4, 9], SIZE, 3, None)
    head = keras.Model(tiny.inputs, tiny.get_layer("conv2").output)
    activations = head(tf.constant(start)).numpy()[:, 2:-2, 2:-2]  # border positions left out
    u = (start - 127.5) / 127.5
    l2 = (u**2).mean(axis=(1, 2, 3))
    tv = np.abs(np.diff(u, axis=1)).mean(axis=(1, 2, 3)) + np.abs(np.diff(u, axis=2)).mean(axis=(1, 2, 3))
    channel = np.array([activations[0, ..., 4].mean(), activations[1, ..., 9].mean()])
    expected = weights[0] * channel - weights[1] * l2 - weights[2] * tv
    np.testing.assert_allclose(history.values[:, 0], expected, rtol=1e-4, atol=1e-6)


def test_new_weights_reuse_the_step_and_new_terms_get_their_own(tiny):
    model = _tiny_cnn("weights_retrace")
    for weight in (0.0, 0.5, 2.0):
        features.visualize(model, features.channel("conv1") - weight * features.total_variation(), [0], steps=1)
    counts = features.tracing_counts(model)
    assert counts[f"ascent:channel(conv1)+total_variation@{SIZE}"] == 1
    features.visualize(model, features.channel("conv1"), [0], steps=1)
    assert features.tracing_counts(model)[f"ascent:channel(conv1)@{SIZE}"] == 1


def test_the_ascent_raises_the_objective_it_is_given(tiny):
    history = features.ObjectiveHistory()
    objective = features.channel("conv2") + 0.5 * features.class_logit() - 0.05 * features.total_variation()
    features.visualize(tiny, objective, [1, 3], steps=12, learning_rate=2.0, callbacks=[history])
    assert history.values.shape == (2, 12)
    assert np.all(history.values[:, -1] > history.values[:, 0] + 1e-3)


class _QuarterTurn(features.Transform):
    """A user-written transform: always a quarter turn counter-clockwise about the centre (no randomness)."""

    stream = 9

    def sampling_matrices(self, rng, steps, size):
        turn = np.array([[0.0, 1.0], [-1.0, 0.0]])  # the output at p samples the input at R(-90 deg) p
        return features._about_centre(np.repeat(turn[None], steps, axis=0), size)


def test_a_list_of_transforms_composes_into_one_resampling_and_users_can_add_their_own():
    import tensorflow as tf

    size = 9
    image = np.random.default_rng(1).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    one = features._transform_rows([_QuarterTurn()], [0], steps=1, size=size, seed=0)[0]
    two = features._transform_rows([_QuarterTurn(), _QuarterTurn()], [0], steps=1, size=size, seed=0)[0]
    turned = features._transform(tf.constant(image), tf.constant(one)).numpy()[0]
    twice = features._transform(tf.constant(image), tf.constant(two)).numpy()[0]
    np.testing.assert_allclose(twice, image[0, ::-1, ::-1], atol=1e-3)
    assert np.allclose(turned, np.rot90(image[0], 1)) or np.allclose(turned, np.rot90(image[0], -1))
    assert not np.allclose(turned, image[0], atol=1.0)


def test_callbacks_see_every_step_of_every_batch():
    model = _tiny_cnn("callbacks")
    calls = {"start": 0, "batches": 0, "steps": 0, "end": 0}

    class Counter(features.Callback):
        def on_start(self, targets, steps, batch_size):
            calls["start"] += 1
            assert (list(targets), steps, batch_size) == ([0, 1, 2], 4, 2)

        def on_batch_start(self, targets, images):
            calls["batches"] += 1

        def on_step(self, step, images, objectives):
            calls["steps"] += 1
            assert objectives.shape[0] == images.shape[0]

        def on_end(self):
            calls["end"] += 1

    features.visualize(model, features.channel("conv2"), [0, 1, 2], steps=4, batch_size=2, callbacks=[Counter()])
    assert calls == {"start": 1, "batches": 2, "steps": 8, "end": 1}
    with pytest.raises(TypeError, match="callbacks must be Callback objects"):
        features.visualize(model, features.channel("conv2"), [0], steps=1, callbacks=[print])
    with pytest.raises(TypeError, match="objective must be an Objective or a Term"):
        features.visualize(model, "conv2", [0], steps=1)


def test_penalties_at_weight_zero_change_nothing_and_move_without_a_retrace(tiny):
    """Weight 0 skips the pixel penalties in the graph: the same images as without them, one trace for 0 and 5."""
    model = _tiny_cnn("zero_penalties")
    plain = features.visualize(model, features.channel("conv1"), [0, 3], steps=3, seed=1)
    zeroed = features.channel("conv1") - 0.0 * features.l2_penalty() - 0.0 * features.total_variation()
    np.testing.assert_array_equal(features.visualize(model, zeroed, [0, 3], steps=3, seed=1), plain)
    penalised = features.channel("conv1") - 5.0 * features.l2_penalty() - 0.0 * features.total_variation()
    moved = features.visualize(model, penalised, [0, 3], steps=3, seed=1)
    assert not np.allclose(moved, plain), "a weight of 5 must run the penalty"
    assert features.tracing_counts(model)[f"ascent:channel(conv1)+l2+total_variation@{SIZE}"] == 1


def test_the_total_variation_penalty_lives_in_a_branch_of_the_compiled_step():
    """Its |differences| (the only Abs of the step) run inside a cond branch, so weight 0 skips them."""
    model = _tiny_cnn("tv_branch")
    objective = features.channel("conv1") - 0.0 * features.total_variation()
    features.visualize(model, objective, [0], steps=1)
    step = features._ascent_step(model, objective, SIZE, features.PixelImage())
    graph = step.get_concrete_function().graph.as_graph_def()
    top_level = {node.op for node in graph.node}
    branches = {node.op for function in graph.library.function for node in function.node_def}
    assert "Abs" not in top_level and "Abs" in branches
    assert top_level & {"If", "StatelessIf"}


# --------------------------------------------------------------------------- Fourier parameterization
def _low_frequency_share(change: np.ndarray, cutoff: float = 0.125) -> float:
    """Share of the energy of an image change (N, S, S, 3) at spatial frequencies below ``cutoff`` cycles/pixel."""
    spectrum = np.abs(np.fft.fft2(change - change.mean(axis=(1, 2), keepdims=True), axes=(1, 2))) ** 2
    size = change.shape[1]
    frequency = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2)
    low = frequency < cutoff
    return float(spectrum[:, low].sum() / spectrum.sum())


def test_a_fourier_image_starts_grey_and_stays_in_the_pixel_range():
    fourier = features.FourierImage()
    parameters = fourier.initial([0, 1], SIZE, seed=0, start=None)
    assert parameters.shape == (2, 3, SIZE, SIZE // 2 + 1, 2)
    pixels = fourier.to_pixels(tf.constant(parameters)).numpy()
    assert pixels.shape == (2, SIZE, SIZE, 3) and np.all((pixels > 0) & (pixels < 255))
    assert abs(pixels.mean() - 127.5) < 5 and pixels.std() < 10, (pixels.mean(), pixels.std())
    huge = fourier.to_pixels(tf.constant(parameters * 1e4)).numpy()
    assert np.all((huge >= 0) & (huge <= 255)), "the sigmoid keeps any spectrum inside the pixel range"
    with pytest.raises(ValueError, match="seed_image"):
        fourier.initial([0], SIZE, seed=0, start=np.zeros((SIZE, SIZE, 3), np.float32))
    with pytest.raises(ValueError, match="decay"):
        features.FourierImage(decay=-1.0)


def test_fourier_ascent_raises_the_class_score_through_the_same_compiled_step(tiny):
    objective = features.class_logit() - 0.1 * features.l2_penalty()
    history = features.ObjectiveHistory()
    images = features.visualize(tiny, objective, [1, 2], steps=12, callbacks=[history],
                                parameterization=features.FourierImage())
    assert images.shape == (2, SIZE, SIZE, 3) and np.all((images >= 0) & (images <= 255))
    assert np.all(history.values[:, -1] > history.values[:, 0] + 0.1), history.values
    key = f"ascent:class_logit+l2@{SIZE}:fourier(decay=1)"
    features.visualize(tiny, features.class_logit() - 3.0 * features.l2_penalty(), [0], steps=2,
                       parameterization=features.FourierImage())
    assert features.tracing_counts(tiny)[key] == 1, "new weights, same terms: no new trace"
    with pytest.raises(TypeError, match="PixelImage\\(\\) or FourierImage\\(\\)"):
        features.visualize(tiny, objective, [0], steps=1, parameterization="fourier")


def test_fourier_steps_put_more_of_the_change_into_low_frequencies_than_pixel_steps(tiny):
    """The point of the parameterization (Olah et al. 2017): pixel-space ascent changes mostly high frequencies."""
    objective = features.channel("conv2")
    shares = {}
    for name, parameterization in (("pixels", features.PixelImage()), ("fourier", features.FourierImage())):
        recorder = features.RecordFrames(1)
        features.visualize(tiny, objective, [0, 1, 2], steps=8, callbacks=[recorder], parameterization=parameterization)
        frames = recorder.frames  # (targets, frames, S, S, 3)
        shares[name] = _low_frequency_share(frames[:, -1] - frames[:, 0])
    assert shares["fourier"] > shares["pixels"] + 0.1, shares


# --------------------------------------------------------------------------- a term of one's own
class _CentreRow(features.Term):
    """A new term in a few lines: minus the row of the target channel's spatial centre of mass (0 top, 1 bottom)."""

    reads = "activations"

    def __init__(self, layer):
        self.layer = layer

    def score(self, values, targets):
        own = tf.gather(values, targets, axis=3, batch_dims=1)  # (N, h, w)
        mass = tf.nn.softmax(tf.reshape(own, [tf.shape(own)[0], -1]))  # a spatial softmax: weights summing to 1
        rows = tf.repeat(tf.linspace(0.0, 1.0, own.shape[1]), own.shape[2])  # each position's row, row-major
        return -tf.reduce_sum(mass * rows[None], axis=1)


def _centre_rows(model, images, targets):
    """The same centre of mass in numpy, on the model's own feature map: an independent measurement."""
    activations = features.layer_head(model, "conv2", SIZE)(tf.constant(images, tf.float32)).numpy()
    own = activations[np.arange(len(targets)), :, :, targets]  # (N, h, w)
    mass = np.exp(own - own.max(axis=(1, 2), keepdims=True))
    mass /= mass.sum(axis=(1, 2), keepdims=True)
    return (mass * np.linspace(0.0, 1.0, own.shape[1])[None, :, None]).sum(axis=(1, 2))


def test_a_new_term_moves_its_score_through_the_same_compiled_step_and_new_weights_do_not_retrace():
    model = _tiny_cnn("own_term")
    targets = [2, 5]
    before = _centre_rows(model, features._initial_images(targets, SIZE, 0, None), targets)
    key = f"ascent:{_CentreRow('conv2').key}+channel(conv2)+total_variation@{SIZE}"
    moved = {}
    for weight in (0.0, 0.2):
        objective = _CentreRow("conv2") + weight * features.channel("conv2") - weight * features.total_variation()
        moved[weight] = features.visualize(model, objective, targets, steps=12)
        assert features.tracing_counts(model)[key] == 1, "only the weights changed: the same compiled step"
    after = _centre_rows(model, moved[0.0], targets)
    assert np.all(after < before - 0.05), (before, after)  # the mass climbed towards the top rows
    assert not np.allclose(moved[0.0], moved[0.2]), "the weights reached the compiled step"
    # A term alone is an objective of weight 1, and runs through the same machinery.
    alone = features.visualize(model, _CentreRow("conv2"), targets, steps=2)
    assert alone.shape == (2, SIZE, SIZE, 3) and features.tracing_counts(model)[f"ascent:{_CentreRow('conv2').key}@{SIZE}"] == 1


def test_terms_add_scale_and_compare_by_class_and_attributes():
    term = _CentreRow("conv2")
    assert term == _CentreRow("conv2") and term != _CentreRow("conv1")
    objective = 2 * term - 0.5 * features.total_variation() + (-term)
    assert [t.key for t, _ in objective.terms] == [term.key, "total_variation"]
    np.testing.assert_array_equal(objective.weights, [1.0, -0.5])
    assert term.key.startswith("_CentreRow(") and "layer='conv2'" in term.key

    def defined_again():
        class _CentreRow(features.Term):  # the same name with another score, as when a notebook cell is rerun
            reads = "activations"
            layer = "conv2"

            def score(self, values, targets):
                return tf.reduce_mean(values, axis=[1, 2, 3])

        return _CentreRow()

    first, second = defined_again(), defined_again()
    assert len({term.key, first.key, second.key}) == 3, "a redefined class never reuses another's compiled step"


def test_a_term_that_breaks_the_contract_is_refused_with_the_reason(tiny):
    class Total(features.Term):
        reads = "pixels"

        def score(self, values, targets):
            return tf.reduce_sum(values)  # one number for the batch, not one per image

    with pytest.raises(ValueError, match=r"score must return one score per image, shape \(N,\)"):
        features.visualize(tiny, Total(), [0], steps=1)

    class Nowhere(features.Term):
        reads = "activations"  # but no layer

    with pytest.raises(TypeError, match="its layer must be a layer name"):
        features.visualize(tiny, Nowhere(), [0], steps=1)

    class Elsewhere(features.Term):
        reads = "gradients"

    with pytest.raises(ValueError, match="a term reads 'pixels', 'logits' or 'activations'"):
        features.visualize(tiny, Elsewhere(), [0], steps=1)


def test_both_wrappers_return_the_same_kind_of_result(tiny):
    filters = features.maximize_filters(tiny, "conv2", [0], steps=1, progress=False)
    classes = features.maximize_class(tiny, [0], steps=1, progress=False)
    assert type(filters) is type(classes) is features.MaximizedImages
    assert filters.images.shape[0] == classes.images.shape[0] == 1 and classes.frames.shape[:2] == (1, 2)
    with pytest.raises(RuntimeError, match="return_frames=True"):
        _ = filters.frames
    assert features.CLASS_SCORES["logit"] == features.ClassLogit()
