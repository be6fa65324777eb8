"""Plotting helpers shared by every notebook: overlays, grids, colormaps, and the figures of LIME and SHAP explanations.

All functions take numpy arrays (or tensors), or the explanations that
:mod:`course_utils.explainers` returns, never file paths, and return matplotlib
figures, axes or arrays so notebooks can keep drawing on them.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, LinearSegmentedColormap, ListedColormap

from course_utils._core import positive_int

if TYPE_CHECKING:  # for the type hints only: viz draws what the method modules compute and imports none at load time
    from course_utils.explainers import LimeExplanation, ShapLayerExplanation

__all__ = [
    "red_transparent_blue",
    "red_transparent",
    "FOR_CLASS_RGB",
    "AGAINST_CLASS_RGB",
    "colormap",
    "to_uint8_image",
    "normalize_heatmap",
    "overlay_heatmap",
    "plot_overlay",
    "colors_as_seen",
    "show_images",
    "attribution_to_mask",
    "plot_attribution",
    "plot_signed",
    "tile_images",
    "plot_image_grid",
    "plot_pixel_ranking",
    "plot_curves",
    "plot_randomization",
    "plot_lime",
    "plot_lime_superpixels",
    "plot_lime_weights",
    "plot_shap_layers",
]


# The course's one colour convention (stated in notebook 01, kept by every helper below): red is evidence FOR the
# explained class, blue evidence AGAINST it, and zero is transparent so the image underneath stays readable.
# These are the SHAP image plot's colours; no rainbow map (jet), whose bright bands read as edges the map lacks.

#: RGB in [0, 1] of evidence for the explained class (red).
FOR_CLASS_RGB: tuple[float, float, float] = (255 / 255, 13 / 255, 87 / 255)
#: RGB in [0, 1] of evidence against the explained class (blue).
AGAINST_CLASS_RGB: tuple[float, float, float] = (30 / 255, 136 / 255, 229 / 255)

#: Rainbow colormaps the helpers refuse: their lightness is not monotonic, so they invent edges and hide order.
_RAINBOW_CMAPS = frozenset({"jet", "jet_r", "rainbow", "rainbow_r", "gist_rainbow", "gist_rainbow_r", "hsv", "hsv_r"})


def _make_red_transparent_blue() -> LinearSegmentedColormap:
    colors = [(*AGAINST_CLASS_RGB, a) for a in np.linspace(1, 0, 100)]
    colors += [(*FOR_CLASS_RGB, a) for a in np.linspace(0, 1, 100)]
    return LinearSegmentedColormap.from_list("red_transparent_blue", colors)


def _make_red_transparent() -> LinearSegmentedColormap:
    return LinearSegmentedColormap.from_list("red_transparent", [(*FOR_CLASS_RGB, a) for a in np.linspace(0, 1, 100)])


#: The course's diverging colormap for signed maps: blue (against the class) -> transparent (zero) -> red (for it).
red_transparent_blue: LinearSegmentedColormap = _make_red_transparent_blue()
#: Its positive half, for maps that hold no sign (Grad-CAM after its ReLU, relative importance, pixel rankings):
#: transparent (0) -> red (1), the same red as :data:`red_transparent_blue` at its top.
red_transparent: LinearSegmentedColormap = _make_red_transparent()
for _course_map in (red_transparent_blue, red_transparent):
    if _course_map.name not in matplotlib.colormaps:
        matplotlib.colormaps.register(_course_map)


def colormap(cmap: str | Colormap | None = None, signed: bool = False) -> Colormap:
    """The colormap a helper draws an attribution with: the course's, unless another one is asked for.

    Parameters
    ----------
    cmap
        ``None`` for the course's map (:data:`red_transparent_blue` when ``signed``,
        else its positive half :data:`red_transparent`), or a matplotlib colormap or
        its registered name.
    signed
        Whether the map holds both signs (evidence for and against the class).

    Raises
    ------
    TypeError
        If ``cmap`` is neither None, a name nor a colormap.
    ValueError
        If ``cmap`` is a rainbow map such as ``"jet"``, or an unknown name.
    """
    if cmap is None:
        return red_transparent_blue if signed else red_transparent
    if isinstance(cmap, Colormap):
        name = cmap.name
    elif isinstance(cmap, str):
        name = cmap
    else:
        raise TypeError(f"cmap must be None, a colormap name or a matplotlib Colormap, got {type(cmap).__name__}")
    if name.lower() in _RAINBOW_CMAPS:
        raise ValueError(
            f"cmap={name!r} is a rainbow map: its bright bands look like edges the map does not have. "
            "Use the course's map (cmap=None: red for the class, blue against) or a perceptual one such as 'magma'."
        )
    if isinstance(cmap, str):
        if cmap not in matplotlib.colormaps:
            raise ValueError(f"cmap={cmap!r} is not a registered matplotlib colormap")
        return matplotlib.colormaps[cmap]
    return cmap


def to_uint8_image(image: Any, value_range: tuple[float, float] = (0.0, 255.0)) -> np.ndarray:
    """An image as uint8 ``(H, W, 3)`` for display.

    Parameters
    ----------
    image
        uint8 (returned as is), or real numbers in ``value_range``; grayscale
        ``(H, W)`` or ``(H, W, 1)`` becomes RGB; a batch of one loses its axis.
    value_range
        ``(low, high)`` of float pixels: ``(0, 255)``, the course's pixel range,
        by default; pass ``(0, 1)`` for images scaled to [0, 1]. The range is
        never guessed from the values: a dark [0, 255] image whose pixels are
        all below 1 must stay dark.

    Returns
    -------
    np.ndarray
        uint8 ``(H, W, 3)``; values outside the range are clipped, NaN becomes 0.
    """
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range!r}")
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
    scaled = (np.nan_to_num(array.astype(np.float64)) - low) * (255.0 / (high - low))
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


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


def overlay_heatmap(image: Any, heatmap: Any, alpha: float = 0.4, cmap: str | Colormap | None = None) -> np.ndarray:
    """Blend a heatmap over an image: red where the map is high, the image itself where it is zero.

    Parameters
    ----------
    image
        ``(H, W, 3)`` pixels (uint8, or floats in [0, 255]).
    heatmap
        ``(h, w)`` map; resized to the image and scaled to [0, 1] by its
        min and max (a constant map overlays as all-zero).
    alpha
        Heatmap opacity in [0, 1] (times the colormap's own opacity).
    cmap
        ``None`` for the course's :data:`red_transparent` (see :func:`colormap`), or
        another colormap or its name; rainbow maps such as ``"jet"`` are refused.

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
    colored = colormap(cmap)(heat)
    opacity = float(alpha) * colored[..., 3:]  # a transparent colour (the course map at 0) leaves the image as it is
    blended = (1.0 - opacity) * rgb.astype(np.float64) + opacity * colored[..., :3] * 255.0
    return np.clip(blended, 0, 255).astype(np.uint8)


def colors_as_seen(shown: Any) -> ScalarMappable:
    """A colorbar source with the colours a drawn map shows on a white page, for a scalar opacity.

    An overlay drawn with ``imshow(..., alpha=0.4)`` and a transparent-to-red
    colour map is ``0.4 x`` the map's own opacity at each value, but
    matplotlib's colorbar applies a scalar ``alpha`` to every level alike and
    so draws a single flat colour from 0 to 1. This one is opaque: each level
    is the map's colour blended onto white with the opacity the image uses.

    Parameters
    ----------
    shown
        What ``imshow`` returned: its colour map, opacity and norm are read (a per-pixel alpha
        array has no single colour per level; the map's own opacities are used then).
    """
    alpha = shown.get_alpha()
    scalar = 1.0 if alpha is None or np.ndim(alpha) else float(alpha)
    levels = shown.get_cmap()(np.linspace(0.0, 1.0, 256))
    opacity = scalar * levels[:, 3:]
    seen = (1.0 - opacity) + opacity * levels[:, :3]
    return ScalarMappable(norm=shown.norm, cmap=ListedColormap(seen, name=f"{shown.get_cmap().name} as seen"))


def _finish_axes(ax: plt.Axes, shown: Any, title: str | None, colorbar: bool, label: str) -> plt.Axes:
    """Hide the axes, set the title and add a slim colorbar for ``shown``: every map plot ends so."""
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(colors_as_seen(shown), ax=ax, fraction=0.046, pad=0.04, label=label)
    return ax


def plot_overlay(
    ax: plt.Axes,
    image: Any,
    heatmap: Any,
    alpha: float = 0.4,
    cmap: str | Colormap | None = None,
    title: str | None = None,
    colorbar: bool = True,
    label: str = "relative importance",
) -> plt.Axes:
    """Draw an image with a heatmap on top, and a colorbar for the heatmap.

    The heatmap is scaled to [0, 1] (see :func:`overlay_heatmap`), so the
    colorbar reads as relative importance; by default it is drawn in the
    course's :data:`red_transparent` (red: strongest evidence for the class,
    transparent: none). ``cmap`` as in :func:`colormap`.
    """
    rgb = to_uint8_image(image)
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3 and heat.shape[0] == 1:
        heat = heat[0]
    heat = normalize_heatmap(_resize_map(heat, *rgb.shape[:2]))
    ax.imshow(rgb)
    shown = ax.imshow(heat, cmap=colormap(cmap), alpha=alpha, vmin=0.0, vmax=1.0)
    return _finish_axes(ax, shown, title, colorbar, label)


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
        [0, 255] (see :func:`to_uint8_image`). 2-D images are drawn with ``cmap``.
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
        # Reserve the top strip for the suptitle; plain tight_layout ignores it
        # and would draw it over the tile titles.
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    else:
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- attribution maps
_POLARITY_COLORS = {
    # The course's convention (not the keras.io visualizer's green and red): red for evidence for the class, blue
    # for evidence against it, as in red_transparent_blue; gold, neither of the two, for the size whatever the sign.
    "positive": FOR_CLASS_RGB,
    "negative": AGAINST_CLASS_RGB,
    "both": (1.0, 0.78, 0.0),
}


def _mass_threshold(values: np.ndarray, percentage: float) -> float:
    """The value above which pixels hold ``percentage`` % of the total attribution."""
    ordered = np.sort(values.ravel())[::-1]
    total = float(ordered.sum())
    if percentage >= 100.0 or total <= 0.0:
        return float(ordered[-1])
    cumulative = 100.0 * np.cumsum(ordered) / total
    return float(ordered[min(int(np.searchsorted(cumulative, percentage)), ordered.size - 1)])


def _outline(mask: np.ndarray, component_percentage: float = 90.0, max_components: int = 3) -> np.ndarray:
    """Borders of the few connected regions that hold most of the mask's mass."""
    from scipy import ndimage

    regions = ndimage.binary_fill_holes(mask > 1e-3)
    labels, count = ndimage.label(regions, structure=np.ones((3, 3)))
    if count == 0:
        return np.zeros_like(mask)
    masses = np.asarray(ndimage.sum(mask, labels, index=np.arange(1, count + 1)))
    order = np.argsort(-masses, kind="stable")
    needed = np.searchsorted(np.cumsum(masses[order]), component_percentage / 100.0 * masses.sum()) + 1
    kept = np.isin(labels, order[: min(int(needed), max_components)] + 1)
    return (kept & ~ndimage.binary_erosion(kept)).astype(np.float64)


def attribution_to_mask(
    attributions: Any,
    polarity: str = "positive",
    clip: tuple[float, float] = (0.0, 99.9),
    outlines: bool = False,
    morphology: bool = True,
) -> np.ndarray:
    """Turn pixel attributions into a displayable ``(H, W)`` mask in [0, 1].

    The recipe of the keras.io Integrated Gradients visualizer (Sundararajan,
    Taly & Yan, 2017, figures): keep one sign, add up the channels, clip by
    attribution mass, optionally clean up with a grey closing and opening and
    reduce to the outlines of the main regions.

    Parameters
    ----------
    attributions
        ``(H, W, C)`` or ``(H, W)`` attributions (a batch of one is accepted).
    polarity
        ``"positive"`` (evidence for the class), ``"negative"`` (evidence
        against it, shown as magnitudes) or ``"both"`` (absolute values).
    clip
        ``(low, high)`` percentages of the total attribution mass: the
        weakest pixels that together hold ``low`` % of the mass become 0, the
        strongest that hold ``100 - high`` % saturate at 1, linear in between.
        ``(0, 100)`` is plain min-max scaling.
    outlines
        Return only the borders of the (at most three) connected regions that
        hold 90 % of the mask.
    morphology
        Grey closing then opening with a 3x3 square, which fills pinholes and
        removes isolated specks.

    Returns
    -------
    np.ndarray
        float64 ``(H, W)`` in [0, 1]; all zeros when nothing has the polarity.
    """
    values = np.asarray(attributions, dtype=np.float64)
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim == 2:
        values = values[..., None]
    if values.ndim != 3:
        raise ValueError(f"attributions must be (H, W, C) or (H, W) for one image, got shape {np.shape(attributions)}")
    if polarity == "positive":
        kept = np.clip(values, 0.0, None)
    elif polarity == "negative":
        kept = np.clip(-values, 0.0, None)
    elif polarity == "both":
        kept = np.abs(values)
    else:
        raise ValueError(f"polarity must be 'positive', 'negative' or 'both', got {polarity!r}")
    low, high = (float(c) for c in clip)
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"clip must be (low, high) percentages with 0 <= low < high <= 100, got {clip!r}")
    mask = np.nan_to_num(kept.sum(axis=-1))
    upper = _mass_threshold(mask, 100.0 - high)
    lower = _mass_threshold(mask, 100.0 - low)
    if upper > lower:
        mask = np.clip((mask - lower) / (upper - lower), 0.0, 1.0)
    else:
        mask = (mask > lower).astype(np.float64)
    if morphology:
        from scipy import ndimage

        mask = ndimage.grey_opening(ndimage.grey_closing(mask, size=(3, 3)), size=(3, 3))
    if outlines:
        mask = _outline(mask)
    return mask


