"""facerec confirm ID… [--as NAME] — say that album faces are who facerec (or you) says they are."""
from __future__ import annotations

import argparse

from facerec.cli.commands._people import change

DESCRIPTION = """Confirm album faces (ids a<N> from `facerec faces`): each keeps the name facerec suggested
(or NAME with --as, someone enrolled) whatever the threshold or matcher of later `facerec tag` runs, and no
other face of its photo gets that name. A confirmed face also becomes a sample of the person (identify, tag
and `facerec train` learn from it) unless it is within a small distance of one of their samples (it teaches
nothing) or the person has the most confirmed samples allowed (facerec.thresholds.CONFIRMED_SAMPLE_CAP: the
most diverse are kept); the output says which. `facerec undo` takes the confirmation and its sample back.

examples:
  facerec faces --person "Aunt May"
  facerec confirm a12 a15
  facerec confirm a40 --as "Aunt May"

exit code: 0 when confirmed; 1 for an unknown id, a face with no name and no --as, or NAME not enrolled
(nothing is changed then)."""


def register(sub, common) -> None:
    p = sub.add_parser("confirm", parents=common, help="confirm the names of album faces",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--as", dest="name", metavar="NAME", help="the person they are (default: the name suggested)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.decisions import confirm

    def said(result: dict) -> str:
        return "\n".join(f"{d['id']}: confirmed as {d['name']}; {d['learning']}"
                         + (f" ({d['sample']})" if d["learning"] == "kept as a sample" else "")
                         for d in result["confirmed"])

    return change(args, lambda gallery: {"confirmed": confirm(gallery, args.ids, args.name)}, said)
