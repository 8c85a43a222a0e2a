"""The backbone registry: one entry per backbone, and a new backbone is one module plus one registration line."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.backbones import REGISTRY, BackboneEntry, embedding_id, entry, get_backbone, register
from facerec.backbones.base import Backbone
from facerec.errors import FacerecError
from facerec.thresholds import threshold_for


class ToyBackbone(Backbone):
    """A stand-in network: the chip's mean colour per quadrant, as a unit vector."""

    name = "toy"
    input_size = 32
    embedding_size = 12

    def __init__(self, name: str = "toy", weights=None):
        self.weights = weights

    def embed(self, chips: np.ndarray) -> np.ndarray:
        chips = np.asarray(chips, dtype=np.float32)
        quads = [chips[:, :16, :16], chips[:, :16, 16:], chips[:, 16:, :16], chips[:, 16:, 16:]]
        X = np.concatenate([q.mean(axis=(1, 2)) for q in quads], axis=1) + 1.0
        return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setattr("facerec.backbones.registry.REGISTRY", dict(REGISTRY))
    import facerec.backbones.registry as registry

    monkeypatch.setattr("facerec.backbones.REGISTRY", registry.REGISTRY)
    register(BackboneEntry("toy", f"{__name__}:ToyBackbone", 12, alignment="tight",
                           thresholds={"verify": 0.2, "identify": 0.1, "cluster": 0.05}, flip=False))
    yield registry.REGISTRY["toy"]


def test_every_shipped_backbone_has_a_whole_entry():
    assert list(REGISTRY) == ["dlib", "dlib-keras", "vgg16", "resnet50", "senet50"]
    for spec in REGISTRY.values():
        assert spec.embedding_size > 0 and spec.alignment and spec.factory.count(":") == 1
        assert threshold_for(spec.name, "identify") < threshold_for(spec.name, "verify")
        assert spec.fine_tunable == (spec.name != "dlib") and spec.weights_file == (spec.name != "dlib")


def test_a_registered_backbone_is_used_everywhere_by_its_entry(toy_registered, core_images):
    from facerec.recognition.pipeline import FacePipeline

    assert embedding_id("toy") == "toy:tight" and embedding_id("toy", flip=True) == "toy:tight+flip"
    assert threshold_for("toy:tight", "identify") == 0.1 and threshold_for("toy", "cluster") == 0.05
    backbone = get_backbone("toy", weights="w.h5")
    assert isinstance(backbone, ToyBackbone) and backbone.weights == "w.h5"
    faces = FacePipeline("toy").analyse(core_images / "group_3.jpg")
    assert len(faces) == 3 and all(f.embedding.shape == (12,) for f in faces)
    with pytest.raises(FacerecError, match="fine-tuning needs a Keras backbone"):
        entry("toy").keras_base()


def test_an_unknown_or_doubled_backbone_is_refused(toy_registered):
    with pytest.raises(FacerecError, match="unknown backbone 'nope'; choose one of: dlib, dlib-keras"):
        entry("nope")
    with pytest.raises(ValueError, match="registered twice"):
        register(toy_registered)
    with pytest.raises(ValueError, match="verify, identify and cluster"):
        register(BackboneEntry("half", "x:y", 1, alignment="a", thresholds={"verify": 0.1}))
