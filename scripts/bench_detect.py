#!/usr/bin/env python
"""MTCNN speed before and after, in one run: the `mtcnn` package (facerec's detector until issue 10,
kept as engine "reference") against facerec.vision.mtcnn_fast's engines, on the same frames, and whether they
find the same faces.

Frames are real photos fitted into WxH (cover + centre crop, so faces keep their shape). Engines are
timed in turn on each frame (round robin, so other load on the machine hits all of them alike), after a
warm-up pass; the table gives the median wall and process-CPU milliseconds per frame. "same faces" counts
frames whose boxes all pair up at IoU >= 0.9 with the reference's.

`--one-thread` adds onnx without the worker thread that shares PNet's scales and the RNet/ONet batches.
`--baseline REV` adds the engine as it was at git revision REV ("onnx@REV": facerec/vision/mtcnn_fast.py of that
revision, loaded beside today's), so an optimisation's before and after are timed in the same run. With
`--voc FOLDER` (default: ../shared/faces/dlib/_group when it exists) every engine also runs on that folder's
photos at their own size and the table gives the recall of its VOC face boxes (annotations_testing.xml, a
face found = a box at IoU >= 0.4, as tests/vision/test_detect.py) and the photos whose boxes match the reference's.

    python scripts/bench_detect.py                                # 640x480 and 1280x960, all engines
    python scripts/bench_detect.py --baseline a4c8603 --one-thread --out bench-detect.json
    python scripts/bench_detect.py --photos ../shared/faces --sizes 640x480 --out bench-detect.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from facerec.vision.detect import Detector  # noqa: E402
from facerec.vision.imageio import load_image  # noqa: E402

DEFAULT_PHOTOS = [REPO / "tests" / "data" / d / n for d, n in (
    ("webcam", "obama_1.jpg"), ("webcam", "biden_1.jpg"), ("core", "group_6.jpg"), ("core", "group_3.jpg"),
    ("core", "kit_1.jpg"), ("core", "rose_1.jpg"), ("core", "noface_017.jpg"), ("core", "kit_2.jpg"))]

DEFAULT_VOC = REPO.parent / "shared" / "faces" / "dlib" / "_group"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", default="reference,tf,onnx", help="comma-separated (default: %(default)s)")
    p.add_argument("--sizes", default="640x480,1280x960", help="comma-separated WxH (default: %(default)s)")
    p.add_argument("--photos", type=Path, help="folder of photos (recursive; default: 8 photos of tests/data)")
    p.add_argument("--max-photos", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3, help="timed passes over the frames (default: %(default)s)")
    p.add_argument("--min-face-size", type=int, default=20)
    p.add_argument("--baseline", metavar="REV", help="also time onnx as it was at this git revision")
    p.add_argument("--one-thread", action="store_true",
                   help="also time onnx without its second thread (engine 'onnx/1 thread')")
    p.add_argument("--voc", type=Path, default=DEFAULT_VOC if DEFAULT_VOC.is_dir() else None,
                   help="folder with annotations_testing.xml for the recall column (default: %(default)s)")
    p.add_argument("--no-voc", dest="voc", action="store_const", const=None, help="skip the VOC recall column")
    p.add_argument("--out", type=Path, help="write the results as JSON")
    return p.parse_args(argv)


def find_photos(folder: Path | None, limit: int) -> list[Path]:
    if folder is None:
        return [p for p in DEFAULT_PHOTOS if p.exists()][:limit]
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:limit]


def fit_frame(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale the photo to cover width x height, then crop the centre: a camera-like frame of real faces."""
    h, w = photo.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(photo, (max(width, round(w * scale)), max(height, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[top:top + height, left:left + width])


def iou(a, b) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def same_faces(ours, theirs) -> bool:
    return len(ours) == len(theirs) and all(max((iou(f.box, g.box) for g in theirs), default=0) >= 0.9 for f in ours)


def time_engines(detectors: dict[str, Detector], frames: list[np.ndarray], repeats: int) -> dict[str, dict]:
    """Round robin over engines per frame; median wall and CPU ms per frame."""
    faces = {name: [d.detect(f) for f in frames] for name, d in detectors.items()}  # warm-up, and the answers
    wall: dict[str, list[float]] = {n: [] for n in detectors}
    cpu: dict[str, list[float]] = {n: [] for n in detectors}
    for _ in range(repeats):
        for frame in frames:
            for name, det in detectors.items():
                w0, c0 = time.perf_counter(), time.process_time()
                det.detect(frame)
                wall[name].append(1000 * (time.perf_counter() - w0))
                cpu[name].append(1000 * (time.process_time() - c0))
    reference = faces.get("reference")
    return {name: {
        "ms_per_frame": round(float(np.median(wall[name])), 1),
        "cpu_ms_per_frame": round(float(np.median(cpu[name])), 1),
        "faces": sum(len(f) for f in faces[name]),
        "frames_with_same_faces_as_reference": (sum(same_faces(a, b) for a, b in zip(faces[name], reference))
                                                if reference is not None else None),
    } for name in detectors}


def voc_faces(folder: Path) -> dict[Path, list[tuple[int, int, int, int]]]:
    """dlib's VOC-style annotations_testing.xml: photo -> face boxes (x, y, w, h)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(folder / "annotations_testing.xml").getroot()
    return {folder / img.get("file"): [(int(b.get("left")), int(b.get("top")), int(b.get("width")), int(b.get("height")))
                                       for b in img.iter("box")]
            for img in root.iter("image") if (folder / img.get("file")).is_file()}


def voc_recall(detectors: dict[str, Detector], folder: Path) -> dict[str, dict]:
    """Per engine: VOC faces found (IoU >= 0.4) and photos whose boxes pair up with the reference's."""
    truth = voc_faces(folder)
    faces = {name: {p: det.detect(load_image(p)) for p in truth} for name, det in detectors.items()}
    total = sum(len(t) for t in truth.values())
    reference = faces.get("reference")
    return {name: {
        "voc_faces_found": sum(max((iou(t, f.box) for f in found[p]), default=0) >= 0.4
                               for p, ts in truth.items() for t in ts),
        "voc_faces": total, "voc_photos": len(truth),
        "voc_photos_with_same_faces_as_reference": (sum(same_faces(found[p], reference[p]) for p in truth)
                                                    if reference is not None else None),
    } for name, found in faces.items()}


def baseline_detector(rev: str, min_face_size: int) -> Detector:
    """A Detector whose networks are facerec's fast MTCNN module as it was at git revision `rev` (engine onnx)."""
    import importlib.util
    import subprocess
    import tempfile

    for where in ("facerec/vision/mtcnn_fast.py", "facerec/" + "mtcnn_fast.py"):  # the module moved in the sub-packages
        shown = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{where}"], capture_output=True, text=True)
        if shown.returncode == 0:
            break
    else:
        raise SystemExit(f"error: no fast MTCNN module at revision {rev}")
    source = shown.stdout
    path = Path(tempfile.mkdtemp()) / f"mtcnn_fast_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"mtcnn_fast_{rev}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    detector = Detector(min_face_size=min_face_size, engine="onnx")
    detector._mtcnn = module.FastMTCNN("onnx")
    return detector


def available_engines(names: list[str]) -> list[str]:
    import importlib.util

    return [n for n in names if n != "onnx" or importlib.util.find_spec("onnxruntime")]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.voc is not None and not (args.voc / "annotations_testing.xml").is_file():
        print(f"error: no annotations_testing.xml in {args.voc}", file=sys.stderr)
        return 2
    photos = [load_image(p) for p in find_photos(args.photos, args.max_photos)]
    engines = available_engines(args.engines.split(","))
    detectors = {e: Detector(min_face_size=args.min_face_size, engine=e) for e in engines}
    if args.one_thread:
        from facerec.vision.mtcnn_fast import FastMTCNN

        detectors["onnx/1 thread"] = Detector(min_face_size=args.min_face_size, engine="onnx")
        detectors["onnx/1 thread"]._mtcnn = FastMTCNN("onnx", second_thread=False)
    if args.baseline:
        detectors[f"onnx@{args.baseline}"] = baseline_detector(args.baseline, args.min_face_size)
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "load_average_start": os.getloadavg()}, "photos": len(photos), "sizes": {}}
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        frames = [fit_frame(p, width, height) for p in photos]
        results["sizes"][size] = time_engines(detectors, frames, args.repeats)
    if args.voc is not None:
        results["voc"] = {"folder": str(args.voc), **voc_recall(detectors, args.voc)}
    results["machine"]["load_average_end"] = os.getloadavg()
    print_table(results, len(photos), args.repeats)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


