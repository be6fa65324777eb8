from __future__ import annotations

import numpy as np
import pytest

from course_utils import cli, models, training


def test_cli_refuses_to_overwrite_a_model(tmp_path, capsys):
    existing = tmp_path / "model.keras"
    existing.write_bytes(b"an instructor's pre-trained model")
    status = cli.main(["train", "--data-dir", str(tmp_path), "--out", str(existing)])
    assert status == 2
    assert "--overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"an instructor's pre-trained model"


def test_cli_explains_a_wrong_data_folder(tmp_path, capsys):
    status = cli.main(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "m.keras")])
    assert status == 2
    assert "horses/" in capsys.readouterr().err


def test_cli_wants_a_keras_file(tmp_path, capsys):
    assert cli.main(["train", "--out", str(tmp_path / "model.h5")]) == 2
    assert ".keras" in capsys.readouterr().err


def test_the_command_line_does_not_load_tensorflow_for_run_notebooks():
    """make run's own process stays light; the kernels load TensorFlow, and their logs go to build/logs."""
    import subprocess
    import sys

    probe = "import sys, course_utils.cli, course_utils.notebook_runner; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split() == ["False", "False"]


def test_epochs_for_trains_small_data_sets_longer():
    assert training.epochs_for(23, 8, 160) == 8
    assert training.epochs_for(5, 8, 160) == 32
    assert training.epochs_for(-2, 8, 160) == 8, "unknown cardinality keeps the plan"
    with pytest.raises(ValueError, match="min_steps"):
        training.epochs_for(5, 8, -1)


def test_pipeline_batches_every_example_once_per_epoch():
    import tensorflow as tf

    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((1, 4, 4, 3), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(10)))
    batches = training.make_pipeline(ds, batch_size=4, training=True, seed=1)
    assert int(batches.cardinality()) == 3, "an epoch is ceil(10 / 4) batches: no repeat(), no steps_per_epoch guesswork"
    for _ in range(2):
        seen = sorted(int(y) for _, ys in batches for y in ys)
        assert seen == list(range(10))
    with pytest.raises(ValueError, match="never augment validation"):
        training.make_pipeline(ds, augment=True)


def test_augmentation_keeps_shape_and_range():
    import tensorflow as tf

    x = tf.random.uniform((2, 32, 32, 3), 0, 255, seed=0)
    y = training.augmentation(seed=0)(x, training=True)
    assert y.shape == x.shape
    assert float(tf.reduce_min(y)) >= 0.0 and float(tf.reduce_max(y)) <= 255.0 + 1e-3


@pytest.mark.slow
def test_short_training_on_real_images_learns(horses_dir, tmp_path):
    """A short version of the instructors' CLI run, on the real images, validated on held-out models.

    Chance is 0.51 (93 of 183 validation images are humans); 4-epoch runs
    measured 0.73 to 0.85 (CPU training is not bit-reproducible), so 6 epochs
    and a 0.70 bar catch a broken pipeline (shuffled labels, wrong split,
    no learning) without flaking. The full run (150 px, 15 epochs) is in the
    closing note: 0.96.
    """
    out = tmp_path / "hh.keras"
    status = cli.main(
        ["train", "--data-dir", str(horses_dir), "--image-size", "64", "--epochs", "6", "--out", str(out)]
    )
    assert status == 0 and out.is_file()
    import keras

    model = keras.models.load_model(out)
    assert model.input.shape[1:] == (64, 64, 3)
    from course_utils import data

    val = training.make_pipeline(data.load_horses_or_humans("validation", 64, data_dir=horses_dir), 64)
    _, accuracy = model.evaluate(val, verbose=0)
    assert accuracy >= 0.70, f"validation accuracy on held-out models {accuracy:.3f}"


def test_fetch_weights_offers_every_imagenet_model():
    from course_utils import models

    # EfficientNet-Lite0's weights come installed with the course: nothing to fetch.
    downloaded = tuple(name for name in models.IMAGENET_MODELS if name != "efficientnetlite0")
    assert cli._IMAGENET_NAMES == downloaded


def test_course_cnn_trains_once_saves_and_then_loads(monkeypatch, tmp_path, capsys):
    """Trains on the embedded real sample (offline), saves where notebook 01 saves, then loads that file."""
    from course_utils import data

    monkeypatch.delenv("HORSES_HUMANS_MODEL", raising=False)
    monkeypatch.setenv("HORSES_OR_HUMANS_DIR", str(data.embedded_sample_dir()))
    first = training.course_cnn(16, epochs=1)
    path = training.course_cnn_path(16)
    assert path.is_file() and path.parent.name == "models"
    assert "Training the course CNN" in capsys.readouterr().out
    second = training.course_cnn(16, epochs=1)
    assert "Training" not in capsys.readouterr().out, "the saved model is loaded, not retrained"
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(first.predict(x, verbose=0), second.predict(x, verbose=0), atol=1e-6)
    control = training.course_cnn(16, epochs=1, shuffled_labels=True)
    assert training.course_cnn_path(16, shuffled_labels=True).is_file() and control is not second


def test_course_cnn_prefers_an_instructors_model_of_the_right_size(monkeypatch, tmp_path):
    pretrained = models.horses_humans_cnn(16)
    file = tmp_path / "instructor.keras"
    pretrained.save(file)
    monkeypatch.setenv("HORSES_HUMANS_MODEL", str(file))
    loaded = training.course_cnn(16, epochs=1)
    for a, b in zip(pretrained.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not training.course_cnn_path(16).exists(), "nothing trained"
    with pytest.raises(ValueError, match="image_size"):
        training.course_cnn_path(4)


def test_course_train_only_trains(capsys):
    """The course-train command is the train subcommand; the other tools live under course-utils."""
    import pytest

    from course_utils import cli

    with pytest.raises(SystemExit):
        cli.train_main(["--help"])
    help_text = capsys.readouterr().out
    assert "--epochs" in help_text and "run-notebooks" not in help_text
    with pytest.raises(SystemExit):
        cli.train_main(["run-notebooks"])
