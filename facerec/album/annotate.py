"""Draw face boxes with name/score labels on an image, readable on a 320 px thumbnail and a 24 MP photo alike.

Used by `facerec tag --annotate`, `facerec identify --annotate` and the webcam window, so it takes
plain arguments: an RGB uint8 image, a list of `Face` and one label per face.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from facerec.files.atomic import PUBLIC, atomic_write
from facerec.errors import ImageError
from facerec.types import UNKNOWN, Face

UNKNOWN_COLOUR = (230, 60, 60)  # RGB red: a face nobody was recognised in stands out
FONT = cv2.FONT_HERSHEY_SIMPLEX
# Bright colours that keep white label text readable; a name always gets the same one.
PALETTE = (
    (31, 119, 180), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
    (188, 189, 34), (140, 86, 75), (227, 119, 194), (0, 128, 128), (70, 90, 200),
)
WRITE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def colour_for(label: str) -> tuple[int, int, int]:
    """RGB colour of a label: red for unknown faces, otherwise a stable colour per name."""
    name = re.sub(r"\s+-?\d+(\.\d+)?%?$", "", label.strip())  # drop a trailing score
    if not name or name == UNKNOWN or name == "?":
        return UNKNOWN_COLOUR
    digest = hashlib.md5(name.encode("utf-8"), usedforsecurity=False).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def ascii_label(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: José -> Jose rather than José -> Jos??."""
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii") or "?"


def drawing_scale(image: np.ndarray) -> tuple[int, float]:
    """Line thickness and font scale that look the same on any image size (tuned on a 1000 px side)."""
    side = min(image.shape[:2])
    thickness = max(1, round(side / 400))
    font_scale = max(0.35, side / 1400)
    return thickness, font_scale


def draw_faces(
    image_rgb: np.ndarray,
    faces: Sequence[Face],
    labels: Sequence[str] | None = None,
    *,
    colours: Sequence[tuple[int, int, int]] | None = None,
    landmarks: bool = False,
    copy: bool = True,
) -> np.ndarray:
    """Return `image_rgb` with a box and a label per face (drawn on a copy unless copy=False).

    `labels[i]` is free text such as "Barack_Obama 0.93" or "unknown"; the name (the label
    without a trailing score) picks the colour. `colours` (RGB) overrides that. `landmarks=True` also draws the five MTCNN points.
    """
    if labels is not None and len(labels) != len(faces):
        raise ValueError(f"{len(faces)} faces but {len(labels)} labels")
    out = np.array(image_rgb, dtype=np.uint8, copy=True) if copy else image_rgb
    thickness, font_scale = drawing_scale(out)
    for i, face in enumerate(faces):
        label = labels[i] if labels is not None else ""
        colour = tuple(int(c) for c in (colours[i] if colours is not None else colour_for(label)))
        x, y, w, h = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness, cv2.LINE_AA)
        if landmarks:
            for px, py in face.landmarks:
                cv2.circle(out, (int(round(px)), int(round(py))), max(1, thickness), colour, -1, cv2.LINE_AA)
        if label:
            draw_label(out, ascii_label(label), (x, y, w, h), colour, font_scale, thickness)
    return out


def draw_label(image: np.ndarray, text: str, box: tuple[int, int, int, int], colour: tuple[int, ...],
               font_scale: float, thickness: int) -> None:
    """A filled tag above the box (below its top edge when the box touches the top of the image)."""
    x, y, w, h = box
    text_thickness = max(1, thickness // 2 + (1 if font_scale > 1 else 0))
    (tw, th), baseline = cv2.getTextSize(text, FONT, font_scale, text_thickness)
    pad = max(2, thickness)
    tag_h = th + baseline + 2 * pad
    img_h, img_w = image.shape[:2]
    top = y - tag_h if y - tag_h >= 0 else min(y, max(0, img_h - tag_h))
    left = min(max(0, x), max(0, img_w - tw - 2 * pad))
    cv2.rectangle(image, (left, top), (left + tw + 2 * pad, top + tag_h), colour, -1)
    cv2.putText(image, text, (left + pad, top + pad + th), FONT, font_scale, (255, 255, 255), text_thickness,
                cv2.LINE_AA)


def face_label(name: str, score: float | None) -> str:
    """The usual label text: "Name 0.93" (the match confidence: 0.67 at the threshold), or just the name when there
    is no score or the face is unknown (whose score is 0 by definition)."""
    return name if score is None or name == UNKNOWN else f"{name} {score:.2f}"


def save_image(path: str | Path, image_rgb: np.ndarray, *, quality: int = 90) -> Path:
    """Encode an RGB image by the file's extension (JPEG when unknown) and write it atomically; returns the path."""
    path = Path(path)
    if path.suffix.lower() not in WRITE_EXTENSIONS:
        path = path.with_suffix(".jpg")
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(np.asarray(image_rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(path.suffix.lower(), bgr, params)
    if not ok:
        raise ImageError(f"{path}: could not encode the image")
    atomic_write(path, encoded.tobytes(), mode=PUBLIC)
    return path
