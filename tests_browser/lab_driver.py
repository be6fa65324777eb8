"""Drive a notebook in JupyterLab with Playwright: run it, find its InteractiveFigures, move their controls.

An ``InteractiveFigure`` renders as ``VBox([Box(controls + [status HTML]), Output])``; that DOM shape is
how the widgets are found, so no cell index is hard-coded. Every control is moved as a user moves it
(keyboard on a slider handle, a click, a pick in a list), and the Output area is compared pixel by pixel
before and after the redraw, which the status line ("redrawing…", then empty) marks.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from playwright.sync_api import Error as PlaywrightError

#: Text that must never be visible in a cell's output: a widget that failed or never rendered.
BAD_OUTPUT_TEXT = re.compile(
    r"Error displaying widget|Loading widget|Click to show javascript error|InteractiveFigure with controls"
    r"|Traceback \(most recent call last\)|OverlappingTitlesError"
    r"|\b(?:VBox|HBox|Box|Output|GridBox)\(|\b\w*(?:Slider|Dropdown|Checkbox|ToggleButtons|Combobox)\("
)
#: A slider track narrower than this is hard to hit on a projector (checked at every window size).
MIN_SLIDER_TRACK_PX = 200
#: A figure whose Output has fewer pixels than this away from its background colour is blank.
MIN_INK_FRACTION = 0.01

_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

_FIND_FIGURES = (
    """() => {
  const panel = document.querySelector('%s');
  if (!panel) return 0;
  let n = 0;
  for (const vbox of panel.querySelectorAll('.widget-vbox')) {
    const kids = [...vbox.children];
    if (kids.length !== 2 || !kids[0].classList.contains('widget-box')
        || !kids[1].classList.contains('widget-output')) continue;
    const last = kids[0].lastElementChild;
    if (!last || !last.classList.contains('widget-html')) continue;
    vbox.setAttribute('data-browser-test-figure', String(n));
    [...kids[0].children].slice(0, -1).forEach((c, i) => c.setAttribute('data-browser-test-control', String(i)));
    n += 1;
  }
  return n;
}"""
    % _PANEL
)

# Read (never changed) through the app object that --LabApp.expose_app_in_browser gives: the DOM has no
# prompt for a cell whose input is collapsed (the course-check cells).
_EXECUTION_STATE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const cells = [];
  for (const cell of panel.content.model.cells) {
    if (cell.type !== 'code') continue;
    const errors = cell.outputs.toJSON().filter(o => o.output_type === 'error')
      .map(o => `${o.ename}: ${o.evalue}\\n` + (o.traceback || []).join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '').slice(-2000));
    cells.push({count: cell.executionCount, running: cell.executionState === 'running', errors});
  }
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {cells, status: kernel ? kernel.status : null};
}"""

# The text of every output, and a marker for ipywidgets' error view (an icon over "Click to show javascript error").
_OUTPUT_TEXTS = (
    """() => [...document.querySelectorAll('%s .jp-Cell-outputArea > .jp-OutputArea-child')]
  .map(o => o.innerText + (o.querySelector('.jupyter-widgets-error-widget') ? ' Error displaying widget' : ''))"""
    % _PANEL
)

# Records the status line's changes: a redraw adds "redrawing…" and then removes it.
_WATCH_STATUS = """(status) => {
  if (status.__browserTestObserver) status.__browserTestObserver.disconnect();
  status.__browserTestLog = {started: 0, finished: 0};
  const text = nodes => [...nodes].map(n => n.textContent || '').join('');
  const observer = new MutationObserver(records => {
    for (const r of records) {
      if (/redrawing/.test(text(r.addedNodes))) status.__browserTestLog.started += 1;
      if (/redrawing/.test(text(r.removedNodes))) status.__browserTestLog.finished += 1;
    }
  });
  observer.observe(status, {childList: true, subtree: true, characterData: true});
  status.__browserTestObserver = observer;
}"""

_STATUS_LOG = """(status) => ({...status.__browserTestLog, text: status.textContent.trim()})"""

