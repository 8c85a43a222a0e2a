"""Face alignment: a similarity transform (rotation, uniform scale, translation) that maps the five
MTCNN landmarks onto a canonical template, then a square crop with margin at the backbone's input size.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# Canonical landmark positions for a tight 112x112 face crop (the ArcFace/InsightFace template),
# normalised to [0, 1]. Order: left eye, right eye, nose, left mouth corner, right mouth corner.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
TEMPLATE = TEMPLATE_112 / 112.0

# VGGFace/VGGFace2 were trained on loose crops (the face box enlarged by ~30 %), so keep some context.
DEFAULT_MARGIN = 0.3


def template_for(size: int, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Template landmarks in pixels of a size x size crop whose face region is shrunk by (1 + margin)."""
    centred = (TEMPLATE - 0.5) / (1.0 + margin) + 0.5
    return centred * size


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity transform mapping src points onto dst (Umeyama, 1991)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # no reflections: faces are never mirrored by alignment
        d[-1] = -1
    rotation = u @ np.diag(d) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (s * d).sum() / variance if variance > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 224, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Aligned RGB crop (size x size) of the face whose five landmarks are given in image pixels."""
    matrix = similarity_transform(np.asarray(landmarks).reshape(5, 2), template_for(size, margin))
    # Border replicate rather than black: faces at the photo's edge then look less unlike training crops.
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# VGGFace2's test-time crop (Cao et al. 2018; the authors' released models' ReadMe): the MTCNN box extended by
# a factor 0.3 to take in the whole head, its shorter side resized to 256 and the centre 224x224 cut out.
LOOSE_EXTENSION = 0.3
LOOSE_CENTRE_FRACTION = 224 / 256


def loose_crop(image: np.ndarray, box: tuple[int, int, int, int], size: int = 224,
               extension: float = LOOSE_EXTENSION, centre_fraction: float = LOOSE_CENTRE_FRACTION) -> np.ndarray:
    """The unaligned loose face crop VGGFace/VGGFace2 networks were trained on, resized to size x size."""
    x, y, w, h = (float(v) for v in box)
    side = min(w, h) * (1.0 + extension) * centre_fraction  # the centre square of the extended box
    # faces at the photo's edge: replicate the border rather than squash the crop (as the training crops)
    return square_crop(image, (x + w / 2, y + h / 2), side, size, border=None)


def face_crop(image: np.ndarray, box: Sequence[float], size: int | None = None, margin: float = 0.25) -> np.ndarray:
    """A square picture of a face for people to look at (thumbnails, contact sheets, saved unknown faces): the
    box with `margin` of context on each side, grey beyond the photo's edge, resized to size x size if given."""
    x, y, w, h = (float(v) for v in box)
    return square_crop(image, (x + w / 2, y + h / 2), max(w, h) * (1 + 2 * margin), size, border=(128, 128, 128))


def square_crop(image: np.ndarray, centre: tuple[float, float], side: float, size: int | None,
                border: tuple[int, int, int] | None) -> np.ndarray:
    """The square of `side` pixels around `centre`, padded past the edges (border colour, or the edge pixels
    replicated when None) rather than squashed, and resized to size x size when size is given."""
    cx, cy = centre
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = x0 + max(1, int(round(side))), y0 + max(1, int(round(side)))
    pad = max(0, -x0, -y0, x1 - image.shape[1], y1 - image.shape[0])
    if pad:
        if border is None:
            image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        else:
            image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=border)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = image[y0:y1, x0:x1]
    if size is None:
        return crop.copy()
    interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)
