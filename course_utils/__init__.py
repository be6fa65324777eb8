"""course_utils: the machinery shared by the notebooks of "Seeing what CNNs see".

Submodules (imported on first use, so ``import course_utils`` stays fast):

- :mod:`course_utils.config`        quick mode, seeds, output folder
- :mod:`course_utils.data`          horses-or-humans, offline sample photos, ImageNet names
- :mod:`course_utils.image_io`      reading photos (files, URLs, EXIF orientation, any mode to RGB), centre-square crop
- :mod:`course_utils.models`        the course CNN, ImageNet models, layer plumbing
- :mod:`course_utils.attributions`  gradients, Grad-CAM, IG, SmoothGrad, occlusion, activations
- :mod:`course_utils.explainers`    LIME and SHAP wrappers
- :mod:`course_utils.metrics`       faithfulness: deletion/insertion curves, randomization checks
- :mod:`course_utils.pixel_maps`    every method as one pixel-map function, with its cost
- :mod:`course_utils.features`      filter and class maximization, GIFs
- :mod:`course_utils.viz`           overlays, signed maps, image grids
- :mod:`course_utils.widgets`       the interactive-figure helper the notebooks use
- :mod:`course_utils.training`      the tf.data pipeline and training of the course CNN
- :mod:`course_utils.cli`           the command line (``python -m course_utils train | run-notebooks | ...``)
- :mod:`course_utils.notebook_runner` executes the notebooks into ``build/`` (``make run``)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "config",
    "data",
    "image_io",
    "models",
    "attributions",
    "explainers",
    "metrics",
    "pixel_maps",
    "features",
    "viz",
    "widgets",
    "training",
    "cli",
    "notebook_runner",
)

__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
