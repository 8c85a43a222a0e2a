"""facerec people — who is enrolled, with how many photos and face embeddings."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import print_json, print_table

DESCRIPTION = """List everyone in the gallery: name, enrolled photos, and photos with a face embedding
for the chosen --backbone (a person enrolled with another backbone shows 0 faces here: run
`facerec enroll` again with this backbone).

examples:
  facerec people
  facerec people --backbone resnet50 --json"""


def register(sub, common) -> None:
    p = sub.add_parser("people", parents=common, help="list enrolled people",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.store import Gallery

    if not args.gallery.exists():  # listing must not create an empty gallery file
        people = []
    else:
        with Gallery(args.gallery, create=False) as gallery:
            people = gallery.people(args.embedding)
    if args.json:
        print_json({"gallery": str(args.gallery), "backbone": args.backbone,
                    "people": [{"name": p.name, "photos": p.photos, "faces": p.faces} for p in people]})
    elif people:
        print_table(["name", "photos", "faces"], [[p.name, p.photos, p.faces] for p in people])
    else:
        print(f"nobody is enrolled in {args.gallery} (use `facerec enroll PEOPLE_DIR`)")
    return errors.EXIT_OK
