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
