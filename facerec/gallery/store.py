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

The methods live by table: facerec.gallery.people (people, photos, faces), facerec.gallery.media (media,
detections, groups), facerec.gallery.decisions (the review's decisions), facerec.gallery.people_decisions (rename,
merge, hide, cover, move; tables aliases and person_decisions, people.hidden and people.cover); the schema and its migrations in
facerec.gallery.schema. Gallery joins them over one connection. A parameter `embedding_id` holds a
pipeline's embedding id (backbone, detector, alignment: facerec.recognition.pipeline), which the
column `backbone` stores.

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

import logging
import os
import sqlite3
import stat
import threading
from pathlib import Path

from facerec.errors import GalleryError
from facerec.files.atomic import make_private_dirs
# the records are named from here too: facerec.gallery.store is where callers find the gallery's types
from facerec.gallery.media import DetectionRecord, MediaRecord, MediaTables  # noqa: F401
from facerec.gallery.people import PeopleTables, PersonSummary, PhotoRecord  # noqa: F401
from facerec.gallery.schema import MIGRATIONS, PHOTO_STATUSES, SCHEMA_VERSION  # noqa: F401
from facerec.paths import ENV_LOCK_TIMEOUT

log = logging.getLogger(__name__)


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


class Gallery(PeopleTables, MediaTables):
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
