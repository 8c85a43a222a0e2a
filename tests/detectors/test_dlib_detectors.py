"""dlib's HOG and CNN (MMOD) detectors on real photos: boxes and landmarks beside MTCNN's, and `--detector dlib-hog` /
`--detector dlib-cnn` end to end through detect, enroll and identify; a gallery keeps each detector's embeddings apart."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facerec.cli.main import main

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)
pytest.importorskip("dlib", reason="the dlib extra is not installed")

DATA = Path(__file__).resolve().parents[1] / "data"
HOLDOUT = sorted((DATA / "holdout").glob("*.jpg"))
ENROLLED = {"Angelina_Jolie", "deepface_id03", "deepface_id05"}


def run_json(*argv: str) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--json", "-q"])
    return code, json.loads(out.getvalue())


def names_of(identified: dict) -> dict[str, list[str]]:
    return {Path(i["path"]).name: [f["name"] for f in i["faces"]] for i in identified["images"]}


def expected_name(photo: str) -> str:
    person = photo.rsplit("_img", 1)[0]
    return person if person in ENROLLED else "unknown"


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


@pytest.mark.parametrize("name", ["dlib-hog", "dlib-cnn"])
def test_dlib_finds_the_faces_mtcnn_finds_with_landmarks_beside_its(name, core_images, detector):
    from facerec.detectors import get_detector
    from facerec.vision.imageio import load_image

    image = load_image(core_images / "group_3.jpg")
    reference = detector.detect(image)
    found = get_detector(name).detect(image)
    assert len(found) == len(reference) == 3
    for ours, theirs in zip(found, reference):  # both in reading order
        assert iou(ours.box, theirs.box) > 0.45, (ours.box, theirs.box)
        eye_distance = np.linalg.norm(theirs.landmarks_array()[1] - theirs.landmarks_array()[0])
        # eyes and nose where MTCNN puts them; the mouth (no dlib point) within half an eye distance
        assert np.abs(ours.landmarks_array()[:3] - theirs.landmarks_array()[:3]).max() < 0.35 * eye_distance
        assert np.abs(ours.landmarks_array()[3:] - theirs.landmarks_array()[3:]).max() < 0.5 * eye_distance
        assert 0.5 < ours.confidence <= 1.0


def test_detect_command_takes_the_detector_and_a_photo_without_a_face_gives_exit_3(core_images):
    code, results = run_json("detect", "--detector", "dlib-hog", str(core_images / "group_3.jpg"),
                             str(core_images / "noface_017.jpg"))
    assert code == 0
    assert [len(r["faces"]) for r in results] == [3, 0]
    code, _ = run_json("detect", "--detector", "dlib-hog", str(core_images / "noface_017.jpg"))
    assert code == 3


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Path:
    """One photo per person (dlib's CNN costs seconds per photo on a CPU)."""
    root = tmp_path_factory.mktemp("people")
    for person in sorted((DATA / "people").iterdir()):
        (root / person.name).mkdir()
        shutil.copy(sorted(person.glob("*.jpg"))[0], root / person.name)
    return root


@pytest.mark.parametrize("name", ["dlib-hog", "dlib-cnn"])
def test_enroll_and_identify_with_a_dlib_detector_name_the_holdout_photos(name, people, tmp_path):
    gallery = str(tmp_path / "g.sqlite")
    fast = ["--min-face-size", "80"]  # every face here is larger: MMOD then runs on a quarter of the pixels
    assert main(["enroll", str(people), "--gallery", gallery, "--detector", name, *fast, "-q"]) == 0
    code, identified = run_json("identify", *map(str, HOLDOUT), "--gallery", gallery, "--detector", name, *fast)
    assert code == 0
    assert names_of(identified) == {p.name: [expected_name(p.stem)] for p in HOLDOUT}


def test_a_gallery_enrolled_with_one_detector_is_re_embedded_not_mixed_with_another(people, tmp_path):
    from facerec.gallery.store import Gallery

    gallery = tmp_path / "g.sqlite"
    assert main(["enroll", str(people), "--gallery", str(gallery), "--detector", "dlib-hog", "-q"]) == 0
    # the default detector finds nobody enrolled for its embeddings: identify refuses as for another backbone
    code, answer = run_json("identify", str(HOLDOUT[0]), "--gallery", str(gallery))
    assert code == 1 and "--detector" not in answer["error"] and "nobody is enrolled" in answer["error"]
    assert main(["enroll", str(people), "--gallery", str(gallery), "-q"]) == 0
    with Gallery(gallery, create=False) as g:
        hog_vectors, hog_names, _ = g.embeddings("dlib:ownbox+flip@dlib-hog")
        mtcnn_vectors, mtcnn_names, _ = g.embeddings("dlib:dlibbox2+flip")
    assert sorted(hog_names) == sorted(mtcnn_names) == sorted(ENROLLED)
    # the same photos, other boxes: other embeddings, each kept under its own detector's id
    assert not np.allclose(np.asarray(hog_vectors), np.asarray(mtcnn_vectors))
    code, identified = run_json("identify", *map(str, HOLDOUT), "--gallery", str(gallery))
    assert code == 0 and names_of(identified) == {p.name: [expected_name(p.stem)] for p in HOLDOUT}
