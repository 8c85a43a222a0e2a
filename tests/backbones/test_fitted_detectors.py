"""Backbones say which detectors' boxes their alignment was fitted on; any other detector's faces get the backbone's
generic alignment, named in their embedding id (BackboneEntry.fitted_to: the one rule)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facerec.backbones import REGISTRY, BackboneEntry, align_detected, embedding_id, register
from facerec.backbones.base import Backbone
from facerec.types import Face
from facerec.vision.align import align_face, loose_crop
from facerec.vision.imageio import load_image

THRESHOLDS = {"verify": 0.2, "identify": 0.1, "cluster": 0.05}


class LooseBackbone(Backbone):
    """A stand-in network whose own alignment is a loose crop of the box, as VGGFace2's."""

    name = "loose-toy"
    input_size = 64
    embedding_size = 3

    def __init__(self, name: str = "loose-toy", weights=None):
        pass

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        return loose_crop(image, face.box, size=self.input_size)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        X = np.asarray(chips, dtype=np.float32).mean(axis=(1, 2)) + 1.0
        return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture
def registry(monkeypatch):
    """The backbone registry, restored after the test."""
    import facerec.backbones.registry as module

    monkeypatch.setattr(module, "REGISTRY", dict(REGISTRY))
    monkeypatch.setattr("facerec.backbones.REGISTRY", module.REGISTRY)
    return module.REGISTRY


def test_every_shipped_backbone_was_fitted_on_mtcnns_boxes_only():
    for spec in REGISTRY.values():
        assert spec.fitted_detectors == ("mtcnn",)
        assert spec.fitted_to("mtcnn") and spec.fitted_to("MTCNN") and spec.fitted_to(None)  # None: the default
        assert not any(spec.fitted_to(other) for other in ("dlib-hog", "dlib-cnn", "yunet"))
        assert spec.alignment_for("mtcnn") == spec.alignment != spec.alignment_for("dlib-hog") == spec.generic_alignment


def test_the_embedding_id_names_the_alignment_a_detectors_faces_get():
    assert embedding_id("dlib") == embedding_id("dlib", detector="mtcnn") == "dlib:dlibbox2+flip"  # galleries keep it
    assert embedding_id("dlib", detector="dlib-cnn") == "dlib:ownbox+flip@dlib-cnn"
    assert embedding_id("dlib-keras", False, "yunet") == "dlib-keras:ownbox@yunet"
    assert embedding_id("senet50", detector="dlib-hog") == "senet50:5point+flip@dlib-hog"


def test_a_backbone_fitted_on_mtcnn_gives_other_detectors_faces_its_generic_alignment(registry, core_images):
    register(BackboneEntry("loose-toy", f"{__name__}:LooseBackbone", 3, alignment="loose", thresholds=THRESHOLDS,
                           fitted_detectors=("mtcnn",), flip=False))
    backbone = LooseBackbone()
    image = load_image(core_images / "group_3.jpg")
    # the middle face of group_3.jpg: a box and five landmarks (eyes, nose, mouth corners) as a detector gives them
    face = Face((338, 144, 99, 128), 0.99, ((365.0, 193.0), (410.0, 192.0), (389.0, 218.0), (369.0, 240.0),
                                             (409.0, 240.0)))
    own, generic = loose_crop(image, face.box, size=64), align_face(image, face.landmarks_array(), size=64)
    assert not np.array_equal(own, generic)
    assert np.array_equal(align_detected(backbone, image, face, "mtcnn"), own)
    assert np.array_equal(align_detected(backbone, image, face, None), own)
    assert np.array_equal(align_detected(backbone, image, face, "dlib-hog"), generic)
    assert embedding_id("loose-toy", detector="yunet") == "loose-toy:5point@yunet"


