"""One pattern for every interactive figure of the course.

An instructor moves a control; the figure is redrawn from cached results
(recompute only what the control changes). :class:`InteractiveFigure` wraps
ipywidgets so notebooks stay short and tests can move the controls
programmatically and check that the figure really changed::

    explorer = InteractiveFigure(draw, image=Dropdown(...), alpha=FloatSlider(...))
    explorer.display()
    explorer.set(alpha=0.7)            # what a check cell does
    assert explorer.redraw_count == 2

One user action gives one redraw, however many controls it changes: a
control whose range depends on another (a page slider whose maximum follows
the chosen layer) is kept in step with :meth:`InteractiveFigure.follow`,
whose update runs with redraws held, so a clamped value never triggers a
second redraw of its own. Two redraws for one action once left a blank
figure in the browser (the second image, from a superseded state, won).

Widget messages may arrive on a second thread. JupyterLab (4.4 and
later, its default "comms over subshells") sends them to a kernel subshell,
which ipykernel 7 runs on its own thread beside the main one; and after
every widget message the ``comm`` package fires IPython's ``post_execute``
event, on which matplotlib's inline backend shows and closes every open
pyplot figure (ipykernel issue 1564, JupyterLab issue 19719). A
ToggleButtons click sends two messages: the second one's flush, on the
subshell thread, took the figure the first one was drawing, and the widget
showed a blank image (seen in the browser test, about one click in ten
under load). So a change that arrives on another thread is drawn on the
thread that built the figure (in a kernel, the main thread, between cells,
as before subshells: never beside a cell that draws with pyplot); a redraw
holds :data:`PYPLOT_LOCK` from the moment ``draw`` starts until its figure
is rendered and closed; and the inline backend's flush takes the same lock
(:func:`serialize_inline_flush`), so a message's flush never sees a
half-drawn figure.

Made for a projector: the controls wrap onto as many rows as they need and
every slider track keeps a usable width (sized from its label); sliders report a value when released, not
for every value a drag passes (each change recomputes); a status line says
when a redraw is running. Where no widget can run (a rendered HTML page, a
viewer without the widget manager), the figure as first drawn stands in for
the widget.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import threading
from typing import Any, Callable, Iterator

import ipywidgets as widgets

__all__ = ["PYPLOT_LOCK", "InteractiveFigure", "serialize_inline_flush"]

#: Held while a redraw's figure exists in pyplot (drawn, rendered, closed) and while the inline backend flushes
#: pyplot's figures: reentrant, so a ``draw`` that redraws another InteractiveFigure does not deadlock. A
#: ``draw`` runs under it, so it should not wait for another thread (an import that thread holds, a queue).
PYPLOT_LOCK = threading.RLock()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running on this thread (the kernel's, in a notebook cell), or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_THIS_THREAD = threading.local()  # .drawing: this thread is inside a draw (holds PYPLOT_LOCK)

#: The narrowest a slider's track gets, in CSS pixels: wide enough to hit on a projector and to pick every
#: value of a 20-step slider by dragging.
SLIDER_TRACK_MIN_PX = 240
# ipywidgets lays a slider out as label | track | readout in a fixed-width box; the box is sized from the
# label's length so that the track, not the label, gets the width. Measured in JupyterLab 4 / ipywidgets 8
# at the default 13 px font: about 7 px per label character, 8 px of gaps, a readout of at most 90 px.
_LABEL_PX_PER_CHARACTER = 7
_READOUT_AND_GAPS_PX = 110


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
    first_png : bytes or None
        The first figure as PNG: what stands in for the widget where widgets cannot run.
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
        self.status = widgets.HTML(value="", layout=widgets.Layout(min_width="120px"))
        self.redraw_count = 0
        self.last_figure: Any = None
        self.last_values: dict[str, Any] = {}
        self.first_png: bytes | None = None
        self._held = 0  # > 0 while controls change as part of one action: no redraw until it ends
        self._stale = False  # a control changed while held or while drawing: one redraw is owed
        # _held, _stale and _drawer change under this lock: a change may arrive on another thread.
        self._state = threading.Condition()
        self._drawer: int | None = None  # the thread that is drawing
        # Where the figure was built: in a kernel, the main thread and its event loop (see _on_change).
        self._home_thread, self._home_loop = threading.get_ident(), _running_loop()
        self._shown_error: Exception | None = None  # the last error of draw, shown in the figure's place
        self._followers: dict[str, list[Callable[[Any], None]]] = {}
        for control in self.controls.values():
            _fit_for_a_projector(control)
            control.observe(self._on_change, names="value")
        row = widgets.Box(
            [*self.controls.values(), self.status],
            layout=widgets.Layout(display="flex", flex_flow="row wrap", align_items="center", width="100%"),
        )
        self.widget = widgets.VBox([row, self.output])
        self.redraw()

    def values(self) -> dict[str, Any]:
        """Current value of every control."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> None:
        """Draw the figure for the current control values (again, if a control changed while it drew).

        A call while another redraw runs, on this thread (a ``draw`` that moves
        a control) or on another one, only marks the figure stale: the running
        redraw draws the newest values once more when it ends. A ``draw`` that
        raises ends the redraw; a change that arrived meanwhile waits for the
        next one.
        """
        with self._state:
            self._stale = True
        self._draw_while_stale()

    def _draw_while_stale(self) -> None:
        """Draw until no change is owed, unless a redraw already runs (which then draws the owed change)."""
        with self._state:
            if self._drawer is not None:
                return
            self._drawer = threading.get_ident()
        try:
            while True:
                with self._state:
                    if not self._stale:
                        break
                    self._stale = False
                self._draw_once()
        finally:
            with self._state:
                self._drawer = None
                self._state.notify_all()

    def _wait_for_other_threads_draw(self, timeout_s: float = 600.0) -> None:
        """Return once no other thread is drawing this figure (a draw of this thread is not waited for).

        Not from inside a ``draw`` (this thread holds :data:`PYPLOT_LOCK`, which the other draw may need).
        """
        if getattr(_THIS_THREAD, "drawing", False):
            return
        me = threading.get_ident()
        with self._state:
            self._state.wait_for(lambda: self._drawer in (None, me), timeout=timeout_s)

    def _draw_once(self) -> None:
        import matplotlib.pyplot as plt

        values = self.values()
        self.status.value = "<i>redrawing&hellip;</i>"
        serialize_inline_flush()
        with PYPLOT_LOCK:
            was_drawing, _THIS_THREAD.drawing = getattr(_THIS_THREAD, "drawing", False), True
            try:
                self._draw_and_show(values, plt)
            finally:
                _THIS_THREAD.drawing = was_drawing
        self.last_values = values
        self.redraw_count += 1

    def _draw_and_show(self, values: dict[str, Any], plt: Any) -> None:
        """Call ``draw``, render what it returns into the output, close its figures (under :data:`PYPLOT_LOCK`).

        Only what this thread prints and the figures it opens are the redraw's: a cell running on the main
        thread meanwhile keeps its output and its figures.
        """
        printed, warned = io.StringIO(), io.StringIO()
        figure = None
        opened = _figures_opened_here()
        try:
            with _this_thread_writes_to(printed, warned):
                figure = self.draw(**values)
            shown = _text_outputs(printed.getvalue(), warned.getvalue())
            if figure is not None:
                image = _figure_output(figure)
                shown.append(image)
                if self.first_png is None:
                    self.first_png = base64.b64decode(image["data"]["image/png"])
            # One state update replaces the whole content, instead of displaying into the Output from a
            # callback (its context manager), which the browser routes by message id.
            self.output.outputs = tuple(shown)
        except Exception as error:
            self.output.outputs = (*_text_outputs(printed.getvalue(), warned.getvalue()), _error_output(error))
            self._shown_error = error
            raise
        finally:
            if figure is not None:
                plt.close(figure)
            for other in opened():  # opened by a failed or untidy draw: never shown later
                plt.close(other)
            self.status.value = ""
        self.last_figure = figure

    def set(self, **values: Any) -> None:
        """Change several controls at once and redraw once (what tests use).

        Returns once these values are drawn, also when a redraw was running on another thread (a widget message's).
        """
        unknown = set(values) - set(self.controls)
        if unknown:
            raise KeyError(f"No control named {sorted(unknown)}; controls: {sorted(self.controls)}")
        with self._holding():
            for name, value in values.items():
                self.controls[name].value = value
        self.redraw()
        self._wait_for_other_threads_draw()  # a redraw running on another thread draws these values: see them drawn

    def follow(self, name: str, update: Callable[[Any], None]) -> None:
        """Run ``update(new value)`` whenever control ``name`` changes, before the one redraw of that change.

        For controls that depend on another one, e.g. a page slider whose
        maximum follows the chosen layer: whatever ``update`` changes (a
        slider's ``max``, and the value clamped with it) is part of the same
        action and redraws nothing by itself. ``update`` also runs on
        :meth:`set`, so a check cell sees what a user sees.

        Raises
        ------
        KeyError
            If there is no control ``name``.
        TypeError
            If ``update`` is not callable.
        """
        if name not in self.controls:
            raise KeyError(f"No control named {name!r}; controls: {sorted(self.controls)}")
        if not callable(update):
            raise TypeError(f"update must be callable, got {type(update).__name__}")
        self._followers.setdefault(name, []).append(update)

    @contextlib.contextmanager
    def _holding(self) -> Iterator[None]:
        with self._state:
            self._held += 1
        try:
            yield
        finally:
            with self._state:
                self._held -= 1

    def display(self) -> None:
        """Show the controls and the figure in the notebook.

        The output carries the widget and, as a fallback for viewers without
        the widget manager (a rendered HTML page), the first figure as a PNG.
        Returns None, so a bare ``explorer.display()`` at the end of a cell
        shows the explorer once.
        """
        from IPython.display import display

        bundle: dict[str, Any] = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/plain"] = (
            f"InteractiveFigure with controls {', '.join(self.controls)} (run the notebook to move them)"
        )
        if self.first_png is not None:
            bundle["image/png"] = base64.b64encode(self.first_png).decode("ascii")
        display(bundle, raw=True)

    def _ipython_display_(self) -> None:
        self.display()

    def _on_change(self, change: dict) -> None:
        name = next((key for key, control in self.controls.items() if control is change.get("owner")), None)
        with self._holding():
            for update in self._followers.get(name or "", []):
                update(change.get("new"))
        with self._state:
            held = self._held > 0
        if held:
            return  # part of a larger action (set(), a follower's update): its end redraws once
        if self._home_loop is not None and threading.get_ident() != self._home_thread:
            # A widget message on a subshell's thread: draw on the kernel's main thread, between cells, so that a
            # redraw never runs beside a cell that draws with pyplot (whose current figure is one for all threads).
            with self._state:
                self._stale = True
            self.status.value = "<i>redrawing&hellip;</i>"  # from now, also while a running cell delays it
            try:
                self._home_loop.call_soon_threadsafe(self._draw_owed_change)
                return
            except RuntimeError:  # the loop has closed (the kernel is shutting down): draw here
                pass
        self.redraw()

    def _draw_owed_change(self) -> None:
        """A redraw scheduled on the main thread; a draw error is shown in the figure's place, not raised into the loop."""
        try:
            self._draw_while_stale()
        except Exception as error:
            if error is not self._shown_error:  # a draw's error is already shown where the figure goes
                raise


