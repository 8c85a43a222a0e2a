"""Face regions read from sidecars, embedded XMP and .picasa.ini, mapped into the displayed frame."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from facerec.album.regions import RegionReader, read_regions
from facerec.album.xmp import FaceRegion, write_sidecars
from facerec.vision.imageio import load_image
from regions_fixtures import (FACE_BOX, displayed_to_stored, mwg_packet, normalised, turned_jpeg,
                                          with_app1)

ORIENTATIONS = (1, 3, 6, 8)


def assert_box_near(box, expected, tolerance=3.0):
    assert all(abs(a - b) <= tolerance for a, b in zip(box, expected)), (box, expected)


def stored_size(size, orientation):
    return size[::-1] if orientation in (5, 6, 7, 8) else size


def embedded(jpeg: bytes, packet: bytes) -> bytes:
    return with_app1(jpeg, b"http://ns.adobe.com/xap/1.0/\x00" + packet)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_mwg_in_the_stored_frame_is_turned_with_the_photo(tmp_path, orientation):
    """The MWG guideline: areas of the stored image, AppliedToDimensions its size."""
    jpeg, size = turned_jpeg(orientation)
    stored_box = displayed_to_stored(normalised(FACE_BOX, size), size, orientation)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(embedded(jpeg, mwg_packet([("Barack Obama", stored_box)], stored_size(size, orientation))))
    assert load_image(photo).shape[1::-1] == size  # the photo really is stored turned
    found = read_regions(photo)
    assert found.problems == []
    assert (found.width, found.height, found.orientation) == (*size, orientation)
    [region] = found.regions
    assert region.name == "Barack Obama" and region.schema == "mwg" and region.origin == "embedded"
    assert_box_near(region.box, FACE_BOX)


@pytest.mark.parametrize("orientation", (6, 8))
def test_mwg_in_the_displayed_frame_is_taken_as_is_when_applied_to_dimensions_say_so(tmp_path, orientation):
    """Files whose AppliedToDimensions have the displayed shape hold displayed-frame areas (older writers)."""
    jpeg, size = turned_jpeg(orientation)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(embedded(jpeg, mwg_packet([("Barack Obama", normalised(FACE_BOX, size))], size)))
    [region] = read_regions(photo).regions
    assert_box_near(region.box, FACE_BOX)


@pytest.mark.parametrize("orientation", (3, 6))
def test_without_a_telling_applied_to_dimensions_the_mwg_rule_decides(tmp_path, orientation):
    """180 degrees keeps the shape, and a packet without AppliedToDimensions says nothing: the stored frame."""
    jpeg, size = turned_jpeg(orientation)
    stored_box = displayed_to_stored(normalised(FACE_BOX, size), size, orientation)
    packet = mwg_packet([("A", stored_box)], stored_size(size, orientation))
    if orientation == 6:
        packet = packet.replace(packet[packet.index(b"<mwg-rs:AppliedToDimensions"):packet.index(b"<mwg-rs:RegionList")], b"")
    photo = tmp_path / "p.jpg"
    photo.write_bytes(embedded(jpeg, packet))
    [region] = read_regions(photo).regions
    assert_box_near(region.box, FACE_BOX)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_mp_rectangles_are_displayed_frame_and_merge_with_stored_frame_mwg_of_the_same_face(tmp_path, orientation):
    """The real-world mix: MWG areas in the stored frame, MP rectangles in the displayed one, one photo."""
    jpeg, size = turned_jpeg(orientation)
    stored_box = displayed_to_stored(normalised(FACE_BOX, size), size, orientation)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(embedded(jpeg, mwg_packet([("Barack Obama", stored_box)], stored_size(size, orientation),
                                                mp=[("Barack Obama", normalised(FACE_BOX, size))])))
    found = read_regions(photo)
    assert found.problems == []
    [region] = found.regions  # one face, though two schemas describe it
    assert_box_near(region.box, FACE_BOX)
    mp_only = tmp_path / "mp.jpg"
    mp_only.write_bytes(embedded(jpeg, mwg_packet([], size, mp=[("Barack Obama", normalised(FACE_BOX, size))])))
    [region] = read_regions(mp_only).regions
    assert region.schema == "mp" and region.name == "Barack Obama"
    assert_box_near(region.box, FACE_BOX)


def without_facerec_marks(sidecar: Path) -> bytes:
    """The sidecar as another photo manager would read it: facerec's extension mark removed."""
    return re.sub(rb"<mwg-rs:Extensions[^>]*/>", b"", sidecar.read_bytes())


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_facerec_sidecar_regions_follow_the_rule_and_round_trip(tmp_path, orientation):
    from facerec.album.xmp import read_face_regions

    jpeg, size = turned_jpeg(orientation)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg)
    write_sidecars(photo, [FaceRegion(FACE_BOX, "Barack Obama", 0.5)], *size, orientation=orientation)
    info = read_face_regions(tmp_path / "p.jpg.xmp")
    assert (info["width"], info["height"]) == stored_size(size, orientation)  # the stored image's size
    [ours] = info["regions"]
    x, y, w, h = displayed_to_stored(normalised(FACE_BOX, size), size, orientation)
    assert (ours["x"], ours["y"], ours["w"], ours["h"]) == pytest.approx((x + w / 2, y + h / 2, w, h), abs=1e-4)
    assert read_regions(photo).regions == []  # facerec's own region is its guess, never read as a tag
    (tmp_path / "p.jpg.xmp").write_bytes(without_facerec_marks(tmp_path / "p.jpg.xmp"))
    [region] = read_regions(photo).regions  # ... but a photo manager finds it on the face
    assert region.name == "Barack Obama" and region.origin == "p.jpg.xmp"
    assert_box_near(region.box, FACE_BOX, tolerance=1.5)


