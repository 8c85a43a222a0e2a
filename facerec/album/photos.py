"""The per-photo work of a tagging run (worker threads): walk the album, decide what each photo needs
(skip, re-identify, analyse) and decode, detect and align the ones to analyse."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facerec.errors import ImageError
from facerec.album.results import ANALYSED, FAILED, OK, REIDENTIFIED, SKIPPED
from facerec.vision.imageio import open_photo
from facerec.types import Face

log = logging.getLogger(__name__)


# Written into --annotate folders so that a later walk never tags facerec's own annotated copies.
OUTPUT_MARKER = ".facerec-output"


@dataclass
class Prepared:
    """What a worker thread hands the main thread for one photo."""

    path: Path
    key: str  # the gallery's media key: the absolute path
    mode: str  # ANALYSED, REIDENTIFIED, SKIPPED or FAILED
    sha256: str | None = None
    mtime: float | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    faces: list[Face] = field(default_factory=list)
    chips: np.ndarray | None = None
    image: np.ndarray | None = None  # kept only when annotating
    error: str = ""
    data: bytes | None = None  # the file's bytes, for a Ray task (analysed remotely)
    regions: Any = None  # facerec.album.regions.PhotoRegions: the face regions the photo already carries


@dataclass
class TagOptions:
    force: bool = False
    annotate_dir: Path | None = None
    xmp: bool = False
    xmp_naming: str = "darktable"
    xmp_unknown: bool = True  # unknown faces get regions without a name (facerec tag --xmp-named-only: False)
    batch_size: int = 32  # faces per backbone call
    max_pending_photos: int = 8  # photos waiting for a batch (bounds memory when annotating)
    region_reader: Any = None  # a facerec.album.regions.RegionReader; None: existing face regions are not read


def walk_album(root: str | Path, exclude: Iterable[str | Path] = (),
               confine: Sequence[Path] = ()) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files under `root` (sorted, depth first) and what was skipped or could not be read, with why.

    confine: resolved folders the walk may not leave (the server's --album-root): a symbolic link to a photo or
    folder elsewhere is not followed, and is listed with why."""
    from facerec.files.walk import walk_images

    problems: list[tuple[Path, str]] = []

    def skip_folder(folder: Path, entries: list[os.DirEntry]) -> bool:
        if confine and not _inside(folder, confine):
            problems.append((folder, OUTSIDE_ROOTS))
            return True
        return is_output_folder(folder, entries)

    walked = walk_images(root, exclude, skip_folder=skip_folder)
    photos = walked.photos
    if confine:
        problems += [(p, OUTSIDE_ROOTS) for p in photos if not _inside(p, confine)]
        photos = [p for p in photos if _inside(p, confine)]
    return photos, walked.problems + problems


OUTSIDE_ROOTS = "a symbolic link to outside the folders this server may tag (--album-root): not followed"


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        return False
    return any(real == f or real.is_relative_to(f) for f in folders)


def is_output_folder(folder: Path, entries: list[os.DirEntry]) -> bool:
    if any(e.name == OUTPUT_MARKER for e in entries):
        log.info("skipping %s: facerec output folder", folder)
        return True
    return False


def media_key(path: Path) -> str:
    """The gallery's key for a photo: absolute and normalised, symlinks not resolved (the path the user sees)."""
    return os.path.abspath(path)