def _polarity_cmap(polarity: str) -> LinearSegmentedColormap:
    color = _POLARITY_COLORS[polarity]
    return LinearSegmentedColormap.from_list(f"{polarity}_alpha", [(*color, 0.0), (*color, 1.0)])


def plot_attribution(
    ax: plt.Axes,
    image: Any,
    attributions: Any,
    polarity: str = "positive",
    clip: tuple[float, float] = (0.0, 99.9),
    outlines: bool = False,
    morphology: bool = True,
    title: str | None = None,
    colorbar: bool = True,
) -> plt.Axes:
    """Draw an image with an attribution mask (see :func:`attribution_to_mask`) on top.

    The mask is one color (red positive, blue negative, as in the course's
    :data:`red_transparent_blue`; gold for both signs) whose opacity is the mask
    value, so unimportant pixels show the image.
    """
    rgb = to_uint8_image(image)
    mask = attribution_to_mask(attributions, polarity=polarity, clip=clip, outlines=outlines, morphology=morphology)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(
            f"attributions are {mask.shape[0]}x{mask.shape[1]} but the image is {rgb.shape[0]}x{rgb.shape[1]}"
        )
    ax.imshow(rgb)
    shown = ax.imshow(mask, cmap=_polarity_cmap(polarity), vmin=0.0, vmax=1.0)
    return _finish_axes(ax, shown, title, colorbar, f"{polarity} attribution (clipped)")


