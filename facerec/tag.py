"""Batch photo tagging: find and name every face in an album, remember it, and write it out.

`tag_album` walks ALBUM_DIR, and for each photo:

1. reads the file once, hashes it (sha256) and looks it up in the gallery's `media` table:
   - same sha256, backbone, gallery version and decision (matcher + threshold, `decision_key`) as last
     time -> **skipped** (nothing decoded);
   - same sha256 and backbone, but people were enrolled / forgotten / named since, or another matcher or
     threshold decides -> **re-identified** from the stored embeddings (no detection, no embedding);
   - otherwise (new or changed file, other backbone, `force`) -> **analysed**;
2. analysed photos are decoded, detected (MTCNN) and aligned in a thread pool, and embedded in
   batches in the main thread while the pool works on the next photos. At most a few photos are in
   flight, so memory stays flat however big the album is. With `ray=RayCluster(...)` (`facerec tag
   --ray`) decode + detect + embed run as Ray tasks instead (facerec.distributed.analyse_photo), and
   everything else below stays here, so the results are those of a local run;
3. every face is identified with the matcher (fitted from the gallery) and the photo is recorded in
   the gallery (media + detections: box, landmarks, embedding, predicted name and score), which is
   what `facerec clusters` groups and `facerec name` enrolls from.

Outputs cover the whole album on every run, skipped photos included (their faces are read back
from the gallery), so a CSV/JSONL is always complete rather than a diff:

- CSV and JSONL: one row per face: path (relative to the album), face_index, x, y, w, h, name,
  score, confidence. Photos without faces have no row; they are in the summary.
- `annotate_dir`: a copy of each photo with boxes and names, mirroring the album's folders
  (written for analysed and re-identified photos, and for skipped ones whose copy is missing).
- XMP sidecars (facerec.xmp): merged on every run; unchanged content is not rewritten.

Bad photos (unreadable, corrupt, truncated, too large, no face) never stop the run: they are counted
in the summary with the reason. Originals are only ever opened for reading.

Walking (facerec.walk): extensions are matched case-insensitively (facerec.imageio.IMAGE_EXTENSIONS);
hidden files and folders (".name") and the output folders are skipped (also in later runs: an --annotate
folder holds a ".facerec-output" marker file); symlinks are followed, but each real
folder is entered once (tracked by (st_dev, st_ino)), so a link loop cannot hang the walk. What the
walk cannot use (.gif/.heic/.avif, broken links, named pipes, names that are not UTF-8, folders that
cannot be listed) is listed in the summary's problems. No output may replace a photo (facerec.outputs).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facerec.fileio import atomic_write_text, csv_cell
from facerec.outputs import OutputRefused, input_set, refuse_input
from facerec.xmp import shared_sidecar_photos
from facerec.errors import FacerecError, ImageError
from facerec.imageio import load_image
from facerec.match import one_name_per_photo
from facerec.names import is_utf8, printable
from facerec.types import UNKNOWN, Face, Identity

log = logging.getLogger(__name__)

# Written into --annotate folders so that a later walk never tags facerec's own annotated copies.
OUTPUT_MARKER = ".facerec-output"
OUTPUT_FIELDS = ("path", "face_index", "x", "y", "w", "h", "name", "score", "confidence")
# Media statuses stored in the gallery.
OK, NO_FACE, UNREADABLE = "ok", "no_face", "unreadable"
# What happened to a photo in this run.
ANALYSED, REIDENTIFIED, SKIPPED, FAILED = "analysed", "reidentified", "skipped", "failed"


# --------------------------------------------------------------------------- results


@dataclass
class FaceTag:
    face_index: int
    face: Face
    name: str
    score: float | None

    def row(self, rel_path: str) -> dict[str, Any]:
        x, y, w, h = (int(v) for v in self.face.box)
        return {"path": rel_path, "face_index": self.face_index, "x": x, "y": y, "w": w, "h": h, "name": self.name,
                "score": None if self.score is None else round(float(self.score), 4),
                "confidence": round(float(self.face.confidence), 4)}


@dataclass
class PhotoResult:
    path: Path
    rel_path: str
    outcome: str  # ANALYSED, REIDENTIFIED, SKIPPED or FAILED
    status: str  # OK, NO_FACE or UNREADABLE (the gallery's media status)
    note: str = ""
    width: int | None = None
    height: int | None = None
    faces: list[FaceTag] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.rel_path, "outcome": self.outcome, "status": self.status, "note": self.note,
                "width": self.width, "height": self.height, "faces": [f.row(self.rel_path) for f in self.faces]}


@dataclass
class TagSummary:
    album: str
    photos: int = 0  # image files found
    analysed: int = 0  # decoded + detected this run
    reidentified: int = 0  # names refreshed from stored embeddings
    skipped: int = 0  # unchanged since the last run
    failed: int = 0  # tried this run and could not be read / decoded
    unreadable: int = 0  # could not be read: this run, or an unchanged file that failed before
    no_face: int = 0  # readable, but no face found
    faces: int = 0
    named: int = 0
    unknown: int = 0
    detection_calls: int = 0
    seconds: float = 0.0
    problems: list[dict[str, str]] = field(default_factory=list)  # {"path", "kind", "reason"}
    output_errors: int = 0  # outputs asked for (sidecars) that could not be written
    people: dict[str, int] = field(default_factory=dict)  # name -> faces
    outputs: dict[str, Any] = field(default_factory=dict)
    results: list[PhotoResult] = field(default_factory=list)

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.seconds if self.seconds > 0 else 0.0

    @property
    def readable(self) -> int:
        return self.photos - self.unreadable

    def to_dict(self, with_photos: bool = True) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "results"}
        d["seconds"] = round(self.seconds, 3)
        d["photos_per_second"] = round(self.photos_per_second, 3)
        if with_photos:
            d["results"] = [r.to_dict() for r in self.results]
        return d


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


@dataclass
class TagOptions:
    force: bool = False
    annotate_dir: Path | None = None
    xmp: bool = False
    xmp_naming: str = "darktable"
    xmp_unknown: bool = False
    batch_size: int = 32  # faces per backbone call
    max_pending_photos: int = 8  # photos waiting for a batch (bounds memory when annotating)


# --------------------------------------------------------------------------- walking


def walk_album(root: str | Path, exclude: Iterable[str | Path] = ()) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files under `root` (sorted, depth first) and what was skipped or could not be read, with why."""
    from facerec.walk import walk_images

    walked = walk_images(root, exclude, skip_folder=is_output_folder)
    return walked.photos, walked.problems


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


