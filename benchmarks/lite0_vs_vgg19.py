"""EfficientNet-Lite0 against VGG19 on the same work: what the offline ImageNet model saves, method by method.

Quick and cpu mode explain EfficientNet-Lite0 (4.7 M parameters, about
0.4 GFLOPs per 224x224 image) where full mode explains VGG19 (144 M, about
20 GFLOPs). This script runs every method of the course on both, on the
same course photos at 224 px, float32 and bfloat16, and prints seconds and
the ratio VGG19 / Lite0 in one run::

    method                         VGG19 s   Lite0 s   ratio
    forward, 64 images              ...

Both models are built with random weights (``weights=None``): the work, and
so the time, does not depend on the values of the weights, and VGG19's
cannot be downloaded offline. Each time is the median of ``--repeats`` runs
after one untimed warm-up (which also compiles).

Usage::

    python benchmarks/lite0_vs_vgg19.py                 # the papers' sizes: LIME 1000 samples, IG 50 steps, ...
    python benchmarks/lite0_vs_vgg19.py --quick         # tiny sizes, float32 only: a smoke test
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _common import argument_parser, default_repeats, median_seconds  # noqa: E402

from course_utils import attributions, data, explainers, metrics, models  # noqa: E402

#: Work per method at the papers' sizes (what cpu mode can now afford on Lite0) and in a smoke test.
SIZES = {
    "full": dict(forward=64, ig_steps=50, smoothgrad=50, occlusion=(32, 16), lime=1000, shap=50, fractions=21),
    "quick": dict(forward=4, ig_steps=4, smoothgrad=2, occlusion=(112, 112), lime=20, shap=2, fractions=3),
}

#: A cut in the middle of each network for SHAP at an inner layer (notebook 05's deep layer).
SHAP_LAYERS = {"vgg19": "block4_conv4", "efficientnet_lite0": "block5c_out"}


def workloads(model: Any, photos: np.ndarray, sizes: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """Each method of the course as a call on ``model`` (the same calls for both models)."""
    one, four = photos[:1], photos[:4]
    forward = np.resize(photos, (sizes["forward"], *photos.shape[1:]))
    patch, stride = sizes["occlusion"]
    fractions = np.linspace(0, 1, sizes["fractions"])
    background = photos[-4:]
    name = model.name.removesuffix("_bfloat16")
    shap = explainers.GradientLayerExplainer(model, SHAP_LAYERS[name], background)
    cams = attributions.grad_cam(model, four)
    return {
        f"forward, {len(forward)} images": lambda: model.predict(forward, batch_size=32, verbose=0),
        "Grad-CAM, 4 images": lambda: attributions.grad_cam(model, four),
        f"IG, {sizes['ig_steps']} steps, 1 image": lambda: attributions.integrated_gradients(
            model, one, steps=sizes["ig_steps"], baseline="black"
        ),
        f"SmoothGrad, {sizes['smoothgrad']} samples, 1 image": lambda: attributions.smoothgrad(
            model, one, samples=sizes["smoothgrad"], seed=0
        ),
        f"occlusion, {patch} px at stride {stride}, 1 image": lambda: attributions.occlusion_sensitivity(
            model, one, patch=patch, stride=stride
        ),
        f"LIME, {sizes['lime']} samples, 1 image": lambda: explainers.lime_explanation(
            model, one[0], top_labels=1, num_samples=sizes["lime"], batch_size=64, seed=0, progress=False
        ),
        f"SHAP at a middle block, {sizes['shap']} samples, 1 image": lambda: shap.explain(
            one, ranked_outputs=1, nsamples=sizes["shap"]
        ),
        f"deletion + insertion, {sizes['fractions']} points, 4 images": lambda: (
            metrics.deletion_curve(model, four, cams, fractions=fractions, score="logit"),
            metrics.insertion_curve(model, four, cams, fractions=fractions, score="logit"),
        ),
    }


def main() -> int:
    parser = argument_parser(__doc__, "tiny sizes, float32 only: a smoke test", repeats=True)
    args = parser.parse_args()
    sizes = SIZES["quick" if args.quick else "full"]
    repeats = default_repeats(args)
    photos = np.stack(list(data.course_photos(224).values()))
    precisions = ("float32",) if args.quick else ("float32", "bfloat16")
    print(f"EfficientNet-Lite0 against VGG19, {len(photos)} course photos at 224 px, median of {repeats} run(s)")
    for precision in precisions:
        vgg = models.imagenet_model("vgg19", weights=None, precision=precision)
        lite = models.imagenet_model("efficientnet_lite0", weights=None, precision=precision)
        print(f"\n{precision}: VGG19 {vgg.count_params():,} parameters, Lite0 {lite.count_params():,}")
        print(f"{'method':<48} {'VGG19 s':>9} {'Lite0 s':>9} {'ratio':>7}")
        heavy, light = workloads(vgg, photos, sizes), workloads(lite, photos, sizes)
        for method in heavy:
            seconds_vgg = median_seconds(heavy[method], repeats)
            seconds_lite = median_seconds(light[method], repeats)
            print(f"{method:<48} {seconds_vgg:9.3f} {seconds_lite:9.3f} {seconds_vgg / seconds_lite:6.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