def plot_signed(
    ax: plt.Axes,
    attributions: Any,
    title: str | None = None,
    colorbar: bool = True,
    image: Any = None,
    percentile: float = 99.9,
    label: str = "attribution",
    limit: float | None = None,
) -> plt.Axes:
    """Draw signed attributions: red positive, blue negative, transparent zero.

    Channels are summed; the color limits are symmetric, ``+-`` the
    ``percentile`` of the absolute values (as the SHAP image plot does), so
    zero is always transparent and a few extreme pixels do not wash out the rest.

    Parameters
    ----------
    ax
        Axes to draw on.
    attributions
        ``(H, W)`` or ``(H, W, C)`` attributions of one image.
    title
        Axes title.
    colorbar
        Add a colorbar.
    image
        Optional image drawn faintly in gray underneath.
    percentile
        Percentile of ``|attributions|`` used as the color limit, in (0, 100].
    label
        Colorbar label.
    limit
        Symmetric colour limit ``+-limit``, a positive number, to draw several
        maps on one scale (``percentile`` is then not used); ``None``: from ``percentile``.
    """
    values = np.asarray(attributions, dtype=np.float64)
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim == 3:
        values = values.sum(axis=-1)
    if values.ndim != 2:
        raise ValueError(f"attributions must be (H, W) or (H, W, C) for one image, got shape {np.shape(attributions)}")
    if not 0.0 < float(percentile) <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    values = np.nan_to_num(values)
    if limit is not None:
        if not np.isfinite(limit) or limit <= 0.0:
            raise ValueError(f"limit must be a positive number (the colour scale's +- bound), got {limit!r}")
        limit = float(limit)
    else:
        limit = float(np.percentile(np.abs(values), percentile))
    if limit <= 0.0:
        # All-zero attributions: any positive limit draws them transparent.
        limit = max(float(np.abs(values).max()), 1e-12)
    if image is not None:
        gray = to_uint8_image(image).astype(np.float64) @ np.array([0.2989, 0.5870, 0.1140])
        ax.imshow(_resize_map(gray, *values.shape), cmap="gray", alpha=0.3)
    shown = ax.imshow(values, cmap=red_transparent_blue, vmin=-limit, vmax=limit)
    return _finish_axes(ax, shown, title, colorbar, label)


