"""Tests of the attribution display helpers in course_utils.viz."""

from __future__ import annotations

import handmade_explanations
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import viz


def _blob_attributions(size: int = 32) -> np.ndarray:
    """Positive blob top-left, negative blob bottom-right, zero elsewhere."""
    values = np.zeros((size, size, 3))
    values[4:12, 4:12] = 1.0
    values[20:28, 20:28] = -2.0
    return values


def test_polarity_picks_the_sign():
    values = _blob_attributions()
    positive = viz.attribution_to_mask(values, "positive", clip=(0, 100), morphology=False)
    negative = viz.attribution_to_mask(values, "negative", clip=(0, 100), morphology=False)
    both = viz.attribution_to_mask(values, "both", clip=(0, 100), morphology=False)
    assert positive.shape == (32, 32)
    assert np.all(positive[4:12, 4:12] == 1.0) and positive[20:28, 20:28].max() == 0.0
    assert np.all(negative[20:28, 20:28] == 1.0) and negative[4:12, 4:12].max() == 0.0
    # |negative| is twice |positive|, so with both signs the positive blob is at one half.
    np.testing.assert_allclose(both[4:12, 4:12], 0.5)
    assert np.all(both[20:28, 20:28] == 1.0)


def test_channels_are_summed_before_scaling():
    values = np.zeros((8, 8, 3))
    values[0, 0] = [1.0, 1.0, 1.0]  # sum 3
    values[1, 1] = [3.0, 0.0, -5.0]  # positive part sums to 3 as well
    values[2, 2] = [1.0, 0.0, 0.0]  # sum 1
    mask = viz.attribution_to_mask(values, "positive", clip=(0, 100), morphology=False)
    assert mask[0, 0] == mask[1, 1] == 1.0
    np.testing.assert_allclose(mask[2, 2], 1 / 3)


def test_clip_is_by_attribution_mass():
    values = np.arange(1.0, 101.0).reshape(10, 10)  # total mass 5050
    plain = viz.attribution_to_mask(values, clip=(0, 100), morphology=False)
    np.testing.assert_allclose(plain, (values - 1) / 99)
    # 95..100 hold 585 = 11.6 % of the mass (>= 10 %): they saturate. 1..31 hold
    # 496 < 505 = 10 %, so the lower threshold is 32 (1..32 hold 528 > 505).
    clipped = viz.attribution_to_mask(values, clip=(10, 90), morphology=False)
    np.testing.assert_allclose(clipped, np.clip((values - 32) / (95 - 32), 0, 1))
    assert np.all(clipped[values >= 95] == 1.0) and np.all(clipped[values <= 32] == 0.0)


def test_all_zero_attributions_give_an_all_zero_mask():
    for polarity in ("positive", "negative", "both"):
        mask = viz.attribution_to_mask(np.zeros((6, 6, 3)), polarity, outlines=True)
        assert not np.any(np.isnan(mask)) and np.all(mask == 0.0)


def test_morphology_removes_isolated_specks_but_keeps_regions():
    values = np.zeros((20, 20))
    values[5:13, 5:13] = 1.0
    values[17, 2] = 1.0  # a single-pixel speck
    cleaned = viz.attribution_to_mask(values, clip=(0, 100), morphology=True)
    assert cleaned[17, 2] == 0.0
    assert np.all(cleaned[5:13, 5:13] == 1.0)


def test_outlines_are_the_border_of_the_main_region():
    values = np.zeros((20, 20))
    values[5:13, 5:13] = 1.0
    outline = viz.attribution_to_mask(values, clip=(0, 100), morphology=False, outlines=True)
    assert set(np.unique(outline)) == {0.0, 1.0}
    assert outline[5, 8] == 1.0 and outline[12, 8] == 1.0 and outline[8, 5] == 1.0
    assert outline[8, 8] == 0.0 and outline[0, 0] == 0.0
    assert outline.sum() == 4 * 8 - 4


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="polarity"):
        viz.attribution_to_mask(np.zeros((4, 4, 3)), polarity="up")
    with pytest.raises(ValueError, match="clip"):
        viz.attribution_to_mask(np.zeros((4, 4, 3)), clip=(50, 10))
    with pytest.raises(ValueError, match=r"\(H, W, C\) or \(H, W\)"):
        viz.attribution_to_mask(np.zeros((2, 4, 4, 3)))
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="percentile"):
        viz.plot_signed(ax, np.zeros((4, 4)), percentile=0)
    with pytest.raises(ValueError, match="attributions are 4x4 but the image is 8x8"):
        viz.plot_attribution(ax, np.zeros((8, 8, 3)), np.ones((4, 4, 3)))


