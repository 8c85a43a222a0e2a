"""The XMP packets embedded in an image file (read only; the photo is never written).

- JPEG: APP1 segments ``http://ns.adobe.com/xap/1.0/`` (the standard packet) and
  ``http://ns.adobe.com/xmp/extension/`` (extended XMP: a packet too big for one 64 KB segment, split in
  chunks keyed by the MD5 GUID the standard packet names in ``xmpNote:HasExtendedXMP``), per the XMP
  Specification Part 3, 1.1.3. Only the segments before the image data (SOS) are read.
- PNG: the ``iTXt`` chunk with keyword ``XML:com.adobe.xmp`` (compressed or not).
- TIFF and WebP: Pillow's reading (TIFF tag 700, WebP's ``XMP `` chunk).

Other formats (HEIF/HEIC, AVIF, JPEG XL, RAW): the first XMP packet in the file's bytes, where they keep it
uncompressed (facerec.vision.formats.xmp_packet).
"""
from __future__ import annotations

import io
import re
import struct
import zlib

JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
JPEG_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
MAX_EXTENDED_XMP = 16 * 1024 * 1024  # bytes: a bound on what a hostile file can make us allocate
MAX_PNG_XMP = 16 * 1024 * 1024
HAS_EXTENDED = re.compile(rb'HasExtendedXMP\s*(?:=\s*["\']|>)\s*([0-9A-Fa-f]{32})')


class EmbeddedXmpError(ValueError):
    """The file's metadata structure is broken where the XMP should be."""


def embedded_packets(data: bytes) -> list[bytes]:
    """The XMP packets embedded in an image's bytes (standard packet first), or [] when there are none."""
    if data[:2] == b"\xff\xd8":
        return jpeg_packets(data)
    if data[:8] == PNG_SIGNATURE:
        return png_packets(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return pillow_packets(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        try:
            return pillow_packets(data)
        except EmbeddedXmpError:
            pass  # a RAW file in TIFF's structure (DNG, NEF, ARW ...) that Pillow does not open: read as below
    from facerec.vision.formats import xmp_packet  # HEIF, AVIF, JPEG XL, RAW: the packet is stored uncompressed

    packet = xmp_packet(data)
    return [packet] if packet else []


def jpeg_packets(data: bytes) -> list[bytes]:
    standard: bytes | None = None
    chunks: dict[bytes, dict[int, bytes]] = {}
    sizes: dict[bytes, int] = {}
    for marker, payload in jpeg_segments(data):
        if marker != 0xE1:
            continue
        if payload.startswith(JPEG_XMP) and standard is None:
            standard = payload[len(JPEG_XMP):]
        elif payload.startswith(JPEG_EXTENDED_XMP):
            body = payload[len(JPEG_EXTENDED_XMP):]
            if len(body) < 40:
                continue
            guid, (full, offset) = body[:32], struct.unpack(">II", body[32:40])
            if full <= MAX_EXTENDED_XMP:
                chunks.setdefault(guid, {})[offset] = body[40:]
                sizes[guid] = full
    if standard is None:
        return []
    packets = [standard]
    wanted = HAS_EXTENDED.search(standard)
    if wanted and wanted.group(1).upper() in {g.upper() for g in chunks}:
        guid = next(g for g in chunks if g.upper() == wanted.group(1).upper())
        extended = assemble(chunks[guid], sizes[guid])
        if extended is not None:
            packets.append(extended)
    return packets


def assemble(parts: dict[int, bytes], full: int) -> bytes | None:
    """The extended packet from its chunks, or None when chunks are missing or overlap."""
    out = bytearray()
    for offset in sorted(parts):
        if offset != len(out):
            return None
        out += parts[offset]
    return bytes(out) if len(out) == full else None


def jpeg_segments(data: bytes):
    """(marker, payload) of each segment before the image data; a broken structure ends the walk."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise EmbeddedXmpError(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata after this
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise EmbeddedXmpError(f"JPEG segment at byte {pos} runs past the end of the file")
        yield marker, data[pos + 4:pos + 2 + length]
        pos += 2 + length


def png_packets(data: bytes) -> list[bytes]:
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) < length:
            raise EmbeddedXmpError(f"PNG chunk {kind!r} runs past the end of the file")
        if kind == b"iTXt" and body.startswith(PNG_XMP_KEYWORD + b"\x00"):
            return [itxt_text(body)]
        if kind == b"IEND":
            break
        pos += 12 + length
    return []


def itxt_text(body: bytes) -> bytes:
    """The text of an iTXt chunk: keyword\\0 flag method language\\0 translated keyword\\0 text."""
    rest = body[len(PNG_XMP_KEYWORD) + 1:]
    if len(rest) < 2:
        raise EmbeddedXmpError("PNG iTXt chunk is truncated")
    compressed, rest = rest[0], rest[2:]
    parts = rest.split(b"\x00", 2)
    if len(parts) < 3:
        raise EmbeddedXmpError("PNG iTXt chunk is truncated")
    text = parts[2]
    if compressed:
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(text, MAX_PNG_XMP)
        except zlib.error as e:
            raise EmbeddedXmpError(f"PNG iTXt chunk is not valid zlib data ({e})") from e
    return text


def pillow_packets(data: bytes) -> list[bytes]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            raw = im.info.get("xmp")
            if raw is None and hasattr(im, "tag_v2"):
                raw = im.tag_v2.get(700)
    except (OSError, ValueError, SyntaxError) as e:
        raise EmbeddedXmpError(str(e)) from e
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if isinstance(raw, tuple):  # some Pillow versions give TIFF's XMP as a tuple of ints
        raw = bytes(raw)
    return [bytes(raw)] if raw else []