@pytest.mark.parametrize("orientation", (6, 8))
def test_facerec_writes_its_regions_in_the_frame_of_the_users_regions_beside_them(tmp_path, orientation):
    """A sidecar whose regions are in the displayed frame keeps its AppliedToDimensions, and facerec's region
    joins it in that frame: every region of the file is read the same way."""
    from facerec.album.xmp import read_face_regions

    jpeg, size = turned_jpeg(orientation)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg)
    other = (20, 20, 60, 60)  # a second face region, displayed frame
    (tmp_path / "p.jpg.xmp").write_bytes(mwg_packet([("Ann", normalised(other, size))], size))
    write_sidecars(photo, [FaceRegion(FACE_BOX, "Guess", 0.5)], *size, orientation=orientation)
    info = read_face_regions(tmp_path / "p.jpg.xmp")
    assert (info["width"], info["height"]) == size  # the displayed-frame dimensions are kept
    ours = next(r for r in info["regions"] if r["facerec"])
    x, y, w, h = normalised(FACE_BOX, size)
    assert (ours["x"], ours["y"], ours["w"], ours["h"]) == pytest.approx((x + w / 2, y + h / 2, w, h), abs=1e-4)
    [ann] = read_regions(photo).regions
    assert ann.name == "Ann"
    assert_box_near(ann.box, other)


def test_both_sidecar_names_are_read(tmp_path):
    jpeg, size = turned_jpeg(1)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg)
    (tmp_path / "p.jpg.xmp").write_bytes(mwg_packet([("Ann", (0.0, 0.0, 0.2, 0.2))], size))
    (tmp_path / "p.xmp").write_bytes(mwg_packet([("Bob", (0.6, 0.6, 0.2, 0.2))], size))
    assert sorted(r.name for r in read_regions(photo).regions) == ["Ann", "Bob"]


def test_png_tiff_and_webp_embedded_xmp(tmp_path):
    from PIL import Image, PngImagePlugin

    jpeg, size = turned_jpeg(1)
    packet = mwg_packet([("Ann", normalised(FACE_BOX, size))], size)
    with Image.open(io.BytesIO(jpeg)) as im:
        im = im.convert("RGB")
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", packet.decode("utf-8"), zip=True)
        im.save(tmp_path / "a.png", pnginfo=info)
        im.save(tmp_path / "a.tif", tiffinfo={700: packet})
        im.save(tmp_path / "a.webp", xmp=packet)
    for name in ("a.png", "a.tif", "a.webp"):
        [region] = read_regions(tmp_path / name).regions
        assert region.name == "Ann", name
        assert_box_near(region.box, FACE_BOX)