# Remembers, on each image the Output shows now, the data it shows: a redraw either replaces the image elements
# or gives them new data, and both are told from this mark in constant time (hashing a figure's data URL in
# JavaScript took 20-70 ms a look).
_MARK_SHOWN = """(output) => {
  for (const image of output.querySelectorAll('img')) image.__browserTestShown = image.src;
}"""

# Does the Output show images, all decoded (and, with newOnly, one of them not marked by _MARK_SHOWN)? While the
# browser swaps the old image for the new one, the output can be empty or hold an image not decoded yet.
_IMAGES_DECODED = """(output, newOnly) => {
  const images = [...output.querySelectorAll('img')];
  if (!images.length || !images.every(i => i.complete && i.naturalWidth > 0)) return false;
  return !newOnly || images.some(i => i.__browserTestShown !== i.src);
}"""

# Resolves after the browser has painted twice: a decoded image is on screen.
_PAINTED = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"

# The element that scrolls a notebook's cells (JupyterLab's windowed notebook), or its panel.
_SCROLLER = "(el => el.closest('.jp-WindowedPanel-outer') || el.closest('.jp-NotebookPanel'))"

# The part of the window in which the notebook's scrolling area shows the element's cell: above it lie the
# menus and toolbar, below it the status bar, both inside the window.
_VISIBLE_AREA = (
    """(el) => {
  const scroller = %s(el);
  const area = scroller ? scroller.getBoundingClientRect() : {left: 0, top: 0, right: innerWidth, bottom: innerHeight};
  return {left: Math.max(0, area.left), top: Math.max(0, area.top),
          right: Math.min(innerWidth, area.right), bottom: Math.min(innerHeight, area.bottom)};
}"""
    % _SCROLLER
)

#: A figure's controls (find_figures marks them).
_CONTROLS = ":scope > .widget-box > [data-browser-test-control]"

# Is the element on screen, inside the notebook, and the topmost thing at its centre?
_ON_SCREEN = (
    """(el) => {
  const box = el.getBoundingClientRect();
  if (box.width < 1 || box.height < 1) return 'has no size';
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || style.display === 'none' || Number(style.opacity) === 0) return 'is hidden';
  const area = %s(el).getBoundingClientRect();
  if (box.left < area.left - 1 || box.right > area.right + 1)
    return `sticks out of the notebook (x ${box.left.toFixed(0)}..${box.right.toFixed(0)}, `
      + `notebook ${area.left.toFixed(0)}..${area.right.toFixed(0)})`;
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + Math.min(box.height / 2, 10));
  if (!hit || !(el.contains(hit) || hit.contains(el))) {
    // Name the cover by its nearest JupyterLab part: the hit itself often has only a generated class name.
    const part = hit && hit.closest('[class*="jp-"]');
    const named = part ? [...part.classList].filter(c => c.startsWith('jp-')).join('.') : '';
    return `is covered by ${hit ? named || hit.className || hit.tagName : 'nothing'}`;
  }
  return '';
}"""
    % _SCROLLER
)


@dataclass
class Move:
    """One control moved by hand: what was done and what came of it."""

    figure: int
    control: int
    kind: str
    action: str = ""
    window: str = ""
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.5)


def open_notebook(page, url: str, timeout_s: float) -> None:
    """Load JupyterLab at ``url`` (a notebook's tree URL); return once its cells show and its kernel is idle."""
    page.goto(url)
    wait_for_notebook(page, timeout_s)


def open_in_running_lab(page, path: str, timeout_s: float) -> None:
    """Open the notebook at ``path`` (relative to the server's root) in the JupyterLab the page already runs, as
    a double click in its file browser does; return once its cells show and its kernel is idle."""
    page.evaluate(  # the command gives the document's widget, which cannot be sent back: return nothing
        "async path => { await window.jupyterapp.commands.execute('docmanager:open', {path, factory: 'Notebook'}); }",
        path,
    )
    wait_for_notebook(page, timeout_s)