_THREAD_ATTRIBUTE = "_course_utils_opened_by_thread"
_TAG_HOOK = "course_utils.widgets:_tag_with_thread"


def _tag_with_thread(figure: Any) -> None:
    """A pyplot figure hook (``rcParams["figure.hooks"]``): note which thread opened the figure."""
    setattr(figure, _THREAD_ATTRIBUTE, threading.get_ident())


def _figures_opened_here() -> Callable[[], list[Any]]:
    """A function that lists the pyplot figures this thread opened since this call, still open.

    pyplot's figure list is shared by every thread; a cell may open a figure on the main thread while a
    redraw runs on a subshell's, and closing that one would take it from the cell. A figure is this
    thread's only if the tag hook (installed here, and again if a style or rc reset removed it) says so.
    """
    import matplotlib
    from matplotlib import _pylab_helpers

    if _TAG_HOOK not in matplotlib.rcParams["figure.hooks"]:
        matplotlib.rcParams["figure.hooks"] = [*matplotlib.rcParams["figure.hooks"], _TAG_HOOK]
    before = {manager.canvas.figure for manager in _pylab_helpers.Gcf.get_all_fig_managers()}
    me = threading.get_ident()

    def opened() -> list[Any]:
        figures = [manager.canvas.figure for manager in _pylab_helpers.Gcf.get_all_fig_managers()]
        return [f for f in figures if f not in before and getattr(f, _THREAD_ATTRIBUTE, None) == me]

    return opened