def test_extended_xmp_in_a_jpeg(tmp_path):
    import hashlib
    import struct

    jpeg, size = turned_jpeg(1)
    extended = mwg_packet([("Ann", normalised(FACE_BOX, size))], size)
    guid = hashlib.md5(extended).hexdigest().upper().encode()
    standard = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                b'<rdf:Description rdf:about="" xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmpNote:HasExtendedXMP="'
                + guid + b'"/></rdf:RDF></x:xmpmeta>')
    half = len(extended) // 2
    data = jpeg
    for offset, chunk in ((half, extended[half:]), (0, extended[:half])):  # out of order on purpose
        data = with_app1(data, b"http://ns.adobe.com/xmp/extension/\x00" + guid
                         + struct.pack(">II", len(extended), offset) + chunk)
    data = with_app1(data, b"http://ns.adobe.com/xap/1.0/\x00" + standard)
    (tmp_path / "p.jpg").write_bytes(data)
    [region] = read_regions(tmp_path / "p.jpg").regions
    assert region.name == "Ann"
    assert_box_near(region.box, FACE_BOX)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_picasa_ini_with_contacts_xml(tmp_path, orientation):
    jpeg, size = turned_jpeg(orientation)
    (tmp_path / "IMG_1.jpg").write_bytes(jpeg)
    x, y, w, h = normalised(FACE_BOX, size)
    values = [round(v * 65535) for v in (x, y, x + w, y + h)]
    hexed = "".join(f"{v:04x}" for v in values).lstrip("0")
    (tmp_path / ".picasa.ini").write_text(
        f"[IMG_1.jpg]\nfaces=rect64({hexed}),8e62398ebda8c1a5;rect64(1000200030004000),ffffffffffffffff\n"
        "[Contacts2]\n8e62398ebda8c1a5=Old Name;;\n")
    contacts = tmp_path / "contacts.xml"
    contacts.write_text('<contacts><contact id="8e62398ebda8c1a5" name="Barack Obama" display="Barack"/></contacts>')
    found = RegionReader(contacts).read(tmp_path / "IMG_1.jpg")
    assert found.problems == []
    named, unnamed = found.regions
    assert named.name == "Barack Obama" and named.schema == "picasa" and unnamed.name is None
    assert_box_near(named.box, FACE_BOX)
    # without contacts.xml the ini's own [Contacts2] names it
    assert read_regions(tmp_path / "IMG_1.jpg").regions[0].name == "Old Name"


def test_bad_regions_are_problems_and_the_rest_is_read(tmp_path):
    jpeg, size = turned_jpeg(1)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(with_app1(jpeg, b"http://ns.adobe.com/xap/1.0/\x00" + mwg_packet(
        [("Good", (0.1, 0.1, 0.2, 0.2)), ("Outside", (1.5, 1.5, 0.2, 0.2)), ("Zero", (0.5, 0.5, 0.0, 0.1)),
         ("Negative", (0.5, 0.5, -0.1, 0.1)), ("a|b", (0.6, 0.1, 0.2, 0.2)), ("Edge", (0.9, 0.9, 0.2, 0.2))],
        size)))
    (tmp_path / ".picasa.ini").write_bytes(b"\xff\xfegarbage = [[\n[p.jpg]\nfaces=rect64(zz),1;notarect\n")
    found = read_regions(photo)
    names = sorted(str(r.name) for r in found.regions)
    assert names == ["Edge", "Good", "None"]  # the invalid name's region is kept without a name
    edge = next(r for r in found.regions if r.name == "Edge")
    assert_box_near(edge.box, (0.9 * size[0], 0.9 * size[1], 0.1 * size[0], 0.1 * size[1]))  # clipped
    text = "\n".join(found.problems)
    assert "'Outside'" in text and "outside the picture" in text
    assert "'Zero'" in text and "'Negative'" in text and "zero or negative size" in text
    assert "cannot be a person's name" in text
    assert text.count("is not rect64(HEX),ID") == 2


