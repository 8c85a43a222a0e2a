"""The MTCNN entry's hooks: facerec.vision.detect.Detector built from the registry, and its relaxed copy."""
from __future__ import annotations

import copy
from typing import Any

# The second look's last try: MTCNN's stage thresholds and the final confidence relaxed.
RELAXED_STAGE_THRESHOLDS = (0.5, 0.6, 0.6)
RELAXED_MIN_CONFIDENCE = 0.8


def build(name: str = "mtcnn", **options: Any):
    from facerec.vision.detect import Detector

    return Detector(**options)


def weights_status(name: str = "mtcnn") -> dict:
    from facerec.device import installed

    present = installed("mtcnn")
    return {"present": present, "weights": "shipped in the mtcnn package" if present else "not installed: pip install mtcnn"}


def relaxed(detector):
    """The same detector (sharing its loaded networks) with MTCNN's thresholds relaxed."""
    copied = copy.copy(detector)
    copied.stage_thresholds = RELAXED_STAGE_THRESHOLDS
    copied.min_confidence = min(detector.min_confidence, RELAXED_MIN_CONFIDENCE)
    return copied
