"""facerec people — who is enrolled, with how many photos and face embeddings."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import print_json, print_table

DESCRIPTION = """List everyone in the gallery: name, enrolled photos, and photos with a face embedding
for the chosen --backbone. A person with 0 faces cannot be recognised, and the note says why: enrolled
with another backbone only (run `facerec enroll` again with this one), or no photo gave a face.

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
        people, any_backbone = [], {}
    else:
        with Gallery(args.gallery, create=False) as gallery:
            people = gallery.people(args.embedding)
            any_backbone = {p.name: p.faces for p in gallery.people()}
    notes = {p.name: no_face_note(p, any_backbone.get(p.name, 0), args.backbone) for p in people}
    if args.json:
        print_json({"gallery": str(args.gallery), "backbone": args.backbone,
                    "people": [{"name": p.name, "photos": p.photos, "faces": p.faces, "note": notes[p.name]}
                               for p in people]})
    elif people:
        print_table(["name", "photos", "faces", "note"], [[p.name, p.photos, p.faces, notes[p.name]] for p in people])
    else:
        print(f"nobody is enrolled in {args.gallery} (use `facerec enroll PEOPLE_DIR`)")
    return errors.EXIT_OK


def no_face_note(person, faces_any_backbone: int, backbone: str) -> str:
    """Why a listed person cannot be recognised with this backbone ("" when they can)."""
    if person.faces:
        return ""
    if faces_any_backbone:
        return f"not recognised: enrolled with another backbone only (run `facerec enroll --backbone {backbone}`)"
    return "not recognised: no photo gave a face"