def close_notebook(page, timeout_s: float = 30) -> None:
    """Close the notebook the page shows without saving it (its kernel keeps running: the test decides its fate)
    and wait until its panel has left the page."""
    page.evaluate("() => { const panel = window.jupyterapp.shell.currentWidget; if (panel) panel.dispose(); }")
    wait_for(lambda: page.locator(".jp-NotebookPanel").count() == 0, timeout_s, "the notebook to close")


def wait_for_notebook(page, timeout_s: float) -> None:
    page.wait_for_selector(f"{_PANEL} .jp-Notebook .jp-Cell", timeout=timeout_s * 1000)
    wait_for(lambda: (page.evaluate(_EXECUTION_STATE) or {}).get("status") == "idle", timeout_s, "the kernel to start")


def run_all_cells(page, tries: int = 3) -> None:
    """Run > Run All Cells, from the menu bar, as a student does; retried if no cell starts."""
    for _ in range(tries):
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator('li[data-command="runmenu:run-all"]').click()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = page.evaluate(_EXECUTION_STATE) or {"cells": [], "status": None}
            if state["status"] == "busy" or any(c["running"] or c["count"] is not None for c in state["cells"]):
                return
            time.sleep(0.25)
        page.keyboard.press("Escape")
    raise AssertionError(f"Run > Run All Cells started no cell ({tries} tries)")


def wait_until_executed(page, timeout_s: float) -> None:
    """Every code cell has an execution count and the kernel is idle; an error output fails at once."""
    started = time.monotonic()
    idle_since = None
    while True:
        state = page.evaluate(_EXECUTION_STATE) or {"cells": [], "status": None}
        cells, status = state["cells"], state["status"]
        failed = [(k, c["errors"]) for k, c in enumerate(cells) if c["errors"]]
        if failed:
            k, errors = failed[0]
            raise AssertionError(f"code cell {k} failed:\n" + "\n".join(errors))
        pending = [k for k, c in enumerate(cells) if c["count"] is None or c["running"]]
        if status == "idle" and not pending:
            return
        if status == "idle" and not any(c["running"] for c in cells):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 15:
                raise AssertionError(f"Run All stopped with code cells {pending} never run, and no error output")
        else:
            idle_since = None
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"the notebook did not finish in {timeout_s:.0f} s (code cells left: {pending})")
        time.sleep(0.5)


def find_figures(page, expected: int, timeout_s: float) -> int:
    """Mark the InteractiveFigures in the page; wait until at least ``expected`` have rendered."""
    found = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = page.evaluate(_FIND_FIGURES)
        if found >= expected:
            return found
        time.sleep(0.5)
    return found


def bad_output_text(page, timeout_s: float = 30.0) -> list[str]:
    """Widget errors, 'Loading widget' or a widget's text repr visible in an output (waits for loaders)."""
    deadline = time.monotonic() + timeout_s
    while True:
        hits = []
        for text in page.evaluate(_OUTPUT_TEXTS):
            match = BAD_OUTPUT_TEXT.search(text)  # the first hit of each output is enough
            if match:
                start = max(0, match.start() - 60)
                hits.append(text[start : match.end() + 60].replace("\n", " "))
        if not hits or time.monotonic() > deadline:
            return hits
        time.sleep(1.0)


def figure(page, index: int):
    return page.locator(f'[data-browser-test-figure="{index}"]')


def controls(page, index: int):
    return figure(page, index).locator(_CONTROLS)


@dataclass(frozen=True)
class Control:
    """One control of a figure as the page shows it once scrolled into view."""

    kind: str  # slider, dropdown, checkbox, toggle-buttons, combobox, text, file-upload or "unknown: <classes>"
    label: str
    visible: bool
    placement: str  # what is wrong with where it is (sticks out, covered), or ''
    track_px: float | None  # a slider's track width