def test_plot_attribution_draws_mask_and_colorbar():
    fig, ax = plt.subplots()
    image = np.full((32, 32, 3), 128, np.uint8)
    viz.plot_attribution(ax, image, _blob_attributions(), polarity="negative", title="IG")
    assert ax.get_title() == "IG"
    mask_layer = ax.get_images()[1].get_array()
    np.testing.assert_allclose(
        mask_layer, viz.attribution_to_mask(_blob_attributions(), "negative"), err_msg="drawn mask"
    )
    assert len(fig.axes) == 2  # the colorbar


def test_plot_signed_uses_symmetric_limits():
    fig, ax = plt.subplots()
    values = np.zeros((16, 16))
    values[:8] = np.linspace(-1, 3, 8 * 16).reshape(8, 16)
    viz.plot_signed(ax, values, title="signed", image=np.zeros((16, 16, 3)), percentile=100)
    shown = ax.get_images()[-1]
    low, high = shown.get_clim()
    assert low == -high and high == pytest.approx(3.0)
    assert shown.get_cmap().name == "red_transparent_blue"
    assert len(fig.axes) == 2
    fig2, ax2 = plt.subplots()
    viz.plot_signed(ax2, np.zeros((4, 4, 3)), colorbar=False)  # all zero: still finite limits
    assert np.isfinite(ax2.get_images()[0].get_clim()).all() and len(fig2.axes) == 1
    fig3, ax3 = plt.subplots()
    viz.plot_signed(ax3, values, limit=10.0)   # one scale for several maps, whatever their own range
    assert ax3.get_images()[-1].get_clim() == (-10.0, 10.0)
    for wrong in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="limit must be a positive number"):
            viz.plot_signed(ax3, values, limit=wrong)


def test_to_uint8_image_never_guesses_the_range_from_the_values():
    dark = np.full((2, 2, 3), 1.0)  # a [0, 255] image whose pixels are all 1: nearly black
    assert viz.to_uint8_image(dark).max() == 1
    unit = np.full((2, 2, 3), 0.5)
    assert viz.to_uint8_image(unit, value_range=(0, 1)).max() == 128
    assert viz.to_uint8_image(np.array([[300.0, -5.0, np.nan]] * 2)).tolist()[0] == [[255] * 3, [0] * 3, [0] * 3]
    with pytest.raises(ValueError, match="value_range"):
        viz.to_uint8_image(unit, value_range=(1, 1))


# --------------------------------------------------------------------------- LIME and SHAP explanations
def _lime_explanation(num_features: int = 2):
    """A LIME explanation made by hand: four 16x16 quadrants, known weights for classes 1 (top) and 0."""
    image = np.full((32, 32, 3), 100.0, np.float32)
    image[31, 31] = 250.0  # LIME tints with the image's maximum
    return handmade_explanations.lime_explanation(image, np.array([0.5, -0.25, 0.1, 0.0]), num_features)


def test_plot_lime_draws_the_chosen_superpixels():
    explanation = _lime_explanation(num_features=1)
    ax = viz.plot_lime(explanation, hide_rest=True)  # the top class, the default number of superpixels
    assert ax.get_title() == "LIME: human\n1 strongest supporting superpixels"
    drawn = ax.get_images()[0].get_array()
    assert drawn.shape == (32, 32, 3)
    tint = viz._LIME_TINT
    red, blue = np.array(viz.FOR_CLASS_RGB), np.array(viz.AGAINST_CLASS_RGB)
    # inside quadrant 0, the one kept: the image tinted with the course's red
    np.testing.assert_allclose(drawn[4, 4], (1 - tint) * 100 / 255 + tint * red, rtol=1e-6)
    assert np.all(drawn[20:, 20:] == 0)  # the rest hidden
    np.testing.assert_allclose(drawn[16, 4], (1, 1, 0))  # a yellow boundary around the kept quadrant
    assert len(ax.figure.axes) == 1

    fig, ax = plt.subplots()
    assert viz.plot_lime(explanation, ax, label=0, num_features=2, positive_only=False) is ax
    assert ax.get_title() == "LIME: horse\n2 strongest superpixels (red for, blue against)"
    drawn = ax.get_images()[0].get_array()
    np.testing.assert_allclose(drawn[4, 4], (1 - tint) * 100 / 255 + tint * blue, rtol=1e-6)  # against "horse"
    np.testing.assert_allclose(drawn[4, 20], (1 - tint) * 100 / 255 + tint * red, rtol=1e-6)  # for it
    np.testing.assert_allclose(drawn[24, 24], 100 / 255, rtol=1e-6)  # not among the 2 strongest
    viz.plot_lime(explanation, ax, title="custom")
    assert ax.get_title() == "custom"
    with pytest.raises(KeyError, match="was not explained"):
        viz.plot_lime(explanation, label=7)
    with pytest.raises(ValueError, match="num_features must be an integer >= 1"):
        viz.plot_lime(explanation, num_features=0)


