"""facerec.names: the one rule for a person's name, wherever it enters."""
from __future__ import annotations

import unicodedata

import pytest

from facerec.names import InvalidNameError, person_name, printable


@pytest.mark.parametrize("raw", ["unknown\u200b", "Al\u200bice", "\ufeffBob", "Ca\u00adrol", "Da\u2060ve", "Eve\u200d"])
def test_invisible_format_characters_are_refused(raw):
    """`unknown\\u200b` would show as "unknown"; two names one zero-width space apart look the same."""
    with pytest.raises(InvalidNameError, match="invisible format characters") as caught:
        person_name(raw)
    assert "\\" in str(caught.value)  # the message shows where the invisible character is


def test_invisible_characters_are_shown_escaped():
    assert printable("unknown\u200b") == "unknown\\u200b"
    assert printable("José") == "José"


def test_names_are_stripped_and_nfc_normalised_where_they_enter():
    decomposed = unicodedata.normalize("NFD", "José")
    assert decomposed != "José"
    assert person_name(decomposed) == "José"
    assert person_name("  Alex \t") == "Alex"
