"""facerec detect IMAGE… — faces, boxes, confidence and the five landmarks."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facerec import errors
from facerec.names import printable
from facerec.cli.commands._util import add_min_face_size, print_json, print_table

DESCRIPTION = """Find faces with MTCNN and print one row per face: path, face index, box (x y w h), confidence.
--json adds the five landmarks; --annotate DIR writes a copy of each image with boxes and landmarks drawn
(the originals are never modified; inputs that share a file name get name-2.annotated.jpg, ...).

exit code: 0 faces found, 1 no face in any image, 3 an image could not be read (the others are still reported).

examples:
  facerec detect party.jpg
  facerec detect --json --min-face-size 40 album/*.jpg
  facerec detect --annotate out/ group.jpg"""


def register(sub, common) -> None:
    p = sub.add_parser("detect", parents=common, help="find faces and landmarks in images",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    add_min_face_size(p)
    p.add_argument("--annotate", type=Path, metavar="DIR", help="write annotated copies into DIR")
    p.set_defaults(func=run)


def run(args) -> int:
    from facerec.vision.detect import Detector
    from facerec.vision.imageio import load_image

    detector = Detector(min_face_size=args.min_face_size)
    copies = annotated_names(args.images, args.annotate) if args.annotate else {}
    results, rows, bad = [], [], 0
    for path in args.images:
        try:
            image = load_image(path)
        except errors.ImageError as e:
            bad += 1
            results.append({"path": str(path), "error": str(e), "faces": []})
            if not args.json:
                print(f"facerec: {printable(str(e))}", file=sys.stderr)
            continue
        faces = detector.detect(image)
        results.append({"path": str(path), "width": image.shape[1], "height": image.shape[0],
                        "faces": [f.to_dict() for f in faces]})
        rows += [[str(path), i, *f.box, round(f.confidence, 4)] for i, f in enumerate(faces)]
        if args.annotate:
            write_annotated(image, faces, copies[path])
    if args.json:
        print_json(results)
    else:
        print_table(["path", "face", "x", "y", "w", "h", "confidence"], rows)
    if bad:  # as identify: the readable images are still reported, the exit code says something failed
        return errors.EXIT_BAD_INPUT
    return errors.EXIT_OK if rows else errors.EXIT_NEGATIVE


def annotated_names(images: list[Path], out_dir: Path) -> dict[Path, Path]:
    """<stem>.annotated.jpg per input; inputs sharing a name get -2, -3 ...; never an input's own path."""
    from facerec.files.outputs import input_set, unique_copy_names

    return unique_copy_names(images, out_dir, ".annotated.jpg", input_set(images))


def write_annotated(image, faces, target: Path) -> Path:
    from facerec.album.annotate import draw_faces, save_image

    labels = [f"{i}: {f.confidence:.2f}" for i, f in enumerate(faces)]
    save_image(target, draw_faces(image, faces, labels))
    return target