# --------------------------------------------------------------------------- image grids
def tile_images(
    images: Sequence[Any] | np.ndarray, cols: int | None = None, margin: int = 4, background: int = 255
) -> np.ndarray:
    """Tile equally sized images into one uint8 canvas, row by row.

    One canvas draws in one ``imshow``, which stays fast for the 64 or 512
    filters of a layer where a subplot per image would not.

    Parameters
    ----------
    images
        ``(N, H, W, 3)`` array or a sequence of ``(H, W, 3)`` images (uint8,
        or floats in [0, 255]); all the same size.
    cols
        Images per row; ``None``: a near-square grid, ``ceil(sqrt(N))``.
    margin
        Pixels between tiles (and around them).
    background
        Grey level of the margins and of empty cells, 0-255.

    Returns
    -------
    np.ndarray
        uint8 ``(rows * (H + margin) + margin, cols * (W + margin) + margin, 3)``.
    """
    tiles = [to_uint8_image(image) for image in images]
    if not tiles:
        raise ValueError("tile_images needs at least one image")
    shapes = {tile.shape for tile in tiles}
    if len(shapes) != 1:
        raise ValueError(f"tile_images needs images of one size, got shapes {sorted(shapes)}")
    if cols is None:
        cols = int(np.ceil(np.sqrt(len(tiles))))
    if int(cols) < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    if int(margin) < 0 or not 0 <= int(background) <= 255:
        raise ValueError(f"margin must be >= 0 and background in 0-255, got margin={margin}, background={background}")
    return _tile(np.stack(tiles), int(cols), int(margin), frame=True, fill=int(background), empty=int(background))


