"""Shared by the review commands that change the gallery (confirm, reject, rename, merge, hide, unhide, cover):
open the gallery, make the change (facerec.gallery.decisions, .people_decisions) and say what was done, or print
it as JSON."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from facerec import errors
from facerec.cli.commands._util import print_json


def change(args, make: Callable[[Any], dict[str, Any]], say: Callable[[dict[str, Any]], str]) -> int:
    """Run `make(gallery)` (one undo step) and print `say(result)`, the name-rule note and how to undo it."""
    from facerec.gallery.store import Gallery

    with Gallery(args.gallery, create=False) as gallery:
        result = make(gallery)
    if args.json:
        print_json(result)
        return errors.EXIT_OK
    if result.get("note"):
        print(result["note"])
    print(say(result))
    print("undo with `facerec undo`")
    return errors.EXIT_OK


EXIT_CODES = """exit code: 0 when done; 1 when a name or face id is unknown, or the change does not apply (nothing is
changed then); 2 for a name that cannot be a person's."""

NAME_RULE = """A name is found as it is written, or else as the one enrolled name it differs from only by case or
by ' ', '_', '-', '.' ("katy_perry" finds "Katy_Perry"; the output says so)."""
