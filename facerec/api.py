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
reused across calls; `identify_faces` shares a facerec.recognition.recognizer.Recognizer, whose fitted matcher
stays until the gallery changes.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facerec.vision.imageio import ImageSource, load_image
from facerec.recognition.pipeline import FaceEmbedding, FacePipeline
from facerec.types import Face

if TYPE_CHECKING:
    from facerec.recognition.recognizer import Recognizer


def pipeline(backbone: str | None = None, weights: str | None = None, min_face_size: int = 20,
             detector: str | None = None) -> FacePipeline:
    """The shared pipeline for `backbone` (None: the CLI's default backbone) and `detector` (None: the default)."""
    return _pipeline(_backbone_name(backbone), weights, min_face_size, _detector_name(detector))


@functools.lru_cache(maxsize=4)
def _pipeline(backbone: str, weights: str | None, min_face_size: int, detector: str) -> FacePipeline:
    from facerec.recognition.pipeline import build_pipeline

    return build_pipeline(backbone, weights=weights, min_face_size=min_face_size, detector=detector)


def _detector_name(detector: str | None) -> str:
    from facerec.detectors import default_detector

    return detector.lower() if detector else default_detector()


def _backbone_name(backbone: str | None) -> str:
    from facerec.backbones import default_backbone

    return backbone.lower() if backbone else default_backbone()


def _gallery_path(gallery: str | Path | None) -> Path:
    from facerec.paths import default_gallery_path

    return Path(gallery) if gallery is not None else default_gallery_path()


def detector(min_face_size: int = 20, name: str | None = None):
    """The shared detector called `name` (None: FACEREC_DETECTOR, else MTCNN)."""
    return _detector(min_face_size, _detector_name(name))


@functools.lru_cache(maxsize=4)
def _detector(min_face_size: int, name: str):
    from facerec.detectors import get_detector

    return get_detector(name, min_face_size=min_face_size)


def detect_faces(image: ImageSource, min_face_size: int = 20, detector_name: str | None = None) -> list[Face]:
    return detector(min_face_size, detector_name).detect(load_image(image))


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
    """Every face in `image` as FaceResult.to_dict(): name (or "unknown"), score, distance, box, confidence;
    the answers of `facerec identify --json`.

    `matcher`: nn, svm, logreg or head (the head trained on this gallery; `threshold` is then unused)."""
    return [face.to_dict() for face in recognizer(gallery, backbone, matcher, threshold).identify(image)]


def recognizer(gallery: str | Path | None = None, backbone: str | None = None, matcher: str = "nn",
               threshold: float | None = None) -> "Recognizer":
    """The shared Recognizer for (gallery, backbone, matcher, threshold): its matcher stays fitted until the
    gallery (or the trained head) changes."""
    key = (str(_gallery_path(gallery).resolve()), _backbone_name(backbone), matcher, threshold)
    with _recognizers_lock:
        found = _RECOGNIZERS.get(key)
        if found is None:
            from facerec.recognition.recognizer import Recognizer

            if len(_RECOGNIZERS) >= _RECOGNIZERS_MAX:
                del _RECOGNIZERS[next(iter(_RECOGNIZERS))]  # the oldest
            found = _RECOGNIZERS[key] = Recognizer(key[0], pipeline=pipeline(backbone), matcher=matcher,
                                                   threshold=threshold, require_people=True)
        return found


_RECOGNIZERS: dict[tuple[str, str, str, float | None], Any] = {}
_RECOGNIZERS_MAX = 8
_recognizers_lock = threading.Lock()


def tag_album(album_dir: str | Path, gallery: str | Path | None = None, backbone: str | None = None, **options):
    """Tag every photo under album_dir; options as facerec.album.tag.tag_album (csv_path, xmp, annotate_dir, …)."""
    from facerec.album.tag import tag_album as tag
    from facerec.gallery.store import Gallery
    from facerec.recognition.recognizer import Recognizer

    path = _gallery_path(gallery)
    album_pipeline = pipeline(backbone)
    with Gallery(path) as g:
        album_recognizer = Recognizer(path, pipeline=album_pipeline, threshold=options.pop("threshold", None),
                                      matcher=options.pop("matcher", "nn"))
        return tag(album_dir, g, album_pipeline, recognizer=album_recognizer, **options)


def forget_person(name: str, gallery: str | Path | None = None) -> bool:
    """Forget `name` everywhere (gallery, album faces, the trained heads that name them, caches, uploads); False if
    nobody has that name."""
    from facerec.gallery.enroll import forget as forget_person
    from facerec.gallery.store import Gallery

    with Gallery(_gallery_path(gallery), create=False) as g:
        return forget_person(g, name)


def list_people(gallery: str | Path | None = None, backbone: str | None = None):
    from facerec.gallery.enroll import list_people as people
    from facerec.gallery.store import Gallery

    from facerec.backbones import embedding_id
    from facerec.detectors import default_detector

    key = backbone if backbone is None or ":" in backbone else embedding_id(backbone, detector=default_detector())
    with Gallery(_gallery_path(gallery), create=False) as g:
        return people(g, key)
