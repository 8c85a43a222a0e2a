"""Backbone registry: every embedding network behind one small interface (see base.Backbone).

    get_backbone("resnet50")            # VGGFace2 ResNet-50, weights from cache / download
    get_backbone("vgg16", weights=p)    # an explicit .h5 file
    get_backbone("resnet50", weights="random")  # untrained, for tests and benchmarks
    get_backbone("dlib")                # dlib ResNet, needs the `dlib` extra (run by ONNX Runtime with `onnx`)
    get_backbone("dlib-keras")          # the same network in Keras: batched, GPU, fine-tunable

A new backbone is one module (a base.Backbone subclass) plus one `register(BackboneEntry(...))` below.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from facerec.backbones.base import Backbone
from facerec.backbones.registry import REGISTRY, BackboneEntry, entry, register
from facerec.types import Face
from facerec.vectors import l2_normalise

# ---- the registry: one entry per backbone (facerec.backbones.registry says what each field means)

# dlib's thresholds, chosen on LFW View 1 DevTrain with dlib's recipe (facerec/thresholds.py tells how).
DLIB_THRESHOLDS = {"verify": 0.0858, "identify": 0.0564, "cluster": 0.045}
# The lower tail of dlib's different-person distances on DevTrain (generalised Pareto below the 1 % quantile u):
# identify's threshold for a gallery of n faces is read off it (facerec.thresholds.identify_threshold).
DLIB_IMPOSTOR_TAIL = {"u": 0.0895, "p_u": 0.01, "sigma": 0.00946, "xi": -0.1276}

# dlib's box mapping (scripts/fit_dlib_box.py) and VGGFace2's loose crop were fitted on MTCNN's boxes: other detectors'
# faces get the backbone's generic alignment (dlib: its predictor in that detector's own box; VGGFace: 5 landmarks).
MTCNN_FITTED = ("mtcnn",)

register(BackboneEntry(
    "dlib", "facerec.backbones.dlib_backbone:build", 128, alignment="dlibbox2", thresholds=DLIB_THRESHOLDS,
    impostor_tail=DLIB_IMPOSTOR_TAIL, fitted_detectors=MTCNN_FITTED, generic_alignment="ownbox",
    description="dlib's ResNet (the dlib extra; works offline)", status="facerec.backbones.dlib_backbone:weights_status",
    device="facerec.backbones.dlib_backbone:dlib_device"))
register(BackboneEntry(
    "dlib-keras", "facerec.backbones.dlib_keras:build", 128, alignment="dlibbox2", thresholds=DLIB_THRESHOLDS,
    impostor_tail=DLIB_IMPOSTOR_TAIL, fitted_detectors=MTCNN_FITTED, generic_alignment="ownbox",
    description="dlib's ResNet in Keras: the same chips and descriptors, batched, GPU, fine-tunable",
    status="facerec.backbones.dlib_backbone:weights_status", fine_tune="facerec.backbones.dlib_keras:keras_base",
    weights_file=True))  # --weights: another copy of dlib's .dat
for _name, _size, _thresholds in (("vgg16", 4096, {"verify": 0.40, "identify": 0.35, "cluster": 0.35}),
                                  ("resnet50", 2048, {"verify": 0.45, "identify": 0.40, "cluster": 0.40}),
                                  ("senet50", 2048, {"verify": 0.45, "identify": 0.40, "cluster": 0.40})):
    # the MTCNN box enlarged by 30 %, square, as VGGFace2 was trained on; weights from keras-vggface's releases
    register(BackboneEntry(
        _name, "facerec.backbones.vggface:VGGFaceBackbone", _size, alignment="loose30", thresholds=_thresholds,
        fitted_detectors=MTCNN_FITTED,
        description=f"VGGFace{'' if _name == 'vgg16' else '2'} {_name} (Keras 3; weights downloaded once)",
        status="facerec.backbones.weights:status_of", fine_tune="facerec.backbones.vggface:keras_base",
        weights_file=True))

BACKBONE_NAMES = tuple(REGISTRY)
# The backbone used when none is named and FACEREC_BACKBONE is unset (with the dlib extra installed; works offline),
# and the default of every function that takes a backbone's name.
DEFAULT_BACKBONE = "dlib"

_cache: dict[tuple[str, str], Backbone] = {}
_lock = threading.Lock()


def default_backbone() -> str:
    """FACEREC_BACKBONE, else dlib when its extra is installed (works offline), else VGGFace2 resnet50."""
    from facerec.device import DLIB_MODULES, installed
    from facerec.paths import default_backbone_from_env

    chosen = default_backbone_from_env()
    if chosen:
        return chosen
    return DEFAULT_BACKBONE if installed(*DLIB_MODULES) else "resnet50"


def flip_default(name: str) -> bool:
    found = REGISTRY.get(name.lower())
    return found.flip if found else True


def embedding_id(name: str, flip: bool | None = None, detector: str | None = None) -> str:
    """What a stored embedding was made with, e.g. "dlib:dlibbox2+flip": the gallery's key for embeddings.

    The detector whose boxes were embedded ends it ("dlib:ownbox+flip@dlib-hog": a detector the backbone's alignment
    was not fitted on also names the generic alignment its faces get), except the default MTCNN's, so ids made before
    detectors were registered stay valid. Embeddings with different ids never meet (matching,
    clustering, calibration, training): an old gallery's embeddings under another id are simply re-made by the
    next `facerec enroll` / `facerec tag`."""
    from facerec.detectors import embedding_suffix

    name = name.lower()
    flip = flip_default(name) if flip is None else flip
    found = REGISTRY.get(name)
    alignment = found.alignment_for(detector) if found else "v1"
    return f"{name}:{alignment}{'+flip' if flip else ''}{embedding_suffix(detector)}"


def align_detected(backbone: Backbone, image: np.ndarray, face: Face, detector: str | None) -> np.ndarray:
    """The chip of a face `detector` found: the backbone's own `align` for the detectors its entry was fitted on,
    its `align_generic` for any other (BackboneEntry.fitted_to); a backbone outside the registry: its `align`."""
    found = REGISTRY.get(backbone.name.lower())
    if found is None or found.fitted_to(detector):
        return backbone.align(image, face)
    return backbone.align_generic(image, face)


def backbone_of(embedding: str) -> str:
    """The registry name in an embedding id ("dlib:dlibbox2+flip" -> "dlib"); a plain name is returned as is."""
    return embedding.split(":", 1)[0]


def get_backbone(name: str, weights: str | Path | None = None) -> Backbone:
    """The backbone called `name`, built once per (name, weights) and reused."""
    spec = entry(name)
    key = (spec.name, str(weights) if weights is not None else "")
    with _lock:
        if key not in _cache:
            _cache[key] = spec.build(weights)
        return _cache[key]


__all__ = ["Backbone", "BackboneEntry", "BACKBONE_NAMES", "DEFAULT_BACKBONE", "REGISTRY", "align_detected", "backbone_of",
           "default_backbone", "embedding_id", "entry", "flip_default", "get_backbone", "l2_normalise", "register"]
