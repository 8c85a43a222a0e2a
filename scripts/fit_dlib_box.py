#!/usr/bin/env python
"""Fit the MTCNN-box -> dlib-box mapping the dlib backbone aligns with (facerec/backbones/dlib_backbone.py).

    python scripts/fit_dlib_box.py --lfw ../shared/lfw-view1 --pairs pairsDevTrain.txt --out dlib-box.json

dlib's 5-point shape predictor was trained on the boxes of dlib's HOG face detector. For every photo of
the pairs file where MTCNN and HOG (upsample 1, face_recognition's default) find the same face
(IoU >= 0.3, largest MTCNN face), the HOG box is regressed on the MTCNN box by least squares:

    centre_x - mtcnn_centre_x = CX . (w, h)
    centre_y - mtcnn_centre_y = CY . (w, h)
    side                     = SIDE . (w, h)

and the mean IoU with the HOG boxes is printed before (raw MTCNN box) and after (mapped). Fit on
DevTrain only (LFW's protocol); the coefficients go into dlib_backbone.py by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def box_pairs(paths: list[Path], quiet: bool) -> tuple[np.ndarray, np.ndarray]:
    """(MTCNN boxes as cx, cy, w, h; HOG boxes as cx, cy, side) for faces both detectors found."""
    import dlib
    from tqdm import tqdm

    from facerec.vision.detect import Detector
    from facerec.vision.imageio import load_image

    detector, hog = Detector(), dlib.get_frontal_face_detector()
    mtcnn_boxes, hog_boxes = [], []
    for path in tqdm(paths, desc="detect", unit="photo", disable=quiet, file=sys.stderr):
        image = load_image(path)
        faces = detector.detect(image)
        rects = hog(image, 1)
        if not faces or not rects:
            continue
        x, y, w, h = max(faces, key=lambda f: f.area).box
        box = (x, y, x + w, y + h)
        best = max(rects, key=lambda r: iou(box, (r.left(), r.top(), r.right(), r.bottom())))
        truth = (best.left(), best.top(), best.right(), best.bottom())
        if iou(box, truth) < 0.3:
            continue
        mtcnn_boxes.append([x + w / 2, y + h / 2, w, h])
        hog_boxes.append([(truth[0] + truth[2]) / 2, (truth[1] + truth[3]) / 2,
                          ((truth[2] - truth[0]) + (truth[3] - truth[1])) / 2])
    return np.asarray(mtcnn_boxes, float), np.asarray(hog_boxes, float)


def fit(mtcnn: np.ndarray, hog: np.ndarray) -> dict[str, list[float]]:
    wh = mtcnn[:, 2:]
    solve = lambda target: np.linalg.lstsq(wh, target, rcond=None)[0].round(4).tolist()  # noqa: E731
    return {"cx": solve(hog[:, 0] - mtcnn[:, 0]), "cy": solve(hog[:, 1] - mtcnn[:, 1]), "side": solve(hog[:, 2])}


def mean_iou(mtcnn: np.ndarray, hog: np.ndarray, coefficients: dict | None) -> float:
    scores = []
    for (cx, cy, w, h), (hx, hy, side) in zip(mtcnn, hog):
        truth = (hx - side / 2, hy - side / 2, hx + side / 2, hy + side / 2)
        if coefficients is None:
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        else:
            c = coefficients
            mx = cx + c["cx"][0] * w + c["cx"][1] * h
            my = cy + c["cy"][0] * w + c["cy"][1] * h
            s = c["side"][0] * w + c["side"][1] * h
            box = (mx - s / 2, my - s / 2, mx + s / 2, my + s / 2)
        scores.append(iou(box, truth))
    return float(np.mean(scores))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lfw", type=Path, required=True, help="LFW View 1 folder (images/ and pairs files)")
    p.add_argument("--pairs", default="pairsDevTrain.txt", help="fit on the photos of this pairs file")
    p.add_argument("--out", type=Path, default=None, help="write the coefficients and IoUs as JSON")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    from facerec.evaluation.pairs import lfw_image_path, parse_pairs

    pairs = parse_pairs(args.lfw / args.pairs)
    paths = list(dict.fromkeys(lfw_image_path(args.lfw / "images", n, i) for pr in pairs
                               for n, i in ((pr.name1, pr.index1), (pr.name2, pr.index2))))
    mtcnn, hog = box_pairs(paths, args.quiet)
    coefficients = fit(mtcnn, hog)
    result = {"photos": len(paths), "faces_used": len(mtcnn), **coefficients,
              "mean_iou_raw_mtcnn": mean_iou(mtcnn, hog, None), "mean_iou_mapped": mean_iou(mtcnn, hog, coefficients)}
    print(f"{result['faces_used']} faces of {len(paths)} photos; CX={coefficients['cx']} CY={coefficients['cy']} "
          f"SIDE={coefficients['side']}")
    print(f"mean IoU with dlib's HOG box: raw MTCNN box {result['mean_iou_raw_mtcnn']:.3f}, "
          f"mapped {result['mean_iou_mapped']:.3f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
