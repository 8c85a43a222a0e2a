"""facerec undo [N] — take back the last N review decisions (confirm, reject, drop from a group)."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import COUNT, print_json

DESCRIPTION = """Undo the last N steps of review decisions (default 1), newest first: each `facerec confirm`,
`facerec reject` or drop from a group on the review page is one step, shared by every process using the
gallery. The faces get back the names and group they had before the step.

examples:
  facerec undo
  facerec undo 3

exit code: 0 when something was undone; 1 when there is nothing to undo."""


def register(sub, common) -> None:
    p = sub.add_parser("undo", parents=common, help="undo the last review decisions",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("steps", nargs="?", type=COUNT, default=1, metavar="N", help="how many steps (default: 1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.decisions import undo
    from facerec.gallery.store import Gallery

    with Gallery(args.gallery, create=False) as gallery:
        undone = undo(gallery, args.steps)
    if args.json:
        print_json({"undone": [d.to_dict() for d in undone]})
    else:
        for d in undone:
            print(f"undone: {d.face} {d.kind}" + (f" {d.person}" if d.person else "")
                  + (f" (group {d.group_id})" if d.group_id is not None else ""))
    return errors.EXIT_OK
