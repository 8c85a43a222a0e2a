"""facerec undo [N] — take back the last N review steps (confirm, reject, drop, rename, merge, hide, cover, move,
naming a group)."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import COUNT, print_json

DESCRIPTION = """Undo the last N steps of review decisions (default 1), newest first: each `facerec confirm`,
`reject`, `rename`, `merge`, `hide`, `unhide`, `cover`, `move`, `name` or an action on the review page is one
step, on one stack shared by every process using the gallery. What the step changed gets back what it had:
names of samples and album faces, groups, decisions, hidden, cover faces, folder aliases.

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
    from facerec.gallery.people_decisions import undo
    from facerec.gallery.store import Gallery

    with Gallery(args.gallery, create=False) as gallery:
        steps = undo(gallery, args.steps)
    if args.json:
        print_json({"undone": [d.to_dict() for step in steps for d in step.decisions],
                    "steps": [step.to_dict() for step in steps]})
    else:
        for step in steps:
            print(f"undone step {step.step}: {step.summary}")
    return errors.EXIT_OK
