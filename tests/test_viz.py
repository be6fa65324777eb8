"""Tests of the attribution display helpers in course_utils.viz."""

from __future__ import annotations

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


def test_to_uint8_image_never_guesses_the_range_from_the_values():
    dark = np.full((2, 2, 3), 1.0)  # a [0, 255] image whose pixels are all 1: nearly black
    assert viz.to_uint8_image(dark).max() == 1
    unit = np.full((2, 2, 3), 0.5)
    assert viz.to_uint8_image(unit, value_range=(0, 1)).max() == 128
    assert viz.to_uint8_image(np.array([[300.0, -5.0, np.nan]] * 2)).tolist()[0] == [[255] * 3, [0] * 3, [0] * 3]
    with pytest.raises(ValueError, match="value_range"):
        viz.to_uint8_image(unit, value_range=(1, 1))
