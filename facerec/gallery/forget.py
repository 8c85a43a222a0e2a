"""Forgetting a person everywhere facerec keeps something of them (biometric data).

`forget_person` is the one way a person leaves facerec, whatever the route: `facerec forget`, the server's
DELETE /api/v1/people/NAME and DeepStack's /v1/vision/face/delete, and `facerec enroll` when their folder
was deleted (`forget_emptied_people`). It removes:

- the gallery: the person, their photo records and embeddings, the review decisions that name them (their
  aliases, cover face and hidden flag with them: facerec.gallery.people_decisions), and the album faces that
  tagging named as them or that were named from a group -- detection row, box and embedding. Deleted rather than kept as
  anonymous unknown faces: an unknown face keeps its embedding (the schema requires one, since clustering
  and re-identification read it), so it would regroup at once into a group of this person, crops and all,
  on the review page. The album photos themselves are untouched: `facerec tag --force` looks at them
  afresh and finds that face again, as a stranger;
- every trained head of this gallery that can name them (head.json lists its people and holds their
  centroids): retraining takes minutes, so such heads are deleted, and the caller says so;
- the bottleneck cache beside the gallery: the embeddings of augmented chips of their photos;
- the photos uploaded for them over HTTP (<stem>-uploads/<hash of the name>/ beside the gallery), with
  any file left there by an older facerec.

Heads saved elsewhere with `facerec train --out` and XMP sidecars already written are not touched
(re-run `facerec tag --xmp` to rewrite the sidecars).
"""
from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facerec.paths import bottleneck_cache_dir, heads_dir, person_uploads_dir, uploads_dir

log = logging.getLogger(__name__)


@dataclass
class ForgetReport:
    """What forgetting one person removed."""

    name: str
    photos: int
    faces: int
    album_faces: int  # tagged faces that were named as them: deleted with their embeddings
    heads_removed: list[Path] = field(default_factory=list)  # folders of the heads that could name them
    cached_embeddings_removed: int = 0
    uploads_removed: int = 0  # photos uploaded for them over HTTP

    def to_dict(self) -> dict[str, Any]:
        return {"forgotten": self.name, "photos": self.photos, "faces": self.faces, "album_faces": self.album_faces,
                "heads_removed": [str(p) for p in self.heads_removed],
                "cached_embeddings_removed": self.cached_embeddings_removed, "uploads_removed": self.uploads_removed}


def stored_name(gallery, raw: str) -> str | None:
    """The name as the gallery holds it: `raw` stripped and NFC-normalised like every name that enters
    (facerec.names), so a name is found by the very string it was registered with; a name an older facerec
    let in is found as it is. None if nobody has it."""
    from facerec.names import InvalidNameError, person_name

    try:
        name = person_name(raw)
    except InvalidNameError:
        name = raw
    for candidate in (name, raw):
        if gallery.person_id(candidate) is not None:
            return candidate
    return None


def forget_person(gallery, name: str, removed_photo_hashes: set[str] = frozenset()) -> ForgetReport | None:
    """Forget `name` in `gallery` (an open Gallery) and everything derived from it; None if nobody has that name.

    removed_photo_hashes: photos of theirs already taken out of the gallery (their folder was deleted), whose
    cached embeddings go too."""
    name = stored_name(gallery, name)
    person = next((p for p in gallery.people() if p.name == name), None)
    if person is None:
        return None
    photos = gallery.photos(person=name)
    photo_hashes = {p.sha256 for p in photos} | set(removed_photo_hashes)
    album_faces = gallery.detections_naming(name)
    if not gallery.forget(name):
        return None  # forgotten meanwhile by another process
    report = ForgetReport(name, person.photos, person.faces, album_faces)
    report.heads_removed = remove_heads_naming(gallery.path, name)
    still_enrolled = {p.sha256 for p in gallery.photos()}  # the same photo enrolled for someone else keeps its cache
    report.cached_embeddings_removed = remove_cached_embeddings(gallery.path, photo_hashes - still_enrolled)
    report.uploads_removed = remove_uploads(gallery, name, [Path(p.path) for p in photos])
    return report


def forget_emptied_people(gallery, removed_photos: Iterable[Any]) -> list[ForgetReport]:
    """Everyone left without any photo once `removed_photos` (PhotoRecords) left the gallery -- their folder in
    PEOPLE_DIR was deleted or emptied -- forgotten as `forget_person` forgets; the cached embeddings of removed
    photos of people who stay go too."""
    removed_hashes: dict[str, set[str]] = {}
    for photo in removed_photos:
        removed_hashes.setdefault(photo.person, set()).add(photo.sha256)
    reports = [report for person in gallery.people() if person.photos == 0
               if (report := forget_person(gallery, person.name, removed_hashes.get(person.name, set()))) is not None]
    still_enrolled = {p.sha256 for p in gallery.photos()}
    remove_cached_embeddings(gallery.path, set().union(*removed_hashes.values()) - still_enrolled)
    return reports


def remove_uploads(gallery, name: str, photo_paths: list[Path]) -> int:
    """Delete the photos uploaded for `name` (their records are gone) and their folder; how many files.

    Besides the paths the gallery recorded, every file in the person's uploads folder goes: an older facerec
    left them there when the person was forgotten by another route."""
    folder = person_uploads_dir(gallery.path, name)
    root = uploads_dir(gallery.path)
    candidates = {p for p in photo_paths if _is_inside(p, root)}
    if folder.is_dir():
        candidates |= {p for p in folder.iterdir() if p.is_file() or p.is_symlink()}
    removed = 0
    for path in sorted(candidates):
        if gallery.photo(path) is None:  # not enrolled for someone else meanwhile
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
    return removed


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


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
