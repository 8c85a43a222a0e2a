"""The gallery: enrolled people, their sample photos and face embeddings, plus what `tag` has seen.

One SQLite file (WAL mode), readable only by its owner (0600; the folder it creates is 0700):
face embeddings are biometric data. Nothing is pickled: an embedding is a little-endian float32
blob (`np.asarray(v, '<f4').tobytes()`), boxes and landmarks are JSON text.

Tables (schema version in `PRAGMA user_version`, upgraded by `MIGRATIONS`):

- people(id, name UNIQUE, created_at)
- photos(id, person_id -> people ON DELETE CASCADE, path UNIQUE, sha256, mtime, size, status, note,
  added_at, source) -- one row per enrolled sample photo. `source` is 'folder' for photos read by
  `facerec enroll` (path = absolute file path) and 'tag' for faces enrolled by naming a cluster of
  unknown faces (path = "<media path>#face<index>", sha256 etc. = those of the media file), so a
  group photo can give samples to several people and re-tagging never deletes enrolled samples.
- faces(id, photo_id -> photos ON DELETE CASCADE, backbone, box, landmarks, confidence, embedding,
  dim) -- the chosen face of a photo, one per (photo, backbone).
- media(id, path UNIQUE, sha256, mtime, size, backbone, gallery_version, tagged_at, status, note,
  decision) -- photos seen by `tag` / the webcam; `decision` names the matcher and settings (threshold)
  that gave the stored names, so `tag` re-identifies a photo when they change.
- detections(id, media_id -> media ON DELETE CASCADE, face_index, box, landmarks, confidence,
  backbone, embedding, predicted_name, score, distance, assigned_person_id -> people ON DELETE SET NULL,
  cluster_id)
- meta(key PRIMARY KEY, value): 'version' counts changes to the enrolled set, so `tag` knows
  whether the names it stored for a media file are stale.

Each write method is one transaction, so a killed run loses at most the photo it was working on.
Several processes share one gallery safely (the server, `enroll`, `tag`, `forget` from a shell) because every
connection follows one rule, written down at `connect()`: only SQLite ever opens the file.

Memory: `embeddings(backbone)` loads the whole matrix, n x d float32 = 4*n*d bytes: 100k faces
x 128 (dlib) = 51 MB; x 2048 (resnet50/senet50) = 820 MB; x 4096 (vgg16 fc7) = 1.6 GB. Up to about
a hundred thousand faces one matrix product answers in milliseconds (`facerec.recognition.match.SimilarityIndex`);
with the optional `faiss` extra installed, galleries of 50k+ faces are searched with a FAISS
IndexFlatIP over the same matrix (exact), and an IndexIVFFlat (approximate) is the drop-in for
millions. enrollment/README.md has the table.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facerec.errors import GalleryError
from facerec.gallery.face_rows import store_detections
from facerec.files.atomic import make_private_dirs
from facerec.names import RESERVED_NAMES, person_name
from facerec.paths import ENV_LOCK_TIMEOUT
from facerec.types import UNKNOWN, Face

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
PHOTO_STATUSES = ("ok", "no_face", "multiple_faces", "too_small", "unreadable")

_SCHEMA_V1 = """
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    mtime REAL,
    size INTEGER,
    status TEXT NOT NULL CHECK (status IN ('ok','no_face','multiple_faces','too_small','unreadable')),
    note TEXT NOT NULL DEFAULT '',
    added_at REAL NOT NULL,
    source TEXT NOT NULL DEFAULT 'folder' CHECK (source IN ('folder','tag'))
);
CREATE INDEX photos_person ON photos(person_id);
CREATE INDEX photos_sha ON photos(person_id, sha256);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    backbone TEXT NOT NULL,
    box TEXT NOT NULL,
    landmarks TEXT NOT NULL,
    confidence REAL NOT NULL,
    embedding BLOB NOT NULL,
    dim INTEGER NOT NULL,
    UNIQUE (photo_id, backbone)
);
CREATE INDEX faces_backbone ON faces(backbone);
CREATE TABLE media (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT,
    mtime REAL,
    size INTEGER,
    backbone TEXT,
    gallery_version INTEGER,
    tagged_at REAL NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE detections (
    id INTEGER PRIMARY KEY,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    face_index INTEGER NOT NULL,
    box TEXT NOT NULL,
    landmarks TEXT NOT NULL,
    confidence REAL NOT NULL,
    backbone TEXT NOT NULL,
    embedding BLOB NOT NULL,
    predicted_name TEXT,
    score REAL,
    assigned_person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    cluster_id INTEGER
);
CREATE INDEX detections_media ON detections(media_id);
CREATE INDEX detections_cluster ON detections(backbone, cluster_id);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta(key, value) VALUES ('version', '0');
"""


def _execute_script(db: sqlite3.Connection, script: str) -> None:
    # not executescript(): it COMMITs first, which would split a migration over two transactions
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_0_to_1(db: sqlite3.Connection) -> None:
    _execute_script(db, _SCHEMA_V1)


# MIGRATIONS[n] upgrades a gallery from user_version n to n + 1. Add an entry (and bump
# SCHEMA_VERSION) whenever the schema changes; never edit a released step.
def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE media ADD COLUMN decision TEXT")  # NULL for photos tagged before: re-identified once


def _migrate_2_to_3(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE detections ADD COLUMN distance REAL")  # the predicted name's cosine distance


def _migrate_3_to_4(db: sqlite3.Connection) -> None:
    from facerec.gallery.decisions import migrate_3_to_4

    migrate_3_to_4(db)  # the review's decisions table and stable group ids (facerec.gallery.decisions)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0_to_1, 1: _migrate_1_to_2,
                                                              2: _migrate_2_to_3, 3: _migrate_3_to_4}


# --------------------------------------------------------------------------- records


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


# --------------------------------------------------------------------------- encoding


def encode_embedding(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").reshape(-1).tobytes()


def finite_embedding(vector: Any) -> np.ndarray:
    """`vector` as flat float32; NaN or infinite values (broken weights) are never stored."""
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(vector)):
        raise GalleryError("refusing to store a face embedding with NaN or infinite values: the backbone's "
                           "weights are broken (delete the weights file and download it again)")
    return vector


def decode_embedding(blob: bytes, dim: int | None = None) -> np.ndarray:
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if dim is not None and vector.size != dim:
        raise GalleryError(f"corrupt embedding: {vector.size} values, expected {dim}")
    return vector


def _face_columns(face: Face) -> tuple[str, str, float]:
    box = json.dumps([int(v) for v in face.box])
    landmarks = json.dumps([[float(x), float(y)] for x, y in face.landmarks])
    return box, landmarks, float(face.confidence)


def _face_from_columns(box: str, landmarks: str, confidence: float) -> Face:
    return Face(tuple(json.loads(box)), float(confidence), tuple((x, y) for x, y in json.loads(landmarks)))


def _as_face(value: Face | Mapping[str, Any]) -> Face:
    return value if isinstance(value, Face) else Face.from_dict(dict(value))


# --------------------------------------------------------------------------- files


def _lock_timeout_from_env(default: float = 30.0) -> float:
    try:
        value = float(os.environ.get(ENV_LOCK_TIMEOUT) or default)
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


LOCK_TIMEOUT_S = _lock_timeout_from_env()  # how long SQLite waits for another process's lock (busy timeout)
PRIVATE_FILE = 0o600

# One rule for every process that opens a gallery (CLI commands, the server's threads, its tag jobs and live
# view, the Ray driver): a connection is made only by `connect()` (busy timeout, WAL, synchronous=NORMAL,
# foreign keys, secure_delete), it stays in the thread that made it (one Gallery per thread), writes are
# BEGIN IMMEDIATE transactions, and Python itself never opens the database file or its -wal/-shm. Closing any
# descriptor of the file drops every POSIX lock the process's SQLite connections hold on it (SQLite's "How To
# Corrupt An SQLite Database File", 2.2): the next process to close its connection then believes it is the last
# one and deletes the WAL that this process still writes to, so acknowledged writes vanish. Only path-based
# calls are used here (stat, chmod, mknod), none of which opens a descriptor.
_CREATE_LOCK = threading.Lock()  # only for systems without mknod of a regular file: see _create_private_file


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the gallery file at `path`, set up as every facerec connection is (see the rule above)."""
    # mode=rw: the file exists already (Gallery made it 0600); SQLite must not create one with its own 0644
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=rw"
    with _CREATE_LOCK:  # see _create_private_file; opening takes no SQLite lock, so this never waits long
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=LOCK_TIMEOUT_S, check_same_thread=True)
    try:
        db.row_factory = sqlite3.Row
        _refuse_foreign_file(db, path)  # before anything below can write to it
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA secure_delete = ON")  # deleted rows (a forgotten face) are zeroed, not left in free pages
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("gallery %s: SQLite refused WAL mode (%s)", path, mode)
        db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no committed row
    except BaseException:
        db.close()  # SQLite's own close: it keeps the descriptor while other connections here hold locks
        raise
    return db