def relative_name(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def displayed_size(path: Path | bytes, suffix: str = "") -> tuple[int, int]:
    """(width, height) of the image as displayed (orientation applied), from the header only."""
    return open_photo(path, suffix=suffix).size


# What the stored scores mean: photos tagged before the score became the match confidence (1 - distance or a
# class probability then) are re-identified from their stored embeddings once, so no output mixes the scales.
SCORE_SCALE = "score=match_confidence;"


def decision_key(matcher: Any) -> str:
    """What decides the names besides the enrolled set: the matcher's kind and settings, threshold included.

    Stored with each tagged photo; a later run whose key differs (`tag --threshold` changed, another
    matcher) re-identifies the photo from its stored embeddings. A matcher may define its own
    `decision_key()`; scikit-learn style matchers are described by their parameters and fitted threshold.
    """
    if matcher is None:
        return "nobody enrolled"
    own = getattr(matcher, "decision_key", None)
    if callable(own):
        return SCORE_SCALE + str(own())
    params = dict(matcher.get_params()) if hasattr(matcher, "get_params") else {}
    params["threshold"] = getattr(matcher, "threshold_", params.get("threshold"))  # None resolved per backbone
    return SCORE_SCALE + type(matcher).__name__ + json.dumps(params, sort_keys=True, default=str)


def decide(record: Any, sha256: str, embedding: str, version: int, force: bool, decision: str | None = None) -> str:
    """ANALYSED, REIDENTIFIED or SKIPPED for a photo whose gallery record is `record` (or None).

    `version` is the gallery's version and `decision` the run's decision_key: the stored names are
    reused only when both are those they were given under."""
    if force or record is None or record.sha256 != sha256 or record.backbone != embedding:
        return ANALYSED
    if record.status != OK:
        return SKIPPED  # same bytes: still no face / still unreadable; identities do not matter
    return SKIPPED if (record.gallery_version, record.decision) == (version, decision) else REIDENTIFIED


def read_photo_regions(reader: Any, path: Path, data: bytes) -> Any:
    """The photo's face regions; whatever goes wrong reading them is a problem line, never the end of the run."""
    from facerec.album.regions import PhotoRegions

    try:
        return reader.read(path, data)
    except Exception as e:  # noqa: BLE001 - one odd sidecar must not end an album run
        log.warning("%s: reading its face regions failed", path, exc_info=True)
        return PhotoRegions(problems=[f"cannot read its face regions ({e})"])


def prepare_photo(path: Path, record: Any, pipeline: Any, version: int, options: TagOptions,
                  annotated_exists: Callable[[Path], bool], remote: bool = False,
                  decision: str | None = None) -> Prepared:
    """Read, hash, and (when needed) decode + detect + align one photo. Runs in a worker thread.

    `remote`: a photo to analyse keeps its bytes for a Ray task instead (decoded here only when annotating).
    """
    key = media_key(path)
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError as e:
        return Prepared(path, key, FAILED, error=f"cannot read file: {e.strerror or e}")
    sha = hashlib.sha256(data).hexdigest()
    prepared = Prepared(path, key, decide(record, sha, pipeline.embedding_id, version, options.force, decision),
                        sha256=sha, mtime=st.st_mtime, size=st.st_size)
    if options.region_reader is not None:  # read on every run: tags can change in a sidecar, not in the photo
        prepared.regions = read_photo_regions(options.region_reader, path, data)
    if prepared.mode == ANALYSED and remote and options.annotate_dir is None:
        prepared.data = data
        return prepared
    if prepared.mode != ANALYSED:
        needs_image = options.annotate_dir is not None and record.status == OK and (
            prepared.mode == REIDENTIFIED or not annotated_exists(path))
        if not needs_image:
            if options.xmp and record.status == OK:
                try:
                    prepared.width, prepared.height = displayed_size(data, path.suffix)
                except Exception as e:  # noqa: BLE001 - the size only matters for the sidecar
                    log.warning("%s: cannot read the image size for its sidecar (%s)", path, e)
            return prepared
    try:
        photo = open_photo(data, suffix=path.suffix)
        prepared.width, prepared.height = photo.size
        if options.annotate_dir is not None:
            prepared.image = photo.decode(1.0)[0]
    except ImageError as e:
        prepared.mode, prepared.error = FAILED, str(e).replace("<bytes>: ", "")
        return prepared
    if prepared.mode == ANALYSED and remote:
        prepared.data = data
    elif prepared.mode == ANALYSED:
        try:
            prepared.faces, prepared.chips = detect_and_align(pipeline, photo)
        except ImageError as e:  # the header was fine, the pixels are not (a truncated file)
            prepared.mode, prepared.error, prepared.image = FAILED, str(e).replace("<bytes>: ", ""), None
        except Exception as e:  # noqa: BLE001 - one odd photo must not end an album run
            log.warning("%s: detection failed", path, exc_info=True)
            prepared.mode, prepared.error, prepared.faces, prepared.image = FAILED, f"detection failed: {e}", [], None
    return prepared


def detect_and_align(pipeline: Any, photo: Any) -> tuple[list[Face], np.ndarray]:
    """Faces and chips of a photo: decoded at the scales detection and chips need (FacePipeline.detect_photo),
    or whole for a pipeline that only has detect + align."""
    detect_photo = getattr(pipeline, "detect_photo", None)
    if detect_photo is not None:
        return detect_photo(photo)
    image = photo.decode(1.0)[0]
    faces = pipeline.detect(image)
    return faces, pipeline.align(image, faces)
