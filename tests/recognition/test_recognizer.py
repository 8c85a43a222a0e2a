"""The Recognizer every caller shares: a warm matcher refitted when the gallery changes, the fine-tuned head
rule, nobody enrolled, one name per photo, and one FaceResult per face."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facerec.errors import GalleryError
from facerec.recognition.recognizer import Recognizer
from facerec.types import ROW_FIELDS, UNKNOWN

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

DATA = Path(__file__).resolve().parents[1] / "data"
HOLDOUT = DATA / "holdout"


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, dlib_pipeline) -> Path:
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery

    people = tmp_path_factory.mktemp("people")
    for name in ("Angelina_Jolie", "deepface_id05"):
        shutil.copytree(DATA / "people" / name, people / name)
    path = people.parent / "recognizer.sqlite"
    with Gallery(path) as gallery:
        enroll_folder(people, gallery, dlib_pipeline, progress=False)
    return path


def test_names_a_known_face_and_leaves_a_stranger_unknown(enrolled, dlib_pipeline):
    recognizer = Recognizer(enrolled, pipeline=dlib_pipeline)
    (known,) = recognizer.identify(HOLDOUT / "deepface_id05_img61.jpg")
    assert known.name == "deepface_id05" and known.distance <= recognizer.threshold_
    assert known.path.endswith("deepface_id05_img61.jpg") and known.embedding.shape == (128,)
    (stranger,) = recognizer.identify(HOLDOUT / "deepface_id13_img24.jpg")
    assert stranger.name == UNKNOWN and stranger.distance > recognizer.threshold_
    assert recognizer.people() == ["Angelina_Jolie", "deepface_id05"]


def test_the_matcher_is_fitted_once_and_refitted_when_the_gallery_changes(enrolled, dlib_pipeline, tmp_path):
    from facerec.gallery.enroll import forget
    from facerec.gallery.store import Gallery

    path = tmp_path / "copy.sqlite"
    shutil.copy(enrolled, path)
    recognizer = Recognizer(path, pipeline=dlib_pipeline)
    probe = HOLDOUT / "deepface_id05_img61.jpg"
    assert [f.name for f in recognizer.identify(probe)] == ["deepface_id05"]
    first = recognizer.matcher()
    assert recognizer.matcher() is first and recognizer.refits == 1
    with Gallery(path) as gallery:  # another connection, as `facerec forget` in another process would be
        assert forget(gallery, "deepface_id05")
    assert [f.name for f in recognizer.identify(probe)] == [UNKNOWN]  # forgotten: no longer named
    assert recognizer.refits == 2 and "deepface_id05" not in recognizer.people()


def test_nobody_enrolled_is_an_error_only_when_people_are_required(tmp_path, dlib_pipeline):
    from facerec.gallery.store import Gallery

    Gallery(tmp_path / "empty.sqlite").close()
    with pytest.raises(GalleryError, match="nobody is enrolled"):
        Recognizer(tmp_path / "empty.sqlite", pipeline=dlib_pipeline, require_people=True).matcher()
    with pytest.raises(GalleryError, match="no gallery"):
        Recognizer(tmp_path / "missing.sqlite", pipeline=dlib_pipeline, require_people=True).matcher()
    lenient = Recognizer(tmp_path / "missing.sqlite", pipeline=dlib_pipeline)
    (face,) = lenient.identify(HOLDOUT / "deepface_id05_img61.jpg")
    assert face.name == UNKNOWN and lenient.matcher() is None
    assert not (tmp_path / "missing.sqlite").exists()  # asking never creates a gallery


def test_one_name_per_photo(enrolled, dlib_pipeline):
    """The same face twice in one 'photo': the person is named once, the other face is unknown."""
    recognizer = Recognizer(enrolled, pipeline=dlib_pipeline)
    (known,) = recognizer.identify(HOLDOUT / "deepface_id05_img61.jpg")
    twice = recognizer.name_faces([known.face, known.face], np.stack([known.embedding, known.embedding * 0.999]))
    assert sorted(f.name for f in twice) == sorted([UNKNOWN, "deepface_id05"])
    assert [f.score for f in twice if f.name == UNKNOWN] == [0.0]
    assert twice[0].distance == pytest.approx(twice[1].distance, abs=1e-4)  # as close, named once


def test_a_fine_tuned_head_embeds_with_its_own_base(enrolled, dlib_pipeline):
    """A head fine-tuned with its base network gets embeddings from that base, and cannot name stored ones."""
    class FineTunedHead:
        fine_tuned = True

        def embed_chips(self, chips):
            return chips

    recognizer = Recognizer(enrolled, pipeline=dlib_pipeline)
    head = FineTunedHead()
    tuned = recognizer._pipeline_for(head)
    assert tuned.embedder == head.embed_chips and tuned.detector is dlib_pipeline.detector
    assert tuned.flip == dlib_pipeline.flip and recognizer._pipeline_for(object()) is dlib_pipeline


def test_face_result_dict_and_row_are_the_same_face(enrolled, dlib_pipeline):
    (face,) = Recognizer(enrolled, pipeline=dlib_pipeline).identify(HOLDOUT / "deepface_id05_img61.jpg")
    as_dict, row = face.to_dict(), dict(zip(ROW_FIELDS, face.to_row()))
    assert as_dict["box"] == [row["x"], row["y"], row["w"], row["h"]] == list(face.face.box)
    for key in ("path", "face_index", "name", "score", "distance", "confidence"):
        assert as_dict[key] == row[key]
    assert face.to_row(("name", "x")) == [face.name, face.face.box[0]]


def test_the_threshold_follows_the_gallery_and_a_given_one_stays(enrolled, dlib_pipeline, tmp_path):
    """Enrolling a third person (3 more faces) makes identify stricter at once; an explicit threshold never moves."""
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery
    from facerec.thresholds import identify_threshold

    path = tmp_path / "growing.sqlite"
    shutil.copy(enrolled, path)
    recognizer = Recognizer(path, pipeline=dlib_pipeline)
    fixed = Recognizer(path, pipeline=dlib_pipeline, threshold=0.07)
    recognizer.matcher(), fixed.matcher()
    assert recognizer.threshold_ == identify_threshold(recognizer.embedding_id, 6) and fixed.threshold_ == 0.07
    people = tmp_path / "people"
    shutil.copytree(DATA / "people" / "deepface_id03", people / "deepface_id03")
    with Gallery(path) as gallery:  # another connection, as `facerec enroll` in another process would be
        enroll_folder(people, gallery, dlib_pipeline, progress=False)
    assert "deepface_id03" in recognizer.people() and recognizer.refits == 2
    assert recognizer.threshold_ == identify_threshold(recognizer.embedding_id, 9) < identify_threshold(
        recognizer.embedding_id, 6)
    fixed.matcher()
    assert fixed.threshold_ == 0.07 and fixed.refits == 2
