"""Forgetting a person everywhere facerec keeps something of them (biometric data).

- the gallery: the person, their photo records and embeddings; album faces named as them become
  unidentified and leave their group of unknown faces (re-tagging identifies them again, without them);
- every trained head of this gallery that can name them (head.json lists its people and holds their
  centroids): retraining takes minutes, so such heads are deleted, and the caller says so;
- the bottleneck cache beside the gallery: the embeddings of augmented chips of their photos.

Heads saved elsewhere with `facerec train --out` and XMP sidecars already written are not touched
(re-run `facerec tag --xmp` to rewrite the sidecars).
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facerec.paths import bottleneck_cache_dir, heads_dir

log = logging.getLogger(__name__)


@dataclass
class ForgetReport:
    """What forgetting one person removed."""

    name: str
    photos: int
    faces: int
    album_faces: int  # tagged faces that were named as them, now unidentified
    heads_removed: list[Path] = field(default_factory=list)  # folders of the heads that could name them
    cached_embeddings_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"forgotten": self.name, "photos": self.photos, "faces": self.faces, "album_faces": self.album_faces,
                "heads_removed": [str(p) for p in self.heads_removed],
                "cached_embeddings_removed": self.cached_embeddings_removed}


def forget_person(gallery, name: str) -> ForgetReport | None:
    """Forget `name` in `gallery` (an open Gallery) and everything derived from it; None if nobody has that name."""
    person = next((p for p in gallery.people() if p.name == name), None)
    if person is None:
        return None
    photo_hashes = {p.sha256 for p in gallery.photos(person=name)}
    album_faces = gallery.detections_naming(name)
    if not gallery.forget(name):
        return None  # forgotten meanwhile by another process
    report = ForgetReport(name, person.photos, person.faces, album_faces)
    report.heads_removed = remove_heads_naming(gallery.path, name)
    still_enrolled = {p.sha256 for p in gallery.photos()}  # the same photo enrolled for someone else keeps its cache
    report.cached_embeddings_removed = remove_cached_embeddings(gallery.path, photo_hashes - still_enrolled)
    return report


def remove_heads_naming(gallery_path: str | Path, name: str) -> list[Path]:
    """Delete every head beside the gallery that can name `name` (or whose head.json cannot be read, so nobody
    can tell); the folders removed."""
    folder = heads_dir(gallery_path)
    if not folder.is_dir():
        return []
    removed = []
    for head in sorted(p for p in folder.iterdir() if p.is_dir()):
        if _head_names(head, name):
            shutil.rmtree(head)
            removed.append(head)
    return removed


def _head_names(head: Path, name: str) -> bool:
    meta = head / "head.json"
    if not meta.exists():
        return (head / "head.keras").exists()  # a head without its description: unusable, and it may know them
    try:
        classes = json.loads(meta.read_text(encoding="utf-8")).get("classes", [])
    except (OSError, ValueError, AttributeError) as e:
        log.warning("%s cannot be read (%s): removed, as it may name %s", meta, e, name)
        return True
    return name in classes


def remove_cached_embeddings(gallery_path: str | Path, photo_hashes: set[str]) -> int:
    """Delete the cached embeddings of these photos (by content hash) beside the gallery; how many files."""
    from facerec.heads.bottlenecks import BottleneckCache

    cache = BottleneckCache(bottleneck_cache_dir(gallery_path))
    if not cache.folder.is_dir():
        return 0
    return sum(cache.remove_photo(sha) for sha in photo_hashes if sha)