# --------------------------------------------------------------------------- per-photo work (worker threads)


def displayed_size(path: Path | bytes) -> tuple[int, int]:
    """(width, height) of the image as displayed (EXIF orientation applied), from the header only."""
    from PIL import Image

    with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as im:
        width, height = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


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
        return str(own())
    params = dict(matcher.get_params()) if hasattr(matcher, "get_params") else {}
    params["threshold"] = getattr(matcher, "threshold_", params.get("threshold"))  # None resolved per backbone
    return type(matcher).__name__ + json.dumps(params, sort_keys=True, default=str)


def decide(record: Any, sha256: str, backbone: str, version: int, force: bool, decision: str | None = None) -> str:
    """ANALYSED, REIDENTIFIED or SKIPPED for a photo whose gallery record is `record` (or None).

    `version` is the gallery's version and `decision` the run's decision_key: the stored names are
    reused only when both are those they were given under."""
    if force or record is None or record.sha256 != sha256 or record.backbone != backbone:
        return ANALYSED
    if record.status != OK:
        return SKIPPED  # same bytes: still no face / still unreadable; identities do not matter
    return SKIPPED if (record.gallery_version, record.decision) == (version, decision) else REIDENTIFIED


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
    if prepared.mode == ANALYSED and remote and options.annotate_dir is None:
        prepared.data = data
        return prepared
    if prepared.mode != ANALYSED:
        needs_image = options.annotate_dir is not None and record.status == OK and (
            prepared.mode == REIDENTIFIED or not annotated_exists(path))
        if not needs_image:
            if options.xmp and record.status == OK:
                try:
                    prepared.width, prepared.height = displayed_size(data)
                except Exception as e:  # noqa: BLE001 - the size only matters for the sidecar
                    log.warning("%s: cannot read the image size for its sidecar (%s)", path, e)
            return prepared
    try:
        image = load_image(data)
    except ImageError as e:
        prepared.mode, prepared.error = FAILED, str(e).replace("<bytes>: ", "")
        return prepared
    prepared.height, prepared.width = image.shape[:2]
    if options.annotate_dir is not None:
        prepared.image = image
    if prepared.mode == ANALYSED and remote:
        prepared.data = data
    elif prepared.mode == ANALYSED:
        try:
            prepared.faces = pipeline.detect(image)
            prepared.chips = pipeline.align(image, prepared.faces)
        except Exception as e:  # noqa: BLE001 - one odd photo must not end an album run
            log.warning("%s: detection failed", path, exc_info=True)
            prepared.mode, prepared.error, prepared.faces, prepared.image = FAILED, f"detection failed: {e}", [], None
    return prepared


