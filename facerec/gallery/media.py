"""What `tag` and the webcam saw (tables media, detections) and the groups of unknown faces: the methods
facerec.gallery.store.Gallery has for them."""
from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facerec.gallery.encoding import as_face, decode_embedding, encode_embedding, face_columns, face_from_columns, finite_embedding
from facerec.gallery.face_rows import store_detections
from facerec.gallery.learning import sample_path as album_sample_path
from facerec.gallery.schema import bump_version
from facerec.types import UNKNOWN, Face

log = logging.getLogger("facerec.gallery.store")


@dataclass(frozen=True)
class MediaRecord:
    id: int
    path: str
    sha256: str | None
    mtime: float | None
    size: int | None
    backbone: str | None
    gallery_version: int | None
    tagged_at: float
    status: str
    note: str
    decision: str | None = None  # facerec.album.photos.decision_key of the matcher that gave the stored names


@dataclass(frozen=True)
class DetectionRecord:
    id: int
    media_id: int
    media_path: str
    face_index: int
    face: Face
    backbone: str
    embedding: np.ndarray
    predicted_name: str | None
    score: float | None
    assigned_person: str | None
    cluster_id: int | None
    distance: float | None = None  # cosine distance of the predicted name (None: not known)


class MediaTables:
    """Gallery methods for media, detections and groups; Gallery gives `_db`, `path`, `_transaction()` and
    (from PeopleTables) `_add_person` / `_insert_face`."""

    _db: sqlite3.Connection
    path: Path

    # ---- media and detections (for `tag` and the webcam)

    def media_record(self, path: str | Path) -> MediaRecord | None:
        row = self._db.execute("SELECT * FROM media WHERE path = ?", (str(path),)).fetchone()
        return None if row is None else MediaRecord(**{k: row[k] for k in row.keys()})

    def record_media(
        self,
        path: str | Path,
        sha256: str | None,
        mtime: float | None,
        size: int | None,
        embedding_id: str | None,
        gallery_version: int | None,
        status: str,
        note: str = "",
        detections: Iterable[Mapping[str, Any]] = (),
        decision: str | None = None,
    ) -> int:
        """Store what `tag` found in one media file, replacing earlier detections of it; returns the media id.
        A face found again where an earlier one was (box overlap) keeps that row's id (facerec.gallery.face_rows).

        Each detection is a mapping with keys: 'face' (Face or Face.to_dict()), 'embedding' (d floats),
        'predicted_name' (str or None), 'score' (float or None), optional 'distance', optional 'face_index' (defaults to
        its position) and optional 'backbone' (defaults to `embedding_id`). A face assigned to a person
        earlier keeps that assignment when the file's content is unchanged. `decision`: what gave the
        predicted names (facerec.album.photos.decision_key).
        """
        path = str(path)
        with self._transaction() as db:
            old = db.execute("SELECT id, sha256 FROM media WHERE path = ?", (path,)).fetchone()
            assigned = old is not None and old["sha256"] == sha256  # same content: its faces keep their names
            db.execute(
                """INSERT INTO media(path, sha256, mtime, size, backbone, gallery_version, tagged_at, status, note,
                                    decision)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, mtime = excluded.mtime,
                     size = excluded.size, backbone = excluded.backbone, gallery_version = excluded.gallery_version,
                     tagged_at = excluded.tagged_at, status = excluded.status, note = excluded.note,
                     decision = excluded.decision""",
                (path, sha256, mtime, size, embedding_id, gallery_version, time.time(), status, note, decision),
            )
            media_id = int(db.execute("SELECT id FROM media WHERE path = ?", (path,)).fetchone()[0])
            rows = []
            for position, det in enumerate(detections):
                box, landmarks, confidence = face_columns(as_face(det["face"]))
                score, distance = det.get("score"), det.get("distance")
                rows.append({"face_index": int(det.get("face_index", position)), "box": box, "landmarks": landmarks,
                             "confidence": confidence, "backbone": det.get("backbone", embedding_id),
                             "embedding": encode_embedding(finite_embedding(det["embedding"])),
                             "predicted_name": det.get("predicted_name"),
                             "score": None if score is None else float(score),
                             "distance": None if distance is None else float(distance)})
            # a face keeps its row (and id, and the decisions about it) when it is found again in the same place
            store_detections(db, media_id, rows, assigned)
        return media_id

    def remove_media(self, path: str | Path) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM media WHERE path = ?", (str(path),)).rowcount > 0

    _DETECTION_SELECT = """SELECT d.*, m.path AS media_path, p.name AS assigned_person
                           FROM detections d JOIN media m ON m.id = d.media_id
                           LEFT JOIN people p ON p.id = d.assigned_person_id"""

    @staticmethod
    def _detection(row: sqlite3.Row) -> DetectionRecord:
        return DetectionRecord(
            id=row["id"], media_id=row["media_id"], media_path=row["media_path"], face_index=row["face_index"],
            face=face_from_columns(row["box"], row["landmarks"], row["confidence"]), backbone=row["backbone"],
            embedding=decode_embedding(row["embedding"]), predicted_name=row["predicted_name"], score=row["score"],
            assigned_person=row["assigned_person"], cluster_id=row["cluster_id"], distance=row["distance"],
        )

    def detections(self, media_path: str | Path) -> list[DetectionRecord]:
        rows = self._db.execute(self._DETECTION_SELECT + " WHERE m.path = ? ORDER BY d.face_index", (str(media_path),))
        return [self._detection(r) for r in rows]

    _UNKNOWN_WHERE = "d.backbone = ? AND d.assigned_person_id IS NULL AND (d.predicted_name IS NULL OR d.predicted_name = ?)"

    def unknown_detections(self, embedding_id: str) -> tuple[list[int], np.ndarray]:
        """Detections nobody was recognised in (and nobody named yet): ids and their embeddings (n, d)."""
        rows = self._db.execute(
            f"SELECT d.id, d.embedding FROM detections d WHERE {self._UNKNOWN_WHERE} ORDER BY d.id", (embedding_id, UNKNOWN)
        ).fetchall()
        # galleries written before NaN embeddings were refused may hold some: they cannot be clustered
        decoded = [(int(r["id"]), decode_embedding(r["embedding"])) for r in rows]
        finite = [(i, v) for i, v in decoded if np.all(np.isfinite(v))]
        if len(finite) < len(decoded):
            log.warning("gallery %s: %d unknown face(s) with NaN/infinite embeddings left out; re-tag them "
                        "with `facerec tag --force`", self.path, len(decoded) - len(finite))
        if not finite:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [i for i, _ in finite], np.stack([v for _, v in finite])

    def unknown_detection_media(self, embedding_id: str) -> list[int]:
        """The media id of each unknown detection, in unknown_detections' order (two faces of one photo are
        never one person, so clustering keeps them apart)."""
        rows = self._db.execute(
            f"SELECT d.media_id FROM detections d WHERE {self._UNKNOWN_WHERE} ORDER BY d.id", (embedding_id, UNKNOWN)
        ).fetchall()
        return [int(r["media_id"]) for r in rows]

    def set_clusters(self, mapping: Mapping[int, int | None]) -> None:
        """Set detection id -> cluster id (None = noise/no cluster) in one transaction."""
        with self._transaction() as db:
            db.executemany("UPDATE detections SET cluster_id = ? WHERE id = ?",
                           [(None if c is None else int(c), int(i)) for i, c in mapping.items()])

    def clusters(self, embedding_id: str) -> dict[int, list[DetectionRecord]]:
        """Clusters of still-unnamed faces: cluster id -> its detections (with the media path)."""
        rows = self._db.execute(
            self._DETECTION_SELECT + " WHERE d.backbone = ? AND d.cluster_id IS NOT NULL AND d.assigned_person_id IS NULL"
            " ORDER BY d.cluster_id, m.path, d.face_index",
            (embedding_id,),
        )
        out: dict[int, list[DetectionRecord]] = {}
        for r in rows:
            out.setdefault(int(r["cluster_id"]), []).append(self._detection(r))
        return out

    def name_cluster(self, cluster_id: int, name: str, embedding_id: str, seen: Iterable[int] | None = None) -> int:
        """Enroll every unnamed face of a cluster as a sample of `name`; returns how many faces were enrolled.

        Each face becomes a photos row with source 'tag' and path "<media path>#face<index>" plus a
        copy of its embedding, so it survives re-tagging; the detection is marked as assigned. `seen`: the
        detection ids the user was shown; when the group's faces differ, nothing is enrolled (DecisionError, 409).
        One undo step, and `name` found by the name rule: facerec.gallery.people_decisions.name_group.
        """
        from facerec.gallery.people_decisions import name_group

        return name_group(self, cluster_id, name, embedding_id, seen).faces

    @staticmethod
    def _cluster_rows(db: sqlite3.Connection, cluster_id: int, embedding_id: str) -> list[sqlite3.Row]:
        """The unnamed faces of a cluster, with their media file's path and identity."""
        return db.execute(
            """SELECT d.*, m.path AS media_path, m.sha256 AS media_sha, m.mtime AS media_mtime, m.size AS media_size
               FROM detections d JOIN media m ON m.id = d.media_id
               WHERE d.cluster_id = ? AND d.backbone = ? AND d.assigned_person_id IS NULL ORDER BY d.id""",
            (int(cluster_id), embedding_id),
        ).fetchall()

    def _enroll_cluster_rows(self, db: sqlite3.Connection, rows: list[sqlite3.Row], cluster_id: int, name: str,
                             embedding_id: str) -> None:
        """Inside the caller's transaction: each face of `rows` (from _cluster_rows) a sample of `name`."""
        person_id = self._add_person(db, name)
        for r in rows:
            sample_path = album_sample_path(r["media_path"], r["face_index"])
            db.execute(
                """INSERT INTO photos(person_id, path, sha256, mtime, size, status, note, added_at, source)
                   VALUES (?, ?, ?, ?, ?, 'ok', ?, ?, 'tag')
                   ON CONFLICT(path) DO UPDATE SET person_id = excluded.person_id, sha256 = excluded.sha256,
                     note = excluded.note, source = 'tag'""",
                (person_id, sample_path, r["media_sha"] or "", r["media_mtime"], r["media_size"],
                 f"named from cluster {cluster_id}", time.time()),
            )
            photo_id = db.execute("SELECT id FROM photos WHERE path = ?", (sample_path,)).fetchone()[0]
            face = face_from_columns(r["box"], r["landmarks"], r["confidence"])
            self._insert_face(db, photo_id, embedding_id, face, decode_embedding(r["embedding"]))
            db.execute("UPDATE detections SET assigned_person_id = ?, predicted_name = ? WHERE id = ?",
                       (person_id, name, r["id"]))
        bump_version(db)
