"""Wrong types raise TypeError, in every public function of the method modules.

The course's convention: an argument of the wrong type (a string where images
go, a float where an integer goes) raises ``TypeError``; a value of the right
type that is out of range raises ``ValueError``. This walks every public
function of attributions, explainers, metrics, features and pixel_maps, fills
its required arguments with valid tiny ones (tests/tiny_models.py), puts one
wrong-typed value into each parameter it knows a type for, and expects a
``TypeError`` whose message names that parameter.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import pytest
from tiny_models import SIZE, images, small_cnn

from course_utils import attributions, explainers, features, metrics, pixel_maps

MODULES = (attributions, explainers, metrics, features, pixel_maps)

#: One wrong-typed value per parameter name: a string where images, maps or a model go, a fractional float where an
#: integer goes, a string where a real number goes.
NOT_AN_INTEGER = 2.5
NOT_A_NUMBER = "0.5"
WRONG = {
    **dict.fromkeys(["model", "shuffled_label_model"], "vgg16"),
    **dict.fromkeys(
        ["images", "image", "attributions", "maps_a", "maps_b", "seed_image", "background", "fractions", "scores",
         "values"],
        "photo.jpg",
    ),
    "layer": 3,
    **dict.fromkeys(["class_index", "filters", "targets"], 1.5),
    **dict.fromkeys(
        [
            "batch_size", "steps", "samples", "patch", "stride", "seed", "count", "top_labels", "num_samples",
            "num_features", "ranked_outputs", "nsamples", "frame_every", "jitter", "image_size", "ig_steps",
            "smoothgrad_samples", "lime_samples", "shap_nsamples", "resamples", "size",
        ],
        NOT_AN_INTEGER,
    ),
    **dict.fromkeys(
        [
            "noise", "sigma", "learning_rate", "width", "kernel_width", "confidence", "min_crop", "blur_sigma",
            "l2", "tv", "scale", "rotate", "local_smoothing", "smoothgrad_noise",
        ],
        NOT_A_NUMBER,
    ),
}

#: Optional parameters given a small valid value, so that a call whose check is missing stays quick and fails on
#: the missing TypeError, not on a default sized for real images.
CHEAP = ("steps", "samples", "num_samples", "nsamples", "progress", "patch", "stride")

#: Functions with nothing to mistype (no parameters).
NOTHING_TO_MISTYPE = {"class_logit", "class_probability", "l2_penalty", "total_variation"}

#: Parameters a function documents as ignored: the two baseline maps take (model, images, class_index) only to
#: share the signature of the explanation methods.
IGNORED = {("metrics.random_map", "model"), ("metrics.random_map", "class_index"),
           ("metrics.center_prior_map", "model"), ("metrics.center_prior_map", "class_index")}


def _public_functions() -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for module in MODULES:
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value):
                found.append((f"{module.__name__.rsplit('.', 1)[-1]}.{name}", value))
    return found


FUNCTIONS = _public_functions()


@pytest.fixture(scope="module")
def valid() -> dict[str, Any]:
    """A valid, cheap value for every parameter name a public function requires or that would make a call slow."""
    model = small_cnn(softmax=True)
    batch = images(2)
    maps = np.random.default_rng(0).normal(size=(2, SIZE, SIZE)).astype(np.float32)
    return {
        "model": model,
        "shuffled_label_model": small_cnn(softmax=True, seed=3),
        "images": batch,
        "image": batch[0],
        "attributions": maps,
        "attributions.completeness:attributions": np.zeros_like(batch),  # per pixel and channel
        "maps_a": maps,
        "maps_b": maps[::-1],
        "layer": "conv2",
        "background": batch,
        "explain": lambda model, batch, classes: np.ones(batch.shape[:3], np.float32),
        "filters": 0,
        "class_index": 0,
        "targets": 0,
        "objective": features.channel("conv2") if hasattr(features, "channel") else "logit",
        "fractions": np.linspace(0.0, 1.0, 5),
        "scores": np.ones((2, 5)),
        "values": np.arange(4.0),
        "size": SIZE,
        "patch": 4,
        "stride": 4,
        "count": 2,
        "image_size": SIZE,
        # cheap sizes for the optional parameters, should a check be missing and the call run
        "steps": 2,
        "samples": 2,
        "num_samples": 4,
        "nsamples": 2,
        "progress": False,
    }


def _cases() -> list[tuple[str, str]]:
    cases = []
    for label, function in FUNCTIONS:
        names = [
            name
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) and name in WRONG
        ]
        cases.extend((label, name) for name in names if (label, name) not in IGNORED)
    return cases


def test_every_public_function_is_walked():
    walked = {label for label, _ in _cases()}
    missed = {label for label, _ in FUNCTIONS} - walked
    assert {label.split(".", 1)[1] for label in missed} <= NOTHING_TO_MISTYPE, (
        f"no wrong-typed argument for {sorted(missed)}: give their parameters a wrong value in WRONG"
    )
    assert len(walked) >= 30, "the walk must reach the method modules' functions"


@pytest.mark.parametrize("label, parameter", _cases())
def test_a_wrong_type_raises_type_error(label, parameter, valid):
    function = dict(FUNCTIONS)[label]
    signature = inspect.signature(function)
    arguments = {}
    for name, spec in signature.parameters.items():
        if spec.kind in (spec.VAR_POSITIONAL, spec.VAR_KEYWORD):
            continue
        if name == parameter:
            arguments[name] = WRONG[name]
        elif spec.default is spec.empty or name in CHEAP:
            arguments[name] = valid.get(f"{label}:{name}", valid[name])
    if parameter == "class_index" and label == "features.maximize_class":
        arguments[parameter] = [0, NOT_AN_INTEGER]  # its classes are ints: a float among them is the wrong type
    with pytest.raises(TypeError, match=parameter.split("_")[0]):
        function(**arguments)
