"""facerec hide NAME — leave a person out of `facerec people` and the review page (still recognised).
`facerec unhide` is the same command the other way round (facerec.cli.commands.unhide)."""
from __future__ import annotations

import argparse
from collections.abc import Callable

from facerec.cli.commands._people import EXIT_CODES, NAME_RULE, change

DESCRIPTION = f"""Hide NAME: left out of `facerec people` and the review page's people unless asked for
(`facerec people --all`), still recognised everywhere. `facerec unhide NAME` or `facerec undo` shows them again.

{NAME_RULE}

examples:
  facerec hide "Mail carrier"

{EXIT_CODES}"""


def register_hiding(sub, common, command: str, hidden: bool, help: str, description: str,
                    said: Callable[[dict], str]) -> None:
    """`facerec hide` or `facerec unhide`: one parser shape, one gallery call."""
    def run(args) -> int:
        from facerec.gallery.people_decisions import set_hidden

        return change(args, lambda gallery: set_hidden(gallery, args.name, hidden), said)

    p = sub.add_parser(command, parents=common, help=help, description=description,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=run)


def register(sub, common) -> None:
    register_hiding(sub, common, "hide", True, "hide a person from the lists (still recognised)", DESCRIPTION,
                    lambda r: f"{r['person']} is hidden (still recognised; `facerec people --all` lists them) "
                              f"(step {r['step']})")
