"""facerec calibrate — suggest a distance threshold from the enrolled gallery."""
from __future__ import annotations

import argparse

from facerec import errors
from facerec.cli.commands._util import RATE, print_json

DESCRIPTION = """Measure the cosine distances between the gallery's enrolled faces: same-person pairs
(genuine) and different-people pairs (impostors), and suggest the threshold whose false-accept rate
on the impostor pairs is at most --far. Pass it to identify / verify with --threshold (a fixed value).
It also shows the identify threshold used without --threshold: it follows the number of enrolled faces,
so that a stranger is named in at most 1 % of photos whatever the gallery's size.

With m impostor pairs a FAR below 1/m cannot be measured: enroll more people for a tighter estimate.
Needs at least 2 enrolled people (and people with 2+ photos for a false-reject rate).

examples:
  facerec calibrate
  facerec calibrate --far 1e-2 --backbone resnet50 --json"""


def register(sub, common) -> None:
    p = sub.add_parser("calibrate", parents=common, help="suggest a threshold for a target false-accept rate",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--far", type=RATE, default=1e-3, help="target false-accept rate (default: 1e-3)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.evaluation.calibrate import calibrate
    from facerec.gallery.store import Gallery

    with Gallery(args.gallery, create=False) as gallery:
        result = calibrate(gallery, args.embedding, target_far=args.far)
    result["default_threshold"] = result["identify_threshold"]
    if args.json:
        print_json(result)
        return errors.EXIT_OK
    frr = "n/a" if result["frr"] is None else f"{result['frr']:.4f}"
    print(f"suggested threshold {result['threshold']:.4f} (backbone {result['backbone']})")
    print(f"identify's threshold for this gallery ({result['n_faces']} faces): {result['identify_threshold']:.4f} "
          f"({result['identify_rule']})")
    print(f"on {result['n_people']} people / {result['n_faces']} faces: FAR {result['far']:.4f} "
          f"over {result['n_impostor']} impostor pairs (target {args.far:g}), "
          f"FRR {frr} over {result['n_genuine']} genuine pairs")
    for key in ("note", "note_genuine"):
        if key in result:
            print(f"note: {result[key]}")
    print(f"use it with: facerec identify --threshold {result['threshold']:.4f} ...")
    return errors.EXIT_OK
