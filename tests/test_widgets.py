from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from course_utils.widgets import SLIDER_TRACK_MIN_PX, InteractiveFigure


def _draw(alpha, label):
    fig, ax = plt.subplots()
    ax.set_title(f"{label} at {alpha:.2f}")
    return fig


def test_moving_a_control_redraws_with_the_new_value():
    explorer = InteractiveFigure(
        _draw, alpha=widgets.FloatSlider(value=0.4), label=widgets.Dropdown(options=["cat", "dog"])
    )
    assert explorer.redraw_count == 1 and explorer.last_figure.axes[0].get_title() == "cat at 0.40"
    explorer.controls["alpha"].value = 0.8  # what a mouse drag does
    assert explorer.redraw_count == 2 and explorer.last_figure.axes[0].get_title() == "cat at 0.80"


def test_set_changes_several_controls_and_redraws_once():
    explorer = InteractiveFigure(
        _draw, alpha=widgets.FloatSlider(value=0.4), label=widgets.Dropdown(options=["cat", "dog"])
    )
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
    assert slider.style.description_width == "initial"
    short, long = (
        InteractiveFigure(_draw, alpha=widgets.IntSlider(description=text), label=widgets.Text()).controls["alpha"]
        for text in ("k", "occlusion patch (px)")
    )
    short_px, long_px = (int(s.layout.min_width.removesuffix("px")) for s in (short, long))
    assert short_px >= SLIDER_TRACK_MIN_PX + 100, "room for the track plus the readout"
    assert long_px - short_px == 19 * 7, "a longer label widens the slider instead of narrowing its track"
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


