"""Property-based fuzzing (Hypothesis) of the parsers that read outside data: the LFW pairs file, the XMP
merge, the PEOPLE_DIR walker, and image bytes into the loader. Whatever comes in, the only exceptions
that come out are facerec's own (FacerecError and its subclasses), with a message for the user.
"""
from __future__ import annotations

import io
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from robust_helpers import FACE_A

from facerec.errors import FacerecError
from facerec.evaluation.pairs import Pair, parse_pairs
from facerec.vision.imageio import load_image
from facerec.names import person_name
from facerec.album.xmp import FaceRegion, merge_xmp, read_face_regions, read_people_tags

pytestmark = pytest.mark.slow  # property-based fuzzing: minutes of examples, not a unit test

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- LFW pairs file

LFW_NAME = st.from_regex(r"[A-Za-z][A-Za-z_\-'.]{0,20}", fullmatch=True)
INDEX = st.integers(1, 9999)
SAME = st.tuples(LFW_NAME, INDEX, INDEX).map(lambda t: Pair(t[0], t[1], t[0], t[2]))
DIFFERENT = st.tuples(LFW_NAME, INDEX, LFW_NAME, INDEX).map(lambda t: Pair(*t))
# tokens a damaged or foreign pairs file holds: digits of other scripts, signs, comments, blanks
TOKEN = st.one_of(LFW_NAME, st.integers(-5, 10**6).map(str), st.text(min_size=1, max_size=6),
                  st.sampled_from(["#", "²", "١٢", "+3", "0x1f", "1_0", "\x00", "\u2028"]))
LINE = st.lists(TOKEN, max_size=5).map(" ".join)


def parse_text(text: str | bytes) -> list[Pair]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pairs.txt"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        return parse_pairs(path)


HEADER = st.lists(st.sampled_from(["10", "300", "1100", "0", "²", "١٢", "+3", "-1"]),
                  min_size=1, max_size=3).map(" ".join)


@FUZZ
@given(st.one_of(st.tuples(HEADER, st.lists(LINE, max_size=8)).map(lambda t: "\n".join([t[0], *t[1]])),
                 st.lists(LINE, max_size=8).map("\n".join), st.text(max_size=200), st.binary(max_size=200)))
@example("²\nAnn 1 2")  # a header of digits that int() refuses used to end in a ValueError traceback
@example("Ann 1 0")  # LFW numbers its images from 1
def test_pairs_parser_takes_anything_and_raises_only_its_own_errors(text):
    try:
        pairs = parse_text(text)
    except FacerecError as e:
        assert "pairs" in str(e) or "pair " in str(e)
        return
    assert pairs and all(isinstance(p, Pair) and min(p.index1, p.index2) >= 1 for p in pairs)


@FUZZ
@given(st.lists(st.one_of(SAME, DIFFERENT), min_size=1, max_size=12), st.booleans())
def test_pairs_parser_reads_back_what_was_written(pairs, with_header):
    lines = [f"{p.name1} {p.index1} {p.index2}" if p.same else f"{p.name1} {p.index1} {p.name2} {p.index2}"
             for p in pairs]
    text = "\n".join(([f"{len(pairs)}"] if with_header else []) + lines) + "\n"
    assert parse_text(text) == pairs


# --------------------------------------------------------------------------- XMP merge


def valid_person_name(raw: str) -> bool:
    try:
        person_name(raw)
    except FacerecError:
        return False
    return True


PERSON = st.text(min_size=1, max_size=20).filter(valid_person_name).map(person_name)
COORD = st.floats(-500, 2000, allow_nan=False)
REGION = st.builds(lambda x, y, w, h, name, score: FaceRegion((x, y, abs(w) + 1, abs(h) + 1), name, score),
                   COORD, COORD, COORD, COORD, st.none() | PERSON, st.none() | st.floats(0, 1))
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=15)


