"""Course-wide settings: the three modes, the knobs they turn, seeding and the output folder.

Every notebook reads its sizes (epochs, IG steps, LIME samples, ...) from
:func:`settings` instead of hard-coding them. Three modes:

``full``
    The sizes of the source documents and the papers; meant for a GPU (the
    default when nothing is set).
``cpu``
    Real results sized for a laptop: smaller images, fewer samples, steps and
    filters; ``make run`` picks it when no GPU is visible.
``quick``
    About a minute per notebook on two CPU cores (tests, a dry run); the
    ImageNet sections use EfficientNet-Lite0 with its real weights (installed
    with the course, so offline too), the course CNN is trained on real images.

Environment variables
---------------------
COURSE_MODE
    ``quick``, ``cpu`` or ``full``; wins over ``COURSE_QUICK``.
COURSE_QUICK
    ``1``/``true``/``yes``/``on`` turns quick mode on (when ``COURSE_MODE`` is unset).
COURSE_OUTPUT_DIR
    Where figures, GIFs and models are written. Defaults to ``build/`` at the
    root of the course checkout (or of the current directory when the course
    is not checked out, e.g. in Colab).
HORSES_OR_HUMANS_DIR
    A local copy of the horses-or-humans images (see :mod:`course_utils.data`).
COURSE_PRECISION
    ``float32``, ``bfloat16`` or ``auto`` (the default): the number format of
    the forward-only methods (LIME, deletion and insertion curves) and of
    training the course CNN, in cpu and full mode. Where the hardware computes
    bfloat16 natively (:func:`native_bfloat16`), ``auto`` trains in mixed
    precision in both modes (:func:`training_precision`) and runs the
    forward-only methods in bfloat16 in both modes (:func:`forward_precision`;
    EfficientNet-Lite0 stays float32); float32 elsewhere. Quick mode is
    always float32.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping

import numpy as np

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_quick(environ: Mapping[str, str] | None = None) -> bool:
    """Return True when ``COURSE_QUICK`` asks for quick mode.

    Parameters
    ----------
    environ
        The variables to read (default: this process's environment).

    Raises
    ------
    ValueError
        If the variable holds something that is neither true nor false.
    """
    raw = (os.environ if environ is None else environ).get("COURSE_QUICK", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(
        f"COURSE_QUICK={raw!r} is not understood; use COURSE_QUICK=1 for quick mode "
        "or COURSE_QUICK=0 (or leave it unset) for the full course."
    )


MODES: tuple[str, ...] = ("quick", "cpu", "full")


def mode(environ: Mapping[str, str] | None = None) -> str:
    """The mode asked for: ``COURSE_MODE`` if set, else ``quick`` when ``COURSE_QUICK`` is on, else ``full``.

    Parameters
    ----------
    environ
        The variables to read (default: this process's environment).

    Raises
    ------
    ValueError
        If ``COURSE_MODE`` is not one of :data:`MODES`.
    """
    variables = os.environ if environ is None else environ
    raw = variables.get("COURSE_MODE", "").strip().lower()
    if raw:
        if raw not in MODES:
            raise ValueError(f"COURSE_MODE={raw!r} is not understood; use one of {', '.join(MODES)}.")
        return raw
    return "quick" if is_quick(variables) else "full"


@dataclasses.dataclass(frozen=True)
class Settings:
    """All sizes that the modes change, in one place.

    Full-mode values follow the source documents and the papers; CPU-mode
    values keep the whole course near 30 minutes on two CPU cores with real
    results; quick-mode values keep each notebook near one minute while still
    exercising every code path.
    """

    quick: bool
    mode: str
    # 01: training the horses-vs-humans CNN
    train_image_size: int
    train_epochs: int
    train_batch_size: int
    train_max_images: int | None  # None = every image
    train_min_steps: int  # train at least this many batches: more epochs on a small data set
    # ImageNet models: passed as imagenet_model(weights=...); "auto" = ImageNet weights, EfficientNet-Lite0's when
    # a Keras Application's cannot be downloaded (never random weights)
    imagenet_weights: str
    # "sources": the models of the source documents (VGG19, VGG16, Xception, ResNet50V2), falling back to
    # EfficientNet-Lite0 offline; or one model name used for every ImageNet section (imagenet_model() says which)
    imagenet_models: str
    # 02, 05, 06: gradient attributions
    sample_photos: int  # how many of data.sample_images() a notebook explains
    ig_steps: int
    attribution_batch_size: int
    smoothgrad_samples: int
    smoothgrad_noise: float
    occlusion_patch: int
    occlusion_stride: int
    activation_channels: int
    # 03, 04: LIME and SHAP
    lime_samples: int
    lime_batch_size: int
    lime_num_features: int
    shap_nsamples: int
    shap_background_size: int
    shap_images: int
    # 07: feature visualization
    fv_steps: int
    fv_filters: int
    fv_image_size: int
    fv_frame_every: int
    class_steps: int
    # 08: faithfulness of explanations
    faithfulness_images: int  # held-out images every method explains and the curves score
    faithfulness_fractions: int  # points of each deletion / insertion curve, 0 to 1
    randomization_images: int
    # The shuffled-label control memorises its labels, which takes longer the more images it has: quick and cpu
    # mode cap them (2 cores, to 90 %: 64 px, 144 images 37 s, 96 images 20 s; 96 px, all 732 real training
    # images 237 s, 256 images 67 s). None: every training image.
    control_max_images: int | None
    bootstrap_resamples: int  # enough for Holm-corrected p-values of some thirty comparisons
    faithfulness_seeds: int  # training runs of the CNN (seeds 0, 1, ...) whose verdicts 08 compares
    faithfulness_lime_samples: int  # LIME's samples per image on the CNN in 08 (some 40 superpixels, not ~100)
    faithfulness_occlusion_stride: int | None  # occlusion stride on the CNN in 08; None: half the patch (size // 16)
    # Forward-only methods (LIME, occlusion, deletion / insertion curves): "float32" or "bfloat16", applied through
    # models.forward_pass_model, which keeps depthwise networks (EfficientNet-Lite0) in float32;
    # benchmarks/precision.py measures where their results agree (forward_precision() says how it is chosen).
    forward_precision: str = "float32"
    # Training the course CNN: "float32" or "bfloat16" (mixed precision: float32 weights; training_precision()).
    train_precision: str = "float32"

    def imagenet_model(self, source: str) -> str:
        """The ImageNet model a section runs in this mode, for a section whose source used ``source``.

        Full mode keeps the sources' model (``"vgg19"`` for Grad-CAM and LIME,
        ``"vgg16"`` for SHAP, ``"xception"``, ``"resnet50v2"``); quick and cpu
        mode use ``"efficientnet_lite0"`` for every section: real ImageNet
        weights that come installed with the course, 50x cheaper than VGG19.
        Pass the result to ``models.imagenet_model(name, weights=self.imagenet_weights)``.
        """
        if not isinstance(source, str) or not source:
            raise TypeError(f"source must be a model name (str), got {source!r}")
        return source if self.imagenet_models == "sources" else self.imagenet_models


_FULL: dict[str, Any] = dict(
    train_image_size=150,
    train_epochs=15,
    train_batch_size=32,
    train_max_images=None,
    train_min_steps=350,
    imagenet_weights="auto",
    imagenet_models="sources",
    sample_photos=8,
    ig_steps=50,
    attribution_batch_size=32,
    smoothgrad_samples=50,
    smoothgrad_noise=0.15,
    occlusion_patch=32,
    occlusion_stride=16,
    activation_channels=64,
    lime_samples=1000,
    lime_batch_size=64,
    lime_num_features=5,
    shap_nsamples=200,
    shap_background_size=50,
    shap_images=4,
    fv_steps=100,
    fv_filters=64,
    fv_image_size=224,
    fv_frame_every=5,
    class_steps=100,
    faithfulness_images=64,
    faithfulness_fractions=21,
    randomization_images=16,
    control_max_images=None,
    bootstrap_resamples=10000,
    faithfulness_seeds=3,
    faithfulness_lime_samples=1000,
    faithfulness_occlusion_stride=None,
)

_QUICK: dict[str, Any] = dict(
    _FULL,
    # Eight epochs on every image at 64 px: ~25 s on two cores and 0.8-0.9 accuracy on
    # held-out models, so quick mode explains a real classifier, not an untrained one.
    train_image_size=64,
    train_epochs=8,
    train_batch_size=32,
    train_max_images=None,
    # On the embedded 144-image sample (5 batches an epoch) that means 32 epochs, about 25 s.
    train_min_steps=160,
    # EfficientNet-Lite0 (4.7 M parameters, weights from the package index): a real ImageNet model offline too.
    imagenet_models="efficientnet_lite0",
    sample_photos=4,
    ig_steps=8,
    attribution_batch_size=8,
    smoothgrad_samples=4,
    occlusion_patch=56,
    occlusion_stride=56,
    activation_channels=16,
    lime_samples=40,
    lime_batch_size=20,
    shap_nsamples=4,
    shap_background_size=4,
    shap_images=2,
    fv_steps=4,
    fv_filters=4,
    fv_image_size=96,
    fv_frame_every=2,
    class_steps=4,
    faithfulness_images=16,
    faithfulness_fractions=11,
    randomization_images=4,
    control_max_images=96,
    # One CNN: two more training runs would double the notebook's minute; full mode trains three.
    faithfulness_seeds=1,
    faithfulness_lime_samples=40,
    # Non-overlapping 8 px patches of the 64 px images: 64 forward passes per map instead of 225.
    faithfulness_occlusion_stride=8,
)


_CPU: dict[str, Any] = dict(
    _FULL,
    # EfficientNet-Lite0 is some 50x cheaper than VGG19, so cpu mode keeps the papers' sample counts
    # (IG 50 steps, SmoothGrad 50 samples, LIME 1000, occlusion 32 px patches at stride 16).
    imagenet_models="efficientnet_lite0",
    train_image_size=96,
    train_epochs=10,
    train_min_steps=250,
    sample_photos=4,
    attribution_batch_size=16,
    activation_channels=32,
    shap_nsamples=50,
    shap_background_size=20,
    shap_images=2,
    fv_steps=40,
    fv_filters=16,
    fv_image_size=160,
    fv_frame_every=4,
    class_steps=40,
    faithfulness_images=24,
    randomization_images=8,
    control_max_images=256,
    # Each further training run costs about 100 s of training and 200 s of explaining on two cores; 3 runs
    # measured once are in the README. LIME: 300 samples for the CNN's superpixels (1000 cost 79 s of 08).
    faithfulness_seeds=1,
    faithfulness_lime_samples=300,
)

_PRESETS: dict[str, dict[str, Any]] = {"quick": _QUICK, "cpu": _CPU, "full": _FULL}


def settings(quick: bool | None = None, mode: str | None = None) -> Settings:
    """Return the course settings of a mode.

    Parameters
    ----------
    quick
        ``True`` forces quick mode, ``False`` full mode (kept for old callers).
    mode
        ``"quick"``, ``"cpu"`` or ``"full"``; by default :func:`mode` decides
        from the environment (read at call time, so a test or a notebook may
        change the variables).
    """
    if mode is None:
        mode = ("quick" if quick else "full") if quick is not None else globals()["mode"]()
    if mode not in _PRESETS:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    quick = mode == "quick"
    return Settings(
        quick=quick,
        mode=mode,
        forward_precision="float32" if quick else forward_precision(),
        train_precision="float32" if quick else training_precision(),
        **_PRESETS[mode],
    )


PRECISION_CHOICES: tuple[str, ...] = ("auto", "float32", "bfloat16")


def forward_precision(environ: Mapping[str, str] | None = None) -> str:
    """The number format of the forward-only methods in cpu and full mode: ``"float32"`` or ``"bfloat16"``.

    ``COURSE_PRECISION`` decides when set to ``float32`` or ``bfloat16``;
    otherwise (``auto``) bfloat16 where the hardware computes it natively
    (:func:`native_bfloat16`). On two AVX-512 BF16 cores a forward pass of a
    network of dense convolutions (VGG19, the course CNN) took 0.5-0.7 of its
    float32 time, and the results agreed where the notebooks use it
    (``benchmarks/precision.py``: LIME's weights on VGG19, rank correlation
    0.9996; deletion and insertion AUCs on the trained course CNN, within
    0.2 %). On other hardware bfloat16 is emulated and slower, so float32
    stays. The notebooks apply it through
    :func:`course_utils.models.forward_pass_model`, which keeps networks of
    depthwise convolutions such as EfficientNet-Lite0 in float32 (they gain
    nothing: LIME at 1000 samples took 16.4 s in bfloat16 against 12.5 s in
    float32, ``benchmarks/lite0_vs_vgg19.py``). Which methods use it is the
    notebooks' choice: LIME (03) and, in 08, occlusion, LIME and the deletion
    and insertion curves.

    Raises
    ------
    ValueError
        If ``COURSE_PRECISION`` is not one of :data:`PRECISION_CHOICES`.
    """
    raw = _precision_variable(environ)
    if raw != "auto":
        return raw
    return "bfloat16" if native_bfloat16() else "float32"


def _precision_variable(environ: Mapping[str, str] | None) -> str:
    """``COURSE_PRECISION``, checked: one of :data:`PRECISION_CHOICES` (``auto`` when unset)."""
    raw = (os.environ if environ is None else environ).get("COURSE_PRECISION", "").strip().lower() or "auto"
    if raw not in PRECISION_CHOICES:
        raise ValueError(f"COURSE_PRECISION={raw!r} is not understood; use one of {', '.join(PRECISION_CHOICES)}.")
    return raw


def training_precision(environ: Mapping[str, str] | None = None) -> str:
    """The arithmetic of training the course CNN in cpu and full mode: ``"float32"`` or ``"bfloat16"``.

    ``"bfloat16"`` is mixed precision (Micikevicius et al., 2018; Kalamkar
    et al., 2019): the weights and the optimizer stay float32, the
    convolutions and matrix products run in bfloat16, and the trained model
    computes in float32 again before it is saved or explained
    (:func:`course_utils.models.horses_humans_cnn`). ``COURSE_PRECISION``
    decides when set to ``float32`` or ``bfloat16``; otherwise (``auto``)
    bfloat16 where the hardware computes it natively (:func:`native_bfloat16`):
    on two AVX-512 BF16 cores cpu mode's recipe (96 px) trained 1.93x as fast,
    with held-out accuracy in the float32 recipe's range over three seeds
    (``benchmarks/training_recipe.py --precisions float32 bfloat16``). Quick mode always trains
    in float32, so its checked outputs do not depend on the machine.

    Raises
    ------
    ValueError
        If ``COURSE_PRECISION`` is not one of :data:`PRECISION_CHOICES`.
    """
    raw = _precision_variable(environ)
    if raw != "auto":
        return raw
    return "bfloat16" if native_bfloat16() else "float32"


#: CPU flags of native bfloat16 arithmetic: AVX-512 BF16 (AMD Zen 4+, Intel Cooper Lake+) and AMX (Sapphire Rapids+).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bfloat16(cpuinfo: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists a bfloat16 instruction set (:data:`BFLOAT16_CPU_FLAGS`) on every CPU."""
    flag_lines = [line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")]
    return bool(flag_lines) and all(any(flag in flags for flag in BFLOAT16_CPU_FLAGS) for flags in flag_lines)


def parse_compute_capabilities(nvidia_smi_output: str) -> list[tuple[int, int]]:
    """``(major, minor)`` per line of ``nvidia-smi --query-gpu=compute_cap --format=csv,noheader``; [] when unreadable.

    A line that is not ``major.minor`` (``[N/A]`` on old drivers, an error
    message) makes the whole answer unreadable: better no GPU verdict than a
    wrong one.
    """
    capabilities = []
    for line in nvidia_smi_output.splitlines():
        if not line.strip():
            continue
        parts = line.strip().split(".")
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            return []
        capabilities.append((int(parts[0]), int(parts[1])))
    return capabilities


def _gpu_compute_capabilities(environ: Mapping[str, str] | None = None) -> list[tuple[int, int]]:
    """Compute capability of each NVIDIA GPU TensorFlow may use (``nvidia-smi``, no TensorFlow import); [] when none.

    ``CUDA_VISIBLE_DEVICES`` set to an empty string or ``-1`` hides every GPU
    from TensorFlow, so none counts here either.
    """
    visible = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return []
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_compute_capabilities(listed.stdout) if listed.returncode == 0 else []


@functools.cache
def native_bfloat16() -> bool:
    """Whether this machine computes bfloat16 natively: NVIDIA GPUs of compute capability 8.0 or more, else the CPU's flags.

    Read once per process, without importing TensorFlow. Only Linux reports
    CPU flags (``/proc/cpuinfo``); elsewhere a CPU counts as without native
    bfloat16, the safe side (float32 is never slower than emulated bfloat16).
    """
    capabilities = _gpu_compute_capabilities()
    if capabilities:
        return all(capability >= (8, 0) for capability in capabilities)
    try:
        return cpu_has_native_bfloat16(Path("/proc/cpuinfo").read_text(errors="ignore"))
    except OSError:
        return False


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy, TensorFlow and Keras so a notebook run repeats.

    Parameters
    ----------
    seed
        A non-negative integer.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    import keras

    random.seed(int(seed))
    np.random.seed(int(seed))
    keras.utils.set_random_seed(int(seed))
    # Unseeded Keras draws (keras.random.*, augmentation layers) come from one global SeedGenerator made on
    # first use. Some Keras releases (3.10 beside TensorFlow 2.16, measured) keep it across set_random_seed,
    # so a reseed would continue the old stream; dropping it makes the next draw build one from the seed.
    try:
        from keras.src.backend.common import global_state

        global_state.set_global_attribute("global_seed_generator", None)
    except ImportError:  # a Keras without that module resets it itself
        pass


def _course_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that holds this course's pyproject."""
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "course_utils"' in pyproject.read_text(errors="ignore"):
            return folder
    return None


def course_root() -> Path | None:
    """Root of the course checkout: found from the current folder, else from this package.

    None when the course is installed without its repository (a plain
    ``pip install`` in Colab), where the embedded data of ``data/`` is absent.
    """
    return _course_root(Path.cwd().resolve()) or _course_root(Path(__file__).resolve().parent)


def output_dir(*parts: str, create: bool = True) -> Path:
    """Folder for everything the course writes (models, figures, GIFs).

    ``COURSE_OUTPUT_DIR`` wins; otherwise ``build/`` at the root of the course
    checkout, found from the current directory (notebooks run from
    ``notebooks/``), else ``./build``. Nothing is written anywhere else.

    Parameters
    ----------
    *parts
        Sub-folders below the output folder, e.g. ``output_dir("gifs")``.
    create
        Create the folder if it does not exist.
    """
    env = os.environ.get("COURSE_OUTPUT_DIR")
    if env:
        base = Path(env).expanduser()
    else:
        cwd = Path.cwd().resolve()
        base = (_course_root(cwd) or cwd) / "build"
    folder = base.joinpath(*parts)
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def display_path(path: str | os.PathLike) -> str:
    """``path`` as a student should read it: relative to the output folder, the checkout or the home folder.

    Absolute paths of the machine the notebook ran on (``/content/...``, ``/home/runner/...``) say
    nothing to a reader and leak into shared pages; ``build/models/cnn.keras`` says where to look.
    Below a ``COURSE_OUTPUT_DIR`` the path reads ``$COURSE_OUTPUT_DIR/models/cnn.keras``.
    """
    target = Path(path).expanduser().resolve()
    bases: list[tuple[Path | None, str]] = [(course_root(), ""), (Path.home().resolve(), "~/")]
    if os.environ.get("COURSE_OUTPUT_DIR"):
        bases.insert(0, (output_dir(create=False).resolve(), "$COURSE_OUTPUT_DIR/"))
    for base, shown in bases:
        if base is not None and target.is_relative_to(base):
            return shown + target.relative_to(base).as_posix()
    return str(path)


def absolute_machine_paths() -> list[str]:
    """The absolute folders whose appearance in a notebook's output leaks the machine it ran on.

    The output folder, the course checkout and the home folder, longest first (so the most specific
    one is reported); ``display_path`` turns paths below them into what a student should read.
    """
    folders = {output_dir(create=False).resolve(), Path.home().resolve()}
    root = course_root()
    if root is not None:
        folders.add(root)
    return sorted((str(f) for f in folders if len(f.parts) > 1), key=len, reverse=True)


def quick_mode_banner() -> str:
    """One line that says which mode a notebook runs in (printed at its top)."""
    s = settings()
    if s.mode == "quick":
        return (
            "QUICK MODE (COURSE_QUICK=1): tiny sizes; the ImageNet model is EfficientNet-Lite0 with its real "
            "weights and the horses-vs-humans CNN is real but small. Set COURSE_MODE=cpu or full for the real course."
        )
    if s.mode == "cpu":
        return (
            "CPU MODE (COURSE_MODE=cpu): real data, EfficientNet-Lite0 with its ImageNet weights for every ImageNet "
            "section, sizes for a laptop. Set COURSE_MODE=full for the sources' models and full sizes, best on a GPU."
        )
    return (
        "Full mode: real data, the sources' ImageNet models (EfficientNet-Lite0 where their weights cannot be "
        "downloaded) and full sizes."
    )
