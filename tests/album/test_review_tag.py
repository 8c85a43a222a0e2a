"""Decisions outrank the matcher in `facerec tag` and `facerec identify` of an album photo (issue 19): a rejected name never comes back, whatever the
threshold, re-identification or `--force`; a confirmed face keeps its name. Real photos, the dlib pipeline, the CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from facerec.cli.main import main
from facerec.types import UNKNOWN

pytestmark = pytest.mark.slow  # runs the dlib model through the CLI

CORE = Path(__file__).resolve().parents[1] / "data" / "core"
THRESHOLD = 0.10  # same person <= 0.04, different people >= 0.14 on these photos (dlib)
LOOSE, LOOSER = 0.6, 0.95  # loose enough to name Kit as the only person enrolled


@pytest.fixture()
def album(tmp_path):
    people, photos = tmp_path / "people" / "Rose_Leslie", tmp_path / "album"
    people.mkdir(parents=True)
    photos.mkdir()
    shutil.copy(CORE / "rose_1.jpg", people / "rose_1.jpg")
    shutil.copy(CORE / "rose_2.jpg", photos / "rose_2.jpg")
    shutil.copy(CORE / "kit_2.jpg", photos / "kit.jpg")
    gallery = tmp_path / "gallery.sqlite"
    assert main(["enroll", str(tmp_path / "people"), "--gallery", str(gallery), "-q"]) == 0
    return {"album": photos, "gallery": gallery}


def tag(album, capsys, threshold: float, *more: str) -> dict[str, tuple[str, str | None]]:
    code = main(["tag", str(album["album"]), "--gallery", str(album["gallery"]), "--threshold", str(threshold),
                 "--json", "-q", *more])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    return {r["path"]: (r["faces"][0]["name"], r["faces"][0]["named_by"]) for r in report["results"]}


def identify(album, capsys, photo: str, threshold: float) -> tuple[str, str | None]:
    """`facerec identify` of an album photo by its path: the decisions about its faces hold there too."""
    main(["identify", str(album["album"] / photo), "--gallery", str(album["gallery"]), "--threshold", str(threshold),
          "--json", "-q"])
    (face,) = json.loads(capsys.readouterr().out)["images"][0]["faces"]
    return face["name"], face["named_by"]


def face_id(album, capsys, photo: str) -> str:
    assert main(["faces", "--json", "--gallery", str(album["gallery"])]) == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    return next(f["id"] for f in faces if f["kind"] == "album" and Path(f["path"]).name == photo)


def test_a_rejection_holds_through_a_looser_threshold_and_force(album, capsys):
    assert tag(album, capsys, LOOSE)["kit.jpg"] == ("Rose_Leslie", "facerec")  # the wrong name to correct
    kit = face_id(album, capsys, "kit.jpg")
    assert main(["reject", kit, "--gallery", str(album["gallery"])]) == 0
    capsys.readouterr()
    assert tag(album, capsys, LOOSE)["kit.jpg"] == (UNKNOWN, None)  # unchanged photo, stored answer
    assert tag(album, capsys, LOOSER)["kit.jpg"] == (UNKNOWN, None)  # re-identified with a looser threshold
    names = tag(album, capsys, LOOSER, "--force")  # detected and embedded again: the same face, the same id
    assert names["kit.jpg"] == (UNKNOWN, None) and names["rose_2.jpg"] == ("Rose_Leslie", "facerec")
    assert face_id(album, capsys, "kit.jpg") == kit
    assert identify(album, capsys, "kit.jpg", LOOSER) == (UNKNOWN, None)

    assert main(["undo", "--gallery", str(album["gallery"])]) == 0  # the rejection taken back
    capsys.readouterr()
    assert tag(album, capsys, LOOSER + 0.01)["kit.jpg"] == ("Rose_Leslie", "facerec")
    assert identify(album, capsys, "kit.jpg", LOOSER) == ("Rose_Leslie", "facerec")


def test_a_confirmed_face_keeps_its_name_whatever_the_threshold(album, capsys):
    assert tag(album, capsys, THRESHOLD)["rose_2.jpg"] == ("Rose_Leslie", "facerec")
    rose = face_id(album, capsys, "rose_2.jpg")
    assert main(["confirm", rose, "--gallery", str(album["gallery"])]) == 0
    capsys.readouterr()
    assert tag(album, capsys, 0.001)["rose_2.jpg"] == ("Rose_Leslie", "person")  # nobody is this close
    assert tag(album, capsys, 0.001, "--force")["rose_2.jpg"] == ("Rose_Leslie", "person")
    assert identify(album, capsys, "rose_2.jpg", 0.001) == ("Rose_Leslie", "person")
