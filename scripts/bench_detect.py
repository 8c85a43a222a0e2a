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

`--detectors mtcnn,dlib-hog,dlib-cnn,yunet` compares registered detectors instead (facerec.detectors, each built as
a pipeline builds it, with --min-face-size): VOC faces found and false positives (a detection matching no VOC box at
IoU >= 0.4) on --voc; LFW View 1 faces found (--lfw: the images of pairsDevTrain and pairsDevTest, an evenly spaced
subset of --lfw-limit; found = a detected box covering the image centre, where LFW centres its face); faces found in
the hand-labelled turned faces of --profiles (scripts/data/profile_faces.tsv); median ms per 640x480 frame (the
frames above, after a warm-up). A detector whose weights are missing (yunet offline) gets a row saying so.

    python scripts/bench_detect.py --detectors mtcnn,dlib-hog,dlib-cnn,yunet --lfw-limit 200 --out bench-detectors.json
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
SHARED = REPO.parent / "shared"
DEFAULT_LFW = SHARED / "lfw-view1"
DEFAULT_PROFILES = REPO / "scripts" / "data" / "profile_faces.tsv"
FOUND_IOU = 0.4  # a VOC / labelled face is found by a detection at this IoU (as tests/vision/test_detect.py)


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
    p.add_argument("--detectors", help="compare these registered detectors (comma-separated) instead of MTCNN engines")
    p.add_argument("--lfw", type=Path, default=DEFAULT_LFW if DEFAULT_LFW.is_dir() else None,
                   help="LFW View 1 folder for --detectors (default: %(default)s)")
    p.add_argument("--lfw-limit", type=int, default=200,
                   help="evenly spaced LFW images to look at, 0 = all (default: %(default)s)")
    p.add_argument("--profiles", type=Path, default=DEFAULT_PROFILES,
                   help="labelled turned faces for --detectors (default: %(default)s)")
    p.add_argument("--shared", type=Path, default=SHARED, help="what --profiles paths are relative to")
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
    if args.detectors:
        return compare_detectors(args)
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



# ---- --detectors: registered detectors side by side (public names only: facerec.detectors, facerec.types)

def match_faces(truth: list, detected: list, threshold: float = FOUND_IOU) -> tuple[int, int]:
    """(truth boxes found, false positives): a truth box is found when a detected box overlaps it at IoU >=
    threshold; a detected box matching no truth box at that IoU is a false positive. Boxes are (x, y, w, h)."""
    from facerec.types import box_iou

    found = sum(any(box_iou(t, d) >= threshold for d in detected) for t in truth)
    false_positives = sum(not any(box_iou(t, d) >= threshold for t in truth) for d in detected)
    return found, false_positives


def covers_centre(box, width: int, height: int) -> bool:
    """Whether an (x, y, w, h) box covers the centre of a width x height image (where LFW puts its face)."""
    x, y, w, h = box
    return x <= width / 2 <= x + w and y <= height / 2 <= y + h


def face_found(boxes: list, width: int, height: int, truth_box=None) -> bool:
    """A labelled face is found: a box at IoU >= FOUND_IOU with its rough box, or (no box) one covering the centre."""
    if truth_box is not None:
        return match_faces([truth_box], boxes)[0] == 1
    return any(covers_centre(b, width, height) for b in boxes)


