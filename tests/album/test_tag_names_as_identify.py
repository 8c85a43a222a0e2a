"""One path from a photo to names (issue 22): `facerec tag` (JSONL and CSV), `facerec tag --ray` and the Ray API
(`tag_with_ray` + `record_results`) give each face of a photo the FaceResult `facerec identify` gives it: the same
name, named_by, score, distance, box and confidence, before and after people's decisions about the album's faces.

A real gallery (Obama and Biden enrolled from tests/data with the dlib backbone through the CLI), real photos: Obama
and Biden with a child, Obama alone, a group of three strangers and Kit Harington.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from facerec.cli.main import main
from facerec.types import NAMED_BY_PERSON, UNKNOWN

pytestmark = pytest.mark.slow  # runs the dlib model through the CLI and on Ray

DATA = Path(__file__).resolve().parents[1] / "data"
CORE, ALBUM_DATA = DATA / "core", DATA / "album"
THRESHOLD = 0.10  # as tests/album/test_tag.py: same person <= 0.04, different people >= 0.14 on these photos (dlib)
PHOTOS = {"obama_and_biden.jpg": ALBUM_DATA / "obama_and_biden.jpg", "obama.jpg": ALBUM_DATA / "obama.jpg",
          "group_3.jpg": CORE / "group_3.jpg", "kit.jpg": CORE / "kit_1.jpg"}
EXACT = ("face_index", "name", "named_by", "box", "probability")  # the rest are floats written to 4 decimals


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory) -> Path:
    """A gallery with Obama and Biden enrolled (dlib), copied by each test so that decisions stay in it."""
    pytest.importorskip("dlib", reason="the dlib extra is not installed")
    root = tmp_path_factory.mktemp("enrolled")
    for name, photo in (("Barack_Obama", "obama_2.jpg"), ("Joe_Biden", "biden_2.jpg")):
        (root / "people" / name).mkdir(parents=True)
        shutil.copy(CORE / photo, root / "people" / name / photo)
    gallery = root / "gallery.sqlite"
    assert main(["enroll", str(root / "people"), "--gallery", str(gallery), "--backbone", "dlib", "-q"]) == 0
    return gallery


@pytest.fixture()
def album(tmp_path, enrolled) -> dict[str, Path]:
    photos = tmp_path / "album"
    photos.mkdir()
    for name, source in PHOTOS.items():
        shutil.copy(source, photos / name)
    shutil.copy(enrolled, tmp_path / "gallery.sqlite")
    return {"album": photos, "gallery": tmp_path / "gallery.sqlite", "root": tmp_path}


def options(album: dict[str, Path], threshold: float = THRESHOLD) -> list[str]:
    return ["--gallery", str(album["gallery"]), "--backbone", "dlib", "--threshold", str(threshold), "-q"]


def faces_by_photo(rows) -> dict[str, list[dict]]:
    """Face dicts (FaceResult.to_dict()) by the photo's file name, the path left out, in face order."""
    out: dict[str, list[dict]] = {}
    for row in rows:
        row = dict(row)
        out.setdefault(Path(row.pop("path")).name, []).append(row)
    return {name: sorted(faces, key=lambda f: f["face_index"]) for name, faces in out.items()}


def identify(album, capsys, threshold: float = THRESHOLD) -> dict[str, list[dict]]:
    paths = [str(album["album"] / name) for name in sorted(PHOTOS)]
    main(["identify", *paths, "--json", *options(album, threshold)])
    images = json.loads(capsys.readouterr().out)["images"]
    return faces_by_photo({"path": image["path"], **face} for image in images for face in image["faces"])


def tag(album, capsys, *more: str, threshold: float = THRESHOLD, outcome: str = "analysed") -> dict[str, list[dict]]:
    """The faces `facerec tag` writes to its JSONL; every photo must have been `outcome` (analysed, reidentified)."""
    jsonl = album["root"] / "faces.jsonl"
    assert main(["tag", str(album["album"]), "--jsonl", str(jsonl), "--json", *options(album, threshold), *more]) == 0
    assert json.loads(capsys.readouterr().out)[outcome] == len(PHOTOS)
    return faces_by_photo(json.loads(line) for line in jsonl.read_text().splitlines())


def assert_same_faces(expected: dict[str, list[dict]], found: dict[str, list[dict]], what: str) -> None:
    assert found.keys() == expected.keys(), what
    for photo, faces in expected.items():
        assert len(found[photo]) == len(faces), (what, photo)
        for want, got in zip(faces, found[photo]):
            assert {k: got[k] for k in EXACT} == {k: want[k] for k in EXACT}, (what, photo)
            for key in ("score", "distance", "confidence"):
                assert got[key] == pytest.approx(want[key], abs=2e-4), (what, photo, key)


def album_face_ids(album, capsys) -> dict[tuple[str, tuple[int, ...]], str]:
    """(photo, box) -> the album face's id (a<N>), as `facerec faces` lists them."""
    assert main(["faces", "--json", "--gallery", str(album["gallery"]), "--backbone", "dlib"]) == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    return {(Path(f["path"]).name, tuple(f["box"])): f["id"] for f in faces if f["kind"] == "album"}


