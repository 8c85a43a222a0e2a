"""Backbone registry: every embedding network behind one small interface (see base.Backbone).

    get_backbone("resnet50")            # VGGFace2 ResNet-50, weights from cache / download
    get_backbone("vgg16", weights=p)    # an explicit .h5 file
    get_backbone("resnet50", weights="random")  # untrained, for tests and benchmarks
    get_backbone("dlib")                # dlib ResNet, needs the `dlib` extra
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

_cache: dict[tuple[str, str], Backbone] = {}
_lock = threading.Lock()


def default_backbone() -> str:
    """FACEREC_BACKBONE, else dlib when its extra is installed (works offline), else VGGFace2 resnet50."""
    import importlib.util
    import os

    if os.environ.get("FACEREC_BACKBONE"):
        return os.environ["FACEREC_BACKBONE"].lower()
    has_dlib = all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition_models"))
    return "dlib" if has_dlib else "resnet50"


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


__all__ = ["Backbone", "BACKBONE_NAMES", "DLIB_KERAS", "VGGFACE_NAMES", "default_backbone", "get_backbone", "l2_normalise"]
