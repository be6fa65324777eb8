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
* training seconds on this machine, and with ``--precisions float32
  bfloat16`` the same runs in mixed precision (float32 weights, bfloat16
  arithmetic: :func:`course_utils.models.horses_humans_cnn`) with the ratio
  of their training times.

The test models are removed from a linked copy of the data folder before
training, so every run trains on 60 % of the 915 images (the notebooks train
on 80 %). ``best`` is the kept epoch; ``test last`` is what the
recipe without :func:`course_utils.training.keep_best_epoch` (Keras' default,
the last epoch's weights) would have scored on the same models.

Usage::

    python benchmarks/training_recipe.py --data-dir DIR                          # 150 px x seeds 0 1 2, then 96 and 64 px
    python benchmarks/training_recipe.py --data-dir DIR --sizes 150 --seeds 0 1
    python benchmarks/training_recipe.py --data-dir DIR --sizes 96 --precisions float32 bfloat16
    python benchmarks/training_recipe.py --quick                                 # embedded sample, 32 px: a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from course_utils import data, models, training  # noqa: E402

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
    batches = list(data.load_horses_or_humans("all", image_size=image_size, data_dir=test_folder).batch(64).as_numpy_iterator())
    images, labels = np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])
    # The course's compiled forward pass: one trace per model, not Keras' retracing warnings every few epochs.
    predicted = np.argmax(models.predict_scores(model, images), axis=1)
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


@dataclasses.dataclass
class Run:
    """One training run's scores on the third set of models, and its training seconds."""

    test: float  # the kept epoch's accuracy
    test_last: float  # the last epoch's accuracy
    seconds: float
    test_images: int


def train_and_test(
    folder: Path, test_folder: Path, size: int, planned: int, min_steps: int, seed: int, precision: str
) -> Run:
    """Train once as the command line does, score the test models, and print the run's table row."""
    per_epoch = test_every_epoch(test_folder, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", training.LowAccuracyWarning)  # reported in the table
        result = training.train(
            folder, size, planned, seed=seed, verbose=0, min_steps=min_steps, callbacks=[per_epoch], precision=precision
        )
    test, test_images = accuracy(result.model, test_folder, size)
    run = Run(test, per_epoch.accuracies[-1], result.seconds - per_epoch.seconds, test_images)
    spread = f"{min(per_epoch.accuracies):.3f}-{max(per_epoch.accuracies):.3f}"
    print(
        f"{size:>4} {precision:>9} {seed:>4} {len(result.history['loss']):>6} {result.best_epoch:>4} "
        f"{result.val_accuracy:>8.3f} {result.history['val_accuracy'][-1]:>8.3f} {test:>5.3f} "
        f"{run.test_last:>9.3f} {spread:>22} {run.seconds:>7.0f}",
        flush=True,
    )
    return run


def print_summary(runs: dict[tuple[int, str], list[Run]]) -> None:
    """Test accuracy per (size, precision) over the seeds, and mixed precision's speed-up where both ran."""
    test_images = next(iter(runs.values()))[0].test_images
    print(f"\ntest accuracy on {test_images} images of held-out models (floor {training.ACCURACY_FLOOR}):")
    for (size, precision), group in runs.items():
        tests, lasts = [r.test for r in group], [r.test_last for r in group]
        print(
            f"  {size:>4} px {precision:>8}, best epoch kept: min {min(tests):.3f}  median {statistics.median(tests):.3f}  "
            f"max {max(tests):.3f}   last epoch (Keras' default): min {min(lasts):.3f}  max {max(lasts):.3f}  "
            f"over {len(group)} seed(s)"
        )
    for size in sorted({size for size, _ in runs}):
        if (size, "float32") in runs and (size, "bfloat16") in runs:
            ratio = sum(r.seconds for r in runs[size, "float32"]) / sum(r.seconds for r in runs[size, "bfloat16"])
            print(f"  {size:>4} px: mixed bfloat16 trains {ratio:.2f}x as fast as float32 (training seconds, all seeds)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="horses-or-humans folder (default: HORSES_OR_HUMANS_DIR)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 96, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=["float32", "bfloat16"])
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
        f"{'size':>4} {'precision':>9} {'seed':>4} {'epochs':>6} {'best':>4} {'val best':>8} {'val last':>8} {'test':>5} "
        f"{'test last':>9} {'test range over epochs':>22} {'seconds':>7}",
        flush=True,
    )
    runs: dict[tuple[int, str], list[Run]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder, test_folder = split_folders(source, Path(scratch))
        for size in sizes:
            planned, min_steps = epochs.get(size, (15, 0))
            for precision in args.precisions:
                for seed in seeds:
                    run = train_and_test(folder, test_folder, size, planned, min_steps, seed, precision)
                    runs.setdefault((size, precision), []).append(run)
    print_summary(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
