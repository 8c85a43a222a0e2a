"""facerec tag ALBUM_DIR — find and name every face in an album; CSV/JSONL, annotated copies, XMP sidecars."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facerec import errors
from facerec.cli.commands._util import (DISTANCE, add_min_face_size, number_in, pipeline_from_args, print_json, print_table,
                                    progress_enabled)

DESCRIPTION = """Find every face in every photo under ALBUM_DIR (sub-folders included) and name it
from the gallery (`facerec enroll` first; with nobody enrolled every face is `unknown`).

Re-running is cheap: a photo whose content (sha256), backbone, gallery, matcher and threshold are
unchanged is skipped; after `facerec enroll` / `facerec name` or with another --threshold or --matcher,
unchanged photos are only re-identified from the stored embeddings (no detection). --force analyses
everything again. Everything found is stored in the gallery, so `facerec clusters` can group the
unknown faces and `facerec name` enroll a group.

Outputs always cover the whole album, skipped photos included:
  --csv / --jsonl   one row per face, the columns of every facerec CSV: path (relative to ALBUM_DIR),
                    face_index, name, score (the match confidence: 0.67 at the threshold, 0 for
                    unknown), distance, x, y, w, h, confidence, named_by (facerec, region or person),
                    probability (svm, logreg, head)
  --annotate DIR    copies with boxes and names, in the album's folder structure
  --xmp             XMP sidecars beside the photos with MWG face regions (mwg-rs) and person tags
                    (dc:subject, lr:hierarchicalSubject People|Name, digiKam:TagsList People/Name,
                    Iptc4xmpExt:PersonInImage) for digiKam, Lightroom and darktable. An existing
                    sidecar is merged: only facerec's own regions and tags are replaced. Every face
                    gets a region, unknown ones without a name (photo managers offer them for naming);
                    --xmp-named-only writes named faces only. A face a region of another tool (or
                    yours) already covers is not written twice.
                    --xmp-naming: darktable = photo.jpg.xmp (default, also digiKam's default),
                    lightroom = photo.xmp, both.
The photos themselves are never modified.

Face tags the photos already carry are kept: MWG and Microsoft Photo regions in XMP sidecars
(photo.jpg.xmp, photo.xmp) and embedded in JPEG/PNG/TIFF/WebP, and Picasa's .picasa.ini (names
from Picasa's contacts.xml: --picasa-contacts). A face a region names is reported with that name
and named_by = region (facerec's own matches: named_by = facerec); where facerec would name it
someone else, the run reports the disagreement. A named region where no face was detected is
reported as a face too. --no-regions ignores them.

--ray [ADDRESS] runs the per-photo work (decode, detect, embed) on a Ray cluster: the one at ADDRESS
(e.g. auto, 10.0.0.5:6379, ray://head:10001), or a local one with --workers CPUs when no address is
given. Reading, skipping unchanged photos, naming and the gallery stay on this machine, so the results,
the progress bar and re-runs are those of a local run. Workers must have facerec (and the backbone's
weights) installed and read the photos' bytes from this machine; needs `pip install 'facerec[ray]'`.

Photos that cannot be read (corrupt, truncated, not an image, too large) or have no face are
listed in the summary with the reason; they never stop the run.

examples:
  facerec tag ~/Pictures/2023 --csv faces.csv
  facerec tag album/ --xmp --annotate /tmp/annotated --workers 4
  facerec tag album/ --json > summary.json
  facerec tag album/ --ray                  # a local Ray cluster
  facerec tag album/ --ray auto             # the Ray cluster this machine belongs to

exit code: 0 when the run finished (even if some photos were bad or had no face), 1 when a sidecar could not
be written (disk full, permissions; an existing sidecar that is not valid XML or is read-only is left
unchanged; the old sidecar is kept whole), 2 when --csv and --jsonl name the same file, 3 when ALBUM_DIR is
missing, holds no photo or none of its photos could be read,
4 when --ray is given but Ray is not installed or its cluster cannot be started or reached."""


def register(sub, common) -> None:
    from facerec.recognition import MATCHER_KINDS
    from facerec.album.xmp import NAMINGS

    p = sub.add_parser("tag", parents=common, help="tag the faces in every photo of an album",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("album_dir", type=Path, metavar="ALBUM_DIR")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write one row per face to this CSV file")
    p.add_argument("--jsonl", type=Path, metavar="PATH", help="write one JSON object per face to this file")
    p.add_argument("--annotate", type=Path, metavar="DIR", help="write annotated copies of the photos here")
    p.add_argument("--xmp", action="store_true", help="write/merge XMP sidecars with face regions and person tags")
    p.add_argument("--xmp-naming", choices=NAMINGS, default="darktable",
                   help="sidecar names: darktable = photo.jpg.xmp (default), lightroom = photo.xmp, both")
    p.add_argument("--xmp-named-only", action="store_true",
                   help="regions for named faces only (default: unknown faces get regions without a name too)")
    p.add_argument("--xmp-unknown", action="store_true",
                   help="the default now (regions for unknown faces too); accepted for older scripts")
    p.add_argument("--workers", type=number_in(int, 1, 256), default=None, metavar="N",
                   help="threads decoding and detecting photos (default: min(4, CPUs))")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the per-photo work on the Ray cluster at ADDRESS (a local one when omitted);"
                        " put --ray after ALBUM_DIR")
    p.add_argument("--matcher", choices=MATCHER_KINDS, default="nn",
                   help="how faces are named, as for `facerec identify` (default: nn)")
    p.add_argument("--threshold", type=DISTANCE, metavar="D",
                   help="cosine distance above which a face is unknown (default: per backbone; not for head)")
    p.add_argument("--force", action="store_true", help="analyse every photo again, even unchanged ones")
    add_min_face_size(p)
    p.add_argument("--all", action="store_true", help="list every photo, not only the ones with problems")
    p.add_argument("--picasa-contacts", type=Path, metavar="FILE",
                   help="Picasa's contacts.xml, which names the faces of .picasa.ini files")
    p.add_argument("--no-regions", action="store_true",
                   help="ignore the face regions the photos already carry (sidecars, embedded XMP, .picasa.ini)")
    p.add_argument("--people", type=Path, metavar="PEOPLE_DIR",
                   help="first enroll (incrementally) the people in PEOPLE_DIR/<Name>/<photos>, as `facerec enroll` does")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.store import Gallery
    from facerec.album.tag import configure_threads, default_workers, tag_album
    from facerec.recognition.recognizer import Recognizer

    if not args.album_dir.is_dir():
        raise errors.InputError(f"{args.album_dir}: not a folder")
    if args.workers is not None and args.workers < 1:
        raise errors.FacerecError("--workers must be at least 1")
    workers = args.workers or default_workers()
    configure_threads(workers)
    cluster = ray_cluster(args)
    pipeline = pipeline_from_args(args)
    with Gallery(args.gallery) as gallery:
        if args.people:
            enroll_before_tagging(args, gallery, pipeline)
        recognizer = Recognizer(args.gallery, pipeline=pipeline, matcher=args.matcher, threshold=args.threshold)
        summary = tag_album(args.album_dir, gallery, pipeline, recognizer=recognizer, workers=workers, force=args.force,
                            csv_path=args.csv, jsonl_path=args.jsonl, annotate_dir=args.annotate, xmp=args.xmp,
                            xmp_naming=args.xmp_naming, xmp_unknown=not args.xmp_named_only,
                            progress=progress_enabled(args), ray=cluster, regions=not args.no_regions,
                            picasa_contacts=args.picasa_contacts)
    if args.json:
        print_json({**summary.to_dict(), "backbone": pipeline.backbone.name, "embedding": pipeline.embedding_id, "gallery": str(args.gallery)})
    else:
        print_summary(summary, args)
    if summary.photos == 0:
        print(f"facerec: no photos found in {args.album_dir}", file=sys.stderr)
        return errors.EXIT_BAD_INPUT
    if summary.readable == 0:
        print("facerec: none of the photos could be read", file=sys.stderr)
        return errors.EXIT_BAD_INPUT
    if summary.output_errors:
        print(f"facerec: error: {summary.output_errors} XMP sidecar(s) could not be written (see the problems"
              " above); run again when the cause is fixed", file=sys.stderr)
        return errors.EXIT_NEGATIVE
    return errors.EXIT_OK


def ray_cluster(args):
    """The RayCluster for --ray (None without it); a missing Ray is reported before any work (exit 4)."""
    from facerec.album.distributed import import_ray
    from facerec.album.tag import RayCluster

    if args.ray is None:
        return None
    import_ray()
    return RayCluster(address=args.ray.strip() or None, num_cpus=args.workers)


def enroll_before_tagging(args, gallery, pipeline) -> None:
    from facerec.gallery.enroll import enroll_folder

    if not args.people.is_dir():
        raise errors.FacerecError(f"{args.people}: not a folder (expected PEOPLE_DIR/<Name>/<photos>)")
    report = enroll_folder(args.people, gallery, pipeline, progress=progress_enabled(args))
    if not args.json and not args.quiet:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts().items()))
        print(f"enrolled from {args.people}: {counts}", file=sys.stderr)


def print_summary(summary, args) -> None:
    if args.all:
        rows = [[r.rel_path, r.outcome, r.status, len(r.faces),
                 ", ".join(t.name for t in r.faces) or r.note] for r in summary.results]
        if rows:
            print_table(["path", "run", "status", "faces", "names / note"], rows)
            print()
    if summary.problems:
        print_table(["problem", "path", "reason"], [[p["kind"], p["path"], p["reason"]] for p in summary.problems])
        print()
    s = summary
    # what this run did with each photo, then what the photos are (an unreadable photo seen before is also skipped)
    print(f"{s.album}: {s.photos} photos: {s.analysed} analysed, {s.reidentified} re-identified, {s.skipped} skipped"
          f" as unchanged; {s.unreadable} unreadable, {s.no_face} without faces; {s.seconds:.1f} s"
          f" ({s.photos_per_second:.2f} photos/s)")
    people = ", ".join(f"{name} ({n})" for name, n in sorted(s.people.items(), key=lambda kv: (-kv[1], kv[0])))
    print(f"{s.faces} faces: {s.named} named, {s.unknown} unknown" + (f" — {people}" if people else ""))
    if s.named_by_region:
        print(f"{s.named_by_region} of the named faces keep the name a face region in the photo gives")
    if s.disagreements:
        print(f"{len(s.disagreements)} face(s) facerec would name differently from their region (the region's name "
              "is kept): " + ", ".join(f"{d['path']} #{d['face_index']} {d['region_name']} (facerec: {d['facerec_name']})"
                                       for d in s.disagreements[:10]) + (" ..." if len(s.disagreements) > 10 else ""))
    for label, key in (("csv", "csv"), ("jsonl", "jsonl"), ("annotated copies", "annotated")):
        if key in s.outputs:
            print(f"{label}: {s.outputs[key]}")
    if "xmp_files" in s.outputs:
        print(f"xmp sidecars: {s.outputs['xmp_files']}")
    if s.unknown:
        print("group the unknown faces with `facerec clusters`, then enroll one with `facerec name ID NAME`")
