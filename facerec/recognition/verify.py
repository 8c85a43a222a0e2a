"""Verification: one face against another, by cosine distance against the backbone's threshold."""
from __future__ import annotations

import numpy as np

from facerec.errors import NoFaceError
from facerec.vision.imageio import ImageSource, load_image
from facerec.recognition.pipeline import FacePipeline, main_face
from facerec.thresholds import threshold_for
from facerec.vectors import cosine_distance, match_confidence


def embed_main_face(src: ImageSource, pipeline: FacePipeline) -> tuple[np.ndarray, dict]:
    """The embedding of the photo's subject (`main_face`), after a second look when none is found at first."""
    image = load_image(src)
    faces = pipeline.detect_expecting_face(image)
    face = main_face(faces, image.shape)
    if face is None:
        raise NoFaceError(f"{src if not isinstance(src, np.ndarray) else '<array>'}: no face found")
    return pipeline.embed(image, [face])[0], {"faces": len(faces), "box": list(face.box)}


def verify(a: ImageSource, b: ImageSource, pipeline: FacePipeline, threshold: float | None = None) -> dict:
    vec_a, info_a = embed_main_face(a, pipeline)
    vec_b, info_b = embed_main_face(b, pipeline)
    threshold = threshold_for(pipeline.embedding_id) if threshold is None else float(threshold)
    distance = cosine_distance(vec_a, vec_b)
    return {
        "same": distance <= threshold,
        "score": round(match_confidence(distance, threshold), 4),  # 0.67 exactly at the threshold
        "distance": round(distance, 6),
        "threshold": threshold,
        "backbone": pipeline.backbone.name,
        "embedding": pipeline.embedding_id,
        "a": {"path": str(a) if not isinstance(a, np.ndarray) else None, **info_a},
        "b": {"path": str(b) if not isinstance(b, np.ndarray) else None, **info_b},
    }
