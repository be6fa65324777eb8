"""How much of the two heaviest full-mode calls is the method's own work.

In full mode on two CPU cores, notebook 07 spends about 80 % of its time in
one cell (``features.maximize_filters`` at three depths of ResNet50V2, 64
filters x 100 steps each) and notebook 05 most of its time in
``GradientLayerExplainer.explain`` (SHAP's expected gradients at
``block2_pool`` and ``block4_conv3`` of VGG16). Neither can be made cheaper
without changing the method, unless the course adds work around it. This
script measures that: each call against the bare computation it cannot avoid,

* feature visualization: one compiled function doing exactly one ascent step
  (forward to the layer, the gradient of the filters' mean activations with
  respect to the pixels, the normalised step), called ``steps`` times;
* SHAP: one compiled function of the tail's gradient for one class, called on
  the same number of interpolated activations (``nsamples`` per image and
  class) in the same batches;

same model, sizes and batch. One line per call::

    maximize_filters conv4_block6_out: 1.04x the bare ascent (0.51 s vs 0.49 s; 8 filters x 5 steps at 128 px)

A ratio near 1 means the time is the method's; what is above 1 is the
course's (or the library's) bookkeeping: starting images, per-image
transforms, deprocessing; for SHAP, shap's sampling loop in NumPy, its own
forward pass to rank the classes, and the explainer's head and tail passes.
One-time costs (tracing) are paid before timing.

Usage::

    python benchmarks/overhead.py            # ResNet50V2 and VGG16 at 224 px (random weights): a few minutes
    python benchmarks/overhead.py --quick    # the course CNN architecture at 64 px: seconds (a smoke test)
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import argument_parser, default_repeats, median_seconds  # noqa: E402

from course_utils import explainers, features, models  # noqa: E402


def filters_overhead(model: keras.Model, layer: str, count: int, steps: int, size: int, repeats: int) -> tuple[float, float]:
    """Seconds of ``maximize_filters`` and of the bare compiled ascent step loop, same filters, steps and size."""
    head = features.layer_head(model, layer, size)
    filters = list(range(count))
    border = 2 if int(head.outputs[0].shape[1]) > 4 else 0

    @tf.function(input_signature=[tf.TensorSpec((None, size, size, 3)), tf.TensorSpec((None,), tf.int32)])
    def bare_step(images, targets):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(images)
            activations = head(images, training=False)
            inner = activations[:, border : activations.shape[1] - border, border : activations.shape[2] - border]
            own = tf.gather(inner, targets, axis=3, batch_dims=1)
            total = tf.reduce_sum(tf.reduce_mean(own, axis=[1, 2]))
        gradients = tape.gradient(total, images)
        rms = tf.sqrt(tf.reduce_mean(tf.square(gradients), axis=[1, 2, 3], keepdims=True))
        return images + 3.0 * gradients / tf.maximum(rms, 1e-30)

    start = tf.constant(np.random.default_rng(0).uniform(111.5, 143.5, (count, size, size, 3)).astype(np.float32))
    targets = tf.constant(filters, tf.int32)

    def bare() -> np.ndarray:
        images = start
        for _ in range(steps):
            images = bare_step(images, targets)
        return images.numpy()

    def course() -> np.ndarray:
        return features.maximize_filters(model, layer, filters, steps=steps, image_size=size, crop=False, progress=False).images

    return median_seconds(course, repeats), median_seconds(bare, repeats)


def shap_overhead(
    model: keras.Model, layer: str, images: np.ndarray, background: np.ndarray, ranked: int, nsamples: int, repeats: int
) -> tuple[float, float]:
    """Seconds of ``GradientLayerExplainer.explain`` and of the bare tail gradients it needs, same samples and batches."""
    explainer = explainers.GradientLayerExplainer(model, layer, background)
    tail, batch = explainer.tail, explainer.batch_size

    @tf.function(input_signature=[tf.TensorSpec((None, *explainer.layer_shape)), tf.TensorSpec((), tf.int32)])
    def bare_gradient(activations, class_index):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(activations)
            score = tf.gather(tf.cast(tail(activations, training=False), tf.float32), class_index, axis=1)
        return tape.gradient(score, activations)

    points = np.repeat(explainer.background_activations[:1], nsamples, axis=0)

    def bare() -> None:
        for _ in range(len(images) * ranked):  # one class of one image at a time, as shap does
            for first in range(0, nsamples, batch):
                bare_gradient(points[first : first + batch], tf.constant(0)).numpy()

    def course() -> None:
        explainer.explain(images, ranked_outputs=ranked, nsamples=nsamples, seed=0)

    return median_seconds(course, repeats), median_seconds(bare, repeats)


def main() -> int:
    parser = argument_parser(__doc__, "the course CNN architecture at 64 px: a smoke test", repeats=True)
    args = parser.parse_args()
    repeats = default_repeats(args)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if args.quick:
        resnet = vgg = models.horses_humans_cnn(64)
        filter_layers, shap_layers = ["block1_conv2", "block3_conv2"], ["block2_pool"]
        count, steps, size, ranked, nsamples, pixels = 4, 3, 64, 2, 8, 64
    else:
        resnet = models.imagenet_model("resnet50v2", weights=None)
        vgg = models.imagenet_model("vgg16", weights=None)
        filter_layers, shap_layers = ["conv2_block3_out", "conv3_block4_out", "conv4_block6_out"], ["block2_pool", "block4_conv3"]
        count, steps, size, ranked, nsamples, pixels = 8, 10, 224, 2, 50, 224
    for layer in filter_layers:
        course, bare = filters_overhead(resnet, layer, count, steps, size, repeats)
        print(
            f"maximize_filters {layer}: {course / bare:.2f}x the bare ascent ({course:.2f} s vs {bare:.2f} s; "
            f"{count} filters x {steps} steps at {size} px)",
            flush=True,
        )
    images = rng.uniform(0, 255, (2, pixels, pixels, 3)).astype(np.float32)
    background = rng.uniform(0, 255, (4, pixels, pixels, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't match")
        for layer in shap_layers:
            course, bare = shap_overhead(vgg, layer, images, background, ranked, nsamples, repeats)
            print(
                f"SHAP explain {layer}: {course / bare:.2f}x the bare tail gradients ({course:.2f} s vs {bare:.2f} s; "
                f"{len(images)} images x {ranked} classes x {nsamples} samples)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
