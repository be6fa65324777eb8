"""The course's methods against the libraries a practitioner would otherwise call, in one run.

Peers, on the same model, images, classes and sizes:

* **tf-keras-vis** (``Gradcam``, ``Saliency`` with ``smooth_samples``,
  ``ActivationMaximization``), the Keras visualization toolkit;
* **lime** as its README uses it: ``lime_image.LimeImageExplainer`` with
  ``model.predict`` as the classifier and its default batch of 10;
* **xplique** (``GradCAM``, ``SmoothGrad``, ``IntegratedGradients``) where it
  is importable: it needs tensorflow-probability and tf-keras (Keras 2), which
  do not install beside Keras 3, so here it is usually reported as skipped.

Each method is timed after an untimed warm-up (tracing, kernel selection),
course and peer interleaved, median of ``--repeats`` runs. One line per pair::

    Grad-CAM        course 0.31 s  tf-keras-vis 1.02 s  3.29x  rank correlation 0.9990

The ratio is peer time / course time (above 1: the course is faster). The
agreement column checks that both computed the same thing, as the median over
images of a Spearman rank correlation: Grad-CAM's maps at the layer's
resolution (the two upsample differently), SmoothGrad's ``max_c |gradient|``
without noise (with noise, the draws differ: that number is shown, not
judged), IG's maps; LIME's superpixel weights with the same segmentation and
seed must be equal up to float32 round-off; for activation maximization both
must raise the filter's activation above grey. That row compares time for the
same number of forward and backward passes through the same layers; the
optimisers differ (the course's normalised ascent, tf-keras-vis' Adam), so the
activations reached are shown, not compared. A pair that fails its check makes
the script exit 1.

Usage::

    python benchmarks/peers.py            # VGG19 at 224 px (random weights), 2 images
    python benchmarks/peers.py --quick    # the course CNN architecture at 64 px: seconds (a smoke test)
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import LIME_DEFAULT_BATCH, LIME_TOLERANCE, argument_parser, default_repeats, lime_default, timed  # noqa: E402

from course_utils import attributions, explainers, features, metrics, models  # noqa: E402

#: Smallest median rank correlation accepted where course and peer compute the same definition.
SAME_DEFINITION = 0.98


def _interleaved(runs: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, Any], dict[str, float]]:
    """Each run's result and median seconds, the runs taking turns so that machine noise hits all alike."""
    results = {name: run() for name, run in runs.items()}  # warm-up: tracing and first calls, untimed
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            results[name], elapsed = timed(run)
            seconds[name].append(elapsed)
    return results, {name: float(np.median(values)) for name, values in seconds.items()}