def _refuse_foreign_file(db: sqlite3.Connection, path: Path) -> None:
    """Refuse, through SQLite itself and before any write, a file that is not a facerec gallery: not an SQLite
    database at all, or another program's (tables but no facerec schema version). An empty file is a new gallery."""
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as e:
        if getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB or "not a database" in str(e):
            raise GalleryError(f"cannot open gallery {path}: it is not an SQLite database, so not a facerec "
                               "gallery; nothing was changed") from e
        raise
    if version == 0 and tables > 0:
        raise GalleryError(f"cannot open gallery {path}: it is an SQLite database of another program, not a "
                           "facerec gallery; nothing was changed")


def _create_private_file(path: Path) -> None:
    """Create `path` empty and 0600 before SQLite opens it (SQLite gives -wal/-shm the database's mode), so no
    biometric byte is ever readable by others, not even for a moment. mknod makes the file without opening it:
    there is no descriptor, so none to close."""
    try:
        os.mknod(path, stat.S_IFREG | PRIVATE_FILE)
    except FileExistsError:
        return  # another process made it meanwhile: checked and tightened as any existing file
    except (AttributeError, OSError) as e:  # no mknod of a regular file here (macOS, some FUSE)
        log.debug("mknod %s: %s; creating it with O_EXCL", path, e)
        with _CREATE_LOCK:  # connect() opens under this lock, so no connection here can hold a lock on the new file
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
            except FileExistsError:
                return
            os.close(fd)  # a brand-new inode that no SQLite connection of this process has opened
    os.chmod(path, PRIVATE_FILE)  # the umask may have taken bits the owner needs (chmod by path opens nothing)


