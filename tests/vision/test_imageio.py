"""The image loader on real photos and on every kind of bad input a photo folder holds."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facerec.errors import ImageError
from facerec.vision.imageio import load_image


@pytest.fixture
def photo(core_images):
    return core_images / "kit_1.jpg"


def pil_bytes(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def test_jpeg_file_bytes_and_array_agree(photo):
    from_path = load_image(photo)
    from_bytes = load_image(photo.read_bytes())
    assert from_path.dtype == np.uint8 and from_path.ndim == 3 and from_path.shape[2] == 3
    assert np.array_equal(from_path, from_bytes)
    assert np.array_equal(load_image(from_path), from_path)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP"])
def test_other_formats(photo, fmt):
    original = Image.open(photo).convert("RGB")
    decoded = load_image(pil_bytes(original, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    assert decoded.shape == (original.height, original.width, 3)
    assert np.abs(decoded.astype(int) - np.asarray(original).astype(int)).max() <= 2


def test_exif_orientation_is_applied(photo, tmp_path):
    original = Image.open(photo).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the stored pixels are sideways
    stored = original.transpose(Image.Transpose.ROTATE_90)
    path = tmp_path / "rotated.jpg"
    stored.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = load_image(path)
    assert decoded.shape[:2] == (original.height, original.width)


def test_grayscale_rgba_16bit_cmyk(photo):
    rgb = Image.open(photo).convert("RGB")
    gray = load_image(pil_bytes(rgb.convert("L"), "PNG"))
    assert gray.shape[2] == 3 and np.array_equal(gray[..., 0], gray[..., 1])
    rgba = rgb.convert("RGBA")
    rgba.putalpha(0)  # fully transparent composes onto white
    assert load_image(pil_bytes(rgba, "PNG")).min() == 255
    sixteen = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
    decoded16 = load_image(pil_bytes(Image.fromarray(sixteen), "PNG"))
    assert decoded16.shape[2] == 3 and abs(int(decoded16[..., 0].mean()) - int(np.asarray(rgb.convert("L")).mean())) <= 2
    cmyk = load_image(pil_bytes(rgb.convert("CMYK"), "JPEG"))
    assert cmyk.shape == (rgb.height, rgb.width, 3)


def test_unicode_path(photo, tmp_path):
    target = tmp_path / "Zoë Ñúñez 写真.jpg"
    target.write_bytes(photo.read_bytes())
    assert load_image(target).shape[2] == 3


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"this is a text file, not a photo\n", "not an image"),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    assert "bad.jpg" in str(info.value)


def test_truncated_jpeg(photo, tmp_path):
    path = tmp_path / "truncated.jpg"
    path.write_bytes(photo.read_bytes()[:4000])
    with pytest.raises(ImageError, match="truncated.jpg.*(corrupt|truncated)"):
        load_image(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_decompression_bomb_is_refused(tmp_path):
    # A tiny PNG that claims 20000 x 20000 pixels: must be refused before decoding 1.2 GB.
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)
    assert path.stat().st_size < 200_000
    with pytest.raises(ImageError, match="too large|safety limit"):
        load_image(path, max_pixels=50_000_000)


def test_bad_arrays():
    with pytest.raises(ImageError):
        load_image(np.zeros((4, 4, 7), dtype=np.uint8))
    float_image = load_image(np.full((8, 8, 3), 0.5, dtype=np.float32))
    assert float_image.dtype == np.uint8 and float_image[0, 0, 0] == 128


@pytest.mark.parametrize("size", [(100_000, 1), (1, 100_000), (1_000_000, 1), (5100, 100)])
def test_an_absurd_shape_is_refused_from_the_header(tmp_path, size):
    """A 372-byte 100000x1 PNG made the second look allocate 22 GB; no photo is 50 times wider than tall."""
    path = tmp_path / "thin.png"
    Image.new("L", size).save(path)
    assert path.stat().st_size < 5_000
    with pytest.raises(ImageError, match=r"more than 50 times longer than it is wide"):
        load_image(path)
    with pytest.raises(ImageError, match=r"more than 50 times"):
        load_image(np.zeros((size[1], size[0]), np.uint8))


def test_a_panorama_is_still_a_photo():
    assert load_image(np.zeros((100, 5000, 3), np.uint8)).shape == (100, 5000, 3)
