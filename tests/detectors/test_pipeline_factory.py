"""One pipeline factory: the CLI, the API, the server, Ray's workers and the Recognizer all build their pipeline with
facerec.recognition.pipeline.build_pipeline, so the detector chosen reaches each of them and their embedding ids."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds real pipelines (dlib's models)
pytest.importorskip("dlib", reason="the dlib extra is not installed")

HOG_ID = "dlib:ownbox+flip@dlib-hog"  # dlib's generic alignment: its box mapping was fitted on MTCNN's


def test_no_module_constructs_a_pipeline_but_the_factory():
    package = Path(__file__).resolve().parents[2] / "facerec"
    constructing = [str(p.relative_to(package)) for p in package.rglob("*.py") if "FacePipeline(" in p.read_text()]
    assert constructing == ["recognition/pipeline.py"]


def test_cli_api_server_recognizer_and_ray_workers_get_the_detector(tmp_path):
    from facerec import api
    from facerec.album.distributed import WorkerSpec
    from facerec.cli.commands._util import pipeline_from_args
    from facerec.recognition.recognizer import Recognizer
    from facerec.server.app import load_pipeline
    from facerec.server.config import ServerConfig

    args = argparse.Namespace(backbone="dlib", weights=None, flip=None, detector="dlib-hog", min_face_size=30)
    cli = pipeline_from_args(args)
    assert cli.embedding_id == HOG_ID and cli.detector.min_face_size == 30
    assert api.pipeline("dlib", detector="dlib-hog").embedding_id == HOG_ID
    assert load_pipeline(ServerConfig(gallery=tmp_path / "g.sqlite", detector="dlib-hog")).embedding_id == HOG_ID
    assert Recognizer(tmp_path / "g.sqlite", "dlib", detector="dlib-hog").embedding_id == HOG_ID
    spec = WorkerSpec.of(cli)
    assert spec.detector == "dlib-hog" and spec.min_face_size == 30
    worker = spec.build()
    assert worker.embedding_id == HOG_ID and worker.detector.min_face_size == 30


def test_ray_workers_keep_mtcnns_settings_and_id():
    from facerec.album.distributed import WorkerSpec
    from facerec.recognition.pipeline import build_pipeline
    from facerec.vision.detect import Detector

    base = build_pipeline("dlib", detector=Detector(min_face_size=25, min_confidence=0.95))
    worker = WorkerSpec.of(base).build()
    assert worker.embedding_id == base.embedding_id == "dlib:dlibbox2+flip"
    assert (worker.detector.min_face_size, worker.detector.min_confidence) == (25, 0.95)


def test_the_environment_chooses_the_detector_where_none_is_given(monkeypatch):
    from facerec.recognition.pipeline import build_pipeline

    monkeypatch.setenv("FACEREC_DETECTOR", "dlib-hog")
    assert build_pipeline("dlib").embedding_id == HOG_ID
