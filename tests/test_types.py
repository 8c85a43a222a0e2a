"""FaceResult.named_by: who gave a face its name, in every output shape."""
from __future__ import annotations

from facerec.types import ROW_FIELDS, UNKNOWN, Face, FaceResult, Identity

FACE = Face((10, 20, 30, 40), 0.99, ((0.0, 0.0),) * 5)


def test_named_by_defaults_to_facerec_for_a_named_face_and_none_for_unknown():
    assert FaceResult.of(FACE, Identity("Ann", 0.9, 0.1)).named_by == "facerec"
    assert FaceResult.of(FACE, Identity(UNKNOWN, 0.2, 0.8)).named_by is None
    assert FaceResult.of(FACE, None).named_by is None


def test_named_by_is_in_the_dict_and_the_csv_row():
    face = FaceResult(FACE, "Ann", None, None, 0, "a.jpg", named_by="region")
    assert face.to_dict()["named_by"] == "region"
    row = dict(zip(ROW_FIELDS, face.to_row()))
    assert row["named_by"] == "region" and ROW_FIELDS[-2:] == ("named_by", "probability")