# --------------------------------------------------------------------------- the album run


class _AlbumTagger:
    """One `tag_album` run: the main-thread side (embedding, identification, gallery, outputs)."""

    def __init__(self, root: Path, gallery: Any, pipeline: Any, matcher: Any, options: TagOptions):
        self.root, self.gallery, self.pipeline, self.matcher, self.options = root, gallery, pipeline, matcher, options
        self.backbone = pipeline.embedding_id
        self.version = gallery.version()
        self.decision = decision_key(matcher)
        self.summary = TagSummary(album=str(root))
        self.pending: list[Prepared] = []
        self.inputs: frozenset[str] = frozenset()  # real paths of the photos: no output may replace one
        self.shared_sidecars: set[Path] = set()  # photos whose lightroom-style sidecar another photo shares
        self.embedding: Any = None  # a facerec.embed_process.EmbeddingProcess, when embedding runs beside detection
        self.in_flight: list[Prepared] = []  # photos whose faces the embedding process is working on

    # ---- identification

    def identify(self, X: np.ndarray) -> list[Identity]:
        if len(X) == 0:
            return []
        if self.matcher is None:
            return [Identity(UNKNOWN, 0.0) for _ in range(len(X))]
        return one_name_per_photo(self.matcher.predict_identities(X))  # X: the faces of one photo

    # ---- per photo

    def accept(self, prepared: Prepared) -> None:
        if prepared.mode == ANALYSED and prepared.faces:
            self.pending.append(prepared)
            if (sum(len(p.faces) for p in self.pending) >= self.options.batch_size
                    or len(self.pending) >= self.options.max_pending_photos):
                self.flush()
        elif prepared.mode == ANALYSED:
            self.summary.detection_calls += 1
            self.record(prepared, [], np.zeros((0, 0), np.float32), [])
        elif prepared.mode == REIDENTIFIED:
            self.reidentify(prepared)
        elif prepared.mode == SKIPPED:
            self.finish(prepared, SKIPPED, *self.stored(prepared))
        else:
            self.fail(prepared)

    def accept_remote(self, prepared: Prepared, result: dict) -> None:
        """Identify and record a photo analysed by a Ray task (facerec.distributed.analyse_photo)."""
        from facerec.distributed import faces_of

        prepared.width, prepared.height = result["width"], result["height"]
        if result["status"] == UNREADABLE:
            prepared.mode, prepared.error, prepared.image = FAILED, result["note"], None
            self.fail(prepared)
            return
        self.summary.detection_calls += 1
        X = result["embeddings"]
        self.record(prepared, faces_of(result), X, self.identify(X))

    def flush(self, wait: bool = False) -> None:
        """Embed the faces of all pending photos in one backbone call, then identify and record them.

        With an embedding process the batch is sent off and recorded when it comes back (the previous
        batch is collected first), so decoding and detection go on meanwhile; `wait` collects everything.
        """
        batch, self.pending = self.pending, []
        if batch and self.embedding is None:
            self.record_batch(batch, self.pipeline.embed_chips(np.concatenate([p.chips for p in batch])))
        elif batch:
            self.collect()
            self.embedding.submit(np.concatenate([p.chips for p in batch]))
            self.in_flight = batch
        if wait:
            self.collect()

    def collect(self) -> None:
        if self.in_flight:
            batch, X = self.in_flight, self.embedding.collect()
            self.in_flight = []
            self.record_batch(batch, X)

    def record_batch(self, batch: list[Prepared], X: np.ndarray) -> None:
        start = 0
        for p in batch:
            n = len(p.faces)
            vectors = X[start:start + n]
            start += n
            self.summary.detection_calls += 1
            self.record(p, p.faces, vectors, self.identify(vectors))

    def record(self, p: Prepared, faces: Sequence[Face], X: np.ndarray, identities: Sequence[Identity]) -> None:
        status = OK if faces else NO_FACE
        note = "" if faces else "no face found"
        detections = [
            {"face_index": i, "face": f, "embedding": v, "predicted_name": ident.name, "score": float(ident.score)}
            for i, (f, v, ident) in enumerate(zip(faces, X, identities))
        ]
        self.gallery.record_media(p.key, p.sha256, p.mtime, p.size, self.backbone, self.version, status, note,
                                  detections, decision=self.decision)
        tags = [FaceTag(i, f, ident.name, float(ident.score)) for i, (f, ident) in enumerate(zip(faces, identities))]
        self.finish(p, ANALYSED, status, note, tags)

    def reidentify(self, p: Prepared) -> None:
        stored = self.gallery.detections(p.key)
        stored = [d for d in stored if d.backbone == self.backbone]
        X = np.stack([d.embedding for d in stored]) if stored else np.zeros((0, 0), np.float32)
        identities = self.identify(X)
        detections = [
            {"face_index": d.face_index, "face": d.face, "embedding": d.embedding,
             "predicted_name": ident.name, "score": float(ident.score)}
            for d, ident in zip(stored, identities)
        ]
        record = self.gallery.media_record(p.key)
        self.gallery.record_media(p.key, p.sha256, p.mtime, p.size, self.backbone, self.version, OK,
                                  record.note if record else "", detections, decision=self.decision)
        tags = [FaceTag(d.face_index, d.face, d.assigned_person or ident.name, float(ident.score))
                for d, ident in zip(stored, identities)]
        self.finish(p, REIDENTIFIED, OK, "", tags)

    def stored(self, p: Prepared) -> tuple[str, str, list[FaceTag]]:
        """Status, note and faces of a skipped photo, as the gallery has them."""
        record = self.gallery.media_record(p.key)
        if record is None or record.status != OK:
            return (record.status, record.note, []) if record else (NO_FACE, "", [])
        tags = [FaceTag(d.face_index, d.face, d.assigned_person or d.predicted_name or UNKNOWN, d.score)
                for d in self.gallery.detections(p.key) if d.backbone == self.backbone]
        return OK, record.note, tags

    def fail(self, p: Prepared) -> None:
        if p.sha256 is not None:  # remember it, so an unchanged bad file is not decoded again next run
            self.gallery.record_media(p.key, p.sha256, p.mtime, p.size, self.backbone, self.version, UNREADABLE,
                                      p.error, [], decision=self.decision)
        self.finish(p, FAILED, UNREADABLE, p.error, [])

    def finish(self, p: Prepared, outcome: str, status: str, note: str, tags: list[FaceTag]) -> None:
        result = PhotoResult(p.path, relative_name(p.path, self.root), outcome, status, note, p.width, p.height, tags)
        self.summary.results.append(result)
        self.count(result)
        if status == OK:
            self.write_photo_outputs(result, p)
        p.image = p.chips = None  # free memory early

    def count(self, r: PhotoResult) -> None:
        s = self.summary
        setattr(s, r.outcome, getattr(s, r.outcome) + 1)
        if r.status == UNREADABLE:
            s.unreadable += 1
            s.problems.append({"path": r.rel_path, "kind": UNREADABLE, "reason": r.note})
        elif r.status == NO_FACE:
            s.no_face += 1
            s.problems.append({"path": r.rel_path, "kind": NO_FACE, "reason": r.note or "no face found"})
        for tag in r.faces:
            s.faces += 1
            if tag.name == UNKNOWN:
                s.unknown += 1
            else:
                s.named += 1
                s.people[tag.name] = s.people.get(tag.name, 0) + 1

    # ---- outputs per photo

    def annotated_path(self, path: Path) -> Path:
        from facerec.annotate import WRITE_EXTENSIONS

        target = self.options.annotate_dir / relative_name(path, self.root)
        return target if target.suffix.lower() in WRITE_EXTENSIONS else target.with_suffix(".jpg")

    def write_photo_outputs(self, r: PhotoResult, p: Prepared) -> None:
        if self.options.annotate_dir is not None and p.image is not None:
            from facerec.annotate import draw_faces, face_label, save_image

            labels = [face_label(t.name, t.score) for t in r.faces]
            target = self.annotated_path(p.path)
            try:
                refuse_input(target, self.inputs)
            except OutputRefused as e:
                self.summary.problems.append({"path": r.rel_path, "kind": "annotate", "reason": str(e)})
            else:
                save_image(target, draw_faces(p.image, [t.face for t in r.faces], labels))
        if self.options.xmp and r.width and r.height:
            self.write_xmp(r)

    def write_xmp(self, r: PhotoResult) -> None:
        from facerec.xmp import FaceRegion, XmpError, write_sidecars

        regions = [FaceRegion(tuple(t.face.box), None if t.name == UNKNOWN else t.name, t.score) for t in r.faces]
        naming = self.options.xmp_naming
        if r.path in self.shared_sidecars:  # a.jpg and a.png would overwrite each other's a.xmp
            naming = "darktable"
            self.summary.problems.append({"path": r.rel_path, "kind": "xmp", "reason": (
                "another photo in this folder has the same name before the extension, so both would share "
                f"{r.path.with_suffix('.xmp').name}; wrote {r.path.name}.xmp instead")})
        try:
            # r.width/height are those of the EXIF-rotated image, the frame MWG regions are relative to.
            written = write_sidecars(r.path, regions, r.width, r.height, naming=naming,
                                     include_unknown=self.options.xmp_unknown)
            self.summary.outputs["xmp_files"] = self.summary.outputs.get("xmp_files", 0) + len(written)
        except XmpError as e:  # a sidecar we must not overwrite: a problem with this photo, the run goes on
            log.warning("%s", e)
            self.summary.problems.append({"path": r.rel_path, "kind": "xmp", "reason": str(e)})
        except OSError as e:  # disk full, no permission: the sidecar asked for is missing, an error at the end
            self.summary.output_errors += 1
            self.summary.problems.append({"path": r.rel_path, "kind": "xmp",
                                          "reason": f"cannot write its sidecar: {e.strerror or e}"})