def test_a_backbone_without_fitted_detectors_aligns_every_detectors_faces_its_own_way(registry, core_images):
    register(BackboneEntry("loose-toy", f"{__name__}:LooseBackbone", 3, alignment="loose", thresholds=THRESHOLDS,
                           flip=False))
    image = load_image(core_images / "group_3.jpg")
    face = Face((338, 144, 99, 128), 0.99, ((365.0, 193.0), (410.0, 192.0), (389.0, 218.0), (369.0, 240.0),
                                             (409.0, 240.0)))
    own = loose_crop(image, face.box, size=64)
    assert np.array_equal(align_detected(LooseBackbone(), image, face, "dlib-hog"), own)
    assert embedding_id("loose-toy", detector="dlib-hog") == "loose-toy:loose@dlib-hog"


def test_a_generic_alignment_named_as_the_fitted_one_is_refused(registry):
    with pytest.raises(ValueError, match="generic_alignment must differ"):
        register(BackboneEntry("loose-toy", f"{__name__}:LooseBackbone", 3, alignment="loose", thresholds=THRESHOLDS,
                               fitted_detectors=("mtcnn",), generic_alignment="loose"))


def test_info_json_shows_each_backbones_fitted_detectors(capsys):
    from facerec.cli.main import main

    assert main(["info", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["backbones"]
    assert {r["name"] for r in rows} == set(REGISTRY)
    for row in rows:
        assert row["fitted_detectors"] == ["mtcnn"] and row["alignment"] == REGISTRY[row["name"]].alignment
        assert row["generic_alignment"] == ("ownbox" if row["name"].startswith("dlib") else "5point")


@pytest.mark.slow  # dlib's detectors and shape predictor on a real photo
@pytest.mark.parametrize("detector", ["dlib-hog", "dlib-cnn"])
def test_dlib_runs_its_predictor_in_dlib_detectors_own_boxes(detector, core_images):
    pytest.importorskip("dlib", reason="the dlib extra is not installed")
    from facerec.recognition.pipeline import build_pipeline

    image = load_image(core_images / "obama_2.jpg")
    pipeline = build_pipeline("dlib", detector=detector)
    faces = pipeline.detect(image)
    assert len(faces) == 1
    chips = pipeline.align(image, faces)
    backbone = pipeline.backbone
    assert np.array_equal(chips[0], backbone.align_generic(image, faces[0]))
    assert not np.array_equal(chips[0], backbone.align(image, faces[0]))  # the box mapping fitted on MTCNN's boxes
    # the same face from MTCNN, aligned the fitted way: the two embeddings are of one person by dlib's own threshold
    mtcnn = build_pipeline("dlib", detector="mtcnn")
    assert np.array_equal(mtcnn.align(image, mtcnn.detect(image))[0], backbone.align(image, mtcnn.detect(image)[0]))
    vectors = np.concatenate([pipeline.embed(image, faces), mtcnn.embed(image, mtcnn.detect(image))])
    assert 1.0 - float(vectors[0] @ vectors[1]) < REGISTRY["dlib"].thresholds["verify"] / 2


def test_training_realigns_a_stored_face_the_way_its_detector_was_aligned(tmp_path, core_images):
    """Fine-tuning cuts the enrolled faces again: a face stored under a dlib-hog id is a dlib-hog box."""
    from facerec.gallery.store import Gallery
    from facerec.heads.bottlenecks import gallery_training_photos

    face = Face((338, 144, 99, 128), 0.99, ((365.0, 193.0), (410.0, 192.0), (389.0, 218.0), (369.0, 240.0),
                                             (409.0, 240.0)))
    with Gallery(tmp_path / "g.sqlite") as gallery:
        for i, (detector, photo) in enumerate((("mtcnn", "group_3.jpg"), ("dlib-hog", "kit_1.jpg"))):
            key = embedding_id("dlib", detector=detector)
            gallery.record_photo("P", str(core_images / photo), str(i), None, None, "ok", "", key, face,
                                 np.eye(128, dtype=np.float32)[i])
        assert [p.detector for p in gallery_training_photos(gallery, embedding_id("dlib"))] == ["mtcnn"]
        assert [p.detector for p in gallery_training_photos(gallery, "dlib:ownbox+flip@dlib-hog")] == ["dlib-hog"]
