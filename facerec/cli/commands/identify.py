"""facerec identify IMAGE… — name every face in the images from the enrolled gallery."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from facerec import errors
from facerec.names import printable
from facerec.cli.commands._util import DISTANCE, PIXELS, PROBABILITY, pipeline_from_args, print_json

DESCRIPTION = """Find every face in each IMAGE and name it from the gallery (`facerec enroll` first).
One CSV line per face, like face_recognition's CLI:

  path,face,name,score,x,y,w,h            (name is `unknown` for people not enrolled)
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
    from facerec.recognition.match import AGGREGATES, MATCHER_KINDS

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
    p.add_argument("--min-face-size", type=PIXELS, default=20, metavar="PX", help="smallest face in pixels (default: 20)")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.gallery.store import Gallery
    from facerec.recognition.match import matcher_from_gallery

    with Gallery(args.gallery, create=False) as gallery:
        options = {} if args.matcher == "head" else {"threshold": args.threshold, **_matcher_options(args)}
        matcher = matcher_from_gallery(gallery, args.matcher, args.embedding, **options)
    # A head fine-tuned with its base network expects embeddings from that fine-tuned base.
    embedder = matcher.embed_chips if getattr(matcher, "fine_tuned", False) else None
    pipeline = pipeline_from_args(args, embedder=embedder)
    results = [identify_image(path, pipeline, matcher) for path in args.images]
    if args.json:
        print_json({"backbone": args.backbone, "matcher": args.matcher, "threshold": _threshold_of(matcher),
                    "images": results})
    else:
        print_csv(results, args.show_distance)
    return exit_code(results)


def _matcher_options(args) -> dict[str, Any]:
    if args.matcher == "nn":
        return {"aggregate": args.aggregate}
    return {"min_probability": args.min_probability}


def _threshold_of(matcher) -> float | None:
    return getattr(matcher, "threshold_", None)


def identify_image(path: Path, pipeline, matcher) -> dict[str, Any]:
    """{"path", "faces": [{"index", "name", "score", "distance", "box", "confidence"}], "error"}."""
    import numpy as np

    from facerec.vision.imageio import load_image

    try:
        image = load_image(path)
    except errors.ImageError as e:
        print(f"facerec: {printable(str(e))}", file=sys.stderr)
        return {"path": str(path), "faces": [], "error": str(e)}
    found = pipeline.analyse_image(image, second_look=True)  # face thumbnails and ID photos too
    from facerec.recognition.match import one_name_per_photo

    identities = one_name_per_photo(matcher.predict_identities(np.stack([f.embedding for f in found]))) if found else []
    faces = [
        {"index": i, "name": ident.name, "score": round(float(ident.score), 4),
         "distance": None if ident.distance is None else round(float(ident.distance), 4),
         "box": [int(v) for v in fe.face.box], "confidence": round(float(fe.face.confidence), 4)}
        for i, (fe, ident) in enumerate(zip(found, identities))
    ]
    return {"path": str(path), "faces": faces, "error": None}


def print_csv(results: list[dict[str, Any]], show_distance: bool) -> None:
    from facerec.files.atomic import csv_cell

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["path", "face", "name", "score", "x", "y", "w", "h"] + (["distance"] if show_distance else []))
    for r in results:
        if r["error"]:
            continue  # already on stderr
        path = csv_cell(printable(r["path"]))  # a file name can hold a formula or control characters
        if not r["faces"]:
            out.writerow([path, "", "no_faces_found", "", "", "", "", ""] + ([""] if show_distance else []))
        for f in r["faces"]:
            row = [path, f["index"], csv_cell(f["name"]), f"{f['score']:.4f}", *f["box"]]
            if show_distance:
                row.append("" if f["distance"] is None else f"{f['distance']:.4f}")
            out.writerow(row)
    sys.stdout.flush()


def exit_code(results: list[dict[str, Any]]) -> int:
    from facerec.types import UNKNOWN

    if any(r["error"] for r in results):
        return errors.EXIT_BAD_INPUT
    known = any(f["name"] != UNKNOWN for r in results for f in r["faces"])
    return errors.EXIT_OK if known else errors.EXIT_NEGATIVE
