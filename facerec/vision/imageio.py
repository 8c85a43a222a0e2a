"""One image loader for files, bytes and arrays: always returns an RGB uint8 (H, W, 3) array.

EXIF orientation is applied (phones store portraits sideways), grayscale / RGBA / palette /
16-bit / CMYK are converted, and anything that is not a readable image raises `ImageError`
naming the source, instead of a decoder traceback.

Formats (facerec.vision.formats names the packages): JPEG, PNG, WebP, BMP, TIFF, AVIF (Pillow), HEIC/HEIF
(pillow-heif), JPEG XL (pillow-jxl-plugin) and camera RAW files (rawpy / LibRaw: the embedded preview
when its long side is at least RAW_PREVIEW_MIN_SIDE, else LibRaw's demosaic). Orientation: the EXIF
orientation tag for every format; HEIF's container rotation (irot/imir), which pillow-heif applies while
decoding; for a RAW file, its preview's own EXIF orientation, else LibRaw's (the camera's) orientation.

`open_photo` reads the header only and decodes later at the scale a caller needs (`Photo.decode`): a JPEG
is decoded at 1/2, 1/4 or 1/8 by libjpeg's DCT scaling (Pillow's `draft`), a RAW at half size by LibRaw,
so that detecting faces in a 36 MP photo does not decode 36 MP.
"""
from __future__ import annotations

import io
import math
import os
import stat
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from facerec.errors import ImageError
from facerec.vision import formats
from facerec.vision.formats import MissingDecoderError

IMAGE_EXTENSIONS = (formats.PILLOW_EXTENSIONS | formats.HEIF_EXTENSIONS | formats.JXL_EXTENSIONS
                    | formats.RAW_EXTENSIONS)
# Image formats people keep in albums that albums and PEOPLE_DIR do not read: reported, not silently skipped.
UNSUPPORTED_IMAGE_EXTENSIONS = frozenset({".gif"})

# Decompression-bomb guard: 100 megapixels is a 12k x 8k photo, far above any camera in a photo album.
# This is the limit that applies: Pillow's own (89.5 MP warning) is silenced and ours is checked from the
# header, before anything is decoded. Beyond 2 x Pillow's limit Pillow refuses on its own, also an ImageError.
MAX_PIXELS = 100_000_000
# No photo is 50 times wider than tall (a 360-degree panorama is about 8:1); a 100000x1 PNG of a few hundred bytes is
# an attack on the detector's memory, and nothing in it can be a face. Refused from the header, like MAX_PIXELS.
MAX_ASPECT_RATIO = 50
# A RAW file's embedded preview is used when its long side is at least this (what detection looks at);
# smaller previews (thumbnails) are not, and LibRaw demosaics the sensor data instead.
RAW_PREVIEW_MIN_SIDE = 1280
# Pillow's transpose for each EXIF orientation (as ImageOps.exif_transpose).
TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}

ImageSource = Union[str, Path, bytes, bytearray, np.ndarray]


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def load_image(src: ImageSource, *, max_pixels: int = MAX_PIXELS, suffix: str = "") -> np.ndarray:
    """Decode `src` into an RGB uint8 array; raise ImageError with the source's name on any failure.
    `suffix`: the file name's extension when `src` is bytes (tells a RAW file from a TIFF)."""
    if isinstance(src, np.ndarray):
        rgb = array_to_rgb(src)
        check_shape(rgb.shape[1], rgb.shape[0], "<array>", max_pixels)
        return rgb
    return open_photo(src, max_pixels=max_pixels, suffix=suffix).decode(1.0)[0]


def open_photo(src: str | Path | bytes | bytearray, *, max_pixels: int = MAX_PIXELS, suffix: str = "") -> "Photo":
    """The image in `src` opened from its header (size, orientation, XMP), to be decoded by `Photo.decode`."""
    label, data = read_source(src)
    if not isinstance(src, (bytes, bytearray)):
        suffix = suffix or Path(src).suffix
    kind = formats.sniff(data, suffix)
    with decoding_errors(label, kind):
        if kind == "raw":
            return open_raw(label, data, max_pixels)
        formats.register_plugins(kind)
        return PillowPhoto(label, data, max_pixels, kind=kind)


