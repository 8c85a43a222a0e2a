"""`facerec tag` on a phone and camera album: HEIC (stored turned), AVIF, JPEG XL, a RAW + JPEG pair, a lone
RAW, a video, a corrupt HEIC and a corrupt RAW. Obama is enrolled from another photo of him."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec.cli.main import main
from facerec.vision.imageio import load_image

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)
pytest.importorskip("dlib", reason="the dlib extra is not installed")
pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
pytest.importorskip("pillow_jxl", reason="pillow-jxl-plugin is not installed")
pytest.importorskip("rawpy", reason="rawpy is not installed")
pytest.importorskip("tifffile", reason="tifffile (a test dependency) is not installed")

from image_files import dng, encode  # noqa: E402 - tests/image_files.py

DATA = Path(__file__).resolve().parents[1] / "data"
OBAMA = DATA / "album" / "obama.jpg"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formats")
    album, people = tmp / "album", tmp / "people" / "Barack_Obama"
    album.mkdir()
    people.mkdir(parents=True)
    shutil.copy(DATA / "core" / "obama_2.jpg", people / "obama_2.jpg")
    with Image.open(OBAMA) as im:
        obama = im.convert("RGB")
    with Image.open(DATA / "core" / "rose_1.jpg") as im:
        rose = im.convert("RGB")
    (album / "IMG_0001.HEIC").write_bytes(encode(obama, "HEIF", 6))
    (album / "rose.avif").write_bytes(encode(rose, "AVIF", 1))
    (album / "obama.jxl").write_bytes(encode(obama, "JXL", 8))
    (album / "DSC_0002.dng").write_bytes(dng(obama, 6))  # a lone RAW: demosaiced
    (album / "DSC_0003.DNG").write_bytes(dng(obama, 1))  # with its JPEG: one shot, analysed from the JPEG
    shutil.copy(OBAMA, album / "DSC_0003.JPG")
    (album / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    (album / "broken.heic").write_bytes(encode(obama, "HEIF")[:3000])
    (album / "junk.nef").write_bytes(b"not a raw file" * 50)
    gallery = tmp / "gallery.sqlite"
    assert main(["enroll", str(tmp / "people"), "--gallery", str(gallery), "-q"]) == 0
    return album, gallery


@pytest.fixture(scope="module")
def tagged(run):
    album, gallery = run
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["tag", str(album), "--gallery", str(gallery), "--json", "-q"])
    return code, json.loads(out.getvalue())


def test_phone_and_camera_photos_are_tagged_with_names(tagged):
    code, summary = tagged
    assert code == 0  # some photos were bad, the run finished
    names = {r["path"]: [f.get("name") for f in r["faces"]] for r in summary["results"]}
    assert names["IMG_0001.HEIC"] == names["obama.jxl"] == names["DSC_0002.dng"] == ["Barack_Obama"]
    assert names["DSC_0003.JPG"] == ["Barack_Obama"]
    assert names["rose.avif"] == ["unknown"]
    assert "DSC_0003.DNG" not in names


def test_boxes_are_in_the_displayed_frame(tagged):
    from facerec.vision.detect import Detector

    reference = Detector().detect(load_image(OBAMA))[0]
    _, summary = tagged
    for r in summary["results"]:
        if r["path"] in ("IMG_0001.HEIC", "obama.jxl", "DSC_0002.dng"):
            assert (r["width"], r["height"]) == (560, 700)
            assert iou(r["faces"][0]["box"], reference.box) >= 0.85, r["path"]  # MTCNN's box moves a few px with the codec


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return inter / (aw * ah + bw * bh - inter)


def test_what_is_skipped_or_unreadable_is_listed_with_the_reason(tagged):
    _, summary = tagged
    problems = {p["path"]: p["reason"] for p in summary["problems"]}
    assert set(problems) == {"DSC_0003.DNG", "clip.mp4", "broken.heic", "junk.nef"}, problems
    assert problems["DSC_0003.DNG"] == "RAW file of the same shot as DSC_0003.JPG: analysed once, from DSC_0003.JPG"
    assert problems["clip.mp4"].startswith("a video")
    assert "HEIF image is corrupt" in problems["broken.heic"]
    assert "RAW file is corrupt" in problems["junk.nef"]
    assert summary["unreadable"] == 2