class _PerThreadStream:
    """``sys.stdout`` or ``sys.stderr`` while ``draw`` runs: this thread's text to a buffer, others' to the stream.

    Everything but ``write`` and ``flush`` is the stream's own (its encoding, ``fileno``, ``isatty``...).
    Once the redraw ends it passes everything through, so a copy that another thread's capture saved and
    later restores is harmless.
    """

    def __init__(self, original: Any, captured: io.StringIO) -> None:
        self.original, self.captured, self.thread = original, captured, threading.get_ident()
        self.active = True

    def _mine(self) -> bool:
        return self.active and threading.get_ident() == self.thread

    def write(self, text: str) -> int:
        return self.captured.write(text) if self._mine() else self.original.write(text)

    def flush(self) -> None:
        if not self._mine():
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


@contextlib.contextmanager
def _this_thread_writes_to(printed: io.StringIO, warned: io.StringIO) -> Iterator[None]:
    """What this thread prints goes to ``printed`` and ``warned``; other threads keep writing where they wrote.

    ``sys.stdout`` is one for all threads: the previous stream is put back only if nobody replaced the
    stand-in meanwhile (a cell's capture that began during the redraw restores its own when it ends).
    """
    import sys

    out, err = _PerThreadStream(sys.stdout, printed), _PerThreadStream(sys.stderr, warned)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        out.active = err.active = False
        if sys.stdout is out:
            sys.stdout = out.original
        if sys.stderr is err:
            sys.stderr = err.original


