"""XMP sidecars: MWG face regions and person tags, merged into existing sidecars without losing their content."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from facerec.album import xmp
from facerec.album.xmp import FaceRegion, XmpError, merge_xmp, normalised_area, read_face_regions, read_people_tags, \
    sidecar_paths, write_sidecars

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
MWG = "{http://www.metadataworkinggroup.com/schemas/regions/}"
AREA = "{http://ns.adobe.com/xmp/sType/Area#}"
DIM = "{http://ns.adobe.com/xap/1.0/sType/Dimensions#}"

WIDTH, HEIGHT = 2000, 1428
REGIONS = [
    FaceRegion((766, 395, 162, 241), "Joe Biden", 0.97),
    FaceRegion((1145, 362, 183, 232), "Barack Obama", 0.95),
    FaceRegion((1636, 1056, 145, 171), None, 0.83),  # unknown
]

# A sidecar as darktable writes one (edit history, rating, a keyword the user typed), plus a face
# region someone drew by hand in digiKam. All of it must survive facerec's writes.
DARKTABLE_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmp:Rating="4"
    darktable:xmp_version="5"
    darktable:history_end="1">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1"/>
    </rdf:Seq>
   </darktable:history>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>holiday</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>places|Rome</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="2000" stDim:h="1428" stDim:unit="pixel"/>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Aunt May" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.1" stArea:y="0.2" stArea:w="0.05" stArea:h="0.07" stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def parse(path):
    return ET.parse(path).getroot()


def test_new_sidecar_is_valid_xmp_with_one_mwg_region_per_named_face(tmp_path):
    photo = tmp_path / "party.jpg"
    photo.write_bytes(b"not read")
    (sidecar,) = write_sidecars(photo, REGIONS, WIDTH, HEIGHT)
    assert sidecar == tmp_path / "party.jpg.xmp"
    root = parse(sidecar)
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    rdf = root.find(f"{RDF}RDF")
    assert rdf is not None
    desc = rdf.find(f"{RDF}Description")
    assert desc.get(f"{RDF}about") == ""
    regions = desc.find(f"{MWG}Regions")
    dims = regions.find(f"{MWG}AppliedToDimensions")
    assert (dims.get(f"{DIM}w"), dims.get(f"{DIM}h"), dims.get(f"{DIM}unit")) == ("2000", "1428", "pixel")
    items = regions.find(f"{MWG}RegionList").find(f"{RDF}Bag").findall(f"{RDF}li")
    assert len(items) == 2  # the unknown face gets no region by default
    for item, region in zip(items, REGIONS[:2]):
        d = item.find(f"{RDF}Description")
        assert d.get(f"{MWG}Name") == region.name and d.get(f"{MWG}Type") == "Face"
        area = d.find(f"{MWG}Area")
        assert area.get(f"{AREA}unit") == "normalized"
        x, y, w, h = region.box
        # MWG: x/y are the CENTRE of the box, everything normalised by the image size
        assert float(area.get(f"{AREA}x")) == pytest.approx((x + w / 2) / WIDTH, abs=1e-3)
        assert float(area.get(f"{AREA}y")) == pytest.approx((y + h / 2) / HEIGHT, abs=1e-3)
        assert float(area.get(f"{AREA}w")) == pytest.approx(w / WIDTH, abs=1e-3)
        assert float(area.get(f"{AREA}h")) == pytest.approx(h / HEIGHT, abs=1e-3)


def test_person_tags_for_digikam_lightroom_darktable(tmp_path):
    (sidecar,) = write_sidecars(tmp_path / "p.jpg", REGIONS, WIDTH, HEIGHT)
    tags = read_people_tags(sidecar)
    assert tags["dc:subject"] == ["Joe Biden", "Barack Obama"]
    assert tags["lr:hierarchicalSubject"] == ["People|Joe Biden", "People|Barack Obama"]
    assert tags["digiKam:TagsList"] == ["People/Joe Biden", "People/Barack Obama"]
    assert tags["Iptc4xmpExt:PersonInImage"] == ["Joe Biden", "Barack Obama"]
    text = sidecar.read_text(encoding="utf-8")
    # the exact namespace URIs the applications look for
    for uri in ("http://purl.org/dc/elements/1.1/", "http://ns.adobe.com/lightroom/1.0/",
                "http://www.digikam.org/ns/1.0/", "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
                "http://www.metadataworkinggroup.com/schemas/regions/", "http://ns.adobe.com/xmp/sType/Area#",
                "http://ns.adobe.com/xap/1.0/sType/Dimensions#"):
        assert f'"{uri}"' in text
    # digiKam's TagsList is an ordered rdf:Seq, the others are rdf:Bag
    desc = parse(sidecar).find(f"{RDF}RDF/{RDF}Description")
    assert desc.find("{http://www.digikam.org/ns/1.0/}TagsList/" + f"{RDF}Seq") is not None
    assert desc.find("{http://purl.org/dc/elements/1.1/}subject/" + f"{RDF}Bag") is not None


def test_unknown_faces_get_unnamed_regions_only_when_asked(tmp_path):
    (sidecar,) = write_sidecars(tmp_path / "p.jpg", REGIONS, WIDTH, HEIGHT, include_unknown=True)
    regions = read_face_regions(sidecar)["regions"]
    assert [r["name"] for r in regions] == ["Joe Biden", "Barack Obama", None]
    assert all(r["type"] == "Face" and r["facerec"] for r in regions)
    assert read_people_tags(sidecar)["dc:subject"] == ["Joe Biden", "Barack Obama"]


def test_a_face_another_region_already_covers_is_not_written_twice(tmp_path):
    """A region someone drew (digiKam, Lightroom, by hand) over a face: facerec adds none on top of it, however
    its box differs a little; a face elsewhere still gets its region."""
    photo, sidecar = tmp_path / "p.jpg", tmp_path / "p.jpg.xmp"
    x, y, w, h = REGIONS[0].box  # Joe Biden's face, drawn by hand a little larger and shifted
    cx, cy = (x + w / 2 + 4) / WIDTH, (y + h / 2 - 3) / HEIGHT
    sidecar.write_text(HAND_DRAWN.format(cx=cx, cy=cy, w=(w + 10) / WIDTH, h=(h + 12) / HEIGHT), encoding="utf-8")
    write_sidecars(photo, REGIONS, WIDTH, HEIGHT, include_unknown=True)
    regions = read_face_regions(sidecar)["regions"]
    assert [(r["name"], r["facerec"]) for r in regions] == [("Joe", False), ("Barack Obama", True), (None, True)]
    write_sidecars(photo, REGIONS, WIDTH, HEIGHT, include_unknown=True)  # and not on a second run either
    assert read_face_regions(sidecar)["regions"] == regions


HAND_DRAWN = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
  xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
<mwg-rs:Regions rdf:parseType="Resource">
 <mwg-rs:AppliedToDimensions stDim:w="2000" stDim:h="1428" stDim:unit="pixel"/>
 <mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Name="Joe" mwg-rs:Type="Face">
  <mwg-rs:Area stArea:x="{cx:.6f}" stArea:y="{cy:.6f}" stArea:w="{w:.6f}" stArea:h="{h:.6f}" stArea:unit="normalized"/>
 </rdf:Description></rdf:li></rdf:Bag></mwg-rs:RegionList>
</mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_merge_keeps_everything_that_is_not_facerecs(tmp_path):
    photo = tmp_path / "IMG_1.jpg"
    sidecar = tmp_path / "IMG_1.jpg.xmp"
    sidecar.write_text(DARKTABLE_SIDECAR, encoding="utf-8")
    write_sidecars(photo, REGIONS, WIDTH, HEIGHT)

    root = parse(sidecar)
    desc = root.find(f"{RDF}RDF/{RDF}Description")
    assert desc.get("{http://ns.adobe.com/xap/1.0/}Rating") == "4"
    assert desc.get("{http://darktable.sf.net/}history_end") == "1"
    assert desc.find("{http://darktable.sf.net/}history") is not None
    assert root.get("{adobe:ns:meta/}xmptk") == "XMP Core 4.4.0-Exiv2"
    tags = read_people_tags(sidecar)
    assert tags["dc:subject"] == ["holiday", "Joe Biden", "Barack Obama"]
    assert tags["lr:hierarchicalSubject"] == ["places|Rome", "People|Joe Biden", "People|Barack Obama"]
    names = [(r["name"], r["facerec"]) for r in read_face_regions(sidecar)["regions"]]
    assert names == [("Aunt May", False), ("Joe Biden", True), ("Barack Obama", True)]
    assert "darktable:history" in sidecar.read_text(encoding="utf-8")  # the original prefix is kept

    # Next run: Biden is no longer recognised. Only facerec's own tag and region for him go.
    write_sidecars(photo, [REGIONS[1]], WIDTH, HEIGHT)
    tags = read_people_tags(sidecar)
    assert tags["dc:subject"] == ["holiday", "Barack Obama"]
    assert tags["digiKam:TagsList"] == ["People/Barack Obama"]
    assert tags["facerec:People"] == ["Barack Obama"]
    names = [r["name"] for r in read_face_regions(sidecar)["regions"]]
    assert names == ["Aunt May", "Barack Obama"]

    # And with nobody recognised, facerec's tags disappear, the user's stay.
    write_sidecars(photo, [], WIDTH, HEIGHT)
    tags = read_people_tags(sidecar)
    assert tags["dc:subject"] == ["holiday"] and "facerec:People" not in tags and "digiKam:TagsList" not in tags
    assert [r["name"] for r in read_face_regions(sidecar)["regions"]] == ["Aunt May"]


def test_rewriting_the_same_content_leaves_the_file_untouched(tmp_path):
    photo = tmp_path / "p.jpg"
    (sidecar,) = write_sidecars(photo, REGIONS, WIDTH, HEIGHT)
    first = sidecar.read_bytes()
    stamp = sidecar.stat().st_mtime_ns
    write_sidecars(photo, REGIONS, WIDTH, HEIGHT)
    assert sidecar.read_bytes() == first
    assert sidecar.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg.xmp"]  # no temporary files left behind


@pytest.mark.parametrize("content", [
    "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF",  # truncated
    "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'boom'>]><x>&a;</x>",  # entities: refused by defusedxml
    "just text",
])
def test_a_sidecar_that_cannot_be_parsed_is_never_overwritten(tmp_path, content):
    sidecar = tmp_path / "p.jpg.xmp"
    sidecar.write_text(content, encoding="utf-8")
    with pytest.raises(XmpError):
        write_sidecars(tmp_path / "p.jpg", REGIONS, WIDTH, HEIGHT)
    assert sidecar.read_text(encoding="utf-8") == content


def test_sidecar_naming_schemes(tmp_path):
    photo = tmp_path / "IMG_2.JPG"
    assert sidecar_paths(photo) == [tmp_path / "IMG_2.JPG.xmp"]
    assert sidecar_paths(photo, "lightroom") == [tmp_path / "IMG_2.xmp"]
    assert sidecar_paths(photo, "both") == [tmp_path / "IMG_2.JPG.xmp", tmp_path / "IMG_2.xmp"]
    with pytest.raises(ValueError):
        sidecar_paths(photo, "picasa")
    written = write_sidecars(photo, REGIONS, WIDTH, HEIGHT, naming="both")
    assert all(p.exists() for p in written) and len(written) == 2


def test_boxes_reaching_outside_the_image_are_clipped():
    x, y, w, h = normalised_area((-20, 1400, 100, 100), WIDTH, HEIGHT)
    assert (x - w / 2, y + h / 2) == pytest.approx((0.0, 1.0))
    assert w == pytest.approx(80 / WIDTH) and h == pytest.approx(28 / HEIGHT)
    assert xmp.pixel_box(normalised_area((10, 20, 30, 40), 100, 200), 100, 200) == pytest.approx((10, 20, 30, 40))


def test_regions_written_as_elements_by_other_tools_are_read():
    packet = f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF[1:-1]}">
      <rdf:Description rdf:about="" xmlns:mwg-rs="{MWG[1:-1]}" xmlns:stArea="{AREA[1:-1]}" xmlns:stDim="{DIM[1:-1]}">
       <mwg-rs:Regions rdf:parseType="Resource">
        <mwg-rs:AppliedToDimensions rdf:parseType="Resource"><stDim:w>4000</stDim:w><stDim:h>3000</stDim:h>
         <stDim:unit>pixel</stDim:unit></mwg-rs:AppliedToDimensions>
        <mwg-rs:RegionList><rdf:Bag><rdf:li rdf:parseType="Resource">
          <mwg-rs:Name>Jane</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>
          <mwg-rs:Area rdf:parseType="Resource"><stArea:x>0.5</stArea:x><stArea:y>0.25</stArea:y>
           <stArea:w>0.1</stArea:w><stArea:h>0.2</stArea:h><stArea:unit>normalized</stArea:unit></mwg-rs:Area>
        </rdf:li></rdf:Bag></mwg-rs:RegionList>
       </mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>""".encode()
    merged = merge_xmp(packet, [REGIONS[0]], 4000, 3000)
    root = ET.fromstring(merged.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])
    items = root.findall(f".//{MWG}RegionList/{RDF}Bag/{RDF}li")
    assert len(items) == 2  # Jane (kept, in her original spelling) + facerec's region
    assert items[0].find(f"{MWG}Name").text == "Jane"


