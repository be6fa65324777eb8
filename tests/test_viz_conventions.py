"""The course's colour convention, checked on what every plot helper of course_utils.viz really draws.

Notebook 01 states it once: red is evidence FOR the explained class, blue evidence AGAINST it, zero is transparent,
and no rainbow map (jet). Each test draws a map whose positive region is known through one helper, renders the
figure, and reads the colour back at that region.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import handmade_explanations
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import viz

matplotlib.use("Agg")

SIZE = 32
POSITIVE = (slice(2, 12), slice(2, 12))  # rows, columns of the region with evidence for the class
NEGATIVE = (slice(20, 30), slice(20, 30))  # ... and against it
GREY = 128  # the image under every map: neither red nor blue
COURSE_MAPS = {"red_transparent_blue", "red_transparent"}
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _image() -> np.ndarray:
    return np.full((SIZE, SIZE, 3), GREY, np.uint8)


def _signed_map() -> np.ndarray:
    values = np.zeros((SIZE, SIZE))
    values[POSITIVE] = 1.0
    values[NEGATIVE] = -1.0
    return values


def _rendered_color(ax: plt.Axes, row: int, col: int) -> np.ndarray:
    """RGB (0-255) that the rendered figure shows at data pixel (row, col) of ``ax``'s images."""
    figure = ax.figure
    figure.canvas.draw()
    canvas = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(int)
    x, y = ax.transData.transform((col, row))
    return canvas[int(round(canvas.shape[0] - y)), int(round(x))]


def _center(region: tuple[slice, slice]) -> tuple[int, int]:
    return (region[0].start + region[0].stop) // 2, (region[1].start + region[1].stop) // 2


def _assert_red(rgb: np.ndarray, where: str) -> None:
    red, green, blue = (int(v) for v in rgb)
    assert red > green + 40 and red > blue + 30, f"{where}: expected red (evidence for the class), drew RGB {rgb}"


def _assert_blue(rgb: np.ndarray, where: str) -> None:
    red, green, blue = (int(v) for v in rgb)
    assert blue > red + 30 and blue > green + 10, f"{where}: expected blue (evidence against the class), drew {rgb}"


def _assert_neutral(rgb: np.ndarray, where: str) -> None:
    assert np.ptp(rgb.astype(int)) < 25, f"{where}: expected the grey image to show through, drew RGB {rgb}"


def _assert_course_map(ax: plt.Axes) -> None:
    cmap = ax.get_images()[-1].get_cmap()
    assert cmap.name in COURSE_MAPS, f"drawn with {cmap.name!r}, not the course's map"
    np.testing.assert_allclose(cmap(1.0)[:3], viz.FOR_CLASS_RGB, atol=0.01, err_msg="the top of the map is not red")


def test_the_course_maps_run_from_blue_through_transparent_to_red():
    assert viz.red_transparent_blue(0.0)[:3] == pytest.approx(viz.AGAINST_CLASS_RGB, abs=0.01)
    assert viz.red_transparent_blue(1.0)[:3] == pytest.approx(viz.FOR_CLASS_RGB, abs=0.01)
    assert viz.red_transparent_blue(0.5)[3] < 0.02 and viz.red_transparent(0.0)[3] == 0.0
    assert viz.red_transparent(1.0) == pytest.approx(viz.red_transparent_blue(1.0), abs=0.01)
    _assert_red(np.array(viz.FOR_CLASS_RGB) * 255, "FOR_CLASS_RGB")
    _assert_blue(np.array(viz.AGAINST_CLASS_RGB) * 255, "AGAINST_CLASS_RGB")


@pytest.mark.parametrize("name", ["jet", "jet_r", "rainbow", "hsv", "gist_rainbow"])
def test_rainbow_maps_are_refused_by_name_and_as_objects(name):
    with pytest.raises(ValueError, match="rainbow"):
        viz.colormap(name)
    with pytest.raises(ValueError, match="rainbow"):
        viz.overlay_heatmap(_image(), _signed_map(), cmap=matplotlib.colormaps[name])
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="rainbow"):
        viz.plot_overlay(ax, _image(), _signed_map(), cmap=name)
    plt.close(fig)


