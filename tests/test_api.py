"""The facade API: the same jobs as the CLI, from Python, on real photos and a real gallery file."""
from __future__ import annotations

from pathlib import Path

import pytest

import facerec

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    pytest.importorskip("dlib")
    path = tmp_path_factory.mktemp("api") / "team.sqlite"
    report = facerec.enroll_folder(DATA / "people", gallery=path)
    assert report.counts().get("ok") == 9
    return path


def test_identify_enrolled_and_stranger(gallery):
    (known,) = facerec.identify_faces(DATA / "holdout" / "deepface_id05_img61.jpg", gallery=gallery)
    assert known["name"] == "deepface_id05" and known["distance"] <= 0.10
    (stranger,) = facerec.identify_faces(DATA / "holdout" / "deepface_id13_img24.jpg", gallery=gallery)
    assert stranger["name"] == "unknown"


def test_people_and_forget(gallery):
    assert sorted(p.name for p in facerec.list_people(gallery)) == ["Angelina_Jolie", "deepface_id03", "deepface_id05"]
    assert facerec.forget_person("deepface_id03", gallery=gallery) is True
    assert facerec.forget_person("deepface_id03", gallery=gallery) is False
    assert "deepface_id03" not in [p.name for p in facerec.list_people(gallery)]


def test_detect_embed_verify(core_images):
    faces = facerec.detect_faces(core_images / "group_3.jpg")
    assert len(faces) == 3
    pytest.importorskip("dlib")
    (one,) = facerec.embed_faces(core_images / "kit_1.jpg")
    assert one.embedding.shape == (128,)
    assert facerec.verify_faces(core_images / "kit_1.jpg", core_images / "kit_2.jpg")["same"] is True


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        facerec.no_such_function  # noqa: B018
