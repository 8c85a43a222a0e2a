"""The Python API in a few functions, each delegating to the module that does the work.

    import facerec
    faces = facerec.detect_faces("party.jpg")                      # [Face(box, confidence, landmarks)]
    vectors = facerec.embed_faces("party.jpg", backbone="dlib")     # [(Face, unit vector)]
    facerec.verify_faces("a.jpg", "b.jpg")["same"]                      # True / False
    report = facerec.enroll_folder("people/", gallery="team.sqlite") # incremental, crash-safe
    facerec.identify_faces("door.jpg", gallery="team.sqlite")      # [{"name", "score", "box", ...}]
    facerec.tag_album("album/", gallery="team.sqlite", xmp=True)   # TagSummary
    facerec.forget_person("Alice", gallery="team.sqlite")

`gallery` is a path (default: the same file the CLI uses) and `backbone` a registry name (default: the
CLI's, FACEREC_BACKBONE else dlib when installed). Pipelines are built once per (backbone, weights) and
reused across calls; `identify_faces` keeps its fitted matcher until the gallery changes.
"""
from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facerec.vision.imageio import ImageSource, load_image
from facerec.recognition.pipeline import FaceEmbedding, FacePipeline
from facerec.types import Face


def pipeline(backbone: str | None = None, weights: str | None = None, min_face_size: int = 20) -> FacePipeline:
    """The shared pipeline for `backbone` (None: the CLI's default backbone)."""
    return _pipeline(_backbone_name(backbone), weights, min_face_size)


@functools.lru_cache(maxsize=4)
def _pipeline(backbone: str, weights: str | None, min_face_size: int) -> FacePipeline:
    return FacePipeline(backbone, weights=weights, min_face_size=min_face_size)


def _backbone_name(backbone: str | None) -> str:
    from facerec.backbones import default_backbone

    return backbone.lower() if backbone else default_backbone()


def _gallery_path(gallery: str | Path | None) -> Path:
    from facerec.paths import default_gallery_path

    return Path(gallery) if gallery is not None else default_gallery_path()


@functools.lru_cache(maxsize=4)
def detector(min_face_size: int = 20):
    from facerec.vision.detect import Detector

    return Detector(min_face_size=min_face_size)


def detect_faces(image: ImageSource, min_face_size: int = 20) -> list[Face]:
    return detector(min_face_size).detect(load_image(image))


def embed_faces(image: ImageSource, backbone: str | None = None, weights: str | None = None) -> list[FaceEmbedding]:
    return pipeline(backbone, weights).analyse(image)


def verify_faces(a: ImageSource, b: ImageSource, backbone: str | None = None, threshold: float | None = None) -> dict[str, Any]:
    from facerec.recognition.verify import verify as verify_pair

    return verify_pair(a, b, pipeline(backbone), threshold=threshold)


def enroll_folder(people_dir: str | Path, gallery: str | Path | None = None, backbone: str | None = None, progress: bool = False):
    from facerec.gallery.enroll import enroll_folder as enroll
    from facerec.gallery.store import Gallery

    with Gallery(_gallery_path(gallery)) as g:
        return enroll(people_dir, g, pipeline(backbone), progress=progress)


def identify_faces(image: ImageSource, gallery: str | Path | None = None, backbone: str | None = None,
                   matcher: str = "nn", threshold: float | None = None) -> list[dict[str, Any]]:
    """Every face in `image`: name (or "unknown"), score, distance, box; the answers of `facerec identify`.

    `matcher`: nn, svm, logreg or head (the head trained on this gallery; `threshold` is then unused)."""
    import numpy as np

    from facerec.recognition.match import one_name_per_photo

    recognizer = _recognizer(_gallery_path(gallery), backbone, matcher, threshold)
    found = recognizer.pipeline.analyse(image, second_look=True)
    if not found:
        return []
    identities = one_name_per_photo(recognizer.matcher.predict_identities(np.stack([f.embedding for f in found])))
    return [{"name": i.name, "score": float(i.score), "distance": i.distance, "box": list(f.face.box),
             "confidence": f.face.confidence} for f, i in zip(found, identities)]