def test_no_sidecar_is_created_for_a_photo_with_nobody_named(tmp_path):
    photo = tmp_path / "crowd.jpg"
    assert write_sidecars(photo, [REGIONS[2]], WIDTH, HEIGHT) == []
    assert list(tmp_path.iterdir()) == []
    # ...but an existing one is still merged, taking back what facerec wrote before
    (sidecar,) = write_sidecars(photo, REGIONS[:1], WIDTH, HEIGHT)
    write_sidecars(photo, [REGIONS[2]], WIDTH, HEIGHT)
    assert read_face_regions(sidecar)["regions"] == [] and read_people_tags(sidecar) == {}


def test_a_rerun_keeps_the_order_of_a_keyword_the_user_had_before_facerec_named_that_person(tmp_path):
    """Found by fuzzing: a person named by facerec who was already a keyword moved to the end of the list on the
    second run, so re-tagging an unchanged photo rewrote its sidecar."""
    user = (b'<x:xmpmeta xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
            b'syntax-ns#" xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description rdf:about=""><dc:subject><rdf:Bag>'
            b'<rdf:li>Alice</rdf:li><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF>'
            b'</x:xmpmeta>')
    regions = [FaceRegion(box=(0.1, 0.1, 0.3, 0.3), name="Alice", score=0.9)]
    first = merge_xmp(user, regions, 640, 480, label="a.jpg.xmp")
    assert merge_xmp(first, regions, 640, 480, label="a.jpg.xmp") == first
    sidecar = tmp_path / "a.jpg.xmp"
    sidecar.write_bytes(first)
    assert read_people_tags(sidecar)["dc:subject"] == ["Alice", "holiday"]  # the user's keywords, in their order


