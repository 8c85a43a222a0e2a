"""What used to go wrong without a word: out-of-range options, names that break outputs, formula
cells, files skipped silently, folders that follow the umask, a non-gallery file chmod-ed, the pixel limit."""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from robust_helpers import FACE_A, FACE_B, small_copy

# --------------------------------------------------------------------------- option ranges


@pytest.mark.parametrize("argv", [
    ["verify", "a.jpg", "b.jpg", "--threshold", "nan"],
    ["verify", "a.jpg", "b.jpg", "--threshold", "5"],
    ["identify", "a.jpg", "--threshold", "-0.1"],
    ["identify", "a.jpg", "--threshold", "inf"],
    ["identify", "a.jpg", "--min-probability", "1.5"],
    ["tag", "album", "--threshold", "nan"],
    ["tag", "album", "--workers", "0"],
    ["evaluate", "folder", "--threshold", "2.5"],
    ["evaluate", "folder", "--k", "0"],
    ["evaluate", "folder", "--unknown-fraction", "-1"],
    ["calibrate", "--far", "0"],
    ["calibrate", "--far", "nan"],
    ["clusters", "--eps", "0"],
    ["clusters", "--min-samples", "0"],
    ["train", "--dropout", "1.5"],
    ["train", "--max-distance", "nan"],
    ["train", "--epochs", "0"],
    ["webcam", "--threshold", "3"],
    ["webcam", "--detect-every", "0"],
    ["webcam", "--min-face-size", "0"],
])
def test_numbers_out_of_range_are_usage_errors(cli, argv):
    run = cli(*argv)
    assert run.code == 2
    assert "out of range" in run.err or "not a finite number" in run.err


