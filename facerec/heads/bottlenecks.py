"""Bottleneck features: the frozen backbone's embeddings of the enrolled photos and their augmented variants,
cached on disk beside the gallery."""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facerec.heads.augment import ORIGINAL, augmented_chips
from facerec.errors import FacerecError
from facerec.files.atomic import PRIVATE, atomic_write
from facerec.gallery.learning import media_of_sample
from facerec.types import Face

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# Bottleneck cache
# --------------------------------------------------------------------------------------------------


class BottleneckCache:
    """Embeddings of chips under a frozen backbone, one .npy per (backbone, photo sha256, face box, variant).

    Files are written atomically and read with allow_pickle=False. Counters say what happened. The
    default folder is beside the gallery (facerec.paths.bottleneck_cache_dir).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def path(self, backbone: str, sha256: str, face: Face, variant: str) -> Path:
        box = "_".join(str(int(v)) for v in face.box)
        return self.folder / backbone / sha256[:2] / f"{sha256}-{box}-{variant}.npy"

    def get(self, backbone: str, sha256: str, face: Face, variant: str) -> np.ndarray | None:
        path = self.path(backbone, sha256, face, variant)
        try:
            vector = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return np.asarray(vector, dtype=np.float32)

    def put(self, backbone: str, sha256: str, face: Face, variant: str, vector: np.ndarray) -> None:
        path = self.path(backbone, sha256, face, variant)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        atomic_write(path, buffer.getvalue(), mode=PRIVATE)  # embeddings are biometric data

    def remove_photo(self, sha256: str) -> int:
        """Delete every cached embedding of the photo with this content (any backbone, face, variant); how many."""
        removed = 0
        for path in self.folder.glob(f"*/{sha256[:2]}/{sha256}-*.npy"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed


# --------------------------------------------------------------------------------------------------
# Training data from the gallery
# --------------------------------------------------------------------------------------------------


@dataclass
class TrainingPhoto:
    """One enrolled face: who, where the photo is, its content hash, the face and its stored embedding."""

    person: str
    path: Path
    sha256: str
    face: Face
    embedding: np.ndarray
    detector: str | None = None  # whose box `face` is (None: MTCNN): it chooses the backbone's alignment


def gallery_training_photos(gallery, embedding: str) -> list[TrainingPhoto]:
    """Every enrolled photo with a face embedded as `embedding` (an embedding id)."""
    from facerec.detectors import detector_of

    photos = []
    for record in gallery.photos():
        stored = gallery.face(record.id, embedding)
        if stored is None:
            continue
        face, vector, _ = stored
        path = media_of_sample(record.path, record.source)  # a sample made from an album face: its photo
        photos.append(TrainingPhoto(record.person, Path(path), record.sha256, face, vector, detector_of(embedding)))
    return photos


def photo_chip(photo: TrainingPhoto, backbone) -> np.ndarray | None:
    """The aligned chip of a training photo, or None when the file is gone or has changed since enrollment."""
    from facerec.backbones import align_detected
    from facerec.files.atomic import file_sha256
    from facerec.vision.imageio import load_image

    try:
        if file_sha256(photo.path) != photo.sha256:
            log.warning("%s changed since it was enrolled; re-enroll it (using its stored embedding only)", photo.path)
            return None
        return align_detected(backbone, load_image(photo.path), photo.face, photo.detector)
    except (OSError, FacerecError) as e:
        log.warning("cannot read %s (%s); using its stored embedding only", photo.path, e)
        return None


def bottleneck_features(photos: Sequence[TrainingPhoto], backbone, variants: Sequence[str],
                        cache: BottleneckCache,
                        progress: bool = False) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(X, names, photo index of each row): the stored embedding of each photo plus its augmented variants,
    embedded by the frozen backbone once and then read from the cache."""
    rows, names, groups = [], [], []
    iterator: Any = enumerate(photos)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(photos), desc="bottlenecks", unit="photo")
    for index, photo in iterator:
        vectors = {ORIGINAL: np.asarray(photo.embedding, dtype=np.float32)}
        wanted = [v for v in variants if v != ORIGINAL]
        missing = []
        for v in wanted:
            cached = cache.get(backbone.name, photo.sha256, photo.face, v)
            if cached is None:
                missing.append(v)
            else:
                vectors[v] = cached
        if missing:
            chip = photo_chip(photo, backbone)
            if chip is not None:
                embedded = backbone.embed(augmented_chips(chip, missing))
                for v, vector in zip(missing, embedded):
                    cache.put(backbone.name, photo.sha256, photo.face, v, vector)
                    vectors[v] = vector
        for v in variants:
            if v in vectors:
                rows.append(vectors[v])
                names.append(photo.person)
                groups.append(index)
    return np.stack(rows).astype(np.float32), names, np.asarray(groups)