def _tile(tiles: np.ndarray, cols: int, margin: int, frame: bool, fill: float, empty: float) -> np.ndarray:
    """Lay ``tiles`` ``(N, H, W, ...)`` out row by row, ``cols`` per row, ``margin`` pixels apart.

    ``frame`` also puts a margin around the whole canvas; ``fill`` is the value
    of the margins, ``empty`` that of the cells left over in the last row.
    """
    count, height, width = tiles.shape[:3]
    cols = min(cols, count)
    rows = int(np.ceil(count / cols))
    outer = margin if frame else 0
    shape = (rows * (height + margin) - margin + 2 * outer, cols * (width + margin) - margin + 2 * outer)
    canvas = np.full(shape + tiles.shape[3:], fill, tiles.dtype)
    for index in range(rows * cols):
        row, col = divmod(index, cols)
        top, left = outer + row * (height + margin), outer + col * (width + margin)
        canvas[top : top + height, left : left + width] = tiles[index] if index < count else empty
    return canvas


def activation_grid(
    activations: Any,
    channels: int | Sequence[int] | None = None,
    cols: int | None = None,
    normalize: bool = True,
    separator: float = 1.0,
) -> np.ndarray:
    """Tile the channels of one image's activations into one 2-D picture.

    Parameters
    ----------
    activations
        ``(h, w, c)`` activations of one image (a batch of one is accepted).
    channels
        None (all), a count (the first ``channels``), or channel indices.
    cols
        Tiles per row; None makes the grid about square.
    normalize
        Scale each channel to [0, 1] by its own min and max (a constant
        channel becomes 0), so weak and strong channels are both visible.
    separator
        Value of the 1-pixel lines between tiles and of the unused tiles at
        the end of the last row. ``np.nan`` (drawn in the colormap's "bad"
        colour) keeps them apart from activations: 0 would look like a silent
        channel, 1 like the strongest.

    Returns
    -------
    np.ndarray
        float32 ``(rows * (h + 1) - 1, cols * (w + 1) - 1)``.
    """
    maps = np.asarray(activations, dtype=np.float32)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(
            f"activation_grid takes the activations of ONE image, shape (h, w, channels), got "
            f"{np.asarray(activations).shape}; index the batch first, e.g. activations[0]."
        )
    total = maps.shape[-1]
    if channels is None:
        chosen = np.arange(total)
    elif isinstance(channels, numbers.Integral) and not isinstance(channels, bool):
        count = int(channels)
        if not 1 <= count <= total:
            raise ValueError(f"channels={count} but the layer has {total} channels; use 1 to {total}.")
        chosen = np.arange(count)
    else:
        chosen = np.asarray(list(channels), dtype=np.int64)  # type: ignore[arg-type]
        if chosen.size == 0 or chosen.ndim != 1 or np.any((chosen < 0) | (chosen >= total)):
            raise ValueError(f"channel indices must be in 0 to {total - 1}, got {chosen.tolist()!r}")
    if cols is None:
        cols = int(math.ceil(math.sqrt(len(chosen))))
    cols = min(positive_int("cols", cols), len(chosen))
    tiles = maps[..., chosen]
    if normalize:
        low = tiles.min(axis=(0, 1), keepdims=True)
        span = tiles.max(axis=(0, 1), keepdims=True) - low
        tiles = np.divide(tiles - low, span, out=np.zeros_like(tiles), where=span > 0)
    # Channels become tiles: (h, w, c) -> (c, h, w), 1-pixel separators, no outer frame.
    return _tile(np.moveaxis(tiles, -1, 0), cols, margin=1, frame=False, fill=separator, empty=separator)


