"""Learning from confirmations (issue 19, item 3): a confirmed album face becomes a sample of its person, within a
cap and a diversity rule; undo, reject and forget take it back. Real faces: dlib embeddings of tests/data photos.

Distances (dlib, cosine) these tests rest on, measured on these photos: deepface_id05 img16-img17 0.034,
img16-img62 0.018, img16-img61 0.031, img17-img62 0.043, img17-img61 0.047, img62-img61 0.030; webcam/obama_1 and
album/obama are the same photo resized (under 0.01), core/obama_2 another photo (0.033)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facerec import thresholds
from facerec.backbones import embedding_id
from facerec.cli.main import main
from facerec.gallery import decisions, learning
from facerec.gallery.forget import forget_person
from facerec.gallery.store import Gallery
from facerec.recognition.match import NearestNeighbourMatcher
from facerec.types import UNKNOWN

KEY = embedding_id("dlib")
DATA = Path(__file__).resolve().parents[1] / "data"
ID05 = "deepface_id05"
PHOTOS = {"img16": DATA / "people" / ID05 / "img16.jpg", "img17": DATA / "people" / ID05 / "img17.jpg",
          "img62": DATA / "people" / ID05 / "img62.jpg", "img61": DATA / "holdout" / "deepface_id05_img61.jpg",
          "obama_1": DATA / "webcam" / "obama_1.jpg", "obama": DATA / "album" / "obama.jpg",
          "obama_2": DATA / "core" / "obama_2.jpg", "kit_1": DATA / "core" / "kit_1.jpg"}


@pytest.fixture(scope="module")
def found(dlib_pipeline):
    return {name: dlib_pipeline.analyse(path)[0] for name, path in PHOTOS.items()}


def enroll(gallery, person: str, photo: str, found) -> None:
    gallery.record_photo(person, f"/people/{person}/{photo}.jpg", "sha-" + photo, 0.0, 1, "ok", embedding_id=KEY,
                         face=found[photo].face, embedding=found[photo].embedding)


def in_album(gallery, photo: str, found, name: str = UNKNOWN) -> str:
    media = f"/album/{photo}.jpg"
    gallery.record_media(media, "sha-" + photo, 0.0, 1, KEY, gallery.version(), "ok", "",
                         [{"face": found[photo].face, "embedding": found[photo].embedding, "predicted_name": name,
                           "score": 0.5}])
    return f"a{gallery.detections(media)[0].id}"


def identify(gallery, photo: str, found, threshold: float = 0.04) -> str:
    """What a nearest-neighbour matcher fitted on the gallery now (as every matcher is) names the photo."""
    X, names, _ = gallery.embeddings(KEY)
    matcher = NearestNeighbourMatcher(threshold=threshold).fit(X, names)
    return str(matcher.predict(found[photo].embedding[None])[0])


def sample_paths(gallery, person: str = ID05) -> list[str]:
    return sorted(Path(p.path).name for p in gallery.photos(person))


# --------------------------------------------------------------------------- the rule


def test_the_rule_leaves_out_a_face_that_teaches_nothing(found):
    vectors = lambda *names: [found[n].embedding for n in names]  # noqa: E731
    duplicate = thresholds.duplicate_distance(KEY)
    assert 0.005 < duplicate < 0.02
    reasons = learning.choose(vectors("obama_1"), vectors("obama", "obama_2"), 20, duplicate, ["s1"], ["a1", "a2"])
    assert reasons[0].startswith("not kept as a sample: within") and "of s1" in reasons[0]
    assert reasons[1] is None  # another photo of him: kept
    # the second of two copies of one new photo teaches nothing either
    reasons = learning.choose(vectors("img16"), vectors("obama", "obama_1"), 20, duplicate, ["s1"], ["a1", "a2"])
    assert reasons[0] is None and "of a1" in reasons[1]


def test_the_cap_keeps_the_most_diverse_confirmed_faces(found):
    vectors = lambda *names: [found[n].embedding for n in names]  # noqa: E731
    candidates = vectors("img17", "img62", "img61")
    assert learning.choose(vectors("img16"), candidates, 3, 0.01) == [None, None, None]
    # farthest from img16 first: img17 (0.034), then img61 (0.031 from img16, 0.047 from img17); img62 is nearest
    reasons = learning.choose(vectors("img16"), candidates, 2, 0.01)
    assert reasons[0] is None and reasons[2] is None and "the most allowed" in reasons[1]
    reasons = learning.choose(vectors("img16"), candidates, 1, 0.01)
    assert [r is None for r in reasons] == [True, False, False]
    assert learning.choose([], candidates, 0, 0.01)[0].startswith("not kept")
    assert learning.choose(vectors("img16"), [], 5, 0.01) == []


# --------------------------------------------------------------------------- in the gallery


def test_a_confirmed_face_becomes_a_sample_and_names_the_next_similar_face(tmp_path, found):
    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img17", found)
        face = in_album(gallery, "img62", found)  # 0.043 from img17: unknown at 0.04
        assert identify(gallery, "img61", found) == UNKNOWN  # 0.047 from img17
        version = gallery.version()
        (done,) = decisions.confirm(gallery, [face], ID05)
        assert done["learning"] == learning.KEPT and done["sample"].startswith("s")
        assert gallery.version() > version  # matchers refit
        (sample,) = [p for p in gallery.photos(ID05) if p.source == "tag"]
        assert sample.path == "/album/img62.jpg#face0" and sample.note == f"confirmed {face}"
        assert f"s{sample.id}" == done["sample"]
        assert identify(gallery, "img61", found) == ID05  # 0.030 from the confirmed face

        decisions.undo(gallery)
        assert sample_paths(gallery) == ["img17.jpg"]
        assert identify(gallery, "img61", found) == UNKNOWN


def test_rejecting_a_face_removes_its_sample_and_undo_gives_it_back(tmp_path, found):
    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img17", found)
        face = in_album(gallery, "img62", found)
        decisions.confirm(gallery, [face], ID05)
        assert sample_paths(gallery) == ["img17.jpg", "img62.jpg#face0"]
        version = gallery.version()
        decisions.reject(gallery, [face])  # it is not them after all
        assert sample_paths(gallery) == ["img17.jpg"] and gallery.version() > version
        assert gallery.detections("/album/img62.jpg")[0].predicted_name == UNKNOWN
        decisions.undo(gallery)  # the confirmation is in force again, and so is its sample
        assert sample_paths(gallery) == ["img17.jpg", "img62.jpg#face0"]


def test_rejecting_a_face_of_a_named_group_removes_that_sample_until_undone(tmp_path, found):
    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img17", found)
        face = in_album(gallery, "img62", found)
        gallery.set_clusters({int(face[1:]): 4})
        assert gallery.name_cluster(4, ID05, KEY) == 1
        group_sample = gallery.photo("/album/img62.jpg#face0")
        assert group_sample.note == "named from cluster 4"
        (done,) = decisions.confirm(gallery, [face])  # already a sample: nothing added, nothing lost
        assert done["sample"] == f"s{group_sample.id}" and "a sample already" in done["learning"]
        assert len(gallery.photos(ID05)) == 2
        decisions.reject(gallery, [face])
        assert sample_paths(gallery) == ["img17.jpg"]
        decisions.undo(gallery)
        assert gallery.photo("/album/img62.jpg#face0").note == "named from cluster 4"
        assert identify(gallery, "img61", found) == ID05


def test_confirming_a_face_as_someone_else_moves_its_sample(tmp_path, found):
    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img17", found)
        enroll(gallery, "Kit", "kit_1", found)
        face = in_album(gallery, "img62", found)
        decisions.confirm(gallery, [face], "Kit")  # a slip of the hand...
        assert sample_paths(gallery, "Kit") == ["img62.jpg#face0", "kit_1.jpg"]
        decisions.confirm(gallery, [face], ID05)  # ...put right
        assert sample_paths(gallery, "Kit") == ["kit_1.jpg"]
        assert sample_paths(gallery) == ["img17.jpg", "img62.jpg#face0"]
        decisions.undo(gallery)
        assert sample_paths(gallery) == ["img17.jpg"] and sample_paths(gallery, "Kit") == ["img62.jpg#face0", "kit_1.jpg"]


def test_a_confirmed_face_that_teaches_nothing_is_confirmed_but_not_a_sample(tmp_path, found, capsys):
    path = tmp_path / "g.sqlite"
    with Gallery(path) as gallery:
        enroll(gallery, "Barack", "obama_1", found)
        face = in_album(gallery, "obama", found, name="Barack")  # the same photo, smaller
        version = gallery.version()
    assert main(["confirm", face, "--gallery", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{face}: confirmed as Barack; not kept as a sample: within" in out and "teaches nothing new" in out
    with Gallery(path) as gallery:
        assert len(gallery.photos("Barack")) == 1 and gallery.version() == version
        assert gallery.detections("/album/obama.jpg")[0].assigned_person == "Barack"
        other = in_album(gallery, "obama_2", found, name="Barack")
    assert main(["confirm", other, "--gallery", str(path)]) == 0
    assert f"{other}: confirmed as Barack; kept as a sample (s" in capsys.readouterr().out


def test_the_cap_keeps_the_most_diverse_and_undo_lets_one_back(tmp_path, found, monkeypatch):
    monkeypatch.setattr(thresholds, "CONFIRMED_SAMPLE_CAP", 2)
    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img16", found)
        ids = {photo: in_album(gallery, photo, found) for photo in ("img17", "img62", "img61")}
        decisions.confirm(gallery, [ids["img17"]], ID05)
        decisions.confirm(gallery, [ids["img62"]], ID05)
        assert sample_paths(gallery) == ["img16.jpg", "img17.jpg#face0", "img62.jpg#face0"]
        (done,) = decisions.confirm(gallery, [ids["img61"]], ID05)  # more diverse than img62: it takes its place
        assert done["learning"] == learning.KEPT
        assert sample_paths(gallery) == ["img16.jpg", "img17.jpg#face0", "img61.jpg#face0"]
        assert gallery.detections("/album/img62.jpg")[0].assigned_person == ID05  # still confirmed
        decisions.undo(gallery)
        assert sample_paths(gallery) == ["img16.jpg", "img17.jpg#face0", "img62.jpg#face0"]


def test_forgetting_a_person_forgets_their_confirmed_samples(tmp_path, found):
    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img17", found)
        decisions.confirm(gallery, [in_album(gallery, "img62", found)], ID05)
        assert forget_person(gallery, ID05) is not None
        assert gallery.photos() == [] and gallery._db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0
        assert gallery.embeddings(KEY)[1] == []


def test_faces_lists_where_each_sample_came_from_and_an_album_face_once(tmp_path, found, capsys):
    path = tmp_path / "g.sqlite"
    with Gallery(path) as gallery:
        enroll(gallery, ID05, "img17", found)
        confirmed = in_album(gallery, "img62", found)
        decisions.confirm(gallery, [confirmed], ID05)
        grouped = in_album(gallery, "img61", found)
        gallery.set_clusters({int(grouped[1:]): 2})
        gallery.name_cluster(2, ID05, KEY)
        (sample,) = [p for p in gallery.photos(ID05) if p.note.startswith("confirmed")]
        gallery.remove_media("/album/img62.jpg")  # the photo left the album: its sample stays, listed as a sample
        orphan = in_album(gallery, "kit_1", found)
    assert main(["faces", "--person", ID05, "--json", "--gallery", str(path)]) == 0
    faces = {f["id"]: f for f in json.loads(capsys.readouterr().out)["faces"]}
    assert [(f["kind"], f["origin"]) for f in faces.values()] == [("sample", "confirmed"), ("sample", "folder"),
                                                                  ("album", "group")]
    assert faces[f"s{sample.id}"]["sample"] is None and faces[grouped]["sample"].startswith("s")
    assert faces[grouped]["sample"] not in faces  # listed once, as the album face
    assert orphan not in faces
    assert main(["faces", "--gallery", str(path)]) == 0
    assert "origin" in capsys.readouterr().out


def test_a_confirmed_sample_is_listed_once_as_its_album_face(tmp_path, found):
    from facerec.gallery.face_list import list_faces

    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img17", found)
        face = in_album(gallery, "img62", found)
        (done,) = decisions.confirm(gallery, [face], ID05)
        listed = list_faces(gallery, KEY)
        assert [f["id"] for f in listed] == [next(f["id"] for f in listed if f["origin"] == "folder"), face]
        assert listed[1]["sample"] == done["sample"] and listed[1]["origin"] == "confirmed"
        assert listed[1]["named_by"] == "person"


def test_training_photos_include_confirmed_samples(tmp_path, found):
    from facerec.heads.bottlenecks import gallery_training_photos

    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img17", found)
        decisions.confirm(gallery, [in_album(gallery, "img62", found)], ID05)
        photos = {str(p.path): p for p in gallery_training_photos(gallery, KEY)}
        assert set(photos) == {f"/people/{ID05}/img17.jpg", "/album/img62.jpg"}  # the album photo, read to augment
        assert np.allclose(photos["/album/img62.jpg"].embedding, found["img62"].embedding)
        decisions.undo(gallery)
        assert [str(p.path) for p in gallery_training_photos(gallery, KEY)] == [f"/people/{ID05}/img17.jpg"]


def test_a_renamed_person_keeps_their_confirmed_samples(tmp_path, found):
    """Samples follow the face's person, not the name a decision recorded: renaming (the people row's name, as a
    rename does) and confirming another face of theirs keeps the first one's sample."""
    with Gallery(tmp_path / "g.sqlite") as gallery:
        enroll(gallery, ID05, "img16", found)
        decisions.confirm(gallery, [in_album(gallery, "img17", found)], ID05)
        gallery._db.execute("UPDATE people SET name = 'Renamed' WHERE name = ?", (ID05,))
        decisions.confirm(gallery, [in_album(gallery, "img61", found)], "Renamed")
        assert sample_paths(gallery, "Renamed") == ["img16.jpg", "img17.jpg#face0", "img61.jpg#face0"]


def test_a_group_sample_is_listed_as_its_album_face_unless_that_face_is_someone_else_now():
    from facerec.gallery.face_list import _once

    def sample(id_: str, path: str, origin: str) -> dict:
        return {"id": id_, "kind": "sample", "path": path, "face_index": 0, "name": "Ann", "origin": origin,
                "sample": None, "_note": "named from cluster 1" if origin == "group" else ""}

    def album(id_: str, path: str, index: int, name: str) -> dict:
        return {"id": id_, "kind": "album", "path": path, "face_index": index, "name": name, "origin": None,
                "sample": None}

    listed = _once([sample("s1", "/a/x.jpg#face0", "group"),  # made by naming a group: shown as a2
                    sample("s2", "/people/Ann/1.jpg", "folder"),  # a folder sample: kept
                    sample("s3", "/a/y.jpg#face1", "group")],  # its album face is someone else's now: kept
                   [album("a2", "/a/x.jpg", 0, "Ann"), album("a3", "/a/y.jpg", 1, "Bob")])
    assert [f["id"] for f in listed] == ["s2", "s3", "a2", "a3"]
    assert (listed[2]["sample"], listed[2]["origin"]) == ("s1", "group")
