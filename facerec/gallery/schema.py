"""The gallery's schema: the tables as version 1 created them, and MIGRATIONS, one step per schema version
(facerec.gallery.store's docstring lists the tables as they are today)."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 5
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


def _migrate_4_to_5(db: sqlite3.Connection) -> None:
    from facerec.gallery.people_decisions import migrate_4_to_5

    migrate_4_to_5(db)  # hidden people, cover faces, folder aliases, person-level decisions


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0_to_1, 1: _migrate_1_to_2,
                                                              2: _migrate_2_to_3, 3: _migrate_3_to_4,
                                                              4: _migrate_4_to_5}



def bump_version(db: sqlite3.Connection) -> None:
    """Count a change to the enrolled set, so `tag` knows which stored names are stale."""
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
