"""facerec identify IMAGE… — name every face in the images from the enrolled gallery."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from facerec import errors
from facerec.names import printable
from facerec.cli.commands._util import (DISTANCE, PROBABILITY, add_min_face_size, exit_for_inputs, pipeline_from_args,
                                        print_json, report_input_problem)
from facerec.types import ROW_FIELDS, row_cell

NO_FACE = "no face found"

DESCRIPTION = """Find every face in each IMAGE and name it from the gallery (`facerec enroll` first).
One CSV line per face, like face_recognition's CLI, with the columns of every facerec CSV:

  path,face_index,name,score,distance,x,y,w,h,confidence,probability
  holdout/Angelina_Jolie_img10.jpg,0,Angelina_Jolie,0.9023,0.0167,97,97,205,294,0.9965,
  holdout/deepface_id13_img24.jpg,0,unknown,0.0000,0.1593,180,115,281,380,1.0000,

name is `unknown` for people not enrolled. score is the match confidence: 1.0 for a distance of 0,
0.67 exactly at the threshold in force (the same scale as DeepStack's confidence), lower the farther
the face, and 0 for `unknown` -- so it is relative to the threshold (per backbone, or --threshold).
distance is the raw cosine distance the unknown decision was made on (--show-distance is kept for
scripts: the column is always there); probability is a classifier's class probability (svm, logreg,
head; empty for nn). An image in which no face is found, even on a second look (a padded, an upscaled
and a relaxed copy: face thumbnails and ID photos that fill the frame), prints one line with name
`no_faces_found` and is named on stderr, as is an image that cannot be read.

matchers: nn (nearest enrolled photos, default), svm / logreg (classifiers on the embeddings,
still `unknown` when the nearest photo of the predicted person is too far), head (the network
trained by `facerec train`).

examples:
  facerec identify party.jpg
  facerec identify --show-distance --threshold 0.07 album/*.jpg
  facerec identify --matcher svm --json photo.jpg

exit code: 0 a known face in some image; 1 faces found but nobody known (or nobody enrolled); 3 no image
gave a face (none found, unreadable, missing); with several images the problem ones are listed and the
others decide 0 or 1."""


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
    p.add_argument("--show-distance", action="store_true",
                   help="kept for scripts: the distance column is always written now")
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
        print_csv(results)
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
        report_input_problem(str(e))
        return {"path": str(path), "faces": [], "error": str(e)}
    faces = recognizer.identify_image(image, str(path))
    if not faces:
        report_input_problem(f"{path}: {NO_FACE}")
    return {"path": str(path), "faces": faces, "error": None if faces else NO_FACE}


def print_csv(results: list[dict[str, Any]]) -> None:
    from facerec.files.atomic import csv_cell

    fields = ROW_FIELDS  # one header for every CSV facerec writes (--show-distance has nothing left to add)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(fields)
    for r in results:
        if r["error"] and r["error"] != NO_FACE:
            continue  # already on stderr
        if not r["faces"]:
            row = {"path": r["path"], "name": "no_faces_found"}
            out.writerow([csv_cell(printable(str(row.get(f, "")))) for f in fields])
        for face in r["faces"]:
            # csv_cell: a file or person name can hold a formula or control characters
            out.writerow([csv_cell(printable(str(row_cell(v)))) for v in face.to_row(fields)])
    sys.stdout.flush()


def exit_code(results: list[dict[str, Any]]) -> int:
    known = any(f.known for r in results for f in r["faces"])
    return exit_for_inputs([len(r["faces"]) for r in results], errors.EXIT_OK if known else errors.EXIT_NEGATIVE)
