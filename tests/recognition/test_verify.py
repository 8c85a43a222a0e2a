"""verify with the dlib backbone on real photos: same person vs different people, via the API and the CLI."""
from __future__ import annotations

import itertools
import json

import pytest

from facerec.cli.main import main
from facerec.errors import EXIT_BAD_INPUT, EXIT_NEGATIVE, EXIT_OK, NoFaceError
from facerec.recognition.verify import verify

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

SAME = [("kit_1.jpg", "kit_2.jpg"), ("rose_1.jpg", "rose_2.jpg")]
DIFFERENT = [("kit_1.jpg", "rose_1.jpg"), ("obama_2.jpg", "biden_2.jpg"), ("kit_2.jpg", "obama_2.jpg"), ("rose_2.jpg", "biden_2.jpg")]


@pytest.mark.parametrize("a, b", SAME)
def test_same_person(dlib_pipeline, core_images, a, b):
    result = verify(core_images / a, core_images / b, dlib_pipeline)
    assert result["same"] is True and result["distance"] <= result["threshold"]


@pytest.mark.parametrize("a, b", DIFFERENT)
def test_different_people(dlib_pipeline, core_images, a, b):
    result = verify(core_images / a, core_images / b, dlib_pipeline)
    assert result["same"] is False and result["distance"] > result["threshold"]


def test_no_face_is_a_clear_error(dlib_pipeline, core_images):
    with pytest.raises(NoFaceError, match="noface_017.jpg"):
        verify(core_images / "noface_017.jpg", core_images / "kit_1.jpg", dlib_pipeline)


def test_cli_verify_exit_codes_and_json(core_images, capsys):
    pytest.importorskip("dlib")
    assert main(["verify", str(core_images / "kit_1.jpg"), str(core_images / "kit_2.jpg")]) == EXIT_OK
    assert capsys.readouterr().out.startswith("same")
    assert main(["verify", "--json", str(core_images / "kit_1.jpg"), str(core_images / "rose_1.jpg")]) == EXIT_NEGATIVE
    out = json.loads(capsys.readouterr().out)
    assert out["same"] is False and out["backbone"] == "dlib" and out["threshold"] > 0
    assert main(["verify", str(core_images / "noface_017.jpg"), str(core_images / "kit_1.jpg")]) == EXIT_BAD_INPUT
    assert "no face" in capsys.readouterr().err


def test_shared_set_pairs_across_several_people(dlib_pipeline, shared_faces):
    """Every pair among 2 photos each of 5 people: same-person pairs say same, cross-person pairs say different."""
    people = ["Barack_Obama", "Joe_Biden", "Kit_Harington", "Rose_Leslie", "Alex_Lacamoire"]
    photos = {p: sorted((shared_faces / "face_recognition" / p).iterdir())[:2] for p in people}
    from facerec.vectors import cosine_distance
    from facerec.recognition.verify import embed_main_face
    from facerec.thresholds import threshold_for

    vectors = {(p, i): embed_main_face(path, dlib_pipeline)[0] for p in people for i, path in enumerate(photos[p])}
    threshold = threshold_for("dlib")
    errors = []
    for (ka, va), (kb, vb) in itertools.combinations(vectors.items(), 2):
        same = cosine_distance(va, vb) <= threshold
        if same != (ka[0] == kb[0]):
            errors.append((ka, kb, cosine_distance(va, vb)))
    assert not errors, errors
