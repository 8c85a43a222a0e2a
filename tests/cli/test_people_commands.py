"""`facerec rename / merge / hide / unhide / cover / move / people --all / undo` (issue 19): the CLI's main() and real
processes on a real gallery; unknown names and ids exit 1 with the reason and change nothing; `facerec enroll`
of a renamed or merged person's folder adds to them (real photos, dlib: slow)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facerec.cli.main import main
from facerec.gallery.store import Gallery
from facerec.types import UNKNOWN, Face

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
KEY = "dlib:dlibbox2+flip"  # the gallery key of the default dlib pipeline's embeddings
FACE = Face((10, 10, 60, 60), 0.99, tuple((20.0 + i, 30.0) for i in range(5)))


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=128)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def gallery_path(tmp_path) -> Path:
    """Katy_Perry (one sample) and Kit, and an album photo whose one face tagging named Katy_Perry."""
    rng = np.random.default_rng(7)
    path = tmp_path / "g.sqlite"
    with Gallery(path) as g:
        for name in ("Katy_Perry", "Kit"):
            g.record_photo(name, f"/people/{name}/1.jpg", "sha-" + name, 0.0, 1, "ok", embedding_id=KEY, face=FACE,
                           embedding=unit(rng))
        g.record_media("/album/1.jpg", "sha-album", 0.0, 1, KEY, g.version(), "ok",
                       detections=[{"face": FACE, "embedding": unit(rng), "predicted_name": "Katy_Perry", "score": 0.8}])
    return path


def run(capsys, gallery_path: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv, "--gallery", str(gallery_path)])
    out, err = capsys.readouterr()
    return code, out, err


def people_json(capsys, gallery_path: Path, *flags: str) -> dict[str, dict]:
    code, out, _ = run(capsys, gallery_path, "people", "--json", *flags)
    assert code == 0
    return {p["name"]: p for p in json.loads(out)["people"]}


def album_face(gallery_path: Path) -> str:
    with Gallery(gallery_path) as g:
        return f"a{g.detections('/album/1.jpg')[0].id}"


def test_rename_merge_and_undo_commands(capsys, gallery_path):
    code, out, _ = run(capsys, gallery_path, "rename", "katy perry", "Katy")
    assert code == 0
    assert "'katy perry' is taken as 'Katy_Perry'" in out and "renamed Katy_Perry to Katy" in out
    assert people_json(capsys, gallery_path)["Katy"]["aliases"] == ["Katy_Perry"]

    code, _, err = run(capsys, gallery_path, "rename", "Katy", "kit")  # Kit's name in another case
    assert code == 1 and "merge" in err
    code, _, err = run(capsys, gallery_path, "merge", "Nobody", "Kit")
    assert code == 1 and "nobody called 'Nobody'" in err
    code, _, err = run(capsys, gallery_path, "rename", "Katy", "a|b")
    assert code == 2 and "separators" in err  # every name through facerec.names
    assert set(people_json(capsys, gallery_path)) == {"Katy", "Kit"}  # nothing changed by a refused command

    code, out, _ = run(capsys, gallery_path, "merge", "Kit", "Katy", "--json")
    assert code == 0 and json.loads(out)["person"] == "Katy" and json.loads(out)["merged"] == "Kit"
    listed = people_json(capsys, gallery_path)
    assert list(listed) == ["Katy"] and listed["Katy"]["photos"] == 2
    assert listed["Katy"]["aliases"] == ["Katy_Perry", "Kit"]

    code, out, _ = run(capsys, gallery_path, "undo", "--list")  # undoes nothing
    assert code == 0 and out.splitlines() == ["step 2: merged Kit into Katy", "step 1: renamed Katy_Perry to Katy"]
    code, out, _ = run(capsys, gallery_path, "undo", "2")
    assert code == 0 and out.splitlines()[0].endswith("merged Kit into Katy")
    assert "renamed Katy_Perry to Katy" in out.splitlines()[1]
    assert set(people_json(capsys, gallery_path)) == {"Katy_Perry", "Kit"}
    code, _, err = run(capsys, gallery_path, "undo")
    assert code == 1 and "nothing to undo" in err
    code, out, _ = run(capsys, gallery_path, "undo", "--list", "--json")
    assert code == 0 and json.loads(out) == {"steps": []}


def test_hide_unhide_cover_and_people_all(capsys, gallery_path):
    face = album_face(gallery_path)
    assert run(capsys, gallery_path, "hide", "Kit")[0] == 0
    code, out, _ = run(capsys, gallery_path, "people")
    assert code == 0 and "Kit" not in out and "1 hidden (`facerec people --all` lists them)" in out
    code, out, _ = run(capsys, gallery_path, "people", "--all")
    assert "Kit" in out and "hidden" in out
    assert list(people_json(capsys, gallery_path)) == ["Katy_Perry"]
    assert people_json(capsys, gallery_path, "--all")["Kit"]["hidden"] is True
    code, _, err = run(capsys, gallery_path, "hide", "Kit")
    assert code == 1 and "already hidden" in err

    code, _, err = run(capsys, gallery_path, "cover", "Kit", face)  # Katy_Perry's face, not Kit's
    assert code == 1 and "not 'Kit'" in err
    code, _, err = run(capsys, gallery_path, "cover", "Kit", "x7")
    assert code == 1 and "not a face id" in err
    code, out, _ = run(capsys, gallery_path, "cover", "katy_perry", face)
    assert code == 0 and f"{face} is the cover face of Katy_Perry" in out
    assert people_json(capsys, gallery_path)["Katy_Perry"]["cover"] == face
    assert run(capsys, gallery_path, "unhide", "Kit")[0] == 0
    assert set(people_json(capsys, gallery_path)) == {"Katy_Perry", "Kit"}

    code, out, _ = run(capsys, gallery_path, "undo", "3", "--json")
    assert [s["kind"] for s in json.loads(out)["steps"]] == ["unhidden", "cover", "hidden"]
    details = people_json(capsys, gallery_path, "--all")
    assert details["Kit"]["hidden"] is False and details["Katy_Perry"]["cover"] is None


def test_confirm_as_a_name_spelt_otherwise_finds_the_person(capsys, gallery_path):
    face = album_face(gallery_path)
    code, out, _ = run(capsys, gallery_path, "confirm", face, "--as", "katy-perry")
    assert code == 0 and f"{face}: confirmed as Katy_Perry" in out
    code, out, _ = run(capsys, gallery_path, "reject", face, "--name", "KIT")
    assert code == 0 and f"{face}: is not Kit" in out


def test_move_command_is_one_step(capsys, gallery_path):
    face = album_face(gallery_path)
    code, _, err = run(capsys, gallery_path, "move", face, "a999999", "--to", "Kit")
    assert code == 1 and "no album face a999999" in err
    code, out, _ = run(capsys, gallery_path, "move", face, "--to", "kit")
    assert code == 0 and f"{face}: moved from Katy_Perry to Kit" in out
    code, out, _ = run(capsys, gallery_path, "faces", "--person", "Kit", "--json")
    (moved,) = [f for f in json.loads(out)["faces"] if f["id"] == face]
    assert moved["named_by"] == "person"
    code, out, _ = run(capsys, gallery_path, "undo")
    assert code == 0 and f"moved {face} from Katy_Perry to Kit" in out
    code, out, _ = run(capsys, gallery_path, "faces", "--person", "Katy_Perry", "--json")
    assert face in {f["id"] for f in json.loads(out)["faces"]}


def cli_process(gallery_path: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "facerec.cli.main", *argv, "--gallery", str(gallery_path)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


def test_the_undo_stack_is_shared_by_processes(gallery_path):
    """A rename by one process, a rejection by another, both undone by a third, newest first; no traceback."""
    face = album_face(gallery_path)
    assert cli_process(gallery_path, "rename", "Katy_Perry", "Katy").returncode == 0
    assert cli_process(gallery_path, "reject", face).returncode == 0
    undo = cli_process(gallery_path, "undo", "2")
    assert undo.returncode == 0, undo.stderr
    assert [line.split(": ", 1)[1] for line in undo.stdout.splitlines()] == [f"{face}: not Katy",
                                                                            "renamed Katy_Perry to Katy"]
    refused = cli_process(gallery_path, "hide", "Katy")
    assert refused.returncode == 1 and "nobody called 'Katy'" in refused.stderr and "Traceback" not in refused.stderr
    with Gallery(gallery_path) as g:
        assert g.detections("/album/1.jpg")[0].predicted_name == "Katy_Perry"


def test_naming_a_group_is_undoable_from_the_cli(capsys, gallery_path):
    from facerec.album.cluster import list_clusters
    from facerec.gallery.groups import store_groups

    rng = np.random.default_rng(3)
    with Gallery(gallery_path) as g:
        g.record_media("/album/2.jpg", "sha-2", 0.0, 1, KEY, g.version(), "ok",
                       detections=[{"face": FACE, "embedding": unit(rng), "predicted_name": UNKNOWN, "score": 0.0}])
        store_groups(g, KEY, {g.detections("/album/2.jpg")[0].id: 0})
        (group,) = [c.cluster_id for c in list_clusters(g, KEY)]
    code, out, _ = run(capsys, gallery_path, "name", str(group), "KATY PERRY")
    assert code == 0 and "taken as 'Katy_Perry'" in out and "as Katy_Perry" in out
    assert people_json(capsys, gallery_path)["Katy_Perry"]["photos"] == 2
    code, out, _ = run(capsys, gallery_path, "undo")
    assert code == 0 and f"named group {group}" in out
    assert people_json(capsys, gallery_path)["Katy_Perry"]["photos"] == 1


# --------------------------------------------------------------------------- PEOPLE_DIR aliases (real photos)


@pytest.mark.slow
def test_enrolling_the_folder_of_a_renamed_or_merged_person_adds_to_them(tmp_path, capsys):
    people = tmp_path / "people"
    for name in ("deepface_id03", "deepface_id05"):
        (people / name).mkdir(parents=True)
        shutil.copy(DATA / "people" / name / sorted(os.listdir(DATA / "people" / name))[0], people / name)
    gallery = tmp_path / "g.sqlite"
    assert run(capsys, gallery, "enroll", str(people), "-q")[0] == 0
    assert run(capsys, gallery, "rename", "deepface_id03", "Three")[0] == 0
    assert run(capsys, gallery, "merge", "deepface_id05", "Three")[0] == 0  # one person of the two, for the test

    shutil.copy(DATA / "holdout" / "deepface_id03_img9.jpg", people / "deepface_id03")
    shutil.copy(DATA / "holdout" / "deepface_id05_img61.jpg", people / "deepface_id05")
    code, out, _ = run(capsys, gallery, "enroll", str(people))
    assert code == 0
    assert "folder deepface_id03: its photos go to Three" in out and "folder deepface_id05: its photos go to Three" in out
    listed = people_json(capsys, gallery)
    assert list(listed) == ["Three"] and listed["Three"]["photos"] == 4  # the old names were not recreated
    code, out, _ = run(capsys, gallery, "enroll", str(people), "--json")
    assert json.loads(out)["aliases"] == {"deepface_id03": "Three", "deepface_id05": "Three"}
    assert json.loads(out)["counts"] == {"unchanged": 4}
    assert run(capsys, gallery, "undo", "2")[0] == 0  # rename and merge taken back: the folders are their own again
    code, out, _ = run(capsys, gallery, "enroll", str(people), "--json")
    assert json.loads(out)["aliases"] == {}
    assert {n: p["photos"] for n, p in people_json(capsys, gallery).items()} == {"deepface_id03": 2, "deepface_id05": 2}