@pytest.mark.parametrize("option", [
    ["--threshold", "nan"], ["--threshold", "inf"], ["--threshold", "-1"], ["--threshold", "5"],
    ["--max-upload-mb", "nan"], ["--max-upload-mb", "inf"], ["--min-face-size", "0"], ["--detect-every", "0"],
])
def test_serve_checks_its_numbers_like_every_other_command(tmp_path, option):
    """`serve --threshold 5` used to start a server that names anyone (a typo for .5); --threshold inf named a
    stranger with confidence 1.0. A public address without a key makes an accepted option end in another
    usage error instead of a running server."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FACEREC_API_KEY"}
    run = subprocess.run([sys.executable, "-m", "facerec.cli.main", "serve", "--gallery", tmp_path / "g.sqlite",
                          "--host", "0.0.0.0", *option], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 2, run.stderr
    assert "out of range" in run.stderr or "not a finite number" in run.stderr
    assert "Traceback" not in run.stderr


def test_weights_with_the_dlib_backbone_is_a_usage_error(cli, tmp_path):
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"x")
    run = cli("verify", FACE_A, FACE_B, "--backbone", "dlib", "--weights", weights)
    assert run.code == 2 and "--weights is for the backbones that load a weights file (dlib-keras, vgg16, resnet50, senet50)" in run.err


# --------------------------------------------------------------------------- names and cells in outputs


def rename_person(gallery: Path, old: str, new: str) -> None:
    """What a gallery written by an older facerec (or by hand) can hold."""
    with sqlite3.connect(gallery) as db:
        db.execute("UPDATE people SET name = ? WHERE name = ?", (new, old))
    db.close()


def test_a_control_character_in_a_stored_name_still_gives_valid_xml(enrolled, cli, tmp_path):
    pytest.importorskip("dlib")
    people, gallery = enrolled
    rename_person(gallery, "Ann", "An\x01n")
    album = tmp_path / "album"
    small_copy(FACE_A, album / "a.jpg", side=300)
    assert cli("tag", album, "--gallery", gallery, "--xmp", "-q").code == 0
    ET.parse(album / "a.jpg.xmp")  # well-formed XML
    assert cli("tag", album, "--gallery", gallery, "--xmp", "--force", "--json").code == 0  # and merged again


def test_csv_cells_that_look_like_formulas_are_escaped(enrolled, cli, tmp_path):
    pytest.importorskip("dlib")
    people, gallery = enrolled
    rename_person(gallery, "Ann", "=HYPERLINK(\"http://x\")")
    album = tmp_path / "album"
    small_copy(FACE_A, album / "+1-2.jpg", side=300)
    assert cli("tag", album, "--gallery", gallery, "--csv", tmp_path / "faces.csv", "-q").code == 0
    rows = list(csv.DictReader((tmp_path / "faces.csv").open(encoding="utf-8")))
    assert [(r["path"], r["name"]) for r in rows] == [("'+1-2.jpg", "'=HYPERLINK(\"http://x\")")]
    run = cli("identify", album / "+1-2.jpg", "--gallery", gallery)
    assert run.code == 0
    assert list(csv.reader(run.out.splitlines()))[1][2] == "'=HYPERLINK(\"http://x\")"


def test_escape_sequences_in_names_do_not_reach_the_terminal(cli, tmp_path):
    pytest.importorskip("dlib")
    album = tmp_path / "album"
    small_copy(FACE_A, album / "\x1b[2J\x1b[31mred.jpg", side=300)
    run = cli("tag", album, "--gallery", tmp_path / "g.sqlite", "--all")
    assert run.code == 0
    assert "\x1b" not in run.out and "\\x1b[31mred.jpg" in run.out


# --------------------------------------------------------------------------- nothing skipped silently


def test_tag_reports_every_file_it_skips(cli, tmp_path, monkeypatch):
    pytest.importorskip("dlib")
    album = tmp_path / "album"
    small_copy(FACE_A, album / "good.jpg", side=300)
    small_copy(FACE_B, album / "anim.gif", side=100)
    for name in ("phone.heic", "new.avif"):
        (album / name).write_bytes(b"\x00\x00\x00\x18ftypheic")
    os.symlink(tmp_path / "gone.jpg", album / "broken.jpg")
    os.mkfifo(album / "pipe.jpg")
    (album / "locked").mkdir()
    small_copy(FACE_B, album / "locked" / "x.jpg", side=300)
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                        if Path(path) == album / "locked" else real_scandir(path))
    run = cli("tag", album, "--gallery", tmp_path / "g.sqlite", "--json")
    assert run.code == 0
    problems = {p["path"]: p["reason"] for p in json.loads(run.out)["problems"]}
    assert set(problems) == {"anim.gif", "phone.heic", "new.avif", "broken.jpg", "pipe.jpg", "locked"}
    assert "not supported" in problems["anim.gif"] and "broken symbolic link" in problems["broken.jpg"]
    assert "not a regular file" in problems["pipe.jpg"] and "Permission denied" in problems["locked"]


def test_enroll_reports_hidden_person_folders_and_unsupported_files(enrolled, cli):
    pytest.importorskip("dlib")
    people, gallery = enrolled
    small_copy(FACE_B, people / ".Carol" / "c.jpg", side=300)
    small_copy(FACE_B, people / "Ann" / "anim.gif", side=100)
    run = cli("enroll", people, "--gallery", gallery, "--json")
    assert run.code == 0
    skipped = {Path(r["path"]).name: r["note"] for r in json.loads(run.out)["photos"] if r["status"] == "skipped"}
    assert "hidden folder" in skipped[".Carol"] and "not supported" in skipped["anim.gif"]


def test_unreadable_sub_folder_of_a_person_keeps_its_photos(enrolled, cli, monkeypatch):
    pytest.importorskip("dlib")
    people, gallery = enrolled
    sub = people / "Ann" / "2019"
    small_copy(FACE_A, sub / "a2.jpg", side=300)
    assert cli("enroll", people, "--gallery", gallery, "-q").code == 0
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                        if Path(path) == sub else real_scandir(path))
    run = cli("enroll", people, "--gallery", gallery)
    assert run.code == 3 and "2019" in run.err
    from robust_helpers import people_in

    assert people_in(gallery) == {"Ann": 2, "Bob": 1}


# --------------------------------------------------------------------------- files and modes


@pytest.fixture
def umask_000():
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bottleneck_cache_folders_are_private_whatever_the_umask(tmp_path, umask_000):
    from facerec.heads.bottlenecks import BottleneckCache
    from facerec.types import Face

    cache = BottleneckCache(tmp_path / "models" / "cache" / "bottlenecks")
    face = Face((1, 2, 30, 40), 0.99, tuple((float(i), 1.0) for i in range(5)))
    cache.put("dlib", "ab" * 32, face, "original", np.ones(128, np.float32))
    file = cache.path("dlib", "ab" * 32, face, "original")
    assert mode(file) == 0o600
    for folder in (file.parent, file.parent.parent, cache.folder, cache.folder.parent, tmp_path / "models"):
        assert mode(folder) == 0o700, folder


def test_trained_head_is_private_whatever_the_umask_and_written_atomically(tmp_path, umask_000, monkeypatch):
    from facerec.heads.head import FaceHead

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 128)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    head = FaceHead(backbone="dlib", epochs=2, seed=0).fit(X, ["a"] * 6 + ["b"] * 6)
    target = tmp_path / "models" / "heads" / "dlib" / "head.keras"
    head.save(target)
    assert mode(target) == 0o600 and mode(target.with_suffix(".json")) == 0o600
    assert mode(target.parent) == mode(target.parent.parent) == 0o700
    before = target.read_bytes()

    def crash_half_way(path, *args, **kwargs):
        Path(path).write_bytes(b"half a head")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(head.model_, "save", crash_half_way)
    with pytest.raises(OSError):
        head.save(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["head.json", "head.keras"]


def test_opening_a_file_that_is_not_a_gallery_changes_nothing(tmp_path):
    from facerec.errors import GalleryError
    from facerec.gallery.store import Gallery

    notes = tmp_path / "notes.sqlite"
    notes.write_text("my notes")
    notes.chmod(0o644)
    with pytest.raises(GalleryError, match="not an SQLite database"):
        Gallery(notes)
    assert mode(notes) == 0o644 and notes.read_text() == "my notes"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE bookmarks (url TEXT)")
    db.close()
    other.chmod(0o644)
    with pytest.raises(GalleryError, match="another program"):
        Gallery(other)
    with sqlite3.connect(other) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["bookmarks"]
    db.close()
    assert mode(other) == 0o644


def test_the_pixel_limit_is_ours_not_pillows(monkeypatch):
    import io

    from PIL import Image

    from facerec.errors import ImageError
    from facerec.vision.imageio import load_image

    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (10, 20, 30)).save(buffer, "PNG")
    data = buffer.getvalue()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # Pillow's limit below the image, ours above
    assert load_image(data, max_pixels=200_000).shape == (300, 400, 3)
    with pytest.raises(ImageError, match="safety limit"):
        load_image(data, max_pixels=110_000)
