"""The rendered pages (``make run``'s course site and per-notebook HTML) work opened from disk with the network off.

Each page is opened from a ``file://`` address in headless Chromium with the browser context offline.
It fails on: a request to anything but a local file or inline data (a CDN script or stylesheet), a
request that failed (a missing local asset), a console error, math left as raw TeX (MathJax did not
run), an image that did not decode, and a link to a local file that does not exist. The site's search
must find a notebook offline, its notebook pages must link to the previous and next ones, and the
GIFs of the run must be shown.

Without options, the pages come from running a small notebook (markdown math, a figure, an
InteractiveFigure) through the course's runner. ``--pages DIR`` checks the pages of a finished
``make run`` instead (``.ci/run`` does that after its run).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from pathlib import Path

import nbformat
import pytest

from course_utils import course_site, notebook_runner

PAGE_NOTEBOOK_CELLS = [
    ("markdown", "# A page with math\n\nInline $\\frac{\\partial y_c}{\\partial x}$ and display\n\n"
                 "$$\\phi_i = \\sum_{S} \\frac{|S|!\\,(M-|S|-1)!}{M!}\\,(f(S \\cup \\{i\\}) - f(S))$$"),
    ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n"
             "fig, ax = plt.subplots(figsize=(4, 3))\nax.plot(np.sin(np.linspace(0, 6, 50)))\n"
             "ax.set_title('a figure')\nplt.show()"),
    ("code", "import ipywidgets as widgets\nfrom course_utils.widgets import InteractiveFigure\n\n\n"
             "def draw(k):\n    fig, ax = plt.subplots(figsize=(4, 3))\n    ax.plot(np.arange(10) ** k)\n"
             "    ax.set_title(f'power {k}')\n    return fig\n\n\n"
             "explorer = InteractiveFigure(draw, k=widgets.IntSlider(value=1, min=1, max=3, description='k'))\n"
             "explorer.display()"),
]  # fmt: skip

#: Raw TeX left in the rendered markdown: MathJax did not typeset it.
RAW_TEX = re.compile(r"\$\$?[^$\n]*\\[a-zA-Z]+[^$\n]*\$")

_MATHJAX_DONE = """() => {
  if (!document.querySelector('script[src*="MathJax.js"]')) return true;
  const hub = window.MathJax && window.MathJax.Hub;
  return Boolean(hub && window.MathJax.isReady && hub.queue && hub.queue.pending === 0 && !hub.queue.running);
}"""

_PAGE_STATE = """() => ({
  rawText: [...document.querySelectorAll('.jp-RenderedMarkdown, .jp-RenderedHTMLCommon, '
    + '.bd-article p, .bd-article li, .bd-article td, .bd-article h1, .bd-article h2, .bd-article h3')]
    .map(e => e.innerText).join('\\n'),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  typeset: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_Preview + .MathJax').length,
  images: [...document.images].map(i => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0})),
})"""


@pytest.fixture(scope="module")
def rendered_pages(request, tmp_path_factory) -> list[Path]:
    chosen = request.config.getoption("--pages")
    if chosen:
        out = Path(chosen)
    else:
        folder, out = tmp_path_factory.mktemp("notebooks"), tmp_path_factory.mktemp("build")
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [
            nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text)
            for kind, text in PAGE_NOTEBOOK_CELLS
        ]
        notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
        nbformat.write(notebook, folder / "01_page_check.ipynb")
        assert notebook_runner.run_all(folder, out, timeout=300, build_site=course_site.build_after_run) == 0
    site = out / "site"
    site_pages = [p for p in sorted(site.rglob("*.html")) if not p.relative_to(site).parts[0].startswith("_")]
    # The run's index.html only forwards to the site (test_the_site_... follows it).
    pages = sorted((out / "notebooks").glob("*.html")) + site_pages
    missing = [p for p in pages if not p.is_file()]
    assert not missing and len(pages) >= 2, f"no rendered pages in {out} (missing: {missing})"
    assert any(p.parent == site / "notebooks" for p in site_pages), f"no notebook page in the site {site}"
    return pages


def test_every_rendered_page_works_from_disk_with_no_network(browser, rendered_pages):
    problems: dict[str, list[str]] = {}
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_offline(True)
    try:
        for path in rendered_pages:
            problems[_shown_name(path)] = check_page(context, path)
    finally:
        context.close()
    failed = {name: found for name, found in problems.items() if found}
    print(f"checked {len(problems)} page(s) offline: " + ", ".join(problems))
    assert not failed, "\n".join(f"{name}:\n- " + "\n- ".join(found) for name, found in failed.items())


def _shown_name(path: Path) -> str:
    """``site/notebooks/02_grad_cam.html``: the page's path from the run's folder (names repeat across folders)."""
    parts = path.parts
    return "/".join(parts[parts.index("site") :]) if "site" in parts else "/".join(parts[-2:])


def check_page(context, path: Path) -> list[str]:
    found: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and found.append(f"console error: {m.text[:200]}"))
    page.on("pageerror", lambda e: found.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: found.append(f"request failed: {r.url[:160]} ({r.failure})"))
    page.on(
        "request",
        lambda r: (
            r.url.startswith(("file://", "data:", "blob:", "about:"))
            or found.append(f"asks the network: {r.url[:160]}")
        ),
    )
    try:
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=60_000)
        deadline = time.monotonic() + 30
        while not page.evaluate(_MATHJAX_DONE):
            if time.monotonic() > deadline:
                found.append("MathJax did not finish typesetting within 30 s")
                break
            time.sleep(0.25)
        state = page.evaluate(_PAGE_STATE)
        raw = RAW_TEX.findall(state["rawText"])
        if raw:
            found.append(f"{len(raw)} formula(s) left as raw TeX, e.g. {raw[0][:80]!r}")
        found += [f"image did not load: {image['src']}" for image in state["images"] if not image["ok"]]
        found += [f"link to a missing file: {link}" for link in missing_local_targets(state["links"])]
        if path.name != "index.html" and "$" in path.with_suffix(".ipynb").name + _markdown_of(path):
            if state["typeset"] == 0:
                found.append("the page has math but MathJax typeset none of it")
    finally:
        page.close()
    return found


def missing_local_targets(links: list[str]) -> list[str]:
    """The ``file://`` links (fragment and query dropped) whose file does not exist."""
    missing = []
    for link in links:
        if link.startswith("file://"):
            target = Path(urllib.parse.unquote(urllib.parse.urlparse(link).path))
            if not target.exists():
                missing.append(link[:160])
    return sorted(set(missing))


