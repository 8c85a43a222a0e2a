"""facerec people — who is enrolled, with how many photos and face embeddings."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import print_json, print_table

DESCRIPTION = """List everyone in the gallery: name, enrolled photos, and photos with a face embedding
for the chosen --backbone. A person with 0 faces cannot be recognised, and the note says why: enrolled
with another backbone only (run `facerec enroll` again with this one), or no photo gave a face.
People hidden with `facerec hide` are left out unless --all. --json adds, per person: hidden, cover (their
cover face id), aliases (old folder names, from a rename or merge) and similar (names that differ only by
case or separators: candidates for `facerec merge`).

examples:
  facerec people
  facerec people --all --backbone resnet50 --json"""


def register(sub, common) -> None:
    p = sub.add_parser("people", parents=common, help="list enrolled people",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--all", action="store_true", help="hidden people too (`facerec hide`)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.store import Gallery

    from facerec.gallery.people_decisions import person_details

    if not args.gallery.exists():  # listing must not create an empty gallery file
        people, any_backbone, details = [], {}, {}
    else:
        with Gallery(args.gallery, create=False) as gallery:
            people = gallery.people(args.embedding)
            any_backbone = {p.name: p.faces for p in gallery.people()}
            details = person_details(gallery)
    hidden = [p for p in people if details.get(p.name, {}).get("hidden")]
    if not args.all:
        people = [p for p in people if p not in hidden]
    notes = {p.name: no_face_note(p, any_backbone.get(p.name, 0), args.backbone) for p in people}
    if args.json:
        print_json({"gallery": str(args.gallery), "backbone": args.backbone,
                    "people": [{"name": p.name, "photos": p.photos, "faces": p.faces, "note": notes[p.name],
                                **details.get(p.name, {})} for p in people]})
    elif people:
        print_table(["name", "photos", "faces", "note"],
                    [[p.name, p.photos, p.faces, person_note(p, hidden, notes, details)] for p in people])
    elif not hidden:
        print(f"nobody is enrolled in {args.gallery} (use `facerec enroll PEOPLE_DIR`)")
    if hidden and not args.all and not args.json:
        print(f"{len(hidden)} hidden (`facerec people --all` lists them)")
    return errors.EXIT_OK


def person_note(person, hidden: list, notes: dict[str, str], details: dict[str, dict]) -> str:
    similar = details.get(person.name, {}).get("similar", [])
    return "; ".join(filter(None, ["hidden" if person in hidden else "", notes[person.name],
                                   f"same name as {', '.join(similar)} but for case or separators: `facerec merge`?"
                                   if similar else ""]))


def no_face_note(person, faces_any_backbone: int, backbone: str) -> str:
    """Why a listed person cannot be recognised with this backbone ("" when they can)."""
    if person.faces:
        return ""
    if faces_any_backbone:
        return f"not recognised: enrolled with another backbone only (run `facerec enroll --backbone {backbone}`)"
    return "not recognised: no photo gave a face"
