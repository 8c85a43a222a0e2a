"""The Python API in a few functions, each delegating to the module that does the work.

    import facerec
    faces = facerec.detect_faces("party.jpg")                      # [Face(box, confidence, landmarks)]
    vectors = facerec.embed_faces("party.jpg", backbone="dlib")     # [(Face, unit vector)]
    facerec.verify_faces("a.jpg", "b.jpg")["same"]                      # True / False
    report = facerec.enroll_folder("people/", gallery="team.sqlite") # incremental, crash-safe
    facerec.identify_faces("door.jpg", gallery="team.sqlite")      # [{"name", "score", "box", ...}]
    facerec.tag_album("album/", gallery="team.sqlite", xmp=True)   # TagSummary
    facerec.forget_person("Alice", gallery="team.sqlite")

`gallery` is a path (default: the same file the CLI uses) and `backbone` a registry name.
Pipelines are built once per (backbone, weights) and reused across calls.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from facerec.imageio import ImageSource, load_image
from facerec.pipeline import FaceEmbedding, FacePipeline
from facerec.types import Face


@functools.lru_cache(maxsize=4)
def pipeline(backbone: str = "dlib", weights: str | None = None, min_face_size: int = 20) -> FacePipeline:
    return FacePipeline(backbone, weights=weights, min_face_size=min_face_size)


def _gallery_path(gallery: str | Path | None) -> Path:
    from facerec.paths import default_gallery_path

    return Path(gallery) if gallery is not None else default_gallery_path()


@functools.lru_cache(maxsize=4)
def detector(min_face_size: int = 20):
    from facerec.detect import Detector

    return Detector(min_face_size=min_face_size)


def detect_faces(image: ImageSource, min_face_size: int = 20) -> list[Face]:
    return detector(min_face_size).detect(load_image(image))


def embed_faces(image: ImageSource, backbone: str = "dlib", weights: str | None = None) -> list[FaceEmbedding]:
    return pipeline(backbone, weights).analyse(image)


def verify_faces(a: ImageSource, b: ImageSource, backbone: str = "dlib", threshold: float | None = None) -> dict[str, Any]:
    from facerec.verify import verify as verify_pair

    return verify_pair(a, b, pipeline(backbone), threshold=threshold)


def enroll_folder(people_dir: str | Path, gallery: str | Path | None = None, backbone: str = "dlib", progress: bool = False):
    from facerec.enroll import enroll_folder as enroll
    from facerec.gallery import Gallery

    with Gallery(_gallery_path(gallery)) as g:
        return enroll(people_dir, g, pipeline(backbone), progress=progress)


def identify_faces(image: ImageSource, gallery: str | Path | None = None, backbone: str = "dlib",
             matcher: str = "nn", threshold: float | None = None) -> list[dict[str, Any]]:
    """Every face in `image`: name (or "unknown"), score, distance, box."""
    import numpy as np

    from facerec.gallery import Gallery
    from facerec.match import matcher_from_gallery

    with Gallery(_gallery_path(gallery), create=False) as g:
        fitted = matcher_from_gallery(g, matcher, pipeline(backbone).embedding_id, threshold=threshold)
    found = pipeline(backbone).analyse(image)
    if not found:
        return []
    from facerec.match import one_name_per_photo

    identities = one_name_per_photo(fitted.predict_identities(np.stack([f.embedding for f in found])))
    return [{"name": i.name, "score": float(i.score), "distance": i.distance, "box": list(f.face.box),
             "confidence": f.face.confidence} for f, i in zip(found, identities)]


def tag_album(album_dir: str | Path, gallery: str | Path | None = None, backbone: str = "dlib", **options):
    """Tag every photo under album_dir; options as facerec.tag.tag_album (csv_path, xmp, annotate_dir, …)."""
    from facerec.gallery import Gallery
    from facerec.tag import matcher_for_album, tag_album as tag

    with Gallery(_gallery_path(gallery)) as g:
        matcher = matcher_for_album(g, pipeline(backbone).embedding_id, options.pop("threshold", None))
        return tag(album_dir, g, pipeline(backbone), matcher=matcher, **options)


def forget_person(name: str, gallery: str | Path | None = None) -> bool:
    """Forget `name` everywhere (gallery, the trained heads that name them, caches); False if nobody has that name."""
    from facerec.enroll import forget as forget_person
    from facerec.gallery import Gallery

    with Gallery(_gallery_path(gallery), create=False) as g:
        return forget_person(g, name)


def list_people(gallery: str | Path | None = None, backbone: str | None = None):
    from facerec.enroll import list_people as people
    from facerec.gallery import Gallery

    from facerec.backbones import embedding_id

    key = backbone if backbone is None or ":" in backbone else embedding_id(backbone)
    with Gallery(_gallery_path(gallery), create=False) as g:
        return people(g, key)
