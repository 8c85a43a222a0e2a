"""facerec faces — list faces with their ids: enrolled samples and album faces, named, unknown or in a group."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import print_json, print_table

DESCRIPTION = """List the faces the gallery knows for --backbone, each with its id: s<N> for an enrolled
sample photo, a<N> for a face `facerec tag` found in an album. Album face ids stay the same when the album is
tagged again (also with --force or another backbone), so `facerec confirm` / `facerec reject` can name them.

named_by: person (enrolled, a named group or a confirmation), facerec (the matcher's guess), empty (unknown).
origin: where a sample came from: folder, upload, group (a named group) or confirmed. An album face that became
a sample is listed once, as the album face, with its sample's id (`sample` in --json).

examples:
  facerec faces --person "Aunt May"
  facerec faces --unknown --json
  facerec faces --group 3

exit code: 0 (also when no face matches)."""


def register(sub, common) -> None:
    p = sub.add_parser("faces", parents=common, help="list faces with their ids (samples and album faces)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--person", metavar="NAME", help="only the faces named NAME")
    which.add_argument("--unknown", action="store_true", help="only album faces nobody is named in")
    which.add_argument("--group", type=int, metavar="ID", help="only the faces of group ID (`facerec clusters`)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.face_list import list_faces
    from facerec.gallery.store import Gallery

    faces = []
    if args.gallery.exists():  # listing must not create an empty gallery file
        with Gallery(args.gallery, create=False) as gallery:
            faces = list_faces(gallery, args.embedding, person=args.person, unknown=args.unknown, group=args.group)
    if args.json:
        print_json({"backbone": args.embedding, "faces": faces})
    elif faces:
        print_table(["id", "kind", "name", "score", "named_by", "group", "origin", "path", "box"],
                    [[f["id"], f["kind"], f["name"], "" if f["score"] is None else f"{f['score']:.2f}",
                      f["named_by"] or "", "" if f["group"] is None else f["group"],
                      (f["origin"] or "") + (f" {f['sample']}" if f["sample"] else ""), f["path"],
                      " ".join(str(v) for v in f["box"])] for f in faces])
    else:
        print("no faces match")
    return errors.EXIT_OK
