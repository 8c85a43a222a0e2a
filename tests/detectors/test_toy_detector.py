"""A detector registered in one line (tests/detectors/toy_detector.py: MTCNN's largest face only) is used by
detect, enroll, identify, tag and a real `facerec serve` process, under its own embedding id."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

import toy_detector  # noqa: F401 - registers the "largest" detector
from facerec.cli.main import main

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)
pytest.importorskip("dlib", reason="the dlib extra is not installed")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from serverproc import ServerProcess, require_server_extra  # noqa: E402 - tests/server/serverproc.py

DATA = Path(__file__).resolve().parents[1] / "data"
TOY = ["--detector", "largest"]
GROUP = DATA / "core" / "group_3.jpg"
PAIR = DATA / "album" / "obama_and_biden.jpg"


def run_json(*argv: str) -> tuple[int, object]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--json", "-q"])
    return code, json.loads(out.getvalue())


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("people")
    for name, photo in (("Barack_Obama", "obama_2.jpg"), ("Joe_Biden", "biden_2.jpg")):
        (root / name).mkdir()
        shutil.copy(DATA / "core" / photo, root / name / photo)
    return root


@pytest.fixture(scope="module")
def gallery(people, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gallery") / "gallery.sqlite"
    assert main(["enroll", str(people), "--gallery", str(path), *TOY, "-q"]) == 0
    return path


def test_detect_gives_the_toys_faces():
    code, results = run_json("detect", str(GROUP), *TOY)
    _, everyone = run_json("detect", str(GROUP))
    assert code == 0 and len(everyone[0]["faces"]) == 3
    largest = max(everyone[0]["faces"], key=lambda f: f["box"][2] * f["box"][3])
    assert [f["box"] for f in results[0]["faces"]] == [largest["box"]]


def test_enroll_keeps_the_toys_embeddings_under_its_own_id(gallery):
    from facerec.gallery.store import Gallery

    with Gallery(gallery, create=False) as g:
        assert sorted(g.embeddings("dlib:ownbox+flip@largest")[1]) == ["Barack_Obama", "Joe_Biden"]
        assert g.embeddings("dlib:dlibbox2+flip")[1] == []  # nothing under MTCNN's


def test_identify_names_the_one_face_the_toy_gives(gallery):
    code, answer = run_json("identify", str(PAIR), "--gallery", str(gallery), *TOY)
    assert code == 0
    names = [f["name"] for f in answer["images"][0]["faces"]]
    assert len(names) == 1 and names[0] in ("Barack_Obama", "Joe_Biden")


def test_tag_names_one_face_per_photo_with_the_toy(gallery, tmp_path):
    album = tmp_path / "album"
    shutil.copytree(DATA / "album", album)
    code, summary = run_json("tag", str(album), "--gallery", str(gallery), *TOY)
    assert code == 0
    names = {r["path"]: [f.get("name") for f in r["faces"]] for r in summary["results"]}
    assert names["obama.jpg"] == ["Barack_Obama"]
    assert len(names["obama_and_biden.jpg"]) == 1 and names["obama_and_biden.jpg"][0] in ("Barack_Obama", "Joe_Biden")


class ToyServer(ServerProcess):
    """`facerec serve` in a process that imported the toy detector's module first (as a user's plugin would be)."""

    def command(self) -> list[str]:
        launcher = "import sys, toy_detector; from facerec.cli.main import main; sys.exit(main(sys.argv[1:]))"
        return [sys.executable, "-c", launcher, *super().command()[3:]]


@pytest.fixture(scope="module")
def server(gallery, tmp_path_factory):
    require_server_extra()
    workdir = tmp_path_factory.mktemp("server")
    shutil.copy(gallery, workdir / "gallery.sqlite")
    here = str(Path(__file__).resolve().parent)
    old = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join([here, old])  # the server process imports toy_detector
    try:
        server = ToyServer(workdir, *TOY).start()
    finally:
        os.environ["PYTHONPATH"] = old
    try:
        yield server
    finally:
        server.stop()


def test_a_server_process_detects_and_recognises_with_the_toy(server):
    import requests

    r = requests.post(server.url + "/v1/vision/face", files={"image": GROUP.read_bytes()}, timeout=120)
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 1  # the largest of the three faces
    r = requests.post(server.url + "/v1/vision/face/recognize", files={"image": (DATA / "album" / "obama.jpg").read_bytes()},
                      timeout=120)
    assert r.status_code == 200, r.text
    assert [p["userid"] for p in r.json()["predictions"]] == ["Barack_Obama"]