def tag_album(
    album_dir: str | Path,
    gallery: Any,
    pipeline: Any,
    *,
    matcher: Any = None,
    workers: int | None = None,
    force: bool = False,
    csv_path: str | Path | None = None,
    jsonl_path: str | Path | None = None,
    annotate_dir: str | Path | None = None,
    xmp: bool = False,
    xmp_naming: str = "darktable",
    xmp_unknown: bool = False,
    progress: bool = False,
    batch_size: int = 32,
    embed_in_process: bool | None = None,
    ray: RayCluster | None = None,
) -> TagSummary:
    """Tag every photo under `album_dir` (see the module docstring); returns the run's summary.

    gallery: an open facerec.gallery.Gallery (used from this thread only).
    pipeline: a facerec.pipeline.FacePipeline (detector + backbone).
    matcher: anything with predict_identities(X) -> list[Identity]; None = every face is unknown
             (`matcher_for_album` builds the usual one from the gallery).
    embed_in_process: run the backbone in a child process beside decode + detect (facerec.embed_process);
             None = when the backbone holds the GIL (dlib's own engine: without the `onnx` extra, or
             FACEREC_DLIB_ENGINE=dlib) and the album has EMBED_PROCESS_MIN_PHOTOS photos.
    ray: run decode + detect + embed of the photos to analyse as Ray tasks (facerec.distributed); reading,
             hashing, skipping, identification, the gallery and the outputs stay here, as in a local run.
    """
    root = Path(album_dir)
    if not root.is_dir():
        raise FacerecError(f"{root}: not a folder")
    if not is_utf8(os.path.abspath(root)):
        raise FacerecError(f"{printable(str(root))}: the album's path is not valid UTF-8; rename the folder")
    options = TagOptions(force=force, annotate_dir=Path(annotate_dir) if annotate_dir else None, xmp=xmp,
                         xmp_naming=xmp_naming, xmp_unknown=xmp_unknown, batch_size=max(1, batch_size))
    check_output_options(root, options, csv_path, jsonl_path)
    if options.annotate_dir is not None:
        options.annotate_dir.mkdir(parents=True, exist_ok=True)
        (options.annotate_dir / OUTPUT_MARKER).write_text("annotated copies written by `facerec tag`\n")
    if xmp:
        from facerec.xmp import sidecar_paths

        sidecar_paths(root / "x.jpg", xmp_naming)  # validates the naming before any work
    from facerec.memory import return_big_blocks_to_the_system

    return_big_blocks_to_the_system()  # decoded photos must not pile up in malloc's heaps (flat memory)
    started = time.perf_counter()
    photos, walk_problems = walk_album(root, exclude=[options.annotate_dir] if options.annotate_dir else [])
    tagger = _AlbumTagger(root, gallery, pipeline, matcher, options)
    tagger.inputs = input_set(photos)
    for report in (csv_path, jsonl_path):
        if report:
            refuse_input(report, tagger.inputs)
    tagger.shared_sidecars = shared_sidecar_photos(photos, xmp_naming) if xmp else set()
    tagger.summary.photos = len(photos)
    for path, reason in walk_problems:
        tagger.summary.problems.append({"path": printable(relative_name(path, root)), "kind": "walk", "reason": reason})
    records = {media_key(p): gallery.media_record(media_key(p)) for p in photos}  # SQLite stays in this thread

    def annotated_exists(path: Path) -> bool:
        return tagger.annotated_path(path).exists()

    def work(path: Path) -> Prepared:
        return prepare_photo(path, records[media_key(path)], pipeline, tagger.version, options, annotated_exists,
                             remote=ray is not None, decision=tagger.decision)

    bar = progress_bar(len(photos), progress)
    if ray is not None:
        try:
            tag_on_ray(tagger, run_in_pool(work, photos, workers or default_workers()), ray, bar)
        finally:
            bar.close()
        return finish_run(tagger.summary, options, csv_path, jsonl_path, started)
    tagger.embedding = start_embedding_process(pipeline, len(photos), embed_in_process)
    try:
        for prepared in run_in_pool(work, photos, workers or default_workers()):
            tagger.accept(prepared)
            bar.update(1)
            bar.set_postfix(faces=tagger.summary.faces + sum(len(p.faces) for p in tagger.pending + tagger.in_flight),
                            skipped=tagger.summary.skipped, refresh=False)
        tagger.flush(wait=True)
    finally:
        bar.close()
        if tagger.embedding is not None:
            tagger.embedding.close()
    return finish_run(tagger.summary, options, csv_path, jsonl_path, started)


