from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import models


@pytest.fixture(scope="module")
def nested_model() -> keras.Model:
    """A small functional CNN used as a layer inside a Sequential model (transfer-learning style)."""
    inner_in = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="inner_conv1")(inner_in)
    x = keras.layers.Conv2D(6, 3, padding="same", name="inner_conv2")(x)
    x = keras.layers.Activation("relu", name="inner_relu")(x)
    inner = keras.Model(inner_in, x, name="backbone")
    return keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255.0), inner, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, name="scores")],
        name="classifier",
    )


def test_horses_humans_cnn_matches_the_source_architecture():
    model = models.horses_humans_cnn(300)
    assert model.count_params() == 22_717_090
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 64, 64, 128, 128]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" for c in convs)
    assert model.output.shape[-1] == 2 and model.layers[-1].activation.__name__ == "softmax"
    assert isinstance(model.get_layer("dropout"), keras.layers.Dropout) and model.get_layer("dropout").rate == 0.5


def test_horses_humans_cnn_takes_raw_pixels():
    model = models.horses_humans_cnn(32)
    assert isinstance(model.layers[1], keras.layers.Rescaling)
    scores = model(np.full((2, 32, 32, 3), 255.0, np.float32)).numpy()
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match=">= 8"):
        models.horses_humans_cnn(4)


def test_preprocessing_matches_keras_applications():
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    caffe = models.ImageNetPreprocessing("caffe")(pixels).numpy()
    np.testing.assert_allclose(caffe, keras.applications.vgg16.preprocess_input(pixels.copy()), rtol=1e-5, atol=1e-4)
    tf_mode = models.ImageNetPreprocessing("tf")(pixels).numpy()
    np.testing.assert_allclose(tf_mode, keras.applications.xception.preprocess_input(pixels.copy()), rtol=1e-5, atol=1e-5)
    lite = models.ImageNetPreprocessing("lite")(pixels).numpy()
    np.testing.assert_allclose(lite, (pixels - 127.0) / 128.0, rtol=1e-6)
    with pytest.raises(ValueError, match="'caffe', 'tf', 'lite'"):
        models.ImageNetPreprocessing("torch")


