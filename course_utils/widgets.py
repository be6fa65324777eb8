"""One pattern for every interactive figure of the course.

An instructor moves a control; the figure is redrawn from cached results
(recompute only what the control changes). :class:`InteractiveFigure` wraps
ipywidgets so notebooks stay short and tests can move the controls
programmatically and check that the figure really changed::

    explorer = InteractiveFigure(draw, image=Dropdown(...), alpha=FloatSlider(...))
    explorer.display()
    explorer.set(alpha=0.7)            # what a test (or CI) does
    assert explorer.redraw_count == 2
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets

__all__ = ["InteractiveFigure"]


class InteractiveFigure:
    """Controls plus an output area that ``draw(**values)`` fills.

    Parameters
    ----------
    draw
        Called with the current value of every control (by keyword); it draws
        with matplotlib and returns the figure (or None).
    **controls
        ipywidgets value widgets (sliders, dropdowns, checkboxes, ...), keyed by
        the keyword ``draw`` expects.

    Attributes
    ----------
    redraw_count : int
        How many times the figure was drawn.
    last_figure
        What ``draw`` returned last time (a matplotlib figure).
    last_values : dict
        The control values of the last draw.
    """

    def __init__(self, draw: Callable[..., Any], **controls: widgets.ValueWidget) -> None:
        if not callable(draw):
            raise TypeError(f"draw must be callable, got {type(draw).__name__}")
        if not controls:
            raise ValueError("InteractiveFigure needs at least one control, e.g. alpha=FloatSlider(...)")
        for name, control in controls.items():
            if not isinstance(control, widgets.ValueWidget):
                raise TypeError(f"control {name!r} must be an ipywidgets value widget, got {type(control).__name__}")
        self.draw = draw
        self.controls = dict(controls)
        self.output = widgets.Output()
        self.redraw_count = 0
        self.last_figure: Any = None
        self.last_values: dict[str, Any] = {}
        self._paused = False
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), self.output])
        self.redraw()

    def values(self) -> dict[str, Any]:
        """Current value of every control."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> None:
        """Draw the figure for the current control values."""
        import matplotlib.pyplot as plt

        values = self.values()
        self.output.clear_output(wait=True)
        with self.output:
            figure = self.draw(**values)
            if figure is not None:
                plt.show()
        if figure is not None:
            plt.close(figure)
        self.last_figure = figure
        self.last_values = values
        self.redraw_count += 1

    def set(self, **values: Any) -> None:
        """Change several controls at once and redraw once (what tests use)."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise KeyError(f"No control named {sorted(unknown)}; controls: {sorted(self.controls)}")
        self._paused = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._paused = False
        self.redraw()

    def display(self) -> "InteractiveFigure":
        """Show the controls and the figure in the notebook."""
        from IPython.display import display

        display(self.widget)
        return self

    def _ipython_display_(self) -> None:
        self.display()

    def _on_change(self, _change: dict) -> None:
        if not self._paused:
            self.redraw()