# Every control of a figure described in one call: one round trip per control and property took a third of a
# second per figure on busy cores. The row of controls is scrolled into view and painted (JupyterLab leaves cells
# outside the view undrawn until they come into it) before places are judged (unless scrollRow is false); a
# control still outside the view is scrolled to as well. "Outside the view" means outside the notebook's
# scrolling area, not the window: a control under the status bar is inside the window, and the status bar is
# what its centre hits.
_DESCRIBE_CONTROLS = """async (figure, scrollRow) => {
  const [placement, painted, visibleArea] = [%s, %s, %s];
  if (scrollRow) {
    figure.firstElementChild.scrollIntoView({block: 'nearest', inline: 'nearest'});
    await painted();
  }
  const area = visibleArea(figure);
  return [...figure.querySelectorAll('%s')].map(el => {
    const seen = el.getBoundingClientRect();
    if (seen.top < area.top || seen.bottom > area.bottom) el.scrollIntoView({block: 'nearest', inline: 'nearest'});
    const has = name => el.classList.contains(name);
    const kind = has('widget-slider') ? 'slider' : has('widget-dropdown') ? 'dropdown'
      : has('widget-checkbox') ? 'checkbox' : has('widget-toggle-buttons') ? 'toggle-buttons'
      : has('widget-text') && el.querySelector('input[list]') ? 'combobox' : has('widget-text') ? 'text'
      : has('widget-upload') ? 'file-upload' : 'unknown: ' + el.className;
    const label = [...el.querySelectorAll('label.widget-label, span[title]')].map(l => l.innerText.trim())
      .filter(t => t.replace(/^\u200b+|\u200b+$/g, '')).join(' ');
    const box = el.getBoundingClientRect();
    const visible = box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden';
    const track = el.querySelector('.noUi-target');
    return {kind, label, visible, placement: visible ? placement(el) : '',
            track_px: track ? track.getBoundingClientRect().width : null};
  });
}""" % (_ON_SCREEN, _PAINTED, _VISIBLE_AREA, _CONTROLS)


def describe_controls(page, index: int, scroll_row: bool = True) -> list[Control]:
    """The controls of figure ``index``, in order (scrolls each into view; the whole row first, with
    ``scroll_row``)."""
    return [Control(**fields) for fields in figure(page, index).evaluate(_DESCRIBE_CONTROLS, scroll_row)]


# Scrolls the notebook so that the figure's last control starts 4 px above the bottom of the scrolling area: the
# point judged on it lies under the status bar, the control inside the window (where a CI run once found a
# control and reported it covered instead of scrolling to it). Returns where the control and the area end up.
_LAST_CONTROL_UNDER_STATUS_BAR = """async (figure) => {
  const [painted, scroller] = [%s, %s(figure)];
  await painted();  // the layout of a window just resized
  const controls = figure.querySelectorAll('%s');
  if (!controls.length || !scroller) return null;
  const last = controls[controls.length - 1];
  scroller.scrollTop += last.getBoundingClientRect().top - (scroller.getBoundingClientRect().bottom - 4);
  await painted();
  const box = last.getBoundingClientRect();
  return {top: box.top, bottom: box.bottom, area: scroller.getBoundingClientRect().bottom, window: innerHeight};
}""" % (_PAINTED, _SCROLLER, _CONTROLS)


def put_last_control_under_status_bar(page, index: int) -> str:
    """Scroll figure ``index``'s last control mostly under the status bar; '' once it is there, else why not."""
    place = figure(page, index).evaluate(_LAST_CONTROL_UNDER_STATUS_BAR)
    if place is None:
        return "the figure has no controls or the notebook no scrolling area"
    if not place["top"] < place["area"] < place["top"] + 10 <= place["bottom"] <= place["window"]:
        return (
            f"the last control lies at y {place['top']:.0f}..{place['bottom']:.0f}, not across the scrolling area's "
            f"end ({place['area']:.0f}) inside the window ({place['window']})"
        )
    return ""


