"""The judges of the browser test's moves, on figures drawn here (no browser started): a blank figure, a
figure with only a title, an unchanged one and a small change must be told apart."""

from __future__ import annotations

import io

import lab_driver
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image


def png(pixels: np.ndarray) -> bytes:
    """Pixels as the screenshot of a figure's Output comes: PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def rendered(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def figure_shot(opacity: float, title: str = "evidence for horses") -> bytes:
    """A small overlay figure like the notebooks' (image, heat map at some opacity, title), as PNG bytes."""
    rng = np.random.default_rng(0)
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = fig.subplots()
    ax.imshow(rng.uniform(size=(32, 32, 3)))
    ax.imshow(rng.uniform(size=(32, 32)), cmap="jet", alpha=opacity)
    ax.set_title(title)
    ax.set_axis_off()
    return png(rendered(fig))


def test_a_white_figure_is_blank_and_a_drawn_one_is_not():
    white = png(np.full((300, 400, 3), 255, np.uint8))
    assert lab_driver.ink_fraction(white) == 0.0
    assert lab_driver.blank_problem(white, "white")
    drawn = figure_shot(0.45)
    assert lab_driver.ink_fraction(drawn) > 0.2
    assert lab_driver.blank_problem(drawn, "drawn") == []


def test_a_title_alone_is_still_blank_but_a_thin_line_is_ink():
    """A figure that says only why it drew nothing is blank (under 1 % ink); a thin coloured line is not."""
    fig = Figure(figsize=(4, 3), dpi=100)
    fig.subplots().set_axis_off()
    fig.suptitle("could not read that photo")
    assert lab_driver.ink_fraction(png(rendered(fig))) < lab_driver.MIN_INK_FRACTION
    lined = np.full((300, 400, 3), 255, np.uint8)
    lined[:, 100:106] = (31, 119, 180)  # 1.5 % of the pixels
    assert lab_driver.ink_fraction(png(lined)) > lab_driver.MIN_INK_FRACTION


def test_same_and_changed_figures_are_told_apart():
    assert lab_driver.same_pixels(figure_shot(0.45), figure_shot(0.45))
    assert not lab_driver.same_pixels(figure_shot(0.45), figure_shot(0.50))  # the opacity slider's step
    assert not lab_driver.same_pixels(figure_shot(0.45, "p=0.91"), figure_shot(0.45, "p=0.97"))  # one digit
