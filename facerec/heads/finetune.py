"""Fine-tuning the last blocks of a Keras backbone together with a trained head, at a low learning rate."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec.backbones.base import KerasBase
from facerec.backbones.registry import entry
from facerec.heads.augment import ORIGINAL, augmented_chips, resolve_variants
from facerec.heads.bottlenecks import TrainingPhoto, photo_chip
from facerec.heads.head import FaceHead, keras_module
from facerec.errors import FacerecError
from facerec.vectors import l2_normalise

log = logging.getLogger(__name__)


FINE_TUNE_LEARNING_RATE = 1e-5
# scripts/evaluate_finetune.py (README, "dlib's ResNet in Keras"): on LFW with 1, 3 or 5 photos per person,
# fine-tuning dlib-keras' last block left closed-set top-1 unchanged and made many genuine faces `unknown`.
FINE_TUNE_MEASURED_UP_TO_PHOTOS = 5


# --------------------------------------------------------------------------------------------------
# Fine-tuning the last blocks of a Keras backbone
# --------------------------------------------------------------------------------------------------


def check_fine_tunable(backbone: str) -> None:
    """A clear error before minutes of training when the backbone is not a Keras model (its registry entry)."""
    if not entry(backbone).fine_tunable:
        entry(backbone).keras_base()  # raises, saying which backbones can be fine-tuned


def keras_base(backbone: str) -> KerasBase:
    """The backbone's fine-tuning hook (its registry entry's): model, last blocks, preprocessing, split."""
    return entry(backbone).keras_base()


def fine_tune(head: FaceHead, chips: np.ndarray, names: Sequence[str], n_blocks: int, base_model=None,
              weights: str | Path | None = None, epochs: int = 10, learning_rate: float = FINE_TUNE_LEARNING_RATE,
              batch_size: int = 8, groups: Sequence[Any] | None = None,
              augment: bool | Sequence[str] = True) -> dict[str, Any]:
    """Unfreeze the last `n_blocks` blocks of the backbone and train them with the (already trained) head.

    chips: aligned RGB uint8 chips (n, s, s, 3) with person names; each is also used in its augmented
    variants (`augment`, default all). base_model: the Keras embedding network to start from (default:
    the backbone's own with `weights`). BatchNormalization runs in inference mode so a handful of photos
    cannot wreck its statistics. Where the backbone can be cut below the unfrozen blocks (dlib-keras), the
    frozen trunk runs once per chip and only the top is trained. Afterwards the head's centroids are
    recomputed with the fine-tuned base, and the base is kept on the head (saved by save()).
    """
    parts = keras_base(head.backbone)
    head._check_fitted()
    if n_blocks < 1:
        raise FacerecError("--fine-tune-blocks must be at least 1")
    if base_model is None:
        base_model = parts.model(weights)
    trunk, top, unfrozen = prepare_fine_tuning(head.backbone, base_model, n_blocks)
    variants = resolve_variants(augment)
    chips = np.asarray(chips)
    groups_arr = np.asarray(groups) if groups is not None else np.arange(len(chips))
    x = parts.preprocess(np.concatenate([augmented_chips(c, variants) for c in chips]))
    if trunk is not None:  # the frozen part runs once, not once per epoch
        x = np.asarray(trunk.predict(x, batch_size=32, verbose=0), dtype=np.float32)
    is_original = np.tile(np.asarray(variants) == ORIGINAL, len(chips))
    metrics = fine_tune_top(head, top, x, np.repeat(np.asarray([str(n) for n in names]), len(variants)),
                            np.repeat(groups_arr, len(variants)), is_original, epochs=epochs,
                            learning_rate=learning_rate, batch_size=batch_size)
    head.fine_tuned_blocks = n_blocks
    head._base_model = base_model
    head.base_weights_path = None  # not on disk until save()
    metrics["unfrozen_layers"] = sorted(unfrozen & {layer.name for layer in base_model.layers})
    metrics["augmentations"] = variants
    return metrics


def prepare_fine_tuning(backbone: str, base_model, n_blocks: int) -> tuple[Any, Any, set[str]]:
    """Freeze all of `base_model` but its last `n_blocks` blocks; (frozen trunk or None, top to train, unfrozen names).
    The top shares its layers with base_model, so training it changes base_model."""
    parts = keras_base(backbone)
    unfrozen = set(parts.last_block_layers(n_blocks))
    base_model.trainable = True
    for layer in base_model.layers:
        layer.trainable = layer.name in unfrozen
    trunk, top = parts.split(base_model, n_blocks)
    return trunk, top, unfrozen


def fine_tune_top(head: FaceHead, top, features: np.ndarray, names: Sequence[str], groups: np.ndarray,
                  is_original: np.ndarray, epochs: int = 10, learning_rate: float = FINE_TUNE_LEARNING_RATE,
                  batch_size: int = 8) -> dict[str, Any]:
    """Train `top` (the unfrozen part of a backbone, from `prepare_fine_tuning`) with the head on its input
    `features`, then recompute the head's centroids from the rows marked `is_original` (not augmented)."""
    keras = keras_module()
    inputs = keras.Input(shape=features.shape[1:], name="features")
    embedding = keras.layers.UnitNormalization(name="l2_normalise")(top(inputs, training=False))  # BN: inference
    full = keras.Model(inputs, head.model_(embedding), name="facerec_fine_tuned")
    labels = np.searchsorted(head.classes_, np.asarray([str(n) for n in names]))
    saved_batch = head.batch_size
    head.batch_size = batch_size
    try:
        metrics = head._train(full, features, labels, np.asarray(groups), epochs,
                              patience=max(2, min(head.patience, epochs // 3)), learning_rate=learning_rate)
    finally:
        head.batch_size = saved_batch
    embeddings = l2_normalise(top.predict(features[is_original], batch_size=32, verbose=0))
    head.centroids_ = head._centroids(embeddings, labels[is_original])
    metrics["learning_rate"] = learning_rate
    head.metrics_["fine_tune"] = metrics
    return metrics


def photo_chips(photos: Sequence[TrainingPhoto], backbone) -> tuple[np.ndarray, list[str], list[int]]:
    """Aligned chips of the photos that can still be read (for fine-tuning)."""
    chips, names, index = [], [], []
    for i, photo in enumerate(photos):
        chip = photo_chip(photo, backbone)
        if chip is not None:
            chips.append(chip)
            names.append(photo.person)
            index.append(i)
    if not chips:
        raise FacerecError("none of the enrolled photos can be read any more, so fine-tuning has nothing to train on")
    return np.stack(chips), names, index


def warn_if_too_few_photos_to_fine_tune(photos: Sequence[TrainingPhoto]) -> bool:
    """Warn (and say True) when someone has no more photos than the measurement in which fine-tuning did not help."""
    counts: dict[str, int] = {}
    for photo in photos:
        counts[photo.person] = counts.get(photo.person, 0) + 1
    fewest = min(counts.values())
    if fewest > FINE_TUNE_MEASURED_UP_TO_PHOTOS:
        return False
    log.warning("fine-tuning with %d photo(s) for some person: on LFW with 1-5 photos per person it did not "
                "improve naming over a head on the frozen embeddings and turned 16-90 %% of known faces `unknown` "
                "(README, \"dlib's ResNet in Keras\"); consider dropping --fine-tune-blocks", fewest)
    return True


def trainable_copy(model):
    """A trainable copy of a backbone's Keras model, so fine-tuning never changes the shared backbone."""
    keras = keras_module()
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone
