from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils import data


def _write(path: Path, mode: str = "RGB", size=(20, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {
        "L": 128,
        "LA": (128, 200),
        "P": 3,
        "RGBA": (10, 20, 30, 128),
        "CMYK": (0, 50, 100, 0),
        "RGB": (10, 20, 30),
        "I;16": 40000,
    }[mode]
    Image.new(mode, size, color).save(path)
    return path


def test_sample_images_are_real_offline_photos():
    images = data.sample_images()
    assert len(images) >= 4
    for name, image in images.items():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, name
        assert min(image.shape[:2]) >= 256, name
        assert image.std() > 20, f"{name} looks flat, not a photo"
    assert set(images) <= set(data.sample_image_credits())
    images["cat"][:] = 0
    assert data.sample_images()["cat"].any(), "callers get copies"


def test_imagenet_class_names_in_keras_order():
    names = data.imagenet_class_names()
    assert len(names) == 1000
    assert (names[281], names[285], names[386], names[141]) == ("tabby", "Egyptian_cat", "African_elephant", "redshank")
    assert names[0] == "tench" and names[999] == "toilet_tissue"


def _fake_dataset(root: Path) -> Path:
    for number in range(1, 11):
        for pose in (1, 2):
            _write(root / "horses" / f"horse{number:02d}-{pose}.jpg", size=(12, 12))
    for number in range(1, 6):
        for pose in (1, 2, 3):
            _write(root / "humans" / f"human{number:02d}-{pose:02d}.jpg", size=(12, 12))
    return root


def test_validation_split_holds_out_whole_models(tmp_path):
    root = _fake_dataset(tmp_path / "hoh")
    train_paths, train_labels = data.list_image_files(root, "train")
    val_paths, val_labels = data.list_image_files(root, "validation")
    all_paths, _ = data.list_image_files(root, "all")
    assert sorted(train_paths + val_paths) == sorted(all_paths) and not set(train_paths) & set(val_paths)

    def models_of(paths):
        return {Path(p).stem.split("-")[0] for p in paths}

    assert models_of(val_paths) == {"horse05", "horse10", "human05"}
    assert not models_of(train_paths) & models_of(val_paths)
    assert val_labels.count(0) == 4 and val_labels.count(1) == 3 and set(train_labels) == {0, 1}


def test_load_horses_or_humans_from_a_folder(tmp_path, monkeypatch):
    root = _fake_dataset(tmp_path / "hoh")
    monkeypatch.setenv("HORSES_OR_HUMANS_DIR", str(root))
    ds = data.load_horses_or_humans("validation", image_size=8)
    examples = [(x.numpy(), int(y)) for x, y in ds]
    assert len(examples) == 7
    image, _ = examples[0]
    assert image.shape == (8, 8, 3) and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 255
    assert sorted(label for _, label in examples) == [0, 0, 0, 0, 1, 1, 1]


def test_held_out_models_name_the_rendered_model_of_each_held_out_image_in_order(tmp_path, monkeypatch):
    root = _fake_dataset(tmp_path / "hoh")
    monkeypatch.setenv("HORSES_OR_HUMANS_DIR", str(root))
    names = data.held_out_models()
    _, labels = data.held_out_images(8)
    assert sorted(names) == ["horse05", "horse05", "horse10", "horse10", "human05", "human05", "human05"]
    assert [name.startswith("human") for name in names] == [bool(label) for label in labels], "same order"
    assert list(data.held_out_models(limit=3)) == list(names[:3])
    monkeypatch.delenv("HORSES_OR_HUMANS_DIR")
    monkeypatch.setattr(data, "_tfds_available", lambda: True)
    assert data.held_out_models() is None, "TFDS records carry no file names"


def test_held_out_models_of_the_embedded_sample_are_whole_models(monkeypatch):
    monkeypatch.delenv("HORSES_OR_HUMANS_DIR", raising=False)
    monkeypatch.setattr(data, "_tfds_available", lambda: False)
    names = data.held_out_models()
    assert len(names) == 36 and len(set(names)) == 12
    assert {int(name[-2:]) for name in names} <= set(data.validation_model_numbers("horses"))


def test_bad_folders_say_what_layout_is_expected(tmp_path):
    (tmp_path / "horses").mkdir()
    with pytest.raises(ValueError, match="humans/"):
        data.load_horses_or_humans("train", 8, data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="HORSES_OR_HUMANS_DIR"):
        data.load_horses_or_humans("train", 8, data_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="split must be"):
        data.load_horses_or_humans("dev", 8, data_dir=tmp_path)


def test_a_corrupt_image_in_the_folder_is_named(tmp_path):
    root = _fake_dataset(tmp_path / "hoh")
    (root / "horses" / "horse01-1.jpg").write_bytes(b"garbage")
    ds = data.load_horses_or_humans("all", 8, data_dir=root)
    with pytest.raises(Exception, match="horse01-1.jpg"):
        for _ in ds:
            pass


def _offline(monkeypatch):
    monkeypatch.delenv("HORSES_OR_HUMANS_DIR", raising=False)
    monkeypatch.setattr(data, "_online", lambda timeout=3.0: False)
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: False, raising=False)


@pytest.mark.parametrize("quick", ["1", "0"])
def test_offline_without_a_folder_uses_the_embedded_real_sample(monkeypatch, capsys, quick):
    _offline(monkeypatch)
    monkeypatch.setenv("COURSE_QUICK", quick)
    monkeypatch.setattr(data, "_NOTICES_SHOWN", set())
    sample = data.embedded_sample_dir()
    assert sample is not None and sample.parent.name == "data"
    train_paths, train_labels = data.list_image_files(sample, "train")
    val_paths, val_labels = data.list_image_files(sample, "validation")
    assert 60 <= sum(1 for y in train_labels + val_labels if y == 0) <= 100
    assert 60 <= sum(1 for y in train_labels + val_labels if y == 1) <= 100
    held_out = {Path(p).stem.split("-")[0] for p in val_paths}
    assert held_out and not held_out & {Path(p).stem.split("-")[0] for p in train_paths}, "whole models held out"
    images, labels = data.held_out_images(32)
    assert images.shape == (len(val_paths), 32, 32, 3) and sorted(labels.tolist()) == sorted(val_labels)
    assert images.std() > 20, "real photos, not a constant mock"
    assert "embedded sample" in capsys.readouterr().err


def test_a_tensorflow_datasets_that_cannot_be_imported_falls_back_to_the_sample(monkeypatch, capsys):
    """The Colab failure: tensorflow-metadata's generated code needs a newer protobuf than TensorFlow allows,
    so ``import tensorflow_datasets`` raises AttributeError; the course must still load real images and say why."""
    import builtins

    monkeypatch.delenv("HORSES_OR_HUMANS_DIR", raising=False)
    monkeypatch.setattr(data, "_online", lambda timeout=3.0: True)  # even online: TFDS itself is unusable
    monkeypatch.setattr(data, "_NOTICES_SHOWN", set())
    real_import = builtins.__import__

    def broken_tfds(name, *args, **kwargs):
        if name.startswith("tensorflow_datasets"):
            raise AttributeError("module 'google.protobuf.runtime_version' has no attribute 'Domain'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken_tfds)
    ds = data.load_horses_or_humans("validation", 16)
    images = np.stack([image for image, _ in ds.as_numpy_iterator()])
    assert images.shape[1:] == (16, 16, 3) and images.std() > 20
    err = capsys.readouterr().err
    assert "tensorflow_datasets cannot be imported (AttributeError" in err and "tensorflow-metadata<1.21" in err
    assert "embedded sample" in err


def test_embedded_sample_is_small_and_credited():
    sample = data.embedded_sample_dir()
    files = [p for p in sample.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 4_000_000
    credits = (sample.parent / "CREDITS.md").read_text()
    assert "horses_or_humans_sample" in credits and "CC BY 2.0" in credits


@pytest.mark.parametrize("mode", ["quick", "cpu", "full"])
def test_offline_without_any_sample_says_how_to_point_at_a_copy_in_every_mode(monkeypatch, mode):
    _offline(monkeypatch)
    monkeypatch.setattr(data, "embedded_sample_dir", lambda: None)
    monkeypatch.setenv("COURSE_MODE", mode)
    with pytest.raises(RuntimeError, match="HORSES_OR_HUMANS_DIR"):
        data.load_horses_or_humans("train", image_size=16)


def test_choose_cases_picks_the_most_confident_right_and_wrong_images():
    labels = np.array([0, 0, 1, 1, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.99, 0.01], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8], [0.05, 0.95]])
    cases = data.choose_cases(labels, probabilities, wrong=2)
    assert [index for index, _ in cases] == [1, 5, 4, 3]
    assert cases[0][1] == "horse, predicted horse (p=0.99)"
    assert cases[2][1] == "horse, predicted human (p=0.80)"
    assert [i for i, _ in data.choose_cases(labels, probabilities, wrong=0)] == [1, 5]
    perfect = np.eye(2)[labels]
    assert len(data.choose_cases(labels, perfect, wrong=3)) == 2, "no mistakes to show"
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        data.choose_cases(labels, probabilities[:, :1])
    with pytest.raises(ValueError, match="wrong"):
        data.choose_cases(labels, probabilities, wrong=-1)


def _held_out_like():
    """Labels and rendered models shaped like the held-out split: 9 horse models of 10 images, 3 human models of 31."""
    models = [f"horse{m:02d}" for m in range(9) for _ in range(10)] + [
        f"human{m:02d}" for m in range(3) for _ in range(31)
    ]
    labels = np.array([0] * 90 + [1] * 93)
    order = np.random.default_rng(1).permutation(len(labels))  # the images do not come grouped by model
    return labels[order], np.array(models)[order]


def test_draw_across_models_covers_every_model_before_repeating_one():
    labels, models = _held_out_like()
    chosen = data.draw_across_models(labels, models, per_class=12, seed=0)
    assert chosen.dtype == np.int64 and len(set(chosen.tolist())) == 24, "24 different images"
    assert labels[chosen].tolist() == [0] * 12 + [1] * 12, "horses first, as many as humans"
    horses, humans = models[chosen[:12]], models[chosen[12:]]
    assert len(set(horses[:9])) == 9, "the first nine horses come from the nine horse models"
    assert len(set(horses)) == 9 and len(set(humans)) == 3
    assert sorted(np.unique(humans, return_counts=True)[1].tolist()) == [4, 4, 4], "humans spread evenly"
    # A plain random draw of the same size usually misses models: this is what the spreading buys.
    plain = np.concatenate([np.random.default_rng(s).permutation(np.flatnonzero(labels == 0))[:12] for s in range(50)])
    assert np.mean([len(set(models[plain[12 * k : 12 * (k + 1)]])) for k in range(50)]) < 9
    again = data.draw_across_models(labels, models, per_class=12, seed=0)
    assert again.tolist() == chosen.tolist(), "the same seed draws the same images"
    assert data.draw_across_models(labels, models, per_class=12, seed=1).tolist() != chosen.tolist()


def test_draw_across_models_without_models_is_the_plain_class_balanced_draw():
    labels, _ = _held_out_like()
    rng = np.random.default_rng(0)
    expected = np.concatenate([rng.permutation(np.flatnonzero(labels == label))[:5] for label in (0, 1)])
    assert data.draw_across_models(labels, None, per_class=5, seed=0).tolist() == expected.tolist()


def test_draw_across_models_says_what_is_wrong():
    labels, models = _held_out_like()
    with pytest.raises(ValueError, match="only 90 horses images"):
        data.draw_across_models(labels, models, per_class=91)
    with pytest.raises(ValueError, match="one model per label"):
        data.draw_across_models(labels, models[:-1], per_class=4)
    with pytest.raises(ValueError, match="per_class"):
        data.draw_across_models(labels, models, per_class=0)


def test_real_images_split_by_model_number(horses_dir):
    train_paths, _ = data.list_image_files(horses_dir, "train")
    val_paths, val_labels = data.list_image_files(horses_dir, "validation")
    assert len(train_paths) + len(val_paths) == 915
    assert val_labels.count(0) == 90 and val_labels.count(1) == 93


def test_course_photos_are_the_central_squares_in_course_order():
    photos = data.course_photos(32, count=3)
    assert list(photos) == list(data.PHOTO_CLASSES)[:3]
    assert all(p.shape == (32, 32, 3) and p.dtype == np.float32 and p.max() <= 255 for p in photos.values())
    assert list(data.course_photos(16, names=["coffee", "cat"])) == ["coffee", "cat"]


def test_right_and_wrong_picks_the_most_confident_of_each_and_says_when_it_cannot():
    expected = {"a": [0], "b": [1], "c": [2], "d": []}
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    cases = data.right_and_wrong(["a", "b", "c", "d"], scores, expected)
    assert cases["correct"] == ["a", "b"] and cases["wrong"] == ["c"] and cases["rank"]["c"] == 2
    assert (cases["right"], cases["wrong_case"]) == ("a", "c")
    all_right = data.right_and_wrong(["a", "b"], scores[:2], expected)
    assert all_right["wrong_case"] == "b" and "no other wrong prediction" in all_right["wrong_note"]
    none_right = data.right_and_wrong(["a", "b"], np.array([[0.1, 0.9, 0.0], [0.8, 0.05, 0.15]]), expected)
    assert none_right["correct"] == [] and none_right["right"] == "a" and "rank 2" in none_right["right_note"]
    with pytest.raises(ValueError, match="one row per name"):
        data.right_and_wrong(["a"], scores, expected)
