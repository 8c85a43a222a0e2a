"""A toy detector for the tests: MTCNN's faces, keeping only the largest face of each image. Importing this module
registers it (the one line at the bottom), as a user's own detector module would."""
from __future__ import annotations

import numpy as np

from facerec.detectors import REGISTRY, DetectorEntry, register
from facerec.types import Face

NAME = "largest"


class LargestFaceOnly:
    def __init__(self, name: str = NAME, min_face_size: int = 20, max_side: int = 1280):
        self.name = name
        self.min_face_size = min_face_size  # the second look rescales these on a copy
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> list[Face]:
        from facerec.vision.detect import Detector  # cheap: MTCNN's networks are shared per process

        faces = Detector(min_face_size=self.min_face_size, max_side=self.max_side).detect(image)
        return [max(faces, key=lambda f: f.area)] if faces else []

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        return [self.detect(image) for image in images]


def build(name: str, **options) -> LargestFaceOnly:
    return LargestFaceOnly(name, **options)


if NAME not in REGISTRY:  # a test module and a server process may both import it
    register(DetectorEntry(NAME, "toy_detector:build", description="MTCNN's largest face only (a test's toy)"))
