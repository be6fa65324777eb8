"""Full mode's ImageNet sections on the source documents' architectures: VGG19, VGG16, Xception, ResNet50V2.

Full mode (the default wherever a GPU is visible, Colab's included) explains the sources' models when
Keras can download their ImageNet weights; quick and cpu mode, and full mode offline, explain
EfficientNet-Lite0, and that is what nbval runs. This machine and CI cannot download the Keras weights,
so without this test the code a student with a GPU runs (the VGG and Xception layer names, the shapes
and batch sizes at 224 and 299 pixels, every cell that branches on ``model.name``) would first run in
that student's notebook.

Each notebook with an ImageNet section runs here with quick mode's sizes and
``imagenet_models="sources"``, through the course's runner (every cell and every worked solution must
run; no log noise, no random-weights notice). The one thing that differs is the weights:
``models.imagenet_model`` builds the sources' architectures untrained, a stand-in for the download that
cannot happen here. The figures and numbers of these runs therefore mean nothing and are not looked at
(the exercise checks, which judge numbers, only print their verdicts); the test checks that every cell
runs on the architecture the student gets, and that the notebook printed that architecture's name.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils import models, notebook_runner

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))

#: The course notebooks with an ImageNet section, and the source architectures each one explains in full mode.
SOURCE_MODELS = {
    "02_grad_cam.ipynb": ["VGG19", "Xception"],
    "03_lime.ipynb": ["VGG19"],
    "04_integrated_gradients.ipynb": ["Xception"],
    "05_shap.ipynb": ["VGG16"],
    "06_activations_occlusion_smoothgrad.ipynb": ["Xception"],
    "07_feature_visualization.ipynb": ["ResNet50V2", "VGG16"],
}

#: Runs before the notebook's own cells, in its kernel. Notebooks read ``config.settings()`` and call
#: ``models.imagenet_model`` through their modules, so replacing the two module attributes is enough.
STAND_IN = '''\
import dataclasses
import os

from course_utils import config, exercises, models

# The exercise checks judge what trained weights give (06.2: a black fill moves the map away from the mean
# fill's); on untrained stand-ins a worked solution still runs its code, and its verdict is only printed.
os.environ[exercises.STRICT_ENV] = "0"

_course_settings, _course_imagenet_model = config.settings, models.imagenet_model


def _sources_settings(*args, **kwargs):
    return dataclasses.replace(_course_settings(*args, **kwargs), imagenet_models="sources")


def _untrained_stand_in(name, weights="auto", **kwargs):
    if name != "efficientnet_lite0" and weights in ("auto", "imagenet"):
        weights = None  # the Keras download this machine cannot make: the same architecture, untrained
    return _course_imagenet_model(name, weights=weights, **kwargs)


config.settings, models.imagenet_model = _sources_settings, _untrained_stand_in
'''


def test_every_source_model_the_notebooks_ask_for_is_listed():
    """A new ImageNet section, or a source model added to one, must join the list, or its code goes untested."""
    asked = {}
    for path in NOTEBOOKS:
        code = "".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
        sources = set(re.findall(r"""\bS\.imagenet_model\(\s*["'](\w+)["']\s*\)""", code))
        if sources:
            asked[path.name] = sorted(models.MODEL_TITLES[source] for source in sources)
    assert asked == {name: sorted(titles) for name, titles in SOURCE_MODELS.items()}


@pytest.fixture(scope="module")
def course_output(tmp_path_factory):
    """One output folder for the module's kernels: the course CNN is trained once, by the first that needs it."""
    return tmp_path_factory.mktemp("course_output")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SOURCE_MODELS))
def test_full_mode_code_runs_on_the_source_architectures(name, course_output, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "quick")
    monkeypatch.setenv("COURSE_OUTPUT_DIR", str(course_output))
    notebook = nbformat.read(next(p for p in NOTEBOOKS if p.name == name), as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(STAND_IN))
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(notebook, folder / name)
    notebook_runner.run_one(folder / name, tmp_path / "out", timeout=900)
    executed = nbformat.read(tmp_path / "out" / "notebooks" / name, as_version=4)
    printed = [
        line
        for cell in executed.cells
        for output in cell.get("outputs", [])
        for line in str(output.get("text", "")).splitlines()
        if not line.startswith("QUICK MODE")  # the banner names quick mode's own model
    ]
    for title in SOURCE_MODELS[name]:
        assert any(title in line for line in printed), f"{name} never printed {title!r}: which model did it explain?"
    fallbacks = [line for line in printed if "EfficientNet-Lite0" in line]
    assert not fallbacks, f"{name} explained EfficientNet-Lite0 in full mode: {fallbacks}"
