"""facerec name CLUSTER_ID NAME — enroll a group of unknown faces (from `facerec clusters`) as a person."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import print_json

DESCRIPTION = """Enroll every face of group CLUSTER_ID (see `facerec clusters`) as NAME in one step.
NAME may be someone already enrolled (adds samples; a name differing from theirs only by case or by
' ', '_', '-', '.' is theirs) or a new person. One step that `facerec undo` takes back. The faces stay enrolled
even if the album is re-tagged. Run `facerec tag ALBUM_DIR` again afterwards to put the name on
the other photos of that person (unchanged photos are only re-identified, which is fast).

examples:
  facerec clusters --sheets /tmp/sheets
  facerec name 1 "Aunt May"

Group ids never change meaning: a regrouping that changes a group's faces gives it a new id. With --faces,
the faces you saw must still be exactly the group's, or nothing is enrolled.

exit code: 0 when faces were enrolled, 1 when the group does not exist (or is already named) or its faces
are not the ones given with --faces."""


def register(sub, common) -> None:
    p = sub.add_parser("name", parents=common, help="enroll a group of unknown faces as a person",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cluster_id", type=int, metavar="CLUSTER_ID")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--faces", metavar="ID,...", type=face_ids,
                   help="the group's faces as you saw them (a<N> from `facerec faces --group`): refused if it changed")
    p.set_defaults(func=run)


def face_ids(text: str) -> list[int]:
    from facerec.gallery.decisions import ALBUM, DecisionError, parse_face_id

    ids = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            kind, row_id = parse_face_id(part)
        except DecisionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if kind != ALBUM:
            raise argparse.ArgumentTypeError(f"{part} is an enrolled sample, not a face of a group")
        ids.append(row_id)
    return ids


def run(args) -> int:
    from facerec.album.cluster import NOISE
    from facerec.gallery.people_decisions import name_group
    from facerec.gallery.store import Gallery
    from facerec.names import person_name

    if args.cluster_id == NOISE or args.cluster_id < 1:
        raise errors.FacerecError("CLUSTER_ID is a group number from `facerec clusters` (1, 2, ...)")
    name = person_name(args.name)
    backbone = args.embedding
    with Gallery(args.gallery, create=False) as gallery:
        naming = name_group(gallery, args.cluster_id, name, backbone, seen=args.faces)
    added, name = naming.faces, naming.person
    if args.json:
        print_json({"cluster": args.cluster_id, "name": name, "faces_enrolled": added, "backbone": backbone,
                    "step": naming.step, "note": naming.note})
    elif added:
        if naming.note:
            print(naming.note)
        print(f"enrolled {added} face{'s' if added != 1 else ''} of group {args.cluster_id} as {name} (step "
              f"{naming.step}; undo with `facerec undo`); run `facerec tag ALBUM_DIR` again to name them in the rest "
              "of the album")
    if not added:
        if not args.json:
            print(f"facerec: no unnamed faces in group {args.cluster_id} for backbone {backbone}; "
                  "see `facerec clusters`")
        return errors.EXIT_NEGATIVE
    return errors.EXIT_OK