def test_plot_lime_superpixels_outlines_the_segments():
    explanation = _lime_explanation()
    ax = viz.plot_lime_superpixels(explanation)
    assert ax.get_title() == "slic: 4 superpixels"
    drawn = ax.get_images()[0].get_array()
    np.testing.assert_allclose(drawn[15, 4], (1, 1, 0))  # the boundary between quadrants 0 and 2
    np.testing.assert_allclose(drawn[4, 4], 100 / 255, rtol=1e-6)
    assert viz.plot_lime_superpixels(explanation, title="segments").get_title() == "segments"


def test_plot_lime_weights_colors_every_superpixel_with_a_symmetric_colorbar():
    explanation = _lime_explanation()
    ax = viz.plot_lime_weights(explanation, label=0)
    assert ax.get_title() == "LIME weights: horse"
    shown = ax.get_images()[-1]
    np.testing.assert_allclose(shown.get_array(), explanation.weight_map(0))
    assert shown.get_clim() == pytest.approx((-0.5, 0.5))
    assert shown.get_cmap().name == "red_transparent_blue"
    assert len(ax.figure.axes) == 2 and ax.figure.axes[1].get_ylabel() == "superpixel weight"
    fig, ax = plt.subplots()
    viz.plot_lime_weights(explanation, ax, colorbar=False, title="no bar")
    assert ax.get_title() == "no bar" and len(fig.axes) == 1
    np.testing.assert_allclose(ax.get_images()[-1].get_array(), explanation.weight_map(1))  # the top class


def _shap_explanation():
    """Three images, a 4x4x2 layer, three ranked classes, values known."""
    from course_utils.explainers import ShapLayerExplanation

    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 4, 4, 2, 3))
    values[2, 0, 0, :, 1] = 5.0  # the largest channel sum: 10
    return ShapLayerExplanation(
        images=rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32),
        layer="pool",
        values=values,
        class_indices=np.array([[0, 1, 2], [1, 0, 2], [2, 1, 0]]),
        class_names=[[name for name in "abc"], ["b", "a", "c"], ["c", "b", "a"]],
        outputs=np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1]]),
        expected_outputs=np.full((3, 3), 1 / 3),
        nsamples=4,
        seed=0,
    )


def test_plot_shap_layers_draws_one_row_per_image_and_one_shared_colorbar():
    explanation = _shap_explanation()
    figure = viz.plot_shap_layers(explanation, rows=[0, 2], percentile=100)
    assert len(figure.axes) == 2 * 4 + 1  # 2 rows x (input + 3 classes) + one shared colorbar
    assert figure.get_suptitle() == "SHAP (expected gradients) at pool, grid 4x4x2"
    titles = [ax.get_title() for ax in figure.axes[:8]]
    assert titles == ["input", "#1 a (0.900)", "#2 b (0.050)", "#3 c (0.050)"] + [
        "input",
        "#1 c (0.500)",
        "#2 b (0.400)",
        "#3 a (0.100)",
    ]
    panel = figure.axes[6].get_images()[-1]  # image 2, rank 2
    np.testing.assert_allclose(panel.get_array(), explanation.spatial[2, :, :, 1])
    assert panel.get_clim() == pytest.approx((-10.0, 10.0))  # percentile 100: the largest |sum|
    assert figure.axes[-1].get_xlabel() == "SHAP value (summed over channels)"

    figure = viz.plot_shap_layers(explanation, rows=[1], title="one image", input_titles=["image 1: a human"])
    assert len(figure.axes) == 4 + 1 and figure.get_suptitle() == "one image"
    assert figure.axes[0].get_title() == "image 1: a human"
    assert len(viz.plot_shap_layers(explanation).axes) == 3 * 4 + 1


def test_plot_shap_layers_rejects_bad_arguments():
    explanation = _shap_explanation()
    with pytest.raises(ValueError, match=r"rows must be indices in \[0, 2\]"):
        viz.plot_shap_layers(explanation, rows=[3])
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\]"):
        viz.plot_shap_layers(explanation, percentile=0)
    with pytest.raises(ValueError, match="got 1 input_titles for 2 drawn images"):
        viz.plot_shap_layers(explanation, rows=[0, 1], input_titles=["only one"])


def test_curve_bands_are_the_intervals_given():
    fractions = np.linspace(0, 1, 5)
    curves = {"Grad-CAM": np.random.default_rng(0).normal(size=(6, 5)), "Random": np.zeros((6, 5))}
    low, high = np.full(5, -3.0), np.full(5, 4.0)
    fig, ax = plt.subplots()
    viz.plot_curves(ax, fractions, curves, intervals={"Grad-CAM": (low, high), "Random": (low + 1, high - 1)})
    shaded = [collection.get_paths()[0].vertices[:, 1] for collection in ax.collections]
    assert [(round(ys.min(), 6), round(ys.max(), 6)) for ys in shaded] == [(-3.0, 4.0), (-2.0, 3.0)]
    with pytest.raises(ValueError, match="no band for 'Random'"):
        viz.plot_curves(ax, fractions, curves, intervals={"Grad-CAM": (low, high)})
    plt.close(fig)
