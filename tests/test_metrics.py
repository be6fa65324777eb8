"""Property tests of course_utils.metrics: closed forms on a linear model, endpoints, batching, sanity checks."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import SIZE, images, linear_model, small_cnn, structured_images

from course_utils import attributions, metrics


@pytest.fixture(scope="module")
def linear():
    """Softmax over linear scores: logit_c(x) = sum(w_c * x), so w_c * x is the exact attribution."""
    return linear_model(seed=3, classes=2, softmax=True)


def _exact_contributions(weights: np.ndarray, batch: np.ndarray, class_index: int) -> np.ndarray:
    """Per-pixel share of the class logit: sum over channels of w * x (the logit with a black fill)."""
    return (weights[..., class_index][None] * batch).sum(axis=-1)


def test_deletion_by_the_exact_attribution_drops_the_logit_faster_than_by_its_reverse(linear):
    model, weights = linear
    batch = images(3, seed=4)
    exact = _exact_contributions(weights, batch, 0)
    fractions, by_exact = metrics.deletion_curve(model, batch, exact, class_index=0, fill="black")
    _, by_reverse = metrics.deletion_curve(model, batch, -exact, class_index=0, fill="black")
    _, by_random = metrics.deletion_curve(model, batch, metrics.random_map(None, batch), class_index=0, fill="black")
    auc_exact, auc_reverse, auc_random = (metrics.curve_auc(fractions, s) for s in (by_exact, by_reverse, by_random))
    assert np.all(auc_exact < auc_random) and np.all(auc_random < auc_reverse)
    # Removing the k largest contributions gives the lowest logit any k deletions can reach.
    tolerance = 1e-5 * np.abs(by_exact).max()
    assert np.all(by_exact <= by_random + tolerance) and np.all(by_exact <= by_reverse + tolerance)


def test_deletion_at_half_the_pixels_equals_the_closed_form(linear):
    model, weights = linear
    batch = images(2, seed=5)
    exact = _exact_contributions(weights, batch, 1)
    fractions, scores = metrics.deletion_curve(model, batch, exact, class_index=1, fill="black", fractions=[0, 0.5, 1])
    assert fractions.tolist() == [0.0, 0.5, 1.0]
    half = SIZE * SIZE // 2
    for i in range(len(batch)):
        kept = np.sort(exact[i].reshape(-1))[::-1][half:]  # the smaller half stays; the rest is black (contributes 0)
        np.testing.assert_allclose(scores[i, 1], kept.sum(), rtol=1e-4, atol=1e-2)
    # Insertion at one half is the mirror: only the larger half is present.
    _, inserted = metrics.insertion_curve(model, batch, exact, class_index=1, fill="black", fractions=[0, 0.5, 1])
    for i in range(len(batch)):
        top = np.sort(exact[i].reshape(-1))[::-1][:half]
        np.testing.assert_allclose(inserted[i, 1], top.sum(), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("score", metrics.SCORES)
@pytest.mark.parametrize("fill", metrics.FILLS)
def test_curve_endpoints_are_the_scores_of_the_image_and_of_the_fill_image(linear, score, fill):
    model, weights = linear
    batch = structured_images(2, seed=6)
    maps = attributions.vanilla_gradients(model, batch)
    fill_images = metrics.fill_images(batch, fill)

    def expected(x: np.ndarray) -> np.ndarray:
        logits = np.einsum("nhwc,hwck->nk", x.astype(np.float64), weights.astype(np.float64))
        classes = np.argmax(np.einsum("nhwc,hwck->nk", batch.astype(np.float64), weights), axis=1)
        rows = np.arange(len(x))
        if score == "logit":
            return logits[rows, classes]
        if score == "probability":
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            return (shifted / shifted.sum(axis=1, keepdims=True))[rows, classes]
        others = logits.copy()
        others[rows, classes] = -np.inf
        return logits[rows, classes] - others.max(axis=1)

    _, deletion = metrics.deletion_curve(model, batch, maps, fill=fill, score=score)
    _, insertion = metrics.insertion_curve(model, batch, maps, fill=fill, score=score)
    scale = np.abs(expected(batch)).max() + 1.0
    for curve in (deletion[:, 0], insertion[:, -1]):
        np.testing.assert_allclose(curve, expected(batch), atol=1e-4 * scale)
    for curve in (deletion[:, -1], insertion[:, 0]):
        np.testing.assert_allclose(curve, expected(fill_images), atol=1e-4 * scale)


def test_auc_of_a_constant_curve_is_the_constant_and_of_a_ramp_one_half():
    fractions = np.linspace(0, 1, 7)
    np.testing.assert_allclose(metrics.curve_auc(fractions, np.full((2, 7), 2.5)), [2.5, 2.5])
    np.testing.assert_allclose(metrics.curve_auc(fractions, fractions), [0.5])
    uneven = np.array([0.0, 0.1, 0.5, 1.0])
    np.testing.assert_allclose(metrics.curve_auc(uneven, uneven**2), [0.5 * (0.1 * 0.01 + 0.4 * 0.26 + 0.5 * 1.25)])
    with pytest.raises(ValueError, match="exactly 0 to exactly 1"):
        metrics.curve_auc([0.1, 1.0], [1.0, 2.0])


def test_one_image_at_a_time_equals_the_batch_and_batch_size_does_not_matter():
    model = small_cnn(softmax=True, seed=2)
    batch = structured_images(3, seed=7)
    maps = attributions.vanilla_gradients(model, batch)
    _, together = metrics.deletion_curve(model, batch, maps, batch_size=64)
    _, small_batches = metrics.deletion_curve(model, batch, maps, batch_size=5)
    one_by_one = np.concatenate([metrics.deletion_curve(model, batch[i : i + 1], maps[i : i + 1])[1] for i in range(3)])
    np.testing.assert_allclose(small_batches, together, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(one_by_one, together, rtol=1e-5, atol=1e-5)
    _, inserted = metrics.insertion_curve(model, batch, maps, batch_size=4)
    one = np.concatenate([metrics.insertion_curve(model, batch[i : i + 1], maps[i : i + 1])[1] for i in range(3)])
    np.testing.assert_allclose(one, inserted, rtol=1e-5, atol=1e-5)


def test_curves_trace_once_for_any_fractions_batch_size_and_class():
    from course_utils._core import tracing_counts

    model = small_cnn(softmax=True, seed=3, name="traced_cnn")
    batch = images(2, seed=8)
    maps = metrics.random_map(model, batch)
    for fractions, batch_size, class_index in (([0, 0.3, 1], 3, None), (None, 7, 1), (np.linspace(0, 1, 21), 64, [0, 2])):
        metrics.deletion_curve(model, batch, maps, class_index, fractions, batch_size=batch_size)
        metrics.insertion_curve(model, batch, maps, class_index, fractions, batch_size=batch_size)
    counts = {k: v for k, v in tracing_counts(model).items() if k.startswith("faithfulness_curve")}
    assert counts and set(counts.values()) == {1}, counts


def test_ties_are_ranked_in_a_fixed_random_order_not_by_position():
    ranks = metrics.pixel_ranks(np.array([[[1.0, 5.0], [5.0, 0.0]]]))
    assert ranks[0, 1, 1] == 3 and ranks[0, 0, 0] == 2 and {ranks[0, 0, 1], ranks[0, 1, 0]} == {0, 1}
    flat = metrics.pixel_ranks(np.zeros((2, 16, 16)), seed=3)
    np.testing.assert_array_equal(flat, metrics.pixel_ranks(np.zeros((2, 16, 16)), seed=3))
    assert sorted(flat[0].ravel().tolist()) == list(range(256))
    # A constant map deletes pixels all over the image, not the top rows first.
    first_quarter = flat[0] < 64
    assert abs(first_quarter[:8].mean() - first_quarter[8:].mean()) < 0.15, "top and bottom rows alike"
    assert not np.array_equal(flat[0], metrics.pixel_ranks(np.zeros((1, 16, 16)), seed=4)[0])
    channels = np.zeros((1, 2, 2, 3))
    channels[0, 1, 1] = (1.0, 1.0, -0.5)
    assert metrics.pixel_ranks(channels)[0, 1, 1] == 0


def test_bad_arguments_say_what_is_wrong(linear):
    model, _ = linear
    batch = images(2)
    maps = np.ones((2, SIZE, SIZE))
    with pytest.raises(ValueError, match="one map per image"):
        metrics.deletion_curve(model, batch, np.ones((2, SIZE // 2, SIZE // 2)))
    with pytest.raises(ValueError, match="one map per image"):
        metrics.insertion_curve(model, batch, np.ones((3, SIZE, SIZE)))
    with pytest.raises(ValueError, match="fill must be one of"):
        metrics.deletion_curve(model, batch, maps, fill="gray")
    with pytest.raises(ValueError, match="broadcast"):
        metrics.deletion_curve(model, batch, maps, fill=np.zeros((5, 5, 3)))
    with pytest.raises(ValueError, match="score must be one of"):
        metrics.deletion_curve(model, batch, maps, score="softmax")
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        metrics.deletion_curve(model, batch, maps, fractions=[0, 0.5, 1.5])
    with pytest.raises(ValueError, match="ascending"):
        metrics.deletion_curve(model, batch, maps, fractions=[0, 0.6, 0.4, 1])
    with pytest.raises(ValueError, match="NaN"):
        metrics.deletion_curve(model, batch, np.full((2, SIZE, SIZE), np.nan))
    with pytest.raises(ValueError, match="out of range"):
        metrics.deletion_curve(model, batch, maps, class_index=7)


def test_baseline_maps_ignore_the_model_and_are_reproducible():
    batch = images(2, size=SIZE)
    np.testing.assert_array_equal(metrics.random_map(None, batch, seed=1), metrics.random_map("anything", batch, seed=1))
    assert not np.array_equal(metrics.random_map(None, batch, seed=1), metrics.random_map(None, batch, seed=2))
    prior = metrics.center_prior_map(None, images(1, size=9))
    assert prior.shape == (1, 9, 9) and prior[0, 4, 4] == prior.max() == 1.0
    assert prior[0, 0, 0] < prior[0, 2, 2] < prior[0, 4, 4]


def test_rank_correlation_is_spearman():
    from scipy import stats

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 4))
    b[0] = a[0] ** 3  # monotone: rank correlation exactly 1
    got = metrics.rank_correlation(a, b)
    expected = [stats.spearmanr(a[i].ravel(), b[i].ravel())[0] for i in range(3)]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert got[0] == pytest.approx(1.0)
    assert metrics.rank_correlation(a, -a) == pytest.approx([-1.0] * 3)
    assert metrics.rank_correlation(np.zeros((1, 2, 2)), a[:1, :2, :2]).tolist() == [0.0]


def test_randomizing_every_layer_decorrelates_gradient_maps_and_leaves_the_model_alone():
    model = small_cnn(softmax=True, seed=4, name="to_randomize")
    before = [w.copy() for w in model.get_weights()]
    batch = structured_images(4, seed=9)
    seen_models = []

    def gradients(m, x, c):
        seen_models.append(m)
        return attributions.vanilla_gradients(m, x, c)

    results = metrics.parameter_randomization(model, batch, gradients, seed=0)
    assert [name for name, _ in results] == ["scores", "conv2", "conv1"], "top weighted layer first"
    for _name, similarity in results:
        assert similarity.shape == (4,) and np.all(np.abs(similarity) <= 1.0)
    fully_random = results[-1][1]
    assert np.mean(np.abs(fully_random)) < 0.5, f"maps of a fully randomized model still match: {fully_random}"
    # With the convolutions still trained, |gradient| keeps their outline; with nothing trained it does not.
    absolute = metrics.parameter_randomization(model, batch, gradients, seed=0, absolute=True)
    assert np.mean(absolute[0][1]) > np.mean(absolute[-1][1]) + 0.2, absolute
    for original, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(original, now)
    assert seen_models[0] is model and all(m is not model for m in seen_models[1:4])
    # The same seed gives the same randomized maps.
    again = metrics.parameter_randomization(model, batch, gradients, seed=0)
    for (_, first), (_, second) in zip(results, again):
        np.testing.assert_allclose(first, second, atol=1e-6)
    # Evaluated at fewer layers, the cascade still randomizes every layer above each: the same numbers there.
    sparse = metrics.parameter_randomization(model, batch, gradients, seed=0, evaluate_at=["conv1"])
    assert [name for name, _ in sparse] == ["conv1"]
    np.testing.assert_allclose(sparse[0][1], results[-1][1], atol=1e-6)
    with pytest.raises(ValueError, match="not weighted layers"):
        metrics.parameter_randomization(model, batch, gradients, evaluate_at=["pool"])
    with pytest.raises(TypeError, match="list of layer names"):
        metrics.parameter_randomization(model, batch, gradients, evaluate_at="conv1")


def test_data_randomization_is_one_for_the_same_model_and_lower_for_another():
    model = small_cnn(softmax=True, seed=5, name="trained")
    other = small_cnn(softmax=True, seed=6, name="control")
    batch = structured_images(3, seed=10)

    def gradients(m, x, c):
        return attributions.vanilla_gradients(m, x, c)

    np.testing.assert_allclose(metrics.data_randomization(model, model, batch, gradients), 1.0)
    assert np.mean(metrics.data_randomization(model, other, batch, gradients)) < 0.9
    with pytest.raises(ValueError, match="explain\\(\\) returned"):
        metrics.data_randomization(model, other, batch, lambda m, x, c: np.ones((3, 2, 2)))


def test_randomization_checks_reuse_given_trained_maps_and_check_their_shape():
    model = small_cnn(softmax=True, seed=5, name="trained")
    other = small_cnn(softmax=True, seed=6, name="control")
    batch = structured_images(3, seed=10)
    explained = []

    def gradients(m, x, c):
        explained.append(m)
        return attributions.vanilla_gradients(m, x, c)

    trained = gradients(model, batch, None)
    explained.clear()
    cascade = metrics.parameter_randomization(model, batch, gradients, seed=0, trained_maps=trained)
    assert model not in explained, "the trained model was explained again although its maps were given"
    for (_, given), (_, computed) in zip(cascade, metrics.parameter_randomization(model, batch, gradients, seed=0)):
        np.testing.assert_allclose(given, computed, atol=1e-6)
    explained.clear()
    control = metrics.data_randomization(model, other, batch, gradients, trained_maps=trained)
    assert explained == [other]
    np.testing.assert_allclose(control, metrics.data_randomization(model, other, batch, gradients), atol=1e-6)
    # Maps that are not the trained model's (here: the control's) change the answer: they are used, not ignored.
    assert not np.allclose(metrics.data_randomization(model, other, batch, gradients, trained_maps=gradients(other, batch, None)), control)
    with pytest.raises(ValueError, match="trained_maps"):
        metrics.data_randomization(model, other, batch, gradients, trained_maps=trained[:2])
    with pytest.raises(ValueError, match="trained_maps"):
        metrics.parameter_randomization(model, batch, gradients, trained_maps=np.full(trained.shape, np.nan))


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_images():
    rng = np.random.default_rng(1)
    few, many = rng.normal(3.0, 1.0, 20), rng.normal(3.0, 1.0, 2000)
    mean, low, high = metrics.bootstrap_interval(few)
    assert low < mean < high and mean == pytest.approx(few.mean())
    _, low_many, high_many = metrics.bootstrap_interval(many)
    assert low_many < 3.0 < high_many
    assert (high_many - low_many) < (high - low) / 5, "the interval shrinks like 1/sqrt(N)"
    # Standard error of a mean of 2000 unit normals is 0.022: a 95 % interval is about 0.088 wide.
    assert 0.06 < high_many - low_many < 0.12
    assert metrics.bootstrap_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.bootstrap_interval([1.0])
    with pytest.raises(ValueError, match="confidence"):
        metrics.bootstrap_interval(few, confidence=95)
