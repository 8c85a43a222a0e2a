"""facerec enroll PEOPLE_DIR — add or update everyone in PEOPLE_DIR/<Name>/<photos> in the gallery."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facerec import errors
from facerec.cli.commands._util import PIXELS, pipeline_from_args, print_json, print_table, progress_enabled

DESCRIPTION = """Enroll people from a folder with one sub-folder per person:

  people/
    Alice/  holiday.jpg  passport.png ...
    Bob/    bob1.jpg ...

Each photo gives one face embedding (the largest face if there are several). Re-running is cheap:
unchanged photos are skipped, changed photos are embedded again, photos deleted from the folder
are removed from the gallery. Problem photos (no face, face too small, unreadable) are reported
and the run goes on. Each photo is saved as soon as it is done, so an interrupted run can simply
be started again.

The gallery holds face embeddings (biometric data): it is created readable by you only (0600).

examples:
  facerec enroll people/
  facerec enroll --backbone resnet50 --weights rcmalli_vggface_tf_resnet50.h5 people/
  facerec enroll --json people/ > report.json

Skipped without stopping the run, and listed: unsupported formats (.gif), videos, the RAW of a RAW + JPEG pair, broken links,
named pipes, hidden person folders, names that are not valid UTF-8 or cannot be a person's name
(`unknown`, control characters, '/', '|', more than 100 characters).

A folder that cannot be read (permissions, a link to an offline drive) is never taken as deleted:
the people and photos enrolled from it are kept, and the exit code is 3. An empty PEOPLE_DIR from
which people were enrolled (an unmounted drive?) is an error and changes nothing.

exit code: 0 when the run finished, 1 when it found no photo to enroll, 3 when a folder could not be read."""


def register(sub, common) -> None:
    from facerec.gallery.enroll import DEFAULT_MIN_FACE_SIZE

    p = sub.add_parser("enroll", parents=common, help="enroll people from PEOPLE_DIR/<Name>/<photos>",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("people_dir", type=Path, metavar="PEOPLE_DIR")
    p.add_argument("--min-face-size", type=PIXELS, default=DEFAULT_MIN_FACE_SIZE, metavar="PX",
                   help="faces whose box is narrower or shorter are rejected as too small (default: %(default)s)")
    p.add_argument("--all", action="store_true", help="list every photo, not only new, changed and problem ones")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery

    # The detector looks for faces down to 20 px so that small ones are reported as too small, not missed.
    pipeline = pipeline_from_args(args, min_face_size=min(20, args.min_face_size))
    with Gallery(args.gallery) as gallery:
        report = enroll_folder(args.people_dir, gallery, pipeline, progress=progress_enabled(args),
                               min_face_size=args.min_face_size)
        people = gallery.people(report.backbone)
    if args.json:
        print_json({**report.to_dict(), "gallery": str(args.gallery)})
    else:
        print_report(report, people, args)
    if report.unreadable:
        print(f"facerec: {len(report.unreadable)} folder(s) or link(s) could not be read; the people and photos "
              "enrolled from them were kept: " + ", ".join(report.unreadable), file=sys.stderr)
        return errors.EXIT_BAD_INPUT
    return errors.EXIT_OK if report.rows else errors.EXIT_NEGATIVE


def print_report(report, people, args) -> None:
    rows = [r for r in report.rows if args.all or r.status != "unchanged"]
    if rows:
        print_table(["person", "status", "faces", "path", "note"],
                    [[r.person, r.status, r.faces, r.path, r.note] for r in rows])
        print()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts().items())) or "no photos found"
    print(f"{report.people_dir}: {counts}")
    if report.removed_people:
        print("removed (no photos left): " + ", ".join(report.removed_people))
    enrolled = sum(1 for p in people if p.faces)
    print(f"gallery {args.gallery}: {enrolled} people with {report.backbone} embeddings", file=sys.stdout)