def layout_problems(page, index: int, window: str = "", scroll_row: bool = True) -> list[str]:
    """Controls that are hidden, clipped, covered, or sliders too narrow to use."""
    problems = []
    for k, control in enumerate(describe_controls(page, index, scroll_row)):
        name = f"figure {index}, control {k} ({control.kind}, {control.label!r}, {window})"
        if not control.visible:
            problems.append(f"{name} is not visible")
            continue
        if control.placement:
            problems.append(f"{name} {control.placement}")
        if control.kind == "slider" and (control.track_px or 0) < MIN_SLIDER_TRACK_PX:
            problems.append(
                f"{name}: its track is {control.track_px or 0:.0f} px wide (less than {MIN_SLIDER_TRACK_PX} px)"
            )
    return problems


# Scrolls the element into view and returns its box, rounded outward to whole pixels as Playwright's element
# screenshots round it, where the notebook's scrolling area shows all of it; else null.
_BOX_IN_VIEW = (
    """(el) => {
  el.scrollIntoView({block: 'nearest', inline: 'nearest'});
  const box = el.getBoundingClientRect();
  const area = (%s)(el);
  const [left, top] = [Math.floor(box.left), Math.floor(box.top)];
  const [right, bottom] = [Math.ceil(box.right), Math.ceil(box.bottom)];
  const fits = box.width >= 1 && box.height >= 1 && left >= area.left && top >= area.top
    && right <= area.right && bottom <= area.bottom;
  return fits ? {x: left, y: top, width: right - left, height: bottom - top} : null;
}"""
    % _VISIBLE_AREA
)


def output_png(page, index: int) -> bytes:
    """The figure's Output as the browser paints it (PNG: lossless, so every pixel is judged as drawn).

    A clip of the window where the notebook's scrolling area shows the whole Output (about 40 % faster than
    an element screenshot, which checks and scrolls first); an element screenshot otherwise (Playwright then
    also captures what lies beyond the window).
    """
    output = figure(page, index).locator(":scope > .widget-output")
    box = output.evaluate(_BOX_IN_VIEW)
    if box is not None:
        return page.screenshot(clip=box, animations="disabled")
    return output.screenshot(animations="disabled")


#: Two screenshots this far apart that agree mean the figure has settled (an image swap takes a frame or two; on
#: busy cores a frame can take far longer than 17 ms, so the looks are well apart).
SETTLE_S = 0.25


def stable_output(page, index: int, timeout_s: float = 15.0) -> tuple[bytes, str]:
    """A screenshot of the figure's Output, and how it stands: "settled" (two looks ``SETTLE_S`` apart, images
    decoded, agreed within ``timeout_s``), "changing" (they never agreed; the last look is returned) or
    "no image" (the Output never showed a decoded image: a draw that failed, or a blank Output)."""
    output = figure(page, index).locator(":scope > .widget-output")
    deadline = time.monotonic() + timeout_s
    previous = None
    while True:
        if output.evaluate(_IMAGES_DECODED, False):
            shot = output_png(page, index)
            if previous is not None and same_pixels(previous, shot):
                return shot, "settled"
            previous = shot
        if time.monotonic() > deadline:
            return (previous, "changing") if previous is not None else (output_png(page, index), "no image")
        time.sleep(SETTLE_S)


def mark_shown(page, index: int) -> None:
    """Remember the images the figure's Output shows now, so that :func:`changed_output` can tell new ones."""
    figure(page, index).locator(":scope > .widget-output").evaluate(_MARK_SHOWN)


def changed_output(page, index: int, timeout_s: float = 8.0) -> bytes:
    """A screenshot of the figure's Output once it shows decoded images other than those :func:`mark_shown`
    marked before the move, or after ``timeout_s``.

    The status line is cleared right after the kernel sends the new image; the browser may still be
    replacing the old output with it (for a moment the output can be empty), so the images' data is
    watched, not screenshots: one screenshot, once the new images are decoded and painted, is judged
    (changed pixels, not blank) by the caller. A blank one is taken again once the figure has settled, so
    that a blank that lasts is the failure, not one frame. An image that never changes is waited for until
    the timeout.
    """
    output = figure(page, index).locator(":scope > .widget-output")
    deadline = time.monotonic() + timeout_s
    while not output.evaluate(_IMAGES_DECODED, True) and time.monotonic() < deadline:
        time.sleep(0.05)
    page.evaluate(_PAINTED)
    shot = output_png(page, index)
    if blank_problem(shot, ""):  # maybe a frame caught while the browser swapped the images: judge it settled
        shot, _ = stable_output(page, index)
    return shot


