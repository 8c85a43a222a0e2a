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
  facerec undo --list     # what undo would take back, newest first (undoes nothing)
  facerec undo
  facerec undo 3

exit code: 0 when something was undone; 1 when there is nothing to undo."""


def register(sub, common) -> None:
    p = sub.add_parser("undo", parents=common, help="undo the last review decisions",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("steps", nargs="?", type=COUNT, default=None, metavar="N", help="how many steps (default: 1)")
    p.add_argument("--list", action="store_true", help="list the steps in force, newest first (N of them with N, "
                   "else up to 50), and undo nothing")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.people_decisions import history, undo
    from facerec.gallery.store import Gallery

    if args.list:
        return list_steps(args, history)
    with Gallery(args.gallery, create=False) as gallery:
        steps = undo(gallery, args.steps or 1)
    if args.json:
        print_json({"undone": [d.to_dict() for step in steps for d in step.decisions],
                    "steps": [step.to_dict() for step in steps]})
    else:
        for step in steps:
            print(f"undone step {step.step}: {step.summary}")
    return errors.EXIT_OK


def list_steps(args, history) -> int:
    from facerec.gallery.store import Gallery

    with Gallery(args.gallery, create=False) as gallery:
        steps = history(gallery, args.steps or 50)
    if args.json:
        print_json({"steps": [step.to_dict() for step in steps]})
    elif steps:
        for step in steps:
            print(f"step {step.step}: {step.summary}")
    else:
        print("nothing to undo: no decision is in force")
    return errors.EXIT_OK
