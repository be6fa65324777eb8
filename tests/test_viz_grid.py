"""The image grid helpers of course_utils.viz (filter grids of notebook 07)."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import viz


def _distinct_images(count: int, height: int = 5, width: int = 7) -> np.ndarray:
    return np.stack([np.full((height, width, 3), 10 * (i + 1), np.uint8) for i in range(count)])


def test_tile_images_places_each_image_row_by_row():
    images = _distinct_images(5)
    canvas = viz.tile_images(images, cols=3, margin=2, background=255)
    assert canvas.shape == (2 * (5 + 2) + 2, 3 * (7 + 2) + 2, 3) and canvas.dtype == np.uint8
    for index in range(5):
        row, col = divmod(index, 3)
        top, left = 2 + row * 7, 2 + col * 9
        np.testing.assert_array_equal(canvas[top : top + 5, left : left + 7], images[index])
    assert np.all(canvas[9:14, 20:27] == 255), "the sixth cell is empty background"
    assert np.all(canvas[:2] == 255) and np.all(canvas[:, 9:11] == 255), "margins are background"


def test_tile_images_defaults_to_a_near_square_grid():
    assert viz.tile_images(_distinct_images(10), margin=0).shape == (3 * 5, 4 * 7, 3)
    assert viz.tile_images(_distinct_images(2), cols=8, margin=0).shape == (5, 14, 3)


def test_plot_image_grid_labels_every_tile():
    fig = viz.plot_image_grid(_distinct_images(6), labels=[f"#{i}" for i in range(6)], cols=3, title="filters")
    ax = fig.axes[0]
    assert [text.get_text() for text in ax.texts] == [f"#{i}" for i in range(6)]
    assert ax.get_title() == "filters"
    assert len(ax.images) == 1, "one canvas, not one image per subplot"


def test_grid_helpers_refuse_bad_input():
    with pytest.raises(ValueError, match="one size"):
        viz.tile_images([np.zeros((4, 4, 3)), np.zeros((5, 4, 3))])
    with pytest.raises(ValueError, match="at least one image"):
        viz.tile_images([])
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        viz.plot_image_grid(_distinct_images(3), labels=["a", "b"])
