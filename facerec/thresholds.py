"""Decision thresholds, as data, in one place.

All backbones produce L2-normalised vectors and every threshold here is a *cosine distance*
(1 - cosine similarity; 0 = identical, 2 = opposite). Two faces are the same person when their
distance is <= the threshold; an identified face is `unknown` when its best match is farther.

- dlib: 0.10. dlib's raw 128-d descriptors have length ~1.4-1.6, so its documented 0.6 Euclidean
  tolerance is ~0.41 on unit vectors, i.e. a cosine distance of ~0.085. Measured on our shared test set
  (README, Evaluation): at 0.10 no same-person pair was rejected and 0.6 % of different-person pairs
  were accepted; at 0.18 44 % were.
- vgg16 / resnet50 / senet50: values of the kind deepface and keras-vggface users report for
  cosine distance; they depend on your photos. `facerec calibrate` measures one on your gallery for
  a target false-accept rate; pass it with --threshold.
"""
from __future__ import annotations

VERIFY_COSINE_DISTANCE: dict[str, float] = {
    "dlib": 0.10,
    "dlib-keras": 0.10,  # the same network and chips as dlib (issue 13)
    "vgg16": 0.40,
    "resnet50": 0.45,
    "senet50": 0.45,
}
DEFAULT_COSINE_DISTANCE = 0.40


def threshold_for(backbone: str) -> float:
    """Cosine-distance threshold for `backbone` (same person when distance <= threshold)."""
    return VERIFY_COSINE_DISTANCE.get(backbone, DEFAULT_COSINE_DISTANCE)
