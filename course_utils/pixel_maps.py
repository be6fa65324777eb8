"""Every explanation method of the course as one kind of function: a pixel map.

Faithfulness metrics (:mod:`course_utils.metrics`) compare methods on equal
terms, so each method is wrapped here as::

    method.explain(model, images, class_index) -> float32 (N, H, W)

one importance value per pixel, larger = more important for the class,
at the image's resolution, and with a cost model (:attr:`PixelMapMethod.evaluations`)
that says how many images the method sends through the network per
explained image. The wrappers are thin: the algorithms live in
:mod:`course_utils.attributions` and :mod:`course_utils.explainers`.

Every model-based method explains the same score: the **contrast logit**
``z_c - mean_{j != c} z_j`` (:func:`course_utils.models.contrast_logits_model`),
which for the course's two-class CNN is the margin ``z_c - z_other`` that
:func:`course_utils.metrics.deletion_curve` follows with ``score="margin"``.
So the thing explained is the thing scored. It is a logit, not a
probability, as everywhere in the course: a saturated softmax has vanishing
gradients for the predicted class.

How each map becomes one number per pixel:

- Grad-CAM: its map (of the contrast logit), upsampled to the image, in [0, 1].
- Integrated Gradients: the attributions summed over the colour channels
  (signed: positive evidence first).
- SmoothGrad: the absolute mean gradient summed over channels, as the paper
  visualises it (the sign of a raw gradient is not evidence).
- Occlusion: the mean score drop of the patches covering the pixel.
- LIME: each pixel carries its superpixel's weight.
- SHAP (expected gradients at an inner layer): the values summed over the
  layer's channels, upsampled bilinearly to the image.
- Random and centre prior (:func:`course_utils.metrics.random_map`,
  :func:`course_utils.metrics.center_prior_map`): maps that never look at
  the model, the floor every method must beat.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from course_utils import attributions, explainers, metrics, models
from course_utils._core import as_image_batch, compiled, method_inputs, positive_int, predict, real_number

__all__ = ["PixelMapMethod", "course_methods", "lime_segmentation_params"]


@dataclasses.dataclass(frozen=True)
class PixelMapMethod:
    """One explanation method in the pixel-map convention.

    Attributes
    ----------
    name
        Short label for tables and legends, e.g. ``"Grad-CAM (block3_conv2)"``.
    explain
        ``explain(model, images, class_index) -> (N, H, W)`` float32.
    evaluations
        Images passed through the network per explained image (forward
        passes; gradient methods also run one backward pass each).
    uses_gradients
        Whether the method differentiates the network.
    """

    name: str
    explain: Callable[[keras.Model, Any, Any], np.ndarray]
    evaluations: int
    uses_gradients: bool


def lime_segmentation_params(image_size: int) -> dict[str, Any]:
    """SLIC parameters that give superpixels of about ``image_size / 8`` pixels a side.

    LIME's quickshift defaults are tuned for 224-pixel photos; on a 64-pixel
    image they give a handful of huge segments. About 50 superpixels keep the
    comparison with the other maps fair at any size.
    """
    image_size = positive_int("image_size", image_size, 8)
    return {"n_segments": 50, "compactness": 10.0, "start_label": 0, "sigma": max(0.5, image_size / 150.0)}


def _target(model: keras.Model) -> keras.Model:
    """The model's contrast-logit model, built once per model (so its compiled functions are reused)."""
    return compiled(model, "contrast_logits_model", lambda: models.contrast_logits_model(model))