@functools.lru_cache(maxsize=8)
def decoded(png: bytes) -> np.ndarray:
    """The screenshot's RGB pixels, (height, width, 3) uint8; a move's screenshot is judged by two or three
    functions, and decoding it once saves a PNG decode each (the cache keeps the last few; read-only)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    pixels.flags.writeable = False
    return pixels


# A move's screenshot is judged blank or not twice: in changed_output and by its caller.
@functools.lru_cache(maxsize=8)
def ink_fraction(png: bytes) -> float:
    """The fraction of pixels farther than 16 levels from the image's most common colour (its background)."""
    rgb = decoded(png)
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    # A figure's background is mostly the colour of its corner, and a colour on over half of the pixels is
    # the most common one: checking that first skips the full count (a sort) almost always.
    mode = int(packed[0, 0])
    if np.count_nonzero(packed == mode) * 2 <= packed.size:
        values, counts = np.unique(packed, return_counts=True)
        mode = int(values[counts.argmax()])
    far = np.zeros(rgb.shape[:2], bool)
    for channel, level in zip(np.moveaxis(rgb, -1, 0), ((mode >> 16) & 255, (mode >> 8) & 255, mode & 255)):
        far |= np.abs(channel.astype(np.int16) - level) > 16  # channel by channel: 25x faster than on (n, 3)
    return float(far.mean())


def blank_problem(png: bytes, what: str) -> list[str]:
    ink = ink_fraction(png)
    if ink < MIN_INK_FRACTION:
        return [f"{what}: the figure is blank ({ink:.2%} of its pixels differ from the background)"]
    return []


def same_pixels(a: bytes, b: bytes) -> bool:
    return a == b or (decoded(a).shape == decoded(b).shape and np.array_equal(decoded(a), decoded(b)))


_uploads = itertools.count()


def change(page, control, kind: str, photos: Sequence[str] = ()) -> str:
    """Move one control the way a user does; return what was done.

    ``photos`` are paths of image files on the server's machine: what a file upload sends and a text
    field (a path box) receives, taken in turn so that each move sends a file other than the last one
    (sending the same file again is no change, and nothing would redraw).
    """
    if kind == "slider":
        handle = control.locator(".noUi-handle").first
        now, high = (float(handle.get_attribute(a) or 0) for a in ("aria-valuenow", "aria-valuemax"))
        key = "ArrowRight" if now < high else "ArrowLeft"
        readout = control.locator(".widget-readout")
        before = readout.inner_text()
        handle.focus()
        page.keyboard.press(key)
        if readout.inner_text() == before:  # keyboard did nothing: click elsewhere on the track
            track = control.locator(".noUi-target")
            box = track.bounding_box()
            x = box["width"] * (0.25 if key == "ArrowLeft" else 0.75)
            track.click(position={"x": x, "y": box["height"] / 2}, timeout=10_000)
            return f"{key} did not move it; clicked the track ({before} -> {readout.inner_text()})"
        return f"{key} on the handle ({before} -> {readout.inner_text()})"
    if kind == "dropdown":
        select = control.locator("select")
        index = select.evaluate("s => s.selectedIndex")
        count = select.locator("option").count()
        target = index + 1 if index + 1 < count else index - 1
        select.select_option(index=target)
        return f"option {index} -> {target}"
    if kind == "checkbox":
        box = control.locator("input[type=checkbox]")
        box.click()
        return f"clicked (checked: {box.is_checked()})"
    if kind == "toggle-buttons":
        button = control.locator("button:not(.mod-active)").first
        text = button.inner_text()
        button.click()
        return f"clicked {text!r}"
    if kind == "combobox":
        field_ = control.locator("input[list]")
        current = field_.input_value()
        options = control.locator("datalist option").evaluate_all("os => os.map(o => o.value)")
        target = next(o for o in options if o != current)
        field_.fill(target)
        field_.press("Enter")
        return f"{current!r} -> {target!r}"
    if kind == "text":
        field_ = control.locator("input, textarea").first
        current = field_.input_value()
        target = next((p for p in photos if p != current), current + " (changed)")
        field_.fill(target)
        field_.press("Enter")  # a Text widget reports on Enter or when it loses focus
        field_.blur()
        return f"typed {target!r}"
    if kind == "file-upload":
        if len(photos) < 2:
            raise AssertionError("a file upload needs two photos to alternate; pass photos= to move_every_control")
        photo = photos[next(_uploads) % len(photos)]
        # As a user does: click the button, then pick the file in the chooser it opens.
        with page.expect_file_chooser(timeout=10_000) as chooser:
            control.click()
        chooser.value.set_files(photo)
        return f"uploaded {photo.rsplit('/', 1)[-1]}"
    raise AssertionError(
        f"the browser test does not know how to move a control of kind {kind!r}; teach lab_driver.change"
    )


