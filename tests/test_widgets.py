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
