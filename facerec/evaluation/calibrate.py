"""Calibration on the gallery: the threshold that keeps false accepts on its impostor pairs at a target rate, and
the identify threshold facerec uses for this gallery by default (it follows the number of enrolled faces)."""

from typing import Any, Sequence

import numpy as np

from facerec.errors import FacerecError, GalleryError
from facerec.evaluation.metrics import all_pairs, threshold_at_far


# --------------------------------------------------------------------------------------------------
# Calibration on the gallery
# --------------------------------------------------------------------------------------------------


def calibrate_embeddings(X: np.ndarray, names: Sequence[str], target_far: float = 1e-3) -> dict[str, Any]:
    """Threshold with FAR <= target_far on all impostor pairs (different people) of these embeddings."""
    if not 0 < target_far < 1:
        raise FacerecError("the target false-accept rate must be between 0 and 1 (e.g. 1e-3)")
    if len(set(names)) < 2:
        raise GalleryError("calibration needs at least 2 enrolled people (impostor pairs come from different "
                           "people); enroll more people with `facerec enroll`")
    distances, same = all_pairs(X, list(names))
    genuine, impostor = distances[same], distances[~same]
    threshold = threshold_at_far(impostor, target_far, genuine)
    result = {
        "threshold": threshold,
        "target_far": target_far,
        "far": float(np.mean(impostor <= threshold)),
        "frr": float(np.mean(genuine > threshold)) if len(genuine) else None,
        "n_genuine": int(len(genuine)),
        "n_impostor": int(len(impostor)),
        "n_people": len(set(names)),
        "n_faces": len(names),
    }
    if len(impostor) * target_far < 1:
        result["note"] = (f"only {len(impostor)} impostor pairs: a FAR of {target_far:g} cannot be measured "
                          f"below 1/{len(impostor)}; the threshold rejects every impostor pair seen")
    if not len(genuine):
        result["note_genuine"] = "no person has 2+ photos, so the false-reject rate is unknown"
    return result


def calibrate(gallery, embedding: str, target_far: float = 1e-3) -> dict[str, Any]:
    """Suggest a cosine-distance threshold for `embedding` (an embedding id) from the gallery's enrolled faces."""
    X, names, _ = gallery.embeddings(embedding)
    if len(names) == 0:
        raise GalleryError(f"the gallery has no faces embedded with {embedding}; "
                           "enroll people first with `facerec enroll`")
    result = calibrate_embeddings(np.asarray(X, dtype=np.float32), list(names), target_far)
    result["backbone"] = embedding
    result.update(effective_identify_threshold(result["backbone"], len(names)))
    return result


def effective_identify_threshold(embedding: str, n_faces: int) -> dict[str, Any]:
    """What `facerec identify` decides on for a gallery of `n_faces` enrolled faces when no --threshold is given."""
    from facerec.thresholds import STRANGER_RATE, identify_rule, identify_threshold

    return {"identify_threshold": identify_threshold(embedding, n_faces), "identify_rule": identify_rule(embedding),
            "stranger_rate_target": STRANGER_RATE}
