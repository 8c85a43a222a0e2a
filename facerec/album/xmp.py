"""XMP sidecars with face regions and person tags that photo managers read.

What facerec writes into a sidecar (and nothing else):

- Face regions in the Metadata Working Group format (MWG Guidelines for Handling Image Metadata 2.0,
  "Image Region Metadata")::

      mwg-rs:Regions
        mwg-rs:AppliedToDimensions  stDim:w, stDim:h, stDim:unit="pixel"
        mwg-rs:RegionList (rdf:Bag) of regions: mwg-rs:Name, mwg-rs:Type="Face",
          mwg-rs:Area  stArea:x, stArea:y (the CENTRE of the box), stArea:w, stArea:h,
                       all normalised to 0..1, stArea:unit="normalized"
          mwg-rs:Extensions  facerec:Source, facerec:Name (the name facerec wrote), facerec:Score: the region is
                             facerec's own while its mwg-rs:Name is still the one facerec wrote

  digiKam, Lightroom Classic, darktable, exiftool (``-RegionInfo``) and Picasa-era tools read these.
- Person tags: ``dc:subject`` (Bag: "Name"), ``lr:hierarchicalSubject`` (Bag: "People|Name"),
  ``digiKam:TagsList`` (Seq: "People/Name") and ``Iptc4xmpExt:PersonInImage`` (Bag: "Name").
- ``facerec:People`` (Bag): the names facerec recognised in the photo.
- ``facerec:AddedSubject``, ``facerec:AddedHierarchicalSubject``, ``facerec:AddedTagsList``,
  ``facerec:AddedPersonInImage`` (Bags): the exact values facerec itself added to each tag list, recorded
  when it added them. Only these are ever taken back (by a later run that no longer names the person: after
  `facerec forget`, a threshold change, a review action). A keyword that was in the list before facerec added
  it -- typed by you, or by another tool -- is never removed or renamed, even when facerec names that person too.
  (A sidecar written by a facerec older than this record proves nothing: its tags are all kept.)

Frame: as the MWG guidelines say, areas are normalised to the stored image (before EXIF orientation), and
AppliedToDimensions is its size -- except in a sidecar that already holds other tools' regions in the
displayed frame, as their AppliedToDimensions say (facerec.album.frames has the rule, the one
facerec.album.regions reads with): there facerec writes its regions in that frame too and keeps those
dimensions, so every region of the sidecar is read the same way.

``facerec tag --xmp`` writes a region for every face: named ones with their Name, unknown ones without,
which digiKam and other photo managers show as "unknown" faces to name there (`include_unknown=True`;
``--xmp-named-only`` writes named faces only). A face that a region of another tool (or of a person)
already covers -- the two overlap by at least half of the smaller one -- gets no second region.

Merging: an existing sidecar is parsed (defusedxml: no entities, no DTDs) and kept as it is --
other namespaces, darktable's history, your own keywords and face regions other tools drew -- except
facerec's own regions and the tags it recorded adding, which are replaced. A region facerec wrote and you
renamed (say an unknown face you named in digiKam) is yours from then on. A sidecar that is not well-formed
XML, or that is read-only, is never overwritten (`XmpError`). Files are written atomically (temporary file + os.replace), and the photo
itself is never opened for writing.

Sidecar names (`naming`):
- "darktable" (default): ``photo.jpg.xmp`` -- darktable's name and digiKam's default; cannot collide
  when ``photo.jpg`` and ``photo.png`` share a folder.
- "lightroom": ``photo.xmp`` -- Lightroom, exiftool and digiKam's "commercial programs" option.
- "both": write (merge into) both.
"""
from __future__ import annotations

import copy
import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import defusedxml.ElementTree as SafeET

from facerec.album.frames import TURNED, ImageFrame, displayed_to_stored, mwg_in_stored_frame
from facerec.files.atomic import atomic_write
from facerec.errors import FacerecError
from facerec.names import printable

X_NS = "adobe:ns:meta/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC_NS = "http://purl.org/dc/elements/1.1/"
LR_NS = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM_NS = "http://www.digikam.org/ns/1.0/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
MWG_RS_NS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA_NS = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM_NS = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
# facerec's own namespace: a URN, since facerec owns no web domain to put a schema on.
FACEREC_NS = "urn:facerec:xmp:1.0/"

