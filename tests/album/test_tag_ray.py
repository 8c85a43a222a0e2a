"""`facerec tag ALBUM --ray`: the per-photo work on a (local, one-CPU) Ray cluster gives the local run's
results face by face, and a re-run skips what is unchanged, as a local run does.

The album: Obama and Biden with a child, Obama alone, Rose Leslie, a photo without a face and a
truncated JPEG (tests/data); Obama and Biden are enrolled from other photos of them.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from facerec.cli.main import main
from facerec.gallery.store import Gallery
from facerec.recognition.recognizer import Recognizer
from facerec.album.tag import RayCluster, tag_album

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

DATA = Path(__file__).resolve().parents[1] / "data"
CORE, ALBUM_DATA = DATA / "core", DATA / "album"
THRESHOLD = 0.10  # as tests/album/test_tag.py: separates these people with margin (dlib)


def build_album(root: Path, with_rose: bool = True) -> Path:
    album = root / "album"
    album.mkdir(parents=True, exist_ok=True)
    shutil.copy(ALBUM_DATA / "obama_and_biden.jpg", album / "obama_and_biden.jpg")
    shutil.copy(ALBUM_DATA / "obama.jpg", album / "obama.jpg")
    shutil.copy(CORE / "noface_017.jpg", album / "noface.jpg")
    data = (ALBUM_DATA / "obama.jpg").read_bytes()
    (album / "truncated.jpg").write_bytes(data[: len(data) // 2])
    if with_rose:
        add_rose(album)
    return album


def add_rose(album: Path) -> None:
    shutil.copy(CORE / "rose_1.jpg", album / "rose_1.jpg")


def enrolled_gallery(path: Path, pipeline) -> Path:
    from facerec.gallery.enroll import enroll_folder

    people = path.parent / "people"
    for name, photo in (("Barack_Obama", "obama_2.jpg"), ("Joe_Biden", "biden_2.jpg")):
        (people / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(CORE / photo, people / name / photo)
    with Gallery(path) as gallery:
        enroll_folder(people, gallery, pipeline, progress=False)
    return path


def faces_by_key(summary) -> dict:
    return {(r.rel_path, t.face_index): (tuple(t.face.box), t.name) for r in summary.results for t in r.faces}


def stored(gallery_path: Path, summary) -> dict:
    """(photo, face index) -> the gallery's detection (box, landmarks, confidence, embedding, name, score)."""
    with Gallery(gallery_path) as gallery:
        return {(r.rel_path, d.face_index): d for r in summary.results
                for d in gallery.detections(str(r.path.absolute()))}


def test_without_ray_installed_the_command_exits_4_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    album = build_album(tmp_path)
    assert main(["tag", str(album), "--ray", "--gallery", str(tmp_path / "g.sqlite")]) == 4
    assert "facerec[ray]" in capsys.readouterr().err
    assert not (tmp_path / "g.sqlite").exists()


def test_an_unreachable_cluster_exits_4_with_the_address(tmp_path, capsys, dlib_pipeline):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process")
    album = build_album(tmp_path)
    assert main(["tag", str(album), "--ray", "127.0.0.1:1", "--gallery", str(tmp_path / "g.sqlite")]) == 4
    assert "cannot join the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err
    with Gallery(tmp_path / "g.sqlite") as gallery:  # nothing recorded as unreadable on the way
        assert gallery.media_record(str((album / "obama.jpg").absolute())) is None


def test_ray_run_matches_the_local_run_face_by_face_and_resumes(tmp_path, dlib_pipeline, local_cluster, capsys,
                                                                 monkeypatch):
    local_gallery = enrolled_gallery(tmp_path / "local" / "g.sqlite", dlib_pipeline)
    ray_gallery = tmp_path / "ray" / "g.sqlite"
    ray_gallery.parent.mkdir()
    shutil.copy(local_gallery, ray_gallery)
    with Gallery(local_gallery) as gallery:
        local = tag_album(build_album(tmp_path / "local"), gallery, dlib_pipeline,
                          recognizer=Recognizer(gallery.path, pipeline=dlib_pipeline, threshold=THRESHOLD), workers=2)

    # Ray, first on the album without one photo (a run cut short), from the command line.
    album = build_album(tmp_path / "ray", with_rose=False)
    args = ["tag", str(album), "--ray", "--gallery", str(ray_gallery), "--threshold", str(THRESHOLD), "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["analysed"], first["failed"], first["skipped"], first["photos"]) == (3, 1, 0, 4)

    # The rest: only the new photo is analysed; the unchanged ones are skipped, the bad one included.
    add_rose(album)
    with Gallery(ray_gallery) as gallery:
        resumed = tag_album(album, gallery, dlib_pipeline, recognizer=Recognizer(gallery.path, pipeline=dlib_pipeline, threshold=THRESHOLD),
                            workers=2, ray=RayCluster(num_cpus=1))
    assert (resumed.analysed, resumed.skipped, resumed.failed) == (1, 4, 0)

    assert faces_by_key(resumed) == faces_by_key(local) and len(faces_by_key(local)) == 5
    assert {"Barack_Obama", "Joe_Biden"} <= {name for _, name in faces_by_key(local).values()}
    assert [(r.rel_path, r.status, r.note) for r in resumed.results] == \
        [(r.rel_path, r.status, r.note) for r in local.results]
    sizes = {r.rel_path: (r.width, r.height) for r in local.results if r.status == "ok"}
    analysed_on_ray = [p for p in first["results"] if p["status"] == "ok"] + \
        [r.to_dict() for r in resumed.results if r.outcome == "analysed"]
    assert {p["path"]: (p["width"], p["height"]) for p in analysed_on_ray} == sizes
    remote, here = stored(ray_gallery, resumed), stored(local_gallery, local)
    assert remote.keys() == here.keys()
    for key, d in here.items():
        r = remote[key]
        assert (r.face.box, r.predicted_name) == (d.face.box, d.predicted_name)
        assert r.face.confidence == pytest.approx(d.face.confidence, abs=1e-6)
        np.testing.assert_allclose(r.face.landmarks, d.face.landmarks, atol=1e-4)
        np.testing.assert_allclose(r.embedding, d.embedding, atol=1e-5)
        assert r.score == pytest.approx(d.score, abs=1e-5)

    # Nothing changed: nothing is sent to Ray.
    from facerec.album.distributed import RayRunner

    def no_task(self, item, data):
        raise AssertionError(f"{item.path} sent to Ray although unchanged")

    monkeypatch.setattr(RayRunner, "submit", no_task)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["analysed"], again["skipped"]) == (0, 5)
    assert [(p["path"], p["faces"]) for p in again["results"]] == \
        [(r.rel_path, r.to_dict()["faces"]) for r in resumed.results]
