"""The recognition pipeline in one object: load → detect (MTCNN) → align → embed (backbone)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from facerec.backbones import Backbone, get_backbone
from facerec.detect import Detector
from facerec.imageio import ImageSource, load_image
from facerec.types import Face


@dataclass
class FaceEmbedding:
    face: Face
    embedding: np.ndarray  # (d,) float32, unit length


class FacePipeline:
    def __init__(
        self,
        backbone: str | Backbone = "dlib",
        *,
        weights: str | Path | None = None,
        detector: Detector | None = None,
        min_face_size: int = 20,
        batch_size: int = 32,
        embedder: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        """`embedder` replaces backbone.embed, e.g. a head fine-tuned together with its base network."""
        self.backbone = get_backbone(backbone, weights) if isinstance(backbone, str) else backbone
        self.detector = detector or Detector(min_face_size=min_face_size)
        self.batch_size = batch_size
        self.embedder = embedder or self.backbone.embed

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detector.detect(image)

    def align(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        size = self.backbone.input_size
        if not faces:
            return np.zeros((0, size, size, 3), dtype=np.uint8)
        return np.stack([self.backbone.align(image, f) for f in faces])

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Embed aligned chips in batches of `batch_size` (bounded memory on big albums)."""
        if len(chips) == 0:
            return np.zeros((0, self.backbone.embedding_size), dtype=np.float32)
        parts = [self.embedder(chips[i : i + self.batch_size]) for i in range(0, len(chips), self.batch_size)]
        return np.concatenate(parts).astype(np.float32)

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        return self.embed_chips(self.align(image, faces))

    def analyse_image(self, image: np.ndarray) -> list[FaceEmbedding]:
        faces = self.detect(image)
        vectors = self.embed(image, faces)
        return [FaceEmbedding(f, v) for f, v in zip(faces, vectors)]

    def analyse(self, src: ImageSource) -> list[FaceEmbedding]:
        return self.analyse_image(load_image(src))


def largest_face(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda f: f.area) if faces else None
