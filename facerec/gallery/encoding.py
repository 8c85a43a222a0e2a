"""How the gallery stores a face: an embedding is a little-endian float32 blob (never pickled), a box and its
landmarks are JSON text. Shared by the gallery's tables (facerec.gallery.people, .media, .face_rows)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from facerec.errors import GalleryError
from facerec.types import Face


def encode_embedding(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").reshape(-1).tobytes()


def finite_embedding(vector: Any) -> np.ndarray:
    """`vector` as flat float32; NaN or infinite values (broken weights) are never stored."""
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(vector)):
        raise GalleryError("refusing to store a face embedding with NaN or infinite values: the backbone's "
                           "weights are broken (delete the weights file and download it again)")
    return vector


def decode_embedding(blob: bytes, dim: int | None = None) -> np.ndarray:
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if dim is not None and vector.size != dim:
        raise GalleryError(f"corrupt embedding: {vector.size} values, expected {dim}")
    return vector


def face_columns(face: Face) -> tuple[str, str, float]:
    box = json.dumps([int(v) for v in face.box])
    landmarks = json.dumps([[float(x), float(y)] for x, y in face.landmarks])
    return box, landmarks, float(face.confidence)


def face_from_columns(box: str, landmarks: str, confidence: float) -> Face:
    return Face(tuple(json.loads(box)), float(confidence), tuple((x, y) for x, y in json.loads(landmarks)))


def as_face(value: Face | Mapping[str, Any]) -> Face:
    return value if isinstance(value, Face) else Face.from_dict(dict(value))
