"""scripts/bench_detect.py --detectors: how faces are counted found or false, which LFW images it looks at, the
labelled turned faces, and a run end to end on tests/data (a detector whose weights are missing gets a row, not a
crash)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
# tests/data/core/group_3.jpg's three faces, boxed by hand (x, y, w, h): rough, as a person would draw them.
GROUP_3_FACES = [(260, 195, 80, 110), (342, 150, 96, 128), (420, 180, 85, 115)]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location("bench_detect", REPO / "scripts" / "bench_detect.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def voc_xml(photo: str, boxes: list[tuple[int, int, int, int]]) -> str:
    rows = "".join(f"<box top='{y}' left='{x}' width='{w}' height='{h}'/>" for x, y, w, h in boxes)
    return f"<dataset><images><image file='{photo}'>{rows}</image></images></dataset>"


def test_a_face_is_found_at_iou_04_and_a_box_matching_none_is_a_false_positive(bench, tmp_path):
    shutil.copy(DATA / "core" / "group_3.jpg", tmp_path)
    (tmp_path / "annotations_testing.xml").write_text(voc_xml("group_3.jpg", GROUP_3_FACES))
    truth = bench.voc_faces(tmp_path)[tmp_path / "group_3.jpg"]
    assert truth == GROUP_3_FACES
    left, middle, right = truth
    nudged = (left[0] + 20, left[1] + 20, left[2], left[3])  # IoU about 0.47 with the left face: found
    off = (middle[0], middle[1] - 60, middle[2], middle[3])  # IoU about 0.36: not found, and a false positive
    elsewhere = (600, 50, 60, 60)  # no face there
    assert bench.match_faces(truth, [nudged, off, elsewhere]) == (1, 2)
    assert bench.match_faces(truth, truth) == (3, 0)
    assert bench.match_faces(truth, []) == (0, 0) and bench.match_faces([], [elsewhere]) == (0, 1)


def test_an_lfw_face_is_found_by_a_box_over_the_centre_and_a_labelled_one_by_its_box(bench):
    assert bench.face_found([(80, 70, 90, 120)], 250, 250)
    assert not bench.face_found([(0, 0, 100, 100), (130, 130, 60, 60)], 250, 250)  # faces, but not the centred one
    assert bench.face_found([(30, 40, 50, 50)], 250, 250, truth_box=(32, 38, 50, 52))
    assert not bench.face_found([(80, 70, 90, 120)], 250, 250, truth_box=(0, 0, 40, 40))


def test_lfw_images_are_the_distinct_images_of_both_dev_pair_lists_and_a_fixed_subset(bench, tmp_path):
    (tmp_path / "pairsDevTrain.txt").write_text("2\nAnn\t1\t2\nAnn\t1\tBob\t3\n")
    (tmp_path / "pairsDevTest.txt").write_text("1\nCid\t1\t2\nBob\t3\tCid\t1\n")
    everything = bench.lfw_images(tmp_path)
    assert [p.name for p in everything] == ["Ann_0001.jpg", "Ann_0002.jpg", "Bob_0003.jpg", "Cid_0001.jpg",
                                            "Cid_0002.jpg"]
    assert everything[0] == tmp_path / "images" / "Ann" / "Ann_0001.jpg"
    assert [p.name for p in bench.lfw_images(tmp_path, 2)] == ["Ann_0001.jpg", "Bob_0003.jpg"]
    assert bench.lfw_images(tmp_path, 2) == bench.lfw_images(tmp_path, 2)  # the same subset every run
    assert bench.lfw_images(tmp_path, 50) == everything


def test_the_labelled_turned_faces_name_their_pose_and_photos_under_shared(bench, tmp_path):
    faces = bench.read_labelled_faces(REPO / "scripts" / "data" / "profile_faces.tsv", tmp_path)
    assert 20 <= len(faces) <= 40
    assert {pose for _, pose, _ in faces} == {"profile", "three-quarter"}
    assert len({photo for photo, _, _ in faces}) == len(faces)
    assert all(photo.is_relative_to(tmp_path / "lfw-view1" / "images") and box is None for photo, _, box in faces)
    (tmp_path / "one.tsv").write_text("# a comment\nfaces/x.jpg\tprofile\t10,20,30,40\n")
    assert bench.read_labelled_faces(tmp_path / "one.tsv", tmp_path) == [(tmp_path / "faces/x.jpg", "profile",
                                                                          (10, 20, 30, 40))]


def test_the_labelled_photos_exist_in_the_shared_set(bench, shared_faces):
    shared = shared_faces.parent
    faces = bench.read_labelled_faces(REPO / "scripts" / "data" / "profile_faces.tsv", shared)
    assert [photo for photo, _, _ in faces if not photo.is_file()] == []


@pytest.mark.slow  # runs dlib's HOG detector
def test_detectors_side_by_side_on_tests_data_with_yunet_offline(bench, tmp_path, monkeypatch, capsys):
    pytest.importorskip("dlib", reason="the dlib extra is not installed")
    import cv2

    from facerec.detectors import entry

    monkeypatch.setenv("FACEREC_OFFLINE", "1")  # no download in tests: YuNet runs only where its weights are
    voc = tmp_path / "voc"
    voc.mkdir()
    shutil.copy(DATA / "core" / "group_3.jpg", voc)
    (voc / "annotations_testing.xml").write_text(voc_xml("group_3.jpg", GROUP_3_FACES))
    lfw = tmp_path / "lfw"
    for name in ("Barack_Obama", "Nobody"):
        (lfw / "images" / name).mkdir(parents=True)
    face = cv2.imread(str(DATA / "webcam" / "obama_1.jpg"))[1:181, 81:261]  # as LFW: 250 x 250, the face centred
    cv2.imwrite(str(lfw / "images" / "Barack_Obama" / "Barack_Obama_0001.jpg"), cv2.resize(face, (250, 250)))
    shutil.copy(DATA / "core" / "noface_017.jpg", lfw / "images" / "Nobody" / "Nobody_0001.jpg")
    (lfw / "pairsDevTrain.txt").write_text("1\nBarack_Obama\t1\t1\nBarack_Obama\t1\tNobody\t1\n")
    (lfw / "pairsDevTest.txt").write_text("0\n")
    (tmp_path / "turned.tsv").write_text("core/group_3.jpg\tthree-quarter\t420,180,85,115\n")
    out = tmp_path / "bench.json"
    code = bench.main(["--detectors", "dlib-hog,yunet", "--voc", str(voc), "--lfw", str(lfw), "--profiles",
                       str(tmp_path / "turned.tsv"), "--shared", str(DATA), "--photos", str(DATA / "webcam"),
                       "--repeats", "1", "--out", str(out)])
    assert code == 0
    rows = json.loads(out.read_text())["detectors"]
    hog = rows["dlib-hog"]
    assert (hog["voc_faces_found"], hog["voc_false_positives"], hog["voc_faces"]) == (3, 0, 3)
    assert (hog["lfw_faces_found"], hog["lfw_images"]) == (1, 2)
    assert hog["turned_faces_found"] == {"three-quarter": [1, 1]}
    assert hog["ms_per_frame"] > 0 and hog["frames_timed"] == 2
    table = capsys.readouterr().out
    assert "| dlib-hog | 3/3 (100 %) | 0 | 1/2 (50 %) | 1/1 (100 %) |" in table
    if entry("yunet").weights_status()["present"]:  # its weights were copied here: it is measured like the others
        assert rows["yunet"]["voc_faces"] == 3
    else:
        assert rows["yunet"]["status"]["present"] is False and "could not get it" in rows["yunet"]["status"]["error"]
        assert "| yunet | not measured: the yunet detector needs" in table


def test_an_unknown_detector_is_a_usage_error(bench, capsys):
    assert bench.main(["--detectors", "mtcnn,retina"]) == 2
    assert "unknown detector 'retina'" in capsys.readouterr().err