def plot_image_grid(
    images: Sequence[Any] | np.ndarray,
    labels: Sequence[Any] | None = None,
    cols: int | None = None,
    title: str | None = None,
    tile_inches: float = 1.2,
    margin: int = 4,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Draw many images as one labelled grid (e.g. the filters of a layer).

    Parameters
    ----------
    images
        As for :func:`tile_images`.
    labels
        One label per image (e.g. the filter index), written in the top-left
        corner of its tile.
    cols
        Images per row (``None``: near-square).
    title
        Figure title.
    tile_inches
        Size of one tile in inches when a new figure is made.
    margin
        Pixels between tiles.
    ax
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = list(images)
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images")
    canvas = tile_images(images, cols=cols, margin=margin)
    height, width = to_uint8_image(images[0]).shape[:2]
    cols = min(int(cols or np.ceil(np.sqrt(len(images)))), len(images))
    rows = int(np.ceil(len(images) / cols))
    if ax is None:
        fig, ax = plt.subplots(figsize=(tile_inches * cols + 0.2, tile_inches * rows + (0.5 if title else 0.2)))
    else:
        fig = ax.figure  # type: ignore[assignment]
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    if labels is not None:
        for index, label in enumerate(labels):
            row, col = divmod(index, cols)
            ax.text(
                margin + col * (width + margin) + 2,
                margin + row * (height + margin) + 2,
                str(label),
                fontsize=7,
                va="top",
                ha="left",
                color="black",
                bbox=dict(boxstyle="square,pad=0.15", facecolor="white", alpha=0.75, linewidth=0),
            )
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- faithfulness
def plot_pixel_ranking(
    ax: plt.Axes,
    image: Any,
    attribution: Any,
    title: str | None = None,
    colorbar: bool = True,
    alpha: float = 0.8,
) -> plt.Axes:
    """Draw a map the way deletion and insertion curves read it: as a ranking of the pixels.

    Each pixel shows its percentile in the map's ranking (1 = the first pixel
    deleted), so maps of different units and signs (a probability drop, a
    gradient, a LIME weight) become comparable at a glance. Drawn in the
    course's :data:`red_transparent`: the pixels ranked most important for the
    class are red, the last ones leave the image visible.

    Parameters
    ----------
    image
        ``(H, W, 3)`` pixels in [0, 255].
    attribution
        ``(H, W)`` or ``(H, W, C)`` map of the same height and width.
    """
    from course_utils.metrics import pixel_ranks

    values = np.asarray(attribution, dtype=np.float64)
    ranks = pixel_ranks(values[None])[0]
    percentile = 1.0 - ranks / max(ranks.size - 1, 1)
    ax.imshow(to_uint8_image(image))
    shown = ax.imshow(percentile, cmap=red_transparent, alpha=alpha, vmin=0.0, vmax=1.0)
    return _finish_axes(ax, shown, title, colorbar, "rank (1 = first deleted)")


def plot_curves(
    ax: plt.Axes,
    fractions: Any,
    curves: dict[str, Any],
    title: str | None = None,
    ylabel: str | None = "score",
    band: bool = True,
    intervals: dict[str, tuple[Any, Any]] | None = None,
) -> plt.Axes:
    """Mean deletion or insertion curve of each method, with a band around it.

    Parameters
    ----------
    fractions
        ``(F,)`` shares of the pixels replaced (x axis).
    curves
        Method name -> ``(N, F)`` scores (one row per image), drawn in order.
    band
        Shade a band around each mean curve.
    intervals
        Method name -> ``(low, high)``, each ``(F,)``: the band to shade, e.g. the bootstrap interval of
        :func:`course_utils.statistics.curve_interval`, so the plot and a table of intervals agree.
        None: +-1 standard error of the mean over images.
    """
    steps = np.asarray(fractions, dtype=np.float64)
    style = {"random": ("--", "grey"), "centre": (":", "black"), "center": (":", "black")}  # the baselines
    for name, scores in curves.items():
        values = np.asarray(scores, dtype=np.float64).reshape(-1, steps.size)
        mean = values.mean(axis=0)
        dash, color = next((v for k, v in style.items() if name.lower().startswith(k)), ("-", None))
        line = ax.plot(steps, mean, dash, lw=2.0 if dash == "-" else 1.8, label=name, color=color, zorder=3)[0]
        if not band:
            continue
        if intervals is not None:
            if name not in intervals:
                raise ValueError(f"intervals has no band for {name!r}; give one (low, high) per curve")
            low, high = (np.asarray(bound, dtype=np.float64).reshape(steps.shape) for bound in intervals[name])
        elif len(values) > 1:
            error = values.std(axis=0, ddof=1) / np.sqrt(len(values))
            low, high = mean - error, mean + error
        else:
            continue
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set(xlabel="fraction of pixels replaced", xlim=(0, 1))
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def plot_randomization(
    ax: plt.Axes,
    results: dict[str, list[tuple[str, Any]]],
    title: str | None = None,
) -> plt.Axes:
    """Similarity of each method's maps as the model is randomized layer by layer (Adebayo et al., 2018).

    Parameters
    ----------
    results
        Method name -> the list :func:`course_utils.metrics.parameter_randomization`
        returns (layer name, ``(N,)`` rank correlations), top layer first.
    """
    layers: list[str] = []
    for name, steps in results.items():
        layers = ["trained"] + [layer for layer, _ in steps]
        means = [1.0] + [float(np.mean(similarity)) for _, similarity in steps]
        lows = [1.0] + [float(np.min(similarity)) for _, similarity in steps]
        highs = [1.0] + [float(np.max(similarity)) for _, similarity in steps]
        line = ax.plot(range(len(means)), means, "o-", label=name, zorder=3)[0]
        ax.fill_between(range(len(means)), lows, highs, color=line.get_color(), alpha=0.12, lw=0)
    ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set(
        ylabel="rank correlation with the trained model's map",
        ylim=(-1.05, 1.05),
        xlabel="randomized down to (cascading, from the output)",
    )
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


# --------------------------------------------------------------------------- LIME and SHAP explanations
def _lime_label(explanation: LimeExplanation, label: int | None) -> int:
    """The class to draw: ``None`` is the explanation's top class (unexplained classes fail on use)."""
    return explanation.top_labels[0] if label is None else int(label)


#: How strongly plot_lime tints a chosen superpixel with its sign's colour: enough to read, little enough to see through.
_LIME_TINT = 0.45


def plot_lime(
    explanation: LimeExplanation,
    ax: plt.Axes | None = None,
    label: int | None = None,
    num_features: int | None = None,
    positive_only: bool = True,
    hide_rest: bool = False,
    title: str | None = None,
) -> plt.Axes:
    """Draw a LIME explanation: the chosen superpixels tinted and outlined in yellow.

    Supporting superpixels are tinted red and, with ``positive_only=False``,
    opposing ones blue: the course's colours (:data:`red_transparent_blue`), not
    LIME's own green and red. The mask comes from the cached weights
    (:meth:`~course_utils.explainers.LimeExplanation.image_and_mask`): no LIME run.

    Parameters
    ----------
    explanation
        A :class:`course_utils.explainers.LimeExplanation`.
    ax
        Axes to draw on; a new 4 x 4 inch figure if ``None``.
    label
        Class to show; ``None`` is the top class.
    num_features
        How many superpixels; default ``explanation.num_features``.
    positive_only, hide_rest
        As in ``image_and_mask``: only supporting superpixels, and black
        outside the chosen ones.
    title
        Default: the class and what is shown.
    """
    from skimage.segmentation import mark_boundaries

    shown_label = _lime_label(explanation, label)
    count = explanation.num_features if num_features is None else num_features
    _, mask = explanation.image_and_mask(shown_label, count, positive_only, hide_rest)
    # LIME's own image tints with its colours; tint the untouched image with the course's instead.
    shown = to_uint8_image(explanation.image).astype(np.float64) / 255.0
    if hide_rest:
        shown[mask == 0] = 0.0
    for sign, color in ((1, FOR_CLASS_RGB), (-1, AGAINST_CLASS_RGB)):
        shown[mask == sign] = (1.0 - _LIME_TINT) * shown[mask == sign] + _LIME_TINT * np.asarray(color)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(mark_boundaries(shown, mask, color=(1, 1, 0)))
    ax.set_axis_off()
    if title is None:
        kind = "supporting superpixels" if positive_only else "superpixels (red for, blue against)"
        title = f"LIME: {explanation.class_names[shown_label]}\n{count} strongest {kind}"
    ax.set_title(title, fontsize=10)
    return ax


def plot_lime_superpixels(
    explanation: LimeExplanation, ax: plt.Axes | None = None, title: str | None = None
) -> plt.Axes:
    """Draw a LIME explanation's segmentation: what LIME switches on and off.

    Parameters
    ----------
    explanation
        A :class:`course_utils.explainers.LimeExplanation`.
    ax
        Axes to draw on; a new 4 x 4 inch figure if ``None``.
    title
        Default: the segmentation and the number of superpixels.
    """
    from skimage.segmentation import mark_boundaries

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(mark_boundaries(to_uint8_image(explanation.image) / 255.0, explanation.segments, color=(1, 1, 0)))
    ax.set_axis_off()
    ax.set_title(title or f"{explanation.segmentation}: {explanation.num_superpixels} superpixels", fontsize=10)
    return ax


def plot_lime_weights(
    explanation: LimeExplanation,
    ax: plt.Axes | None = None,
    label: int | None = None,
    title: str | None = None,
    colorbar: bool = True,
) -> plt.Axes:
    """Every superpixel of a LIME explanation colored by its weight (red for, blue against) over a faint image.

    The color range is symmetric, ``[-max |weight|, max |weight|]``.

    Parameters
    ----------
    explanation
        A :class:`course_utils.explainers.LimeExplanation`.
    ax
        Axes to draw on; a new 4.5 x 4 inch figure if ``None``.
    label
        Class to show; ``None`` is the top class.
    title
        Default: "LIME weights: " and the class name.
    colorbar
        Add a colorbar labelled "superpixel weight".
    """
    shown_label = _lime_label(explanation, label)
    weights = explanation.weight_map(shown_label)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    limit = float(np.abs(weights).max()) or 1.0
    ax.imshow(to_uint8_image(explanation.image).mean(axis=-1), cmap="gray", alpha=0.3)
    shown = ax.imshow(weights, cmap=red_transparent_blue, vmin=-limit, vmax=limit)
    ax.set_axis_off()
    ax.set_title(title or f"LIME weights: {explanation.class_names[shown_label]}", fontsize=10)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="superpixel weight")
    return ax


