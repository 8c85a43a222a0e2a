"""The album walker lists the formats phones and cameras write, one file per RAW + JPEG shot, and says why it
skips videos and the RAW half of a pair."""
from __future__ import annotations

from pathlib import Path

from facerec.files.walk import walk_images


def touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_phone_and_camera_formats_are_listed(tmp_path):
    touch(tmp_path, "a.HEIC", "b.heif", "c.avif", "d.jxl", "e.webp", "f.tif", "g.CR2", "h.nef", "i.arw", "j.dng",
          "k.RAF", "l.rw2", "m.orf", "n.cr3")
    walked = walk_images(tmp_path)
    assert [p.name for p in walked.photos] == sorted(p.name for p in tmp_path.iterdir())
    assert walked.problems == []


def test_a_raw_file_beside_its_jpeg_is_one_shot_analysed_from_the_jpeg(tmp_path):
    touch(tmp_path, "IMG_0001.CR2", "IMG_0001.JPG", "IMG_0002.CR2", "DSC_7.nef", "dsc_7.heic")
    touch(tmp_path / "sub", "IMG_0002.jpg")  # another folder: not the same shot
    walked = walk_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in walked.photos] == [
        "IMG_0001.JPG", "IMG_0002.CR2", "dsc_7.heic", "sub/IMG_0002.jpg"]
    reasons = {p.name: why for p, why in walked.problems}
    assert set(reasons) == {"IMG_0001.CR2", "DSC_7.nef"}
    assert reasons["IMG_0001.CR2"] == "RAW file of the same shot as IMG_0001.JPG: analysed once, from IMG_0001.JPG"
    assert "dsc_7.heic" in reasons["DSC_7.nef"]


def test_videos_are_listed_as_skipped_with_the_reason(tmp_path):
    touch(tmp_path, "clip.mp4", "live.MOV", "photo.jpg", "notes.txt")
    walked = walk_images(tmp_path)
    assert [p.name for p in walked.photos] == ["photo.jpg"]
    reasons = {p.name: why for p, why in walked.problems}
    assert set(reasons) == {"clip.mp4", "live.MOV"}  # other files stay quietly ignored
    assert all(why.startswith("a video: facerec reads photos here") for why in reasons.values())
