"""The course's web site, built by Jupyter Book from the notebooks ``make run`` executed, and its one address setting.

``make run`` calls :func:`build_site` after the last notebook: Jupyter Book 1.x (Sphinx with
sphinx-book-theme) renders the executed notebooks, never running them again, into
``build/site/``, with the course's front page, a sidebar table of contents, previous/next
links, search, math (MathJax 2.7 copied beside the pages, so it works offline), an "open in
Colab" link and a download link for every notebook, the credits and licences, and a
bibliography (``references.bib``). ``build/index.html`` points to the site's front page.

Where the course is published lives in one place, ``[tool.course]`` of ``pyproject.toml``
(:class:`CourseSettings`): the Colab links, the install line of every notebook's setup cell and
the site's launch buttons are made from it. :func:`repository_disagreements` lists what does not
agree with it and :func:`sync_repository` rewrites it (``python -m course_utils sync-repository``).
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from course_utils import files, notebook_runner

__all__ = [
    "CourseSettings",
    "course_settings",
    "repository_disagreements",
    "sync_repository",
    "bibliography_keys_cited_in",
    "references_section",
    "build_site",
    "SITE_FOLDER",
    "FOOTER",
    "TEXT_LICENCE",
    "CODE_LICENCE",
]

#: The site's folder below the output folder of ``make run``.
SITE_FOLDER = "site"
#: The licence of the notebooks' text and figures, and of the site's pages.
TEXT_LICENCE = "CC BY 4.0"
TEXT_LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
#: The licence of the code (``course_utils``, the notebooks' code cells, tests): pyproject's ``license``.
CODE_LICENCE = "Apache-2.0"
CODE_LICENCE_URL = "https://www.apache.org/licenses/LICENSE-2.0"

_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
#: The install line of the setup cells and the Colab links, with any repository in them.
_INSTALL_LINE = re.compile(r"course_utils @ git\+https://github\.com/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+")
_COLAB_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/blob/[A-Za-z0-9._/-]+?/notebooks/"
)


@dataclasses.dataclass(frozen=True)
class CourseSettings:
    """Where the course is published: a GitHub repository ``owner/name`` and its branch.

    Parameters
    ----------
    repository
        ``"owner/name"`` on GitHub, e.g. ``"seeing-what-cnns-see/course"``.
    branch
        The branch the Colab links open, e.g. ``"main"``.
    """

    repository: str
    branch: str = "main"

    def __post_init__(self) -> None:
        if not isinstance(self.repository, str) or not isinstance(self.branch, str):
            raise TypeError(
                f"repository and branch must be strings, got {type(self.repository).__name__} and "
                f"{type(self.branch).__name__}"
            )
        if not _REPOSITORY.match(self.repository):
            raise ValueError(
                f"repository {self.repository!r} is not a GitHub 'owner/name' (e.g. 'seeing-what-cnns-see/course')"
            )
        if not _BRANCH.match(self.branch):
            raise ValueError(f"branch {self.branch!r} is not a branch name (e.g. 'main')")

    @property
    def url(self) -> str:
        """The repository's web address."""
        return f"https://github.com/{self.repository}"

    @property
    def install_requirement(self) -> str:
        """What the setup cell of every notebook installs in Colab (``%pip install -q "..."``)."""
        return f"course_utils @ git+https://github.com/{self.repository}"

    @property
    def colab_prefix(self) -> str:
        """The Colab address of the repository's ``notebooks/`` folder, up to the notebook's file name."""
        return f"https://colab.research.google.com/github/{self.repository}/blob/{self.branch}/notebooks/"

    def colab_url(self, notebook: str) -> str:
        """The "open in Colab" address of a source notebook, e.g. ``colab_url("02_grad_cam.ipynb")``."""
        if not isinstance(notebook, str) or not notebook.endswith(".ipynb") or "/" in notebook:
            raise ValueError(f"pass a notebook's file name such as '02_grad_cam.ipynb', not {notebook!r}")
        return self.colab_prefix + notebook


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def course_settings(root: str | os.PathLike | None = None) -> CourseSettings:
    """Read ``[tool.course]`` of ``ROOT/pyproject.toml`` (ROOT: the course's checkout by default).

    Raises
    ------
    FileNotFoundError
        When ``ROOT`` has no ``pyproject.toml`` (an installed course_utils has none: run from a checkout).
    ValueError
        When the file has no ``[tool.course]`` table with a ``repository`` or the value is malformed.
    """
    folder = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        raise FileNotFoundError(f"no pyproject.toml in {folder}: pass the course's checkout (the repository root)")
    table = _read_toml(pyproject).get("tool", {}).get("course", {})
    if "repository" not in table:
        raise ValueError(f"{pyproject} has no [tool.course] repository = 'owner/name': add it (see the README)")
    return CourseSettings(repository=table["repository"], branch=table.get("branch", "main"))


