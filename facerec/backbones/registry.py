"""One entry per backbone: everything facerec needs to know about an embedding network, in one place.

An entry names its code by dotted path ("module:attribute"), imported only when that backbone is used, so
listing backbones (`facerec --help`, `facerec people`) never imports TensorFlow or dlib. Adding a backbone is
one module (a `facerec.backbones.base.Backbone`) plus one `register(BackboneEntry(...))` line in
`facerec/backbones/__init__.py`; nothing else in facerec names backbones.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from facerec.errors import FacerecError


@dataclass(frozen=True)
class BackboneEntry:
    name: str  # what --backbone and FACEREC_BACKBONE take
    factory: str  # "module:callable", called as callable(name, weights) -> Backbone
    embedding_size: int
    # How a detected face becomes the network's input; part of every stored embedding's id, so a gallery never
    # compares embeddings made with different alignments (bump it when the backbone's `align` changes).
    alignment: str
    # Cosine-distance thresholds per purpose (verify, identify, cluster; facerec.thresholds tells how they
    # were chosen). Used for every embedding id of this backbone (with or without flip).
    thresholds: dict[str, float]
    description: str = ""
    # The lower tail of the different-person distance distribution, fitted so that identify's threshold can follow
    # the gallery's size (facerec.thresholds.identify_threshold): {"u", "p_u", "sigma", "xi"}; None: a fixed
    # identify threshold whatever the gallery.
    impostor_tail: dict[str, float] | None = None
    flip: bool = True  # test-time flip by default (embedding = mean of the chip's and its mirror image's)
    # "module:callable" -> callable(name) -> [{"variant", "present", "weights", ...}] for `facerec info`
    status: str = ""
    # "module:callable" -> callable() -> str: where the network runs ("CPU:0", "GPU:0", "CPU (dlib)")
    device: str = "facerec.device:tensorflow_device"
    # "module:callable" -> callable(name) -> facerec.backbones.base.KerasBase; "" = not a Keras model, so only a
    # head on its frozen embeddings can be trained (no --fine-tune-blocks)
    fine_tune: str = ""
    weights_file: bool = False  # takes --weights PATH (a file the user may have to provide)
    # The detectors whose boxes `alignment` was fitted on (dlib's box mapping and VGGFace2's loose crop were fitted
    # on MTCNN's); the faces of any other detector get the backbone's generic alignment (Backbone.align_generic),
    # named `generic_alignment` in their embedding id. None: `alignment` uses only what every detector gives (the
    # 5 landmarks), so it serves them all.
    fitted_detectors: tuple[str, ...] | None = None
    generic_alignment: str = "5point"

    def build(self, weights: Any = None) -> Any:
        return load(self.factory)(self.name, weights)

    def fitted_to(self, detector: str | None) -> bool:
        """The one rule for a detector's faces: True when this backbone's own `align` was fitted on that detector's
        boxes (None: the default detector, MTCNN), False when they get its generic alignment instead."""
        from facerec.detectors import DEFAULT_DETECTOR

        return self.fitted_detectors is None or (detector or DEFAULT_DETECTOR).lower() in self.fitted_detectors

    def alignment_for(self, detector: str | None) -> str:
        """The alignment recipe a detector's faces get (the embedding id's alignment part)."""
        return self.alignment if self.fitted_to(detector) else self.generic_alignment

    def device_name(self) -> str:
        return str(load(self.device)())

    def weights_status(self) -> list[dict[str, Any]]:
        return list(load(self.status)(self.name)) if self.status else []

    @property
    def fine_tunable(self) -> bool:
        return bool(self.fine_tune)

    def keras_base(self) -> Any:
        """What fine-tuning needs (facerec.backbones.base.KerasBase); a clear error for a non-Keras network."""
        if not self.fine_tune:
            keras_ones = ", ".join(e.name for e in REGISTRY.values() if e.fine_tunable)
            alternative = [e.name for e in REGISTRY.values() if e.fine_tunable and e.alignment == self.alignment]
            hint = f" (use --backbone {alternative[0]}: the same network and chips, in Keras)" if alternative else ""
            raise FacerecError(f"fine-tuning needs a Keras backbone ({keras_ones}); the {self.name} network is not a "
                               "Keras model, so only a head on its frozen embeddings can be trained (drop "
                               f"--fine-tune-blocks){hint}")
        return load(self.fine_tune)(self.name)


REGISTRY: dict[str, BackboneEntry] = {}


def register(entry: BackboneEntry) -> BackboneEntry:
    if entry.name in REGISTRY:
        raise ValueError(f"backbone {entry.name!r} is registered twice")
    if set(entry.thresholds) != {"verify", "identify", "cluster"}:
        raise ValueError(f"backbone {entry.name!r}: thresholds need verify, identify and cluster")
    if entry.fitted_detectors is not None and entry.generic_alignment == entry.alignment:
        raise ValueError(f"backbone {entry.name!r}: generic_alignment must differ from alignment (embedding ids)")
    REGISTRY[entry.name] = entry
    return entry


def entry(name: str) -> BackboneEntry:
    """The registered backbone called `name` (case-insensitive), or a usage error listing the choices."""
    found = REGISTRY.get((name or "").lower())
    if found is None:
        raise FacerecError(f"unknown backbone {name!r}; choose one of: {', '.join(REGISTRY)}")
    return found


def load(dotted: str) -> Callable[..., Any]:
    """The callable named "package.module:attribute"."""
    module, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module), attribute)
