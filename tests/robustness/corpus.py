"""The bad-input corpus, generated: broken and odd image files, hostile file names, and file-system
traps (folders and pipes with an image name, broken links, link loops), beside good photos.

Every case says what must happen to it:
- `readable`: load_image decodes it (detect / identify / verify take it);
- `walked`: albums and PEOPLE_DIR take it as a photo (otherwise the walk reports it, or it is a folder);
- `face`: a real face photo of the same person (FACE_A), which every command must still find.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from robust_helpers import FACE_A


@dataclass(frozen=True)
class Case:
    name: str  # file name (may hold surrogates: not valid UTF-8)
    readable: bool
    walked: bool
    face: bool = False


SIDE = 300  # px: faces stay well above the 40 px enrollment minimum, detection stays quick


def face_image() -> Image.Image:
    with Image.open(FACE_A) as im:
        im = im.convert("RGB")
        im.thumbnail((SIDE, SIDE))
        return im


def encoded(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def png_with_size(width: int, height: int) -> bytes:
    """A valid PNG whose header claims width x height (pixels never stored): only the header is read."""
    data = bytearray(encoded(Image.new("1", (1, 1)), "PNG"))
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    return bytes(data)


def exif_rotated(image: Image.Image) -> bytes:
    """Pixels stored sideways with EXIF orientation 6, as a phone writes a portrait."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(image.rotate(90, expand=True), "JPEG", exif=exif.tobytes())


def sixteen_bit_gray(image: Image.Image) -> bytes:
    gray = np.asarray(image.convert("L"), dtype=np.uint16) * 257
    return encoded(Image.fromarray(gray), "PNG")


def rgba(image: Image.Image) -> bytes:
    out = image.convert("RGBA")
    alpha = Image.new("L", out.size, 255)
    alpha.paste(0, (0, 0, 40, 40))  # a transparent corner
    out.putalpha(alpha)
    return encoded(out, "PNG")


def animated_gif(image: Image.Image) -> bytes:
    frames = [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def file_contents() -> list[tuple[Case, bytes]]:
    """Cases that are plain files: (case, bytes)."""
    face = face_image()
    jpeg = encoded(face, "JPEG", quality=90)
    good = [
        (Case("face.jpg", True, True, face=True), jpeg),
        (Case("jpeg_named.png", True, True, face=True), jpeg),  # wrong extension
        (Case("cmyk.jpg", True, True, face=True), encoded(face.convert("CMYK"), "JPEG")),
        (Case("gray.jpg", True, True, face=True), encoded(face.convert("L"), "JPEG")),
        (Case("gray16.png", True, True, face=True), sixteen_bit_gray(face)),
        (Case("rgba.png", True, True, face=True), rgba(face)),
        (Case("exif_rotated.jpg", True, True, face=True), exif_rotated(face)),
        (Case("one_pixel.png", True, True), encoded(Image.new("RGB", (1, 1), (200, 100, 50)), "PNG")),
        (Case("animated.gif", True, False), animated_gif(face)),  # detect reads it; albums report it
    ]
    names = ["with space.jpg", "ünïcødé.jpg", "emoji 😀.jpg", "-leading-dash.jpg", "<x&'\">.jpg", "new\nline.jpg",
             "tab\tand\x1b[31mescape.jpg", os.fsdecode(b"caf\xe9-latin1.jpg")]
    named = [(Case(n, True, walked=_utf8(n), face=True), jpeg) for n in names]  # not UTF-8: reported by walks
    bad = [
        (Case("truncated.jpg", False, True), jpeg[: len(jpeg) // 2]),
        (Case("zero_bytes.jpg", False, True), b""),
        (Case("text.jpg", False, True), b"this is not a photo\n" * 20),
        (Case("huge.png", False, True), png_with_size(11_000, 10_000)),  # 110 MP: above our limit
        (Case("bomb.png", False, True), png_with_size(40_000, 40_000)),  # 1.6 GP: Pillow's bomb guard too
    ]
    return good + named + bad


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def trap_names() -> list[Case]:
    """Cases that are not plain files (made by `build`)."""
    return [
        Case("folder.jpg", False, False),  # a folder with an image name: walked into (empty), never read
        Case("broken_link.jpg", False, False),
        Case("self_link.jpg", False, False),  # a link to itself: ELOOP
        Case("pipe.jpg", False, False),  # a named pipe: reading it would block forever
    ]


def build(folder: Path) -> list[Case]:
    """Write the whole corpus into `folder` (plus a link loop back to it); returns every case."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for case, data in file_contents():
        with open(os.path.join(os.fsencode(folder), os.fsencode(case.name)), "wb") as handle:
            handle.write(data)
        cases.append(case)
    (folder / "folder.jpg").mkdir()
    os.symlink(folder / "missing.jpg", folder / "broken_link.jpg")
    os.symlink("self_link.jpg", folder / "self_link.jpg")
    os.mkfifo(folder / "pipe.jpg")
    os.symlink(".", folder / "loop")  # a link back to the folder itself: walks must not loop
    return cases + trap_names()


def path_of(folder: Path, case: Case) -> Path:
    return folder / case.name
