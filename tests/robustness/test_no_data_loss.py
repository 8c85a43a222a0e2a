"""Nothing lost, nothing overwritten: "cannot read" is never "deleted", and no output replaces a photo.

The tests run as root in CI, where chmod 000 stops nothing: unreadable folders are made unreadable
in-process (os.scandir raising PermissionError for that one folder), offline drives are links whose
target is gone.
"""
from __future__ import annotations

import json
import os
import stat
import shutil
from pathlib import Path

import pytest
from robust_helpers import FACE_A, FACE_B, people_in, sha256, small_copy, tree_hashes

pytest.importorskip("dlib")


def refuse_listing(monkeypatch, folder: Path) -> None:
    """os.scandir(folder) raises PermissionError, as for a folder without read permission."""
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)


# --------------------------------------------------------------------------- enroll


def test_unreadable_person_folder_keeps_its_person(enrolled, cli, monkeypatch):
    people, gallery = enrolled
    refuse_listing(monkeypatch, people / "Bob")
    run = cli("enroll", people, "--gallery", gallery)
    assert run.code == 3
    assert "could not be read" in run.err and "Bob" in run.err
    assert people_in(gallery) == {"Ann": 1, "Bob": 1}


def test_person_folder_linked_to_an_offline_drive_keeps_its_person(enrolled, cli, tmp_path):
    people, gallery = enrolled
    drive = tmp_path / "drive" / "Bob"
    shutil.move(people / "Bob", drive)
    os.symlink(drive, people / "Bob")
    assert cli("enroll", people, "--gallery", gallery).code == 0  # the drive is mounted: all fine
    shutil.rmtree(tmp_path / "drive")  # ... and now it is not
    run = cli("enroll", people, "--gallery", gallery, "--json")
    assert run.code == 3 and "Bob" in run.err
    assert people_in(gallery) == {"Ann": 1, "Bob": 1}


def test_empty_people_dir_is_an_error_and_removes_nobody(enrolled, cli):
    people, gallery = enrolled
    for person in people.iterdir():
        shutil.rmtree(person)  # an unmounted drive looks like this
    run = cli("enroll", people, "--gallery", gallery)
    assert run.code == 3 and "is the drive mounted" in run.err
    assert people_in(gallery) == {"Ann": 1, "Bob": 1}


def test_photo_behind_a_broken_link_keeps_its_embedding(enrolled, cli, tmp_path):
    people, gallery = enrolled
    photo = people / "Bob" / "b1.jpg"
    os.replace(photo, tmp_path / "elsewhere.jpg")
    os.symlink(tmp_path / "gone.jpg", photo)
    run = cli("enroll", people, "--gallery", gallery)
    assert run.code == 3 and "b1.jpg" in run.err
    assert people_in(gallery) == {"Ann": 1, "Bob": 1}


def test_photo_that_cannot_be_read_keeps_its_embedding(enrolled, monkeypatch):
    """A read error (I/O error, permissions) on a changed photo: reported, the earlier embedding kept."""
    from facerec.gallery import enroll
    from facerec.gallery.store import Gallery
    from facerec.recognition.pipeline import FacePipeline

    people, gallery = enrolled
    photo = people / "Bob" / "b1.jpg"
    os.utime(photo, (1, 1))  # looks changed, so it is read again

    def failing_sha256(path, *args):
        raise OSError(5, "Input/output error", str(path))

    monkeypatch.setattr(enroll, "file_sha256", failing_sha256)
    with Gallery(gallery) as g:
        report = enroll.enroll_folder(people, g, FacePipeline("dlib"), progress=False)
    rows = {Path(r.path).name: r for r in report.rows}
    assert rows["b1.jpg"].status == "unreadable" and "kept" in rows["b1.jpg"].note
    assert people_in(gallery) == {"Ann": 1, "Bob": 1}


def test_removed_person_folder_is_still_removed(enrolled, cli):
    """The other side of the rule: a folder that is really gone is followed, as documented."""
    people, gallery = enrolled
    shutil.rmtree(people / "Bob")
    assert cli("enroll", people, "--gallery", gallery).code == 0
    assert people_in(gallery) == {"Ann": 1}


