"""facerec hide NAME — leave a person out of `facerec people` and the review page (still recognised)."""
from __future__ import annotations

import argparse

from facerec.cli.commands._people import EXIT_CODES, NAME_RULE, change

DESCRIPTION = f"""Hide NAME: left out of `facerec people` and the review page's people unless asked for
(`facerec people --all`), still recognised everywhere. `facerec unhide NAME` or `facerec undo` shows them again.

{NAME_RULE}

examples:
  facerec hide "Mail carrier"

{EXIT_CODES}"""


def register(sub, common) -> None:
    p = sub.add_parser("hide", parents=common, help="hide a person from the lists (still recognised)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.people_decisions import set_hidden

    return change(args, lambda gallery: set_hidden(gallery, args.name, True),
                  lambda r: f"{r['person']} is hidden (still recognised; `facerec people --all` lists them) "
                            f"(step {r['step']})")