def test_unknown_orientation_and_broken_sidecar_are_problems(tmp_path):
    from PIL import Image

    jpeg, size = turned_jpeg(1)
    with Image.open(io.BytesIO(jpeg)) as im:
        exif = im.getexif()
        exif[0x0112] = 9
        im.save(tmp_path / "p.jpg", exif=exif.tobytes())
    (tmp_path / "p.jpg.xmp").write_bytes(b"<x:xmpmeta><not closed")
    (tmp_path / "p.xmp").write_bytes(mwg_packet([("Ann", (0.1, 0.1, 0.2, 0.2))], size))
    found = read_regions(tmp_path / "p.jpg")
    assert [r.name for r in found.regions] == ["Ann"]
    text = "\n".join(found.problems)
    assert "unknown EXIF orientation value '9'" in text and "p.jpg.xmp" in text and "not valid XML" in text


def test_a_truncated_jpeg_header_is_a_problem_not_an_exception(tmp_path):
    jpeg, size = turned_jpeg(1)
    broken = with_app1(jpeg, b"http://ns.adobe.com/xap/1.0/\x00" + mwg_packet([("Ann", (0.1, 0.1, 0.2, 0.2))], size))
    (tmp_path / "p.jpg").write_bytes(broken[:2] + b"\xff\xe1\xff\xff" + b"\x00" * 10)
    found = read_regions(tmp_path / "p.jpg")
    assert found.regions == [] and found.problems


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
@pytest.mark.parametrize("orientation", (1, 3, 6, 8))
def test_regions_exiftool_wrote(tmp_path, orientation):
    jpeg, size = turned_jpeg(orientation)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg)
    x, y, w, h = normalised(FACE_BOX, size)
    sx, sy, sw, sh = displayed_to_stored((x, y, w, h), size, orientation)  # MWG: the stored frame
    dims = stored_size(size, orientation)
    region = (f"{{AppliedToDimensions={{W={dims[0]},H={dims[1]},Unit=pixel}},RegionList=[{{Area={{X={sx + sw / 2:.6f},"
              f"Y={sy + sh / 2:.6f},W={sw:.6f},H={sh:.6f},Unit=normalized}},Name=Barack Obama,Type=Face}}]}}")
    mp = f"{{Regions=[{{PersonDisplayName=Barack Obama,Rectangle={x:.6f}|, {y:.6f}|, {w:.6f}|, {h:.6f}}}]}}"  # | escapes a comma
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-mwg-rs:RegionInfo={region}",
                    f"-XMP-MP:RegionInfoMP={mp}", str(photo)], check=True)
    subprocess.run(["exiftool", "-q", "-o", str(tmp_path / "side.xmp"), f"-XMP-mwg-rs:RegionInfo={region}",
                    str(photo)], check=True)
    found = read_regions(photo)
    assert found.problems == []
    [region_read] = found.regions
    assert region_read.name == "Barack Obama" and region_read.origin == "embedded"
    assert_box_near(region_read.box, FACE_BOX)
    shutil.copy(tmp_path / "side.xmp", tmp_path / "q.xmp")
    shutil.copy(photo, tmp_path / "q.jpg")
    assert len(read_regions(tmp_path / "q.jpg").regions) == 1



@pytest.mark.parametrize("fmt,suffix", [("HEIF", ".heic"), ("AVIF", ".avif"), ("JXL", ".jxl")])
@pytest.mark.parametrize("orientation", (1, 6))
def test_regions_embedded_in_phone_formats(tmp_path, fmt, suffix, orientation):
    """HEIC, AVIF and JPEG XL keep their XMP packet in a box of their own: MWG regions there are read, in the
    stored frame turned with the photo, as in a JPEG."""
    from PIL import Image

    from image_files import encode
    from regions_fixtures import FACE_PHOTO

    with Image.open(FACE_PHOTO) as im:
        displayed = im.convert("RGB")
    size = displayed.size
    stored_box = displayed_to_stored(normalised(FACE_BOX, size), size, orientation)
    packet = mwg_packet([("Barack Obama", stored_box)], stored_size(size, orientation))
    photo = tmp_path / f"p{suffix}"
    photo.write_bytes(encode(displayed, fmt, orientation, xmp=packet))
    found = read_regions(photo)
    assert found.problems == []
    assert (found.width, found.height) == size
    [region] = found.regions
    assert region.name == "Barack Obama" and region.origin == "embedded"
    assert_box_near(region.box, FACE_BOX)