def status_line(page, index: int):
    return figure(page, index).locator(":scope > .widget-box > .widget-html").first


#: A change reaches an idle kernel and starts its redraw within a second or two; none after this long means
#: the change did nothing (the same value again), and waiting out the whole redraw timeout would waste minutes.
REDRAW_START_TIMEOUT_S = 30.0


def wait_for_redraw(status, timeout_s: float) -> dict:
    """After ``status.evaluate(_WATCH_STATUS)`` and a change: wait until a redraw has finished and none runs."""
    started = time.monotonic()
    deadline = started + timeout_s
    log = status.evaluate(_STATUS_LOG)
    while not (log["finished"] >= 1 and log["text"] == "") and time.monotonic() < deadline:
        if log["started"] == 0 and time.monotonic() - started > REDRAW_START_TIMEOUT_S:
            break
        time.sleep(0.05)  # a redraw often takes a few tenths of a second: poll finely
        log = status.evaluate(_STATUS_LOG)
    return log


def move_every_control(
    page, index: int, redraw_timeout_s: float, photos: Sequence[str] = (), window: str = ""
) -> list[Move]:
    """Move each control of one figure in turn; each move must redraw the figure, change its pixels and
    leave a figure that is not blank."""
    moves = []
    status = status_line(page, index)
    before, state = stable_output(page, index)
    if state != "settled":
        why = "keeps changing without any move" if state == "changing" else "shows no image (nothing was drawn)"
        return [Move(index, -1, "", window=window, problems=[f"figure {index} {why} ({window})"])]
    first = Move(index, -1, "", action="as first drawn", window=window)
    first.problems += blank_problem(before, f"figure {index} as first drawn ({window})")
    moves.append(first)
    described = describe_controls(page, index)
    for k, (control, seen) in enumerate(zip(controls(page, index).all(), described, strict=True)):
        kind = seen.kind
        move = Move(index, k, kind, window=window)
        moves.append(move)
        name = f"figure {index}, control {k} ({kind}, {seen.label!r}, {window})"
        started = time.monotonic()
        if not seen.visible:
            continue  # reported by layout_problems; a student cannot move it either
        control.scroll_into_view_if_needed()
        status.evaluate(_WATCH_STATUS)
        mark_shown(page, index)
        try:
            move.action = change(page, control, kind, photos)
        except (AssertionError, PlaywrightError) as error:
            move.problems.append(f"{name}: could not be moved: {str(error).splitlines()[0]}")
            continue
        log = wait_for_redraw(status, redraw_timeout_s)
        move.seconds = time.monotonic() - started
        if log["finished"] < 1:
            move.problems.append(
                f"{name}: {move.action}, but no redraw within {redraw_timeout_s:.0f} s "
                f"(status line showed 'redrawing…' {log['started']} times)"
            )
            continue
        after = changed_output(page, index)
        if same_pixels(before, after):
            move.problems.append(f"{name}: {move.action}, the figure was redrawn but did not change")
        move.problems += blank_problem(after, f"{name}: {move.action}")
        before = after
    return moves


