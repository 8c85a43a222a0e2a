"""Enrollment: read PEOPLE_DIR/<Name>/<photos> into the gallery, one face embedding per photo.

The folder is the source of truth and re-running is cheap:

- a photo already enrolled with the same content (same size and mtime, or same sha256) and an
  embedding for this backbone is skipped ('unchanged'); a renamed or copied photo of the same
  person reuses the stored embedding;
- a photo whose content changed is detected and embedded again ('updated');
- a photo enrolled earlier from this folder that is gone is removed ('removed'), and a person left
  with no photo at all is forgotten as `facerec forget` forgets (facerec.gallery.forget: the heads that
  name them, cached embeddings, uploads, album faces) -- but "cannot read" is never "gone": a folder that cannot be
  listed, a link to an offline drive, a photo that cannot be read keep what was enrolled from them
  ('unreadable'), and an empty PEOPLE_DIR that people were enrolled from is an error;
- what cannot be used is listed ('skipped'): unsupported formats, broken links, named pipes, hidden
  person folders, names that are not UTF-8 or not a valid person name (facerec.names), and the gallery's
  own folders when the gallery lies inside PEOPLE_DIR (its -uploads, -heads and -cache: never a person);
- a photo with several faces gives its main face, the largest near the centre (pipeline.main_face;
  'multiple_faces'); no face ('no_face'),
  a face smaller than `min_face_size` pixels ('too_small') and unreadable files ('unreadable') are
  recorded and reported, and the run goes on.

Every photo is committed on its own, so an interrupted run keeps what it finished; the next run
picks up the rest. Files in sub-folders of a person's folder count as that person's photos;
hidden files and folders (".name") and non-image files are ignored.
"""
from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from facerec.errors import FacerecError, ImageError, InputError
from facerec.files.atomic import file_sha256
from facerec.gallery.forget import forget_emptied_people
from facerec.gallery.store import Gallery, PersonSummary, PhotoRecord
from facerec.vision.imageio import is_image_path, load_image
from facerec.names import InvalidNameError, is_utf8, person_name, printable
from facerec.recognition.pipeline import main_face
from facerec.types import Face

log = logging.getLogger(__name__)

DEFAULT_MIN_FACE_SIZE = 40  # pixels, shorter side of the detected box: smaller faces embed poorly


class EnrollPipeline(Protocol):
    """What enrollment needs from facerec.recognition.pipeline.FacePipeline."""

    backbone: Any  # has .name
    embedding_id: str  # the gallery key of the embeddings it makes

    def detect_expecting_face(self, image: np.ndarray) -> list[Face]: ...

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray: ...


@dataclass
class EnrollRow:
    person: str
    path: str
    status: str  # ok, updated, unchanged, removed, multiple_faces, no_face, too_small, unreadable, skipped
    note: str = ""
    faces: int | None = None  # faces found in the photo (None: not looked at on this run)


@dataclass
class EnrollReport:
    people_dir: str
    backbone: str
    rows: list[EnrollRow] = field(default_factory=list)
    removed_people: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # folders/links that could not be read: what came from them was kept
    aliases: dict[str, str] = field(default_factory=dict)  # folder name -> the person it went to (renamed or merged)

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.rows))

    @property
    def embedded(self) -> int:
        """Photos embedded on this run."""
        return sum(r.status in ("ok", "updated", "multiple_faces") for r in self.rows)

    @property
    def usable(self) -> int:
        """Photos that give the gallery a face now (embedded on this run or earlier)."""
        return sum(r.status in ("ok", "updated", "multiple_faces", "unchanged") for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "people_dir": self.people_dir,
            "backbone": self.backbone,
            "counts": self.counts(),
            "removed_people": self.removed_people,
            "unreadable": self.unreadable,
            "aliases": self.aliases,
            "photos": [asdict(r) for r in self.rows],
        }


# --------------------------------------------------------------------------- folder scanning


