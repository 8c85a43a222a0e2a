"""facerec clusters — group the unknown faces found by `facerec tag`; list the groups and draw contact sheets."""
from __future__ import annotations

import argparse
from pathlib import Path

from facerec import errors
from facerec.cli.commands._util import COUNT, number_in, print_json, print_table

DESCRIPTION = """Group the faces `facerec tag` could not name (and nobody named yet) by similarity, so
that each group is probably one person, then name a whole group with `facerec name ID NAME`.

Clustering runs automatically when `tag` has found new unknown faces since the last time, or
with --recompute. The default, average-linkage agglomerative clustering, merges groups whose faces
are on average closer than --eps (cosine distance; default: the backbone's cluster threshold in
facerec/thresholds.py), so one look-alike cannot chain two people together; two faces of one photo
are never in one group, and a group needs --min-samples faces (lone faces are left out).
chinese-whispers (dlib's method), dbscan (chains on real albums) and hdbscan are there to compare.

Groups are listed largest first. A group keeps its id while its faces stay the same; a recomputation that
changes its faces gives it a new id, and ids are never reused, so an id never comes to mean other faces.
A face dropped from a group (review page) never rejoins that group's faces.

examples:
  facerec clusters --sheets /tmp/sheets      # list groups, write cluster_<id>.png contact sheets
  facerec clusters --recompute --eps 0.08
  facerec name 1 "Aunt May"

exit code: 0 (also when there is nothing to group)."""


def register(sub, common) -> None:
    from facerec.album.cluster import DEFAULT_METHOD, METHODS

    p = sub.add_parser("clusters", parents=common, help="group unknown faces from `tag`, write contact sheets",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recompute", action="store_true", help="cluster again even if nothing changed")
    p.add_argument("--sheets", type=Path, metavar="DIR", help="write one contact sheet PNG per group here")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD, help=f"clustering algorithm (default: {DEFAULT_METHOD})")
    p.add_argument("--eps", type=number_in(float, 0.0, 2.0, low_open=True), metavar="D",
                   help="cosine distance under which faces may be one person (default: the backbone's cluster threshold)")
    p.add_argument("--min-samples", type=COUNT, default=2, metavar="N", help="smallest group (default: 2)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.album.cluster import list_clusters, needs_clustering, recompute_clusters, write_contact_sheets
    from facerec.gallery.store import Gallery

    backbone = args.embedding
    with Gallery(args.gallery, create=False) as gallery:
        recomputed = args.recompute or needs_clustering(gallery, backbone)
        if recomputed:
            recompute_clusters(gallery, backbone, eps=args.eps, min_samples=args.min_samples, method=args.method)
        clusters = list_clusters(gallery, backbone)
        unknown = len(gallery.unknown_detections(backbone)[0])
        sheets = write_contact_sheets(gallery, backbone, args.sheets) if args.sheets else {}
    if args.json:
        print_json({"backbone": backbone, "recomputed": recomputed, "unknown_faces": unknown,
                    "clusters": [{**c.to_dict(), "sheet": str(sheets[c.cluster_id]) if c.cluster_id in sheets else None}
                                 for c in clusters]})
        return errors.EXIT_OK
    if not clusters:
        print(f"no groups among {unknown} unknown {backbone} faces"
              + (" (run `facerec tag ALBUM_DIR` first)" if unknown == 0 else " (try a larger --eps)"))
        return errors.EXIT_OK
    print_table(["cluster", "faces", "photos", "examples"],
                [[c.cluster_id, c.faces, c.photos, ", ".join(c.examples)] for c in clusters])
    grouped = sum(c.faces for c in clusters)
    print(f"\n{len(clusters)} groups with {grouped} of {unknown} unknown faces"
          + (" (recomputed)" if recomputed else ""))
    if sheets:
        print(f"contact sheets: {args.sheets}/cluster_<id>.png")
    print("name a group: facerec name CLUSTER_ID NAME")
    return errors.EXIT_OK