def finish_run(summary: TagSummary, options: TagOptions, csv_path: str | Path | None,
               jsonl_path: str | Path | None, started: float) -> TagSummary:
    """Sort the results and write the album-wide outputs."""
    summary.results.sort(key=lambda r: r.rel_path)
    summary.problems.sort(key=lambda d: d["path"])
    if csv_path:
        write_csv(csv_path, summary.results)
        summary.outputs["csv"] = str(csv_path)
    if jsonl_path:
        write_jsonl(jsonl_path, summary.results)
        summary.outputs["jsonl"] = str(jsonl_path)
    if options.annotate_dir is not None:
        summary.outputs["annotated"] = str(options.annotate_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def check_output_options(root: Path, options: TagOptions, csv_path: str | Path | None,
                         jsonl_path: str | Path | None) -> None:
    """Before anything is written: no output may replace a photo (see facerec.outputs)."""
    from facerec.outputs import check_copies_folder, check_report_path

    if options.annotate_dir is not None:
        check_copies_folder(options.annotate_dir, root, OUTPUT_MARKER)
    for option, report in (("--csv", csv_path), ("--jsonl", jsonl_path)):
        if report:
            check_report_path(report, option)


@dataclass(frozen=True)
class RayCluster:
    """Where `tag_album(ray=...)` runs its per-photo work: a cluster address, or None for a local cluster
    with `num_cpus` CPUs (None: all of this machine's). An already initialised Ray is used as it is."""

    address: str | None = None
    num_cpus: int | None = None


def tag_on_ray(tagger: _AlbumTagger, prepared_photos: Iterable[Prepared], cluster: RayCluster, bar: Any) -> None:
    """Photos to analyse go to Ray tasks; the others, and the tasks' results, are accepted here as they come."""
    from facerec.distributed import RayRunner, WorkerSpec

    runner = RayRunner(WorkerSpec.of(tagger.pipeline), cluster.address, cluster.num_cpus)

    def accept_finished(block: bool) -> None:
        for prepared, result in runner.finished(block):
            tagger.accept_remote(prepared, result)
            bar.update(1)

    try:
        for prepared in prepared_photos:
            if prepared.data is None:
                tagger.accept(prepared)
                bar.update(1)
            else:
                while runner.full():
                    accept_finished(block=True)
                runner.submit(prepared, prepared.data)
                prepared.data = None
            accept_finished(block=False)
            bar.set_postfix(faces=tagger.summary.faces, skipped=tagger.summary.skipped, refresh=False)
        while runner.pending:
            accept_finished(block=True)
    finally:
        runner.close()


EMBED_PROCESS_MIN_PHOTOS = 8  # below this, starting a second interpreter costs more than it saves


def start_embedding_process(pipeline: Any, photos: int, wanted: bool | None) -> Any:
    """An EmbeddingProcess for this run, or None to embed in the main thread."""
    from facerec.embed_process import EmbeddingProcess, holds_the_gil

    if wanted is None:
        wanted = holds_the_gil(pipeline) and photos >= EMBED_PROCESS_MIN_PHOTOS
    if not wanted:
        return None
    try:
        return EmbeddingProcess(pipeline.backbone.name, flip=bool(getattr(pipeline, "flip", False)),
                                dlib_engine=getattr(pipeline.backbone, "engine", None))
    except (OSError, RuntimeError) as e:  # e.g. no process spawning allowed here: embed in this thread
        log.warning("embedding in the main thread (no child process: %s)", e)
        return None


def run_in_pool(work: Callable[[Path], Prepared], items: Sequence[Path], workers: int) -> Iterator[Prepared]:
    """work(item) for every item in a thread pool, results in input order, at most ~2 x workers in flight."""
    in_flight: deque[Future] = deque()
    limit = max(2, 2 * workers)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="facerec-tag") as pool:
        try:
            for item in items:
                in_flight.append(pool.submit(work, item))
                if len(in_flight) >= limit:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:
            for f in in_flight:  # on error or Ctrl-C: do not start what was queued
                f.cancel()


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", desc="tagging", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def matcher_for_album(gallery: Any, backbone: str, threshold: float | None = None, kind: str = "nn") -> Any:
    """The `kind` matcher (nn, svm, logreg, head) over everyone enrolled for `backbone` (an embedding id), or
    None when nobody is.

    With nobody enrolled `tag` still runs: every face is recorded as unknown, ready for `facerec clusters`.
    A head fine-tuned with its base network is refused: the album's stored embeddings come from the
    backbone itself, which that head cannot name.
    """
    from facerec.match import make_matcher, matcher_from_gallery

    if kind == "head":
        head = matcher_from_gallery(gallery, "head", backbone)
        if getattr(head, "fine_tuned", False):
            raise FacerecError("a head fine-tuned with its base network cannot name the album's stored embeddings;"
                               " tag with --matcher nn, svm or logreg, or train a head without --fine-tune-blocks")
        return head
    X, names, _ = gallery.embeddings(backbone)
    if len(X) == 0:
        log.warning("nobody is enrolled for backbone %s: every face will be 'unknown'", backbone)
        return None
    return make_matcher(kind, backbone=backbone, threshold=threshold).fit(X, names)