@contextmanager
def decoding_errors(label: str, kind: str) -> Iterator[None]:
    """Turns what decoders raise into an ImageError that names the file and the reason."""
    what = {"heif": "HEIF", "avif": "AVIF", "jxl": "JPEG XL", "raw": "RAW"}.get(kind)
    try:
        yield
    except ImageError:
        raise
    except MissingDecoderError as e:
        raise ImageError(f"{label}: cannot be read here: {e}") from e
    except Image.DecompressionBombError as e:
        raise ImageError(f"{label}: image is too large to decode safely ({e})") from e
    except UnidentifiedImageError as e:
        if what:  # the file says it is HEIF / JPEG XL, but the decoder cannot make sense of it
            raise ImageError(f"{label}: {what} image is corrupt or truncated (its decoder cannot read it)") from e
        raise ImageError(f"{label}: not an image file (or an unsupported format)") from e
    except Exception as e:  # noqa: BLE001 - each decoder has its own exceptions; all mean "cannot be read"
        if is_libraw_error(e):
            raise ImageError(f"{label}: RAW file is corrupt, truncated or of a camera LibRaw does not know "
                             f"({libraw_message(e)})") from e
        if not isinstance(e, (OSError, SyntaxError, ValueError, RuntimeError, EOFError, struct.error)):
            raise
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if kind == "jxl" and isinstance(e, RuntimeError):
            reason = "libjxl cannot decode it"  # its own message asks for a debug build of libjxl
        raise ImageError(f"{label}: {what + ' image' if what else 'image'} is corrupt or truncated ({reason})") from e


def is_libraw_error(error: BaseException) -> bool:
    return any(t.__name__ == "LibRawError" for t in type(error).__mro__)


def libraw_message(error: BaseException) -> str:
    text = error.args[0] if error.args else type(error).__name__
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


class Photo:
    """An image file opened from its header. `size` is (width, height) as displayed (orientation applied):
    the frame of every box facerec reports. `decode(scale)` returns (RGB array, its scale): the image at
    `scale` of `size` or finer (1.0 = every pixel), decoded once per scale (kept until the Photo is dropped)."""

    label: str
    format: str
    stored_size: tuple[int, int]
    size: tuple[int, int]
    orientation: int
    xmp: bytes | None

    def __init__(self) -> None:
        self._decoded: dict[float, np.ndarray] = {}

    def decode(self, scale: float = 1.0) -> tuple[np.ndarray, float]:
        """The image at `scale` (0 < scale <= 1) of its displayed size or finer, and the scale it has."""
        scale = min(scale, 1.0)  # never more pixels than the file has
        finer = [s for s in self._decoded if s >= scale - 1e-9]
        if finer:
            best = min(finer)
            return self._decoded[best], best
        image, actual = self._decode(scale)
        self._decoded[actual] = image
        return image, actual

    def _decode(self, scale: float) -> tuple[np.ndarray, float]:
        raise NotImplementedError