def _notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _setup_sources(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def repository_disagreements(root: str | os.PathLike, settings: CourseSettings | None = None) -> list[str]:
    """What in the checkout ``root`` does not name the repository of ``settings`` (read from it when None).

    Checks the install line of every notebook's setup cell (present, and naming the repository), every
    Colab link of the README (and one per notebook) and ``CITATION.cff``'s ``repository-code``. Returns one line per disagreement, empty when all agree.
    """
    root = Path(root)
    settings = settings or course_settings(root)
    found = []
    for notebook in _notebooks(root):
        lines = [m.group(0) for source in _setup_sources(notebook) for m in _INSTALL_LINE.finditer(source)]
        if not lines:
            found.append(
                f"{notebook.name}: no setup-cell install line ('%pip install -q \"{settings.install_requirement}\"')"
            )
        found += [f"{notebook.name}: installs {line!r}, not {settings.install_requirement!r}" for line in lines
                  if line != settings.install_requirement]  # fmt: skip
    readme = (root / "README.md").read_text(encoding="utf-8")
    found += [
        f"README.md: Colab link {link!r}, not {settings.colab_prefix!r}"
        for link in _COLAB_LINK.findall(readme)
        if link != settings.colab_prefix
    ]
    citation = root / "CITATION.cff"
    if citation.is_file() and f'repository-code: "{settings.url}"' not in citation.read_text(encoding="utf-8"):
        found.append(f'CITATION.cff: repository-code is not "{settings.url}"')
    found += [
        f"README.md: no Colab link for {notebook.name}"
        for notebook in _notebooks(root)
        if settings.colab_url(notebook.name) not in readme
    ]
    return found


def sync_repository(root: str | os.PathLike, settings: CourseSettings | None = None) -> list[Path]:
    """Rewrite the notebooks' install lines, the README's Colab links and CITATION.cff to name ``settings``' repository.

    Only those strings change; each notebook keeps its JSON layout (one-space indent, a final newline).
    Returns the files that changed.
    """
    root = Path(root)
    settings = settings or course_settings(root)
    changed = []
    for notebook in _notebooks(root):
        text = notebook.read_text(encoding="utf-8")
        content = json.loads(text)
        for cell in content["cells"]:
            if cell["cell_type"] == "code":
                cell["source"] = [_INSTALL_LINE.sub(settings.install_requirement, line) for line in cell["source"]]
        updated = json.dumps(content, indent=1, ensure_ascii=False) + "\n"
        if updated != text:
            files.write_text_atomically(notebook, updated)
            changed.append(notebook)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    updated = _COLAB_LINK.sub(settings.colab_prefix, text)
    if updated != text:
        files.write_text_atomically(readme, updated)
        changed.append(readme)
    citation = root / "CITATION.cff"
    if citation.is_file():
        text = citation.read_text(encoding="utf-8")
        updated = re.sub(r'^repository-code: ".*"$', f'repository-code: "{settings.url}"', text, flags=re.M)
        if updated != text:
            files.write_text_atomically(citation, updated)
            changed.append(citation)
    return changed


# --- the bibliography ------------------------------------------------------------------------------------------


def _words(text: str) -> str:
    """Lower-case words separated by single spaces: how titles are compared across line breaks and markup."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("-", "")))


def _bib_titles(bib_text: str) -> dict[str, str]:
    """``{key: title}`` of a BibTeX file, the ``shorttitle`` where an entry has one (braces dropped)."""
    titles = {}
    for entry in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", bib_text, flags=re.S):
        key, body = entry.group(1), entry.group(2)
        fields = dict(re.findall(r"\b(shorttitle|title)\s*=\s*\{((?:[^{}]|\{[^{}]*\})*)\}", body))
        title = fields.get("shorttitle") or fields.get("title")
        if title:
            titles[key] = title.replace("{", "").replace("}", "")
    return titles


def references_section(markdown: str) -> str:
    """The text of the markdown's ``References`` sections (from such a heading to the next heading)."""
    return "\n".join(re.findall(r"^#+ *References *\n(.*?)(?=^#|\Z)", markdown, flags=re.M | re.S))


def bibliography_keys_cited_in(markdown: str, bib_text: str) -> list[str]:
    """The keys of the ``references.bib`` entries that the markdown's References section names, in the file's order.

    A notebook names a work by its title (or the entry's ``shorttitle``) in its References section; titles
    are compared as words (case, punctuation, hyphens and line breaks ignored), so the site cites exactly the
    works each notebook names, with no second list to keep in step.
    """
    if not isinstance(markdown, str) or not isinstance(bib_text, str):
        raise TypeError("pass the markdown and the BibTeX text as strings")
    text = _words(references_section(markdown))
    return [
        key for key, title in _bib_titles(bib_text).items() if _words(title) and f" {_words(title)} " in f" {text} "
    ]


# --- the site ---------------------------------------------------------------------------------------------------

#: The README's table of notebooks (``| 01 | [title](notebooks/01_x.ipynb) | what you learn | [open](colab) |``) and
#: its table of run times (``| 01 train the CNN | 41 | 106 | 311 |``).
_NOTEBOOK_ROW = re.compile(r"^\|\s*(\d\d)\s*\|\s*\[([^\]]+)\]\(notebooks/[^)]+\)\s*\|([^|]*)\|", re.M)
_TIMES_HEADER = re.compile(r"^\|\s*notebook\s*\|(.*quick.*)\|\s*$", re.M)
_TIMES_ROW = re.compile(r"^\|\s*(\d\d) [^|]*\|\s*([^|]*)\|\s*([^|]*)\|\s*([^|]*)\|\s*$", re.M)

#: The raw-HTML line under every site page: the licences (the credits page has the details).
FOOTER = (
    f'Text and figures: <a href="{TEXT_LICENCE_URL}">{TEXT_LICENCE}</a>; code: '
    f'<a href="{CODE_LICENCE_URL}">{CODE_LICENCE}</a>. Data, weights and credits: the "Credits and licences" page.'
)


def _readme_tables(readme: str) -> tuple[dict[str, tuple[str, str]], list[str], dict[str, list[str]]]:
    """``({NN: (title, what you learn)}, [mode headers], {NN: [seconds per mode]})`` from the README."""
    notebooks = {m.group(1): (m.group(2).strip(), m.group(3).strip()) for m in _NOTEBOOK_ROW.finditer(readme)}
    header = _TIMES_HEADER.search(readme)
    modes = [h.strip() for h in header.group(1).split("|")] if header else []
    times: dict[str, list[str]] = {}
    if header:
        table = readme[header.end() :].split("\n\n", 1)[0]
        times = {m.group(1): [m.group(k).strip() for k in (2, 3, 4)] for m in _TIMES_ROW.finditer(table)}
    return notebooks, modes, times


def _first_paragraph(readme: str) -> str:
    body = readme.split("\n## ", 1)[0]
    paragraphs = [p for p in body.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    return " ".join(paragraphs[0].split()) if paragraphs else ""


def _title_of(notebook: Any, fallback: str) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _mode_of_run() -> str:
    """The mode of this run (the kernels inherit the runner's environment, so it is theirs)."""
    from course_utils import config

    return config.mode(dict(os.environ))


def _front_page(
    root: Path,
    settings: CourseSettings,
    pages: list[tuple[str, str]],
    seconds: Mapping[str, float],
    student: Mapping[str, str],
) -> str:
    readme = (root / "README.md").read_text(encoding="utf-8") if (root / "README.md").is_file() else ""
    described, modes, times = _readme_tables(readme)
    mode = _mode_of_run()
    heads = ["#", "notebook", "what you learn"] + [f"{m} (s)" for m in modes] + [f"this build, {mode} (s)", "links"]
    rows = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for stem, title in pages:
        number = stem[:2]
        what = described.get(number, (title, ""))[1]
        per_mode = times.get(number, [""] * len(modes))[: len(modes)]
        ran = f"{seconds[stem]:.0f}" if stem in seconds else ""
        links = [
            f"[Colab]({settings.colab_url(stem + '.ipynb')})",
            f"{{download}}`executed <downloads/{stem}.ipynb>`",
        ]
        if stem in student:
            links.append(f"{{download}}`student edition <{student[stem]}>`")
        cells = [number, f"[{title}](notebooks/{stem}.ipynb)", what, *per_mode, ran, " · ".join(links)]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    student_note = (
        "The **student edition** of each notebook (exercises without their worked solutions) is linked in the last "
        "column."
        if student
        else "A student edition (exercises without their worked solutions) is linked here once `make student` has "
        "written `build/student/`."
    )
    return f"""# Seeing what CNNs see

{_first_paragraph(readme)}

The pages below are the notebooks as `make run` executed them ({mode} mode), with every output and figure.
Each page opens its source notebook in Colab (the rocket button at the top, or the Colab link here) and offers
the executed notebook for download. The run times are seconds per notebook on two CPU cores, from the README,
and this build's own. {student_note}

{chr(10).join(rows)}

Cite the course with its `CITATION.cff`; the papers the notebooks build on are in the [references](references.md)
{{cite:p}}`selvaraju2017gradcam,sundararajan2017axiomatic,adebayo2018sanity`. The text and figures are
licensed {TEXT_LICENCE} and the code {CODE_LICENCE}: see [credits and licences](credits.md).
"""


def _credits_page(root: Path) -> str:
    credits = (
        (root / "data" / "CREDITS.md").read_text(encoding="utf-8") if (root / "data" / "CREDITS.md").is_file() else ""
    )
    # The credits file's own headings move one level down, under this page's title.
    credits = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", credits, flags=re.M)
    return f"""# Credits and licences

## Licences

- **Text and figures** (the notebooks' prose, the figures they draw, these pages): [{TEXT_LICENCE}]({TEXT_LICENCE_URL}).
  Reuse them with attribution to "Seeing what CNNs see" and a link to the course.
- **Code** (`course_utils`, the notebooks' code cells, tests and scripts): [{CODE_LICENCE}]({CODE_LICENCE_URL}),
  the `LICENSE` file of the repository.
- **Data and weights** keep their own terms, listed below (`data/CREDITS.md`).
- **This site** is built with Jupyter Book and sphinx-book-theme (BSD-3-Clause); MathJax 2.7 (Apache-2.0) is
  copied beside the pages from the `jupyter-server-mathjax` package.

To cite the course, use the repository's `CITATION.cff`.

{credits}
"""


def _references_page() -> str:
    return """# References

Every work a notebook names in its References section; each notebook's page ends with the works it cites.

```{bibliography}
:all:
```
"""


def _page_notebook(executed: Path, settings: CourseSettings, bib_text: str, ran: float | None, mode: str) -> Any:
    """The site's copy of an executed notebook: the runner's page copy, plus links and the works it cites."""
    import nbformat

    notebook = notebook_runner._compact_for_page(nbformat.read(executed, as_version=4))
    stem = executed.stem
    timing = f" It ran in {ran:.0f} s in {mode} mode for this build." if ran is not None else ""
    links = nbformat.v4.new_markdown_cell(
        f"[Open in Colab]({settings.colab_url(stem + '.ipynb')}) (the source notebook) · "
        f"{{download}}`Download the executed notebook <../downloads/{stem}.ipynb>`.{timing}"
    )
    links.metadata["tags"] = ["course-site-links"]
    first_markdown = next((i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown"), -1)
    notebook.cells.insert(first_markdown + 1, links)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    keys = bibliography_keys_cited_in(markdown, bib_text)
    if keys:
        notebook.cells.append(
            nbformat.v4.new_markdown_cell(
                f"## Works cited\n\nThis notebook builds on {{footcite:p}}`{','.join(keys)}`.\n\n"
                "```{footbibliography}\n```\n\nAll the course's references: [references](../references.md)."
            )
        )
    return notebook


def _local_face(family: str, weight: str | None = None) -> dict[str, str]:
    face = {"font-family": family, "src": f'local("{family}")'}
    return face | ({"font-weight": weight} if weight else {})


#: MathJax 2.7's configuration on the site, as on the runner's pages (resources/page_template): the packaged copy has
#: the STIX-Web fonts only, and every @font-face that would ask for a file it lacks is a local() face (no request).
MATHJAX2_CONFIG: dict[str, Any] = {
    # Sphinx writes math as \\(...\\) in elements of class "math"; MyST-NB marks notebook cells tex2jax_ignore so
    # that a "$" in an output is not taken for math, and typesets what is inside those classes only.
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": True,
        "processClass": "math|output_area|tex2jax_process|mathjax_process",
        "ignoreClass": "tex2jax_ignore|mathjax_ignore|document",
    },
    "HTML-CSS": {
        "availableFonts": [],
        "preferredFont": None,
        "webFont": "STIX-Web",
        "imageFont": None,
        "styles": {"@font-face": _local_face("MathJax_Blank")},
    },
    "NativeMML": {
        "styles": {
            "@font-face /*1*/": _local_face("MathJax_Caligraphic-WEB"),
            "@font-face /*2*/": _local_face("MathJax_Caligraphic-WEB", "bold"),
            "@font-face /*3*/": _local_face("MathJax_AMS-WEB"),
            "@font-face /*4*/": _local_face("MathJax_Script-WEB"),
            "@font-face /*5*/": _local_face("MathJax_Fraktur-WEB"),
            "@font-face /*6*/": _local_face("MathJax_Fraktur-WEB", "bold"),
        }
    },
}


def _site_config(settings: CourseSettings, mathjax_config: str) -> dict[str, Any]:
    """Jupyter Book's ``_config.yml`` for the site (written as JSON, which YAML reads)."""
    return {
        "title": "Seeing what CNNs see",
        "author": "the course's authors",
        "copyright": f"{time.gmtime().tm_year}",
        "only_build_toc_files": True,
        "exclude_patterns": ["_build", "downloads", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},
        "bibtex_bibfiles": ["references.bib"],
        "repository": {"url": settings.url, "branch": settings.branch, "path_to_book": ""},
        "launch_buttons": {"colab_url": "https://colab.research.google.com", "notebook_interface": "classic"},
        "html": {
            "use_repository_button": True,
            "home_page_in_navbar": True,
            "extra_footer": f"<p>{FOOTER}</p>",
        },
        "parse": {
            "myst_enable_extensions": ["colon_fence", "dollarmath", "amsmath"],
            # $$...$$ inside a list item or paragraph is display math, as Jupyter shows it.
            "myst_dmath_double_inline": True,
        },
        "sphinx": {
            "extra_extensions": ["course_utils._site_sphinx"],
            "recursive_update": True,
            "config": {
                # MathJax 2.7 from beside the pages (_static/mathjax), never a CDN: the site works offline.
                "mathjax_path": f"mathjax/MathJax.js?config={mathjax_config}",
                "mathjax2_config": MATHJAX2_CONFIG,
                # Widgets show their figures (the runner's page copy); no widget script from a CDN.
                "nb_ipywidgets_js": {},
                "bibtex_reference_style": "author_year",
                "myst_footnote_transition": False,
                # MyST would add a MathJax 3 configuration (window.MathJax), which MathJax 2 reads as its own.
                "myst_update_mathjax": False,
                "bibtex_default_style": "plain",
                "html_show_sourcelink": False,
                # Search results without summaries: a summary is fetched from the result page, which a browser
                # refuses for a page opened from disk (file://).
                "html_show_search_summary": False,
                "suppress_warnings": ["mystnb.unknown_mime_type", "myst.footnote"],
                "html_static_path": ["assets"],
            },
        },
    }


def _student_notebooks(out_dir: Path) -> dict[str, Path]:
    """The student edition's notebooks (``build/student/NN_*.ipynb``, written by ``make student``), by stem."""
    folder = out_dir / "student"
    return {p.stem: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))} if folder.is_dir() else {}


def _write_redirect(out_dir: Path) -> Path:
    target = f"{SITE_FOLDER}/index.html"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Seeing what CNNs see</title>
<meta http-equiv="refresh" content="0; url={html.escape(target)}"></head>
<body><p>The course's site is in <a href="{html.escape(target)}">{html.escape(target)}</a>.</p></body></html>
"""
    return files.write_text_atomically(out_dir / "index.html", page)


def _write_notebook_pages(
    executed: list[Path],
    source: Path,
    settings: CourseSettings,
    bib_text: str,
    seconds: Mapping[str, float],
    mode: str,
) -> list[tuple[str, str]]:
    """Write each executed notebook's page to ``source/notebooks`` and a copy to ``source/downloads``.

    Returns ``[(stem, title)]`` in the order of ``executed``.
    """
    import nbformat

    pages = []
    for path in executed:
        notebook = _page_notebook(path, settings, bib_text, seconds.get(path.stem), mode)
        nbformat.write(notebook, source / "notebooks" / path.name)
        shutil.copy2(path, source / "downloads" / path.name)
        pages.append((path.stem, _title_of(notebook, path.stem)))
    return pages


def _copy_student_notebooks(out_dir: Path, source: Path) -> dict[str, str]:
    """Copy the student edition into ``source/downloads/student``; return ``{stem: link relative to source}``."""
    student = {}
    for stem, path in _student_notebooks(out_dir).items():
        (source / "downloads" / "student").mkdir(exist_ok=True)
        shutil.copy2(path, source / "downloads" / "student" / path.name)
        student[stem] = f"downloads/student/{path.name}"
    return student


def _add_gifs(out_dir: Path, source: Path) -> None:
    """Copy ``out_dir/gifs/*.gif`` into the site and show them in a section at the end of the front page."""
    gifs = (
        sorted(p for p in (out_dir / "gifs").glob("*.gif") if not p.name.startswith("."))
        if (out_dir / "gifs").is_dir()
        else []
    )
    if gifs:
        (source / "gifs").mkdir()
        for gif in gifs:
            shutil.copy2(gif, source / "gifs" / gif.name)
        with open(source / "index.md", "a", encoding="utf-8") as front:
            front.write("\n## Feature visualization, as it optimises\n\n")
            front.write("".join(f"![{gif.stem}](gifs/{gif.name})\n" for gif in gifs))


def _write_book_config(source: Path, settings: CourseSettings, pages: list[tuple[str, str]]) -> None:
    """Write Jupyter Book's ``_toc.yml`` and ``_config.yml`` and the page assets (MathJax) into ``source``."""
    toc = {
        "format": "jb-book",
        "root": "index",
        "parts": [
            {"caption": "Notebooks", "chapters": [{"file": f"notebooks/{stem}"} for stem, _ in pages]},
            {"caption": "About the course", "chapters": [{"file": "credits"}, {"file": "references"}]},
        ],
    }
    (source / "_toc.yml").write_text(json.dumps(toc, indent=2), encoding="utf-8")
    notebook_runner.install_page_assets(source)  # source/assets/mathjax -> the site's _static/mathjax
    config = _site_config(settings, notebook_runner._MATHJAX_CONFIG)
    (source / "_config.yml").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")


def _run_jupyter_book(source: Path, build: Path, quiet: bool) -> Path:
    """Build the book in ``source`` into ``build`` (warnings are errors); return the folder of its HTML.

    Raises
    ------
    RuntimeError
        When the build fails; the message ends with its last lines of output.
    """
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(source)]
    command += ["--path-output", str(build)]
    command += ["--warningiserror", "--keep-going", "--all"] + (["--quiet"] if quiet else [])
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        tail = "\n".join((finished.stdout + finished.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"the site build failed (jupyter-book build {source}):\n{tail}")
    return build / "_build" / "html"


def _replace_site(built: Path, out_dir: Path) -> None:
    """Move ``built`` to ``out_dir/site``, replacing the previous site only once the new one is in place."""
    site = out_dir / SITE_FOLDER
    old = out_dir / ".site-old"
    shutil.rmtree(old, ignore_errors=True)
    if site.exists():
        os.replace(site, old)
    os.replace(built, site)
    shutil.rmtree(old, ignore_errors=True)


def build_site(
    out_dir: str | os.PathLike,
    root: str | os.PathLike | None = None,
    seconds: Mapping[str, float] | None = None,
    settings: CourseSettings | None = None,
    quiet: bool = True,
) -> Path:
    """Build the course site from the executed notebooks in ``out_dir/notebooks``; return ``out_dir/index.html``.

    Parameters
    ----------
    out_dir
        The output folder of ``make run`` (``build/``): the site goes to ``out_dir/site``, and
        ``out_dir/index.html`` becomes a link to it.
    root
        The course's checkout (README, ``references.bib``, ``data/CREDITS.md``, ``pyproject.toml``);
        the one this module lives in by default.
    seconds
        ``{notebook stem: seconds}`` of this run, shown on the front page.
    settings
        Where the course is published; read from ``root``'s ``pyproject.toml`` when None.
    quiet
        Keep Sphinx's progress out of the terminal (its warnings still fail the build).

    Raises
    ------
    FileNotFoundError
        When ``out_dir/notebooks`` holds no executed ``NN_*.ipynb`` (run ``make run`` first).
    RuntimeError
        When Jupyter Book is missing (``pip install -e '.[site]'``) or the build fails; the message
        ends with its last lines of output.
    """
    out_dir = Path(out_dir)
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    settings = settings or course_settings(root)
    seconds = dict(seconds or {})
    executed = sorted((out_dir / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise FileNotFoundError(f"no executed NN_*.ipynb in {out_dir / 'notebooks'}: run `make run` first")
    try:
        import jupyter_book  # noqa: F401
    except ImportError as error:
        raise RuntimeError("the course site needs Jupyter Book: pip install -e '.[site]' (make run does)") from error

    source = out_dir / ".site-source"
    shutil.rmtree(source, ignore_errors=True)
    (source / "notebooks").mkdir(parents=True)
    (source / "downloads").mkdir()
    bib = root / "references.bib"
    bib_text = bib.read_text(encoding="utf-8")
    shutil.copy2(bib, source / "references.bib")
    mode = _mode_of_run()

    pages = _write_notebook_pages(executed, source, settings, bib_text, seconds, mode)
    student = _copy_student_notebooks(out_dir, source)

    (source / "index.md").write_text(_front_page(root, settings, pages, seconds, student), encoding="utf-8")
    (source / "credits.md").write_text(_credits_page(root), encoding="utf-8")
    (source / "references.md").write_text(_references_page(), encoding="utf-8")
    _add_gifs(out_dir, source)
    _write_book_config(source, settings, pages)

    built = _run_jupyter_book(source, out_dir / ".site-build", quiet)
    _replace_site(built, out_dir)
    return _write_redirect(out_dir)


def build_after_run(runs: list[notebook_runner.NotebookRun], folder: Path, out_dir: Path) -> Path | None:
    """Build the course site (:mod:`course_utils.course_site`) from the executed notebooks; None when it failed."""
    # The checkout the notebooks belong to (README, references.bib, pyproject's [tool.course]); a folder of other
    # notebooks gets the course's own.
    checkout = Path(folder).resolve().parent
    root = checkout if (checkout / "references.bib").is_file() and (checkout / "pyproject.toml").is_file() else None
    started = time.perf_counter()
    try:
        index = build_site(out_dir, root=root, seconds={run.name: run.seconds for run in runs})
    except (RuntimeError, OSError, ValueError) as failure:
        print(f"the course site was not built: {failure}", file=sys.stderr)
        return None
    print(f"course site built in {time.perf_counter() - started:.0f} s: {out_dir / SITE_FOLDER}")
    return index