def serialize_inline_flush() -> None:
    """Make matplotlib's inline backend take :data:`PYPLOT_LOCK` when it flushes figures after a cell or a message.

    matplotlib-inline registers ``flush_figures`` on IPython's
    ``post_execute`` event: it shows every open pyplot figure and closes them
    all. The event fires after each cell and, from the ``comm`` package, after
    each widget message, which may run on a subshell thread while a redraw
    runs on another. The registered callback is replaced, in place, by one
    that holds the lock while it flushes; it compares equal to
    ``flush_figures``, so ``%matplotlib`` switching backends still removes it.
    Does nothing outside IPython, without the inline backend, or when the
    callback is already wrapped.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    shell = get_ipython()
    if shell is None:
        return
    callbacks = shell.events.callbacks.get("post_execute", [])
    for position, callback in enumerate(list(callbacks)):
        # Another thread may register or unregister meanwhile: replace only what is still in that place.
        if _is_inline_flush(callback) and position < len(callbacks) and callbacks[position] is callback:
            callbacks[position] = _FlushUnderLock(callback)


def _is_inline_flush(callback: Any) -> bool:
    return (
        getattr(callback, "__name__", "") == "flush_figures"
        and getattr(callback, "__module__", "") == "matplotlib_inline.backend_inline"
    )


class _FlushUnderLock:
    """matplotlib-inline's ``flush_figures``, called while holding :data:`PYPLOT_LOCK`."""

    def __init__(self, flush: Callable[[], Any]) -> None:
        self.flush = flush

    def __call__(self) -> Any:
        with PYPLOT_LOCK:
            return self.flush()

    def __eq__(self, other: object) -> bool:
        # matplotlib-inline unregisters its callback by equality when the backend changes: match it.
        if isinstance(other, _FlushUnderLock):
            return self.flush == other.flush
        return self.flush == other

    def __hash__(self) -> int:
        return hash(self.flush)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.flush!r})"


def _figure_output(figure: Any) -> dict[str, Any]:
    """A matplotlib figure as a notebook display output: the PNG ``plt.show()`` shows in the notebook."""
    from IPython import get_ipython

    shell = get_ipython()
    data: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    if shell is not None:  # the inline backend's own rendering (its dpi, cropping and retina metadata)
        data, metadata = shell.display_formatter.format(figure)
    png = data.get("image/png")
    if png is None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        png = buffer.getvalue()
    if isinstance(png, bytes):
        png = base64.b64encode(png).decode("ascii")
    return {
        "output_type": "display_data",
        "data": {"image/png": png, "text/plain": data.get("text/plain", repr(figure))},
        "metadata": {"image/png": metadata["image/png"]} if "image/png" in metadata else {},
    }


def _text_outputs(printed: str, warned: str) -> list[dict[str, Any]]:
    """What ``draw`` wrote to stdout and to stderr (warnings), as stream outputs above the figure; none if nothing."""
    streams = (("stdout", printed), ("stderr", warned))
    return [{"output_type": "stream", "name": name, "text": text} for name, text in streams if text]


def _error_output(error: Exception) -> dict[str, Any]:
    """An exception of ``draw`` as an error output in the figure's place (the exception is raised too)."""
    import traceback

    return {
        "output_type": "error",
        "ename": type(error).__name__,
        "evalue": str(error),
        # One line per entry, as a kernel's error output has them (format_exception's entries hold several).
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__))
        .rstrip("\n")
        .split("\n"),
    }


def _fit_for_a_projector(control: widgets.ValueWidget) -> None:
    """Wide sliders with their label beside them, values reported on release."""
    if hasattr(control, "continuous_update"):
        control.continuous_update = False  # a change recomputes: not for every value a drag passes
    sliders = (
        widgets.IntSlider,
        widgets.FloatSlider,
        widgets.FloatLogSlider,
        widgets.IntRangeSlider,
        widgets.FloatRangeSlider,
        widgets.SelectionSlider,
    )
    if isinstance(control, sliders):
        control.layout.min_width = f"{slider_width_px(control.description)}px"
    if hasattr(control, "style") and hasattr(control.style, "description_width"):
        control.style.description_width = "initial"


def slider_width_px(description: str) -> int:
    """The width to give a slider labelled ``description`` so that its track is at least SLIDER_TRACK_MIN_PX."""
    return SLIDER_TRACK_MIN_PX + _READOUT_AND_GAPS_PX + _LABEL_PX_PER_CHARACTER * len(description or "")
