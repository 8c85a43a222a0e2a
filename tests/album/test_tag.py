"""`facerec tag` on a real album: names, unknowns, outputs, XMP sidecars, bad files, re-runs, naming a group.

The album (built in a temporary folder from tests/data) holds Obama and Biden together with a child,
another photo of Obama stored rotated (EXIF orientation 6, as phones do), two photos of Rose Leslie,
one of Kit Harington, a photo without a face, a text file named .jpg, a truncated JPEG, a hidden folder
and a symlink loop. Obama and Biden are enrolled from *other* photos of them.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec.cli.main import main
from facerec.vision.imageio import load_image
from facerec.recognition.recognizer import Recognizer
from facerec.album.photos import OUTPUT_MARKER, walk_album
from facerec.album.tag import tag_album
from facerec.types import UNKNOWN
from facerec.backbones import embedding_id

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

KEY = embedding_id("dlib")  # the gallery key of the default dlib pipeline's embeddings

DATA = Path(__file__).resolve().parents[1] / "data"
CORE, ALBUM_DATA = DATA / "core", DATA / "album"
# Measured on these photos with the dlib backbone: the same person is at cosine distance <= 0.04,
# different people at >= 0.14 (unit-length dlib vectors), so 0.10 separates them with margin.
THRESHOLD = 0.10

EXPECTED_NAMES = {
    "obama_and_biden.jpg": ["Joe_Biden", "Barack_Obama", UNKNOWN],  # left to right; the child is unknown
    "2019/Obama.JPG": ["Barack_Obama"],
    "2019/rose_1.jpg": [UNKNOWN],
    "2020/rose_2.jpeg": [UNKNOWN],
    "2020/kit.jpg": [UNKNOWN],
}
BAD = {"not_a_photo.jpg", "truncated.jpg"}
NO_FACE = {"2020/noface.jpg"}
PHOTOS = set(EXPECTED_NAMES) | BAD | NO_FACE


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_rotated_copy(src: Path, dst: Path) -> None:
    """Store `src` turned 90° with EXIF orientation 6, as phones do: it displays exactly like `src`."""
    with Image.open(src) as im:
        stored = im.convert("RGB").transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6
        stored.save(dst, quality=95, exif=exif)


def build_album(root: Path) -> Path:
    album = root / "album"
    for sub in ("2019", "2020", ".hidden"):
        (album / sub).mkdir(parents=True)
    shutil.copy(ALBUM_DATA / "obama_and_biden.jpg", album / "obama_and_biden.jpg")
    make_rotated_copy(ALBUM_DATA / "obama.jpg", album / "2019" / "Obama.JPG")  # extensions are case-insensitive
    shutil.copy(CORE / "rose_1.jpg", album / "2019" / "rose_1.jpg")
    shutil.copy(CORE / "rose_2.jpg", album / "2020" / "rose_2.jpeg")
    shutil.copy(CORE / "noface_017.jpg", album / "2020" / "noface.jpg")
    shutil.copy(CORE / "kit_2.jpg", album / "2020" / "kit.jpg")
    shutil.copy(CORE / "rose_1.jpg", album / ".hidden" / "secret.jpg")  # hidden folders are not walked
    (album / "not_a_photo.jpg").write_text("this is not a JPEG\n")
    data = (ALBUM_DATA / "obama.jpg").read_bytes()
    (album / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (album / "notes.txt").write_text("not an image extension\n")
    os.symlink("..", album / "2020" / "loop")  # album/2020/loop -> album: a loop
    for path in album.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o444)  # originals read-only: any attempt to write them fails loudly
    return album


def build_people(root: Path) -> Path:
    people = root / "people"
    for name, photo in (("Barack_Obama", "obama_2.jpg"), ("Joe_Biden", "biden_2.jpg")):
        (people / name).mkdir(parents=True)
        shutil.copy(CORE / photo, people / name / photo)
    return people


class CountingPipeline:
    """The real pipeline, counting detector calls (so a test can prove a re-run does no work)."""

    def __init__(self, pipeline):
        self._pipeline = pipeline
        self.backbone = pipeline.backbone
        self.embedding_id = pipeline.embedding_id
        self.detections = 0

    def detect(self, image):
        self.detections += 1
        return self._pipeline.detect(image)

    def detect_photo(self, photo):
        self.detections += 1
        return self._pipeline.detect_photo(photo)

    def align(self, image, faces):
        return self._pipeline.align(image, faces)

    def embed_chips(self, chips):
        return self._pipeline.embed_chips(chips)


def album_recognizer(gallery, pipeline):
    """What `facerec tag` names faces with: a Recognizer over everyone enrolled."""
    return Recognizer(gallery.path, pipeline=pipeline, threshold=THRESHOLD)


@pytest.fixture(scope="module")
def tagged(tmp_path_factory, dlib_pipeline):
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery

    root = tmp_path_factory.mktemp("tag")
    album, people = build_album(root), build_people(root)
    before = {p: sha256(p) for p in album.rglob("*") if p.is_file() and not p.is_symlink()}
    gallery_path = root / "gallery.sqlite"
    out = root / "out"
    pipeline = CountingPipeline(dlib_pipeline)
    with Gallery(gallery_path) as gallery:
        enroll_folder(people, gallery, dlib_pipeline, progress=False)
        summary = tag_album(album, gallery, pipeline, recognizer=album_recognizer(gallery, dlib_pipeline), workers=2,
                            csv_path=out / "faces.csv", jsonl_path=out / "faces.jsonl", annotate_dir=out / "annotated",
                            xmp=True)
    return {"root": root, "album": album, "gallery": gallery_path, "out": out, "summary": summary,
            "before": before, "pipeline": pipeline, "first_detections": pipeline.detections}


def names_by_photo(summary) -> dict[str, list[str]]:
    return {r.rel_path: [f.name for f in r.faces] for r in summary.results if r.status == "ok"}


def test_names_known_people_and_marks_strangers_unknown(tagged):
    s = tagged["summary"]
    assert names_by_photo(s) == EXPECTED_NAMES
    assert {r.rel_path for r in s.results} == PHOTOS  # hidden folder, .txt and the loop's second visit left out
    assert (s.photos, s.analysed, s.skipped, s.unreadable, s.no_face) == (8, 6, 0, 2, 1)
    assert (s.faces, s.named, s.unknown) == (7, 3, 4)
    assert s.people == {"Barack_Obama": 2, "Joe_Biden": 1}
    assert tagged["first_detections"] == 6  # every readable photo detected once


def test_bad_photos_are_reported_and_do_not_stop_the_run(tagged):
    problems = {p["path"]: p for p in tagged["summary"].problems}
    assert problems["not_a_photo.jpg"]["kind"] == "unreadable" and "not an image" in problems["not_a_photo.jpg"]["reason"]
    assert problems["truncated.jpg"]["kind"] == "unreadable" and "truncated" in problems["truncated.jpg"]["reason"]
    assert problems["2020/noface.jpg"]["kind"] == "no_face"
    assert set(problems) == BAD | NO_FACE


def test_csv_and_jsonl_have_one_row_per_face(tagged):
    with open(tagged["out"] / "faces.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "face_index", "name", "score", "distance", "x", "y", "w", "h", "confidence",
                              "named_by", "probability"]
    got: dict[str, list[str]] = {}
    for row in rows:
        got.setdefault(row["path"], []).append(row["name"])
    assert got == EXPECTED_NAMES
    jsonl = [json.loads(line) for line in (tagged["out"] / "faces.jsonl").read_text().splitlines()]
    assert len(jsonl) == len(rows) == 7
    for row, obj in zip(rows, jsonl):
        # the CSV row and the JSON object are the same FaceResult: flat x, y, w, h there, a box here
        assert (row["path"], int(row["x"]), int(row["w"]), row["name"]) == (obj["path"], obj["box"][0], obj["box"][2], obj["name"])
        assert obj["box"][2] > 40 and obj["box"][3] > 40 and 0 <= obj["score"] <= 1
        # the match confidence: 0.67 at least for a named face (its threshold is 0.67), 0 for an unknown one
        assert obj["score"] >= 0.67 if obj["name"] != UNKNOWN else obj["score"] == 0
        assert obj["distance"] is not None and float(row["distance"]) == obj["distance"]
    # boxes are those of the photo as displayed: they fit inside it
    for obj in jsonl:
        h, w = load_image(tagged["album"] / obj["path"]).shape[:2]
        x, y, bw, bh = obj["box"]
        assert 0 <= x and x + bw <= w and 0 <= y and y + bh <= h


def test_xmp_sidecars_hold_one_region_per_face_unknown_ones_unnamed(tagged):
    from facerec.album.xmp import read_face_regions, read_people_tags

    results = {r.rel_path: r for r in tagged["summary"].results}
    sidecars = sorted(p.relative_to(tagged["album"]).as_posix() for p in tagged["album"].rglob("*.xmp"))
    # every photo with a face gets a sidecar: unknown faces get regions without a name, to be named in digiKam
    assert sidecars == sorted(f"{rel}.xmp" for rel in EXPECTED_NAMES)
    for rel, names in EXPECTED_NAMES.items():
        named = results[rel].faces
        sidecar = tagged["album"] / f"{rel}.xmp"
        root = ET.parse(sidecar).getroot()
        assert root.tag == "{adobe:ns:meta/}xmpmeta"
        assert root.find("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF") is not None
        info = read_face_regions(sidecar)
        h, w = load_image(tagged["album"] / rel).shape[:2]  # the photo as displayed (EXIF rotation applied)
        turned = rel == "2019/Obama.JPG"  # stored turned, EXIF orientation 6
        # MWG: areas of the stored image, AppliedToDimensions its size
        assert (info["width"], info["height"]) == ((h, w) if turned else (w, h))
        assert [r["name"] for r in info["regions"]] == [None if f.name == UNKNOWN else f.name for f in named]
        for region, face in zip(info["regions"], named):
            x, y, bw, bh = face.face.box
            x, y, bw, bh = x / w, y / h, bw / w, bh / h  # normalised, displayed frame
            if turned:  # orientation 6 displays the stored image turned 90 degrees clockwise: turn back
                x, y, bw, bh = y, 1 - x - bw, bh, bw
            assert region["type"] == "Face" and region["unit"] == "normalized"
            assert region["x"] == pytest.approx(x + bw / 2, abs=1e-3)
            assert region["y"] == pytest.approx(y + bh / 2, abs=1e-3)
            assert region["w"] == pytest.approx(bw, abs=1e-3)
            assert region["h"] == pytest.approx(bh, abs=1e-3)
        assert read_people_tags(sidecar).get("digiKam:TagsList", []) == [f"People/{n}" for n in names if n != UNKNOWN]


def test_rotated_photo_is_measured_as_displayed(tagged):
    from facerec.album.xmp import read_face_regions

    result = next(r for r in tagged["summary"].results if r.rel_path == "2019/Obama.JPG")
    with Image.open(ALBUM_DATA / "obama.jpg") as im:
        displayed = im.size
    assert (result.width, result.height) == displayed  # not the stored (turned) size
    with Image.open(tagged["album"] / "2019" / "Obama.JPG") as im:
        assert im.size == displayed[::-1]
    info = read_face_regions(tagged["album"] / "2019" / "Obama.JPG.xmp")
    assert (info["width"], info["height"]) == displayed[::-1]  # MWG regions apply to the stored image
    (face,) = result.faces
    x, y, w, h = face.face.box
    assert x + w <= displayed[0] and y + h <= displayed[1]


def test_annotated_copies_mirror_the_album(tagged):
    annotated = tagged["out"] / "annotated"
    copies = sorted(p.relative_to(annotated).as_posix() for p in annotated.rglob("*") if p.is_file())
    assert copies == sorted([*EXPECTED_NAMES, OUTPUT_MARKER])  # photos with faces only
    original = load_image(tagged["album"] / "obama_and_biden.jpg")
    copy = load_image(annotated / "obama_and_biden.jpg")
    assert copy.shape == original.shape
    face = next(r for r in tagged["summary"].results if r.rel_path == "obama_and_biden.jpg").faces[0].face
    x, y, w, h = face.box
    inside = (slice(y + 10, y + h - 10), slice(x + 10, x + w - 10))
    assert np.abs(copy[inside].astype(int) - original[inside].astype(int)).mean() < 8  # the face is left visible
    edge = copy[y, x:x + w].astype(int) - original[y, x:x + w].astype(int)
    assert np.abs(edge).mean() > 30  # its box was drawn


def test_originals_are_never_modified(tagged):
    for path, digest in tagged["before"].items():
        assert sha256(path) == digest, path


def test_second_run_does_no_work_and_gives_the_same_output(tagged):
    from facerec.gallery.store import Gallery

    pipeline = tagged["pipeline"]
    start = pipeline.detections
    out = tagged["root"] / "out2"
    stamps = {p: p.stat().st_mtime_ns for p in tagged["album"].rglob("*.xmp")}
    with Gallery(tagged["gallery"]) as gallery:
        summary = tag_album(tagged["album"], gallery, pipeline, recognizer=album_recognizer(gallery, pipeline),
                            workers=2, csv_path=out / "faces.csv", xmp=True)
    assert pipeline.detections == start
    assert (summary.skipped, summary.analysed, summary.reidentified, summary.detection_calls) == (8, 0, 0, 0)
    assert names_by_photo(summary) == EXPECTED_NAMES
    assert (out / "faces.csv").read_text() == (tagged["out"] / "faces.csv").read_text()
    assert {p: p.stat().st_mtime_ns for p in tagged["album"].rglob("*.xmp")} == stamps  # unchanged, not rewritten


def test_cli_rerun_reports_json_and_never_detects(tagged, monkeypatch, capsys):
    from facerec.vision.detect import Detector

    def no_detection(self, images):
        raise AssertionError("an unchanged album must not be detected again")

    monkeypatch.setattr(Detector, "detect_batch", no_detection)
    code = main(["tag", str(tagged["album"]), "--gallery", str(tagged["gallery"]), "--threshold", str(THRESHOLD),
                 "--json", "-q"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["photos"], report["skipped"], report["unreadable"]) == (8, 8, 2)
    assert {r["path"]: [f["name"] for f in r["faces"]] for r in report["results"] if r["status"] == "ok"} == EXPECTED_NAMES


def test_a_symlink_loop_and_output_folders_are_walked_once(tmp_path):
    album = tmp_path / "a"
    (album / "x" / "y").mkdir(parents=True)
    for rel in ("one.JPG", "x/two.jpeg", "x/y/three.PNG", "x/skip.gif", ".dot.jpg"):
        (album / rel).write_bytes(b"")
    os.symlink("../..", album / "x" / "y" / "up")  # loop back to the album
    os.symlink(album / "x", album / "z_alias")  # the same folder under a second name: walked once
    (album / "out").mkdir()
    (album / "out" / OUTPUT_MARKER).write_text("")
    (album / "out" / "copy.jpg").write_bytes(b"")
    photos, problems = walk_album(album)
    assert [p.relative_to(album).as_posix() for p in photos] == ["one.JPG", "x/two.jpeg", "x/y/three.PNG"]
    assert [(p.relative_to(album).as_posix(), why) for p, why in problems] == [
        ("x/skip.gif", ".gif images are not supported; convert it to JPEG or PNG")]  # reported, not silently skipped


def test_nothing_readable_missing_or_empty_exits_3(tmp_path, capsys):
    album = tmp_path / "junk"
    album.mkdir()
    (album / "a.jpg").write_text("no")
    gallery = tmp_path / "g.sqlite"
    assert main(["tag", str(album), "--gallery", str(gallery), "-q"]) == 3
    assert main(["tag", str(tmp_path / "missing"), "--gallery", str(gallery), "-q"]) == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["tag", str(empty), "--gallery", str(gallery), "-q"]) == 3


def test_distributed_entry_point_matches_the_album_run(tagged):
    from facerec.album.distributed import tag_photo
    from facerec.gallery.store import Gallery

    assert pickle.loads(pickle.dumps(tag_photo)) is tag_photo  # shipped by reference to workers
    path = tagged["album"] / "obama_and_biden.jpg"
    result = tag_photo(str(path), "dlib")
    assert pickle.loads(pickle.dumps(result)) == result and json.loads(json.dumps(result)) == result
    assert result["status"] == "ok" and result["sha256"] == sha256(path)
    with Gallery(tagged["gallery"]) as gallery:
        stored = gallery.detections(os.path.abspath(path))
    assert [f["face"]["box"] for f in result["faces"]] == [list(d.face.box) for d in stored]
    for f, d in zip(result["faces"], stored):
        assert np.allclose(f["embedding"], d.embedding, atol=1e-5)
    bad = tag_photo(str(tagged["album"] / "truncated.jpg"), "dlib")
    assert bad["status"] == "unreadable" and bad["faces"] == [] and "truncated" in bad["note"]


def test_distributed_with_ray(tagged):
    ray = pytest.importorskip("ray")
    from facerec.album.distributed import tag_with_ray

    paths = [str(tagged["album"] / "2019" / "Obama.JPG"), str(tagged["album"] / "not_a_photo.jpg")]
    try:
        results = tag_with_ray(paths, "dlib", num_cpus=1)
    finally:
        ray.shutdown()
    assert [r["status"] for r in results] == ["ok", "unreadable"]
    assert len(results[0]["faces"]) == 1


def test_a_new_threshold_renames_unchanged_photos_from_stored_embeddings(tagged, monkeypatch, capsys):
    """`tag --threshold D` on a tagged album applies D: names, CSV and sidecars change, nothing is detected."""
    from facerec.vision.detect import Detector
    from facerec.album.xmp import read_people_tags

    def no_detection(self, images):
        raise AssertionError("unchanged photos must be re-identified, not detected again")

    monkeypatch.setattr(Detector, "detect_batch", no_detection)
    out = tagged["root"] / "threshold"

    def tag_cli(threshold: float) -> dict:
        code = main(["tag", str(tagged["album"]), "--gallery", str(tagged["gallery"]), "--threshold", str(threshold),
                     "--csv", str(out / "faces.csv"), "--xmp", "--json", "-q"])
        assert code == 0
        return json.loads(capsys.readouterr().out)

    def names(report: dict) -> dict[str, list[str]]:
        return {r["path"]: [f["name"] for f in r["faces"]] for r in report["results"] if r["status"] == "ok"}

    strict = tag_cli(0.001)  # closer than any two photos of one person: everyone is unknown
    assert (strict["reidentified"], strict["skipped"], strict["analysed"]) == (5, 3, 0)
    assert names(strict) == {rel: [UNKNOWN] * len(n) for rel, n in EXPECTED_NAMES.items()}
    assert {row["name"] for row in csv.DictReader((out / "faces.csv").open())} == {UNKNOWN}
    assert read_people_tags(tagged["album"] / "obama_and_biden.jpg.xmp").get("dc:subject", []) == []

    assert tag_cli(0.001)["skipped"] == 8  # the same decision again: nothing to do
    usual = tag_cli(THRESHOLD)  # and back: the names return, still without detection
    assert (usual["reidentified"], usual["skipped"]) == (5, 3)
    assert names(usual) == EXPECTED_NAMES
    assert sorted(read_people_tags(tagged["album"] / "obama_and_biden.jpg.xmp")["dc:subject"]) == ["Barack_Obama",
                                                                                           "Joe_Biden"]


def test_another_matcher_renames_unchanged_photos_and_a_retrained_head_again(tagged, monkeypatch, capsys):
    from facerec.vision.detect import Detector

    def no_detection(self, images):
        raise AssertionError("unchanged photos must be re-identified, not detected again")

    monkeypatch.setattr(Detector, "detect_batch", no_detection)

    def tag_cli(*options: str) -> dict:
        code = main(["tag", str(tagged["album"]), "--gallery", str(tagged["gallery"]), *options, "--json", "-q"])
        assert code == 0
        return json.loads(capsys.readouterr().out)

    def runs(report: dict) -> tuple[int, int, int]:
        return report["analysed"], report["reidentified"], report["skipped"]

    assert runs(tag_cli("--matcher", "svm", "--threshold", str(THRESHOLD))) == (0, 5, 3)
    assert runs(tag_cli("--matcher", "svm", "--threshold", str(THRESHOLD))) == (0, 0, 8)
    for epochs in ("20", "30"):  # a head trained again to other weights is another decision
        assert main(["train", "--gallery", str(tagged["gallery"]), "--epochs", epochs, "-q"]) == 0
        capsys.readouterr()
        assert runs(tag_cli("--matcher", "head")) == (0, 5, 3)
        assert runs(tag_cli("--matcher", "head")) == (0, 0, 8)
    usual = tag_cli("--threshold", str(THRESHOLD))
    assert runs(usual) == (0, 5, 3)
    assert {r["path"]: [f["name"] for f in r["faces"]] for r in usual["results"] if r["status"] == "ok"} == EXPECTED_NAMES


# Keep last: naming a group changes the gallery the tests above read.
def test_naming_a_group_then_retagging_names_it_everywhere_without_detection(tagged, capsys):
    from facerec.album.cluster import list_clusters, recompute_clusters
    from facerec.gallery.store import Gallery
    from facerec.album.xmp import read_people_tags

    with Gallery(tagged["gallery"]) as gallery:
        assert recompute_clusters(gallery, KEY, eps=THRESHOLD) == 1
        (group,) = list_clusters(gallery, KEY)
    assert (group.cluster_id, group.faces, group.photos) == (1, 2, 2)
    assert sorted(Path(p).name for p in group.examples) == ["rose_1.jpg", "rose_2.jpeg"]

    assert main(["name", "1", "Rose_Leslie", "--gallery", str(tagged["gallery"])]) == 0
    assert "enrolled 2 faces" in capsys.readouterr().out

    pipeline = tagged["pipeline"]
    start = pipeline.detections
    with Gallery(tagged["gallery"]) as gallery:
        summary = tag_album(tagged["album"], gallery, pipeline, recognizer=album_recognizer(gallery, pipeline),
                            workers=2, xmp=True)
    assert pipeline.detections == start  # names refreshed from stored embeddings
    assert summary.reidentified == 5 and summary.skipped == 3  # 5 photos with faces; bad + no-face unchanged
    expected = {**EXPECTED_NAMES, "2019/rose_1.jpg": ["Rose_Leslie"], "2020/rose_2.jpeg": ["Rose_Leslie"]}
    assert names_by_photo(summary) == expected
    assert read_people_tags(tagged["album"] / "2020" / "rose_2.jpeg.xmp")["dc:subject"] == ["Rose_Leslie"]


def test_embedding_in_a_child_process_gives_the_same_faces_names_and_embeddings(tmp_path, dlib_pipeline):
    """dlib's own engine holds the GIL, so tagging embeds it in a child process beside decode + detect; the
    default engine (ONNX Runtime) embeds in the main thread: the same faces, names and embeddings."""
    from facerec.backbones.dlib_backbone import DlibBackbone
    from facerec.gallery.store import Gallery
    from facerec.recognition.pipeline import FacePipeline

    album = Path(__file__).resolve().parents[1] / "data" / "album"
    own_engine = FacePipeline(DlibBackbone(engine="dlib"), detector=dlib_pipeline.detector)
    runs, vectors = {}, {}
    for in_process, pipeline in ((False, dlib_pipeline), (True, own_engine)):
        with Gallery(tmp_path / f"g{in_process}.sqlite") as gallery:
            summary = tag_album(album, gallery, pipeline, embed_in_process=in_process, batch_size=2)
            runs[in_process] = {(r.rel_path, t.face_index): (t.face.box, t.name) for r in summary.results for t in r.faces}
            vectors[in_process] = np.stack([d.embedding for r in summary.results
                                            for d in gallery.detections(str(r.path.absolute()))])
    assert runs[True] == runs[False] and len(runs[True]) >= 3
    np.testing.assert_allclose(vectors[True], vectors[False], atol=1e-5)