def test_saved_model_with_preprocessing_round_trips(tmp_path):
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(models.ImageNetPreprocessing("caffe")(inputs)))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    x = np.random.default_rng(1).uniform(0, 255, (1, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(model(x), again(x), rtol=1e-6)


@pytest.mark.parametrize(
    "name, size, last",
    [("vgg19", 224, "block5_conv4"), ("xception", 299, "block14_sepconv2_act"), ("resnet50v2", 224, "post_relu"),
     ("efficientnet_lite0", 224, "top_activation")],
)
def test_imagenet_models_take_raw_pixels_and_know_their_last_conv(name, size, last):
    model = models.imagenet_model(name, weights=None)  # random weights, never a download
    assert model.input.shape[1:] == (size, size, 3)
    assert model.output.shape[-1] == 1000
    assert isinstance(model.layers[1], models.ImageNetPreprocessing)
    assert models.last_conv_layer(model) == last


def test_imagenet_model_rejects_unknown_names_and_weights():
    with pytest.raises(ValueError, match="vgg16, vgg19, xception, resnet50v2, efficientnet_lite0"):
        models.imagenet_model("alexnet")
    with pytest.raises(ValueError, match="weights must be"):
        models.imagenet_model("vgg16", weights="places365")


def test_imagenet_weights_offline_explain_how_to_preseed_and_do_not_hang(monkeypatch, tmp_path, capsys):
    import time

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def no_network(*args, **kwargs):
        raise OSError("network unreachable (simulated)")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    monkeypatch.setattr("urllib.request.urlretrieve", no_network)
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="fetch-weights"):
        models.imagenet_model("resnet50v2", weights="imagenet", timeout=2)
    assert time.perf_counter() - started < 60
    capsys.readouterr()
    model = models.imagenet_model("resnet50v2", weights="auto", timeout=2)
    # Never random weights: the offline fallback is a real ImageNet classifier whose weights came with the course.
    assert model.name == "efficientnet_lite0" and model.output.shape[-1] == 1000
    notice = capsys.readouterr().err
    assert "EfficientNet-Lite0 with its ImageNet weights" in notice and "RANDOM" not in notice


def test_the_weights_probe_has_its_own_timeout_and_leaves_the_process_default_alone(monkeypatch, tmp_path, capsys):
    """A process-wide socket timeout would cut other threads' connections short while weights download."""
    import socket

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    probes = []

    def probe(address, timeout=None, *args, **kwargs):
        probes.append((address, timeout))
        raise OSError("unreachable (simulated)")

    def forbidden(*args, **kwargs):
        raise AssertionError("imagenet_model must not change the process-wide socket timeout")

    monkeypatch.setattr(socket, "create_connection", probe)
    monkeypatch.setattr(socket, "setdefaulttimeout", forbidden)
    models.imagenet_model("vgg16", weights="auto", timeout=1.5)
    assert probes == [(("storage.googleapis.com", 443), 1.5)]
    assert "cannot reach storage.googleapis.com within 1.5 s" in capsys.readouterr().err
    # Weights already in the Keras cache need no probe (Keras then finds the fake file's hash wrong and
    # tries to download it again itself: that connection is Keras's, without our timeout).
    cached = tmp_path / "keras" / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not really weights")
    models.imagenet_model("vgg16", weights="auto", timeout=1.5)
    assert [timeout for _, timeout in probes].count(1.5) == 1


def test_random_weights_on_request_say_so_and_none_is_silent(capsys):
    models.imagenet_model("vgg16", weights="random")
    assert "VGG16 has RANDOM weights" in capsys.readouterr().err
    models.imagenet_model("vgg16", weights=None)
    assert capsys.readouterr().err == ""


def test_decode_predictions_offline():
    scores = np.zeros((2, 1000), np.float32)
    scores[0, 281], scores[0, 285] = 0.7, 0.2
    scores[1, 141] = 0.9
    decoded = models.decode_predictions(scores, top=2)
    assert decoded[0] == [(281, "tabby", pytest.approx(0.7)), (285, "Egyptian_cat", pytest.approx(0.2))]
    assert decoded[1][0][:2] == (141, "redshank")
    with pytest.raises(ValueError, match=r"\(N, 1000\)"):
        models.decode_predictions(np.zeros((1, 10)))
    with pytest.raises(ValueError, match="top"):
        models.decode_predictions(scores, top=0)


def test_find_layer_lists_conv_layers_when_the_name_is_wrong(nested_model):
    assert models.find_layer(nested_model, "inner_conv2").name == "inner_conv2"
    with pytest.raises(ValueError, match="inner_conv1, inner_conv2"):
        models.find_layer(nested_model, "block5_conv3")
    assert models.conv_layer_names(nested_model) == ["inner_conv1", "inner_conv2"]
    assert models.last_conv_layer(nested_model) == "inner_relu"


def test_layer_output_model_reaches_inside_nested_models(nested_model):
    x = np.random.default_rng(2).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    both = models.layer_output_model(nested_model, "inner_conv2")
    activation, scores = both(x)
    assert activation.shape == (3, 16, 16, 6)
    np.testing.assert_allclose(scores, nested_model(x), rtol=1e-5, atol=1e-6)
    backbone = nested_model.get_layer("backbone")
    expected = keras.Model(backbone.input, backbone.get_layer("inner_conv2").output)(x / 255.0)
    np.testing.assert_allclose(activation, expected, rtol=1e-5, atol=1e-6)


def test_split_model_composes_back_to_the_model(nested_model):
    x = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    head, tail = models.split_model(nested_model, "inner_conv1")
    np.testing.assert_allclose(tail(head(x)), nested_model(x), rtol=1e-5, atol=1e-6)


def test_split_model_refuses_a_cut_inside_a_residual_block():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(3, 3, padding="same", name="branch")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, inputs])))
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="skip connection"):
        models.split_model(model, "branch")


def test_validate_class_index():
    assert models.validate_class_index(None, 10, 3) is None
    np.testing.assert_array_equal(models.validate_class_index(4, 10, 3), [4, 4, 4])
    np.testing.assert_array_equal(models.validate_class_index([1, 2], 10, 2), [1, 2])
    with pytest.raises(ValueError, match="0 to 9"):
        models.validate_class_index(10, 10, 1)
    with pytest.raises(ValueError, match="one per image"):
        models.validate_class_index([1, 2, 3], 10, 2)
    with pytest.raises(TypeError, match="integer"):
        models.validate_class_index("tabby", 10, 1)


