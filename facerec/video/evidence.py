"""Name a tracked face from its best looks, not from one frame: quality-weighted embeddings per track.

A face in video is often small, blurred by motion or turned away, and a single such embedding lands far from
the person's enrolled photo. With run_loop(evidence=K >= 2) a track keeps its K best embeddings (by quality:
size, sharpness, how frontal) and each identification also asks the matcher about their quality-weighted mean
(unit length), as NVR face features and template-based face verification do; the closer answer is the vote. Embeddings that are not the same person as the track's latest (farther than the
tracker's split distance) start the evidence over.
"""
from __future__ import annotations

import cv2
import numpy as np

from facerec.types import Face
from facerec.vectors import cosine_distance

# Off by default (1: each identification from its own frame): measured on the Hamilton clip
# (scripts/evaluate_track_naming.py), 5 looks named one more appearance at the identify threshold but gave more
# false names at the lenient verify threshold, so it stays an option (run_loop(evidence=K)) until it is better.
DEFAULT_EVIDENCE = 1
FULL_SIZE_PX = 80  # a face this many pixels across (the box's shorter side) counts fully
SHARP_LAPLACIAN_VAR = 60.0  # variance of the Laplacian of the 64x64 grey face that counts as sharp
MIN_QUALITY = 0.05


def face_quality(rgb: np.ndarray, face: Face) -> float:
    """In (0, 1]: size x sharpness x frontality of `face` in the frame `rgb`."""
    x, y, w, h = (int(v) for v in face.box)
    size = min(1.0, min(w, h) / FULL_SIZE_PX)
    crop = rgb[max(0, y):max(0, y + h), max(0, x):max(0, x + w)]
    sharp = 0.0
    if crop.size:
        grey = cv2.cvtColor(cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        sharp = min(1.0, float(cv2.Laplacian(grey, cv2.CV_64F).var()) / SHARP_LAPLACIAN_VAR)
    return max(MIN_QUALITY, size * max(sharp, MIN_QUALITY) * frontality(face))


def frontality(face: Face) -> float:
    """1 for a face looking at the camera, towards 0 for a profile: how far the nose sits from the middle of
    the eyes, relative to the eyes' distance (MTCNN's landmarks; 1 when there are none)."""
    points = face.landmarks_array()
    left_eye, right_eye, nose = points[0], points[1], points[2]
    eyes = float(np.linalg.norm(right_eye - left_eye))
    if eyes < 1e-3:
        return 1.0
    yaw = abs(float(nose[0] - (left_eye[0] + right_eye[0]) / 2)) / eyes
    return float(np.clip(1.0 - 1.5 * yaw, 0.1, 1.0))


def pooled(evidence: list[tuple[float, np.ndarray]], embedding: np.ndarray, quality: float, keep: int,
           previous: np.ndarray | None = None, same_person: float | None = None,
           ) -> tuple[list[tuple[float, np.ndarray]], np.ndarray]:
    """The track's evidence with this look added (its `keep` best looks by quality; started over when this
    look is farther than `same_person` from the `previous` one: someone else), and the unit-length
    quality-weighted mean of that evidence, which the matcher is asked about."""
    x = np.asarray(embedding, dtype=np.float32)
    if keep <= 1:
        return [], x
    if previous is not None and same_person is not None and cosine_distance(previous, x) > same_person:
        evidence = []
    kept = sorted([*evidence, (quality, x)], key=lambda e: -e[0])[:keep]
    weights = np.array([q for q, _ in kept], dtype=np.float32)
    mean = (weights[:, None] * np.stack([v for _, v in kept])).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    return kept, (mean / norm if norm > 0 else x)
