"""Typed results shared by every stage of the pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# MTCNN's five landmarks, in the order every array in facerec uses.
LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Face:
    """One detected face. Coordinates are pixels of the original (EXIF-rotated) image."""

    box: tuple[int, int, int, int]  # x, y, width, height
    confidence: float
    landmarks: tuple[tuple[float, float], ...]  # five (x, y) in LANDMARK_NAMES order

    @property
    def area(self) -> int:
        return int(self.box[2]) * int(self.box[3])

    def landmarks_array(self) -> np.ndarray:
        return np.asarray(self.landmarks, dtype=np.float32).reshape(5, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [int(v) for v in self.box],
            "confidence": round(float(self.confidence), 4),
            "landmarks": {n: [round(float(x), 1), round(float(y), 1)] for n, (x, y) in zip(LANDMARK_NAMES, self.landmarks)},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Face":
        lm = d["landmarks"]
        if isinstance(lm, dict):
            lm = [lm[n] for n in LANDMARK_NAMES]
        return cls(tuple(int(v) for v in d["box"]), float(d["confidence"]), tuple((float(x), float(y)) for x, y in lm))


@dataclass
class Identity:
    """The answer for one face: a name (or UNKNOWN) and a similarity score in [-1, 1] or a probability."""

    name: str
    score: float
    distance: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


UNKNOWN = "unknown"
