"""facerec forget NAME — remove a person, their photos and embeddings from the gallery."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.commands._util import print_json
from facerec.names import printable

DESCRIPTION = """Remove NAME from the gallery with every photo record and face embedding of theirs.
Faces that `tag` had assigned to them become unassigned. The photo files are not touched: if
NAME still has a folder in your PEOPLE_DIR, delete it too, or the next `facerec enroll` brings
them back.

exit code: 0 removed, 1 nobody called NAME."""


def register(sub, common) -> None:
    p = sub.add_parser("forget", parents=common, help="remove a person from the gallery",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery import Gallery

    if not args.gallery.exists():
        raise errors.GalleryError(f"nobody called {printable(args.name)!r}: there is no gallery at {args.gallery}")
    with Gallery(args.gallery, create=False) as gallery:
        people = {p.name: p for p in gallery.people()}
        name = name_to_forget(args.name, people)
        person = people.get(name)
        removed = person is not None and gallery.forget(name)
    if not removed:
        raise errors.GalleryError(f"nobody called {printable(name)!r} in {args.gallery} (see `facerec people`)")
    if args.json:
        print_json({"forgotten": printable(name), "photos": person.photos, "faces": person.faces})
    else:
        print(f"forgot {printable(name)}: {person.photos} photo(s) and their face embeddings removed from {args.gallery}")
    return errors.EXIT_OK


def name_to_forget(raw: str, people: dict) -> str:
    """The validated name; a name that an older facerec let into the gallery can still be forgotten as it is."""
    from facerec.names import InvalidNameError, person_name

    try:
        return person_name(raw)
    except InvalidNameError:
        if raw in people:
            return raw
        raise
