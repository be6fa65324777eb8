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
- :mod:`course_utils.notebook_runner` executes the notebooks into ``build/`` (``make run``), writes the student edition
- :mod:`course_utils.exercises`     the self-checking exercises: ``check``, ``hint``, ``solution``
"""

from __future__ import annotations

import importlib
import os
import sys
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
    "exercises",
)

__all__ = [*_SUBMODULES, "__version__"]


#: Submodules that do not import TensorFlow.
_WITHOUT_TENSORFLOW = frozenset({"config", "image_io", "cli", "notebook_runner", "exercises"})


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its native start-up lines silenced.

    TensorFlow's C++ start-up writes absl, oneDNN, cudart and, at the first
    device query, cuInit lines straight to file descriptor 2, whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says; a notebook shows them in every import cell.
    They are noise on a CPU-only machine, so descriptor 2 points at /dev/null
    while TensorFlow loads and lists its devices; Python errors still raise.
    ``COURSE_NATIVE_LOGS=1`` keeps them.
    """
    if "tensorflow" in sys.modules or os.environ.get("COURSE_NATIVE_LOGS", "").strip() in ("1", "true", "yes"):
        return
    try:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no descriptor 2 (an embedded interpreter): nothing to silence
        return
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        if name not in _WITHOUT_TENSORFLOW:
            _import_tensorflow_quietly()
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
