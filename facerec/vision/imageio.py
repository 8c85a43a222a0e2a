"""One image loader for files, bytes and arrays: always returns an RGB uint8 (H, W, 3) array.

EXIF orientation is applied (phones store portraits sideways), grayscale / RGBA / palette /
16-bit / CMYK are converted, and anything that is not a readable image raises `ImageError`
naming the source, instead of a decoder traceback.
"""
from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facerec.errors import ImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
# Image formats people keep in albums that albums and PEOPLE_DIR do not read: reported, not silently skipped.
UNSUPPORTED_IMAGE_EXTENSIONS = frozenset({".gif", ".heic", ".heif", ".avif", ".jxl"})

# Decompression-bomb guard: 100 megapixels is a 12k x 8k photo, far above any camera in a photo album.
# This is the limit that applies: Pillow's own (89.5 MP warning) is silenced and ours is checked from the
# header, before anything is decoded. Beyond 2 x Pillow's limit Pillow refuses on its own, also an ImageError.
MAX_PIXELS = 100_000_000
# No photo is 50 times wider than tall (a 360-degree panorama is about 8:1); a 100000x1 PNG of a few hundred bytes is
# an attack on the detector's memory, and nothing in it can be a face. Refused from the header, like MAX_PIXELS.
MAX_ASPECT_RATIO = 50

ImageSource = Union[str, Path, bytes, bytearray, np.ndarray]


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def load_image(src: ImageSource, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode `src` into an RGB uint8 array; raise ImageError with the source's name on any failure."""
    if isinstance(src, np.ndarray):
        rgb = array_to_rgb(src)
        check_shape(rgb.shape[1], rgb.shape[0], "<array>", max_pixels)
        return rgb
    label, data = read_source(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # check_size applies MAX_PIXELS
            image = Image.open(io.BytesIO(data))
            check_size(image, label, max_pixels)
            image.load()  # forces the full decode: truncated files fail here, not later
            image = ImageOps.exif_transpose(image)
            return pil_to_rgb(image)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"{label}: image is too large to decode safely ({e})") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{label}: not an image file (or an unsupported format)") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{label}: image is corrupt or truncated ({e})") from e


def read_source(src: ImageSource) -> tuple[str, bytes]:
    if isinstance(src, (bytes, bytearray)):
        data, label = bytes(src), "<bytes>"
    else:
        path = Path(src)
        label = str(path)
        data = read_regular_file(path, label)
    if not data:
        raise ImageError(f"{label}: file is empty")
    return label, data


def read_regular_file(path: Path, label: str) -> bytes:
    """The bytes of a regular file; a folder, named pipe (which would block forever) or device is an ImageError."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever before fstat could refuse it
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as e:
        raise ImageError(f"{label}: file not found" + (" (broken symbolic link)" if path.is_symlink() else "")) from e
    except IsADirectoryError as e:
        raise ImageError(f"{label}: is a folder, not an image") from e
    except OSError as e:
        raise ImageError(f"{label}: cannot read file ({e.strerror or e})") from e
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ImageError(f"{label}: is a folder, not an image")
        if not stat.S_ISREG(mode):
            raise ImageError(f"{label}: not a regular file (a named pipe, socket or device), not read")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError as e:
        raise ImageError(f"{label}: cannot read file ({e.strerror or e})") from e
    finally:
        os.close(fd)


def check_size(image: Image.Image, label: str, max_pixels: int) -> None:
    check_shape(*image.size, label, max_pixels)


def check_shape(width: int, height: int, label: str, max_pixels: int = MAX_PIXELS) -> None:
    """ImageError for an image too large, too elongated or empty to look for faces in at a bounded cost."""
    if width * height > max_pixels:
        raise ImageError(
            f"{label}: image is {width}x{height} ({width * height / 1e6:.0f} MP), above the {max_pixels / 1e6:.0f} MP "
            "safety limit; downscale it first"
        )
    if width < 1 or height < 1:
        raise ImageError(f"{label}: image has no pixels")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageError(f"{label}: image is {width}x{height}, more than {MAX_ASPECT_RATIO} times longer than it is "
                         "wide; not a photo facerec can look for faces in")


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / 32-bit grayscale: scale the actual range to 8 bits instead of clipping to white.
        array = np.asarray(image, dtype=np.float64)
        return array_to_rgb(array)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Arrays are taken as RGB (or gray / RGBA); any dtype is brought to uint8."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise ImageError(f"<array>: expected an (H, W), (H, W, 3) or (H, W, 4) image array, got shape {a.shape}")
    if a.dtype != np.uint8:
        a = to_uint8(a)
    if a.ndim == 2:
        a = np.stack([a, a, a], axis=-1)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = (a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(a)


def to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint16:
        return (a.astype(np.float64) / 257.0).round().astype(np.uint8)
    if a.dtype.kind == "f" and np.nanmax(a) <= 1.0 and np.nanmin(a) >= 0.0:
        return (np.nan_to_num(a) * 255.0).round().astype(np.uint8)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo >= 0 and hi <= 255:
        return np.nan_to_num(a).round().astype(np.uint8)
    scaled = (np.nan_to_num(a.astype(np.float64)) - lo) / max(hi - lo, 1e-12) * 255.0
    return scaled.round().astype(np.uint8)
