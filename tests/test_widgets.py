from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from course_utils.widgets import InteractiveFigure


def _draw(alpha, label):
    fig, ax = plt.subplots()
    ax.set_title(f"{label} at {alpha:.2f}")
    return fig


def test_moving_a_control_redraws_with_the_new_value():
    explorer = InteractiveFigure(_draw, alpha=widgets.FloatSlider(value=0.4), label=widgets.Dropdown(options=["cat", "dog"]))
    assert explorer.redraw_count == 1 and explorer.last_figure.axes[0].get_title() == "cat at 0.40"
    explorer.controls["alpha"].value = 0.8  # what a mouse drag does
    assert explorer.redraw_count == 2 and explorer.last_figure.axes[0].get_title() == "cat at 0.80"


def test_set_changes_several_controls_and_redraws_once():
    explorer = InteractiveFigure(_draw, alpha=widgets.FloatSlider(value=0.4), label=widgets.Dropdown(options=["cat", "dog"]))
    explorer.set(alpha=0.1, label="dog")
    assert explorer.redraw_count == 2
    assert explorer.last_values == {"alpha": 0.1, "label": "dog"}
    with pytest.raises(KeyError, match="alpha"):
        explorer.set(opacity=0.3)


def test_bad_construction_is_explained():
    with pytest.raises(ValueError, match="at least one control"):
        InteractiveFigure(_draw)
    with pytest.raises(TypeError, match="value widget"):
        InteractiveFigure(_draw, alpha=0.4)
    with pytest.raises(TypeError, match="callable"):
        InteractiveFigure("draw", alpha=widgets.FloatSlider())


def test_controls_fit_a_projector_and_report_on_release():
    explorer = InteractiveFigure(
        _draw, alpha=widgets.FloatSlider(value=0.4), label=widgets.Dropdown(options=["cat", "dog"])
    )
    slider = explorer.controls["alpha"]
    assert slider.continuous_update is False, "a drag must not recompute for every value it passes"
    assert slider.layout.min_width == "320px" and slider.style.description_width == "initial"
    row = explorer.widget.children[0]
    assert row.layout.flex_flow == "row wrap", "controls wrap instead of squeezing into one row"
    assert explorer.status in row.children and explorer.status.value == "", "the busy line is clear when idle"


def test_the_status_line_says_busy_while_drawing():
    seen = []

    def draw(alpha):
        seen.append(explorer_status[0].value)
        return _draw(alpha, "cat")

    explorer_status = []
    slider = widgets.FloatSlider(value=0.1)
    # The first draw happens in the constructor, before the status widget is reachable from here.
    explorer = InteractiveFigure(lambda alpha: None, alpha=slider)
    explorer.draw = draw
    explorer_status.append(explorer.status)
    explorer.set(alpha=0.5)
    assert "redrawing" in seen[-1] and explorer.status.value == ""


def test_display_shows_the_widget_once_with_its_first_figure_as_a_fallback(monkeypatch):
    import base64

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **kwargs: shown.append((objects, kwargs)))
    explorer = InteractiveFigure(_draw, alpha=widgets.FloatSlider(value=0.4), label=widgets.Dropdown(options=["cat"]))
    first = explorer.first_png
    explorer.set(alpha=0.9)
    assert explorer.first_png == first and first.startswith(b"\x89PNG"), "the first figure is kept"
    assert explorer.display() is None, "nothing for the cell to echo a second time"
    (bundle,), kwargs = shown[0]
    assert kwargs == {"raw": True}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert base64.b64decode(bundle["image/png"]) == first
    assert "InteractiveFigure with controls alpha, label" in bundle["text/plain"]