@dataclass
class PeopleScan:
    """What PEOPLE_DIR holds, what was skipped, and which folders could not be read (their people are kept)."""

    photos: list[tuple[str, Path]] = field(default_factory=list)  # (person name, photo path), sorted
    skipped: list[tuple[str, Path, str]] = field(default_factory=list)  # (person, path, why)
    unreadable: list[tuple[str, Path, str]] = field(default_factory=list)  # folders / links whose content is unknown
    people: set[str] = field(default_factory=set)  # names of the person folders read (even if empty)

    def protects(self, path: str | Path) -> bool:
        """True when `path` lies under a folder that could not be read: it may still exist."""
        return any(Path(path).is_relative_to(folder) for _, folder, _ in self.unreadable)


def scan_people(people_dir: Path, gallery_path: str | Path | None = None) -> PeopleScan:
    """Every image under PEOPLE_DIR/<Name>/ (sub-folders included), with what could not be used and why.

    gallery_path: the gallery being enrolled into. When it lies inside PEOPLE_DIR, its own folders (photos
    uploaded to `facerec serve`, trained heads, caches) are never taken as a person or as a person's photos."""
    from facerec.files.walk import walk_images

    entries = list_people_dir(people_dir)
    scan = PeopleScan()
    own = gallery_folders(gallery_path)
    scan.skipped += [(printable(folder.relative_to(people_dir).parts[0]), folder, OWN_FOLDER_NOTE)
                     for folder in own if folder.is_relative_to(people_dir)]
    for entry in entries:
        person_dir = people_dir / entry.name
        if _resolved(person_dir) in own:
            continue  # reported above
        if not _is_person_folder(entry, person_dir, scan):
            continue
        try:
            person = person_name(entry.name)
        except InvalidNameError as e:
            scan.skipped.append((printable(entry.name), person_dir, str(e)))
            continue
        walked = walk_images(person_dir, exclude=own)
        scan.people.add(person)
        scan.photos += [(person, path) for path in walked.photos]  # not resolved: a symlinked photo belongs here
        unreadable = set(walked.unreadable)
        for path, why in walked.problems:
            target = scan.unreadable if path in unreadable else scan.skipped
            target.append((person, path, why))
    loose = [e.name for e in entries if is_image_path(Path(e.name)) and e.is_file()]
    if loose:
        log.warning("%s: %d image(s) directly in the folder ignored; put them in a folder named after the person",
                    people_dir, len(loose))
    return scan


OWN_FOLDER_NOTE = "the gallery's own folder (photos uploaded to `facerec serve`, trained heads or caches), not a person"


def gallery_folders(gallery_path: str | Path | None) -> set[Path]:
    """The folders facerec keeps beside this gallery that exist, resolved (facerec.paths.gallery_own_paths)."""
    from facerec.paths import gallery_own_paths

    if gallery_path is None:
        return set()
    return {_resolved(p) for p in gallery_own_paths(Path(gallery_path).expanduser().absolute()) if p.is_dir()}


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def list_people_dir(people_dir: Path) -> list[os.DirEntry]:
    if not people_dir.is_dir():
        raise InputError(f"{people_dir}: not a folder (expected PEOPLE_DIR/<Name>/<photos>)")
    try:
        return sorted(os.scandir(people_dir), key=lambda e: e.name)
    except OSError as e:
        raise ImageError(f"{people_dir}: cannot list the people folder ({e.strerror or e}); nothing was changed") from e


def _is_person_folder(entry: os.DirEntry, person_dir: Path, scan: PeopleScan) -> bool:
    """A readable person folder; a hidden one is reported, an unreachable one protects its people."""
    try:
        is_dir = entry.is_dir(follow_symlinks=True)
    except OSError as e:
        is_dir, why = False, f"cannot open the folder ({e.strerror or e})"
    else:
        why = "symbolic link whose target is missing (offline drive?)"
    if not is_dir and entry.is_symlink():
        scan.unreadable.append((printable(entry.name), person_dir, why))
        return False
    if is_dir and entry.name.startswith("."):
        scan.skipped.append((printable(entry.name), person_dir, "hidden folder (name starts with '.') ignored"))
        return False
    return is_dir