def test_logits_model_removes_the_softmax_and_shares_weights():
    model = models.horses_humans_cnn(16)
    logits = models.logits_model(model)
    x = np.random.default_rng(4).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    z = logits(x).numpy()
    np.testing.assert_allclose(keras.ops.softmax(z).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    kernel = model.get_layer("predictions").kernel
    kernel.assign(kernel * 2.0)
    np.testing.assert_allclose(models.logits_model(model)(x), logits(x), rtol=1e-5, atol=1e-5)
    assert not np.allclose(logits(x).numpy(), z), "the logits model follows the original weights"
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert models.logits_model(plain) is plain


def test_contrast_logits_are_the_two_class_margin_and_share_weights():
    model = models.horses_humans_cnn(16)
    contrast = models.contrast_logits_model(model)
    logits = models.logits_model(model)
    x = np.random.default_rng(1).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    z = logits(x, training=False).numpy()
    got = contrast(x, training=False).numpy()
    np.testing.assert_allclose(got[:, 0], z[:, 0] - z[:, 1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[:, 1], z[:, 1] - z[:, 0], rtol=1e-5, atol=1e-5)
    model.get_layer("predictions").bias.assign([5.0, -5.0])
    np.testing.assert_allclose(contrast(x, training=False).numpy()[:, 0] - got[:, 0], 10.0, rtol=1e-5)
    assert models.find_layer(contrast, "block3_conv2") is model.get_layer("block3_conv2")


def test_a_class_group_model_sums_the_named_probabilities_and_explains_through_them():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="softmax")])
    x = np.random.default_rng(2).normal(size=(4, 6)).astype("float32")
    p = model(x).numpy()
    group = models.class_group_model(model, [3, 1])
    np.testing.assert_allclose(group(x).numpy()[:, 0], p[:, 1] + p[:, 3], rtol=1e-6)
    assert group.output_shape == (None, 1)
    everything = models.class_group_model(model, range(5))
    np.testing.assert_allclose(everything(x).numpy(), 1.0, rtol=1e-6)   # the whole softmax: nothing to explain
    model.layers[-1].bias.assign([0.0, 4.0, 0.0, 0.0, 0.0])   # the group follows the shared weights
    assert (group(x).numpy()[:, 0] > p[:, 1] + p[:, 3]).all()
    for wrong, words in (([], "at least one"), ([1, 1], "distinct"), ([5], r"\[0, 5\)"), ([-1], r"\[0, 5\)")):
        with pytest.raises(ValueError, match=words):
            models.class_group_model(model, wrong)
    with pytest.raises(TypeError, match="integers"):
        models.class_group_model(model, [2.7])   # never truncated to class 2
    assert models.class_group_model(model, (c for c in (1, 3))).output_shape == (None, 1)


# --------------------------------------------------------------------------- precision
def test_a_bfloat16_twin_takes_and_returns_float32_and_agrees_with_its_original():
    from tiny_models import images, small_cnn

    original = small_cnn(softmax=True, name="precision_original")
    twin = models.with_precision(original, "bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in twin.layers}
    assert policies["rescale"] == "float32" and policies["scores"] == "float32", "pixels in and scores out stay float32"
    assert policies["conv1"] == policies["conv2"] == "mixed_bfloat16"
    batch = images(4, seed=3)
    ours, theirs = original(batch).numpy(), twin(batch).numpy()
    assert theirs.dtype == np.float32
    assert 0 < np.abs(ours - theirs).max() < 0.02, "bfloat16 rounds (so not identical) but agrees"
    assert models.with_precision(original, "float32") is original
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16"):
        models.with_precision(original, "float16")


def test_every_method_of_the_course_runs_on_a_bfloat16_model():
    import warnings

    import keras
    from tiny_models import images

    from course_utils import pixel_maps
    from course_utils.metrics import rank_correlation

    keras.utils.set_random_seed(0)
    original = models.horses_humans_cnn(16)
    twin = models.with_precision(original, "bfloat16")
    batch = images(2, seed=5)
    methods = pixel_maps.course_methods(
        16, images(4, seed=1), ig_steps=4, smoothgrad_samples=3, lime_samples=12, shap_nsamples=3, batch_size=8
    )
    for method in methods:
        with warnings.catch_warnings():
            # A helper model with a one-element input list made Keras warn on every call.
            warnings.filterwarnings("error", message="The structure of `inputs`")
            maps = method.explain(twin, batch, None)
        assert maps.shape == (2, 16, 16) and maps.dtype == np.float32 and np.all(np.isfinite(maps)), method.name
        if method.name in ("Grad-CAM (block3_conv2)", "Integrated Gradients", "Occlusion (2 px)"):
            agreement = rank_correlation(method.explain(original, batch, None), maps)
            assert np.all(agreement > 0.9), (method.name, agreement)


def test_the_forward_pass_model_is_a_bfloat16_twin_kept_until_the_weights_change():
    from tiny_models import images, small_cnn

    original = small_cnn(softmax=True, name="forward_twin_original")
    batch = images(3, seed=4)
    twin = models.forward_pass_model(original, "bfloat16")
    assert models.compute_precision(twin) == "bfloat16" and models.compute_precision(original) == "float32"
    assert models.forward_pass_model(original, "bfloat16") is twin, "built once while the weights stay"
    np.testing.assert_allclose(twin(batch).numpy(), original(batch).numpy(), atol=0.02)
    assert models.forward_pass_model(original, "float32") is original

    # A copy randomized layer by layer changes its weights in place: the twin must follow, never go stale.
    scores = original.get_layer("scores")
    scores.kernel.assign(-scores.kernel.numpy())
    renewed = models.forward_pass_model(original, "bfloat16")
    assert renewed is not twin
    np.testing.assert_allclose(renewed(batch).numpy(), original(batch).numpy(), atol=0.02)
    assert np.abs(twin(batch).numpy() - original(batch).numpy()).max() > 0.05, "the old twin computes the old weights"
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, got 'int8'"):
        models.forward_pass_model(original, "int8")
    # It only ever lowers the precision: a bfloat16 model is used as it is, for either setting.
    assert models.forward_pass_model(renewed, "float32") is renewed
    assert models.forward_pass_model(renewed, "bfloat16") is renewed


def test_a_network_of_depthwise_convolutions_keeps_its_forward_passes_in_float32():
    """bfloat16 slowed EfficientNet-Lite0's depthwise convolutions down on a CPU, so no twin is made for them."""
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(inputs)
    outputs = keras.layers.Dense(2, name="scores")(keras.layers.GlobalAveragePooling2D()(x))
    depthwise = keras.Model(inputs, outputs, name="depthwise_net")
    assert models.has_depthwise_convolutions(depthwise)
    assert models.forward_pass_model(depthwise, "bfloat16") is depthwise
    separable = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.SeparableConv2D(2, 3)], name="separable")
    nesting = keras.Model(inputs, separable(inputs), name="nesting")
    assert models.has_depthwise_convolutions(nesting), "a nested model's separable convolution counts"
    from tiny_models import small_cnn

    assert not models.has_depthwise_convolutions(small_cnn())