def test_colormap_picks_the_course_map_and_checks_its_argument():
    assert viz.colormap() is viz.red_transparent and viz.colormap(signed=True) is viz.red_transparent_blue
    assert viz.colormap("magma").name == "magma"
    with pytest.raises(ValueError, match="not a registered"):
        viz.colormap("no_such_map")
    with pytest.raises(TypeError, match="cmap must be"):
        viz.colormap(3)  # type: ignore[arg-type]


def test_no_helper_defaults_to_a_rainbow_map():
    for name, function in inspect.getmembers(viz, inspect.isfunction):
        if function.__module__ != viz.__name__:
            continue
        for parameter in inspect.signature(function).parameters.values():
            if isinstance(parameter.default, str):
                assert parameter.default.lower() not in {"jet", "rainbow", "hsv"}, f"{name}({parameter.name}=...)"
    drawn_with = re.findall(r"cmap\s*=\s*[\"']([\w.]+)[\"']", inspect.getsource(viz))
    assert not [name for name in drawn_with if name.lower().removesuffix("_r") in {"jet", "rainbow", "hsv"}], drawn_with


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem[:2])
def test_no_notebook_draws_with_a_rainbow_map(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    found = re.findall(r"cmap\s*=\s*[\"'](?:jet|rainbow|hsv|gist_rainbow)(?:_r)?[\"']|cm\.jet\b", code)
    assert not found, f"{notebook.name} draws with {found}"


def test_overlay_heatmap_is_red_on_the_evidence_and_leaves_the_rest_alone():
    blended = viz.overlay_heatmap(_image(), np.clip(_signed_map(), 0, None), alpha=0.6)
    _assert_red(blended[_center(POSITIVE)], "overlay_heatmap, positive region")
    _assert_neutral(blended[_center(NEGATIVE)], "overlay_heatmap, zero region")
    assert np.all(blended[_center(NEGATIVE)] == GREY)  # transparent at zero: the image unchanged


def test_plot_overlay_draws_the_high_end_red():
    fig, ax = plt.subplots()
    viz.plot_overlay(ax, _image(), np.clip(_signed_map(), 0, None), alpha=0.6)
    _assert_course_map(ax)
    _assert_red(_rendered_color(ax, *_center(POSITIVE)), "plot_overlay, positive region")
    _assert_neutral(_rendered_color(ax, *_center(NEGATIVE)), "plot_overlay, zero region")
    plt.close(fig)


def test_plot_signed_draws_for_red_and_against_blue():
    fig, ax = plt.subplots()
    viz.plot_signed(ax, _signed_map(), image=_image(), percentile=100)
    _assert_course_map(ax)
    _assert_red(_rendered_color(ax, *_center(POSITIVE)), "plot_signed, positive region")
    _assert_blue(_rendered_color(ax, *_center(NEGATIVE)), "plot_signed, negative region")
    plt.close(fig)


@pytest.mark.parametrize(("polarity", "region", "check"), [("positive", POSITIVE, _assert_red), ("negative", NEGATIVE, _assert_blue)])
def test_plot_attribution_draws_positive_red_and_negative_blue(polarity, region, check):
    fig, ax = plt.subplots()
    viz.plot_attribution(ax, _image(), _signed_map(), polarity=polarity, morphology=False)
    check(_rendered_color(ax, *_center(region)), f"plot_attribution({polarity!r})")
    other = NEGATIVE if region is POSITIVE else POSITIVE
    _assert_neutral(_rendered_color(ax, *_center(other)), f"plot_attribution({polarity!r}), the other sign")
    plt.close(fig)


def test_plot_pixel_ranking_draws_the_first_deleted_pixels_red():
    fig, ax = plt.subplots()
    viz.plot_pixel_ranking(ax, _image(), _signed_map())
    _assert_course_map(ax)
    _assert_red(_rendered_color(ax, *_center(POSITIVE)), "plot_pixel_ranking, top-ranked region")
    _assert_neutral(_rendered_color(ax, *_center(NEGATIVE)), "plot_pixel_ranking, last-ranked region")
    plt.close(fig)


def _lime_explanation():
    """A LIME explanation made by hand on the grey image: quadrant 0 for class 1, quadrant 3 against it."""
    return handmade_explanations.lime_explanation(_image().astype(np.float32), np.array([0.5, 0.0, 0.0, -0.4]))


@pytest.mark.parametrize("positive_only", [True, False])
def test_plot_lime_tints_support_red_and_opposition_blue(positive_only):
    fig, ax = plt.subplots()
    viz.plot_lime(_lime_explanation(), ax, label=1, positive_only=positive_only)
    _assert_red(_rendered_color(ax, 5, 5), "plot_lime, the supporting superpixel")
    against = _rendered_color(ax, 26, 26)
    if positive_only:
        _assert_neutral(against, "plot_lime(positive_only=True), an opposing superpixel")
    else:
        _assert_blue(against, "plot_lime(positive_only=False), the opposing superpixel")
    _assert_neutral(_rendered_color(ax, 5, 26), "plot_lime, a superpixel of weight 0")
    plt.close(fig)


def test_plot_lime_weights_agrees_with_plot_lime():
    fig, ax = plt.subplots()
    viz.plot_lime_weights(_lime_explanation(), ax, label=1)
    _assert_course_map(ax)
    _assert_red(_rendered_color(ax, 5, 5), "plot_lime_weights, the supporting superpixel")
    _assert_blue(_rendered_color(ax, 26, 26), "plot_lime_weights, the opposing superpixel")
    plt.close(fig)


def test_plot_shap_layers_draws_positive_values_red():
    from course_utils.explainers import ShapLayerExplanation

    values = np.zeros((1, 4, 4, 2, 1))
    values[0, 0, 0] = 1.0  # the top-left cell of the layer's grid: for the class
    values[0, 3, 3] = -1.0  # the bottom-right one: against it
    explanation = ShapLayerExplanation(
        images=_image()[None].astype(np.float32),
        layer="pool",
        values=values,
        class_indices=np.array([[0]]),
        class_names=[["horse"]],
        outputs=np.array([[0.9]]),
        expected_outputs=np.array([[0.5]]),
        nsamples=4,
        seed=0,
    )
    figure = viz.plot_shap_layers(explanation, percentile=100)
    ax = figure.axes[1]  # the class panel of the only row
    _assert_course_map(ax)
    _assert_red(_rendered_color(ax, 4, 4), "plot_shap_layers, positive cell")
    _assert_blue(_rendered_color(ax, 28, 28), "plot_shap_layers, negative cell")
    plt.close(figure)


def _colorbar_colors(fig: plt.Figure, colorbar_ax: plt.Axes) -> tuple[np.ndarray, np.ndarray]:
    """The rendered RGB at the bottom (0) and the top (1) of a vertical colorbar, read from the canvas."""
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)
    box = colorbar_ax.get_window_extent()
    height = pixels.shape[0]
    column = int((box.x0 + box.x1) / 2)
    bottom, top = height - int(box.y0 + 0.05 * box.height), height - int(box.y1 - 0.05 * box.height)
    return pixels[bottom, column], pixels[top, column]   # at 0.05 and 0.95 of the bar