def scan_people_dir(people_dir: Path) -> list[tuple[str, Path]]:
    """(person name, photo path) for every usable image under PEOPLE_DIR/<Name>/, sorted; problems are logged."""
    scan = scan_people(Path(people_dir))
    for person, path, why in scan.skipped + scan.unreadable:
        log.warning("%s: %s", printable(str(path)), why)
    return scan.photos


# --------------------------------------------------------------------------- one photo


@dataclass
class _Context:
    gallery: Gallery
    pipeline: EnrollPipeline
    backbone: str
    min_face_size: int


def _enroll_photo(ctx: _Context, person: str, path: Path) -> EnrollRow:
    existing = ctx.gallery.photo(path)
    try:
        st = path.stat()
        if _same_file(existing, person, st) and ctx.gallery.has_embedding(existing.id, ctx.backbone):  # type: ignore[union-attr]
            return EnrollRow(person, str(path), "unchanged", faces=None)
        sha = file_sha256(path)
    except OSError as e:
        return _cannot_read(ctx, person, path, existing, e)
    if existing and existing.sha256 == sha and existing.person == person and ctx.gallery.has_embedding(existing.id, ctx.backbone):
        ctx.gallery.touch_photo(existing.id, st.st_mtime, st.st_size)  # e.g. copied with a new mtime
        return EnrollRow(person, str(path), "unchanged")
    copy = ctx.gallery.find_enrolled_copy(person, sha, ctx.backbone)
    if copy is not None and copy.path != str(path):
        return _reuse_copy(ctx, person, path, sha, st, copy)
    return _detect_and_embed(ctx, person, path, sha, st, existing)


def _cannot_read(ctx: _Context, person: str, path: Path, existing: PhotoRecord | None, error: OSError) -> EnrollRow:
    """A file that cannot be read now (permissions, I/O error, gone meanwhile) keeps what was enrolled from it."""
    note = f"cannot read file ({error.strerror or error})"
    if existing is not None:
        return EnrollRow(person, str(path), "unreadable", note + "; the earlier record is kept")
    return _record_failure(ctx, person, path, None, None, None, "unreadable", note)


def _same_file(existing: PhotoRecord | None, person: str, st: os.stat_result) -> bool:
    return (existing is not None and existing.person == person and existing.size == st.st_size
            and existing.mtime == st.st_mtime)


def _reuse_copy(ctx: _Context, person: str, path: Path, sha: str, st: os.stat_result, copy: PhotoRecord) -> EnrollRow:
    stored = ctx.gallery.face(copy.id, ctx.backbone)
    assert stored is not None  # find_enrolled_copy only returns photos with an embedding
    face, embedding, _ = stored
    ctx.gallery.record_photo(person, path, sha, st.st_mtime, st.st_size, copy.status, f"same content as {copy.path}",
                             ctx.backbone, face, embedding)
    return EnrollRow(person, str(path), "unchanged", f"same content as {copy.path}")


@dataclass(frozen=True)
class FaceChoice:
    """The face a photo given to enrol yields: `face` None with status no_face or too_small."""

    face: Face | None
    status: str  # ok, multiple_faces, no_face, too_small
    note: str
    faces: int


def choose_enrolment_face(pipeline: Any, image: np.ndarray, min_face_size: int = DEFAULT_MIN_FACE_SIZE) -> FaceChoice:
    """The main face of a photo that must hold one (second look included), or why there is none to enrol."""
    faces = pipeline.detect_expecting_face(image)
    face = main_face(faces, image.shape)
    if face is None:
        return FaceChoice(None, "no_face", "no face found", 0)
    if min(face.box[2], face.box[3]) < min_face_size:
        return FaceChoice(None, "too_small", f"face is {face.box[2]}x{face.box[3]} px, below the {min_face_size} px "
                                             "minimum", len(faces))
    if len(faces) > 1:
        return FaceChoice(face, "multiple_faces", f"{len(faces)} faces, took the largest near the centre", len(faces))
    return FaceChoice(face, "ok", "", 1)


