"""What the benchmark scripts share: timing, argument parsing, and LIME as its defaults run it.

The benchmarks are scripts (``python benchmarks/<name>.py``): Python puts
this folder first on ``sys.path``, so each script imports this module by its
plain name (``from _common import timed``), no importlib needed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Callable, TypeVar

import numpy as np

Result = TypeVar("Result")

#: LIME's default batch size, the baseline of benchmarks/explainers.py and benchmarks/peers.py.
LIME_DEFAULT_BATCH = 10
#: Largest accepted ``max |w_batched - w_default| / max |w_default|`` over the
#: explained classes: only float32 round-off of the model's scores differs.
LIME_TOLERANCE = 1e-3


# --------------------------------------------------------------------------- timing
def timed(function: Callable[[], Result]) -> tuple[Result, float]:
    """``function()``'s result and its wall-clock seconds (one run, nothing untimed)."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def median_timed(run: Callable[[], Result], repeats: int) -> tuple[Result, float]:
    """The result of ``run`` and its median seconds over ``repeats`` runs, after one untimed warm-up run.

    The warm-up pays the one-time costs (tracing, first calls, kernel
    selection) that a session pays once, not per call.
    """
    result = run()
    seconds = []
    for _ in range(repeats):
        result, elapsed = timed(run)
        seconds.append(elapsed)
    return result, statistics.median(seconds)


def median_seconds(run: Callable[[], Any], repeats: int) -> float:
    """Median seconds of ``run`` over ``repeats`` runs, after one untimed warm-up run."""
    return median_timed(run, repeats)[1]


def threads() -> int:
    """Threads TensorFlow's kernels use (its setting, or every core when it is left to choose)."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


# --------------------------------------------------------------------------- arguments
def argument_parser(doc: str | None, quick_help: str, *, repeats: bool = False) -> argparse.ArgumentParser:
    """A parser described by the script's first docstring paragraph, with ``--quick`` (and ``--repeats``).

    ``--quick`` is the smoke-test size that tests/test_benchmarks.py runs;
    ``--repeats`` (default ``None``: the script's own, 3 or 1 with ``--quick``)
    is the number of timed runs whose median is reported.
    """
    description = (doc or "").strip().split("\n\n")[0].replace("\n", " ")
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if repeats:
        parser.add_argument(
            "--repeats", type=int, default=None, help="timed runs per method (median; default 3, quick 1)"
        )
    return parser


def default_repeats(args: argparse.Namespace) -> int:
    """``--repeats`` if given, else 1 with ``--quick`` and 3 without."""
    return int(args.repeats or (1 if args.quick else 3))


# --------------------------------------------------------------------------- LIME's defaults
def lime_default(
    model: Any,
    image: np.ndarray,
    labels: list[int],
    num_samples: int,
    seed: int,
    classifier_fn: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
) -> dict[int, np.ndarray]:
    """LIME as the source calls it, with the same segmentation and sampling as the course's wrapper.

    Returns one weight per superpixel for each of ``labels`` (0 where LIME gives none).
    """
    from lime import lime_image

    from course_utils import explainers

    explainer = lime_image.LimeImageExplainer(kernel_width=0.25, feature_selection="none", random_state=seed)
    with explainers._lime_progress(False):
        raw = explainer.explain_instance(
            image,
            classifier_fn,
            labels=labels,
            hide_color=explainers.IMAGENET_MEAN_RGB,
            top_labels=None,
            num_features=100_000,
            num_samples=num_samples,
            batch_size=batch_size,
            segmentation_fn=explainers.segmentation_function("quickshift", seed),
            # Without it LIME draws a segmentation seed from the sampling stream first.
            random_seed=seed,
        )
    count = int(raw.segments.max()) + 1
    weights = {}
    for label in labels:
        dense = np.zeros(count)
        for feature, weight in raw.local_exp[label]:
            dense[int(feature)] = weight
        weights[label] = dense
    return weights
