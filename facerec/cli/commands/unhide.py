"""facerec unhide NAME — list a hidden person again."""
from __future__ import annotations

import argparse

from facerec.cli.commands._people import EXIT_CODES, NAME_RULE, change

DESCRIPTION = f"""Show NAME again in `facerec people` and the review page (see `facerec hide`).

{NAME_RULE}

examples:
  facerec unhide "Mail carrier"

{EXIT_CODES}"""


def register(sub, common) -> None:
    p = sub.add_parser("unhide", parents=common, help="list a hidden person again",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.people_decisions import set_hidden

    return change(args, lambda gallery: set_hidden(gallery, args.name, False),
                  lambda r: f"{r['person']} is listed again (step {r['step']})")