@dataclass(frozen=True)
class _Recognizer:
    """A fitted matcher and the pipeline whose embeddings it expects, valid while `stamp` is the gallery's."""

    stamp: tuple[int, int | None]  # (gallery version, the head's files' mtime for a head)
    matcher: Any
    pipeline: FacePipeline


_RECOGNIZERS: dict[tuple[str, str, str, float | None], _Recognizer] = {}
_RECOGNIZERS_MAX = 8
_recognizers_lock = threading.Lock()


def _recognizer(gallery: Path, backbone: str | None, kind: str, threshold: float | None) -> _Recognizer:
    """The matcher fitted on `gallery` for (backbone's embeddings, kind, threshold), refitted only when the
    gallery's version (or, for a head, the trained head) changed since it was fitted."""
    from facerec.gallery.store import Gallery
    from facerec.recognition.match import matcher_from_gallery

    base = pipeline(backbone)
    embedding = base.embedding_id
    key = (str(gallery.resolve()), embedding, kind, threshold)
    with _recognizers_lock, Gallery(gallery, create=False) as g:
        stamp = (g.version(), _head_stamp(gallery, embedding) if kind == "head" else None)
        cached = _RECOGNIZERS.get(key)
        if cached is not None and cached.stamp == stamp:
            return cached
        options = {} if kind == "head" else {"threshold": threshold}
        fitted = matcher_from_gallery(g, kind, embedding, **options)
        recognizer = _Recognizer(stamp, fitted, _pipeline_for(base, fitted))
        if key not in _RECOGNIZERS and len(_RECOGNIZERS) >= _RECOGNIZERS_MAX:
            del _RECOGNIZERS[next(iter(_RECOGNIZERS))]  # the oldest
        _RECOGNIZERS[key] = recognizer
        return recognizer


def _pipeline_for(base: FacePipeline, fitted: Any) -> FacePipeline:
    """As `facerec identify`: a head fine-tuned with its base network expects embeddings from that base."""
    if not getattr(fitted, "fine_tuned", False):
        return base
    return FacePipeline(base.backbone, detector=base.detector, embedder=fitted.embed_chips, flip=base.flip)


def _head_stamp(gallery: Path, embedding: str) -> int | None:
    """When the head trained on `gallery` was last written (retraining does not change the gallery)."""
    from facerec.paths import head_dir

    folder = head_dir(gallery, embedding)
    try:
        return max(entry.stat().st_mtime_ns for entry in os.scandir(folder))
    except (OSError, ValueError):  # no head (yet): matcher_from_gallery says so
        return None


def tag_album(album_dir: str | Path, gallery: str | Path | None = None, backbone: str | None = None, **options):
    """Tag every photo under album_dir; options as facerec.album.tag.tag_album (csv_path, xmp, annotate_dir, …)."""
    from facerec.gallery.store import Gallery
    from facerec.album.tag import matcher_for_album, tag_album as tag

    with Gallery(_gallery_path(gallery)) as g:
        matcher = matcher_for_album(g, pipeline(backbone).embedding_id, options.pop("threshold", None))
        return tag(album_dir, g, pipeline(backbone), matcher=matcher, **options)


def forget_person(name: str, gallery: str | Path | None = None) -> bool:
    """Forget `name` everywhere (gallery, the trained heads that name them, caches); False if nobody has that name."""
    from facerec.gallery.enroll import forget as forget_person
    from facerec.gallery.store import Gallery

    with Gallery(_gallery_path(gallery), create=False) as g:
        return forget_person(g, name)


def list_people(gallery: str | Path | None = None, backbone: str | None = None):
    from facerec.gallery.enroll import list_people as people
    from facerec.gallery.store import Gallery

    from facerec.backbones import embedding_id

    key = backbone if backbone is None or ":" in backbone else embedding_id(backbone)
    with Gallery(_gallery_path(gallery), create=False) as g:
        return people(g, key)