def _detect_and_embed(ctx: _Context, person: str, path: Path, sha: str, st: os.stat_result,
                      existing: PhotoRecord | None) -> EnrollRow:
    changed = existing is not None and existing.sha256 != sha
    try:
        image = load_image(path)
    except ImageError as e:
        return _record_failure(ctx, person, path, sha, st.st_mtime, st.st_size, "unreadable", str(e))
    reused = _face_chosen_by_other_backbone(ctx, existing, sha)
    if reused is not None:
        face, status, note = reused, existing.status, existing.note  # type: ignore[union-attr]
        n_faces = faces_recorded(status, note)
    else:
        choice = choose_enrolment_face(ctx.pipeline, image, ctx.min_face_size)
        if choice.face is None:
            return _record_failure(ctx, person, path, sha, st.st_mtime, st.st_size, choice.status, choice.note,
                                   faces=choice.faces)
        face, status, note, n_faces = choice.face, choice.status, choice.note, choice.faces
    embedding = ctx.pipeline.embed(image, [face])[0]
    ctx.gallery.record_photo(person, path, sha, st.st_mtime, st.st_size, status, note, ctx.backbone, face, embedding)
    if changed and status == "ok":
        return EnrollRow(person, str(path), "updated", "file changed, embedded again", faces=n_faces)
    return EnrollRow(person, str(path), status, ("file changed; " + note) if changed else note, faces=n_faces)


def faces_recorded(status: str, note: str) -> int | None:
    """The faces an earlier detection found in a photo, as its status and note recorded them (choose_enrolment_face
    writes "N faces, took ..." for multiple_faces)."""
    if status == "ok":
        return 1
    count = note.split(" ", 1)[0]
    return int(count) if status == "multiple_faces" and count.isdigit() else None


def _face_chosen_by_other_backbone(ctx: _Context, existing: PhotoRecord | None, sha: str) -> Face | None:
    """The face another backbone already chose for this very content: detection does not depend on the
    backbone, so this saves a detection and keeps every backbone's sample on the same face. Another detector's
    face is not reused: its embeddings are kept apart precisely because its boxes differ."""
    from facerec.detectors import detector_of

    if existing is None or existing.sha256 != sha or existing.status not in ("ok", "multiple_faces"):
        return None
    stored = ctx.gallery.face(existing.id)
    return None if stored is None or detector_of(stored[2]) != detector_of(ctx.backbone) else stored[0]


def _record_failure(ctx: _Context, person: str, path: Path, sha: str | None, mtime: float | None, size: int | None,
                    status: str, note: str, faces: int | None = None) -> EnrollRow:
    # Recorded too (not just reported) so `facerec people` shows problem photos; no embedding.
    ctx.gallery.record_photo(person, path, sha or "", mtime, size, status, note, ctx.backbone)
    return EnrollRow(person, str(path), status, note, faces=faces)


# --------------------------------------------------------------------------- the folder


