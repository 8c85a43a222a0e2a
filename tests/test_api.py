"""The facade API: the same jobs as the CLI, from Python, on real photos and a real gallery file."""
from __future__ import annotations

from pathlib import Path

import pytest

import facerec

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

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


def test_identify_fits_once_and_refits_when_the_gallery_changes(tmp_path, monkeypatch):
    """The fitted matcher is kept between calls (per gallery, embeddings, threshold) until the gallery changes."""
    import shutil

    pytest.importorskip("dlib")
    from facerec.recognition.match import NearestNeighbourMatcher

    fitted_on: list[int] = []
    fit = NearestNeighbourMatcher.fit

    def counting_fit(self, X, y):
        fitted_on.append(len(X))
        return fit(self, X, y)

    monkeypatch.setattr(NearestNeighbourMatcher, "fit", counting_fit)
    people, path = tmp_path / "people", tmp_path / "g.sqlite"
    shutil.copytree(DATA / "people" / "deepface_id05", people / "deepface_id05")
    facerec.enroll_folder(people, gallery=path)
    probe = DATA / "holdout" / "deepface_id05_img61.jpg"
    for _ in range(2):
        assert [f["name"] for f in facerec.identify_faces(probe, gallery=path)] == ["deepface_id05"]
    assert fitted_on == [3]  # two calls, one fit
    assert [f["name"] for f in facerec.identify_faces(probe, gallery=path, threshold=0.001)] == ["unknown"]
    assert fitted_on == [3, 3]  # another threshold: its own matcher

    shutil.copytree(DATA / "people" / "Angelina_Jolie", people / "Angelina_Jolie")
    facerec.enroll_folder(people, gallery=path)  # the gallery changes: the next call refits
    (jolie,) = facerec.identify_faces(DATA / "holdout" / "Angelina_Jolie_img10.jpg", gallery=path)
    assert jolie["name"] == "Angelina_Jolie" and fitted_on == [3, 3, 6]
    facerec.identify_faces(probe, gallery=path)
    assert fitted_on == [3, 3, 6]


def test_the_default_backbone_is_the_clis(gallery, monkeypatch):
    """As the CLI, the API uses FACEREC_BACKBONE when no backbone is given."""
    from facerec.errors import FacerecError

    monkeypatch.setenv("FACEREC_BACKBONE", "no-such-backbone")
    with pytest.raises(FacerecError, match="no-such-backbone"):
        facerec.identify_faces(DATA / "holdout" / "deepface_id05_img61.jpg", gallery=gallery)


def test_identify_with_the_head_answers_as_the_cli(gallery, capsys):
    """matcher="head": the head trained on this gallery, loaded as `facerec identify --matcher head` loads it."""
    import json

    from facerec.cli.main import main

    assert main(["train", "--gallery", str(gallery), "--epochs", "50", "-q"]) == 0
    probes = [DATA / "holdout" / name for name in ("deepface_id05_img61.jpg", "Angelina_Jolie_img10.jpg")]
    capsys.readouterr()
    assert main(["identify", "--gallery", str(gallery), "--matcher", "head", "--json", *map(str, probes)]) == 0
    cli = [[f["name"] for f in image["faces"]] for image in json.loads(capsys.readouterr().out)["images"]]
    api = [[f["name"] for f in facerec.identify_faces(p, gallery=gallery, matcher="head")] for p in probes]
    assert api == cli == [["deepface_id05"], ["Angelina_Jolie"]]


def test_tag_album_names_faces_as_identify_faces(gallery, tmp_path):
    """facerec.tag_album names each face by the rule facerec.identify_faces follows (the Recognizer's)."""
    import json
    import shutil

    album = tmp_path / "album"
    shutil.copytree(DATA / "holdout", album)
    summary = facerec.tag_album(album, gallery=gallery, jsonl_path=tmp_path / "faces.jsonl")
    assert summary.analysed == len(list(album.iterdir())) == 4
    tagged = [json.loads(line) for line in (tmp_path / "faces.jsonl").read_text().splitlines()]
    identified = [{**face, "path": photo.name} for photo in sorted(album.iterdir())
                  for face in facerec.identify_faces(photo, gallery=gallery)]
    assert [(f["path"], f["name"], f["box"], f["named_by"]) for f in tagged] == \
        [(f["path"], f["name"], f["box"], f["named_by"]) for f in identified]
    assert {f["name"] for f in tagged} >= {"deepface_id05", "Angelina_Jolie", "unknown"}
    for mine, theirs in zip(tagged, identified):
        assert (mine["score"], mine["distance"]) == pytest.approx((theirs["score"], theirs["distance"]), abs=2e-4)
