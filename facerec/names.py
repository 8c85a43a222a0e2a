"""Person names and file names that came from outside: one validator, one way to print them.

A person's name enters facerec in three places -- a PEOPLE_DIR folder (`enroll`), `facerec name`
and `facerec forget` -- and ends up in the gallery, CSV files, terminal tables and XMP sidecars
(where a control character makes the file invalid XML and '/' or '|' splits a tag hierarchy).
`person_name` checks it once, where it enters; `Gallery` calls it again before any insert.

File names on Linux are bytes: Python hands the ones that are not UTF-8 over as strings with
lone surrogates, which SQLite, JSON and the terminal refuse. `is_utf8` finds them; `printable`
turns any string into something every output can carry.
"""
from __future__ import annotations

import unicodedata

from facerec.errors import EXIT_USAGE, GalleryError
from facerec.types import UNKNOWN

MAX_NAME_LENGTH = 100  # characters; a folder name is at most 255 bytes anyway
# Words facerec itself prints in the name column: a person called that would be indistinguishable.
RESERVED_NAMES = frozenset({UNKNOWN, "no_faces_found"})
# Separators of photo managers' tag hierarchies (People|Name, People/Name) and of paths.
SEPARATORS = frozenset("/\\|")
# Unicode bidirectional overrides/isolates: they make a name display as something else.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class InvalidNameError(GalleryError):  # a GalleryError too: the gallery refuses such names
    exit_code = EXIT_USAGE


def person_name(raw: str) -> str:
    """`raw` stripped and NFC-normalised, or InvalidNameError saying what is wrong with it."""
    if not is_utf8(raw):
        raise InvalidNameError(f"{printable(raw)!r} is not valid UTF-8; rename it")
    name = unicodedata.normalize("NFC", raw.strip())
    problem = name_problem(name)
    if problem:
        raise InvalidNameError(f"{printable(raw)!r} cannot be a person's name: {problem}")
    return name


def name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if name.casefold() in RESERVED_NAMES:
        return "the word is reserved for faces that match nobody"
    if name.startswith("."):
        return "it starts with '.' (hidden)"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is longer than {MAX_NAME_LENGTH} characters"
    if any(c in SEPARATORS for c in name):
        return "it contains '/', '\\' or '|' (tag hierarchy separators)"
    if any(is_control(c) for c in name):
        return "it contains control characters"
    if any(is_invisible(c) for c in name):
        return "it contains invisible format characters (such as a zero-width space)"
    return None


def is_control(char: str) -> bool:
    """Control characters, lone surrogates, non-characters (invalid in XML) and bidi overrides."""
    return unicodedata.category(char) in ("Cc", "Cs") or char in ("\ufffe", "\uffff") or char in BIDI_CONTROLS


def is_invisible(char: str) -> bool:
    """Unicode format characters (category Cf: zero-width spaces and joiners, soft hyphens, word joiners...):
    `unknown\u200b` displays as "unknown", and two names differing only by one look the same."""
    return unicodedata.category(char) == "Cf"


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """`text` with undecodable bytes as \\xNN and control characters as escapes: safe for a terminal,
    a CSV cell, JSON and SQLite, and still recognisable."""
    if is_utf8(text) and not any(is_control(c) or is_invisible(c) for c in text):
        return text
    try:  # surrogates from a non-UTF-8 file name give back their bytes, shown as \xNN
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # any other lone surrogate
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c.encode("unicode_escape").decode("ascii") if is_control(c) or is_invisible(c) else c
                   for c in text)


# Characters that only separate the words of a name: "katy_perry", "Katy Perry" and "katy-perry" are one name.
WORD_SEPARATORS = frozenset(" _-.")


def name_key(name: str) -> str:
    """What two names that differ only by case or word separators share: "Katy_Perry" and "katy perry" ->
    "katyperry". facerec.gallery.people_decisions resolves a typed name by it, and lists people whose keys are
    equal as `similar` (merge candidates)."""
    normal = unicodedata.normalize("NFC", name.strip()).casefold()
    return "".join(c for c in normal if c not in WORD_SEPARATORS and not c.isspace())