class PillowPhoto(Photo):
    """JPEG, PNG, WebP, BMP, TIFF, AVIF, HEIF and JPEG XL: what Pillow and its plugins open.
    Only JPEG has a reduced decode (libjpeg's DCT scaling); the others decode whole."""

    def __init__(self, label: str, data: bytes, max_pixels: int, default_orientation: int = 1,
                 kind: str = "pillow") -> None:
        super().__init__()
        self.label, self.data, self.kind = label, data, kind
        image = self._open()
        check_size(image, label, max_pixels)
        self.format = image.format or "unknown"
        self.reducible = image.format == "JPEG"  # libjpeg decodes at 1/2, 1/4, 1/8 for the asking
        self.stored_size = image.size
        # an orientation that is absent, 1 or not one of the eight: the default (as stored; a RAW's for its preview)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # corrupt EXIF: Pillow warns and the orientation stays 1
            orientation = image.getexif().get(formats.ORIENTATION_TAG, 1)
        self.orientation = orientation if orientation in TRANSPOSE else default_orientation
        self.size = formats.displayed(image.size, self.orientation)
        self.transpose = TRANSPOSE.get(self.orientation)
        if image.format in ("HEIF", "TIFF"):  # their decoders turn the picture themselves (and reset the tag):
            # pillow-heif the container's rotation, Pillow (11+) a TIFF's orientation tag, sizes already as displayed
            original = image.info.get("original_orientation") if image.format == "HEIF" else orientation
            self.orientation = original if original in TRANSPOSE else 1
            self.size, self.transpose = image.size, None
            self.stored_size = formats.displayed(image.size, self.orientation)
        self.xmp = formats.pillow_xmp(image)
        self._first: Image.Image | None = image  # the opened image, decoded by the first full decode

    def _open(self) -> Image.Image:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # check_size applies MAX_PIXELS
            return Image.open(io.BytesIO(self.data))

    def _decode(self, scale: float) -> tuple[np.ndarray, float]:
        with decoding_errors(self.label, self.kind), warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image, divisor = self._first, 1
            if self.reducible and scale <= 0.5:
                image, divisor = self._open(), 1
                width, height = image.size
                image.draft("RGB", (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
                divisor = max(1, round(width / image.size[0]))
            elif image is None:
                image = self._open()
            self._first = None
            image.load()  # forces the full decode: truncated files fail here, not later
            if self.transpose is not None:
                image = image.transpose(self.transpose)
            return pil_to_rgb(image), 1.0 / divisor


class ArrayPhoto(Photo):
    """A picture already decoded (a RAW file's bitmap preview)."""

    def __init__(self, label: str, stored: np.ndarray, orientation: int, fmt: str) -> None:
        super().__init__()
        self.label, self.format, self.xmp, self.orientation = label, fmt, None, orientation
        image = Image.fromarray(array_to_rgb(stored))
        self.stored_size = image.size
        if orientation in TRANSPOSE:
            image = image.transpose(TRANSPOSE[orientation])
        self.size = image.size
        self._decoded[1.0] = np.asarray(image)


class RawPhoto(Photo):
    """A camera RAW file without a usable preview: LibRaw demosaics it (at half size for a reduced decode)
    with the camera's white balance, and applies the camera's orientation."""

    def __init__(self, label: str, data: bytes, raw, max_pixels: int) -> None:
        super().__init__()
        self.label, self.data, self.format, self.xmp = label, data, "RAW", None
        self.orientation = formats.LIBRAW_FLIP_TO_ORIENTATION.get(int(raw.sizes.flip), 1)
        self.stored_size = (int(raw.sizes.width), int(raw.sizes.height))
        check_pixels(self.stored_size, label, max_pixels)
        self.size = formats.displayed(self.stored_size, self.orientation)

    def _decode(self, scale: float) -> tuple[np.ndarray, float]:
        rawpy = formats.import_rawpy()
        with decoding_errors(self.label, "raw"), rawpy.imread(io.BytesIO(self.data)) as raw:
            rgb = raw.postprocess(use_camera_wb=True, output_bps=8, half_size=scale <= 0.5)
        image = array_to_rgb(rgb)
        return image, image.shape[1] / self.size[0]


def open_raw(label: str, data: bytes, max_pixels: int) -> Photo:
    """A RAW file as its embedded preview when that is large enough (decoded as a JPEG, and at a reduced
    scale as one), else as LibRaw's demosaic."""
    rawpy = formats.import_rawpy()
    with rawpy.imread(io.BytesIO(data)) as raw:
        orientation = formats.LIBRAW_FLIP_TO_ORIENTATION.get(int(raw.sizes.flip), 1)
        preview = raw_preview(raw, rawpy)
        if isinstance(preview, bytes):
            try:
                photo: Photo | None = PillowPhoto(label, preview, max_pixels, default_orientation=orientation)
            except (ImageError, OSError, ValueError, SyntaxError):  # a preview Pillow cannot read: demosaic
                photo = None
            if photo is not None and max(photo.size) >= RAW_PREVIEW_MIN_SIDE:
                photo.format = "RAW"
                return photo
        elif isinstance(preview, np.ndarray) and preview.ndim == 3 and max(preview.shape[:2]) >= RAW_PREVIEW_MIN_SIDE:
            return ArrayPhoto(label, preview, orientation, "RAW")
        return RawPhoto(label, data, raw, max_pixels)


def raw_preview(raw, rawpy) -> bytes | np.ndarray | None:
    """The RAW file's largest embedded preview (JPEG bytes or a bitmap), or None."""
    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError:  # no preview, or one LibRaw cannot unpack: demosaic instead
        return None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        return bytes(thumb.data)
    return np.asarray(thumb.data)


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


def check_pixels(size: tuple[int, int], label: str, max_pixels: int) -> None:
    check_shape(*size, label, max_pixels)


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
