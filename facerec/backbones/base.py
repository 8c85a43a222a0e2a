"""The one small interface every embedding network implements.

Matchers, the gallery and the CLI only ever see a `Backbone`: a name, an input size, an embedding
size, how to turn a detected face into the network's input (`align`) and `embed(chips)`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from facerec.types import Face


class Backbone(ABC):
    name: str = ""
    input_size: int = 224
    embedding_size: int = 0

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """RGB uint8 chip of input_size x input_size for one face of an RGB uint8 image."""
        from facerec.vision.align import align_face

        return align_face(image, face.landmarks_array(), size=self.input_size)

    def align_generic(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The chip of a face found by a detector `align` was not fitted on (the registry entry's fitted_detectors):
        the 5-landmark similarity alignment, which every detector's landmarks allow."""
        from facerec.vision.align import align_face

        return align_face(image, face.landmarks_array(), size=self.input_size)

    def align_in_box(self, image: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple]:
        """(chip, five points) for a face a person boxed where no detector found one (a face region): a loose
        crop of the box here; backbones with their own landmark model align inside the box. Embeddings made
        this way are keyed as their own recipe (facerec.gallery.enroll_tags), never mixed with detected ones."""
        from facerec.vision.align import loose_crop

        x, y, w, h = box
        centre = (x + w / 2, y + h / 2)
        return loose_crop(image, box, size=self.input_size), (centre,) * 5

    @abstractmethod
    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(n, s, s, 3) RGB uint8 chips -> (n, embedding_size) float32, L2-normalised rows."""

    def describe(self) -> dict:
        return {"name": self.name, "input_size": self.input_size, "embedding_size": self.embedding_size}


@dataclass
class KerasBase:
    """What fine-tuning (facerec.heads.finetune.fine_tune) needs to know about a Keras backbone: a registry entry's
    `fine_tune` hook returns one."""

    model: Callable[[Any], Any]  # weights (path, None or "random") -> the embedding network
    last_block_layers: Callable[[int], list[str]]  # n blocks -> names of the layers to unfreeze
    preprocess: Callable[[np.ndarray], np.ndarray]  # RGB chips -> the network's input
    split: Callable[[Any, int], tuple[Any, Any]]  # (model, n blocks) -> (frozen trunk or None, trained top)
