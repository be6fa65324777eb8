"""Explanations made by hand, with known weights, for the drawing tests (no model, no sampling)."""

from __future__ import annotations

import numpy as np


def lime_explanation(image: np.ndarray, weights: np.ndarray, num_features: int = 2):
    """A ``LimeExplanation`` of ``image`` split into four quadrants (segments 0 to 3, row by row).

    ``weights`` holds the four quadrants' weights for class 1 (the top class); class 0 gets their
    negatives. Scores are 0.3 (horse) and 0.7 (human).
    """
    from lime.lime_image import ImageExplanation

    from course_utils.explainers import LimeExplanation

    height, width = image.shape[:2]
    segments = np.zeros((height, width), np.int64)
    segments[: height // 2, width // 2 :], segments[height // 2 :, : width // 2] = 1, 2
    segments[height // 2 :, width // 2 :] = 3
    by_class = {1: np.asarray(weights, dtype=float), 0: -np.asarray(weights, dtype=float)}
    raw = ImageExplanation(image, segments)
    for label, w in by_class.items():  # as lime_image stores them: strongest |weight| first
        raw.local_exp[label] = [(int(f), float(w[f])) for f in np.argsort(-np.abs(w), kind="stable")]
        raw.intercept[label] = 0.0
    return LimeExplanation(
        image=image,
        segments=segments,
        top_labels=[1, 0],
        labels=[1, 0],
        class_names={0: "horse", 1: "human"},
        scores=np.array([0.3, 0.7]),
        weights=by_class,
        intercepts={0: 0.0, 1: 0.0},
        num_samples=10,
        batch_size=10,
        seed=0,
        segmentation="slic",
        hide_color=0.0,
        num_features=num_features,
        seconds=0.0,
        lime=raw,
    )