def _make_private(path: Path) -> None:
    """Make an existing gallery file 0600 by its path (chmod opens no descriptor)."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode != PRIVATE_FILE:
        if mode & 0o077:
            log.warning("gallery %s was readable by others (mode %o); made it 0600", path, mode)
        os.chmod(path, PRIVATE_FILE)


# --------------------------------------------------------------------------- the gallery


class Gallery:
    """An open gallery file. Use as a context manager, or call close().

    Not thread-safe: open one Gallery per thread.
    """

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path).expanduser()
        self._db = None  # type: ignore[assignment]
        if self.path.is_dir():
            raise GalleryError(f"gallery {self.path} is a folder; give the path of a .sqlite file")
        try:
            if not self.path.exists():
                if not create:
                    raise GalleryError(f"no gallery at {self.path}; enroll people first with "
                                       "`facerec enroll PEOPLE_DIR`")
                try:
                    make_private_dirs(self.path.parent)
                except OSError as e:
                    raise GalleryError(f"cannot create the gallery folder {self.path.parent}: {e.strerror or e}") from e
                _create_private_file(self.path)
            self._db = connect(self.path)
            _make_private(self.path)  # only once SQLite has said it is a gallery: another file's mode is left alone
        except OSError as e:
            self.close()
            raise GalleryError(f"cannot open gallery {self.path}: {e.strerror or e}") from e
        except sqlite3.DatabaseError as e:
            self.close()
            raise GalleryError(f"cannot open gallery {self.path}: {_sqlite_message(e)}") from e
        try:
            self._migrate()
        except sqlite3.DatabaseError as e:
            self.close()
            raise GalleryError(f"cannot open gallery {self.path}: {_sqlite_message(e)}") from e
        except GalleryError:
            self.close()
            raise
        self._tighten_sidecar_files()

    # ---- lifecycle

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None  # type: ignore[assignment]

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tighten_sidecar_files(self) -> None:
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists() and stat.S_IMODE(side.stat().st_mode) != 0o600:
                os.chmod(side, 0o600)

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db, self.path)

    def _migrate(self) -> None:
        if self._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return  # up to date: opening needs no write lock, so a reader never waits for another process's write
        while True:
            # read the version inside the write lock: two processes may open a new gallery at once
            with self._transaction() as db:
                current = db.execute("PRAGMA user_version").fetchone()[0]
                if current > SCHEMA_VERSION:
                    raise GalleryError(f"gallery {self.path} has schema version {current}; "
                                       f"this facerec knows up to {SCHEMA_VERSION} (upgrade facerec)")
                if current == SCHEMA_VERSION:
                    return
                MIGRATIONS[current](db)
                db.execute(f"PRAGMA user_version = {current + 1}")
            log.info("gallery %s: schema %d -> %d", self.path, current, current + 1)

    # ---- version counter

    def version(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])

    @staticmethod
    def _bump_version(db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")

    # ---- people

    def people(self, backbone: str | None = None) -> list[PersonSummary]:
        """Everyone enrolled, by name; `faces` counts photos with an embedding for `backbone` (any if None)."""
        rows = self._db.execute(
            """
            SELECT p.name,
                   (SELECT COUNT(*) FROM photos ph WHERE ph.person_id = p.id) AS photos,
                   (SELECT COUNT(DISTINCT f.photo_id) FROM faces f JOIN photos ph ON ph.id = f.photo_id
                     WHERE ph.person_id = p.id AND (?1 IS NULL OR f.backbone = ?1)) AS faces
            FROM people p ORDER BY p.name
            """,
            (backbone,),
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
        with self._transaction() as db:
            db.execute("""DELETE FROM detections
                          WHERE predicted_name = ?1 OR assigned_person_id = (SELECT id FROM people WHERE name = ?1)""",
                       (name,))
            db.execute("DELETE FROM decisions WHERE person = ?", (name,))  # "a12 is not NAME" names them too
            deleted = db.execute("DELETE FROM people WHERE name = ?", (name,)).rowcount
            if deleted:
                self._bump_version(db)
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
                self._bump_version(db)
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

    def find_enrolled_copy(self, person: str, sha256: str, backbone: str) -> PhotoRecord | None:
        """Another photo of `person` with the same content and an embedding for `backbone` (a renamed or copied file)."""
        row = self._db.execute(
            self._PHOTO_SELECT + """ WHERE p.name = ? AND ph.sha256 = ?
              AND EXISTS (SELECT 1 FROM faces f WHERE f.photo_id = ph.id AND f.backbone = ?) LIMIT 1""",
            (person, sha256, backbone),
        ).fetchone()
        return self._photo(row)

    def has_embedding(self, photo_id: int, backbone: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM faces WHERE photo_id = ? AND backbone = ?", (photo_id, backbone)).fetchone() is not None

    def face(self, photo_id: int, backbone: str | None = None) -> tuple[Face, np.ndarray, str] | None:
        """(face, embedding, backbone) stored for a photo: for `backbone`, or for any backbone if None."""
        row = self._db.execute(
            "SELECT box, landmarks, confidence, embedding, dim, backbone FROM faces WHERE photo_id = ?1"
            " AND (?2 IS NULL OR backbone = ?2) ORDER BY id LIMIT 1",
            (photo_id, backbone),
        ).fetchone()
        if row is None:
            return None
        face = _face_from_columns(row["box"], row["landmarks"], row["confidence"])
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
        backbone: str | None = None,
        face: Face | None = None,
        embedding: np.ndarray | None = None,
        source: str = "folder",
    ) -> int:
        """Insert or update one enrolled photo and (if given) its face for `backbone`; one transaction.

        When the file's content changed (new sha256) its faces for every backbone are dropped,
        since they describe the old picture. Returns the photo id.
        """
        if status not in PHOTO_STATUSES:
            raise ValueError(f"unknown photo status {status!r}")
        if (embedding is None) != (face is None) or (embedding is not None and backbone is None):
            raise ValueError("face, embedding and backbone go together")
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
                self._insert_face(db, photo_id, backbone, face, embedding)  # type: ignore[arg-type]
                changed = True
            elif backbone is not None:
                # this backbone found no usable face in this content: drop a stale embedding if any
                changed |= db.execute(
                    "DELETE FROM faces WHERE photo_id = ? AND backbone = ?", (photo_id, backbone)).rowcount > 0
            if old is not None and old["person_id"] != person_id:
                self._delete_orphan(db, old["person_id"])
            if changed:
                self._bump_version(db)
        return int(photo_id)

    def touch_photo(self, photo_id: int, mtime: float | None, size: int | None) -> None:
        """Remember a new mtime/size for a photo whose content is unchanged (no version bump)."""
        with self._transaction() as db:
            db.execute("UPDATE photos SET mtime = ?, size = ? WHERE id = ?", (mtime, size, photo_id))

    @staticmethod
    def _insert_face(db: sqlite3.Connection, photo_id: int, backbone: str, face: Face, embedding: np.ndarray) -> None:
        vector = finite_embedding(embedding)
        box, landmarks, confidence = _face_columns(_as_face(face))
        db.execute(
            "INSERT OR REPLACE INTO faces(photo_id, backbone, box, landmarks, confidence, embedding, dim)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (photo_id, backbone, box, landmarks, confidence, encode_embedding(vector), int(vector.size)),
        )

    @staticmethod
    def _delete_orphan(db: sqlite3.Connection, person_id: int) -> None:
        db.execute("DELETE FROM people WHERE id = ? AND NOT EXISTS (SELECT 1 FROM photos WHERE person_id = ?)",
                   (person_id, person_id))

    def remove_photo(self, path: str | Path) -> bool:
        with self._transaction() as db:
            removed = db.execute("DELETE FROM photos WHERE path = ?", (str(path),)).rowcount
            if removed:
                self._bump_version(db)
        return bool(removed)

    def embeddings(self, backbone: str) -> tuple[np.ndarray, list[str], list[int]]:
        """All enrolled embeddings for `backbone`: X (n, d) float32, the person name of each row, face ids."""
        rows = self._db.execute(
            """SELECT f.id, p.name, f.embedding, f.dim FROM faces f
               JOIN photos ph ON ph.id = f.photo_id JOIN people p ON p.id = ph.person_id
               WHERE f.backbone = ? ORDER BY p.name, ph.path""",
            (backbone,),
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
            raise GalleryError(f"gallery holds {backbone} embeddings of several sizes {sorted(dims)}; re-enroll")
        X = np.frombuffer(b"".join(r["embedding"] for r in rows), dtype="<f4").astype(np.float32)
        return X.reshape(len(rows), dims.pop()), [r["name"] for r in rows], [int(r["id"]) for r in rows]

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
        backbone: str | None,
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
        its position) and optional 'backbone' (defaults to `backbone`). A face assigned to a person
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
                (path, sha256, mtime, size, backbone, gallery_version, time.time(), status, note, decision),
            )
            media_id = int(db.execute("SELECT id FROM media WHERE path = ?", (path,)).fetchone()[0])
            rows = []
            for position, det in enumerate(detections):
                box, landmarks, confidence = _face_columns(_as_face(det["face"]))
                score, distance = det.get("score"), det.get("distance")
                rows.append({"face_index": int(det.get("face_index", position)), "box": box, "landmarks": landmarks,
                             "confidence": confidence, "backbone": det.get("backbone", backbone),
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
            face=_face_from_columns(row["box"], row["landmarks"], row["confidence"]), backbone=row["backbone"],
            embedding=decode_embedding(row["embedding"]), predicted_name=row["predicted_name"], score=row["score"],
            assigned_person=row["assigned_person"], cluster_id=row["cluster_id"], distance=row["distance"],
        )

    def detections(self, media_path: str | Path) -> list[DetectionRecord]:
        rows = self._db.execute(self._DETECTION_SELECT + " WHERE m.path = ? ORDER BY d.face_index", (str(media_path),))
        return [self._detection(r) for r in rows]

    _UNKNOWN_WHERE = "d.backbone = ? AND d.assigned_person_id IS NULL AND (d.predicted_name IS NULL OR d.predicted_name = ?)"

    def unknown_detections(self, backbone: str) -> tuple[list[int], np.ndarray]:
        """Detections nobody was recognised in (and nobody named yet): ids and their embeddings (n, d)."""
        rows = self._db.execute(
            f"SELECT d.id, d.embedding FROM detections d WHERE {self._UNKNOWN_WHERE} ORDER BY d.id", (backbone, UNKNOWN)
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

    def unknown_detection_media(self, backbone: str) -> list[int]:
        """The media id of each unknown detection, in unknown_detections' order (two faces of one photo are
        never one person, so clustering keeps them apart)."""
        rows = self._db.execute(
            f"SELECT d.media_id FROM detections d WHERE {self._UNKNOWN_WHERE} ORDER BY d.id", (backbone, UNKNOWN)
        ).fetchall()
        return [int(r["media_id"]) for r in rows]

    def set_clusters(self, mapping: Mapping[int, int | None]) -> None:
        """Set detection id -> cluster id (None = noise/no cluster) in one transaction."""
        with self._transaction() as db:
            db.executemany("UPDATE detections SET cluster_id = ? WHERE id = ?",
                           [(None if c is None else int(c), int(i)) for i, c in mapping.items()])

    def clusters(self, backbone: str) -> dict[int, list[DetectionRecord]]:
        """Clusters of still-unnamed faces: cluster id -> its detections (with the media path)."""
        rows = self._db.execute(
            self._DETECTION_SELECT + " WHERE d.backbone = ? AND d.cluster_id IS NOT NULL AND d.assigned_person_id IS NULL"
            " ORDER BY d.cluster_id, m.path, d.face_index",
            (backbone,),
        )
        out: dict[int, list[DetectionRecord]] = {}
        for r in rows:
            out.setdefault(int(r["cluster_id"]), []).append(self._detection(r))
        return out

    def name_cluster(self, cluster_id: int, name: str, backbone: str, seen: Iterable[int] | None = None) -> int:
        """Enroll every unnamed face of a cluster as a sample of `name`; returns how many faces were enrolled.

        Each face becomes a photos row with source 'tag' and path "<media path>#face<index>" plus a
        copy of its embedding, so it survives re-tagging; the detection is marked as assigned. `seen`: the
        detection ids the user was shown; when the group's faces differ, nothing is enrolled (DecisionError, 409).
        """
        from facerec.gallery.groups import check_members

        name = person_name(name)
        with self._transaction() as db:
            rows = db.execute(
                """SELECT d.*, m.path AS media_path, m.sha256 AS media_sha, m.mtime AS media_mtime, m.size AS media_size
                   FROM detections d JOIN media m ON m.id = d.media_id
                   WHERE d.cluster_id = ? AND d.backbone = ? AND d.assigned_person_id IS NULL""",
                (int(cluster_id), backbone),
            ).fetchall()
            check_members(cluster_id, [r["id"] for r in rows], seen)
            if not rows:
                return 0
            person_id = self._add_person(db, name)
            for r in rows:
                sample_path = f"{r['media_path']}#face{r['face_index']}"
                db.execute(
                    """INSERT INTO photos(person_id, path, sha256, mtime, size, status, note, added_at, source)
                       VALUES (?, ?, ?, ?, ?, 'ok', ?, ?, 'tag')
                       ON CONFLICT(path) DO UPDATE SET person_id = excluded.person_id, sha256 = excluded.sha256,
                         note = excluded.note, source = 'tag'""",
                    (person_id, sample_path, r["media_sha"] or "", r["media_mtime"], r["media_size"],
                     f"named from cluster {cluster_id}", time.time()),
                )
                photo_id = db.execute("SELECT id FROM photos WHERE path = ?", (sample_path,)).fetchone()[0]
                face = _face_from_columns(r["box"], r["landmarks"], r["confidence"])
                self._insert_face(db, photo_id, backbone, face, decode_embedding(r["embedding"]))
                db.execute("UPDATE detections SET assigned_person_id = ?, predicted_name = ? WHERE id = ?",
                           (person_id, name, r["id"]))
            self._bump_version(db)
        return len(rows)

    # ---- maintenance

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the connection is in autocommit mode otherwise."""

    def __init__(self, db: sqlite3.Connection, path: Path):
        self.db, self.path = db, path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise GalleryError(f"cannot write to gallery {self.path}: {_sqlite_message(e)}") from e
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.db.execute("ROLLBACK")
            return
        try:
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as e:  # disk full, I/O error: nothing of the transaction was kept
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise GalleryError(f"cannot write to gallery {self.path}: {_sqlite_message(e)}") from e


def _sqlite_message(error: sqlite3.Error) -> str:
    if "locked" in str(error) or "busy" in str(error):
        return (f"{error}: another facerec process has held the gallery's write lock for more than "
                f"{LOCK_TIMEOUT_S:.0f} s; try again when it has finished")
    return str(error)
