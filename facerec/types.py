"""Typed results shared by every stage of the pipeline."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facerec.vectors import match_confidence

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
    """The answer for one face: a name (or UNKNOWN); `score`, the match confidence in [0, 1]
    (facerec.vectors.match_confidence of `distance` and the threshold in force; 0 for UNKNOWN); the cosine
    `distance` the decision was made on; and, from a classifier (svm, logreg, head), its class `probability`."""

    name: str
    score: float
    distance: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    probability: float | None = None

    @classmethod
    def decided(cls, nearest: str, known: bool, distance: float, threshold: float, probability: float | None = None,
                extra: dict[str, Any] | None = None) -> "Identity":
        """The one way a matcher answers: `nearest` when `known`, else UNKNOWN with score 0 (the nearest name kept
        in extra)."""
        if known:
            return cls(nearest, match_confidence(distance, threshold), float(distance), dict(extra or {}), probability)
        return cls(UNKNOWN, 0.0, float(distance), {"nearest": nearest, **(extra or {})}, probability)


UNKNOWN = "unknown"


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes (0 when neither has an area)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


# The columns of every CSV facerec writes about faces (identify, tag --csv), in this order.
ROW_FIELDS: tuple[str, ...] = ("path", "face_index", "name", "score", "distance", "x", "y", "w", "h", "confidence",
                               "named_by", "probability")

def row_cell(value: Any) -> Any:
    """A FaceResult.to_row() value as every CSV about faces writes it (identify, tag --csv): a float to 4 decimals,
    None as an empty cell, the rest as it is."""
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else value


# Who gave a face its name (FaceResult.named_by): facerec's own match, a face region the photo already
# carried (a person's tag from digiKam, Lightroom, Picasa ...), or a person's decision in facerec's review.
NAMED_BY_FACEREC, NAMED_BY_REGION, NAMED_BY_PERSON = "facerec", "region", "person"


@dataclass
class FaceResult:
    """One face of one photo or frame, named (or UNKNOWN): the one shape of every output.

    `to_dict()` is what JSON outputs hold (identify --json, tag --jsonl, the Python API, Ray results, the
    server's /api/v1); `to_row()` is a CSV line in ROW_FIELDS order. `extra` carries what only some outputs
    have (a video track) and is added to the dict as is. `named_by` says who named the face (NAMED_BY_*;
    None for an unknown face); left out, it is facerec for a named face.

    `score` is the match confidence (Identity): 0 for UNKNOWN, 0.67 exactly at the threshold in force, 1 at
    distance 0; `distance` the raw cosine distance; `probability` a classifier's class probability (None for
    the nearest-neighbour matcher)."""

    face: Face
    name: str = UNKNOWN
    score: float | None = None
    distance: float | None = None
    face_index: int = 0
    path: str | None = None
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    extra: dict[str, Any] = field(default_factory=dict)
    named_by: str | None = None
    probability: float | None = None

    def __post_init__(self) -> None:
        if self.named_by is None and self.name != UNKNOWN:
            self.named_by = NAMED_BY_FACEREC

    @classmethod
    def of(cls, face: Face, identity: Identity | None, face_index: int = 0, path: str | None = None,
           embedding: np.ndarray | None = None) -> "FaceResult":
        if identity is None:
            return cls(face, UNKNOWN, 0.0, None, face_index, path, embedding)
        return cls(face, identity.name, identity.score, identity.distance, face_index, path, embedding,
                   probability=identity.probability)

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.path is None else {"path": self.path}
        out.update(face_index=self.face_index, name=self.name, score=_rounded(self.score),
                   distance=_rounded(self.distance), box=[int(v) for v in self.face.box],
                   confidence=_rounded(self.face.confidence), named_by=self.named_by,
                   probability=_rounded(self.probability))
        out.update(self.extra)
        return out

    def to_row(self, fields: tuple[str, ...] = ROW_FIELDS) -> list[Any]:
        """The values of `fields` (a subset of ROW_FIELDS, in any order); None for a value not known."""
        values = self.to_dict()
        values.update(zip(("x", "y", "w", "h"), values.pop("box")), path=self.path)
        return [values[f] for f in fields]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
