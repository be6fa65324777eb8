"""The course site (course_utils.course_site), its one address setting, the licences, the citation and the credits.

No TensorFlow here: the site is built from notebooks written with their outputs, never executed.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from course_utils import course_site

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _markdown(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


# --- one place for the repository's address -----------------------------------------------------------------------


def test_the_repository_setting_is_read_from_pyproject_and_checked():
    settings = course_site.course_settings(ROOT)
    assert re.fullmatch(r"[\w-]+/[\w.-]+", settings.repository)
    assert settings.colab_url("02_grad_cam.ipynb") == (
        f"https://colab.research.google.com/github/{settings.repository}/blob/{settings.branch}/notebooks/02_grad_cam.ipynb"
    )
    with pytest.raises(ValueError, match="owner/name"):
        course_site.CourseSettings("https://github.com/a/b")
    with pytest.raises(TypeError, match="strings"):
        course_site.CourseSettings(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="notebook's file name"):
        settings.colab_url("notebooks/02_grad_cam.ipynb")


def test_notebooks_readme_and_citation_agree_with_the_setting():
    assert course_site.repository_disagreements(ROOT) == []


def test_changing_the_setting_is_reported_then_synced_everywhere(tmp_path):
    for name in ("README.md", "CITATION.cff", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    moved = course_site.CourseSettings("another-org/xai-course", branch="spring")
    found = course_site.repository_disagreements(tmp_path, moved)
    assert {line.split(":")[0] for line in found} == {p.name for p in NOTEBOOKS} | {"README.md", "CITATION.cff"}

    before = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "notebooks").glob("*.ipynb")}
    changed = course_site.sync_repository(tmp_path, moved)
    assert {p.name for p in changed} == {p.name for p in NOTEBOOKS} | {"README.md", "CITATION.cff"}
    assert course_site.repository_disagreements(tmp_path, moved) == []
    for path in (tmp_path / "notebooks").glob("*.ipynb"):
        old, new = before[path.name].splitlines(), path.read_text(encoding="utf-8").splitlines()
        differing = [b for a, b in zip(old, new) if a != b]
        assert len(old) == len(new) and len(differing) == 1 and "another-org/xai-course" in differing[0], path.name
    assert course_site.sync_repository(tmp_path, moved) == [], "a second sync changes nothing"


# --- the bibliography ---------------------------------------------------------------------------------------------


def _reference_items(markdown: str) -> list[str]:
    section = course_site.references_section(markdown)
    return [item for item in re.split(r"\n(?=- )", "\n" + section) if item.strip().startswith("-")]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_every_reference_of_a_notebook_has_its_bibliography_entry(notebook):
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    items = _reference_items(_markdown(notebook))
    assert items, f"{notebook.name} has no References section"
    unmatched = [i.strip()[:90] for i in items if not course_site.bibliography_keys_cited_in("## References\n" + i, bib)]
    assert not unmatched, f"add these to references.bib (or fix the title): {unmatched}"


def test_every_bibliography_entry_is_cited_by_a_notebook_and_keys_are_unique():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M)
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    cited = {key for path in NOTEBOOKS for key in course_site.bibliography_keys_cited_in(_markdown(path), bib)}
    assert set(keys) - cited == set(), "entries no notebook names"


def test_citations_are_matched_by_title_words_inside_the_references_section_only():
    bib = "@article{a1,\n  title = {Sanity Checks for Saliency Maps},\n}\n@misc{b2,\n  title = {Feature Visualization},\n}\n"
    text = "Feature visualization is the topic.\n\n## References\n\n- J. Adebayo et al. *Sanity checks for\n  saliency maps.*\n"
    assert course_site.bibliography_keys_cited_in(text, bib) == ["a1"]
    assert course_site.bibliography_keys_cited_in("no references here", bib) == []
    with pytest.raises(TypeError):
        course_site.bibliography_keys_cited_in(None, bib)  # type: ignore[arg-type]


# --- licences, citation, credits ----------------------------------------------------------------------------------


def test_licence_files_state_the_code_and_text_licences():
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence and "END OF TERMS AND CONDITIONS" in licence
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # an SPDX expression
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in readme and "Apache-2.0" in readme
    assert "CC BY 4.0" in course_site.FOOTER and "Apache-2.0" in course_site.FOOTER


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_the_first_cell_of_every_notebook_states_the_licences(notebook):
    first = next(c for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "markdown")
    text = "".join(first["source"])
    assert "CC BY 4.0" in text and "Apache-2.0" in text


def _cff_validator():
    import jsonschema
    import yaml

    schema = json.loads((Path(__file__).parent / "data" / "citation_cff_1.2.0.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema), yaml


def test_citation_cff_is_valid_citation_file_format_1_2_0():
    validator, yaml = _cff_validator()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(citation)]
    assert not errors, errors
    assert citation["cff-version"] == "1.2.0"
    assert set(citation["license"]) == {"Apache-2.0", "CC-BY-4.0"}
    assert citation["repository-code"] == course_site.course_settings(ROOT).url
    # The schema check can fail: a citation without authors, or with a made-up licence, is refused.
    broken = dict(citation, license="Apache 2")
    del broken["authors"]
    assert len(list(validator.iter_errors(broken))) >= 2


def test_credits_name_every_image_and_weight_file_the_course_uses():
    credits = (ROOT / "data" / "CREDITS.md").read_text(encoding="utf-8")
    data_source = (ROOT / "course_utils" / "data.py").read_text(encoding="utf-8")
    sample_files = re.findall(r'"((?:data|datasets/images|mpl-data/sample_data)/[\w.-]+\.(?:png|jpg))"', data_source)
    assert len(sample_files) >= 8
    missing = [name for name in sample_files if name.split("/")[-1] not in credits]
    resources = [p.name for p in (ROOT / "course_utils" / "resources").iterdir() if p.is_file()]
    missing += [name for name in resources if name not in credits]
    missing += [f"data/{p.name}/" for p in (ROOT / "data").iterdir() if p.is_dir() and f"data/{p.name}/" not in credits]
    weights = re.search(r'WEIGHTS_FILE = "([^"]+)"', (ROOT / "course_utils" / "efficientnet_lite.py").read_text())
    missing += [] if weights and weights.group(1) in credits else ["EfficientNet-Lite0 weights file"]
    models_source = (ROOT / "course_utils" / "models.py").read_text(encoding="utf-8")
    keras_models = re.findall(r'"(\w+)": \(keras\.applications\.(\w+),', models_source)
    assert keras_models, "models.IMAGENET_MODELS lists the Keras ImageNet models"
    missing += [f"Keras {name} ImageNet weights" for _, name in keras_models if name not in credits]
    assert not missing, f"data/CREDITS.md does not credit: {missing}"


# --- the site -----------------------------------------------------------------------------------------------------


class _Assets(HTMLParser):
    """The scripts and stylesheets a page loads, and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.loaded.append(attributes["src"])
        if tag == "link" and "stylesheet" in (attributes.get("rel") or "") and attributes.get("href"):
            self.loaded.append(attributes["href"])
        if tag == "link" and (attributes.get("rel") or "") in ("preload", "modulepreload") and attributes.get("href"):
            self.loaded.append(attributes["href"])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])


