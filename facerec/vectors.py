"""Embedding arithmetic used across the pipeline: unit length and cosine distance, in one place."""
from __future__ import annotations

import numpy as np


def l2_normalise(vectors: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Rows scaled to unit length; a single vector becomes a (1, d) array. Zero rows stay zero."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=dtype))
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine similarity of two vectors of any length (0 same direction, 2 opposite; 1 for a zero vector)."""
    return float(1.0 - (l2_normalise(np.ravel(a)) @ l2_normalise(np.ravel(b)).T)[0, 0])


def cosine_distance_matrix(a: np.ndarray, b: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """(n, m) cosine distances between the rows of a and b, clipped to [0, 2] against rounding."""
    return np.clip(1.0 - l2_normalise(a, dtype) @ l2_normalise(b, dtype).T, 0.0, 2.0)


# The match confidence of a face exactly at the threshold in force: DeepStack's default min_confidence, so
# DeepStack clients and facerec's own outputs read the same number the same way.
CONFIDENCE_AT_THRESHOLD = 0.67


def match_confidence(distance: float | None, threshold: float) -> float:
    """A cosine distance as a match confidence in [0, 1], relative to the threshold in force: 1.0 at distance 0,
    CONFIDENCE_AT_THRESHOLD (0.67) exactly at `threshold`, linear and decreasing in between and beyond
    (0 from about 3 × threshold on). Callers give 0 to a face that is not named (unknown)."""
    if distance is None:
        return 0.0
    if threshold <= 0:  # only an exact match is named
        return 1.0 if distance <= 0 else 0.0
    value = 1.0 - (1.0 - CONFIDENCE_AT_THRESHOLD) * float(distance) / float(threshold)
    return float(min(1.0, max(0.0, value)))
