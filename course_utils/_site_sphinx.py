"""A Sphinx extension for the course site (:mod:`course_utils.course_site`): pages that load nothing remote.

Jupyter Book 1.x always loads sphinx-thebe, whose page script names a CDN copy of thebe and is included twice on
each page by the Sphinx 7 versions it pins (a console error: ``THEBE_JS_URL`` declared twice). The site has no
live-code button (``launch_buttons.thebe`` is off), so its script and stylesheet are dropped from every page. It
also gives the theme's colour mode a default, whose absence is a console error on a first visit.
"""

from __future__ import annotations

from typing import Any


def _is_thebe(asset: Any) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" in name.lower() or "THEBE_JS_URL" in body


def _page_context(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    # pydata-sphinx-theme's page script reads this as the colour mode of a first visit; sphinx-book-theme leaves it
    # unset, and an empty mode is a console error ("Got invalid theme mode").
    context.setdefault("default_mode", "auto")
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def setup(app: Any) -> dict[str, Any]:
    # After every other extension has added its files to the page (sphinx-thebe adds them at priority 500).
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