def _upsample(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    resized = tf.image.resize(tf.convert_to_tensor(maps[..., None], tf.float32), (height, width), "bilinear")
    return resized.numpy()[..., 0]


def course_methods(
    image_size: int,
    background: Any,
    ig_steps: int = 50,
    smoothgrad_samples: int = 50,
    smoothgrad_noise: float = 0.15,
    lime_samples: int = 1000,
    shap_nsamples: int = 200,
    shap_layer: str = "block2_pool",
    gradcam_layers: tuple[str, ...] = ("block3_conv2", "block2_conv2"),
    batch_size: int = 32,
    seed: int = 0,
    occlusion_patch: int | None = None,
    occlusion_stride: int | None = None,
    forward_precision: str = "float32",
) -> list[PixelMapMethod]:
    """The methods of the course, ready to compare on the course's CNN.

    Parameters
    ----------
    image_size
        Side of the (square) images in pixels; sets the occlusion patch
        (``image_size // 8``, stride half of it) and LIME's superpixels.
    background
        ``(B, H, W, 3)`` raw-pixel images (training images, not the ones
        explained) for SHAP's expected gradients.
    ig_steps, smoothgrad_samples, smoothgrad_noise, lime_samples, shap_nsamples
        Sizes of the methods (notebooks pass ``settings()`` values).
    shap_layer, gradcam_layers
        Layers of the CNN for SHAP and Grad-CAM (deep first).
    batch_size
        Images per network call inside the methods.
    seed
        Seeds SmoothGrad's noise, LIME's sampling and SHAP's draws.
    occlusion_patch, occlusion_stride
        Occlusion's square patch and its stride in pixels (notebooks pass
        ``settings()`` values); default ``image_size // 8`` and half of it.
    forward_precision
        The number format of the forward-only methods, occlusion and LIME
        (notebooks pass ``settings().forward_precision``): ``"bfloat16"`` runs
        them on the model's bfloat16 twin
        (:func:`course_utils.models.forward_pass_model`), in half the time on
        hardware with native bfloat16; on the trained course CNN their maps
        and curves agreed with float32 ones in ``benchmarks/precision.py``
        and notebook 08. The gradient methods run in the model's own
        precision. Keep float32 for sanity checks on randomized networks,
        whose near-zero margins bfloat16 rounds coarsely.

    Returns
    -------
    list of :class:`PixelMapMethod`: Grad-CAM at each layer, Integrated
    Gradients (black baseline), SmoothGrad, occlusion, LIME, SHAP, and the
    random and centre-prior baselines.
    """
    image_size = positive_int("image_size", image_size, 8)
    ig_steps, smoothgrad_samples, lime_samples, shap_nsamples, batch_size = (
        positive_int(name, value)
        for name, value in [
            ("ig_steps", ig_steps),
            ("smoothgrad_samples", smoothgrad_samples),
            ("lime_samples", lime_samples),
            ("shap_nsamples", shap_nsamples),
            ("batch_size", batch_size),
        ]
    )
    seed = positive_int("seed", seed, 0)
    models.check_precision(forward_precision)
    smoothgrad_noise = real_number("smoothgrad_noise", smoothgrad_noise, minimum=0.0)
    backdrop = as_image_batch(background, "background")
    patch, stride = _occlusion_geometry(image_size, occlusion_patch, occlusion_stride)
    positions = len(attributions.patch_starts(image_size, patch, stride)) ** 2
    methods = [
        PixelMapMethod(
            f"Grad-CAM ({layer})", functools.partial(_grad_cam_map, layer=layer, batch_size=batch_size), 1, True
        )
        for layer in gradcam_layers
    ]
    integrated = functools.partial(_integrated_map, steps=ig_steps, batch_size=batch_size)
    smooth = functools.partial(
        _smoothgrad_map, samples=smoothgrad_samples, noise=smoothgrad_noise, batch_size=batch_size, seed=seed
    )
    occlusion = functools.partial(
        _occlusion_map, patch=patch, stride=stride, batch_size=max(batch_size, 64), precision=forward_precision
    )
    lime = functools.partial(_lime_map, samples=lime_samples, seed=seed, precision=forward_precision)
    methods += [
        PixelMapMethod("Integrated Gradients", integrated, ig_steps + 1, True),
        PixelMapMethod("SmoothGrad", smooth, smoothgrad_samples, True),
        PixelMapMethod(f"Occlusion ({patch} px)", occlusion, positions + 1, False),
        PixelMapMethod("LIME", lime, lime_samples + 1, False),
        # Expected gradients runs nsamples gradient evaluations per class down to the explained one's rank
        # (one class for a predicted class).
        PixelMapMethod(
            f"SHAP ({shap_layer})",
            _ShapMap(shap_layer, backdrop, shap_nsamples, batch_size, seed),
            shap_nsamples + 1,
            True,
        ),
        PixelMapMethod("Random", lambda m, x, c: metrics.random_map(m, x, c, seed=seed), 0, False),
        PixelMapMethod("Centre prior", metrics.center_prior_map, 0, False),
    ]
    return methods


def _occlusion_geometry(image_size: int, occlusion_patch: int | None, occlusion_stride: int | None) -> tuple[int, int]:
    """Occlusion's patch and stride: default ``image_size // 8`` (at least 2) and half of it; checked."""
    patch = max(2, image_size // 8) if occlusion_patch is None else positive_int("occlusion_patch", occlusion_patch, 1)
    stride = max(1, patch // 2) if occlusion_stride is None else positive_int("occlusion_stride", occlusion_stride, 1)
    if patch > image_size:
        raise ValueError(f"occlusion_patch must be at most image_size ({image_size}), got {patch}")
    return patch, stride


def _grad_cam_map(model: keras.Model, images: Any, class_index: Any, *, layer: str, batch_size: int) -> np.ndarray:
    return attributions.grad_cam(_target(model), images, class_index=class_index, layer=layer, batch_size=batch_size)


def _integrated_map(model: keras.Model, images: Any, class_index: Any, *, steps: int, batch_size: int) -> np.ndarray:
    values = attributions.integrated_gradients(
        _target(model), images, class_index=class_index, baseline="black", steps=steps, batch_size=batch_size
    )
    return values.sum(axis=-1)


def _smoothgrad_map(
    model: keras.Model, images: Any, class_index: Any, *, samples: int, noise: float, batch_size: int, seed: int
) -> np.ndarray:
    values = attributions.smoothgrad(
        _target(model), images, class_index, samples=samples, noise=noise, batch_size=batch_size, seed=seed
    )
    return np.abs(values).sum(axis=-1)


def _occlusion_map(
    model: keras.Model, images: Any, class_index: Any, *, patch: int, stride: int, batch_size: int, precision: str
) -> np.ndarray:
    # The classes come from the model as given: a near tie could rank them differently on a bfloat16 twin.
    given = method_inputs(model, images, class_index)
    network = models.forward_pass_model(model, precision)
    return attributions.occlusion_sensitivity(
        _target(network), given.batch, given.classes, patch=patch, stride=stride, batch_size=batch_size
    )


def _lime_map(
    model: keras.Model, images: Any, class_index: Any, *, samples: int, seed: int, precision: str
) -> np.ndarray:
    given = method_inputs(model, images, class_index)
    batch, classes = given.batch, given.classes
    network = models.forward_pass_model(model, precision)
    params = lime_segmentation_params(batch.shape[1])
    maps = []
    for image, label in zip(batch, classes):
        explanation = explainers.lime_explanation(
            _target(network),
            image,
            top_labels=1,
            labels=[int(label)],
            num_samples=samples,
            batch_size=min(64, samples),
            segmentation="slic",
            segmentation_params=params,
            hide_color=None,
            seed=seed,
            class_names=[str(i) for i in range(model.outputs[0].shape[-1])],
        )
        maps.append(explanation.weight_map(int(label)))
    return np.asarray(maps, dtype=np.float32)


class _ShapMap:
    """SHAP's expected gradients at ``layer``, summed over channels and upsampled; one explainer kept per model."""

    def __init__(self, layer: str, background: np.ndarray, nsamples: int, batch_size: int, seed: int) -> None:
        self.layer = layer
        self.background = background
        self.nsamples = nsamples
        self.batch_size = batch_size
        self.seed = seed
        self._explainers: dict[int, explainers.GradientLayerExplainer] = {}

    def _explainer(self, model: keras.Model) -> explainers.GradientLayerExplainer:
        target = _target(model)
        explainer = self._explainers.get(id(target))
        if explainer is None or explainer.model is not target:
            names = [str(i) for i in range(int(model.outputs[0].shape[-1]))]
            explainer = self._explainers[id(target)] = explainers.GradientLayerExplainer(
                target, self.layer, self.background, batch_size=self.batch_size, class_names=names
            )
        return explainer

    def __call__(self, model: keras.Model, images: Any, class_index: Any) -> np.ndarray:
        given = method_inputs(model, images, class_index, self.batch_size, targets="deferred")
        batch = given.batch
        num_classes = int(model.outputs[0].shape[-1])
        # SHAP explains the top-k outputs of each image; k only as deep as the deepest requested class ranks,
        # so the predicted class of a 1000-class model costs one class's expected gradients, not 1000.
        # One forward pass gives both the ranks and, for class_index=None, the predicted classes.
        scores = predict(model, batch, self.batch_size)
        classes = given.classes_given(scores)
        ranks = np.sum(scores > scores[np.arange(len(batch)), classes][:, None], axis=1)
        ranked = min(int(ranks.max()) + 1, num_classes)
        explanation = self._explainer(model).explain(
            batch, ranked_outputs=ranked, nsamples=self.nsamples, seed=self.seed
        )
        picked = np.argmax(explanation.class_indices == classes[:, None], axis=1)
        spatial = explanation.spatial[np.arange(len(batch)), :, :, picked]
        return _upsample(spatial, batch.shape[1], batch.shape[2])
