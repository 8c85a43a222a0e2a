"""facerec identify IMAGE… — name every face in the images from the enrolled gallery."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from facerec import errors
from facerec.names import printable
from facerec.cli.commands._util import DISTANCE, PROBABILITY, add_min_face_size, pipeline_from_args, print_json

# face_recognition's CLI columns first (path, then who), then where the face is; --show-distance adds distance.
CSV_FIELDS = ("path", "face_index", "name", "score", "x", "y", "w", "h")

DESCRIPTION = """Find every face in each IMAGE and name it from the gallery (`facerec enroll` first).
One CSV line per face, like face_recognition's CLI:

  path,face_index,name,score,x,y,w,h      (name is `unknown` for people not enrolled)
  party.jpg,0,Alice,0.9312,120,80,96,118
  party.jpg,1,unknown,0.6120,400,95,90,110

score is the cosine similarity to the matched person (nn) or the class probability (svm, logreg,
head); --show-distance adds the cosine distance used for the unknown decision. An image in which
no face is found, even on a second look (a padded, an upscaled and a relaxed copy: face thumbnails and
ID photos that fill the frame), prints one line with name `no_faces_found`.

matchers: nn (nearest enrolled photos, default), svm / logreg (classifiers on the embeddings,
still `unknown` when the nearest photo of the predicted person is too far), head (the network
trained by `facerec train`).

examples:
  facerec identify party.jpg
  facerec identify --show-distance --threshold 0.07 album/*.jpg
  facerec identify --matcher svm --json photo.jpg

exit code: 0 at least one known face, 1 none, 3 an image could not be read (the others are still reported)."""


def register(sub, common) -> None:
    from facerec.recognition import AGGREGATES, MATCHER_KINDS

    p = sub.add_parser("identify", parents=common, help="name the faces in images",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--matcher", choices=MATCHER_KINDS, default="nn", help="how faces are matched (default: nn)")
    p.add_argument("--threshold", type=DISTANCE, metavar="D",
                   help="cosine distance above which a face is unknown (default: per backbone, facerec/thresholds.py)")
    p.add_argument("--min-probability", type=PROBABILITY, metavar="P",
                   help="svm/logreg: also unknown when the top class probability is below P (default: 0)")
    p.add_argument("--aggregate", choices=AGGREGATES, default="max",
                   help="nn: score a person by their best photo, the mean over photos, or their centroid")
    p.add_argument("--show-distance", action="store_true", help="add the cosine distance column")
    add_min_face_size(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.recognition.recognizer import Recognizer

    options = {} if args.matcher == "head" else _matcher_options(args)
    recognizer = Recognizer(args.gallery, pipeline=pipeline_from_args(args), matcher=args.matcher,
                            threshold=args.threshold, matcher_options=options, require_people=True)
    recognizer.matcher()  # nobody enrolled, or a head that does not fit the gallery: said before any photo is read
    results = [identify_image(path, recognizer) for path in args.images]
    if args.json:
        print_json({"backbone": args.backbone, "matcher": args.matcher, "threshold": recognizer.threshold_,
                    "images": [{**r, "faces": [f.to_dict() for f in r["faces"]]} for r in results]})
    else:
        print_csv(results, args.show_distance)
    return exit_code(results)


def _matcher_options(args) -> dict[str, Any]:
    if args.matcher == "nn":
        return {"aggregate": args.aggregate}
    return {"min_probability": args.min_probability}


def identify_image(path: Path, recognizer) -> dict[str, Any]:
    """{"path", "faces": [FaceResult], "error"}; an unreadable image is reported on stderr and the run goes on."""
    from facerec.vision.imageio import load_image

    try:
        image = load_image(path)
    except errors.ImageError as e:
        print(f"facerec: {printable(str(e))}", file=sys.stderr)
        return {"path": str(path), "faces": [], "error": str(e)}
    return {"path": str(path), "faces": recognizer.identify_image(image, str(path)), "error": None}


def print_csv(results: list[dict[str, Any]], show_distance: bool) -> None:
    from facerec.files.atomic import csv_cell

    fields = CSV_FIELDS + (("distance",) if show_distance else ())
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(fields)
    for r in results:
        if r["error"]:
            continue  # already on stderr
        if not r["faces"]:
            row = {"path": r["path"], "name": "no_faces_found"}
            out.writerow([csv_cell(printable(str(row.get(f, "")))) for f in fields])
        for face in r["faces"]:
            # csv_cell: a file or person name can hold a formula or control characters
            out.writerow([csv_cell(printable(_cell(v))) for v in face.to_row(fields)])
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def exit_code(results: list[dict[str, Any]]) -> int:
    if any(r["error"] for r in results):
        return errors.EXIT_BAD_INPUT
    known = any(f.known for r in results for f in r["faces"])
    return errors.EXIT_OK if known else errors.EXIT_NEGATIVE
