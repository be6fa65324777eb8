"""Every method of the course in the pixel-map convention: shapes, classes, costs."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import images

from course_utils import attributions, models, pixel_maps


@pytest.fixture(scope="module")
def cnn():
    """The course CNN's architecture at 16 px (random weights): same layer names as the real one."""
    import keras

    keras.utils.set_random_seed(0)
    return models.horses_humans_cnn(16)


@pytest.fixture(scope="module")
def methods():
    return pixel_maps.course_methods(
        16, images(4, seed=1), ig_steps=4, smoothgrad_samples=3, lime_samples=12, shap_nsamples=3, batch_size=8
    )


def test_every_method_gives_one_finite_map_per_image_at_the_image_size(cnn, methods):
    batch = images(3, seed=2)
    names = [method.name for method in methods]
    assert names == [
        "Grad-CAM (block3_conv2)", "Grad-CAM (block2_conv2)", "Integrated Gradients", "SmoothGrad",
        "Occlusion (2 px)", "LIME", "SHAP (block2_pool)", "Random", "Centre prior",
    ]
    for method in methods:
        maps = method.explain(cnn, batch, None)
        assert maps.shape == (3, 16, 16), method.name
        assert np.all(np.isfinite(maps)), method.name
        assert (method.evaluations > 0) == (method.name not in ("Random", "Centre prior"))


def test_the_wrappers_explain_the_class_they_are_asked_for(cnn, methods):
    batch = images(2, seed=3)
    by_name = {method.name: method for method in methods}
    integrated = by_name["Integrated Gradients"].explain(cnn, batch, [1, 0])
    margin = models.contrast_logits_model(cnn)  # every method explains the margin the curves score
    reference = attributions.integrated_gradients(margin, batch, [1, 0], baseline="black", steps=4).sum(axis=-1)
    np.testing.assert_allclose(integrated, reference, rtol=1e-5, atol=1e-6)
    cam = by_name["Grad-CAM (block3_conv2)"].explain(cnn, batch, 0)
    np.testing.assert_allclose(cam, attributions.grad_cam(margin, batch, 0, layer="block3_conv2"), atol=1e-6)
    shap_for_0 = by_name["SHAP (block2_pool)"].explain(cnn, batch, 0)
    shap_for_1 = by_name["SHAP (block2_pool)"].explain(cnn, batch, 1)
    assert not np.allclose(shap_for_0, shap_for_1), "the SHAP map follows class_index"
    lime_for_0 = by_name["LIME"].explain(cnn, batch[:1], 0)
    lime_for_1 = by_name["LIME"].explain(cnn, batch[:1], 1)
    # Two classes: the margin of one class is minus the other's, so are the surrogate's weights.
    np.testing.assert_allclose(lime_for_0, -lime_for_1, atol=1e-6)


def test_occlusion_cost_counts_every_patch_position():
    methods = pixel_maps.course_methods(64, images(2, size=64), ig_steps=7, smoothgrad_samples=5, lime_samples=9)
    by_name = {method.name: method for method in methods}
    assert by_name["Occlusion (8 px)"].evaluations == 15 * 15 + 1  # patch 8, stride 4: 15 positions a side
    assert by_name["Integrated Gradients"].evaluations == 8
    assert by_name["SmoothGrad"].evaluations == 5 and by_name["LIME"].evaluations == 10


def test_one_tracing_count_sees_every_module_and_skips_cached_models(cnn, methods):
    """Attributions, metrics, features and pixel_maps share one cache; helper models in it are not counted."""
    from course_utils import _core, features, metrics

    batch = images(2, seed=4)
    by_name = {method.name: method for method in methods}
    by_name["Integrated Gradients"].explain(cnn, batch, None)  # caches a contrast-logits model on cnn
    metrics.deletion_curve(cnn, batch, metrics.random_map(cnn, batch))
    features.maximize_class(cnn, [0], steps=1, progress=False)
    counts = _core.tracing_counts(cnn)
    assert counts is not None and counts == features.tracing_counts(cnn)
    assert any(key.startswith("faithfulness_curve") for key in counts) and any(key.startswith("ascent:class_logit") for key in counts)
    assert "contrast_logits_model" not in counts and set(counts.values()) == {1}


