"""The formats phones and cameras write: HEIC, AVIF, JPEG XL, RAW (DNG), beside JPEG, PNG, WebP and TIFF.

Every file is written by the format's own library from a real photo of tests/data, stored turned and tagged
with the EXIF orientation that makes it display as the photo; facerec must hand back the displayed picture,
its displayed size, and (slow tests) find the face where the JPEG's is."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec.errors import ImageError
from facerec.vision.formats import image_info, sniff
from facerec.vision.imageio import load_image, open_photo

pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
pytest.importorskip("pillow_jxl", reason="pillow-jxl-plugin is not installed")
pytest.importorskip("rawpy", reason="rawpy is not installed")
pytest.importorskip("tifffile", reason="tifffile (a test dependency) is not installed")

from image_files import PILLOW_FORMATS, dng, encode, similarity  # noqa: E402 - tests/image_files.py

PHOTO = Path(__file__).resolve().parents[1] / "data" / "album" / "obama.jpg"  # 560 x 700, one face
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>facerec-marker'
       b'</dc:title></rdf:Description></rdf:RDF></x:xmpmeta>')
ORIENTATIONS = (1, 3, 6, 8)


@pytest.fixture(scope="module")
def displayed() -> Image.Image:
    with Image.open(PHOTO) as im:
        return im.convert("RGB")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("fmt", sorted(PILLOW_FORMATS))
def test_each_format_is_decoded_as_displayed(fmt, orientation, displayed, tmp_path):
    path = write(tmp_path, f"photo{PILLOW_FORMATS[fmt]}", encode(displayed, fmt, orientation))
    image = load_image(path)
    assert image.shape == (700, 560, 3)
    assert similarity(image, np.asarray(displayed)) > 0.98  # not turned, not mirrored
    photo = open_photo(path)
    assert photo.size == (560, 700)
    assert photo.orientation == orientation
    assert photo.stored_size == ((700, 560) if orientation in (6, 8) else (560, 700))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_a_dng_is_demosaiced_by_libraw_and_turned_as_the_camera_says(orientation, displayed, tmp_path):
    path = write(tmp_path, "shot.dng", dng(displayed, orientation))
    photo = open_photo(path)
    assert (photo.format, photo.size, photo.orientation) == ("RAW", (560, 700), orientation)
    image = load_image(path)
    assert image.shape == (700, 560, 3)
    assert similarity(image, np.asarray(displayed)) > 0.95
    half, scale = photo.decode(0.3)  # LibRaw's half-size decode for a reduced look
    assert half.shape == (350, 280, 3) and scale == pytest.approx(0.5)


def test_a_raw_files_large_preview_is_used_instead_of_a_demosaic(displayed, tmp_path):
    preview = displayed.resize((1120, 1400), Image.Resampling.LANCZOS)
    path = write(tmp_path, "shot.dng", dng(displayed, 6, preview=preview))
    image = load_image(path)
    assert image.shape == (1400, 1120, 3)  # the preview, turned by the RAW's orientation
    assert similarity(image, np.asarray(preview)) > 0.99


def test_a_raw_file_given_as_bytes_is_recognised_without_its_name(displayed):
    data = dng(displayed, 6)
    assert sniff(data) == "raw"
    assert load_image(data).shape == (700, 560, 3)


def test_the_heic_of_a_motion_photo_reads_its_still_picture(displayed, tmp_path):
    heic = encode(displayed, "HEIF", 6)
    video_box = (16 + 4000).to_bytes(4, "big") + b"mpvd" + b"\x00" * 8 + bytes(range(250)) * 16  # the clip
    path = write(tmp_path, "motion.heic", heic + video_box)
    assert similarity(load_image(path), np.asarray(displayed)) > 0.98


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP", "HEIF", "AVIF", "JXL", "DNG"])
def test_image_info_gives_the_embedded_xmp_packet_and_both_sizes(fmt, displayed, tmp_path):
    data = dng(displayed, 6, xmp=XMP) if fmt == "DNG" else encode(displayed, fmt, 6, xmp=XMP)
    info = image_info(data, ".dng" if fmt == "DNG" else PILLOW_FORMATS[fmt])
    assert info.xmp is not None and b"facerec-marker" in info.xmp
    assert info.orientation == 6
    assert (info.stored_size, info.displayed_size) == ((700, 560), (560, 700))


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF", "JXL", "DNG"])
def test_a_corrupt_file_is_a_clear_error_naming_it(fmt, displayed, tmp_path):
    data = dng(displayed) if fmt == "DNG" else encode(displayed, fmt)
    suffix = ".dng" if fmt == "DNG" else PILLOW_FORMATS[fmt]
    for bad in (data[: len(data) // 3], data[:16] + bytes(2000) + data[2016:]):  # truncated; header destroyed
        path = write(tmp_path, f"bad{suffix}", bad)
        with pytest.raises(ImageError) as caught:
            load_image(path)
        assert str(path) in str(caught.value) and "corrupt" in str(caught.value)
        assert "Please build" not in str(caught.value)


def test_a_text_file_named_like_a_raw_file_is_a_clear_error(tmp_path):
    path = write(tmp_path, "notes.nef", b"shopping list\n" * 20)
    with pytest.raises(ImageError, match="RAW file is corrupt"):
        load_image(path)


def test_a_jpeg_is_decoded_at_the_reduced_scale_asked_for(displayed, tmp_path):
    path = write(tmp_path, "big.jpg", encode(displayed.resize((2240, 2800)), "JPEG", 6))
    photo = open_photo(path)
    assert photo.size == (2240, 2800)
    quarter, scale = photo.decode(0.2)  # libjpeg's DCT scaling: 1/4 is the coarsest at least 0.2
    assert scale == 0.25 and quarter.shape == (700, 560, 3)
    assert similarity(quarter, np.asarray(displayed)) > 0.97  # turned as displayed, like the full decode
    full, one = photo.decode(1.0)
    assert one == 1.0 and full.shape == (2800, 2240, 3)
    assert photo.decode(0.5)[1] == 1.0  # the full decode, kept, serves any coarser request


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["HEIF", "AVIF", "JXL", "DNG"])
@pytest.mark.parametrize("orientation", [1, 6])
def test_the_face_is_found_where_the_jpegs_is(fmt, orientation, displayed, detector, tmp_path):
    reference = detector.detect(load_image(PHOTO))
    data = dng(displayed, orientation) if fmt == "DNG" else encode(displayed, fmt, orientation)
    faces = detector.detect(load_image(data, suffix=".dng" if fmt == "DNG" else ""))
    assert len(faces) == len(reference) == 1
    # MTCNN's box moves with the codec's pixels by a few px on a 150 x 200 face; the landmarks hardly do
    assert np.abs(faces[0].landmarks_array() - reference[0].landmarks_array()).max() <= 5
    assert iou(faces[0].box, reference[0].box) >= 0.85


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return inter / (aw * ah + bw * bh - inter)
