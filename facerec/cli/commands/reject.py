"""facerec reject ID… [--name NAME] — say that album faces are not who facerec says they are."""
from __future__ import annotations

import argparse

from facerec.cli.commands._people import change

DESCRIPTION = """Reject a name for album faces (ids a<N> from `facerec faces`): by default the name each face
carries now, or NAME with --name. A face that carried that name becomes unknown (and may be grouped with other
unknown faces); later `facerec tag` runs never give it that name again, whatever the threshold or matcher.
`facerec undo` takes the rejection back.

examples:
  facerec reject a12
  facerec reject a12 a13 --name "Aunt May"

exit code: 0 when rejected; 1 for an unknown id or an unknown face without --name (nothing is changed then)."""


def register(sub, common) -> None:
    p = sub.add_parser("reject", parents=common, help="reject a wrong name of album faces",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--name", metavar="NAME", help="the name they are not (default: the name they carry now)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.decisions import reject

    return change(args, lambda gallery: {"rejected": reject(gallery, args.ids, args.name)},
                  lambda result: "\n".join(f"{d['id']}: is not {d['name']}" for d in result["rejected"]))