def lfw_images(folder: Path, limit: int = 0) -> list[Path]:
    """The distinct images of LFW View 1's pairsDevTrain and pairsDevTest, sorted; `limit` > 0: that many,
    evenly spaced (a fixed subset, the same on every run)."""
    names: set[tuple[str, int]] = set()
    for pairs in ("pairsDevTrain.txt", "pairsDevTest.txt"):
        for line in (folder / pairs).read_text().splitlines()[1:]:
            f = line.split()
            if len(f) == 3:
                names |= {(f[0], int(f[1])), (f[0], int(f[2]))}
            elif len(f) == 4:
                names |= {(f[0], int(f[1])), (f[2], int(f[3]))}
    paths = [folder / "images" / n / f"{n}_{i:04d}.jpg" for n, i in sorted(names)]
    if 0 < limit < len(paths):
        paths = [paths[k * len(paths) // limit] for k in range(limit)]
    return paths


def read_labelled_faces(path: Path, root: Path) -> list[tuple[Path, str, tuple[int, int, int, int] | None]]:
    """scripts/data/profile_faces.tsv: (photo under `root`, pose label, rough box or None) per face."""
    faces = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        photo, pose, *rest = line.split("\t")
        box = tuple(int(v) for v in rest[0].split(",")) if rest and rest[0].strip() else None
        faces.append((root / photo, pose.strip(), box))
    return faces


def labelled_poses(labelled: list) -> list[str]:
    """The pose labels in the labelled set, "profile" first."""
    return sorted({pose for _, pose, _ in labelled}, key=lambda pose: (pose != "profile", pose))


def count_voc(detect, truth: dict[Path, list]) -> dict:
    found = false_positives = 0
    for photo, boxes in truth.items():
        f, fp = match_faces(boxes, [face.box for face in detect(load_image(photo))])
        found, false_positives = found + f, false_positives + fp
    return {"voc_faces_found": found, "voc_false_positives": false_positives,
            "voc_faces": sum(len(b) for b in truth.values()), "voc_photos": len(truth)}


def count_lfw(detect, photos: list[Path]) -> dict:
    found = 0
    for photo in photos:
        image = load_image(photo)
        found += face_found([face.box for face in detect(image)], image.shape[1], image.shape[0])
    return {"lfw_faces_found": found, "lfw_images": len(photos)}


def count_labelled(detect, labelled: list) -> dict:
    """Faces found per pose label: {"profile": [found, of], ...}."""
    counts: dict[str, list[int]] = {}
    for photo, pose, box in labelled:
        image = load_image(photo)
        hit = face_found([face.box for face in detect(image)], image.shape[1], image.shape[0], box)
        counts.setdefault(pose, [0, 0])
        counts[pose][0] += hit
        counts[pose][1] += 1
    return {"turned_faces_found": counts}


def time_frames(detect, frames: list[np.ndarray], repeats: int) -> dict:
    """Median wall and process-CPU ms per frame, after one warm-up call."""
    detect(frames[0])
    wall, cpu = [], []
    for _ in range(repeats):
        for frame in frames:
            w0, c0 = time.perf_counter(), time.process_time()
            detect(frame)
            wall.append(1000 * (time.perf_counter() - w0))
            cpu.append(1000 * (time.process_time() - c0))
    return {"ms_per_frame": round(float(np.median(wall)), 1), "cpu_ms_per_frame": round(float(np.median(cpu)), 1),
            "frames_timed": len(wall)}


def detector_or_status(name: str, min_face_size: int, probe: np.ndarray) -> tuple[object | None, dict]:
    """(detector, its registry status), or (None, status with the error) when it cannot run here: a first call
    fetches what it lacks (YuNet's download), and its error (offline, extra not installed) is reported, not raised."""
    from facerec.detectors import entry, get_detector
    from facerec.errors import FacerecError

    found = entry(name)
    status = {"description": found.description, "device": found.device_name(), **found.weights_status()}
    try:
        detector = get_detector(name, min_face_size=min_face_size)
        detector.detect(probe)
    except FacerecError as error:
        return None, {**status, "present": False, "error": str(error).splitlines()[0]}
    return detector, status


def compare_detectors(args: argparse.Namespace) -> int:
    from facerec.errors import UsageError

    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    try:
        from facerec.detectors import entry

        for name in names:
            entry(name)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    voc = voc_faces(args.voc) if args.voc is not None and (args.voc / "annotations_testing.xml").is_file() else {}
    lfw = lfw_images(args.lfw, args.lfw_limit) if args.lfw is not None else []
    labelled = read_labelled_faces(args.profiles, args.shared) if args.profiles.is_file() else []
    labelled = [face for face in labelled if face[0].is_file()]
    frames = [fit_frame(load_image(p), 640, 480) for p in find_photos(args.photos, args.max_photos)]
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "load_average_start": os.getloadavg()},
               "date": time.strftime("%Y-%m-%d"), "min_face_size": args.min_face_size, "voc": str(args.voc),
               "lfw": str(args.lfw), "lfw_limit": args.lfw_limit, "profiles": str(args.profiles),
               "frames": len(frames), "repeats": args.repeats, "poses": labelled_poses(labelled), "detectors": {}}
    for name in names:
        detector, status = detector_or_status(name, args.min_face_size, frames[0])
        row: dict = {"status": status}
        if detector is not None:
            detect = detector.detect
            row.update(time_frames(detect, frames, args.repeats))
            if voc:
                row.update(count_voc(detect, voc))
            if lfw:
                row.update(count_lfw(detect, lfw))
            if labelled:
                row.update(count_labelled(detect, labelled))
        results["detectors"][name] = row
        print(f"{name}: done", file=sys.stderr)
    results["machine"]["load_average_end"] = os.getloadavg()
    print_detector_table(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


def fraction(found: int, total: int) -> str:
    return f"{found}/{total} ({100 * found / total:.0f} %)" if total else "-"


def print_detector_table(results: dict) -> None:
    machine = results["machine"]
    print(f"{results['date']}, min face size {results['min_face_size']} px; {results['frames']} frames of 640x480, "
          f"median of {results['repeats']} passes after a warm-up; load average "
          f"{machine['load_average_start'][0]:.2f} -> {machine['load_average_end'][0]:.2f} on {machine['cpus']} CPUs")
    poses = results["poses"]
    print("| detector | VOC faces found (IoU >= 0.4) | VOC false positives | LFW View 1 faces found | "
          + "".join(f"{p} faces found | " for p in poses) + "ms per 640x480 frame | CPU ms per frame |")
    print("|---|---|---|---|" + "---|" * len(poses) + "---|---|")
    for name, r in results["detectors"].items():
        if "ms_per_frame" not in r:
            why = r["status"].get("error", "")
            print(f"| {name} | not measured: {why} |" + " - |" * (4 + len(poses)))
            continue
        turned = r.get("turned_faces_found", {})
        voc, lfw = fraction(r.get("voc_faces_found", 0), r.get("voc_faces", 0)), fraction(r.get("lfw_faces_found", 0),
                                                                                         r.get("lfw_images", 0))
        print(f"| {name} | {voc} | {r.get('voc_false_positives', '-')} | {lfw} | "
              + "".join(f"{fraction(*turned.get(p, (0, 0)))} | " for p in poses)
              + f"{r['ms_per_frame']} | {r['cpu_ms_per_frame']} |")


if __name__ == "__main__":
    sys.exit(main())
