"""facerec merge FROM INTO — make one person of two (one undo step)."""
from __future__ import annotations

import argparse

from facerec.cli.commands._people import EXIT_CODES, NAME_RULE, change

DESCRIPTION = f"""FROM and INTO are one person, called INTO: FROM's samples, the album faces named or assigned
FROM, the decisions about FROM and FROM's old folder names move to INTO, and FROM is gone. A PEOPLE_DIR folder
named FROM keeps working: the next `facerec enroll` adds its photos to INTO. `facerec undo` brings FROM back with
exactly what was theirs. `facerec people --json` lists `similar` names (differing only by case or separators):
the usual candidates.

{NAME_RULE}

examples:
  facerec merge katy_perry "Katy Perry"

{EXIT_CODES}"""


def register(sub, common) -> None:
    p = sub.add_parser("merge", parents=common, help="make one person of two",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="FROM")
    p.add_argument("into", metavar="INTO")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.people_decisions import merge

    return change(args, lambda gallery: merge(gallery, args.source, args.into),
                  lambda r: f"merged {r['merged']} into {r['person']}: {r['photos']} sample photo(s), "
                            f"{r['album_faces']} album face(s) (step {r['step']})")
