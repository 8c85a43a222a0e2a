"""Pipelines shared by the server's threads: one whose model calls take turns, one that counts detections."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from facerec.vision.imageio import ImageSource, load_image
from facerec.recognition.pipeline import FaceEmbedding, FacePipeline
from facerec.types import Face


class LockedPipeline:
    """A FacePipeline whose model calls are serialised by one re-entrant lock.

    MTCNN (TensorFlow) and dlib's networks are single objects shared by every request thread, the tag job
    and the live view; neither promises that concurrent calls on one object are safe, and on a small CPU
    box running them one at a time is as fast anyway (each call already uses every core).
    Decoding images, matching and JSON stay outside the lock.
    """

    def __init__(self, pipeline: FacePipeline, lock: Any = None):
        from facerec.server.modellock import FairModelLock

        self.inner = pipeline
        self.lock = lock or FairModelLock()  # requests before camera loops (facerec.server.modellock)
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
