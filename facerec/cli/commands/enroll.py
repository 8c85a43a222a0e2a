"""facerec enroll PEOPLE_DIR — add or update everyone in PEOPLE_DIR/<Name>/<photos> in the gallery;
facerec enroll --from-tags ALBUM_DIR — everyone named in the face regions of an album's photos."""
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

Each photo gives one face embedding: its main face when there are several (the largest near the centre,
not a larger bystander at the edge; reported as multiple_faces). Re-running is cheap:
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
(`unknown`, control or invisible characters, '/', '|', more than 100 characters), and the gallery's
own folders (-uploads, -heads, -cache) when the gallery lies inside PEOPLE_DIR.

A folder that cannot be read (permissions, a link to an offline drive) is never taken as deleted:
the people and photos enrolled from it are kept, and the exit code is 3. An empty PEOPLE_DIR from
which people were enrolled (an unmounted drive?) is an error and changes nothing.

--from-tags ALBUM_DIR (instead of PEOPLE_DIR): enroll every person named in the face regions the photos
under ALBUM_DIR already carry (MWG and Microsoft Photo regions in XMP sidecars and embedded XMP, Picasa's
.picasa.ini with --picasa-contacts for the names), one sample per named region. A region is matched to
the face detected there; where none was detected (a profile, a blurred face) facerec looks again inside
the region with relaxed thresholds, and else aligns the face inside the region itself -- those embeddings
are kept apart as their own recipe (<embedding>+region). Incremental like folder enrollment; a region
outside the picture, of zero size or with a name that cannot be a person's is listed and skipped.

The per-photo table lists new, changed and problem photos (--all: every photo; -q: nothing but errors).

exit code: 0 when the gallery holds a face from the folder after the run; 3 when no photo gave a face (none
found, unreadable, an empty or missing PEOPLE_DIR: each problem photo is listed), or a folder could not be
read (what was enrolled from it is kept)."""


def register(sub, common) -> None:
    from facerec.gallery.enroll import DEFAULT_MIN_FACE_SIZE

    p = sub.add_parser("enroll", parents=common, help="enroll people from PEOPLE_DIR/<Name>/<photos>",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("people_dir", type=Path, metavar="PEOPLE_DIR", nargs="?")
    p.add_argument("--from-tags", type=Path, metavar="ALBUM_DIR",
                   help="enroll the people named in the face regions of the photos under ALBUM_DIR (instead of PEOPLE_DIR)")
    p.add_argument("--picasa-contacts", type=Path, metavar="FILE",
                   help="Picasa's contacts.xml, which names the faces of .picasa.ini files (with --from-tags)")
    p.add_argument("--min-face-size", type=PIXELS, default=DEFAULT_MIN_FACE_SIZE, metavar="PX",
                   help="faces whose box is narrower or shorter are rejected as too small (default: %(default)s)")
    p.add_argument("--all", action="store_true", help="list every photo, not only new, changed and problem ones")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery

    # The detector looks for faces down to 20 px so that small ones are reported as too small, not missed.
    if (args.people_dir is None) == (args.from_tags is None):
        raise errors.UsageError("give either PEOPLE_DIR or --from-tags ALBUM_DIR")
    if args.picasa_contacts is not None and args.from_tags is None:
        raise errors.UsageError("--picasa-contacts goes with --from-tags")
    pipeline = pipeline_from_args(args, min_face_size=min(20, args.min_face_size))
    with Gallery(args.gallery) as gallery:
        if args.from_tags is not None:
            from facerec.gallery.enroll_tags import enroll_from_tags

            report = enroll_from_tags(args.from_tags, gallery, pipeline, progress=progress_enabled(args),
                                      min_face_size=args.min_face_size, picasa_contacts=args.picasa_contacts)
        else:
            report = enroll_folder(args.people_dir, gallery, pipeline, progress=progress_enabled(args),
                                   min_face_size=args.min_face_size)
        people = gallery.people(report.backbone)
        in_regions = []
        if args.from_tags is not None:
            from facerec.gallery.enroll_tags import region_recipe

            in_regions = [p.name for p in gallery.people(region_recipe(report.backbone)) if p.faces]
    if args.json:
        print_json({**report.to_dict(), "gallery": str(args.gallery)})
    elif not args.quiet:
        print_report(report, people, args)
        if in_regions:
            print(f"aligned inside their regions (no face detected; kept apart as {report.backbone}+region): "
                  + ", ".join(in_regions))
    if report.unreadable:
        print(f"facerec: {len(report.unreadable)} folder(s) or link(s) could not be read; the people and photos "
              "enrolled from them were kept: " + ", ".join(report.unreadable), file=sys.stderr)
        return errors.EXIT_BAD_INPUT
    if report.usable == 0:
        print(f"facerec: no photo in {report.people_dir} gave a face"
              + (" (see the problems above)" if report.rows else " (no person folder with photos)"), file=sys.stderr)
        return errors.EXIT_BAD_INPUT
    return errors.EXIT_OK


def print_report(report, people, args) -> None:
    rows = [r for r in report.rows if args.all or r.status != "unchanged"]
    if rows:
        print_table(["person", "status", "faces", "path", "note"],
                    [[r.person, r.status, r.faces, r.path, r.note] for r in rows])
        print()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts().items())) or "no photos found"
    print(f"{report.people_dir}: {counts}")
    for folder, person in sorted(getattr(report, "aliases", {}).items()):
        print(f"folder {folder}: its photos go to {person} (renamed or merged; `facerec people --json` lists aliases)")
    if report.removed_people:
        print("removed (no photos left; forgotten as `facerec forget` does): " + ", ".join(report.removed_people))
    enrolled = sum(1 for p in people if p.faces)
    print(f"gallery {args.gallery}: {enrolled} people with {report.backbone} embeddings", file=sys.stdout)
