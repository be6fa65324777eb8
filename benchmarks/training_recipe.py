"""How reliably the course's training recipe learns: held-out accuracy over seeds and image sizes.

For each (image size, seed) it trains the CNN exactly as the command
line does (``python -m course_utils train``: augmentation, batch 32, the
epochs given, the best validation epoch kept) and reports:

* ``val best`` / ``val last``: validation accuracy of the kept epoch and of
  the last one, on the held-out model numbers (every fifth model) that
  choose the kept epoch;
* ``test``: accuracy on a **third** set of rendered models (numbers 3, 8,
  13, ...) that neither training nor the choice of epoch ever sees, so it is
  an unbiased estimate of the recipe's generalisation;
* training seconds on this machine.

The test models are removed from a linked copy of the data folder before
training, so every run trains on 60 % of the 915 images (the notebooks train
on 80 %). ``best`` is the kept epoch; ``test last`` is what the
recipe without :func:`course_utils.training.keep_best_epoch` (Keras' default,
the last epoch's weights) would have scored on the same models.

Usage::

    python benchmarks/training_recipe.py --data-dir DIR                          # 150 px x seeds 0 1 2, then 96 and 64 px
    python benchmarks/training_recipe.py --data-dir DIR --sizes 150 --seeds 0 1
    python benchmarks/training_recipe.py --quick                                 # embedded sample, 32 px: a smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from course_utils import data, training  # noqa: E402

#: Epochs per image size: the command line's default (15) at 150 px, the presets' elsewhere.
EPOCHS = {150: (15, 0), 96: (10, 250), 64: (8, 160)}


def test_model_numbers(class_name: str) -> frozenset[int]:
    """Model numbers this benchmark holds out from training and validation alike: 3, 8, 13, ..."""
    highest = 45 if class_name == "horses" else 15
    return frozenset(range(3, highest + 1, 5))


def split_folders(source: Path, scratch: Path) -> tuple[Path, Path]:
    """Link ``source``'s images into ``scratch/train`` (training and validation models) and ``scratch/test``."""
    for class_name in data.CLASS_NAMES:
        for part in ("train", "test"):
            (scratch / part / class_name).mkdir(parents=True, exist_ok=True)
        for image in sorted((source / class_name).iterdir()):
            part = "test" if data.model_number(image) in test_model_numbers(class_name) else "train"
            if image.is_file():
                (scratch / part / class_name / image.name).symlink_to(image.resolve())
    return scratch / "train", scratch / "test"


def accuracy(model, test_folder: Path, image_size: int) -> tuple[float, int]:
    """Accuracy on every image of ``test_folder``, decoded and resized exactly as training does."""
    images = data.load_horses_or_humans("all", image_size=image_size, data_dir=test_folder).batch(64)
    labels = np.concatenate([y for _, y in images.as_numpy_iterator()])
    predicted = np.argmax(model.predict(images, verbose=0), axis=1)
    return float(np.mean(predicted == labels)), len(labels)


def test_every_epoch(test_folder: Path, image_size: int):
    """A Keras callback that scores the test models after every epoch (``.accuracies``; ``.seconds`` it took)."""
    import keras

    class TestEveryEpoch(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.accuracies: list[float] = []
            self.seconds = 0.0

        def on_epoch_end(self, epoch, logs=None):
            started = time.perf_counter()
            self.accuracies.append(accuracy(self.model, test_folder, image_size)[0])
            self.seconds += time.perf_counter() - started

    return TestEveryEpoch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="horses-or-humans folder (default: HORSES_OR_HUMANS_DIR)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 96, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="embedded sample, 32 px, 2 epochs: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        source, sizes, seeds, epochs = data.embedded_sample_dir(), [32], [0], {32: (2, 0)}
    else:
        source = Path(args.data_dir or os.environ.get("HORSES_OR_HUMANS_DIR") or "")
        sizes, seeds, epochs = args.sizes, args.seeds, EPOCHS
        if not source.is_dir():
            parser.error("pass --data-dir or set HORSES_OR_HUMANS_DIR to the horses-or-humans folder")
    print(
        f"{'size':>4} {'seed':>4} {'epochs':>6} {'best':>4} {'val best':>8} {'val last':>8} {'test':>5} "
        f"{'test last':>9} {'test range over epochs':>22} {'seconds':>7}",
        flush=True,
    )
    tests: dict[int, list[float]] = {}
    lasts: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder, test_folder = split_folders(source, Path(scratch))
        for size in sizes:
            planned, min_steps = epochs.get(size, (15, 0))
            for seed in seeds:
                per_epoch = test_every_epoch(test_folder, size)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", training.LowAccuracyWarning)  # reported in the table
                    result = training.train(
                        folder, size, planned, seed=seed, verbose=0, min_steps=min_steps, callbacks=[per_epoch]
                    )
                test, test_images = accuracy(result.model, test_folder, size)
                tests.setdefault(size, []).append(test)
                lasts.setdefault(size, []).append(per_epoch.accuracies[-1])
                spread = f"{min(per_epoch.accuracies):.3f}-{max(per_epoch.accuracies):.3f}"
                print(
                    f"{size:>4} {seed:>4} {len(result.history['loss']):>6} {result.best_epoch:>4} "
                    f"{result.val_accuracy:>8.3f} {result.history['val_accuracy'][-1]:>8.3f} {test:>5.3f} "
                    f"{per_epoch.accuracies[-1]:>9.3f} {spread:>22} {result.seconds - per_epoch.seconds:>7.0f}",
                    flush=True,
                )
    print(f"\ntest accuracy on {test_images} images of held-out models (floor {training.ACCURACY_FLOOR}):")
    for size, values in tests.items():
        print(
            f"  {size:>4} px, best epoch kept: min {min(values):.3f}  median {statistics.median(values):.3f}  "
            f"max {max(values):.3f}   last epoch (Keras' default): min {min(lasts[size]):.3f}  "
            f"max {max(lasts[size]):.3f}  over {len(values)} seed(s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