def plot_shap_layers(
    explanation: ShapLayerExplanation,
    rows: Sequence[int] | None = None,
    percentile: float = 99.9,
    size: float = 3.0,
    title: str | None = None,
    input_titles: Sequence[str] | None = None,
) -> plt.Figure:
    """SHAP values at a layer: per image, the input, then one panel per ranked class, sharing one colorbar.

    Each class panel shows the channel-summed SHAP values on the layer's
    grid (``explanation.spatial``), stretched over a faint gray copy of the
    image, red for evidence for the class and blue against
    (:data:`red_transparent_blue`). The color range is symmetric, set by the
    ``percentile`` of |value| over all panels so that one extreme cell does
    not wash out the rest.

    Parameters
    ----------
    explanation
        A :class:`course_utils.explainers.ShapLayerExplanation`.
    rows
        Which images to draw (indices); default all.
    percentile
        Percentile of |value| that sets the color range, in (0, 100].
    size
        Inches per panel.
    title
        Figure title; default names the layer and its grid.
    input_titles
        One title per drawn image, over its input panel (a point smaller than
        the others, as such titles are longer); default "input".

    Returns
    -------
    plt.Figure
        ``len(rows) x (1 + ranked classes)`` panels, then the colorbar's axes.
    """
    count = len(explanation.images)
    indices = list(range(count)) if rows is None else [int(r) for r in rows]
    if not indices or any(not 0 <= r < count for r in indices):
        raise ValueError(f"rows must be indices in [0, {count - 1}], got {rows!r}")
    if not 0.0 < float(percentile) <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    if input_titles is not None and len(input_titles) != len(indices):
        raise ValueError(f"got {len(input_titles)} input_titles for {len(indices)} drawn images")
    maps = explanation.spatial[indices]
    limit = float(np.nanpercentile(np.abs(maps), percentile)) or 1e-12
    ranks = maps.shape[-1]
    figure, axes = plt.subplots(
        len(indices), ranks + 1, figsize=(size * (ranks + 1), size * len(indices) + 0.9), squeeze=False
    )
    shown = None
    for row, index in enumerate(indices):
        rgb = to_uint8_image(explanation.images[index])
        height, width = rgb.shape[:2]
        gray = rgb.astype(np.float64) @ np.array([0.2989, 0.5870, 0.1140])
        axes[row, 0].imshow(rgb)
        if input_titles is None:
            axes[row, 0].set_title("input", fontsize=10)
        else:
            axes[row, 0].set_title(input_titles[row], fontsize=9)
        for rank in range(ranks):
            ax = axes[row, rank + 1]
            ax.imshow(gray, cmap="gray", alpha=0.15)
            shown = ax.imshow(
                maps[row, :, :, rank],
                cmap=red_transparent_blue,
                vmin=-limit,
                vmax=limit,
                extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                interpolation="nearest",
            )
            name = explanation.class_names[index][rank]
            ax.set_title(f"#{rank + 1} {name} ({explanation.outputs[index, rank]:.3f})", fontsize=10)
        for ax in axes[row]:
            ax.set_axis_off()
    grid = explanation.values.shape[1:4]
    figure.suptitle(title or f"SHAP (expected gradients) at {explanation.layer}, grid {grid[0]}x{grid[1]}x{grid[2]}")
    assert shown is not None  # at least one image and one class were drawn
    colorbar = figure.colorbar(
        shown, ax=axes.ravel().tolist(), orientation="horizontal", fraction=0.04, pad=0.04, aspect=40
    )
    colorbar.set_label("SHAP value (summed over channels)")
    colorbar.outline.set_visible(False)
    return figure
