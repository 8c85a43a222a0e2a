"""Transfer learning: a small Keras classifier ("head") on top of a frozen face-embedding network.

This is the classic keras-vggface recipe, as an estimator:

1. Frozen base. Every enrolled photo goes through the backbone once; its embedding (the
   "bottleneck feature") is what the head learns from. Without augmentation these are exactly the
   gallery's stored embeddings, so nothing is re-read. Augmented variants (flip, +-10 degree
   rotation, +-20 % brightness, applied to the aligned face chip) are embedded once and cached on
   disk as .npy files keyed by (backbone, sha256 of the photo, face box, variant), beside the gallery.
2. New head. Dense(256, relu) -> Dropout -> Dense(n_people, softmax), trained with early stopping,
   balanced class weights and, when every person has enough photos, a validation split made by
   photo (augmented copies of a photo never straddle the split).
3. Optional fine-tuning (the Keras backbones: dlib-keras, vgg16, resnet50, senet50). After the head
   converges, the last N blocks of the backbone are unfrozen and trained with the head at a low
   learning rate (1e-5) on the chips themselves and their augmented copies (every augmentation, with
   or without --augment: a few photos per person would otherwise be memorised). For dlib-keras the
   last N residual blocks and the 128-d fc layer are unfrozen, and the frozen trunk below them runs
   once per chip (its output is cached in memory), so each epoch only runs the trained top. The
   fine-tuned base is saved next to the head (base.weights.h5); faces must then be embedded with it
   (`FaceHead.embed_chips`). The `dlib` backbone runs inside dlib's C++ and cannot be fine-tuned: use
   `dlib-keras`, the same network and chips.

Open set: a softmax always names someone, so `predict_identities` answers `unknown` when the top
probability is below `min_probability` or when the face is farther (cosine distance) than
`max_distance` from the centroid of the training embeddings of the predicted person.

Saved beside the gallery it was trained on, <gallery stem>-heads/<embedding id>/head.keras + head.json
(class names, thresholds, centroids, metrics, the gallery and embedding id; plain JSON, no pickle; all
files private), see facerec.paths. A head names the people of its gallery, so loading it for a gallery
checks that every person it can name is still enrolled there (`facerec forget` deletes the heads that
name the forgotten person).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec.heads.augment import ORIGINAL, resolve_variants
from facerec.heads.bottlenecks import BottleneckCache, bottleneck_features, gallery_training_photos
from facerec.heads.finetune import check_fine_tunable, fine_tune, photo_chips, trainable_copy, warn_if_too_few_photos_to_fine_tune
from facerec.heads.head import FaceHead
from facerec.errors import FacerecError
from facerec.paths import bottleneck_cache_dir


# --------------------------------------------------------------------------------------------------
# From the gallery, in one call
# --------------------------------------------------------------------------------------------------


def _backbone_name(pipeline_or_backbone) -> str:
    candidate = getattr(pipeline_or_backbone, "backbone", pipeline_or_backbone)
    return candidate if isinstance(candidate, str) else candidate.name


def _embedding_key(pipeline_or_backbone, name: str) -> str:
    """The gallery key of the stored embeddings to learn from: the pipeline's, else the backbone's default."""
    from facerec.backbones import embedding_id

    return getattr(pipeline_or_backbone, "embedding_id", None) or embedding_id(name)


def _resolve_backbone(pipeline_or_backbone, weights: str | Path | None = None):
    """The Backbone object (built only when photos must be embedded again: augmentation, fine-tuning)."""
    candidate = getattr(pipeline_or_backbone, "backbone", pipeline_or_backbone)
    if isinstance(candidate, str):
        from facerec.backbones import get_backbone

        return get_backbone(candidate, weights)
    return candidate


def train_from_gallery(gallery, pipeline_or_backbone, augment: bool | Sequence[str] = False,
                       fine_tune_blocks: int = 0, epochs: int = 200, fine_tune_epochs: int = 10,
                       cache: BottleneckCache | None = None, weights: str | Path | None = None,
                       progress: bool = False, embedding: str | None = None, **head_options: Any) -> FaceHead:
    """Train a head on everyone enrolled in the gallery for the backbone (a FacePipeline, a Backbone or a
    name); the head is returned, not saved (call .save(): it goes beside the gallery). `embedding`: the
    gallery key of the stored embeddings to learn from (default: the pipeline's, else the backbone's
    default recipe). `cache`: the bottleneck cache (default: beside the gallery).

    Without augmentation the head learns from the stored gallery embeddings directly (they are the
    frozen base's bottleneck features), and the backbone is not even loaded; photos are read again
    only to augment or to fine-tune.
    """
    name = _backbone_name(pipeline_or_backbone)
    if fine_tune_blocks:
        check_fine_tunable(name)  # fail before minutes of training, not after
    key = embedding or _embedding_key(pipeline_or_backbone, name)
    photos = gallery_training_photos(gallery, key)
    people = {p.person for p in photos}
    if len(people) < 2:
        raise FacerecError(f"training a head needs at least 2 people enrolled with backbone {name} "
                           f"(found {len(people)}); run `facerec enroll PEOPLE_DIR --backbone {name}`")
    variants = resolve_variants(augment)
    backbone = _resolve_backbone(pipeline_or_backbone, weights) if (variants != [ORIGINAL] or fine_tune_blocks) else None
    if backbone is None:
        X = np.stack([p.embedding for p in photos]).astype(np.float32)
        names, groups = [p.person for p in photos], np.arange(len(photos))
    else:
        cache = cache or BottleneckCache(bottleneck_cache_dir(gallery.path))
        X, names, groups = bottleneck_features(photos, backbone, variants, cache, progress)
    head = FaceHead(backbone=name, epochs=epochs, **head_options)
    head.fit(X, names, groups=groups)
    head.gallery_, head.embedding_ = str(Path(gallery.path).resolve()), key
    head.augmentations_ = variants
    if fine_tune_blocks:
        warn_if_too_few_photos_to_fine_tune(photos)
        chips, chip_names, index = photo_chips(photos, backbone)
        base = getattr(backbone, "model", None)
        fine_tune(head, chips, chip_names, fine_tune_blocks, base_model=trainable_copy(base) if base is not None else None,
                  weights=weights, epochs=fine_tune_epochs, groups=index)
    return head