class Report:
    """Collects and prints the rows; remembers whether an agreement check failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def row(self, method: str, peer: str, course_s: float, peer_s: float, agreement: str, ok: bool = True) -> None:
        print(
            f"{method:<24} course {course_s:7.2f} s  {peer:<12} {peer_s:7.2f} s  {peer_s / course_s:5.2f}x  {agreement}",
            flush=True,
        )
        if not ok:
            self.failed.append(f"{method} vs {peer}: {agreement}")

    def skipped(self, peer: str, reason: str) -> None:
        print(f"{peer}: skipped ({reason})", flush=True)


def _median_rho(a: Any, b: Any) -> float:
    return float(np.median(metrics.rank_correlation(np.asarray(a), np.asarray(b))))


def _tf_keras_vis(
    report: Report, model: keras.Model, images: np.ndarray, classes: np.ndarray, sizes: dict, repeats: int
) -> None:
    try:  # every part the three comparisons use
        from tf_keras_vis.activation_maximization import ActivationMaximization  # noqa: F401
        from tf_keras_vis.gradcam import Gradcam  # noqa: F401
        from tf_keras_vis.saliency import Saliency  # noqa: F401
        from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer, ReplaceToLinear  # noqa: F401
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError as error:
        report.skipped("tf-keras-vis", f"not installed: {error}; pip install tf-keras-vis")
        return
    score = CategoricalScore([int(c) for c in classes])
    _tf_keras_vis_grad_cam(report, model, images, classes, score, repeats)
    _tf_keras_vis_smoothgrad(report, model, images, classes, score, sizes["smoothgrad_samples"], repeats)
    _tf_keras_vis_filters(report, model, sizes, repeats)


def _tf_keras_vis_grad_cam(
    report: Report, model: keras.Model, images: np.ndarray, classes: np.ndarray, score: Any, repeats: int
) -> None:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    layer = models.last_conv_layer(model)
    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    results, seconds = _interleaved(
        {
            "course": lambda: attributions.grad_cam(model, images, class_index=classes, layer=layer),
            "peer": lambda: gradcam(score, images, penultimate_layer=layer),
        },
        repeats,
    )
    # Both compute the same layer map; they upsample it differently (scipy zoom, aligned corners, against
    # bilinear resize), which alone moves the rank correlation of the full-size maps to ~0.96. So the
    # check compares tf-keras-vis' map at the layer's resolution, upsampled the course's way.
    at_layer = gradcam(score, images, penultimate_layer=layer, expand_cam=False)
    upsampled = tf.image.resize(np.asarray(at_layer)[..., None], images.shape[1:3]).numpy()[..., 0]
    rho = _median_rho(results["course"], upsampled)
    report.row(
        "Grad-CAM",
        "tf-keras-vis",
        seconds["course"],
        seconds["peer"],
        f"rank correlation {rho:.4f} (same layer map; {_median_rho(results['course'], results['peer']):.2f} after each upsamples its own way)",
        rho >= SAME_DEFINITION,
    )


def _tf_keras_vis_smoothgrad(
    report: Report, model: keras.Model, images: np.ndarray, classes: np.ndarray, score: Any, samples: int, repeats: int
) -> None:
    from tf_keras_vis.saliency import Saliency

    # Both differentiate the model's output (the softmax probability), as attributions.smoothgrad does.
    saliency = Saliency(model, clone=False)
    results, seconds = _interleaved(
        {
            "course": lambda: attributions.smoothgrad(
                model, images, class_index=classes, samples=samples, noise=0.15, seed=0
            ),
            # tf-keras-vis draws noise of std smooth_noise * (max - min) of each image, as the course does.
            "peer": lambda: saliency(score, images, smooth_samples=samples, smooth_noise=0.15, normalize_map=False),
        },
        repeats,
    )
    noisy = _median_rho(np.abs(results["course"]).max(axis=-1), results["peer"])
    # The noise draws differ, so the definition is checked without noise: the plain gradients must match.
    plain_course = np.abs(attributions.vanilla_gradients(model, images, class_index=classes)).max(axis=-1)
    plain = _median_rho(plain_course, saliency(score, images, normalize_map=False))
    report.row(
        f"SmoothGrad ({samples})",
        "tf-keras-vis",
        seconds["course"],
        seconds["peer"],
        f"rank correlation of max|grad| {plain:.4f} without noise ({noisy:.2f} with independent noise draws)",
        plain >= SAME_DEFINITION,
    )


def _tf_keras_vis_filters(report: Report, model: keras.Model, sizes: dict, repeats: int) -> None:
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer
    from tf_keras_vis.utils.scores import CategoricalScore

    fv_layer, filters, steps = sizes["fv_layer"], sizes["fv_filters"], sizes["fv_steps"]
    size = int(model.inputs[0].shape[1])  # tf-keras-vis optimises at the model's own input size
    maximization = ActivationMaximization(model, model_modifier=ExtractIntermediateLayer(fv_layer), clone=True)
    grey = np.full((1, size, size, 3), 127.5, np.float32)

    def peer_filters() -> np.ndarray:
        # The bare ascent on both sides: grey plus small noise, no input modifiers, no regularizers.
        seeds = grey + np.random.default_rng(0).uniform(-16, 16, (len(filters), size, size, 3)).astype(np.float32)
        return np.asarray(
            maximization(
                CategoricalScore(list(filters)),
                seed_input=seeds,
                steps=steps,
                input_modifiers=[],
                regularizers=[],
                callbacks=[],
                input_range=(None, None),
            )
        )

    results, seconds = _interleaved(
        {
            "course": lambda: features.visualize(
                model, features.channel(fv_layer), filters, steps=steps, image_size=size
            ),
            "peer": peer_filters,
        },
        repeats,
    )
    reached = {
        name: features.filter_responses(model, fv_layer, found, filters).diagonal().mean()
        for name, found in results.items()
    }
    start = features.filter_responses(model, fv_layer, grey, filters)[0].mean()
    report.row(
        f"filters ({len(filters)}x{steps} steps)",
        "tf-keras-vis",
        seconds["course"],
        seconds["peer"],
        f"mean activation reached: course {reached['course']:.3g}, tf-keras-vis {reached['peer']:.3g} (grey {start:.3g})",
        min(reached.values()) > start,
    )


def _plain_lime(report: Report, model: keras.Model, images: np.ndarray, sizes: dict, repeats: int) -> None:
    """lime_image with ``model.predict`` and its default batch of 10 (benchmarks/explainers.py's baseline)."""
    image, samples = images[0], sizes["lime_samples"]
    labels = [int(np.argmax(keras.ops.convert_to_numpy(model(image[None]))[0]))]

    def peer() -> dict[int, np.ndarray]:
        predict = lambda pixels: model.predict(pixels, verbose=0)  # noqa: E731 (as lime's README passes it)
        return lime_default(model, image, labels, samples, 0, predict, LIME_DEFAULT_BATCH)

    def course() -> dict[int, np.ndarray]:
        return explainers.lime_explanation(
            model,
            image,
            labels=labels,
            top_labels=1,
            num_samples=samples,
            batch_size=sizes["lime_batch_size"],
            seed=0,
            class_names=[str(i) for i in range(int(model.outputs[0].shape[-1]))],
            progress=False,
        ).weights

    results, seconds = _interleaved({"course": course, "peer": peer}, repeats)
    label = labels[0]
    scale = float(np.abs(results["peer"][label]).max()) or 1.0
    difference = float(np.abs(results["course"][label] - results["peer"][label]).max()) / scale
    report.row(
        f"LIME ({samples} samples)",
        "lime",
        seconds["course"],
        seconds["peer"],
        f"same weights: max|diff|/max|w| = {difference:.1e}",
        difference <= LIME_TOLERANCE,
    )


def _xplique(
    report: Report, model: keras.Model, images: np.ndarray, classes: np.ndarray, sizes: dict, repeats: int
) -> None:
    try:
        from xplique.attributions import GradCAM, IntegratedGradients, SmoothGrad
    except Exception as error:  # ImportError, or tensorflow-probability failing on Keras 3
        report.skipped("xplique", f"not importable beside Keras {keras.__version__}: {type(error).__name__}: {error}")
        return
    targets = np.eye(int(model.outputs[0].shape[-1]), dtype=np.float32)[classes]
    layer = models.last_conv_layer(model)
    steps, samples = sizes["ig_steps"], sizes["smoothgrad_samples"]
    # Each peer differentiates what the course's call differentiates: Grad-CAM the logit (use_logits=True),
    # IG and SmoothGrad the model's output, the softmax probability.
    pairs = {
        "Grad-CAM": (
            lambda: attributions.grad_cam(model, images, class_index=classes, layer=layer),
            GradCAM(models.logits_model(model), conv_layer=layer),
            SAME_DEFINITION,
        ),
        f"IG ({steps} steps)": (
            lambda: attributions.integrated_gradients(
                model, images, class_index=classes, baseline="black", steps=steps
            ),
            # xplique's `steps` counts points, the course's intervals: steps + 1 points is the same
            # trapezoidal rule on both sides (with 32 points against 33 the maps differ by the quadrature alone).
            IntegratedGradients(model, steps=steps + 1, baseline_value=0.0),
            SAME_DEFINITION,
        ),
        f"SmoothGrad ({samples})": (
            lambda: attributions.smoothgrad(model, images, class_index=classes, samples=samples, noise=0.15, seed=0),
            SmoothGrad(model, nb_samples=samples, noise=0.15 * 255.0),
            None,  # independent noise draws: shown, not judged
        ),
    }
    for method, (course, explainer, bar) in pairs.items():
        results, seconds = _interleaved(
            {"course": course, "peer": lambda e=explainer: np.asarray(e.explain(images, targets))}, repeats
        )
        course_map, peer_map = _pixel_map(results["course"]), _pixel_map(results["peer"])
        rho = float(np.median(metrics.rank_correlation(course_map, peer_map, absolute=bar is None)))
        text = f"rank correlation {rho:.4f}"
        if bar is None:
            text = f"rank correlation of |map| {rho:.4f} (independent noise draws)"
        report.row(method, "xplique", seconds["course"], seconds["peer"], text, bar is None or rho >= bar)


def _pixel_map(maps: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` from maps with or without a channel axis (xplique may reduce or keep the colour channels)."""
    maps = np.asarray(maps)
    return maps.sum(axis=-1) if maps.ndim == 4 else maps


def main() -> int:
    parser = argument_parser(__doc__, "the course CNN architecture at 64 px, tiny sizes: seconds", repeats=True)
    args = parser.parse_args()
    repeats = default_repeats(args)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if args.quick:
        model = models.horses_humans_cnn(64)
        images = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
        sizes = dict(
            smoothgrad_samples=4,
            ig_steps=8,
            lime_samples=40,
            lime_batch_size=20,
            fv_layer="block2_conv2",
            fv_filters=[0, 1],
            fv_steps=4,
        )
        description = "the course CNN architecture at 64 px, random weights"
    else:
        from course_utils import data, image_io

        model = models.imagenet_model("vgg19", weights=None)
        photos = data.sample_images()
        images = np.stack([image_io.center_square(photos[name], 224) for name in ("cat", "coffee")]).astype(np.float32)
        sizes = dict(
            smoothgrad_samples=16,
            ig_steps=32,
            lime_samples=300,
            lime_batch_size=64,
            fv_layer="block3_conv1",
            fv_filters=[0, 1, 2, 3],
            fv_steps=20,
        )
        description = "VGG19 at 224 px, random weights"
    classes = np.argmax(keras.ops.convert_to_numpy(model(images)), axis=1)
    print(f"{description}: {len(images)} images, median of {repeats} run(s); ratio = peer s / course s", flush=True)
    # tf-keras-vis hands single-input models a one-element list; Keras warns on every call, harmlessly.
    warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't match")
    report = Report()
    _tf_keras_vis(report, model, images, classes, sizes, repeats)
    _plain_lime(report, model, images, sizes, repeats)
    _xplique(report, model, images, classes, sizes, repeats)
    if report.failed:
        print("results disagree: " + "; ".join(report.failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
