"""facerec verify A B — are the main faces of two photos the same person?"""
from __future__ import annotations

import argparse
from pathlib import Path

from facerec import errors
from facerec.cli.commands._util import DISTANCE, pipeline_from_args, print_json

DESCRIPTION = """Compare the main face of image A with the main face of image B (in a photo with several faces,
the largest near the centre, not a larger bystander at the edge; a photo without a face at first gets a
second look: padded, upscaled and relaxed copies).
Prints `same` or `different`, the score (the match confidence: 1.0 at distance 0, 0.67 exactly at the
threshold, as identify's), the cosine distance and the threshold used (per backbone, see
facerec/thresholds.py; override with --threshold, e.g. one `facerec calibrate` suggested).

exit code: 0 same person, 1 different people, 3 no face in A or B (none found, unreadable, missing)."""


def register(sub, common) -> None:
    p = sub.add_parser("verify", parents=common, help="same person or not, for two photos",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image_a", type=Path, metavar="A")
    p.add_argument("image_b", type=Path, metavar="B")
    p.add_argument("--threshold", type=DISTANCE, help="cosine distance at or below which faces are the same person")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.recognition.verify import verify

    result = verify(args.image_a, args.image_b, pipeline_from_args(args), threshold=args.threshold)
    if args.json:
        print_json(result)
    else:
        verdict = "same" if result["same"] else "different"
        print(f"{verdict}  score={result['score']:.4f}  distance={result['distance']:.4f}  "
              f"threshold={result['threshold']:.4f}  backbone={result['backbone']}")
    return errors.EXIT_OK if result["same"] else errors.EXIT_NEGATIVE
