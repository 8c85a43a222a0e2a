"""facerec move FACE_ID… --to NAME — album faces are someone else than they are named (one undo step)."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._people import EXIT_CODES, NAME_RULE
from facerec.cli.commands._util import print_json

DESCRIPTION = f"""Move album faces (a<N> from `facerec faces`) to NAME, someone enrolled: each face is rejected
as the name it carries now (tagging never gives it that name again) and confirmed as NAME (it keeps NAME
whatever the threshold), and a sample a named group made of it goes to NAME too -- all one step that
`facerec undo` takes back. Such a sample's own id (s<N>) moves it the same way; a photo enrolled from a folder
is refused (move the file to the other person's folder and run `facerec enroll`).

{NAME_RULE}

examples:
  facerec faces --person "Aunt May"
  facerec move a12 a15 --to "Aunt June"

{EXIT_CODES}"""


def register(sub, common) -> None:
    p = sub.add_parser("move", parents=common, help="move album faces to another person",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="+", metavar="FACE_ID")
    p.add_argument("--to", required=True, metavar="NAME", help="the person they are")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.people_decisions import move, person_named
    from facerec.gallery.store import Gallery

    with Gallery(args.gallery, create=False) as gallery:
        note = person_named(gallery._db, args.to).note
        moved = move(gallery, args.ids, args.to)
    if args.json:
        print_json({"moved": moved, "note": note})
        return errors.EXIT_OK
    if note:
        print(note)
    for m in moved:
        print(f"{m['face']}: moved from {m['from']} to {m['to']}")
    print(f"(step {moved[0]['step']}) undo with `facerec undo`")
    return errors.EXIT_OK
