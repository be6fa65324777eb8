"""Guided Backpropagation against its definition written out by hand on tiny rectifier networks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import attributions, models


def _dense_net(relu: str, seed: int = 0) -> keras.Model:
    """pixels (2, 2, 3) -> 12 -> Dense 6 -> rectifier -> Dense 5 -> rectifier -> Dense 3 logits (no softmax)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((2, 2, 3))
    x = keras.layers.Flatten()(inputs)
    for units, name in ((6, "hidden1"), (5, "hidden2")):
        if relu == "builtin":
            x = keras.layers.Dense(units, activation="relu", name=name)(x)
        else:
            x = keras.layers.Dense(units, name=name)(x)
            x = keras.layers.ReLU(max_value=6.0 if relu == "relu6" else None, name=f"{name}_relu")(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, outputs)
    # Pre-activations spread over about [-10, 10] on pixels in [0, 255]: some units off, some on, some ReLU6 capped.
    rng = np.random.default_rng(seed)
    for name, scale in (("hidden1", 0.01), ("hidden2", 1.0), ("logits", 1.0)):
        kernel, bias = model.get_layer(name).get_weights()
        model.get_layer(name).set_weights(
            [rng.normal(0, scale, kernel.shape).astype("float32"), rng.normal(0, 2.0, bias.shape).astype("float32")]
        )
    return model


def _by_hand(model: keras.Model, image: np.ndarray, c: int, cap: float | None) -> np.ndarray:
    """The backward pass of the definition: at a rectifier, keep dy where dy > 0 and 0 < z (< cap)."""
    (w1, b1), (w2, b2), (w3, _b3) = (model.get_layer(n).get_weights() for n in ("hidden1", "hidden2", "logits"))
    x = image.reshape(-1).astype(np.float64)
    z1 = x @ w1 + b1
    h1 = np.clip(z1, 0, cap)
    z2 = h1 @ w2 + b2

    def gate(z, dy):
        active = (z > 0) & ((z < cap) if cap is not None else True)
        return dy * (active & (dy > 0))

    dy2 = gate(z2, w3[:, c])
    dy1 = gate(z1, w2 @ dy2)
    return (w1 @ dy1).reshape(image.shape)


@pytest.mark.parametrize("relu, cap", [("layer", None), ("relu6", 6.0), ("builtin", None)])
def test_guided_backprop_is_the_hand_computed_guided_gradient(relu, cap):
    model = _dense_net(relu)
    images = np.random.default_rng(1).uniform(0, 255, (4, 2, 2, 3)).astype(np.float32)
    classes = [0, 1, 2, 1]
    guided = attributions.guided_backprop(model, images, classes)
    expected = np.stack([_by_hand(model, image, c, cap) for image, c in zip(images, classes)])
    np.testing.assert_allclose(guided, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    if cap is not None:  # the cap matters: some unit saturated, so ReLU's gate alone would differ
        without_cap = np.stack([_by_hand(model, image, c, None) for image, c in zip(images, classes)])
        assert not np.allclose(without_cap, expected)
    plain = attributions.vanilla_gradients(model, images, classes)
    assert not np.allclose(plain, guided), "guided and plain gradients must differ on this net"


def test_the_guided_copy_shares_weights_so_randomizing_the_model_changes_it():
    model = _dense_net("layer")
    image = np.random.default_rng(2).uniform(0, 255, (1, 2, 2, 3)).astype(np.float32)
    before = attributions.guided_backprop(model, image, 0)
    layer = model.get_layer("hidden2")
    kernel, bias = layer.get_weights()
    layer.set_weights([-kernel, bias])
    after = attributions.guided_backprop(model, image, 0)
    np.testing.assert_allclose(after[0], _by_hand(model, image[0], 0, None), rtol=1e-4, atol=1e-3)
    assert not np.allclose(before, after)


def test_the_forward_pass_is_unchanged_and_a_net_without_relu_is_refused():
    model = _dense_net("relu6")
    x = np.random.default_rng(3).uniform(0, 255, (2, 2, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(models.guided_relu_model(model)(x), model(x), rtol=1e-6)
    inputs = keras.Input((2, 2, 3))
    linear = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="no ReLU or ReLU6"):
        attributions.guided_backprop(linear, x, 0)


def test_guided_grad_cam_is_guided_backprop_times_the_upsampled_cam():
    keras.utils.set_random_seed(4)
    model = models.horses_humans_cnn(16)
    images = np.random.default_rng(5).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    product = attributions.guided_grad_cam(model, images, [0, 1], layer="block3_conv2")
    expected = attributions.guided_backprop(model, images, [0, 1]) * attributions.grad_cam(
        model, images, [0, 1], layer="block3_conv2"
    )[..., None]
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-7)
    assert product.shape == (2, 16, 16, 3)


def test_vanilla_gradients_of_the_logit_skip_the_softmax():
    keras.utils.set_random_seed(6)
    model = models.horses_humans_cnn(16)
    images = np.random.default_rng(7).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    of_logit = attributions.vanilla_gradients(model, images, [0, 1], use_logits=True)
    np.testing.assert_allclose(of_logit, attributions.vanilla_gradients(models.logits_model(model), images, [0, 1]),
                               rtol=1e-5, atol=1e-8)
    # d p_c = p_c (1 - p_c) d(z_c - z_other) for two classes: the probability's gradient is the logit margin's, scaled
    p = model.predict(images, verbose=0)
    of_probability = attributions.vanilla_gradients(model, images, [0, 1])
    margin = attributions.vanilla_gradients(models.contrast_logits_model(model), images, [0, 1])
    scale = (p[[0, 1], [0, 1]] * (1 - p[[0, 1], [0, 1]]))[:, None, None, None]
    np.testing.assert_allclose(of_probability, scale * margin, rtol=1e-3, atol=1e-7)