@st.composite
def foreign_sidecar(draw) -> bytes:
    """A sidecar another program may have written: descriptions, tags, regions, attributes, in any mix."""
    root = ET.Element("{adobe:ns:meta/}xmpmeta")
    rdf = ET.SubElement(root, "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF")
    for _ in range(draw(st.integers(0, 3))):
        desc = ET.SubElement(rdf, "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")
        desc.set("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about", "")
        if draw(st.booleans()):
            desc.set("{http://ns.adobe.com/xap/1.0/}Rating", draw(XML_TEXT))
        for ns, prop, container in draw(st.lists(st.sampled_from([
                ("http://purl.org/dc/elements/1.1/", "subject", "Bag"),
                ("http://ns.adobe.com/lightroom/1.0/", "hierarchicalSubject", "Bag"),
                ("http://www.metaphacts.com/ns/mwg-rs#", "Regions", "Bag"),
                ("http://ns.adobe.com/xap/1.0/", "Label", "Alt"),
                ("urn:example:other", "Thing", "Seq")]), max_size=3)):
            prop_el = ET.SubElement(desc, f"{{{ns}}}{prop}")
            if draw(st.booleans()):
                holder = ET.SubElement(prop_el, f"{{http://www.w3.org/1999/02/22-rdf-syntax-ns#}}{container}")
                for value in draw(st.lists(XML_TEXT, max_size=3)):
                    ET.SubElement(holder, "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}li").text = value
            else:
                prop_el.text = draw(XML_TEXT)
    return ET.tostring(root)


EXISTING = st.one_of(st.none(), foreign_sidecar(), st.binary(max_size=300),
                     foreign_sidecar().flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])))


@FUZZ
@given(EXISTING, st.lists(REGION, max_size=4), st.integers(1, 6000), st.integers(1, 6000))
def test_xmp_merge_takes_any_sidecar_and_writes_xml_or_refuses(existing, regions, width, height):
    try:
        packet = merge_xmp(existing, regions, width, height, label="photo.jpg.xmp")
    except FacerecError as e:
        assert "left unchanged" in str(e)
        return
    with tempfile.TemporaryDirectory() as folder:
        sidecar = Path(folder) / "photo.jpg.xmp"
        sidecar.write_bytes(packet)
        ET.fromstring(packet)  # well-formed XML, which later runs and photo managers can read
        found = read_face_regions(sidecar)
        tags = read_people_tags(sidecar)
    named = {r.name for r in regions if r.name}
    assert named <= {r["name"] for r in found["regions"]}
    assert named <= set(tags.get("dc:subject", []))
    # merging again with the same faces changes nothing: a re-run does not grow the sidecar
    assert merge_xmp(packet, regions, width, height, label="photo.jpg.xmp") == packet


def user_tagged_sidecar(names: list[str], others: list[str]) -> bytes:
    """A sidecar where the user typed people's names (flat and under People|) and other keywords."""
    rdf_ns = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    root = ET.Element("{adobe:ns:meta/}xmpmeta")
    desc = ET.SubElement(ET.SubElement(root, f"{rdf_ns}RDF"), f"{rdf_ns}Description", {f"{rdf_ns}about": ""})
    for prop, values in (("{http://purl.org/dc/elements/1.1/}subject", names + others),
                         ("{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject", [f"People|{n}" for n in names])):
        bag = ET.SubElement(ET.SubElement(desc, prop), f"{rdf_ns}Bag")
        for value in values:
            ET.SubElement(bag, f"{rdf_ns}li").text = value
    return ET.tostring(root)


def keywords(packet: bytes) -> dict[str, set[str]]:
    with tempfile.TemporaryDirectory() as folder:
        sidecar = Path(folder) / "photo.jpg.xmp"
        sidecar.write_bytes(packet)
        tags = read_people_tags(sidecar)
    return {key: set(tags.get(key, [])) for key in ("dc:subject", "lr:hierarchicalSubject")}


@FUZZ
@given(st.data())
def test_xmp_merge_never_removes_a_keyword_that_was_there_before(data):
    """Typed keywords are the user's: whatever facerec names over later runs (the same people the user tagged,
    others, nobody after a forget), every keyword present before facerec's first write stays."""
    names = data.draw(st.lists(PERSON, max_size=3), label="names the user typed")
    existing = data.draw(st.one_of(
        st.lists(XML_TEXT, max_size=2).map(lambda others: user_tagged_sidecar(names, others)), foreign_sidecar()))
    person = st.sampled_from(names) | PERSON if names else PERSON
    region = st.builds(lambda x, y, name: FaceRegion((x, y, 50, 60), name, 0.9), st.integers(0, 500),
                       st.integers(0, 500), st.none() | person)
    runs = data.draw(st.lists(st.lists(region, max_size=3), min_size=1, max_size=4), label="runs")
    before = keywords(existing)
    packet = existing
    for regions in [*runs, []]:
        packet = merge_xmp(packet, regions, 640, 640, label="photo.jpg.xmp")
        after = keywords(packet)
        assert all(before[key] <= after[key] for key in before), (before, after)