NAMESPACES: dict[str, str] = {
    "x": X_NS,
    "rdf": RDF_NS,
    "dc": DC_NS,
    "lr": LR_NS,
    "digiKam": DIGIKAM_NS,
    "Iptc4xmpExt": IPTC_EXT_NS,
    "mwg-rs": MWG_RS_NS,
    "stArea": ST_AREA_NS,
    "stDim": ST_DIM_NS,
    "facerec": FACEREC_NS,
}
for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)

NAMINGS = ("darktable", "lightroom", "both")
PEOPLE_ROOT = "People"
XMP_TOOLKIT = "facerec"

# Person-tag lists: (namespace, property, rdf container, how a name is written into it).
TAG_LISTS: tuple[tuple[str, str, str, str], ...] = (
    (DC_NS, "subject", "Bag", "{name}"),
    (LR_NS, "hierarchicalSubject", "Bag", PEOPLE_ROOT + "|{name}"),
    (DIGIKAM_NS, "TagsList", "Seq", PEOPLE_ROOT + "/{name}"),
    (IPTC_EXT_NS, "PersonInImage", "Bag", "{name}"),
)


class XmpError(FacerecError):
    """A sidecar that exists but cannot be parsed: facerec leaves it alone rather than lose its content."""


@dataclass(frozen=True)
class FaceRegion:
    """One face to write: its box in pixels of the EXIF-rotated image, and a name (None = unknown)."""

    box: tuple[int, int, int, int]  # x, y, width, height
    name: str | None
    score: float | None = None


def q(ns: str, local: str) -> str:
    """ElementTree's {namespace}local name."""
    return f"{{{ns}}}{local}"


# Where facerec records the values it added to each tag list (see the module docstring).
ADDED_RECORD: dict[str, str] = {q(ns, prop): q(FACEREC_NS, "Added" + prop[0].upper() + prop[1:])
                                for ns, prop, _, _ in TAG_LISTS}


# --------------------------------------------------------------------------- names and geometry


def sidecar_paths(photo: str | Path, naming: str = "darktable") -> list[Path]:
    """Where the sidecar(s) of `photo` go for a naming scheme (see the module docstring)."""
    photo = Path(photo)
    if naming not in NAMINGS:
        raise ValueError(f"unknown XMP naming {naming!r}; choose one of {', '.join(NAMINGS)}")
    appended = photo.with_name(photo.name + ".xmp")
    replaced = photo.with_suffix(".xmp")
    return {"darktable": [appended], "lightroom": [replaced], "both": [appended, replaced]}[naming]


def shared_sidecar_photos(photos: Iterable[str | Path], naming: str) -> set[Path]:
    """Photos whose lightroom-style sidecar (photo.xmp) another photo would share: a.jpg and a.png."""
    if naming == "darktable":
        return set()
    by_sidecar: dict[str, list[Path]] = {}
    for photo in photos:
        photo = Path(photo)
        by_sidecar.setdefault(str(photo.with_suffix(".xmp")).casefold(), []).append(photo)
    return {p for group in by_sidecar.values() if len(group) > 1 for p in group}


