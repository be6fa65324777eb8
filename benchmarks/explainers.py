"""LIME with a compiled, batched predict function against LIME's defaults.

``lime_image`` calls its ``classifier_fn`` with ``batch_size`` perturbed
images at a time (10 by default), and the usual ``classifier_fn`` is
``model.predict`` (as in the source notebook). Where can time be saved?

* ``model.predict`` sets up a data pipeline and a step loop on every call:
  a fixed cost per call, paid ``num_samples / batch_size`` times;
* a batch of 10 keeps a CPU's cores (or a GPU) far from busy;
* a ``tf.function`` with a ``None`` batch dimension runs the graph directly
  and never retraces, not even for the last, smaller batch (measured once on
  two cores: a VGG19 batch of 64 took 4.86 s with a free and with a fixed
  batch dimension, so the free one costs nothing).

Everything else (segmentation, sampling the on/off patterns, painting the
perturbed images, fitting the ridge models) is LIME's own code in both runs.
Both runs use the same image, segmentation, samples and seed, so they must
give the same superpixel weights (up to float32 round-off between batch
sizes), which is checked. One line is printed::

    lime_batched: 1.3x faster (lime default: batch_size=10 + model.predict ...)

and a breakdown that runs the compiled function at ``batch_size=10`` too,
to separate the two sources of the gain. One-time costs (``predict``'s first
call, tracing) are paid before timing, for both.

Usage::

    python benchmarks/explainers.py            # VGG19 224x224 (random weights), 128 samples
    python benchmarks/explainers.py --quick    # the course's small CNN at 64x64: seconds (a smoke test)
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import LIME_DEFAULT_BATCH, LIME_TOLERANCE, argument_parser, lime_default, timed  # noqa: E402
from PIL import Image  # noqa: E402

from course_utils import config, data, explainers, models  # noqa: E402


def _setup(quick: bool) -> tuple[keras.Model, np.ndarray, str]:
    if quick:
        size = 64
        keras.utils.set_random_seed(0)
        model = models.horses_humans_cnn(image_size=size)
        description = f"horses_humans_cnn {size}x{size}"
    else:
        model = models.imagenet_model("vgg19", weights=None)
        size = int(model.inputs[0].shape[1])
        description = f"vgg19 {size}x{size}, random weights"
    photo = data.sample_images()["cat"]
    image = np.asarray(Image.fromarray(photo).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    return model, image, description


def _weights_difference(batched: dict[int, np.ndarray], default: dict[int, np.ndarray], labels: list[int]) -> float:
    """``max |w_batched - w_default| / max |w_default|`` over the labels."""
    scale = max(float(np.abs(default[label]).max()) for label in labels) or 1.0
    return max(float(np.abs(batched[label] - default[label]).max()) for label in labels) / scale


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__, "small CNN at 64x64: a smoke run of seconds")
    parser.add_argument("--samples", type=int, default=None, help="LIME num_samples (default 128; quick 60)")
    parser.add_argument("--batch-size", type=int, default=None, help="batched size (default settings().lime_batch_size)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    num_samples = args.samples or (60 if args.quick else 128)
    batch_size = args.batch_size or config.settings(quick=args.quick).lime_batch_size

    model, image, description = _setup(args.quick)
    labels = [int(i) for i in np.argsort(-keras.ops.convert_to_numpy(model(image[None]))[0])[:2]]

    def predict_default(images: np.ndarray) -> np.ndarray:
        return model.predict(images, verbose=0)

    # One-time costs, paid before timing: predict's first call, and tracing the
    # compiled functions (reported, not counted: they are paid once per session).
    predict_default(image[None].repeat(LIME_DEFAULT_BATCH, axis=0))
    compiled_small = explainers.batched_predict(model, LIME_DEFAULT_BATCH)
    compiled, trace_seconds = timed(lambda: explainers.batched_predict(model, batch_size))
    compiled(image[None])  # first run of the traced graph (kernel selection), untimed like predict's
    compiled_small(image[None])

    def batched_run():
        return explainers.lime_explanation(
            model,
            image,
            top_labels=1,
            labels=labels,
            num_samples=num_samples,
            batch_size=batch_size,
            seed=args.seed,
            class_names=[str(i) for i in range(int(model.outputs[0].shape[-1]))],
        ).weights

    default_weights, default_seconds = timed(
        lambda: lime_default(model, image, labels, num_samples, args.seed, predict_default, LIME_DEFAULT_BATCH)
    )
    batched_weights, batched_seconds = timed(batched_run)
    _, small_seconds = timed(
        lambda: lime_default(model, image, labels, num_samples, args.seed, compiled_small, LIME_DEFAULT_BATCH)
    )

    difference = _weights_difference(batched_weights, default_weights, labels)
    ratio = default_seconds / batched_seconds
    print(
        f"lime_batched: {ratio:.2f}x faster (lime default: batch_size={LIME_DEFAULT_BATCH} + model.predict "
        f"{default_seconds:.2f} s; batched: batch_size={batch_size} + compiled tf.function "
        f"{batched_seconds:.2f} s; {num_samples} samples, {description}, quickshift; same weights: "
        f"max|diff|/max|w| = {difference:.1e} {'<=' if difference <= LIME_TOLERANCE else '>'} {LIME_TOLERANCE:g})"
    )
    print(
        f"breakdown: compiled tf.function at batch_size={LIME_DEFAULT_BATCH}: {small_seconds:.2f} s "
        f"({default_seconds / small_seconds:.2f}x from dropping model.predict's per-call setup, "
        f"{small_seconds / batched_seconds:.2f}x more from batches of {batch_size}); "
        f"one-time tracing {trace_seconds:.2f} s, not counted"
    )
    if difference > LIME_TOLERANCE:
        print(f"batched and default LIME weights differ by {difference:.1e} (> {LIME_TOLERANCE:g})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
