"""Inputs that used to end in a traceback (or hang): each now ends in a documented exit code and a message."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from robust_helpers import FACE_A, FACE_B, people_in, small_copy

from facerec.backbones import embedding_id

KEY = embedding_id("dlib")  # the gallery key of the default dlib pipeline's embeddings

pytest.importorskip("dlib")


def bytes_path(folder: Path, name: bytes) -> bytes:
    """A path whose last part is `name`, not valid UTF-8: only a bytes path can create it."""
    return os.path.join(os.fsencode(folder), name)


# --------------------------------------------------------------------------- names


def test_names_that_are_not_utf8_are_skipped_by_enroll_and_the_rest_enrolled(enrolled, cli):
    people, gallery = enrolled
    bad_folder = bytes_path(people, b"Caf\xe9")  # Latin-1, as an old camera or Windows share writes it
    os.mkdir(bad_folder)
    small_copy(FACE_A, Path(os.fsdecode(os.path.join(bad_folder, b"c.jpg"))))
    os.link(people / "Ann" / "a1.jpg", bytes_path(people / "Ann", b"\xff\xfe.jpg"))
    run = cli("enroll", people, "--gallery", gallery)
    assert run.code == 0
    assert run.out.count("not valid UTF-8") == 2 and "Caf\\xe9" in run.out
    run = cli("enroll", people, "--gallery", gallery, "--json")  # every re-run too, and the JSON is valid
    assert run.code == 0
    assert {r["status"] for r in json.loads(run.out)["photos"]} == {"unchanged", "skipped"}
    assert people_in(gallery) == {"Ann": 1, "Bob": 1}


def test_names_that_are_not_utf8_are_skipped_by_tag_and_the_rest_tagged(cli, tmp_path):
    album = tmp_path / "album"
    small_copy(FACE_A, album / "good.jpg")
    small_copy(FACE_B, Path(os.fsdecode(bytes_path(album, b"bad\xff.jpg"))))
    os.mkdir(bytes_path(album, b"folder\xff"))
    run = cli("tag", album, "--gallery", tmp_path / "g.sqlite", "--csv", tmp_path / "faces.csv", "--all")
    assert run.code == 0
    assert "good.jpg" in run.out and run.out.count("not valid UTF-8") == 2
    assert "good.jpg" in (tmp_path / "faces.csv").read_text()


def test_a_person_folder_named_unknown_is_refused_and_identify_still_works(enrolled, cli):
    people, gallery = enrolled
    small_copy(FACE_B, people / "unknown" / "u.jpg")
    small_copy(FACE_B, people / "bad\x07name" / "u.jpg")
    run = cli("enroll", people, "--gallery", gallery)
    assert run.code == 0 and "reserved" in run.out and "control characters" in run.out
    assert "\x07" not in run.out  # escaped, not rung
    assert people_in(gallery) == {"Ann": 1, "Bob": 1}
    assert cli("identify", people / "Ann" / "a1.jpg", "--gallery", gallery).code == 0


@pytest.mark.parametrize("name", ["unknown", "UNKNOWN", "a/b", "x|y", "tab\there", "", " ", "é" * 101,
                                  "\u202eevil", ".hidden"])
def test_name_command_refuses_bad_names(cli, tmp_path, name):
    run = cli("name", "1", name, "--gallery", tmp_path / "g.sqlite")
    assert run.code == 2 and "cannot be a person's name" in run.err


def test_a_reserved_name_from_an_older_facerec_can_be_forgotten_and_is_not_matched(enrolled, cli):
    people, gallery = enrolled
    with sqlite3.connect(gallery) as db:  # what an older facerec let in
        db.execute("UPDATE people SET name = 'unknown' WHERE name = 'Bob'")
    db.close()
    assert cli("identify", people / "Ann" / "a1.jpg", "--gallery", gallery).code == 0
    assert cli("forget", "unknown", "--gallery", gallery).code == 0
    assert people_in(gallery) == {"Ann": 1}


# --------------------------------------------------------------------------- files and folders


def test_gallery_folder_that_cannot_be_created(cli, tmp_path, people_dir):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    run = cli("enroll", people_dir, "--gallery", blocker / "sub" / "g.sqlite")
    assert run.code == 1 and "cannot create the gallery folder" in run.err


def test_gallery_that_is_a_folder(cli, tmp_path, people_dir):
    run = cli("enroll", people_dir, "--gallery", tmp_path)
    assert run.code == 1 and "is a folder" in run.err


def test_unreadable_people_folder(cli, tmp_path, people_dir, monkeypatch):
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == people_dir:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    run = cli("enroll", people_dir, "--gallery", tmp_path / "g.sqlite")
    assert run.code == 3 and "cannot list the people folder" in run.err


@pytest.mark.parametrize("command", ["detect", "enroll", "tag", "identify"])
@pytest.mark.parametrize("value", ["0", "-5", "x"])
def test_min_face_size_must_be_positive(cli, tmp_path, command, value):
    run = cli(command, tmp_path, "--min-face-size", value)
    assert run.code == 2 and "--min-face-size" in run.err


def test_a_write_lock_held_too_long_is_a_clear_error(enrolled, cli, monkeypatch):
    from facerec.gallery import store as gallery_module

    people, gallery = enrolled
    monkeypatch.setattr(gallery_module, "LOCK_TIMEOUT_S", 0.3)
    holder = sqlite3.connect(gallery, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        run = cli("forget", "Ann", "--gallery", gallery)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run.code == 1 and "write lock" in run.err
    assert people_in(gallery) == {"Ann": 1, "Bob": 1}


def test_clusters_after_nan_embeddings(cli, tmp_path):
    import numpy as np

    from facerec.errors import GalleryError
    from facerec.gallery.store import Gallery
    from facerec.types import Face

    gallery = tmp_path / "g.sqlite"
    face = Face((10, 10, 50, 50), 0.99, tuple((20.0 + i, 30.0) for i in range(5)))
    rng = np.random.default_rng(0)
    with Gallery(gallery) as g:
        for i in range(3):
            v = rng.normal(size=128).astype(np.float32)
            g.record_media(f"/x/{i}.jpg", f"sha{i}", 0.0, 1, KEY, 0, "ok", "",
                           [{"face": face, "embedding": v / np.linalg.norm(v), "predicted_name": "unknown"}])
        with pytest.raises(GalleryError, match="NaN"):  # never stored now ...
            g.record_media("/x/nan.jpg", "shan", 0.0, 1, KEY, 0, "ok", "",
                           [{"face": face, "embedding": np.full(128, np.nan), "predicted_name": "unknown"}])
    with sqlite3.connect(gallery) as db:  # ... but an older facerec stored some
        db.execute("UPDATE detections SET embedding = ? WHERE id = 1", (np.full(128, np.nan, "<f4").tobytes(),))
    db.close()
    run = cli("clusters", "--gallery", gallery, "--backbone", "dlib", "--json")
    assert run.code == 0 and json.loads(run.out)["unknown_faces"] == 2


def test_a_named_pipe_given_as_an_image_does_not_hang(cli, tmp_path):
    from facerec.errors import ImageError
    from facerec.vision.imageio import load_image

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_image(fifo)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome.append(e)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(10)
    assert outcome, "load_image blocked on a named pipe"
    assert isinstance(outcome[0], ImageError) and "not a regular file" in str(outcome[0])
    good = small_copy(FACE_A, tmp_path / "good.jpg")
    run = cli("detect", fifo, good)
    assert run.code == 0 and "not a regular file" in run.err and "good.jpg" in run.out  # the good photo answers


def thin_png(path: Path, width: int) -> Path:
    """A PNG of a few hundred bytes, `width` x 1 pixels: the shape that used to exhaust memory."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, 1), (120, 120, 120)).save(path)
    return path


