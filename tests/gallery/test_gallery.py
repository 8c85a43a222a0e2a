"""The SQLite gallery: private files, WAL, exact embedding storage, cascades, version counter, tagging tables."""
from __future__ import annotations

import json
import os
import sqlite3
import stat

import numpy as np
import pytest

from facerec.gallery import store as gallery_module
from facerec.errors import GalleryError
from facerec.gallery.store import SCHEMA_VERSION, Gallery
from facerec.types import UNKNOWN, Face

FACE = Face((10, 20, 64, 80), 0.9987, ((30.5, 50.25), (60.0, 50.0), (45.0, 65.0), (35.0, 80.0), (58.0, 80.0)))


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def unit(rng, d=128) -> np.ndarray:
    v = rng.normal(size=d).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "g.sqlite") as g:
        yield g


def raw(g: Gallery) -> sqlite3.Connection:
    return sqlite3.connect(g.path)


def test_new_gallery_files_are_private_whatever_the_umask(tmp_path):
    before = mode(tmp_path)
    old = os.umask(0)  # the most permissive umask: permissions must come from facerec, not from it
    try:
        path = tmp_path / "a" / "b" / "gallery.sqlite"
        with Gallery(path) as g:
            g.add_person("Alice")  # a write, so the -wal file certainly exists
            for suffix in ("", "-wal", "-shm"):
                assert mode(str(path) + suffix) == 0o600, suffix
        assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700
        assert mode(tmp_path) == before  # folders that already existed are left alone
    finally:
        os.umask(old)


def test_existing_world_readable_gallery_is_tightened(tmp_path):
    path = tmp_path / "g.sqlite"
    Gallery(path).close()
    os.chmod(path, 0o644)
    Gallery(path).close()
    assert mode(path) == 0o600


def test_wal_mode_and_schema_version(gallery):
    with raw(gallery) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert gallery.integrity_check() == "ok"


def test_embeddings_round_trip_bit_for_bit(gallery):
    rng = np.random.default_rng(0)
    vectors = [unit(rng) for _ in range(3)]
    vectors[2][:4] = [np.float32(1e-38), np.float32(-0.0), np.nextafter(np.float32(0.5), np.float32(1)), np.float32(3.4e38)]
    for i, v in enumerate(vectors):
        gallery.record_photo("Bob" if i else "Alice", f"/p/{i}.jpg", f"sha{i}", 1.5, 100, "ok", "", "dlib", FACE, v)
    X, names, face_ids = gallery.embeddings("dlib")
    assert X.dtype == np.float32 and X.shape == (3, 128) and len(set(face_ids)) == 3
    assert names == ["Alice", "Bob", "Bob"]
    assert X.tobytes() == np.stack(vectors).astype("<f4").tobytes()
    face, vector, backbone = gallery.face(gallery.photo("/p/0.jpg").id, "dlib")
    assert face == FACE and backbone == "dlib" and vector.tobytes() == vectors[0].tobytes()
    assert gallery.embeddings("vgg16")[0].shape[0] == 0


def test_storage_is_blobs_and_json_not_pickle(gallery):
    gallery.record_photo("Alice", "/p/a.jpg", "s", None, None, "ok", "", "dlib", FACE, np.ones(128, np.float32))
    with raw(gallery) as db:
        kind, length, dim, box, landmarks = db.execute(
            "SELECT typeof(embedding), length(embedding), dim, box, landmarks FROM faces").fetchone()
    assert (kind, length, dim) == ("blob", 128 * 4, 128)
    assert json.loads(box) == [10, 20, 64, 80] and json.loads(landmarks)[0] == [30.5, 50.25]


def test_forget_cascades_to_photos_faces_and_assignments(gallery):
    rng = np.random.default_rng(1)
    gallery.record_photo("Alice", "/p/a1.jpg", "s1", None, None, "ok", "", "dlib", FACE, unit(rng))
    gallery.record_photo("Alice", "/p/a2.jpg", "s2", None, None, "no_face", "no face found", "dlib")
    gallery.record_photo("Bob", "/p/b1.jpg", "s3", None, None, "ok", "", "dlib", FACE, unit(rng))
    gallery.record_media("/album/x.jpg", "m", None, None, "dlib", gallery.version(), "ok", "",
                         [{"face": FACE, "embedding": unit(rng), "predicted_name": UNKNOWN, "score": 0.3}])
    gallery.set_clusters({gallery.unknown_detections("dlib")[0][0]: 0})
    assert gallery.name_cluster(0, "Alice", "dlib") == 1
    assert gallery.detections_naming("Alice") == 1 and gallery.detections_naming("Bob") == 0

    assert gallery.forget("Alice") is True
    with raw(gallery) as db:
        assert db.execute("SELECT COUNT(*) FROM photos").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 1
        # the face named from the group goes with its embedding: as an unknown face it would regroup at once
        assert db.execute("SELECT COUNT(*) FROM detections").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM media").fetchone()[0] == 1  # the album photo's record stays
    assert [p.name for p in gallery.people()] == ["Bob"]
    assert gallery.embeddings("dlib")[1] == ["Bob"]
    assert gallery.forget("Alice") is False