# --------------------------------------------------------------------------- PEOPLE_DIR walker

# Any name a file system holds: text (spaces, emoji, dashes, XML specials) or raw bytes (not UTF-8).
FS_NAME = st.one_of(st.text(min_size=1, max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
                    st.binary(min_size=1, max_size=12)).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
SUFFIX = st.sampled_from([b".jpg", b".JPG", b".png", b".gif", b".txt", b"", b".jpeg"])
ENTRY = st.tuples(FS_NAME, SUFFIX, st.sampled_from(["photo", "empty", "broken link", "loop", "folder"]))
TREE = st.lists(st.tuples(FS_NAME, st.lists(ENTRY, max_size=4)), max_size=5)


def build_tree(root: bytes, tree: list, photo: bytes) -> None:
    for person, entries in tree:
        folder = os.path.join(root, person)
        os.makedirs(folder, exist_ok=True)
        for name, suffix, kind in entries:
            path = os.path.join(folder, name + suffix)
            if os.path.lexists(path):
                continue
            if kind == "photo":
                Path(os.fsdecode(path)).write_bytes(photo)
            elif kind == "empty":
                open(path, "wb").close()
            elif kind == "broken link":
                os.symlink(os.path.join(root, b"gone"), path)
            elif kind == "loop":
                os.symlink(path, path)
            else:
                os.makedirs(os.path.join(path, b"inner"), exist_ok=True)
                Path(os.fsdecode(os.path.join(path, b"inner", b"x.jpg"))).write_bytes(photo)


@pytest.fixture(scope="module")
def tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    with Image.open(FACE_A) as im:
        im.convert("RGB").resize((32, 32)).save(buffer, "JPEG")
    return buffer.getvalue()


@FUZZ
@given(tree=TREE)
def test_people_dir_walker_takes_any_tree_and_raises_only_its_own_errors(tree, tiny_jpeg):
    from facerec.gallery.enroll import scan_people

    with tempfile.TemporaryDirectory() as folder:
        root = os.path.join(os.fsencode(folder), b"people")
        os.mkdir(root)
        build_tree(root, tree, tiny_jpeg)
        people_dir = Path(os.fsdecode(root))
        scan = scan_people(people_dir)
        for person, path in scan.photos:
            assert person == person_name(person)  # only valid names come out
            assert path.is_relative_to(people_dir) and path.is_file()
            assert path.relative_to(people_dir).parts[0].strip() != ""
        listed = {p for _, p in scan.photos} | {p for _, p, _ in scan.skipped + scan.unreadable}
        for person, entries in tree:  # every photo put in a person folder is enrolled or reported, never lost
            for name, suffix, kind in entries:
                path = Path(os.fsdecode(os.path.join(root, person, name + suffix)))
                if kind == "photo" and suffix in (b".jpg", b".JPG", b".jpeg", b".png") and path.is_file():
                    assert any(path.is_relative_to(p) for p in listed) or name.startswith(b".") \
                        or person.startswith(b"."), path


# --------------------------------------------------------------------------- image bytes


@pytest.fixture(scope="module")
def tiny_images() -> list[bytes]:
    """A small real photo in every format the loader reads."""
    images = []
    with Image.open(FACE_A) as im:
        small = im.convert("RGB").resize((24, 20))
    for fmt, mode in (("JPEG", "RGB"), ("PNG", "RGBA"), ("PNG", "I;16"), ("WEBP", "RGB"), ("BMP", "P"),
                      ("TIFF", "CMYK"), ("GIF", "P")):
        buffer = io.BytesIO()
        small.convert(mode).save(buffer, fmt)
        images.append(buffer.getvalue())
    return images


@st.composite
def damaged(draw, images: list[bytes]) -> bytes:
    """A real image with some bytes changed, cut short, or with junk inserted."""
    data = bytearray(draw(st.sampled_from(images)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
            if not data:
                break
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@FUZZ
@given(data=st.data())
def test_image_loader_takes_any_bytes_and_raises_only_its_own_errors(data, tiny_images):
    raw = data.draw(st.one_of(st.binary(max_size=64), damaged(tiny_images),
                              st.sampled_from(tiny_images).map(lambda b: b[:16] + bytes(64))))
    try:
        image = load_image(raw)
    except FacerecError as e:
        assert str(e).startswith("<bytes>:")
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.size > 0


def test_the_tiny_images_themselves_load(tiny_images):  # the fuzzing starts from images that work
    for raw in tiny_images:
        assert load_image(raw).shape[:2] == (20, 24)
