"""Enrollment from PEOPLE_DIR/<Name>/<photos> with the real MTCNN + dlib pipeline on real photos.

Covers the first run, cheap re-runs, changed / renamed / removed / corrupt / faceless / group photos,
and a `facerec enroll` process killed with SIGKILL in the middle of a run.
"""
from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from facerec.gallery.enroll import enroll_folder, forget, list_people
from facerec.gallery.store import Gallery
from facerec.backbones import embedding_id

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

KEY = embedding_id("dlib")  # the gallery key of the default dlib pipeline's embeddings

DATA = Path(__file__).resolve().parents[1] / "data"
PEOPLE = DATA / "people"
HOLDOUT = DATA / "holdout"
CORE = DATA / "core"
REPO = DATA.parent.parent


class CountingPipeline:
    """The real pipeline, counting the expensive calls."""

    def __init__(self, pipeline):
        self.inner = pipeline
        self.backbone = pipeline.backbone
        self.embedding_id = pipeline.embedding_id
        self.detects = self.embeds = 0

    def detect(self, image):
        self.detects += 1
        return self.inner.detect(image)

    def detect_expecting_face(self, image):
        self.detects += 1
        return self.inner.detect_expecting_face(image)

    def embed(self, image, faces):
        self.embeds += len(faces)
        return self.inner.embed(image, faces)


def statuses(report) -> dict[str, str]:
    """'Person/file name' -> status."""
    return {f"{r.person}/{Path(r.path).name}": r.status for r in report.rows}


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, dlib_pipeline):
    """tests/data/people enrolled once into a fresh gallery: (people dir, gallery path, first report)."""
    root = tmp_path_factory.mktemp("enroll")
    people = root / "people"
    shutil.copytree(PEOPLE, people)
    (people / "Angelina_Jolie" / ".hidden.jpg").write_bytes((PEOPLE / "Angelina_Jolie" / "img5.jpg").read_bytes())
    (people / "Angelina_Jolie" / "README.txt").write_text("not a photo")
    (people / "loose.jpg").write_bytes((HOLDOUT / "deepface_id13_img24.jpg").read_bytes())
    counting = CountingPipeline(dlib_pipeline)
    with Gallery(root / "gallery.sqlite") as g:
        report = enroll_folder(people, g, counting, progress=False)
    return people, root / "gallery.sqlite", report, counting


def test_first_run_enrolls_every_photo(enrolled):
    people, gallery_path, report, counting = enrolled
    assert set(statuses(report).values()) == {"ok"} and len(report.rows) == 9  # hidden, README and loose file skipped
    assert counting.embeds == 9 and report.embedded == 9
    with Gallery(gallery_path) as g:
        assert [(p.name, p.photos, p.faces) for p in list_people(g, KEY)] == [
            ("Angelina_Jolie", 3, 3), ("deepface_id03", 3, 3), ("deepface_id05", 3, 3)]
        X, names, _ = g.embeddings(KEY)
    assert X.shape == (9, 128)
    assert report.to_dict()["counts"] == {"ok": 9}


def test_rerun_embeds_nothing_and_changes_nothing(enrolled, dlib_pipeline):
    people, gallery_path, _, _ = enrolled
    counting = CountingPipeline(dlib_pipeline)
    with Gallery(gallery_path) as g:
        version = g.version()
        report = enroll_folder(people, g, counting, progress=False)
        assert g.version() == version
    assert set(statuses(report).values()) == {"unchanged"} and len(report.rows) == 9
    assert counting.detects == 0 and counting.embeds == 0