def _executed_notebook(title: str) -> nbformat.NotebookNode:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, "PNG")
    figure = nbformat.v4.new_code_cell("plot()")
    figure.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": "<Figure>"})
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\nThe gradient $\\partial y / \\partial x$ and\n\n$$a^2 + b^2 = c^2$$"),
        figure,
        nbformat.v4.new_markdown_cell("## References\n\n- J. Adebayo et al. *Sanity Checks for Saliency Maps.* NeurIPS 2018."),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    pytest.importorskip("jupyter_book", reason="the site extra: pip install -e '.[site]'")
    out = tmp_path_factory.mktemp("build")
    (out / "notebooks").mkdir()
    nbformat.write(_executed_notebook("01 · First"), out / "notebooks" / "01_first.ipynb")
    nbformat.write(_executed_notebook("02 · Second"), out / "notebooks" / "02_second.ipynb")
    (out / "student").mkdir()
    nbformat.write(_executed_notebook("01 · First"), out / "student" / "01_first.ipynb")
    settings = course_site.CourseSettings("some-org/some-course")
    index = course_site.build_site(out, root=ROOT, seconds={"01_first": 12.0}, settings=settings)
    return out, index, settings


def _pages(site: Path) -> list[Path]:
    return [p for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_")]


def test_every_script_and_stylesheet_of_every_site_page_is_a_local_file(built_site):
    out, _, _ = built_site
    site = out / course_site.SITE_FOLDER
    pages = _pages(site)
    assert {p.relative_to(site).as_posix() for p in pages} >= {
        "index.html", "notebooks/01_first.html", "notebooks/02_second.html", "credits.html", "references.html", "search.html",
    }  # fmt: skip
    remote, missing = [], []
    for page in pages:
        parser = _Assets()
        parser.feed(page.read_text(encoding="utf-8"))
        assert parser.loaded, f"{page.name} loads no script or stylesheet: the parser found nothing"
        for address in parser.loaded:
            if re.match(r"^(https?:)?//", address):
                remote.append(f"{page.name}: {address}")
            elif not (page.parent / address.split("?")[0].split("#")[0]).is_file():
                missing.append(f"{page.name}: {address}")
    assert not remote, f"pages load from the network: {remote}"
    assert not missing, f"pages load files that are not there: {missing}"
    mathjax = (site / "notebooks" / "01_first.html").read_text(encoding="utf-8")
    assert '_static/mathjax/MathJax.js?config=' in mathjax and (site / "_static" / "mathjax" / "MathJax.js").is_file()


def test_site_pages_link_colab_downloads_bibliography_licences_and_the_student_edition(built_site):
    out, index, settings = built_site
    assert index == out / "index.html" and "url=site/index.html" in index.read_text()
    site = out / course_site.SITE_FOLDER
    page = (site / "notebooks" / "01_first.html").read_text(encoding="utf-8")
    assert settings.colab_url("01_first.ipynb") in page
    parser = _Assets()
    parser.feed(page)
    downloads = [link for link in parser.links if link.endswith("01_first.ipynb") and "_downloads" in link]
    assert downloads and (site / "notebooks" / downloads[0]).is_file(), parser.links
    executed = nbformat.read(site / "notebooks" / downloads[0], as_version=4)
    assert executed.cells[1].outputs, "the download is the executed notebook, outputs and all"
    assert "Adebayo" in page and "Sanity" in page, "the page lists the works it cites"
    assert "12 s" in page, "the page says how long the notebook ran"
    assert "CC BY 4.0" in page and "Apache-2.0" in page, "the footer states the licences"
    front = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="notebooks/02_second.html"' in front and settings.colab_url("02_second.ipynb") in front
    assert "student edition" in front and "_downloads" in front
    references = (site / "references.html").read_text(encoding="utf-8")
    bib_keys = re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(encoding="utf-8"), flags=re.M)
    assert references.count('class="citation"') + references.count("<dt ") >= len(bib_keys) or all(
        key in references for key in bib_keys
    ), "the references page lists every entry of references.bib"
    assert (site / "searchindex.js").is_file() and "Second" in (site / "searchindex.js").read_text(encoding="utf-8")


def test_building_without_executed_notebooks_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="make run"):
        course_site.build_site(tmp_path, root=ROOT, settings=course_site.CourseSettings("a/b"))
