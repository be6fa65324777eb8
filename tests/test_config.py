from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_utils import config


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("ON", True), ("0", False), ("", False), ("no", False)])
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
    assert full.imagenet_weights == "auto" and quick.imagenet_weights == "random"
    cost_knobs = ["train_epochs", "ig_steps", "smoothgrad_samples", "lime_samples", "shap_nsamples", "fv_steps", "fv_filters", "class_steps", "train_image_size"]
    for name in cost_knobs:
        assert getattr(quick, name) < getattr(full, name), name
    # every knob exists in both modes with the same type
    for field in dataclasses.fields(config.Settings):
        assert type(getattr(full, field.name)) in (type(getattr(quick, field.name)), type(None)) or getattr(quick, field.name) is None


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
    for name in ("train_epochs", "lime_samples", "shap_nsamples", "fv_filters", "fv_steps", "faithfulness_images"):
        assert getattr(quick, name) < getattr(cpu, name) < getattr(full, name), name
    assert "CPU MODE" in config.quick_mode_banner()
    monkeypatch.setenv("COURSE_MODE", "laptop")
    with pytest.raises(ValueError, match="COURSE_MODE"):
        config.settings()
    monkeypatch.delenv("COURSE_MODE")
    assert config.settings().mode == "quick"
