"""Backbone registry: every embedding network behind one small interface (see base.Backbone).

    get_backbone("resnet50")            # VGGFace2 ResNet-50, weights from cache / download
    get_backbone("vgg16", weights=p)    # an explicit .h5 file
    get_backbone("resnet50", weights="random")  # untrained, for tests and benchmarks
    get_backbone("dlib")                # dlib ResNet, needs the `dlib` extra (run by ONNX Runtime with `onnx`)
    get_backbone("dlib-keras")          # the same network in Keras: batched, GPU, fine-tunable
"""
from __future__ import annotations

import threading
from pathlib import Path

from facerec.backbones.base import Backbone
from facerec.vectors import l2_normalise

VGGFACE_NAMES = ("vgg16", "resnet50", "senet50")
DLIB_KERAS = "dlib-keras"
BACKBONE_NAMES = ("dlib", DLIB_KERAS) + VGGFACE_NAMES

# How each backbone turns a detected face into its chip; part of every stored embedding's id, so a gallery
# never compares embeddings made with different alignments (bump it when `align` changes).
ALIGNMENT_RECIPES: dict[str, str] = {
    "dlib": "dlibbox2",  # dlib's 5-point predictor in the MTCNN box mapped to dlib's own box convention
    DLIB_KERAS: "dlibbox2",  # the same network and chips as dlib, run by Keras
    "vgg16": "loose30",  # the MTCNN box enlarged by 30 %, square, as VGGFace2 was trained on
    "resnet50": "loose30",
    "senet50": "loose30",
}
# Test-time flip (embedding = normalised mean of the chip's and its mirror image's): on where it was measured
# to raise accuracy (dlib on LFW View 1 DevTrain, see facerec/thresholds.py); on by default for VGGFace too,
# as their papers evaluate with it.
FLIP_DEFAULT: dict[str, bool] = {"dlib": True, DLIB_KERAS: True, "vgg16": True, "resnet50": True, "senet50": True}

_cache: dict[tuple[str, str], Backbone] = {}
_lock = threading.Lock()


def default_backbone() -> str:
    """FACEREC_BACKBONE, else dlib when its extra is installed (works offline), else VGGFace2 resnet50."""
    import importlib.util

    from facerec.paths import default_backbone_from_env

    chosen = default_backbone_from_env()
    if chosen:
        return chosen
    has_dlib = all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition_models"))
    return "dlib" if has_dlib else "resnet50"


def flip_default(name: str) -> bool:
    return FLIP_DEFAULT.get(name.lower(), True)


def embedding_id(name: str, flip: bool | None = None) -> str:
    """What a stored embedding was made with, e.g. "dlib:dlibbox2+flip": the gallery's key for embeddings.

    Embeddings with different ids never meet (matching, clustering, calibration, training): an old gallery's
    embeddings under another id are simply re-made by the next `facerec enroll` / `facerec tag`."""
    name = name.lower()
    flip = flip_default(name) if flip is None else flip
    return f"{name}:{ALIGNMENT_RECIPES.get(name, 'v1')}{'+flip' if flip else ''}"


def backbone_of(embedding: str) -> str:
    """The registry name in an embedding id ("dlib:dlibbox2+flip" -> "dlib"); a plain name is returned as is."""
    return embedding.split(":", 1)[0]


def get_backbone(name: str, weights: str | Path | None = None) -> Backbone:
    """The backbone called `name`, built once per (name, weights) and reused."""
    name = name.lower()
    if name not in BACKBONE_NAMES:
        from facerec.errors import FacerecError

        raise FacerecError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONE_NAMES)}")
    key = (name, str(weights) if weights is not None else "")
    with _lock:
        if key not in _cache:
            _cache[key] = build_backbone(name, weights)
        return _cache[key]


def build_backbone(name: str, weights: str | Path | None) -> Backbone:
    if name == "dlib":
        from facerec.backbones.dlib_backbone import DlibBackbone

        return DlibBackbone()
    if name == DLIB_KERAS:
        from facerec.backbones.dlib_keras import DlibKerasBackbone

        return DlibKerasBackbone(weights)
    from facerec.backbones.vggface import VGGFaceBackbone

    return VGGFaceBackbone(name, weights=weights)


__all__ = ["Backbone", "BACKBONE_NAMES", "DLIB_KERAS", "VGGFACE_NAMES", "backbone_of", "default_backbone", "embedding_id",
           "flip_default", "get_backbone", "l2_normalise"]