def enroll_folder(people_dir: str | Path, gallery: Gallery, pipeline: EnrollPipeline, progress: bool = True,
                  min_face_size: int = DEFAULT_MIN_FACE_SIZE) -> EnrollReport:
    """Bring the gallery in line with PEOPLE_DIR/<Name>/*; never stops on a bad photo."""
    people_dir = Path(people_dir).expanduser().resolve()
    if not is_utf8(str(people_dir)):
        raise FacerecError(f"{printable(str(people_dir))}: the path is not valid UTF-8; rename the folder")
    backbone = pipeline.embedding_id
    scan = scan_people(people_dir, gallery.path)
    refuse_empty_people_dir(gallery, people_dir, scan)
    aliases = follow_aliases(gallery, scan)
    photos = scan.photos
    report = EnrollReport(str(people_dir), backbone, aliases=aliases)
    report.rows += [EnrollRow(person, printable(str(path)), "skipped", why) for person, path, why in scan.skipped]
    report.rows += [EnrollRow(person, printable(str(path)), "unreadable", why + "; what was enrolled from it is kept")
                    for person, path, why in scan.unreadable]
    report.unreadable = [printable(str(path)) for _, path, _ in scan.unreadable]
    ctx = _Context(gallery, pipeline, backbone, min_face_size)
    from tqdm import tqdm

    bar = tqdm(photos, desc="enroll", unit="photo", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for person, path in bar:
        bar.set_postfix_str(person, refresh=False)
        report.rows.append(_enroll_photo(ctx, person, path))
    removed = _remove_missing(gallery, people_dir, {str(p) for _, p in photos}, scan, gallery_folders(gallery.path))
    report.rows += [EnrollRow(p.person, p.path, "removed", "no longer in the folder") for p in removed]
    # a person whose folder went is forgotten as `facerec forget` forgets: heads, caches, uploads, album faces
    report.removed_people = [r.name for r in forget_emptied_people(gallery, removed)]
    return report


def follow_aliases(gallery: Gallery, scan: PeopleScan) -> dict[str, str]:
    """A folder named after someone since renamed or merged (`facerec rename` / `merge`) is theirs under their name
    now: its photos go to that person instead of recreating the old one. Returns folder name -> person."""
    from facerec.gallery.people_decisions import alias_target

    aliases = {folder: target for folder in sorted(scan.people) if (target := alias_target(gallery, folder))}
    if aliases:
        scan.photos = [(aliases.get(person, person), path) for person, path in scan.photos]
        scan.people = {aliases.get(person, person) for person in scan.people}
        scan.skipped = [(aliases.get(person, person), path, why) for person, path, why in scan.skipped]
        scan.unreadable = [(aliases.get(person, person), path, why) for person, path, why in scan.unreadable]
    return aliases


def refuse_empty_people_dir(gallery: Gallery, people_dir: Path, scan: PeopleScan) -> None:
    """An empty PEOPLE_DIR is far more often an unmounted drive than a wish to forget everyone."""
    if scan.people or scan.unreadable or scan.skipped:
        return
    enrolled = {p.person for p in gallery.photos(source="folder") if Path(p.path).is_relative_to(people_dir)}
    if enrolled:
        raise ImageError(
            f"{people_dir} has no person folders, but {len(enrolled)} people were enrolled from it: is the drive "
            f"mounted? Nothing was removed; to remove people use `facerec forget NAME`")


def _remove_missing(gallery: Gallery, people_dir: Path, present: set[str], scan: PeopleScan,
                    own: set[Path]) -> list[PhotoRecord]:
    """Remove the photos enrolled from this folder that are gone; a photo under a folder that could not be read
    is kept, and so is one in the gallery's own folders (uploaded to `facerec serve`). The records removed."""
    removed = []
    for photo in gallery.photos(source="folder"):
        path = Path(photo.path)
        if (photo.path not in present and path.is_relative_to(people_dir) and not scan.protects(photo.path)
                and not any(_resolved(path).is_relative_to(folder) for folder in own)):
            gallery.remove_photo(photo.path)
            removed.append(photo)
    return removed


def forget(gallery: Gallery, name: str) -> bool:
    """Remove a person everywhere (gallery, the heads that name them, caches: facerec.gallery.forget); False if nobody
    has that name."""
    from facerec.gallery.forget import forget_person

    return forget_person(gallery, name) is not None


def list_people(gallery: Gallery, backbone: str | None = None) -> list[PersonSummary]:
    return gallery.people(backbone)
