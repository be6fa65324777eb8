"""Tiny models and images shared by the tests: every closed form the tests rely on lives here.

- :func:`linear_model`: ``score_c(x) = sum(w_c * x)``, optionally with a softmax
  on top (then the logits are exactly that sum), so gradients, IG, occlusion
  and deletion curves have closed forms.
- :func:`small_cnn`: a two-conv network with a (seeded) random initialisation,
  for shapes, batching, tracing and randomization checks.
- :func:`filter_cnn`: two convs, the second linear so that no filter starts
  dead, for feature visualization.
- :func:`wrapped`: any of them as a layer inside an outer model, the way a
  Keras Application sits inside a course model.
"""

from __future__ import annotations

import keras
import numpy as np

SIZE = 16


def images(count: int = 2, size: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype(np.float32)


def structured_images(count: int = 2, seed: int = 0) -> np.ndarray:
    """Smooth color ramps with a bright square: far from a noise or blurred baseline."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, SIZE)
    images = []
    for _ in range(count):
        color_a, color_b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        image = color_a + (color_b - color_a) * ramp[None, :, None] * ramp[:, None, None]
        top, left = rng.integers(0, SIZE // 2, 2)
        image[top : top + SIZE // 3, left : left + SIZE // 3] = 255.0
        images.append(image)
    return np.asarray(images, dtype=np.float32)


def small_cnn(softmax: bool = False, seed: int = 1, name: str = "small_cnn") -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(4, activation="softmax" if softmax else None, name="scores")(x)
    return keras.Model(inputs, outputs, name=name)


def linear_model(
    seed: int = 2, size: int = SIZE, classes: int = 3, softmax: bool = False
) -> tuple[keras.Model, np.ndarray]:
    """score_c(x) = sum(w_c * x): every attribution method has a closed form on it.

    With ``softmax=True`` the model outputs probabilities and its logits
    (``models.logits_model``) are the linear scores.
    """
    inputs = keras.Input((size, size, 3))
    dense = keras.layers.Dense(classes, use_bias=False, activation="softmax" if softmax else None, name="linear")
    outputs = dense(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs, name="linear")
    weights = np.random.default_rng(seed).normal(size=(size * size * 3, classes)).astype(np.float32)
    dense.set_weights([weights])
    return model, weights.reshape(size, size, 3, classes)


def filter_cnn(name: str = "filter_cnn", size: int = 32, classes: int = 5) -> keras.Model:
    """Two conv layers and a softmax top on raw pixels; ``conv2`` is linear, so every filter can be maximised."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(12, 3, padding="same", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def wrapped(model: keras.Model, name: str = "outer") -> keras.Model:
    """``model`` called as one layer of an outer model (behind an identity layer), the same function."""
    inputs = keras.Input(tuple(model.inputs[0].shape[1:]), name="outer_pixels")
    x = keras.layers.Identity(name="outer_identity")(inputs)
    return keras.Model(inputs, model(x), name=name)