def test_identify_refuses_an_absurd_shape_with_exit_3_and_goes_on(enrolled, cli, tmp_path):
    """1000000x1 was a traceback in identify; 40000x1 cost 3.7 GB and 46 s."""
    _, gallery = enrolled
    thin = thin_png(tmp_path / "thin.png", 1_000_000)
    good = small_copy(FACE_A, tmp_path / "good.jpg")
    run = cli("identify", thin, good, "--gallery", gallery)
    assert run.code == 0, run.err  # the good photo answers; the absurd one is listed
    assert "1000000x1" in run.err and "times longer than it is wide" in run.err
    assert "Ann" in run.out  # the photo after it is identified


def test_enroll_reports_an_absurd_shape_and_enrolls_the_people_after_it(enrolled, cli):
    """1000000x1 aborted a whole enroll run at that photo: later people were never enrolled."""
    people, gallery = enrolled
    thin_png(people / "Aaron" / "thin.png", 1_000_000)
    thin_png(people / "Ann" / "thin2.png", 100_000)
    small_copy(FACE_B, people / "Zoe" / "z.jpg")
    run = cli("enroll", people, "--gallery", gallery, "--json")
    assert run.code == 0  # enroll's rule: the run finished; each photo's problem is in its row
    rows = {Path(r["path"]).name: r for r in json.loads(run.out)["photos"]}
    assert all(rows[name]["status"] == "unreadable" and "times longer than it is wide" in rows[name]["note"]
               for name in ("thin.png", "thin2.png")), rows
    assert {name: n for name, n in people_in(gallery).items() if n} == {"Ann": 1, "Bob": 1, "Zoe": 1}


def test_tag_reports_an_absurd_shape_for_that_photo_and_tags_the_rest(cli, tmp_path):
    album = tmp_path / "album"
    thin_png(album / "a_thin.png", 1_000_000)
    small_copy(FACE_A, album / "b.jpg")
    run = cli("tag", album, "--gallery", tmp_path / "g.sqlite", "--json")
    assert run.code == 0  # tag's rule: the run finished; the photo's problem is listed
    summary = json.loads(run.out)
    assert [p["path"] for p in summary["problems"] if "times longer than it is wide" in p["reason"]] == ["a_thin.png"]
    assert summary["faces"] >= 1
