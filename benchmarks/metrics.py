"""Batched deletion curves against the one-image, one-fraction loop.

A deletion curve asks the model about ``N x F`` modified images (``N``
images, ``F`` fractions). The obvious implementation, and the one most
papers' reference code follows, builds each modified image in NumPy and
calls the model on it alone. ``metrics.deletion_curve`` instead builds the
modified images inside one compiled function, from the image, the fill and
the pixel ranks, and sends them through the network in batches of every
(image, fraction) pair, traced once per input shape.

Both compute the same scores (checked: the largest difference must stay
below float32 round-off of the logits). One line is printed::

    deletion_batched: 9.1x faster (loop: 16 images x 21 fractions one at a time ...)

Usage::

    python benchmarks/metrics.py            # the course CNN at 150x150 (random weights), 32 images, 21 fractions
    python benchmarks/metrics.py --quick    # 64x64, 4 images, 11 fractions: seconds (a smoke test)
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import argument_parser, timed  # noqa: E402

from course_utils import metrics, models  # noqa: E402

#: Largest accepted |batched - loop| relative to the largest |score|: float32 round-off.
TOLERANCE = 1e-4


def _loop_deletion(model: keras.Model, images: np.ndarray, maps: np.ndarray, fills: np.ndarray,
                   fractions: np.ndarray) -> np.ndarray:
    """The reference loop: rank in NumPy, build one modified image, call the model on it, read the margin."""
    logits = models.logits_model(model)
    n, height, width = maps.shape
    scores = np.empty((n, len(fractions)), dtype=np.float32)
    for i in range(n):
        order = np.argsort(-maps[i].reshape(-1), kind="stable")
        clean = logits(images[i][None], training=False).numpy()[0]
        target = int(np.argmax(clean))
        for j, fraction in enumerate(fractions):
            modified = images[i].reshape(-1, 3).copy()
            removed = order[: int(np.rint(fraction * height * width))]
            modified[removed] = fills[i].reshape(-1, 3)[removed]
            z = logits(modified.reshape(1, height, width, 3), training=False).numpy()[0]
            scores[i, j] = z[target] - np.max(np.delete(z, target))
    return scores


def main() -> int:
    parser = argument_parser(__doc__, "small sizes: a smoke test of seconds")
    args = parser.parse_args()
    size, count, points = (64, 4, 11) if args.quick else (150, 32, 21)
    keras.utils.set_random_seed(0)
    model = models.horses_humans_cnn(size)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (count, size, size, 3)).astype(np.float32)
    maps = metrics.random_map(model, images, seed=1)
    fractions = np.linspace(0.0, 1.0, points)
    fills = metrics.fill_images(images, "blur")

    # One-time costs (tracing, the logits model) are paid before timing, for both.
    metrics.deletion_curve(model, images[:1], maps[:1], fractions=fractions, score="margin")
    _loop_deletion(model, images[:1], maps[:1], fills[:1], fractions[:2])

    (_, batched), batched_seconds = timed(
        lambda: metrics.deletion_curve(model, images, maps, fractions=fractions, score="margin")
    )
    looped, loop_seconds = timed(lambda: _loop_deletion(model, images, maps, fills, fractions))

    difference = float(np.abs(batched - looped).max() / max(np.abs(looped).max(), 1e-12))
    print(f"model: horses_humans_cnn {size}x{size} (random weights), {count} images x {points} fractions, fill=blur, score=margin")
    print(
        f"deletion_batched: {loop_seconds / batched_seconds:.1f}x faster (loop: {count * points} model calls "
        f"one image at a time, {loop_seconds:.2f} s; batched: {batched_seconds:.2f} s); "
        f"max|diff|/max|score| = {difference:.1e} <= {TOLERANCE:g}"
    )
    if not difference <= TOLERANCE:
        print("error: the batched curves disagree with the loop", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
