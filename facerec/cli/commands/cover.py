"""facerec cover NAME FACE_ID — the face that stands for a person on the review page."""
from __future__ import annotations

import argparse

from facerec.cli.commands._people import EXIT_CODES, NAME_RULE, change

DESCRIPTION = f"""Choose NAME's cover face: FACE_ID is one of their faces from `facerec faces --person NAME`
(s<N>, an enrolled sample, or a<N>, an album face named after them). `facerec undo` takes it back.

{NAME_RULE}

examples:
  facerec faces --person "Aunt May"
  facerec cover "Aunt May" s12

{EXIT_CODES}"""


def register(sub, common) -> None:
    p = sub.add_parser("cover", parents=common, help="choose the face that stands for a person",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME")
    p.add_argument("face", metavar="FACE_ID")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.people_decisions import set_cover

    return change(args, lambda gallery: set_cover(gallery, args.name, args.face),
                  lambda r: f"{r['cover']} is the cover face of {r['person']} (step {r['step']})")