def decide(album, capsys, named: dict[str, list[dict]]) -> tuple[tuple[str, int], tuple[str, int]]:
    """Reject Obama's name on the photo of him alone, confirm Biden's face beside him: (photo, face index) of each."""
    ids = album_face_ids(album, capsys)
    (obama,) = named["obama.jpg"]
    biden = next(f for f in named["obama_and_biden.jpg"] if f["name"] == "Joe_Biden")
    assert main(["reject", ids["obama.jpg", tuple(obama["box"])], "--gallery", str(album["gallery"])]) == 0
    assert main(["confirm", ids["obama_and_biden.jpg", tuple(biden["box"])], "--gallery", str(album["gallery"])]) == 0
    capsys.readouterr()
    return ("obama.jpg", obama["face_index"]), ("obama_and_biden.jpg", biden["face_index"])


def assert_decisions_hold(named: dict[str, list[dict]], rejected: tuple[str, int], confirmed: tuple[str, int]) -> None:
    gone, kept = named[rejected[0]][rejected[1]], named[confirmed[0]][confirmed[1]]
    assert (gone["name"], gone["score"], gone["named_by"]) == (UNKNOWN, 0.0, None)
    assert (kept["name"], kept["score"], kept["named_by"]) == ("Joe_Biden", 1.0, NAMED_BY_PERSON)


def test_tag_gives_the_faces_identify_gives(album, capsys):
    expected = identify(album, capsys)
    assert [f["name"] for f in expected["obama_and_biden.jpg"]] == ["Joe_Biden", "Barack_Obama", UNKNOWN]
    assert [f["name"] for f in expected["obama.jpg"]] == ["Barack_Obama"]
    assert {f["name"] for f in expected["group_3.jpg"] + expected["kit.jpg"]} == {UNKNOWN}
    assert all(f["distance"] is not None for faces in expected.values() for f in faces)
    assert_same_faces(expected, tag(album, capsys), "tag --jsonl")

    # the CSVs of both commands: the same rows, but for the path column
    main(["identify", *[str(album["album"] / name) for name in sorted(PHOTOS)], *options(album)])
    identify_rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert main(["tag", str(album["album"]), "--csv", str(album["root"] / "faces.csv"), *options(album)]) == 0
    capsys.readouterr()
    tag_rows = list(csv.reader(io.StringIO((album["root"] / "faces.csv").read_text())))
    assert identify_rows[0] == tag_rows[0] and identify_rows[0][0] == "path"
    assert sorted([Path(r[0]).name, *r[1:]] for r in identify_rows[1:]) == sorted(tag_rows[1:])
    assert len(tag_rows) == 1 + sum(len(faces) for faces in expected.values())

    rejected, confirmed = decide(album, capsys, expected)
    decided = identify(album, capsys)
    assert_decisions_hold(decided, rejected, confirmed)
    assert_same_faces(decided, tag(album, capsys, "--force"), "tag --force after decisions")
    looser = THRESHOLD + 0.02  # still between these people's distances; another decision: names from stored embeddings
    assert_same_faces(identify(album, capsys, looser), tag(album, capsys, threshold=looser, outcome="reidentified"),
                      "tag, re-identified after decisions")


def ray_api(album) -> dict[str, list[dict]]:
    """The Ray API: `tag_photo` as Ray tasks, named and recorded on the driver by `record_results`."""
    from facerec.album.distributed import record_results, tag_with_ray
    from facerec.gallery.store import Gallery
    from facerec.recognition.recognizer import Recognizer

    paths = [str(album["album"] / name) for name in sorted(PHOTOS)]
    results = tag_with_ray(paths, "dlib")
    assert [r["status"] for r in results] == ["ok"] * len(paths)
    with Gallery(album["gallery"]) as gallery:
        recognizer = Recognizer(album["gallery"], "dlib", threshold=THRESHOLD)
        return faces_by_photo(record_results(results, gallery, recognizer))


def test_ray_gives_the_faces_identify_gives(album, capsys, local_cluster):
    expected = identify(album, capsys)
    assert_same_faces(expected, tag(album, capsys, "--ray"), "tag --ray")
    assert_same_faces(expected, ray_api(album), "tag_with_ray + record_results")

    rejected, confirmed = decide(album, capsys, expected)
    decided = identify(album, capsys)
    assert_decisions_hold(decided, rejected, confirmed)
    assert_same_faces(decided, tag(album, capsys, "--ray", "--force"), "tag --ray --force after decisions")
    assert_same_faces(decided, ray_api(album), "record_results after decisions")


def test_a_recognizer_of_other_embeddings_is_refused(tmp_path, dlib_pipeline):
    """Embeddings of one recipe are never named by a matcher fitted on another's (nor stored beside them)."""
    from facerec.album.distributed import record_results
    from facerec.album.tag import tag_album
    from facerec.errors import FacerecError
    from facerec.gallery.store import Gallery
    from facerec.recognition.pipeline import build_pipeline
    from facerec.recognition.recognizer import Recognizer

    album = tmp_path / "album"
    album.mkdir()
    shutil.copy(PHOTOS["obama.jpg"], album / "obama.jpg")
    other = build_pipeline(dlib_pipeline.backbone, detector=dlib_pipeline.detector, flip=not dlib_pipeline.flip)
    with Gallery(tmp_path / "g.sqlite") as gallery:
        recognizer = Recognizer(gallery.path, pipeline=dlib_pipeline)
        with pytest.raises(FacerecError, match="embedded as"):
            tag_album(album, gallery, other, recognizer=recognizer)
        result = {"path": str(album / "obama.jpg"), "backbone": other.embedding_id, "faces": []}
        with pytest.raises(FacerecError, match="embedded as"):
            record_results([result], gallery, recognizer)
        assert gallery.media_record(str(album / "obama.jpg")) is None