def test_changes_in_the_folder_are_followed(tmp_path, dlib_pipeline):
    people = tmp_path / "people"
    shutil.copytree(PEOPLE, people)
    counting = CountingPipeline(dlib_pipeline)
    with Gallery(tmp_path / "g.sqlite") as g:
        enroll_folder(people, g, counting, progress=False)
        version = g.version()
        jolie, id03 = people / "Angelina_Jolie", people / "deepface_id03"
        (jolie / "img5.jpg").write_bytes((HOLDOUT / "Angelina_Jolie_img10.jpg").read_bytes())  # new content
        (id03 / "img50.jpg").unlink()  # removed
        (id03 / "img51.jpg").rename(id03 / "renamed.jpg")  # renamed: no new embedding needed
        (id03 / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        shutil.copy(CORE / "noface_017.jpg", id03 / "noface.jpg")
        shutil.copy(CORE / "group_3.jpg", jolie / "group.jpg")
        shutil.rmtree(people / "deepface_id05")  # a whole person gone
        counting.detects = counting.embeds = 0
        report = enroll_folder(people, g, counting, progress=False)
        assert g.version() > version
        people_now = {p.name: (p.photos, p.faces) for p in g.people(KEY)}
        photo_notes = {Path(p.path).name: p.status for p in g.photos("deepface_id03")}

    got = statuses(report)
    assert got["Angelina_Jolie/img5.jpg"] == "updated"
    assert got["Angelina_Jolie/img6.jpg"] == got["Angelina_Jolie/img11.jpg"] == "unchanged"
    assert got["Angelina_Jolie/group.jpg"] == "multiple_faces"
    assert got["deepface_id03/renamed.jpg"] == "unchanged"
    assert got["deepface_id03/img51.jpg"] == got["deepface_id03/img50.jpg"] == "removed"
    assert got["deepface_id03/broken.jpg"] == "unreadable"
    assert got["deepface_id03/noface.jpg"] == "no_face"
    assert got["deepface_id05/img16.jpg"] == "removed" and report.removed_people == ["deepface_id05"]
    rows = {Path(r.path).name: r for r in report.rows}
    assert rows["group.jpg"].note == "3 faces, took the largest near the centre" and rows["group.jpg"].faces == 3
    assert "broken.jpg" in rows["broken.jpg"].note and "corrupt" in rows["broken.jpg"].note
    assert counting.embeds == 2  # the changed photo and the group photo; the rename reused its embedding
    assert people_now == {"Angelina_Jolie": (4, 4), "deepface_id03": (4, 2)}
    assert photo_notes == {"broken.jpg": "unreadable", "img48.jpg": "ok", "noface.jpg": "no_face", "renamed.jpg": "ok"}


def test_too_small_faces_are_refused(tmp_path, dlib_pipeline):
    people = tmp_path / "people"
    shutil.copytree(PEOPLE / "deepface_id05", people / "deepface_id05")
    with Gallery(tmp_path / "g.sqlite") as g:
        report = enroll_folder(people, g, dlib_pipeline, progress=False, min_face_size=400)
        assert g.embeddings(KEY)[0].shape[0] == 0
    assert {r.status for r in report.rows} == {"too_small"}
    assert all("below the 400 px minimum" in r.note for r in report.rows)


def test_forget(enrolled, tmp_path):
    _, gallery_path, _, _ = enrolled
    copy = tmp_path / "g.sqlite"
    shutil.copy(gallery_path, copy)  # every connection is closed, so the WAL is merged into the file
    with Gallery(copy) as g:
        assert forget(g, "deepface_id05") and not forget(g, "deepface_id05")
        assert [p.name for p in list_people(g)] == ["Angelina_Jolie", "deepface_id03"]


def test_missing_people_dir_is_a_clear_error(tmp_path, dlib_pipeline):
    from facerec.errors import FacerecError

    with Gallery(tmp_path / "g.sqlite") as g, pytest.raises(FacerecError, match="not a folder"):
        enroll_folder(tmp_path / "nope", g, dlib_pipeline, progress=False)


# --------------------------------------------------------------------------- crash safety


def make_many_photos(folder: Path, n: int) -> None:
    """n photos with the same face but different bytes (JPEG comments), so each one is embedded."""
    folder.mkdir(parents=True)
    image = Image.open(PEOPLE / "deepface_id03" / "img51.jpg")
    for i in range(n):
        image.save(folder / f"copy_{i:03d}.jpg", quality=90, comment=f"copy {i}".encode())


def committed_photos(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


@pytest.mark.slow
def test_killed_enroll_leaves_a_consistent_gallery_and_a_rerun_completes_it(tmp_path, dlib_pipeline):
    n = 24
    people = tmp_path / "people"
    make_many_photos(people / "Kill_Test", n)
    gallery_path = tmp_path / "gallery.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "facerec.cli.main", "enroll", str(people), "--gallery", str(gallery_path), "-q"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180
        while committed_photos(gallery_path) < 3:
            assert proc.poll() is None, f"enroll ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "enroll wrote nothing in 180 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with Gallery(gallery_path) as g:
        assert g.integrity_check() == "ok"
        done = g.photos()
        assert 3 <= len(done) < n
        assert all(p.status == "ok" and g.has_embedding(p.id, KEY) for p in done)  # no half-written photo
        with sqlite3.connect(gallery_path) as db:
            assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == len(done)
        counting = CountingPipeline(dlib_pipeline)
        report = enroll_folder(people, g, counting, progress=False)
        assert g.people(KEY)[0].faces == n
    got = [r.status for r in report.rows]
    assert got.count("unchanged") == len(done) and got.count("ok") == n - len(done)
    assert counting.embeds == n - len(done)


def test_a_gallery_inside_people_dir_is_never_taken_as_a_person(tmp_path, dlib_pipeline):
    """PEOPLE_DIR/gal.sqlite: its -uploads folder (photos registered over HTTP), -heads and -cache folders are
    the gallery's own, reported as such; Alice, registered over HTTP, stays Alice across enroll runs."""
    from types import SimpleNamespace

    from facerec.gallery.enroll import OWN_FOLDER_NOTE
    from facerec.server.uploads import enroll_upload

    people = tmp_path / "people"
    shutil.copytree(PEOPLE / "deepface_id03", people / "deepface_id03")
    gallery_path = people / "gal.sqlite"
    (people / "gal-heads" / "dlib").mkdir(parents=True)
    (people / "gal-heads" / "dlib" / "head.json").write_text('{"classes": ["deepface_id03"]}')
    (people / "gal-cache" / "bottlenecks").mkdir(parents=True)
    with Gallery(gallery_path) as g:
        server = SimpleNamespace(pipeline=dlib_pipeline, backbone=KEY, config=SimpleNamespace(gallery=gallery_path),
                                 gallery=lambda: g)
        photo = PEOPLE / "deepface_id05" / "img16.jpg"
        assert enroll_upload(server, "Alice", photo.read_bytes(), "alice.jpg")["status"] == "ok"
        uploaded = g.photos(person="Alice")
        for _ in range(2):  # the first run, and a re-run
            report = enroll_folder(people, g, dlib_pipeline, progress=False)
            assert sorted(p.name for p in g.people()) == ["Alice", "deepface_id03"]
            assert g.photos(person="Alice") == uploaded
        own = {r.person: r.note for r in report.rows if r.status == "skipped"}
        assert own == {"gal-cache": OWN_FOLDER_NOTE, "gal-heads": OWN_FOLDER_NOTE, "gal-uploads": OWN_FOLDER_NOTE}
        assert report.removed_people == []


def test_a_person_whose_folder_is_deleted_is_forgotten_everywhere(tmp_path, dlib_pipeline):
    """The same as `facerec forget`: the heads that can name them, their cached embeddings, photos uploaded for
    them and the album faces named as them go with them."""
    import numpy as np

    from facerec.files.atomic import file_sha256
    from facerec.heads.bottlenecks import BottleneckCache
    from facerec.paths import bottleneck_cache_dir, person_uploads_dir
    from facerec.types import Face

    people, gone, kept = tmp_path / "people", "deepface_id05", "deepface_id03"
    for person in (gone, kept):
        shutil.copytree(PEOPLE / person, people / person)
    gallery_path = tmp_path / "gallery.sqlite"
    heads = tmp_path / "gallery-heads"
    for head, classes in (("both", f'["{gone}", "{kept}"]'), ("kept", f'["{kept}"]')):
        (heads / head).mkdir(parents=True)
        (heads / head / "head.json").write_text('{"classes": %s}' % classes)
    with Gallery(gallery_path) as g:
        enroll_folder(people, g, dlib_pipeline, progress=False)
        face = Face((10, 10, 60, 60), 0.99, tuple((20.0 + i, 30.0) for i in range(5)))
        vector = np.ones(128, np.float32) / np.sqrt(128)
        cache = BottleneckCache(bottleneck_cache_dir(gallery_path))
        hashes = {person: [file_sha256(p) for p in (people / person).glob("*.jpg")] for person in (gone, kept)}
        for sha in hashes[gone] + hashes[kept]:
            cache.put(KEY, sha, face, "flip", vector)
        leftover = person_uploads_dir(gallery_path, gone) / "photo.jpg"  # uploaded to `facerec serve` once
        leftover.parent.mkdir(parents=True)
        shutil.copy(PEOPLE / gone / "img16.jpg", leftover)
        g.record_media("/album/x.jpg", "ab" * 32, 1.0, 10, KEY, g.version(), "ok",
                       detections=[{"face": face, "embedding": vector, "predicted_name": gone, "score": 0.9}])

        shutil.rmtree(people / gone)
        report = enroll_folder(people, g, dlib_pipeline, progress=False)
        assert report.removed_people == [gone]
        assert [p.name for p in g.people()] == [kept]
        assert g.detections("/album/x.jpg") == []
    assert sorted(p.name for p in heads.iterdir()) == ["kept"]
    assert not any(any(cache.folder.glob(f"*/*/{sha}-*.npy")) for sha in hashes[gone])
    assert all(any(cache.folder.glob(f"*/*/{sha}-*.npy")) for sha in hashes[kept])
    assert not leftover.exists()


def test_enroll_quiet_prints_nothing_and_another_backbone_fills_the_faces_column(tmp_path, capsys):
    """-q: only errors. A second backbone reuses the face the first one chose and still says how many faces the
    photo holds."""
    import json

    from facerec.cli.main import main
    from facerec.gallery.enroll import faces_recorded

    gallery = str(tmp_path / "g.sqlite")
    assert main(["enroll", "-q", "--backbone", "dlib", "--gallery", gallery, str(PEOPLE)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["enroll", "--json", "--backbone", "dlib-keras", "--gallery", gallery, str(PEOPLE)]) == 0
    rows = json.loads(capsys.readouterr().out)["photos"]
    assert len(rows) == 9 and all(r["status"] == "ok" and r["faces"] == 1 for r in rows)
    assert faces_recorded("multiple_faces", "3 faces, took the largest near the centre") == 3
    assert faces_recorded("no_face", "no face found") is None
