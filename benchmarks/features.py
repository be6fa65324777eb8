"""Batched filter maximization against the source's one-filter-at-a-time loop.

The source (``003_...``, after Chollet's keras.io example) visualises the
filters of ResNet50V2 ``conv3_block4_out`` one after the other: for each
filter index it runs its own gradient-ascent loop through a ``tf.function``
that takes the filter index as a Python int, so TensorFlow traces (compiles)
the step again for every filter. That loop is written out below as the
source has it; :func:`course_utils.features.maximize_filters` instead puts
all filters in one batch through one step traced once.

Both start from the same per-filter noise and take the same number of steps
with the same step size (the source's ``l2_normalize`` step of one image is
the library's per-image step), so the images must agree: each image must
still excite its own filter more than the other filters' images do, and the
two versions' images must be much closer to each other than two different
filters' images are (float rounding differs between a batch of one and a
batch of 64, and a random-weight ResNet amplifies it over the steps). One
line is printed for the issue::

    filters_batched: 5.0x faster

plus the times, trace counts and the check. A third timing runs the
library's traced-once step one filter at a time, which separates the two
gains: not retracing (a fixed cost per filter) and batching (a gain per
step). Because retracing is a fixed cost, the ratio shrinks with more steps
towards the batching gain alone; the last line projects it to 100 steps.

Usage::

    python benchmarks/features.py            # ResNet50V2 conv3_block4_out, 64 filters, 20 steps at 96x96
    python benchmarks/features.py --quick    # 16 filters of the shallow conv2_block1_out at 32x32 (a smoke test)

96x96 is the quick-mode canvas of notebook 07 (``settings().fv_image_size``);
the source loop then takes a bit over a minute on two cores.

Target on two CPU cores: at least 4x.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import argument_parser, threads, timed  # noqa: E402

from course_utils import config, features, models  # noqa: E402

TARGET = 4.0
#: Fraction of filters whose own image must excite them most, in both versions.
MIN_OWN_WINS = 0.9
#: Largest accepted ratio of (mean |batched - loop| image difference) to (mean
#: difference between the images of two different filters): the same images
#: up to rounding, not merely images of the same kind. At batch size 1 the
#: library reproduces the source loop bit for bit; a batch of 64 rounds
#: differently and 20 normalised steps amplify that to about 0.02.
MAX_RELATIVE_DIFFERENCE = 0.1


# --------------------------------------------------------------------------- the source's loop
def source_filter_loop(head: keras.Model, filters: list[int], steps: int, learning_rate: float, seed: int) -> np.ndarray:
    """The source's loop: one filter at a time, a ``tf.function`` retraced per Python int.

    ``learning_rate`` is the library's (grey levels per pixel, root mean
    square); the source's ``l2_normalize`` step of norm ``eta`` equals it for
    ``eta = learning_rate * sqrt(pixels)``.
    """

    def compute_loss(image, filter_index):
        activation = head(image)
        # border positions left out, as in the source (fewer on tiny maps, as in the library)
        rows = features._border(int(activation.shape[1]))
        cols = features._border(int(activation.shape[2]))
        inner = activation[:, rows : activation.shape[1] - rows, cols : activation.shape[2] - cols, filter_index]
        return tf.reduce_mean(inner)

    @tf.function
    def gradient_ascent_step(image, filter_index, step_size):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = compute_loss(image, filter_index)
        grads = tf.math.l2_normalize(tape.gradient(loss, image))
        return loss, image + step_size * grads

    size = int(head.inputs[0].shape[1])
    step_size = float(learning_rate * np.sqrt(size * size * 3))  # a Python float, as in the source
    images = []
    for filter_index in filters:
        image = tf.constant(features._initial_images([filter_index], size, seed, None))
        for _ in range(steps):
            _loss, image = gradient_ascent_step(image, filter_index, step_size)
        images.append(image[0].numpy())
    source_filter_loop.tracing_count = int(gradient_ascent_step.experimental_get_tracing_count())
    return features.deprocess(np.stack(images), crop=False)


def traced_once_loop(model: keras.Model, layer: str, filters: list[int], steps: int, learning_rate: float, size: int, seed: int) -> np.ndarray:
    """The library's compiled step, one filter at a time (batches of one)."""
    return features.maximize_filters(
        model, layer, filters, steps, learning_rate, image_size=size, seed=seed, batch_size=1, crop=False, progress=False
    ).images


# --------------------------------------------------------------------------- checks
def own_filter_wins(model: keras.Model, layer: str, images: np.ndarray, filters: list[int]) -> tuple[int, int]:
    """How many live filters respond most to their own image, and how many are live.

    A filter that gives exactly 0 on every image (a ReLU that never fires in a
    random-weight network) has no gradient and no winner; it is left out.
    """
    responses = features.filter_responses(model, layer, images, filters)
    live = np.abs(responses).max(axis=0) > 0
    wins = responses.argmax(axis=0) == np.arange(len(filters))
    return int(np.sum(wins & live)), int(np.sum(live))


