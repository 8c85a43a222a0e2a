"""Face regions a photo already carries -- the user's own tags, which outrank facerec's guesses.

Read (never written) from, in this order of precedence:

1. XMP sidecars beside the photo, both names facerec's writer uses: ``photo.jpg.xmp`` and ``photo.xmp``;
2. the XMP packet embedded in the photo (facerec.album.embedded_xmp: JPEG incl. extended XMP, PNG, TIFF, WebP);
3. Picasa's ``.picasa.ini`` in the photo's folder (facerec.album.picasa).

In XMP two schemas are read:

- MWG regions (``mwg-rs:Regions``, MWG Guidelines 2.0): ``stArea`` x, y = the box's CENTRE, w, h, normalised
  to 0..1, with ``mwg-rs:AppliedToDimensions``. Regions of another ``mwg-rs:Type`` than Face (Pet, Focus,
  BarCode) are ignored, and so are facerec's own regions (``facerec:`` extension): they are its guesses.
- Microsoft Photo regions (``MP:RegionInfo/MPRI:Regions``, Windows Photo Gallery): ``MPReg:Rectangle``
  "x, y, w, h" with x, y the TOP-LEFT corner, normalised, and ``MPReg:PersonDisplayName``.

Frames. Every box is returned in pixels of the image as displayed (EXIF orientation applied: what
facerec.vision.imageio.load_image returns). Programs disagree about the frame of MWG areas, and real files
hold MWG areas in the stored (unrotated) frame beside MP rectangles in the displayed one, so per file
(facerec.album.frames, the rule facerec's sidecar writer follows too):

- MWG: the stored frame, turned with the photo (MWG Guidelines 2.0: "Region metadata is applied to the stored
  image"), except where ``AppliedToDimensions`` has the shape of the displayed image and not of the stored
  one (a photo turned by 90 degrees, orientations 5-8): then the areas are taken as they are, in the
  displayed frame. With orientations 2-4 (same shape both ways) or no AppliedToDimensions, the stored frame.
- MP rectangles and Picasa's rect64: always the displayed frame.

Bad regions never stop anything: a region outside the picture, of zero or negative size or with
unreadable numbers, an unknown orientation value, a name that cannot be a person's name (facerec.names)
or a sidecar that is not XML each give a problem line for the photo (`PhotoRegions.problems`); the rest
is used. A region partly outside the picture is clipped to it.
"""
from __future__ import annotations

import io
import math
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

import defusedxml.ElementTree as SafeET

from facerec.album.xmp import (MWG_RS_NS, ST_AREA_NS, XmpError, applied_size, container_items, descriptions, field as xmp_field,
                               find_rdf, is_facerec_region, q, sidecar_paths, struct_body)
from facerec.album.frames import ORIENTATIONS, ImageFrame, mwg_in_stored_frame, stored_to_displayed
from facerec.names import InvalidNameError, person_name, printable
from facerec.types import box_iou

MP_NS = "http://ns.microsoft.com/photo/1.2/"
MPRI_NS = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
MPREG_NS = "http://ns.microsoft.com/photo/1.2/t/Region#"

DUPLICATE_IOU = 0.5  # two regions overlapping this much are one face (digiKam writes MWG and MP of each)


@dataclass(frozen=True)
class TaggedRegion:
    """One face region a person drew: its box in pixels of the displayed image, and the name given (or None)."""

    box: tuple[float, float, float, float]  # x, y, width, height
    name: str | None
    schema: str  # "mwg", "mp" or "picasa"
    origin: str  # where it was read: the sidecar's or .picasa.ini's file name, or "embedded"

    def int_box(self) -> tuple[int, int, int, int]:
        x, y, w, h = self.box
        x0, y0 = int(round(x)), int(round(y))
        return x0, y0, max(1, int(round(x + w)) - x0), max(1, int(round(y + h)) - y0)

    def to_dict(self) -> dict:
        return {"box": list(self.int_box()), "name": self.name, "schema": self.schema, "origin": self.origin}


@dataclass
class PhotoRegions:
    """The regions of one photo (displayed frame) and what could not be used, with why."""

    width: int = 0  # displayed size
    height: int = 0
    orientation: int = 1  # EXIF orientation (1 where unknown)
    regions: list[TaggedRegion] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def named(self) -> list[TaggedRegion]:
        return [r for r in self.regions if r.name]


# --------------------------------------------------------------------------- geometry


def clip_normalised(box: tuple[float, float, float, float]) -> tuple[float, float, float, float] | str:
    """The box clipped to the picture (0..1), or why it cannot be a face region."""
    x, y, w, h = box
    if not all(math.isfinite(v) for v in box):
        return "its numbers are not finite"
    if w <= 0 or h <= 0:
        return f"it has zero or negative size ({w:g} x {h:g})"
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, 1.0), min(y + h, 1.0)
    if x1 <= x0 or y1 <= y0:
        return "it lies outside the picture"
    return x0, y0, x1 - x0, y1 - y0


# --------------------------------------------------------------------------- XMP


