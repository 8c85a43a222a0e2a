#!/usr/bin/env python
"""How fast does `facerec webcam` run here? ms per frame and effective FPS per backbone and frame size.

A synthetic "camera" is built from real photos (each shown for --seconds-per-photo, drifting a little,
letterboxed into the frame size) and written to an mp4, so decoding is part of the measurement. The
people in the photos are enrolled from the same photos (the matcher's cost is real; recognition
quality is not what this measures). Each configuration runs `facerec.video.loop.run_loop` over the whole
clip, frame by frame (realtime off: nothing is dropped, so ms/frame is the true processing cost;
a live camera at a higher frame rate than the effective FPS would drop the difference).

VGGFace backbones use the published weights when they are installed (FACEREC_WEIGHTS_DIR, the cache or
models/) and random weights otherwise: the speed is the same, the output says which.

Before and after in one run: --engines reference,auto times the `mtcnn` package (facerec's detector
before issue 10) and facerec.vision.mtcnn_fast on the same clip; --detect-every takes K values and "auto" (the
default of `facerec webcam`: every frame while the machine keeps up); --dlib-engines times the dlib
backbone on dlib's own code ("dlib", before issue 10) and on ONNX Runtime ("onnx"). The JSON records the
RSS at the start and end of each run (flat memory) and the load average.

  python scripts/bench_webcam.py                         # resnet50 + dlib at 640x480 and 1280x720
  python scripts/bench_webcam.py --photos ../shared/faces/face_recognition --out bench-webcam.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("FACEREC_OFFLINE", "1")  # never download 100+ MB of weights just to time them

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_common import rss_mb  # noqa: E402  - scripts/ is sys.path[0] when a script runs

from facerec.video.loop import run_loop  # noqa: E402

DEFAULT_PHOTOS = [REPO / "tests" / "data" / "webcam" / "obama_1.jpg", REPO / "tests" / "data" / "webcam" / "biden_1.jpg",
                  REPO / "tests" / "data" / "core" / "kit_1.jpg", REPO / "tests" / "data" / "core" / "rose_1.jpg"]
PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", default="resnet50,dlib", help="comma-separated (default: %(default)s)")
    p.add_argument("--sizes", default="640x480,1280x720", help="comma-separated WxH (default: %(default)s)")
    p.add_argument("--detect-every", default="3", help="comma-separated K values or 'auto' (default: %(default)s)")
    p.add_argument("--engines", default="auto", help="MTCNN engines, comma-separated: reference (the mtcnn "
                   "package), auto, tf, onnx (default: %(default)s)")
    p.add_argument("--dlib-engines", default="auto", help="engines of the dlib backbone, comma-separated: dlib, onnx, "
                   "auto (default: %(default)s)")
    p.add_argument("--detect-width", type=int, default=640, help="detection copy width (default: %(default)s)")
    p.add_argument("--min-face-size", type=int, default=20,
                   help="smallest face in px of the detection copy, as `facerec webcam` (default: %(default)s)")
    p.add_argument("--photos", type=Path, help="folder of photos (searched recursively; default: tests/data photos)")
    p.add_argument("--max-photos", type=int, default=4)
    p.add_argument("--fps", type=float, default=30.0, help="frame rate of the synthetic clip (default: %(default)s)")
    p.add_argument("--seconds-per-photo", type=float, default=1.0)
    p.add_argument("--warmup-frames", type=int, default=6, help="frames run first and not timed (model loading)")
    p.add_argument("--out", type=Path, help="write the results as JSON")
    return p.parse_args(argv)


def find_photos(folder: Path | None, limit: int) -> list[Path]:
    if folder is None:
        return [p for p in DEFAULT_PHOTOS if p.exists()][:limit]
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_EXTENSIONS and "_group" not in p.parts)
    return photos[:limit]


def letterbox(photo: np.ndarray, width: int, height: int, shift: int) -> np.ndarray:
    """Fit the photo inside width x height (keeping its shape), offset by `shift` px to imitate motion."""
    h, w = photo.shape[:2]
    scale = min(width / w, height / h) * 0.9
    resized = cv2.resize(photo, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 30, dtype=np.uint8)
    rh, rw = resized.shape[:2]
    left = min(width - rw, max(0, (width - rw) // 2 + shift))
    top = (height - rh) // 2
    canvas[top:top + rh, left:left + rw] = resized
    return canvas


def write_stream(path: Path, photos: list[np.ndarray], size: tuple[int, int], fps: float, seconds_each: float) -> int:
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    frames_each = max(1, int(round(fps * seconds_each)))
    for photo in photos:
        for i in range(frames_each):
            writer.write(letterbox(photo, width, height, shift=2 * i - frames_each))
    writer.release()
    return frames_each * len(photos)


def make_pipeline(backbone: str, min_face_size: int, engine: str = "auto", dlib_engine: str = "auto"):
    """FacePipeline for `backbone`; VGGFace networks fall back to random weights when none are installed."""
    from facerec.backbones.dlib_backbone import DlibBackbone
    from facerec.vision.detect import Detector
    from facerec.errors import FacerecError
    from facerec.recognition.pipeline import FacePipeline

    detector = Detector(min_face_size=min_face_size, engine=engine)
    if backbone == "dlib":
        return FacePipeline(DlibBackbone(engine=dlib_engine), detector=detector), "pretrained (dlib extra)"
    try:
        return FacePipeline(backbone, detector=detector), "published"
    except FacerecError as e:
        print(f"  {backbone}: no published weights here ({str(e).splitlines()[0][:100]}...); using RANDOM weights",
              file=sys.stderr)
        return FacePipeline(backbone, weights="random", detector=detector), "RANDOM (same speed)"


def enroll_matcher(pipeline, photo_paths: list[Path], backbone: str):
    from facerec.recognition.match import NearestNeighbourMatcher
    from facerec.recognition.pipeline import largest_face

    X, names = [], []
    for path in photo_paths:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        face = largest_face(pipeline.detect(image))
        if face is not None:
            X.append(pipeline.embed(image, [face])[0])
            names.append(path.stem)
    if not X:
        return None
    return NearestNeighbourMatcher(backbone=backbone).fit(np.stack(X), names)


def measure(clip: Path, pipeline, matcher, detect_every: int, detect_width: int, warmup: int) -> dict:
    run_loop(str(clip), pipeline, matcher, detect_every=detect_every, detect_width=detect_width, max_frames=warmup)
    durations: dict[str, list[float]] = {"detect": [], "track": []}
    last = [time.perf_counter()]

    def on_frame(result) -> None:
        now = time.perf_counter()
        durations["detect" if result.detected else "track"].append(now - last[0])
        last[0] = now

    rss_start = rss_mb()
    stats = run_loop(str(clip), pipeline, matcher, detect_every=detect_every, detect_width=detect_width,
                     on_frame=on_frame)
    per_frame = durations["detect"] + durations["track"]
    return {
        "rss_mb_start": rss_start, "rss_mb_end": rss_mb(),
        "detections": stats.detections,
        "frames": stats.frames,
        "ms_per_frame": 1000 * float(np.mean(per_frame)),
        "ms_detection_frame": 1000 * float(np.mean(durations["detect"])) if durations["detect"] else None,
        "ms_tracking_frame": 1000 * float(np.mean(durations["track"])) if durations["track"] else None,
        "effective_fps": stats.frames / stats.seconds if stats.seconds else 0.0,
        "embeddings": stats.embeddings,
        "appearances": stats.events.get("appeared", 0),
    }


def print_table(rows: list[dict]) -> None:
    headers = ["backbone", "MTCNN", "size", "K", "detections", "ms/frame", "ms detect-frame", "ms track-frame", "FPS",
               "embeds", "weights"]
    lines = [[r["backbone"], r["engine"], r["size"], str(r["detect_every"]), f"{r['detections']}/{r['frames']}",
              f"{r['ms_per_frame']:.1f}",
              f"{r['ms_detection_frame']:.1f}" if r["ms_detection_frame"] is not None else "-",
              f"{r['ms_tracking_frame']:.1f}" if r["ms_tracking_frame"] is not None else "-",
              f"{r['effective_fps']:.2f}", str(r["embeddings"]), r["weights"]] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for line in lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    photo_paths = find_photos(args.photos, args.max_photos)
    if not photo_paths:
        print("no photos found", file=sys.stderr)
        return 1
    photos = [cv2.imread(str(p)) for p in photo_paths]
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    ks = [0 if k.strip() == "auto" else int(k) for k in args.detect_every.split(",")]  # 0: webcam.AUTO
    from facerec.device import tensorflow_device

    device = tensorflow_device()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = {}
        for size in sizes:
            clips[size] = Path(tmp) / f"stream_{size[0]}x{size[1]}.mp4"
            n = write_stream(clips[size], photos, size, args.fps, args.seconds_per_photo)
        print(f"synthetic stream: {len(photos)} photos x {args.seconds_per_photo:g} s at {args.fps:g} fps = {n} frames; "
              f"detection on a {args.detect_width} px wide copy; TensorFlow on {device}; "
              f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})", file=sys.stderr)
        for backbone, dlib_engine in [(b, e) for b in args.backbones.split(",")
                                      for e in (args.dlib_engines.split(",") if b == "dlib" else [""])]:
            for engine in args.engines.split(","):
                pipeline, weights = make_pipeline(backbone, args.min_face_size, engine, dlib_engine or "auto")
                name = f"dlib ({pipeline.backbone.engine})" if backbone == "dlib" else backbone
                matcher = enroll_matcher(pipeline, photo_paths, backbone)
                for size in sizes:
                    for k in ks:
                        label = "auto" if k == 0 else k
                        print(f"  running {name} {engine} {size[0]}x{size[1]} K={label} ...", file=sys.stderr,
                              flush=True)
                        result = measure(clips[size], pipeline, matcher, k, args.detect_width, args.warmup_frames)
                        rows.append({"backbone": name, "engine": engine, "size": f"{size[0]}x{size[1]}",
                                     "detect_every": label, "weights": weights, **result})
    load = os.getloadavg()
    print_table(rows)
    print(f"(load average {load[0]:.1f} on {os.cpu_count()} cores while measuring: above the core count, other "
          f"processes shared the CPU and the times are inflated)" if load[0] > (os.cpu_count() or 1) else
          f"(load average {load[0]:.1f} on {os.cpu_count()} cores)")
    if args.out:
        report = {"device": device, "cpu_count": os.cpu_count(), "machine": platform.machine(),
                  "load_average": [round(v, 2) for v in load], "min_face_size": args.min_face_size,
                  "photos": [str(p) for p in photo_paths], "fps_of_stream": args.fps,
                  "detect_width": args.detect_width, "results": rows}
        args.out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
