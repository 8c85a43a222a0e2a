"""`facerec tag` keeps the names the photos' own face regions give (named_by = region), reports where
facerec disagrees, reports a named region with no detected face as a face, and never drops a region
from a sidecar. Real photos from tests/data, regions written by the test."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from facerec.album.regions import read_regions
from facerec.album.tag import tag_album
from facerec.album.xmp import read_face_regions
from facerec.cli.main import main
from facerec.recognition.recognizer import Recognizer
from facerec.types import UNKNOWN
from regions_fixtures import FACE_BOX, displayed_to_stored, mwg_packet, normalised, turned_jpeg, with_app1

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data"
GROUP = DATA / "album" / "obama_and_biden.jpg"  # 1280 x 914; MTCNN: Biden, Obama, a child (left to right)
BIDEN, OBAMA, CHILD = (486, 253, 107, 153), (732, 231, 118, 149), (1047, 677, 93, 110)
NOBODY = (60, 560, 120, 150)  # a patch of the picture with no face MTCNN finds: "a face in profile" by the user's word
GROUP_SIZE = (1280, 914)
THRESHOLD = 0.10  # as in test_tag.py: separates these people with margin


def region(box, size=GROUP_SIZE):
    return normalised(box, size)


def build_album(root: Path) -> Path:
    album = root / "album"
    album.mkdir()
    # the group: Biden named right, Obama tagged as someone else, the child named, a tagged face MTCNN misses
    packet = mwg_packet([("Joe_Biden", region(BIDEN)), ("Someone Else", region(OBAMA)), ("Little One", region(CHILD)),
                         ("Side Face", region(NOBODY))], GROUP_SIZE)
    (album / "group.jpg").write_bytes(with_app1(GROUP.read_bytes(), b"http://ns.adobe.com/xap/1.0/\x00" + packet))
    # Obama stored turned (orientation 6), MWG in the stored frame in a Lightroom-style sidecar
    jpeg, size = turned_jpeg(6)
    (album / "turned.jpg").write_bytes(jpeg)
    stored = displayed_to_stored(normalised(FACE_BOX, size), size, 6)
    (album / "turned.xmp").write_bytes(mwg_packet([("Barack_Obama", stored)], size[::-1]))
    # bad input: a region outside the picture, one of zero size, a name that is not a person's name, a
    # .picasa.ini with garbage -- problem lines for this photo, the rest used
    shutil.copy(DATA / "core" / "kit_2.jpg", album / "kit.jpg")
    with Image.open(album / "kit.jpg") as im:
        kit_size = im.size
    (album / "kit.jpg.xmp").write_bytes(mwg_packet([("Far Away", (1.5, 0.2, 0.1, 0.1)), ("Flat", (0.2, 0.2, 0.3, 0.0)),
                                                  ("People|Kit", (0.0, 0.0, 0.2, 0.2))], kit_size))
    (album / ".picasa.ini").write_text("[kit.jpg]\nfaces=rect64(nothex),abc\n\x7fgarbage\n")
    # a tagged photo where MTCNN finds no face at all: the region is still its face
    shutil.copy(DATA / "core" / "noface_017.jpg", album / "noface.jpg")
    with Image.open(album / "noface.jpg") as im:
        noface_size = im.size
    (album / "noface.xmp").write_bytes(mwg_packet([("Ghost", (0.3, 0.3, 0.2, 0.2))], noface_size))
    for path in album.iterdir():
        path.chmod(0o444)
    return album


@pytest.fixture(scope="module")
def tagged(tmp_path_factory, dlib_pipeline):
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery

    root = tmp_path_factory.mktemp("tagregions")
    album = build_album(root)
    people = root / "people"
    for name, photo in (("Barack_Obama", "obama_2.jpg"), ("Joe_Biden", "biden_2.jpg")):
        (people / name).mkdir(parents=True)
        shutil.copy(DATA / "core" / photo, people / name / photo)
    before = {p.name: p.read_bytes() for p in album.glob("*.jpg")}
    gallery_path = root / "gallery.sqlite"
    with Gallery(gallery_path) as gallery:
        enroll_folder(people, gallery, dlib_pipeline, progress=False)
        recognizer = Recognizer(gallery_path, pipeline=dlib_pipeline, threshold=THRESHOLD)
        summary = tag_album(album, gallery, dlib_pipeline, recognizer=recognizer, workers=1, csv_path=root / "faces.csv",
                            jsonl_path=root / "faces.jsonl", xmp=True, xmp_naming="both")
    return {"root": root, "album": album, "summary": summary, "before": before, "gallery": gallery_path,
            "people": people}


def faces_of(summary, rel):
    return next(r for r in summary.results if r.rel_path == rel).faces


def test_region_names_win_and_are_marked(tagged):
    faces = faces_of(tagged["summary"], "group.jpg")
    by_name = {f.name: f for f in faces}
    assert [f.name for f in faces] == ["Joe_Biden", "Someone Else", "Little One", "Side Face"]
    assert all(f.named_by == "region" for f in faces)
    assert by_name["Joe_Biden"].face.box == BIDEN  # the detected face's box, not the region's
    side = by_name["Side Face"]
    assert side.extra["detected"] is False and side.face_index == 3
    assert side.face.box == pytest.approx(NOBODY, abs=1)


def test_disagreement_is_reported_and_the_human_name_kept(tagged):
    s = tagged["summary"]
    assert s.disagreements == [{"path": "group.jpg", "face_index": 1, "region_name": "Someone Else",
                                "facerec_name": "Barack_Obama", "score": pytest.approx(s.disagreements[0]["score"])}]
    obama = faces_of(s, "group.jpg")[1]
    assert obama.name == "Someone Else" and obama.extra["facerec_name"] == "Barack_Obama"
    assert "disagreements" in s.to_dict()


def test_stored_frame_region_of_a_turned_photo_lands_on_the_detected_face(tagged):
    [face] = faces_of(tagged["summary"], "turned.jpg")
    assert face.name == "Barack_Obama" and face.named_by == "region"
    assert face.extra["region_origin"] == "turned.xmp"
    assert "detected" not in face.extra  # matched to MTCNN's face, not added


def test_every_output_keeps_the_region_name(tagged):
    root = tagged["root"]
    with open(root / "faces.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"] == "group.jpg"]
    assert [(r["name"], r["named_by"]) for r in rows] == [
        ("Joe_Biden", "region"), ("Someone Else", "region"), ("Little One", "region"), ("Side Face", "region")]
    lines = [json.loads(line) for line in (root / "faces.jsonl").read_text().splitlines()]
    assert {(d["name"], d["named_by"]) for d in lines if d["path"] == "group.jpg"} == {
        ("Joe_Biden", "region"), ("Someone Else", "region"), ("Little One", "region"), ("Side Face", "region")}


def test_photos_untouched_and_sidecar_regions_never_removed(tagged):
    album = tagged["album"]
    assert {p.name: p.read_bytes() for p in album.iterdir() if p.name in tagged["before"]} == tagged["before"]
    # the human's stored-frame region in turned.xmp is still there, and facerec added none beside it
    info = read_face_regions(album / "turned.xmp")
    assert [(r["name"], r["facerec"]) for r in info["regions"]] == [("Barack_Obama", False)]
    assert [r.name for r in read_regions(album / "turned.jpg").regions] == ["Barack_Obama"]


def test_rerun_skips_but_still_names_from_regions(tagged, dlib_pipeline):
    from facerec.gallery.store import Gallery

    with Gallery(tagged["gallery"]) as gallery:
        recognizer = Recognizer(tagged["gallery"], pipeline=dlib_pipeline, threshold=THRESHOLD)
        again = tag_album(tagged["album"], gallery, dlib_pipeline, recognizer=recognizer, workers=1)
        ignoring = tag_album(tagged["album"], gallery, dlib_pipeline, recognizer=recognizer, workers=1, regions=False)
    assert again.skipped == 4
    assert [f.name for f in faces_of(again, "group.jpg")] == ["Joe_Biden", "Someone Else", "Little One", "Side Face"]
    assert len(again.disagreements) == 1
    # --no-regions: facerec's own names, nothing from the regions
    assert [(f.name, f.named_by) for f in faces_of(ignoring, "group.jpg")] == [
        ("Joe_Biden", "facerec"), ("Barack_Obama", "facerec"), (UNKNOWN, None)]
    assert ignoring.disagreements == [] and not any(p["kind"] == "region" for p in ignoring.problems)


def test_bad_regions_are_problem_lines_and_the_photo_is_still_tagged(tagged):
    s = tagged["summary"]
    reasons = [p["reason"] for p in s.problems if p["path"] == "kit.jpg" and p["kind"] == "region"]
    text = "\n".join(reasons)
    assert "'Far Away' ignored: it lies outside the picture" in text
    assert "'Flat' ignored: it has zero or negative size" in text
    assert "cannot be a person's name" in text
    assert "is not rect64(HEX),ID" in text
    assert len(faces_of(s, "kit.jpg")) == 1 and faces_of(s, "kit.jpg")[0].named_by != "region"


def test_a_photo_without_a_detected_face_reports_its_tagged_face(tagged):
    [ghost] = faces_of(tagged["summary"], "noface.jpg")
    assert (ghost.name, ghost.named_by, ghost.extra["detected"]) == ("Ghost", "region", False)
    with open(tagged["root"] / "faces.csv", newline="") as f:
        assert [(r["name"], r["named_by"]) for r in csv.DictReader(f) if r["path"] == "noface.jpg"] == [("Ghost", "region")]


def test_cli_prints_the_disagreement(tagged, capsys):
    code = main(["tag", str(tagged["album"]), "--gallery", str(tagged["gallery"]), "--threshold", str(THRESHOLD)])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 face(s) facerec would name differently from their region" in out
    assert "group.jpg #1 Someone Else (facerec: Barack_Obama)" in out


def test_a_name_a_region_gives_is_not_also_given_to_another_face():
    """One person per photo: the region's face keeps the name, facerec's other face with it becomes unknown."""
    from facerec.album.region_names import name_from_regions
    from facerec.album.regions import PhotoRegions, TaggedRegion
    from facerec.types import Face, FaceResult, Identity

    faces = [FaceResult.of(Face(BIDEN, 0.99, ()), Identity("Joe_Biden", 0.9, 0.02), 0, "g.jpg"),
             FaceResult.of(Face(OBAMA, 0.99, ()), Identity("Barack_Obama", 0.9, 0.03), 1, "g.jpg")]
    regions = PhotoRegions(1280, 914, regions=[TaggedRegion(BIDEN, "Barack_Obama", "mwg", "g.jpg.xmp")])
    named, disagreements = name_from_regions(faces, regions, "g.jpg")
    assert [(f.name, f.named_by) for f in named] == [("Barack_Obama", "region"), (UNKNOWN, None)]
    assert named[1].extra["nearest"] == "Barack_Obama"
    assert disagreements[0]["facerec_name"] == "Joe_Biden"