def print_table(results: dict, photos: int, repeats: int) -> None:
    machine = results["machine"]
    print(f"{photos} frames per size, median of {repeats} passes; load average "
          f"{machine['load_average_start'][0]:.2f} -> {machine['load_average_end'][0]:.2f} on {machine['cpus']} CPUs")
    voc = results.get("voc")
    voc_header = " VOC faces found (IoU >= 0.4) | VOC photos with the reference's faces |" if voc else ""
    print(f"| frame | engine | ms per frame | CPU ms per frame | faces | frames with the reference's faces |{voc_header}")
    print("|---|---|---|---|---|---|" + ("---|---|" if voc else ""))
    for size, rows in results["sizes"].items():
        for name, r in rows.items():
            same = r["frames_with_same_faces_as_reference"]
            line = (f"| {size} | {name} | {r['ms_per_frame']} | {r['cpu_ms_per_frame']} | {r['faces']} | "
                    f"{'-' if same is None or name == 'reference' else f'{same}/{photos}'} |")
            if voc:
                v = voc[name]
                same_voc = v["voc_photos_with_same_faces_as_reference"]
                agree = "-" if same_voc is None or name == "reference" else f"{same_voc}/{v['voc_photos']}"
                line += f" {v['voc_faces_found']}/{v['voc_faces']} | {agree} |"
            print(line)


if __name__ == "__main__":
    sys.exit(main())
