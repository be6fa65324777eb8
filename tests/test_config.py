from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_utils import config


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("true", True), ("ON", True), ("0", False), ("", False), ("no", False)]
)
def test_is_quick_reads_the_variable(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_QUICK", value)
    assert config.is_quick() is expected
    assert config.settings().quick is expected


def test_is_quick_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "maybe")
    with pytest.raises(ValueError, match="COURSE_QUICK=1"):
        config.is_quick()


def test_quick_mode_shrinks_every_cost_knob():
    full, quick = config.settings(quick=False), config.settings(quick=True)
    # Quick mode explains a real ImageNet model too: EfficientNet-Lite0, whose weights come with the course.
    assert full.imagenet_weights == "auto" and quick.imagenet_weights == "auto"
    assert full.imagenet_model("vgg19") == "vgg19" and quick.imagenet_model("vgg19") == "efficientnet_lite0"
    cost_knobs = [
        "train_epochs",
        "ig_steps",
        "smoothgrad_samples",
        "lime_samples",
        "shap_nsamples",
        "fv_steps",
        "fv_filters",
        "class_steps",
        "train_image_size",
    ]
    for name in cost_knobs:
        assert getattr(quick, name) < getattr(full, name), name
    # every knob exists in both modes with the same type
    for field in dataclasses.fields(config.Settings):
        assert (
            type(getattr(full, field.name)) in (type(getattr(quick, field.name)), type(None))
            or getattr(quick, field.name) is None
        )


def test_seed_everything_repeats_numpy_and_keras():
    import keras

    config.seed_everything(3)
    a = np.random.rand(3), keras.random.uniform((3,)).numpy()
    config.seed_everything(3)
    b = np.random.rand(3), keras.random.uniform((3,)).numpy()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="non-negative integer"):
        config.seed_everything(-1)


def test_output_dir_honours_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OUTPUT_DIR", str(tmp_path / "out"))
    folder = config.output_dir("gifs")
    assert folder == tmp_path / "out" / "gifs" and folder.is_dir()


