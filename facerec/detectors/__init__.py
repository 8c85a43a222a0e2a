"""Detector registry: every face detector behind one small interface (facerec.detectors.registry says what an
entry holds).

    get_detector("mtcnn", min_face_size=40)   # the default: MTCNN (its engines give the same boxes)
    get_detector("dlib-hog")                   # dlib's HOG detector (the dlib extra), 5 landmarks from dlib's predictor
    get_detector("dlib-cnn")                   # dlib's CNN (MMOD) detector
    get_detector("yunet")                      # OpenCV Zoo's YuNet, downloaded once (pinned SHA-256)

A new detector is one module plus one `register(DetectorEntry(...))` below. The detector is part of the embedding id
(facerec.backbones.embedding_id): the default MTCNN adds nothing (ids made before detectors were registered stay
valid), any other adds "@name", so a gallery never mixes embeddings cut from two detectors' boxes.
"""
from __future__ import annotations

from typing import Any

from facerec.detectors.registry import REGISTRY, DetectorEntry, entry, register, unregister

DEFAULT_DETECTOR = "mtcnn"

# ---- the registry: one entry per detector

register(DetectorEntry(
    "mtcnn", "facerec.detectors.mtcnn:build", landmarks=True, relax="facerec.detectors.mtcnn:relaxed", batch=True,
    description="MTCNN (the mtcnn package's weights; the default)", device="facerec.device:tensorflow_device",
    status="facerec.detectors.mtcnn:weights_status"))
register(DetectorEntry(
    "dlib-hog", "facerec.detectors.dlib_detectors:build", landmarks=True, relax="facerec.detectors.dlib_detectors:relaxed",
    description="dlib's HOG + linear SVM frontal detector (the dlib extra); landmarks from dlib's 5-point predictor",
    device="facerec.detectors.dlib_detectors:device", status="facerec.detectors.dlib_detectors:weights_status"))
register(DetectorEntry(
    "dlib-cnn", "facerec.detectors.dlib_detectors:build", landmarks=True, relax="facerec.detectors.dlib_detectors:relaxed",
    batch=True, description="dlib's CNN (MMOD) detector (the dlib extra; slow on CPU); landmarks from dlib's 5-point "
    "predictor", device="facerec.detectors.dlib_detectors:device", status="facerec.detectors.dlib_detectors:weights_status"))
register(DetectorEntry(
    "yunet", "facerec.detectors.yunet:build", landmarks=True, relax="facerec.detectors.yunet:relaxed",
    description="OpenCV Zoo's YuNet (2023mar), run by OpenCV's FaceDetectorYN; downloaded once",
    status="facerec.detectors.yunet:weights_status"))

DETECTOR_NAMES = tuple(REGISTRY)


def default_detector() -> str:
    """FACEREC_DETECTOR, else MTCNN."""
    from facerec.paths import default_detector_from_env

    return default_detector_from_env() or DEFAULT_DETECTOR


def get_detector(name: str | None = None, **options: Any) -> Any:
    """A new detector called `name` (None: the default) built with `options` (min_face_size, max_side, ...); the
    networks behind it are shared per process by each detector's module."""
    return entry(name or default_detector()).build(**options)


def detector_name(detector: Any) -> str:
    """The registry name of a detector object (its `name` attribute; MTCNN for an object without one)."""
    return str(getattr(detector, "name", DEFAULT_DETECTOR)).lower()


def embedding_suffix(name: str | None) -> str:
    """What a detector adds to an embedding id: nothing for the default MTCNN, "@name" for any other."""
    name = (name or DEFAULT_DETECTOR).lower()
    return "" if name == DEFAULT_DETECTOR else f"@{name}"


def detector_of(embedding: str) -> str:
    """The detector in an embedding id ("dlib:ownbox+flip@dlib-hog" -> "dlib-hog"; no "@": MTCNN)."""
    return embedding.rpartition("@")[2] if "@" in embedding else DEFAULT_DETECTOR


def relaxed(detector: Any) -> Any | None:
    """The detector's entry's relaxed copy for the second look's last try; None when it has none."""
    found = REGISTRY.get(detector_name(detector))
    return found.relaxed(detector) if found else None


__all__ = ["DEFAULT_DETECTOR", "DETECTOR_NAMES", "DetectorEntry", "REGISTRY", "default_detector", "detector_name",
           "detector_of", "embedding_suffix", "entry", "get_detector", "register", "relaxed", "unregister"]