USER_TAGGED = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
  <dc:subject><rdf:Bag><rdf:li>Barack Obama</rdf:li></rdf:Bag></dc:subject>
  <lr:hierarchicalSubject><rdf:Bag><rdf:li>People|Barack Obama</rdf:li></rdf:Bag></lr:hierarchicalSubject>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_a_keyword_the_user_typed_is_never_taken_back_even_when_facerec_named_that_person_too(tmp_path):
    photo, sidecar = tmp_path / "p.jpg", tmp_path / "p.jpg.xmp"
    sidecar.write_text(USER_TAGGED, encoding="utf-8")
    write_sidecars(photo, REGIONS[:2], WIDTH, HEIGHT)  # facerec names Obama (already the user's) and Biden
    tags = read_people_tags(sidecar)
    assert tags["dc:subject"] == ["Barack Obama", "Joe Biden"]
    assert tags["digiKam:TagsList"] == ["People/Joe Biden", "People/Barack Obama"]
    write_sidecars(photo, [], WIDTH, HEIGHT)  # then nobody: forgotten, or a stricter threshold
    assert read_people_tags(sidecar) == {"dc:subject": ["Barack Obama"], "lr:hierarchicalSubject": ["People|Barack Obama"]}


def test_a_sidecar_of_an_older_facerec_proves_nothing_so_its_tags_are_kept(tmp_path):
    """Older facerecs recorded only facerec:People, which also listed keywords the user had typed."""
    sidecar = tmp_path / "p.jpg.xmp"
    sidecar.write_text(USER_TAGGED.replace(
        "</rdf:Description>", '<facerec:People xmlns:facerec="urn:facerec:xmp:1.0/"><rdf:Bag><rdf:li>Barack Obama'
                              '</rdf:li></rdf:Bag></facerec:People></rdf:Description>'), encoding="utf-8")
    write_sidecars(tmp_path / "p.jpg", [], WIDTH, HEIGHT)
    assert read_people_tags(sidecar) == {"dc:subject": ["Barack Obama"], "lr:hierarchicalSubject": ["People|Barack Obama"]}


def test_a_region_facerec_wrote_and_the_user_renamed_is_theirs(tmp_path):
    """digiKam shows facerec's unnamed regions as unknown faces to name: once named there, the region is the user's."""
    photo = tmp_path / "p.jpg"
    (sidecar,) = write_sidecars(photo, [REGIONS[0], REGIONS[2]], WIDTH, HEIGHT, include_unknown=True)
    root = parse(sidecar)
    unnamed = [d for d in root.iter(f"{RDF}Description") if d.get(f"{MWG}Type") == "Face" and not d.get(f"{MWG}Name")]
    unnamed[0].set(f"{MWG}Name", "Aunt May")
    sidecar.write_bytes(ET.tostring(root))
    write_sidecars(photo, [REGIONS[0]], WIDTH, HEIGHT)
    regions = read_face_regions(sidecar)["regions"]
    assert [(r["name"], r["facerec"]) for r in regions] == [("Aunt May", False), ("Joe Biden", True)]
    write_sidecars(photo, [], WIDTH, HEIGHT)
    assert [r["name"] for r in read_face_regions(sidecar)["regions"]] == ["Aunt May"]