def _layer_and_page_explorer(follow: bool):
    """06's activation explorer in miniature: the page slider's range follows the layer's channel count."""
    channels = {"early": 64, "late": 16}
    drawn = []

    def draw(layer, page):
        drawn.append((layer, page))
        fig, ax = plt.subplots()
        ax.set_title(f"{layer} page {page}")
        return fig

    layer = widgets.Dropdown(options=list(channels), value="early")
    page = widgets.IntSlider(value=0, min=0, max=channels["early"] // 8 - 1)

    def follow_layer(new_layer):
        page.max = channels[new_layer] // 8 - 1  # lowering max clamps the value: a second change

    if not follow:  # what 06 did before: its own observer, registered before the figure's
        layer.observe(lambda change: follow_layer(change["new"]), names="value")
    explorer = InteractiveFigure(draw, layer=layer, page=page)
    if follow:
        explorer.follow("layer", follow_layer)
    return explorer, drawn


def test_a_control_that_clamps_another_gives_two_redraws_without_follow():
    """The case that blanked 06's figure in the browser: one user action, two redraws in flight."""
    explorer, drawn = _layer_and_page_explorer(follow=False)
    explorer.controls["page"].value = 6
    drawn.clear()
    explorer.controls["layer"].value = "late"  # what a click in the dropdown does
    assert drawn == [("late", 1), ("late", 1)]  # the clamp redraws, then the layer change redraws again


def test_follow_makes_one_action_one_redraw_with_the_final_values():
    explorer, drawn = _layer_and_page_explorer(follow=True)
    explorer.controls["page"].value = 6
    before = explorer.redraw_count
    drawn.clear()
    explorer.controls["layer"].value = "late"  # clamps page 6 to 1 inside the same action
    assert drawn == [("late", 1)] and explorer.redraw_count == before + 1
    assert explorer.controls["page"].max == 1 and explorer.last_figure.axes[0].get_title() == "late page 1"
    explorer.set(layer="early", page=7)  # set() runs the follower too, and still redraws once
    assert drawn[-1] == ("early", 7) and explorer.redraw_count == before + 2 and explorer.controls["page"].max == 7
    with pytest.raises(KeyError, match="No control named 'depth'"):
        explorer.follow("depth", print)
    with pytest.raises(TypeError, match="callable"):
        explorer.follow("layer", "not a function")


def test_a_change_during_a_draw_is_drawn_once_after_it_not_inside_it():
    calls = []

    def draw(alpha):
        calls.append(alpha)
        if alpha == 0.5:
            explorer.controls["alpha"].value = 0.6  # e.g. a draw that snaps a value: never a nested redraw
        fig, ax = plt.subplots()
        ax.set_title(f"{alpha}")
        return fig

    explorer = InteractiveFigure(draw, alpha=widgets.FloatSlider(value=0.1, step=0.1))
    explorer.controls["alpha"].value = 0.5
    assert calls == [0.1, 0.5, 0.6] and explorer.last_values == {"alpha": 0.6}


def test_each_redraw_replaces_the_output_with_one_figure_in_one_state_update():
    """The figure reaches the browser as the Output's state (its outputs), set once per redraw: not displayed into the
    Output from a callback, which the browser routes by message id and once lost under load (a blank or stale
    figure after a click)."""
    import base64
    import io

    from PIL import Image

    updates = []
    explorer = InteractiveFigure(
        _draw, alpha=widgets.FloatSlider(value=0.4), label=widgets.Dropdown(options=["cat", "dog"])
    )
    explorer.output.observe(lambda change: updates.append(change["new"]), names="outputs")
    explorer.set(alpha=0.9, label="dog")
    assert len(updates) == 1, "one state update per redraw"
    (shown,) = explorer.output.outputs
    assert shown["output_type"] == "display_data"
    image = Image.open(io.BytesIO(base64.b64decode(shown["data"]["image/png"])))
    assert image.width > 100 and image.height > 100
    assert explorer.first_png is not None and Image.open(io.BytesIO(explorer.first_png)).size[0] > 100


def test_what_draw_prints_and_its_errors_show_in_the_figure_area():
    import sys

    def noisy(alpha):
        print(f"alpha is {alpha}")
        figure = _draw(alpha, "x")
        if alpha > 0.5:
            raise ValueError("alpha too large for this figure")  # after opening a figure
        print("a warning of the draw function", file=sys.stderr)  # where a kernel shows a Python warning
        return figure

    explorer = InteractiveFigure(noisy, alpha=widgets.FloatSlider(value=0.4))
    printed, warned, figure = explorer.output.outputs
    assert printed == {"output_type": "stream", "name": "stdout", "text": "alpha is 0.4\n"}
    assert warned["name"] == "stderr" and "a warning of the draw function" in warned["text"]
    assert figure["output_type"] == "display_data"
    with pytest.raises(ValueError, match="alpha too large"):
        explorer.set(alpha=0.8)
    printed, error = explorer.output.outputs
    assert printed["text"] == "alpha is 0.8\n"
    assert error["output_type"] == "error" and error["ename"] == "ValueError" and "too large" in error["evalue"]
    assert error["traceback"][-1] == "ValueError: alpha too large for this figure"
    assert not any("\n" in line for line in error["traceback"]), "one line per entry"
    assert explorer.redraw_count == 1, "a failed draw is not counted"
    assert plt.get_fignums() == [], "no figure left open"


# Redraws and other threads. With JupyterLab's "comms over subshells" (ipykernel 7), widget messages run on a
# subshell thread beside the main one, and after each message matplotlib's inline backend flushes (shows, then
# closes) every open pyplot figure: a ToggleButtons click's second message once flushed the figure its first
# message was drawing, and the widget showed a blank image.


@pytest.fixture
def ipython_shell():
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib_inline import backend_inline
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False  # no history database in the tests' IPython folder
    shell = InteractiveShell.instance(config=config)
    shell.events.register("post_execute", backend_inline.flush_figures)  # what `%matplotlib inline` registers
    yield shell
    for callback in [c for c in shell.events.callbacks["post_execute"] if c == backend_inline.flush_figures]:
        shell.events.unregister("post_execute", callback)
    InteractiveShell.clear_instance()
    plt.close("all")


def _flush_on_another_thread_while_drawing(shell, monkeypatch):
    """Draw twice; each draw fires post_execute on a second thread, sees it start, and gives it 1 s to finish.
    Returns what the flush showed and whether each flush thread was still waiting when the draw went on."""
    from matplotlib_inline import backend_inline

    shown = []
    monkeypatch.setattr(backend_inline, "display", lambda figure, **kwargs: shown.append(figure))
    started = threading.Event()
    shell.events.callbacks["post_execute"].insert(0, started.set)  # runs just before the flush
    waiting, threads = [], []

    def draw(alpha):
        figure = _draw(alpha, "drawn")
        backend_inline.show._draw_called = True  # what pyplot's interactive mode does for a new figure
        started.clear()
        flusher = threading.Thread(target=shell.events.trigger, args=("post_execute",))
        flusher.start()
        assert started.wait(timeout=30), "the post_execute thread never started"
        flusher.join(timeout=1.0)
        waiting.append(flusher.is_alive())
        threads.append(flusher)
        figure.axes[0].plot([0, 1], [0, alpha])  # still drawing after the flush had its chance
        return figure

    explorer = InteractiveFigure(draw, alpha=widgets.FloatSlider(value=0.4))
    explorer.set(alpha=0.8)
    for thread in threads:
        thread.join(timeout=10)
    shell.events.callbacks["post_execute"].remove(started.set)
    assert not any(thread.is_alive() for thread in threads), "a flush never finished: deadlock"
    return explorer, shown, waiting


def test_a_flush_on_another_thread_waits_until_the_figure_is_drawn_and_closed(ipython_shell, monkeypatch):
    explorer, shown, waiting = _flush_on_another_thread_while_drawing(ipython_shell, monkeypatch)
    assert waiting == [True, True], "the flush must wait for the redraw's lock"
    assert shown == [], "the flush must not show (and close) a figure a redraw is drawing"
    assert explorer.redraw_count == 2 and plt.get_fignums() == []


def test_without_the_lock_the_flush_takes_the_figure_being_drawn(ipython_shell, monkeypatch):
    """The hazard the lock removes, shown with the lock replaced by a no-op (so the test above can fail)."""
    from course_utils import widgets as widgets_module

    monkeypatch.setattr(widgets_module, "PYPLOT_LOCK", contextlib.nullcontext())
    _, shown, waiting = _flush_on_another_thread_while_drawing(ipython_shell, monkeypatch)
    assert waiting == [False, False] and len(shown) == 2


def test_the_inline_flush_is_wrapped_once_and_still_removed_by_a_backend_switch(ipython_shell):
    from matplotlib_inline import backend_inline

    from course_utils.widgets import serialize_inline_flush

    serialize_inline_flush()
    serialize_inline_flush()
    (callback,) = [c for c in ipython_shell.events.callbacks["post_execute"] if c == backend_inline.flush_figures]
    assert callback is not backend_inline.flush_figures and callback == backend_inline.flush_figures
    assert callback.flush is backend_inline.flush_figures, "wrapped once, not twice"
    ipython_shell.events.unregister("post_execute", backend_inline.flush_figures)  # what %matplotlib qt does
    assert backend_inline.flush_figures not in ipython_shell.events.callbacks["post_execute"]


def test_a_redraw_keeps_what_other_threads_print_and_the_figures_they_open(capsys):
    def draw(alpha):
        figure = _draw(alpha, "mine")
        plt.figure()  # an untidy draw: a second figure, never shown

        def a_cell_on_the_main_thread():
            print("a cell's own output")
            plt.figure(num="a cell's figure")

        other = threading.Thread(target=a_cell_on_the_main_thread)
        other.start()
        other.join()
        print("printed by draw")
        return figure

    stdout_before = sys.stdout
    explorer = InteractiveFigure(draw, alpha=widgets.FloatSlider(value=0.4))
    printed, _ = explorer.output.outputs
    assert printed["text"] == "printed by draw\n"
    assert "a cell's own output" in capsys.readouterr().out
    assert plt.get_figlabels() == ["a cell's figure"], "the redraw closes its own figures, not another thread's"
    assert sys.stdout is stdout_before, "the stream is put back"
    plt.close("all")


def test_other_threads_see_the_real_stream_while_a_redraw_runs():
    seen = {}

    def draw(alpha):
        def look():
            seen.update(encoding=sys.stdout.encoding, isatty=sys.stdout.isatty(), errors=sys.stderr.errors)

        other = threading.Thread(target=look)
        other.start()
        other.join()
        return _draw(alpha, "x")

    real = sys.stdout.encoding, sys.stdout.isatty(), sys.stderr.errors
    InteractiveFigure(draw, alpha=widgets.FloatSlider(value=0.4))
    assert (seen["encoding"], seen["isatty"], seen["errors"]) == real


def test_a_figure_another_thread_opens_after_an_rc_reset_is_left_open():
    """A style or rc reset on another thread drops the tag hook: an untagged figure is not the redraw's to close."""

    def draw(alpha):
        def a_cell():
            plt.rcdefaults()
            plt.figure(num="after a reset")

        other = threading.Thread(target=a_cell)
        other.start()
        other.join()
        return _draw(alpha, "x")

    import matplotlib

    with matplotlib.rc_context():  # the reset stays inside this test
        InteractiveFigure(draw, alpha=widgets.FloatSlider(value=0.4))
    assert plt.get_figlabels() == ["after a reset"]
    plt.close("all")


def test_set_waits_for_a_draw_running_on_another_thread():
    """A check cell's set() sees its values drawn even when a widget message's redraw was running elsewhere."""
    release = threading.Event()
    calls = []

    def draw(alpha):
        calls.append(alpha)
        if alpha == 0.2:
            release.wait(timeout=30)  # the widget message's draw, still running when the check cell calls set()
        return _draw(alpha, "x")

    explorer = InteractiveFigure(draw, alpha=widgets.FloatSlider(value=0.1, step=0.1))
    message = threading.Thread(target=setattr, args=(explorer.controls["alpha"], "value", 0.2))
    message.start()
    deadline = time.monotonic() + 30
    while calls[-1] != 0.2 and time.monotonic() < deadline:
        time.sleep(0.01)
    threading.Timer(0.3, release.set).start()
    explorer.set(alpha=0.5)
    drawn_when_set_returned = dict(explorer.last_values)
    message.join(timeout=10)
    assert drawn_when_set_returned == {"alpha": 0.5} and calls == [0.1, 0.2, 0.5]


def test_a_change_from_another_thread_during_a_draw_is_drawn_after_it():
    calls = []

    def draw(alpha):
        calls.append(alpha)
        if alpha == 0.5:  # a message on another thread moves the slider while this draw runs
            mover = threading.Thread(target=setattr, args=(explorer.controls["alpha"], "value", 0.7))
            mover.start()
            mover.join(timeout=10)
            assert not mover.is_alive(), "the change waited for the draw: deadlock"
        return _draw(alpha, "x")

    explorer = InteractiveFigure(draw, alpha=widgets.FloatSlider(value=0.1, step=0.1))
    explorer.controls["alpha"].value = 0.5
    assert calls == [0.1, 0.5, 0.7] and explorer.last_values == {"alpha": 0.7}


def test_a_change_from_a_subshell_thread_is_drawn_on_the_figures_thread_between_cells():
    """In a kernel the figure is built on the main thread, whose event loop runs the cells: a widget message
    handled on a subshell's thread has its redraw run there, once the running cell has finished."""
    drawn_on = []

    def draw(alpha):
        drawn_on.append(threading.get_ident())
        return _draw(alpha, "x")

    async def kernel():
        explorer = InteractiveFigure(draw, alpha=widgets.FloatSlider(value=0.1, step=0.1))
        message = threading.Thread(target=setattr, args=(explorer.controls["alpha"], "value", 0.5))
        message.start()
        message.join(timeout=10)  # a cell still running: it holds the main thread
        during_the_cell = dict(explorer.last_values)
        for _ in range(500):  # the cell has ended: the loop is free
            await asyncio.sleep(0.01)
            if explorer.last_values == {"alpha": 0.5}:
                break
        return explorer, during_the_cell

    explorer, during_the_cell = asyncio.run(kernel())
    assert during_the_cell == {"alpha": 0.1}, "never drawn beside a running cell"
    assert explorer.last_values == {"alpha": 0.5} and explorer.redraw_count == 2
    assert set(drawn_on) == {threading.get_ident()}, "drawn on the figure's own thread, not the message's"