def test_output_dir_defaults_to_build_at_the_course_root(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_OUTPUT_DIR")
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "course_utils"\n')
    monkeypatch.chdir(root / "notebooks")
    assert config.output_dir(create=False) == root / "build"
    elsewhere = tmp_path / "colab"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert config.output_dir(create=False) == elsewhere / "build"


def test_course_mode_picks_the_preset_and_wins_over_course_quick(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    monkeypatch.setenv("COURSE_MODE", "cpu")
    cpu = config.settings()
    assert cpu.mode == "cpu" and not cpu.quick and cpu.imagenet_weights == "auto"
    quick, full = config.settings(mode="quick"), config.settings(mode="full")
    for name in ("train_epochs", "shap_nsamples", "fv_filters", "fv_steps", "faithfulness_images"):
        assert getattr(quick, name) < getattr(cpu, name) < getattr(full, name), name
    # On EfficientNet-Lite0 cpu mode affords the papers' sample counts.
    for name in ("lime_samples", "ig_steps", "smoothgrad_samples", "occlusion_patch", "occlusion_stride"):
        assert getattr(quick, name) != getattr(cpu, name) == getattr(full, name), name
    assert "CPU MODE" in config.quick_mode_banner()
    monkeypatch.setenv("COURSE_MODE", "laptop")
    with pytest.raises(ValueError, match="COURSE_MODE"):
        config.settings()
    monkeypatch.delenv("COURSE_MODE")
    assert config.settings().mode == "quick"


ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu avx512f amx_tile amx_bf16 amx_int8\n"


def test_native_bfloat16_is_read_from_the_cpu_flags():
    assert config.cpu_has_native_bfloat16(ZEN4)
    assert config.cpu_has_native_bfloat16(SAPPHIRE_RAPIDS)
    assert not config.cpu_has_native_bfloat16(SKYLAKE), "AVX-512 without BF16 emulates bfloat16: slower"
    assert not config.cpu_has_native_bfloat16(ZEN4 + "\nprocessor\t: 2\n" + SKYLAKE.split("\n", 1)[1])
    assert not config.cpu_has_native_bfloat16("no flags here")


@pytest.mark.parametrize(
    ("native", "variable", "expected"),
    [
        (True, "", "bfloat16"),
        (False, "", "float32"),
        (True, "auto", "bfloat16"),
        (True, "float32", "float32"),
        (False, "bfloat16", "bfloat16"),
    ],
)
def test_forward_precision_follows_the_hardware_unless_told(monkeypatch, native, variable, expected):
    monkeypatch.setattr(config, "native_bfloat16", lambda: native)
    monkeypatch.setenv("COURSE_PRECISION", variable)
    assert config.settings(mode="full").forward_precision == expected
    # cpu mode too: models.forward_pass_model keeps EfficientNet-Lite0, which bfloat16 slows down, in float32.
    assert config.settings(mode="cpu").forward_precision == expected
    assert config.settings(mode="quick").forward_precision == "float32", "quick mode's checked outputs stay float32"


@pytest.mark.parametrize(
    ("native", "variable", "expected"),
    [(True, "", "bfloat16"), (False, "", "float32"), (True, "float32", "float32"), (False, "bfloat16", "bfloat16")],
)
def test_training_precision_follows_the_hardware_unless_told(monkeypatch, native, variable, expected):
    """Mixed precision halves an epoch where bfloat16 is native, in cpu mode too (the CNN is dense convolutions)."""
    monkeypatch.setattr(config, "native_bfloat16", lambda: native)
    monkeypatch.setenv("COURSE_PRECISION", variable)
    assert config.settings(mode="full").train_precision == expected
    assert config.settings(mode="cpu").train_precision == expected
    assert config.settings(mode="quick").train_precision == "float32", "quick mode's checked outputs stay float32"
    monkeypatch.setenv("COURSE_PRECISION", "half")
    with pytest.raises(ValueError, match="COURSE_PRECISION='half' is not understood"):
        config.training_precision()


def test_forward_precision_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("COURSE_PRECISION", "fp8")
    with pytest.raises(
        ValueError, match="COURSE_PRECISION='fp8' is not understood; use one of auto, float32, bfloat16"
    ):
        config.settings(mode="cpu")


def test_gpu_capabilities_decide_before_the_cpu(monkeypatch):
    config.native_bfloat16.cache_clear()
    try:
        monkeypatch.setattr(config, "_gpu_compute_capabilities", lambda: [(7, 5)])
        assert not config.native_bfloat16(), "a T4 (7.5) has no native bfloat16"
        config.native_bfloat16.cache_clear()
        monkeypatch.setattr(config, "_gpu_compute_capabilities", lambda: [(8, 0), (9, 0)])
        assert config.native_bfloat16()
    finally:
        config.native_bfloat16.cache_clear()


def test_nvidia_smi_answers_are_parsed_or_refused():
    assert config.parse_compute_capabilities("8.0\n9.0\n") == [(8, 0), (9, 0)]
    assert config.parse_compute_capabilities("7.5") == [(7, 5)]
    assert config.parse_compute_capabilities("[N/A]\n") == [], "old drivers cannot say: no verdict"
    assert config.parse_compute_capabilities("8.6\nNVIDIA-SMI has failed\n") == []
    assert config.parse_compute_capabilities("") == []


def test_gpus_hidden_from_tensorflow_do_not_count(monkeypatch):
    monkeypatch.setattr(config.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(
        config.subprocess, "run", lambda *a, **k: config.subprocess.CompletedProcess(a, 0, stdout="9.0\n", stderr="")
    )
    assert config._gpu_compute_capabilities({}) == [(9, 0)]
    assert config._gpu_compute_capabilities({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert config._gpu_compute_capabilities({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    monkeypatch.setattr(
        config.subprocess, "run", lambda *a, **k: config.subprocess.CompletedProcess(a, 9, stdout="9.0\n", stderr="")
    )
    assert config._gpu_compute_capabilities({}) == [], "a failing nvidia-smi gives no verdict"


def test_display_path_is_relative_to_the_checkout_or_home(monkeypatch, tmp_path):
    from course_utils import config

    root = config.course_root()
    assert root is not None
    assert config.display_path(root / "build" / "models" / "cnn.keras") == "build/models/cnn.keras"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.display_path(tmp_path / "photos" / "cat.jpg") == "~/photos/cat.jpg"
    assert config.display_path("/elsewhere/x.keras") == "/elsewhere/x.keras"