def test_the_shap_map_of_a_many_class_model_explains_the_asked_class_down_to_its_rank_only(monkeypatch):
    """A 12-class model (an ImageNet network has 1000): SHAP runs for the top-k outputs with k the asked class's
    rank, so the predicted class costs one class, and a lower class is still the one explained."""
    from tiny_models import filter_cnn

    from course_utils import _core, explainers

    model = filter_cnn(classes=12)
    batch = images(2, size=32, seed=4)
    (shap,) = [m for m in pixel_maps.course_methods(32, images(3, size=32, seed=5), shap_nsamples=3, shap_layer="pool")
               if m.name.startswith("SHAP")]
    asked: list[int] = []
    explain = explainers.GradientLayerExplainer.explain
    monkeypatch.setattr(
        explainers.GradientLayerExplainer, "explain",
        lambda self, images, ranked_outputs=2, **kw: asked.append(ranked_outputs) or explain(self, images, ranked_outputs, **kw),
    )
    scores = _core.predict(model, batch)
    order = np.argsort(-scores, axis=1)
    top = shap.explain(model, batch, order[:, 0])
    third = shap.explain(model, batch, order[:, 2])
    assert asked == [1, 3], "one class for the predicted class, three for the third-ranked one"
    assert top.shape == third.shape == (2, 32, 32) and np.all(np.isfinite(third))
    assert not np.allclose(top, third), "the map follows the asked class"
    forward_passes = []
    monkeypatch.setattr(pixel_maps, "predict", lambda *a, **kw: forward_passes.append(1) or _core.predict(*a, **kw))
    predicted = shap.explain(model, batch, None)
    assert len(forward_passes) == 1, "the predicted class and the ranks come from one forward pass"
    assert asked[-1] == 1 and np.allclose(predicted, top), "None explains the predicted class, like its index"


def test_forward_precision_moves_occlusion_and_lime_to_the_bfloat16_twin_and_leaves_gradients_in_float32(cnn):
    from course_utils.metrics import rank_correlation

    background, batch = images(4, seed=1), images(2, seed=6)
    sizes = dict(ig_steps=4, smoothgrad_samples=3, lime_samples=24, shap_nsamples=3, batch_size=8)
    plain = {m.name: m for m in pixel_maps.course_methods(16, background, **sizes)}
    fast = {m.name: m for m in pixel_maps.course_methods(16, background, forward_precision="bfloat16", **sizes)}
    for name in ("Grad-CAM (block3_conv2)", "Integrated Gradients", "SmoothGrad"):
        np.testing.assert_array_equal(fast[name].explain(cnn, batch, 0), plain[name].explain(cnn, batch, 0), name)
    for name in ("Occlusion (2 px)", "LIME"):
        ours, theirs = fast[name].explain(cnn, batch, 0), plain[name].explain(cnn, batch, 0)
        assert not np.array_equal(ours, theirs), f"{name} ran in float32"
        assert np.all(rank_correlation(ours, theirs) > 0.9), name
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, got 'half'"):
        pixel_maps.course_methods(16, background, forward_precision="half")


def test_a_bfloat16_method_follows_a_copy_randomized_in_place_through_the_cascade(cnn):
    """parameter_randomization changes one copy's weights layer by layer; a stale twin would keep explaining the
    previous layer's network, so two successive checkpoints would give the very same maps and correlations."""
    from course_utils import metrics

    occlusion = next(
        m
        for m in pixel_maps.course_methods(16, images(4, seed=1), lime_samples=12, forward_precision="bfloat16")
        if m.name.startswith("Occlusion")
    )
    results = metrics.parameter_randomization(cnn, images(3, seed=8), occlusion.explain, [0, 1, 0], seed=0)
    similarities = [tuple(np.round(similarity, 6)) for _, similarity in results]
    assert len(results) > 3
    assert len(set(similarities)) == len(similarities), "two checkpoints explained the same network"