# --------------------------------------------------------------------------- outputs never replace photos


@pytest.fixture
def album(tmp_path) -> Path:
    root = tmp_path / "photos" / "album"
    small_copy(FACE_A, root / "a.jpg")
    small_copy(FACE_B, root / "sub" / "b.jpg")
    return root


def test_annotate_folder_above_the_album_is_refused(album, cli, tmp_path):
    before = tree_hashes(tmp_path / "photos")
    for folder in (album.parent, album, tmp_path):
        run = cli("tag", album, "--annotate", folder, "--gallery", tmp_path / "g.sqlite", "-q")
        assert run.code == 2 and "would replace the photos" in run.err
    assert tree_hashes(tmp_path / "photos") == before


def test_annotate_into_a_folder_of_other_files_is_refused(album, cli, tmp_path):
    backup = tmp_path / "backup"
    shutil.copytree(album, backup)  # same relative names as the album: copies would replace them
    before = tree_hashes(backup)
    run = cli("tag", album, "--annotate", backup, "--gallery", tmp_path / "g.sqlite", "-q")
    assert run.code == 2 and "did not write" in run.err
    assert tree_hashes(backup) == before


def test_annotated_copy_never_replaces_a_photo_reached_through_a_link(album, cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert cli("tag", album, "--annotate", out, "--gallery", tmp_path / "g.sqlite", "-q").code == 0
    # a photo that lives inside the output folder, reached from the album through a link
    small_copy(FACE_B, out / "linked" / "c.jpg")
    os.symlink(out / "linked", album / "linked")
    before = sha256(out / "linked" / "c.jpg")
    run = cli("tag", album, "--annotate", out, "--gallery", tmp_path / "g.sqlite", "--json")
    assert run.code == 0
    assert sha256(out / "linked" / "c.jpg") == before
    assert "refusing to write an output over an input photo" in run.out


def test_report_with_an_image_extension_is_refused(album, cli, tmp_path):
    before = tree_hashes(album)
    run = cli("tag", album, "--csv", album / "a.jpg", "--gallery", tmp_path / "g.sqlite")
    assert run.code == 2 and "image extension" in run.err
    assert tree_hashes(album) == before


def test_detect_annotate_inputs_with_the_same_name_get_their_own_copies(cli, tmp_path):
    one = small_copy(FACE_A, tmp_path / "x" / "p.jpg")
    two = small_copy(FACE_B, tmp_path / "y" / "p.jpg")
    three = small_copy(FACE_B, tmp_path / "y" / "p.png")
    out = tmp_path / "out"
    assert cli("detect", one, two, three, "--annotate", out).code == 0
    copies = sorted(p.name for p in out.iterdir())
    assert copies == ["p-2.annotated.jpg", "p-3.annotated.jpg", "p.annotated.jpg"]
    assert len({sha256(out / c) for c in copies}) == 3


def test_detect_annotate_never_writes_over_an_input(cli, tmp_path):
    out = tmp_path / "out"
    victim = small_copy(FACE_A, out / "p.annotated.jpg")  # an input that has the copy's name
    photo = small_copy(FACE_B, tmp_path / "p.jpg")
    before = sha256(victim)
    assert cli("detect", photo, victim, "--annotate", out).code == 0
    assert sha256(victim) == before
    assert (out / "p-2.annotated.jpg").is_file()


def test_lightroom_sidecars_of_a_jpg_and_a_png_do_not_overwrite_each_other(cli, tmp_path):
    album = tmp_path / "album"
    small_copy(FACE_A, album / "a.jpg")
    small_copy(FACE_B, album / "a.png")
    run = cli("tag", album, "--xmp", "--xmp-unknown", "--xmp-naming", "lightroom", "--gallery", tmp_path / "g.sqlite",
              "--json")
    assert run.code == 0
    assert not (album / "a.xmp").exists()
    assert (album / "a.jpg.xmp").is_file() and (album / "a.png.xmp").is_file()
    assert run.out.count("would share a.xmp") == 2


USER_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
  <dc:subject><rdf:Bag><rdf:li>Barack_Obama</rdf:li><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject>
  <lr:hierarchicalSubject><rdf:Bag><rdf:li>People|Barack_Obama</rdf:li></rdf:Bag></lr:hierarchicalSubject>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_keywords_the_user_typed_survive_tag_forget_tag(cli, tmp_path):
    """The issue's scenario: the user's own "Barack_Obama" and "People|Barack_Obama" were gone after
    `tag --xmp`, `forget Barack_Obama`, `tag --xmp` (the first run had adopted them as facerec's)."""
    from facerec.album.xmp import read_face_regions, read_people_tags

    data = Path(__file__).resolve().parents[1] / "data"
    gallery, album = tmp_path / "g.sqlite", tmp_path / "album"
    small_copy(data / "core" / "obama_2.jpg", tmp_path / "people" / "Barack_Obama" / "o.jpg")
    small_copy(data / "album" / "obama.jpg", album / "obama.jpg", side=800)
    sidecar = album / "obama.jpg.xmp"
    sidecar.write_text(USER_SIDECAR, encoding="utf-8")
    assert cli("enroll", tmp_path / "people", "--gallery", gallery).code == 0

    assert cli("tag", album, "--xmp", "--gallery", gallery).code == 0
    tags = read_people_tags(sidecar)
    assert tags["digiKam:TagsList"] == ["People/Barack_Obama"]  # facerec named him
    assert [r["name"] for r in read_face_regions(sidecar)["regions"]] == ["Barack_Obama"]

    assert cli("forget", "Barack_Obama", "--gallery", gallery).code == 0
    assert cli("tag", album, "--xmp", "--gallery", gallery).code == 0
    tags = read_people_tags(sidecar)
    assert tags["dc:subject"] == ["Barack_Obama", "holiday"]  # the user's, untouched
    assert tags["lr:hierarchicalSubject"] == ["People|Barack_Obama"]
    assert "digiKam:TagsList" not in tags and "Iptc4xmpExt:PersonInImage" not in tags  # what facerec added went
    assert read_face_regions(sidecar)["regions"] == []


def test_csv_and_jsonl_on_the_same_file_is_a_usage_error(cli, tmp_path):
    album = tmp_path / "album"
    small_copy(FACE_A, album / "a.jpg")
    report = tmp_path / "faces.txt"
    report.write_text("an earlier report")
    run = cli("tag", album, "--csv", report, "--jsonl", tmp_path / "." / "faces.txt", "--gallery", tmp_path / "g.sqlite")
    assert run.code == 2 and "same file" in run.err
    assert report.read_text() == "an earlier report"


def test_a_sidecar_that_cannot_be_merged_is_left_alone_and_the_run_exits_1(cli, tmp_path):
    """An invalid sidecar was "left unchanged" but the run exited 0; a read-only one was replaced anyway."""
    album = tmp_path / "album"
    for name in ("a", "b", "c"):
        small_copy(FACE_A, album / f"{name}.jpg")
    invalid, read_only = album / "a.jpg.xmp", album / "b.jpg.xmp"
    invalid.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF")  # cut short
    read_only.write_text(USER_SIDECAR)
    read_only.chmod(0o444)
    run = cli("tag", album, "--xmp", "--xmp-unknown", "--gallery", tmp_path / "g.sqlite", "--json")
    assert run.code == 1
    problems = {p["path"]: p["reason"] for p in json.loads(run.out)["problems"]}
    assert "not valid XML" in problems["a.jpg"] and "read-only" in problems["b.jpg"]
    assert invalid.read_text() == "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF"
    assert read_only.read_text() == USER_SIDECAR and stat.S_IMODE(read_only.stat().st_mode) == 0o444
    assert (album / "c.jpg.xmp").is_file()  # the other photos are done
