"""Which image formats facerec reads, how each is recognised, and what a file says about itself.

Decoders (facerec.vision.imageio does the decoding; this module only names and sniffs):
- Pillow: JPEG, PNG, WebP, BMP, TIFF and AVIF (Pillow's own libavif, Pillow >= 11.3);
- pillow-heif: HEIC / HEIF (iPhone, Samsung; the still image of a motion photo);
- pillow-jxl-plugin: JPEG XL;
- rawpy (LibRaw): camera RAW files (.CR2, .CR3, .NEF, .ARW, .DNG, .RAF, .RW2, .ORF, .PEF, ...).

`image_info` is the one call for what a file holds without decoding its pixels: its format, stored and
displayed size, EXIF orientation and the bytes of its embedded XMP packet (face regions live there).
"""
from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass

# Read by Pillow (with the plugins below registered) or by LibRaw.
PILLOW_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".avif"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
JXL_EXTENSIONS = frozenset({".jxl"})
RAW_EXTENSIONS = frozenset({
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf", ".rw2", ".rwl", ".orf",
    ".pef", ".srw", ".x3f", ".3fr", ".fff", ".iiq", ".erf", ".mef", ".mos", ".mrw", ".kdc", ".dcr",
})
# What a RAW file is paired with when both are in one folder under one stem: the camera's (or the
# user's) developed picture, which is the one analysed.
DEVELOPED_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".heic", ".heif", ".hif", ".tif", ".tiff", ".png",
                                  ".webp", ".avif", ".jxl"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".3gp", ".mts", ".m2ts", ".webm", ".wmv",
                              ".mpg", ".mpeg"})

# EXIF orientation as Pillow's transpose methods (the values ImageOps.exif_transpose uses);
# 1 and values outside 1..8 leave the image as stored.
ORIENTATION_TAG = 0x0112
SWAPS_SIDES = frozenset({5, 6, 7, 8})
# LibRaw's `flip` (sizes.flip) as the EXIF orientation it stands for.
LIBRAW_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}

HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2")
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
DNG_VERSION_TAG, MAKE_TAG, SUB_IFDS_TAG = 50706, 271, 330
XMP_PACKET = re.compile(rb"<x:xmpmeta[\s>].*?</x:xmpmeta>", re.DOTALL)


class MissingDecoderError(ImportError):
    """The package that reads a format is not installed; the message says which one to install."""


def register_plugins(kind: str) -> None:
    """Register the Pillow plugins (once per process); raise MissingDecoderError when the one `kind`
    needs is not installed (the others are optional for it)."""
    missing = installed_plugins()
    if kind in missing:
        raise MissingDecoderError(missing[kind])
    if kind == "avif":
        from PIL import features

        if not features.check("avif"):
            raise MissingDecoderError("AVIF needs Pillow 11.3 or later: pip install -U pillow")


@functools.cache
def installed_plugins() -> dict[str, str]:
    """Registers pillow-heif and pillow-jxl-plugin with Pillow; returns {kind: install hint} of those missing."""
    missing = {}
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:
        missing["heif"] = "HEIC/HEIF needs pillow-heif: pip install pillow-heif"
    try:
        import pillow_jxl  # noqa: F401 - importing it registers the JPEG XL plugin with Pillow
    except ImportError:
        missing["jxl"] = "JPEG XL needs pillow-jxl-plugin: pip install pillow-jxl-plugin"
    return missing


def import_rawpy():
    try:
        import rawpy
    except ImportError as e:
        raise MissingDecoderError("camera RAW files need rawpy (LibRaw): pip install rawpy") from e
    return rawpy


def sniff(data: bytes, suffix: str = "") -> str:
    """'raw', 'heif', 'avif', 'jxl' or 'pillow': which decoder reads `data` (the file name's suffix, when known,
    decides for RAW files that are TIFF inside, which Pillow would open as their small first picture)."""
    suffix = suffix.lower()
    head = data[:32]
    if suffix in RAW_EXTENSIONS or is_raw(data):
        return "raw"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "avif"
    if head[:2] == b"\xff\x0a" or head[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return "jxl"
    return "pillow"


def is_raw(data: bytes) -> bool:
    """A camera RAW file by its first bytes (for bytes whose name is unknown: uploads, API callers)."""
    head = data[:16]
    if head.startswith(b"FUJIFILMCCD-RAW") or head[:4] in (b"IIU\x00", b"IIRO", b"IIRS", b"MMOR"):
        return True  # Fujifilm RAF, Panasonic RW2, Olympus ORF
    if head[4:8] == b"ftyp" and head[8:12] == b"crx ":
        return True  # Canon CR3
    if head[:4] in TIFF_MAGIC:
        if head[8:10] == b"CR":
            return True  # Canon CR2
        tags = tiff_ifd0_tags(data)
        return DNG_VERSION_TAG in tags or (MAKE_TAG in tags and SUB_IFDS_TAG in tags)  # DNG, NEF/ARW/PEF style
    return False


def tiff_ifd0_tags(data: bytes) -> set[int]:
    """The tag numbers of a TIFF's first IFD (empty when it cannot be read)."""
    try:
        endian = "<" if data[:2] == b"II" else ">"
        (offset,) = struct.unpack_from(endian + "I", data, 4)
        (count,) = struct.unpack_from(endian + "H", data, offset)
        return {struct.unpack_from(endian + "H", data, offset + 2 + 12 * i)[0] for i in range(min(count, 1000))}
    except struct.error:
        return set()


def displayed(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """(width, height) as displayed, for a stored (width, height) and an EXIF orientation."""
    return (size[1], size[0]) if orientation in SWAPS_SIDES else size


@dataclass(frozen=True)
class ImageInfo:
    """What a file says about itself, read from its header (no pixels decoded)."""

    format: str  # "JPEG", "PNG", "HEIF", "AVIF", "JXL", "TIFF", "WEBP", "RAW", ...
    stored_size: tuple[int, int]  # (width, height) of the pixels as stored
    displayed_size: tuple[int, int]  # (width, height) once `orientation` is applied (what facerec's boxes refer to)
    orientation: int  # EXIF orientation facerec applies (1 = as stored; for HEIF the container's, already applied)
    xmp: bytes | None  # the embedded XMP packet (<x:xmpmeta ...>...</x:xmpmeta>), None when there is none


def image_info(data: bytes, suffix: str = "") -> ImageInfo:
    """Format, sizes, orientation and XMP packet of an image file's bytes; raises facerec.errors.ImageError
    when the file is not one facerec reads. For a RAW file the sizes are those of the picture facerec
    analyses (its embedded preview when large enough, else the demosaiced image; see imageio.open_photo)."""
    from facerec.vision.imageio import open_photo

    photo = open_photo(data, suffix=suffix)
    return ImageInfo(photo.format, photo.stored_size, photo.size, photo.orientation, photo.xmp or xmp_packet(data))


def xmp_packet(data: bytes) -> bytes | None:
    """The first XMP packet found in a file's bytes (JPEG APP1, PNG iTXt, TIFF/RAW tag 700, WebP, HEIF and
    JPEG XL boxes all hold it uncompressed), or None."""
    found = XMP_PACKET.search(data)
    return found.group(0) if found else None


def pillow_xmp(image) -> bytes | None:
    """The XMP packet Pillow (or a plugin) exposes for an opened image, if any."""
    for key in ("xmp", "XML:com.adobe.xmp"):
        value = image.info.get(key)
        if value:
            return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    tag = getattr(image, "tag_v2", None)
    if tag is not None and tag.get(700):
        value = tag.get(700)
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return None