def relative_difference(batched: np.ndarray, looped: np.ndarray) -> tuple[float, float]:
    """Mean |batched - loop| in grey levels, and that over the mean difference of neighbouring filters' images."""
    difference = float(np.abs(batched.astype(np.float64) - looped).mean())
    between = float(np.abs(batched[1:].astype(np.float64) - batched[:-1]).mean()) if len(batched) > 1 else 1.0
    return difference, difference / max(between, 1e-9)


def _where_the_gain_comes_from(model: keras.Model, layer: str, filters: list[int], args: argparse.Namespace, size: int,
                               steps: int, batched: np.ndarray, loop_seconds: float, batch_seconds: float) -> None:
    """The informative reference timings: batching alone, retracing alone, and a projection to 100 steps."""
    count = len(filters)
    # Where the gain comes from. Both reference runs reuse the compiled step,
    # so they time steps only: time = fixed + steps * per_step per version.
    _, warm_seconds = timed(
        lambda: features.maximize_filters(
            model, layer, filters, steps, args.learning_rate, image_size=size, seed=args.seed, progress=False
        )
    )
    singles, once_seconds = timed(lambda: traced_once_loop(model, layer, filters, steps, args.learning_rate, size, args.seed))
    retracing, trace = loop_seconds - once_seconds, max(batch_seconds - warm_seconds, 0.0)
    print(f"(reference) compiled step, one filter at a time: {once_seconds:.1f} s; one batch, already "
          f"traced: {warm_seconds:.1f} s -> batching alone {once_seconds / warm_seconds:.1f}x; retracing "
          f"costs the source loop {retracing:.1f} s ({retracing / count:.2f} s per filter)")
    floor, floor_relative = relative_difference(batched, singles)
    print(f"(reference) the same library step at batch size 1 vs 64 differs by {floor:.2f} grey levels "
          f"({floor_relative:.2f}): the rounding floor of the check above")
    projected = (retracing + 100 * once_seconds / steps) / (trace + 100 * warm_seconds / steps)
    print(f"(projection) at 100 steps the ratio would be about {projected:.1f}x: retracing is a fixed "
          "cost per filter, batching saves a share of every step")


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__, "a shallow layer, few filters, small images (a smoke test)")
    parser.add_argument("--filters", type=int, default=None, help="number of filters (default 64; 16 with --quick)")
    parser.add_argument("--steps", type=int, default=None, help="ascent steps (default 20; 10 with --quick)")
    parser.add_argument("--size", type=int, default=None, help="image side (default 96; 32 with --quick)")
    parser.add_argument("--learning-rate", type=float, default=3.0, help="grey levels per pixel and step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-traced-once-loop", action="store_true", help="skip the informative third timing")
    args = parser.parse_args(argv)

    config.seed_everything(args.seed)  # the same random weights on every run
    # Random weights: the timings do not depend on them, and the run needs no download.
    model = models.imagenet_model("resnet50v2", weights=None)
    layer, size, count, steps = ("conv2_block1_out", 32, 16, 10) if args.quick else ("conv3_block4_out", 96, 64, 20)
    size, count, steps = args.size or size, args.filters or count, args.steps or steps
    description = f"resnet50v2 {layer} (random weights)"
    filters = list(range(count))
    head = features.layer_head(model, layer, size)
    print(f"features benchmark: {description}, {count} filters, {steps} steps at {size}x{size}, "
          f"{threads()} threads", flush=True)

    looped, loop_seconds = timed(lambda: source_filter_loop(head, filters, steps, args.learning_rate, args.seed))
    print(f"source loop (one filter at a time, tf.function retraced per filter index): {loop_seconds:.1f} s, "
          f"{source_filter_loop.tracing_count} traces", flush=True)
    batched, batch_seconds = timed(
        lambda: features.maximize_filters(
            model, layer, filters, steps, args.learning_rate, image_size=size, seed=args.seed, crop=False, progress=False
        ).images
    )
    traces = features.tracing_counts(model)[f"ascent:channel({layer})+l2+total_variation@{size}"]
    print(f"batched (all filters in one batch, one step function): {batch_seconds:.1f} s, {traces} trace(s)", flush=True)
    loop_wins, loop_live = own_filter_wins(model, layer, looped, filters)
    batch_wins, batch_live = own_filter_wins(model, layer, batched, filters)
    difference, relative = relative_difference(batched, looped)
    print(f"check: own filter wins (source loop) {loop_wins}/{loop_live}, (batched) {batch_wins}/{batch_live} "
          f"live filters; mean |batched - loop| = {difference:.2f} grey levels, {relative:.2f} of the difference "
          f"between two filters' images (<= {MAX_RELATIVE_DIFFERENCE})")
    ratio = loop_seconds / batch_seconds
    print(f"filters_batched: {ratio:.1f}x faster (target {TARGET:.0f}x: {'met' if ratio >= TARGET else 'NOT met'})")

    if not args.skip_traced_once_loop:
        _where_the_gain_comes_from(model, layer, filters, args, size, steps, batched, loop_seconds, batch_seconds)
    ok = (
        batch_live > 0
        and batch_wins >= MIN_OWN_WINS * batch_live
        and loop_wins >= MIN_OWN_WINS * loop_live
        and relative <= MAX_RELATIVE_DIFFERENCE
    )
    if not ok:
        print("error: the batched images do not match the source loop's (see the check line)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
