"""The detector registry: entries, names in embedding ids, the --detector option and FACEREC_DETECTOR (no model runs)."""
from __future__ import annotations

import pytest

from facerec.backbones import embedding_id
from facerec.cli.main import main
from facerec.detectors import (DEFAULT_DETECTOR, REGISTRY, DetectorEntry, default_detector, detector_of, entry,
                               get_detector, register, relaxed, unregister)
from facerec.errors import UsageError


def test_the_four_detectors_are_registered_with_mtcnn_the_default():
    assert list(REGISTRY)[:4] == ["mtcnn", "dlib-hog", "dlib-cnn", "yunet"]
    assert DEFAULT_DETECTOR == "mtcnn" == default_detector()
    assert all(REGISTRY[name].landmarks for name in ("mtcnn", "dlib-hog", "dlib-cnn", "yunet"))


def test_mtcnn_keeps_the_embedding_id_galleries_already_hold_and_others_add_their_name():
    assert embedding_id("dlib") == embedding_id("dlib", detector="mtcnn") == "dlib:dlibbox2+flip"
    assert embedding_id("dlib", detector="dlib-hog") == "dlib:ownbox+flip@dlib-hog"
    assert embedding_id("resnet50", False, "yunet") == "resnet50:5point@yunet"
    assert detector_of("dlib:dlibbox2+flip@dlib-cnn") == "dlib-cnn" and detector_of("dlib:dlibbox2+flip") == "mtcnn"


def test_thresholds_of_another_detectors_embeddings_are_the_backbones():
    from facerec.thresholds import threshold_for

    assert threshold_for("dlib:dlibbox2+flip@dlib-hog", "verify") == threshold_for("dlib:dlibbox2+flip", "verify")


def test_unknown_detector_is_a_usage_error_listing_the_choices(capsys):
    with pytest.raises(UsageError, match="mtcnn, dlib-hog, dlib-cnn, yunet"):
        entry("retina")
    assert main(["people", "--detector", "retina"]) == 2
    assert "unknown detector 'retina'" in capsys.readouterr().err


def test_the_environment_chooses_the_default_detector(monkeypatch):
    monkeypatch.setenv("FACEREC_DETECTOR", "Dlib-HOG")
    assert default_detector() == "dlib-hog"


def test_a_name_that_would_break_embedding_ids_is_refused():
    for bad in ("a@b", "a:b", "", "two words"):
        with pytest.raises(ValueError):
            register(DetectorEntry(bad, "facerec.detectors.mtcnn:build"))
    with pytest.raises(ValueError, match="twice"):
        register(DetectorEntry("mtcnn", "facerec.detectors.mtcnn:build"))


def test_an_entry_reusing_a_factory_is_named_by_the_entry_and_relaxed_by_its_hook():
    register(DetectorEntry("mtcnn-again", "facerec.detectors.mtcnn:build", relax="facerec.detectors.mtcnn:relaxed"))
    try:
        detector = get_detector("mtcnn-again", min_face_size=40)
        assert detector.name == "mtcnn-again" and detector.min_face_size == 40
        looser = relaxed(detector)
        assert looser.stage_thresholds < detector.stage_thresholds and looser.min_confidence <= 0.8
        assert detector.stage_thresholds == (0.6, 0.7, 0.8)  # the original is untouched
    finally:
        unregister("mtcnn-again")


def test_a_detector_without_a_relax_hook_skips_the_relaxed_look():
    register(DetectorEntry("plain", "facerec.detectors.mtcnn:build"))
    try:
        assert relaxed(get_detector("plain")) is None
    finally:
        unregister("plain")


def test_info_rows_say_name_status_and_device():
    from facerec.cli.commands.info import detector_status

    rows = {row["name"]: row for row in detector_status()}
    assert set(rows) >= {"mtcnn", "dlib-hog", "dlib-cnn", "yunet"}
    assert rows["mtcnn"]["default"] and rows["mtcnn"]["present"]
    assert rows["yunet"]["present"] is False and "downloaded on first use" in rows["yunet"]["weights"]
    assert all(isinstance(row["device"], str) and row["device"] for row in rows.values())
    assert "mtcnn package" in rows["mtcnn"]["weights"]


def test_info_marks_the_detector_the_environment_chose(monkeypatch):
    from facerec.cli.commands.info import detector_status

    monkeypatch.setenv("FACEREC_DETECTOR", "dlib-cnn")
    assert [row["name"] for row in detector_status() if row["default"]] == ["dlib-cnn"]
