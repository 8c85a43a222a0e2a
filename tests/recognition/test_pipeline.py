"""The pipeline's embedding recipe: test-time flip and the embedding id the gallery keys embeddings by."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.backbones import embedding_id
from facerec.vision.imageio import load_image
from facerec.vectors import l2_normalise

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)


def test_flip_embedding_is_the_normalised_mean_of_both_views(core_images, dlib_pipeline):
    from facerec.recognition.pipeline import FacePipeline

    image = load_image(core_images / "rose_1.jpg")
    faces = dlib_pipeline.detect(image)
    chips = dlib_pipeline.align(image, faces)
    backbone = dlib_pipeline.backbone
    flipped = FacePipeline(backbone, detector=dlib_pipeline.detector, flip=True).embed_chips(chips)
    plain = FacePipeline(backbone, detector=dlib_pipeline.detector, flip=False).embed_chips(chips)
    expected = l2_normalise(backbone.embed(chips) + backbone.embed(np.ascontiguousarray(chips[:, :, ::-1])))
    assert np.allclose(flipped, expected, atol=1e-5)
    assert np.allclose(plain, backbone.embed(chips), atol=1e-6)
    assert np.allclose(np.linalg.norm(flipped, axis=1), 1.0, atol=1e-5)
    # the mirror image is a different picture, so the flip really changes the vector (a little)
    assert 1e-5 < float(np.max(np.abs(flipped - plain))) < 0.2


def test_flip_is_on_by_default_and_named_in_the_embedding_id(dlib_pipeline):
    assert dlib_pipeline.flip is True
    assert dlib_pipeline.embedding_id == embedding_id("dlib") == embedding_id("dlib", True)
    assert embedding_id("dlib", False) != embedding_id("dlib", True)
    assert embedding_id("resnet50").startswith("resnet50:")


def test_gallery_keeps_embeddings_of_different_recipes_apart(tmp_path, core_images, dlib_pipeline):
    from facerec.gallery.store import Gallery

    image = load_image(core_images / "kit_1.jpg")
    face = dlib_pipeline.detect(image)[0]
    vector = dlib_pipeline.embed(image, [face])[0]
    with Gallery(tmp_path / "g.sqlite") as gallery:
        gallery.record_photo("Kit", core_images / "kit_1.jpg", "abc", 1.0, 10, "ok", "", dlib_pipeline.embedding_id,
                             face, vector)
        X, names, _ = gallery.embeddings(dlib_pipeline.embedding_id)
        assert names == ["Kit"] and np.allclose(X[0], vector)
        assert len(gallery.embeddings(embedding_id("dlib", flip=False))[1]) == 0
        assert len(gallery.embeddings("dlib")[1]) == 0  # an old gallery's key is never matched against


@pytest.mark.parametrize("flag", [[], ["--no-flip"]])
def test_cli_enroll_then_identify_with_the_same_flip_setting(tmp_path, core_images, flag, capsys):
    pytest.importorskip("dlib")
    from facerec.cli.main import main

    people = tmp_path / "people"
    for name, photo in (("Kit", "kit_1.jpg"), ("Rose", "rose_1.jpg")):
        (people / name).mkdir(parents=True)
        (people / name / photo).write_bytes((core_images / photo).read_bytes())
    gallery = str(tmp_path / "g.sqlite")
    assert main(["enroll", str(people), "--gallery", gallery, "-q", "--backbone", "dlib", *flag]) == 0
    capsys.readouterr()
    assert main(["identify", str(core_images / "kit_2.jpg"), "--gallery", gallery, "-q", "--backbone", "dlib",
                 *flag]) == 0
    assert ",Kit," in capsys.readouterr().out
    # the other setting finds nobody enrolled with its recipe: a clear error, not a silent mix
    other = [] if flag else ["--no-flip"]
    assert main(["identify", str(core_images / "kit_2.jpg"), "--gallery", gallery, "-q", "--backbone", "dlib",
                 *other]) != 0


def test_main_face_is_the_subject_not_a_larger_bystander_at_the_edge(core_images, detector):
    """A portrait-like crop of a real group photo: its subject in the middle, a larger face at the edge
    (as in 24 of LFW View 1's photos). Enrolment, verify and evaluation take the subject."""
    from facerec.recognition.pipeline import largest_face, main_face

    image = load_image(core_images / "group_3.jpg")[124:383, 160:440].copy()
    faces = detector.detect(image)
    assert len(faces) == 2
    subject = main_face(faces, image.shape)
    assert largest_face(faces) is not subject  # the bystander is larger
    x, y, w, h = subject.box
    assert abs(x + w / 2 - image.shape[1] / 2) < 40  # the subject is the central face
    assert main_face([subject], image.shape) is subject and main_face([], image.shape) is None