@dataclass
class RawRegion:
    """A region as read: normalised (left, top, width, height) in the frame `stored` says."""

    box: tuple[float, float, float, float]
    name: str | None
    schema: str
    stored: bool = False  # True: the stored frame (MWG areas whose AppliedToDimensions say so)


def xmp_regions(packet: bytes, frame: ImageFrame, label: str, problems: list[str]) -> list[RawRegion]:
    """The MWG and MP face regions of an XMP packet (facerec's own regions left out)."""
    try:  # defusedxml: no entities, no DTDs; no namespace registration (worker threads read regions)
        root = SafeET.fromstring(packet)
    except (ET.ParseError, ValueError) as e:
        raise XmpError(f"{label}: not valid XML ({e}); its regions are not read") from e
    rdf = find_rdf(root, label)
    found: list[RawRegion] = []
    for desc in descriptions(rdf):
        for regions in desc.findall(q(MWG_RS_NS, "Regions")):
            found += mwg_regions(struct_body(regions), frame, label, problems)
        for info in desc.findall(q(MP_NS, "RegionInfo")):
            found += mp_regions(struct_body(info), label, problems)
    return found


def mwg_regions(body: ET.Element, frame: ImageFrame, label: str, problems: list[str]) -> list[RawRegion]:
    stored = mwg_in_stored_frame(applied_dimensions(body), frame)
    region_list = body.find(q(MWG_RS_NS, "RegionList"))
    out = []
    for li in container_items(region_list) if region_list is not None else []:
        if is_facerec_region(li):
            continue
        item = struct_body(li)
        kind = xmp_field(item, MWG_RS_NS, "Type")
        if kind and kind.strip().lower() != "face":
            continue
        area = item.find(q(MWG_RS_NS, "Area"))
        name = xmp_field(item, MWG_RS_NS, "Name")
        if area is None:
            problems.append(f"{label}: MWG region {printable(name or '(unnamed)')!r} has no area; ignored")
            continue
        area = struct_body(area)
        unit = (xmp_field(area, ST_AREA_NS, "unit") or "normalized").strip().lower()
        if unit != "normalized":
            problems.append(f"{label}: MWG region {printable(name or '(unnamed)')!r} has unit {unit!r}, "
                            "not 'normalized'; ignored")
            continue
        try:
            cx, cy, w, h = (float(xmp_field(area, ST_AREA_NS, k) or "nan") for k in ("x", "y", "w", "h"))
        except ValueError:
            problems.append(f"{label}: MWG region {printable(name or '(unnamed)')!r} has an area that is not "
                            "numbers; ignored")
            continue
        out.append(RawRegion((cx - w / 2, cy - h / 2, w, h), name, "mwg", stored))
    return out


def applied_dimensions(body: ET.Element) -> tuple[float, float] | None:
    return applied_size(body.find(q(MWG_RS_NS, "AppliedToDimensions")))


def mp_regions(body: ET.Element, label: str, problems: list[str]) -> list[RawRegion]:
    holder = body.find(q(MPRI_NS, "Regions"))
    out = []
    for li in container_items(holder) if holder is not None else []:
        item = struct_body(li)
        name = xmp_field(item, MPREG_NS, "PersonDisplayName")
        rect = xmp_field(item, MPREG_NS, "Rectangle")
        if not rect:
            continue  # a name without a rectangle: a person tag, not a region
        try:
            x, y, w, h = (float(v) for v in rect.split(","))
        except ValueError:
            problems.append(f"{label}: MP region {printable(name or '(unnamed)')!r} has rectangle "
                            f"{printable(rect)!r}, not 'x, y, w, h'; ignored")
            continue
        out.append(RawRegion((x, y, w, h), name, "mp"))
    return out


# --------------------------------------------------------------------------- one photo


