"""Plotting helpers shared by every notebook: overlays, grids, colormaps.

All functions take numpy arrays (or tensors), never file paths, and return
matplotlib figures or arrays so notebooks can keep drawing on them.
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap

__all__ = [
    "red_transparent_blue",
    "to_uint8_image",
    "normalize_heatmap",
    "overlay_heatmap",
    "plot_overlay",
    "show_images",
]


def _make_red_transparent_blue() -> LinearSegmentedColormap:
    # Blue for negative, red for positive evidence, fully transparent at zero so
    # the faint image underneath stays readable (the SHAP image-plot colors).
    blue = (30 / 255, 136 / 255, 229 / 255)
    red = (255 / 255, 13 / 255, 87 / 255)
    colors = [(*blue, a) for a in np.linspace(1, 0, 100)] + [(*red, a) for a in np.linspace(0, 1, 100)]
    return LinearSegmentedColormap.from_list("red_transparent_blue", colors)


#: Diverging colormap: blue (negative) -> transparent (zero) -> red (positive).
red_transparent_blue: LinearSegmentedColormap = _make_red_transparent_blue()
if "red_transparent_blue" not in matplotlib.colormaps:
    matplotlib.colormaps.register(red_transparent_blue)


def to_uint8_image(image: Any) -> np.ndarray:
    """An image as uint8 ``(H, W, 3)`` for display.

    Accepts uint8, floats in [0, 255] (the course's pixel range) or in [0, 1],
    grayscale ``(H, W)`` or ``(H, W, 1)``.
    """
    array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"Expected an image of shape (H, W, 3) or (H, W), got {np.asarray(image).shape}")
    if array.dtype == np.uint8:
        return array
    array = array.astype(np.float64)
    if np.nanmax(array) <= 1.0 + 1e-6:
        array = array * 255.0
    return np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)


def normalize_heatmap(heatmap: Any, eps: float = 1e-12) -> np.ndarray:
    """Scale a heatmap to [0, 1] by its min and max, safely.

    A constant map (for instance a Grad-CAM with no positive evidence) gives
    zeros instead of a division by zero.
    """
    array = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    low, high = float(array.min()), float(array.max())
    if high - low <= eps:
        return np.zeros_like(array)
    return (array - low) / (high - low)


def _resize_map(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    if heatmap.shape == (height, width):
        return heatmap
    from PIL import Image

    resized = Image.fromarray(heatmap.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float64)


def overlay_heatmap(image: Any, heatmap: Any, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Blend a heatmap over an image.

    Parameters
    ----------
    image
        ``(H, W, 3)`` pixels (uint8, or floats in [0, 255] or [0, 1]).
    heatmap
        ``(h, w)`` map; resized to the image and scaled to [0, 1] by its
        min and max (a constant map overlays as all-zero).
    alpha
        Heatmap opacity in [0, 1].
    cmap
        A matplotlib colormap name.

    Returns
    -------
    np.ndarray
        uint8 ``(H, W, 3)`` blended image.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    rgb = to_uint8_image(image)
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3 and heat.shape[0] == 1:
        heat = heat[0]
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (H, W), got shape {heat.shape}")
    heat = normalize_heatmap(_resize_map(heat, *rgb.shape[:2]))
    colored = matplotlib.colormaps[cmap](heat)[..., :3] * 255.0
    blended = (1.0 - alpha) * rgb.astype(np.float64) + alpha * colored
    return np.clip(blended, 0, 255).astype(np.uint8)


def plot_overlay(
    ax: plt.Axes,
    image: Any,
    heatmap: Any,
    alpha: float = 0.4,
    cmap: str = "jet",
    title: str | None = None,
    colorbar: bool = True,
    label: str = "relative importance",
) -> plt.Axes:
    """Draw an image with a heatmap on top, and a colorbar for the heatmap.

    The heatmap is scaled to [0, 1] (see :func:`overlay_heatmap`), so the
    colorbar reads as relative importance.
    """
    rgb = to_uint8_image(image)
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3 and heat.shape[0] == 1:
        heat = heat[0]
    heat = normalize_heatmap(_resize_map(heat, *rgb.shape[:2]))
    ax.imshow(rgb)
    shown = ax.imshow(heat, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label=label)
    return ax


def show_images(
    images: Sequence[Any] | np.ndarray,
    titles: Sequence[str] | None = None,
    cols: int = 4,
    size: float = 3.0,
    cmap: str | None = None,
    suptitle: str | None = None,
) -> plt.Figure:
    """Show images in a grid with titles.

    Parameters
    ----------
    images
        A sequence or an ``(N, H, W[, 3])`` array; uint8, or floats in
        [0, 255] or [0, 1]. 2-D images are drawn with ``cmap``.
    titles
        One title per image.
    cols
        Images per row.
    size
        Inches per image.
    """
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    if cols < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    cols = min(cols, len(images))
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.4 if suptitle else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(images):
            continue
        array = np.asarray(images[i])
        if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 1):
            ax.imshow(array.squeeze(), cmap=cmap or "gray")
        else:
            ax.imshow(to_uint8_image(array))
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
