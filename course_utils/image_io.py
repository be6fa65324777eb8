"""Image I/O for the course: reading photos, the one centre-square crop, and GIF writing.

This module owns how a photo becomes pixels:

- :func:`load_image` reads a file or an ``http(s)://`` URL (downloaded once
  into ``build/cache/images``), applies the EXIF orientation tag so a phone
  photo stored sideways loads upright, and turns any PIL mode (L, LA, P, RGBA,
  CMYK, I;16, ...) into RGB uint8 ``(H, W, 3)``, optionally resized;
- :func:`save_gif` writes frames (a feature visualization as it forms) as an
  animated GIF through moviepy, by default under ``build/gifs``;
- :func:`center_square` crops the central square of an ``(H, W, 3)`` photo and
  resizes it to ``size x size``, the one way the notebooks fit a photo to a
  model's square input without squashing it.

Datasets and the offline sample photos live in :mod:`course_utils.data`, which
reads its files through :func:`load_image`.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from course_utils import config, files
from course_utils._core import positive_int, real_number

__all__ = ["load_image", "decode_image", "center_square", "save_gif", "blur"]


def load_image(
    path_or_url: str | os.PathLike, size: int | tuple[int, int] | None = None, timeout: float = 10.0
) -> np.ndarray:
    """Read an image file or URL as RGB uint8 ``(H, W, 3)``.

    The EXIF orientation tag is applied first (``PIL.ImageOps.exif_transpose``),
    so a phone photo stored sideways with an orientation tag loads upright:
    ``(H, W)`` are those of the upright photo, swapped from the stored pixels
    for orientations 5 to 8. Without a tag, or with orientation 1, the image
    stays as stored. Then any PIL mode (L, LA, P, RGBA, CMYK, I;16, ...)
    becomes RGB; transparency is composited on white. URLs are downloaded once
    into ``build/cache/images`` with a short timeout.

    Parameters
    ----------
    path_or_url
        A file path or an ``http(s)://`` URL.
    size
        ``None`` keeps the size; an int gives a square; ``(height, width)``.
        Resizing (bilinear) happens after the orientation is applied.
    timeout
        Seconds to wait for a URL.

    Returns
    -------
    np.ndarray
        uint8 ``(H, W, 3)`` RGB pixels in [0, 255], upright; ``(size, size, 3)``
        or ``(height, width, 3)`` when ``size`` is given.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file or download is not a readable image, or ``size`` is not a
        positive int or ``(height, width)``.
    ConnectionError
        If a URL cannot be downloaded (offline, timeout, HTTP error).
    """
    source = str(path_or_url)
    if source.startswith(("http://", "https://")):
        data = _fetch_url(source, timeout)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"Image file {source!r} does not exist.")
        data = path.read_bytes()
    return decode_image(data, size, name=source)


def decode_image(
    data: bytes | bytearray | memoryview, size: int | tuple[int, int] | None = None, name: str = "image"
) -> np.ndarray:
    """An image file's bytes (an upload, a download) as RGB uint8 ``(H, W, 3)``, like :func:`load_image`.

    Parameters
    ----------
    data
        The file's bytes (JPEG, PNG, ...), e.g. the ``content`` of an
        ``ipywidgets.FileUpload`` value.
    size
        As in :func:`load_image`.
    name
        What error messages call the image.

    Raises
    ------
    TypeError
        If ``data`` is not bytes.
    ValueError
        If the bytes are not a readable image, or ``size`` is not valid.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be the bytes of an image file, got {type(data).__name__}")
    try:
        with Image.open(io.BytesIO(bytes(data))) as image:
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            rgb = _to_rgb(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"Could not read image {name!r}: not a readable image file ({error}).") from error
    if size is not None:
        height, width = _check_size(size)
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def center_square(image: Any, size: int) -> np.ndarray:
    """Crop the central square of a photo and resize it to ``size x size``.

    Cropping before resizing keeps the proportions: nothing gets squashed,
    at the price of the borders of the longer side.

    Parameters
    ----------
    image
        One RGB image ``(H, W, 3)``: uint8, or real numbers in [0, 255]
        (rounded to uint8).
    size
        Side of the result in pixels, a positive int.

    Returns
    -------
    np.ndarray
        uint8 ``(size, size, 3)``, resized with bilinear interpolation (PIL).

    Raises
    ------
    ValueError
        If ``image`` is not ``(H, W, 3)``, is empty, has values outside
        [0, 255] or NaN, or ``size`` is below 1.
    TypeError
        If ``image`` does not hold real numbers, or ``size`` is not an integer.
    """
    size = positive_int("size (the side of the square in pixels)", size)
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"image must hold real numbers (uint8 pixels), got dtype {array.dtype}")
    if array.ndim != 3 or array.shape[-1] != 3 or 0 in array.shape:
        raise ValueError(
            f"image must be one RGB image (H, W, 3), got shape {array.shape}; load photos with "
            "image_io.load_image, which converts any mode to RGB."
        )
    if array.dtype != np.uint8:
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 255:
            raise ValueError("image values must be finite pixels in [0, 255].")
        array = np.round(array).astype(np.uint8)
    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(np.ascontiguousarray(array[top : top + side, left : left + side]))
    return np.asarray(crop.resize((int(size), int(size)), Image.Resampling.BILINEAR), dtype=np.uint8)