class RegionReader:
    """Reads the regions of photos; holds Picasa's contacts and caches each folder's .picasa.ini."""

    def __init__(self, picasa_contacts: str | Path | None = None):
        from facerec.album.picasa import read_contacts

        self.contacts: dict[str, str] = read_contacts(picasa_contacts) if picasa_contacts else {}
        self._folders: dict[Path, object] = {}
        self._lock = threading.Lock()

    def picasa(self, folder: Path):
        from facerec.album.picasa import read_picasa_ini

        with self._lock:
            if folder not in self._folders:
                self._folders[folder] = read_picasa_ini(folder / ".picasa.ini", self.contacts)
            return self._folders[folder]

    def read(self, photo: str | Path, data: bytes | None = None) -> PhotoRegions:
        """The regions of `photo` (its bytes, when already read, save reading it again)."""
        photo = Path(photo)
        out = PhotoRegions()
        try:
            frame = image_frame(data if data is not None else photo.read_bytes(), out.problems, photo.suffix)
        except (OSError, ValueError, SyntaxError) as e:
            out.problems.append(f"cannot read the image's size for its face regions ({e})")
            return out
        out.width, out.height = frame.displayed
        out.orientation = frame.orientation
        raw: list[tuple[RawRegion, str]] = []
        for sidecar in sidecar_files(photo):
            raw += self._from_packet(lambda s=sidecar: s.read_bytes(), frame, sidecar.name, out.problems)
        raw += self._from_packet(lambda: embedded(photo, data), frame, "embedded", out.problems, many=True)
        picasa = self.picasa(photo.parent)
        raw += [(r, ".picasa.ini") for r in picasa.regions_of(photo.name, out.problems)]  # type: ignore[attr-defined]
        for region, origin in raw:
            placed = place(region, frame, origin, out.problems)
            if placed is not None:
                add_unique(out, placed)
        return out

    def _from_packet(self, read, frame: ImageFrame, label: str, problems: list[str],
                     many: bool = False) -> list[tuple[RawRegion, str]]:
        try:
            packets = read() if many else [read()]
        except OSError as e:
            problems.append(f"{label}: cannot read it ({e.strerror or e})")
            return []
        except ValueError as e:  # a broken JPEG / PNG structure where the XMP is
            problems.append(f"{label} XMP: {e}")
            return []
        out = []
        for packet in packets:
            try:
                out += [(r, label) for r in xmp_regions(packet, frame, label, problems)]
            except XmpError as e:
                problems.append(str(e).replace("; left unchanged", "; its regions are not read"))
            except RecursionError:  # absurdly nested XML
                problems.append(f"{label}: XML nested too deeply; its regions are not read")
        return out


def sidecar_files(photo: Path) -> list[Path]:
    return [p for p in sidecar_paths(photo, "both") if p.is_file()]


def embedded(photo: Path, data: bytes | None) -> list[bytes]:
    from facerec.album.embedded_xmp import embedded_packets

    return embedded_packets(data if data is not None else photo.read_bytes())


def image_frame(data: bytes, problems: list[str], suffix: str = "") -> ImageFrame:
    """Stored size and EXIF orientation from the header; an unknown orientation is read as 1, as the
    image decoder does, and reported."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format == "HEIF":  # pillow-heif turns the picture itself and resets the tag: facerec's loader knows
                raise UnidentifiedImageError("HEIF")
            width, height = im.size
            orientation = im.getexif().get(0x0112, 1)
    except UnidentifiedImageError:  # HEIF, RAW, or a format whose plugin is not loaded yet: facerec's own loader
        from facerec.errors import ImageError
        from facerec.vision.formats import image_info

        try:
            info = image_info(data, suffix)
        except ImageError as e:
            raise ValueError(str(e)) from e
        (width, height), orientation = info.stored_size, info.orientation
    if orientation not in ORIENTATIONS:
        problems.append(f"unknown EXIF orientation value {printable(str(orientation))!r}; the photo and its "
                        "regions are read as not rotated")
        orientation = 1
    return ImageFrame(width, height, int(orientation))


def photo_orientation(photo: str | Path) -> int:
    """The EXIF orientation of a photo (1 when missing, unknown or unreadable)."""
    try:
        return image_frame(Path(photo).read_bytes(), [], Path(photo).suffix).orientation
    except (OSError, ValueError, SyntaxError):
        return 1


def place(region: RawRegion, frame: ImageFrame, origin: str, problems: list[str]) -> TaggedRegion | None:
    """The region in pixels of the displayed image with a checked name, or None (and a problem) when unusable."""
    label = f"{origin}: {region.schema.upper()} region {printable(region.name or '(unnamed)')!r}"
    clipped = clip_normalised(region.box)  # checked as written, before any turn (which would hide a negative size)
    if not isinstance(clipped, str) and region.stored:
        clipped = stored_to_displayed(clipped, frame.orientation)
    if isinstance(clipped, str):
        problems.append(f"{label} ignored: {clipped}")
        return None
    name = region.name.strip() if region.name else None
    if name:
        try:
            name = person_name(name)
        except InvalidNameError as e:
            problems.append(f"{label}: {e}; the region is kept without a name")
            name = None
    width, height = frame.displayed
    x, y, w, h = clipped
    return TaggedRegion((x * width, y * height, w * width, h * height), name or None, region.schema, origin)


def add_unique(out: PhotoRegions, region: TaggedRegion) -> None:
    """Add `region` unless a region already read covers the same face (MWG and MP of one face, a sidecar
    and the embedded copy); the first read wins, a name fills an unnamed one, two names are a problem."""
    for i, kept in enumerate(out.regions):
        if box_iou(kept.box, region.box) < DUPLICATE_IOU:
            continue
        if kept.name is None and region.name:
            out.regions[i] = replace(kept, name=region.name)
        elif region.name and kept.name != region.name:
            out.problems.append(f"{region.origin}: {region.schema.upper()} region names {region.name!r} where "
                                f"{kept.origin} names {kept.name!r} for the same face; kept {kept.name!r}")
        return
    out.regions.append(region)


def read_regions(photo: str | Path, data: bytes | None = None, picasa_contacts: str | Path | None = None) -> PhotoRegions:
    """The regions of one photo (see RegionReader for many)."""
    return RegionReader(picasa_contacts).read(photo, data)

