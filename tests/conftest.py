"""Shared fixtures. Core tests use the small copies in tests/data; tests over the larger shared set
(`../shared/faces` beside the repo, or FACEREC_SHARED_FACES) skip cleanly when it is absent.

Model tests (a real network on real photos) are marked `slow`: every test that uses a model fixture, and the
modules that run models through the CLI, the API or a server (`pytestmark = pytest.mark.slow` there).
`pytest -m "not slow"` is the fast unit subset: parsing, storage, matching, metrics, files, the registry."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CORE = DATA / "core"


def shared_faces_path() -> Path:
    return Path(os.environ.get("FACEREC_SHARED_FACES", REPO.parent / "shared" / "faces"))


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    path = shared_faces_path()
    if not (path / "MANIFEST.tsv").is_file():
        pytest.skip(f"shared face set not found at {path}")
    return path


# Fixtures that load a network: a test that needs one (directly or through another fixture) is a model test.
MODEL_FIXTURES = frozenset({"detector", "dlib_pipeline"})


def pytest_collection_modifyitems(items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def core_images() -> Path:
    return CORE


@pytest.fixture(scope="session")
def detector():
    from facerec.vision.detect import Detector

    return Detector()


@pytest.fixture(scope="session")
def dlib_pipeline():
    pytest.importorskip("dlib", reason="the dlib extra is not installed")
    from facerec.recognition.pipeline import FacePipeline

    return FacePipeline("dlib")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the user's real gallery or weights cache, and never download."""
    home = tmp_path_factory.mktemp("facerec_home")
    monkeypatch.setenv("FACEREC_HOME", str(home))
    monkeypatch.setenv("FACEREC_GALLERY", str(home / "gallery.sqlite"))
    monkeypatch.setenv("FACEREC_OFFLINE", "1")
