"""Augmentation of aligned face chips: deterministic variants, so each one's embedding can be cached by name."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from facerec.errors import FacerecError


# --------------------------------------------------------------------------------------------------
# Augmentation of aligned chips
# --------------------------------------------------------------------------------------------------


def _rotate(chip: np.ndarray, degrees: float) -> np.ndarray:
    import cv2

    h, w = chip.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(chip, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _brightness(chip: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(chip.astype(np.float32) * factor, 0, 255).astype(np.uint8)


# Deterministic variants, so each one's embedding can be cached by name.
AUGMENTATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "flip": lambda c: np.ascontiguousarray(c[:, ::-1]),
    "rot-10": lambda c: _rotate(c, -10),
    "rot+10": lambda c: _rotate(c, 10),
    "dark20": lambda c: _brightness(c, 0.8),
    "bright20": lambda c: _brightness(c, 1.2),
}
ORIGINAL = "orig"


def augmented_chips(chip: np.ndarray, variants: Sequence[str]) -> np.ndarray:
    return np.stack([chip if v == ORIGINAL else AUGMENTATIONS[v](chip) for v in variants])


def resolve_variants(augment: bool | Sequence[str]) -> list[str]:
    """[ORIGINAL] plus the augmentations asked for (True: all of them)."""
    if augment is True:
        return [ORIGINAL, *AUGMENTATIONS]
    if not augment:
        return [ORIGINAL]
    unknown = [v for v in augment if v not in AUGMENTATIONS]
    if unknown:
        raise FacerecError(f"unknown augmentation {unknown}; choose from {', '.join(AUGMENTATIONS)}")
    return [ORIGINAL, *[v for v in AUGMENTATIONS if v in augment]]
