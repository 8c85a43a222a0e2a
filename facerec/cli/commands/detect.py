"""facerec detect IMAGE… — faces, boxes, confidence and the five landmarks."""
from __future__ import annotations

import argparse
from pathlib import Path

from facerec import errors
from facerec.cli.commands._util import add_min_face_size, exit_for_inputs, print_json, print_table, report_input_problem

NO_FACE = "no face found"

DESCRIPTION = """Find faces with MTCNN and print one row per face: path, face index, box (x y w h), confidence.
--json adds the five landmarks; --annotate DIR writes a copy of each image with boxes and the five landmarks
drawn (the originals are never modified; inputs that share a file name get name-2.annotated.jpg, ...).
An image without a face, or one that cannot be read, is named on stderr (and has an "error" in --json).

exit code: 0 faces found in some image; 3 no image gave a face (none found, unreadable, missing); with several
images the problem ones are listed and the others are reported.

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
    from facerec.detectors import get_detector
    from facerec.vision.imageio import load_image

    detector = get_detector(getattr(args, "detector", None), min_face_size=args.min_face_size)
    copies = annotated_names(args.images, args.annotate) if args.annotate else {}
    results, rows = [], []
    for path in args.images:
        try:
            image = load_image(path)
        except errors.ImageError as e:
            results.append({"path": str(path), "error": str(e), "faces": []})
            report_input_problem(str(e))
            continue
        faces = detector.detect(image)
        results.append({"path": str(path), "width": image.shape[1], "height": image.shape[0],
                        "faces": [f.to_dict() for f in faces], **({} if faces else {"error": NO_FACE})})
        if not faces:
            report_input_problem(f"{path}: {NO_FACE}")
        rows += [[str(path), i, *f.box, round(f.confidence, 4)] for i, f in enumerate(faces)]
        if args.annotate:
            write_annotated(image, faces, copies[path])
    if args.json:
        print_json(results)
    else:
        print_table(["path", "face", "x", "y", "w", "h", "confidence"], rows)
    return exit_for_inputs([len(r["faces"]) for r in results])


def annotated_names(images: list[Path], out_dir: Path) -> dict[Path, Path]:
    """<stem>.annotated.jpg per input; inputs sharing a name get -2, -3 ...; never an input's own path."""
    from facerec.files.outputs import input_set, unique_copy_names

    return unique_copy_names(images, out_dir, ".annotated.jpg", input_set(images))


def write_annotated(image, faces, target: Path) -> Path:
    from facerec.album.annotate import draw_faces, save_image

    labels = [f"{i}: {f.confidence:.2f}" for i, f in enumerate(faces)]
    save_image(target, draw_faces(image, faces, labels, landmarks=True))
    return target