def control_labelled(page, index: int, text: str, kind: str):
    """The control of figure ``index`` of this kind whose label is ``text``, or None."""
    for k, control in enumerate(describe_controls(page, index)):
        if control.kind == kind and control.label == text:
            return controls(page, index).nth(k)
    return None


def clamp_a_dependent_slider(
    page, index: int, redraw_timeout_s: float, menu_label: str, slider_label: str, window: str = ""
) -> list[Move]:
    """The case that once blanked a figure: a menu change that lowers another slider's maximum below its value.

    Finds the menu option whose slider reaches furthest, moves the slider to its end (the End key on its
    handle), then picks each other option; whenever the slider's value had to drop (a clamp), the figure
    must still be redrawn, changed and not blank. At least one clamp must happen.
    """
    menu = control_labelled(page, index, menu_label, "dropdown")
    slider = control_labelled(page, index, slider_label, "slider")
    if menu is None or slider is None:
        return [
            Move(
                index,
                -1,
                "clamp",
                window=window,
                problems=[f"figure {index} has no {menu_label!r} menu and {slider_label!r} slider"],
            )
        ]
    status, select = status_line(page, index), menu.locator("select")
    handle = slider.locator(".noUi-handle").first
    moves: list[Move] = []
    stable_output(page, index)  # the figure settles before the first action

    def selected() -> str:
        return select.evaluate("s => s.options[s.selectedIndex].text")

    def value(attribute: str = "aria-valuenow") -> float:
        return float(handle.get_attribute(attribute) or 0)

    def act(action: str, do) -> Move:
        """One user action that changes something, its redraw awaited and the figure checked."""
        move = Move(index, -1, "clamp", action=action, window=window)
        moves.append(move)
        started = time.monotonic()
        status.evaluate(_WATCH_STATUS)
        mark_shown(page, index)
        do()
        log = wait_for_redraw(status, redraw_timeout_s)
        move.seconds = time.monotonic() - started
        if log["finished"] < 1:
            move.problems.append(f"figure {index}: {action} did not redraw within {redraw_timeout_s:.0f} s")
        # Every action here changes the figure (another layer, another page): wait for the new image, then judge it.
        shot = changed_output(page, index)
        move.problems += blank_problem(shot, f"figure {index}: {action} ({window})")
        return move

    def to_the_end() -> None:
        """The End key on the handle; where the slider ignores it, a click at the right end of the track."""
        handle.focus()
        page.keyboard.press("End")
        time.sleep(0.5)
        if value() < value("aria-valuemax"):
            track = slider.locator(".noUi-target")
            box = track.bounding_box()
            track.click(position={"x": box["width"] - 1, "y": box["height"] / 2})

    def pick(option: str) -> Move | None:
        if selected() == option:
            return None
        return act(f"pick {option!r}", lambda: select.select_option(label=option))

    options = select.locator("option").all_inner_texts()
    reach = {}
    for option in options:
        pick(option)
        reach[option] = value("aria-valuemax")
    widest = max(options, key=lambda o: reach[o])
    clamps = 0
    for option in [o for o in options if reach[o] < reach[widest]]:
        pick(widest)
        if value() < value("aria-valuemax"):
            act(f"{slider_label!r} to its end", to_the_end)
        value_before = value()
        move = pick(option)
        value_after = value()
        clamps += value_after < value_before
        if move is not None and value_after > reach[option]:
            move.problems.append(f"figure {index}: {slider_label!r} shows {value_after:g} beyond its maximum")
    if clamps == 0:
        moves.append(
            Move(
                index,
                -1,
                "clamp",
                window=window,
                problems=[f"figure {index}: no option of {menu_label!r} lowered {slider_label!r}"],
            )
        )
    return moves