def _markdown_of(page: Path) -> str:
    """The markdown of the executed notebook of the page (math is written there with $...$)."""
    notebook = page.with_suffix(".ipynb")
    if page.parent.parent.name == "site":  # site/notebooks/NAME.html -> notebooks/NAME.ipynb of the run
        notebook = page.parent.parent.parent / "notebooks" / page.with_suffix(".ipynb").name
    if not notebook.is_file():
        return ""
    return "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown")


def _site_of(pages: list[Path]) -> Path:
    return next(p.parent.parent for p in pages if p.parent.name == "notebooks" and p.parent.parent.name == "site")


def test_the_site_searches_links_neighbours_and_shows_the_gifs_offline(browser, rendered_pages):
    site = _site_of(rendered_pages)
    notebook_pages = sorted((site / "notebooks").glob("*.html"))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_offline(True)
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text[:200]}"))
        # The run's index.html forwards to the site's front page.
        page.goto((site.parent / "index.html").resolve().as_uri())
        page.wait_for_url((site / "index.html").resolve().as_uri(), timeout=10_000)
        # Search runs in the page from searchindex.js: a notebook's title word must find that notebook.
        word = notebook_pages[0].stem.split("_")[1]
        page.goto(f"{(site / 'search.html').resolve().as_uri()}?q={word}", wait_until="load")
        page.wait_for_selector("#search-results li", timeout=30_000)
        hits = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
        if not any(notebook_pages[0].name in hit for hit in hits):
            problems.append(f"searching {word!r} did not find {notebook_pages[0].name}: {hits[:5]}")
        # Previous/next: every notebook page links to its neighbours in the table of contents.
        for number, path in enumerate(notebook_pages):
            page.goto(path.resolve().as_uri(), wait_until="load")
            neighbours = page.eval_on_selector_all(".prev-next-area a", "links => links.map(a => a.href)")
            expected = [notebook_pages[number + 1].name] if number + 1 < len(notebook_pages) else []
            expected += [notebook_pages[number - 1].name] if number > 0 else ["index.html"]
            absent = [name for name in expected if not any(link.endswith(name) for link in neighbours)]
            if absent:
                problems.append(f"{path.name}: no previous/next link to {absent} (has {neighbours})")
            colab = page.eval_on_selector_all("a[href*='colab.research.google.com']", "links => links.map(a => a.href)")
            if not any(link.endswith(f"/notebooks/{path.stem}.ipynb") for link in colab):
                problems.append(f"{path.name}: no 'open in Colab' link to its source notebook")
        # The GIFs of the run are shown, and decode.
        gifs = sorted((site.parent / "gifs").glob("*.gif")) if (site.parent / "gifs").is_dir() else []
        if gifs:
            page.goto((site / "index.html").resolve().as_uri(), wait_until="load")
            shown = page.evaluate(
                "() => [...document.images].filter(i => i.src.endsWith('.gif')).map(i => i.complete && i.naturalWidth > 0)"
            )
            if len(shown) < len(gifs) or not all(shown):
                problems.append(f"front page shows {sum(shown)} of the run's {len(gifs)} GIF(s)")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
