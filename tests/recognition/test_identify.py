"""`facerec enroll / people / forget / identify` end to end: real photos, real dlib embeddings, real SQLite.

Three people from tests/data/people are enrolled; tests/data/holdout has one more photo of each of
them and a photo of a fourth person who is never enrolled and must come out `unknown`.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from facerec import errors
from facerec.cli.main import main
from facerec.types import ROW_FIELDS, UNKNOWN
from facerec.backbones import embedding_id

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

KEY = embedding_id("dlib")  # the gallery key of the default dlib pipeline's embeddings

DATA = Path(__file__).resolve().parents[1] / "data"
HOLDOUT = DATA / "holdout"
EXPECTED = {
    "Angelina_Jolie_img10.jpg": "Angelina_Jolie",
    "deepface_id03_img9.jpg": "deepface_id03",
    "deepface_id05_img61.jpg": "deepface_id05",
    "deepface_id13_img24.jpg": UNKNOWN,  # never enrolled
}
HOLDOUT_FILES = [str(HOLDOUT / name) for name in EXPECTED]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, dlib_pipeline) -> tuple[Path, dict]:
    """tests/data/people enrolled with `facerec enroll --json`: (gallery path, the JSON report)."""
    root = tmp_path_factory.mktemp("identify")
    shutil.copytree(DATA / "people", root / "people")
    path = root / "gallery.sqlite"
    code, out, err = run_cli(["enroll", str(root / "people"), "--gallery", str(path), "--json", "-q"])
    assert code == 0, err
    return path, json.loads(out)


def names_by_file(csv_text: str) -> dict[str, str]:
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    return {Path(r["path"]).name: r["name"] for r in rows}


def test_enroll_command_reports_every_photo(gallery):
    path, report = gallery
    assert report["counts"] == {"ok": 9} and report["backbone"] == KEY
    assert {p["person"] for p in report["photos"]} == {"Angelina_Jolie", "deepface_id03", "deepface_id05"}
    assert all(p["faces"] == 1 for p in report["photos"])
    code, out, _ = run_cli(["enroll", str(Path(report["people_dir"])), "--gallery", str(path)])
    assert code == 0 and "9 unchanged" in out and f"3 people with {KEY} embeddings" in out


def test_identify_names_held_out_photos_and_says_unknown_for_strangers(gallery):
    path, _ = gallery
    code, out, err = run_cli(["identify", *HOLDOUT_FILES, "--gallery", str(path)])
    assert code == errors.EXIT_OK, err
    assert out.splitlines()[0] == ",".join(ROW_FIELDS) == "path,face_index,name,score,distance,x,y,w,h,confidence,named_by,probability"
    assert names_by_file(out) == EXPECTED


@pytest.fixture(scope="module")
def holdout_embeddings(dlib_pipeline):
    """The largest face's embedding of each held-out photo, in EXPECTED order."""
    import numpy as np

    found = [dlib_pipeline.analyse(path) for path in HOLDOUT_FILES]
    return np.stack([max(f, key=lambda fe: fe.face.area).embedding for f in found])


@pytest.mark.parametrize("kind,options", [("svm", {}), ("logreg", {}), ("nn", {"aggregate": "centroid"}),
                                          ("nn", {"aggregate": "mean"})])
def test_other_matchers_agree(gallery, holdout_embeddings, kind, options):
    from facerec.gallery.store import Gallery
    from facerec.recognition.match import matcher_from_gallery

    with Gallery(gallery[0], create=False) as g:
        matcher = matcher_from_gallery(g, kind, KEY, **options)
    assert list(matcher.predict(holdout_embeddings)) == list(EXPECTED.values())


def test_identify_command_with_a_classifier(gallery):
    path, _ = gallery
    code, out, err = run_cli(["identify", *HOLDOUT_FILES, "--gallery", str(path), "--matcher", "svm"])
    assert code == errors.EXIT_OK, err
    assert names_by_file(out) == EXPECTED


