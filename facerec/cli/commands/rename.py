"""facerec rename OLD NEW — give a person another name (one undo step)."""
from __future__ import annotations

import argparse

from facerec.cli.commands._people import EXIT_CODES, NAME_RULE, change

DESCRIPTION = f"""Call OLD NEW from now on: their samples, the album faces named after them, the decisions about
them, their cover face and hidden flag follow. Refused when NEW is someone else's name (or differs from it only
by case or separators): make one person of the two with `facerec merge`. A PEOPLE_DIR folder named OLD keeps
working: the next `facerec enroll` adds its photos to NEW. Run `facerec tag --xmp` again to rename them in the
sidecars (facerec's own keywords and regions only). `facerec undo` takes the rename back.

{NAME_RULE}

examples:
  facerec rename katy_perry "Katy Perry"

{EXIT_CODES}"""


def register(sub, common) -> None:
    p = sub.add_parser("rename", parents=common, help="give a person another name",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.people_decisions import rename

    return change(args, lambda gallery: rename(gallery, args.old, args.new),
                  lambda r: f"renamed {r['was']} to {r['person']} (step {r['step']})")
