"""Image files written by the format libraries themselves from a real photo of tests/data, for the format
tests: HEIC (pillow-heif), AVIF (Pillow), JPEG XL (pillow-jxl-plugin), DNG (tifffile, read by rawpy), each
stored so that its orientation tag makes it *display* exactly as the photo given."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

# The stored picture for an orientation: the inverse of what the orientation does on display.
UNDO = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}
PILLOW_FORMATS = {"HEIF": ".heic", "AVIF": ".avif", "JXL": ".jxl", "JPEG": ".jpg", "PNG": ".png",
                  "WEBP": ".webp", "TIFF": ".tif"}


def stored(displayed: Image.Image, orientation: int) -> Image.Image:
    undo = UNDO[orientation]
    return displayed if undo is None else displayed.transpose(undo)


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def register_plugins() -> None:
    import pillow_heif
    import pillow_jxl  # noqa: F401 - registers JPEG XL

    pillow_heif.register_heif_opener()


def encode(displayed: Image.Image, fmt: str, orientation: int = 1, xmp: bytes | None = None) -> bytes:
    """`displayed` written as `fmt` by its library, stored turned with the EXIF orientation that undoes it."""
    register_plugins()
    buf = io.BytesIO()
    extra: dict = {"exif": exif_bytes(orientation)}
    if fmt in ("JPEG", "HEIF", "AVIF", "JXL", "WEBP"):
        extra["quality"] = 92
    if fmt == "TIFF":  # the orientation is a tag of the TIFF's own first IFD
        extra = {"tiffinfo": {0x0112: orientation}}
    if xmp is not None:
        if fmt == "PNG":
            from PIL.PngImagePlugin import PngInfo

            info = PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode())
            extra["pnginfo"] = info
        elif fmt == "TIFF":
            extra["tiffinfo"][700] = xmp
        else:
            extra["xmp"] = xmp
    stored(displayed.convert("RGB"), orientation).save(buf, format=fmt, **extra)
    return buf.getvalue()


XYZ_TO_SRGB = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """An RGGB Bayer mosaic (12-bit, linear light) of an sRGB picture: what a camera sensor records."""
    height, width = rgb.shape[0] - rgb.shape[0] % 2, rgb.shape[1] - rgb.shape[1] % 2
    linear = (rgb[:height, :width].astype(np.float64) / 255.0) ** 2.2 * 4095
    cfa = np.empty((height, width), np.uint16)
    cfa[0::2, 0::2] = linear[0::2, 0::2, 0]
    cfa[0::2, 1::2] = linear[0::2, 1::2, 1]
    cfa[1::2, 0::2] = linear[1::2, 0::2, 1]
    cfa[1::2, 1::2] = linear[1::2, 1::2, 2]
    return cfa


def dng(displayed: Image.Image, orientation: int = 1, preview: Image.Image | None = None,
        xmp: bytes | None = None) -> bytes:
    """A DNG of `displayed` written with tifffile: the sensor mosaic (camera space = linear sRGB) with
    `orientation`, and optionally an 8-bit RGB preview as its first picture (as cameras store it)."""
    import tifffile

    rational = tuple(v for c in XYZ_TO_SRGB for v in (round(c * 10000), 10000))
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "facerec test camera", True),
            (271, "s", 0, "facerec", True), (272, "s", 0, "test", True), (274, "H", 1, orientation, True),
            (50721, "2i", 9, rational, True), (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),
            (50717, "I", 1, 4095, True), (50778, "H", 1, 21, True)]
    if xmp is not None:
        tags.append((700, "B", len(xmp), xmp, True))
    cfa_tags = [(33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True)]
    cfa = mosaic(np.asarray(stored(displayed.convert("RGB"), orientation)))
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as tw:
        if preview is None:
            tw.write(cfa, photometric=32803, extratags=tags + cfa_tags, subfiletype=0)
        else:
            tw.write(np.asarray(stored(preview.convert("RGB"), orientation)), photometric="rgb", subfiletype=1,
                     extratags=tags, subifds=1)
            tw.write(cfa, photometric=32803, extratags=cfa_tags, subfiletype=0)
    return buf.getvalue()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two pictures' grey levels (1 = the same picture); 0 when their shapes differ."""
    if a.shape != b.shape:
        return 0.0
    grey_a, grey_b = (np.asarray(x, np.float64).mean(axis=2).ravel() for x in (a, b))
    return float(np.corrcoef(grey_a, grey_b)[0, 1])