def test_json_and_distances(gallery):
    path, _ = gallery
    code, out, _ = run_cli(["identify", HOLDOUT_FILES[0], HOLDOUT_FILES[3], "--gallery", str(path), "--json"])
    result = json.loads(out)
    assert code == 0 and result["matcher"] == "nn" and result["backbone"] == "dlib"
    known, stranger = (img["faces"][0] for img in result["images"])
    assert known["name"] == "Angelina_Jolie" and known["distance"] < result["threshold"] < stranger["distance"]
    # the match confidence: 1 - 0.33 * distance / threshold for a named face, 0 for a stranger
    assert known["score"] == pytest.approx(1 - 0.33 * known["distance"] / result["threshold"], abs=2e-4)
    assert 0.67 < known["score"] <= 1 and stranger["score"] == 0 and known["probability"] is None
    assert len(known["box"]) == 4 and known["confidence"] > 0.9
    code, out, _ = run_cli(["identify", HOLDOUT_FILES[0], "--gallery", str(path), "--show-distance"])
    header, row = list(csv.reader(io.StringIO(out)))
    values = dict(zip(header, row))
    assert float(values["distance"]) == pytest.approx(known["distance"], abs=1e-4)
    assert float(values["score"]) == pytest.approx(known["score"], abs=1e-4)


def test_exit_code_1_when_nobody_is_known(gallery):
    path, _ = gallery
    code, out, _ = run_cli(["identify", HOLDOUT_FILES[3], "--gallery", str(path)])
    assert code == errors.EXIT_NEGATIVE and names_by_file(out) == {"deepface_id13_img24.jpg": UNKNOWN}
    code, out, _ = run_cli(["identify", HOLDOUT_FILES[0], "--gallery", str(path), "--threshold", "0.001"])
    assert code == errors.EXIT_NEGATIVE and names_by_file(out) == {"Angelina_Jolie_img10.jpg": UNKNOWN}
    code, out, err = run_cli(["identify", str(DATA / "core" / "noface_017.jpg"), "--gallery", str(path)])
    assert code == errors.EXIT_BAD_INPUT and names_by_file(out) == {"noface_017.jpg": "no_faces_found"}
    assert "noface_017.jpg: no face found" in err


def test_unreadable_image_is_reported_and_the_others_still_identified(gallery, tmp_path):
    path, _ = gallery
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"GIF89a but not really")
    code, out, err = run_cli(["identify", str(broken), HOLDOUT_FILES[1], "--gallery", str(path)])
    assert code == errors.EXIT_OK  # the readable photo answers; the broken one is named on stderr
    assert "broken.jpg" in err
    assert names_by_file(out) == {"deepface_id03_img9.jpg": "deepface_id03"}


def test_head_matcher_without_a_trained_head_is_a_clear_error(gallery):
    path, _ = gallery
    code, _, err = run_cli(["identify", HOLDOUT_FILES[0], "--gallery", str(path), "--matcher", "head"])
    assert code == errors.EXIT_MISSING_MODEL and "facerec: error:" in err


def test_identify_without_a_gallery(tmp_path):
    code, _, err = run_cli(["identify", HOLDOUT_FILES[0], "--gallery", str(tmp_path / "none.sqlite")])
    assert code == 1 and "enroll" in err and not (tmp_path / "none.sqlite").exists()


def test_people_and_forget_commands(gallery, tmp_path):
    source, _ = gallery
    path = tmp_path / "copy.sqlite"
    shutil.copy(source, path)  # forget must not disturb the other tests
    code, out, _ = run_cli(["people", "--gallery", str(path)])
    assert code == 0 and out.split() == ["name", "photos", "faces", "note", "Angelina_Jolie", "3", "3",
                                         "deepface_id03", "3", "3", "deepface_id05", "3", "3"]
    code, out, _ = run_cli(["forget", "deepface_id05", "--gallery", str(path)])
    assert code == 0 and "forgot deepface_id05: 3 photo(s)" in out
    code, _, err = run_cli(["forget", "deepface_id05", "--gallery", str(path)])
    assert code == 1 and "nobody called 'deepface_id05'" in err
    code, out, _ = run_cli(["people", "--gallery", str(path), "--json"])
    assert [p["name"] for p in json.loads(out)["people"]] == ["Angelina_Jolie", "deepface_id03"]
    code, out, _ = run_cli(["identify", HOLDOUT_FILES[2], "--gallery", str(path)])
    assert code == errors.EXIT_NEGATIVE and names_by_file(out) == {"deepface_id05_img61.jpg": UNKNOWN}


