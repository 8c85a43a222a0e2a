"""The main-thread side of a tagging run: embedding in batches, naming (the Recognizer's rule, as `facerec identify`),
the gallery, the outputs of each photo (annotated copies, XMP sidecars) and the counts."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facerec.files.outputs import OutputRefused, refuse_input
from facerec.types import NAMED_BY_PERSON, NAMED_BY_REGION, UNKNOWN, Face, FaceResult
from facerec.album.photos import Prepared, TagOptions, decision_key, relative_name
from facerec.album.results import ANALYSED, FAILED, NO_FACE, OK, REIDENTIFIED, SKIPPED, UNREADABLE, PhotoResult, TagSummary

log = logging.getLogger(__name__)


class AlbumTagger:
    """One `tag_album` run: the main-thread side (embedding, naming, gallery, outputs). `recognizer` (a
    facerec.recognition.recognizer.Recognizer for `pipeline`'s embeddings) names the faces of each photo."""

    def __init__(self, root: Path, gallery: Any, pipeline: Any, recognizer: Any, options: TagOptions):
        self.root, self.gallery, self.pipeline, self.recognizer, self.options = root, gallery, pipeline, recognizer, options
        self.embedding_id = pipeline.embedding_id
        self.version = gallery.version()
        self.decision = decision_key(recognizer.matcher_for_stored_embeddings(gallery))
        self.summary = TagSummary(album=str(root))
        self.pending: list[Prepared] = []
        self.inputs: frozenset[str] = frozenset()  # real paths of the photos: no output may replace one
        self.shared_sidecars: set[Path] = set()  # photos whose lightroom-style sidecar another photo shares
        self.embedding: Any = None  # a facerec.album.embed_process.EmbeddingProcess, when embedding runs beside detection
        self.in_flight: list[Prepared] = []  # photos whose faces the embedding process is working on

    def name(self, p: Prepared, faces: Sequence[Face], X: np.ndarray) -> list[FaceResult]:
        """The faces of one photo named as `facerec identify` names them, decisions about them honoured."""
        return self.recognizer.name_faces(faces, X, p.key, self.gallery, shown_as=relative_name(p.path, self.root))

    # ---- per photo

    def accept(self, prepared: Prepared) -> None:
        if prepared.mode == ANALYSED and prepared.faces:
            self.pending.append(prepared)
            if (sum(len(p.faces) for p in self.pending) >= self.options.batch_size
                    or len(self.pending) >= self.options.max_pending_photos):
                self.flush()
        elif prepared.mode == ANALYSED:
            self.summary.detection_calls += 1
            self.record(prepared, [], np.zeros((0, 0), np.float32))
        elif prepared.mode == REIDENTIFIED:
            self.reidentify(prepared)
        elif prepared.mode == SKIPPED:
            self.finish(prepared, SKIPPED, *self.stored(prepared))
        else:
            self.fail(prepared)

    def accept_remote(self, prepared: Prepared, result: dict) -> None:
        """Name and record a photo analysed by a Ray task (facerec.album.distributed.analyse_photo)."""
        from facerec.album.distributed import faces_of

        prepared.width, prepared.height = result["width"], result["height"]
        if result["status"] == UNREADABLE:
            prepared.mode, prepared.error, prepared.image = FAILED, result["note"], None
            self.fail(prepared)
            return
        self.summary.detection_calls += 1
        self.record(prepared, faces_of(result), result["embeddings"])

    def flush(self, wait: bool = False) -> None:
        """Embed the faces of all pending photos in one backbone call, then name and record them.

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
            self.record(p, p.faces, vectors)

    def record(self, p: Prepared, faces: Sequence[Face], X: np.ndarray) -> None:
        status = OK if faces else NO_FACE
        note = "" if faces else "no face found"
        tags = self.name(p, faces, X)
        self.gallery.record_media(p.key, p.sha256, p.mtime, p.size, self.embedding_id, self.version, status, note,
                                  detections(tags, X), decision=self.decision)
        self.finish(p, ANALYSED, status, note, tags)

    def reidentify(self, p: Prepared) -> None:
        stored = [d for d in self.gallery.detections(p.key) if d.backbone == self.embedding_id]
        X = np.stack([d.embedding for d in stored]) if stored else np.zeros((0, 0), np.float32)
        tags = self.name(p, [d.face for d in stored], X)
        rows = detections(tags, X)
        for row, d in zip(rows, stored):
            row["face_index"] = d.face_index
        record = self.gallery.media_record(p.key)
        self.gallery.record_media(p.key, p.sha256, p.mtime, p.size, self.embedding_id, self.version, OK,
                                  record.note if record else "", rows, decision=self.decision)
        for tag, d in zip(tags, stored):
            tag.face_index = d.face_index
            if d.assigned_person:  # named by a person (`facerec name`, a confirmation): that name is shown
                tag.name, tag.named_by = d.assigned_person, NAMED_BY_PERSON
        self.finish(p, REIDENTIFIED, OK, "", tags)

    def stored(self, p: Prepared) -> tuple[str, str, list[FaceResult]]:
        """Status, note and faces of a skipped photo, as the gallery has them."""
        record = self.gallery.media_record(p.key)
        if record is None or record.status != OK:
            return (record.status, record.note, []) if record else (NO_FACE, "", [])
        rel = relative_name(p.path, self.root)
        tags = [FaceResult(d.face, d.assigned_person or d.predicted_name or UNKNOWN, d.score, d.distance, d.face_index, rel,
                           named_by=NAMED_BY_PERSON if d.assigned_person else None)
                for d in self.gallery.detections(p.key) if d.backbone == self.embedding_id]
        return OK, record.note, tags

    def fail(self, p: Prepared) -> None:
        if p.sha256 is not None:  # remember it, so an unchanged bad file is not decoded again next run
            self.gallery.record_media(p.key, p.sha256, p.mtime, p.size, self.embedding_id, self.version, UNREADABLE,
                                      p.error, [], decision=self.decision)
        self.finish(p, FAILED, UNREADABLE, p.error, [])

    def finish(self, p: Prepared, outcome: str, status: str, note: str, tags: list[FaceResult]) -> None:
        from facerec.album.region_names import name_from_regions

        rel = relative_name(p.path, self.root)
        if p.regions is not None and status != UNREADABLE:  # an unreadable photo has its own problem line
            self.summary.problems += [{"path": rel, "kind": "region", "reason": why} for why in p.regions.problems]
            tags, disagreements = name_from_regions(tags, p.regions, rel)
            self.summary.disagreements += disagreements
        result = PhotoResult(p.path, rel, outcome, status, note, p.width, p.height, tags)
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
            s.named_by_region += tag.named_by == NAMED_BY_REGION

    # ---- outputs per photo

    def annotated_path(self, path: Path) -> Path:
        from facerec.album.annotate import WRITE_EXTENSIONS

        target = self.options.annotate_dir / relative_name(path, self.root)
        return target if target.suffix.lower() in WRITE_EXTENSIONS else target.with_suffix(".jpg")

    def write_photo_outputs(self, r: PhotoResult, p: Prepared) -> None:
        if self.options.annotate_dir is not None and p.image is not None:
            from facerec.album.annotate import draw_faces, face_label, save_image

            labels = [face_label(t.name, t.score) for t in r.faces]
            target = self.annotated_path(p.path)
            try:
                refuse_input(target, self.inputs)
            except OutputRefused as e:
                self.summary.problems.append({"path": r.rel_path, "kind": "annotate", "reason": str(e)})
            else:
                save_image(target, draw_faces(p.image, [t.face for t in r.faces], labels))
        if self.options.xmp and r.width and r.height:
            self.write_xmp(r, p.regions.orientation if p.regions is not None else None)

    def write_xmp(self, r: PhotoResult, orientation: int | None = None) -> None:
        from facerec.album.regions import photo_orientation
        from facerec.album.xmp import FaceRegion, XmpError, write_sidecars

        # a face a sidecar's region already names keeps that region; facerec adds none of its own beside it
        regions = [FaceRegion(tuple(t.face.box), None if t.name == UNKNOWN else t.name, t.score) for t in r.faces
                   if not (t.named_by == NAMED_BY_REGION and str(t.extra.get("region_origin", "")).endswith(".xmp"))]
        naming = self.options.xmp_naming
        if r.path in self.shared_sidecars:  # a.jpg and a.png would overwrite each other's a.xmp
            naming = "darktable"
            self.summary.problems.append({"path": r.rel_path, "kind": "xmp", "reason": (
                "another photo in this folder has the same name before the extension, so both would share "
                f"{r.path.with_suffix('.xmp').name}; wrote {r.path.name}.xmp instead")})
        try:
            # r.width/height are those of the EXIF-rotated image, the frame MWG regions are relative to.
            written = write_sidecars(r.path, regions, r.width, r.height, naming=naming,
                                     include_unknown=self.options.xmp_unknown,
                                     orientation=orientation if orientation is not None else photo_orientation(r.path))
            self.summary.outputs["xmp_files"] = self.summary.outputs.get("xmp_files", 0) + len(written)
        except XmpError as e:  # a sidecar we must not overwrite: a problem with this photo, the run goes on,
            log.warning("%s", e)  # and ends in an error (the sidecar asked for is not written)
            self.summary.output_errors += 1
            self.summary.problems.append({"path": r.rel_path, "kind": "xmp", "reason": str(e)})
        except OSError as e:  # disk full, no permission: the sidecar asked for is missing, an error at the end
            self.summary.output_errors += 1
            self.summary.problems.append({"path": r.rel_path, "kind": "xmp",
                                          "reason": f"cannot write its sidecar: {e.strerror or e}"})


def detections(tags: Sequence[FaceResult], X: np.ndarray) -> list[dict[str, Any]]:
    """The gallery's rows for one photo's named faces (facerec.gallery.store.Gallery.record_media)."""
    return [{"face_index": t.face_index, "face": t.face, "embedding": v, "predicted_name": t.name,
             "score": float(t.score), "distance": t.distance} for t, v in zip(tags, X)]


EMBED_PROCESS_MIN_PHOTOS = 8  # below this, starting a second interpreter costs more than it saves


def start_embedding_process(pipeline: Any, photos: int, wanted: bool | None) -> Any:
    """An EmbeddingProcess for this run, or None to embed in the main thread."""
    from facerec.album.embed_process import EmbeddingProcess, holds_the_gil

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
