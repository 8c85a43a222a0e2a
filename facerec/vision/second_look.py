"""A second look for photos that must hold a face (enrollment, verify, evaluate).

MTCNN misses faces that fill the whole picture (tight crops, ID photos, exported face thumbnails: its
proposal network never sees the face with context around it), faces that are small in a small image,
and faces its default stage thresholds reject narrowly. When the first look finds nothing, we try, in
order, and stop at the first that finds a face:

1. the image padded on every side (a face filling the frame gets context, as in MTCNN's training crops);
2. the image upscaled 2x (small images only: a face a little above 12 px becomes findable);
3. the padded image with the detector relaxed by its registry entry's hook (MTCNN: its stage thresholds and the
   final confidence; a detector whose entry has no hook skips this look).

Boxes and landmarks always come back in the original image's pixels, clipped to it. The cost is bounded for
any image: the padded looks work on a copy no larger than the detector's `max_side` (which it would scale the
image down to anyway), and the pad is at most the shorter side, so a long thin image is not padded into a huge
one. Album tagging and live video do not use this: there "no face" is a normal answer and the extra looks would cost time.
"""
from __future__ import annotations

import copy

import cv2
import numpy as np

from facerec.types import Face

PAD_FRACTION = 0.25  # of the longer side, on each side, at most the shorter side
UPSCALE_BELOW = 400  # px, longer side: upscale only images smaller than this


def detect_with_second_look(detector, image: np.ndarray) -> list[Face]:
    """detector.detect(image), and when that finds nothing the second-look variants above."""
    faces = detector.detect(image)
    if faces:
        return faces
    for look in (_padded_look, _upscaled_look, _relaxed_look):
        faces = look(detector, image)
        if faces:
            return faces
    return []


def _padded_look(detector, image: np.ndarray) -> list[Face]:
    small, factor = bounded_copy(image, detector.max_side)
    if factor != 1.0:
        detector = rescaled_copy(detector, factor)
    padded, pad = pad_image(small)
    faces = [shift_face(f, -pad, -pad, small.shape) for f in detector.detect(padded)]
    return faces if factor == 1.0 else [scale_face(f, 1 / factor, image.shape) for f in faces]


def bounded_copy(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image scaled down so its longer side is at most `max_side` (the detector would do so itself), and the
    factor applied: padding a 30 MP photo at full size would cost hundreds of MB for the same detection."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image, 1.0
    factor = max_side / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


def rescaled_copy(detector, factor: float):
    """The same detector for an image scaled by `factor`: its min_face_size is in pixels of the image it is given."""
    rescaled = copy.copy(detector)
    rescaled.min_face_size = detector.min_face_size * factor
    return rescaled


def _upscaled_look(detector, image: np.ndarray) -> list[Face]:
    h, w = image.shape[:2]
    if max(h, w) >= UPSCALE_BELOW:
        return []
    big = cv2.resize(image, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
    return [scale_face(f, 0.5, image.shape) for f in detector.detect(big)]


def _relaxed_look(detector, image: np.ndarray) -> list[Face]:
    relaxed = relaxed_copy(detector)
    return _padded_look(relaxed, image) if relaxed is not None else []


def relaxed_copy(detector):
    """The same detector (sharing its loaded networks) relaxed by its registry entry (None: nothing to relax)."""
    from facerec.detectors import relaxed

    return relaxed(detector)


def pad_image(image: np.ndarray) -> tuple[np.ndarray, int]:
    """The image with a border of its mean colour (no edge streaks that look like structure) and the pad in px."""
    pad = max(1, min(int(round(PAD_FRACTION * max(image.shape[:2]))), min(image.shape[:2])))
    colour = [int(c) for c in image.reshape(-1, image.shape[2]).mean(axis=0)]
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=colour), pad


def shift_face(face: Face, dx: float, dy: float, shape: tuple[int, ...]) -> Face:
    x, y, w, h = face.box
    landmarks = tuple((px + dx, py + dy) for px, py in face.landmarks)
    return Face(clip_box(x + dx, y + dy, w, h, shape), face.confidence, landmarks)


def scale_face(face: Face, factor: float, shape: tuple[int, ...]) -> Face:
    x, y, w, h = (v * factor for v in face.box)
    landmarks = tuple((px * factor, py * factor) for px, py in face.landmarks)
    return Face(clip_box(x, y, w, h, shape), face.confidence, landmarks)


def clip_box(x: float, y: float, w: float, h: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)
