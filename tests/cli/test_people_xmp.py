"""XMP sidecars follow person-level decisions (issue 19): after `facerec rename`, `merge` or `reject`, the next
`facerec tag --xmp` rewrites facerec's own keywords and face regions (a renamed person is renamed, a merged one
takes the name of the person who stays, a rejected name leaves) while a keyword the user typed -- here written by
exiftool, as another program would -- is never touched. Real photos, dlib, real sidecars read back by exiftool."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from facerec.cli.main import main
from facerec.gallery.store import Gallery

pytestmark = pytest.mark.slow  # dlib on real photos

DATA = Path(__file__).resolve().parents[1] / "data"
EXIFTOOL = shutil.which("exiftool")


def exiftool(*args: str) -> list[dict]:
    out = subprocess.run([EXIFTOOL, "-j", "-struct", *args], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def read_back(sidecar: Path) -> dict[str, list[str]]:
    """What another program reads in the sidecar: keywords, person tags and face region names."""
    (info,) = exiftool("-XMP-dc:Subject", "-XMP-iptcExt:PersonInImage", "-XMP-mwg-rs:RegionInfo", str(sidecar))

    def as_list(value) -> list[str]:
        return [] if value is None else [str(v) for v in (value if isinstance(value, list) else [value])]

    regions = info.get("RegionInfo", {}).get("RegionList", [])
    return {"subject": sorted(as_list(info.get("Subject"))), "person": sorted(as_list(info.get("PersonInImage"))),
            "regions": sorted(r.get("Name", "") for r in regions)}


@pytest.fixture
def library(tmp_path):
    if EXIFTOOL is None:
        pytest.skip("exiftool is not installed (libimage-exiftool-perl)")
    people, album = tmp_path / "people", tmp_path / "album"
    for folder, photo in (("Obama", DATA / "core" / "obama_2.jpg"), ("Biden", DATA / "core" / "biden_2.jpg"),
                          ("Joe", DATA / "webcam" / "biden_1.jpg")):  # Biden enrolled twice, as two people
        (people / folder).mkdir(parents=True)
        shutil.copy(photo, people / folder)
    album.mkdir()
    for photo in ("obama.jpg", "obama_and_biden.jpg"):
        shutil.copy(DATA / "album" / photo, album)
    # the user's own keyword, typed in another program before facerec ever tagged the photo
    subprocess.run([EXIFTOOL, "-q", "-XMP-dc:Subject=Obama", str(album / "obama_and_biden.jpg.xmp")], check=True)
    return {"people": people, "album": album, "gallery": tmp_path / "g.sqlite"}


def cli(capsys, library, *argv: str) -> str:
    capsys.readouterr()
    code = main([*argv, "--gallery", str(library["gallery"])])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def tag(capsys, library) -> None:
    cli(capsys, library, "tag", str(library["album"]), "--xmp", "-q", "--json")


def test_sidecars_follow_rename_merge_and_reject_and_keep_what_the_user_typed(capsys, library):
    cli(capsys, library, "enroll", str(library["people"]), "-q")
    tag(capsys, library)
    both, alone = library["album"] / "obama_and_biden.jpg.xmp", library["album"] / "obama.jpg.xmp"
    first = read_back(both)
    biden = next(n for n in first["regions"] if n in ("Biden", "Joe"))  # whichever of his two samples is nearer
    other = ({"Biden", "Joe"} - {biden}).pop()
    strangers = [""] * first["regions"].count("")  # unknown faces get regions without a name
    assert first["regions"] == sorted(strangers + ["Obama", biden]) and first["subject"] == sorted(["Obama", biden])
    assert read_back(alone)["subject"] == ["Obama"]  # facerec's own keyword here

    cli(capsys, library, "rename", "Obama", "Barack Obama")
    cli(capsys, library, "merge", biden, other)  # one person of Biden's two: the face takes the other name
    tag(capsys, library)
    assert read_back(alone) == {"subject": ["Barack Obama"], "person": ["Barack Obama"], "regions": ["Barack Obama"]}
    assert read_back(both) == {"subject": sorted(["Obama", "Barack Obama", other]),  # the user's "Obama" stays
                               "person": sorted(["Barack Obama", other]),
                               "regions": sorted(strangers + ["Barack Obama", other])}

    with Gallery(library["gallery"]) as gallery:
        face = next(f"a{d.id}" for d in gallery.detections(str(library["album"] / "obama_and_biden.jpg"))
                    if d.predicted_name == other)
    cli(capsys, library, "reject", face)
    tag(capsys, library)
    after = read_back(both)
    assert after == {"subject": ["Barack Obama", "Obama"], "person": ["Barack Obama"],
                     "regions": sorted(strangers + ["", "Barack Obama"])}  # his region stays, unnamed
