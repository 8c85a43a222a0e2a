"""Enrollment from the face tags an album already carries (`facerec enroll --from-tags ALBUM_DIR`).

Every named face region under ALBUM_DIR (facerec.album.regions: sidecars, embedded XMP, .picasa.ini) is
one sample of that person. A region is a face by the user's word, so its embedding comes from, in order:

1. the face MTCNN detected in the photo that the region overlaps (facerec.album.region_names.match_regions);
2. a relaxed look inside the region: the region with a margin, searched as a photo that must hold a face
   (facerec.vision.second_look: padded, upscaled, relaxed thresholds), a face whose centre is in the region;
3. the region itself, aligned by the backbone inside its box (dlib: its 5-point predictor in the box).
   These embeddings are keyed as their own recipe (`<embedding id>+region`), so they never mix with
   embeddings of detected faces: matching, clustering and calibration use one recipe at a time.

Samples are gallery photos with the path ``<photo>#region:<name>`` (source 'folder'). Re-running is cheap:
a sample whose photo has the same content (SHA-256) and whose region has the same box is unchanged; a
changed photo or region is embedded again; a sample whose photo or region is gone is removed -- except
when the photo, its sidecar or its folder could not be read (then it is kept). Region problems (outside
the picture, zero size, an invalid name, a broken sidecar or .picasa.ini) are listed per photo.
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facerec.album.photos import read_photo_regions
from facerec.album.regions import PhotoRegions, RegionReader, TaggedRegion
from facerec.errors import FacerecError, ImageError
from facerec.gallery.enroll import DEFAULT_MIN_FACE_SIZE, EnrollReport, EnrollRow
from facerec.gallery.store import Gallery
from facerec.names import is_utf8, printable
from facerec.types import Face

REGION_RECIPE_SUFFIX = "+region"
SAMPLE_MARK = "#region:"
LOOK_MARGIN = 0.5  # of the region's size, on each side, for the relaxed look


def region_recipe(embedding_id: str) -> str:
    """The embedding id of faces aligned inside a region (no detector landmarks): a recipe of its own."""
    return embedding_id + REGION_RECIPE_SUFFIX


def sample_path(photo: Path, name: str) -> str:
    return f"{photo}{SAMPLE_MARK}{name}"


@dataclass
class TaggedPhoto:
    """One photo being enrolled from: its bytes, and its image and detected faces once needed."""

    path: Path
    data: bytes
    sha256: str
    stat: os.stat_result
    pipeline: Any
    _image: np.ndarray | None = None
    _faces: list[Face] | None = None

    def image(self) -> np.ndarray:
        if self._image is None:
            from facerec.vision.imageio import load_image

            self._image = load_image(self.data)
        return self._image

    def faces(self) -> list[Face]:
        if self._faces is None:
            self._faces = self.pipeline.detect(self.image())
        return self._faces


@dataclass
class _Run:
    gallery: Gallery
    pipeline: Any
    min_face_size: int
    report: EnrollReport
    present: set[str] = field(default_factory=set)  # sample paths seen this run
    protected: list[Path] = field(default_factory=list)  # photos/folders that could not be read: keep their samples


def enroll_from_tags(album_dir: str | Path, gallery: Gallery, pipeline: Any, *, progress: bool = True,
                     min_face_size: int = DEFAULT_MIN_FACE_SIZE,
                     picasa_contacts: str | Path | None = None) -> EnrollReport:
    """Bring the gallery in line with the named face regions under `album_dir`; never stops on a bad photo."""
    from facerec.album.photos import walk_album

    album = Path(album_dir).expanduser().resolve()
    if not album.is_dir():
        raise FacerecError(f"{album}: not a folder")
    if not is_utf8(str(album)):
        raise FacerecError(f"{printable(str(album))}: the path is not valid UTF-8; rename the folder")
    reader = RegionReader(picasa_contacts)
    photos, walk_problems = walk_album(album)
    run = _Run(gallery, pipeline, min_face_size, EnrollReport(str(album), pipeline.embedding_id))
    for path, why in walk_problems:
        run.protected.append(path)
        run.report.rows.append(EnrollRow("", printable(str(path)), "skipped", why))
    from tqdm import tqdm

    for photo in tqdm(photos, desc="enroll", unit="photo", file=sys.stderr, disable=not progress, dynamic_ncols=True):
        enroll_photo(run, photo, reader)
    run.report.rows.extend(remove_missing(run, album))
    run.report.removed_people = gallery.prune_empty_people()
    return run.report


def enroll_photo(run: _Run, path: Path, reader: RegionReader) -> None:
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError as e:
        run.protected.append(path)
        run.report.rows.append(EnrollRow("", printable(str(path)), "unreadable",
                                         f"cannot read file ({e.strerror or e}); what was enrolled from it is kept"))
        return
    regions = read_photo_regions(reader, path, data)
    if regions.problems:  # a region that could not be read may still be there: keep what came from this photo
        run.protected.append(path)
    run.report.rows += [EnrollRow("", printable(str(path)), "skipped", why) for why in regions.problems]
    photo = TaggedPhoto(path, data, hashlib.sha256(data).hexdigest(), st, run.pipeline)
    seen: set[str] = set()
    for region in regions.named:
        if region.name in seen:
            run.report.rows.append(EnrollRow(region.name, str(path), "skipped",
                                             "a second region with this name in the same photo; took the first"))
            continue
        seen.add(region.name)  # type: ignore[arg-type]
        run.report.rows.append(enroll_region(run, photo, region))


def enroll_region(run: _Run, photo: TaggedPhoto, region: TaggedRegion) -> EnrollRow:
    name = region.name or ""
    key = sample_path(photo.path, name)
    run.present.add(key)
    box = region.int_box()
    where = f"region {box[0]},{box[1]},{box[2]}x{box[3]} ({region.origin})"
    existing = run.gallery.photo(key)
    normal, own = run.pipeline.embedding_id, region_recipe(run.pipeline.embedding_id)
    if (existing is not None and existing.sha256 == photo.sha256 and existing.person == name and where in existing.note
            and (run.gallery.has_embedding(existing.id, normal) or run.gallery.has_embedding(existing.id, own))):
        return EnrollRow(name, key, "unchanged", existing.note)
    if min(box[2], box[3]) < run.min_face_size:
        return record(run, photo, name, key, "too_small", f"{where} is below the {run.min_face_size} px minimum")
    try:
        face, how, recipe, embedding = embed_region(run.pipeline, photo, region)
    except ImageError as e:
        return record(run, photo, name, key, "unreadable", str(e).replace("<bytes>: ", ""))
    note = f"{how}; {where}"
    run.gallery.record_photo(name, key, photo.sha256, photo.stat.st_mtime, photo.stat.st_size, "ok", note, recipe,
                             face, embedding)
    stale = own if recipe == normal else normal
    if run.gallery.has_embedding(run.gallery.photo(key).id, stale):  # type: ignore[union-attr]
        run.gallery.record_photo(name, key, photo.sha256, photo.stat.st_mtime, photo.stat.st_size, "ok", note, stale)
    status = "updated" if existing is not None and existing.status == "ok" else "ok"
    return EnrollRow(name, key, status, note, faces=len(photo.faces()))


def record(run: _Run, photo: TaggedPhoto, name: str, key: str, status: str, note: str) -> EnrollRow:
    run.gallery.record_photo(name, key, photo.sha256, photo.stat.st_mtime, photo.stat.st_size, status, note)
    return EnrollRow(name, key, status, note)


def embed_region(pipeline: Any, photo: TaggedPhoto, region: TaggedRegion) -> tuple[Face, str, str, np.ndarray]:
    """(face, how it was found, its recipe, its embedding) for one named region (see the module docstring)."""
    from facerec.album.region_names import match_regions

    image = photo.image()
    faces = photo.faces()
    matched = match_regions([f.box for f in faces], [region])
    if matched:
        face = faces[next(iter(matched))]
        return face, "matched a detected face", pipeline.embedding_id, pipeline.embed(image, [face])[0]
    face = relaxed_look(pipeline, image, region)
    if face is not None:
        return face, "found by a relaxed look inside the region", pipeline.embedding_id, pipeline.embed(image, [face])[0]
    chip, points = pipeline.backbone.align_in_box(image, region.int_box())
    embedding = pipeline.embed_chips(np.asarray(chip)[None])[0]
    return (Face(region.int_box(), 0.0, tuple(points)), "no face detected: aligned inside the region",
            region_recipe(pipeline.embedding_id), embedding)


def relaxed_look(pipeline: Any, image: np.ndarray, region: TaggedRegion) -> Face | None:
    """A face found in the region (with a margin) by the second look, whose centre lies in the region."""
    from facerec.album.region_names import contains_centre
    from facerec.recognition.pipeline import main_face
    from facerec.vision.second_look import detect_with_second_look, shift_face

    x, y, w, h = region.box
    height, width = image.shape[:2]
    x0, y0 = max(0, int(x - LOOK_MARGIN * w)), max(0, int(y - LOOK_MARGIN * h))
    x1, y1 = min(width, int(x + w + LOOK_MARGIN * w) + 1), min(height, int(y + h + LOOK_MARGIN * h) + 1)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    found = [shift_face(f, x0, y0, image.shape) for f in detect_with_second_look(pipeline.detector, crop)]
    inside = [f for f in found if contains_centre(region.box, f.box)]
    return main_face(inside, image.shape) if inside else None


def remove_missing(run: _Run, album: Path) -> list[EnrollRow]:
    """Samples enrolled from this album whose photo or region is gone (never one of a photo not read)."""
    rows = []
    for sample in run.gallery.photos(source="folder"):
        photo_path, mark, _ = sample.path.partition(SAMPLE_MARK)
        if not mark or sample.path in run.present or not Path(photo_path).is_relative_to(album):
            continue
        if any(Path(photo_path) == p or Path(photo_path).is_relative_to(p) for p in run.protected):
            continue
        run.gallery.remove_photo(sample.path)
        rows.append(EnrollRow(sample.person, sample.path, "removed", "the photo or its region is gone"))
    return rows


def tagged_regions(album_dir: str | Path, picasa_contacts: str | Path | None = None) -> list[tuple[Path, PhotoRegions]]:
    """Every photo under `album_dir` with its regions (facerec evaluate --tags)."""
    from facerec.album.photos import walk_album

    reader = RegionReader(picasa_contacts)
    photos, _ = walk_album(Path(album_dir))
    out = []
    for photo in photos:
        try:
            data = photo.read_bytes()
        except OSError as e:
            out.append((photo, PhotoRegions(problems=[f"cannot read file ({e.strerror or e})"])))
            continue
        out.append((photo, read_photo_regions(reader, photo, data)))
    return out
