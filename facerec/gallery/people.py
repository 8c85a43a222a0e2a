"""The gallery's people, their enrolled sample photos and each photo's face and embedding (tables people, photos,
faces): the methods facerec.gallery.store.Gallery has for them."""
from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facerec.errors import GalleryError
from facerec.gallery.encoding import as_face, decode_embedding, encode_embedding, face_columns, face_from_columns, finite_embedding
from facerec.gallery.schema import PHOTO_STATUSES, bump_version
from facerec.names import RESERVED_NAMES, person_name
from facerec.types import Face

log = logging.getLogger("facerec.gallery.store")


@dataclass(frozen=True)
class PersonSummary:
    name: str
    photos: int  # enrolled sample photos (any status)
    faces: int  # photos with an embedding (for the backbone asked for, or any backbone)


@dataclass(frozen=True)
class PhotoRecord:
    id: int
    person: str
    path: str
    sha256: str
    mtime: float | None
    size: int | None
    status: str
    note: str
    source: str


class PeopleTables:
    """Gallery methods for people, photos and faces; Gallery gives `_db`, `path` and `_transaction()`."""

    _db: sqlite3.Connection
    path: Path

    # ---- people

    def people(self, embedding_id: str | None = None) -> list[PersonSummary]:
        """Everyone enrolled, by name; `faces` counts photos with an embedding for `embedding_id` (any if None)."""
        rows = self._db.execute(
            """
            SELECT p.name,
                   (SELECT COUNT(*) FROM photos ph WHERE ph.person_id = p.id) AS photos,
                   (SELECT COUNT(DISTINCT f.photo_id) FROM faces f JOIN photos ph ON ph.id = f.photo_id
                     WHERE ph.person_id = p.id AND (?1 IS NULL OR f.backbone = ?1)) AS faces
            FROM people p ORDER BY p.name
            """,
            (embedding_id,),
        ).fetchall()
        return [PersonSummary(r["name"], r["photos"], r["faces"]) for r in rows]

    def person_id(self, name: str) -> int | None:
        row = self._db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def add_person(self, name: str) -> int:
        """Id of the person called `name`, created if needed."""
        with self._transaction() as db:
            return self._add_person(db, name)

    @staticmethod
    def _add_person(db: sqlite3.Connection, name: str) -> int:
        name = person_name(name)  # the gallery never holds a name that breaks a later output
        db.execute("INSERT OR IGNORE INTO people(name, created_at) VALUES (?, ?)", (name, time.time()))
        return int(db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()[0])

    def forget(self, name: str) -> bool:
        """Delete a person with all their photos and embeddings, and the album faces that were named as them (by
        tagging or a named group) with their embeddings: kept as unknown faces they would regroup at once as
        this person (facerec.gallery.forget says more). False if nobody has that name."""
        from facerec.gallery.people_decisions import forget_person_decisions

        with self._transaction() as db:
            db.execute("""DELETE FROM detections
                          WHERE predicted_name = ?1 OR assigned_person_id = (SELECT id FROM people WHERE name = ?1)""",
                       (name,))
            db.execute("DELETE FROM decisions WHERE person = ?", (name,))  # "a12 is not NAME" names them too
            forget_person_decisions(db, name)  # renamed, merged, hidden...: their aliases and cover go with them
            deleted = db.execute("DELETE FROM people WHERE name = ?", (name,)).rowcount
            if deleted:
                bump_version(db)
        if deleted:  # older copies of their pages stay in the write-ahead log until it is checkpointed
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return bool(deleted)

    def detections_naming(self, name: str) -> int:
        """How many album faces are named `name` (predicted by tagging or assigned from a group)."""
        return int(self._db.execute(
            """SELECT COUNT(*) FROM detections WHERE predicted_name = ?1
               OR assigned_person_id = (SELECT id FROM people WHERE name = ?1)""", (name,)).fetchone()[0])

    def prune_empty_people(self) -> list[str]:
        """Delete people left without any photo (their folder was emptied); returns their names."""
        with self._transaction() as db:
            names = [r[0] for r in db.execute(
                "SELECT name FROM people p WHERE NOT EXISTS (SELECT 1 FROM photos ph WHERE ph.person_id = p.id)")]
            if names:
                db.execute("DELETE FROM people WHERE NOT EXISTS (SELECT 1 FROM photos ph WHERE ph.person_id = people.id)")
                bump_version(db)
        return names

    # ---- photos

    _PHOTO_SELECT = """SELECT ph.id, p.name AS person, ph.path, ph.sha256, ph.mtime, ph.size, ph.status, ph.note, ph.source
                       FROM photos ph JOIN people p ON p.id = ph.person_id"""

    @staticmethod
    def _photo(row: sqlite3.Row | None) -> PhotoRecord | None:
        return None if row is None else PhotoRecord(**{k: row[k] for k in row.keys()})

    def photo(self, path: str | Path) -> PhotoRecord | None:
        return self._photo(self._db.execute(self._PHOTO_SELECT + " WHERE ph.path = ?", (str(path),)).fetchone())

    def photos(self, person: str | None = None, source: str | None = None) -> list[PhotoRecord]:
        rows = self._db.execute(
            self._PHOTO_SELECT + " WHERE (?1 IS NULL OR p.name = ?1) AND (?2 IS NULL OR ph.source = ?2) ORDER BY ph.path",
            (person, source),
        ).fetchall()
        return [self._photo(r) for r in rows]  # type: ignore[misc]

    def find_enrolled_copy(self, person: str, sha256: str, embedding_id: str) -> PhotoRecord | None:
        """Another photo of `person` with the same content and an embedding for `embedding_id` (a renamed or copied file)."""
        row = self._db.execute(
            self._PHOTO_SELECT + """ WHERE p.name = ? AND ph.sha256 = ?
              AND EXISTS (SELECT 1 FROM faces f WHERE f.photo_id = ph.id AND f.backbone = ?) LIMIT 1""",
            (person, sha256, embedding_id),
        ).fetchone()
        return self._photo(row)

    def has_embedding(self, photo_id: int, embedding_id: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM faces WHERE photo_id = ? AND backbone = ?", (photo_id, embedding_id)).fetchone() is not None

    def face(self, photo_id: int, embedding_id: str | None = None) -> tuple[Face, np.ndarray, str] | None:
        """(face, embedding, embedding id) stored for a photo: for `embedding_id`, or for any if None."""
        row = self._db.execute(
            "SELECT box, landmarks, confidence, embedding, dim, backbone FROM faces WHERE photo_id = ?1"
            " AND (?2 IS NULL OR backbone = ?2) ORDER BY id LIMIT 1",
            (photo_id, embedding_id),
        ).fetchone()
        if row is None:
            return None
        face = face_from_columns(row["box"], row["landmarks"], row["confidence"])
        return face, decode_embedding(row["embedding"], row["dim"]), row["backbone"]

    def record_photo(
        self,
        person: str,
        path: str | Path,
        sha256: str,
        mtime: float | None,
        size: int | None,
        status: str,
        note: str = "",
        embedding_id: str | None = None,
        face: Face | None = None,
        embedding: np.ndarray | None = None,
        source: str = "folder",
    ) -> int:
        """Insert or update one enrolled photo and (if given) its face for `embedding_id` (the pipeline's embedding id); one transaction.

        When the file's content changed (new sha256) its faces for every backbone are dropped,
        since they describe the old picture. Returns the photo id.
        """
        if status not in PHOTO_STATUSES:
            raise ValueError(f"unknown photo status {status!r}")
        if (embedding is None) != (face is None) or (embedding is not None and embedding_id is None):
            raise ValueError("face, embedding and embedding_id go together")
        path = str(path)
        with self._transaction() as db:
            person_id = self._add_person(db, person)
            old = db.execute("SELECT id, person_id, sha256 FROM photos WHERE path = ?", (path,)).fetchone()
            changed = old is None or old["sha256"] != sha256 or old["person_id"] != person_id
            if old is None:
                photo_id = db.execute(
                    "INSERT INTO photos(person_id, path, sha256, mtime, size, status, note, added_at, source)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (person_id, path, sha256, mtime, size, status, note, time.time(), source),
                ).lastrowid
            else:
                photo_id = old["id"]
                if old["sha256"] != sha256:
                    changed |= db.execute("DELETE FROM faces WHERE photo_id = ?", (photo_id,)).rowcount > 0
                db.execute(
                    "UPDATE photos SET person_id = ?, sha256 = ?, mtime = ?, size = ?, status = ?, note = ?, source = ?"
                    " WHERE id = ?",
                    (person_id, sha256, mtime, size, status, note, source, photo_id),
                )
            if embedding is not None:
                self._insert_face(db, photo_id, embedding_id, face, embedding)  # type: ignore[arg-type]
                changed = True
            elif embedding_id is not None:
                # this embedding found no usable face in this content: drop a stale embedding if any
                changed |= db.execute(
                    "DELETE FROM faces WHERE photo_id = ? AND backbone = ?", (photo_id, embedding_id)).rowcount > 0
            if old is not None and old["person_id"] != person_id:
                self._delete_orphan(db, old["person_id"])
            if changed:
                bump_version(db)
        return int(photo_id)

    def touch_photo(self, photo_id: int, mtime: float | None, size: int | None) -> None:
        """Remember a new mtime/size for a photo whose content is unchanged (no version bump)."""
        with self._transaction() as db:
            db.execute("UPDATE photos SET mtime = ?, size = ? WHERE id = ?", (mtime, size, photo_id))

    @staticmethod
    def _insert_face(db: sqlite3.Connection, photo_id: int, embedding_id: str, face: Face, embedding: np.ndarray) -> None:
        vector = finite_embedding(embedding)
        box, landmarks, confidence = face_columns(as_face(face))
        db.execute(
            "INSERT OR REPLACE INTO faces(photo_id, backbone, box, landmarks, confidence, embedding, dim)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (photo_id, embedding_id, box, landmarks, confidence, encode_embedding(vector), int(vector.size)),
        )

    @staticmethod
    def _delete_orphan(db: sqlite3.Connection, person_id: int) -> None:
        db.execute("DELETE FROM people WHERE id = ? AND NOT EXISTS (SELECT 1 FROM photos WHERE person_id = ?)",
                   (person_id, person_id))

    def remove_photo(self, path: str | Path) -> bool:
        with self._transaction() as db:
            removed = db.execute("DELETE FROM photos WHERE path = ?", (str(path),)).rowcount
            if removed:
                bump_version(db)
        return bool(removed)

    def embeddings(self, embedding_id: str) -> tuple[np.ndarray, list[str], list[int]]:
        """All enrolled embeddings for `embedding_id`: X (n, d) float32, the person name of each row, face ids."""
        rows = self._db.execute(
            """SELECT f.id, p.name, f.embedding, f.dim FROM faces f
               JOIN photos ph ON ph.id = f.photo_id JOIN people p ON p.id = ph.person_id
               WHERE f.backbone = ? ORDER BY p.name, ph.path""",
            (embedding_id,),
        ).fetchall()
        reserved = [r for r in rows if r["name"].casefold() in RESERVED_NAMES]
        if reserved:  # let in by an older facerec; matching them would make every answer ambiguous
            log.warning("gallery %s: person %r has a reserved name and is not matched; `facerec forget` it",
                        self.path, reserved[0]["name"])
            rows = [r for r in rows if r["name"].casefold() not in RESERVED_NAMES]
        if not rows:
            return np.zeros((0, 0), dtype=np.float32), [], []
        dims = {r["dim"] for r in rows}
        if len(dims) != 1:
            raise GalleryError(f"gallery holds {embedding_id} embeddings of several sizes {sorted(dims)}; re-enroll")
        X = np.frombuffer(b"".join(r["embedding"] for r in rows), dtype="<f4").astype(np.float32)
        return X.reshape(len(rows), dims.pop()), [r["name"] for r in rows], [int(r["id"]) for r in rows]