def test_the_course_cnn_can_compute_in_bfloat16(monkeypatch, tmp_path):
    from course_utils import training

    saved = tmp_path / "cnn.keras"
    models.horses_humans_cnn(16).save(saved)
    monkeypatch.setenv("HORSES_HUMANS_MODEL", str(saved))
    twin = training.course_cnn(16, precision="bfloat16")
    assert twin.get_layer("block1_conv1").dtype_policy.name == "mixed_bfloat16"
    assert training.course_cnn(16).get_layer("block1_conv1").dtype_policy.name == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        training.course_cnn(16, precision="half")


def test_a_cnn_trained_in_mixed_precision_turns_back_into_a_float32_model():
    """horses_humans_cnn(precision="bfloat16") computes its convolutions and dense products in bfloat16 (its weights
    stay float32); with_precision(..., "float32") gives the same weights computing in float32, still compiled."""
    import keras

    keras.utils.set_random_seed(0)
    mixed = models.horses_humans_cnn(16, precision="bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in mixed.layers}
    assert policies["block1_conv1"] == policies["dense"] == "mixed_bfloat16"
    assert policies["rescale"] == policies["predictions"] == "float32", "raw pixels in, float32 scores out"
    assert all(w.dtype == np.float32 for w in mixed.get_weights()), "mixed precision keeps float32 weights"
    assert models.compute_precision(mixed) == "bfloat16" and mixed.compiled

    plain = models.with_precision(mixed, "float32")
    assert models.compute_precision(plain) == "float32" and plain.name == "horses_humans_cnn"
    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}
    for a, b in zip(mixed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    batch = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    float32_scores = plain.predict(batch, verbose=0)
    np.testing.assert_allclose(mixed.predict(batch, verbose=0), float32_scores, atol=0.02)  # bfloat16: ~3 digits
    assert plain.compiled and plain.optimizer is not mixed.optimizer, "compiled as the original, own optimizer"
    assert float(plain.optimizer.learning_rate) == pytest.approx(3e-4)
    assert isinstance(plain.loss, keras.losses.SparseCategoricalCrossentropy)
    assert not models.with_precision(plain, "bfloat16").compiled, "a twin for forward passes needs no optimizer"
    loss, _ = plain.evaluate(batch, np.array([0, 1, 0]), verbose=0)
    assert np.isfinite(loss)
    assert models.with_precision(plain, "float32") is plain, "a float32 model is already what was asked for"
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, got 'float16'"):
        models.horses_humans_cnn(16, precision="float16")
