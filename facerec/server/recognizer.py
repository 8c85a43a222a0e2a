"""The warm recognizer every request shares: one pipeline whose model calls take turns, and a matcher that is
refitted when the gallery changes (an enrolment through the API, the review page or the CLI beside us)."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from facerec.vision.imageio import ImageSource, load_image
from facerec.recognition.match import make_matcher
from facerec.recognition.pipeline import FaceEmbedding, FacePipeline
from facerec.thresholds import threshold_for
from facerec.types import UNKNOWN, Face, Identity


class LockedPipeline:
    """A FacePipeline whose model calls are serialised by one re-entrant lock.

    MTCNN (TensorFlow) and dlib's networks are single objects shared by every request thread, the tag job
    and the live view; neither promises that concurrent calls on one object are safe, and on a small CPU
    box running them one at a time is as fast anyway (each call already uses every core).
    Decoding images, matching and JSON stay outside the lock.
    """

    def __init__(self, pipeline: FacePipeline, lock: threading.RLock | None = None):
        self.inner = pipeline
        self.lock = lock or threading.RLock()
        self.backbone = pipeline.backbone
        self.embedding_id = pipeline.embedding_id
        self.detector = pipeline.detector
        self.batch_size = pipeline.batch_size

    def detect(self, image: np.ndarray) -> list[Face]:
        with self.lock:
            return self.inner.detect(image)

    def detect_expecting_face(self, image: np.ndarray) -> list[Face]:
        with self.lock:
            return self.inner.detect_expecting_face(image)

    def align(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        with self.lock:
            return self.inner.align(image, faces)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        with self.lock:
            return self.inner.embed_chips(chips)

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        with self.lock:
            return self.inner.embed(image, faces)

    def analyse_image(self, image: np.ndarray, second_look: bool = False) -> list[FaceEmbedding]:
        with self.lock:
            return self.inner.analyse_image(image, second_look)

    def analyse(self, src: ImageSource, second_look: bool = False) -> list[FaceEmbedding]:
        return self.analyse_image(load_image(src), second_look)


class CountingPipeline:
    """Passes calls through to a pipeline and counts detections: the progress of a tag job."""

    def __init__(self, pipeline: Any):
        self.inner = pipeline
        self.backbone = pipeline.backbone
        self.detected = 0
        self._lock = threading.Lock()  # tag detects in several worker threads

    def detect(self, image: np.ndarray) -> list[Face]:
        faces = self.inner.detect(image)
        with self._lock:
            self.detected += 1
        return faces

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class GalleryMatcher:
    """The nearest-neighbour matcher over everyone enrolled, refitted whenever the gallery's version changes.

    The version counter (facerec.gallery.store) moves on every change to the enrolled set, whoever made it, so a
    person enrolled with `facerec enroll` while the server runs is recognised from the next request on.
    """

    def __init__(self, backbone: str, threshold: float | None = None):
        self.backbone = backbone
        self.threshold_ = float(threshold if threshold is not None else threshold_for(backbone, "identify"))
        self._lock = threading.Lock()
        self._version: int | None = None
        self._matcher: Any = None
        self.refits = 0

    def current(self, gallery: Any) -> Any:
        """The fitted matcher for the gallery as it is now, or None when nobody is enrolled for the backbone."""
        version = gallery.version()
        with self._lock:
            if version != self._version:
                X, names, _ = gallery.embeddings(self.backbone)
                self._matcher = (make_matcher("nn", backbone=self.backbone, threshold=self.threshold_).fit(X, names)
                                 if len(X) else None)
                self._version = version
                self.refits += 1
            return self._matcher

    def identify(self, gallery: Any, embeddings: np.ndarray) -> list[Identity]:
        if len(embeddings) == 0:
            return []
        matcher = self.current(gallery)
        if matcher is None:
            return [Identity(UNKNOWN, 0.0) for _ in embeddings]
        return matcher.predict_identities(embeddings)


class LiveMatcher:
    """What the webcam loop needs (`predict_identities`, `threshold_`), answered by the current gallery matcher."""

    def __init__(self, matchers: GalleryMatcher, gallery_for_thread: Any):
        self.matchers = matchers
        self.gallery_for_thread = gallery_for_thread
        self.threshold_ = matchers.threshold_

    def predict_identities(self, X: np.ndarray) -> list[Identity]:
        return self.matchers.identify(self.gallery_for_thread(), np.atleast_2d(X))