def configure_threads(workers: int) -> None:
    """TensorFlow thread pools for a run with `workers` decode/detect threads.

    MTCNN calls are serialised by the detector's lock, so one call at a time may use every core
    (intra-op); inter-op parallelism buys nothing for MTCNN's small graphs and only oversubscribes
    the CPU the decode threads and dlib also need. Set through TensorFlow's environment variables so
    that a run with nothing to detect never pays for importing TensorFlow; explicit user settings win.
    """
    intra, inter = str(os.cpu_count() or 1), str(min(2, max(1, workers)))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", intra)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", inter)
    tf = sys.modules.get("tensorflow")
    if tf is not None:  # already imported (tests, notebooks): the variables may be read already
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["TF_NUM_INTRAOP_THREADS"]))
            tf.config.threading.set_inter_op_parallelism_threads(int(os.environ["TF_NUM_INTEROP_THREADS"]))
        except (RuntimeError, ValueError):  # TensorFlow already initialised: keep its settings
            log.debug("TensorFlow already initialised; thread settings unchanged")


# --------------------------------------------------------------------------- files


def face_rows(results: Iterable[PhotoResult]) -> Iterator[dict[str, Any]]:
    for r in results:
        for tag in r.faces:
            yield tag.row(r.rel_path)


def write_csv(path: str | Path, results: Iterable[PhotoResult]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=OUTPUT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in face_rows(results):
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    atomic_write_text(Path(path), buffer.getvalue())


def write_jsonl(path: str | Path, results: Iterable[PhotoResult]) -> None:
    lines = [json.dumps(row, ensure_ascii=False) for row in face_rows(results)]
    atomic_write_text(Path(path), "".join(line + "\n" for line in lines))
