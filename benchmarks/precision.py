"""float32 against bfloat16, method by method: time, ratio, and whether the explanations agree.

``models.with_precision(model, "bfloat16")`` runs the convolutions and dense
layers in bfloat16 (Keras' ``mixed_bfloat16`` policy): on CPUs with AVX-512
BF16 (and on GPUs) a forward pass takes about half the time, while bfloat16
keeps only 8 bits of mantissa. Whether that is good enough depends on the
method: forward-only methods (LIME, occlusion, deletion curves) compare
scores of whole images, gradient methods read the derivative of a rounded
computation. This script measures both, in one run, on the same model,
images and seeds:

    method        float32 s  bfloat16 s  ratio  agreement
    forward x64      5.61       2.88     1.95x  max |p32 - p16| = 0.004
    Grad-CAM          ...

Agreement is the median over images of the Spearman rank correlation of the
two maps (what a reader of a heatmap compares: the order of the pixels),
LIME's superpixel weights with the same seed, the relative change of
deletion-curve areas, and IG's completeness error in each precision. A
method may use bfloat16 where the rank correlation is at least
``AGREEMENT`` (0.99), or for the deletion and insertion curves (blurred fill,
logit margin, as in notebook 08) where their areas move by at most
``AUC_CHANGE`` (1 %). Agreement depends on the model, so each model gets its
own verdict lines. ``config.settings().forward_precision`` is used where a
forward-only method agrees on the model a notebook runs it on: LIME on VGG19
(notebook 03), occlusion, LIME and the deletion and insertion curves on the
trained course CNN (notebook 08).

Usage::

    python benchmarks/precision.py           # VGG19 (random weights) at 224 and, if trained, the course CNN
    python benchmarks/precision.py --quick   # the course CNN architecture at 32 px: seconds (a smoke test)
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import argument_parser, default_repeats, median_timed  # noqa: E402

from course_utils import attributions, explainers, metrics, models  # noqa: E402

#: Rank correlation from which a method may run in bfloat16.
AGREEMENT = 0.99
#: Largest median relative change of the deletion and insertion areas with which the curves may run in bfloat16.
AUC_CHANGE = 0.01


def _median_rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.median(metrics.rank_correlation(a, b)))


# --------------------------------------------------------------------------- judges: (verdict or None, text)
def _maps_agree(a: np.ndarray, b: np.ndarray) -> tuple[bool, str]:
    rho = _median_rank_correlation(a, b)
    return rho >= AGREEMENT, f"rank correlation {rho:.4f}"


def _scores_agree(a: np.ndarray, b: np.ndarray) -> tuple[None, str]:
    same_top = float(np.mean(a.argmax(1) == b.argmax(1)))
    return None, f"max |p32 - p16| = {np.abs(a - b).max():.4f}, same top class {same_top:.0%}"


def _auc_agree(a: np.ndarray, b: np.ndarray) -> tuple[bool, str]:
    change = np.median(np.abs(a - b) / np.maximum(np.abs(a), 1e-12), axis=1)
    return bool(change.max() <= AUC_CHANGE), f"AUC changes by {change[0]:.2%} (deletion), {change[1]:.2%} (insertion), median"


def _weights_agree(a: np.ndarray, b: np.ndarray) -> tuple[bool, str]:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:  # a flat surrogate (few samples, an untrained model)
        return False, "the weights are all equal in one precision: no ranking to compare"
    rho = float(spearmanr(a, b).statistic)
    top_a, top_b = set(np.argsort(-a)[:5]), set(np.argsort(-b)[:5])
    return rho >= AGREEMENT, f"weights rank correlation {rho:.4f}, top-5 superpixels shared {len(top_a & top_b)}/5"


# --------------------------------------------------------------------------- the comparison


def compare(model32: keras.Model, images: np.ndarray, quick: bool, repeats: int) -> list[tuple[str, float, float, bool | None, str]]:
    """Rows ``(method, float32 s, bfloat16 s, agrees (None: no verdict), agreement text)``."""
    model16 = models.with_precision(model32, "bfloat16")
    size = images.shape[1]
    steps, samples, lime_samples = (8, 4, 40) if quick else (32, 16, 300)
    patch = max(4, size // 7)
    layer = models.last_conv_layer(model32)
    rows = []

    def pair(name: str, run: Callable[[keras.Model], Any], judge: Callable[[Any, Any], tuple[bool | None, str]]) -> None:
        out32, t32 = median_timed(lambda: run(model32), repeats)
        out16, t16 = median_timed(lambda: run(model16), repeats)
        agreement, text = judge(out32, out16)
        rows.append((name, t32, t16, agreement, text))
        print(f"  {name:<28} {t32:8.2f} {t16:10.2f} {t32 / t16:6.2f}x  {text}", flush=True)

    batch = np.repeat(images, max(1, 64 // len(images)), axis=0)[:64]

    def forward(model: keras.Model) -> np.ndarray:
        return explainers.batched_predict(model, 32)(batch)

    print(f"  {'method':<28} {'float32 s':>8} {'bfloat16 s':>10} {'ratio':>7}  agreement", flush=True)
    pair(f"forward x{len(batch)}", forward, _scores_agree)
    pair("Grad-CAM", lambda m: attributions.grad_cam(m, images, layer=layer), _maps_agree)
    def completeness_agree(a: np.ndarray, b: np.ndarray) -> tuple[bool, str]:
        rho = _median_rank_correlation(a, b)
        gap32 = np.median(attributions.completeness(model32, images, a)["relative_error"])
        gap16 = np.median(attributions.completeness(model16, images, b)["relative_error"])
        return rho >= AGREEMENT, f"rank correlation {rho:.4f}; completeness error {gap32:.3g} (float32) vs {gap16:.3g}"

    pair(f"IG ({steps} steps)", lambda m: attributions.integrated_gradients(m, images, steps=steps), completeness_agree)
    pair(f"SmoothGrad ({samples})", lambda m: attributions.smoothgrad(m, images, samples=samples, seed=0), _maps_agree)
    pair(f"occlusion ({patch} px)", lambda m: attributions.occlusion_sensitivity(m, images, patch=patch, stride=patch), _maps_agree)

    ranking = metrics.random_map(model32, images, seed=1)
    fractions = np.linspace(0.0, 1.0, 6 if quick else 11)

    def curves(model: keras.Model) -> np.ndarray:
        # The capstone's settings: blurred fill, logit margin of the class.
        aucs = [
            metrics.curve_auc(fractions, curve(model, images, ranking, fractions=fractions, fill="blur", score="margin")[1])
            for curve in (metrics.deletion_curve, metrics.insertion_curve)
        ]
        return np.stack(aucs)

    pair(f"deletion+insertion ({len(fractions)} fr.)", curves, _auc_agree)

    def lime(model: keras.Model) -> np.ndarray:
        explanation = explainers.lime_explanation(
            model, images[0], num_samples=lime_samples, batch_size=32, seed=0, top_labels=1, progress=False
        )
        return np.asarray(explanation.weights[explanation.top_labels[0]], dtype=np.float64)

    pair(f"LIME ({lime_samples} samples)", lime, _weights_agree)
    return rows


def main() -> int:
    parser = argument_parser(__doc__, "a 32-pixel CNN, tiny sizes: a smoke test of seconds", repeats=True)
    args = parser.parse_args()
    repeats = default_repeats(args)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    subjects: list[tuple[str, keras.Model, np.ndarray]] = []
    if args.quick:
        subjects.append(("course CNN architecture, 32 px, random weights", models.horses_humans_cnn(32), rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)))
    else:
        from course_utils import data, image_io

        photos = data.sample_images()
        images = np.stack([image_io.center_square(photos[name], 224) for name in ("cat", "coffee")]).astype(np.float32)
        subjects.append(("VGG19 at 224 px, random weights (LIME's model in notebook 03)", models.imagenet_model("vgg19", weights=None), images))
        trained = os.environ.get("HORSES_HUMANS_MODEL")
        if trained and os.path.isfile(trained):
            cnn = keras.models.load_model(trained)
            size = int(cnn.inputs[0].shape[1])
            held_out, _ = data.held_out_images(size, limit=4)
            subjects.append((f"the course CNN, trained ({os.path.basename(trained)})", cnn, held_out.astype(np.float32)))
        else:
            print("(set HORSES_HUMANS_MODEL to a trained course CNN .keras file to compare on it too)", flush=True)
    for description, model, images in subjects:
        print(f"{description}: {len(images)} images, median of {repeats} run(s)", flush=True)
        # One verdict per method on this model: agreement depends on the model (a random-weight
        # network's near-equal logits make its margins tiny, so their relative changes are large).
        verdicts = {
            name.split(" (")[0]: agrees
            for name, _, _, agrees, _ in compare(model, images, args.quick, repeats)
            if agrees is not None
        }
        ready = [name for name, agrees in verdicts.items() if agrees]
        print(
            f"  bfloat16 agrees on this model (rank correlation >= {AGREEMENT}, curve AUCs within {AUC_CHANGE:.0%}) "
            f"for: {', '.join(ready) or 'none'}"
        )
        print(f"  keep float32 on this model for: {', '.join(n for n in verdicts if n not in ready) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
