"""facerec forget NAME — remove a person from the gallery and from everything derived from it."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import print_json
from facerec.names import printable

DESCRIPTION = """Remove NAME from the gallery with every photo record and face embedding of theirs, and
from everything derived from the gallery:
  - album faces that `tag` named as them (or that were named from a group) are deleted with their
    embeddings, so they cannot regroup as a group of unknown faces; re-run `facerec tag` (with --xmp)
    to update the outputs and sidecars (`tag --force` would find those faces again, as strangers);
  - every trained head of this gallery that can name them is deleted (retraining takes minutes:
    run `facerec train` again), and the output lists them;
  - their cached training embeddings (beside the gallery) are deleted;
  - the photos uploaded for them to `facerec serve` (the gallery's -uploads folder) are deleted.
The photo files are not touched: if NAME still has a folder in your PEOPLE_DIR, delete it too, or
the next `facerec enroll` brings them back. Heads saved elsewhere with `train --out` are not
touched.

exit code: 0 removed, 1 nobody called NAME."""


def register(sub, common) -> None:
    p = sub.add_parser("forget", parents=common, help="remove a person from the gallery",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.forget import forget_person
    from facerec.gallery.store import Gallery

    if not args.gallery.exists():
        raise errors.GalleryError(f"nobody called {printable(args.name)!r}: there is no gallery at {args.gallery}")
    with Gallery(args.gallery, create=False) as gallery:
        people = {p.name: p for p in gallery.people()}
        name = name_to_forget(args.name, people)
        report = forget_person(gallery, name) if name in people else None
    if report is None:
        raise errors.GalleryError(f"nobody called {printable(name)!r} in {args.gallery} (see `facerec people`)")
    if args.json:
        print_json({**report.to_dict(), "forgotten": printable(name)})
    else:
        print_report(report, args.gallery)
    return errors.EXIT_OK


def print_report(report, gallery) -> None:
    print(f"forgot {printable(report.name)}: {report.photos} photo(s) and their face embeddings removed from {gallery}")
    if report.album_faces:
        print(f"deleted {report.album_faces} album face(s) named {printable(report.name)} with their embeddings "
              "(re-run `facerec tag` to update its outputs and sidecars)")
    for head in report.heads_removed:
        print(f"deleted the trained head {head} (it could name them); run `facerec train` to train a new one")
    if report.cached_embeddings_removed:
        print(f"deleted {report.cached_embeddings_removed} cached training embedding(s) of their photos")
    if report.uploads_removed:
        print(f"deleted {report.uploads_removed} photo(s) uploaded for them to `facerec serve`")


def name_to_forget(raw: str, people: dict) -> str:
    """The validated name; a name that an older facerec let into the gallery can still be forgotten as it is."""
    from facerec.names import InvalidNameError, person_name

    try:
        return person_name(raw)
    except InvalidNameError:
        if raw in people:
            return raw
        raise
