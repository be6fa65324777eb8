"""course_utils.image_io: reading photos (files, URLs, EXIF orientation, any mode) and the centre-square crop."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils import image_io


def _write(path: Path, mode: str = "RGB", size=(20, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {"L": 128, "LA": (128, 200), "P": 3, "RGBA": (10, 20, 30, 128), "CMYK": (0, 50, 100, 0), "RGB": (10, 20, 30), "I;16": 40000}[mode]
    Image.new(mode, size, color).save(path)
    return path


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("LA", ".png"), ("P", ".png"), ("RGBA", ".png"), ("CMYK", ".jpg"), ("RGB", ".jpg"), ("I;16", ".png")])
def test_load_image_turns_any_mode_into_rgb_uint8(tmp_path, mode, suffix):
    image = image_io.load_image(_write(tmp_path / f"x{suffix}", mode))
    assert image.dtype == np.uint8 and image.shape == (16, 20, 3)


def test_load_image_composites_transparency_on_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(path)
    assert (image_io.load_image(path) == 255).all()


def test_load_image_resizes(tmp_path):
    path = _write(tmp_path / "a.png")
    assert image_io.load_image(path, size=8).shape == (8, 8, 3)
    assert image_io.load_image(path, size=(5, 7)).shape == (5, 7, 3)
    with pytest.raises(ValueError, match="positive int"):
        image_io.load_image(path, size=(0, 3))


def test_load_image_names_a_missing_or_corrupt_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        image_io.load_image(tmp_path / "nope.jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        image_io.load_image(broken)


def test_load_image_url_fails_fast_offline_with_advice():
    with pytest.raises(ConnectionError, match="sample_images"):
        image_io.load_image("https://example.invalid/cat.jpg", timeout=2)


def test_load_image_url_uses_the_cache(monkeypatch):
    png = io.BytesIO()
    Image.new("RGB", (3, 2), (1, 2, 3)).save(png, format="PNG")
    calls = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(request, timeout):
        calls.append(timeout)
        return Response(png.getvalue())

    monkeypatch.setattr(image_io.urllib.request, "urlopen", fake_urlopen)
    first = image_io.load_image("https://example.org/tiny.png", timeout=1.5)
    second = image_io.load_image("https://example.org/tiny.png")
    assert calls == [1.5], "the second read comes from the cache"
    np.testing.assert_array_equal(first, second)
    assert tuple(first[0, 0]) == (1, 2, 3)


def test_center_square_crops_the_middle_then_resizes():
    wide = np.zeros((40, 100, 3), np.uint8)
    wide[:, 30:70] = 200                               # the central 40x40 square is bright
    out = image_io.center_square(wide, 20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8
    assert np.all(out == 200)                          # the dark sides were cropped away
    tall = np.arange(60 * 30 * 3, dtype=np.float64).reshape(60, 30, 3) % 256
    expected = np.asarray(Image.fromarray(tall[15:45].astype(np.uint8)).resize((30, 30), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(image_io.center_square(tall, 30), expected)
    np.testing.assert_array_equal(image_io.center_square(wide[:, 30:70], 40), wide[:, 30:70])   # identity


@pytest.mark.parametrize(
    "image, size, error",
    [
        (np.zeros((10, 10), np.uint8), 5, ValueError),          # no channels
        (np.zeros((10, 10, 4), np.uint8), 5, ValueError),       # RGBA
        (np.zeros((0, 10, 3), np.uint8), 5, ValueError),        # empty
        (np.full((10, 10, 3), 300.0), 5, ValueError),          # out of range
        (np.zeros((10, 10, 3), np.uint8), 0, ValueError),       # bad size
        (np.zeros((10, 10, 3), np.uint8), 2.5, TypeError),       # a float side is a wrong type
        (np.full((10, 10, 3), "a"), 5, TypeError),
    ],
)
def test_center_square_rejects_bad_input(image, size, error):
    with pytest.raises(error):
        image_io.center_square(image, size)


def _stored_pattern() -> np.ndarray:
    """A non-square (32, 48, 3) image of six 16x16 blocks, each its own colour; red at the top left."""
    colors = np.array(
        [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(255, 255, 0), (0, 255, 255), (255, 0, 255)]], np.uint8
    )
    return np.repeat(np.repeat(colors, 16, axis=0), 16, axis=1)


def _save_with_orientation(path: Path, pixels: np.ndarray, orientation: int | None) -> Path:
    image = Image.fromarray(pixels)
    options = {"quality": 95, "subsampling": 0} if path.suffix == ".jpg" else {}
    if orientation is None:
        image.save(path, **options)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(path, exif=exif, **options)
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_load_image_applies_exif_orientation_6_so_a_sideways_photo_loads_upright(tmp_path, suffix):
    stored = _stored_pattern()                                   # as the camera wrote the pixels: 32 high, 48 wide
    path = _save_with_orientation(tmp_path / f"phone{suffix}", stored, orientation=6)
    with Image.open(path) as check:                              # the tag really is in the file
        assert check.getexif()[0x0112] == 6 and check.size == (48, 32)
    image = image_io.load_image(path)
    assert image.shape == (48, 32, 3) and image.dtype == np.uint8, "height and width swap"
    # Orientation 6: the viewer turns the stored pixels 90 degrees clockwise, so the stored
    # top-left (red) block ends up at the top right, the stored bottom-left (yellow) at the top left.
    upright = np.rot90(stored, k=-1)
    tolerance = 0 if suffix == ".png" else 12
    np.testing.assert_allclose(image.astype(int), upright.astype(int), atol=tolerance)
    np.testing.assert_allclose(image[8, 24], (255, 0, 0), atol=tolerance)           # top right: red
    np.testing.assert_allclose(image[8, 8], (255, 255, 0), atol=tolerance)          # top left: yellow
    np.testing.assert_allclose(image[40, 24], (0, 0, 255), atol=tolerance)          # bottom right: blue
    assert image_io.load_image(path, size=(12, 8)).shape == (12, 8, 3), "resizing applies to the upright photo"


@pytest.mark.parametrize("orientation, turns", [(3, 2), (8, 1)])
def test_load_image_applies_other_rotations(tmp_path, orientation, turns):
    stored = _stored_pattern()
    path = _save_with_orientation(tmp_path / f"o{orientation}.png", stored, orientation)
    np.testing.assert_array_equal(image_io.load_image(path), np.rot90(stored, k=turns))


@pytest.mark.parametrize("orientation", [1, None])
def test_load_image_without_a_rotation_keeps_the_image_as_stored(tmp_path, orientation):
    stored = _stored_pattern()
    path = _save_with_orientation(tmp_path / "upright.png", stored, orientation)
    np.testing.assert_array_equal(image_io.load_image(path), stored)


def test_decode_image_reads_uploaded_bytes_like_a_file(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (12, 20, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG")
    path = tmp_path / "upload.png"
    path.write_bytes(buffer.getvalue())
    decoded = image_io.decode_image(memoryview(buffer.getvalue()), name="upload.png")
    np.testing.assert_array_equal(decoded, image_io.load_image(path))
    assert decoded.shape == (12, 20, 3) and decoded.dtype == np.uint8
    assert image_io.decode_image(buffer.getvalue(), size=8).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="'upload.png': not a readable image"):
        image_io.decode_image(b"not an image", name="upload.png")
    with pytest.raises(TypeError, match="bytes of an image file"):
        image_io.decode_image("upload.png")  # type: ignore[arg-type]