def normalised_area(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """MWG stArea (x, y, w, h): the box clipped to the image, normalised to 0..1, x/y its CENTRE."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    x, y, w, h = (float(v) for v in box)
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    return ((x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height)


def pixel_box(area: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """Inverse of `normalised_area`: MWG (centre x, centre y, w, h) -> pixel (x, y, w, h)."""
    cx, cy, w, h = (float(v) for v in area)
    return ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)


# --------------------------------------------------------------------------- writing


def write_sidecars(
    photo: str | Path,
    regions: Iterable[FaceRegion],
    width: int,
    height: int,
    *,
    naming: str = "darktable",
    include_unknown: bool = False,
    orientation: int = 1,
) -> list[Path]:
    """Write or merge the sidecar(s) of `photo`; returns their paths (written, or already up to date).

    No sidecar is created for a photo with nothing to write (no region, no name); an existing one is
    still merged, so tags facerec wrote earlier are taken back.

    `width` and `height` are those of the EXIF-rotated image (what `facerec.vision.imageio.load_image`
    returns, and what the boxes refer to); `orientation` (the photo's EXIF orientation) turns them into the
    stored frame the MWG regions are written in (see the module docstring).
    """
    regions = [r for r in regions if r.name or include_unknown]
    written = []
    for path in sidecar_paths(photo, naming):
        existing = path.read_bytes() if path.exists() else None
        if existing is not None:
            refuse_read_only(path)
        if existing is None and not regions:
            continue  # nothing to say and nothing to take back: do not litter the album with empty sidecars
        packet = merge_xmp(existing, regions, width, height, label=str(path), orientation=orientation)
        if packet != existing:  # unchanged sidecars keep their mtime: photo managers need not re-read them
            atomic_write(path, packet)
        written.append(path)
    return written


def refuse_read_only(path: Path) -> None:
    """XmpError for a sidecar someone made read-only: replacing it by a rename would ignore their choice."""
    if not path.stat().st_mode & 0o222 or not os.access(path, os.W_OK):
        raise XmpError(f"{path}: existing sidecar is read-only; left unchanged")


def merge_xmp(
    existing: bytes | None, regions: Sequence[FaceRegion], width: int, height: int, *, label: str = "<xmp>",
    orientation: int = 1,
) -> bytes:
    """A complete XMP packet: `existing` (or an empty packet) with facerec's regions and tags replaced."""
    # a name with control characters (let in by an older facerec) would make the sidecar invalid XML
    regions = [replace(r, name=printable(r.name)) if r.name else r for r in regions]
    root = parse_packet(existing, label) if existing else new_packet()
    rdf = find_rdf(root, label)
    previously_added = take_facerec_record(rdf)
    tags = take_tag_lists(rdf)
    kept_regions, kept_dims = take_regions(rdf)
    target = target_description(rdf)

    names = unique(r.name for r in regions if r.name)
    added: dict[str, list[str]] = {}
    for ns, prop, container, pattern in TAG_LISTS:
        key = q(ns, prop)
        wanted = [pattern.format(name=n) for n in names]
        present = unique(tags.get(key, []))
        ours = set(previously_added.get(key, [])) & set(present)
        # the values facerec did not add are someone else's: never taken back, never claimed
        theirs = set(present) - ours
        # facerec's values of the last run go, except those named again: they keep their place, so a re-run
        # writes the same sidecar
        values = unique([v for v in present if v in theirs or v in wanted] + wanted)
        if values:
            target.append(list_property(key, container, values))
        added[key] = [v for v in wanted if v not in theirs]
    if names:
        target.append(list_property(q(FACEREC_NS, "People"), "Bag", names))
    for key, values in added.items():
        if values:
            target.append(list_property(ADDED_RECORD[key], "Bag", values))

    stored_size = (height, width) if orientation in TURNED else (width, height)
    frame = ImageFrame(*stored_size, orientation)
    displayed = bool(kept_regions) and not mwg_in_stored_frame(applied_size(kept_dims), frame)
    write_orientation = None if displayed else orientation
    # a face another tool's (or a person's) region already covers gets no second region
    taken = [area for area in (region_area(li) for li in kept_regions) if area is not None]
    regions = [r for r in regions
               if not any(covers(area, written_area(r, width, height, write_orientation)) for area in taken)]
    all_regions = kept_regions + [region_item(r, width, height, write_orientation) for r in regions]
    if all_regions:
        target.append(regions_property(all_regions, *stored_size, kept_dims if displayed or not regions else None))
    return serialise(root)


def parse_packet(data: bytes, label: str) -> ET.Element:
    """Parse an existing sidecar safely, keeping the namespace prefixes it used for when it is written back."""
    try:
        prefixes = [ns for _, ns in SafeET.iterparse(io.BytesIO(data), events=("start-ns",))]
        root = SafeET.fromstring(data)
    except (ET.ParseError, ValueError) as e:  # defusedxml's refusals (entities, DTDs) are ValueErrors
        raise XmpError(f"{label}: existing sidecar is not valid XML ({e}); left unchanged") from e
    own_uris = set(NAMESPACES.values())
    for prefix, uri in prefixes:
        if prefix and uri not in own_uris and prefix not in NAMESPACES:
            try:
                ET.register_namespace(prefix, uri)
            except ValueError:  # ElementTree refuses prefixes like "ns0"; it will invent one
                pass
    return root


def new_packet() -> ET.Element:
    root = ET.Element(q(X_NS, "xmpmeta"), {q(X_NS, "xmptk"): XMP_TOOLKIT})
    ET.SubElement(root, q(RDF_NS, "RDF"))
    return root


def find_rdf(root: ET.Element, label: str) -> ET.Element:
    if root.tag == q(RDF_NS, "RDF"):
        return root
    rdf = root.find(q(RDF_NS, "RDF"))
    if rdf is None:
        raise XmpError(f"{label}: existing sidecar has no rdf:RDF element; left unchanged")
    return rdf


def descriptions(rdf: ET.Element) -> list[ET.Element]:
    return rdf.findall(q(RDF_NS, "Description"))


def target_description(rdf: ET.Element) -> ET.Element:
    """The top-level rdf:Description facerec writes into (the first one; created if there is none)."""
    found = descriptions(rdf)
    if found:
        return found[0]
    return ET.SubElement(rdf, q(RDF_NS, "Description"), {q(RDF_NS, "about"): ""})


def take_facerec_record(rdf: ET.Element) -> dict[str, list[str]]:
    """Remove every facerec:* property; return the values facerec recorded adding, by tag-list property."""
    tag_list_of = {record: key for key, record in ADDED_RECORD.items()}
    added: dict[str, list[str]] = {}
    for desc in descriptions(rdf):
        for key in [k for k in desc.attrib if k.startswith("{" + FACEREC_NS)]:
            del desc.attrib[key]
        for child in list(desc):
            if child.tag.startswith("{" + FACEREC_NS):
                if child.tag in tag_list_of:
                    added.setdefault(tag_list_of[child.tag], []).extend(list_items(child))
                desc.remove(child)
    return added


def take_tag_lists(rdf: ET.Element) -> dict[str, list[str]]:
    """Remove the person-tag list properties from every description; return their items by property."""
    keys = {q(ns, prop) for ns, prop, _, _ in TAG_LISTS}
    found: dict[str, list[str]] = {}
    for desc in descriptions(rdf):
        for child in list(desc):
            if child.tag in keys:
                found.setdefault(child.tag, []).extend(list_items(child))
                desc.remove(child)
    return found


def take_regions(rdf: ET.Element) -> tuple[list[ET.Element], ET.Element | None]:
    """Remove mwg-rs:Regions; return the region items that are not facerec's and the old AppliedToDimensions."""
    kept: list[ET.Element] = []
    dims = None
    for desc in descriptions(rdf):
        for child in list(desc):
            if child.tag != q(MWG_RS_NS, "Regions"):
                continue
            body = struct_body(child)
            dims = body.find(q(MWG_RS_NS, "AppliedToDimensions")) if dims is None else dims
            region_list = body.find(q(MWG_RS_NS, "RegionList"))
            if region_list is not None:
                kept.extend(li for li in container_items(region_list) if not is_facerec_region(li))
            desc.remove(child)
    return kept, dims


def struct_body(prop: ET.Element) -> ET.Element:
    """The element holding a struct's fields: the property itself (parseType="Resource") or its rdf:Description."""
    inner = prop.find(q(RDF_NS, "Description"))
    return inner if inner is not None else prop


def container_items(prop: ET.Element) -> list[ET.Element]:
    for kind in ("Bag", "Seq", "Alt"):
        container = prop.find(q(RDF_NS, kind))
        if container is not None:
            return container.findall(q(RDF_NS, "li"))
    return []


def list_items(prop: ET.Element) -> list[str]:
    return [(li.text or "").strip() for li in container_items(prop) if (li.text or "").strip()]


def is_facerec_region(li: ET.Element) -> bool:
    """A region facerec wrote (its extension marks it) and nobody renamed since (the name is the one it recorded;
    regions of a facerec older than that record count as facerec's)."""
    marked = any(
        el.tag.startswith("{" + FACEREC_NS) or any(k.startswith("{" + FACEREC_NS) for k in el.attrib)
        for el in li.iter()
    )
    if not marked:
        return False
    written = next((field(el, FACEREC_NS, "Name") for el in li.iter() if field(el, FACEREC_NS, "Name") is not None),
                   None)
    return written is None or written == (field(struct_body(li), MWG_RS_NS, "Name") or "")


def list_property(key: str, container: str, values: Iterable[str]) -> ET.Element:
    prop = ET.Element(key)
    holder = ET.SubElement(prop, q(RDF_NS, container))
    for value in values:
        ET.SubElement(holder, q(RDF_NS, "li")).text = value
    return prop


def applied_size(dims: ET.Element | None) -> tuple[float, float] | None:
    """(w, h) of an mwg-rs:AppliedToDimensions element, or None."""
    if dims is None:
        return None
    body = struct_body(dims)
    try:
        w, h = float(field(body, ST_DIM_NS, "w") or 0), float(field(body, ST_DIM_NS, "h") or 0)
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None


# Two regions are one face when they overlap by at least this share of the smaller one (tools draw a face's box
# a little differently; two people's faces hardly overlap at all).
SAME_FACE_OVERLAP = 0.5


def region_area(li: ET.Element) -> tuple[float, float, float, float] | None:
    """A region item's normalised (centre x, centre y, w, h), or None when it has no usable normalised area."""
    region = read_region(li)
    coords = tuple(region[k] for k in ("x", "y", "w", "h"))
    if region["unit"] not in (None, "normalized") or any(v is None for v in coords):
        return None
    return coords  # type: ignore[return-value]


def covers(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when the normalised areas a and b (centre x, centre y, w, h) overlap by SAME_FACE_OVERLAP of the smaller."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    ix = max(0.0, min(ax + aw / 2, bx + bw / 2) - max(ax - aw / 2, bx - bw / 2))
    iy = max(0.0, min(ay + ah / 2, by + bh / 2) - max(ay - ah / 2, by - bh / 2))
    smaller = min(aw * ah, bw * bh)
    return smaller > 0 and ix * iy >= SAME_FACE_OVERLAP * smaller


def written_area(region: FaceRegion, width: int, height: int,
                 stored_orientation: int | None = None) -> tuple[float, float, float, float]:
    """The normalised (centre x, centre y, w, h) facerec writes for a displayed-frame `region`: in the stored frame
    of a photo with `stored_orientation`, or left in the displayed frame (None)."""
    x, y, w, h = normalised_area(region.box, width, height)
    if stored_orientation is not None:
        left, top, w, h = displayed_to_stored((x - w / 2, y - h / 2, w, h), stored_orientation)
        x, y = left + w / 2, top + h / 2
    return x, y, w, h


def region_item(region: FaceRegion, width: int, height: int, stored_orientation: int | None = None) -> ET.Element:
    """An MWG region of the displayed image, written in the stored frame of a photo with `stored_orientation`
    (None: left in the displayed frame)."""
    li = ET.Element(q(RDF_NS, "li"))
    attrs = {q(MWG_RS_NS, "Type"): "Face"}
    if region.name:
        attrs = {q(MWG_RS_NS, "Name"): region.name, **attrs}
    desc = ET.SubElement(li, q(RDF_NS, "Description"), attrs)
    x, y, w, h = written_area(region, width, height, stored_orientation)
    ET.SubElement(desc, q(MWG_RS_NS, "Area"), {
        q(ST_AREA_NS, "x"): f"{x:.6f}", q(ST_AREA_NS, "y"): f"{y:.6f}",
        q(ST_AREA_NS, "w"): f"{w:.6f}", q(ST_AREA_NS, "h"): f"{h:.6f}",
        q(ST_AREA_NS, "unit"): "normalized",
    })
    # MWG puts tool-specific fields in Extensions; ours also marks the region as facerec's to replace next time.
    ext = {q(FACEREC_NS, "Source"): "facerec", q(FACEREC_NS, "Name"): region.name or ""}
    if region.score is not None:
        ext[q(FACEREC_NS, "Score")] = f"{float(region.score):.4f}"
    ET.SubElement(desc, q(MWG_RS_NS, "Extensions"), ext)
    return li


def regions_property(items: list[ET.Element], width: int, height: int, old_dims: ET.Element | None) -> ET.Element:
    regions = ET.Element(q(MWG_RS_NS, "Regions"), {q(RDF_NS, "parseType"): "Resource"})
    if old_dims is not None:  # other tools' regions whose frame is kept: keep the dimensions they were drawn on
        regions.append(copy.deepcopy(old_dims))
    else:
        ET.SubElement(regions, q(MWG_RS_NS, "AppliedToDimensions"), {
            q(ST_DIM_NS, "w"): str(int(width)), q(ST_DIM_NS, "h"): str(int(height)), q(ST_DIM_NS, "unit"): "pixel",
        })
    bag = ET.SubElement(ET.SubElement(regions, q(MWG_RS_NS, "RegionList")), q(RDF_NS, "Bag"))
    bag.extend(items)
    return regions


def serialise(root: ET.Element) -> bytes:
    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="unicode")
    packet = f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>\n'
    return packet.encode("utf-8")


def unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


# --------------------------------------------------------------------------- reading


def read_face_regions(sidecar: str | Path) -> dict:
    """Regions of a sidecar: {'width', 'height', 'regions': [{name, type, x, y, w, h, unit, facerec}]}.

    Reads both spellings tools use (fields as attributes or as child elements).
    """
    data = Path(sidecar).read_bytes()
    rdf = find_rdf(parse_packet(data, str(sidecar)), str(sidecar))
    out: dict = {"width": None, "height": None, "regions": []}
    for desc in descriptions(rdf):
        for regions in desc.findall(q(MWG_RS_NS, "Regions")):
            body = struct_body(regions)
            dims = body.find(q(MWG_RS_NS, "AppliedToDimensions"))
            if dims is not None:
                dims = struct_body(dims)
                out["width"] = int(float(field(dims, ST_DIM_NS, "w") or 0)) or None
                out["height"] = int(float(field(dims, ST_DIM_NS, "h") or 0)) or None
            region_list = body.find(q(MWG_RS_NS, "RegionList"))
            for li in container_items(region_list) if region_list is not None else []:
                out["regions"].append(read_region(li))
    return out


def read_region(li: ET.Element) -> dict:
    body = struct_body(li)
    area = body.find(q(MWG_RS_NS, "Area"))
    area = struct_body(area) if area is not None else None
    coords = {k: (float(field(area, ST_AREA_NS, k)) if area is not None and field(area, ST_AREA_NS, k) else None)
              for k in ("x", "y", "w", "h")}
    return {
        "name": field(body, MWG_RS_NS, "Name"),
        "type": field(body, MWG_RS_NS, "Type"),
        **coords,
        "unit": field(area, ST_AREA_NS, "unit") if area is not None else None,
        "facerec": is_facerec_region(li),
    }


def field(el: ET.Element, ns: str, local: str) -> str | None:
    """A struct field written either as an attribute or as a child element."""
    key = q(ns, local)
    if key in el.attrib:
        return el.attrib[key]
    child = el.find(key)
    return None if child is None else (child.text or "").strip()


def read_people_tags(sidecar: str | Path) -> dict[str, list[str]]:
    """The person-tag lists of a sidecar, keyed 'dc:subject', 'lr:hierarchicalSubject', ..., 'facerec:People'."""
    data = Path(sidecar).read_bytes()
    rdf = find_rdf(parse_packet(data, str(sidecar)), str(sidecar))
    prefix_of = {uri: prefix for prefix, uri in NAMESPACES.items()}
    wanted = [(ns, prop) for ns, prop, _, _ in TAG_LISTS] + [(FACEREC_NS, "People")]
    out: dict[str, list[str]] = {}
    for desc in descriptions(rdf):
        for ns, prop in wanted:
            for el in desc.findall(q(ns, prop)):
                out.setdefault(f"{prefix_of[ns]}:{prop}", []).extend(list_items(el))
    return out