@pytest.mark.parametrize("alpha", [0.4, 1.0])
def test_overlay_colorbars_run_from_the_page_to_the_overlay_red_at_its_opacity(alpha):
    """A scalar alpha once made matplotlib draw the whole bar one flat pink: the bar must show the ramp."""
    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    viz.plot_overlay(ax, _image(), np.clip(_signed_map(), 0, None), alpha=alpha)
    low, high = _colorbar_colors(fig, fig.axes[-1])

    def on_white(value: float) -> np.ndarray:  # what the overlay draws at this value over a white pixel
        *rgb, opacity = viz.red_transparent(value)
        return 255.0 * (1 - alpha * opacity) + alpha * opacity * np.array(rgb) * 255.0

    np.testing.assert_allclose(low, on_white(0.05), atol=4, err_msg="near 0 the bar shows the page (transparent)")
    np.testing.assert_allclose(high, on_white(0.95), atol=4, err_msg="near 1 the course red at the overlay's opacity")
    assert np.abs(low - high).max() > 60 * alpha
    plt.close(fig)


def test_pixel_ranking_colorbar_shows_the_ramp_too():
    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    viz.plot_pixel_ranking(ax, _image(), _signed_map())
    low, high = _colorbar_colors(fig, fig.axes[-1])
    assert np.abs(low - high).max() > 60, f"the rank colorbar is one flat colour: {low} at 0, {high} at 1"
    plt.close(fig)