def test_people_without_a_gallery_lists_nobody_and_creates_nothing(tmp_path):
    code, out, _ = run_cli(["people", "--gallery", str(tmp_path / "none.sqlite")])
    assert code == 0 and "nobody is enrolled" in out and not (tmp_path / "none.sqlite").exists()


# --------------------------------------------------------------------------- the larger shared set

ENROLLED = {  # identity folder in ../shared/faces -> source
    "Angelina_Jolie": "deepface", "deepface_id02": "deepface", "deepface_id04": "deepface",
    "deepface_id06": "deepface", "deepface_id08": "deepface", "Barack_Obama": "face_recognition",
}
STRANGERS = ["deepface/deepface_id10/img18.jpg", "deepface/deepface_id11/img20.jpg",
             "face_recognition/Kit_Harington/john1.jpeg", "deepface/deepface_id13/img25.jpg"]


@pytest.mark.slow
def test_shared_set_six_people_identified_and_four_strangers_unknown(shared_faces, tmp_path):
    """Enroll up to 3 photos of 6 people (symlinked), identify each one's last photo and 4 other people."""
    people, held_out = tmp_path / "people", {}
    for name, source in ENROLLED.items():
        photos = sorted((shared_faces / source / name).iterdir())
        (people / name).mkdir(parents=True)
        for photo in photos[:-1][:3]:
            (people / name / photo.name).symlink_to(photo)
        held_out[photos[-1].name] = name
    gallery = tmp_path / "g.sqlite"
    code, out, err = run_cli(["enroll", str(people), "--gallery", str(gallery), "--json", "-q"])
    assert code == 0 and json.loads(out)["counts"] == {"ok": 18}, err
    images = [str(shared_faces / source / name / photo) for photo, name in held_out.items()
              for source in [ENROLLED[name]]] + [str(shared_faces / s) for s in STRANGERS]
    code, out, err = run_cli(["identify", *images, "--gallery", str(gallery)])
    got = names_by_file(out)
    assert {p: got[p] for p in held_out} == held_out
    assert {got[Path(s).name] for s in STRANGERS} == {UNKNOWN}


def test_face_thumbnails_that_fill_the_frame_are_found_and_never_misnamed(gallery, tmp_path):
    """150x150 thumbnails cut just inside the face box (what photo managers export): MTCNN's first look
    misses some, identify's second look finds every face; none gets a wrong name."""
    import cv2
    import numpy as np

    from facerec.vision.detect import Detector
    from facerec.vision.imageio import load_image

    path, _ = gallery
    detector, thumbs = Detector(), []
    for name in EXPECTED:
        image = load_image(HOLDOUT / name)
        x, y, w, h = max(detector.detect(image), key=lambda f: f.area).box
        inner = image[int(y + 0.1 * h):int(y + 0.9 * h), int(x + 0.1 * w):int(x + 0.9 * w)]
        thumb = cv2.resize(np.ascontiguousarray(inner), (150, 150), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR))
        thumbs.append(thumb)
    assert sum(bool(detector.detect(t)) for t in thumbs) < len(thumbs)  # the first look misses some
    code, out, err = run_cli(["identify", *(str(tmp_path / n) for n in EXPECTED), "--gallery", str(path)])
    named = names_by_file(out)
    assert "no_faces_found" not in named.values() and set(named) == set(EXPECTED), out
    assert all(named[n] in (EXPECTED[n], UNKNOWN) for n in EXPECTED), named  # unknown at worst, never wrong
    assert sum(named[n] == EXPECTED[n] != UNKNOWN for n in EXPECTED) >= 2 and code == errors.EXIT_OK, named
