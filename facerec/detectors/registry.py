"""One entry per face detector: everything facerec needs to know about a detector, in one place.

The model is facerec.backbones.registry: an entry names its code by dotted path ("module:attribute"), imported
only when that detector is used, so listing detectors (`facerec --help`, `facerec info`) imports no model.
Adding a detector is one module (a class with `detect(image) -> list[Face]`) plus one
`register(DetectorEntry(...))` line in `facerec/detectors/__init__.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facerec.backbones.registry import load
from facerec.errors import FacerecError


@dataclass(frozen=True)
class DetectorEntry:
    name: str  # what --detector and FACEREC_DETECTOR take
    # "module:callable", called as callable(name, min_face_size=..., max_side=...) -> a detector: an object with
    # detect(image) -> list[Face] (RGB uint8 in, boxes in its pixels), detect_batch(images), min_face_size and
    # max_side attributes (the second look rescales them), and a `name` attribute equal to the entry's name.
    factory: str
    landmarks: bool = True  # its faces carry 5 landmarks (eyes, nose, mouth corners) that alignment can use
    # "module:callable" -> callable(detector) -> a copy that accepts weaker faces (the second look's last try);
    # "" = the detector has nothing to relax, the second look stops after the padded and upscaled looks
    relax: str = ""
    batch: bool = False  # detect_batch runs several images in one call (not just a loop)
    description: str = ""
    # "module:callable" -> callable() -> str: where it runs ("CPU", "GPU:0")
    device: str = ""
    # "module:callable" -> callable(name) -> {"present": bool, "weights": str} for `facerec info`
    status: str = ""

    def build(self, **options: Any) -> Any:
        detector = load(self.factory)(self.name, **options)
        detector.name = self.name  # an entry may reuse another's factory: the embedding id names this entry
        return detector

    def relaxed(self, detector: Any) -> Any | None:
        return load(self.relax)(detector) if self.relax else None

    def device_name(self) -> str:
        return str(load(self.device)()) if self.device else "CPU"

    def weights_status(self) -> dict[str, Any]:
        return dict(load(self.status)(self.name)) if self.status else {"present": True, "weights": "none needed"}


REGISTRY: dict[str, DetectorEntry] = {}


def register(entry: DetectorEntry) -> DetectorEntry:
    if entry.name in REGISTRY:
        raise ValueError(f"detector {entry.name!r} is registered twice")
    if not entry.name or any(c in entry.name for c in ":@+ "):
        raise ValueError(f"detector {entry.name!r}: a name without ':', '@', '+' or spaces (it is part of embedding ids)")
    REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a detector (a test's toy one, say)."""
    REGISTRY.pop(name, None)


def entry(name: str) -> DetectorEntry:
    """The registered detector called `name` (case-insensitive), or a usage error listing the choices."""
    found = REGISTRY.get((name or "").lower())
    if found is None:
        from facerec.errors import UsageError

        raise UsageError(f"unknown detector {name!r}; choose one of: {', '.join(REGISTRY)}")
    return found


__all__ = ["DetectorEntry", "FacerecError", "REGISTRY", "entry", "register", "unregister"]