def _check_size(size: int | tuple[int, int]) -> tuple[int, int]:
    what = "size (a positive int or (height, width))"
    if not isinstance(size, (tuple, list)):
        side = positive_int(what, size)
        return side, side
    if len(size) != 2:
        raise ValueError(f"{what} must have two sides, got {size!r}")
    return positive_int(what, size[0]), positive_int(what, size[1])


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255 if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _fetch_url(url: str, timeout: float) -> bytes:
    cache = config.output_dir("cache", "images")
    suffix = Path(urllib.parse.urlparse(url).path).suffix[:5]
    cached = cache / (hashlib.sha256(url.encode()).hexdigest()[:20] + suffix)
    if cached.is_file():
        return cached.read_bytes()
    request = urllib.request.Request(url, headers={"User-Agent": "course_utils/0.1 (XAI course)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read()
    except Exception as error:  # DNS, timeout, HTTP errors
        raise ConnectionError(
            f"Could not download {url!r} ({type(error).__name__}: {error}). Offline? Use "
            "course_utils.data.sample_images() or a local file instead."
        ) from error
    files.write_bytes_atomically(cached, data)
    return data


def save_gif(frames: Any, path: str | os.PathLike, fps: float = 5) -> Path:
    """Write frames as an animated GIF with moviepy; return the path.

    Parameters
    ----------
    frames
        uint8 ``(T, H, W, 3)`` (e.g. the frames of
        :func:`course_utils.features.maximize_class`); real numbers must be
        pixels in [0, 255] and are rounded.
    path
        Where to write, ending in ``.gif``. A bare file name goes into
        ``config.output_dir("gifs")``, so notebooks write under ``build/``.
    fps
        Frames per second (> 0).

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    GIF writers merge consecutive identical frames into one longer frame, so
    a file can hold fewer frames than ``T`` when the image stops changing.
    Everything happens locally (moviepy writes through imageio and Pillow).
    """
    from moviepy import ImageSequenceClip

    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] < 1:
        raise ValueError(
            f"frames must be (T, H, W, 3) with T >= 1, got shape {array.shape}; for a batch from "
            "maximize_filters(..., return_frames=True) pass result.frames[i] of one filter."
        )
    rate = real_number("fps", fps, minimum=0.0, strict=True)
    if array.dtype != np.uint8:
        if array.dtype.kind not in "biuf" or not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 255:
            raise ValueError("frames must be uint8, or real pixels in [0, 255]; deprocess optimised images first.")
        array = np.round(array).astype(np.uint8)
    target = Path(path)
    if target.suffix.lower() != ".gif":
        raise ValueError(f"path must end in .gif, got {str(path)!r}")
    if target.parent == Path("."):
        target = config.output_dir("gifs") / target.name
    target.parent.mkdir(parents=True, exist_ok=True)
    sequence = list(array)  # a list: moviepy reads an array as a folder name
    clip = ImageSequenceClip(sequence, fps=rate)
    # moviepy writes int(duration * fps) frames, and its duration (a sum of
    # 1/fps) can fall just short of T/fps, dropping the last frame; half a
    # frame of slack keeps all T.
    clip = clip.with_duration((len(sequence) + 0.5) / rate)
    with files.replaced_atomically(target) as partial:
        clip.write_gif(str(partial), fps=rate, logger=None)
    return target


def blur(batch: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``sigma`` pixels along height and width of a float32 ``(N, H, W, 3)`` batch.

    Never across images or channels; edges reflect. The blurred baseline of
    Integrated Gradients (``attributions.make_baseline``) and the blurred fill
    of the deletion and insertion curves (``metrics.fill_images``, after
    Petsiuk et al., 2018) are this one function.

    Parameters
    ----------
    batch
        float32 ``(N, H, W, 3)`` pixels, already checked by the caller.
    sigma
        Standard deviation in pixels, > 0.

    Returns
    -------
    np.ndarray
        float32 ``(N, H, W, 3)``, values within the input's range.
    """
    from scipy import ndimage

    return ndimage.gaussian_filter(batch, sigma=(0, sigma, sigma, 0), mode="reflect").astype(np.float32, copy=False)