def test_version_counts_changes_to_the_enrolled_set_only(gallery):
    rng = np.random.default_rng(2)
    v0 = gallery.version()
    pid = gallery.record_photo("Alice", "/p/a.jpg", "s1", 1.0, 10, "ok", "", "dlib", FACE, unit(rng))
    v1 = gallery.version()
    assert v1 > v0
    gallery.touch_photo(pid, 2.0, 10)  # same content, new mtime
    gallery.record_photo("Alice", "/p/n.jpg", "s2", 1.0, 10, "no_face", "no face found", "dlib")
    v2 = gallery.version()
    gallery.record_photo("Alice", "/p/n.jpg", "s2", 1.0, 10, "no_face", "no face found", "dlib")  # a re-run
    assert gallery.version() == v2
    assert gallery.remove_photo("/p/a.jpg") and gallery.version() > v2
    v3 = gallery.version()
    assert gallery.forget("Alice") and gallery.version() > v3
    assert not gallery.forget("Alice")


def test_new_content_drops_embeddings_of_every_backbone(gallery):
    rng = np.random.default_rng(3)
    gallery.record_photo("Alice", "/p/a.jpg", "old", 1.0, 10, "ok", "", "dlib", FACE, unit(rng))
    gallery.record_photo("Alice", "/p/a.jpg", "old", 1.0, 10, "ok", "", "vgg16", FACE, unit(rng, 4096))
    pid = gallery.photo("/p/a.jpg").id
    assert gallery.has_embedding(pid, "dlib") and gallery.has_embedding(pid, "vgg16")
    gallery.record_photo("Alice", "/p/a.jpg", "new", 2.0, 11, "ok", "", "dlib", FACE, unit(rng))
    assert gallery.has_embedding(pid, "dlib") and not gallery.has_embedding(pid, "vgg16")
    assert gallery.people("vgg16")[0].faces == 0 and gallery.people("dlib")[0].faces == 1


def test_moving_a_photo_to_another_person_drops_the_empty_person(gallery):
    gallery.record_photo("Alcie", "/p/a.jpg", "s", 1.0, 10, "ok", "", "dlib", FACE, np.ones(128, np.float32))
    gallery.record_photo("Alice", "/p/a.jpg", "s", 1.0, 10, "ok", "", "dlib", FACE, np.ones(128, np.float32))
    assert [p.name for p in gallery.people()] == ["Alice"]


def test_rejects_bad_input(gallery):
    with pytest.raises(GalleryError):
        gallery.add_person(UNKNOWN)
    with pytest.raises(ValueError):
        gallery.record_photo("Alice", "/p/a.jpg", "s", None, None, "great", "")
    with pytest.raises(GalleryError):
        gallery.record_photo("Alice", "/p/a.jpg", "s", None, None, "ok", "", "dlib", FACE, np.full(128, np.nan))
    assert gallery.photo("/p/a.jpg") is None  # the failed transaction left nothing behind


def test_missing_gallery_is_not_created_on_read(tmp_path):
    with pytest.raises(GalleryError, match="enroll"):
        Gallery(tmp_path / "none.sqlite", create=False)
    assert not (tmp_path / "none.sqlite").exists()


