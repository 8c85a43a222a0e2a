"""`facerec evaluate --tags ALBUM_DIR`: accuracy on the user's own tagged photos, leave one photo out, with
nothing written to the gallery. Real photos from tests/data, tagged by the test (MWG regions, embedded)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from facerec.cli.main import main
from facerec.evaluation.tags import evaluate_tags
from facerec.vision.imageio import load_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "album"))
from regions_fixtures import mwg_packet, normalised, with_app1  # noqa: E402

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data"
XMP = b"http://ns.adobe.com/xap/1.0/\x00"
GROUP_SIZE = (1280, 914)
BIDEN, OBAMA = (486, 253, 107, 153), (732, 231, 118, 149)
NOBODY = (60, 560, 120, 150)  # no face there: tagged, but nothing to detect
PHOTOS = {  # file in the album: (source, person tagged on its main face)
    "obama_a.jpg": ("core/obama_2.jpg", "Barack_Obama"),
    "obama_b.jpg": ("webcam/obama_1.jpg", "Barack_Obama"),
    "biden_a.jpg": ("core/biden_2.jpg", "Joe_Biden"),
    "biden_b.jpg": ("webcam/biden_1.jpg", "Joe_Biden"),
    "kit_a.jpg": ("core/kit_1.jpg", "Kit_Harington"),
    "kit_b.jpg": ("core/kit_2.jpg", "Kit_Harington"),
    "rose_a.jpg": ("core/rose_1.jpg", "Rose_Leslie"),
    "mislabelled.jpg": ("core/rose_2.jpg", "Kit_Harington"),  # Rose, tagged as Kit by mistake
    "alone.jpg": ("holdout/deepface_id13_img24.jpg", "Only_Once"),  # nobody else to match: comes out unknown
}


@pytest.fixture(scope="module")
def album(tmp_path_factory, dlib_pipeline):
    from facerec.recognition.pipeline import main_face

    root = tmp_path_factory.mktemp("evaltags") / "album"
    root.mkdir()
    for name, (source, person) in PHOTOS.items():
        image = load_image(DATA / source)
        face = main_face(dlib_pipeline.detect(image), image.shape)
        size = (image.shape[1], image.shape[0])
        packet = mwg_packet([(person, normalised(face.box, size))], size)
        (root / name).write_bytes(with_app1((DATA / source).read_bytes(), XMP + packet))
    group = mwg_packet([("Joe_Biden", normalised(BIDEN, GROUP_SIZE)), ("Barack_Obama", normalised(OBAMA, GROUP_SIZE)),
                        ("Rose_Leslie", normalised(NOBODY, GROUP_SIZE))], GROUP_SIZE)
    (root / "group.jpg").write_bytes(with_app1((DATA / "album" / "obama_and_biden.jpg").read_bytes(), XMP + group))
    return root


def test_per_person_right_wrong_missed(album, dlib_pipeline, tmp_path, monkeypatch):
    gallery = tmp_path / "untouched.sqlite"
    monkeypatch.setenv("FACEREC_GALLERY", str(gallery))
    report = evaluate_tags(album, dlib_pipeline)
    people = {p["name"]: p for p in report["people"]}
    assert report["photos"] == 10
    for p in people.values():
        assert p["right"] + p["wrong"] + p["missed"] == p["tagged"]
    assert (people["Barack_Obama"]["tagged"], people["Barack_Obama"]["right"]) == (3, 3)
    assert (people["Joe_Biden"]["tagged"], people["Joe_Biden"]["right"]) == (3, 3)
    assert people["Only_Once"] == {"name": "Only_Once", "tagged": 1, "photos": 1, "right": 0, "wrong": 0, "missed": 1,
                                   "unknown": 1, "not_detected": 0, "accuracy": 0.0}
    # the tag on a spot with no face is missed, not detected
    assert people["Rose_Leslie"]["not_detected"] == 1
    # the mislabelled photo: facerec names Rose there, which the tags call wrong
    assert {"photo": "mislabelled.jpg", "true": "Kit_Harington", "predicted": "Rose_Leslie"} in report["mistakes"]
    assert report["totals"]["tagged"] == 12
    assert not gallery.exists()  # nothing written to a gallery


def test_cli_table_and_json(album, capsys):
    assert main(["evaluate", "--tags", str(album)]) == 0
    out = capsys.readouterr().out
    assert "leave one photo out" in out and "Barack_Obama" in out and "not detected" in out
    assert "mislabelled.jpg: Kit_Harington -> Rose_Leslie" in out
    assert main(["evaluate", "--tags", str(album), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["tagged"] == 12
    assert main(["evaluate"]) == 2
    assert main(["evaluate", str(album), "--tags", str(album)]) == 2
