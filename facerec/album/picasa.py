"""Picasa's face tags: ``.picasa.ini`` in each folder, names from Picasa's ``contacts.xml``.

A folder's ``.picasa.ini`` has one section per photo::

    [IMG_0042.jpg]
    faces=rect64(3f845bcb59418507),8e62398ebda8c1a5;rect64(...),ffffffffffffffff

``rect64(HEX)``: four 16-bit numbers (the hex string left-padded with zeros to 16 digits) -- left, top,
right, bottom, each divided by 65535 -- in the frame of the photo as displayed. After the comma the
contact id: ``ffffffffffffffff`` is a face nobody named. Names come from the ini's own ``[Contacts2]``
section (``id=Name;;``, written by later Picasa versions) and from Picasa's ``contacts.xml`` (given by
``--picasa-contacts``: it lives in Picasa's data folder, not beside the photos), which wins.

A file that cannot be read, or a ``faces`` entry that cannot be parsed, gives a problem line for the
photos concerned; the rest is used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as SafeET

from facerec.errors import EXIT_BAD_INPUT, FacerecError
from facerec.names import printable

UNNAMED_CONTACT = "ffffffffffffffff"
MAX_INI_BYTES = 16 * 1024 * 1024  # a .picasa.ini beyond this is not Picasa's
RECT64 = re.compile(r"^rect64\(([0-9a-fA-F]{1,16})\)$")
SECTION = re.compile(r"^\[(.*)\]$")


class PicasaContactsError(FacerecError):
    """The contacts.xml the user gave cannot be read: nothing is tagged or enrolled with half the names."""

    exit_code = EXIT_BAD_INPUT


@dataclass
class PicasaFolder:
    """One folder's .picasa.ini: the faces entry of each photo, and a problem that applies to all of them."""

    faces: dict[str, str] = field(default_factory=dict)  # photo file name (casefolded) -> the faces= value
    contacts: dict[str, str] = field(default_factory=dict)  # contact id -> name
    problem: str | None = None

    def regions_of(self, photo_name: str, problems: list[str]) -> list:
        """The regions of one photo (facerec.album.regions.RawRegion, displayed frame, normalised)."""
        if self.problem:
            problems.append(self.problem)
        entry = self.faces.get(photo_name.casefold())
        return [] if entry is None else parse_faces(entry, self.contacts, problems)


def parse_faces(entry: str, contacts: dict[str, str], problems: list[str]) -> list:
    from facerec.album.regions import RawRegion

    out = []
    for item in filter(None, (part.strip() for part in entry.split(";"))):
        rect, _, contact = item.partition(",")
        match = RECT64.match(rect.strip())
        if match is None:
            problems.append(f".picasa.ini: face entry {printable(item)[:80]!r} is not rect64(HEX),ID; ignored")
            continue
        left, top, right, bottom = rect64(match.group(1))
        contact = contact.strip().lower()
        name = None if not contact or contact == UNNAMED_CONTACT else contacts.get(contact)
        if contact and contact != UNNAMED_CONTACT and name is None:
            problems.append(f".picasa.ini: contact {printable(contact)!r} has no name (give Picasa's contacts.xml "
                            "with --picasa-contacts); the region is kept without a name")
        out.append(RawRegion((left, top, right - left, bottom - top), name, "picasa"))
    return out


def rect64(hex_digits: str) -> tuple[float, float, float, float]:
    """left, top, right, bottom (0..1) of a rect64 value."""
    value = int(hex_digits, 16)
    return tuple(((value >> shift) & 0xFFFF) / 65535.0 for shift in (48, 32, 16, 0))  # type: ignore[return-value]


def read_picasa_ini(path: Path, contacts: dict[str, str] | None = None) -> PicasaFolder:
    """A folder's .picasa.ini (an empty PicasaFolder when there is none)."""
    folder = PicasaFolder(contacts=dict(contacts or {}))
    try:
        if not path.is_file():
            return folder
        data = path.read_bytes()[:MAX_INI_BYTES + 1]
    except OSError as e:
        folder.problem = f".picasa.ini: cannot be read ({e.strerror or e}); its face tags are not used"
        return folder
    if len(data) > MAX_INI_BYTES or b"\x00" in data:
        folder.problem = ".picasa.ini: not a Picasa ini file (binary or too large); its face tags are not used"
        return folder
    text = data.decode("utf-8", errors="replace")
    parse_ini(text, folder, contacts or {})
    return folder


def parse_ini(text: str, folder: PicasaFolder, given_contacts: dict[str, str]) -> None:
    section = None
    ini_contacts: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        heading = SECTION.match(line)
        if heading:
            section = heading.group(1)
            continue
        key, eq, value = line.partition("=")
        if not eq or section is None:
            continue  # blank lines, comments and garbage outside a photo's section carry nothing we use
        if section.lower() == "contacts2":
            ini_contacts[key.strip().lower()] = value.split(";", 1)[0].strip()
        elif key.strip().lower() == "faces":
            folder.faces[section.casefold()] = value
    folder.contacts = {**ini_contacts, **given_contacts}


def read_contacts(path: str | Path) -> dict[str, str]:
    """contact id -> name from Picasa's contacts.xml; an unreadable file is an error (the user named it)."""
    path = Path(path)
    try:
        root = SafeET.fromstring(path.read_bytes())
    except OSError as e:
        raise PicasaContactsError(f"{path}: cannot read Picasa's contacts ({e.strerror or e})") from e
    except (SafeET.ParseError, ValueError) as e:
        raise PicasaContactsError(f"{path}: not a Picasa contacts.xml ({e})") from e
    out = {}
    for contact in root.iter("contact"):
        cid, name = contact.get("id"), contact.get("name") or contact.get("display")
        if cid and name:
            out[cid.strip().lower()] = name.strip()
    return out