def test_not_a_database_is_a_gallery_error(tmp_path):
    path = tmp_path / "g.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GalleryError, match="cannot open gallery"):
        Gallery(path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "g.sqlite"
    Gallery(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(GalleryError, match="upgrade facerec"):
        Gallery(path)


def test_migration_hook_upgrades_and_keeps_data(tmp_path, monkeypatch):
    path = tmp_path / "g.sqlite"
    with Gallery(path) as g:
        g.add_person("Alice")

    def add_column(db):
        db.execute("ALTER TABLE people ADD COLUMN nickname TEXT")

    monkeypatch.setattr(gallery_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(gallery_module.MIGRATIONS, SCHEMA_VERSION, add_column)
    with Gallery(path) as g:
        assert [p.name for p in g.people()] == ["Alice"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert "nickname" in [r[1] for r in db.execute("PRAGMA table_info(people)")]


def test_media_detections_clusters_and_naming(gallery):
    rng = np.random.default_rng(4)
    gallery.record_photo("Alice", "/p/a.jpg", "s", None, None, "ok", "", "dlib", FACE, unit(rng))
    dets = [
        {"face": FACE, "embedding": unit(rng), "predicted_name": "Alice", "score": 0.95},
        {"face": FACE.to_dict(), "embedding": unit(rng), "predicted_name": UNKNOWN, "score": 0.2},
        {"face": FACE, "embedding": unit(rng), "predicted_name": None, "score": None},
    ]
    version = gallery.version()
    media_id = gallery.record_media("/album/x.jpg", "m1", 5.0, 123, "dlib", version, "ok", "", dets)
    assert gallery.media_record("/album/x.jpg").gallery_version == version
    assert [d.face_index for d in gallery.detections("/album/x.jpg")] == [0, 1, 2]

    ids, X = gallery.unknown_detections("dlib")
    assert len(ids) == 2 and X.shape == (2, 128)
    assert X.tobytes() == np.stack([dets[1]["embedding"], dets[2]["embedding"]]).astype("<f4").tobytes()
    gallery.set_clusters({ids[0]: 7, ids[1]: 7})
    clusters = gallery.clusters("dlib")
    assert list(clusters) == [7] and [d.media_path for d in clusters[7]] == ["/album/x.jpg"] * 2

    assert gallery.name_cluster(7, "Carol", "dlib") == 2
    assert gallery.version() > version and gallery.clusters("dlib") == {}
    X, names, _ = gallery.embeddings("dlib")
    assert names.count("Carol") == 2 and len(gallery.unknown_detections("dlib")[0]) == 0
    carol = gallery.photos("Carol")
    assert {p.path for p in carol} == {"/album/x.jpg#face1", "/album/x.jpg#face2"} and carol[0].source == "tag"

    # Re-tagging the unchanged file replaces the detections but keeps who they were assigned to,
    # and the enrolled samples do not depend on the detection rows.
    assert gallery.record_media("/album/x.jpg", "m1", 5.0, 123, "dlib", gallery.version(), "ok", "", dets) == media_id
    assert [d.assigned_person for d in gallery.detections("/album/x.jpg")] == [None, "Carol", "Carol"]
    gallery.remove_media("/album/x.jpg")
    assert gallery.embeddings("dlib")[1].count("Carol") == 2


@pytest.mark.slow
def test_a_hundred_thousand_faces_load_and_match_correctly(tmp_path):
    """100k enrolled 128-d faces (1,000 people): the matrix is 51 MB and nearest-neighbour search stays exact."""

    from facerec.recognition.match import NearestNeighbourMatcher

    n, people, dim = 100_000, 1_000, 128
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((people, dim)).astype(np.float32)
    person_of = np.arange(n) % people
    vectors = centres[person_of] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    path = tmp_path / "big.sqlite"
    Gallery(path).close()  # the schema, made by the gallery itself
    box, landmarks = json.dumps([0, 0, 60, 60]), json.dumps([[20, 25], [40, 25], [30, 35], [22, 45], [38, 45]])
    with sqlite3.connect(path) as db:  # bulk rows in one transaction: 100k single-photo commits would take a minute
        db.executemany("INSERT INTO people(id, name, created_at) VALUES (?, ?, 0)",
                       [(i + 1, f"person_{i:04d}") for i in range(people)])
        db.executemany("INSERT INTO photos(id, person_id, path, sha256, status, added_at) VALUES (?, ?, ?, ?, 'ok', 0)",
                       [(i + 1, int(person_of[i]) + 1, f"/photos/{i}.jpg", f"{i:064x}") for i in range(n)])
        db.executemany("INSERT INTO faces(photo_id, backbone, box, landmarks, confidence, embedding, dim) "
                       "VALUES (?, 'dlib', ?, ?, 0.99, ?, ?)",
                       [(i + 1, box, landmarks, vectors[i].astype("<f4").tobytes(), dim) for i in range(n)])
    with Gallery(path) as gallery:
        X, names, face_ids = gallery.embeddings("dlib")
    assert X.shape == (n, dim) and X.nbytes == n * dim * 4 == 51_200_000
    assert len(set(face_ids)) == n
    matcher = NearestNeighbourMatcher(threshold=0.5).fit(X, names)
    probes = rng.choice(n, 200, replace=False)
    noisy = vectors[probes] + 0.05 * rng.standard_normal((200, dim)).astype(np.float32)
    predicted = matcher.predict(noisy)
    assert list(predicted) == [f"person_{person_of[i]:04d}" for i in probes]
    stranger = rng.standard_normal((5, dim)).astype(np.float32)
    assert set(matcher.predict(stranger)) == {UNKNOWN}
