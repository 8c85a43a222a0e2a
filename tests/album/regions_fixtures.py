"""Photos with face regions written by the tests themselves: a real face photo from tests/data, stored
turned as a camera stores it (EXIF orientation), with an XMP packet embedded in a JPEG APP1 segment."""
from __future__ import annotations

import io
import struct
from pathlib import Path

from PIL import Image

DATA = Path(__file__).resolve().parents[1] / "data"
FACE_PHOTO = DATA / "album" / "obama.jpg"
# Obama's face in FACE_PHOTO as displayed (x, y, w, h), from MTCNN on this very file (rounded outward).
FACE_BOX = (229, 53, 149, 199)

# The transpose that undoes each orientation's display turn (Pillow's exif_transpose applies the inverse).
STORE_TRANSPOSE = {1: None, 3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def displayed_to_stored(box, size, orientation):
    """(x, y, w, h) normalised in the displayed frame -> normalised in the stored frame (independent of the
    code under test: the inverse of each turn written out)."""
    x, y, w, h = box
    corners = []
    for u, v in ((x, y), (x + w, y + h)):
        corners.append({1: (u, v), 3: (1 - u, 1 - v), 6: (v, 1 - u), 8: (1 - v, u)}[orientation])
    (u0, v0), (u1, v1) = corners
    return min(u0, u1), min(v0, v1), abs(u1 - u0), abs(v1 - v0)


def mwg_packet(regions, dims, *, mp=()) -> bytes:
    """An XMP packet with MWG regions [(name, (x, y, w, h) normalised top-left)] applied to `dims`, and MP
    regions [(name, (x, y, w, h))]."""
    items = "".join(f"""
      <rdf:li><rdf:Description mwg-rs:Name="{name}" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="{x + w / 2:.6f}" stArea:y="{y + h / 2:.6f}" stArea:w="{w:.6f}" stArea:h="{h:.6f}"
          stArea:unit="normalized"/></rdf:Description></rdf:li>""" for name, (x, y, w, h) in regions)
    mp_items = "".join(f"""
      <rdf:li MPReg:PersonDisplayName="{name}" MPReg:Rectangle="{x:.6f}, {y:.6f}, {w:.6f}, {h:.6f}"/>"""
                       for name, (x, y, w, h) in mp)
    mwg = f"""
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="{dims[0]}" stDim:h="{dims[1]}" stDim:unit="pixel"/>
    <mwg-rs:RegionList><rdf:Bag>{items}
    </rdf:Bag></mwg-rs:RegionList>
   </mwg-rs:Regions>""" if regions else ""
    mp_xml = f"""
   <MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>{mp_items}
   </rdf:Bag></MPRI:Regions></MP:RegionInfo>""" if mp else ""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:MP="http://ns.microsoft.com/photo/1.2/" xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
    xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">{mwg}{mp_xml}
  </rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>""".encode("utf-8")


def with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """`jpeg` with an APP1 segment holding `payload` right after SOI."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def turned_jpeg(orientation: int, source: Path = FACE_PHOTO) -> tuple[bytes, tuple[int, int]]:
    """The photo stored as a camera turned `orientation` would store it, and its displayed size."""
    with Image.open(source) as im:
        displayed = im.convert("RGB")
    stored = displayed if STORE_TRANSPOSE[orientation] is None else displayed.transpose(STORE_TRANSPOSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue(), displayed.size


def normalised(box, size):
    x, y, w, h = box
    return x / size[0], y / size[1], w / size[0], h / size[1]
